"""Publish redacted frames as H.264 to an RTSP server (mediamtx, go2rtc, gst-rtsp-server, ...).

The encoder is tuned for live viewing: x264 ``zerolatency`` (no lookahead, no B-frames) and a
short GOP so a viewer joins within ``gop`` frames. Publishing uses PyAV's RTSP muxer (RECORD)
with bounded I/O times, so a server that goes away turns into a :class:`SinkError` from
:meth:`RtspSink.write` within ``io_timeout_s``; the sink thread then closes this sink and calls
:meth:`RtspSink.open` again with backoff (:attr:`RtspSink.reconnect_backoff`), which republishes.
"""

from __future__ import annotations

import fractions
import logging
import time

from livefilter.config.sinks import RtspSinkConfig
from livefilter.errors import DependencyError, SinkError
from livefilter.secrets import redact_text, redact_url
from livefilter.types import RedactedFrame

__all__ = ["RtspSink", "encoder_options"]

logger = logging.getLogger(__name__)

_TIME_BASE = fractions.Fraction(1, 90_000)  # RTP's video clock


def encoder_options(config: RtspSinkConfig) -> dict[str, str]:
    """libx264 options for a live restream: no B-frames, no lookahead, fixed short GOP.

    Example:
        >>> opts = encoder_options(RtspSinkConfig(url="rtsp://127.0.0.1:8554/out", gop=15))
        >>> opts["bf"], opts["g"], opts["tune"]
        ('0', '15', 'zerolatency')
    """
    return {
        "preset": config.preset,
        "tune": "zerolatency",
        "bf": "0",
        "g": str(config.gop),
        "keyint_min": str(config.gop),
        "sc_threshold": "0",
        "b": str(config.bitrate_kbps * 1000),
        "maxrate": str(config.bitrate_kbps * 1000),
        "bufsize": str(config.bitrate_kbps * 1000),
    }


class RtspSink:
    """An RTSP publisher. The stream starts at the first frame (its size fixes the stream)."""

    lossless = False

    def __init__(self, config: RtspSinkConfig, *, fps: float, io_timeout_s: float = 5.0) -> None:
        if fps <= 0:
            raise ValueError(f"RtspSink fps: expected > 0, got {fps}")
        self.config = config
        self.fps = fps
        self.io_timeout_s = io_timeout_s
        self.url = redact_url(config.url)
        self.name = f"rtsp {self.url}"
        self.reconnect_backoff = (config.reconnect_min_s, config.reconnect_max_s)
        self._container = None
        self._stream = None
        self._size: tuple[int, int] | None = None
        self._t0 = 0.0
        self._last_pts = -1
        self._opened = False

    def open(self) -> None:
        """Check PyAV has libx264 and the RTSP muxer; the connection starts at the first frame."""
        try:
            import av
        except ImportError:
            raise DependencyError("sink 'rtsp' needs PyAV: pip install av") from None
        if "libx264" not in av.codecs_available or "rtsp" not in av.formats_available:
            raise DependencyError(
                "sink 'rtsp' needs a PyAV build with libx264 and the rtsp muxer "
                "(the PyPI wheels have both: pip install --force-reinstall av)"
            )
        self._opened = True

    def write(self, frame: RedactedFrame) -> None:
        if not isinstance(frame, RedactedFrame):
            raise TypeError(f"RtspSink.write: expected RedactedFrame, got {type(frame).__name__}")
        if not self._opened:
            raise SinkError(f"{self.name}: write() before open()")
        size = (frame.width, frame.height)
        if self._size is not None and size != self._size:
            raise SinkError(
                f"{self.name}: frame size changed from {self._size[0]}x{self._size[1]} to "
                f"{size[0]}x{size[1]}; an RTSP stream keeps one size"
            )
        if self._container is None:
            self._connect(*size)
        import av

        pts = max(round((time.monotonic() - self._t0) / _TIME_BASE), self._last_pts + 1)
        self._last_pts = pts
        picture = av.VideoFrame.from_ndarray(frame.image, format="bgr24")
        picture.pts = pts
        picture.time_base = _TIME_BASE
        try:
            for packet in self._stream.encode(picture):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as error:
            raise SinkError(
                f"lost RTSP server {self.url}: {redact_text(str(error))} (will republish)"
            ) from None

    def _connect(self, width: int, height: int) -> None:
        import av

        if width % 2 or height % 2:
            raise SinkError(f"{self.name}: H.264 needs an even width and height, got {width}x{height}")
        cfg = self.config
        options = {"rtsp_transport": cfg.transport, "timeout": str(int(self.io_timeout_s * 1_000_000))}
        try:
            container = av.open(
                cfg.url, mode="w", format="rtsp", options=options,
                timeout=(self.io_timeout_s, self.io_timeout_s),
            )
        except (av.FFmpegError, OSError) as error:
            raise SinkError(
                f"cannot reach RTSP server {self.url}: {redact_text(str(error))}. Is the server "
                "running and does it accept publishing (RECORD) on this path?"
            ) from None
        rate = fractions.Fraction(self.fps).limit_denominator(1001)
        stream = container.add_stream("libx264", rate=rate, options=encoder_options(cfg))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = _TIME_BASE
        try:
            container.start_encoding()
        except (av.FFmpegError, OSError) as error:
            _close_quietly(container)
            raise SinkError(
                f"RTSP server {self.url} refused the stream: {redact_text(str(error))}"
            ) from None
        self._container, self._stream, self._size = container, stream, (width, height)
        self._t0, self._last_pts = time.monotonic(), -1
        logger.info("publishing %dx%d H.264 to %s", width, height, self.url)

    def close(self) -> None:
        """Stop publishing (a later :meth:`open` + :meth:`write` republishes)."""
        container, stream = self._container, self._stream
        self._container = self._stream = None
        self._size = None
        self._opened = False
        if container is not None:
            try:
                for packet in stream.encode(None):
                    container.mux(packet)
            except Exception as error:  # noqa: BLE001 - the server may already be gone
                logger.debug("flushing %s: %s", self.url, redact_text(str(error)))
            _close_quietly(container)

    def __enter__(self) -> RtspSink:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_quietly(container) -> None:
    try:
        container.close()
    except Exception as error:  # noqa: BLE001 - closing after a lost connection must not raise
        logger.debug("closing RTSP output: %s", redact_text(str(error)))
