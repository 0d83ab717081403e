"""The live tab's server side: browser frames in, redacted frames out, fail-closed.

A :class:`LiveSession` runs the ordinary low-latency pipeline (``build_pipeline``) with a
:class:`BrowserSource` fed by the page and a :class:`NewestFrame` sink. For each frame the
page sends, :meth:`LiveSession.process` waits up to ``deadline_s`` for the render thread to
publish that frame (or a newer one) with masks computed on it, and returns it. When the render is late, the answer is
the compositor's fully redacted version of the frame (``reason="ui_deadline"``): the page
never gets the raw picture, and everything the render decides (no masks yet, stale masks,
engine down) reaches the page as it reaches any sink.

Click-to-track: clicks and boxes go to SAM3 through its own API (``add_click``,
``add_box``, ``remove_object``); with the CPU face engine they become static zones, redacted
on every frame with the engine's masks (:class:`ClickZones`, the daemon's zone rasteriser).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from livefilter.config.render import RenderConfig
from livefilter.engines import create_engine
from livefilter.engines.base import Engine
from livefilter.errors import ConfigError, SourceError
from livefilter.lifecycle import Lifecycle
from livefilter.render.compositor import Compositor
from livefilter.sinks.base import require_redacted
from livefilter.types import Frame, MaskSet, Prompt, RedactedFrame
from livefilter.ui.clicks import ClickZones, click_box
from livefilter.ui.jobs import JobSettings

__all__ = [
    "BrowserSource",
    "LiveSession",
    "LiveSessions",
    "LiveStatus",
    "NewestFrame",
]

logger = logging.getLogger(__name__)

READ_TIMEOUT_S = 1.0
"""A browser that sends nothing for this long counts as a lost signal (the output fails closed)."""


class BrowserSource(Lifecycle):
    """Frames the page pushes; ``read()`` hands them to the capture thread, newest first."""

    name = "browser"
    live = True
    nominal_fps = None
    reconnect_backoff = (0.05, 0.5)  # a paused camera comes back quickly

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: Frame | None = None
        self._next_index = 0
        self._closed = False

    def push(self, bgr: np.ndarray) -> Frame:
        """Wrap ``bgr`` in a new Frame (the next index, captured now) for the pipeline."""
        with self._cond:
            frame = Frame(bgr, index=self._next_index, t_capture=time.monotonic(), source=self.name)
            self._next_index += 1
            self._pending = frame  # latest wins: a frame the capture thread missed is dropped
            self._cond.notify_all()
            return frame

    def open(self) -> None:
        with self._cond:
            self._closed = False

    def read(self) -> Frame | None:
        with self._cond:
            if self._pending is None and not self._closed:
                self._cond.wait(READ_TIMEOUT_S)
            if self._closed:
                return None
            frame, self._pending = self._pending, None
        if frame is None:
            raise SourceError(f"browser camera: no frame for {READ_TIMEOUT_S:g} s (camera paused or page closed?)")
        return frame

    def close(self) -> None:
        """No more frames: a waiting ``read()`` ends the stream. Idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class NewestFrame(Lifecycle):
    """A live sink keeping the newest redacted frame, for :meth:`LiveSession.process` to wait on."""

    name = "browser"
    lossless = False

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: RedactedFrame | None = None

    def open(self) -> None:
        pass

    def write(self, frame: RedactedFrame) -> None:
        require_redacted(frame, "NewestFrame.write")
        with self._cond:
            self._frame = frame
            self._cond.notify_all()

    def wait_for(self, index: int, timeout: float) -> RedactedFrame | None:
        """The newest frame once it shows frame ``index`` or later *with masks computed on frame
        ``index`` or later* (or fully redacted); None after ``timeout`` seconds. So a frame the
        page sent waits for the engine's answer on it instead of showing older masks grown
        along the motion (the page sends a frame only every ``stream_every``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not _answers(self._frame, index):
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._frame

    def close(self) -> None:
        pass


def _answers(frame: RedactedFrame | None, index: int) -> bool:
    if frame is None or frame.index < index:
        return False
    return frame.fully_redacted or (frame.mask_frame_index is not None and frame.mask_frame_index >= index)


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """What the live tab shows beside the picture."""

    fully_redacted: bool
    reason: str
    objects: int
    mask_age_ms: float | None
    fps: float
    latency_ms: float

    def describe(self) -> str:
        """Example:
        >>> LiveStatus(True, "no_masks_yet", 0, None, 12.0, 40.0).describe()
        'FULLY REDACTED (no_masks_yet) · 12.0 fps · server latency 40 ms'
        """
        if self.fully_redacted:
            head = f"FULLY REDACTED ({self.reason})"
        else:
            age = f" · mask age {self.mask_age_ms:.0f} ms" if self.mask_age_ms is not None else ""
            head = f"redacting {self.objects} object(s){age}"
        return f"{head} · {self.fps:.1f} fps · server latency {self.latency_ms:.0f} ms"


class LiveSession:
    """One browser's live pipeline. Thread-safe: the page may send frames concurrently.

    Args:
        settings: prompts, style, engine, as in the other tabs.
        fps: the render's tick rate.
        deadline_s: longest wait for the render before answering fully redacted.
    """

    def __init__(self, settings: JobSettings, *, fps: float = 30.0, deadline_s: float = 0.5) -> None:
        from livefilter.pipeline import build_pipeline

        self.settings = settings
        self.deadline_s = deadline_s
        config = settings.config(sinks=[{"kind": "null"}], **{"render.mode": "low_latency", "render.fps": fps})
        self.render_config: RenderConfig = config.render
        self._fallback = Compositor(config.render)
        self._fallback_lock = threading.Lock()
        self.source = BrowserSource()
        self.sink = NewestFrame()
        self.click_zones = ClickZones()
        self._engine: Engine | None = None
        self._next_object = 1
        self._times: deque[float] = deque(maxlen=64)
        self.last_used = time.monotonic()
        self.frame_size = (0, 0)  # (width, height) of the newest frame
        self._engine_config = config.engine
        self.pipeline = build_pipeline(
            config,
            extra_sinks=[self.sink],
            source=self.source,
            engine_factory=self._build_engine,
            static_mask=self.click_zones,
        )
        self.pipeline.start()

    # -- frames ----------------------------------------------------------------------------

    def process(self, rgb: np.ndarray) -> tuple[RedactedFrame, LiveStatus]:
        """The redacted picture for the page's ``rgb`` frame (HxWx3 uint8), and the status."""
        t0 = time.monotonic()
        self.last_used = t0
        error = self.pipeline.error
        if error is not None:
            raise error
        frame = self.source.push(np.ascontiguousarray(rgb[..., ::-1]))
        self.frame_size = (frame.width, frame.height)
        out = self.sink.wait_for(frame.index, self.deadline_s)
        if out is None:
            with self._fallback_lock:  # the compositor's solid fill cache is not thread-safe
                out = self._fallback.redact_all(frame, reason="ui_deadline")
        now = time.monotonic()
        self._times.append(now)
        return out, self._status(out, now - t0)

    def masks_of(self, out: RedactedFrame) -> MaskSet | None:
        """The masks ``out`` was redacted with, when they are still the newest (for outlines)."""
        masks = self.pipeline.latest_masks()
        if out.fully_redacted or masks is None or masks.frame_index != out.mask_frame_index:
            return None
        return masks

    def _status(self, out: RedactedFrame, latency_s: float) -> LiveStatus:
        masks = self.pipeline.latest_masks()
        objects, age_ms = 0, None
        if not out.fully_redacted and masks is not None:
            objects = len(masks)
            if masks.frame_index == out.mask_frame_index:
                age_ms = max(0.0, (out.t_capture - masks.t_capture) * 1000.0)
        times = [t for t in self._times if t >= self._times[-1] - 2.0]
        fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        return LiveStatus(out.fully_redacted, out.reason, objects, age_ms, fps, latency_s * 1000.0)

    # -- click to track ----------------------------------------------------------------------

    def _build_engine(self, prompts: Sequence[Prompt]) -> Engine:
        """The engine the CLI would build; kept to send it clicks (SAM3's own click API)."""
        engine = create_engine(self._engine_config, prompts)
        self._engine = engine
        return engine

    @property
    def tracks_clicks(self) -> bool:
        """True when clicks go to the engine (SAM3); False when they become static zones."""
        return self._engine is not None and hasattr(self._engine, "add_click")

    def add_click(self, x: float, y: float, *, positive: bool, size: tuple[int, int]) -> str:
        """A click at (x, y) on a frame of ``size`` (width, height). Positive: add an object there;
        negative: remove what the user added there (detections cannot be clicked away)."""
        engine = self._engine
        if engine is not None and hasattr(engine, "add_click"):
            if positive:
                object_id = self._new_id()
                engine.add_click(x, y, object_id, positive=True)
                return f"SAM3: tracking object {object_id} from the click at ({x:.0f}, {y:.0f})"
            engine.add_click(x, y, self._next_object - 1, positive=False)
            return f"SAM3: ({x:.0f}, {y:.0f}) marked as background for object {self._next_object - 1}"
        if positive:
            return self._add_zone(click_box(x, y, size))
        removed = self.click_zones.remove_at(x, y)
        return f"removed {removed} zone(s) at ({x:.0f}, {y:.0f})"

    def add_box(self, box: tuple[float, float, float, float]) -> str:
        """A box (x0, y0, x1, y1): a SAM3 object, or a static zone with the CPU engine."""
        x0, y0, x1, y1 = box
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise ConfigError(f"box ({x0:.0f}, {y0:.0f}) - ({x1:.0f}, {y1:.0f}) is too small; drag over the object")
        engine = self._engine
        if engine is not None and hasattr(engine, "add_box"):
            object_id = self._new_id()
            engine.add_box(None, (x0, y0, x1, y1), object_id)
            return f"SAM3: tracking object {object_id} from the box"
        return self._add_zone((x0, y0, x1, y1))

    def clear_objects(self) -> str:
        engine = self._engine
        if engine is not None and hasattr(engine, "remove_object"):
            for object_id in range(1, self._next_object):
                engine.remove_object(object_id)
        self.click_zones.clear()
        return "removed every object added by clicks"

    def _add_zone(self, box: tuple[float, float, float, float]) -> str:
        zone = self.click_zones.add_box(box, f"click-{self._new_id()}")
        corners = ", ".join(f"{v:.0f}" for v in box)
        return f"static zone {zone.name} at ({corners}) (redacted on every frame)"

    def _new_id(self) -> int:
        object_id = self._next_object
        self._next_object += 1
        return object_id

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self.source.close()
        self.pipeline.stop()


class LiveSessions:
    """Live sessions by browser session; idle ones are closed, and at most ``limit`` run at once."""

    def __init__(self, *, idle_s: float = 30.0, limit: int = 4, **session_options: float) -> None:
        self.idle_s = idle_s
        self.limit = limit
        self._options = session_options
        self._lock = threading.Lock()
        self._sessions: dict[str, LiveSession] = {}

    def get(self, key: str, settings: JobSettings) -> LiveSession:
        """The session of ``key`` for ``settings`` (a new one when the settings changed)."""
        self.reap()
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and session.settings == settings and session.pipeline.error is None:
                return session
            stale = self._sessions.pop(key, None)
            if stale is None and len(self._sessions) >= self.limit:
                raise ConfigError(
                    f"{self.limit} live sessions are running already (the most this server runs); try again later"
                )
        if stale is not None:
            stale.close()
        session = LiveSession(settings, **self._options)
        with self._lock:
            self._sessions[key] = session
        return session

    def peek(self, key: str) -> LiveSession | None:
        with self._lock:
            return self._sessions.get(key)

    def close(self, key: str) -> None:
        with self._lock:
            session = self._sessions.pop(key, None)
        if session is not None:
            session.close()

    def reap(self) -> None:
        """Close sessions no frame reached for ``idle_s``."""
        now = time.monotonic()
        with self._lock:
            idle = [k for k, s in self._sessions.items() if now - s.last_used > self.idle_s]
            sessions = [self._sessions.pop(k) for k in idle]
        for session in sessions:
            session.close()

    def close_all(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()
