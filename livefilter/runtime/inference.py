"""The ``engine:<kind>`` thread: run the engine on captured frames, supervised.

The supervisor takes frames from the capture queue and asks an :class:`EngineHost` (one
engine instance on its own daemon thread) for masks, waiting at most ``engine.timeout_s`` (or
3x its recent pace: a loaded machine is not a hang). An exception marks the engine down; a call
that does not return in time marks it hung and its thread is abandoned (its late answer goes to a
call nobody waits for any more). Either way the failure is published, so the render fails closed, and a fresh engine is built with
backoff. Each instance is numbered (``engine:<kind>#<generation>``) in logs.

A failure of the very first load (missing weights, missing dependency, ``startup_timeout_s``
exceeded) is fatal: the user must fix something, retrying would only hide it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from operator import methodcaller
from typing import Any, TypeVar

from livefilter.config.engine import EngineConfig
from livefilter.engines.base import Engine
from livefilter.errors import EngineError, LivefilterError
from livefilter.lifecycle import close_quietly
from livefilter.runtime.backoff import Backoff
from livefilter.runtime.metrics import Metrics
from livefilter.runtime.slots import POLL_S, BoundedQueue, LatestSlot
import numpy as np

from livefilter.types import Frame, MaskSet, Prompt

__all__ = [
    "MAX_HUNG_ENGINES",
    "SPEED_MEMORY_S",
    "EngineHost",
    "EngineResult",
    "PromptBoard",
    "SpeedMemory",
    "run_engine",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_HUNG_ENGINES = 3
"""Abandoned engines still stuck in a call; no new one is started beyond this (bounds memory)."""


@dataclass(frozen=True, slots=True)
class EngineResult:
    """What the engine made of one frame: its masks, or why there are none.

    Attributes:
        frame: the frame the engine was given.
        masks: masks computed on ``frame``, or None when the engine failed.
        prompts_version: the :class:`PromptBoard` version the masks answer.
        failure: "engine_down" or "engine_hung" when ``masks`` is None.
        speed_bounds: (n,) px/s, the fastest each object of ``masks`` was seen moving lately
            (:class:`SpeedMemory`), never less than its measured speed; None: the measured speeds.
    """

    frame: Frame
    masks: MaskSet | None
    prompts_version: int
    failure: str = ""
    speed_bounds: np.ndarray | None = field(default=None, repr=False, compare=False)


SPEED_MEMORY_S = 1.0
"""How long an object's top speed is remembered (seconds of source time)."""


class SpeedMemory:
    """The fastest each tracked object moved in the last ``SPEED_MEMORY_S`` seconds.

    Masks are shown for a while after they were computed, grown by their object's speed times
    their age. A velocity measured at a turn (or at any change of pace) understates how fast the
    object can be moving a moment later: a square bouncing off a wall at 300 px/s is measured at
    100 px/s across the bounce and then moves away at 300. Growing masks by the recent top speed
    instead covers such turns. Memory is bounded: an object unseen for ``SPEED_MEMORY_S`` is forgotten.

    Example:
        >>> memory = SpeedMemory()
        >>> ids = np.array([7])
        >>> memory.bounds(ids, np.array([[300.0, 0.0]]), t=0.0).tolist()
        [300.0]
        >>> memory.bounds(ids, np.array([[100.0, 0.0]]), t=0.5).tolist()   # the turn
        [300.0]
        >>> memory.bounds(ids, np.array([[100.0, 0.0]]), t=1.6).tolist()   # 300 px/s was long ago
        [100.0]
    """

    def __init__(self, memory_s: float = SPEED_MEMORY_S) -> None:
        self.memory_s = memory_s
        self._seen: dict[int, list[tuple[float, float]]] = {}  # id -> [(t, speed)], oldest first

    def bounds(self, object_ids: np.ndarray, velocities: np.ndarray, *, t: float) -> np.ndarray:
        """Record these objects' speeds at source time ``t``; return each one's recent top speed."""
        speeds = np.hypot(velocities[:, 0], velocities[:, 1]).astype(np.float32) if len(velocities) else (
            np.zeros(0, np.float32)
        )
        horizon = t - self.memory_s
        for key in [k for k, history in self._seen.items() if history[-1][0] < horizon]:
            del self._seen[key]
        out = speeds.copy()
        for i, (object_id, speed) in enumerate(zip(object_ids.tolist(), speeds.tolist())):
            history = [(when, v) for when, v in self._seen.get(object_id, []) if horizon <= when <= t]
            history.append((t, speed))
            self._seen[object_id] = history
            out[i] = max(v for _, v in history)
        return out

    def clear(self) -> None:
        """Forget every object (the source reconnected or the engine was rebuilt: ids start over)."""
        self._seen.clear()


class PromptBoard:
    """The prompts the output must answer. Each change bumps ``version``, so masks computed
    for older prompts can be told apart (and are not shown).

    Version 0 means the prompts the engine was built with.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self._prompts: tuple[Prompt, ...] = ()

    def set(self, prompts: Sequence[Prompt]) -> int:
        with self._lock:
            self._version += 1
            self._prompts = tuple(prompts)
            return self._version

    @property
    def version(self) -> int:
        with self._lock:
            return self._version

    def current(self) -> tuple[int, tuple[Prompt, ...]]:
        with self._lock:
            return self._version, self._prompts


class _Stopped(Exception):
    """The pipeline is stopping; abandon the wait."""


class _Hung(Exception):
    """An engine call did not return within its timeout."""


class EngineHost:
    """One engine instance, built, opened and called on its own daemon thread.

    The caller waits with a timeout, so a hung model blocks only this thread, which is
    then abandoned (daemon: it cannot keep the process alive).
    """

    def __init__(self, factory: Callable[[], Engine], name: str) -> None:
        self.name = name
        self.ready: Future[None] = Future()
        self.expected_infer_s = 0.0  # an engine may say how long one frame takes (SAM3 on a CPU)
        self._calls: queue.SimpleQueue[tuple[Callable[[Engine], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._serve, args=(factory,), name=name, daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float, stop: threading.Event) -> None:
        """Wait until the engine is built and open; raises its error, ``_Hung`` or ``_Stopped``."""
        _await(self.ready, timeout, stop)

    def call(self, fn: Callable[[Engine], T], timeout: float, stop: threading.Event) -> T:
        """Run ``fn(engine)`` on the engine's thread; raises its error, ``_Hung`` or ``_Stopped``."""
        future: Future[T] = Future()
        self._calls.put((fn, future))
        return _await(future, timeout, stop)

    @property
    def alive(self) -> bool:
        """False once the engine's thread has ended (a hung one stays alive)."""
        return self._thread.is_alive()

    def shutdown(self, wait_s: float = 0.0) -> None:
        """Close the engine after any call in progress, waiting at most ``wait_s`` for it."""
        self._calls.put(None)
        self._thread.join(wait_s)

    def _serve(self, factory: Callable[[], Engine]) -> None:
        engine: Engine | None = None
        try:
            engine = factory()
            engine.open()
        except BaseException as exc:
            self.ready.set_exception(exc)
        else:
            self.expected_infer_s = float(getattr(engine, "expected_infer_s", 0.0) or 0.0)
            self.ready.set_result(None)
            while (item := self._calls.get()) is not None:
                fn, future = item
                try:
                    future.set_result(fn(engine))
                except BaseException as exc:
                    future.set_exception(exc)
        finally:
            if engine is not None:
                close_quietly(engine, self.name)


def _await(future: Future[T], timeout: float, stop: threading.Event) -> T:
    deadline = time.monotonic() + timeout
    while not wait([future], timeout=POLL_S).done:
        if stop.is_set():
            raise _Stopped
        if time.monotonic() >= deadline:
            raise _Hung
    return future.result()


def run_engine(
    factory: Callable[[], Engine],
    *,
    name: str,
    frames: BoundedQueue[Frame],
    take_newest: bool,
    prompts: PromptBoard,
    reset_requested: threading.Event,
    latest: LatestSlot[EngineResult],
    exact: BoundedQueue[EngineResult] | None,
    settings: EngineConfig,
    metrics: Metrics,
    stop: threading.Event,
    done: threading.Event,
    on_fatal: Callable[[BaseException], None],
) -> None:
    """Supervise engines until the frames run out or ``stop``: build, serve, rebuild on failure.

    Every result goes to ``latest`` (low_latency render) and, when given, to ``exact``
    (one result per frame taken, in order). ``done`` is set when this returns.
    """

    def publish(result: EngineResult) -> None:
        latest.put(result)
        if exact is not None:
            exact.put_wait(result, stop)

    backoff = Backoff(settings.restart_min_s, settings.restart_max_s)
    generation = 0
    retired: list[EngineHost] = []  # shut down; a hung one keeps its thread (and memory) until it returns
    try:
        while not stop.is_set():
            retired = [host for host in retired if host.alive]
            if len(retired) >= MAX_HUNG_ENGINES:
                logger.error(
                    "%s: %d hung engines have not returned; waiting for one before starting another",
                    name,
                    len(retired),
                )
                if stop.wait(backoff.next()):
                    return
                continue
            generation += 1
            host = EngineHost(factory, f"{name}#{generation}")
            try:
                host.wait_ready(settings.startup_timeout_s, stop)
            except _Stopped:
                host.shutdown()
                return
            except Exception as exc:
                host.shutdown()
                if generation == 1:
                    on_fatal(_startup_error(name, exc, settings))
                    return
                logger.error("%s: restart failed: %s", host.name, exc)
            else:
                logger.info("%s: ready", host.name)
                failure = _serve(
                    host,
                    frames,
                    take_newest,
                    prompts,
                    reset_requested,
                    publish,
                    settings,
                    metrics,
                    stop,
                    backoff,
                )
                if failure is None:
                    host.shutdown(wait_s=settings.timeout_s)
                    return
                host.shutdown()  # after a hang this returns at once and the thread is abandoned
            retired.append(host)
            metrics.count("engine_restarts")
            if stop.wait(backoff.next()):
                return
    except Exception as exc:
        logger.exception("%s: supervisor failed", name)
        on_fatal(exc)
    finally:
        if exact is not None:
            exact.close()
        done.set()


def _serve(
    host: EngineHost,
    frames: BoundedQueue[Frame],
    take_newest: bool,
    prompts: PromptBoard,
    reset_requested: threading.Event,
    publish: Callable[[EngineResult], None],
    settings: EngineConfig,
    metrics: Metrics,
    stop: threading.Event,
    backoff: Backoff,
) -> str | None:
    """Feed frames to one engine until the frames run out or ``stop`` (None), or it fails (the reason)."""
    applied_version = 0  # a fresh engine answers the prompts it was built with
    shot: int | None = None  # of the last frame given: the first frame of a new shot starts afresh
    speeds = SpeedMemory()  # a fresh engine numbers its objects afresh
    timeout = settings.startup_timeout_s  # the first inference may include warm-up
    slowest_s = 0.0  # the slowest recent answer after the first (warm-up), decaying: the machine's pace
    warmed_up = False
    # Live: the earliest time the next call may start (engine.max_calls_per_s), so a camera can leave CPU idle.
    interval_s = 1.0 / settings.max_calls_per_s if take_newest and settings.max_calls_per_s else 0.0
    next_call = 0.0
    while not stop.is_set():
        if interval_s and stop.wait(max(0.0, next_call - time.monotonic())):
            return None
        if take_newest:
            frame, skipped = frames.get_newest(POLL_S)
            metrics.frames_dropped(skipped)
        else:
            frame = frames.get(POLL_S)
        if frame is None:
            if frames.finished:
                return None
            continue
        next_call = time.monotonic() + interval_s
        version, wanted = prompts.current()
        try:
            cut = shot is not None and frame.shot != shot
            if reset_requested.is_set() or cut:
                # A reconnect, or a cut: the tracks describe another picture; detect now.
                reset_requested.clear()
                speeds.clear()
                host.call(methodcaller("reset"), timeout, stop)
            shot = frame.shot
            if version != applied_version:
                host.call(methodcaller("set_prompts", wanted), timeout, stop)
                applied_version = version
            started = time.monotonic()
            masks = host.call(methodcaller("infer", frame), timeout, stop)
            _check_answer(masks, frame)
            if warmed_up:
                slowest_s = max(time.monotonic() - started, slowest_s * PACE_DECAY)
        except _Stopped:
            return None
        except _Hung:
            logger.error(
                "%s: no answer on frame %d within %.3g s (engine.timeout_s); abandoning it, starting a fresh one",
                host.name,
                frame.index,
                timeout,
            )
            publish(EngineResult(frame, None, version, "engine_hung"))
            return "engine_hung"
        except Exception:
            logger.exception("%s: failed on frame %d; restarting it", host.name, frame.index)
            publish(EngineResult(frame, None, version, "engine_down"))
            return "engine_down"
        bounds = speeds.bounds(masks.object_ids, masks.velocities, t=masks.t_capture)
        publish(EngineResult(frame, masks, version, speed_bounds=bounds))
        metrics.frame_inferred()
        backoff.reset()
        timeout = infer_timeout(settings, host, slowest_s)
        warmed_up = True
    return None


HANG_FACTOR = 3.0
"""A call counts as hung after this many times the engine's own per-frame estimate, or its recent pace."""

PACE_DECAY = 0.9
"""Per answer, the slowest recent answer time shrinks by this factor (a load spike is forgotten in ~20 answers)."""


def infer_timeout(settings: EngineConfig, host: EngineHost, slowest_s: float = 0.0) -> float:
    """``engine.timeout_s``, raised for an engine that says it is slower, or that has been answering slower.

    A loaded machine slows every call; only a call far slower than the engine's recent pace is a
    hang. Otherwise a busy machine restarts a healthy engine, and a file job's output (the tracks
    a restart throws away) would depend on the load. The render fails closed on stale masks by
    itself, so waiting longer never shows anything unredacted.

    Example:
        >>> from types import SimpleNamespace
        >>> infer_timeout(EngineConfig(timeout_s=5.0), SimpleNamespace(expected_infer_s=0.0), slowest_s=4.0)
        12.0
    """
    return max(settings.timeout_s, HANG_FACTOR * max(host.expected_infer_s, slowest_s))


def _check_answer(masks: object, frame: Frame) -> None:
    """An engine must answer the frame it was given (exact mode relies on it)."""
    if not isinstance(masks, MaskSet):
        raise EngineError(
            f"engine returned {type(masks).__name__} for frame {frame.index}; expected a MaskSet"
        )
    if masks.frame_index != frame.index:
        raise EngineError(
            f"engine returned masks stamped for frame {masks.frame_index} when given frame {frame.index}; "
            "infer() must answer the frame it was given"
        )


def _startup_error(name: str, exc: BaseException, settings: EngineConfig) -> BaseException:
    if isinstance(exc, _Hung):
        return EngineError(
            f"{name}: the model did not finish loading within {settings.startup_timeout_s:g} s "
            "(engine.startup_timeout_s); raise it for slow disks or large models"
        )
    if isinstance(exc, LivefilterError):
        return exc
    error = EngineError(f"{name}: failed to load: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error
