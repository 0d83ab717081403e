"""Hand-over points between threads: a latest-value slot and a bounded, closable queue.

Both are bounded by construction, so a slow consumer can delay or drop frames but never
grow memory. Every wait takes a timeout (or the pipeline's stop event), so no thread can
block forever on another.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["POLL_S", "BoundedQueue", "LatestSlot"]

T = TypeVar("T")

POLL_S = 0.05
"""How often a waiting thread looks at the stop event."""


class LatestSlot(Generic[T]):
    """Holds the newest value only; readers never wait (``wait_newer`` lets one wait for a put).

    Example:
        >>> slot = LatestSlot[int]()
        >>> slot.get() is None
        True
        >>> slot.put(1); slot.put(2); slot.get(), slot.version
        (2, 2)
        >>> slot.wait_newer(2, timeout=0.0)   # nothing put since version 2
        2
    """

    def __init__(self, value: T | None = None) -> None:
        self._changed = threading.Condition()
        self._value = value
        self._version = 0

    def put(self, value: T | None) -> None:
        with self._changed:
            self._value = value
            self._version += 1
            self._changed.notify_all()

    def get(self) -> T | None:
        with self._changed:
            return self._value

    @property
    def version(self) -> int:
        """How many values were put so far."""
        with self._changed:
            return self._version

    def wait_newer(self, version: int, timeout: float) -> int:
        """Wait at most ``timeout`` s for a put after ``version``; the version then current."""
        with self._changed:
            if self._version == version and timeout > 0:
                self._changed.wait(timeout)
            return self._version


class BoundedQueue(Generic[T]):
    """A FIFO of at most ``capacity`` items that the producer closes at the end.

    ``put_latest`` never waits: when full it drops the oldest item (live video, latest
    wins). ``put_wait`` waits for room (lossless jobs). ``get`` returns ``None`` when
    nothing arrived within the timeout; ``finished`` tells a consumer the producer is done
    and everything was taken.

    Example:
        >>> q = BoundedQueue[int](2)
        >>> [q.put_latest(i) for i in range(3)]   # the third put drops item 0
        [0, 0, 1]
        >>> q.close(); q.get(0.0), q.get(0.0), q.get(0.0), q.finished
        (1, 2, None, True)
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"BoundedQueue: expected capacity >= 1, got {capacity}")
        self.capacity = capacity
        self._items: deque[T] = deque()
        self._closed = False
        self._peak = 0
        self._changed = threading.Condition()

    def __len__(self) -> int:
        with self._changed:
            return len(self._items)

    @property
    def peak(self) -> int:
        """The most items ever held at once (never more than ``capacity``)."""
        with self._changed:
            return self._peak

    @property
    def finished(self) -> bool:
        """True once the producer closed the queue and every item was taken."""
        with self._changed:
            return self._closed and not self._items

    def put_latest(self, item: T) -> int:
        """Append ``item``; when full drop the oldest first. Returns how many were dropped (0 or 1)."""
        with self._changed:
            self._check_open()
            dropped = 0
            if len(self._items) >= self.capacity:
                self._items.popleft()
                dropped = 1
            self._append(item)
            return dropped

    def put_wait(self, item: T, stop: threading.Event) -> bool:
        """Append ``item`` once there is room. Returns False (item not queued) when ``stop`` is set."""
        with self._changed:
            self._check_open()
            while len(self._items) >= self.capacity:
                if stop.is_set():
                    return False
                self._changed.wait(POLL_S)
            self._append(item)
            return True

    def get(self, timeout: float) -> T | None:
        """The oldest item, or None when none arrived within ``timeout`` seconds."""
        with self._changed:
            if not self._items:
                self._changed.wait(timeout)
            if not self._items:
                return None
            item = self._items.popleft()
            self._changed.notify_all()
            return item

    def get_newest(self, timeout: float) -> tuple[T | None, int]:
        """The newest item and how many older ones were discarded to reach it."""
        with self._changed:
            if not self._items:
                self._changed.wait(timeout)
            if not self._items:
                return None, 0
            item = self._items.pop()
            skipped = len(self._items)
            self._items.clear()
            self._changed.notify_all()
            return item, skipped

    def consume(self, stop: threading.Event) -> Iterator[T]:
        """Every item in order, until the producer closed the queue and all were taken, or ``stop``.

        Example:
            >>> q = BoundedQueue[int](3)
            >>> _ = [q.put_latest(i) for i in range(3)]; q.close()
            >>> list(q.consume(threading.Event()))
            [0, 1, 2]
        """
        while not stop.is_set():
            item = self.get(POLL_S)
            if item is not None:
                yield item
            elif self.finished:
                return

    def close(self) -> None:
        """No more items will come; consumers see ``finished`` once they took the rest."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _append(self, item: T) -> None:
        self._items.append(item)
        self._peak = max(self._peak, len(self._items))
        self._changed.notify_all()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("BoundedQueue: put after close()")
