"""The file source, on real files written with PyAV (libx264) in tmp_path."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from livefilter.config.source import FileSourceConfig
from livefilter.errors import SourceError
from livefilter.sinks.file import bgr_to_i420
from livefilter.sources import Source, create_source
from livefilter.sources.file import FileSource, probe_video


def encode(path: Path, ticks: list[int], *, time_base: Fraction, rate: int = 25, size=(64, 48)) -> None:
    """Write one frame per timestamp (in ``time_base`` units); frame i has brightness 5 * i."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.codec_context.time_base = time_base
        for i, tick in enumerate(ticks):
            grey = np.full((size[1], size[0], 3), 5 * i, np.uint8)
            picture = av.VideoFrame.from_ndarray(bgr_to_i420(grey), format="yuv420p")
            picture.pts, picture.time_base = tick, time_base
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """47 frames at 25 fps."""
    path = tmp_path / "clip.mp4"
    encode(path, list(range(47)), time_base=Fraction(1, 25))
    return path


def read_all(source: FileSource) -> list:
    return list(iter(source.read, None))


def open_source(path: Path, **options) -> FileSource:
    source = FileSource(FileSourceConfig(path=str(path), **{"realtime": False, **options}))
    source.open()
    return source


def test_reads_every_frame_with_its_timestamp(clip: Path) -> None:
    source = create_source(FileSourceConfig(path=str(clip), realtime=False))
    assert isinstance(source, FileSource) and isinstance(source, Source)
    assert source.live is False
    source.open()
    try:
        assert source.nominal_fps == 25.0 and source.frame_count == 47
        frames = read_all(source)
        assert source.read() is None  # stays at the end
    finally:
        source.close()
        source.close()  # idempotent
    assert len(frames) == 47
    assert [f.index for f in frames] == list(range(47))
    np.testing.assert_allclose([f.pts for f in frames], [i / 25 for i in range(47)], atol=1e-9)
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8
    np.testing.assert_allclose([f.image.mean() for f in frames], [5 * i for i in range(47)], atol=1.5)
    assert frames[0].source == "file:clip.mp4"


def test_variable_frame_rate_timestamps(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    ticks = list(np.cumsum(rng.integers(300, 9000, 30)))  # 3.3 ms .. 100 ms apart, 1/90000 s units
    path = tmp_path / "vfr.mkv"
    encode(path, [int(t) for t in ticks], time_base=Fraction(1, 90_000))
    frames = read_all(open_source(path))
    assert len(frames) == 30
    # Matroska stores milliseconds.
    np.testing.assert_allclose([f.pts for f in frames], [t / 90_000 for t in ticks], atol=0.0011)


def test_properties_are_available_before_open(clip: Path) -> None:
    source = FileSource(FileSourceConfig(path=str(clip)))
    assert source.nominal_fps == 25.0 and source.frame_count == 47
    info = probe_video(clip)
    assert (info.width, info.height) == (64, 48) and info.duration_s == pytest.approx(47 / 25, abs=0.05)


def test_loop_starts_again_with_rising_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "short.mp4"
    encode(path, list(range(10)), time_base=Fraction(1, 25))
    source = open_source(path, loop=True)
    frames = [source.read() for _ in range(25)]
    source.close()
    assert [f.index for f in frames] == list(range(25))
    np.testing.assert_allclose([f.pts for f in frames], [i / 25 for i in range(25)], atol=1e-9)
    np.testing.assert_array_equal(frames[10].image, frames[0].image)
    np.testing.assert_array_equal(frames[23].image, frames[3].image)


def test_realtime_reading_is_paced_by_timestamps(clip: Path) -> None:
    source = open_source(clip, realtime=True)
    assert source.live
    start = time.monotonic()
    frames = [source.read() for _ in range(12)]
    elapsed = time.monotonic() - start
    source.close()
    t0 = frames[0].t_capture
    assert all(f.t_capture - t0 >= f.pts - 0.002 for f in frames)
    assert 11 / 25 - 0.002 <= elapsed < 11 / 25 * 4


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "video.mp4"
    with pytest.raises(SourceError, match=f"{missing} does not exist"):
        open_source(missing)


def test_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is not a file"):
        open_source(tmp_path)


def test_undecodable_file_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.mp4"
    junk.write_bytes(b"this is not a video\n" * 50)
    with pytest.raises(SourceError, match=f"cannot read {junk} as a video"):
        open_source(junk)


def test_file_without_video_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48_000, layout="mono")
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        chunk.sample_rate, chunk.pts = 48_000, 0
        container.mux(stream.encode(chunk))
        container.mux(stream.encode(None))
    with pytest.raises(SourceError, match="has no video stream"):
        open_source(path)


def test_read_before_open_is_a_clear_error(clip: Path) -> None:
    with pytest.raises(SourceError, match="before open"):
        FileSource(FileSourceConfig(path=str(clip))).read()
