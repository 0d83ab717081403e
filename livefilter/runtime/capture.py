"""The ``capture:<source>`` thread: read frames, hand them to the render and the engine.

Every frame goes to the render's latest-frame slot and to the engine queue. Live sources
never wait: when the queue is full the oldest frame is dropped and counted. Non-live
sources in exact mode wait for room, so a file job loses nothing. A live source that
fails is reopened with exponential backoff; meanwhile no new frames arrive and the render
fails closed once the last frame is older than ``render.max_frame_age_ms``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from livefilter.errors import InputError, SourceError
from livefilter.lifecycle import close_quietly
from livefilter.runtime.backoff import Backoff
from livefilter.runtime.metrics import Metrics
from livefilter.runtime.slots import BoundedQueue, LatestSlot
from livefilter.secrets import redact_text
from livefilter.sources.base import Source
from livefilter.types import Frame

__all__ = ["DEFAULT_RECONNECT_BACKOFF", "run_capture"]

logger = logging.getLogger(__name__)

DEFAULT_RECONNECT_BACKOFF = (0.5, 30.0)
"""(first, longest) reconnect delay in seconds for sources without a ``reconnect_backoff``."""


def run_capture(
    source: Source,
    *,
    latest_frame: LatestSlot[Frame],
    engine_queue: BoundedQueue[Frame],
    wait_for_room: bool,
    metrics: Metrics,
    stop: threading.Event,
    on_reconnect: Callable[[], None],
    on_error: Callable[[BaseException], None],
) -> None:
    """Read ``source`` (already open) until it ends or ``stop``; always closes the queue and the source.

    ``on_reconnect`` runs after a live source came back (the engine forgets its tracks);
    ``on_error`` receives the error that ended a non-live source early.
    """
    backoff = Backoff(*getattr(source, "reconnect_backoff", DEFAULT_RECONNECT_BACKOFF))
    try:
        while not stop.is_set():
            try:
                frame = source.read()
            except Exception as exc:
                if not source.live or isinstance(exc, InputError):
                    raise
                _log_source_failure(source, exc)
                if not _reopen(source, backoff, stop, metrics):
                    return
                on_reconnect()
                continue
            if frame is None:
                logger.info("source %s: end of stream", source.name)
                return
            latest_frame.put(frame)
            if wait_for_room:
                if not engine_queue.put_wait(frame, stop):
                    return
            else:
                metrics.frames_dropped(engine_queue.put_latest(frame))
            metrics.frame_captured(queue_depth=len(engine_queue))
            backoff.reset()
    except Exception as exc:
        if isinstance(exc, SourceError):  # an expected failure, said in words: no traceback
            logger.warning(
                "source %s: %s; ending the stream (frames already read are still published)",
                source.name,
                redact_text(str(exc)),
            )
        else:
            logger.exception(
                "source %s failed; ending the stream (frames already read are still published)", source.name
            )
        on_error(exc)
    finally:
        engine_queue.close()
        close_quietly(source, f"source {source.name}")


def _reopen(source: Source, backoff: Backoff, stop: threading.Event, metrics: Metrics) -> bool:
    """Close and reopen ``source`` until it opens (True) or ``stop`` is set (False)."""
    while True:
        close_quietly(source, f"source {source.name}")
        delay = backoff.next()
        logger.warning("source %s: reconnecting in %.1f s", source.name, delay)
        if stop.wait(delay):
            return False
        try:
            source.open()
        except Exception as exc:
            _log_source_failure(source, exc)
            continue
        metrics.count("source_reconnects")
        logger.info("source %s: reconnected", source.name)
        return True


def _log_source_failure(source: Source, exc: BaseException) -> None:
    """Expected signal loss is one line; anything else gets its traceback."""
    if isinstance(exc, SourceError):
        logger.warning("source %s: %s", source.name, redact_text(str(exc)))
    else:
        logger.exception("source %s: unexpected error while reading", source.name)
