"""Placement, the metrics merge and the cluster: key (no Ray needed, fast)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from livefilter.cluster.metrics import merge_metrics
from livefilter.cluster.placement import assign
from livefilter.daemon.config import parse_site
from livefilter.errors import ConfigError

DEMO = {"kind": "demo", "width": 160, "height": 120, "fps": 5.0}


def cams(n: int) -> list[str]:
    return [f"cam{i:02d}" for i in range(n)]


def test_placement_balances_within_capacity_and_leaves_out_what_does_not_fit() -> None:
    placed = assign(cams(7), {"w0": 4, "w1": 4}, {})
    assert sorted(Counter(placed.values()).values()) == [3, 4]
    placed = assign(cams(10), {"w0": 4, "w1": 4}, {})
    assert len(placed) == 8 and max(Counter(placed.values()).values()) == 4
    uneven = assign(cams(6), {"big": 4, "small": 2}, {})
    assert Counter(uneven.values()) == {"big": 4, "small": 2}


def test_placement_is_sticky_and_moves_only_a_lost_workers_cameras() -> None:
    before = assign(cams(6), {"w0": 4, "w1": 4, "w2": 4}, {})
    after = assign(cams(6), {"w0": 4, "w2": 4}, before)
    for camera, worker in before.items():
        if worker != "w1":
            assert after[camera] == worker  # untouched cameras keep their sessions
    assert set(after.values()) <= {"w0", "w2"} and len(after) == 6
    assert Counter(after.values()) == {"w0": 3, "w2": 3}
    back = assign(cams(6), {"w0": 4, "w1": 4, "w2": 4}, after)
    assert back == after  # a worker that comes back takes no camera from the others
    added = assign(cams(7), {"w0": 4, "w1": 4, "w2": 4}, back)
    assert added["cam06"] == "w1"  # new cameras go where there is most room


def test_metrics_of_every_worker_are_merged_under_one_header_with_a_worker_label() -> None:
    text = (
        "# HELP livefilter_frames_out Frames.\n# TYPE livefilter_frames_out counter\n"
        'livefilter_frames_out_total{camera="%s"} 5.0\n'
        "# HELP livefilter_engine_queue_frames Jobs.\n# TYPE livefilter_engine_queue_frames gauge\n"
        "livefilter_engine_queue_frames 1.0\n"
    )
    merged = merge_metrics({"w0": text % "a", "w1": text % "b"}).decode()
    lines = merged.splitlines()
    assert lines.count("# TYPE livefilter_frames_out counter") == 1
    assert 'livefilter_frames_out_total{worker="w0",camera="a"} 5.0' in lines
    assert 'livefilter_frames_out_total{worker="w1",camera="b"} 5.0' in lines
    assert 'livefilter_engine_queue_frames{worker="w1"} 1.0' in lines
    header = lines.index("# TYPE livefilter_frames_out counter")
    assert lines[header + 1].startswith("livefilter_frames_out_total") and lines[header + 2].startswith("livefilter_frames_out_total")


def test_a_cluster_too_small_for_the_cameras_is_rejected_with_the_key() -> None:
    site = {
        "cluster": {"workers": {"count": 2, "cameras": 1}},
        "cameras": {name: {"source": DEMO, "sinks": [{"kind": "null"}]} for name in cams(3)},
    }
    with pytest.raises(ConfigError, match=r"cluster\.workers.*3 cameras do not fit on 2 worker\(s\) of 1"):
        parse_site(site)


def test_without_cluster_nothing_imports_ray() -> None:
    code = (
        "import sys\n"
        "from livefilter.cluster import controller_for\n"
        "from livefilter.daemon.config import parse_site\n"
        "from livefilter.daemon.service import Daemon\n"
        f"site = parse_site({{'cameras': {{'a': {{'source': {DEMO!r}, 'sinks': [{{'kind': 'null'}}]}}}}}})\n"
        "assert type(controller_for(site, 'site.yaml')) is Daemon\n"
        "assert 'ray' not in sys.modules, 'ray imported without cluster:'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_serve_runs_a_cluster_controller_for_a_site_with_cluster() -> None:
    from livefilter.cluster import ClusterDaemon, controller_for

    site = parse_site({
        "cluster": {"workers": {"count": 2}},
        "cameras": {"a": {"source": DEMO, "sinks": [{"kind": "null"}]}},
    })
    assert isinstance(controller_for(site, "site.yaml"), ClusterDaemon)


@pytest.mark.parametrize(("num_cpus", "threads"), [(1.0, 1), (0.5, 1), (2.5, 2)])
def test_each_workers_face_detector_uses_no_more_threads_than_the_cpus_it_reserves(num_cpus, threads) -> None:
    """Ray reserves CPUs for a worker but does not stop its process from using more: the engine
    the worker builds gets the reserved count as its detector's thread limit (the model factory)."""
    from livefilter.cluster import ClusterDaemon

    site = parse_site({
        "engine": {"kind": "cpu-face"},
        "cluster": {"workers": {"count": 2, "num_cpus": num_cpus}},
        "cameras": {"a": {"source": DEMO, "sinks": [{"kind": "null"}]}},
    })
    model = ClusterDaemon(site)._model()
    assert model.name == "cpu-face" and model.threads == threads  # type: ignore[attr-defined]


def test_the_kuberay_manifest_runs_the_daemon_on_the_head_and_gpu_workers_with_the_pinned_ray() -> None:
    """Not applied to a Kubernetes cluster here (none): its shape, and that it pins the Ray this package does."""
    import re
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    cluster, service = yaml.safe_load_all((root / "deploy" / "kuberay" / "raycluster.yaml").read_text())
    pinned = re.search(r'"ray==([0-9.]+)"', (root / "pyproject.toml").read_text())
    assert (cluster["apiVersion"], cluster["kind"]) == ("ray.io/v1", "RayCluster")
    assert pinned and cluster["spec"]["rayVersion"] == pinned.group(1)
    head = cluster["spec"]["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"  # no camera on the head
    command = " ".join(head["template"]["spec"]["containers"][0]["lifecycle"]["postStart"]["exec"]["command"])
    assert "livefilter serve /etc/livefilter/site.yaml" in command
    (group,) = cluster["spec"]["workerGroupSpecs"]
    assert group["rayStartParams"]["num-gpus"] == "1"
    assert group["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert service["spec"]["selector"]["ray.io/node-type"] == "head"
