"""A real RTSP server on 127.0.0.1 (scripts/rtsp_test_server.py, GStreamer), a camera that
publishes to it and a viewer that reads from it, each able to lose and regain the server.

The server runs on the *system* Python (``/usr/bin/python3``), whose ``python3-gi`` sees the
GStreamer typelibs; ``scripts/install_system_deps.sh`` installs them (CI runs it).
"""

from __future__ import annotations

import contextlib
import fractions
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_SCRIPT = ROOT / "scripts" / "rtsp_test_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
HOST = "127.0.0.1"


def _gstreamer_missing() -> str | None:
    """Why the RTSP test server cannot run here, or None."""
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} not found (the test server runs on the system Python)"
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import Gst; Gst.init(None); "
        "missing = [e for e in ('rtph264depay', 'h264parse', 'rtph264pay', 'appsrc', 'appsink') "
        "if Gst.ElementFactory.find(e) is None]; print(' '.join(missing))"
    )
    try:
        result = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"cannot probe GStreamer: {error}"
    if result.returncode != 0:
        return "GStreamer RTSP server not installed (run scripts/install_system_deps.sh)"
    if result.stdout.strip():
        return f"GStreamer elements missing: {result.stdout.strip()} (run scripts/install_system_deps.sh)"
    return None


@pytest.fixture(scope="session")
def gstreamer() -> None:
    reason = _gstreamer_missing()
    if reason:
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class RtspServer:
    """One relay server process; ``kill()`` and ``start()`` again keep the same port."""

    def __init__(self, *relays: str) -> None:
        self.relays = relays or ("cam",)
        self.port = free_port()
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout_s: float = 15.0) -> None:
        args = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--host", HOST, "--port", str(self.port)]
        for relay in self.relays:
            args += ["--relay", relay]
        deadline = time.monotonic() + timeout_s
        while True:  # a just-killed server's port can take a moment to be free again
            self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            line = self.process.stdout.readline() if self.process.stdout else ""
            if line.startswith("READY"):
                return
            self.process.wait(5)
            if time.monotonic() > deadline:
                raise RuntimeError(f"RTSP test server did not start on port {self.port}")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def url(self, relay: str) -> str:
        """Where viewers read ``relay``."""
        return f"rtsp://{HOST}:{self.port}/{relay}"

    def publish_url(self, relay: str) -> str:
        """Where a publisher sends ``relay`` (RECORD)."""
        return f"rtsp://{HOST}:{self.port}/publish/{relay}"


@pytest.fixture
def rtsp_server(gstreamer: None) -> Iterator[Callable[..., RtspServer]]:
    """``rtsp_server("cam", "out")`` starts a relay server; every one is killed at teardown."""
    servers: list[RtspServer] = []

    def start(*relays: str) -> RtspServer:
        server = RtspServer(*relays)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.kill()


class Publisher:
    """A camera: publishes ``picture(i)`` as H.264 at ``fps`` to ``url``, republishing after
    any failure. Written with PyAV directly, independent of livefilter's RTSP sink."""

    def __init__(self, url: str, picture: Callable[[int], np.ndarray], fps: float = 15.0) -> None:
        self.url, self.picture, self.fps = url, picture, fps
        self.sent = 0
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-publisher", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        import av

        t0 = time.monotonic()
        while not self._stop.is_set():
            container = None
            try:
                container = av.open(self.url, mode="w", format="rtsp", options={"rtsp_transport": "tcp"})
                stream = container.add_stream(
                    "libx264", rate=round(self.fps),
                    options={"preset": "ultrafast", "tune": "zerolatency", "bf": "0", "g": str(round(self.fps))},
                )
                image = self.picture(0)
                stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], "yuv420p"
                stream.time_base = stream.codec_context.time_base = fractions.Fraction(1, 90_000)
                self.connections += 1
                last_pts = -1
                while not self._stop.is_set():
                    now = time.monotonic() - t0
                    index = int(now * self.fps)  # the scene advances with wall time, like a camera
                    frame = av.VideoFrame.from_ndarray(self.picture(index), format="bgr24")
                    frame.pts = last_pts = max(int(now * 90_000), last_pts + 1)
                    frame.time_base = stream.time_base
                    container.mux(stream.encode(frame))
                    self.sent += 1
                    self._stop.wait(max(0.0, (index + 1) / self.fps - (time.monotonic() - t0)))
            except Exception:  # noqa: BLE001 - the server went away: publish again
                self._stop.wait(0.2)
            finally:
                if container is not None:
                    with contextlib.suppress(Exception):
                        container.close()


@dataclass
class Viewer:
    """Reads ``url`` and keeps every decoded picture with its arrival time; reconnects."""

    url: str
    frames: list[tuple[float, np.ndarray]] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-viewer", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def count_since(self, t: float) -> int:
        return sum(1 for arrived, _ in list(self.frames) if arrived >= t)

    def wait_for(self, count: int, *, since: float = 0.0, timeout_s: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.count_since(since) >= count:
                return True
            time.sleep(0.05)
        return False

    def _run(self) -> None:
        import av

        while not self._stop.is_set():
            container = None
            try:
                container = av.open(self.url, options={"rtsp_transport": "tcp"}, timeout=(5.0, 1.0))
                self.connections += 1
                for picture in container.decode(video=0):
                    self.frames.append((time.monotonic(), picture.to_ndarray(format="bgr24")))
                    if self._stop.is_set():
                        break
            except Exception:  # noqa: BLE001 - nothing published yet, or the server went away
                self._stop.wait(0.2)
            finally:
                if container is not None:
                    with contextlib.suppress(Exception):
                        container.close()


class ScriptedRtspServer:
    """A TCP server on 127.0.0.1 that answers every RTSP request with ``status`` (e.g.
    ``"401 Unauthorized"``), or never answers when ``status`` is None (a hung camera)."""

    def __init__(self, status: str | None) -> None:
        self.status = status
        self._listener = socket.create_server((HOST, 0))
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="scripted-rtsp", daemon=True)

    def url(self, path: str = "stream1", credentials: str = "") -> str:
        return f"rtsp://{credentials + '@' if credentials else ''}{HOST}:{self.port}/{path}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(5)

    def _serve(self) -> None:
        self._listener.settimeout(0.1)
        connections: list[socket.socket] = []
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = self._listener.accept()
                except (TimeoutError, OSError):
                    continue
                connections.append(conn)
                if self.status is not None:
                    threading.Thread(target=self._answer, args=(conn,), daemon=True).start()
        finally:
            for conn in connections:
                conn.close()

    def _answer(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            buffer = b""
            while not self._stop.is_set():
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buffer += chunk
                while b"\r\n\r\n" in buffer:
                    request, buffer = buffer.split(b"\r\n\r\n", 1)
                    cseq = next(
                        (line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                         if line.lower().startswith(b"cseq:")),
                        b"1",
                    )
                    extra = b'WWW-Authenticate: Basic realm="cam"\r\n' if self.status.startswith("401") else b""
                    conn.sendall(b"RTSP/1.0 " + self.status.encode() + b"\r\nCSeq: " + cseq + b"\r\n" + extra + b"\r\n")
