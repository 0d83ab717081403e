"""Where the CPU face detector looks on each frame: whole-frame passes and native-resolution tiles.

A face detector finds faces down to a fixed size *in its input* (RetinaFace-MobileNet:
~20 px). Downscaling a 1280x720 frame to 640 px halves every face, so a 30 px face drops
below what it can find. The engine therefore looks at the frame as a list of
:class:`Region` s, each a rectangle of the frame at a scale:

- **exact** schedule (file jobs): every frame, the whole frame at native resolution (scale 1),
  plus the whole frame downscaled when close-ups may outgrow the detector's largest anchors.
- **live** schedule (real-time sources): every detection call, the whole frame downscaled to
  ``input_width`` (large and fast faces) plus the next native-resolution tile in rotation, so
  every part of the frame is examined at full resolution once per ``period`` calls; tracks
  carry small faces between visits. The number of tiles follows the detector's cost measured
  on this machine (:func:`plan_live`).

Tiles overlap by at least the largest face a tile is responsible for (faces the downscaled
whole-frame pass may miss), so every such face lies whole inside some tile; detections are
merged across regions by non-maximum suppression in the engine.

Pure geometry, no image code.

Example:
    >>> [r.rect for r in tile_grid(1280, 720, cols=2, rows=2, overlap=96)]
    [(0, 0, 688, 408), (592, 0, 1280, 408), (0, 312, 688, 720), (592, 312, 1280, 720)]
    >>> whole_frame(1280, 720, 640).scale
    0.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "EXACT_EXTRA_PASS_ABOVE",
    "MIN_TILE_PX",
    "TILE_CONTEXT_PX",
    "LivePlan",
    "Region",
    "exact_regions",
    "plan_live",
    "tile_grid",
    "whole_frame",
]


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle of the frame (half-open pixel coordinates) and the scale it is detected at.

    Attributes:
        x0, y0, x1, y1: the rectangle in frame pixels.
        scale: detector pixels per frame pixel (1.0 = native resolution, never above 1).
    """

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not (0 <= self.x0 < self.x1 and 0 <= self.y0 < self.y1):
            raise ValueError(f"Region: expected 0 <= x0 < x1 and 0 <= y0 < y1, got {self.rect}")
        if not 0 < self.scale <= 1:
            raise ValueError(f"Region.scale: expected in (0, 1], got {self.scale}")

    @property
    def rect(self) -> tuple[int, int, int, int]:
        return self.x0, self.y0, self.x1, self.y1

    @property
    def pixels(self) -> int:
        """Detector input pixels this region costs."""
        return round((self.x1 - self.x0) * self.scale) * round((self.y1 - self.y0) * self.scale)


def whole_frame(width: int, height: int, input_width: int) -> Region:
    """The whole frame downscaled to ``input_width`` (never upscaled)."""
    return Region(0, 0, width, height, min(1.0, input_width / width))


def tile_grid(width: int, height: int, *, cols: int, rows: int, overlap: int) -> list[Region]:
    """``cols`` x ``rows`` native tiles covering the frame, neighbours overlapping by ``overlap`` px,
    row by row. A face up to ``overlap`` px wide and tall lies whole inside at least one tile."""
    if cols < 1 or rows < 1 or overlap < 0:
        raise ValueError(f"tile_grid: expected cols, rows >= 1 and overlap >= 0, got {cols}, {rows}, {overlap}")
    tw = min(width, math.ceil((width + (cols - 1) * overlap) / cols))
    th = min(height, math.ceil((height + (rows - 1) * overlap) / rows))
    xs = _starts(width, tw, cols)
    ys = _starts(height, th, rows)
    return [Region(x, y, x + tw, y + th) for y in ys for x in xs]


def _starts(length: int, tile: int, count: int) -> list[int]:
    if count == 1:
        return [0]
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


EXACT_EXTRA_PASS_ABOVE = 720
"""Exact schedule: frames taller than this also get a downscaled whole-frame pass, for
close-ups larger than the detector's biggest anchors (RetinaFace: 512 px)."""


def exact_regions(width: int, height: int, input_width: int) -> list[Region]:
    """Every frame of a file job: the whole frame at native resolution, plus the whole frame
    at ``input_width`` when the frame is taller than :data:`EXACT_EXTRA_PASS_ABOVE`."""
    regions = [Region(0, 0, width, height)]
    small = whole_frame(width, height, input_width)
    if height > EXACT_EXTRA_PASS_ABOVE and small.scale < 1:
        regions.append(small)
    return regions


@dataclass(frozen=True, slots=True)
class LivePlan:
    """The live schedule for one frame size.

    Attributes:
        whole: the downscaled whole-frame pass run on every detection call.
        tiles: native tiles, one per detection call in rotation (empty: the whole-frame pass
            is already at native resolution).
        overlap: pixels neighbouring tiles share (the largest face a tile answers for).
        call_ms: estimated detector time of one detection call (whole pass + one tile).
    """

    whole: Region
    tiles: tuple[Region, ...]
    overlap: int
    call_ms: float

    @property
    def period(self) -> int:
        """Detection calls until every part of the frame was seen at native resolution."""
        return max(1, len(self.tiles))

    def regions(self, call: int) -> list[Region]:
        """The regions of detection call number ``call`` (0, 1, 2, ...)."""
        if not self.tiles:
            return [self.whole]
        return [self.whole, self.tiles[call % len(self.tiles)]]

    def describe(self) -> str:
        w, h = self.whole.x1, self.whole.y1
        whole = f"whole frame at {round(w * self.whole.scale)}x{round(h * self.whole.scale)}"
        if not self.tiles:
            return f"{whole} (native) every call, ~{self.call_ms:.0f} ms per call"
        t = self.tiles[0]
        return (
            f"{whole} + 1 of {len(self.tiles)} native tiles ({t.x1 - t.x0}x{t.y1 - t.y0}, overlap "
            f"{self.overlap} px) per call, ~{self.call_ms:.0f} ms per call: every part of the frame "
            f"at full resolution every {self.period} detection calls"
        )


TILE_CONTEXT_PX = 32
"""Tiles overlap by the largest face they answer for plus this much context on either side: a
face right at a tile's border, with nothing around it, is found less reliably."""

MIN_TILE_PX = 320
"""No live tile is smaller than this (or than twice the overlap) on either side; smaller tiles
would be mostly overlap, and border effects of the detector's convolutions would dominate."""


def plan_live(
    width: int,
    height: int,
    *,
    input_width: int,
    min_face_px: float,
    ms_per_mpixel: float,
    budget_ms: float,
) -> LivePlan:
    """The live schedule: the whole frame at ``input_width`` plus the fewest native tiles whose
    detection fits ``budget_ms`` per call (at ``ms_per_mpixel``, the detector's cost measured on
    this machine), never tiles smaller than :data:`MIN_TILE_PX` or twice their overlap. When the
    whole-frame pass alone takes more than half the budget, a tile may cost as much as it.

    Tiles answer for faces the whole-frame pass may miss: those smaller than ``min_face_px``
    (the smallest face the detector finds in its input) in frame pixels; their overlap is that
    plus :data:`TILE_CONTEXT_PX` of context on either side.
    """
    whole = whole_frame(width, height, input_width)
    whole_ms = ms_per_mpixel * whole.pixels / 1e6
    if whole.scale >= 1:
        return LivePlan(whole, (), 0, whole_ms)
    overlap = math.ceil(min_face_px / whole.scale) + 2 * TILE_CONTEXT_PX
    # On a machine too slow for the budget, a tile may cost as much as the whole-frame pass:
    # smaller tiles would stretch the rotation (and the holds) without freshening masks much.
    tile_budget_px = max(budget_ms - whole_ms, whole_ms) / ms_per_mpixel * 1e6
    best: list[Region] | None = None
    for count in range(1, 65):  # fewest tiles that fit; grids as square as the frame allows
        cols = max(1, round(math.sqrt(count * width / height)))
        rows = math.ceil(count / cols)
        tiles = tile_grid(width, height, cols=cols, rows=rows, overlap=overlap)
        t = tiles[0]
        if min(t.x1 - t.x0, t.y1 - t.y0) < max(MIN_TILE_PX, 2 * overlap) and best is not None:
            break
        best = tiles
        if t.pixels <= tile_budget_px:
            break
    assert best is not None
    call_ms = whole_ms + ms_per_mpixel * best[0].pixels / 1e6
    return LivePlan(whole, tuple(best), overlap, call_ms)
