"""The daemon's redacted snapshot endpoint and zones created/deleted at run time (real pipelines)."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from livefilter.types import Frame, MaskSet, Prompt
from tests.daemon.conftest import Running, audit_events

W, H = 320, 180
GREEN = (0, 200, 0)  # the fill: RGB == BGR
SECRET = (slice(40, 100), slice(48, 128))  # rows, cols of the checkerboard nobody may see
TOKEN = "a-token-of-sufficient-length"


def scene_image(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A grey gradient with an 8 px black/white checkerboard in SECRET."""
    image = np.zeros((H, W, 3), np.uint8)
    image[:] = np.linspace(60, 160, W, dtype=np.uint8)[None, :, None]
    rows, cols = np.indices((60, 80))
    image[SECRET] = (((rows // 8 + cols // 8) % 2) * 255).astype(np.uint8)[..., None]
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), image)
    return path, image


def camera(path: Path, zones: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {
        "source": {"kind": "image", "path": str(path), "fps": 10.0, "frames": None, "realtime": True},
        "render": {"style": "solid", "solid_color": list(GREEN), "fail_closed_style": "solid"},
        "zones": list(zones),
        "sinks": [{"kind": "null"}],
    }


def snapshot(running: Running, name: str = "door", token: str | None = TOKEN) -> tuple[int, Any, str]:
    """(status, picture BGR or the error text, X-Livefilter-Fully-Redacted)."""
    request = urllib.request.Request(f"http://127.0.0.1:{running.server.port}/api/cameras/{name}/snapshot.jpg")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.headers["Content-Type"] == "image/jpeg" and answer.headers["Cache-Control"] == "no-store"
            assert int(answer.headers["X-Livefilter-Frame"]) >= 0
            picture = cv2.imdecode(np.frombuffer(answer.read(), np.uint8), cv2.IMREAD_COLOR)
            return answer.status, picture, answer.headers["X-Livefilter-Fully-Redacted"]
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), ""


def is_fill(pixels: np.ndarray) -> bool:
    """Every pixel of ``pixels`` is the fill, 4 px in from its edges (JPEG bleeds colour across them)."""
    return bool(np.abs(pixels[4:-4, 4:-4].astype(int) - np.array(GREEN)).max() <= 12)


def wait_snapshot(running: Running, ok: Callable[[np.ndarray], bool], what: str, timeout: float = 30.0) -> np.ndarray:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        status, last, _ = snapshot(running)
        if status == 200 and ok(last):
            return last
        time.sleep(0.1)
    raise AssertionError(f"no snapshot with {what} within {timeout} s (last: {last if isinstance(last, str) else 'a picture'})")


def shows_scene(raw: np.ndarray) -> Callable[[np.ndarray], bool]:
    """True once the picture outside SECRET is the scene (the engine answers: not fail-closed)."""
    outside = np.ones((H, W), bool)
    outside[SECRET] = False
    return lambda picture: bool(np.abs(picture[outside].astype(int) - raw[outside]).mean() < 4)


def test_snapshot_is_the_redacted_output_and_zones_are_added_and_deleted(start_daemon, tmp_path: Path) -> None:
    path, raw = scene_image(tmp_path)
    pixel_zone = {"name": "secret", "units": "pixels", "points": [[48, 40], [128, 40], [128, 100], [48, 100]]}
    running = start_daemon({"cameras": {"door": camera(path, [pixel_zone])}, "http": {"port": 0, "token": TOKEN}})

    assert snapshot(running, token=None)[0] == 401
    picture = wait_snapshot(running, shows_scene(raw), "the scene outside the zone")
    assert picture.shape == raw.shape
    assert is_fill(picture[SECRET])  # the zone is the fill colour...
    assert np.abs(picture[SECRET].astype(int) - raw[SECRET]).mean() > 50  # ...and the checkerboard is gone

    # a zone drawn at run time (fractions), applied from the next frame on; deleted again
    fraction_zone = {"name": "left", "points": [[0, 0.5], [0.125, 0.5], [0.125, 1], [0, 1]]}
    status, answer = running.request("POST", "/api/cameras/door/zones", fraction_zone)
    assert (status, answer) == (201, {"camera": "door", "zone": {"name": "left", "mode": "hide", "enabled": True}})
    wait_snapshot(running, lambda p: is_fill(p[90:, :40]), "the new zone filled")
    status, answer = running.request("DELETE", "/api/cameras/door/zones/secret")
    assert status == 200 and answer["deleted"]["name"] == "secret"
    after = wait_snapshot(running, lambda p: not is_fill(p[SECRET]), "the deleted zone shown again")
    assert is_fill(after[90:, :40])
    assert [z["name"] for z in running.get("/api/cameras/door")[1]["zones"]] == ["left"]

    events = audit_events(tmp_path / "audit.jsonl")
    added = next(e for e in events if e["event"] == "zone_added")
    assert added["zone"] == "left" and added["units"] == "fraction" and added["points"][1] == [0.125, 0.5]
    assert any(e["event"] == "zone_removed" and e["zone"] == "secret" for e in events)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x", "points": [[0, 0], [1, 0]]}, "request body points: needs at least 3 entries"),
        ({"name": "x", "points": [[0, 0], [2, 0], [1, 1]]}, r"request body points\[1\]: fractions must lie in 0..1"),
        ({"points": [[0, 0], [1, 0], [1, 1]]}, "request body name: is required"),
        ({"name": "x", "points": [[0, 0], [1, 0], [1, 1]], "mode": "blur"}, "request body mode"),
        ({"name": "left", "points": [[0, 0], [1, 0], [1, 1]]}, "request body name: a zone named 'left' exists"),
        (["not", "an", "object"], "request body: expected a JSON object like a zones: entry"),
    ],
)
def test_a_bad_zone_is_a_400_naming_the_field(start_daemon, tmp_path: Path, body: Any, message: str) -> None:
    path, _ = scene_image(tmp_path)
    left = {"name": "left", "points": [[0, 0], [0.1, 0], [0.1, 0.1]]}
    running = start_daemon({"cameras": {"door": camera(path, [left])}})
    status, answer = running.request("POST", "/api/cameras/door/zones", body)
    assert status == 400
    assert __import__("re").search(message, answer["error"]), answer
    assert [z.name for z in running.daemon.camera("door").zones.zones] == ["left"]  # nothing added
    assert running.request("DELETE", "/api/cameras/door/zones/nope")[0] == 404
    assert running.request("POST", "/api/cameras/nope/zones", left)[0] == 404


class StalledModel:
    """TEST DOUBLE of the shared model: sessions whose inference never answers (the engine is down)."""

    name = "stalled"

    def __init__(self) -> None:
        self.release = threading.Event()

    def open(self) -> None:
        pass

    def session(self, prompts: Sequence[Prompt]) -> Any:
        model = self

        class Stalled:
            name = "stalled"

            def open(self) -> None:
                pass

            def infer(self, frame: Frame) -> MaskSet:
                model.release.wait(60)
                raise RuntimeError("stalled engine released")

            def set_prompts(self, prompts: Sequence[Prompt]) -> None:
                pass

            def reset(self) -> None:
                pass

            def close(self) -> None:
                pass

        return Stalled()

    def close(self) -> None:
        self.release.set()


def test_the_snapshot_is_never_the_raw_frame_while_the_engine_is_down(start_daemon, tmp_path: Path, monkeypatch) -> None:
    model = StalledModel()
    monkeypatch.setattr("livefilter.daemon.service.shared_model", lambda config: model)
    path, raw = scene_image(tmp_path)
    running = start_daemon({"cameras": {"door": camera(path)}, "http": {"port": 0, "token": TOKEN}})
    try:
        seen = 0
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline or seen < 5:
            status, picture, reason = snapshot(running)
            if status == 200:
                seen += 1
                assert is_fill(picture), "a snapshot showed more than the fill while the engine never answered"
                assert reason, "the snapshot's X-Livefilter-Fully-Redacted header names why it is fully redacted"
            else:
                assert status == 503 and "published no frame yet" in picture
            time.sleep(0.05)
    finally:
        model.release.set()


def test_no_snapshot_before_a_first_frame(start_daemon, tmp_path: Path) -> None:
    running = start_daemon({"cameras": {"door": camera(tmp_path / "missing.png")}})
    status, answer = running.request("GET", "/api/cameras/door/snapshot.jpg")
    assert status == 503 and "camera 'door' has published no frame yet" in answer["error"]
    assert running.request("GET", "/api/cameras/nope/snapshot.jpg")[0] == 404


def test_api_zones_last_until_a_reload_changes_the_cameras_zones(start_daemon, tmp_path: Path) -> None:
    import yaml

    path, _ = scene_image(tmp_path)
    file_zone = {"name": "file", "points": [[0, 0], [0.1, 0], [0.1, 0.1]]}
    site = {"cameras": {"door": camera(path, [file_zone]), "yard": camera(path)}}
    running = start_daemon(site, write=True)
    assert running.request("POST", "/api/cameras/door/zones", {"name": "api", "points": [[0, 0], [1, 0], [1, 1]]})[0] == 201
    assert running.request("DELETE", "/api/cameras/door/zones/file")[0] == 200

    def zones() -> list[str]:
        return [zone.name for zone in running.daemon.camera("door").zones.zones]

    # a reload that leaves door's zones alone keeps what the API did
    written = yaml.safe_load((tmp_path / "site.yaml").read_text())
    written["cameras"]["yard"]["prompts"] = ["head"]
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(written))
    assert running.daemon.reload("test") and zones() == ["api"]
    # one that changes door's zones brings back exactly the file's
    written["cameras"]["door"]["zones"][0]["points"] = [[0, 0], [0.2, 0], [0.2, 0.2]]
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(written))
    assert running.daemon.reload("test") and zones() == ["file"]
