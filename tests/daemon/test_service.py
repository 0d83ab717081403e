"""The daemon with real pipelines: start-up retries, the HTTP API, /metrics, reloads, the audit log."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from livefilter.daemon.camera import CameraTotals
from livefilter.runtime.metrics import Metrics
from tests.daemon.conftest import DEMO, Running, audit_events


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def scrape(running: Running) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, parsed by prometheus_client's own parser."""
    status, text = running.get("/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def camera(**overrides: Any) -> dict[str, Any]:
    return {"source": DEMO, "sinks": [{"kind": "null"}], **overrides}


def test_a_camera_down_at_start_is_retried_until_it_comes_up(start_daemon, tmp_path: Path) -> None:
    still = tmp_path / "late.png"  # the camera that is not there yet
    late = {"kind": "image", "path": str(still), "fps": 10.0, "frames": None, "realtime": True}
    running = start_daemon({"cameras": {"up": camera(), "late": camera(source=late)}})
    daemon = running.daemon

    wait_for(lambda: daemon.camera("late").totals().start_failures >= 3, what="retries of the missing camera")
    assert daemon.camera("late").status()["state"] == "retrying"

    def up_ready_late_not() -> bool:
        """/readyz: 503, the camera that is up ready (on a loaded machine it may take a while to
        reach its rate, or fail closed for a moment: waited for), the missing one never ready."""
        status, ready = running.get("/readyz")
        assert status == 503 and not ready["cameras"]["late"]["ready"], (status, ready)
        return bool(ready["cameras"]["up"]["ready"])

    wait_for(up_ready_late_not, timeout=60, what="/readyz 503 with camera up ready")

    cv2.imwrite(str(still), np.full((180, 320, 3), 90, np.uint8))  # the camera comes up
    wait_for(lambda: daemon.camera("late").status()["ready"], timeout=60, what="the late camera publishing")
    assert wait_for(lambda: running.get("/readyz")[0] == 200, timeout=60, what="/readyz 200")
    samples = scrape(running)
    assert value(samples, "livefilter_camera_start_failures_total", camera="late") >= 3
    assert value(samples, "livefilter_camera_up", camera="late") == 1.0
    events = [e["event"] for e in audit_events(tmp_path / "audit.jsonl") if e.get("camera") == "late"]
    assert events[:3] == ["camera_start_failed"] * 3 and "camera_start" in events


def test_metrics_follow_prometheus_conventions_and_move(start_daemon) -> None:
    running = start_daemon({"cameras": {"a": camera(), "b": camera()}})
    wait_for(lambda: all(c["output_fps"] > 5 for c in running.daemon.cameras()), what="both cameras publishing")
    first = scrape(running)

    def moved() -> dict | None:
        """A later scrape in which every camera's counters moved (as soon as they have: a loaded
        machine may take a while to infer its first frame)."""
        second = scrape(running)
        return second if all(
            value(second, "livefilter_frames_out_total", camera=cam) > value(first, "livefilter_frames_out_total", camera=cam)
            and value(second, "livefilter_frames_in_total", camera=cam) > 0
            and value(second, "livefilter_engine_seconds_count", camera=cam) > 0
            and value(second, "livefilter_latency_seconds_count", camera=cam) > 0
            for cam in ("a", "b")
        ) else None

    second = wait_for(moved, timeout=60, what="every camera's counters moving")
    for name, labels in second:
        assert name.startswith("livefilter_")
        assert {key for key, _ in labels} <= {"camera", "reason", "le"}
        assert "_ms" not in name


def test_api_lists_cameras_changes_prompts_and_toggles_zones(start_daemon, tmp_path: Path) -> None:
    zone = {"name": "window", "points": [[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]}
    running = start_daemon({"cameras": {"a": camera(zones=[zone]), "b": camera()}})

    status, body = running.get("/api/cameras")
    assert status == 200 and [c["name"] for c in body["cameras"]] == ["a", "b"]
    assert body["cameras"][0]["zones"] == [{"name": "window", "mode": "hide", "enabled": True}]

    status, body = running.put("/api/cameras/a/zones/window", {"enabled": False})
    assert status == 200 and body["zone"]["enabled"] is False
    assert running.daemon.camera("a").zones.mask(180, 320) is None
    assert running.put("/api/cameras/a/zones/nope", {"enabled": False})[0] == 404

    status, body = running.put("/api/cameras/b/prompts", {"prompts": ["head"]})
    assert status == 200 and body["prompts"] == ["head"]
    assert running.get("/api/cameras/b")[1]["prompts"] == ["head"]
    status, body = running.put("/api/cameras/b/prompts", {"prompts": ["license plate"]})
    assert status == 400 and "cannot look for 'license plate'" in body["error"]
    assert running.get("/api/cameras/zzz")[0] == 404

    events = audit_events(tmp_path / "audit.jsonl")
    assert {"event": "zone_changed", "camera": "a", "zone": "window", "enabled": False}.items() <= next(
        e for e in events if e["event"] == "zone_changed"
    ).items()
    assert next(e for e in events if e["event"] == "prompts_changed")["prompts"] == ["head"]


def test_a_token_is_required_when_configured(start_daemon) -> None:
    token = "s3cret-token-for-tests"
    running = start_daemon({"cameras": {"a": camera()}, "http": {"port": 0, "token": token}})
    assert running.get("/healthz", token="wrong")[0] == 200  # liveness needs no token
    assert running.get("/api/cameras", token="wrong")[0] == 401
    assert running.get("/metrics", token="wrong")[0] == 401
    assert running.get("/api/cameras")[0] == 200


def test_reload_adds_changes_and_keeps_untouched_cameras_running(start_daemon, tmp_path: Path) -> None:
    site = {
        "cameras": {"keep": camera(), "change": camera(), "restyle": camera()},
        "http": {"port": 0},
        "reload": {"watch": False},  # the reloads are this test's own (the watcher: test_daemon_rtsp)
    }
    running = start_daemon(site, write=True)
    daemon = running.daemon
    wait_for(lambda: all(c["output_fps"] > 5 for c in daemon.cameras()), what="cameras publishing")
    keep = daemon.camera("keep")
    kept_pipeline = keep._pipeline
    before = keep.totals()

    path = tmp_path / "site.yaml"
    site["cameras"]["change"] = camera(prompts=["head"])
    site["cameras"]["added"] = camera()
    site["cameras"]["restyle"] = camera(render={"style": "solid"})
    change = daemon.camera("change")
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "cameras": site["cameras"]}))
    assert daemon.reload("test")

    assert daemon.camera("keep") is keep and keep._pipeline is kept_pipeline  # not restarted
    wait_for(lambda: daemon.camera("added").status()["ready"], what="the added camera")
    assert daemon.camera("change") is change and [p.text for p in change.config.prompts] == ["head"]  # in place
    assert daemon.camera("restyle").config.render.style == "solid"
    after = keep.totals()  # the same pipeline kept publishing (its counters were not reset)
    assert after.counters["frames_published"] > before.counters["frames_published"]
    assert keep.totals().restarts == 0 and keep.totals().start_failures == 0

    path.write_text("cameras:\n  keep:\n    source: {kind: demo}\n    sinks: [{kind: nul}]\n")  # invalid
    assert not daemon.reload("test")
    assert sorted(daemon.site.cameras) == ["added", "change", "keep", "restyle"]
    assert daemon.camera("keep") is keep
    reloads = [e for e in audit_events(tmp_path / "audit.jsonl") if e["event"] == "reload"]
    assert reloads[0]["ok"] and reloads[0]["added"] == ["added"] and reloads[0]["changed"] == ["change", "restyle"]
    assert reloads[0]["unchanged"] == ["keep"] and reloads[0]["restarted"] == ["restyle"]
    assert not reloads[1]["ok"] and "sinks[0].kind" in reloads[1]["errors"][0]


def test_no_password_in_audit_log_metrics_or_api(start_daemon, tmp_path: Path, caplog, monkeypatch) -> None:
    monkeypatch.setenv("LIVEFILTER_CAM_PW", "hunter2secret")
    rtsp = {"kind": "rtsp", "url": "rtsp://admin:{LIVEFILTER_CAM_PW}@127.0.0.1:9/stream", "open_timeout_s": 1.0}
    running = start_daemon({"cameras": {"cam": camera(source=rtsp)}}, write=True)
    wait_for(lambda: "127.0.0.1:9/stream" in caplog.text, what="the unreachable camera in the log")
    assert not running.daemon.camera("cam").status()["ready"]

    texts = [
        (tmp_path / "audit.jsonl").read_text(),
        running.get("/metrics")[1],
        str(running.get("/api/cameras")[1]),
        str(running.get("/readyz")[1]),
        caplog.text,
    ]
    assert all("hunter2secret" not in text for text in texts)
    assert "admin:***@127.0.0.1" in running.get("/api/cameras/cam")[1]["source"]


def test_metrics_export_the_share_of_each_frame_that_is_redacted(start_daemon) -> None:
    """Issue 16 item 3 in /metrics: a histogram of the redacted share of each published frame.
    A zone hides a quarter of camera a's picture. (How much the engine's masks add depends on
    the load: ageing masks grow along the motion; fail-closed frames apart: the test below.)"""
    quarter = {"name": "corner", "points": [[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]}
    running = start_daemon({"cameras": {"a": camera(zones=[quarter]), "b": camera()}})
    ratio = "livefilter_redacted_ratio"

    def counted() -> dict | None:
        samples = scrape(running)
        return samples if all(value(samples, f"{ratio}_count", camera=c) >= 10 for c in ("a", "b")) else None

    samples = wait_for(counted, timeout=60, what="redacted shares of 10 frames per camera")
    count = value(samples, f"{ratio}_count", camera="a")
    assert value(samples, f"{ratio}_bucket", camera="a", le="+Inf") == count
    assert value(samples, f"{ratio}_bucket", camera="a", le="0.1") == 0  # the zone alone hides 25 %
    assert value(samples, f"{ratio}_sum", camera="a") >= 0.25 * count
    text = running.get("/metrics")[1]
    assert f"# TYPE {ratio} histogram" in text
    bounds = sorted(float(dict(labels)["le"]) for name, labels in samples if name == f"{ratio}_bucket" and dict(labels)["camera"] == "a")
    assert bounds[0] == 0.0 and bounds[-2] == 1.0  # ratios (0..1), then +Inf


def test_the_redacted_ratio_leaves_fully_redacted_frames_out_and_survives_restarts() -> None:
    """Fail-closed frames are counted by reason (livefilter_fail_closed_frames_total), not as
    frames 100 % redacted; a camera's restarts add up (Prometheus counters never go back)."""
    clock = [0.0]
    first, second = Metrics(clock=lambda: clock[0]), Metrics(clock=lambda: clock[0])
    for t, reason, share in ((1, "no_masks_yet", 1.0), (2, "", 0.3), (3, "stale_masks", 1.0), (4, "", 0.0)):
        clock[0] = t
        first.frame_published(t_capture=t - 0.05, reason=reason, mask_age_s=None, redacted_fraction=share)
    second.frame_published(t_capture=4.9, reason="", mask_age_s=0.0, redacted_fraction=0.95)
    totals = CameraTotals().plus(first.snapshot()).plus(second.snapshot())

    share = totals.redacted_share
    assert share is not None and share.count == 3 and share.sum == pytest.approx(1.25)
    assert dict(zip(share.bounds, share.counts)) == {
        0.0: 1, 0.01: 1, 0.05: 1, 0.1: 1, 0.25: 1, 0.5: 2, 0.75: 2, 0.9: 2, 1.0: 3
    }
    assert totals.fail_closed == {"no_masks_yet": 1, "stale_masks": 1}


def test_every_failed_start_is_counted_where_it_is_audited(start_daemon, tmp_path: Path, monkeypatch) -> None:
    """A camera whose pipeline cannot even be built (not only one that cannot start) is retried,
    and /metrics counts each failure the audit log records."""
    from livefilter.daemon import camera as camera_module

    real, calls = camera_module.build_pipeline, []

    def flaky_build(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= 2:
            raise RuntimeError("injected build failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(camera_module, "build_pipeline", flaky_build)
    running = start_daemon({"cameras": {"a": camera()}})
    wait_for(lambda: running.daemon.camera("a").status()["state"] == "running", what="camera a running")
    failed = [e for e in audit_events(tmp_path / "audit.jsonl") if e["event"] == "camera_start_failed"]
    assert len(failed) == 2 and "injected build failure" in failed[0]["error"]
    assert value(scrape(running), "livefilter_camera_start_failures_total", camera="a") == 2


def test_a_file_caught_half_written_is_not_applied(start_daemon, tmp_path: Path) -> None:
    """The file watcher applies a new content only once it stayed the same for one poll: a file
    caught while being written (cut short, yet valid: a camera missing) never removes a camera."""
    site = {"cameras": {"a": camera(), "b": camera()}, "reload": {"watch": False}}  # polled by hand
    running = start_daemon(site, write=True)
    daemon, path = running.daemon, tmp_path / "site.yaml"
    full = yaml.safe_load(path.read_text())
    b = daemon.camera("b")

    path.write_text(yaml.safe_dump({**full, "cameras": {"a": full["cameras"]["a"]}}))  # b not written yet
    assert not daemon.poll_file()
    full["cameras"]["b"]["prompts"] = ["head"]
    path.write_text(yaml.safe_dump(full))  # the writer finished
    assert not daemon.poll_file()  # changed since the last look: wait one more
    assert sorted(daemon.site.cameras) == ["a", "b"] and daemon.camera("b") is b
    assert daemon.poll_file()  # stable: applied
    assert not daemon.poll_file()
    assert daemon.camera("b") is b and [p.text for p in b.config.prompts] == ["head"]
    reloads = [e for e in audit_events(tmp_path / "audit.jsonl") if e["event"] == "reload"]
    assert [(e["ok"], e["removed"], e["changed"]) for e in reloads] == [(True, [], ["b"])]


def test_the_camera_list_answers_while_a_reload_holds_the_daemon(start_daemon) -> None:
    """A cluster worker's health check is this list: a reload that stops a camera (its encoder
    flushing for seconds) holds the daemon, and must not make the worker look hung."""
    daemon = start_daemon({"cameras": {"a": camera(), "b": camera()}}).daemon
    answered: list[list[dict[str, Any]]] = []
    with daemon._lock:  # as Daemon.apply holds it while it stops and starts cameras
        thread = threading.Thread(target=lambda: answered.append(daemon.cameras()), daemon=True)
        thread.start()
        thread.join(2.0)
        assert answered, "the camera list waited for the reload"
    assert [c["name"] for c in answered[0]] == ["a", "b"]
