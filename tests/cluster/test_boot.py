"""A cluster whose start fails part-way (one worker's engine does not load) leaves no worker behind
and says what failed, without the secrets the failure carried."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from livefilter.cluster import ClusterDaemon
from livefilter.daemon.config import parse_site
from livefilter.errors import LivefilterError
from tests.cluster.conftest import MODEL
from tests.cluster.test_failover import site_dict
from tests.cluster.truth import SecondFailsModel
from tests.daemon.test_service import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PASSWORD = "pw-model-store-5521"


def live_workers(ray: Any) -> list[str]:
    return [actor_id for actor_id, actor in ray._private.state.actors().items()
            if actor["ActorClassName"] == "CameraWorker" and actor["State"] != "DEAD"]


def test_a_failed_start_stops_the_workers_already_started_and_says_why(ray_cluster: Any, tmp_path: Path, caplog) -> None:
    model = SecondFailsModel(MODEL.spec, str(tmp_path / "loaded-once"), PASSWORD)
    daemon = ClusterDaemon(parse_site(site_dict(tmp_path)), model=model)
    with pytest.raises(LivefilterError) as failed:
        daemon.start()
    message = str(failed.value)
    assert "did not start" in message and "worker-" in message and "the workers already started were stopped" in message
    assert "EngineError: cannot load the weights from https://models:***@weights.example/m" in message
    wait_for(lambda: not live_workers(ray_cluster), 15, "no worker actor left alive")
    assert not daemon.workers()
    for text in (message, caplog.text, (tmp_path / "audit.jsonl").read_text()):
        assert PASSWORD not in text
