"""A real local Ray cluster for the cluster tests (skipped when Ray is not installed)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # Ray 2.60 wants a token by default
ray = pytest.importorskip("ray", reason="the cluster extra is not installed: pip install -e '.[cluster]'")


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """``ray.init`` with 4 logical CPUs (two workers of 1, a replacement, the driver's room) on this machine."""
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
