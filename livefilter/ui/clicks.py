"""Click-to-track marks shared by the live and video tabs.

With SAM3, clicks and boxes go to the engine's own click API. With the CPU face engine they
become static zones (:class:`ClickZones`), redacted on every frame in the compositor's pass
(the daemon's zone rasteriser, :func:`~livefilter.render.zones.zone_mask`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from livefilter.render.zones import Zone, zone_mask

__all__ = ["ClickZones", "Mark", "click_box", "send_marks"]


def click_box(x: float, y: float, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The zone a positive click makes with the CPU engine: a square of a fifth of the frame's
    smaller side (``size`` is width, height) centred on the click.

    Example:
        >>> click_box(100, 50, (640, 480))
        (52.0, 2.0, 148.0, 98.0)
    """
    side = max(16, min(size) // 5)
    return (x - side / 2, y - side / 2, x + side / 2, y + side / 2)


@dataclass(frozen=True, slots=True)
class Mark:
    """A click ``point`` (positive: on an object; negative: not) or a ``box`` (x0, y0, x1, y1),
    in frame pixels, made on a frame of a video."""

    point: tuple[float, float] | None = None
    positive: bool = True
    box: tuple[float, float, float, float] | None = None

    def describe(self) -> str:
        if self.box is not None:
            return "box ({:.0f}, {:.0f}) - ({:.0f}, {:.0f})".format(*self.box)
        assert self.point is not None
        return f"{'+' if self.positive else '-'}click ({self.point[0]:.0f}, {self.point[1]:.0f})"


class ClickZones:
    """Static zones added by clicks, as the compositor's
    :class:`~livefilter.render.compositor.StaticMask`. Thread-safe: clicks come from the page,
    ``mask`` from the render thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._zones: list[Zone] = []
        self._cache: tuple[int, int, np.ndarray | None] | None = None

    @property
    def zones(self) -> tuple[Zone, ...]:
        with self._lock:
            return tuple(self._zones)

    def add_box(self, box: tuple[float, float, float, float], name: str) -> Zone:
        x0, y0, x1, y1 = box
        zone = Zone(name, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)), fraction=False)
        with self._lock:
            self._zones.append(zone)
            self._cache = None
        return zone

    def remove_at(self, x: float, y: float) -> int:
        """Remove the zones containing (x, y); returns how many."""
        with self._lock:
            keep = [z for z in self._zones if not _inside(x, y, z)]
            removed = len(self._zones) - len(keep)
            self._zones, self._cache = keep, None
        return removed

    def clear(self) -> None:
        with self._lock:
            self._zones, self._cache = [], None

    def mask(self, height: int, width: int) -> np.ndarray | None:
        with self._lock:
            cache = self._cache
            if cache is None or cache[:2] != (height, width):
                cache = self._cache = (height, width, zone_mask(self._zones, height, width))
            return cache[2]

    @classmethod
    def from_marks(cls, marks: Sequence[Mark], size: tuple[int, int]) -> ClickZones:
        """The zones ``marks`` make with the CPU engine, in order (a negative click removes zones)."""
        zones = cls()
        for i, mark in enumerate(marks, 1):
            if mark.box is not None:
                zones.add_box(mark.box, f"click-{i}")
            elif mark.point is not None and mark.positive:
                zones.add_box(click_box(*mark.point, size), f"click-{i}")
            elif mark.point is not None:
                zones.remove_at(*mark.point)
        return zones


def send_marks(engine: Any, marks: Sequence[Mark], frame_index: int) -> None:
    """Queue ``marks`` on a SAM3 engine for ``frame_index``: each positive click or box starts
    an object; a negative click refines the latest one."""
    object_id = 0
    for mark in marks:
        if mark.box is not None:
            object_id += 1
            engine.add_box(frame_index, mark.box, object_id)
        elif mark.point is not None:
            if mark.positive or object_id == 0:
                object_id += 1
            engine.add_points(frame_index, [mark.point], [1 if mark.positive else 0], object_id)


def _inside(x: float, y: float, zone: Zone) -> bool:
    xs = [p[0] for p in zone.points]
    ys = [p[1] for p in zone.points]
    return min(xs) <= x < max(xs) and min(ys) <= y < max(ys)
