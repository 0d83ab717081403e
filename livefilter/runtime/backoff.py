"""Exponential backoff for reconnecting sources, restarting engines and reopening sinks."""

from __future__ import annotations

__all__ = ["Backoff"]


class Backoff:
    """Delays that double from ``first`` up to ``longest``; ``reset()`` after a success.

    Example:
        >>> b = Backoff(0.5, 3.0)
        >>> [b.next() for _ in range(5)]
        [0.5, 1.0, 2.0, 3.0, 3.0]
        >>> b.reset(); b.next()
        0.5
    """

    def __init__(self, first: float, longest: float) -> None:
        if not 0 < first <= longest:
            raise ValueError(f"Backoff: expected 0 < first <= longest, got first={first}, longest={longest}")
        self.first = first
        self.longest = longest
        self._delay = first

    def next(self) -> float:
        """The delay to wait now; the following one is twice as long (capped)."""
        delay = self._delay
        self._delay = min(delay * 2, self.longest)
        return delay

    def reset(self) -> None:
        self._delay = self.first
