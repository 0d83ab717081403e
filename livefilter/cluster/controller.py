"""The cluster's controller: places cameras on worker actors, watches them, moves a lost worker's cameras.

:class:`ClusterDaemon` is what ``livefilter serve`` runs for a site with ``cluster:``. It has the
daemon's control surface (the HTTP API, /readyz and /metrics drive it the same way) but runs no
camera itself: each :class:`~livefilter.cluster.worker.CameraWorker` actor holds one engine and
runs the whole pipelines of its cameras. The controller

- places cameras with :func:`~livefilter.cluster.placement.assign` (stable, balanced, within
  ``cluster.workers.cameras`` per worker) and sends each worker its part of the site;
- asks every worker for its health each ``cluster.health_s``; each check renews the worker's
  :class:`~livefilter.cluster.lease.Lease` (its sinks publish only while it holds) until
  ``hang_s`` after it was sent. A worker that died (its actor is gone) or stays silent
  ``cluster.hang_s`` is lost: it is killed, and once the lease it was last granted has run out
  (it may be cut off rather than dead, and resume) its cameras are placed on the others, where
  their pipelines start fully redacted until their masks exist (the pipeline's own promise),
  publishing under the same sink paths; so a camera is never published by two workers at once.
  A lost worker is handled in a thread of its own: the others' checks (and leases) go on, and
  placements happen one at a time. A replacement worker is then started in its slot and takes
  cameras that fitted nowhere, and new ones;
- forwards the API's prompts and zone switches to the camera's worker and keeps them, so a
  moved camera keeps them too; applies reloads of the file by placing the new site.

Ray is imported only here, when a cluster is started (``pip install 'livefilter[cluster]'``).
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from livefilter.cluster.metrics import merge_metrics
from livefilter.cluster.placement import assign
from livefilter.cluster.worker import CameraWorker, Started
from livefilter.config import PromptConfig
from livefilter.daemon.audit import AuditLog
from livefilter.daemon.engine import SharedModel, shared_model
from livefilter.config.loader import parse_model
from livefilter.daemon.config import (
    AuditConfig, CameraConfig, ClusterConfig, HttpConfig, ReloadConfig, SiteConfig, ZoneConfig,
)
from livefilter.daemon.service import parse_prompts
from livefilter.daemon.sitefile import SiteFile, keep_fixed_sections
from livefilter.errors import ConfigError, LivefilterError
from livefilter.secrets import redact_text, redact_url
from livefilter.types import RedactedFrame

__all__ = ["ClusterDaemon"]

logger = logging.getLogger(__name__)

START_S = 600.0
"""Longest a worker may take to load its engine (SAM3 weights from a cold disk)."""

CALL_S = 60.0
"""Longest a command to a worker may take (stopping a camera waits for its encoder)."""

METRICS_S = 5.0
"""Longest /metrics waits for the workers' metrics (a silent worker's are left out)."""

HEALTH_GROUP = "health"
"""The workers' Ray concurrency group of their health checks: one thread of its own, so a check never
waits for a free thread behind long calls (a reload stopping cameras, API calls waiting for it)."""

SLOW_WARN_S = 60.0
"""At most one warning a worker per this many seconds that its health answers come late."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise LivefilterError(
            "cluster: kind ray needs Ray; install it with pip install 'livefilter[cluster]' "
            "(or remove cluster: to run every camera in this process)"
        ) from None
    return ray


@dataclass
class _Worker:
    name: str
    actor: Any
    pid: int = 0
    pending: Any = None  # the health check in flight
    sent: float = 0.0
    answered: float = 0.0  # when it last answered one (monotonic)
    lease_until: float = 0.0  # the latest deadline it was granted (the controller's wall clock)
    warned_slow: float = -SLOW_WARN_S  # when it was last said to answer late (monotonic)
    site: SiteConfig | None = None  # what it was last told to run


class _CameraView:
    def __init__(self, cluster: ClusterDaemon, name: str) -> None:
        self._cluster, self.name = cluster, name

    def status(self) -> dict[str, Any]:
        return next(c for c in self._cluster.cameras() if c["name"] == self.name)

    def snapshot(self) -> RedactedFrame | None:
        return self._cluster.call(self.name, "snapshot", self.name)


class ClusterDaemon:
    """Runs a site with ``cluster:`` on Ray worker actors until :meth:`stop`."""

    def __init__(
        self, site: SiteConfig, *, path: str | None = None, model: Callable[[], SharedModel] | None = None
    ) -> None:
        if site.cluster is None:
            raise ValueError("ClusterDaemon needs a site with cluster:")
        self.path = path
        self._site = site
        self._cluster: ClusterConfig = site.cluster
        # Each worker builds site.engine, its detector's threads within the CPUs it reserves (Ray does
        # not stop a process from using more); tests pass exact doubles. Either way picklable.
        self._model = model or functools.partial(
            shared_model, site.engine, threads=max(1, math.floor(self._cluster.workers.num_cpus))
        )
        self._lock = threading.RLock()
        self.audit = AuditLog(site.audit.path, max_bytes=site.audit.max_bytes, backups=site.audit.backups)
        self._workers: dict[str, _Worker] = {}
        self._placement: dict[str, str] = {}
        self._prompts: dict[str, list[PromptConfig]] = {}  # set through the API; outlive moves
        self._zones: dict[str, dict[str, ZoneConfig | None]] = {}  # added (or switched) / removed (None)
        self._statuses: dict[str, list[dict[str, Any]]] = {}
        self.moves = 0
        self._fenced: dict[str, _Worker] = {}  # lost workers whose lease has not run out: their cameras wait
        self._placing = threading.Lock()  # one placement at a time (workers get their sites in order)
        self._threads: list[threading.Thread] = []  # handling lost workers, starting replacements
        self._file = SiteFile(path, self.audit) if path else None
        self._stopping = threading.Event()
        self.stopped = threading.Event()

    @property
    def site(self) -> SiteConfig:
        with self._lock:
            return self._site

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Join (or start) the Ray cluster, start the workers, place the cameras, watch."""
        ray = _ray()
        address = self._cluster.address
        if not ray.is_initialized():
            shown = redact_url(address) if "://" in address else address
            try:
                if address == "local":  # its workers run their cameras at the daemon's priority (Ray's default: nice 15)
                    ray.init(include_dashboard=False, _system_config={"worker_niceness": 0})
                else:
                    ray.init(address=address, include_dashboard=False)
            except (ConnectionError, RuntimeError) as exc:
                raise LivefilterError(
                    f"cluster.address {shown}: cannot join the Ray cluster ({exc}); start one (ray start --head), "
                    "give its ray://HOST:10001 address, or use address: local"
                ) from None
        self.audit.open()
        self.audit.event("daemon_start", cameras=sorted(self._site.cameras), config=self.path, workers=self._cluster.workers.count)
        workers: list[_Worker] = []
        try:
            for i in range(self._cluster.workers.count):
                workers.append(self._spawn(f"worker-{i}"))
            for worker in workers:
                self._started(worker, self._boot(worker))
        except BaseException:
            for worker in workers:  # none outlives a failed start
                ray.kill(worker.actor, no_restart=True)
            with self._lock:
                self._workers.clear()
            self.audit.event("daemon_stop", error="start failed")
            self.audit.close()
            raise
        self._place("start")
        threading.Thread(target=self._watch_workers, name="cluster:watch", daemon=True).start()
        if self._file is not None:
            threading.Thread(target=self._watch_file, name="reload:watch", daemon=True).start()

    def _boot(self, worker: _Worker) -> Started:
        """Wait for ``worker``'s engine to load. Raises what a user can act on."""
        ray = _ray()
        resources = f"{self._cluster.workers.num_cpus:g} CPU, {self._cluster.workers.num_gpus:g} GPU"
        try:
            started: Started = ray.get(worker.pending, timeout=START_S)
            return started
        except ray.exceptions.GetTimeoutError:
            raise LivefilterError(
                f"cluster: {worker.name} did not start within {START_S:g} s; does the Ray cluster have "
                f"{self._cluster.workers.count} x ({resources}) free (ray status)? Lower cluster.workers.count, "
                "num_cpus or num_gpus, or add nodes; the workers already started were stopped"
            ) from None
        except ray.exceptions.RayError as exc:
            raise LivefilterError(
                f"cluster: {worker.name} did not start: {redact_text(_cause(exc))}; "
                "the workers already started were stopped (fix the engine: section, or the node, and start again)"
            ) from None

    def stop(self) -> None:
        """Stop every worker's cameras (sinks finalise their files), then the workers. Idempotent."""
        self._stopping.set()
        with self._lock:
            if self.stopped.is_set():
                return
            threads = list(self._threads)
        for thread in threads:  # they see the stop within half a second and kill what they started
            thread.join(5.0)
        with self._lock:
            workers = list(self._workers.values())
            lost = list(self._fenced.values())  # killed already, maybe out of reach: not waited for
            self._workers.clear()
            self._fenced.clear()
        ray = _ray()
        refs = [worker.actor.stop.remote() for worker in workers]
        try:
            ray.get(refs, timeout=CALL_S)
        except Exception as exc:  # a dead worker has nothing left to stop
            logger.warning("cluster: stopping the workers: %s", redact_text(_cause(exc)))
        for worker in workers + lost:
            ray.kill(worker.actor, no_restart=True)
        self.audit.event("daemon_stop")
        self.audit.close()
        self.stopped.set()

    # -- the API's verbs ------------------------------------------------------------------------

    def cameras(self) -> list[dict[str, Any]]:
        """Every camera's state as its worker last reported it, with ``worker``; unplaced ones not ready."""
        with self._lock:
            placement = dict(self._placement)
            reported = {c["name"]: {**c, "worker": w} for w, cameras in self._statuses.items() for c in cameras}
            names = list(self._site.cameras)
        return [
            reported.get(name) or {
                "name": name, "state": "moving" if name in placement else "unplaced", "worker": placement.get(name, ""),
                "ready": False, "redacting": False, "fail_closed": "no worker", "output_fps": 0.0,
            }
            for name in names
        ]

    def camera(self, name: str) -> _CameraView:
        with self._lock:
            if name not in self._site.cameras:
                raise KeyError(f"no camera named {name!r}; cameras: {', '.join(self._site.cameras)}")
        return _CameraView(self, name)

    def placement(self) -> dict[str, str]:
        """Camera → worker now."""
        with self._lock:
            return dict(self._placement)

    def workers(self) -> dict[str, tuple[Any, int]]:
        """Live worker → (its Ray actor handle, its process id)."""
        with self._lock:
            return {name: (worker.actor, worker.pid) for name, worker in self._workers.items()}

    def health(self) -> dict[str, float]:
        """Live worker → seconds since it last answered a health check."""
        now = time.monotonic()
        with self._lock:
            return {name: now - worker.answered for name, worker in self._workers.items()}

    def set_prompts(self, name: str, prompts: Sequence[str | dict[str, Any]]) -> list[str]:
        """Change camera ``name``'s prompts on its worker (kept if it moves); returns them."""
        self.camera(name)
        parsed = parse_prompts(self.site.engine, prompts)
        with self._lock:
            self._prompts[name] = parsed
        self.call(name, "set_prompts", name, [p.model_dump() for p in parsed])
        texts = [p.text for p in parsed]
        self.audit.event("prompts_changed", camera=name, prompts=texts)
        return texts

    def call(self, camera: str, method: str, *args: Any) -> Any:
        """``method(*args)`` on ``camera``'s worker (None while it has none)."""
        with self._lock:
            worker = self._workers.get(self._placement.get(camera, ""))
        if worker is None:
            return None
        return _ray().get(getattr(worker.actor, method).remote(*args), timeout=CALL_S)

    def _zone_edit(self, name: str, zone: str, config: ZoneConfig | None) -> None:
        with self._lock:
            self._zones.setdefault(name, {})[zone] = config

    def _zone_configs(self, name: str) -> dict[str, ZoneConfig]:
        with self._lock:
            return {z.name: z for z in self._camera(name).zones}

    def set_zone(self, name: str, zone: str, enabled: bool) -> dict[str, Any]:
        """Switch zone ``zone`` of camera ``name`` on or off on its worker (kept if it moves)."""
        self.camera(name)
        zones = self._zone_configs(name)
        if zone not in zones:
            raise KeyError(f"no zone named {zone!r}; zones: {', '.join(zones) or 'none'}")
        self._zone_edit(name, zone, zones[zone].model_copy(update={"enabled": enabled}))
        self.call(name, "set_zone", name, zone, enabled)
        self.audit.event("zone_changed", camera=name, zone=zone, enabled=enabled)
        return {"name": zone, "mode": zones[zone].mode, "enabled": enabled}

    def add_zone(self, name: str, zone: Any) -> dict[str, Any]:
        """Add a zone (a ``zones:`` entry) to camera ``name`` on its worker (kept if it moves)."""
        self.camera(name)
        if not isinstance(zone, dict):
            raise ConfigError("request body: expected a JSON object like a zones: entry of the site file")
        config = parse_model(zone, ZoneConfig, origin="request body")
        if config.name in self._zone_configs(name):
            raise ConfigError(f"request body name: camera {name!r} already has a zone {config.name!r}")
        self._zone_edit(name, config.name, config)
        self.call(name, "add_zone", name, zone)
        self.audit.event("zone_added", camera=name, zone=config.name, mode=config.mode, enabled=config.enabled)
        return {"name": config.name, "mode": config.mode, "enabled": config.enabled}

    def remove_zone(self, name: str, zone: str) -> dict[str, Any]:
        """Delete zone ``zone`` of camera ``name`` on its worker (kept if it moves)."""
        self.camera(name)
        zones = self._zone_configs(name)
        if zone not in zones:
            raise KeyError(f"no zone named {zone!r}; zones: {', '.join(zones) or 'none'}")
        self._zone_edit(name, zone, None)
        self.call(name, "remove_zone", name, zone)
        self.audit.event("zone_removed", camera=name, zone=zone)
        return {"name": zone, "mode": zones[zone].mode, "enabled": zones[zone].enabled}

    def metrics(self) -> tuple[bytes, str]:
        """Every worker's metrics with a ``worker`` label, and the cluster's own."""
        from prometheus_client import CONTENT_TYPE_LATEST

        ray = _ray()
        with self._lock:
            workers = list(self._workers.values())
            placement = dict(self._placement)
            cameras = list(self._site.cameras)
        live = {worker.name for worker in workers}
        refs = {worker.name: worker.actor.metrics.remote() for worker in workers}
        ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=METRICS_S) if refs else ([], [])
        texts: dict[str, str] = {}
        for name, ref in refs.items():
            try:
                if ref not in ready:
                    raise TimeoutError(f"no answer within {METRICS_S:g} s")
                texts[name] = ray.get(ref).decode()
            except Exception as exc:  # a worker being lost: its cameras show as not placed
                logger.warning("cluster: no metrics from %s: %s", name, redact_text(_cause(exc)))
        health = self.health()
        extra = [
            "# HELP livefilter_worker_up 1 while the worker answers (its cameras' metrics carry its name).",
            "# TYPE livefilter_worker_up gauge",
            *(f'livefilter_worker_up{{worker="{w.name}"}} {1.0 if w.name in texts else 0.0}' for w in workers),
            "# HELP livefilter_worker_health_age_seconds Seconds since the worker last answered a health check.",
            "# TYPE livefilter_worker_health_age_seconds gauge",
            *(f'livefilter_worker_health_age_seconds{{worker="{w}"}} {age:.3f}' for w, age in sorted(health.items())),
            "# HELP livefilter_camera_placed 1 while the camera has a live worker (0: none, or its lost one's lease runs out).",
            "# TYPE livefilter_camera_placed gauge",
            *(f'livefilter_camera_placed{{camera="{c}",worker="{placement.get(c, "")}"}} '
              f"{1.0 if placement.get(c) in live else 0.0}" for c in cameras),
            "# HELP livefilter_camera_moves Cameras moved off a lost worker.",
            "# TYPE livefilter_camera_moves counter",
            f"livefilter_camera_moves_total {float(self.moves)}",
        ]
        return merge_metrics(texts, "\n".join(extra) + "\n"), CONTENT_TYPE_LATEST

    # -- reload -----------------------------------------------------------------------------------

    def file_changed(self) -> bool:
        return self._file is not None and self._file.changed()

    def reload(self, trigger: str = "SIGHUP") -> bool:
        """Re-read the file and place the new site; False (old config kept) when it is invalid."""
        new = self._file.load(trigger) if self._file is not None else None
        if new is None:
            return False
        with self._lock:
            old = self._site
            new, fixed = keep_fixed_sections(old, new)
            for name in list(self._prompts) + list(self._zones):  # the file wins for cameras it changed
                if old.cameras.get(name) != new.cameras.get(name):
                    self._prompts.pop(name, None)
                    self._zones.pop(name, None)
            self._site = new
        self._place(trigger)
        self.audit.event("reload", ok=True, trigger=trigger, cameras=sorted(new.cameras), not_applied=fixed)
        return True

    def _watch_file(self) -> None:
        """The ``reload:watch`` thread: reload once a change of the file has settled (``reload.watch``)."""
        while not self._stopping.wait(self.site.reload.poll_s):
            if self.site.reload.watch and self._file is not None and self._file.settled_change():
                self.reload("file changed")

    # -- workers ------------------------------------------------------------------------------------

    def _spawn(self, name: str) -> _Worker:
        """Create worker ``name`` with no cameras; its ``start`` (engine load) is in flight in ``pending``."""
        ray = _ray()
        workers = self._cluster.workers
        actor = ray.remote(concurrency_groups={HEALTH_GROUP: 1})(CameraWorker).options(
            name=None, num_cpus=workers.num_cpus, num_gpus=workers.num_gpus, max_concurrency=8, max_restarts=0
        ).remote(name, self._worker_site({}), self._model)
        worker = _Worker(name, actor)
        worker.pending = actor.start.remote()
        return worker

    def _started(self, worker: _Worker, started: Started) -> None:
        worker.pid, worker.pending, worker.answered = started.pid, None, time.monotonic()
        with self._lock:
            self._workers[worker.name] = worker
        logger.info("cluster: %s up (pid %d, nice %d)", worker.name, started.pid, started.niceness)
        self.audit.event("worker_up", worker=worker.name, pid=started.pid, niceness=started.niceness)
        if started.niceness > 0:
            logger.warning(
                "cluster: %s runs at nice %d (Ray starts its workers so): any other work on its node takes the CPU "
                "from its cameras first, which then publish fully redacted frames, and its health answers come late "
                "(it may be taken for hung); start Ray on every node with RAY_worker_niceness=0 in the environment "
                "of ray start (deploy/kuberay/raycluster.yaml sets it)", worker.name, started.niceness,
            )

    def _worker_site(self, cameras: dict[str, Any]) -> SiteConfig:
        """The site one worker runs: its cameras with the API's changes; no HTTP, file or cluster of its own."""
        return self._site.model_copy(update={
            "cameras": cameras, "http": HttpConfig(enabled=False), "audit": AuditConfig(),
            "reload": ReloadConfig(watch=False), "cluster": None,
        })

    def _camera(self, name: str) -> CameraConfig:
        camera = self._site.cameras[name]
        update: dict[str, Any] = {}
        if name in self._prompts:
            update["prompts"] = self._prompts[name]
        if name in self._zones:
            edits = self._zones[name]
            kept = [edits.get(zone.name, zone) for zone in camera.zones]
            added = [zone for zone_name, zone in edits.items() if zone_name not in {z.name for z in camera.zones}]
            update["zones"] = [zone for zone in kept + added if zone is not None]
        return camera.model_copy(update=update) if update else camera

    def _grant(self, worker: _Worker) -> float:
        """A lease deadline for a message to ``worker`` (``hang_s`` from now), remembered as its latest."""
        until = time.time() + self._cluster.hang_s
        worker.lease_until = max(worker.lease_until, until)
        return until

    def _place(self, trigger: str) -> None:
        """Place every camera on the live workers and tell each worker what changed for it.

        A lost worker whose lease has not run out keeps its cameras (they wait, unpublished)."""
        with self._placing:
            self._place_now(trigger)

    def _place_now(self, trigger: str) -> None:
        ray = _ray()
        with self._lock:
            capacity = {name: self._cluster.workers.cameras for name in self._workers}
            before = dict(self._placement)
            fenced = Counter(w for w in before.values() if w in self._fenced)
            self._placement = assign(self._site.cameras, {**capacity, **fenced}, before)
            sends = []
            for worker in self._workers.values():
                mine = {c: self._camera(c) for c, w in sorted(self._placement.items()) if w == worker.name}
                site = self._worker_site(mine)
                if site != worker.site:
                    worker.site = site
                    sends.append((worker, worker.actor.apply.remote(site, self._grant(worker))))
            placement = dict(self._placement)
            unplaced = sorted(set(self._site.cameras) - set(placement))
        moved = {c: w for c, w in placement.items() if c in before and before[c] != w}
        for worker, ref in sends:
            try:
                ray.get(ref, timeout=CALL_S)
            except Exception as exc:  # the watch finds a dead worker and places its cameras again
                logger.error("cluster: %s did not take its cameras: %s", worker.name, redact_text(_cause(exc)))
        logger.info("cluster: placement (%s): %s; unplaced %s", trigger, placement, unplaced)
        self.audit.event("placement", trigger=trigger, placement=placement, moved=moved, unplaced=unplaced)
        if unplaced:
            logger.error(
                "cluster: cameras %s have no worker with a free place; they are not published until one comes back "
                "(raise cluster.workers.count or cluster.workers.cameras)", unplaced,
            )

    def _watch_workers(self) -> None:
        """The ``cluster:watch`` thread: health checks (each renews the worker's lease); a dead or
        silent worker is handed to :meth:`_lost`, which returns at once, so the others' checks go on."""
        ray = _ray()
        config = self._cluster
        while not self._stopping.wait(config.health_s):
            with self._lock:
                workers = list(self._workers.values())
            for worker in workers:
                if worker.pending is None:
                    check = worker.actor.status.options(concurrency_group=HEALTH_GROUP)
                    worker.pending, worker.sent = check.remote(self._grant(worker)), time.monotonic()
            if not workers:
                continue
            ready, _ = ray.wait([w.pending for w in workers], num_returns=len(workers), timeout=config.health_s)
            for worker in workers:
                if worker.pending in ready:
                    ref, worker.pending = worker.pending, None
                    try:
                        status = ray.get(ref)
                    except ray.exceptions.RayActorError as exc:
                        self._lost(worker, f"died ({type(exc).__name__})")
                        continue
                    except Exception as exc:
                        logger.error("cluster: %s health check failed: %s", worker.name, redact_text(_cause(exc)))
                        continue
                    worker.answered = time.monotonic()
                    self._slow_answer(worker, worker.answered - worker.sent)
                    with self._lock:
                        if worker.name in self._workers:
                            self._statuses[worker.name] = status
                elif time.monotonic() - worker.sent > config.hang_s:
                    self._lost(worker, f"silent for {config.hang_s:g} s (hung)")

    def _slow_answer(self, worker: _Worker, took: float) -> None:
        """Warn (now and then) when ``worker``'s health answers near ``hang_s``: it would be taken for hung."""
        hang_s = self._cluster.hang_s
        if took < hang_s / 2 or worker.answered - worker.warned_slow < SLOW_WARN_S:
            return
        worker.warned_slow = worker.answered
        logger.warning(
            "cluster: %s answered its health check only after ~%.1f s (hang_s %g s): it is short of CPU (a loaded "
            "node, or Ray's worker niceness: RAY_worker_niceness=0); past hang_s it is taken for hung and its "
            "cameras move; give it the CPU, raise cluster.hang_s, or run fewer cameras per worker",
            worker.name, took, hang_s,
        )

    def _lost(self, worker: _Worker, reason: str) -> None:
        """Take ``worker`` out of the watch (once) and handle it in a thread of its own."""
        with self._lock:
            if self._stopping.is_set() or self._workers.get(worker.name) is not worker:
                return
            del self._workers[worker.name]
            self._statuses.pop(worker.name, None)
            self._fenced[worker.name] = worker
            cameras = sorted(c for c, w in self._placement.items() if w == worker.name)
        logger.error("cluster: %s lost (%s); its cameras %s move once its lease has run out", worker.name, reason, cameras)
        self.audit.event("worker_lost", worker=worker.name, reason=reason, cameras=cameras)
        self._run(f"cluster:lost:{worker.name}", self._move_off, worker, cameras)

    def _run(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _move_off(self, worker: _Worker, cameras: list[str]) -> None:
        """Kill ``worker`` (so a hung one's outputs stop); once its lease has run out (a worker cut off
        from the controller may still run, and resume), place its cameras on the others; start a replacement."""
        ray = _ray()
        ray.kill(worker.actor, no_restart=True)  # asynchronous, and cannot reach a node cut off
        wait = worker.lease_until + self._cluster.max_clock_skew_s - time.time()
        if wait > 0 and self._stopping.wait(wait):
            return
        with self._lock:
            if self._stopping.is_set():
                return
            self._fenced.pop(worker.name, None)
            self.moves += len(cameras)
        self._place(f"{worker.name} lost")
        self._replace(worker.name)

    def _replace(self, name: str) -> None:
        """Start a new worker in a lost one's slot; it takes the cameras that fitted nowhere, and new ones."""
        ray = _ray()
        while not self._stopping.is_set():
            worker = self._spawn(name)
            deadline = time.monotonic() + START_S
            while not self._stopping.is_set() and time.monotonic() < deadline:
                ready, _ = ray.wait([worker.pending], timeout=0.5)
                if ready:
                    break
            if self._stopping.is_set():
                ray.kill(worker.actor, no_restart=True)
                return
            try:
                started = ray.get(worker.pending, timeout=0.1)
            except Exception as exc:
                ray.kill(worker.actor, no_restart=True)
                logger.error("cluster: replacement %s did not start: %s; retrying", name, redact_text(_cause(exc)))
                self._stopping.wait(self._site.retry.max_s)
                continue
            with self._lock:
                if self._stopping.is_set():  # stop() did not see it: it stops here
                    ray.kill(worker.actor, no_restart=True)
                    return
                self._started(worker, started)
            self._place(f"{name} back")
            return


def _cause(exc: BaseException) -> str:
    """What went wrong in a worker, in one line: the last line of a remote error's traceback."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__
