"""``with`` on every source, engine and sink: open on enter, idempotent close on exit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from livefilter.cli import ProgressSink
from livefilter.config.engine import CpuFaceConfig
from livefilter.config.sinks import FileSinkConfig, ImageSinkConfig, NullSinkConfig, PreviewSinkConfig
from livefilter.config.source import DemoSourceConfig, FileSourceConfig, ImageSourceConfig
from livefilter.engines.base import Engine
from livefilter.engines.face_cpu import CpuFaceEngine
from livefilter.errors import EngineError, SinkError, SourceError
from livefilter.lifecycle import Lifecycle, close_quietly
from livefilter.sinks.base import Sink
from livefilter.sinks.file import FileSink
from livefilter.sinks.image import ImageSink
from livefilter.sinks.null import NullSink
from livefilter.sinks.preview import PreviewSink
from livefilter.sources.base import Source
from livefilter.sources.demo import DemoSource
from livefilter.sources.file import FileSource
from livefilter.sources.image import ImageSource
from livefilter.types import Frame, MaskSet, Prompt
from tests.fakes import redacted

PICTURE = np.full((48, 64, 3), 90, np.uint8)
REDACTED = redacted(PICTURE, 0, 0.0, 0.0, fully_redacted=True)


def _read(source: Any) -> None:
    assert isinstance(source.read(), Frame)


def _infer(engine: Any) -> None:
    assert isinstance(engine.infer(Frame(PICTURE, 0, 0.0)), MaskSet)


def _write(sink: Any) -> None:
    sink.write(REDACTED)


@dataclass(frozen=True)
class Case:
    """How to build one stage in ``tmp_path``, use it while open, and see that it is closed."""

    build: Callable[[Path], Any]
    use: Callable[[Any], None]
    closed_error: type[Exception] | None  # what using it after close raises (None: no observable state)


def _clip(tmp: Path) -> Path:
    """A two-frame MP4, written by the file sink."""
    with FileSink(FileSinkConfig(path=str(tmp / "clip.mp4")), fps=25.0) as sink:
        sink.write(REDACTED)
        sink.write(redacted(PICTURE, 1, 0.04, 0.04, fully_redacted=True))
    return sink.path


def _picture(tmp: Path) -> Path:
    path = tmp / "picture.png"
    cv2.imwrite(str(path), PICTURE)
    return path


CASES = {
    "demo-source": Case(
        lambda tmp: DemoSource(DemoSourceConfig(width=64, height=64, realtime=False)), _read, SourceError
    ),
    "image-source": Case(
        lambda tmp: ImageSource(ImageSourceConfig(path=str(_picture(tmp)))), _read, SourceError
    ),
    "file-source": Case(
        lambda tmp: FileSource(FileSourceConfig(path=str(_clip(tmp)), realtime=False)), _read, SourceError
    ),
    "cpu-face-engine": Case(lambda tmp: CpuFaceEngine(CpuFaceConfig(), [Prompt("face")]), _infer, EngineError),
    "file-sink": Case(lambda tmp: FileSink(FileSinkConfig(path=str(tmp / "out.mp4")), fps=25.0), _write, SinkError),
    "image-sink": Case(lambda tmp: ImageSink(ImageSinkConfig(path=str(tmp / "out.png")), fps=25.0), _write, SinkError),
    "null-sink": Case(lambda tmp: NullSink(NullSinkConfig(), fps=25.0), _write, None),
    "preview-sink": Case(lambda tmp: PreviewSink(PreviewSinkConfig(), fps=25.0), _write, None),
    "progress-sink": Case(lambda tmp: ProgressSink(1, enabled=False), _write, None),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_with_opens_on_enter_and_closes_idempotently_on_exit(tmp_path: Path, case: Case) -> None:
    stage = case.build(tmp_path)
    assert isinstance(stage, Lifecycle)
    assert isinstance(stage, Source | Engine | Sink)
    with stage as entered:
        assert entered is stage
        case.use(stage)  # raises if enter did not open it
    if case.closed_error is not None:
        with pytest.raises(case.closed_error):
            case.use(stage)
    stage.close()  # a second close is harmless
    stage.close()


def test_file_sink_exit_finalises_a_readable_video(tmp_path: Path) -> None:
    source = FileSource(FileSourceConfig(path=str(_clip(tmp_path)), realtime=False))
    with source:
        assert [frame.index for frame in iter(source.read, None)] == [0, 1]


class _Stage(Lifecycle):
    def __init__(self, *, fail_open: bool = False, fail_close: bool = False) -> None:
        self.fail_open = fail_open
        self.fail_close = fail_close
        self.calls: list[str] = []

    def open(self) -> None:
        self.calls.append("open")
        if self.fail_open:
            raise SourceError("cannot open")

    def close(self) -> None:
        self.calls.append("close")
        if self.fail_close:
            raise OSError("disk gone")


def test_exit_closes_when_the_body_raises() -> None:
    stage = _Stage()
    with pytest.raises(KeyError), stage:
        raise KeyError("body")
    assert stage.calls == ["open", "close"]


@pytest.mark.parametrize("fail_close", [False, True], ids=["close-ok", "close-fails-too"])
def test_a_failed_open_is_closed_and_its_error_propagates(fail_close: bool) -> None:
    stage = _Stage(fail_open=True, fail_close=fail_close)
    with pytest.raises(SourceError, match="cannot open"), stage:
        pytest.fail("the body must not run when open() failed")
    assert stage.calls == ["open", "close"]


def test_close_quietly_logs_a_close_error_instead_of_raising(caplog: pytest.LogCaptureFixture) -> None:
    stage = _Stage(fail_close=True)
    with caplog.at_level(logging.ERROR, logger="livefilter.lifecycle"):
        close_quietly(stage, "sink out.mp4")
    assert stage.calls == ["close"]
    (record,) = caplog.records
    assert record.getMessage() == "sink out.mp4: error while closing"
    assert record.exc_info is not None and isinstance(record.exc_info[1], OSError)
