"""The ``render`` thread: turn frames and masks into :class:`RedactedFrame` for the sinks.

Fail-closed lives here. A frame is redacted region by region only when masks fit it: they
exist, the engine is up, they answer the current prompts, they have the frame's size, are
not older than ``render.max_mask_age_ms`` and their motion envelope can be trusted
(low_latency: and the source is not silent for longer than ``render.max_frame_age_ms``).
Otherwise — or if compositing raises — the whole frame is redacted and the reason counted.
Nothing but the compositor's output is ever handed on.

- ``low_latency`` ticks at the output rate and shows the newest frame with the newest
  masks; the compositor grows the masks by their age along the objects' motion, and
  (``render.live_guard: hide_changes``, the default) also hides every region of the frame that
  changed since the masks' frame (:class:`UnseenChange`), so a face that appears between two
  engine answers is hidden until the engine has looked at it. ``checked_frames`` instead shows
  only the frames the engine checked, each with its own masks.
- ``exact`` shows each frame the engine took, in order, with the masks computed on it.

Masks computed on a frame of another shot (a cut came between, see
:mod:`livefilter.engines.shots`) never qualify: the frame is fully redacted (``scene_cut``)
until the engine has answered a frame of the new shot.

The low-latency guarantee, by construction. Masks of frame *m* shown on frame *n* are
grown by an envelope: swept along the object's velocity for their age, plus a margin of
the object's recent top speed (:class:`~livefilter.runtime.inference.SpeedMemory`) times
their age in every direction, plus the dilation. So an object is covered on frame *n* as
long as it moved no faster than its recent top speed. Two things keep that premise honest:

- **Age is that of the pictures, not of the threads.** :func:`mask_age_s` is the largest of
  the capture-time gap, the media-time gap and the frame-count gap at the source's rate, so
  a capture thread that stamped a frame late (or a burst of buffered frames) cannot make
  masks look younger than the motion between the two pictures. The render thread's own
  scheduling plays no part.
- **The envelope is trusted only so far.** Once an object may have travelled more than
  :data:`MAX_TRUSTED_SHIFT` times its own size since its masks were taken, or the masks are
  older than ``max_mask_age_ms``, the frame is fully redacted (``fast_motion``, ``stale_masks``).

With ``hide_changes`` on a still picture, the envelope beyond each mask as seen is drawn only near
what changed since the masks' frame (:attr:`~livefilter.render.change.Unseen.reach`): an object
cannot have gone where the picture is still the one the engine answered on, and most of a big or
fast mover's envelope lies there (the side it left, the margin across its path). Where it went the
picture changed, so it is hidden by the envelope there and by the change itself.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from livefilter.config.render import RenderConfig
from livefilter.render.change import Reference, Unseen, unseen_change
from livefilter.render.compositor import Compositor
from livefilter.runtime.backfill import Backfill
from livefilter.runtime.inference import EngineResult, PromptBoard
from livefilter.runtime.metrics import Metrics
from livefilter.runtime.sinks import Outlets
from livefilter.runtime.slots import POLL_S, BoundedQueue, LatestSlot
from livefilter.types import Frame, MaskSet, RedactedFrame

__all__ = [
    "LATE_GRACE",
    "MAX_TRUSTED_SHIFT",
    "ArrivalPacer",
    "TickPacer",
    "UnseenChange",
    "compose",
    "fail_reason",
    "mask_age_s",
    "render_frame",
    "run_exact",
    "run_low_latency",
]

logger = logging.getLogger(__name__)

MAX_TRUSTED_SHIFT = 2.0
"""How far (in multiples of its own size) an object may have moved since its masks were taken
before their envelope is no longer trusted and the frame is fully redacted.

The envelope's margin grows with the distance, but its slack for a misjudged speed does not:
the dilation (max(6 px, 10 % of the diagonal) by default, about 0.14 of a square object's
size) absorbs a speed error of 7 % at two sizes of travel, of 28 % at half a size."""


def mask_age_s(frame: Frame, result: EngineResult, frame_period_s: float | None = None) -> float:
    """How old ``result``'s masks are when shown on ``frame``, in seconds of the source's time.

    The largest of the capture-time gap, the media-time (``pts``) gap when both frames have
    one, and the frame-count gap times ``frame_period_s`` (the source's nominal period) when
    given: whichever clock says the two pictures lie further apart wins, so a frame stamped
    late cannot make masks look younger than they are. Negative when any clock puts the
    masks' frame after ``frame`` (not masks for this frame: a restarted source, say).

    Example:
        >>> from livefilter.types import MaskSet
        >>> img = np.zeros((2, 2, 3), np.uint8)
        >>> old = Frame(img, index=10, t_capture=5.0)
        >>> masks = MaskSet.empty(2, 2, frame_index=10, t_capture=5.0)
        >>> shown = Frame(img, index=16, t_capture=5.01)  # stamped 10 ms later, 6 frames later
        >>> round(mask_age_s(shown, EngineResult(old, masks, 0), frame_period_s=1 / 30), 3)
        0.2
    """
    masks = result.masks
    if masks is None:
        raise ValueError("mask_age_s: the engine result has no masks")
    gaps = [frame.t_capture - masks.t_capture]
    if frame.pts is not None and result.frame.pts is not None:
        gaps.append(frame.pts - result.frame.pts)
    if frame_period_s is not None:
        gaps.append((frame.index - masks.frame_index) * frame_period_s)
    return min(gaps) if min(gaps) < 0 else max(gaps)


def _speed_bounds(result: EngineResult, masks: MaskSet) -> np.ndarray:
    if result.speed_bounds is not None:
        return np.maximum(result.speed_bounds, np.hypot(masks.velocities[:, 0], masks.velocities[:, 1]))
    return np.hypot(masks.velocities[:, 0], masks.velocities[:, 1])


def motion_trusted(masks: MaskSet, speed_bounds: np.ndarray, age_s: float) -> bool:
    """True when no object may have moved more than :data:`MAX_TRUSTED_SHIFT` times its size in ``age_s``."""
    if len(masks) == 0 or age_s <= 0:
        return True
    boxes = masks.boxes
    sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    shifts = speed_bounds * age_s
    return bool(np.all((shifts <= MAX_TRUSTED_SHIFT * sizes) | (sizes == 0)))


def fail_reason(
    frame: Frame,
    result: EngineResult | None,
    *,
    prompts_version: int,
    max_mask_age_s: float,
    now: float | None = None,
    max_frame_age_s: float | None = None,
    frame_period_s: float | None = None,
) -> str:
    """Why ``frame`` must be fully redacted instead of redacted with ``result``'s masks ("" if it need not).

    ``now`` and ``max_frame_age_s`` (low_latency) also fail a frame the source left standing too long;
    ``frame_period_s`` (the source's nominal frame period) counts frames into the masks' age.
    """
    if now is not None and max_frame_age_s is not None and now - frame.t_capture > max_frame_age_s:
        return "source_silent"
    if result is None:
        return "no_masks_yet"
    masks = result.masks
    if masks is None:
        return result.failure or "engine_down"
    if result.prompts_version != prompts_version:
        return "prompts_changed"
    if masks.shape != (frame.height, frame.width):
        return "mask_size_mismatch"
    if result.frame.shot != frame.shot:
        return "scene_cut"
    age_s = mask_age_s(frame, result, frame_period_s)
    if not 0.0 <= age_s <= max_mask_age_s or not math.isfinite(age_s):
        return "stale_masks"
    if not motion_trusted(masks, _speed_bounds(result, masks), age_s):
        return "fast_motion"
    return ""


class UnseenChange:
    """What the engine has not seen of a frame newer than its masks' frame: every region that
    changed since, compared as a still picture or, when the camera moved, against the masks' frame
    moved by the camera's motion (:func:`~livefilter.render.change.unseen_change`).

    The masks' frame is compared on many ticks (an answer lasts until the next one), so what the
    comparison keeps of it (:class:`~livefilter.render.change.Reference`) is kept; one instance
    belongs to the render thread.

    Example:
        >>> seen = Frame(np.zeros((16, 16, 3), np.uint8), index=1, t_capture=0.0)
        >>> img = np.zeros((16, 16, 3), np.uint8); img[:4, :4] = 200  # something appeared
        >>> UnseenChange().since(seen, Frame(img, index=2, t_capture=0.03)).mask[::8, ::8].tolist()
        [[True, True], [True, True]]
        >>> UnseenChange().since(seen, seen) is None   # the frame the engine saw: nothing unseen
        True
    """

    def __init__(self) -> None:
        self._seen: tuple[Frame, Reference] | None = None
        self._motion: tuple[float, float] | None = None  # the camera's last motion, px per frame

    def since(self, seen: Frame, frame: Frame) -> Unseen | None:
        """What of ``frame`` changed since ``seen`` (pixels, and the camera's shift they were found
        with); None for nothing."""
        if frame is seen or frame.image is seen.image:
            return None
        if self._seen is None or self._seen[0] is not seen:
            self._seen = (seen, Reference(seen.image))
        frames = frame.index - seen.index
        guess = None if self._motion is None or frames <= 0 else (self._motion[0] * frames, self._motion[1] * frames)
        change = unseen_change(self._seen[1], frame.image, guess=guess)
        if change is not None and change.shift != (0.0, 0.0) and frames > 0:
            self._motion = (change.shift[0] / frames, change.shift[1] / frames)
        else:
            self._motion = None
        return change


def compose(
    compositor: Compositor,
    frame: Frame,
    result: EngineResult | None,
    reason: str,
    *,
    frame_period_s: float | None = None,
    unseen: UnseenChange | None = None,
) -> RedactedFrame:
    """The compositor's output for ``frame``: its regions redacted (and, given ``unseen``, what changed
    since the masks' frame), or all of it when ``reason`` says so or compositing fails. Raises only if
    even full redaction fails (then nothing is shown)."""
    if not reason and result is not None and result.masks is not None:
        try:
            masks = result.masks
            age_s = mask_age_s(frame, result, frame_period_s)
            change = None if unseen is None else unseen.since(result.frame, frame)
            # With the guard, the masks' growth by their age is drawn only near what changed since their
            # frame (nothing changed: nothing moved); with a camera shift, or without the guard, whole.
            within = change.reach if change is not None else None
            if unseen is not None and change is None:
                within = np.zeros((frame.height, frame.width), np.bool_)
            return _checked(
                compositor.redact_regions(
                    frame,
                    masks,
                    age_s=age_s,
                    speed_bounds=_speed_bounds(result, masks),
                    hide=None if change is None else change.mask,
                    camera_shift=(0.0, 0.0) if change is None else change.shift,
                    motion_within=within,
                )
            )
        except Exception:
            logger.exception("render: redacting frame %d failed; redacting the whole frame", frame.index)
            reason = "render_error"
    return _checked(compositor.redact_all(frame, reason=reason or "render_error"))


def render_frame(
    compositor: Compositor,
    frame: Frame,
    result: EngineResult | None,
    *,
    prompts_version: int,
    config: RenderConfig,
    now: float | None = None,
    frame_period_s: float | None = None,
    unseen: UnseenChange | None = None,
) -> RedactedFrame:
    """What the sinks get for ``frame`` with ``result``: one tick of either render loop."""
    reason = fail_reason(
        frame,
        result,
        prompts_version=prompts_version,
        max_mask_age_s=config.max_mask_age_ms / 1000.0,
        now=now,
        max_frame_age_s=None if now is None else config.max_frame_age_ms / 1000.0,
        frame_period_s=frame_period_s,
    )
    return compose(compositor, frame, result, reason, frame_period_s=frame_period_s, unseen=unseen)


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


class ArrivalPacer:
    """Ticks as soon as a new frame arrives (render on arrival: no wait for the next tick, which
    cost 0-1 frame, half a frame on average), at most once per half period (a burst of buffered
    frames is not shown frame by frame), and repeats the newest frame when none came for
    ``1 + LATE_GRACE`` periods, so the sinks keep getting pictures (and a silent source is noticed)
    at about the display rate. For an output that follows the source's rate (``render.fps: null``).

    Example (a fake slot and clock: frames at 0 and 33 ms, then the source stops):
        >>> class Frames:
        ...     def __init__(self, arrivals): self.arrivals, self.version, self.now = arrivals, 0, 0.0
        ...     def wait_newer(self, version, timeout):
        ...         due = [t for t in self.arrivals if self.now < t <= self.now + timeout]
        ...         self.now = due[0] if due else self.now + timeout + 1e-6
        ...         self.version += bool(due)
        ...         return self.version
        >>> frames = Frames([0.001, 0.034])
        >>> pacer, stop = ArrivalPacer(30.0, frames, clock=lambda: frames.now), threading.Event()
        >>> [round(1000 * frames.now) for _ in range(4) if pacer.wait(stop)]   # two arrivals, two repeats
        [1, 34, 76, 117]
    """

    def __init__(self, fps: float, frames: Any, clock: Callable[[], float] = time.monotonic) -> None:
        """``frames``: the newest-frame :class:`~livefilter.runtime.slots.LatestSlot` (``version``, ``wait_newer``)."""
        if fps <= 0:
            raise ValueError(f"ArrivalPacer: expected fps > 0, got {fps}")
        self.period = 1.0 / fps
        self._frames = frames
        self._clock = clock
        self._seen = 0
        self._last: float | None = None

    def wait(self, stop: threading.Event) -> bool:
        """Wait for a new frame (or a repeat's time); False when ``stop`` was set meanwhile."""
        while not stop.is_set():
            now, version = self._clock(), self._frames.version
            since = math.inf if self._last is None else now - self._last  # the first frame ticks at once
            repeat = self._last is not None and since >= (1.0 + LATE_GRACE) * self.period
            if (version != self._seen and since >= 0.5 * self.period) or repeat:
                self._seen, self._last = version, now
                return True
            if version != self._seen:  # a new frame, too soon after the last tick: wait out the half period
                stop.wait(0.5 * self.period - since)
            else:
                repeat_in = POLL_S if self._last is None else (1.0 + LATE_GRACE) * self.period - since
                self._frames.wait_newer(version, min(POLL_S, repeat_in))
        return False


LATE_GRACE = 0.25
"""How late (in periods) a frame may be before :class:`ArrivalPacer` shows the newest one again."""


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
    source_fps: float | None = None,
) -> None:
    """Each tick: the newest frame with the newest masks (``render.live_guard``: and what changed
    since their frame hidden; or the frame the newest masks were computed on). Ends after the engine
    has seen the last frame (one final tick shows it), or on ``stop``; then closes the sinks' inboxes.

    ``source_fps``: the source's nominal rate, so that masks age by frames as well as by time
    (:func:`mask_age_s`)."""
    frame_period_s = 1.0 / source_fps if source_fps else None
    max_frame_age_s = config.max_frame_age_ms / 1000.0
    unseen = UnseenChange() if config.live_guard == "hide_changes" else None
    checked_only = config.live_guard == "checked_frames"
    last: tuple[Frame, EngineResult | None, int, bool, RedactedFrame] | None = None
    try:
        while pacer.wait(stop):
            finishing = engine_done.is_set()
            result = latest_result.get()  # masks first: the frame read next is never older than them
            newest = latest_frame.get()
            # checked_frames: the frame the masks were computed on; whether the source is silent is the newest's
            checked = checked_only and result is not None and result.masks is not None
            frame = result.frame if checked and result is not None else newest
            if frame is not None and newest is not None:
                try:
                    version, now = prompts.version, clock()
                    silent = now - newest.t_capture > max_frame_age_s  # the one verdict that time changes
                    if (
                        last is not None
                        and last[0] is frame
                        and last[1] is result
                        and last[2:4] == (version, silent)
                    ):
                        out = last[4]  # same picture, masks and verdict as the previous tick: reuse it
                    else:
                        out = render_frame(
                            compositor,
                            frame,
                            result,
                            prompts_version=version,
                            config=config,
                            now=now if silent or not checked else None,  # an old checked frame is not silence
                            frame_period_s=frame_period_s,
                            unseen=unseen,
                        )
                        last = (frame, result, version, silent, out)
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
    (or fully redacted when the engine failed on it), ``render.backfill_s`` of media time late
    with the objects found in that time carried back (:mod:`~livefilter.runtime.backfill`);
    then close the sinks' inboxes."""
    line = Backfill(config.backfill_s)
    # The prompts' version when each held result reached the render (the line releases in arrival
    # order): a frame answered before a prompt change is judged as when it arrived, so the delay
    # line does not turn it into a failed-closed frame; one answered to older prompts still is.
    arrived: deque[int] = deque()

    def show(result: EngineResult) -> None:
        frame = result.frame
        try:
            version = arrived.popleft()
            out = render_frame(compositor, frame, result, prompts_version=version, config=config)
            _publish(out, result, outlets, metrics)
        except Exception:
            logger.exception("render: nothing shown for frame %d", frame.index)
            metrics.count("render_errors")

    try:
        for result in results.consume(stop):
            arrived.append(prompts.version)
            for due in line.push(result):
                show(due)
        if not stop.is_set():
            for due in line.flush():
                show(due)
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
