"""One camera of the daemon: a supervised :class:`~livefilter.pipeline.Pipeline`.

The ``camera:<name>`` thread builds the camera's pipeline (its engine a client of the
shared engine, its zones a :class:`~livefilter.render.zones.ZoneBoard`) and starts it.
A network camera that is down at boot is waited for by the pipeline's capture thread
(``wait_for_source``: its outputs run fully redacted when the camera's size is configured).
When the pipeline cannot start (a file or image source missing, a restream server gone) or
ends (error, finite source), it is built again after a backoff, forever, until stopped: a
power cut that brings cameras up after the server does not kill the service. Each pipeline fails
closed on its own; nothing here touches another camera.

Counters survive restarts: :meth:`CameraRunner.totals` adds the running pipeline's
statistics to everything its predecessors counted (Prometheus counters never go back).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from livefilter.config import Config, PromptConfig
from livefilter.daemon.audit import AuditLog
from livefilter.daemon.config import RetryConfig
from livefilter.daemon.engine import EngineClient, SharedEngine
from livefilter.daemon.snapshot import SnapshotSink
from livefilter.pipeline import Pipeline, build_pipeline, output_fps
from livefilter.render.zones import ZoneBoard
from livefilter.runtime.backoff import Backoff
from livefilter.runtime.metrics import HistogramSnapshot, Stats
from livefilter.secrets import redact_text, redact_url
from livefilter.sinks.base import Sink
from livefilter.types import Prompt, RedactedFrame

__all__ = ["CameraRunner", "CameraTotals", "describe_source"]

logger = logging.getLogger(__name__)

WATCH_S = 0.2
"""How often a running camera's statistics are read (fail-closed episodes, reconnects)."""

STABLE_S = 30.0
"""A pipeline that ran this long resets the restart backoff."""

_COUNTERS = (
    "frames_captured",
    "frames_dropped",
    "frames_inferred",
    "frames_published",
    "engine_restarts",
    "source_reconnects",
    "sink_errors",
    "sink_frames_dropped",
    "render_errors",
)


def _add_histograms(a: HistogramSnapshot | None, b: HistogramSnapshot) -> HistogramSnapshot:
    if a is None:
        return b
    return HistogramSnapshot(
        b.bounds, tuple(x + y for x, y in zip(a.counts, b.counts)), a.count + b.count, a.sum + b.sum
    )


@dataclass(frozen=True, slots=True)
class CameraTotals:
    """Counters since the daemon started (all of a camera's pipelines together)."""

    counters: Counter[str] = field(default_factory=Counter)
    fail_closed: Counter[str] = field(default_factory=Counter)
    mask_age_s: HistogramSnapshot | None = None
    latency_s: HistogramSnapshot | None = None
    redacted_share: HistogramSnapshot | None = None
    start_failures: int = 0
    restarts: int = 0

    def plus(self, stats: Stats | None) -> CameraTotals:
        if stats is None:
            return self
        return replace(
            self,
            counters=self.counters + Counter({name: getattr(stats, name) for name in _COUNTERS}),
            fail_closed=self.fail_closed + Counter(stats.fail_closed),
            mask_age_s=_add_histograms(self.mask_age_s, stats.mask_age_s),
            latency_s=_add_histograms(self.latency_s, stats.latency_s),
            redacted_share=_add_histograms(self.redacted_share, stats.redacted_share),
        )


def describe_source(config: Config) -> str:
    """The camera's source for logs and the API, credentials hidden."""
    source = config.source
    where = getattr(source, "url", None) or getattr(source, "path", None) or getattr(source, "device", None)
    if isinstance(where, str) and "://" in where:
        where = redact_url(where)
    return f"{source.kind} {where}" if where is not None else source.kind


class CameraRunner:
    """Runs camera ``name`` until :meth:`stop`: build, start, watch, rebuild with backoff.

    ``wrap_sink`` stands in for each output of every pipeline it builds (see :func:`build_pipeline`).
    """

    def __init__(
        self,
        name: str,
        config: Config,
        *,
        zones: ZoneBoard,
        engine: SharedEngine,
        retry: RetryConfig,
        audit: AuditLog,
        wrap_sink: Callable[[Sink], Sink] | None = None,
    ) -> None:
        self.name = name
        self.zones = zones
        self._config = config
        self._engine = engine
        self._retry = retry
        self._audit = audit
        self._wrap_sink = wrap_sink
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pipeline: Pipeline | None = None
        self._snapshot: SnapshotSink | None = None
        self._totals = CameraTotals()
        self._state = "starting"
        self._episode = ""  # the reason of the fail-closed episode in progress
        self._last_error = ""
        self._thread = threading.Thread(target=self._run, name=f"camera:{name}", daemon=True)

    # -- control (any thread) ---------------------------------------------------------------

    @property
    def config(self) -> Config:
        with self._lock:
            return self._config

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 40.0) -> None:
        """Stop the pipeline (sinks finalise their files) and the thread. Idempotent."""
        self._stop.set()
        with self._lock:
            pipeline = self._pipeline
        if pipeline is not None:
            pipeline.stop()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def set_prompts(self, prompts: Sequence[PromptConfig]) -> None:
        """Search for ``prompts`` from now on (kept across restarts); fully redacted until answered."""
        with self._lock:
            self._config = self._config.model_copy(update={"prompts": list(prompts)})
            pipeline = self._pipeline
        if pipeline is not None:
            pipeline.set_prompts([Prompt(p.text, p.threshold) for p in prompts])

    def snapshot(self) -> RedactedFrame | None:
        """The newest frame the running pipeline published (redacted; None before the first
        and while no pipeline runs: a retired pipeline's last picture is not shown as current)."""
        with self._lock:
            snapshot = self._snapshot
        return snapshot.latest() if snapshot is not None else None

    def stats(self) -> Stats | None:
        """The running pipeline's statistics (None while it is not running)."""
        with self._lock:
            pipeline = self._pipeline
        return pipeline.stats() if pipeline is not None else None

    def totals(self) -> CameraTotals:
        with self._lock:
            pipeline, totals = self._pipeline, self._totals
        return totals.plus(pipeline.stats() if pipeline is not None else None)

    def status(self) -> dict[str, Any]:
        """The camera's state for the API and /readyz (no secrets)."""
        with self._lock:
            pipeline, config, state, episode, error = (
                self._pipeline, self._config, self._state, self._episode, self._last_error
            )
        stats = pipeline.stats() if pipeline is not None and state == "running" else None
        target = output_fps(config.render, pipeline.source) if pipeline is not None else None
        publishing = stats is not None and target is not None and stats.output_fps >= 0.5 * target
        return {
            "name": self.name,
            "state": state,
            "source": describe_source(config),
            "prompts": [p.text for p in config.prompts],
            "zones": [
                {"name": z.name, "mode": z.mode, "enabled": z.enabled} for z in self.zones.zones
            ],
            "output_fps": round(stats.output_fps, 2) if stats is not None else 0.0,
            "target_fps": target,
            "fail_closed": episode,
            "redacting": publishing and not episode,
            "ready": publishing and not episode,
            "last_error": error,
        }

    # -- the camera thread ---------------------------------------------------------------------

    def _run(self) -> None:
        backoff = Backoff(self._retry.min_s, self._retry.max_s)
        while not self._stop.is_set():
            config = self.config
            snapshot = SnapshotSink()
            try:
                pipeline = build_pipeline(
                    config, extra_sinks=[snapshot], engine_factory=self._client, static_mask=self.zones,
                    wait_for_source=True, wrap_sink=self._wrap_sink,
                )
            except Exception as exc:
                self._failed("camera_start_failed", exc, backoff)
                continue
            with self._lock:
                self._pipeline, self._snapshot = pipeline, snapshot
            try:
                pipeline.start()
            except Exception as exc:
                pipeline.stop()
                self._retire(pipeline)
                self._failed("camera_start_failed", exc, backoff)
                continue
            self._set_state("running")
            self._audit.event("camera_start", camera=self.name, source=describe_source(config))
            started = time.monotonic()
            self._watch(pipeline)
            pipeline.stop()
            self._retire(pipeline)
            self._end_episode()
            if self._stop.is_set():
                break
            if time.monotonic() - started >= STABLE_S:
                backoff.reset()
            with self._lock:
                self._totals = replace(self._totals, restarts=self._totals.restarts + 1)
            self._failed("camera_restart", pipeline.error or RuntimeError("the stream ended"), backoff)
        self._set_state("stopped")
        self._audit.event("camera_stop", camera=self.name)

    def _client(self, prompts: Sequence[Prompt]) -> EngineClient:
        return self._engine.client(self.name, prompts)

    def _failed(self, event: str, exc: BaseException, backoff: Backoff) -> None:
        delay = backoff.next()
        message = redact_text(f"{type(exc).__name__}: {exc}")
        with self._lock:
            self._last_error = message
            if event == "camera_start_failed":  # built or started: either way counted, like the audit
                self._totals = replace(self._totals, start_failures=self._totals.start_failures + 1)
        self._set_state("retrying")
        logger.error("camera %s: %s; retrying in %.3g s", self.name, message, delay)
        self._audit.event(event, camera=self.name, error=message, retry_in_s=delay)
        self._stop.wait(delay)

    def _retire(self, pipeline: Pipeline) -> None:
        """Fold a finished pipeline's counters into the totals."""
        with self._lock:
            self._totals = self._totals.plus(pipeline.stats())
            self._pipeline = self._snapshot = None

    def _set_state(self, state: str) -> None:
        with self._lock:
            self._state = state

    def _watch(self, pipeline: Pipeline) -> None:
        """Until the pipeline ends or stop: audit fail-closed episodes and reconnects."""
        before = pipeline.stats()
        next_log = time.monotonic() + pipeline.runtime_config.stats_interval_s
        while pipeline.running and not self._stop.wait(WATCH_S):
            now = pipeline.stats()
            published = now.frames_published - before.frames_published
            failed = Counter(now.fail_closed) - Counter(before.fail_closed)
            if published > 0:
                if sum(failed.values()) * 2 >= published:
                    self._start_episode(failed.most_common(1)[0][0])
                elif not failed:
                    self._end_episode()
            reconnects = now.source_reconnects - before.source_reconnects
            if reconnects > 0:
                self._audit.event("source_reconnect", camera=self.name, count=reconnects)
            before = now
            if time.monotonic() >= next_log:
                logger.info("camera %s: %s", self.name, now.format())
                next_log = time.monotonic() + pipeline.runtime_config.stats_interval_s

    def _start_episode(self, reason: str) -> None:
        with self._lock:
            previous, self._episode = self._episode, reason
        if previous == reason:
            return
        if previous:
            self._audit.event("fail_closed_end", camera=self.name, reason=previous)
        self._audit.event("fail_closed_start", camera=self.name, reason=reason)

    def _end_episode(self) -> None:
        with self._lock:
            previous, self._episode = self._episode, ""
        if previous:
            self._audit.event("fail_closed_end", camera=self.name, reason=previous)
