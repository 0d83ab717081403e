"""The MP4 file sink, checked by decoding what it wrote (real libx264 and FFmpeg demuxers)."""

from __future__ import annotations

import logging
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from livefilter.config.sinks import FileSinkConfig
from livefilter.config.source import FileSourceConfig
from livefilter.errors import SinkError
from livefilter.sinks import Sink, create_sink
from livefilter.sinks.file import TIME_BASE, FileSink
from livefilter.sources.file import FileSource
from livefilter.sources.scene import Scene, SceneSpec
from livefilter.types import Frame, RedactedFrame
from tests import fakes

TICK = float(TIME_BASE)


def redacted(image: np.ndarray, index: int, pts: float | None) -> RedactedFrame:
    return fakes.redacted(image, index, time.monotonic(), pts)


def pictures(n: int, width: int = 96, height: int = 64) -> list[np.ndarray]:
    """Frames whose brightness encodes their number (survives lossy coding)."""
    return [np.full((height, width, 3), 20 + 37 * i % 200, np.uint8) for i in range(n)]


def write(
    path: Path, images: list[np.ndarray], pts: list[float | None], *, fps: float = 25.0, **options
) -> FileSink:
    sink = FileSink(FileSinkConfig(path=str(path), preset="ultrafast", **options), fps=fps)
    sink.open()
    for index, (image, stamp) in enumerate(zip(images, pts)):
        sink.write(redacted(image, index, stamp))
    sink.close()
    return sink


def read(path: Path) -> list[Frame]:
    source = FileSource(FileSourceConfig(path=str(path), realtime=False))
    source.open()
    try:
        return list(iter(source.read, None))
    finally:
        source.close()


def make_input(path: Path, *, seconds: float = 2.0, fps: int = 25, audio: str | None = "aac") -> None:
    """A small video with a 440 Hz tone, written straight with PyAV (independent of the sink)."""
    rate, size = 48_000, (64, 48)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = *size, "yuv420p"
        tone = container.add_stream(audio, rate=rate, layout="stereo") if audio else None
        for i in range(int(seconds * fps)):
            picture = av.VideoFrame.from_ndarray(
                np.full((size[1], size[0], 3), 4 * i, np.uint8), format="bgr24"
            )
            picture.pts = i
            container.mux(video.encode(picture))
        if tone is not None:
            planar = audio == "aac"
            for start in range(0, int(seconds * rate), 1024):
                wave = 0.3 * np.sin(2 * np.pi * 440 * np.arange(start, start + 1024) / rate)
                if planar:
                    data, layout_fmt = np.stack([wave, wave]).astype(np.float32), "fltp"
                else:
                    data, layout_fmt = (np.repeat(wave, 2)[None, :] * 32767).astype(np.int16), "s16"
                chunk = av.AudioFrame.from_ndarray(data, format=layout_fmt, layout="stereo")
                chunk.sample_rate, chunk.pts = rate, start
                container.mux(tone.encode(chunk))
            container.mux(tone.encode(None))
        container.mux(video.encode(None))


def decoded_audio(path: Path) -> tuple[str, np.ndarray, float]:
    """(codec, left channel samples, first timestamp in seconds) of a file's audio."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        frames = list(container.decode(stream))
        return stream.codec_context.name, np.concatenate([f.to_ndarray()[0] for f in frames]), frames[0].time


def test_file_sink_follows_the_contract(tmp_path: Path) -> None:
    sink = create_sink(FileSinkConfig(path=str(tmp_path / "out.mp4")), fps=30)
    assert isinstance(sink, FileSink) and isinstance(sink, Sink)
    assert sink.lossless is True


def test_round_trip_keeps_frame_count_and_timestamps(tmp_path: Path) -> None:
    images = pictures(47)
    stamps = [i / 25 for i in range(47)]
    sink = write(tmp_path / "out.mp4", images, stamps)
    assert sink.frames_written == 47
    frames = read(tmp_path / "out.mp4")
    assert len(frames) == 47
    np.testing.assert_allclose([f.pts for f in frames], stamps, atol=TICK)
    # The pictures are the ones written, in order.
    levels = [float(f.image.mean()) for f in frames]
    np.testing.assert_allclose(levels, [float(im.mean()) for im in images], atol=4)


def test_variable_frame_rate_timestamps_survive(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    stamps = list(0.3 + np.cumsum(rng.uniform(0.01, 0.12, 40)))
    write(tmp_path / "vfr.mp4", pictures(40), stamps)
    frames = read(tmp_path / "vfr.mp4")
    assert len(frames) == 40
    np.testing.assert_allclose([f.pts for f in frames], stamps, atol=TICK)


def test_file_to_file_keeps_a_variable_rate_input_exact(tmp_path: Path) -> None:
    """Input written straight with PyAV -> FileSource -> FileSink -> the same frames and times."""
    rng = np.random.default_rng(7)
    ticks = [int(t) for t in np.cumsum(rng.integers(1500, 6000, 33))]  # 1/90000 s units
    source_path = tmp_path / "phone.mp4"
    with av.open(str(source_path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = TIME_BASE
        for i, tick in enumerate(ticks):
            picture = av.VideoFrame.from_ndarray(pictures(i + 1, 64, 48)[i], format="bgr24")
            picture.pts, picture.time_base = tick, TIME_BASE
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    frames_in = read(source_path)
    write(tmp_path / "out.mp4", [f.image for f in frames_in], [f.pts for f in frames_in], fps=30)
    frames_out = read(tmp_path / "out.mp4")
    assert len(frames_in) == len(frames_out) == 33
    np.testing.assert_allclose([f.pts for f in frames_out], [f.pts for f in frames_in], atol=TICK)
    np.testing.assert_allclose([f.pts for f in frames_in], [t / 90_000 for t in ticks], atol=0.0011)


def test_mkv_output_keeps_timestamps_to_its_millisecond_clock(tmp_path: Path) -> None:
    stamps = [i * 1001 / 30000 for i in range(20)]
    write(tmp_path / "out.mkv", pictures(20), stamps, fps=30000 / 1001)
    np.testing.assert_allclose([f.pts for f in read(tmp_path / "out.mkv")], stamps, atol=0.001)


def test_frames_without_pts_are_written_back_to_back_at_fps(tmp_path: Path) -> None:
    write(tmp_path / "cfr.mp4", pictures(12), [None] * 12, fps=30.0)
    frames = read(tmp_path / "cfr.mp4")
    np.testing.assert_allclose([f.pts for f in frames], [i / 30 for i in range(12)], atol=TICK)


def test_repeated_timestamps_still_produce_every_frame(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The render thread may show the same source frame twice (low-latency mode).
    stamps = [0.0, 0.04, 0.04, 0.08, 0.08, 0.12]
    with caplog.at_level(logging.WARNING, logger="livefilter.sinks.file"):
        write(tmp_path / "dup.mp4", pictures(6), stamps)
    frames = read(tmp_path / "dup.mp4")
    assert len(frames) == 6
    assert np.all(np.diff([f.pts for f in frames]) > 0)
    assert sum("does not advance" in r.message for r in caplog.records) == 1  # said once


def test_the_same_source_frame_shown_again_is_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A live run's render repeats the newest frame until the source sends the next one (the demo's
    # first frame, while the engine warms up): expected, so nothing to warn about.
    sink = FileSink(FileSinkConfig(path=str(tmp_path / "live.mp4"), preset="ultrafast"), fps=25)
    sink.open()
    image = pictures(1)[0]
    with caplog.at_level(logging.WARNING, logger="livefilter.sinks.file"):
        for index, stamp in [(0, 0.0), (0, 0.0), (0, 0.0), (1, 0.04), (1, 0.04), (2, 0.08)]:
            sink.write(redacted(image, index, stamp))
        sink.close()
    assert not [r.message for r in caplog.records if r.levelno >= logging.WARNING]
    frames = read(tmp_path / "live.mp4")
    assert len(frames) == 6 and np.all(np.diff([f.pts for f in frames]) > 0)


def test_odd_sizes_are_padded_to_even_and_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    grey = np.kron(rng.integers(0, 255, (7, 5)), np.ones((7, 13)))  # 49x65 blocks (grey: no chroma loss)
    image = np.repeat(grey[:, :, None], 3, axis=2).astype(np.uint8)
    with caplog.at_level(logging.WARNING, logger="livefilter.sinks.file"):
        write(tmp_path / "odd.mp4", [image] * 3, [0.0, 0.04, 0.08], crf=0)
    assert any("even" in r.message and "66x50" in r.message for r in caplog.records)
    frames = read(tmp_path / "odd.mp4")
    assert len(frames) == 3 and frames[0].image.shape == (50, 66, 3)
    # The picture is intact (not scaled, not shifted), and the padding repeats the edge.
    assert np.abs(frames[0].image[:49, :65].astype(int) - image).mean() < 2
    assert np.abs(frames[0].image[:, 65].astype(int) - frames[0].image[:, 64]).mean() < 2


def test_picture_quality_of_a_real_scene(tmp_path: Path) -> None:
    scene = Scene(SceneSpec(width=320, height=180))
    images = [scene.render(i).image for i in range(10)]
    write(tmp_path / "scene.mp4", images, [i / 30 for i in range(10)], fps=30, crf=18)
    frames = read(tmp_path / "scene.mp4")
    mse = np.mean([(f.image.astype(float) - im) ** 2 for f, im in zip(frames, images)])
    assert 10 * np.log10(255**2 / mse) > 32  # PSNR in dB


def test_audio_is_copied_without_re_encoding(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    make_input(source)
    frames = read(source)
    out = tmp_path / "out" / "redacted.mp4"
    write(out, [f.image for f in frames], [f.pts for f in frames], audio_from=str(source))
    assert len(read(out)) == len(frames) == 50
    codec_in, samples_in, start_in = decoded_audio(source)
    codec_out, samples_out, start_out = decoded_audio(out)
    assert codec_in == codec_out == "aac"
    assert start_out == pytest.approx(start_in, abs=1e-3)
    # Remuxed packets decode to the very same samples.
    np.testing.assert_array_equal(samples_out, samples_in)
    with av.open(str(out)) as container:
        packets_out = sum(1 for p in container.demux(audio=0) if p.size)
    with av.open(str(source)) as container:
        packets_in = sum(1 for p in container.demux(audio=0) if p.size)
    assert packets_out == packets_in


def test_audio_the_container_cannot_hold_is_transcoded_to_aac(tmp_path: Path) -> None:
    source = tmp_path / "in.mkv"
    make_input(source, audio="pcm_s16le")
    frames = read(source)
    out = tmp_path / "out.mp4"
    write(out, [f.image for f in frames], [f.pts for f in frames], audio_from=str(source))
    codec, samples, start = decoded_audio(out)
    assert codec == "aac" and start == pytest.approx(0.0, abs=0.03)
    assert len(samples) == pytest.approx(2.0 * 48_000, rel=0.03)
    rms = float(np.sqrt(np.mean(samples[4800:-4800] ** 2)))
    assert rms == pytest.approx(0.3 / np.sqrt(2), rel=0.05)  # the tone survived


def test_audio_stops_with_the_video(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    make_input(source, seconds=2.0)
    frames = read(source)[:25]  # the pipeline stopped after one second
    out = tmp_path / "short.mp4"
    write(out, [f.image for f in frames], [f.pts for f in frames], audio_from=str(source))
    _, samples, _ = decoded_audio(out)
    assert 48_000 <= len(samples) <= 48_000 + 2 * 1024


def test_audio_from_a_silent_file_writes_video_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = tmp_path / "silent.mp4"
    make_input(source, audio=None, seconds=0.4)
    with caplog.at_level(logging.INFO, logger="livefilter.sinks.file"):
        write(tmp_path / "out.mp4", pictures(10), [i / 25 for i in range(10)], audio_from=str(source))
    assert any("no audio" in r.message for r in caplog.records)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert len(container.streams.video) == 1 and not container.streams.audio


def test_missing_audio_source_is_a_clear_error(tmp_path: Path) -> None:
    sink = FileSink(
        FileSinkConfig(path=str(tmp_path / "o.mp4"), audio_from=str(tmp_path / "nope.mp4")), fps=25
    )
    with pytest.raises(SinkError, match="nope.mp4 does not exist"):
        sink.open()


def test_creates_parent_folders(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "c.mp4"
    write(out, pictures(2), [0.0, 0.04])
    assert out.is_file() and out.stat().st_size > 0


def test_overwrite_false_refuses_an_existing_file(tmp_path: Path) -> None:
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"precious")
    sink = FileSink(FileSinkConfig(path=str(out), overwrite=False), fps=25)
    with pytest.raises(SinkError, match="already exists and overwrite is false"):
        sink.open()
    assert out.read_bytes() == b"precious"


def test_overwrite_true_replaces_an_existing_file(tmp_path: Path) -> None:
    out = tmp_path / "old.mp4"
    out.write_bytes(b"old")
    write(out, pictures(3), [0.0, 0.04, 0.08])
    assert len(read(out)) == 3


def test_close_is_idempotent_and_an_unused_sink_leaves_no_file(tmp_path: Path, caplog) -> None:
    out = tmp_path / "never.mp4"
    sink = FileSink(FileSinkConfig(path=str(out)), fps=25)
    sink.open()
    with caplog.at_level(logging.WARNING, logger="livefilter.sinks.file"):
        sink.close()
        sink.close()
    assert not out.exists()
    assert any("no frames" in r.message for r in caplog.records)
    with pytest.raises(SinkError, match="before open"):
        sink.write(redacted(pictures(1)[0], 0, 0.0))


def test_raw_frames_are_refused(tmp_path: Path) -> None:
    sink = FileSink(FileSinkConfig(path=str(tmp_path / "o.mp4")), fps=25)
    sink.open()
    try:
        with pytest.raises(TypeError, match="expected RedactedFrame, got Frame"):
            sink.write(Frame(image=pictures(1)[0], index=0, t_capture=0.0))  # type: ignore[arg-type]
    finally:
        sink.close()


def test_size_change_is_refused(tmp_path: Path) -> None:
    sink = FileSink(FileSinkConfig(path=str(tmp_path / "o.mp4")), fps=25)
    sink.open()
    sink.write(redacted(pictures(1, 96, 64)[0], 0, 0.0))
    with pytest.raises(SinkError, match="changed from 96x64 to 64x48"):
        sink.write(redacted(pictures(1, 64, 48)[0], 1, 0.04))
    sink.close()


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("o.webm", {}, "cannot hold H.264"),
        ("o.mp4", {"preset": "warp"}, "not an x264 preset"),
        ("o.notavideo", {}, "use a video suffix"),
    ],
)
def test_bad_outputs_fail_at_open(tmp_path: Path, name: str, options: dict, message: str) -> None:
    sink = FileSink(FileSinkConfig(path=str(tmp_path / name), **options), fps=25)
    with pytest.raises(SinkError, match=message):
        sink.open()


def test_fps_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fps"):
        FileSink(FileSinkConfig(path=str(tmp_path / "o.mp4")), fps=0)


def test_ntsc_rate_is_exact(tmp_path: Path) -> None:
    write(tmp_path / "ntsc.mp4", pictures(5), [None] * 5, fps=30000 / 1001)
    with av.open(str(tmp_path / "ntsc.mp4")) as container:
        assert container.streams.video[0].average_rate == Fraction(30000, 1001)


def test_reopening_continues_in_a_new_file_and_keeps_the_first(tmp_path: Path) -> None:
    # The sink thread closes and reopens a sink whose write failed: the recording so far must survive.
    out = tmp_path / "rec.mp4"
    sink = FileSink(FileSinkConfig(path=str(out), preset="ultrafast"), fps=25)
    sink.open()
    for i, image in enumerate(pictures(5)):
        sink.write(redacted(image, i, i / 25))
    sink.close()
    sink.open()
    for i, image in enumerate(pictures(3), start=5):
        sink.write(redacted(image, i, i / 25))
    sink.close()
    assert sink.path == tmp_path / "rec.1.mp4"
    assert len(read(out)) == 5 and len(read(tmp_path / "rec.1.mp4")) == 3


def test_the_output_name_appears_only_when_the_file_is_whole(tmp_path: Path) -> None:
    """Issue 10.10: while writing (or after a job was stopped early) the video is under a
    temporary name; the output's name only ever holds a finished file."""
    final = tmp_path / "out.mp4"
    sink = FileSink(FileSinkConfig(path=str(final), preset="ultrafast"), fps=25)
    sink.open()
    for index, image in enumerate(pictures(3)):
        sink.write(redacted(image, index, index / 25))
    assert not final.exists() and sink.partial_path == tmp_path / "out.partial.mp4"
    sink.close()
    assert final.exists() and not sink.partial_path.exists()
    assert len(read(final)) == 3

    stopped = FileSink(FileSinkConfig(path=str(tmp_path / "job.mp4"), preset="ultrafast"), fps=25)
    stopped.open()
    for index, image in enumerate(pictures(4)):
        stopped.write(redacted(image, index, index / 25))
    stopped.mark_incomplete()
    stopped.close()
    assert not (tmp_path / "job.mp4").exists()
    assert len(read(tmp_path / "job.partial.mp4")) == 4  # what was done is kept, and says what it is
