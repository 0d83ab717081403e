"""Publish redacted frames as H.264 to an RTSP server (mediamtx, go2rtc, gst-rtsp-server, ...).

The encoder is tuned for live viewing: x264 ``zerolatency`` (no lookahead, no B-frames) and a
short GOP so a viewer joins within ``gop`` frames. Publishing uses PyAV's RTSP muxer (RECORD).
A server that goes away (connection refused, reset, broken pipe) turns into a :class:`SinkError`
from :meth:`RtspSink.write`; the sink thread then closes this sink and calls :meth:`RtspSink.open`
again with backoff (:attr:`RtspSink.reconnect_backoff`), and the next frame republishes.

FFmpeg's RTSP muxer has no I/O timeout: a server that stops reading without closing the
connection (frozen process, network partition) would block ``write()`` until the kernel gives
up on TCP, many minutes later. So a connection starts only after the server answered a plain
OPTIONS request within ``timeout_s`` (:func:`probe_server`), and a watchdog (:class:`StallGuard`)
shuts the connection down under a write that takes longer than ``timeout_s``, which makes it
fail (Linux; elsewhere only the sink's own thread waits, the render and other sinks go on).
"""

from __future__ import annotations

import collections
import contextlib
import fractions
import logging
import os
import select
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from livefilter.av_errors import describe, says_what_to_do
from livefilter.config.sinks import RtspSinkConfig
from livefilter.errors import DependencyError, SinkError
from livefilter.lifecycle import Lifecycle
from livefilter.secrets import redact_text, redact_url
from livefilter.types import RedactedFrame

__all__ = ["BuiltinServer", "RtspSink", "StallGuard", "encoder_options", "probe_server", "yuv420_picture"]

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


def yuv420_picture(image: np.ndarray) -> Any:
    """A BGR picture as the encoder's YUV 4:2:0 ``av.VideoFrame`` (BT.601, limited range).

    OpenCV's SIMD conversion: about a quarter of the CPU of FFmpeg's swscale from ``bgr24``
    (measured by ``scripts/bench_stages.py``: 0.6 vs 2.5 ms at 720p, 1.7 vs 6.0 ms at 1080p).
    """
    import av
    import cv2

    planes: np.ndarray = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420).astype(np.uint8, copy=False)
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


def _sockets_to(addresses: set[tuple[str, int]]) -> set[int]:
    """File descriptors of this process's sockets connected to any of ``addresses`` (Linux /proc)."""
    found: set[int] = set()
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return found
    for name in names:
        fd = int(name)
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            with socket.socket(fileno=os.dup(fd)) as sock:  # closes only the duplicate
                peer = sock.getpeername()
        except OSError:
            continue
        if isinstance(peer, tuple) and (peer[0], peer[1]) in addresses:
            found.add(fd)
    return found


def _shutdown(fd: int) -> None:
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fd)) as sock:
        sock.shutdown(socket.SHUT_RDWR)  # acts on the connection, so FFmpeg's blocked call returns


def probe_server(url: str, timeout_s: float) -> None:
    """Ask the server for OPTIONS with a plain socket, bounded by ``timeout_s``.

    PyAV holds the GIL while FFmpeg connects an output (``avformat_write_header``), so a server
    that accepts but never answers would freeze every thread of the process; this finds it
    first. Raises :class:`OSError` (refused, timeout, not RTSP). Credentials are not sent.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "rtsp":
        return
    host, port = parts.hostname or "", parts.port or 554
    target = f"rtsp://{host}:{port}{parts.path or '/'}"
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(f"OPTIONS {target} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: livefilter\r\n\r\n".encode())
        reply = sock.recv(64)
    if not reply.startswith(b"RTSP/"):
        raise OSError(f"not an RTSP server (it answered {reply[:16]!r})")


class StallGuard:
    """Aborts a call into the RTSP muxer that blocks longer than ``timeout_s``.

    Sockets to the server that existed before the guard are left alone; after
    :meth:`connected` only the ones this publisher opened are shut down.
    """

    def __init__(self, url: str, timeout_s: float, name: str) -> None:
        parts = urlsplit(url)
        port = parts.port or 554
        try:
            infos = socket.getaddrinfo(parts.hostname or "", port, type=socket.SOCK_STREAM)
            self._addresses = {(str(info[4][0]), port) for info in infos}
        except OSError:
            self._addresses = set()
        self.timeout_s = timeout_s
        self.tripped = False
        self._before = _sockets_to(self._addresses)
        self._own: set[int] | None = None
        self._since: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"{name}:watchdog", daemon=True)
        self._thread.start()

    def connected(self) -> None:
        """The connection exists now: remember which sockets are ours."""
        self._own = _sockets_to(self._addresses) - self._before

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        self._since = time.monotonic()
        try:
            yield
        finally:
            self._since = None

    def _watch(self) -> None:
        while not self._done.wait(min(0.2, self.timeout_s / 4)):
            since = self._since
            if since is None or self.tripped or time.monotonic() - since < self.timeout_s:
                continue
            self.tripped = True
            own = self._own if self._own is not None else _sockets_to(self._addresses) - self._before
            for fd in own:
                _shutdown(fd)

    def close(self) -> None:
        self._done.set()
        self._thread.join(1.0)


SYSTEM_PYTHON = "/usr/bin/python3"
RELAY_SCRIPT = Path(__file__).with_name("rtsp_relay.py")
GSTREAMER_HINT = (
    "the built-in RTSP server (serve: true) needs GStreamer's RTSP server for the system Python: "
    "sudo apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad (scripts/install_system_deps.sh does it); "
    "or run an RTSP server such as mediamtx and set serve: false"
)


class BuiltinServer:
    """``rtsp_relay.py`` as a child process on the system Python: viewers open ``url``, the
    sink publishes to :attr:`publish_url` (the same server, its RECORD mount)."""

    def __init__(self, url: str, *, python: str | None = None, start_timeout_s: float = 15.0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "0.0.0.0"
        self.port = parts.port or 554
        self.path = parts.path.strip("/")
        self.python = python or SYSTEM_PYTHON
        self.start_timeout_s = start_timeout_s
        local = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        self.publish_url = f"rtsp://{local}:{self.port}/publish/{self.path}"
        self._process: subprocess.Popen[str] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if not self.path:
            raise SinkError("serve: true needs a path in the URL, e.g. rtsp://0.0.0.0:8554/redacted")
        if not os.path.exists(self.python):
            raise DependencyError(f"{GSTREAMER_HINT} ({self.python} not found)")
        args = [self.python, str(RELAY_SCRIPT), "--host", self.host, "--port", str(self.port), "--relay", self.path]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert process.stdout is not None and process.stderr is not None
        # Drain stderr for as long as the server runs (a full pipe would stall it); keep the tail.
        errors: collections.deque[str] = collections.deque(maxlen=20)
        drain = threading.Thread(target=errors.extend, args=(process.stderr,), name="rtsp-server:stderr", daemon=True)
        drain.start()
        ready, _, _ = select.select([process.stdout], [], [], self.start_timeout_s)
        if ready and process.stdout.readline().startswith("READY"):
            self._process = process
            logger.info("built-in RTSP server: viewers open rtsp://%s:%d/%s", self.host, self.port, self.path)
            return
        process.kill()
        process.wait()
        drain.join(2.0)
        detail = [line.strip() for line in errors if line.strip()]
        last = detail[-1] if detail else "no output"
        if any(word in last for word in ("gi", "Namespace", "GstRtspServer")):
            raise DependencyError(f"{GSTREAMER_HINT} ({last})")
        raise SinkError(f"the built-in RTSP server could not start on {self.host}:{self.port}: {last}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(3)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class RtspSink(Lifecycle):
    """An RTSP publisher. The stream starts at the first frame (its size fixes the stream)."""

    lossless = False

    def __init__(self, config: RtspSinkConfig, *, fps: float) -> None:
        if fps <= 0:
            raise ValueError(f"RtspSink fps: expected > 0, got {fps}")
        self.config = config
        self.fps = fps
        self.url = redact_url(config.url)
        self.name = f"rtsp {self.url}"
        self._server = BuiltinServer(config.url) if config.serve else None
        self._publish_url = self._server.publish_url if self._server else config.url
        self.reconnect_backoff = (config.reconnect_min_s, config.reconnect_max_s)
        self._container: Any = None  # av.container.OutputContainer while publishing
        self._stream: Any = None
        self._guard: Any = None  # StallGuard while publishing
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
        if self._server is not None and not self._server.running:
            self._server.start()
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
        picture = yuv420_picture(frame.image)
        picture.pts = pts
        picture.time_base = _TIME_BASE
        try:
            with self._guard.call():
                for packet in self._stream.encode(picture):
                    self._container.mux(packet)
        except (av.FFmpegError, OSError) as error:
            raise SinkError(f"lost RTSP server {self.url}: {self._why(error)} (will republish)") from None

    def _why(self, error: BaseException) -> str:
        if self._guard is not None and self._guard.tripped:
            return f"it stopped reading for {self.config.timeout_s:g} s (frozen, or the network is down)"
        return describe(error)

    def _connect(self, width: int, height: int) -> None:
        import av

        if width % 2 or height % 2:
            raise SinkError(f"{self.name}: H.264 needs an even width and height, got {width}x{height}")
        cfg = self.config
        options: dict[str, str] = {"rtsp_transport": cfg.transport}
        try:
            probe_server(self._publish_url, cfg.timeout_s)
            container = av.open(self._publish_url, mode="w", format="rtsp", options=options)
        except TimeoutError:
            raise SinkError(
                f"RTSP server {self.url} accepted the connection but did not answer within "
                f"{cfg.timeout_s:g} s (timeout_s)"
            ) from None
        except (av.FFmpegError, OSError) as error:
            why = describe(error)
            hint = "" if says_what_to_do(why) else " Is the server running and does it accept publishing (RECORD) on this path?"
            raise SinkError(f"cannot reach RTSP server {self.url}: {why}.{hint}") from None
        rate = fractions.Fraction(self.fps).limit_denominator(1001)
        stream = container.add_stream("libx264", rate=rate, options=encoder_options(cfg))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = _TIME_BASE
        self._guard = StallGuard(self._publish_url, cfg.timeout_s, self.name)
        try:
            # Connects (ANNOUNCE, SETUP, RECORD). PyAV keeps the GIL here, so the guard could not
            # act: probe_server above made sure the server answers.
            container.start_encoding()
        except (av.FFmpegError, OSError) as error:
            self._close_guard()
            _close_quietly(container)
            raise SinkError(f"RTSP server {self.url} did not take the stream: {describe(error)}") from None
        self._guard.connected()
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
            with self._guard.call():
                try:
                    for packet in stream.encode(None):
                        container.mux(packet)
                except Exception as error:  # noqa: BLE001 - the server may already be gone
                    logger.debug("flushing %s: %s", self.url, redact_text(str(error)))
                _close_quietly(container)
        self._close_guard()
        if self._server is not None:
            self._server.stop()

    def _close_guard(self) -> None:
        guard, self._guard = self._guard, None
        if guard is not None:
            guard.close()


def _close_quietly(container) -> None:
    try:
        container.close()
    except Exception as error:  # noqa: BLE001 - closing after a lost connection must not raise
        logger.debug("closing RTSP output: %s", redact_text(str(error)))
