"""A worker: one engine and the whole pipelines of the cameras placed on it, in one process.

:class:`CameraWorker` is a local :class:`~livefilter.daemon.service.Daemon` behind a few
methods the controller calls (Ray makes it an actor: ``ray.remote(CameraWorker)``). Frames
stay in this process: capture → engine → render → sinks; only commands, health and
metrics cross the network.

Its sinks publish only while its :class:`~livefilter.cluster.lease.Lease` holds: every health
check and placement from the controller renews it until a deadline the controller chose.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from livefilter.cluster.lease import Lease
from livefilter.daemon.config import SiteConfig
from livefilter.daemon.engine import SharedModel
from livefilter.daemon.service import Daemon
from livefilter.types import RedactedFrame

__all__ = ["CameraWorker", "Started"]


@dataclass(frozen=True)
class Started:
    """A worker whose engine has loaded: its process, and the process's nice value (Ray starts its
    workers at 15 unless told otherwise: ``RAY_worker_niceness``)."""

    pid: int
    niceness: int


class CameraWorker:
    """Runs ``site`` (only this worker's cameras; no HTTP, no file) until :meth:`stop`."""

    def __init__(self, name: str, site: SiteConfig, model: Callable[[], SharedModel] | None = None) -> None:
        self.name = name
        self.lease = Lease(name)
        self.daemon = Daemon(site, model=model, wrap_sink=self.lease.wrap)

    def start(self) -> Started:
        """Load the engine and start the cameras."""
        self.daemon.start()
        return Started(os.getpid(), os.getpriority(os.PRIO_PROCESS, 0))

    def apply(self, site: SiteConfig, lease_until: float) -> None:
        """Run these cameras from now on (added start, removed stop, changed change in place),
        publishing until ``lease_until`` (the controller's wall clock) unless renewed."""
        self.lease.grant(lease_until)
        self.daemon.apply(site, f"placement on {self.name}")

    def status(self, lease_until: float) -> list[dict[str, Any]]:
        """Every camera's state (the controller's health check: an answer means alive); renews the lease.

        Called on a thread of its own (the controller's ``health`` concurrency group) and takes no lock
        a reload or an API call holds for long: a worker busy in long calls still answers."""
        self.lease.grant(lease_until)
        return self.daemon.cameras()

    def metrics(self) -> bytes:
        return self.daemon.metrics()[0]

    def set_prompts(self, camera: str, prompts: Sequence[str | dict[str, Any]]) -> list[str]:
        return self.daemon.set_prompts(camera, prompts)

    def set_zone(self, camera: str, zone: str, enabled: bool) -> dict[str, Any]:
        return self.daemon.set_zone(camera, zone, enabled)

    def add_zone(self, camera: str, zone: dict[str, Any]) -> dict[str, Any]:
        return self.daemon.add_zone(camera, zone)

    def remove_zone(self, camera: str, zone: str) -> dict[str, Any]:
        return self.daemon.remove_zone(camera, zone)

    def snapshot(self, camera: str) -> RedactedFrame | None:
        """The camera's newest published (redacted) frame: the one picture that crosses the network, on request."""
        return self.daemon.camera(camera).snapshot()

    def stop(self) -> None:
        self.daemon.stop()
