"""The image sink: one file per frame with {index}, else the latest frame, atomically."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from livefilter.config.sinks import ImageSinkConfig
from livefilter.errors import SinkError
from livefilter.sinks import Sink, create_sink
from livefilter.sinks.image import ImageSink
from livefilter.types import Frame, RedactedFrame
from tests import fakes


def redacted(value: int, index: int) -> RedactedFrame:
    image = np.full((12, 16, 3), value, np.uint8)
    return fakes.redacted(image, index, time.monotonic())


def test_one_file_per_frame(tmp_path: Path) -> None:
    sink = create_sink(ImageSinkConfig(path=str(tmp_path / "frames" / "{index:04d}.png")), fps=30)
    assert isinstance(sink, ImageSink) and isinstance(sink, Sink)
    assert sink.lossless is True
    sink.open()
    for index in (0, 1, 7):
        sink.write(redacted(10 * index, index))
    sink.close()
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["0000.png", "0001.png", "0007.png"]
    assert cv2.imread(str(tmp_path / "frames" / "0007.png"))[0, 0].tolist() == [70, 70, 70]
    assert sink.frames_written == 3


def test_single_path_keeps_the_latest_frame(tmp_path: Path) -> None:
    out = tmp_path / "latest.png"
    sink = ImageSink(ImageSinkConfig(path=str(out)), fps=30)
    assert sink.lossless is False
    sink.open()
    sink.write(redacted(10, 0))
    sink.write(redacted(99, 1))
    sink.close()
    assert cv2.imread(str(out))[0, 0].tolist() == [99, 99, 99]
    assert [p.name for p in tmp_path.iterdir()] == ["latest.png"]  # no temporary files left


def test_jpeg(tmp_path: Path) -> None:
    sink = ImageSink(ImageSinkConfig(path=str(tmp_path / "a.jpg")), fps=30)
    sink.open()
    sink.write(redacted(128, 0))
    assert abs(int(cv2.imread(str(tmp_path / "a.jpg"))[5, 5, 0]) - 128) <= 2


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("{frame}.png", "placeholder other than {index}"),
        ("{index}-{frame}.png", "placeholder other than {index}"),
        ("{index:q}.png", "not a valid pattern"),
        ("{index.png", "not a valid pattern"),
        ("out.unknownext", "cannot write .unknownext"),
    ],
)
def test_bad_paths_fail_at_open(tmp_path: Path, path: str, message: str) -> None:
    with pytest.raises(SinkError, match=message):
        ImageSink(ImageSinkConfig(path=str(tmp_path / path)), fps=30).open()


def test_raw_frames_are_refused(tmp_path: Path) -> None:
    sink = ImageSink(ImageSinkConfig(path=str(tmp_path / "a.png")), fps=30)
    sink.open()
    with pytest.raises(TypeError, match="expected RedactedFrame"):
        sink.write(Frame(np.zeros((4, 4, 3), np.uint8), 0, 0.0))  # type: ignore[arg-type]
    assert not (tmp_path / "a.png").exists()
