"""A synthetic scene with exact ground truth: real faces moving over a background.

Tests and benchmarks need frames where every face pixel is known. :class:`Scene`
pastes face cut-outs (by default the public-domain portrait that ships with
scikit-image) onto a background along smooth Lissajous paths or straight lines that
cross the frame edge to edge, scales and tilts them, hides them behind an opaque bar,
and can pan the camera over the background and add motion blur, sensor noise and low
light. :func:`turned_face` and :func:`half_face` approximate turned heads from frontal
photos (a planar yaw warp, the near half of a face); :class:`Shots` plays scenes one
after another with hard cuts. ``render(index)`` is a pure function of the spec and the
index, so any frame can be rebuilt, and it returns the visible face pixels of every
face next to the image.

Example:
    >>> scene = Scene(SceneSpec(width=160, height=120, seed=3))
    >>> frame = scene.render(0)
    >>> frame.image.shape, frame.face_masks.shape, frame.boxes.shape
    ((120, 160, 3), (1, 120, 160), (1, 4))
    >>> bool(frame.face_masks.any())
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import cv2
import numpy as np

__all__ = [
    "Scene", "SceneFrame", "SceneSpec", "Shots", "astronaut_face", "cameraman_profile", "fit_background",
    "half_face", "turned_face",
]

# The face in skimage.data.astronaut() (512x512): centre and semi-axes of an
# ellipse from the hairline to the chin and cheek to cheek, measured on the image.
_ASTRONAUT_FACE_CENTRE = (221.0, 124.0)
_ASTRONAUT_FACE_AXES = (40.0, 54.0)
# The man's face in skimage.data.camera() (512x512), seen from the side (about 70 degrees
# of yaw), traced by eye on the image: from the front of the ear (sideburn) over the brow,
# nose, lips and chin and back along the jaw. Like the frontal cut-outs' ellipses, the
# face excludes the ear and hair.
_CAMERAMAN_FACE = (
    (197, 129), (210, 130), (250, 120), (258, 128), (253, 143), (257, 162), (247, 172),
    (245, 183), (239, 192), (227, 195), (210, 183), (199, 166), (195, 148),
)
# The cameraman cut-out's alpha rises to 1 over this many pixels inside the outline and
# fades to 0 over the second figure outside it (hair, neck and camera show faintly).
_CAMERAMAN_EDGE_PX = (2.0, 12.0)
# Width of the soft alpha edge, as a fraction of the ellipse radius on each side.
_SOFT_EDGE = 0.15
# Exposure of one frame, as a fraction of the frame interval (a webcam indoors).
_EXPOSURE = 1.0
# Slowest and fastest oscillation periods (s) of a face's scale and tilt.
_SCALE_PERIOD_S = (3.0, 6.0)
_TILT_PERIOD_S = (2.0, 4.0)
# Paths never oscillate faster than this (rad/s): small frames move slower instead.
_MAX_ANGULAR_SPEED = 2 * math.pi
_NOISE_MARGIN = 64
# Longest line blurred in one pass (its kernel stays within 11x11).
_BLUR_STEP_PX = 7.0
# A panning camera sees a background this much larger than the frame (fraction per side).
_DRIFT_MARGIN = 0.08
# Crossing faces enter and leave this far along an edge (fraction of its length).
_CROSS_SPAN = (0.1, 0.9)


@dataclass(frozen=True, slots=True)
class SceneSpec:
    """What the scene looks like. Every field has a default that makes a useful demo.

    Attributes:
        width, height: frame size in pixels.
        fps: frame rate; frame ``i`` shows time ``i / fps``.
        faces: number of moving faces (0 renders the background only).
        speed_px_s: RMS speed of each face centre (lower when the frame is too small
            to move that fast along a smooth path).
        face_height_frac: face height (hairline to chin) at scale 1, as a fraction of
            the frame height.
        scale_range: each face's scale oscillates between these factors.
        occluder: draw an opaque vertical bar, a little wider than a face, in front of them.
        motion_blur: smear each face along its velocity over one frame interval.
        rotation_deg: largest in-plane tilt; faces rock between ±rotation_deg.
        enter_exit: faces leave the frame (left/right) and come back (``path="wander"``).
        path: ``"wander"``: smooth Lissajous paths; ``"cross"``: each face crosses the
            frame on straight lines at ``speed_px_s``, entering through one edge and
            leaving through another, lap after lap; face ``i`` enters lap ``n`` through
            edge ``(i + n) % 4`` (left, top, right, bottom), so every edge is used.
        drift_px_s: RMS speed of a camera pan over the background (0 = still camera).
        noise_sigma: standard deviation of additive Gaussian sensor noise (0-255 scale).
        brightness: multiplies the whole picture; below 1 simulates low light.
        seed: chooses the paths, phases and the default background.
    """

    width: int = 1280
    height: int = 720
    fps: float = 30.0
    faces: int = 1
    speed_px_s: float = 300.0
    face_height_frac: float = 0.3
    scale_range: tuple[float, float] = (0.8, 1.2)
    occluder: bool = True
    motion_blur: bool = False
    rotation_deg: float = 0.0
    enter_exit: bool = False
    path: Literal["wander", "cross"] = "wander"
    drift_px_s: float = 0.0
    noise_sigma: float = 0.0
    brightness: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            ("width", self.width >= 16, "an integer >= 16"),
            ("height", self.height >= 16, "an integer >= 16"),
            ("fps", self.fps > 0, "> 0"),
            ("faces", self.faces >= 0, ">= 0"),
            ("speed_px_s", self.speed_px_s >= 0, ">= 0"),
            ("face_height_frac", 0 < self.face_height_frac <= 1, "in (0, 1]"),
            (
                "scale_range",
                len(self.scale_range) == 2 and 0 < self.scale_range[0] <= self.scale_range[1],
                "(low, high) with 0 < low <= high",
            ),
            ("path", self.path in ("wander", "cross"), '"wander" or "cross"'),
            ("drift_px_s", self.drift_px_s >= 0, ">= 0"),
            ("noise_sigma", self.noise_sigma >= 0, ">= 0"),
            ("brightness", self.brightness > 0, "> 0"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"SceneSpec.{name}: expected {expected}, got {getattr(self, name)!r}")


@dataclass(frozen=True, slots=True)
class SceneFrame:
    """One rendered frame and its ground truth.

    Attributes:
        image: (H, W, 3) uint8 BGR.
        face_masks: (k, H, W) bool, the pixels where face ``i`` is actually visible
            (after occlusion by the bar and by faces in front, and clipping by the frame).
        boxes: (k, 4) float32 xyxy bounds of each visible mask (x1, y1 exclusive);
            NaN when that face is not visible at all.
        velocities: (k, 2) float32 motion of each face centre in pixels per second.
    """

    image: np.ndarray
    face_masks: np.ndarray
    boxes: np.ndarray
    velocities: np.ndarray


@dataclass(frozen=True, slots=True)
class _Path:
    """Smooth motion of one face: Lissajous position, oscillating scale and tilt."""

    centre: tuple[float, float]
    amplitude: tuple[float, float]
    omega: tuple[float, float]
    phase: tuple[float, float]
    scale_mid: float
    scale_amp: float
    scale_omega: float
    scale_phase: float
    tilt_omega: float
    tilt_phase: float

    def at(self, t: float, rotation_deg: float) -> tuple[float, float, float, float, float, float]:
        """(x, y, vx, vy, scale, angle_deg) at time ``t``."""
        (cx, cy), (ax, ay), (wx, wy), (px, py) = self.centre, self.amplitude, self.omega, self.phase
        x = cx + ax * math.sin(wx * t + px)
        y = cy + ay * math.sin(wy * t + py)
        vx = ax * wx * math.cos(wx * t + px)
        vy = ay * wy * math.cos(wy * t + py)
        scale = self.scale_mid + self.scale_amp * math.sin(self.scale_omega * t + self.scale_phase)
        angle = rotation_deg * math.sin(self.tilt_omega * t + self.tilt_phase)
        return x, y, vx, vy, scale, angle


@dataclass(frozen=True, slots=True)
class _CrossPath:
    """Straight crossings of the frame, edge to edge, one lap after another.

    Lap ``n`` of face ``i`` enters through edge ``(i + n) % 4`` and leaves through one of
    the three others; the points along the edges come from ``(seed, i, n)``, so any time
    can be evaluated on its own. Start and end points lie just outside the frame.
    """

    base: _Path  # its scale and tilt oscillations are used (its position is not)
    seed: int
    face: int
    size: tuple[int, int]  # frame width, height
    half: tuple[float, float]  # the sprite's half extent at its largest
    speed: float
    offset_s: float  # where on its laps the face is at t = 0

    def _edge_point(self, edge: int, u: float) -> tuple[float, float]:
        (w, h), (hw, hh) = self.size, self.half
        if edge == 0:
            return -hw - 2, u * h
        if edge == 1:
            return u * w, -hh - 2
        if edge == 2:
            return w + hw + 2, u * h
        return u * w, h + hh + 2

    def _lap(self, n: int) -> tuple[tuple[float, float], tuple[float, float], float]:
        rng = np.random.default_rng([self.seed, self.face, n])
        entry = (self.face + n) % 4
        leave = (entry + 1 + int(rng.integers(0, 3))) % 4
        a = self._edge_point(entry, rng.uniform(*_CROSS_SPAN))
        b = self._edge_point(leave, rng.uniform(*_CROSS_SPAN))
        return a, b, max(math.dist(a, b) / max(self.speed, 1e-6), 1e-3)

    def at(self, t: float, rotation_deg: float) -> tuple[float, float, float, float, float, float]:
        _, _, _, _, scale, angle = self.base.at(t, rotation_deg)
        remaining, n = t + self.offset_s, 0
        while True:
            a, b, duration = self._lap(n)
            if remaining < duration:
                break
            remaining -= duration
            n += 1
        f = remaining / duration
        vx, vy = (b[0] - a[0]) / duration, (b[1] - a[1]) / duration
        return a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), vx, vy, scale, angle


@dataclass(frozen=True, slots=True)
class _Sprite:
    """A face cut-out pre-scaled to its largest on-screen size, premultiplied."""

    pixels: np.ndarray  # (h, w, 4) float32: B*a, G*a, R*a (0..255), a (0..1)
    max_scale: float  # the scene scale this sprite is drawn at without resampling


@lru_cache(maxsize=1)
def astronaut_face() -> np.ndarray:
    """BGRA cut-out of the face in ``skimage.data.astronaut()`` (public domain).

    Alpha is a soft ellipse: above 0.5 exactly on the face (hairline to chin, cheek to
    cheek), fading to 0 over a thin ring of hair and neck. Read-only (cached).
    """
    from skimage import data  # scikit-image ships the photo; no download

    rgb = data.astronaut()
    (cx, cy), (ax, ay) = _ASTRONAUT_FACE_CENTRE, _ASTRONAUT_FACE_AXES
    reach = 1 + _SOFT_EDGE
    x0, x1 = math.floor(cx - ax * reach), math.ceil(cx + ax * reach) + 1
    y0, y1 = math.floor(cy - ay * reach), math.ceil(cy + ay * reach) + 1
    bgr = np.ascontiguousarray(rgb[y0:y1, x0:x1, ::-1])
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    radius = np.sqrt(((xs - cx) / ax) ** 2 + ((ys - cy) / ay) ** 2)
    alpha = np.clip(0.5 + (1.0 - radius) / (2 * _SOFT_EDGE), 0.0, 1.0)
    cutout = np.dstack([bgr, np.round(alpha * 255).astype(np.uint8)])
    cutout.flags.writeable = False
    return cutout


@lru_cache(maxsize=1)
def cameraman_profile() -> np.ndarray:
    """BGRA cut-out of the face in profile in ``skimage.data.camera()`` (grey; scikit-image ships it).

    A real photograph of a head turned about 70 degrees (one eye, the nose in silhouette;
    the camera's viewfinder touches the brow). Alpha is above 0.5 exactly inside the
    traced outline of the face (ear and hair excluded), fading to 0 over a ring of ear,
    hair and neck outside it.
    Read-only (cached).
    """
    from skimage import data  # scikit-image ships the photo; no download

    grey = data.camera()
    outline = np.array(_CAMERAMAN_FACE, np.int32)
    inner, outer = _CAMERAMAN_EDGE_PX
    pad = math.ceil(outer) + 1
    (x0, y0), (x1, y1) = outline.min(axis=0) - pad, outline.max(axis=0) + pad + 1
    inside = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(inside, [outline - (x0, y0)], 1)
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    away = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3)
    alpha = np.where(inside == 1, np.minimum(1.0, 0.5 + depth / (2 * inner)), np.maximum(0.0, 0.5 - away / (2 * outer)))
    crop = grey[y0:y1, x0:x1]
    cutout = np.dstack([crop, crop, crop, np.round(alpha * 255).astype(np.uint8)])
    # Alpha > 0.5 (> 127) exactly inside the outline, whatever the rounding.
    cutout[:, :, 3] = np.where(inside == 1, np.maximum(cutout[:, :, 3], 128), np.minimum(cutout[:, :, 3], 127))
    cutout.flags.writeable = False
    return cutout


def _check_cutout(cutout: np.ndarray, who: str) -> None:
    if cutout.dtype != np.uint8 or cutout.ndim != 3 or cutout.shape[2] != 4:
        raise ValueError(f"{who}: expected an (h, w, 4) uint8 BGRA cut-out, got {cutout.dtype} {cutout.shape}")


def turned_face(cutout: np.ndarray, yaw_deg: float, *, distance: float = 3.0) -> np.ndarray:
    """A BGRA cut-out seen as if the face turned ``yaw_deg`` about its vertical axis.

    An approximation of a turned head from a frontal photo: the picture is treated as a
    flat plane through the face's centre and rotated in front of a pinhole camera
    ``distance`` face-widths away (positive yaw: the right side of the picture recedes
    and shrinks). A real head is not flat: at large yaw its far cheek hides behind the
    nose and the ear shows, which this warp cannot produce. Alpha is warped with the
    colour, so alpha > 0.5 stays the exact face ground truth of the result.
    """
    _check_cutout(cutout, "turned_face")
    if not -89.0 <= yaw_deg <= 89.0:
        raise ValueError(f"turned_face: yaw_deg must be within ±89 degrees, got {yaw_deg}")
    h, w = cutout.shape[:2]
    theta = math.radians(yaw_deg)
    depth = distance * w
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    x, y = corners[:, 0] - w / 2, corners[:, 1] - h / 2
    z = depth + x * math.sin(theta)
    projected = np.stack([depth * x * math.cos(theta) / z, depth * y / z], axis=1)
    projected -= projected.min(axis=0)
    size = np.ceil(projected.max(axis=0)).astype(int) + 1
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), projected.astype(np.float32))
    return cv2.warpPerspective(
        cutout, matrix, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0),
    )


def half_face(cutout: np.ndarray, keep: Literal["left", "right"]) -> np.ndarray:
    """The ``keep`` half of a BGRA face cut-out, split down the middle of its face pixels.

    An approximation of a profile (what a camera sees of a head turned about 90 degrees
    is roughly one half of the face: one eye, half the nose and mouth). Alpha is zero
    beyond the split, so alpha > 0.5 stays the exact face ground truth.
    """
    _check_cutout(cutout, "half_face")
    cols = np.flatnonzero((cutout[:, :, 3] > 127).any(axis=0))
    if cols.size == 0:
        raise ValueError("half_face: the cut-out has no pixel with alpha > 0.5 (nothing is face)")
    split = (int(cols[0]) + int(cols[-1]) + 1) // 2
    part = cutout[:, :split] if keep == "left" else cutout[:, split:]
    return np.ascontiguousarray(part)


def _face_height(cutout: np.ndarray) -> int:
    rows = np.flatnonzero((cutout[:, :, 3] > 127).any(axis=1))
    if rows.size == 0:
        raise ValueError("Scene faces: a cut-out has no pixel with alpha > 0.5 (nothing is face)")
    return int(rows[-1] - rows[0] + 1)


def _make_sprite(cutout: np.ndarray, target_face_h: float, max_scale: float) -> _Sprite:
    _check_cutout(cutout, "Scene faces")
    pixels = cutout.astype(np.float32)
    pixels[:, :, 3] /= 255.0
    pixels[:, :, :3] *= pixels[:, :, 3:]
    factor = target_face_h * max_scale / _face_height(cutout)
    size = (max(1, round(cutout.shape[1] * factor)), max(1, round(cutout.shape[0] * factor)))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    scaled = cv2.resize(pixels, size, interpolation=interpolation)
    alpha = np.clip(scaled[:, :, 3:], 0.0, 1.0)
    # Premultiplied colour never exceeds 255 * alpha, so blending cannot overflow.
    scaled[:, :, :3] = np.clip(scaled[:, :, :3], 0.0, 255.0 * alpha)
    scaled[:, :, 3:] = alpha
    return _Sprite(pixels=scaled, max_scale=max_scale)


def _procedural_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """An indoor-looking textured backdrop: colour gradients, a few panels, fine grain."""
    cells = (max(2, width // 160), max(2, height // 160))
    coarse = rng.uniform(70, 190, (cells[1], cells[0], 3)).astype(np.float32)
    grey = coarse.mean(axis=2, keepdims=True)
    coarse = grey + 0.45 * (coarse - grey)  # muted colours, like walls and furniture
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(10):
        w, h = rng.integers(width // 12, width // 3), rng.integers(height // 12, height // 3)
        x, y = rng.integers(-w // 2, width), rng.integers(-h // 2, height)
        panel = image.copy()
        cv2.rectangle(panel, (int(x), int(y)), (int(x + w), int(y + h)), rng.uniform(40, 220, 3).tolist(), -1)
        cv2.addWeighted(panel, 0.45, image, 0.55, 0, dst=image)
    for _ in range(6):
        p0 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(image, p0, p1, rng.uniform(30, 230, 3).tolist(), int(rng.integers(1, 4)), cv2.LINE_AA)
    image += rng.normal(0.0, 5.0, (height, width, 1)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def fit_background(background: np.ndarray, width: int, height: int) -> np.ndarray:
    """A BGR ``width`` x ``height`` picture of a photo: scaled to cover it, centre cropped."""
    if background.dtype != np.uint8 or background.ndim not in (2, 3):
        raise ValueError(
            f"Scene background: expected a uint8 image, got {background.dtype} {background.shape}"
        )
    if background.ndim == 2:
        background = cv2.cvtColor(background, cv2.COLOR_GRAY2BGR)
    elif background.shape[2] == 4:
        background = cv2.cvtColor(background, cv2.COLOR_BGRA2BGR)
    h, w = background.shape[:2]
    factor = max(width / w, height / h)
    size = (max(width, round(w * factor)), max(height, round(h * factor)))
    scaled = cv2.resize(background, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
    x0, y0 = (size[0] - width) // 2, (size[1] - height) // 2
    return np.ascontiguousarray(scaled[y0 : y0 + height, x0 : x0 + width])


def _blur_kernel(vx: float, vy: float, length: float) -> np.ndarray:
    """A normalised line of ``length`` pixels along (vx, vy), centred."""
    radius = math.ceil(length / 2) + 1
    kernel = np.zeros((2 * radius + 1, 2 * radius + 1), np.float32)
    norm = math.hypot(vx, vy)
    dx, dy = vx / norm * length / 2, vy / norm * length / 2
    shift = 4  # fixed-point bits so the line is placed with sub-pixel accuracy
    scale = 1 << shift
    p0 = (round((radius - dx) * scale), round((radius - dy) * scale))
    p1 = (round((radius + dx) * scale), round((radius + dy) * scale))
    cv2.line(kernel, p0, p1, 1.0, 1, cv2.LINE_AA, shift)
    return kernel / kernel.sum()


class Scene:
    """Renders frame ``index`` of a synthetic scene with its exact face masks.

    Args:
        spec: what to draw.
        faces: BGRA face cut-outs (alpha > 0.5 marks the face); cycled when there are
            fewer than ``spec.faces``. Default: :func:`astronaut_face`, mirrored for
            every other face.
        background: a BGR photo scaled to cover the frame. Default: a procedural texture.
    """

    def __init__(
        self,
        spec: SceneSpec,
        *,
        faces: Sequence[np.ndarray] | None = None,
        background: np.ndarray | None = None,
    ) -> None:
        self.spec = spec
        rng = np.random.default_rng(spec.seed)
        w, h = spec.width, spec.height
        # A panning camera crops a moving window out of a background with a margin.
        mx, my = (round(_DRIFT_MARGIN * w), round(_DRIFT_MARGIN * h)) if spec.drift_px_s > 0 else (0, 0)
        if background is None:
            base = _procedural_background(w + 2 * mx, h + 2 * my, rng)
        else:
            base = fit_background(background, w + 2 * mx, h + 2 * my)
        self._drift = self._make_drift(rng, mx, my)

        if faces is None:
            face = astronaut_face()
            cutouts = [face, np.ascontiguousarray(face[:, ::-1])]
        else:
            cutouts = list(faces)
            if not cutouts:
                raise ValueError("Scene faces: expected at least one cut-out, got an empty sequence")
        target_face_h = spec.face_height_frac * h
        low, high = spec.scale_range
        sprites = [_make_sprite(c, target_face_h, high) for c in cutouts]
        self._sprites = [sprites[i % len(sprites)] for i in range(spec.faces)]

        largest = max((s.pixels.shape[:2] for s in sprites), default=(0, 0))
        face_w_mid = largest[1] * (low + high) / 2 / high
        self._occluder = np.zeros((h, w), np.bool_)
        self._bar: np.ndarray | None = None
        if spec.occluder:
            bar_w = max(4, round(1.2 * face_w_mid))
            x0 = round(0.62 * w - bar_w / 2)
            x0 = min(max(x0, 0), max(0, w - bar_w))
            self._occluder[:, x0 : x0 + bar_w] = True
            shade = np.linspace(0.55, 1.0, bar_w, dtype=np.float32)[None, :, None]
            stripes = ((np.arange(h) // 24) % 2).astype(np.float32)[:, None, None] * 18.0
            bar = np.array([70.0, 80.0, 95.0], np.float32) * shade + stripes
            self._bar = np.clip(bar, 0, 255).astype(np.uint8)[:, : w - x0]
            self.occluder_box: tuple[int, int, int, int] | None = (x0, 0, x0 + bar_w, h)
        else:
            self.occluder_box = None
        self._background = base

        # Half extent of a sprite at its largest; a tilted sprite may reach its half-diagonal.
        half_h, half_w = largest[0] / 2, largest[1] / 2
        if spec.rotation_deg:
            half_h = half_w = math.hypot(half_w, half_h)
        self._paths: list[_Path | _CrossPath] = []
        for i in range(spec.faces):
            wander = self._make_path(rng, half_w, half_h)
            if spec.path == "cross":
                offset = float(rng.uniform(0.0, (w + h) / max(spec.speed_px_s, 1e-6)))
                self._paths.append(_CrossPath(wander, spec.seed, i, (w, h), (half_w, half_h), spec.speed_px_s, offset))
            else:
                self._paths.append(wander)

        self._noise: list[np.ndarray] = []
        if spec.noise_sigma > 0:
            shape = (h + _NOISE_MARGIN, w + _NOISE_MARGIN, 3)
            self._noise = [
                np.clip(np.round(rng.normal(0.0, spec.noise_sigma, shape)), -255, 255).astype(np.int16)
                for _ in range(2)
            ]

    @property
    def background(self) -> np.ndarray:
        """Frame 0 without faces (occluder included, no noise or low light)."""
        return self.background_at(0)

    def background_at(self, index: int) -> np.ndarray:
        """Frame ``index`` without faces (a new array): the camera's window on the background."""
        spec = self.spec
        h, w = spec.height, spec.width
        (mx, my), (ox, oy), (wx, wy), (px, py) = self._drift
        t = index / spec.fps
        x0 = round(mx + ox * math.sin(wx * t + px)) if ox else mx
        y0 = round(my + oy * math.sin(wy * t + py)) if oy else my
        image = self._background[y0 : y0 + h, x0 : x0 + w].copy()
        if self._bar is not None and self.occluder_box is not None:
            x = self.occluder_box[0]
            image[:, x : x + self._bar.shape[1]] = self._bar
        return image

    def _make_drift(self, rng: np.random.Generator, mx: int, my: int) -> tuple[tuple[float, float], ...]:
        """(margin, amplitude, omega, phase) of the camera window's Lissajous pan."""
        speed = self.spec.drift_px_s
        if speed <= 0:
            return (0, 0), (0, 0), (0, 0), (0, 0)
        theta = rng.uniform(0.35, 1.2)
        wx = min(_MAX_ANGULAR_SPEED, math.sqrt(2) * speed * math.cos(theta) / max(mx, 1))
        wy = min(_MAX_ANGULAR_SPEED, math.sqrt(2) * speed * math.sin(theta) / max(my, 1))
        return (mx, my), (mx, my), (wx, wy), (rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi))

    @property
    def occluder_mask(self) -> np.ndarray:
        """(H, W) bool: pixels covered by the opaque bar."""
        return self._occluder

    def _make_path(self, rng: np.random.Generator, half_w: float, half_h: float) -> _Path:
        spec = self.spec
        w, h = spec.width, spec.height
        if spec.enter_exit:
            # The centre swings two half-widths past each edge, so the face is
            # completely outside the frame for about a third of every swing.
            ax = w / 2 + 2 * half_w
        else:
            ax = max(0.0, w / 2 - half_w)
        ay = max(0.0, h / 2 - half_h)
        theta = rng.uniform(0.35, 1.2)
        # RMS speed of a*sin(w t) is a*w/sqrt(2); split the speed between x and y.
        wx = min(_MAX_ANGULAR_SPEED, math.sqrt(2) * spec.speed_px_s * math.cos(theta) / ax) if ax > 0 else 0.0
        wy = min(_MAX_ANGULAR_SPEED, math.sqrt(2) * spec.speed_px_s * math.sin(theta) / ay) if ay > 0 else 0.0
        low, high = spec.scale_range
        return _Path(
            centre=(w / 2, h / 2),
            amplitude=(ax, ay),
            omega=(wx, wy),
            phase=(rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi)),
            scale_mid=(low + high) / 2,
            scale_amp=(high - low) / 2,
            scale_omega=2 * math.pi / rng.uniform(*_SCALE_PERIOD_S),
            scale_phase=rng.uniform(0, 2 * math.pi),
            tilt_omega=2 * math.pi / rng.uniform(*_TILT_PERIOD_S),
            tilt_phase=rng.uniform(0, 2 * math.pi),
        )

    def render(self, index: int) -> SceneFrame:
        """Frame ``index`` (time ``index / fps``) and its ground truth."""
        spec = self.spec
        h, w = spec.height, spec.width
        t = index / spec.fps
        image = self.background_at(index)
        k = spec.faces
        masks = np.zeros((k, h, w), np.bool_)
        velocities = np.zeros((k, 2), np.float32)
        regions: list[tuple[int, int, int, int] | None] = []
        for i, (sprite, path) in enumerate(zip(self._sprites, self._paths)):
            x, y, vx, vy, scale, angle = path.at(t, spec.rotation_deg)
            velocities[i] = (vx, vy)
            regions.append(self._draw_face(image, masks[i], sprite, x, y, vx, vy, scale, angle))

        # A face drawn later hides the faces behind it.
        if k > 1:
            covered = masks[k - 1].copy()
            for i in range(k - 2, -1, -1):
                masks[i] &= ~covered
                covered |= masks[i]
        boxes = np.full((k, 4), np.nan, np.float32)
        for i, region in enumerate(regions):
            if region is not None:
                boxes[i] = _mask_box(masks[i], region)

        if spec.brightness != 1.0:
            image = cv2.convertScaleAbs(image, alpha=spec.brightness)
        if self._noise:
            pick = np.random.default_rng([spec.seed, index]).integers(0, _NOISE_MARGIN + 1, 3)
            field = self._noise[int(pick[0]) % len(self._noise)]
            noise = field[pick[1] : pick[1] + h, pick[2] : pick[2] + w]
            image = cv2.add(image, noise, dtype=cv2.CV_8U)
        return SceneFrame(image=image, face_masks=masks, boxes=boxes, velocities=velocities)

    def _draw_face(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        sprite: _Sprite,
        x: float,
        y: float,
        vx: float,
        vy: float,
        scale: float,
        angle: float,
    ) -> tuple[int, int, int, int] | None:
        """Composite one face into ``image`` in place, set its mask; return its region."""
        spec = self.spec
        h, w = spec.height, spec.width
        sh, sw = sprite.pixels.shape[:2]
        zoom = scale / sprite.max_scale
        matrix = cv2.getRotationMatrix2D((sw / 2, sh / 2), angle, zoom)
        matrix[:, 2] += (x - sw / 2, y - sh / 2)
        corners = np.array([[0, 0, 1], [sw, 0, 1], [0, sh, 1], [sw, sh, 1]], np.float64) @ matrix.T

        blur_len = math.hypot(vx, vy) * _EXPOSURE / spec.fps if spec.motion_blur else 0.0
        margin = math.ceil(blur_len / 2) + 2
        x0, y0 = (math.floor(v) - margin for v in corners.min(axis=0))
        x1, y1 = (math.ceil(v) + margin for v in corners.max(axis=0))
        if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
            return None
        matrix[:, 2] -= (x0, y0)
        patch = cv2.warpAffine(
            sprite.pixels,
            matrix,
            (x1 - x0, y1 - y0),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0, 0),
        )
        if blur_len >= 1.0:
            # A few passes of a short line: OpenCV filters small sparse kernels directly
            # (fast) but switches to a slow DFT from 12x12 up. Same extent, softer ends.
            passes = math.ceil(blur_len / _BLUR_STEP_PX)
            kernel = _blur_kernel(vx, vy, blur_len / passes)
            for _ in range(passes):
                patch = cv2.filter2D(patch, -1, kernel, borderType=cv2.BORDER_CONSTANT)

        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        patch = patch[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        occluded = self._occluder[cy0:cy1, cx0:cx1]
        if occluded.any():  # the bar is in front: nothing of the face shows there
            patch = patch * (~occluded)[:, :, None]
        alpha = patch[:, :, 3]
        region = image[cy0:cy1, cx0:cx1]
        out = region.astype(np.float32)
        out *= 1.0 - patch[:, :, 3:]
        out += patch[:, :, :3]
        out += 0.5  # round, not truncate
        region[...] = out.astype(np.uint8)
        mask[cy0:cy1, cx0:cx1] = alpha > 0.5
        return cx0, cy0, cx1, cy1


def _mask_box(mask: np.ndarray, region: tuple[int, int, int, int]) -> tuple[float, ...]:
    """xyxy bounds (x1, y1 exclusive) of ``mask``, searched inside ``region``; NaN if empty."""
    x0, y0, x1, y1 = region
    sub = mask[y0:y1, x0:x1]
    cols, rows = np.flatnonzero(sub.any(axis=0)), np.flatnonzero(sub.any(axis=1))
    if cols.size == 0:
        return (math.nan,) * 4
    return (x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1)


class Shots:
    """Scenes played one after another with hard cuts (shot changes), as one clip.

    Frame ``index`` is frame ``index - start`` of the shot that contains it (the clip
    loops). Faces are numbered across shots: the faces of shot ``j`` follow those of
    the shots before it, so ``face_masks`` has one layer per face of every shot and a
    face is visible only during its own shot.

    Args:
        shots: (scene, frames) pairs; every scene has the same size and fps.
    """

    def __init__(self, shots: Sequence[tuple[Scene, int]]) -> None:
        if not shots:
            raise ValueError("Shots: expected at least one (scene, frames) pair, got none")
        first = shots[0][0].spec
        for j, (scene, frames) in enumerate(shots):
            if (scene.spec.width, scene.spec.height, scene.spec.fps) != (first.width, first.height, first.fps):
                raise ValueError(
                    f"Shots: shot {j} is {scene.spec.width}x{scene.spec.height} at {scene.spec.fps:g} fps, "
                    f"shot 0 is {first.width}x{first.height} at {first.fps:g} fps; use one size and rate"
                )
            if frames < 1:
                raise ValueError(f"Shots: shot {j} has {frames} frames; expected at least 1")
        self._shots = list(shots)
        self.faces = sum(scene.spec.faces for scene, _ in shots)
        self.frames = sum(frames for _, frames in shots)
        self.cuts = tuple(np.cumsum([frames for _, frames in shots])[:-1].tolist())

    def render(self, index: int) -> SceneFrame:
        """Frame ``index`` and its ground truth, with the faces of every shot."""
        local, offset = index % self.frames, 0
        for scene, frames in self._shots:
            if local < frames:
                break
            local -= frames
            offset += scene.spec.faces
        frame = scene.render(local)
        k, (h, w) = scene.spec.faces, frame.image.shape[:2]
        masks = np.zeros((self.faces, h, w), np.bool_)
        boxes = np.full((self.faces, 4), np.nan, np.float32)
        velocities = np.zeros((self.faces, 2), np.float32)
        masks[offset : offset + k] = frame.face_masks
        boxes[offset : offset + k] = frame.boxes
        velocities[offset : offset + k] = frame.velocities
        return SceneFrame(image=frame.image, face_masks=masks, boxes=boxes, velocities=velocities)
