from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from livefilter.config import EngineConfig
from livefilter.errors import DependencyError, EngineError
from livefilter.runtime.inference import EngineResult, PromptBoard, run_engine
from livefilter.runtime.metrics import Metrics
from livefilter.runtime.render import fail_reason
from livefilter.runtime.slots import BoundedQueue, LatestSlot
from livefilter.types import Prompt
from tests.fakes import FAST_ENGINE, GroundTruthEngine, GroundTruthEngineFactory, Scene


def run_exact(
    factory, frames: list, *, prompts: PromptBoard | None = None, reset: threading.Event | None = None
):
    """Run the engine supervisor over ``frames`` in exact mode; return its results and fatal errors."""
    queue, results = BoundedQueue(len(frames) + 1), BoundedQueue(len(frames) + 1)
    for frame in frames:
        queue.put_latest(frame)
    queue.close()
    fatal: list[BaseException] = []
    run_engine(
        factory,
        name="engine:test",
        frames=queue,
        take_newest=False,
        prompts=prompts or PromptBoard(),
        reset_requested=reset or threading.Event(),
        latest=LatestSlot(),
        exact=results,
        settings=EngineConfig(**FAST_ENGINE),
        metrics=Metrics(),
        stop=threading.Event(),
        done=threading.Event(),
        on_fatal=fatal.append,
    )
    out: list[EngineResult] = []
    while (item := results.get(0.0)) is not None:
        out.append(item)
    return out, fatal


def test_prompts_changed_before_a_frame_are_applied_to_it(scene: Scene) -> None:
    prompts = PromptBoard()
    version = prompts.set([Prompt("stripe")])
    results, _ = run_exact(
        GroundTruthEngineFactory(scene, prompts=("square",)), [scene.frame(0)], prompts=prompts
    )
    assert [(r.prompts_version, r.masks.labels) for r in results] == [(version, ("stripe",))]


def test_masks_stamped_for_another_frame_count_as_an_engine_failure(scene: Scene) -> None:
    class WrongFrame(GroundTruthEngine):
        def infer(self, frame):  # type: ignore[no-untyped-def]
            masks = super().infer(frame)
            return dataclasses.replace(masks, frame_index=frame.index + 1)

    results, fatal = run_exact(
        lambda: WrongFrame(scene, [Prompt("square")]), [scene.frame(0), scene.frame(1)]
    )
    assert [(r.masks, r.failure) for r in results] == [(None, "engine_down"), (None, "engine_down")]
    assert not fatal


def test_a_source_reconnect_resets_the_engine_once(scene: Scene) -> None:
    factory, reset = GroundTruthEngineFactory(scene), threading.Event()
    reset.set()
    results, _ = run_exact(factory, [scene.frame(i) for i in range(3)], reset=reset)
    assert len(results) == 3 and factory.built[0].resets == 1 and not reset.is_set()


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (DependencyError("engine 'x' needs: pip install x"), DependencyError),
        (ValueError("bad weights"), EngineError),
    ],
)
def test_first_load_failure_is_fatal_and_says_what(scene: Scene, error: Exception, raised: type) -> None:
    results, fatal = run_exact(GroundTruthEngineFactory(scene, open_error=error), [scene.frame(0)])
    assert results == [] and len(fatal) == 1
    assert type(fatal[0]) is raised and str(error) in str(fatal[0])


def test_a_later_load_failure_is_retried(scene: Scene) -> None:
    built = []

    def factory() -> GroundTruthEngine:
        # the first engine crashes on its 2nd frame, the second cannot load, the third works
        options = [{"raise_after": 1}, {"open_error": RuntimeError("GPU busy")}, {}][min(len(built), 2)]
        engine = GroundTruthEngine(scene, [Prompt("square")], **options)
        built.append(engine)
        return engine

    results, fatal = run_exact(factory, [scene.frame(i) for i in range(4)])
    assert [r.failure for r in results] == ["", "engine_down", "", ""]
    assert len(built) == 3 and not fatal
    assert all(engine.closed for engine in built)


@pytest.mark.parametrize(("expected_infer_s", "failures"), [(0.0, ["engine_hung"]), (0.2, [""])])
def test_an_engine_that_says_it_is_slow_is_not_restarted_as_hung(
    scene: Scene, expected_infer_s: float, failures: list[str]
) -> None:
    """SAM3 on a CPU takes longer per frame than engine.timeout_s: it must not restart forever."""

    def factory() -> GroundTruthEngine:
        engine = GroundTruthEngine(scene, [Prompt("square")], delay_s=0.3, first_delay_s=0.0)
        engine.expected_infer_s = expected_infer_s  # type: ignore[attr-defined]
        return engine

    results, fatal = run_exact(factory, [scene.frame(i) for i in range(2)])
    assert [r.failure for r in results[1:2]] == failures and not fatal


class SlowingEngine(GroundTruthEngine):
    """A machine getting busier: each answer takes 1.6x the one before (0.05 s up to ~0.5 s, past
    engine.timeout_s of 0.15 s), then, given ``hang_at``, it never answers that call."""

    def __init__(self, scene: Scene, hang_at: int | None = None) -> None:
        super().__init__(scene, [Prompt("square")], hang_after=hang_at)

    def infer(self, frame):
        self.delay_s = 0.05 * 1.6 ** (self.calls - 1)
        return super().infer(frame)


def test_an_engine_slowing_down_with_the_load_is_not_restarted_as_hung(scene: Scene) -> None:
    """Issue 9: a file job's output must not depend on the load; a restart under load throws away its tracks."""
    built: list[SlowingEngine] = []

    def factory() -> SlowingEngine:
        built.append(SlowingEngine(scene))
        return built[-1]

    results, fatal = run_exact(factory, [scene.frame(i) for i in range(6)])
    assert [r.failure for r in results] == [""] * 6 and not fatal
    assert len(built) == 1, "a slower answer than engine.timeout_s, at the machine's pace, restarted the engine"


def test_a_call_far_slower_than_the_recent_pace_is_still_a_hang(scene: Scene) -> None:
    built: list[SlowingEngine] = []

    def factory() -> SlowingEngine:  # the first engine blocks on its 4th call, the next ones work
        built.append(SlowingEngine(scene, hang_at=None if built else 3))
        return built[-1]

    results, fatal = run_exact(factory, [scene.frame(i) for i in range(5)])
    built[0].release.set()
    assert [r.failure for r in results][:4] == ["", "", "", "engine_hung"] and not fatal
    assert len(built) == 2


def test_masks_computed_while_the_prompts_change_are_stamped_with_the_old_prompts(scene: Scene) -> None:
    """The race of issue 10.2, forced: the prompts change while the engine is inside infer().

    Its answer was computed for the old prompts, so it must carry the old version (and the
    render must not show it); only the next frame answers the new prompts. Stamping the
    result with the version read after inference would pass old-prompt masks off as new.
    """
    inside, carry_on = threading.Event(), threading.Event()

    class BlocksOnFirstFrame(GroundTruthEngine):
        def infer(self, frame):  # type: ignore[no-untyped-def]
            if frame.index == 0:
                inside.set()
                assert carry_on.wait(10.0), "the test never let infer() return"
            return super().infer(frame)

    prompts = PromptBoard()
    frames = [scene.frame(0), scene.frame(1)]
    queue, results = BoundedQueue(3), BoundedQueue(3)
    for frame in frames:
        queue.put_latest(frame)
    queue.close()
    engine = threading.Thread(
        target=run_engine,
        args=(lambda: BlocksOnFirstFrame(scene, [Prompt("square")]),),
        kwargs=dict(
            name="engine:test",
            frames=queue,
            take_newest=False,
            prompts=prompts,
            reset_requested=threading.Event(),
            latest=LatestSlot(),
            exact=results,
            settings=EngineConfig(**{**FAST_ENGINE, "timeout_s": 10.0, "startup_timeout_s": 10.0}),
            metrics=Metrics(),
            stop=threading.Event(),
            done=threading.Event(),
            on_fatal=lambda exc: None,
        ),
    )
    engine.start()
    assert inside.wait(10.0)
    new_version = prompts.set([Prompt("stripe")])  # while frame 0 is being inferred
    carry_on.set()
    engine.join(10.0)
    first, second = results.get(1.0), results.get(1.0)

    assert (first.masks.labels, first.prompts_version) == (("square",), 0)
    assert (second.masks.labels, second.prompts_version) == (("stripe",), new_version)
    shown = frames[0]
    assert fail_reason(shown, first, prompts_version=prompts.version, max_mask_age_s=1.0) == "prompts_changed"
    assert fail_reason(frames[1], second, prompts_version=prompts.version, max_mask_age_s=1.0) == ""


def test_the_first_frame_of_a_new_shot_resets_the_engine_first(scene: Scene) -> None:
    """A cut: the engine forgets the old shot's tracks and detects on that very frame."""
    events: list[str] = []

    class Recording(GroundTruthEngine):
        def infer(self, frame):  # type: ignore[no-untyped-def]
            events.append(f"infer {frame.index}")
            return super().infer(frame)

        def reset(self) -> None:
            events.append("reset")

    shots = [0, 0, 1, 1, 1, 2]
    frames = [dataclasses.replace(scene.frame(i), shot=s) for i, s in enumerate(shots)]
    results, fatal = run_exact(lambda: Recording(scene, [Prompt("square")]), frames)
    assert not fatal and [r.frame.index for r in results] == list(range(6))
    assert events == ["infer 0", "infer 1", "reset", "infer 2", "infer 3", "infer 4", "reset", "infer 5"]


def test_results_carry_each_objects_recent_top_speed() -> None:
    """At a bounce a tracker measures a fraction of the speed; the render must grow the masks by
    the speed the object had just before (issue 10.1). The engine thread remembers it."""
    bouncing = Scene(speed=3.0, speed_y=0.0)  # 300 px/s at 100 fps, bounces at frame 43
    frames = [bouncing.frame(i, t_capture=i / 100) for i in range(38, 48)]
    factory = GroundTruthEngineFactory(bouncing, prompts=("square",), fps=100.0)
    results, _ = run_exact(factory, frames)
    measured = {r.frame.index: float(np.hypot(*r.masks.velocities[0])) for r in results}
    bounds = {r.frame.index: float(r.speed_bounds[0]) for r in results}
    assert measured[43] < 150 and bounds[43] == pytest.approx(300.0)  # the bounce: measured 100 px/s
    assert all(bounds[i] >= measured[i] for i in bounds)


@pytest.mark.parametrize("cap", [None, 5.0])
def test_live_engine_calls_are_spaced_by_max_calls_per_s(scene: Scene, cap: float | None) -> None:
    """engine.max_calls_per_s leaves the CPU idle between live calls (a site planner's knob): calls
    start at least 1/cap apart, on the newest frame; without it a fast engine is called back to back."""
    import time

    starts: list[float] = []

    class Timed(GroundTruthEngine):
        def infer(self, frame):  # type: ignore[no-untyped-def]
            starts.append(time.monotonic())
            return super().infer(frame)

    frames: BoundedQueue = BoundedQueue(4)
    latest: LatestSlot[EngineResult] = LatestSlot()
    stop, done = threading.Event(), threading.Event()
    worker = threading.Thread(target=run_engine, args=(lambda: Timed(scene, [Prompt("square")]),), kwargs=dict(
        name="engine:test", frames=frames, take_newest=True, prompts=PromptBoard(), reset_requested=threading.Event(),
        latest=latest, exact=None, settings=EngineConfig(**FAST_ENGINE, max_calls_per_s=cap), metrics=Metrics(),
        stop=stop, done=done, on_fatal=print,
    ))
    worker.start()
    index, until = 0, time.monotonic() + 1.2
    while time.monotonic() < until:  # a camera at ~200 fps
        frames.put_latest(scene.frame(index))
        index += 1
        time.sleep(0.005)
    stop.set()
    worker.join(10)
    gaps = np.diff(starts)
    if cap is None:
        assert len(starts) > 12, f"uncapped: {len(starts)} calls in 1.2 s"
    else:
        assert 2 <= len(starts) <= 1.2 * cap + 1, f"{len(starts)} calls in 1.2 s at max_calls_per_s {cap}"
        assert gaps.min() >= 1 / cap - 0.01, f"calls {gaps.min():.3f} s apart"
