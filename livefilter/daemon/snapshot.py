"""A camera's newest published frame, for ``GET /api/cameras/NAME/snapshot.jpg``.

:class:`SnapshotSink` is one more sink of the camera's pipeline (a live one: it keeps only
the newest frame and never holds up the render). Like every sink it is handed only
:class:`~livefilter.types.RedactedFrame` values, the compositor's output, so the snapshot is
exactly what the camera's other outputs publish: redacted, and fully redacted while the
camera fails closed. It has no access to the capture side; a raw frame cannot reach it.
"""

from __future__ import annotations

import threading

import cv2

from livefilter.lifecycle import Lifecycle
from livefilter.sinks.base import require_redacted
from livefilter.types import RedactedFrame

__all__ = ["SnapshotSink", "encode_jpeg"]

JPEG_QUALITY = 85


class SnapshotSink(Lifecycle):
    """Keeps the newest published frame (thread-safe; read with :meth:`latest`).

    Example:
        >>> import numpy as np
        >>> from livefilter.config.render import RenderConfig
        >>> from livefilter.render import Compositor
        >>> from livefilter.types import Frame
        >>> sink = SnapshotSink()
        >>> sink.latest() is None
        True
        >>> frame = Frame(np.full((2, 2, 3), 200, np.uint8), index=7, t_capture=0.0)
        >>> sink.write(Compositor(RenderConfig()).redact_all(frame, reason="no_masks_yet"))
        >>> sink.latest().index, sink.latest().fully_redacted
        (7, True)
    """

    name = "snapshot"
    lossless = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: RedactedFrame | None = None

    def open(self) -> None:
        pass

    def write(self, frame: RedactedFrame) -> None:
        require_redacted(frame, "SnapshotSink.write")
        with self._lock:
            self._frame = frame

    def close(self) -> None:
        pass

    def latest(self) -> RedactedFrame | None:
        with self._lock:
            return self._frame


def encode_jpeg(frame: RedactedFrame, quality: int = JPEG_QUALITY) -> bytes:
    """``frame``'s picture as JPEG bytes (only a :class:`RedactedFrame` is accepted)."""
    require_redacted(frame, "encode_jpeg")
    ok, data = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f"encode_jpeg: OpenCV could not encode a {frame.image.shape} picture")
    return bytes(data.tobytes())
