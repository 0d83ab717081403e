"""The site file: defaults merged into cameras, single-stream configs still valid, file:line errors."""

from __future__ import annotations

import textwrap
from contextlib import nullcontext
from pathlib import Path

import pytest

from livefilter.cli import main
from livefilter.daemon.config import camera_config, load_site, parse_site
from livefilter.errors import ConfigError

DEMO = {"kind": "demo", "width": 320, "height": 180}


def site(**cameras: dict) -> dict:
    return {"cameras": {name: {"source": DEMO, "sinks": [{"kind": "null"}], **camera} for name, camera in cameras.items()}}


def test_camera_render_is_merged_key_by_key_over_the_defaults() -> None:
    data = site(door={"render": {"style": "solid"}}, yard={"prompts": ["head"]})
    data["defaults"] = {"render": {"fps": 12, "style": "pixelate"}, "prompts": ["face"]}
    parsed = parse_site(data)

    door, yard = camera_config(parsed, "door"), camera_config(parsed, "yard")
    assert (door.render.style, door.render.fps) == ("solid", 12.0)
    assert (yard.render.style, yard.render.fps) == ("pixelate", 12.0)
    assert [p.text for p in door.prompts] == ["face"] and [p.text for p in yard.prompts] == ["head"]
    assert door.engine == yard.engine == parsed.engine  # one engine for the site


def test_a_single_stream_config_is_a_one_camera_site() -> None:
    parsed = parse_site({"source": DEMO, "prompts": ["face"], "render": {"style": "solid"}})
    assert list(parsed.cameras) == ["default"]
    assert camera_config(parsed, "default").render.style == "solid"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, nullcontext()),
        ({"http": {"host": "0.0.0.0"}}, pytest.raises(ConfigError, match=r"http.host: binding beyond 127.0.0.1 needs http.token")),
        ({"http": {"host": "0.0.0.0", "token": "a-long-enough-token"}}, nullcontext()),
        ({"retry": {"min_s": 10, "max_s": 1}}, pytest.raises(ConfigError, match=r"retry.min_s: must not exceed max_s")),
    ],
)
def test_site_sections(change: dict, expected) -> None:
    with expected:
        parse_site({**site(door={}), **change})


@pytest.mark.parametrize(
    ("camera", "message"),
    [
        ({"zones": [{"name": "z", "points": [[0, 0], [1.5, 0], [1, 1]]}]}, r"cameras.door.zones\[0\].points\[1\]: fractions must lie in 0..1"),
        ({"zones": [{"name": "z", "points": [[0, 0], [1, 0]]}]}, r"cameras.door.zones\[0\].points: needs at least 3 entries"),
        (
            {"zones": [{"name": "z", "points": [[0, 0], [1, 0], [1, 1]]}] * 2},
            r"cameras.door.zones\[1\].name: duplicate zone name",
        ),
        ({"sinks": [{"kind": "preview"}]}, r"cameras.door.sinks\[0\].kind: a headless daemon has no preview window"),
        ({"rendr": {}}, r"cameras.door.rendr: unknown key 'rendr' \(did you mean 'render'\?\)"),
    ],
)
def test_camera_errors_name_the_key(camera: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_site(site(door=camera))


def test_two_cameras_cannot_publish_to_the_same_url() -> None:
    sink = [{"kind": "rtsp", "url": "rtsp://127.0.0.1:8554/out"}]
    with pytest.raises(ConfigError, match=r"cameras.b.sinks\[0\]: already written by camera 'a'"):
        parse_site(site(a={"sinks": sink}, b={"sinks": sink}))


def test_a_camera_render_that_breaks_after_merging_is_reported_at_the_camera() -> None:
    with pytest.raises(ConfigError, match=r"cameras.door.render"):
        parse_site(site(door={"render": {"fps": 0}}))


SITE_YAML = """\
engine: {kind: cpu-face}
defaults:
  render: {fps: 15}
cameras:
  door:
    source: {kind: demo}
    sinks: [{kind: null}]
  yard:
    source: {kind: demo}
    render:
      fps: -3
    sinks: [{kind: null}]
"""


def test_errors_in_a_site_file_point_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE_YAML)
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    assert str(caught.value) == f"{path}:11 cameras.yard.render.fps: must be greater than 0 (got -3)"


def test_livefilter_check_validates_a_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(SITE_YAML.replace("fps: -3", "fps: 10"))
    bad.write_text(SITE_YAML)
    assert main(["check", str(good)]) == 0
    out = capsys.readouterr().out
    assert "2 cameras sharing engine cpu-face" in out and "[yard]" in out
    assert main(["check", str(bad)]) == 2
    assert f"{bad}:11 cameras.yard.render.fps" in capsys.readouterr().err


def test_check_rejects_prompts_the_shared_face_engine_cannot_answer(tmp_path: Path, capsys) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE_YAML.replace("fps: -3", "fps: 10").replace("  yard:\n", "  yard:\n    prompts: [license plate]\n"))
    assert main(["check", str(path)]) == 2
    assert "cameras.yard prompts: engine 'cpu-face' cannot look for 'license plate'" in capsys.readouterr().err


def test_placeholders_keep_secrets_out_of_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEFILTER_TEST_PW", "hunter2")
    path = tmp_path / "site.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            cameras:
              door:
                source: {kind: rtsp, url: "rtsp://u:{LIVEFILTER_TEST_PW}@10.0.0.5/s", read_timeout_s: -1}
                sinks: [{kind: null}]
            """
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    assert "hunter2" not in str(caught.value) and "read_timeout_s" in str(caught.value)


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", ["configs/site.yaml", "deploy/compose/site.yaml"])
def test_the_shipped_site_files_check(path: str, monkeypatch, capsys) -> None:
    for name in ("DOOR_PASSWORD", "YARD_PASSWORD", "PUBLISH_PASSWORD"):
        monkeypatch.setenv(f"LIVEFILTER_{name}", f"pw-{name.lower()}-77")
    monkeypatch.setenv("LIVEFILTER_API_TOKEN", "a-token-of-sufficient-length")
    assert main(["check", str(ROOT / path)]) == 0
    out, err = capsys.readouterr()
    assert "-77" not in out + err and "viewer:***@" in out
    site = load_site(ROOT / path)
    assert all(sink.url.split("@")[1].split("/", 1)[1].startswith("redacted/")  # type: ignore[union-attr]
               for camera in site.cameras.values() for sink in camera.sinks)
