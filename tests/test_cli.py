"""The ``livefilter`` command: override parsing, exit codes, one-line errors, file jobs."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import nullcontext as does_not_raise
from pathlib import Path

import cv2
import numpy as np
import pytest

from livefilter.cli import ProgressSink, main, parse_sink, parse_source, summarize
from livefilter.media import video_frame_count
from livefilter.config.loader import parse_config
from livefilter.errors import ConfigError
from livefilter.types import RedactedFrame
from tests.fakes import redacted

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
FACES = REPO.parent / "shared" / "data" / "faces"
PLACEHOLDER = re.compile(r"\{(LIVEFILTER_[A-Z0-9_]+)\}")


def make_video(
    path: Path,
    frames: int,
    *,
    size: tuple[int, int] = (64, 48),
    fps: int = 10,
    audio: bool = False,
    picture: np.ndarray | None = None,
) -> Path:
    """An H.264 MP4 (optionally with an AAC tone), each frame's brightness = its index."""
    import av

    width, height = size
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=16000) if audio else None
        for i in range(frames):
            image = picture if picture is not None else np.full((height, width, 3), 10 * i % 256, np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        if sound is not None:
            tone = (0.3 * np.sin(np.arange(16000 * frames // fps) / 5)).astype(np.float32)
            for start in range(0, len(tone), 1024):
                chunk = av.AudioFrame.from_ndarray(
                    tone[None, start : start + 1024], format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts = 16000, start
                out.mux(sound.encode(chunk))
            out.mux(sound.encode())
        out.mux(video.encode())
    return path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- override parsing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("demo", {"kind": "demo"}),
        ("0", {"kind": "webcam", "device": 0}),
        ("12", {"kind": "webcam", "device": 12}),
        ("/dev/video2", {"kind": "webcam", "device": "/dev/video2"}),
        ("rtsp://u:p@cam/stream1", {"kind": "rtsp", "url": "rtsp://u:p@cam/stream1"}),
        ("RTSPS://cam/s", {"kind": "rtsp", "url": "RTSPS://cam/s"}),
        ("http://cam/mjpeg", {"kind": "rtsp", "url": "http://cam/mjpeg"}),
        ("https://cam/live.m3u8", {"kind": "rtsp", "url": "https://cam/live.m3u8"}),
        ("photo.JPG", {"kind": "image", "path": "photo.JPG", "frames": None, "realtime": True}),
        ("clip.mp4", {"kind": "file", "path": "clip.mp4"}),
        ("recording.ts", {"kind": "file", "path": "recording.ts"}),
    ],
)
def test_parse_source(tmp_path, monkeypatch, text, expected):
    monkeypatch.chdir(tmp_path)
    for name in ("photo.JPG", "clip.mp4", "recording.ts"):
        (tmp_path / name).write_bytes(b"")
    assert parse_source(text) == expected
    parse_config({"source": expected})  # every answer is a valid source section


def test_parse_source_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ConfigError, match=r"--source 'nope\.mp4': no such file; expected demo, a webcam index"
    ):
        parse_source("nope.mp4")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("preview", does_not_raise({"kind": "preview"})),
        ("null", does_not_raise({"kind": "null"})),
        ("virtualcam", does_not_raise({"kind": "virtualcam"})),
        ("virtualcam:/dev/video10", does_not_raise({"kind": "virtualcam", "device": "/dev/video10"})),
        (
            "rtsp://127.0.0.1:8554/redacted",
            does_not_raise({"kind": "rtsp", "url": "rtsp://127.0.0.1:8554/redacted"}),
        ),
        ("out/frame.png", does_not_raise({"kind": "image", "path": "out/frame.png"})),
        ("frames/{index:06d}.jpg", does_not_raise({"kind": "image", "path": "frames/{index:06d}.jpg"})),
        ("out/clip.MKV", does_not_raise({"kind": "file", "path": "out/clip.MKV"})),
        ("out/clip.mov", does_not_raise({"kind": "file", "path": "out/clip.mov"})),
        ("out/clip.txt", pytest.raises(ConfigError, match=r"--sink 'out/clip\.txt': expected preview, null")),
        ("window", pytest.raises(ConfigError, match="expected preview")),
        ("http://host/x", pytest.raises(ConfigError, match="expected preview")),
    ],
)
def test_parse_sink(text, expected):
    with expected as sink:
        assert parse_sink(text) == sink
        parse_config({"sinks": [sink]})


def test_parse_sink_error_hides_a_password():
    with pytest.raises(ConfigError) as caught:
        parse_sink("rtmp://user:hunter2@host/live")
    assert "hunter2" not in str(caught.value)


# --- check -----------------------------------------------------------------------------------


def test_configs_folder_has_the_shipped_examples():
    assert {"demo.yaml", "file-job.yaml", "sam3.yaml"} <= {path.name for path in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=[path.name for path in CONFIGS])
def test_check_every_shipped_config(capsys, monkeypatch, path):
    for name in PLACEHOLDER.findall(path.read_text()):
        monkeypatch.setenv(name, "dummy-secret-value")
    code, out, err = run_cli(capsys, "check", str(path))
    assert code == 0, err
    assert out.startswith(f"{path}: OK")
    assert "dummy-secret-value" not in out + err


BROKEN = {
    "bad syntax": ("source:\n  kind: demo\n  fps: [30\nsinks: []\n", r":4:\d+ invalid YAML"),
    "unknown key": (
        "render:\n  stlye: blur\n",
        r":2 render\.stlye: unknown key 'stlye' \(did you mean 'style'\?\)",
    ),
    "wrong type": (
        "runtime:\n  queue_size: [1]\n",
        r":2 runtime\.queue_size: must be an integer \(got a list\)",
    ),
    "negative rate": ("render:\n  fps: -5\n", r":2 render\.fps: must be greater than 0 \(got -5\)"),
    "bad enum": (
        "render:\n  mode: fast\n",
        r":2 render\.mode: must be one of: low_latency, exact \(got 'fast'\)",
    ),
    "placeholder unset": (
        "source:\n  kind: rtsp\n  url: rtsp://a:{LIVEFILTER_TEST_UNSET}@cam/x\n",
        r":3 source\.url: placeholder \{LIVEFILTER_TEST_UNSET\} is not set",
    ),
    "empty": ("", ": the file is empty"),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
@pytest.mark.parametrize("command", ["check", "run"])
def test_broken_config_gives_one_clear_error_and_exit_2(tmp_path, capsys, monkeypatch, command, case):
    monkeypatch.delenv("LIVEFILTER_TEST_UNSET", raising=False)
    text, pattern = BROKEN[case]
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    code, out, err = run_cli(capsys, command, str(path))
    assert code == 2
    assert out == ""  # never "OK", never a recovery config
    assert err.count("livefilter: error:") == 1 and "Traceback" not in err
    assert re.search(re.escape(str(path)) + pattern, err), err


def test_missing_config_file(tmp_path, capsys):
    code, out, err = run_cli(capsys, "check", str(tmp_path / "nope.yaml"))
    assert (code, out) == (2, "")
    assert f"livefilter: error: {tmp_path / 'nope.yaml'}: config file not found" in err


def test_verbose_adds_the_traceback(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("render: {fps: 0}\n")
    assert run_cli(capsys, "check", str(path))[2].count("Traceback") == 0
    code, _, err = run_cli(capsys, "check", "-v", str(path))
    assert code == 2 and "Traceback" in err and "livefilter: error:" in err


def test_secret_is_not_echoed(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LIVEFILTER_TEST_RATE", "hunter2")
    path = tmp_path / "c.yaml"
    path.write_text(
        "sinks:\n  - kind: rtsp\n    url: rtsp://127.0.0.1/x\n    bitrate_kbps: '{LIVEFILTER_TEST_RATE}'\n"
    )
    code, out, err = run_cli(capsys, "check", "-v", str(path))
    assert code == 2
    assert ":4 sinks[0].bitrate_kbps: must be an integer (value hidden" in err
    assert "hunter2" not in out + err


def test_check_summary_hides_credentials(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LIVEFILTER_TEST_PASSWORD", "hunter2")
    path = tmp_path / "c.yaml"
    path.write_text(
        "source:\n  kind: rtsp\n  url: rtsp://admin:{LIVEFILTER_TEST_PASSWORD}@cam:554/s?token=abc123\n"
    )
    code, out, err = run_cli(capsys, "check", str(path))
    assert code == 0
    assert "source:  rtsp rtsp://admin:***@cam:554/s?..." in out
    assert "hunter2" not in out + err and "abc123" not in out + err


def test_check_rejects_non_face_prompts_for_the_cpu_engine(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("engine: {kind: cpu-face}\nprompts: [face, license plate]\n")
    code, out, err = run_cli(capsys, "check", str(path))
    assert (code, out) == (2, "")
    assert "cannot look for 'license plate'" in err


def test_a_job_with_a_prompt_the_engine_cannot_answer_fails_before_opening_outputs(tmp_path, capsys):
    image = tmp_path / "in.png"
    assert cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    out_path = tmp_path / "out.png"
    code, _, err = run_cli(
        capsys, "image", str(image), str(out_path), "--engine", "cpu-face", "--prompt", "license plate"
    )
    assert code == 2
    assert "cannot look for 'license plate'" in err and "sam3" in err
    assert not out_path.exists()


def test_check_warns_when_auto_may_fall_back_to_the_cpu_engine(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("engine: {kind: auto}\nprompts: [face, license plate]\n")
    code, out, err = run_cli(capsys, "check", str(path))
    assert code == 0 and "OK" in out
    assert "prompts: needs SAM3" in err and "cannot look for 'license plate'" in err


def test_warnings_are_logged_with_the_thread_name(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("source: {kind: demo, realtime: false}\n")
    code, _, err = run_cli(capsys, "check", str(path))
    assert code == 0
    assert re.search(
        r"WARNING +\[MainThread\] livefilter\.config\.loader: .*:1 source\.realtime: false", err
    ), err


def test_log_lines_never_carry_a_password(capsys):
    from livefilter.cli import LOG_FORMAT, _RedactingFormatter

    record = __import__("logging").LogRecord(
        "x", 30, __file__, 1, "cannot open %s", ("rtsp://u:hunter2@cam/s",), None
    )
    line = _RedactingFormatter(LOG_FORMAT).format(record)
    assert "rtsp://u:***@cam/s" in line and "hunter2" not in line


# --- command-line errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "{demo}", "--sink", "out.txt"], "--sink 'out.txt': expected preview"),
        (["run", "{demo}", "--engine", "cpu-face", "--model", "/m"], "--model names SAM3 weights"),
        (
            ["run", "{demo}", "--duration", "-1"],
            "command line runtime.max_duration_s: must be greater than 0 (got -1)",
        ),
        (["run", "{demo}", "--source", "nope.mp4"], "--source 'nope.mp4': no such file"),
        (["image", "nope.jpg", "out.png", "--prompt", "face"], "input 'nope.jpg': no such file"),
        (["image", "{photo}", "out.mp4", "--prompt", "face"], "`livefilter image` writes .jpg"),
        (["video", "{clip}", "out.png", "--prompt", "face"], "`livefilter video` writes .mp4"),
        (["video", "{clip}", "{clip}", "--prompt", "face"], "sinks[0].path: must differ from source.path"),
    ],
)
def test_bad_command_lines_exit_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photo.jpg").write_bytes(b"")
    (tmp_path / "clip.mp4").write_bytes(b"")
    names = {"{demo}": str(REPO / "configs" / "demo.yaml"), "{photo}": "photo.jpg", "{clip}": "clip.mp4"}
    code, out, err = run_cli(capsys, *[names.get(arg, arg) for arg in argv])
    assert (code, out) == (2, "")
    assert message in err and "Traceback" not in err


def test_video_output_with_a_wrong_extension_names_no_missing_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clip.mp4").write_bytes(b"")
    code, out, err = run_cli(capsys, "video", "clip.mp4", "out/x.txt", "--prompt", "face")
    assert (code, out) == (2, "")
    assert "`livefilter video` writes .mp4, .mkv, .mov files" in err
    assert "--sink" not in err  # `video` has no such flag


def test_version(capsys):
    from livefilter import __version__

    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"livefilter {__version__}"


@pytest.mark.parametrize("command", ["image", "video"])
def test_file_job_arguments_have_help(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert re.search(rf"\n  IN +the {command} file to redact", text), text
    assert re.search(r"\n  OUT +where to write the redacted copy", text), text


BAD_INPUTS = {
    "undecodable image": (["image", "{junk}.jpg", "out.png", "--prompt", "face"], "cannot decode the image"),
    "undecodable video": (["video", "{junk}.mp4", "out.mp4", "--prompt", "face"], "cannot read"),
    "video missing, from the command line": (["video", "nope.mp4", "out.mp4", "--prompt", "face"], "no such file"),
    "video missing, from a config": (["run", "{missing_config}"], "does not exist (source.path)"),
    "image missing, from a config": (["run", "{missing_image_config}"], "does not exist"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_exits_2_from_the_command_line_and_from_a_config(tmp_path, capsys, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    junk = bytes(range(256)) * 64
    (tmp_path / "junk.jpg").write_bytes(junk)
    (tmp_path / "junk.mp4").write_bytes(junk)
    (tmp_path / "missing.yaml").write_text(
        "source: {kind: file, path: nope.mp4, realtime: false}\nengine: {kind: cpu-face}\nsinks: [{kind: null}]\n"
    )
    (tmp_path / "missing_image.yaml").write_text(
        "source: {kind: image, path: nope.jpg}\nengine: {kind: cpu-face}\nsinks: [{kind: null}]\n"
    )
    names = {
        "{junk}.jpg": "junk.jpg",
        "{junk}.mp4": "junk.mp4",
        "{missing_config}": "missing.yaml",
        "{missing_image_config}": "missing_image.yaml",
    }
    argv, words = BAD_INPUTS[case]
    code, out, err = run_cli(capsys, *[names.get(arg, arg) for arg in argv])
    assert code == 2, err
    assert words in err and "Traceback" not in err and "Errno" not in err


def _truncated_video(tmp_path: Path, frames: int) -> tuple[Path, int]:
    """An MP4 with its index at the start (faststart), cut in half: (path, frames it lists)."""
    import av

    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w", options={"movflags": "faststart"}) as out:
        video = out.add_stream("libx264", rate=24, options={"g": "12"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            noise = np.random.default_rng(i).integers(0, 256, (48, 64, 3), np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(noise, format="bgr24")))
        out.mux(video.encode())
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    return cut, frames


def test_a_truncated_video_is_reported_and_its_frames_kept(tmp_path, capsys):
    import av

    clip, listed = _truncated_video(tmp_path, 120)
    out_path = tmp_path / "out.mp4"
    code, out, err = run_cli(capsys, "video", str(clip), str(out_path), "--prompt", "face", "--engine", "cpu-face")
    assert code == 2, err
    assert f"ended early, after" in err and f"of the {listed} frames its index lists" in err
    assert "Traceback" not in err
    with av.open(str(out_path)) as container:
        written = sum(1 for _ in container.decode(video=0))
    assert 0 < written < listed  # what was read is kept
    assert f"ended early, after {written} of the {listed} frames" in err


def test_source_file_keeps_a_file_job_a_file_job(tmp_path, capsys, monkeypatch):
    """configs/file-job.yaml documents `--source my.mp4 --sink out.mp4`: that must stay an
    unpaced, lossless file job (a paced "camera" drops frames whenever the engine is slower)."""
    import av

    import livefilter.pipeline

    monkeypatch.chdir(tmp_path)
    clip = make_video(tmp_path / "my.mp4", 20, fps=10)
    built = []
    real_build = livefilter.pipeline.build_pipeline

    def build_and_keep(config, **kwargs):
        built.append(config)
        return real_build(config, **kwargs)

    monkeypatch.setattr(livefilter.pipeline, "build_pipeline", build_and_keep)
    code, _, err = run_cli(
        capsys, "run", str(REPO / "configs" / "file-job.yaml"), "--source", str(clip), "--sink", "out/my.mp4",
        "--engine", "cpu-face",
    )
    assert code == 0, err
    source = built[0].source
    assert (source.kind, source.path, source.realtime) == ("file", str(clip), False)
    with av.open("out/my.mp4") as container:
        assert sum(1 for _ in container.decode(video=0)) == 20


def test_file_jobs_take_settings_from_config(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "settings.yaml").write_text("render:\n  style: solid\n  blur: 3\n")
    code, out, err = run_cli(capsys, "video", "clip.mp4", "out.mp4", "--prompt", "face", "--config", "settings.yaml")
    assert (code, out) == (2, "")
    assert "settings.yaml:3 render.blur: unknown key 'blur'" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["image", "in.jpg", "out.png"])  # --prompt is required
    assert caught.value.code == 2
    assert "--prompt" in capsys.readouterr().err


def test_schema_is_json_of_the_config(capsys):
    code, out, _ = run_cli(capsys, "schema")
    schema = json.loads(out)
    assert code == 0
    assert set(schema["properties"]) == {"source", "prompts", "engine", "render", "sinks", "runtime"}
    assert "FileSinkConfig" in schema["$defs"]


def test_python_dash_m(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "livefilter", "check", str(REPO / "configs" / "demo.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "demo.yaml: OK" in done.stdout


def test_summary_of_the_demo():
    from livefilter.config.loader import load_config

    text = summarize(load_config(REPO / "configs" / "demo.yaml"))
    assert "source:  demo" in text and "sinks:   file out/demo.mp4; preview" in text


# --- progress --------------------------------------------------------------------------------


def _redacted(index: int, fully: bool = False) -> RedactedFrame:
    return redacted(np.zeros((4, 4, 3), np.uint8), index, fully_redacted=fully)


def test_progress_sink_follows_the_newest_frame_index():
    out = io.StringIO()
    sink = ProgressSink(10, file=out)
    sink.open()
    for index in (0, 1, 4, 3, 9):  # the bar follows the newest index, never goes back
        sink.write(_redacted(index, fully=index == 4))
    sink.close()
    sink.close()  # idempotent
    assert "10/10" in out.getvalue()
    assert sink.fully_redacted == 1 and "fully_redacted=1" in out.getvalue()


def test_progress_sink_without_a_total():
    out = io.StringIO()
    sink = ProgressSink(None, file=out)
    sink.open()
    sink.write(_redacted(6))
    sink.close()
    assert "7frame" in out.getvalue().replace(" ", "")


def test_video_frame_count(tmp_path):
    assert video_frame_count(str(make_video(tmp_path / "v.mp4", 12))) == 12
    (tmp_path / "text.mp4").write_text("not a video")
    assert video_frame_count(str(tmp_path / "text.mp4")) is None
    assert video_frame_count(str(tmp_path / "missing.mp4")) is None


# --- end to end (needs the pipeline, sources, sinks and the CPU face engine) -------------------


def _faces() -> tuple[Path, list[list[int]]]:
    if not (FACES / "faces.json").is_file():
        pytest.skip(f"test photos not found at {FACES}")
    boxes = json.loads((FACES / "faces.json").read_text())["boxes"]
    return FACES / "obama.jpg", boxes["obama.jpg"]


def _box_change(before: np.ndarray, after: np.ndarray, box: list[int]) -> float:
    x, y, w, h = box
    return float(
        np.abs(before[y : y + h, x : x + w].astype(int) - after[y : y + h, x : x + w].astype(int)).mean()
    )


def test_image_command_redacts_the_face(tmp_path, capsys):
    import cv2

    photo, boxes = _faces()
    out_path = tmp_path / "out" / "redacted.png"
    code, out, err = run_cli(
        capsys,
        "image",
        str(photo),
        str(out_path),
        "--prompt",
        "face",
        "--engine",
        "cpu-face",
        "--style",
        "solid",
    )
    assert code == 0, err
    before, after = cv2.imread(str(photo)), cv2.imread(str(out_path))
    assert after is not None and after.shape == before.shape
    face_change = _box_change(before, after, boxes[0])
    corner_change = _box_change(before, after, [0, 0, 40, 40])
    assert face_change > 30, "the face was not redacted"
    assert corner_change < 3, "far from the face the picture should be untouched"
    assert "livefilter final stats" in out


def test_video_command_keeps_every_frame_and_the_audio(tmp_path, capsys):
    import av
    import cv2

    photo, boxes = _faces()
    picture = cv2.imread(str(photo))
    scale = 320 / picture.shape[1]
    size = (320, round(picture.shape[0] * scale) // 2 * 2)
    clip = make_video(tmp_path / "in.mp4", 15, size=size, audio=True, picture=cv2.resize(picture, size))
    out_path = tmp_path / "out.mp4"
    code, _, err = run_cli(
        capsys,
        "video",
        str(clip),
        str(out_path),
        "--prompt",
        "face",
        "--engine",
        "cpu-face",
        "--style",
        "solid",
    )
    assert code == 0, err
    with av.open(str(out_path)) as container:
        assert container.streams.audio, "the input's audio was not copied"
        frames = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
    assert len(frames) == 15
    box = [round(v * scale) for v in boxes[0]]
    first = cv2.resize(picture, size)
    assert all(_box_change(first, frame, box) > 30 for frame in frames), "a frame shows the face"


def _small_demo(tmp_path: Path, duration: str) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(
        "source: {kind: demo, width: 320, height: 180, fps: 15, duration_s: " + duration + "}\n"
        "engine: {kind: cpu-face}\n"
        "sinks: [{kind: file, path: out/run.mp4}]\n"
    )
    return path


def test_run_command_with_a_duration(tmp_path, capsys, monkeypatch):
    import av

    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "run", str(_small_demo(tmp_path, "null")), "--duration", "0.8")
    assert code == 0, err
    assert "livefilter final stats" in out
    with av.open(str(tmp_path / "out" / "run.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) > 0


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_cleanly(tmp_path, capsys, monkeypatch, signum, code):
    import av

    import livefilter.pipeline

    monkeypatch.chdir(tmp_path)
    original = signal.getsignal(signum)
    built: list[livefilter.pipeline.Pipeline] = []

    def build_and_keep(*args, **kwargs):
        built.append(pipeline := real_build(*args, **kwargs))
        return pipeline

    real_build = livefilter.pipeline.build_pipeline
    monkeypatch.setattr(livefilter.pipeline, "build_pipeline", build_and_keep)

    def signal_once_running() -> None:
        deadline = time.monotonic() + 60
        # Wait until the CLI has installed its handler and the file sink has written frames.
        while time.monotonic() < deadline and (
            signal.getsignal(signum) is original or not built or built[0].sinks[0].frames_written < 3
        ):
            time.sleep(0.02)
        os.kill(os.getpid(), signum)

    threading.Thread(target=signal_once_running, daemon=True).start()
    exit_code, out, err = run_cli(capsys, "run", str(_small_demo(tmp_path, "null")))
    assert exit_code == code, err
    assert f"{signal.Signals(signum).name}: stopping cleanly" in err
    assert "livefilter final stats" in out
    assert signal.getsignal(signum) is original  # handlers restored
    with av.open(str(tmp_path / "out" / "run.mp4")) as container:  # the MP4 was finalised
        assert sum(1 for _ in container.decode(video=0)) > 0


class _CoverEngine:
    """TEST DOUBLE, not a detector: "finds" one object over the left 80 % of every frame (a
    phantom detection that hides most of the picture)."""

    name = "cover"

    def __init__(self, *args, **kwargs) -> None:
        pass

    def open(self) -> None:
        pass

    def infer(self, frame):
        from livefilter.types import MaskSet

        masks = np.zeros((1, frame.height, frame.width), bool)
        masks[0, :, : frame.width * 4 // 5] = True
        return MaskSet(
            masks, scores=[0.7], labels=("face",), object_ids=[1], frame_index=frame.index, t_capture=frame.t_capture
        )

    def set_prompts(self, prompts) -> None:
        pass

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_file_job_whose_output_is_mostly_hidden_says_so(tmp_path, capsys, monkeypatch):
    import livefilter.pipeline

    monkeypatch.setattr(livefilter.pipeline, "create_engine", _CoverEngine)
    clip = make_video(tmp_path / "in.mp4", 12, size=(80, 60))
    code, out, err = run_cli(capsys, "video", str(clip), str(tmp_path / "out.mp4"), "--prompt", "face")
    assert code == 0, err
    assert "most of the output is hidden: 12 of 12 frames hide more than half of the picture" in err
    assert "over 50 %: 12 frames (fully redacted apart)" in out


def test_a_file_job_with_little_hidden_says_nothing(tmp_path, capsys):
    clip = make_video(tmp_path / "in.mp4", 12, size=(80, 60))
    code, out, err = run_cli(capsys, "video", str(clip), str(tmp_path / "out.mp4"), "--prompt", "face", "--engine", "cpu-face")
    assert code == 0, err
    assert "most of the output is hidden" not in err


def test_the_final_statistics_are_printed_once(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = _small_demo(tmp_path, "1.5")
    config.write_text(config.read_text() + "runtime: {stats_interval_s: 0.1}\n")
    code, out, err = run_cli(capsys, "run", str(config))
    assert code == 0, err
    assert (out + err).count("livefilter final stats") == 1
    # periodic blocks while it runs, none once the source has ended (the final block follows)
    assert "livefilter stats after" not in err.split("end of stream", 1)[1]


def test_a_sink_that_never_delivered_a_frame_fails_the_run(tmp_path, capsys, monkeypatch):
    """Issue 10.7: a restream whose server is gone is not a success, and its retries are one line each."""
    from tests.io.conftest import free_port

    monkeypatch.chdir(tmp_path)
    url = f"rtsp://127.0.0.1:{free_port()}/redacted"
    code, out, err = run_cli(capsys, "run", str(_small_demo(tmp_path, "null")), "--sink", url, "--duration", "3")
    assert code == 1, err
    assert f"sink rtsp {url} never delivered a frame" in err and "the run failed" in err
    assert "connection refused" in err
    assert "Traceback" not in err and "reopened" not in err
    assert f"rtsp {url}: wrote 0" in out


def test_ctrl_c_while_a_camera_is_being_opened_exits_130_at_once(tmp_path, capsys, monkeypatch):
    """Issue 10.5: a camera that accepts the connection but never answers holds the open for
    open_timeout_s; Ctrl-C must not wait for it."""
    from tests.io.conftest import ScriptedRtspServer

    monkeypatch.chdir(tmp_path)
    original = signal.getsignal(signal.SIGINT)
    with ScriptedRtspServer(None) as camera:
        config = tmp_path / "cam.yaml"
        config.write_text(
            f"source: {{kind: rtsp, url: '{camera.url()}', open_timeout_s: 20}}\n"
            "engine: {kind: cpu-face}\nsinks: [{kind: null}]\n"
        )

        def interrupt() -> None:
            deadline = time.monotonic() + 60
            while signal.getsignal(signal.SIGINT) is original and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(1.0)  # the open is pending now
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt, daemon=True).start()
        started = time.monotonic()
        code, out, err = run_cli(capsys, "run", str(config))
        elapsed = time.monotonic() - started
    assert code == 130, err
    assert elapsed < 10, f"took {elapsed:.1f} s: waited out the open"
    assert "did not stop" not in err


class _SlowEngine(_CoverEngine):
    """TEST DOUBLE: finds nothing, slowly (a file job that takes a while)."""

    def infer(self, frame):
        from livefilter.types import MaskSet

        time.sleep(0.05)
        return MaskSet.empty(frame.height, frame.width, frame_index=frame.index, t_capture=frame.t_capture)


def test_ctrl_c_in_a_video_job_leaves_no_partial_file_under_the_output_name(tmp_path, capsys, monkeypatch):
    """Issue 10.10: an interrupted job's video is kept under a name that says it is incomplete."""
    import livefilter.pipeline

    monkeypatch.setattr(livefilter.pipeline, "create_engine", _SlowEngine)
    built: list[livefilter.pipeline.Pipeline] = []
    real_build = livefilter.pipeline.build_pipeline

    def build_and_keep(*args, **kwargs):
        built.append(pipeline := real_build(*args, **kwargs))
        return pipeline

    monkeypatch.setattr(livefilter.pipeline, "build_pipeline", build_and_keep)
    original = signal.getsignal(signal.SIGINT)

    def interrupt_once_writing() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            signal.getsignal(signal.SIGINT) is original or not built or built[0].sinks[0].frames_written < 3
        ):
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    clip = make_video(tmp_path / "in.mp4", 200, size=(64, 48))
    threading.Thread(target=interrupt_once_writing, daemon=True).start()
    code, _, err = run_cli(capsys, "video", str(clip), str(tmp_path / "out.mp4"), "--prompt", "face")
    assert code == 130, err
    assert not (tmp_path / "out.mp4").exists()
    assert "stopped before the end of the input" in err and "out.partial.mp4" in err and "incomplete" in err
    import av

    with av.open(str(tmp_path / "out.partial.mp4")) as container:
        assert 3 <= sum(1 for _ in container.decode(video=0)) < 200


def test_a_hub_warning_is_printed_once(capfd, monkeypatch):
    """huggingface_hub logs through a console handler of its own and also propagates to the
    root, where livefilter's handler sits: each hub message must come out once."""
    import logging

    hub_logging = pytest.importorskip("huggingface_hub.utils.logging")
    hub = hub_logging.get_logger("huggingface_hub.utils._http")  # where its retry warnings come from
    own = [h for h in logging.getLogger("huggingface_hub").handlers if isinstance(h, logging.StreamHandler)]
    assert own  # its own console handler (the cause of the double)
    for handler in own:  # it took sys.stderr when first imported (maybe another test's capture)
        monkeypatch.setattr(handler, "stream", sys.stderr)
    from livefilter.cli import _logging

    quiet_library = logging.getLogger("tests.a_library")
    quiet_library.addHandler(logging.NullHandler())  # what libraries do: it prints nothing
    with _logging(verbose=False):
        hub.warning("Retrying in 1s [Retry 1/5].")
        logging.getLogger("livefilter.engines.sam3").warning("our own warning")
        quiet_library.getChild("module").warning("a library with only a NullHandler")
    err = capfd.readouterr().err
    assert err.count("Retrying in 1s [Retry 1/5].") == 1, err
    assert err.count("our own warning") == 1 and err.count("a library with only a NullHandler") == 1, err
