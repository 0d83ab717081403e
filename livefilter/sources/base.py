"""The contract every video source implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from livefilter.types import Frame


@runtime_checkable
class Source(Protocol):
    """Produces frames, one at a time, owned by the capture thread.

    Obligations:
        - ``open()`` must raise :class:`~livefilter.errors.SourceError` with a clear
          message (URLs without credentials) when the source cannot be opened.
        - ``read()`` returns the next :class:`Frame`, with a monotonically increasing
          ``index``; it returns ``None`` at the end of a finite source. A live source
          that loses its signal raises ``SourceError`` (the capture thread reconnects
          with backoff) and must not block for longer than its read timeout.
        - ``close()`` is idempotent.
          Inherit :class:`~livefilter.lifecycle.Lifecycle` for ``with`` support.
        - ``nominal_fps`` is the rate frames are meant to be shown at (None if unknown).
        - ``live`` is True for sources that run in real time (cameras, paced files).
    """

    name: str

    @property
    def nominal_fps(self) -> float | None: ...

    @property
    def live(self) -> bool: ...

    def open(self) -> None: ...

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...
