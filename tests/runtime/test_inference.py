from __future__ import annotations

import dataclasses
import threading

import pytest

from livefilter.config import EngineConfig
from livefilter.errors import DependencyError, EngineError
from livefilter.runtime.inference import EngineResult, PromptBoard, run_engine
from livefilter.runtime.metrics import Metrics
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
