"""A real local Ray cluster for the cluster tests (skipped when Ray is not installed), and a running
controller whose cameras' outputs are watched frame by frame."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import yaml

from livefilter.cluster import ClusterDaemon
from livefilter.daemon.config import load_site, parse_site
from livefilter.daemon.http import ControlServer
from livefilter.sources.scene import SceneSpec
from tests.cluster.frames import DEMO, FrameWatcher, Judge
from tests.cluster.truth import DemoTruthModel
from tests.daemon.conftest import Running

MODEL = DemoTruthModel(SceneSpec(width=DEMO["width"], height=DEMO["height"], fps=DEMO["fps"]))


def ray_log_text(ray: Any) -> bytes:
    """Everything the Ray session logged so far (the raylet's, GCS's, every worker process's files)."""
    logs = Path(ray._private.worker._global_node.get_logs_dir_path())
    return b"".join(path.read_bytes() for path in sorted(logs.rglob("*")) if path.is_file())


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """``ray.init`` with 4 logical CPUs (two workers of 1, a replacement, the driver's room) on this machine."""
    ray = pytest.importorskip("ray", reason="the cluster extra is not installed: pip install -e '.[cluster]'")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # Ray 2.60 wants a token by default
    # workers at the driver's priority, as `address: local` and the KubeRay manifest run them (Ray's
    # default, nice 15, starves them behind any other work: ../shared/tools/busy made them answer late)
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False,
             _system_config={"worker_niceness": 0})
    yield ray
    ray.shutdown()


@pytest.fixture
def cluster(ray_cluster: Any, tmp_path: Path) -> Iterator[Callable[..., tuple[Running, dict[str, FrameWatcher]]]]:
    started: list[tuple[Running, list[FrameWatcher]]] = []

    def start(
        site: dict[str, Any], path: Path | None = None, model: Any = MODEL
    ) -> tuple[Running, dict[str, FrameWatcher]]:
        """``model`` None: the workers build the site's real engine."""
        if path is not None:
            path.write_text(yaml.safe_dump(site))
            daemon = ClusterDaemon(load_site(path), path=str(path), model=model)
        else:
            daemon = ClusterDaemon(parse_site(site), model=model)
        daemon.start()
        server = ControlServer(daemon, daemon.site.http)
        server.open()
        judge = Judge()
        watchers = {name: FrameWatcher(tmp_path / name, judge).start() for name in site["cameras"]}
        running = Running(daemon, server)  # type: ignore[arg-type]
        started.append((running, list(watchers.values())))
        return running, watchers

    yield start
    for running, watchers in started:
        running.server.close()
        running.daemon.stop()
        for watcher in watchers:
            watcher.stop()
