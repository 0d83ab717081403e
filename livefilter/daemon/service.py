"""The daemon: the shared engine, one :class:`CameraRunner` per camera, reloads and the API's verbs.

:class:`Daemon` is what ``livefilter serve`` runs. Its methods are the control surface the
HTTP API calls (list cameras, change a camera's prompts, switch a zone) and the reload
(:meth:`Daemon.reload`): cameras whose resolved settings did not change keep their
pipeline untouched (not a frame dropped); a camera whose prompts or zones changed gets
them in place (its outputs stay open); any other change restarts that camera; added and
removed ones start and stop. A file that does not validate is rejected with its errors in the log and
the audit log, and the running configuration stays.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from livefilter.config import Config, EngineConfig, PromptConfig
from livefilter.daemon.audit import AuditLog
from livefilter.daemon.camera import CameraRunner
from livefilter.config.loader import parse_model
from livefilter.daemon.config import SiteConfig, ZoneConfig, camera_config
from livefilter.daemon.engine import SharedEngine, SharedModel, shared_model
from livefilter.daemon.sitefile import SiteFile, keep_fixed_sections
from livefilter.engines import resolve_engine_kind
from livefilter.errors import ConfigError
from livefilter.pipeline import check_engine_accepts
from livefilter.runtime.inference import HANG_FACTOR
from livefilter.render.zones import Zone, ZoneBoard
from livefilter.sinks.base import Sink
from livefilter.types import Prompt

__all__ = ["Daemon", "parse_prompts"]

logger = logging.getLogger(__name__)


class Daemon:
    """Runs a :class:`SiteConfig` until :meth:`stop`.

    Args:
        site: the validated site.
        path: the file it came from (for reloads); None when built from a dict.
        model: builds the shared model (default: from ``site.engine``; tests pass exact doubles).
        wrap_sink: stands in for each camera's outputs (a cluster worker fences them with its lease).
    """

    def __init__(
        self,
        site: SiteConfig,
        *,
        path: str | None = None,
        model: Callable[[], SharedModel] | None = None,
        wrap_sink: Callable[[Sink], Sink] | None = None,
    ) -> None:
        self.path = path
        self._site = site
        self._lock = threading.RLock()  # reloads and API calls change the cameras one at a time
        self.audit = AuditLog(site.audit.path, max_bytes=site.audit.max_bytes, backups=site.audit.backups)
        self.engine = SharedEngine(
            model or (lambda: shared_model(site.engine)), kind="shared", hang_s=HANG_FACTOR * site.engine.timeout_s
        )
        self._cameras: dict[str, CameraRunner] = {}
        self._listed: tuple[CameraRunner, ...] = ()  # the cameras, read without the lock (a slow reload holds it)
        self._wrap_sink = wrap_sink
        self._file = SiteFile(path, self.audit) if path else None
        self._stopping = threading.Event()
        self.stopped = threading.Event()

    @property
    def site(self) -> SiteConfig:
        with self._lock:
            return self._site

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Load the shared engine (its error is raised here) and start every camera."""
        self.audit.open()
        self.engine.open()
        with self._lock:
            self.audit.event("daemon_start", cameras=sorted(self._site.cameras), config=self.path)
            for name in self._site.cameras:
                self._start_camera(name, self._site)
        if self._file is not None:
            threading.Thread(target=self._watch_file, name="reload:watch", daemon=True).start()

    def stop(self) -> None:
        """Drain: stop every camera (sinks finalise their files), then the engine. Idempotent."""
        self._stopping.set()
        with self._lock:
            if self.stopped.is_set():
                return
            runners = list(self._cameras.values())
            self._cameras.clear()
            self._listed = ()
        stoppers = [threading.Thread(target=runner.stop, name=f"stop:{runner.name}") for runner in runners]
        for thread in stoppers:  # in parallel: each may wait for an encoder to flush
            thread.start()
        for thread in stoppers:
            thread.join()
        self.engine.close()
        self.audit.event("daemon_stop")
        self.audit.close()
        self.stopped.set()

    # -- the API's verbs ------------------------------------------------------------------------

    def cameras(self) -> list[dict[str, Any]]:
        """Every camera's state; answers at once, even while a reload stops or starts cameras."""
        return [runner.status() for runner in self._listed]

    def camera(self, name: str) -> CameraRunner:
        with self._lock:
            try:
                return self._cameras[name]
            except KeyError:
                raise KeyError(f"no camera named {name!r}; cameras: {', '.join(self._cameras)}") from None

    def runners(self) -> list[CameraRunner]:
        with self._lock:
            return list(self._cameras.values())

    def set_prompts(self, name: str, prompts: Sequence[str | dict[str, Any]]) -> list[str]:
        """Change camera ``name``'s prompts (validated like the config's); returns them."""
        runner = self.camera(name)
        parsed = parse_prompts(self.site.engine, prompts)
        runner.set_prompts(parsed)
        texts = [p.text for p in parsed]
        self.audit.event("prompts_changed", camera=name, prompts=texts)
        return texts

    def set_zone(self, name: str, zone: str, enabled: bool) -> dict[str, Any]:
        """Switch zone ``zone`` of camera ``name`` on or off."""
        changed = self.camera(name).zones.set_enabled(zone, enabled)
        self.audit.event("zone_changed", camera=name, zone=zone, enabled=enabled)
        return _zone_state(changed)

    def add_zone(self, name: str, zone: Any) -> dict[str, Any]:
        """Add a zone to camera ``name`` (``zone``: a ``zones:`` entry of the site file, validated
        like one). It lives in memory: a restart, or a reload that changes this camera's zones in
        the file, puts the file's zones back (write it into the file to keep it)."""
        runner = self.camera(name)
        if not isinstance(zone, dict):
            raise ConfigError(
                "request body: expected a JSON object like a zones: entry of the site file, e.g. "
                '{"name": "door", "points": [[0.1, 0.1], [0.4, 0.1], [0.4, 0.5]]} (units: fraction or pixels)'
            )
        config = parse_model(zone, ZoneConfig, origin="request body")
        try:
            added = runner.zones.add(config.zone())
        except ValueError as exc:
            raise ConfigError(f"request body name: {exc}") from None
        self.audit.event(
            "zone_added", camera=name, zone=added.name, mode=added.mode, enabled=added.enabled,
            units="fraction" if added.fraction else "pixels", points=[list(p) for p in added.points],
        )
        return _zone_state(added)

    def remove_zone(self, name: str, zone: str) -> dict[str, Any]:
        """Delete zone ``zone`` of camera ``name`` (until a restart or a reload that changes its zones)."""
        removed = self.camera(name).zones.remove(zone)
        self.audit.event("zone_removed", camera=name, zone=removed.name)
        return _zone_state(removed)

    def metrics(self) -> tuple[bytes, str]:
        """The /metrics body (Prometheus text) and its content type."""
        from livefilter.daemon.prometheus import render_metrics  # prometheus-client: the daemon extra

        return render_metrics(self.runners, self.engine)

    # -- reload -----------------------------------------------------------------------------------

    def file_changed(self) -> bool:
        """True when the config file's content differs from the one running (reload on change)."""
        return self._file is not None and self._file.changed()

    def reload(self, trigger: str = "SIGHUP") -> bool:
        """Re-read the file and apply the differences; False (old config kept) when it is invalid."""
        new = self._file.load(trigger) if self._file is not None else None
        if new is None:
            return False
        self.apply(new, trigger)
        return True

    def apply(self, new: SiteConfig, trigger: str) -> None:
        """Run ``new`` from now on: start added cameras, stop removed ones, change the rest in place
        or restart them (what :meth:`reload` does with a valid file; a cluster worker gets its cameras so)."""
        with self._lock:
            old = self._site
            new, fixed = keep_fixed_sections(old, new)
            removed = [name for name in old.cameras if name not in new.cameras]
            added = [name for name in new.cameras if name not in old.cameras]
            changed = [
                name for name in new.cameras
                if name in old.cameras and (
                    camera_config(old, name) != camera_config(new, name)
                    or old.cameras[name].zones != new.cameras[name].zones
                )
            ]
            # prompts and zones change in place (no gap, no reopened outputs); anything else restarts
            restarted = [name for name in changed if _without_prompts(old, name) != _without_prompts(new, name)]
            self._site = new
            stopping = [self._cameras.pop(name) for name in removed + restarted]
            self._listed = tuple(self._cameras.values())
            for runner in stopping:
                runner.stop()
            for name in restarted + added:
                self._start_camera(name, new)
            for name in set(changed) - set(restarted):
                runner = self._cameras[name]
                runner.zones.replace([zone.zone() for zone in new.cameras[name].zones])
                prompts = camera_config(new, name).prompts
                if prompts != runner.config.prompts:
                    runner.set_prompts(prompts)
        unchanged = sorted(set(new.cameras) - set(added) - set(changed))
        logger.info(
            "reload (%s): added %s, changed %s (restarted %s), removed %s, unchanged %s",
            trigger, added, changed, restarted, removed, unchanged,
        )
        self.audit.event(
            "reload", ok=True, trigger=trigger, added=added, changed=changed, restarted=restarted,
            removed=removed, unchanged=unchanged, not_applied=fixed,
        )

    def poll_file(self) -> bool:
        """One check of the watched file: reload (True) once a change has settled
        (:meth:`~livefilter.daemon.sitefile.SiteFile.settled_change`)."""
        if self._file is None or not self._file.settled_change():
            return False
        self.reload("file changed")
        return True

    def _watch_file(self) -> None:
        """The ``reload:watch`` thread: :meth:`poll_file` every ``reload.poll_s`` (``reload.watch``)."""
        while not self._stopping.wait(self.site.reload.poll_s):
            if self.site.reload.watch:
                self.poll_file()

    def _start_camera(self, name: str, site: SiteConfig) -> None:
        runner = CameraRunner(
            name,
            camera_config(site, name),
            zones=ZoneBoard([zone.zone() for zone in site.cameras[name].zones]),
            engine=self.engine,
            retry=site.retry,
            audit=self.audit,
            wrap_sink=self._wrap_sink,
        )
        self._cameras[name] = runner
        self._listed = tuple(self._cameras.values())
        runner.start()


def _zone_state(zone: Zone) -> dict[str, Any]:
    return {"name": zone.name, "mode": zone.mode, "enabled": zone.enabled}


def parse_prompts(engine: EngineConfig, prompts: Sequence[str | dict[str, Any]]) -> list[PromptConfig]:
    """The API's ``prompts`` validated like the config's, and answerable by ``engine``.

    Raises:
        ConfigError: what is wrong with which prompt.
    """
    try:
        parsed = [PromptConfig.model_validate(p) for p in prompts]
    except ValueError as exc:
        raise ConfigError(f"prompts: {exc}") from None
    if not parsed:
        raise ConfigError("prompts: expected at least one prompt (with none, nothing would be hidden)")
    check_engine_accepts(engine, [Prompt(p.text, p.threshold) for p in parsed], resolve_engine_kind(engine))
    return parsed


def _without_prompts(site: SiteConfig, name: str) -> Config:
    """Camera ``name``'s settings apart from what changes in place (prompts; zones are not in Config)."""
    return camera_config(site, name).model_copy(update={"prompts": []})

