"""Test doubles for the pipeline: a synthetic scene with known secrets, a source, an engine
that is told the truth, and a sink that records what it got.

The scene hides two *secrets* drawn in colours that appear nowhere else and that no
redaction (blur, pixelate, solid) can produce on a pattern this fine:

- ``square``: a checkerboard of magenta and green that moves frame by frame, bouncing off
  the borders (by default its first turn comes at frame 128);
- ``stripe``: vertical stripes of cyan and red at a fixed place.

So a sink frame *leaks* exactly when it contains a pixel of a secret colour, wherever it is
(a raw frame always does). The frame index is drawn as 16 bits in the top rows.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livefilter.errors import SinkError, SourceError
from livefilter.types import Frame, MaskSet, Prompt, RedactedFrame

__all__ = [
    "FAST_ENGINE",
    "SQUARE_COLORS",
    "STRIPE_COLORS",
    "FakeSource",
    "GroundTruthEngine",
    "GroundTruthEngineFactory",
    "PanningScene",
    "RecordingSink",
    "Scene",
    "decode_index",
    "leaked_pixels",
    "make_frame",
    "make_masks",
    "redacted",
    "shared_data",
]

SQUARE_COLORS = ((255, 0, 255), (0, 255, 0))  # BGR magenta, green
STRIPE_COLORS = ((255, 255, 0), (0, 0, 255))  # BGR cyan, red
_BIT_WIDTH, _BIT_ROWS, _BITS = 8, 6, 16

FAST_ENGINE = {"timeout_s": 0.15, "startup_timeout_s": 2.0, "restart_min_s": 0.01, "restart_max_s": 0.05}
"""``engine:`` settings for tests: hangs noticed in 150 ms, restarts within 50 ms."""


def _bounce(position: float, low: float, high: float) -> float:
    """Triangle wave: ``position`` folded back and forth between ``low`` and ``high``."""
    span = high - low
    phase = position % (2 * span)
    return low + (phase if phase <= span else 2 * span - phase)


@dataclass(frozen=True)
class Scene:
    """Pure function of the frame index: the picture, where each secret is, and how it moves."""

    width: int = 160
    height: int = 120
    square: int = 24
    speed: float = 1.0  # pixels per frame along x: first turn at frame 128
    speed_y: float = 0.25  # pixels per frame along y: first turn at frame 176
    stripe_box: tuple[int, int, int, int] = (8, 104, 72, 112)  # x0, y0, x1, y1
    square_from: int = 0  # the square is in the picture from this frame on (it *appears* then)

    def square_box(self, index: int) -> tuple[int, int, int, int]:
        x = round(_bounce(index * self.speed, 4, self.width - self.square - 4))
        y = round(_bounce(index * self.speed_y + 20, 2 * _BIT_ROWS, self.stripe_box[1] - self.square - 4))
        return x, y, x + self.square, y + self.square

    def square_velocity(self, index: int, fps: float) -> tuple[float, float]:
        """Pixels per second, as a tracker would estimate it (from the previous frame; the next for frame 0)."""
        before = max(index - 1, 0)
        (x0, y0, _, _), (x1, y1, _, _) = self.square_box(before), self.square_box(before + 1)
        return (x1 - x0) * fps, (y1 - y0) * fps

    def box(self, label: str, index: int) -> tuple[int, int, int, int] | None:
        if label == "square" and index < self.square_from:
            return None
        return {"square": self.square_box(index), "stripe": self.stripe_box}.get(label)

    def image(self, index: int) -> np.ndarray:
        ys, xs = np.mgrid[0 : self.height, 0 : self.width]
        image = np.empty((self.height, self.width, 3), np.uint8)  # background in 40..200: no secret colour
        image[..., 0] = 40 + (xs * 160 // self.width)
        image[..., 1] = 40 + (ys * 160 // self.height)
        image[..., 2] = 120
        for bit in range(_BITS):
            value = 230 if (index >> bit) & 1 else 20
            image[:_BIT_ROWS, bit * _BIT_WIDTH : (bit + 1) * _BIT_WIDTH] = value
        if index >= self.square_from:
            _checker(image, self.square_box(index), SQUARE_COLORS, lambda y, x: (y // 2 + x // 2) % 2)
        _checker(image, self.stripe_box, STRIPE_COLORS, lambda y, x: (x // 2) % 2)
        return image

    def frame(self, index: int, *, t_capture: float | None = None, source: str = "fake") -> Frame:
        t = time.monotonic() if t_capture is None else t_capture
        return Frame(self.image(index), index=index, t_capture=t, source=source)

    def truth(self, index: int, labels: Sequence[str], *, t_capture: float, fps: float) -> MaskSet:
        """The true masks of the secrets named in ``labels`` on frame ``index``."""
        known = [label for label in labels if self.box(label, index) is not None]
        masks = np.zeros((len(known), self.height, self.width), np.bool_)
        velocities = np.zeros((len(known), 2), np.float32)
        for i, label in enumerate(known):
            x0, y0, x1, y1 = self.box(label, index)  # type: ignore[misc]
            masks[i, y0:y1, x0:x1] = True
            if label == "square":
                velocities[i] = self.square_velocity(index, fps)
        return MaskSet(
            masks=masks,
            scores=np.ones(len(known), np.float32),
            labels=tuple(known),
            object_ids=np.arange(1, len(known) + 1),
            frame_index=index,
            t_capture=t_capture,
            velocities=velocities,
        )


@dataclass(frozen=True)
class PanningScene:
    """A camera panning over a textured wall by ``pan`` (dx, dy) px per frame (so the picture moves by
    minus that), with the secret ``square`` fixed on the wall at ``square_at`` (its top-left in wall
    coordinates, the first frame's picture starting at (``MARGIN``, ``MARGIN``)): it moves across the
    picture with the pan, comes in through an edge if placed beyond it, and is on the wall from frame
    ``square_from`` on (it *appears* then). Like :class:`Scene`, a pure function of the frame index.

    ``velocity_known``: whether the truth carries the square's motion in the picture (a track the
    tracker has followed) or none (a fresh track, first seen on the frame the masks are for)."""

    width: int = 320
    height: int = 240
    pan: tuple[float, float] = (2.0, 1.0)
    square: int = 24
    square_at: tuple[int, int] = (260, 200)
    square_from: int = 0
    velocity_known: bool = True
    seed: int = 0

    MARGIN = 400  # wall beyond the first picture on every side: 200 frames of a 2 px/frame pan

    def _corner(self, index: int) -> tuple[int, int]:
        return round(self.MARGIN + self.pan[0] * index), round(self.MARGIN + self.pan[1] * index)

    def square_box(self, index: int) -> tuple[int, int, int, int] | None:
        """The square's box in the picture of frame ``index`` (clipped), None when not in it."""
        if index < self.square_from:
            return None
        cx, cy = self._corner(index)
        x0, y0 = self.MARGIN + self.square_at[0] - cx, self.MARGIN + self.square_at[1] - cy
        box = max(0, x0), max(0, y0), min(self.width, x0 + self.square), min(self.height, y0 + self.square)
        return box if box[0] < box[2] and box[1] < box[3] else None

    def image(self, index: int) -> np.ndarray:
        cx, cy = self._corner(index)
        image = _wall(self.seed, self.width + 2 * self.MARGIN, self.height + 2 * self.MARGIN)[
            cy : cy + self.height, cx : cx + self.width
        ].copy()
        box = self.square_box(index)
        if box is not None:
            # The checker is on the wall: its phase follows the wall, not the picture.
            _checker(image, box, SQUARE_COLORS, lambda y, x: ((y + cy) // 2 + (x + cx) // 2) % 2)
        return image

    def frame(self, index: int, *, t_capture: float | None = None, source: str = "fake") -> Frame:
        t = time.monotonic() if t_capture is None else t_capture
        return Frame(self.image(index), index=index, t_capture=t, source=source)

    def truth(self, index: int, labels: Sequence[str], *, t_capture: float, fps: float) -> MaskSet:
        """The true mask of the square (when asked for and in the picture) on frame ``index``."""
        box = self.square_box(index) if "square" in labels else None
        masks = np.zeros((0 if box is None else 1, self.height, self.width), np.bool_)
        velocities = np.zeros((len(masks), 2), np.float32)
        if box is not None:
            masks[0, box[1] : box[3], box[0] : box[2]] = True
            if self.velocity_known:
                velocities[0] = (-self.pan[0] * fps, -self.pan[1] * fps)
        return MaskSet(
            masks=masks,
            scores=np.ones(len(masks), np.float32),
            labels=("square",) * len(masks),
            object_ids=np.arange(1, len(masks) + 1),
            frame_index=index,
            t_capture=t_capture,
            velocities=velocities,
        )


_WALLS: dict[tuple[int, int, int], np.ndarray] = {}


def _wall(seed: int, width: int, height: int) -> np.ndarray:
    """A textured wall in 40..200 (no secret colour): colour blobs, grain at a few pixels, lines."""
    import cv2

    key = (seed, width, height)
    if key not in _WALLS:
        rng = np.random.default_rng(seed)
        coarse = cv2.resize(rng.uniform(60, 180, (height // 40, width // 40, 3)).astype(np.float32),
                            (width, height), interpolation=cv2.INTER_CUBIC)
        detail = cv2.resize(rng.normal(0, 25, (height // 5, width // 5, 3)).astype(np.float32),
                            (width, height), interpolation=cv2.INTER_CUBIC)
        wall = coarse + detail
        for _ in range(width * height // 20000):
            p0 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.line(wall, p0, p1, rng.uniform(40, 200, 3).tolist(), int(rng.integers(1, 4)), cv2.LINE_AA)
        _WALLS[key] = np.clip(wall, 40, 200).astype(np.uint8)
        _WALLS[key].flags.writeable = False
    return _WALLS[key]


def _checker(image: np.ndarray, box: tuple[int, int, int, int], colors, pick) -> None:  # type: ignore[no-untyped-def]
    x0, y0, x1, y1 = box
    ys, xs = np.mgrid[y0:y1, x0:x1]
    image[y0:y1, x0:x1] = np.where(pick(ys, xs)[..., None].astype(bool), colors[1], colors[0])


def leaked_pixels(
    image: np.ndarray, colors: Iterable[tuple[int, int, int]] = SQUARE_COLORS + STRIPE_COLORS
) -> int:
    """How many pixels show a secret colour exactly (0 for a safe frame; a raw frame has hundreds)."""
    return int(sum(np.all(image == np.array(c, np.uint8), axis=-1).sum() for c in colors))


def decode_index(image: np.ndarray) -> int:
    """The frame index drawn in the top rows (valid only where the frame is not fully redacted)."""
    bits = [image[:_BIT_ROWS, b * _BIT_WIDTH : (b + 1) * _BIT_WIDTH].mean() > 127 for b in range(_BITS)]
    return sum(int(bit) << b for b, bit in enumerate(bits))


def make_frame(index: int = 0, *, t_capture: float = 0.0, scene: Scene | None = None) -> Frame:
    """Frame ``index`` of ``scene`` (default: a 160x120 :class:`Scene`)."""
    return (scene or Scene()).frame(index, t_capture=t_capture)


def make_masks(
    boxes: Sequence[tuple[int, int, int, int]],
    *,
    width: int = 160,
    height: int = 120,
    frame_index: int = 0,
    t_capture: float = 0.0,
    label: str = "face",
) -> MaskSet:
    """A MaskSet with one rectangular object per ``(x0, y0, x1, y1)`` box.

    Example:
        >>> make_masks([(2, 2, 6, 5)], width=8, height=8).union().sum()
        np.int64(12)
    """
    masks = np.zeros((len(boxes), height, width), np.bool_)
    for mask, (x0, y0, x1, y1) in zip(masks, boxes):
        mask[y0:y1, x0:x1] = True
    return MaskSet(
        masks=masks,
        scores=np.ones(len(boxes), np.float32),
        labels=(label,) * len(boxes),
        object_ids=np.arange(1, len(boxes) + 1),
        frame_index=frame_index,
        t_capture=t_capture,
    )


def shared_data() -> Path:
    """The real test media, ``../shared/data`` beside the project (``LIVEFILTER_SHARED_DATA`` overrides
    it, e.g. in a git worktree); tests that need it skip when it is absent."""
    override = os.environ.get("LIVEFILTER_SHARED_DATA")
    return Path(override) if override else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def redacted(
    image: np.ndarray,
    index: int = 0,
    t_capture: float = 0.0,
    pts: float | None = None,
    *,
    fully_redacted: bool = False,
    reason: str = "",
) -> RedactedFrame:
    """A RedactedFrame for sink tests, built the only way there is: by the compositor.

    Not fully redacted: ``image`` exactly, as the compositor shows a frame in which the engine
    found nothing to hide. Fully redacted: ``image`` pixelated whole (a uniform picture stays as it is).
    """
    from livefilter.config.render import RenderConfig
    from livefilter.render.compositor import Compositor

    frame = Frame(np.ascontiguousarray(image), index=index, t_capture=t_capture, pts=pts)
    compositor = Compositor(RenderConfig())
    if fully_redacted:
        return compositor.redact_all(frame, reason=reason or "test")
    nothing = MaskSet.empty(frame.height, frame.width, frame_index=index, t_capture=t_capture)
    return compositor.redact_regions(frame, nothing)


class FakeSource:
    """Frames of a :class:`Scene`, optionally paced, finite, failing or pausing.

    Args:
        count: frames before the end (``read()`` → None); None = endless.
        fps: nominal rate; frames are paced at it when ``paced``.
        live: what ``live`` reports (live sources are reconnected, never waited for).
        fail_at: indices at which ``read()`` raises SourceError once (the next open resumes there).
        pause_at: ``{index: seconds}``: ``read()`` blocks that long once before that frame.
        open_failures: how many reopen attempts (after the first open) fail.
    """

    reconnect_backoff = (0.01, 0.05)

    def __init__(
        self,
        scene: Scene | None = None,
        *,
        count: int | None = None,
        fps: float = 50.0,
        paced: bool = False,
        live: bool = False,
        fail_at: Iterable[int] = (),
        pause_at: dict[int, float] | None = None,
        open_failures: int = 0,
        name: str = "fake",
    ) -> None:
        self.scene = scene or Scene()
        self.name = name
        self.count = count
        self.fps = fps
        self.paced = paced
        self._live = live
        self._fail_at = set(fail_at)
        self._pause_at = dict(pause_at or {})
        self._open_failures = open_failures
        self._next = 0
        self._is_open = False
        self._t0 = 0.0
        self.opens = 0
        self.closes = 0

    @property
    def nominal_fps(self) -> float | None:
        return self.fps

    @property
    def live(self) -> bool:
        return self._live

    def open(self) -> None:
        self.opens += 1
        if self.opens > 1 and self._open_failures > 0:
            self._open_failures -= 1
            raise SourceError(f"{self.name}: injected open failure")
        self._is_open = True
        self._t0 = time.monotonic() - self._next / self.fps

    def read(self) -> Frame | None:
        if not self._is_open:
            raise SourceError(f"{self.name}: read() while closed")
        index = self._next
        if self.count is not None and index >= self.count:
            return None
        if index in self._fail_at:
            self._fail_at.discard(index)
            raise SourceError(f"{self.name}: injected signal loss before frame {index}")
        if index in self._pause_at:
            time.sleep(self._pause_at.pop(index))
            self._t0 = time.monotonic() - index / self.fps
        if self.paced:  # like a camera: late frames are not made up for with a burst
            delay = self._t0 + index / self.fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                self._t0 -= delay
        self._next += 1
        return self.scene.frame(index, source=self.name)

    def close(self) -> None:
        self.closes += 1
        self._is_open = False


class GroundTruthEngine:
    """TEST DOUBLE, not a detector: answers each frame with the *true* masks of the scene's
    secrets named by the prompts (it knows them from the frame index), so tests can check
    the pipeline alone. Faults are injected per instance.

    Args:
        delay_s: time each ``infer`` takes; ``first_delay_s`` for the first one (warm-up).
        open_delay_s: time ``open`` takes (model loading); ``open_error`` is raised by ``open``.
        raise_after: ``infer`` raises after this many successful calls.
        hang_after: ``infer`` blocks (until ``release`` is set) after this many calls.
        set_prompts_delay_s: time ``set_prompts`` takes.
    """

    def __init__(
        self,
        scene: Scene,
        prompts: Sequence[Prompt],
        *,
        fps: float = 50.0,
        delay_s: float = 0.0,
        first_delay_s: float | None = None,
        open_delay_s: float = 0.0,
        open_error: Exception | None = None,
        raise_after: int | None = None,
        hang_after: int | None = None,
        set_prompts_delay_s: float = 0.0,
        release: threading.Event | None = None,
    ) -> None:
        self.name = "ground-truth"
        self.scene = scene
        self.labels = [p.text for p in prompts]
        self.fps = fps
        self.delay_s = delay_s
        self.first_delay_s = delay_s if first_delay_s is None else first_delay_s
        self.open_delay_s = open_delay_s
        self.open_error = open_error
        self.raise_after = raise_after
        self.hang_after = hang_after
        self.set_prompts_delay_s = set_prompts_delay_s
        self.release = release or threading.Event()
        self.calls = 0
        self.resets = 0
        self.closed = False

    def open(self) -> None:
        time.sleep(self.open_delay_s)
        if self.open_error is not None:
            raise self.open_error

    def infer(self, frame: Frame) -> MaskSet:
        self.calls += 1
        if self.hang_after is not None and self.calls > self.hang_after:
            self.release.wait(30.0)
        if self.raise_after is not None and self.calls > self.raise_after:
            raise RuntimeError(f"injected crash on call {self.calls}")
        time.sleep(self.first_delay_s if self.calls == 1 else self.delay_s)
        return self.scene.truth(frame.index, self.labels, t_capture=frame.t_capture, fps=self.fps)

    def set_prompts(self, prompts: Sequence[Prompt]) -> None:
        time.sleep(self.set_prompts_delay_s)
        self.labels = [p.text for p in prompts]

    def reset(self) -> None:
        self.resets += 1

    def close(self) -> None:
        self.closed = True


class GroundTruthEngineFactory:
    """``engine_factory`` for the pipeline: a fresh :class:`GroundTruthEngine` per call, all kept."""

    def __init__(
        self, scene: Scene, prompts: Sequence[str] = ("square", "stripe"), **options: object
    ) -> None:
        self.scene = scene
        self.prompts = [Prompt(text) for text in prompts]
        self.options = options
        self.built: list[GroundTruthEngine] = []

    def __call__(self) -> GroundTruthEngine:
        engine = GroundTruthEngine(self.scene, self.prompts, **self.options)  # type: ignore[arg-type]
        self.built.append(engine)
        return engine


class RecordingSink:
    """Keeps a copy of every frame it gets, with the time it got it.

    Args:
        lossless: what the sink reports (lossless sinks get every frame).
        fail_on_writes: 1-based write attempts that raise SinkError.
        delay_s: time each write takes.
    """

    reconnect_backoff = (0.01, 0.05)

    def __init__(
        self,
        name: str = "rec",
        *,
        lossless: bool = True,
        fail_on_writes: Iterable[int] = (),
        delay_s: float = 0.0,
    ) -> None:
        self.name = name
        self.lossless = lossless
        self.fail_on_writes = set(fail_on_writes)
        self.delay_s = delay_s
        self.frames: list[RedactedFrame] = []
        self.received_at: list[float] = []
        self.writes = 0
        self.opens = 0
        self.closes = 0

    def open(self) -> None:
        self.opens += 1

    def write(self, frame: RedactedFrame) -> None:
        if not isinstance(frame, RedactedFrame):
            raise TypeError(f"RecordingSink got {type(frame).__name__}")
        self.writes += 1
        if self.writes in self.fail_on_writes:
            raise SinkError(f"{self.name}: injected write failure on write {self.writes}")
        time.sleep(self.delay_s)
        self.frames.append(frame)  # read-only, and the compositor never reuses a buffer
        self.received_at.append(time.monotonic())

    def close(self) -> None:
        self.closes += 1
