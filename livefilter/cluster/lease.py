"""A worker's lease on its outputs: it publishes only while the controller keeps renewing it.

The controller may lose a worker it cannot kill: a network partition, a process stopped then
resumed. Before it moves that worker's cameras elsewhere, it waits until the lease it last
granted has run out (plus ``cluster.max_clock_skew_s``); from then on the old worker's sinks
refuse every frame, so the same camera is never published by two workers at once.

Each health check and each placement carries a deadline in the controller's wall-clock time
(``time.time()``): a message delivered late, or read after the process resumes, cannot extend
the lease past what the controller already counted on. Worker and controller clocks must agree
within ``max_clock_skew_s`` (NTP keeps them within milliseconds).

The bound: at most one frame per sink once the lease has run out, the one whose write had begun
(its lease checked, valid) when the process was frozen; it completes when the process resumes.
It went through the render like every other frame, so it is redacted: a moved camera is
published by two workers for that one frame, nothing unredacted leaks. :class:`FencedSink` says so
(a warning with the frame's number and how long before the lease's end its write began). A
check-then-write cannot be fenced across a frozen process unless the output itself refuses the
old writer: a file system's rename cannot; an RTSP server that hands a path to its newest
publisher closes the old worker's connection once the new one publishes (not tested here).
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

    def left(self) -> float:
        """Seconds until the lease runs out (0 or less: it has)."""
        with self._lock:
            return self._until - self._clock()

    def wrap(self, sink: Sink) -> Sink:
        """``sink``, publishing only while this lease holds (``wrap_sink`` of the worker's daemon)."""
        return FencedSink(sink, self)


class FencedSink:
    """A sink that publishes only while its worker's :class:`Lease` holds.

    Past the lease every frame is dropped and the inner sink is closed (an RTSP publisher lets go
    of its path for the camera's new worker); the first frame after a renewal opens it again.
    A refused frame raises nothing: the sink thread would close the sink and retry with a backoff
    growing to 30 s, keeping the output dark long after a brief lapse had ended.

    A write that began under the lease and ended past it (the process was stopped, or starved,
    in between) is published: the bound of the module's docstring; ``late`` counts them, and each
    is logged.
    """

    def __init__(self, sink: Sink, lease: Lease) -> None:
        self.inner = sink
        self.name = sink.name
        self.lossless = sink.lossless
        self._lease = lease
        self._open = False
        self.refused = 0  # frames dropped in the current lapse
        self.late = 0  # frames whose write began under the lease and ended past it

    def __getattr__(self, name: str) -> Any:  # reconnect_backoff, mark_incomplete, ...: the inner sink's
        return getattr(self.inner, name)

    def open(self) -> None:
        if self._lease.left() > 0:
            self.inner.open()
            self._open = True

    def write(self, frame: RedactedFrame) -> None:
        left = self._lease.left()
        if left <= 0:
            late = 0.0 - left  # (not -left: -0.0)
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
        after = self._lease.left()
        if after <= 0:
            self.late += 1
            logger.warning(
                "sink %s: frame %d was published %.2f s after %s's lease ran out: its write began %.2f s before "
                "the lease's end (the process was stopped or starved mid-write); it is redacted, and every "
                "later frame is refused", self.name, frame.index, 0.0 - after, self._lease.worker, left,
            )

    def close(self) -> None:
        self._open = False
        self.inner.close()
