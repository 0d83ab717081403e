"""Mask geometry for redaction: dilate, follow motion, feather.

Pure functions on numpy arrays. Each object is handled on its own padded
bounding box, never on the whole frame, so the cost follows the objects' size.
The box comes with the mask (``MaskSet.boxes``, found once when the engine's
result is built), so compositing never rescans a whole mask.

The one core is :func:`object_alpha`: it turns one object's mask into an
alpha map on a region of the frame. Alpha is uint8, 255 meaning "fully
hidden": exactly 255 on every pixel of the grown (dilated, motion-swept)
mask, ramping down to 0 *outside* it over ``feather_px``. Feathering
therefore never lets a masked pixel through.
:func:`dilate`, :func:`follow_motion` and :func:`feather` are full-frame views
of the same core, for callers and tests that want plain masks.

Ageing masks are swept along the whole path from where the object was to
where its velocity predicts it now, then grown by a margin of speed * age
(so an object that turns back right away stays covered) plus a share of its
size per second of age (motion nobody measured).

Large radii are computed on a downscaled grid: a cell is marked when any of
its pixels is marked, and the distance threshold is raised by the largest
error a cell can introduce, so the grown mask is never smaller than the exact
one (only slightly larger).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from livefilter.render.redactors import enlarge
from livefilter.types import mask_boxes

__all__ = [
    "AGE_MARGIN_PER_S",
    "MOTION_MARGIN",
    "Box",
    "bounding_box",
    "dilate",
    "dilation_radius",
    "feather",
    "follow_motion",
    "motion_margin",
    "object_alpha",
    "sweep",
]

MOTION_MARGIN = 1.0
"""Extra margin as a fraction of the predicted displacement (speed * age).

At 1.0 an object that turns back (bounces, reverses) right after its mask was
taken stays covered: within ``speed * age`` of where it was, in any direction,
it is inside the margin; along its motion the sweep covers it up to twice as far.
"""

AGE_MARGIN_PER_S = 0.3
"""Extra margin per second of mask age, as a fraction of the object's size: covers motion nobody measured."""

_SWEEP_SLACK = (math.sqrt(2) + math.sqrt(5)) / 2
"""Cells a swept footprint may lie from the exact moved mask: shift rounding plus line drawing."""

_GRID_CELLS_PER_RADIUS = 14
"""Grid cell = 1 + radius // this (radii under 14 px work per pixel); cells add <= 0.2 * radius."""


@dataclass(frozen=True, slots=True)
class Box:
    """Half-open pixel rectangle ``[x0, x1) x [y0, y1)``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def diagonal(self) -> float:
        return math.hypot(self.width, self.height)

    @property
    def slices(self) -> tuple[slice, slice]:
        """Index a (H, W, ...) array: ``image[box.slices]``."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def union(self, other: Box) -> Box:
        return Box(
            min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1)
        )

    def overlaps(self, other: Box) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1

    def shifted(self, dx: float, dy: float) -> Box:
        """The smallest box holding this one moved by (dx, dy)."""
        return Box(
            self.x0 + math.floor(dx),
            self.y0 + math.floor(dy),
            self.x1 + math.ceil(dx),
            self.y1 + math.ceil(dy),
        )

    def padded(self, px: int, height: int, width: int) -> Box:
        """Grown by ``px`` on every side, clipped to a ``height`` x ``width`` frame."""
        return Box(
            max(0, self.x0 - px), max(0, self.y0 - px), min(width, self.x1 + px), min(height, self.y1 + px)
        )

    def aligned(self, cell: int, height: int, width: int) -> Box:
        """Grown outward to multiples of ``cell`` (the frame's grid), clipped to the frame."""
        return Box(
            self.x0 // cell * cell,
            self.y0 // cell * cell,
            min(width, -(-self.x1 // cell) * cell),
            min(height, -(-self.y1 // cell) * cell),
        )

    def within(self, outer: Box) -> Box:
        """This box in the coordinates of ``outer`` (which must contain it)."""
        return Box(self.x0 - outer.x0, self.y0 - outer.y0, self.x1 - outer.x0, self.y1 - outer.y0)


def bounding_box(mask: np.ndarray) -> Box | None:
    """Bounding box of the True pixels of a (H, W) bool mask, None when empty.

    Example:
        >>> m = np.zeros((10, 10), bool); m[2:4, 5:9] = True
        >>> bounding_box(m)
        Box(x0=5, y0=2, x1=9, y1=4)
    """
    box = Box(*mask_boxes(mask[np.newaxis])[0].tolist())
    return None if box.width == 0 else box


def dilation_radius(box: Box, *, px: float, percent: float, percent_max_px: float = math.inf) -> float:
    """Dilation radius for an object: ``max(px, percent % of its bounding-box diagonal)``,
    the percentage's part at most ``percent_max_px``.

    Example:
        >>> dilation_radius(Box(0, 0, 30, 40), px=6, percent=10)
        6.0
        >>> dilation_radius(Box(0, 0, 300, 400), px=6, percent=10)
        50.0
        >>> dilation_radius(Box(0, 0, 300, 400), px=6, percent=10, percent_max_px=32)
        32.0
    """
    return float(max(px, min(percent / 100.0 * box.diagonal, percent_max_px)))


def motion_margin(*, speed_px_s: float, age_s: float, size_px: float) -> float:
    """Uncertainty margin of a mask ``age_s`` old: grows with its speed and its age.

    Example:
        >>> motion_margin(speed_px_s=100, age_s=0.5, size_px=100)
        65.0
    """
    age_s = max(0.0, age_s)
    return MOTION_MARGIN * speed_px_s * age_s + AGE_MARGIN_PER_S * age_s * size_px


def sweep(mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Union of ``mask`` moved along the segment from (0, 0) to (dx, dy); same shape.

    Pixels moved outside the array are dropped, so give it room (callers pass
    a region padded by the shift).

    Example:
        >>> m = np.zeros((1, 6), bool); m[0, 1] = True
        >>> sweep(m, 3, 0).astype(int)
        array([[0, 1, 1, 1, 1, 0]])
    """
    import cv2

    sx, sy = round(dx), round(dy)
    if sx == 0 and sy == 0:
        return mask.copy()
    kernel, anchor = _segment(sx, sy)
    src = mask.view(np.uint8)
    out = cv2.dilate(src, kernel, anchor=anchor, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return out.view(np.bool_)


def _sweep_outside(outside: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """:func:`sweep` on the complement: ``outside`` (uint8, 0 on the object) stays 0 wherever the
    swept object is, so the caller need not invert before and after."""
    import cv2

    sx, sy = round(dx), round(dy)
    if sx == 0 and sy == 0:
        return outside
    kernel, anchor = _segment(sx, sy)
    return cv2.erode(outside, kernel, anchor=anchor, borderType=cv2.BORDER_CONSTANT, borderValue=1)


@functools.lru_cache(maxsize=256)
def _segment(sx: int, sy: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Dilation kernel and anchor that sweep an image along (0, 0) -> (sx, sy); cached per shift.

    dilate: dst(p) = max over kernel offsets o of src(p + o); a copy moved by t*s puts
    src(p - t*s) at p, so the kernel holds the segment from the anchor to anchor - s.
    """
    import cv2

    kernel = np.zeros((abs(sy) + 1, abs(sx) + 1), np.uint8)
    ax, ay = max(sx, 0), max(sy, 0)
    cv2.line(kernel, (ax, ay), (ax - sx, ay - sy), 1, 1)
    kernel.flags.writeable = False
    return kernel, (ax, ay)


@functools.lru_cache(maxsize=64)
def _block(size: int) -> np.ndarray:
    """A ``size`` x ``size`` all-ones dilation kernel (cached: built once per grid size)."""
    kernel = np.ones((size, size), np.uint8)
    kernel.flags.writeable = False
    return kernel


def object_alpha(
    mask: np.ndarray,
    box: Box,
    *,
    dilation_px: float,
    dilation_percent: float,
    dilation_percent_max_px: float = math.inf,
    feather_px: float = 0.0,
    velocity: tuple[float, float] = (0.0, 0.0),
    age_s: float = 0.0,
    speed_bound: float = 0.0,
) -> tuple[Box, np.ndarray] | None:
    """Alpha of one object's grown mask, on the region of the frame it touches.

    ``box`` must be the mask's exact bounding box (``MaskSet.boxes``, or
    :func:`bounding_box`): only the box is read, so a smaller one would leak pixels.
    The mask is swept along ``velocity * age_s`` (when ``age_s > 0``), then
    dilated by :func:`dilation_radius` plus :func:`motion_margin` (of the larger of the
    object's speed and ``speed_bound``, px/s: how fast it may be moving), then
    feathered outward. Returns ``(box, alpha)``: ``alpha`` is (box.height,
    box.width) uint8, 255 (fully hidden) on every pixel of the grown mask,
    ramping to 0 over ``feather_px`` outside it; None when the mask (its box) is empty.

    Example:
        >>> m = np.zeros((20, 20), bool); m[10, 10] = True
        >>> box, alpha = object_alpha(m, Box(10, 10, 11, 11), dilation_px=2, dilation_percent=0)
        >>> box, int((alpha == 255).sum())
        (Box(x0=7, y0=7, x1=14, y1=14), 13)
    """
    import cv2

    if box.width <= 0 or box.height <= 0:
        return None
    x0, y0, x1, y1 = box.x0, box.y0, box.x1, box.y1
    height, width = mask.shape
    radius = dilation_radius(box, px=dilation_px, percent=dilation_percent, percent_max_px=dilation_percent_max_px)
    dx = dy = 0.0
    if age_s > 0:
        vx, vy = float(velocity[0]), float(velocity[1])
        if not (math.isfinite(vx) and math.isfinite(vy) and math.isfinite(age_s)):
            raise ValueError(
                f"object velocity: expected finite px/s and age, got ({vx}, {vy}) px/s, {age_s} s"
            )
        dx, dy = vx * age_s, vy * age_s
        speed = max(math.hypot(vx, vy), speed_bound)
        if not math.isfinite(speed):
            raise ValueError(f"object speed bound: expected finite px/s, got {speed_bound}")
        radius += motion_margin(speed_px_s=speed, age_s=age_s, size_px=max(x1 - x0, y1 - y0))
        # A path longer than the frame leaves it: shorten it (same direction) to bound the work.
        scale = min(1.0, width / max(abs(dx), 1e-9), height / max(abs(dy), 1e-9))
        dx, dy = dx * scale, dy * scale
    radius = min(radius, math.hypot(width, height))  # beyond this every pixel is covered anyway
    reach = math.ceil(radius + feather_px) + 1
    # The box and its moved copy, grown by `reach`, clipped to the frame.
    region = Box(
        max(0, x0 + min(0, math.floor(dx)) - reach),
        max(0, y0 + min(0, math.floor(dy)) - reach),
        min(width, x1 + max(0, math.ceil(dx)) + reach),
        min(height, y1 + max(0, math.ceil(dy)) + reach),
    )
    grid = 1 + int(radius // _GRID_CELLS_PER_RADIUS)

    # The object's pixels on a grid of `grid`-pixel cells anchored at the box's corner: a cell
    # is marked when any of its pixels is (max over the cell, anchored at its top-left pixel,
    # then one pixel per cell). Only the box is read: outside it the mask is empty, so the
    # cells out to the region are zeros added around it.
    cells: np.ndarray = mask[y0:y1, x0:x1].view(np.uint8)
    if grid > 1:
        cells = cv2.dilate(cells, _block(grid), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT, borderValue=0)
        cells = cells[::grid, ::grid]
    left, top = -(-(x0 - region.x0) // grid), -(-(y0 - region.y0) // grid)
    rows, cols = -(-(region.y1 - y0) // grid) + top, -(-(region.x1 - x0) // grid) + left
    origin_x, origin_y = x0 - left * grid, y0 - top * grid  # frame position of the first cell
    # `outside` is 1 off the object's cells, 0 on them: distanceTransform measures to its zeros.
    outside = np.ones((rows, cols), np.uint8)
    np.equal(cells, 0, out=outside[top : top + cells.shape[0], left : left + cells.shape[1]].view(np.bool_))
    moving = bool(dx or dy)
    if moving:  # sweeping the object's cells (a dilation) is eroding the cells off it
        outside = _sweep_outside(outside, dx / grid, dy / grid)

    # Distance (in cells) of every cell to the footprint (the zeros of `outside`). A pixel
    # within `radius` of the object lies in a cell within (radius + (grid - 1) * sqrt 2) / grid
    # of a marked cell; a sweep adds up to sqrt(2) / 2 cell for rounding its shift and
    # sqrt(5) / 2 for drawing it (a point of the exact segment to the nearest drawn cell).
    distance = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    inside = (radius + (grid - 1) * math.sqrt(2)) / grid + (_SWEEP_SLACK if moving else 0.0)
    if feather_px > 0:
        # >= 255 wherever distance <= inside, so the grown mask stays fully hidden.
        ramp = feather_px / grid
        alpha = np.clip((inside + ramp - distance) * (255.0 / ramp), 0, 255).astype(np.uint8)
    else:
        alpha = (distance <= inside).view(np.uint8) * np.uint8(255)
    if grid > 1:
        if feather_px > 0:
            # Smooth ramp from linear upscaling; cells fully inside stay 255 in all their pixels.
            covered = enlarge((alpha == 255).view(np.uint8) * np.uint8(255), grid)
            alpha = cv2.resize(alpha, (cols * grid, rows * grid), interpolation=cv2.INTER_LINEAR)
            np.maximum(alpha, covered, out=alpha)
        else:
            alpha = enlarge(alpha, grid)
    top, left = region.y0 - origin_y, region.x0 - origin_x
    return region, alpha[top : top + region.height, left : left + region.width]


def _per_object(masks: np.ndarray, velocities: np.ndarray | None = None, **grow: float) -> np.ndarray:
    """(n, H, W) uint8 alphas: :func:`object_alpha` of each mask pasted back at frame size."""
    out = np.zeros(masks.shape, np.uint8)
    for i, (mask, box) in enumerate(zip(masks, mask_boxes(masks).tolist())):
        velocity = (0.0, 0.0) if velocities is None else (float(velocities[i][0]), float(velocities[i][1]))
        result = object_alpha(mask, Box(*box), velocity=velocity, **grow)
        if result is not None:
            box, alpha = result
            out[i][box.slices] = alpha
    return out


def dilate(masks: np.ndarray, *, px: float, percent: float, percent_max_px: float = math.inf) -> np.ndarray:
    """(n, H, W) bool masks grown by ``max(px, percent % of each object's diagonal)``, the
    percentage's part at most ``percent_max_px`` (see :func:`dilation_radius`).

    Example:
        >>> m = np.zeros((1, 9, 9), bool); m[0, 4, 4] = True
        >>> int(dilate(m, px=1, percent=0).sum())
        5
    """
    return _per_object(masks, dilation_px=px, dilation_percent=percent, dilation_percent_max_px=percent_max_px) == 255


def follow_motion(masks: np.ndarray, velocities: np.ndarray, age_s: float) -> np.ndarray:
    """(n, H, W) bool masks ``age_s`` old grown along their motion, so they cover the object now.

    Each mask is swept from where it was to where its velocity (px/s, (x, y))
    has carried it after ``age_s``, plus :func:`motion_margin`.
    """
    return _per_object(masks, velocities, dilation_px=0, dilation_percent=0, age_s=age_s) == 255


def feather(masks: np.ndarray, feather_px: float) -> np.ndarray:
    """(n, H, W) uint8 alpha: 255 on each mask, ramping to 0 over ``feather_px`` outside it."""
    return _per_object(masks, dilation_px=0, dilation_percent=0, feather_px=feather_px)
