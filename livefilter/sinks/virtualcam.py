"""A virtual webcam for video calls, through pyvirtualcam (v4l2loopback on Linux, OBS elsewhere).

Frames are BGR, so the camera is created with ``PixelFormat.BGR`` and pyvirtualcam's backend
converts. The camera is created at the first frame, whose size it keeps. When the device or
module is missing, :meth:`VirtualCamSink.open` (Linux) or the first :meth:`write` raises one
:class:`SinkError` with the setup steps.
"""

from __future__ import annotations

import glob
import logging
import os
import sys
from typing import Any

from livefilter.config.sinks import VirtualCamSinkConfig
from livefilter.errors import DependencyError, SinkError
from livefilter.lifecycle import Lifecycle
from livefilter.types import RedactedFrame

__all__ = ["SETUP_HINT", "VirtualCamSink", "loopback_devices"]

logger = logging.getLogger(__name__)

SETUP_HINT = (
    "Linux: load the v4l2loopback module (package v4l2loopback-dkms): "
    "`sudo modprobe v4l2loopback devices=1 video_nr=10 card_label=livefilter exclusive_caps=1`, "
    "then use device /dev/video10 (with Secure Boot on, the module must be signed or enrolled "
    "with mokutil first). Windows/macOS: install OBS Studio and start its Virtual Camera once."
)

_SYSFS_VIDEO = "/sys/devices/virtual/video4linux"


def loopback_devices(sysfs: str = _SYSFS_VIDEO) -> list[str]:
    """``/dev/videoN`` of every v4l2loopback device (they are the only *virtual* video4linux devices)."""
    names = (os.path.basename(p) for p in glob.glob(os.path.join(sysfs, "video*")))
    return sorted((f"/dev/{name}" for name in names), key=lambda p: (len(p), p))


class VirtualCamSink(Lifecycle):
    """Sends redacted frames to a virtual camera at the output rate."""

    lossless = False

    def __init__(self, config: VirtualCamSinkConfig, *, fps: float) -> None:
        if fps <= 0:
            raise ValueError(f"VirtualCamSink fps: expected > 0, got {fps}")
        self.config = config
        self.fps = config.fps or fps
        self.name = f"virtualcam {config.device or config.backend or 'auto'}"
        self.reconnect_backoff = (1.0, 10.0)
        self._pyvirtualcam: Any = None  # the module, once open() imported it
        self._camera: Any = None

    def open(self) -> None:
        try:
            import pyvirtualcam  # type: ignore[import-untyped]
        except ImportError:
            raise DependencyError("sink 'virtualcam' needs pyvirtualcam: pip install pyvirtualcam") from None
        self._pyvirtualcam = pyvirtualcam
        known = getattr(pyvirtualcam.camera, "BACKENDS", None)  # not public API: checked only if there
        if self.config.backend is not None and known is not None and self.config.backend not in known:
            raise SinkError(
                f"{self.name}: pyvirtualcam has no backend {self.config.backend!r}; "
                f"available here: {', '.join(sorted(known)) or 'none'}"
            )
        if sys.platform.startswith("linux") and self.config.backend in (None, "v4l2loopback"):
            self._check_loopback()

    def _check_loopback(self) -> None:
        """Fail at start-up, not at the first frame, when no loopback device can exist."""
        devices = loopback_devices()
        wanted = self.config.device
        if wanted is not None and not os.path.exists(wanted):
            found = f"loopback devices: {', '.join(devices)}" if devices else "no loopback device exists"
            raise SinkError(f"virtual camera {wanted} does not exist ({found}). {SETUP_HINT}")
        if wanted is None and not devices:
            raise SinkError(f"no virtual camera device found. {SETUP_HINT}")

    def write(self, frame: RedactedFrame) -> None:
        if not isinstance(frame, RedactedFrame):
            raise TypeError(f"VirtualCamSink.write: expected RedactedFrame, got {type(frame).__name__}")
        if self._pyvirtualcam is None:
            raise SinkError(f"{self.name}: write() before open()")
        if self._camera is None:
            self._camera = self._create_camera(frame.width, frame.height)
        try:
            self._camera.send(frame.image)
        except (ValueError, TypeError) as error:
            raise SinkError(f"{self.name}: {error} (the virtual camera keeps its first frame size)") from None
        except Exception as error:  # noqa: BLE001 - backends raise what their device gives them
            raise SinkError(f"{self.name}: sending a frame failed: {error}") from None

    def _create_camera(self, width: int, height: int):  # type: ignore[no-untyped-def]
        pyvirtualcam, cfg = self._pyvirtualcam, self.config
        try:
            camera = pyvirtualcam.Camera(
                width, height, self.fps, fmt=pyvirtualcam.PixelFormat.BGR,
                device=cfg.device, backend=cfg.backend,
            )
        except KeyError:
            raise SinkError(f"{self.name}: pyvirtualcam has no backend {cfg.backend!r}") from None
        except Exception as error:  # noqa: BLE001 - pyvirtualcam raises RuntimeError, backends anything
            # pyvirtualcam lists each backend's reason, one per line.
            reasons = "; ".join(line for line in str(error).splitlines() if line)
            raise SinkError(f"cannot start the virtual camera ({reasons}). {SETUP_HINT}") from None
        logger.info("virtual camera %s (%s backend): %dx%d at %g fps", camera.device, camera.backend,
                    width, height, self.fps)
        return camera

    @property
    def device(self) -> str | None:
        """The device in use, once the first frame created the camera."""
        return None if self._camera is None else self._camera.device

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            camera.close()
