"""The ``capture:<source>`` thread: read frames, hand them to the render and the engine.

Every frame is numbered with its shot (``Frame.shot``: a cut starts a new one, see
:mod:`livefilter.engines.shots`), then goes to the render's latest-frame slot and to the
engine queue. Live sources never wait: when the queue is full the oldest frame is dropped
and counted. Non-live sources in exact mode wait for room, so a file job loses nothing. A
live source that fails is reopened with exponential backoff; meanwhile no new frames arrive
and the render fails closed once the last frame is older than ``render.max_frame_age_ms``.

A source that may be down when the run starts (a camera: ``wait_at_start``) is opened
here, not by the pipeline: the thread waits for it with the same backoff, says so once and
then every ``WAITING_REPORT_S``, and shows a black placeholder of the source's
``expected_size`` (when known) so the outputs start, fully redacted. Opens run on a helper
thread, so a stop is noticed at once even while an open blocks for its timeout.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from livefilter.engines.shots import ShotCounter
from livefilter.errors import InputError, SourceError
from livefilter.lifecycle import close_quietly
from livefilter.runtime.backoff import Backoff
from livefilter.runtime.metrics import Metrics
from livefilter.runtime.slots import BoundedQueue, LatestSlot
from livefilter.secrets import redact_text
from livefilter.sources.base import Source
from livefilter.types import Frame

__all__ = ["DEFAULT_RECONNECT_BACKOFF", "WAITING_REPORT_S", "run_capture"]

logger = logging.getLogger(__name__)

DEFAULT_RECONNECT_BACKOFF = (0.5, 30.0)
"""(first, longest) reconnect delay in seconds for sources without a ``reconnect_backoff``."""

WAITING_REPORT_S = 30.0
"""While a source is down, how often to say it is still being waited for (not every retry)."""


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
    shots: ShotCounter,
    opened: bool = True,
) -> None:
    """Read ``source`` until it ends or ``stop``; always closes the queue and the source.

    ``opened``: False for a source the pipeline left to this thread to open (``wait_at_start``).
    ``on_reconnect`` runs after a live source came back (the engine forgets its tracks);
    ``on_error`` receives the error that ended a non-live source early; ``shots`` numbers
    the frames' shots.
    """
    backoff = Backoff(*getattr(source, "reconnect_backoff", DEFAULT_RECONNECT_BACKOFF))
    try:
        if not opened:
            size = getattr(source, "expected_size", None)
            if size is not None:  # the outputs start now, fully redacted (no masks for it, ever)
                black = np.zeros((size[1], size[0], 3), np.uint8)
                latest_frame.put(Frame(black, index=0, t_capture=time.monotonic(), source=source.name))
            if not _open_when_up(source, backoff, stop, first=True):
                return
            logger.info("source %s: connected", source.name)
        while not stop.is_set():
            try:
                frame = source.read()
            except Exception as exc:
                if not source.live or isinstance(exc, InputError):
                    raise
                _log_source_failure(source, exc)
                close_quietly(source, f"source {source.name}")
                if not _open_when_up(source, backoff, stop, first=False):
                    return
                metrics.count("source_reconnects")
                logger.info("source %s: reconnected", source.name)
                on_reconnect()
                continue
            if frame is None:
                logger.info("source %s: end of stream", source.name)
                return
            frame = dataclasses.replace(frame, shot=shots.update(frame.image))
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


def _open_when_up(source: Source, backoff: Backoff, stop: threading.Event, *, first: bool) -> bool:
    """Open ``source``, retrying with ``backoff``, until it opens (True) or ``stop`` is set (False).

    The first failure of a start-up wait is a warning that says the output waits, fully
    redacted; later failures are said every WAITING_REPORT_S only (each at debug level).
    """
    since = time.monotonic()
    reported = since if not first else None
    while True:
        if not first or reported is not None:  # a start-up wait tries at once; a reconnect waits first
            delay = backoff.next()
            logger.debug("source %s: next try in %.1f s", source.name, delay)
            if stop.wait(delay):
                return False
        try:
            if not _open_interruptibly(source, stop):
                return False
            return True
        except Exception as exc:
            close_quietly(source, f"source {source.name}")
            now = time.monotonic()
            why = redact_text(str(exc)) if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}"
            if reported is None:
                logger.warning(
                    "source %s: not available yet (%s); waiting for it, retrying with backoff up to "
                    "%.0f s (the output stays fully redacted; Ctrl-C stops)",
                    source.name,
                    why,
                    backoff.longest,
                )
                reported = now
            elif now - reported >= WAITING_REPORT_S:
                logger.warning(
                    "source %s: still waiting for it after %.0f s (%s)", source.name, now - since, why
                )
                reported = now
            else:
                logger.debug("source %s: still down: %s", source.name, why)
            if not isinstance(exc, SourceError):
                logger.debug("source %s: where the failure came from", source.name, exc_info=exc)


def _open_interruptibly(source: Source, stop: threading.Event) -> bool:
    """``source.open()`` on a helper thread, so ``stop`` is noticed at once even while an open
    blocks (an RTSP open can take ``open_timeout_s``). True when open; False when stopped
    first (the helper closes the source if its open completes later). Raises what open raised."""
    done = threading.Event()
    abandoned = threading.Event()
    failure: list[BaseException] = []

    def open_source() -> None:
        try:
            source.open()
        except BaseException as exc:  # handed to the waiting thread
            failure.append(exc)
        finally:
            done.set()
            if abandoned.is_set():
                close_quietly(source, f"source {source.name}")

    threading.Thread(target=open_source, name=f"open:{source.name}", daemon=True).start()
    while not done.wait(0.05):
        if stop.is_set():
            abandoned.set()
            if done.is_set():  # finished just now, before it could see `abandoned`
                close_quietly(source, f"source {source.name}")
            return False
    if failure:
        raise failure[0]
    return True


def _log_source_failure(source: Source, exc: BaseException) -> None:
    """Expected signal loss is one line; anything else gets its traceback."""
    if isinstance(exc, SourceError):
        logger.warning("source %s: %s", source.name, redact_text(str(exc)))
    else:
        logger.exception("source %s: unexpected error while reading", source.name)
