"""The null sink counts what reaches it."""

from __future__ import annotations

import numpy as np
import pytest

from livefilter.config.sinks import NullSinkConfig
from livefilter.sinks import Sink, create_sink
from livefilter.sinks.null import NullSink
from livefilter.types import Frame
from tests.fakes import redacted


def test_counts_frames_and_fully_redacted_frames() -> None:
    sink = create_sink(NullSinkConfig(), fps=30)
    assert isinstance(sink, NullSink) and isinstance(sink, Sink) and sink.lossless
    sink.open()
    image = np.zeros((4, 4, 3), np.uint8)
    for index, full in enumerate([True, False, False, True, False]):
        sink.write(
            redacted(image, index, fully_redacted=full, reason="stale_masks" if full else "")
        )
    sink.close()
    sink.close()
    assert (sink.frames, sink.fully_redacted, sink.last_index) == (5, 2, 4)


def test_raw_frames_are_refused() -> None:
    sink = NullSink(NullSinkConfig(), fps=30)
    with pytest.raises(TypeError, match="expected RedactedFrame"):
        sink.write(Frame(np.zeros((4, 4, 3), np.uint8), 0, 0.0))  # type: ignore[arg-type]
    assert sink.frames == 0
