"""The daemon end to end through real RTSP servers on 127.0.0.1 (GStreamer test server).

Three cameras share the real CPU face engine: two RTSP cameras (each on its own server, so
one can be killed) and one demo; each publishes its redacted restream to a fourth server,
read back by viewers that decode it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from livefilter.daemon.config import load_site
from livefilter.daemon.http import ControlServer
from livefilter.daemon.service import Daemon
from tests.daemon.conftest import Running, audit_events
from tests.daemon.test_service import scrape, value, wait_for
from tests.fakes import Scene
from tests.io.conftest import Publisher, RtspServer, Viewer, gstreamer  # noqa: F401 (fixture)
from tests.io.test_rtsp_pipeline import LEAK_PIXELS, secret_pattern_pixels, shows_index, wait_until_publishing

pytestmark = [pytest.mark.rtsp, pytest.mark.slow, pytest.mark.timeout(240)]

SCENE = Scene()
FPS = 10.0
PASSWORD = "pw-never-shown-4711"


def camera_shown(image: np.ndarray) -> bool:
    """The camera's picture, not a placeholder: crisp index bits, some of them set."""
    return shows_index(image) and int(image[:6, :128].max()) > 180


def rtsp_camera(server: RtspServer, relay: str, out: RtspServer, out_relay: str) -> dict[str, Any]:
    return {
        "source": {
            "kind": "rtsp",
            "url": f"rtsp://viewer:{{LIVEFILTER_TEST_CAM_PW}}@127.0.0.1:{server.port}/{relay}",
            "open_timeout_s": 2.0, "read_timeout_s": 1.0, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5,
        },
        "sinks": [rtsp_sink(out, out_relay)],
    }


def rtsp_sink(out: RtspServer, relay: str) -> dict[str, Any]:
    return {"kind": "rtsp", "url": out.publish_url(relay), "gop": 5, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5}


def demo_camera(out: RtspServer, relay: str) -> dict[str, Any]:
    return {
        "source": {"kind": "demo", "width": 160, "height": 120, "fps": FPS, "duration_s": None},
        "sinks": [rtsp_sink(out, relay)],
    }


def site_file(tmp_path: Path, cameras: dict[str, Any]) -> Path:
    path = tmp_path / "site.yaml"
    site = {
        "engine": {"kind": "cpu-face", "timeout_s": 2.0},
        "defaults": {"render": {"fps": FPS, "max_frame_age_ms": 400}},
        "retry": {"min_s": 0.2, "max_s": 1.0},
        "http": {"port": 0},
        "audit": {"path": str(tmp_path / "audit.jsonl")},
        "cameras": cameras,
    }
    path.write_text(yaml.safe_dump(site))
    return path


def start(path: Path) -> Running:
    daemon = Daemon(load_site(path), path=str(path))
    daemon.start()
    server = ControlServer(daemon, daemon.site.http)
    server.open()
    return Running(daemon, server)


def rate(viewer: Viewer, seconds: float) -> float:
    t0 = time.monotonic()
    time.sleep(seconds)
    return viewer.count_since(t0) / seconds


def max_gap(viewer: Viewer, start: float, end: float) -> float:
    times = [t for t, _ in list(viewer.frames) if start <= t <= end]
    return max(np.diff(times)) if len(times) > 1 else float("inf")


@pytest.fixture
def servers(gstreamer: None):
    made: list[RtspServer] = []

    def make(*relays: str, started: bool = True) -> RtspServer:
        server = RtspServer(*relays)
        made.append(server)
        if started:
            server.start()
        return server

    yield make
    for server in made:
        server.kill()


def test_three_cameras_one_lost_and_back_then_a_reload(servers, tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("LIVEFILTER_TEST_CAM_PW", PASSWORD)
    cam1, cam2, out = servers("cam1"), servers("cam2"), servers("out1", "out2", "out3", "out4")
    cameras = {
        "cam1": rtsp_camera(cam1, "cam1", out, "out1"),
        "cam2": rtsp_camera(cam2, "cam2", out, "out2"),
        "demo": demo_camera(out, "out3"),
    }
    path = site_file(tmp_path, cameras)
    with (
        Publisher(cam1.publish_url("cam1"), SCENE.image, fps=FPS) as publisher1,
        Publisher(cam2.publish_url("cam2"), SCENE.image, fps=FPS) as publisher2,
    ):
        wait_until_publishing(publisher1)
        wait_until_publishing(publisher2)
        running = start(path)
        try:
            with Viewer(out.url("out1")) as v1, Viewer(out.url("out2")) as v2, Viewer(out.url("out3")) as v3:
                for viewer in (v1, v2, v3):
                    assert viewer.wait_for(15, timeout_s=30), f"nothing restreamed on {viewer.url}"
                assert any(shows_index(image) for _, image in v1.frames)
                before = {"cam2": rate(v2, 3.0), "demo": rate(v3, 3.0)}

                # camera 1's server dies: the others keep their rate, camera 1 fails closed
                cam1.kill()
                lost = time.monotonic()
                time.sleep(1.5)
                during = {"cam2": rate(v2, 3.0), "demo": rate(v3, 3.0)}
                for name in before:  # against the rate just before, on the same (maybe loaded) machine;
                    # at most FPS (a viewer may read a burst faster after joining)
                    assert during[name] >= 0.7 * min(before[name], FPS), f"{name} slowed down: {before} -> {during}"
                assert v1.count_since(lost + 1.5) > 0, "camera 1 stopped publishing instead of failing closed"
                assert not any(shows_index(image) for t, image in v1.frames if t > lost + 1.5)
                samples = scrape(running)
                assert value(samples, "livefilter_fail_closed_frames_total", camera="cam1", reason="source_silent") > 0
                assert value(samples, "livefilter_camera_fail_closed", camera="cam1") == 1.0
                assert value(samples, "livefilter_camera_fail_closed", camera="cam2") == 0.0
                assert running.get("/readyz")[0] == 503

                # back: camera 1 recovers on its own
                cam1.start()
                back = time.monotonic()
                wait_for(lambda: any(shows_index(im) for t, im in list(v1.frames) if t > back), 30, "camera 1 back")
                wait_for(lambda: running.get("/readyz")[0] == 200, 15, "/readyz 200 again")
                assert value(scrape(running), "livefilter_source_reconnects_total", camera="cam1") >= 1

                # reload: add a camera, change camera 2's prompt, leave the demo camera alone
                demo_pipeline = running.daemon.camera("demo")._pipeline
                cameras["cam4"] = demo_camera(out, "out4")
                cameras["cam2"]["prompts"] = ["head"]
                reload_at = time.monotonic()
                site_file(tmp_path, cameras)
                with Viewer(out.url("out4")) as v4:
                    wait_for(lambda: "cam4" in running.daemon.site.cameras, 10, "the file watcher's reload")
                    assert v4.wait_for(10, timeout_s=30), "the added camera did not publish"
                time.sleep(1.0)
                assert running.daemon.camera("demo")._pipeline is demo_pipeline
                assert max_gap(v3, reload_at - 1.0, time.monotonic()) < 1.0, "the untouched camera had a gap"
                assert [p.text for p in running.daemon.camera("cam2").config.prompts] == ["head"]
            api = [str(running.get("/api/cameras")[1]), str(running.get("/readyz")[1]), running.get("/metrics")[1]]
        finally:
            running.server.close()
            running.daemon.stop()

    events = audit_events(tmp_path / "audit.jsonl")
    cam1_events = [(e["event"], e.get("reason")) for e in events if e.get("camera") == "cam1"]
    assert ("fail_closed_start", "source_silent") in cam1_events and ("fail_closed_end", "source_silent") in cam1_events
    assert ("source_reconnect", None) in cam1_events
    reload = next(e for e in events if e["event"] == "reload")
    assert (reload["ok"], reload["added"], reload["changed"], reload["unchanged"]) == (True, ["cam4"], ["cam2"], ["cam1", "demo"])
    assert events[-1]["event"] == "daemon_stop"
    for text in [*api, (tmp_path / "audit.jsonl").read_text(), caplog.text]:
        assert PASSWORD not in text


def test_a_camera_down_when_the_daemon_starts_comes_up_later(servers, tmp_path: Path, monkeypatch) -> None:
    """Its restream already runs, fully redacted (its size is configured), until it comes up."""
    monkeypatch.setenv("LIVEFILTER_TEST_CAM_PW", PASSWORD)
    cam, out = servers("cam", started=False), servers("out1", "out2")
    late = rtsp_camera(cam, "cam", out, "out1")
    late["source"].update(width=SCENE.width, height=SCENE.height)
    path = site_file(tmp_path, {"late": late, "demo": demo_camera(out, "out2")})
    running = start(path)
    try:
        with Viewer(out.url("out2")) as demo_viewer, Viewer(out.url("out1")) as viewer:
            assert demo_viewer.wait_for(10, timeout_s=30), "the other camera did not publish"
            assert viewer.wait_for(10, timeout_s=30), "no redacted placeholder while the camera is down"
            assert not any(camera_shown(im) for _, im in list(viewer.frames))
            assert max(secret_pattern_pixels(im) for _, im in list(viewer.frames)) <= LEAK_PIXELS
            status = running.daemon.camera("late").status()
            assert not status["ready"] and status["fail_closed"]
            assert value(scrape(running), "livefilter_frames_in_total", camera="late") == 0
            cam.start()
            with Publisher(cam.publish_url("cam"), SCENE.image, fps=FPS):
                wait_for(lambda: any(camera_shown(im) for _, im in list(viewer.frames)), 40, "the late camera restreamed")
                wait_for(lambda: running.daemon.camera("late").status()["ready"], 20, "the late camera ready")
        assert value(scrape(running), "livefilter_frames_in_total", camera="late") > 0
    finally:
        running.server.close()
        running.daemon.stop()


def test_a_camera_whose_restream_server_is_gone_does_not_stall_another(servers, tmp_path: Path) -> None:
    out_a, out_b = servers("a"), servers("b")
    path = site_file(tmp_path, {"a": demo_camera(out_a, "a"), "b": demo_camera(out_b, "b")})
    running = start(path)
    try:
        with Viewer(out_b.url("b")) as viewer_b:
            assert viewer_b.wait_for(15, timeout_s=30), "camera b did not restream"
            before = rate(viewer_b, 3.0)  # the baseline on this (maybe loaded) machine
            out_a.kill()
            gone = time.monotonic()
            time.sleep(1.0)
            during = rate(viewer_b, 3.0)
            assert during >= 0.7 * min(before, FPS), f"camera b slowed down when a's server went away: {before} -> {during}"
            wait_for(lambda: value(scrape(running), "livefilter_sink_errors_total", camera="a") >= 1, 15, "a's sink error")
            assert value(scrape(running), "livefilter_sink_errors_total", camera="b") == 0
            out_a.start()
            with Viewer(out_a.url("a")) as viewer_a:
                assert viewer_a.wait_for(10, timeout_s=30), "camera a did not republish when its server returned"
            assert max_gap(viewer_b, gone, time.monotonic()) < 1.0
    finally:
        running.server.close()
        running.daemon.stop()
