"""Pace a recorded or synthetic stream like a live camera.

Shared by the demo, file and image sources when ``realtime`` is on: each frame is
released at its media time, measured from the first frame's wall-clock time.
"""

from __future__ import annotations

import logging
import time

__all__ = ["Pacer"]

logger = logging.getLogger(__name__)


class Pacer:
    """Sleeps until a frame's media time is due; never drops or reorders frames.

    A caller that falls more than ``resync_s`` behind (e.g. a slow decoder, a paused
    process) is re-anchored instead of bursting frames to catch up, as a camera would.
    """

    def __init__(self, *, resync_s: float = 1.0) -> None:
        self.resync_s = resync_s
        self._anchor: tuple[float, float] | None = None  # (wall clock, media time)

    def reset(self) -> None:
        self._anchor = None

    def wait(self, media_time: float) -> None:
        """Return when ``media_time`` (seconds) is due."""
        now = time.monotonic()
        if self._anchor is None:
            self._anchor = (now, media_time)
            return
        wall0, media0 = self._anchor
        delay = wall0 + (media_time - media0) - now
        if delay > 0:
            time.sleep(delay)
        elif -delay > self.resync_s:
            logger.debug("pacing: %.2f s behind, re-anchoring", -delay)
            self._anchor = (now, media_time)
