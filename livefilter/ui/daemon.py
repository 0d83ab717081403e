"""The UI's daemon view: a client of ``livefilter serve``'s HTTP API (livefilter/daemon/http.py).

It lists the cameras with their health, changes prompts and switches zones, with the
daemon's token. The API serves no picture, so the view shows none: it can never show a
raw camera frame.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit

from livefilter.errors import ConfigError, LivefilterError

__all__ = ["DaemonClient", "camera_rows", "parse_prompts"]

CAMERA_COLUMNS = ["camera", "state", "redacting", "fail-closed", "fps", "prompts", "zones", "last error"]


class DaemonClient:
    """Talks to a daemon at ``url`` (e.g. ``http://127.0.0.1:8089``) with ``token`` if it needs one."""

    def __init__(self, url: str, token: str = "", *, timeout_s: float = 5.0) -> None:
        url = url.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"daemon URL {url!r}: expected http://HOST:PORT (the `http:` section of the site config)")
        self.url = url
        self.token = token.strip()
        self.timeout_s = timeout_s

    def cameras(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/api/cameras")["cameras"])

    def set_prompts(self, camera: str, prompts: list[Any]) -> list[Any]:
        return list(self._call("PUT", f"/api/cameras/{quote(camera, safe='')}/prompts", {"prompts": prompts})["prompts"])

    def set_zone(self, camera: str, zone: str, enabled: bool) -> dict[str, Any]:
        path = f"/api/cameras/{quote(camera, safe='')}/zones/{quote(zone, safe='')}"
        return dict(self._call("PUT", path, {"enabled": enabled})["zone"])

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read()).get("error", "")
            except ValueError:
                message = ""
            if error.code == 401:
                raise LivefilterError(
                    f"daemon at {self.url}: missing or wrong token; give its http.token "
                    "(the LIVEFILTER_* variable the site config names)"
                ) from None
            raise LivefilterError(f"daemon at {self.url}: {message or f'HTTP {error.code}'}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise LivefilterError(
                f"no daemon answers at {self.url} ({reason}); start one with `livefilter serve SITE.yaml` "
                "and give the address of its http: section"
            ) from None


def camera_rows(cameras: list[dict[str, Any]]) -> list[list[Any]]:
    """One table row per camera, in :data:`CAMERA_COLUMNS` order."""
    rows = []
    for cam in cameras:
        zones = ", ".join(f"{z['name']} ({z['mode']}, {'on' if z['enabled'] else 'off'})" for z in cam.get("zones", []))
        target = cam.get("target_fps")
        fps = f"{cam.get('output_fps', 0):.1f}" + (f" / {target:g}" if target else "")
        rows.append([
            cam["name"], cam.get("state", ""), "yes" if cam.get("redacting") else "no",
            cam.get("fail_closed") or "", fps, ", ".join(cam.get("prompts", [])), zones or "none",
            cam.get("last_error") or "",
        ])
    return rows


def parse_prompts(text: str) -> list[Any]:
    """``face, license plate: 0.4`` → the API's prompt list.

    Example:
        >>> parse_prompts("face, license plate: 0.4")
        ['face', {'text': 'license plate', 'threshold': 0.4}]
    """
    prompts: list[Any] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, threshold = item.partition(":")
        if threshold.strip():
            try:
                prompts.append({"text": name.strip(), "threshold": float(threshold)})
            except ValueError:
                raise ConfigError(f"prompt {item!r}: expected TEXT or TEXT: THRESHOLD (0..1)") from None
        else:
            prompts.append(name.strip())
    if not prompts:
        raise ConfigError("prompts: type at least one thing to hide (e.g. face)")
    return prompts
