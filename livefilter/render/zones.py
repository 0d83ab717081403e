"""Static privacy zones: polygons that are always redacted, whatever the engine sees.

A zone is a polygon in pixels or in fractions of the frame. ``hide`` zones are redacted;
``show`` zones invert that: once any is enabled, everything *outside* them is redacted
(only those regions are ever shown). :func:`zone_mask` rasterises a set of zones to one
(H, W) bool mask, the pixels the compositor must redact on every frame (it fuses them
with the engine's masks in the same pass, see :class:`~livefilter.render.compositor.Compositor`).

:class:`ZoneBoard` holds one camera's zones, lets them be switched on and off from any
thread, and keeps the rasterised mask per frame size until the zones change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

__all__ = ["Zone", "ZoneBoard", "fill_polygon", "zone_mask"]

ZoneMode = Literal["hide", "show"]

@dataclass(frozen=True, slots=True)
class Zone:
    """One polygon.

    Attributes:
        name: unique per camera (the API switches zones by name).
        points: ``(x, y)`` vertices, at least 3; pixels, or fractions of width/height.
        fraction: True when ``points`` are fractions of the frame (0..1).
        mode: ``hide`` (redact inside) or ``show`` (redact everything outside all show zones).
        enabled: whether it applies.
    """

    name: str
    points: tuple[tuple[float, float], ...]
    fraction: bool = True
    mode: ZoneMode = "hide"
    enabled: bool = True

    def __post_init__(self) -> None:
        if len(self.points) < 3:
            raise ValueError(f"Zone {self.name!r}: expected at least 3 points, got {len(self.points)}")
        if self.mode not in ("hide", "show"):
            raise ValueError(f"Zone {self.name!r}: expected mode 'hide' or 'show', got {self.mode!r}")

    def pixels(self, height: int, width: int) -> np.ndarray:
        """(n, 2) float64 vertices in pixel coordinates of a ``width`` x ``height`` frame.

        Fractions map 0 to the frame's left/top edge and 1 to its right/bottom edge, so
        ``(0, 0), (1, 0), (1, 1), (0, 1)`` covers every pixel.
        """
        points = np.asarray(self.points, np.float64)
        if self.fraction:
            points = points * np.array([width, height], np.float64)
        return points


def zone_mask(zones: Iterable[Zone], height: int, width: int) -> np.ndarray | None:
    """The pixels ``zones`` redact on a ``width`` x ``height`` frame; None when none do.

    A pixel belongs to a polygon when its centre lies inside it (even-odd rule; a centre on
    a left or top edge is inside, on a right or bottom edge outside), so polygons drawn
    along pixel edges cover exactly the pixels they enclose, and the fractions
    ``(0, 0), (1, 0), (1, 1), (0, 1)`` cover the whole frame. Disabled zones are ignored.

    Example:
        >>> z = Zone("door", ((1, 1), (3, 1), (3, 3), (1, 3)), fraction=False)
        >>> zone_mask([z], 4, 5).astype(int)
        array([[0, 0, 0, 0, 0],
               [0, 1, 1, 0, 0],
               [0, 1, 1, 0, 0],
               [0, 0, 0, 0, 0]])
        >>> show = Zone("drive", ((0, 0), (0.5, 0), (0.5, 1), (0, 1)), mode="show")
        >>> zone_mask([show], 2, 4).astype(int)
        array([[0, 0, 1, 1],
               [0, 0, 1, 1]])
    """
    enabled = [zone for zone in zones if zone.enabled]
    if not enabled:
        return None
    hide = np.zeros((height, width), np.bool_)
    show = np.zeros((height, width), np.bool_)
    for zone in enabled:
        fill_polygon(show if zone.mode == "show" else hide, zone.pixels(height, width))
    redact = hide
    if any(zone.mode == "show" for zone in enabled):
        redact |= ~show
    if not redact.any():
        return None
    redact.flags.writeable = False
    return redact


def fill_polygon(out: np.ndarray, vertices: np.ndarray) -> None:
    """Set ``out`` (H, W bool, in place) on every pixel whose centre lies inside the polygon
    ``vertices`` ((n, 2) x, y in pixels), by scanlines through the pixel centres."""
    height, width = out.shape
    x0, y0 = vertices[:, 0], vertices[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    top, bottom = max(0, int(np.floor(y0.min()))), min(height, int(np.ceil(y0.max())) + 1)
    for row in range(top, bottom):
        yc = row + 0.5
        crossing = ((y0 <= yc) & (yc < y1)) | ((y1 <= yc) & (yc < y0))
        if not crossing.any():
            continue
        xa, ya, xb, yb = x0[crossing], y0[crossing], x1[crossing], y1[crossing]
        xs = np.sort(xa + (yc - ya) * (xb - xa) / (yb - ya))
        for left, right in zip(xs[0::2], xs[1::2]):
            # centre x + 0.5 in [left, right)  <=>  ceil(left - 0.5) <= x < ceil(right - 0.5)
            start = min(width, max(0, int(np.ceil(left - 0.5))))
            stop = min(width, max(0, int(np.ceil(right - 0.5))))
            out[row, start:stop] = True


class ZoneBoard:
    """One camera's zones, switchable from any thread; the compositor asks it for the mask.

    Example:
        >>> board = ZoneBoard([Zone("a", ((0, 0), (2, 0), (2, 2), (0, 2)), fraction=False)])
        >>> int(board.mask(4, 4).sum())
        4
        >>> board.set_enabled("a", False).enabled, board.mask(4, 4) is None
        (False, True)
    """

    def __init__(self, zones: Sequence[Zone] = ()) -> None:
        names = [zone.name for zone in zones]
        if len(set(names)) != len(names):
            raise ValueError(f"ZoneBoard: expected unique zone names, got {names}")
        self._lock = threading.Lock()
        self._zones = {zone.name: zone for zone in zones}
        self._cache: tuple[int, int, np.ndarray | None] | None = None

    @property
    def zones(self) -> tuple[Zone, ...]:
        with self._lock:
            return tuple(self._zones.values())

    def set_enabled(self, name: str, enabled: bool) -> Zone:
        """Switch zone ``name`` on or off (from the next frame on); returns the zone."""
        with self._lock:
            if name not in self._zones:
                raise KeyError(f"no zone named {name!r}; zones: {', '.join(self._zones) or 'none'}")
            zone = self._zones[name] = replace(self._zones[name], enabled=enabled)
            self._cache = None
            return zone

    def add(self, zone: Zone) -> Zone:
        """Add ``zone`` (applies from the next frame on); ValueError when its name is taken.

        Example:
            >>> board = ZoneBoard()
            >>> board.add(Zone("b", ((0, 0), (1, 0), (1, 1)), fraction=False)).name
            'b'
            >>> board.remove("b").name, board.zones
            ('b', ())
        """
        with self._lock:
            if zone.name in self._zones:
                raise ValueError(f"a zone named {zone.name!r} exists; delete it first or choose another name")
            self._zones[zone.name] = zone
            self._cache = None
            return zone

    def remove(self, name: str) -> Zone:
        """Remove zone ``name`` (from the next frame on); returns it. KeyError when there is none."""
        with self._lock:
            if name not in self._zones:
                raise KeyError(f"no zone named {name!r}; zones: {', '.join(self._zones) or 'none'}")
            zone = self._zones.pop(name)
            self._cache = None
            return zone

    def replace(self, zones: Sequence[Zone]) -> None:
        """Use ``zones`` from the next frame on (a reloaded config)."""
        names = [zone.name for zone in zones]
        if len(set(names)) != len(names):
            raise ValueError(f"ZoneBoard: expected unique zone names, got {names}")
        with self._lock:
            self._zones = {zone.name: zone for zone in zones}
            self._cache = None

    def mask(self, height: int, width: int) -> np.ndarray | None:
        """The read-only (H, W) bool mask of pixels to redact, or None (built once per size and change)."""
        with self._lock:
            cache = self._cache
            if cache is None or cache[:2] != (height, width):
                cache = self._cache = (height, width, zone_mask(self._zones.values(), height, width))
            return cache[2]
