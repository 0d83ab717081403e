"""The site file of ``livefilter serve``: global defaults, one shared engine, and a ``cameras:`` map.

Example::

    engine: {kind: cpu-face}          # one engine, shared by every camera
    defaults:                         # what every camera starts from
      prompts: [face]
      render: {style: pixelate}
    http: {port: 8089}                # 127.0.0.1 unless http.token is set
    audit: {path: /var/log/livefilter/audit.jsonl}
    cameras:
      door:
        source: {kind: rtsp, url: "rtsp://viewer:{LIVEFILTER_DOOR_PASSWORD}@10.0.0.5/stream1"}
        render: {style: solid}        # merged over defaults.render
        zones:
          - {name: neighbour, points: [[0.7, 0], [1, 0], [1, 0.4], [0.7, 0.4]]}
        sinks: [{kind: rtsp, url: "rtsp://127.0.0.1:8554/door"}]

A single-stream config (``source:``, ``sinks:`` ...) is a site with one camera named
``default`` (:func:`site_from_config`). :func:`load_site` reads either, with the same
``file:line key: message`` errors as ``livefilter check``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from livefilter.config import Config, EngineConfig, PromptConfig, RenderConfig, RuntimeConfig, SinkConfig, SourceConfig
from livefilter.config.base import Problem, StrictModel, check_min_max
from livefilter.config.loader import load_model, parse_model, read_yaml
from livefilter.config.root import check_output_paths, config_warnings, null_sink_kind
from livefilter.errors import ConfigError
from livefilter.render.zones import Zone

__all__ = [
    "AuditConfig",
    "CameraConfig",
    "ClusterConfig",
    "DefaultsConfig",
    "HttpConfig",
    "SiteConfig",
    "WorkersConfig",
    "ZoneConfig",
    "camera_config",
    "is_site",
    "is_site_file",
    "load_site",
    "parse_site",
    "site_from_config",
]

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_CAMERA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class ZoneConfig(StrictModel):
    """A static privacy zone: a polygon that is always redacted (or, ``mode: show``, the only region shown)."""

    name: str = Field(..., min_length=1, max_length=64, description="Unique per camera; the API switches zones by name.")
    points: list[tuple[float, float]] = Field(..., min_length=3, max_length=256, description="Polygon vertices [x, y].")
    units: Literal["fraction", "pixels"] = Field(
        default="fraction", description="fraction: 0..1 of the frame's width/height; pixels: frame pixels."
    )
    mode: Literal["hide", "show"] = Field(
        default="hide", description="hide: redact inside; show: redact everything outside all show zones."
    )
    enabled: bool = Field(default=True, description="Whether the zone applies at start (switchable at run time).")

    @model_validator(mode="after")
    def check_fractions(self) -> ZoneConfig:
        if self.units == "fraction":
            for i, (x, y) in enumerate(self.points):
                if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                    raise Problem(
                        "fractions must lie in 0..1 (use units: pixels for pixel coordinates)",
                        at=("points", i),
                        value=f"[{x:g}, {y:g}]",
                    )
        return self

    def zone(self) -> Zone:
        return Zone(self.name, tuple(self.points), fraction=self.units == "fraction", mode=self.mode, enabled=self.enabled)


class DefaultsConfig(StrictModel):
    """What every camera starts from; a camera's own keys win (``render`` key by key)."""

    prompts: list[PromptConfig] = Field(
        default_factory=lambda: [PromptConfig(text="face", threshold=0.5)], min_length=1, description="What must never be seen."
    )
    render: RenderConfig = Field(default_factory=RenderConfig, description="How it is hidden, and when everything is.")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="Queues and statistics.")


class CameraConfig(StrictModel):
    """One camera: a source, what to hide, its zones and where the redacted stream goes."""

    source: SourceConfig = Field(..., description="Where frames come from.")
    prompts: list[PromptConfig] | None = Field(default=None, min_length=1, description="null: defaults.prompts.")
    render: RenderConfig | None = Field(default=None, description="Keys set here override defaults.render.")
    zones: list[ZoneConfig] = Field(default_factory=list, max_length=64, description="Static privacy zones.")
    sinks: list[SinkConfig] = Field(..., min_length=1, description="Where redacted frames go.")

    @field_validator("sinks", mode="before")
    @classmethod
    def _null_kind(cls, value: Any) -> Any:
        return null_sink_kind(value)

    @model_validator(mode="after")
    def check_zone_names(self) -> CameraConfig:
        seen: dict[str, int] = {}
        for i, zone in enumerate(self.zones):
            if zone.name in seen:
                raise Problem(f"duplicate zone name (also zones[{seen[zone.name]}])", at=("zones", i, "name"), value=zone.name)
            seen[zone.name] = i
        return self

    @model_validator(mode="after")
    def check_sinks(self) -> CameraConfig:
        check_output_paths(self.source, self.sinks)
        if any(sink.kind == "preview" for sink in self.sinks):
            i = next(i for i, sink in enumerate(self.sinks) if sink.kind == "preview")
            raise Problem("a headless daemon has no preview window; use an rtsp or file sink", at=("sinks", i, "kind"))
        return self


class HttpConfig(StrictModel):
    """The control, health and metrics endpoint."""

    enabled: bool = Field(default=True, description="Serve /healthz, /readyz, /metrics and /api.")
    host: str = Field(default="127.0.0.1", min_length=1, description="Bind address; anything but loopback needs token.")
    port: int = Field(default=8089, ge=0, le=65535, description="TCP port (0 picks a free one).")
    token: str | None = Field(
        default=None, min_length=16,
        description="Bearer token required on every request (use a {LIVEFILTER_*} placeholder).",
    )

    @model_validator(mode="after")
    def check_token_off_loopback(self) -> HttpConfig:
        if self.enabled and self.host not in LOCAL_HOSTS and self.token is None:
            raise Problem(
                "binding beyond 127.0.0.1 needs http.token (e.g. token: \"{LIVEFILTER_API_TOKEN}\")",
                at=("host",),
                value=self.host,
            )
        return self


class AuditConfig(StrictModel):
    """The audit log: JSON lines of what happened (never pixels, never secrets)."""

    path: str | None = Field(default=None, description="File to append to (rotated); null writes audit lines to the log.")
    max_bytes: int = Field(default=10_000_000, ge=10_000, description="Rotate when the file reaches this size.")
    backups: int = Field(default=5, ge=1, le=100, description="Rotated files kept.")


class RetryConfig(StrictModel):
    """How a camera that cannot start (source down, sink server gone) is retried: forever, with backoff."""

    min_s: float = Field(default=1.0, gt=0, le=3600, description="First delay.")
    max_s: float = Field(default=30.0, gt=0, le=3600, description="Longest delay (doubling up to it).")

    @model_validator(mode="after")
    def check_range(self) -> RetryConfig:
        check_min_max(self, "min_s", "max_s")
        return self


class ReloadConfig(StrictModel):
    """Hot reload: SIGHUP always; file changes when ``watch``."""

    watch: bool = Field(default=True, description="Reload when the file changes.")
    poll_s: float = Field(default=1.0, gt=0, le=60, description="How often the file is checked.")


class WorkersConfig(StrictModel):
    """The worker actors of a cluster: each holds one engine and runs its cameras' whole pipelines."""

    count: int = Field(default=1, ge=1, le=4096, description="How many workers (e.g. one per GPU).")
    num_gpus: float = Field(default=0.0, ge=0, le=64, description="GPUs each worker reserves (1: SAM3 on its own GPU).")
    num_cpus: float = Field(default=1.0, gt=0, le=1024, description="CPUs each worker reserves.")
    cameras: int = Field(default=4, ge=1, le=1024, description="Most cameras one worker runs (its capacity).")


class ClusterConfig(StrictModel):
    """Spread the cameras over workers on a Ray cluster (``pip install 'livefilter[cluster]'``)."""

    kind: Literal["ray"] = Field(default="ray", description="The only kind: Ray Core actors.")
    address: str = Field(
        default="auto", min_length=1,
        description="auto: the running cluster (ray start, KubeRay); ray://HOST:10001: a remote one; "
        "local: start one on this machine.",
    )
    workers: WorkersConfig = Field(default_factory=WorkersConfig)
    health_s: float = Field(default=1.0, gt=0, le=60, description="How often each worker is asked for its health.")
    hang_s: float = Field(
        default=10.0, gt=0, le=600,
        description="A worker silent this long is killed and its cameras move (it is presumed hung); "
        "also its lease: a worker that has not heard from the controller this long stops publishing.",
    )
    max_clock_skew_s: float = Field(
        default=0.5, ge=0, le=60,
        description="How far the workers' clocks may be from the head's (NTP keeps them within milliseconds): "
        "a lost worker's cameras move only once its lease has run out by this much too.",
    )

    @model_validator(mode="after")
    def check_hang(self) -> ClusterConfig:
        if self.hang_s < 3 * self.health_s:
            raise Problem(
                f"must be at least 3 x health_s ({3 * self.health_s:g} s): a healthy worker's lease is renewed "
                "by its health checks, and must not run out between two of them",
                at=("hang_s",), value=self.hang_s,
            )
        return self


class SiteConfig(StrictModel):
    """A site: cameras that share one engine."""

    engine: EngineConfig = Field(default_factory=EngineConfig, description="The one engine every camera shares.")
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig, description="What each camera starts from.")
    cameras: dict[str, CameraConfig] = Field(..., min_length=1, description="Camera name → its settings.")
    http: HttpConfig = Field(default_factory=HttpConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    reload: ReloadConfig = Field(default_factory=ReloadConfig)
    cluster: ClusterConfig | None = Field(default=None, description="null: every camera runs in this process.")

    @field_validator("cameras")
    @classmethod
    def check_names(cls, cameras: dict[str, CameraConfig]) -> dict[str, CameraConfig]:
        for name in cameras:
            if not _CAMERA_NAME.fullmatch(name):
                raise Problem(
                    "camera names are 1-64 letters, digits, '_', '.' or '-' (they label metrics and URLs)",
                    at=(name,),
                    value=name,
                )
        return cameras

    @model_validator(mode="after")
    def check_capacity(self) -> SiteConfig:
        if self.cluster is not None:
            workers = self.cluster.workers
            if workers.count * workers.cameras < len(self.cameras):
                raise Problem(
                    f"{len(self.cameras)} cameras do not fit on {workers.count} worker(s) of {workers.cameras}; "
                    "raise cluster.workers.count or cluster.workers.cameras (leave room for a worker's cameras to move)",
                    at=("cluster", "workers"),
                )
        return self

    @model_validator(mode="after")
    def check_cameras_resolve(self) -> SiteConfig:
        """Each camera's render merged over the defaults must still be valid; outputs are not shared."""
        writers: dict[str, str] = {}
        for name in self.cameras:
            try:
                config = camera_config(self, name)
            except ConfigError as exc:
                raise Problem(str(exc), at=("cameras", name, "render")) from None
            for i, sink in enumerate(config.sinks):
                target = getattr(sink, "path", None) or getattr(sink, "url", None)
                if target is None:
                    continue
                key = os.path.realpath(target) if hasattr(sink, "path") else target
                if key in writers:
                    raise Problem(f"already written by camera {writers[key]!r}", at=("cameras", name, "sinks", i))
                writers[key] = name
        return self


def camera_config(site: SiteConfig, name: str) -> Config:
    """Camera ``name`` as a single-stream :class:`Config` (defaults merged, the shared engine)."""
    camera = site.cameras[name]
    render = site.defaults.render
    if camera.render is not None:
        merged = {**render.model_dump(), **camera.render.model_dump(include=camera.render.model_fields_set)}
        render = parse_model(merged, RenderConfig, origin=f"cameras.{name}.render (merged over defaults.render)")
    return Config(
        source=camera.source,
        prompts=camera.prompts or site.defaults.prompts,
        engine=site.engine,
        render=render,
        sinks=camera.sinks,
        runtime=site.defaults.runtime,
    )


def site_from_config(config: Config, name: str = "default") -> SiteConfig:
    """A single-stream config as a one-camera site (its engine shared by that one camera)."""
    return SiteConfig(
        engine=config.engine,
        defaults=DefaultsConfig(prompts=config.prompts, render=config.render, runtime=config.runtime),
        cameras={name: CameraConfig(source=config.source, sinks=config.sinks)},
    )


def _site_warnings(site: SiteConfig) -> list[tuple[tuple[str | int, ...], str]]:
    return [
        (("cameras", name, *path), message)
        for name in site.cameras
        for path, message in config_warnings(camera_config(site, name))
        if path[0] not in ("engine", "runtime")
    ]


def is_site(data: Any) -> bool:
    """A parsed file is a site (not a single-stream config) when it has ``cameras:``."""
    return isinstance(data, Mapping) and "cameras" in data


def is_site_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` parses to a mapping with ``cameras:`` (errors are left to the loader)."""
    try:
        data, _ = read_yaml(path)
    except ConfigError:
        return False
    return is_site(data)


def load_site(path: str | os.PathLike[str]) -> SiteConfig:
    """Read a site file, or a single-stream config as a one-camera site.

    Raises:
        ConfigError: ``file:line key: message`` for every problem.
    """
    data, _ = read_yaml(path)
    if is_site(data):
        return load_model(path, SiteConfig, warnings=_site_warnings)
    return site_from_config(load_model(path, Config, warnings=config_warnings))


def parse_site(data: Mapping[str, Any], *, origin: str = "<dict>") -> SiteConfig:
    """:func:`load_site` for an already-parsed mapping (tests start from dicts)."""
    if is_site(data):
        return parse_model(data, SiteConfig, origin=origin, warnings=_site_warnings)
    return site_from_config(parse_model(data, Config, origin=origin, warnings=config_warnings))
