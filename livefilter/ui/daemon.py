"""The UI's daemon view: a client of ``livefilter serve``'s HTTP API (livefilter/daemon/http.py).

It lists the cameras with their health, shows each camera's snapshot, changes prompts, and
adds, switches and deletes zones, with the daemon's token. The only picture it has is
``GET /api/cameras/NAME/snapshot.jpg``: the newest frame the camera *published* (what its
sinks got from the compositor, redacted), so it can never show a raw camera frame.
"""

from __future__ import annotations

import json
import urllib.error
from dataclasses import dataclass
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit

import cv2
import numpy as np

from livefilter.errors import ConfigError, LivefilterError

__all__ = ["DaemonClient", "Snapshot", "ZoneDraft", "camera_health", "camera_rows", "draw_points", "parse_prompts"]

CAMERA_COLUMNS = ["camera", "state", "redacting", "fail-closed", "fps", "prompts", "zones", "last error"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A camera's published frame as the daemon serves it.

    Attributes:
        picture: HxWx3 uint8 RGB (redacted: the daemon's compositor output, through JPEG).
        index: the source frame's index.
        fail_closed: why the whole picture is redacted ("stale_masks", ...), else "".
    """

    picture: np.ndarray
    index: int
    fail_closed: str


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

    def camera(self, camera: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/cameras/{quote(camera, safe='')}"))

    def set_prompts(self, camera: str, prompts: list[Any]) -> list[Any]:
        return list(self._call("PUT", f"/api/cameras/{quote(camera, safe='')}/prompts", {"prompts": prompts})["prompts"])

    def set_zone(self, camera: str, zone: str, enabled: bool) -> dict[str, Any]:
        path = f"/api/cameras/{quote(camera, safe='')}/zones/{quote(zone, safe='')}"
        return dict(self._call("PUT", path, {"enabled": enabled})["zone"])

    def snapshot(self, camera: str) -> Snapshot:
        """The camera's newest published (redacted) frame."""
        data, headers = self._call("GET", f"/api/cameras/{quote(camera, safe='')}/snapshot.jpg", raw=True)
        picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if picture is None:
            raise LivefilterError(f"daemon at {self.url}: the snapshot of {camera!r} is not a JPEG picture")
        return Snapshot(
            np.ascontiguousarray(picture[..., ::-1]),
            int(headers.get("X-Livefilter-Frame") or -1),
            headers.get("X-Livefilter-Fully-Redacted") or "",
        )

    def add_zone(
        self, camera: str, name: str, points: list[tuple[float, float]], *, units: str = "pixels", mode: str = "hide"
    ) -> dict[str, Any]:
        """Create zone ``name`` (a polygon; ``units``: pixels or fraction) on ``camera``."""
        body = {"name": name, "points": [list(p) for p in points], "units": units, "mode": mode}
        return dict(self._call("POST", f"/api/cameras/{quote(camera, safe='')}/zones", body)["zone"])

    def delete_zone(self, camera: str, zone: str) -> dict[str, Any]:
        path = f"/api/cameras/{quote(camera, safe='')}/zones/{quote(zone, safe='')}"
        return dict(self._call("DELETE", path)["deleted"])

    def _call(self, method: str, path: str, body: Any = None, *, raw: bool = False) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                content = answer.read()
                return (content, answer.headers) if raw else json.loads(content)
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


def camera_health(camera: dict[str, Any], shown: Snapshot | None = None) -> str:
    """One line of a camera's health for the view (from the API's camera state and the picture shown).

    Example:
        >>> camera_health({"name": "door", "state": "running", "redacting": True, "fail_closed": "",
        ...                "output_fps": 9.8, "target_fps": 10.0})
        'door: running, redacting, 9.8 / 10 fps'
    """
    parts = [camera.get("state", "?")]
    parts.append("redacting" if camera.get("redacting") else "NOT redacting normally")
    if camera.get("fail_closed"):
        parts.append(f"fail-closed ({camera['fail_closed']}): fully redacted")
    target = camera.get("target_fps")
    parts.append(f"{camera.get('output_fps', 0):.1f}" + (f" / {target:g}" if target else "") + " fps")
    if camera.get("last_error"):
        parts.append(f"last error: {camera['last_error']}")
    if shown is not None:
        parts.append(f"picture: frame {shown.index}" + (f", fully redacted ({shown.fail_closed})" if shown.fail_closed else ""))
    return f"{camera['name']}: " + ", ".join(parts)


def draw_points(picture: np.ndarray, points: list[tuple[float, float]]) -> np.ndarray:
    """A copy of ``picture`` (a redacted snapshot) with the zone being drawn: its points and edges.

    Example:
        >>> out = draw_points(np.zeros((20, 20, 3), np.uint8), [(2, 2), (17, 2), (17, 17)])
        >>> bool(out[2, 10].any()), bool(out[10, 5].any())
        (True, False)
    """
    out = picture.copy()
    if points:
        polygon = np.round(np.asarray(points)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [polygon], len(points) >= 3, (255, 215, 0), 1, cv2.LINE_AA)
        for x, y in polygon[:, 0]:
            cv2.circle(out, (int(x), int(y)), 3, (255, 215, 0), -1)
    return out


@dataclass(frozen=True, slots=True)
class ZoneDraft:
    """A zone being drawn: the snapshot its first corner was clicked on, held still, and its corners.

    The view shows :attr:`picture` (with the corners drawn) instead of the refreshed snapshot until the
    zone is added or forgotten, so every corner is clicked on the same picture the user sees. Corners
    are kept as fractions of the clicked picture's width and height (what the daemon's ``units:
    fraction`` takes), so they mean the same place whatever size the camera's frames have.

    Attributes:
        picture: HxWx3 uint8 RGB, the redacted snapshot the corners are placed on.
        corners: (x, y) fractions of the picture's width and height, in click order.

    Example:
        >>> draft = ZoneDraft(np.zeros((100, 200, 3), np.uint8)).add((50, 25), (200, 100)).add((150, 75), (200, 100))
        >>> draft.corners, draft.pixels()
        (((0.25, 0.25), (0.75, 0.75)), [(50.0, 25.0), (150.0, 75.0)])
    """

    picture: np.ndarray
    corners: tuple[tuple[float, float], ...] = ()

    def add(self, index: Any, clicked_size: tuple[int, int]) -> ZoneDraft:
        """The draft with one more corner: ``index`` is a click's (x, y) in pixels of the picture that
        was clicked, ``clicked_size`` that picture's (width, height).

        Raises:
            ConfigError: the click has no place on the picture (outside it, or the browser had no
                picture laid out yet): nothing is added.
        """
        width, height = clicked_size
        try:
            x, y = (float(v) for v in index)
        except (TypeError, ValueError):
            x = y = float("nan")
        if not (0 <= x < width and 0 <= y < height):  # also false for NaN
            raise ConfigError(f"that click ({index}) is not on the {width}x{height} picture; click on the snapshot")
        return ZoneDraft(self.picture, (*self.corners, (x / width, y / height)))

    def pixels(self) -> list[tuple[float, float]]:
        """The corners in pixels of :attr:`picture`."""
        height, width = self.picture.shape[:2]
        return [(fx * width, fy * height) for fx, fy in self.corners]

    def shown(self) -> np.ndarray:
        """:attr:`picture` with the corners placed so far drawn on it."""
        return draw_points(self.picture, self.pixels())

    def describe(self) -> str:
        listed = " ".join(f"({x:.0f}, {y:.0f})" for x, y in self.pixels())
        more = "" if len(self.corners) >= 3 else f"; {3 - len(self.corners)} more to make a zone"
        return f"{len(self.corners)} corners: {listed}{more} (the picture holds still until add zone or forget corners)"


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
