"""An RTSP/HTTP camera stream, decoded with PyAV (FFmpeg), with bounded open and read times.

OpenCV's FFmpeg capture blocks 30 s on a dead camera by default; PyAV's ``timeout=(open, read)``
interrupts every blocking network call instead, so :meth:`RtspSource.read` returns or raises
within ``read_timeout_s``. A lost stream raises :class:`SourceError`; the capture thread closes
and reopens this source with the backoff in :attr:`RtspSource.reconnect_backoff`. Credentials
never appear in names, logs or errors (:func:`livefilter.secrets.redact_url`).
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from livefilter.av_errors import describe, says_what_to_do
from livefilter.config.source import RtspSourceConfig
from livefilter.errors import DependencyError, SourceError
from livefilter.lifecycle import Lifecycle
from livefilter.secrets import redact_text, redact_url
from livefilter.types import Frame

__all__ = ["DECODER_THREAD_TYPE", "RtspSource", "demux_options"]

logger = logging.getLogger(__name__)

DECODER_THREAD_TYPE = "SLICE"
"""The H.264 decoder splits each picture across threads. Frame threading (FFmpeg's default
outside PyAV) would hold one decoded frame per extra thread: 2 frames (67 ms at 30 fps) on 2 cores."""


def demux_options(config: RtspSourceConfig) -> dict[str, str]:
    """FFmpeg demuxer options for a low-latency live stream.

    Example:
        >>> demux_options(RtspSourceConfig(url="rtsp://cam/stream1"))["rtsp_transport"]
        'tcp'
        >>> "rtsp_transport" in demux_options(RtspSourceConfig(url="http://cam/mjpeg"))
        False
    """
    # Not fflags=nobuffer: it drops the packets read while probing, i.e. the first keyframe
    # (a viewer then waits a whole GOP) and all of a short HTTP stream.
    options = {
        "flags": "low_delay",
        # Probe at most ~1 s of a stream before the first frame (FFmpeg's default is 5 s).
        "analyzeduration": "1000000",
        "probesize": "1000000",
    }
    scheme = urlsplit(config.url).scheme.lower()
    if scheme in ("rtsp", "rtsps"):
        options["rtsp_transport"] = config.transport
    return options


def _ffmpeg_read_timeout(config: RtspSourceConfig) -> float:
    """A read from a silent RTSP server is interrupted only after twice PyAV's read timeout
    (measured with av 18 / FFmpeg 8), so pass half the budget to stay within ``read_timeout_s``."""
    return config.read_timeout_s / 2


class RtspSource(Lifecycle):
    """Frames from an RTSP or HTTP(S) stream; indices keep increasing across reconnects.

    A camera may be down when the run starts: ``wait_at_start`` has the capture thread open it,
    waiting with backoff, and ``expected_size`` (config ``width``/``height``) lets the outputs
    start meanwhile, fully redacted.
    """

    live = True
    wait_at_start = True

    def __init__(self, config: RtspSourceConfig) -> None:
        self.config = config
        self.url = redact_url(config.url)
        self.name = self.url
        self.reconnect_backoff = (config.reconnect_min_s, config.reconnect_max_s)
        self._container: Any = None  # av.container.InputContainer while open
        self._packets: Any = None
        self._pending: collections.deque = collections.deque()
        self._next_index = 0
        self._fps: float | None = None

    @property
    def nominal_fps(self) -> float | None:
        return self._fps

    @property
    def expected_size(self) -> tuple[int, int] | None:
        """(width, height) from the config, when given."""
        if self.config.width is None or self.config.height is None:
            return None
        return self.config.width, self.config.height

    def open(self) -> None:
        try:
            import av
        except ImportError:
            raise DependencyError("source 'rtsp' needs PyAV: pip install av") from None
        cfg = self.config
        started = time.monotonic()
        try:
            container = av.open(
                cfg.url, options=demux_options(cfg), timeout=(cfg.open_timeout_s, _ffmpeg_read_timeout(cfg))
            )
        except (av.FFmpegError, OSError) as error:
            # `from None`: the original exception text carries the URL with its password.
            timed_out = time.monotonic() - started >= 0.9 * cfg.open_timeout_s
            why = describe(error, timed_out=timed_out)
            hint = "" if says_what_to_do(why) else (
                " Check the address, port, path and credentials, and that the camera is reachable "
                "from this machine."
            )
            raise SourceError(
                f"cannot open stream {self.url}: {why} (open_timeout_s {cfg.open_timeout_s:g}).{hint}"
            ) from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"stream {self.url} has no video track")
        stream = container.streams.video[0]
        stream.thread_type = DECODER_THREAD_TYPE
        rate = stream.average_rate or stream.guessed_rate
        self._fps = float(rate) if rate else None
        self._container = container
        self._packets = container.demux(stream)
        self._pending.clear()
        logger.info(
            "opened %s: %sx%s at %s fps (%s)",
            self.url,
            stream.codec_context.width,
            stream.codec_context.height,
            f"{self._fps:.2f}" if self._fps else "unknown",
            stream.codec_context.name,
        )

    def read(self) -> Frame:
        """The next decoded frame; raises :class:`SourceError` when none came within the read timeout."""
        if self._packets is None:
            raise SourceError(f"stream {self.url} is not open")
        import av

        deadline = time.monotonic() + self.config.read_timeout_s
        while not self._pending:
            if time.monotonic() > deadline:
                raise SourceError(
                    f"no picture from {self.url} for {self.config.read_timeout_s:g} s (read_timeout_s)"
                )
            try:
                packet = next(self._packets)
            except StopIteration:
                raise SourceError(f"stream {self.url} ended") from None
            except (av.FFmpegError, OSError) as error:
                raise SourceError(f"lost stream {self.url}: {describe(error)}") from None
            try:
                self._pending.extend(packet.decode())
            except av.InvalidDataError:
                # A damaged packet (lost data, join mid-GOP): skip it, the next keyframe repairs.
                logger.debug("undecodable packet from %s skipped", self.url)
        decoded = self._pending.popleft()
        image: np.ndarray = decoded.to_ndarray(format="bgr24")
        index, self._next_index = self._next_index, self._next_index + 1
        return Frame(image, index, time.monotonic(), pts=decoded.time, source=self.name)

    def close(self) -> None:
        container, self._container, self._packets = self._container, None, None
        self._pending.clear()
        if container is not None:
            try:
                container.close()
            except Exception as error:  # noqa: BLE001 - closing a broken stream must not raise
                logger.debug("closing %s: %s", self.url, redact_text(str(error)))
