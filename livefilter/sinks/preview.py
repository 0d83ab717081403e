"""``kind: preview``: show the redacted output in a local window (OpenCV ``imshow``).

A preview is a convenience, never a reason to stop: without a display (SSH, a
container, a service) or with an OpenCV built without GUI support, ``open()`` logs one
warning and the sink does nothing. The window is created from the sink's own thread on
the first frame; if the user closes it, the preview stays off.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from collections import deque

import numpy as np

from livefilter.config.sinks import PreviewSinkConfig
from livefilter.lifecycle import Lifecycle
from livefilter.sinks.base import require_redacted
from livefilter.types import RedactedFrame

__all__ = ["PreviewSink", "display_problem", "draw_overlay"]

logger = logging.getLogger(__name__)

# A window is tried in a child process first: Qt and GTK abort the whole process
# (not raise) when the display exists on paper but cannot be reached.
_PROBE = "import cv2; cv2.namedWindow('livefilter-probe'); cv2.waitKey(1); cv2.destroyAllWindows()"
_PROBE_TIMEOUT_S = 20.0


def _opencv_has_gui() -> bool:
    import cv2

    match = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    return match is None or match.group(1).upper() != "NONE"


def display_problem() -> str | None:
    """Why no window can be shown here, or None when one can."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "no display (DISPLAY and WAYLAND_DISPLAY are not set: headless, SSH or a service)"
    if not _opencv_has_gui():
        return "OpenCV was built without GUI support (opencv-python-headless?); pip install opencv-python"
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE],
            check=False,
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"could not test the display ({error})"
    if probe.returncode != 0:
        detail = (probe.stderr.strip().splitlines() or [f"exit code {probe.returncode}"])[-1]
        return f"cannot open a window on the display ({detail})"
    return None


def draw_overlay(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """A copy of ``image`` with ``lines`` of text in a dark box at the top left."""
    import cv2

    out = image.copy()
    scale = max(0.4, min(out.shape[:2]) / 900)
    thickness = max(1, round(scale * 1.5))
    height = int(22 * scale * 1.6)
    width = max(
        (cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0][0] for line in lines), default=0
    )
    box = out[: height * len(lines) + height // 2, : width + height]
    box //= 3  # darken in place so the text reads on any picture
    for i, line in enumerate(lines):
        origin = (height // 2, height * (i + 1))
        cv2.putText(
            out, line, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA
        )
    return out


class PreviewSink(Lifecycle):
    """A window titled ``config.title``; live (may skip frames), never fatal."""

    lossless = False

    def __init__(self, config: PreviewSinkConfig, *, fps: float) -> None:
        self.config = config
        self.fps = fps
        self.name = "preview"
        self.enabled = False
        self._window = False
        self._shown: deque[float] = deque(maxlen=30)  # display times, for the fps overlay

    def open(self) -> None:
        problem = display_problem()
        self.enabled = problem is None
        if problem is not None:
            logger.warning("preview: %s; the preview window is off, other outputs are unaffected", problem)

    def _stats(self, frame: RedactedFrame, now: float) -> list[str]:
        shown = self._shown
        fps = (len(shown) - 1) / (shown[-1] - shown[0]) if len(shown) > 1 and shown[-1] > shown[0] else 0.0
        lines = [f"{fps:4.1f} fps   latency {1000 * (now - frame.t_capture):4.0f} ms"]
        if frame.fully_redacted:
            lines.append(f"FULLY REDACTED: {frame.reason or 'fail-closed'}")
        elif frame.mask_frame_index is not None:
            lines.append(f"masks {frame.index - frame.mask_frame_index} frame(s) old")
        return lines

    def write(self, frame: RedactedFrame) -> None:
        require_redacted(frame, "PreviewSink.write")
        if not self.enabled:
            return
        import cv2

        now = time.monotonic()
        self._shown.append(now)
        image = draw_overlay(frame.image, self._stats(frame, now)) if self.config.show_stats else frame.image
        title = self.config.title
        try:
            cv2.imshow(title, image)
            self._window = True
            cv2.waitKey(1)
            if cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) < 1:
                logger.info("preview: window closed; the preview stays off (other outputs continue)")
                self._close_window()
                self.enabled = False
        except cv2.error as error:
            logger.warning("preview: OpenCV cannot show the window (%s); the preview is off", error)
            self.enabled = False

    def _close_window(self) -> None:
        import cv2

        if self._window:
            self._window = False
            try:
                cv2.destroyWindow(self.config.title)
                cv2.waitKey(1)
            except cv2.error:
                logger.debug("preview: window already gone", exc_info=True)

    def close(self) -> None:
        self._close_window()
        self.enabled = False
