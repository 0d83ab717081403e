"""Pixel work: grow masks (``masks``), hide pixels (``redactors``), build safe frames (``compositor``)."""

from livefilter.render.compositor import Compositor

__all__ = ["Compositor"]
