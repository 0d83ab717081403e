"""``kind: null``: discards frames and counts them (benchmarks, dry runs)."""

from __future__ import annotations

from livefilter.config.sinks import NullSinkConfig
from livefilter.lifecycle import Lifecycle
from livefilter.sinks.base import require_redacted
from livefilter.types import RedactedFrame

__all__ = ["NullSink"]


class NullSink(Lifecycle):
    """Counts what it is given. Lossless, so the counts cover every rendered frame.

    Example:
        >>> import numpy as np
        >>> from livefilter.config.render import RenderConfig
        >>> from livefilter.render import Compositor
        >>> from livefilter.types import Frame
        >>> sink = NullSink(NullSinkConfig(), fps=30)
        >>> sink.open()
        >>> frame = Frame(np.zeros((2, 2, 3), np.uint8), index=0, t_capture=0.0)
        >>> sink.write(Compositor(RenderConfig()).redact_all(frame, reason="no_masks_yet"))
        >>> sink.frames, sink.fully_redacted
        (1, 1)
    """

    lossless = True

    def __init__(self, config: NullSinkConfig, *, fps: float) -> None:
        self.config = config
        self.fps = fps
        self.name = "null"
        self.frames = 0
        self.fully_redacted = 0
        self.last_index: int | None = None

    def open(self) -> None:
        pass

    def write(self, frame: RedactedFrame) -> None:
        require_redacted(frame, "NullSink.write")
        self.frames += 1
        self.fully_redacted += frame.fully_redacted
        self.last_index = frame.index

    def close(self) -> None:
        pass
