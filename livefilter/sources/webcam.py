"""A local camera through OpenCV (V4L2 on Linux, the platform default elsewhere).

OpenCV does not raise when a camera is missing: it prints a warning and ``isOpened()`` is
False. So :meth:`WebcamSource.open` first checks the device itself (on Linux) and says what is
missing, which devices exist and what to do. An unplugged camera makes :meth:`WebcamSource.read`
raise :class:`SourceError`; the capture thread reopens it with :attr:`reconnect_backoff`.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import stat
import sys
import time
from typing import Any

from livefilter.config.source import WebcamSourceConfig
from livefilter.errors import DependencyError, SourceError
from livefilter.lifecycle import Lifecycle
from livefilter.types import Frame

__all__ = ["WebcamSource", "device_path", "device_problem"]

logger = logging.getLogger(__name__)


def device_path(device: int | str) -> str | None:
    """The V4L2 device file for ``device`` on Linux (``0`` → ``/dev/video0``), else None.

    Example:
        >>> device_path(2), device_path("/dev/video4"), device_path("4")
        ('/dev/video2', '/dev/video4', '/dev/video4')
    """
    if isinstance(device, int) or device.isdigit():
        return f"/dev/video{int(device)}"
    return device if device.startswith("/") else None


def device_problem(path: str) -> str | None:
    """Why the V4L2 device ``path`` cannot be opened, in words for the user, or None if it looks usable."""
    existing = sorted(glob.glob("/dev/video*"), key=lambda p: (len(p), p))
    found = f"existing video devices: {', '.join(existing)}" if existing else "no /dev/video* device exists"
    if not os.path.exists(path):
        return (
            f"camera {path} does not exist ({found}). Plug the camera in, or set "
            "source.device to one of the existing devices (see `v4l2-ctl --list-devices`)."
        )
    if not stat.S_ISCHR(os.stat(path).st_mode):
        return f"{path} is not a video device (not a character device); {found}."
    if not os.access(path, os.R_OK | os.W_OK):
        return (
            f"no permission to open {path}. Add your user to the 'video' group "
            "(`sudo usermod -aG video $USER`, then log in again)."
        )
    return None


class WebcamSource(Lifecycle):
    """Frames from a local camera, at the requested size and rate when the camera offers them."""

    live = True

    def __init__(self, config: WebcamSourceConfig) -> None:
        self.config = config
        self.name = f"webcam {config.device}"
        self.reconnect_backoff = (config.reconnect_min_s, config.reconnect_max_s)
        self._capture: Any = None  # cv2.VideoCapture while open
        self._next_index = 0
        self._fps: float | None = config.fps

    @property
    def nominal_fps(self) -> float | None:
        return self._fps

    def open(self) -> None:
        cfg = self.config
        on_linux = sys.platform.startswith("linux")
        path = device_path(cfg.device) if on_linux else None
        if path is not None:
            problem = device_problem(path)
            if problem:
                raise SourceError(problem)
            # OpenCV's V4L2 backend waits this long (10 s by default) for each frame of a stalled
            # camera; it reads the variable once, on the first capture of the process.
            os.environ.setdefault("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", str(math.ceil(cfg.read_timeout_s)))
        try:
            import cv2
        except ImportError:
            raise DependencyError("source 'webcam' needs OpenCV: pip install opencv-python") from None
        api = cv2.CAP_V4L2 if on_linux else cv2.CAP_ANY
        target = path if path is not None else cfg.device
        capture = cv2.VideoCapture(target, api)
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"OpenCV could not open camera {cfg.device!r}. Check that no other program uses it "
                "and that it is a capture device (not a metadata node)."
            )
        for prop, value in (
            (cv2.CAP_PROP_FRAME_WIDTH, cfg.width),
            (cv2.CAP_PROP_FRAME_HEIGHT, cfg.height),
            (cv2.CAP_PROP_FPS, cfg.fps),
        ):
            if value is not None:
                capture.set(prop, value)
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = capture.get(cv2.CAP_PROP_FPS)
        self._fps = float(fps) if fps and fps > 0 else cfg.fps
        if (cfg.width, cfg.height) != (None, None) and (width, height) != (cfg.width, cfg.height):
            logger.warning(
                "camera %s gives %dx%d instead of the requested %sx%s", cfg.device, width, height,
                cfg.width, cfg.height,
            )
        logger.info("opened camera %s: %dx%d at %s fps", cfg.device, width, height, self._fps)
        self._capture = capture

    def read(self) -> Frame:
        if self._capture is None:
            raise SourceError(f"camera {self.config.device!r} is not open")
        ok, image = self._capture.read()
        if not ok or image is None:
            raise SourceError(
                f"camera {self.config.device!r} stopped delivering frames (unplugged, or in use elsewhere)"
            )
        if image.ndim == 2:  # some cameras deliver grey frames
            image = image[:, :, None].repeat(3, axis=2)
        index, self._next_index = self._next_index, self._next_index + 1
        return Frame(image, index, time.monotonic(), source=self.name)

    def close(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()
