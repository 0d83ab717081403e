"""The contract every output implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from livefilter.types import RedactedFrame

__all__ = ["Sink", "require_redacted"]


@runtime_checkable
class Sink(Protocol):
    """Publishes redacted frames. Each sink is owned by its own ``sink:<name>`` thread.

    Obligations:
        - ``write()`` accepts only :class:`RedactedFrame` (never a raw frame). The
          first call fixes the output size; later frames have the same size.
        - ``open()`` prepares what does not depend on the frame size and raises
          :class:`~livefilter.errors.SinkError` (or ``DependencyError``) with a clear
          message and a setup hint when the output cannot work at all.
        - ``lossless`` sinks (files) receive every rendered frame (the render thread
          waits for them); live sinks get the newest frame and may skip under load.
        - ``close()`` is idempotent and finalises the output (e.g. writes the MP4 index).
          A sink whose output can be left half done may define ``mark_incomplete()``: the
          sink thread calls it before ``close()`` when a job (a finite input) was stopped
          before every frame reached the sink (the file sink then keeps its temporary name).
          Inherit :class:`~livefilter.lifecycle.Lifecycle` for ``with`` support.
    """

    name: str
    lossless: bool

    def open(self) -> None: ...

    def write(self, frame: RedactedFrame) -> None: ...

    def close(self) -> None: ...


def require_redacted(frame: object, where: str) -> None:
    """Raise TypeError unless ``frame`` is a :class:`RedactedFrame`: the type is what keeps raw
    frames out of every output, so each ``write()`` checks it first.

    Example:
        >>> require_redacted("raw", "NullSink.write")
        Traceback (most recent call last):
        ...
        TypeError: NullSink.write: expected RedactedFrame, got str
    """
    if not isinstance(frame, RedactedFrame):
        raise TypeError(f"{where}: expected RedactedFrame, got {type(frame).__name__}")
