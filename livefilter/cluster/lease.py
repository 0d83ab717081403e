"""A worker's lease on its outputs: it publishes only while the controller keeps renewing it.

The controller may lose a worker it cannot kill: a network partition, a process stopped then
resumed. Before it moves that worker's cameras elsewhere, it waits until the lease it last
granted has run out (plus ``cluster.max_clock_skew_s``); from then on the old worker's sinks
refuse every frame, so the same camera is never published by two workers at once.

Each health check and each placement carries a deadline in the controller's wall-clock time
(``time.time()``): a message delivered late, or read after the process resumes, cannot extend
the lease past what the controller already counted on. Worker and controller clocks must agree
within ``max_clock_skew_s`` (NTP keeps them within milliseconds).

One frame can still slip through: the one whose write had begun (its lease checked, valid) when
the process was frozen completes when it resumes. It is a redacted frame of the old session; a
check-then-write cannot be fenced across a frozen process without a fencing token the output
itself checks (an RTSP server or a file system here has none).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from livefilter.lifecycle import close_quietly
from livefilter.sinks.base import Sink
from livefilter.types import RedactedFrame

__all__ = ["FencedSink", "Lease"]

logger = logging.getLogger(__name__)


class Lease:
    """Until when (wall clock) worker ``worker`` may publish; starts expired."""

    def __init__(self, worker: str, clock: Callable[[], float] = time.time) -> None:
        self.worker = worker
        self._clock = clock
        self._until = 0.0
        self._lock = threading.Lock()

    def grant(self, until: float) -> None:
        """Publish until ``until`` (never shortens: messages may arrive out of order)."""
        with self._lock:
            self._until = max(self._until, until)

    @property
    def granted(self) -> bool:
        with self._lock:
            return self._until > 0

    def overdue(self) -> float | None:
        """Seconds since the lease ran out, or None while it holds."""
        with self._lock:
            late = self._clock() - self._until
        return late if late >= 0 else None

    def wrap(self, sink: Sink) -> Sink:
        """``sink``, publishing only while this lease holds (``wrap_sink`` of the worker's daemon)."""
        return FencedSink(sink, self)


class FencedSink:
    """A sink that publishes only while its worker's :class:`Lease` holds.

    Past the lease every frame is dropped and the inner sink is closed (an RTSP publisher lets go
    of its path for the camera's new worker); the first frame after a renewal opens it again.
    A refused frame raises nothing: the sink thread would close the sink and retry with a backoff
    growing to 30 s, keeping the output dark long after a brief lapse had ended.
    """

    def __init__(self, sink: Sink, lease: Lease) -> None:
        self.inner = sink
        self.name = sink.name
        self.lossless = sink.lossless
        self._lease = lease
        self._open = False
        self.refused = 0  # frames dropped in the current lapse

    def __getattr__(self, name: str) -> Any:  # reconnect_backoff, mark_incomplete, ...: the inner sink's
        return getattr(self.inner, name)

    def open(self) -> None:
        if self._lease.overdue() is None:
            self.inner.open()
            self._open = True

    def write(self, frame: RedactedFrame) -> None:
        late = self._lease.overdue()
        if late is not None:
            if self.refused == 0:
                logger.warning(
                    "sink %s: not publishing: %s's lease from the cluster's controller %s (the controller is "
                    "unreachable, or moved this worker's cameras elsewhere); it publishes again if the controller "
                    "renews it", self.name, self._lease.worker,
                    f"ran out {late:.1f} s ago" if self._lease.granted else "was never granted",
                )
            self.refused += 1
            if self._open:
                self._open = False
                close_quietly(self.inner, f"sink {self.name}")
            return
        if not self._open:
            self.inner.open()
            self._open = True
        if self.refused:
            logger.warning("sink %s: publishing again (lease renewed; %d frames were not published)", self.name, self.refused)
            self.refused = 0
        self.inner.write(frame)

    def close(self) -> None:
        self._open = False
        self.inner.close()
