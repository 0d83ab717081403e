"""Reloads, prompts and zones through the controller of a running cluster reach the right worker."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from livefilter.cluster import ClusterDaemon
from tests.cluster.frames import FrameWatcher, Judge
from tests.cluster.test_failover import assert_never_leaked, site_dict
from tests.daemon.test_service import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_reload_adds_and_removes_cameras_and_api_changes_follow_a_moved_camera(cluster, ray_cluster, tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    running, watchers = cluster(site_dict(tmp_path, ("a", "b")), path)
    daemon: ClusterDaemon = running.daemon  # type: ignore[assignment]
    assert daemon.placement() == {"a": "worker-0", "b": "worker-1"}
    wait_for(lambda: running.get("/readyz")[0] == 200, 60, "both cameras ready")

    status, answer = running.put("/api/cameras/b/prompts", {"prompts": [{"text": "face", "threshold": 0.3}]})
    assert status == 200, answer
    zone = {"name": "corner", "points": [[0, 0], [0.2, 0], [0.2, 0.2]]}
    status, answer = running.request("POST", "/api/cameras/b/zones", zone)
    assert status == 201, answer
    wait_for(lambda: [z["name"] for z in running.get("/api/cameras/b")[1]["zones"]] == ["corner"], 10, "b's zone on its worker")
    status, answer = running.put("/api/cameras/nope/prompts", {"prompts": ["face"]})
    assert status == 404

    site = site_dict(tmp_path, ("b", "c"))
    path.write_text(yaml.safe_dump(site))
    assert daemon.reload("test")
    assert daemon.placement() == {"b": "worker-1", "c": "worker-0"}  # b untouched, c where a was
    watchers["c"] = FrameWatcher(tmp_path / "c", Judge()).start()
    wait_for(lambda: sum(s.kind == "masked" for s in watchers["c"].seen) >= 5, 60, "the added camera publishing redacted")
    names = sorted(c["name"] for c in running.get("/api/cameras")[1]["cameras"])
    assert names == ["b", "c"]
    a_files = len(list((tmp_path / "a").glob("*.png")))
    time.sleep(1.0)
    assert len(list((tmp_path / "a").glob("*.png"))) == a_files  # the removed camera stopped on its worker

    actor, _ = daemon.workers()["worker-1"]
    ray_cluster.kill(actor, no_restart=True)
    wait_for(lambda: daemon.placement().get("b") == "worker-0", 30, "b moved")
    moved = wait_for(
        lambda: next((c for c in running.get("/api/cameras")[1]["cameras"] if c["name"] == "b" and c["state"] == "running"), None),
        60, "b running on worker-0",
    )
    assert moved["worker"] == "worker-0"
    assert [z["name"] for z in moved["zones"]] == ["corner"]  # the API's zone moved with it
    assert moved["prompts"] == ["face"]
    watchers["c"].stop()
    assert_never_leaked(watchers)
