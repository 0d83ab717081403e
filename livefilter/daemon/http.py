"""The control, health and metrics endpoint (standard library HTTP server, JSON in and out).

=========================================  ==========================================================
``GET /healthz``                           200 while the process is alive (no token needed)
``GET /readyz``                            200 when every camera publishes within its limits, else 503;
                                           per-camera redaction health in the body
``GET /metrics``                           Prometheus text format (:mod:`livefilter.daemon.prometheus`)
``GET /api/cameras``                       every camera's state
``GET /api/cameras/NAME``                  one camera's state
``PUT /api/cameras/NAME/prompts``          ``{"prompts": ["face", {"text": "plate", "threshold": 0.4}]}``
``GET /api/cameras/NAME/snapshot.jpg``     the newest frame the camera *published* (redacted, as its
                                           sinks got it; fully redacted while it fails closed), JPEG;
                                           headers ``X-Livefilter-Frame`` (its index) and
                                           ``X-Livefilter-Fully-Redacted`` (the fail-closed reason, or
                                           empty); 503 before its first frame or while it restarts
``PUT /api/cameras/NAME/zones/ZONE``       ``{"enabled": false}``
``POST /api/cameras/NAME/zones``           a new zone, like a ``zones:`` entry of the site file:
                                           ``{"name": "gate", "points": [[0.1, 0.2], [0.5, 0.2], [0.5, 0.9]],
                                           "units": "fraction", "mode": "hide"}`` (``units: pixels``
                                           for frame pixels); 400 names the field that is wrong
``DELETE /api/cameras/NAME/zones/ZONE``    removes a zone
=========================================  ==========================================================

Zones added or deleted through the API live in memory (and in the audit log): a restart, or a
reload of the site file that changes that camera's zones, puts the file's zones back.

Bound to 127.0.0.1 by default; ``http.token`` (required by the config for any other
address) must then come as ``Authorization: Bearer TOKEN`` on every request but /healthz.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from livefilter.daemon.config import HttpConfig
from livefilter.daemon.snapshot import encode_jpeg
from livefilter.errors import LivefilterError
from livefilter.lifecycle import Lifecycle
from livefilter.secrets import redact_text
from livefilter.types import RedactedFrame

__all__ = ["ControlServer"]

logger = logging.getLogger(__name__)

MAX_BODY = 65536


class _Error(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class CameraView(Protocol):
    def status(self) -> dict[str, Any]: ...

    def snapshot(self) -> RedactedFrame | None: ...


class Controlled(Protocol):
    """What the endpoints drive: a :class:`~livefilter.daemon.service.Daemon`, or a cluster's controller."""

    def cameras(self) -> list[dict[str, Any]]: ...

    def camera(self, name: str) -> CameraView: ...

    def set_prompts(self, name: str, prompts: Sequence[str | dict[str, Any]]) -> list[str]: ...

    def set_zone(self, name: str, zone: str, enabled: bool) -> dict[str, Any]: ...

    def add_zone(self, name: str, zone: Any) -> dict[str, Any]: ...

    def remove_zone(self, name: str, zone: str) -> dict[str, Any]: ...

    def metrics(self) -> tuple[bytes, str]: ...


class ControlServer(Lifecycle):
    """Serves the endpoints above for ``daemon`` on ``config.host:config.port`` (thread ``http``)."""

    def __init__(self, daemon: Controlled, config: HttpConfig) -> None:
        self.daemon = daemon
        self.config = config
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("ControlServer.port: not open")
        return int(self._server.server_address[1])

    def open(self) -> None:
        if self._server is not None:
            return
        handler = type("Handler", (_Handler,), {"control": self})
        try:
            self._server = ThreadingHTTPServer((self.config.host, self.config.port), handler)
        except OSError as exc:
            raise LivefilterError(
                f"http: cannot listen on {self.config.host}:{self.config.port} ({exc.strerror or exc}); "
                "choose another http.port or stop what uses it"
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.2,), name="http", daemon=True)
        self._thread.start()
        logger.info("http: listening on %s:%d (/healthz /readyz /metrics /api/cameras)", self.config.host, self.port)

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    # -- routes ---------------------------------------------------------------------------------

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = [unquote(part) for part in path.strip("/").split("/") if part]
        daemon = self.daemon
        if method == "GET" and parts == ["healthz"]:
            return 200, {"status": "alive"}
        if method == "GET" and parts == ["readyz"]:
            cameras = daemon.cameras()
            ready = bool(cameras) and all(camera["ready"] for camera in cameras)
            return (200 if ready else 503), {
                "ready": ready,
                "cameras": {
                    c["name"]: {k: c[k] for k in ("state", "ready", "redacting", "fail_closed", "output_fps", "worker") if k in c}
                    for c in cameras
                },
            }
        if method == "GET" and parts == ["api", "cameras"]:
            return 200, {"cameras": daemon.cameras()}
        if len(parts) >= 3 and parts[:2] == ["api", "cameras"]:
            name = parts[2]
            try:
                runner = daemon.camera(name)
            except KeyError as exc:
                raise _Error(404, str(exc.args[0])) from None
            if method == "GET" and len(parts) == 3:
                return 200, runner.status()
            if method == "GET" and parts[3:] == ["snapshot.jpg"]:
                frame = runner.snapshot()
                if frame is None:
                    raise _Error(
                        503, f"camera {name!r} has published no frame yet (state: {runner.status()['state']}); retry shortly"
                    )
                return 200, frame
            if method == "POST" and parts[3:] == ["zones"]:
                try:
                    return 201, {"camera": name, "zone": daemon.add_zone(name, body)}
                except LivefilterError as exc:
                    raise _Error(400, str(exc)) from None
            if method == "DELETE" and len(parts) == 5 and parts[3] == "zones":
                try:
                    return 200, {"camera": name, "deleted": daemon.remove_zone(name, parts[4])}
                except KeyError as exc:
                    raise _Error(404, str(exc.args[0])) from None
            if method in ("PUT", "POST") and parts[3:] == ["prompts"]:
                prompts = _field(body, "prompts", list)
                try:
                    return 200, {"camera": name, "prompts": daemon.set_prompts(name, prompts)}
                except LivefilterError as exc:
                    raise _Error(400, str(exc)) from None
            if method in ("PUT", "POST") and len(parts) == 5 and parts[3] == "zones":
                enabled = _field(body, "enabled", bool)
                try:
                    return 200, {"camera": name, "zone": daemon.set_zone(name, parts[4], enabled)}
                except KeyError as exc:
                    raise _Error(404, str(exc.args[0])) from None
        raise _Error(404, f"no such endpoint: {method} /{'/'.join(parts)}")


def _field(body: Any, key: str, kind: type) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get(key), kind):
        raise _Error(400, f"expected a JSON object with {key!r}: {kind.__name__}")
    return body[key]


class _Handler(BaseHTTPRequestHandler):
    control: ControlServer
    server_version = "livefilter"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http: %s %s", self.address_string(), redact_text(format % args))

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        try:
            if path != "/healthz":
                self._authorize()
            body = self._body()
            if method == "GET" and path == "/metrics":
                payload, content_type = self.control.daemon.metrics()
                self._send(200, payload, content_type)
                return
            status, answer = self.control.handle(method, path, body)
            if isinstance(answer, RedactedFrame):
                self._send(status, encode_jpeg(answer), "image/jpeg", {
                    "Cache-Control": "no-store",
                    "X-Livefilter-Frame": str(answer.index),
                    "X-Livefilter-Fully-Redacted": answer.reason if answer.fully_redacted else "",
                })
                return
        except _Error as exc:
            status, answer = exc.status, {"error": str(exc)}
        except Exception:
            logger.exception("http: %s %s failed", method, path)
            status, answer = 500, {"error": "internal error; see the daemon's log"}
        data = redact_text(json.dumps(answer)).encode()
        self._send(status, data, "application/json")

    def _authorize(self) -> None:
        token = self.control.config.token
        if token is None:
            return
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise _Error(401, "missing or wrong token: send 'Authorization: Bearer <http.token>'")

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise _Error(413, f"request body over {MAX_BODY} bytes")
        if not length:
            return None
        try:
            return json.loads(self.rfile.read(length))
        except ValueError:
            raise _Error(400, "the request body is not valid JSON") from None

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
