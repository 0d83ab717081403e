"""The ``render`` thread: turn frames and masks into :class:`RedactedFrame` for the sinks.

Fail-closed lives here. A frame is redacted region by region only when masks fit it: they
exist, the engine is up, they answer the current prompts, they have the frame's size and
are not older than ``render.max_mask_age_ms`` (low_latency: and the source is not silent
for longer than ``render.max_frame_age_ms``). Otherwise — or if compositing raises — the
whole frame is redacted and the reason counted. Nothing but the compositor's output is
ever handed on.

- ``low_latency`` ticks at the output rate and shows the newest frame with the newest
  masks; the compositor grows the masks by their age along the objects' motion.
- ``exact`` shows each frame the engine took, in order, with the masks computed on it.

Masks computed on a frame of another shot (a cut came between, see
:mod:`livefilter.engines.shots`) never qualify: the frame is fully redacted (``scene_cut``)
until the engine has answered a frame of the new shot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from livefilter.config.render import RenderConfig
from livefilter.render.compositor import Compositor
from livefilter.runtime.inference import EngineResult, PromptBoard
from livefilter.runtime.metrics import Metrics
from livefilter.runtime.sinks import Outlets
from livefilter.runtime.slots import BoundedQueue, LatestSlot
from livefilter.types import Frame, RedactedFrame

__all__ = ["TickPacer", "compose", "fail_reason", "run_exact", "run_low_latency"]

logger = logging.getLogger(__name__)


def fail_reason(
    frame: Frame,
    result: EngineResult | None,
    *,
    prompts_version: int,
    max_mask_age_s: float,
    now: float | None = None,
    max_frame_age_s: float | None = None,
) -> str:
    """Why ``frame`` must be fully redacted instead of redacted with ``result``'s masks ("" if it need not).

    ``now`` and ``max_frame_age_s`` (low_latency) also fail a frame the source left standing too long.
    """
    if now is not None and max_frame_age_s is not None and now - frame.t_capture > max_frame_age_s:
        return "source_silent"
    if result is None:
        return "no_masks_yet"
    if result.masks is None:
        return result.failure or "engine_down"
    if result.prompts_version != prompts_version:
        return "prompts_changed"
    if result.masks.shape != (frame.height, frame.width):
        return "mask_size_mismatch"
    if result.frame.shot != frame.shot:
        return "scene_cut"
    if not 0.0 <= frame.t_capture - result.masks.t_capture <= max_mask_age_s:
        return "stale_masks"
    return ""


def compose(compositor: Compositor, frame: Frame, result: EngineResult | None, reason: str) -> RedactedFrame:
    """The compositor's output for ``frame``: its regions redacted, or all of it when ``reason`` says so
    or compositing fails. Raises only if even full redaction fails (then nothing is shown)."""
    if not reason and result is not None and result.masks is not None:
        try:
            age_s = frame.t_capture - result.masks.t_capture
            return _checked(compositor.redact_regions(frame, result.masks, age_s=age_s))
        except Exception:
            logger.exception("render: redacting frame %d failed; redacting the whole frame", frame.index)
            reason = "render_error"
    return _checked(compositor.redact_all(frame, reason=reason or "render_error"))


def _checked(out: object) -> RedactedFrame:
    if not isinstance(out, RedactedFrame):
        raise TypeError(f"compositor returned {type(out).__name__}; expected RedactedFrame")
    return out


class TickPacer:
    """Sleeps so that ticks come ``fps`` times a second, like pyvirtualcam's
    ``sleep_until_next_frame``: a late tick shortens the next sleep, and when more than a
    frame behind it starts afresh instead of bursting to catch up."""

    def __init__(self, fps: float, clock: Callable[[], float] = time.monotonic) -> None:
        if fps <= 0:
            raise ValueError(f"TickPacer: expected fps > 0, got {fps}")
        self.period = 1.0 / fps
        self._clock = clock
        self._next: float | None = None

    def wait(self, stop: threading.Event) -> bool:
        """Sleep until the next tick; False when ``stop`` was set meanwhile."""
        now = self._clock()
        if self._next is None or now - self._next > self.period:
            self._next = now
        delay = self._next - now
        if delay > 0 and stop.wait(delay):
            return False
        self._next += self.period
        return not stop.is_set()


def run_low_latency(
    compositor: Compositor,
    *,
    latest_frame: LatestSlot[Frame],
    latest_result: LatestSlot[EngineResult],
    prompts: PromptBoard,
    engine_done: threading.Event,
    config: RenderConfig,
    outlets: Outlets,
    pacer: TickPacer,
    metrics: Metrics,
    stop: threading.Event,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Each tick: the newest frame with the newest masks. Ends after the engine has seen the
    last frame (one final tick shows it), or on ``stop``; then closes the sinks' inboxes."""
    max_mask_age_s = config.max_mask_age_ms / 1000.0
    max_frame_age_s = config.max_frame_age_ms / 1000.0
    last: tuple[Frame, EngineResult | None, str, RedactedFrame] | None = None
    try:
        while pacer.wait(stop):
            finishing = engine_done.is_set()
            result = latest_result.get()  # masks first: the frame read next is never older than them
            frame = latest_frame.get()
            if frame is not None:
                try:
                    reason = fail_reason(
                        frame,
                        result,
                        prompts_version=prompts.version,
                        max_mask_age_s=max_mask_age_s,
                        now=clock(),
                        max_frame_age_s=max_frame_age_s,
                    )
                    if last is not None and last[0] is frame and last[1] is result and last[2] == reason:
                        out = last[3]  # same picture as the previous tick: reuse it
                    else:
                        out = compose(compositor, frame, result, reason)
                        last = (frame, result, reason, out)
                    _publish(out, result, outlets, metrics)
                except Exception:
                    logger.exception("render: nothing shown for frame %d", frame.index)
                    metrics.count("render_errors")
            if finishing:
                return
    finally:
        outlets.close()


def run_exact(
    compositor: Compositor,
    *,
    results: BoundedQueue[EngineResult],
    prompts: PromptBoard,
    config: RenderConfig,
    outlets: Outlets,
    metrics: Metrics,
    stop: threading.Event,
) -> None:
    """Publish every engine result in order, each frame with the masks computed on it
    (or fully redacted when the engine failed on it); then close the sinks' inboxes."""
    max_mask_age_s = config.max_mask_age_ms / 1000.0
    try:
        for result in results.consume(stop):
            frame = result.frame
            try:
                reason = fail_reason(
                    frame, result, prompts_version=prompts.version, max_mask_age_s=max_mask_age_s
                )
                _publish(compose(compositor, frame, result, reason), result, outlets, metrics)
            except Exception:
                logger.exception("render: nothing shown for frame %d", frame.index)
                metrics.count("render_errors")
    finally:
        outlets.close()


def _publish(out: RedactedFrame, result: EngineResult | None, outlets: Outlets, metrics: Metrics) -> None:
    outlets.send(out)
    mask_age_s = None
    if not out.fully_redacted and result is not None and result.masks is not None:
        mask_age_s = out.t_capture - result.masks.t_capture
    metrics.frame_published(
        t_capture=out.t_capture, reason=out.reason, mask_age_s=mask_age_s, redacted_fraction=out.redacted_fraction
    )
