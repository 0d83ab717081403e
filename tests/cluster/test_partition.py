"""A worker cut off from the controller, not dead: the kill cannot reach it, it stays silent, then resumes.

Simulated on one machine: ``ray.kill`` is made to do nothing (as for a node behind a network
partition) and the worker's process is stopped (SIGSTOP) and later resumed (SIGCONT). The
controller must move its cameras, handle the loss once while the other worker's health checks
go on, and the resumed worker must never publish a moved camera again (two publishers at once),
though its pipelines run on: its lease ran out before the cameras moved.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from livefilter.cluster import ClusterDaemon
from tests.cluster.conftest import ray_log_text
from tests.cluster.test_failover import HANG_S, all_ready, assert_never_leaked, moved_back_to_masked, site_dict
from tests.daemon.test_service import scrape, value, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_a_cut_off_worker_is_handled_once_and_never_publishes_its_moved_cameras_when_it_resumes(
    cluster, ray_cluster: Any, tmp_path: Path, monkeypatch
) -> None:
    # a slow loss handling: the cameras wait 5 s past the lease (a pause of the others' checks would show)
    running, watchers = cluster(site_dict(tmp_path, max_clock_skew_s=5.0))
    daemon: ClusterDaemon = running.daemon  # type: ignore[assignment]
    wait_for(lambda: all_ready(running), 60, "every camera publishing redacted frames")
    moving = sorted(c for c, w in daemon.placement().items() if w == "worker-1")
    staying = sorted(c for c, w in daemon.placement().items() if w == "worker-0")
    # the first sessions' frame numbers must stay ahead of the new ones' for the whole test:
    # a frame numbered past the old session's last one, written after the stop, is the old worker's
    wait_for(lambda: all(max((s.index for s in watchers[c].seen), default=0) >= 100 for c in moving), 60, "100 frames")
    actor, pid = daemon.workers()["worker-1"]
    kills: list[Any] = []
    ages: list[float] = []
    try:
        with monkeypatch.context() as patch:
            patch.setattr(ray_cluster, "kill", lambda handle, no_restart=True: kills.append(handle))
            os.kill(pid, signal.SIGSTOP)
            t_stop = time.monotonic()
            time.sleep(0.5)  # the watchers read what it wrote before it stopped
            old_last = {c: max(s.index for s in watchers[c].seen) for c in moving}

            def moved() -> bool:
                ages.append(daemon.health()["worker-0"])
                return all(daemon.placement().get(c) == "worker-0" for c in moving)

            wait_for(moved, 30, "the cut-off worker's cameras moved")
            t_moved, moved_at = time.monotonic(), time.time()
            wait_for(lambda: all(moved_back_to_masked(watchers[c], t_stop, moved_at) for c in moving), 30, "the moved cameras masked")
        os.kill(pid, signal.SIGCONT)
        t_cont = time.monotonic()
        time.sleep(4.0)  # its pipelines run again: capture, engine, render, sinks
        resumed = ray_cluster.get(actor.status.remote(0.0), timeout=30)  # (renews nothing: a deadline long past)
    finally:
        os.kill(pid, signal.SIGCONT)
        ray_cluster.kill(actor, no_restart=True)
    print(f"cut off: moved after {t_moved - t_stop:.1f} s; worker-0's health age while handling: max {max(ages):.2f} s")

    # handled once, and the other worker's checks went on meanwhile (its lease renewed)
    assert kills == [actor]
    lost = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines() if '"worker_lost"' in line]
    assert [(e["worker"], e["cameras"]) for e in lost] == [("worker-1", moving)]
    # (a pause would show as an age of hang_s + max_clock_skew_s: the handling waits that long)
    assert len(ages) >= 20 and max(ages) < HANG_S, f"worker-0's health checks paused while worker-1 was handled: {max(ages)}"
    assert value(scrape(running), "livefilter_worker_health_age_seconds", worker="worker-0") < HANG_S
    assert all(daemon.placement()[c] == "worker-0" for c in staying)
    for name in staying:
        frames = [s.t for s in watchers[name].since(t_stop)]
        gaps = [b - a for a, b in zip(frames, frames[1:])]
        assert frames and max(gaps) < 1.5, f"camera {name} on the healthy worker stopped publishing: gaps {max(gaps):.1f} s"

    # the resumed worker ran (its fenced sinks refused frames, and said so) but published none of them,
    # but for the bound lease.py states: per sink, the one frame whose write began before SIGSTOP (its
    # lease checked, still valid) completes on SIGCONT. It is redacted (it went through the render) and
    # its sink reports it with the time its write began, before the lease's end. Any other is one the
    # fence let through.
    in_flight: list[int] = []
    for name in moving:
        new_session = [s for s in watchers[name].since(t_moved) if s.index < old_last[name]]
        assert new_session and max(s.index for s in new_session) < old_last[name] - 10, "inconclusive: sessions met"
        overlap = [s for s in watchers[name].since(t_stop) if s.index > old_last[name]]
        late = [s for s in overlap if s.index == old_last[name] + 1 and s.t - t_cont < 0.5]
        assert len(late) <= 1 and len(late) == len(overlap), (
            f"camera {name} was published by the resumed worker too (frame, s after SIGCONT): "
            f"{[(s.index, round(s.t - t_cont, 2)) for s in overlap][:10]}"
        )
        assert all(s.kind in ("masked", "full") for s in late), f"camera {name}'s late frame is not redacted: {late}"
        in_flight += [s.index for s in late]
    reported = set(re.findall(
        rb"frame (\d+) was published [\d.]+ s after worker-1's lease ran out: its write began ([\d.]+) s before",
        ray_log_text(ray_cluster),
    ))
    assert sorted(int(i) for i, _ in reported) == sorted(in_flight), (
        f"frames published past the lease {sorted(in_flight)}, reported by their sinks as begun under it {reported}"
    )
    print(f"cut off: frames whose write began before SIGSTOP and completed on SIGCONT: {sorted(reported)}")
    assert {c["name"] for c in resumed if c["state"] == "running"} == set(moving), "the resumed worker's cameras stopped"
    assert b"lease from the cluster's controller ran out" in ray_log_text(ray_cluster), "its sinks were never asked to publish"
    assert_never_leaked(watchers)
