"""One engine shared by every camera, scheduled fairly.

The heavy part of an engine (the face detector, the SAM3 model) is a :class:`SharedModel`,
loaded once and used only by the ``engine:shared`` worker thread. Each camera's
:class:`~livefilter.pipeline.Pipeline` gets, through its engine factory, an
:class:`EngineClient`: an :class:`~livefilter.engines.base.Engine` whose calls are jobs for
that worker. Per-camera state (tracks, a SAM3 session and its memory window) lives in the
camera's *session*, an engine built by the shared model for that camera alone, so one
camera's masks can never be answered to another: a job carries its camera's session and
its frame, and its answer goes back only to the caller that submitted it.

Scheduling: the worker serves cameras round-robin (:class:`FairQueue`). A camera's
pipeline submits one frame at a time (its engine thread waits for each answer, and its
capture queue keeps only the newest frame), so with N cameras each gets at least 1/N of
the engine, whatever the others' frame rates; a camera whose source is slow simply
submits less. Each pipeline still supervises its client like any engine: a call that does
not return within ``engine.timeout_s`` fails that camera closed and it builds a fresh
session. A job that hangs the worker itself (longer than ``hang_s``) gets the worker
abandoned by a watchdog and a fresh model loaded on a new worker; sessions of the old model
then fail, so their cameras (fully redacted meanwhile) build new ones.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from livefilter.config.engine import CpuFaceConfig, EngineConfig, Sam3Config
from livefilter.engines import resolve_engine_kind
from livefilter.engines.base import Engine
from livefilter.errors import EngineError
from livefilter.lifecycle import Lifecycle, close_quietly
from livefilter.runtime.inference import MAX_HUNG_ENGINES
from livefilter.runtime.metrics import Histogram
from livefilter.types import Frame, MaskSet, Prompt

__all__ = [
    "ENGINE_SECONDS_BUCKETS",
    "EngineClient",
    "FaceModel",
    "FairQueue",
    "Sam3Model",
    "SharedEngine",
    "SharedModel",
    "shared_model",
]

logger = logging.getLogger(__name__)

K = TypeVar("K")
T = TypeVar("T")

ENGINE_SECONDS_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12)
"""Histogram bounds for engine seconds per frame."""


class SharedModel(Protocol):
    """The heavy part of an engine, loaded once; every method runs on the shared worker.

    Obligations:
        - ``open()`` loads the model (raises like an engine's ``open``).
        - ``session(prompts)`` builds one camera's engine (its own tracks / memory) that
          uses the loaded model; it is opened, called and closed on the worker only.
        - ``close()`` frees the model; idempotent.
    """

    name: str

    def open(self) -> None: ...

    def session(self, prompts: Sequence[Prompt]) -> Engine: ...

    def close(self) -> None: ...


class FaceModel(Lifecycle):
    """The CPU face engine's detector, loaded once; each session is a
    :class:`~livefilter.engines.face_cpu.CpuFaceEngine` with its own tracker around it.
    ``threads``: the most CPU threads the detector uses (None: every usable core)."""

    name = "cpu-face"

    def __init__(self, settings: CpuFaceConfig, *, threads: int | None = None) -> None:
        self.settings = settings
        self.threads = threads
        self._detector: Any = None
        self._second: Any = None

    def open(self) -> None:
        from livefilter.engines.face_cpu import CpuFaceEngine

        probe = CpuFaceEngine(self.settings, [], threads=self.threads)
        probe.open()  # loads the detectors, with the engine's own errors
        self._detector, self._second = probe.detector, probe.second_opinion

    def session(self, prompts: Sequence[Prompt]) -> Engine:
        from livefilter.engines.face_cpu import CpuFaceEngine

        if self._detector is None:
            raise EngineError("shared cpu-face model: session() before open()")
        return CpuFaceEngine(self.settings, prompts, detector=self._detector, second_opinion=self._second)

    def close(self) -> None:
        self._detector = self._second = None


class Sam3Model(Lifecycle):
    """One SAM3 model in memory; each session is a :class:`~livefilter.engines.sam3.Sam3Engine`
    with its own streaming session and memory window (``engine.sam3.memory_frames``) over it."""

    name = "sam3"

    def __init__(self, settings: Sam3Config) -> None:
        self.settings = settings
        self._weights: Any = None

    def open(self) -> None:
        from livefilter.engines.sam3 import load_weights

        self._weights = load_weights(self.settings)

    def session(self, prompts: Sequence[Prompt]) -> Engine:
        from livefilter.engines.sam3 import Sam3Engine

        if self._weights is None:
            raise EngineError("shared sam3 model: session() before open()")
        return Sam3Engine(self.settings, prompts, weights=self._weights)

    def close(self) -> None:
        self._weights = None


def shared_model(config: EngineConfig, *, threads: int | None = None) -> SharedModel:
    """The shared model for ``config`` (``auto`` resolved); ``threads``: the most CPU threads the
    CPU face detector uses (None: every usable core; a cluster worker passes the CPUs it reserves)."""
    if resolve_engine_kind(config) == "cpu-face":
        return FaceModel(config.cpu_face, threads=threads)
    return Sam3Model(config.sam3)


class FairQueue(Generic[K, T]):
    """Items in lanes (one per camera), taken round-robin: each lane with items gets a turn
    before any lane gets a second one, however many items it has queued.

    Example:
        >>> q = FairQueue()
        >>> for item in ("a1", "a2", "a3"): q.put("a", item)
        >>> q.put("b", "b1")
        >>> [q.take(0) for _ in range(4)]
        ['a1', 'b1', 'a2', 'a3']
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._lanes: dict[K, deque[T]] = {}
        self._turns: deque[K] = deque()  # lanes with items, in the order they get served

    def put(self, lane: K, item: T) -> None:
        with self._cond:
            items = self._lanes.setdefault(lane, deque())
            if not items:
                self._turns.append(lane)
            items.append(item)
            self._cond.notify()

    def take(self, timeout: float) -> T | None:
        """The next item in turn, waiting at most ``timeout`` s; None if there is none."""
        with self._cond:
            if not self._turns and not self._cond.wait_for(lambda: bool(self._turns), timeout):
                return None
            lane = self._turns.popleft()
            items = self._lanes[lane]
            item = items.popleft()
            if items:
                self._turns.append(lane)  # back of the line
            else:
                del self._lanes[lane]
            return item

    def __len__(self) -> int:
        with self._cond:
            return sum(len(items) for items in self._lanes.values())


@dataclass(slots=True)
class _Job:
    camera: str
    run: Callable[[_Worker], Any]
    future: Future[Any]
    measure: bool  # an inference: its time counts as engine seconds
    submitted: float
    generation: int | None  # the worker generation whose model the job's session uses (None: any)


@dataclass(slots=True)
class CameraUsage:
    """What the shared engine spent on one camera (read by the metrics exporter)."""

    frames: int
    seconds: Histogram  # engine seconds per frame (wall clock)
    wait_seconds: Histogram  # time a frame waited for its turn
    cpu_seconds: float = 0.0  # CPU time of the engine thread spent on this camera's frames


class _Worker:
    """One worker thread and the model it loaded; abandoned, never joined, when a job hangs."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.model: SharedModel | None = None
        self.busy_since: float | None = None
        self.thread: threading.Thread | None = None

    def open_session(self, prompts: Sequence[Prompt]) -> tuple[int, Engine]:
        """Runs on this worker: a fresh opened session of its model, with the generation it belongs to."""
        if self.model is None:
            raise EngineError("shared engine: the model is not loaded")
        session = self.model.session(prompts)
        session.open()
        return self.generation, session


class SharedEngine(Lifecycle):
    """One :class:`SharedModel` on one worker thread, serving every camera's client in turn.

    Args:
        model_factory: builds the shared model (unopened).
        kind: the engine's name in logs and thread names.
        hang_s: a job running longer counts as hung: the worker is abandoned and a fresh one
            loads a fresh model; sessions of the old one fail (their pipelines fail closed and
            build new ones). At most ``MAX_HUNG_ENGINES`` abandoned workers are kept.

    ``open()`` starts the worker and loads the model (its error is raised there). Clients are
    made with :meth:`client` and handed to pipelines as their engine factory.
    """

    def __init__(self, model_factory: Callable[[], SharedModel], *, kind: str = "shared", hang_s: float = 30.0) -> None:
        self.kind = kind
        self.hang_s = hang_s
        self._model_factory = model_factory
        self._jobs: FairQueue[str, _Job] = FairQueue()
        self._stop = threading.Event()
        self._worker: _Worker | None = None
        self._abandoned: list[_Worker] = []
        self._watchdog: threading.Thread | None = None
        self._usage_lock = threading.Lock()
        self._usage: dict[str, CameraUsage] = {}
        self.restarts = 0

    def open(self) -> None:
        if self._worker is not None:
            return
        self._start_worker(1)
        self._watchdog = threading.Thread(target=self._watch, name=f"engine:{self.kind}:watchdog", daemon=True)
        self._watchdog.start()

    def close(self) -> None:
        """Stop the worker after the job in progress; pending jobs fail."""
        self._stop.set()
        worker = self._worker
        if worker is not None and worker.thread is not None:
            worker.thread.join(10.0)
            if worker.thread.is_alive():
                logger.error("engine:%s did not stop within 10 s", self.kind)

    def client(self, camera: str, prompts: Sequence[Prompt]) -> EngineClient:
        """An unopened engine for camera ``camera`` (a pipeline's engine factory calls this)."""
        return EngineClient(self, camera, prompts)

    def usage(self) -> dict[str, CameraUsage]:
        """Per camera: frames served and engine/wait seconds (live objects; read, do not write)."""
        with self._usage_lock:
            return dict(self._usage)

    @property
    def pending(self) -> int:
        return len(self._jobs)

    def submit(
        self, camera: str, run: Callable[[_Worker], T], *, measure: bool = False, generation: int | None = None
    ) -> Future[T]:
        """Run ``run(worker)`` on the worker in ``camera``'s turn (``generation``: only on that worker's model)."""
        future: Future[T] = Future()
        if self._stop.is_set():
            future.set_exception(EngineError(f"engine:{self.kind} is stopped"))
        else:
            self._jobs.put(camera, _Job(camera, run, future, measure, time.monotonic(), generation))
        return future

    def _start_worker(self, generation: int) -> None:
        """Start a worker and wait until its model is loaded (raises the load error)."""
        worker = _Worker(generation)
        ready: Future[None] = Future()
        worker.thread = threading.Thread(
            target=self._serve, args=(worker, ready), name=f"engine:{self.kind}#{generation}", daemon=True
        )
        worker.thread.start()
        ready.result()

    def _serve(self, worker: _Worker, ready: Future[None]) -> None:
        try:
            model = self._model_factory()
            model.open()
        except BaseException as exc:
            ready.set_exception(exc)
            return
        worker.model = model
        self._worker = worker  # from now on the old worker (if any) takes no more jobs
        ready.set_result(None)
        logger.info("engine:%s#%d: shared %s model ready", self.kind, worker.generation, model.name)
        try:
            while not self._stop.is_set() and self._worker is worker:
                job = self._jobs.take(0.1)
                if job is None:
                    continue
                if job.generation not in (None, worker.generation):
                    job.future.set_exception(EngineError(
                        f"engine:{self.kind} was restarted after a hang; the camera's session is rebuilt"
                    ))
                    continue
                started, cpu_started = time.monotonic(), time.thread_time()
                worker.busy_since = started
                try:
                    job.future.set_result(job.run(worker))
                except BaseException as exc:
                    job.future.set_exception(exc)
                worker.busy_since = None
                if job.measure:
                    self._account(job, started, time.monotonic(), time.thread_time() - cpu_started)
        finally:
            if self._stop.is_set():
                while (job := self._jobs.take(0)) is not None:
                    job.future.set_exception(EngineError(f"engine:{self.kind} stopped"))
            close_quietly(model, f"engine:{self.kind}#{worker.generation}")

    def _watch(self) -> None:
        """The watchdog: replace a worker whose job hangs (bounded number of abandoned ones)."""
        while not self._stop.wait(0.25):
            worker = self._worker
            since = worker.busy_since if worker is not None else None
            if worker is None or since is None or time.monotonic() - since <= self.hang_s:
                continue
            self._abandoned = [w for w in self._abandoned if w.thread is not None and w.thread.is_alive()]
            if len(self._abandoned) >= MAX_HUNG_ENGINES:
                logger.error("engine:%s: %d hung workers have not returned; not starting another", self.kind,
                             len(self._abandoned))
                continue
            logger.error(
                "engine:%s#%d: a job has run %.3g s (> %.3g s): abandoning the worker, loading a fresh model",
                self.kind, worker.generation, time.monotonic() - since, self.hang_s,
            )
            self._abandoned.append(worker)
            try:
                self._start_worker(worker.generation + 1)
            except Exception:
                logger.exception("engine:%s: the fresh model could not load; retrying", self.kind)
                continue
            self.restarts += 1

    def _account(self, job: _Job, started: float, ended: float, cpu_s: float) -> None:
        with self._usage_lock:
            usage = self._usage.get(job.camera)
            if usage is None:
                usage = self._usage[job.camera] = CameraUsage(
                    0, Histogram(ENGINE_SECONDS_BUCKETS), Histogram(ENGINE_SECONDS_BUCKETS)
                )
        usage.frames += 1
        usage.cpu_seconds += cpu_s
        usage.seconds.observe(ended - started)
        usage.wait_seconds.observe(started - job.submitted)


class EngineClient(Lifecycle):
    """A camera's view of the shared engine: an :class:`~livefilter.engines.base.Engine`
    whose every call runs on the shared worker, in the camera's turn, on the camera's own
    session. Blocks the calling (pipeline engine host) thread until answered."""

    def __init__(self, shared: SharedEngine, camera: str, prompts: Sequence[Prompt]) -> None:
        self.name = f"{shared.kind}@{camera}"
        self.camera = camera
        self._shared = shared
        self._prompts = list(prompts)
        self._session: Engine | None = None
        self._generation = 0
        self.expected_infer_s = 0.0

    def _call(self, fn: Callable[[Engine], T], *, measure: bool = False) -> T:
        session = self._session
        if session is None:
            raise EngineError(f"engine {self.name}: called before open()")
        future = self._shared.submit(self.camera, lambda _: fn(session), measure=measure, generation=self._generation)
        return future.result()

    def open(self) -> None:
        if self._session is None:
            prompts = self._prompts
            self._generation, self._session = self._shared.submit(
                self.camera, lambda worker: worker.open_session(prompts)
            ).result()
            # the pipeline's hang timeout follows a slow session (SAM3 on a CPU)
            self.expected_infer_s = float(getattr(self._session, "expected_infer_s", 0.0) or 0.0)

    def infer(self, frame: Frame) -> MaskSet:
        masks = self._call(lambda session: session.infer(frame), measure=True)
        if not isinstance(masks, MaskSet) or masks.frame_index != frame.index or masks.t_capture != frame.t_capture:
            raise EngineError(f"engine {self.name}: answered another frame than the one submitted")
        return masks

    def set_prompts(self, prompts: Sequence[Prompt]) -> None:
        self._prompts = list(prompts)
        self._call(lambda session: session.set_prompts(prompts))

    def reset(self) -> None:
        self._call(lambda session: session.reset())

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:  # on the worker; nobody waits
            self._shared.submit(self.camera, lambda _: session.close(), generation=self._generation)
