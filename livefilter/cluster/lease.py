"""A worker's lease on its outputs: it publishes only while the controller keeps renewing it.

The controller may lose a worker it cannot kill: a network partition, a process stopped then
resumed. Before it moves that worker's cameras elsewhere, it waits until the lease it last
granted has run out (plus ``cluster.max_clock_skew_s``); from then on the old worker's sinks
refuse every frame, so the same camera is never published by two workers at once.

Each health check and each placement carries a deadline in the controller's wall-clock time
(``time.time()``): a message delivered late, or read after the process resumes, cannot extend
the lease past what the controller already counted on. Worker and controller clocks must agree
within ``max_clock_skew_s`` (NTP keeps them within milliseconds).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from livefilter.errors import SinkError
from livefilter.sinks.base import Sink
from livefilter.types import RedactedFrame

__all__ = ["FencedSink", "Lease"]


class Lease:
    """Until when (wall clock) worker ``worker`` may publish; starts expired."""

    def __init__(self, worker: str, clock: Any = time.time) -> None:
        self.worker = worker
        self._clock = clock
        self._until = 0.0
        self._lock = threading.Lock()

    def grant(self, until: float) -> None:
        """Publish until ``until`` (never shortens: messages may arrive out of order)."""
        with self._lock:
            self._until = max(self._until, until)

    def check(self, sink: str) -> None:
        """Raise :class:`SinkError` once the lease has run out."""
        with self._lock:
            until = self._until
        late = self._clock() - until
        if late >= 0:
            raise SinkError(
                f"sink {sink}: not publishing: {self.worker}'s lease from the cluster's controller ran out "
                f"{late:.1f} s ago (the controller is unreachable, or moved this worker's cameras elsewhere); "
                "it publishes again if the controller renews it"
            )

    def wrap(self, sink: Sink) -> Sink:
        """``sink``, publishing only while this lease holds (``wrap_sink`` of the worker's daemon)."""
        return FencedSink(sink, self)


class FencedSink:
    """A sink that opens and writes only while its worker's :class:`Lease` holds.

    A refused write raises, so the sink thread closes the inner sink (an RTSP publisher lets go of
    its path for the camera's new worker) and retries opening it with its backoff, which is refused
    too until the lease is renewed.
    """

    def __init__(self, sink: Sink, lease: Lease) -> None:
        self.inner = sink
        self.name = sink.name
        self.lossless = sink.lossless
        self._lease = lease

    def __getattr__(self, name: str) -> Any:  # reconnect_backoff, mark_incomplete, ...: the inner sink's
        return getattr(self.inner, name)

    def open(self) -> None:
        self._lease.check(self.name)
        self.inner.open()

    def write(self, frame: RedactedFrame) -> None:
        self._lease.check(self.name)
        self.inner.write(frame)

    def close(self) -> None:
        self.inner.close()
