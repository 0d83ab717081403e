"""A healthy worker busy in long calls is not taken for hung.

A reload that stops and starts cameras holds the worker's daemon lock for as long as that takes
(a camera's stop waits for its encoder); API calls for that worker wait for it meanwhile, and may
outnumber the threads the worker has for calls. Its health checks must still be answered (they
have a thread of their own and take no such lock), its lease renewed, its cameras published:
only a process that cannot answer at all (stopped, cut off, dead) is lost.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from livefilter.cluster import ClusterDaemon
from livefilter.cluster.worker import CameraWorker
from tests.cluster.test_failover import HANG_S, all_ready, site_dict
from tests.daemon.test_service import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def slow_reload(worker: CameraWorker, seconds: float) -> float:
    """Inside the worker: hold its daemon's lock ``seconds``, as a reload stopping slow cameras does."""
    with worker.daemon._lock:
        time.sleep(seconds)
    return seconds


def test_a_worker_busy_in_long_calls_answers_its_health_checks_and_keeps_publishing(
    cluster, ray_cluster: Any, tmp_path: Path
) -> None:
    running, watchers = cluster(site_dict(tmp_path))
    daemon: ClusterDaemon = running.daemon  # type: ignore[assignment]
    wait_for(lambda: all_ready(running), 60, "every camera publishing redacted frames")
    actor, _ = daemon.workers()["worker-1"]
    mine = sorted(c for c, w in daemon.placement().items() if w == "worker-1")
    hold = 2.5 * HANG_S

    t0 = time.monotonic()
    busy = [actor.__ray_call__.remote(slow_reload, hold)]
    time.sleep(0.5)  # the reload holds the lock; the API's calls queue behind it, more than the worker's 8 threads
    busy += [actor.snapshot.remote(mine[i % len(mine)]) for i in range(10)]
    ages: list[float] = []
    while len(ray_cluster.wait(busy, num_returns=len(busy), timeout=0.1)[0]) < len(busy):
        ages.append(daemon.health().get("worker-1", float("inf")))
        assert time.monotonic() - t0 < 60, "the long calls never ended"
    ray_cluster.get(busy)  # none failed: the worker was not killed under them
    took = time.monotonic() - t0

    assert took >= hold, f"the calls were not long ({took:.1f} s)"
    assert daemon.workers()["worker-1"][0] == actor and set(daemon.placement().values()) == {"worker-0", "worker-1"}
    lost = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines() if '"worker_lost"' in line]
    assert not lost, f"a busy worker was taken for hung: {lost}"
    assert max(ages) < HANG_S, f"its health answers stopped while it was busy: {max(ages):.1f} s"
    for name in mine:  # its lease was renewed all along: its cameras kept publishing
        frames = [s.t for s in watchers[name].since(t0) if s.t <= t0 + took]
        gaps = [b - a for a, b in zip([t0, *frames], [*frames, t0 + took])]
        assert max(gaps) < HANG_S, f"camera {name} stopped publishing while its worker was busy: {max(gaps):.1f} s gap"
