"""Workers run their cameras at normal priority, or the controller says how to make them.

Ray starts its worker processes at nice 15: any nice-0 work on the node then takes the CPU from the
cameras first, and the workers' health answers come late (with both cores busy here, the age of
the last answer reached 3.55 s, against 1.2 s at nice 0: benchmarks §10), so healthy workers were
taken for hung.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from livefilter.cluster import ClusterDaemon
from livefilter.cluster.controller import _Worker
from livefilter.cluster.worker import Started
from livefilter.daemon.config import parse_site
from tests.cluster.conftest import MODEL
from tests.cluster.test_failover import site_dict


def test_a_worker_at_lower_priority_is_reported_with_the_remedy(tmp_path: Path, caplog) -> None:
    daemon = ClusterDaemon(parse_site(site_dict(tmp_path)), model=MODEL)
    daemon._started(_Worker("worker-0", actor=None), Started(pid=4321, niceness=0))
    assert "RAY_worker_niceness" not in caplog.text
    daemon._started(_Worker("worker-1", actor=None), Started(pid=4322, niceness=15))
    assert "cluster: worker-1 runs at nice 15" in caplog.text
    assert "start Ray on every node with RAY_worker_niceness=0" in caplog.text


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_local_cluster_runs_its_workers_at_the_daemons_priority(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="the cluster extra is not installed: pip install -e '.[cluster]'")
    if ray.is_initialized():
        pytest.skip("a Ray instance is already running in this process")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    daemon = ClusterDaemon(parse_site(site_dict(tmp_path, address="local")), model=MODEL)
    try:
        daemon.start()
        pids = [pid for _, pid in daemon.workers().values()]
        assert len(pids) == 2
        assert [os.getpriority(os.PRIO_PROCESS, pid) for pid in pids] == [os.getpriority(os.PRIO_PROCESS, 0)] * 2
    finally:
        daemon.stop()
        ray.shutdown()
