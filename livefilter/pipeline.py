"""The pipeline: source → bounded queue → engine → render → sinks, fail-closed at every step.

:class:`Pipeline` only wires the threads of :mod:`livefilter.runtime` together; each loop
is a plain function there. Read :meth:`Pipeline.__init__` and :meth:`Pipeline.start` top
down to follow a frame.

Example (the CLI does this)::

    with build_pipeline(load_config("config.yaml")) as pipeline:
        ...
    stats = build_pipeline(config).run()   # start, wait for the end, stop
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from types import TracebackType
from typing import Self

from livefilter.config import Config, EngineConfig, RenderConfig, RuntimeConfig
from livefilter.engines import create_engine, resolve_engine_kind
from livefilter.engines.base import Engine
from livefilter.engines.shots import ShotCounter
from livefilter.errors import ConfigError, EngineError
from livefilter.lifecycle import close_quietly
from livefilter.render.compositor import Compositor, StaticMask
from livefilter.runtime.capture import run_capture
from livefilter.runtime.inference import EngineResult, PromptBoard, run_engine
from livefilter.runtime.metrics import Metrics, Stats
from livefilter.runtime.render import ArrivalPacer, TickPacer, run_exact, run_low_latency
from livefilter.runtime.sinks import Outlets, run_sink
from livefilter.runtime.slots import BoundedQueue, LatestSlot
from livefilter.sinks import create_sink
from livefilter.sinks.base import Sink
from livefilter.sources import create_source
from livefilter.sources.base import Source
from livefilter.types import Frame, MaskSet, Prompt

__all__ = ["DEFAULT_FPS", "Pipeline", "build_pipeline", "output_fps"]

logger = logging.getLogger(__name__)

DEFAULT_FPS = 30.0
"""Output rate when neither ``render.fps`` nor the source says."""

JOIN_TIMEOUT_S = 5.0
"""How long ``stop()`` waits for each thread to notice the stop."""

SINK_CLOSE_TIMEOUT_S = 30.0
"""How long ``stop()`` waits for a sink thread: closing finalises outputs (flushing an encoder)."""


def output_fps(render: RenderConfig, source: Source) -> float:
    """``render.fps``, else the source's nominal rate, else 30."""
    return render.fps or source.nominal_fps or DEFAULT_FPS


class Pipeline:
    """Runs one source through one engine into any number of sinks.

    Args:
        source: built, not opened (``start()`` opens it).
        engine_factory: builds a fresh, unopened engine; called again after each failure.
        sinks: built, not opened (``start()`` opens them).
        render, engine, runtime: the config sections; ``engine.kind`` names the engine thread.
        static_mask: pixels redacted on every frame (privacy zones), see :class:`StaticMask`.
        wait_for_source: a camera that may be down (``source.wait_at_start``) is opened by the
            capture thread, which waits for it with backoff while the outputs run fully
            redacted, instead of ``start()`` raising (the CLI; the daemon retries whole pipelines).
        clock: ``time.monotonic`` or a stand-in, for ages and statistics.
    """

    def __init__(
        self,
        *,
        source: Source,
        engine_factory: Callable[[], Engine],
        sinks: Sequence[Sink],
        render: RenderConfig,
        engine: EngineConfig,
        runtime: RuntimeConfig,
        static_mask: StaticMask | None = None,
        wait_for_source: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not sinks:
            raise ValueError("Pipeline: expected at least one sink, got none")
        self._stop = threading.Event()
        self._clock = clock
        self._wait_for_source = wait_for_source
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self._started = False
        self.metrics = Metrics(clock)
        self.render_config = render
        self.runtime_config = runtime
        exact = render.mode == "exact"

        # source → the render's newest-frame slot and the bounded engine queue
        self.source = source
        self._latest_frame: LatestSlot[Frame] = LatestSlot()
        self._engine_queue: BoundedQueue[Frame] = BoundedQueue(runtime.queue_size)
        self._wait_for_room = exact and not source.live
        self._source_reconnected = threading.Event()  # the engine forgets its tracks

        # engine → the newest result (low_latency) or every result in order (exact)
        self._engine_factory = engine_factory
        self.engine_config = engine
        self._prompts = PromptBoard()
        self._latest_result: LatestSlot[EngineResult] = LatestSlot()
        self._exact_results: BoundedQueue[EngineResult] | None = (
            BoundedQueue(runtime.queue_size) if exact else None
        )
        self._engine_done = threading.Event()

        # render → sinks
        self._compositor = Compositor(render, static=static_mask)
        self.sinks = list(sinks)
        self._outlets = Outlets(self.sinks, metrics=self.metrics, stop=self._stop)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Open the source and sinks (their errors raise here) and start the threads."""
        if self._started:
            raise RuntimeError("Pipeline.start: already started (a pipeline runs once)")
        self._started = True
        # A camera that may be down now is opened by the capture thread, which waits for it.
        source_opened = not (self._wait_for_source and getattr(self.source, "wait_at_start", False))
        if source_opened:
            self.source.open()
        opened: list[Sink] = []
        try:
            for sink in self.sinks:
                sink.open()
                opened.append(sink)
        except BaseException:  # release what was opened; the open error is the one to report
            for sink in opened:
                close_quietly(sink, f"sink {sink.name}")
            close_quietly(self.source, f"source {self.source.name}")
            raise
        fps = output_fps(self.render_config, self.source)
        logger.info(
            "pipeline: %s -> engine %s -> render %s at %.3g fps -> %s",
            self.source.name,
            self.engine_config.kind,
            self.render_config.mode,
            fps,
            ", ".join(sink.name for sink in self.sinks),
        )
        # source → newest-frame slot + bounded engine queue
        self._spawn(
            f"capture:{self.source.name}",
            run_capture,
            self.source,
            latest_frame=self._latest_frame,
            engine_queue=self._engine_queue,
            wait_for_room=self._wait_for_room,
            metrics=self.metrics,
            stop=self._stop,
            on_reconnect=self._source_reconnected.set,
            on_error=self._record_error,
            shots=ShotCounter(),
            opened=source_opened,
        )
        # engine queue → supervised engine → newest result (+ every result, exact)
        engine_name = f"engine:{self.engine_config.kind}"
        self._spawn(
            engine_name,
            run_engine,
            self._engine_factory,
            name=engine_name,
            frames=self._engine_queue,
            take_newest=self._exact_results is None,
            prompts=self._prompts,
            reset_requested=self._source_reconnected,
            latest=self._latest_result,
            exact=self._exact_results,
            settings=self.engine_config,
            metrics=self.metrics,
            stop=self._stop,
            done=self._engine_done,
            on_fatal=self._fail,
        )
        # frames + results → compositor → sink inboxes
        if self._exact_results is not None:
            self._spawn(
                "render",
                run_exact,
                self._compositor,
                results=self._exact_results,
                prompts=self._prompts,
                config=self.render_config,
                outlets=self._outlets,
                metrics=self.metrics,
                stop=self._stop,
            )
        else:
            self._spawn(
                "render",
                run_low_latency,
                self._compositor,
                latest_frame=self._latest_frame,
                latest_result=self._latest_result,
                prompts=self._prompts,
                engine_done=self._engine_done,
                config=self.render_config,
                outlets=self._outlets,
                # render.fps null: render each frame as it arrives (no wait for a tick); else tick at render.fps
                pacer=(
                    ArrivalPacer(fps, self._latest_frame, self._clock)
                    if self.render_config.fps is None
                    else TickPacer(fps, self._clock)
                ),
                metrics=self.metrics,
                stop=self._stop,
                clock=self._clock,
                source_fps=self.source.nominal_fps,
            )
        # sink inboxes → sinks
        for sink, inbox in zip(self.sinks, self._outlets.inboxes):
            self._spawn(
                f"sink:{sink.name}",
                run_sink,
                sink,
                inbox=inbox,
                metrics=self.metrics,
                stop=self._stop,
                job=not self.source.live,
            )

    def run(self) -> Stats:
        """Start, wait until the stream is fully published (finite source), ``runtime.max_duration_s``
        passed or ``stop()`` was called; log statistics every ``runtime.stats_interval_s``.

        Returns the final statistics. Raises the error that ended the run (e.g. the engine
        could not load, or a file source broke off), after shutting everything down.
        """
        self.start()
        try:
            self._wait()
        finally:
            self.stop()
        if self._error is not None:
            raise self._error
        return self.stats()

    def stop(self) -> None:
        """Stop every thread (sinks close and finalise their outputs). Idempotent."""
        self._stop.set()
        for thread in self._threads:
            timeout = SINK_CLOSE_TIMEOUT_S if thread.name.startswith("sink:") else JOIN_TIMEOUT_S
            thread.join(timeout)
            if thread.is_alive():
                logger.error("thread %s did not stop within %.0f s", thread.name, timeout)

    def set_prompts(self, prompts: Sequence[Prompt]) -> None:
        """Search for ``prompts`` from now on. Output is fully redacted until the engine has
        produced masks for them."""
        prompts = list(prompts)
        if not prompts:
            raise ValueError("set_prompts: expected at least one prompt (with none, nothing would be hidden)")
        self._prompts.set(prompts)

    def stats(self) -> Stats:
        """The statistics so far (safe to call from any thread, while running or after)."""
        return self.metrics.snapshot()

    def latest_masks(self) -> MaskSet | None:
        """The newest masks the engine computed (None before the first, or when it failed on its
        last frame), e.g. for a UI that outlines what was found. Display only: what reaches the
        sinks is decided by the render thread alone."""
        result = self._latest_result.get()
        return None if result is None else result.masks

    @property
    def running(self) -> bool:
        """True from ``start()`` until the stream is fully published, ``stop()`` or a fatal error."""
        return (
            self._started
            and not self._stop.is_set()
            and any(t.is_alive() for t in self._threads if t.name.startswith("sink:"))
        )

    @property
    def error(self) -> BaseException | None:
        """The error that ended (or will end) the run, if any."""
        return self._error

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------

    def _spawn(
        self, thread_name: str, target: Callable[..., None], /, *args: object, **kwargs: object
    ) -> None:
        """Run ``target`` on a named thread; an error escaping it is logged and stops the pipeline."""

        def guarded() -> None:
            try:
                target(*args, **kwargs)
            except Exception as exc:
                logger.exception("thread %s crashed; stopping the pipeline", thread_name)
                self._fail(exc)

        thread = threading.Thread(target=guarded, name=thread_name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _wait(self) -> None:
        """Block until every sink finished, the time limit, or stop; log statistics meanwhile."""
        runtime = self.runtime_config
        started = self._clock()
        next_stats = started + runtime.stats_interval_s
        sink_threads = [t for t in self._threads if t.name.startswith("sink:")]
        capture = next(t for t in self._threads if t.name.startswith("capture:"))
        while not self._stop.is_set() and any(t.is_alive() for t in sink_threads):
            now = self._clock()
            if runtime.max_duration_s is not None and now - started >= runtime.max_duration_s:
                logger.info(
                    "pipeline: runtime.max_duration_s (%g s) reached, stopping", runtime.max_duration_s
                )
                return
            if now >= next_stats and capture.is_alive():  # once the source ended, the final block follows
                logger.info("%s", self.stats().format())
                next_stats = now + runtime.stats_interval_s
            self._stop.wait(0.1)

    def _record_error(self, exc: BaseException) -> None:
        """Keep the first error: later ones are usually its consequences."""
        if self._error is None:
            self._error = exc

    def _fail(self, exc: BaseException) -> None:
        """A fatal error: remember it for ``run()`` and stop everything."""
        self._record_error(exc)
        self._stop.set()


def build_pipeline(
    config: Config,
    *,
    extra_sinks: Sequence[Sink] = (),
    engine_factory: Callable[[Sequence[Prompt]], Engine] | None = None,
    static_mask: StaticMask | None = None,
    source: Source | None = None,
    wait_for_source: bool = False,
    wrap_sink: Callable[[Sink], Sink] | None = None,
) -> Pipeline:
    """A pipeline for ``config`` (plus ``extra_sinks``, e.g. a preview the CLI adds). Nothing is opened yet.

    ``engine_factory(prompts)`` builds the engine instead of ``create_engine`` (the daemon's
    shared engine); ``static_mask`` is redacted on every frame (privacy zones); ``source``
    replaces ``config.source`` (e.g. frames a browser pushes); ``wait_for_source``: see :class:`Pipeline`;
    ``wrap_sink(sink)`` stands in for each of ``config.sinks`` (a cluster worker's lease on its outputs).
    """
    source = source if source is not None else create_source(config.source)
    kind = resolve_engine_kind(config.engine)
    prompts = [Prompt(p.text, p.threshold) for p in config.prompts]
    check_engine_accepts(config.engine, prompts, kind)
    fps = output_fps(config.render, source)
    sinks = [create_sink(sink_config, fps=fps) for sink_config in config.sinks]
    if wrap_sink is not None:
        sinks = [wrap_sink(sink) for sink in sinks]
    exact = config.render.mode == "exact"
    factory = (
        partial(create_engine, config.engine, prompts, kind=kind, exact=exact)
        if engine_factory is None
        else partial(engine_factory, prompts)
    )
    return Pipeline(
        source=source,
        engine_factory=factory,
        sinks=[*sinks, *extra_sinks],
        render=config.render,
        engine=config.engine.model_copy(update={"kind": kind}),
        runtime=config.runtime,
        static_mask=static_mask,
        wait_for_source=wait_for_source,
    )


def check_engine_accepts(engine: EngineConfig, prompts: Sequence[Prompt], kind: str) -> None:
    """Build (not open) the engine once, so prompts it cannot answer are a config error now,
    not a failure in its thread after the sinks have opened."""
    try:
        create_engine(engine, prompts, kind=kind)
    except EngineError as exc:
        raise ConfigError(f"prompts: {exc}") from None
