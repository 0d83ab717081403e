"""``with`` support for sources, engines and sinks, written once.

Every stage has ``open()`` and an idempotent ``close()`` (see the ``base.py`` Protocols);
inheriting :class:`Lifecycle` adds the context-manager protocol on top of them.
"""

from __future__ import annotations

import logging
from typing import Protocol, TypeVar

__all__ = ["Lifecycle", "close_quietly"]

logger = logging.getLogger(__name__)


class _Openable(Protocol):
    def open(self) -> None: ...

    def close(self) -> None: ...


_T = TypeVar("_T", bound=_Openable)


class Lifecycle:
    """Mixin: ``with stage:`` opens on enter and closes on exit.

    If ``open()`` fails part-way, ``close()`` runs before the error propagates, so a
    half-opened resource (a file, a model) is released (an error from that close is
    logged, not raised: the open error is the one to report). ``close()`` must therefore
    be idempotent and safe on a partly opened object, as the stage contracts already ask.

    Example:
        >>> class Stage(Lifecycle):
        ...     def open(self) -> None:
        ...         print("open")
        ...     def close(self) -> None:
        ...         print("close")
        >>> with Stage() as stage:
        ...     print("use")
        open
        use
        close
    """

    __slots__ = ()

    def __enter__(self: _T) -> _T:
        try:
            self.open()
        except BaseException:
            close_quietly(self, f"{type(self).__name__} (after a failed open)")
            raise
        return self

    def __exit__(self: _Openable, *exc_info: object) -> None:
        self.close()


def close_quietly(stage: _Openable, what: str) -> None:
    """Close ``stage`` on the way out of a thread, logging its error instead of raising it:
    the error that ended the loop, or the shutdown in progress, matters more."""
    try:
        stage.close()
    except Exception:
        logger.exception("%s: error while closing", what)
