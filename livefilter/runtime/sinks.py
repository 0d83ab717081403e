"""The ``sink:<name>`` threads: one per output, so a slow or broken sink delays no other.

Lossless sinks (files) get every frame through a small queue the render waits on; live
sinks get the newest frame (older ones are dropped and counted, per sink). A sink whose
``write`` raises is logged (one line; the traceback with ``-v``), closed and reopened with
backoff; while it is down its frames are dropped, so it never holds up the render or the
other sinks. It is said to be back only once a frame went through again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from livefilter.errors import LivefilterError
from livefilter.lifecycle import close_quietly
from livefilter.runtime.backoff import Backoff
from livefilter.runtime.metrics import Metrics
from livefilter.runtime.slots import BoundedQueue
from livefilter.secrets import redact_text
from livefilter.sinks.base import Sink
from livefilter.types import RedactedFrame

__all__ = ["DEFAULT_REOPEN_BACKOFF", "LOSSLESS_QUEUE_SIZE", "Outlets", "run_sink"]

logger = logging.getLogger(__name__)

LOSSLESS_QUEUE_SIZE = 8
"""Frames a lossless sink may lag behind the render before the render waits for it."""

DEFAULT_REOPEN_BACKOFF = (0.5, 30.0)
"""(first, longest) reopen delay in seconds for sinks without a ``reconnect_backoff``."""


class Outlets:
    """The render's side of the sinks: one inbox per sink."""

    def __init__(self, sinks: Sequence[Sink], *, metrics: Metrics, stop: threading.Event) -> None:
        self.sinks = list(sinks)
        self.inboxes: list[BoundedQueue[RedactedFrame]] = [
            BoundedQueue(LOSSLESS_QUEUE_SIZE if sink.lossless else 1) for sink in self.sinks
        ]
        self._metrics = metrics
        self._stop = stop
        for sink in self.sinks:
            if not getattr(sink, "internal", False):  # e.g. the CLI's progress bar
                metrics.watch_sink(sink.name)

    def send(self, frame: RedactedFrame) -> None:
        """Hand ``frame`` to every sink; waits only for lossless sinks that are behind."""
        if not isinstance(frame, RedactedFrame):  # the type is the promise: never a raw frame
            raise TypeError(f"sinks accept only RedactedFrame, got {type(frame).__name__}")
        for sink, inbox in zip(self.sinks, self.inboxes):
            if sink.lossless:
                inbox.put_wait(frame, self._stop)
            else:
                replaced = inbox.put_latest(frame)
                if replaced:
                    self._metrics.sink_dropped(sink.name, replaced)

    def close(self) -> None:
        """No more frames: each sink finishes what it has and closes."""
        for inbox in self.inboxes:
            inbox.close()


def run_sink(
    sink: Sink,
    *,
    inbox: BoundedQueue[RedactedFrame],
    metrics: Metrics,
    stop: threading.Event,
    job: bool = False,
) -> None:
    """Write frames from ``inbox`` to ``sink`` (already open) until the inbox is finished or ``stop``.

    Always closes the sink, which finalises files. ``job``: the input is finite (a file), so a
    stop before every frame was written leaves an incomplete output, and a sink that can say so
    (``mark_incomplete``, the file sink) is told before it closes.
    """
    backoff = Backoff(*getattr(sink, "reconnect_backoff", DEFAULT_REOPEN_BACKOFF))
    healthy = True
    lost = 0  # frames dropped since the sink last failed
    retry_at = 0.0
    try:
        for frame in inbox.consume(stop):
            if not healthy:
                healthy, retry_at = _try_reopen(sink, retry_at, backoff)
                if not healthy:
                    metrics.sink_dropped(sink.name)
                    lost += 1
                    continue
            try:
                sink.write(frame)
            except Exception as exc:
                delay = backoff.next()
                _log_write_failure(sink, exc, delay)
                metrics.sink_failed(sink.name)
                lost += 1
                close_quietly(sink, f"sink {sink.name}")
                healthy, retry_at = False, time.monotonic() + delay
            else:
                metrics.sink_wrote(sink.name)
                if lost:
                    logger.info("sink %s: delivering again (%d frames were lost)", sink.name, lost)
                    lost = 0
                backoff.reset()
    finally:
        left = len(inbox)  # stopped before these were written
        if left:
            metrics.sink_dropped(sink.name, left)
        if job and stop.is_set() and hasattr(sink, "mark_incomplete"):  # stopped, not ended
            sink.mark_incomplete()
        close_quietly(sink, f"sink {sink.name}")


def _log_write_failure(sink: Sink, exc: BaseException, delay: float) -> None:
    """An expected failure (a lost server) is one line, its traceback only with -v; a bug gets its traceback."""
    message = "sink %s: write failed (%s); closing it, reopening in %.1f s"
    if isinstance(exc, LivefilterError):
        logger.warning(message, sink.name, redact_text(str(exc)), delay)
        logger.debug("sink %s: where the failure came from", sink.name, exc_info=exc)
    else:
        logger.exception(message, sink.name, type(exc).__name__, delay)


def _try_reopen(sink: Sink, retry_at: float, backoff: Backoff) -> tuple[bool, float]:
    """Reopen ``sink`` once its retry time has come: (open now, next retry time).

    Success is not announced here: many sinks connect only at their first write."""
    now = time.monotonic()
    if now < retry_at:
        return False, retry_at
    try:
        sink.open()
    except Exception as exc:
        delay = backoff.next()
        logger.warning(
            "sink %s: reopen failed (%s); next try in %.1f s", sink.name, redact_text(str(exc)), delay
        )
        return False, now + delay
    logger.debug("sink %s: reopened; trying the next frame", sink.name)
    return True, retry_at
