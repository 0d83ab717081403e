"""Fault injection against the whole pipeline: no secret pixel and no raw frame may ever
reach a sink, whatever the engine, source or sinks do; and the stream must keep flowing.

Each scenario runs a :class:`~tests.fakes.FakeSource` (secrets drawn in colours nothing
else has) through :class:`~tests.fakes.GroundTruthEngine` (a test double told the true
masks) into :class:`~tests.fakes.RecordingSink` and checks every frame the sinks got.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from livefilter.config import Config, RenderConfig
from livefilter.errors import EngineError, SinkError, SourceError
from livefilter.pipeline import build_pipeline
from livefilter.render.compositor import Compositor
from livefilter.runtime.inference import MAX_HUNG_ENGINES
from livefilter.types import Frame, Prompt
from tests.fakes import (
    STRIPE_COLORS,
    FakeSource,
    GroundTruthEngineFactory,
    PanningScene,
    RecordingSink,
    Scene,
    decode_index,
    leaked_pixels,
)


NO_HANG = {"timeout_s": 10.0}
"""``engine:`` for tests about something else than hangs: a loaded machine must not make a slow
answer look like a hang (the default test timeout is 150 ms)."""


def assert_nothing_leaked(*sinks: RecordingSink) -> None:
    for sink in sinks:
        leaks = {f.index: n for f in sink.frames if (n := leaked_pixels(f.image))}
        assert not leaks, f"sink {sink.name}: secret pixels visible in frames {leaks} (index: pixel count)"


def partially_redacted(sink: RecordingSink) -> list[int]:
    """Indices of frames shown with masks (not fully redacted)."""
    return [f.index for f in sink.frames if not f.fully_redacted]


# -- the checker itself can fail ---------------------------------------------------------


@pytest.mark.parametrize("style", ["blur", "pixelate", "solid"])
def test_leak_check_flags_raw_frames_and_passes_redacted_ones(scene: Scene, style: str) -> None:
    compositor = Compositor(RenderConfig(style=style))
    for index in (0, 17, 55):
        frame = scene.frame(index)
        truth = scene.truth(index, ["square", "stripe"], t_capture=frame.t_capture, fps=50.0)
        partial = scene.truth(index, ["square"], t_capture=frame.t_capture, fps=50.0)
        assert leaked_pixels(frame.image) > 100
        assert leaked_pixels(compositor.redact_regions(frame, partial).image, STRIPE_COLORS) > 100
        assert leaked_pixels(compositor.redact_regions(frame, truth).image) == 0
        assert leaked_pixels(compositor.redact_all(frame, reason="test").image) == 0
        assert decode_index(compositor.redact_regions(frame, truth).image) == index


# -- exact mode: a file job ----------------------------------------------------------------


def test_exact_file_job_publishes_every_frame_with_its_own_masks(scene, make_pipeline) -> None:
    sink = RecordingSink()
    pipeline = make_pipeline(
        FakeSource(scene, count=40),
        GroundTruthEngineFactory(scene, delay_s=0.002),
        [sink],
        render={"mode": "exact"},
    )
    stats = pipeline.run()

    assert [f.index for f in sink.frames] == list(range(40))
    assert partially_redacted(sink) == list(range(40))
    assert all(f.mask_frame_index == f.index == decode_index(f.image) for f in sink.frames)
    assert_nothing_leaked(sink)
    assert (stats.frames_captured, stats.frames_dropped, stats.frames_published) == (40, 0, 40)
    assert (sink.opens, sink.closes) == (1, 1)


@pytest.mark.parametrize(
    ("fault", "reason", "engine"),
    [({"raise_after": 6}, "engine_down", NO_HANG), ({"hang_after": 6}, "engine_hung", {})],
)
def test_exact_mode_engine_failure_loses_no_frame(scene, make_pipeline, release, fault, reason, engine) -> None:
    sink = RecordingSink()
    factory = GroundTruthEngineFactory(scene, **fault)
    pipeline = make_pipeline(
        FakeSource(scene, count=30), factory, [sink], render={"mode": "exact"}, engine=engine
    )
    # A hung engine wakes up later: its late answer must not be published a second time.
    threading.Timer(0.4, release.set).start()
    stats = pipeline.run()

    assert [f.index for f in sink.frames] == list(range(30))
    failed = [f for f in sink.frames if f.fully_redacted]
    assert failed and {f.reason for f in failed} == {reason}
    assert all(
        f.mask_frame_index == f.index == decode_index(f.image) for f in sink.frames if not f.fully_redacted
    )
    assert_nothing_leaked(sink)
    assert stats.engine_restarts >= 1 and len(factory.built) >= 2


def test_exact_mode_slow_engine_blocks_the_file_instead_of_dropping(scene, make_pipeline) -> None:
    sink = RecordingSink()
    pipeline = make_pipeline(
        FakeSource(scene, count=25),
        GroundTruthEngineFactory(scene, delay_s=0.02),
        [sink],
        render={"mode": "exact"},
        runtime={"queue_size": 2},
    )
    stats = pipeline.run()

    assert len(sink.frames) == 25 and stats.frames_dropped == 0
    assert stats.engine_queue_peak <= 2


# -- low_latency: live video ---------------------------------------------------------------


def live_source(scene: Scene, **options: object) -> FakeSource:
    return FakeSource(scene, **{"fps": 100.0, "paced": True, "live": True, **options})  # type: ignore[arg-type]


def test_low_latency_ends_with_the_last_frame_and_its_masks(make_pipeline) -> None:
    # Still secrets: masks grown along a motion over a loaded machine's ages may reach (and blur)
    # the frame index drawn in the top rows, which this test reads. That index changes on every
    # frame, so live_guard hide_changes would hide it on frames newer than their masks: masks_only.
    scene = Scene(speed=0.0, speed_y=0.0)
    sink = RecordingSink()
    pipeline = make_pipeline(
        live_source(scene, count=40),
        GroundTruthEngineFactory(scene, delay_s=0.005),
        [sink],
        render={"fps": 100.0, "live_guard": "masks_only"},
        engine=NO_HANG,
    )
    pipeline.run()

    last = sink.frames[-1]
    assert (last.index, last.fully_redacted, last.mask_frame_index) == (39, False, 39)
    shown = [f for f in sink.frames if not f.fully_redacted]
    assert all(f.index >= f.mask_frame_index for f in shown)  # masks never from a later frame
    assert [f.index for f in shown if decode_index(f.image) != f.index] == []  # pixels match the label
    assert_nothing_leaked(sink)
    assert sink.closes == 1


def test_engine_slower_than_source_still_covers_the_moving_secret(make_pipeline) -> None:
    # 300 px/s to the right, no turn within the run: masks 50+ ms old are far behind the square.
    scene = Scene(width=480, speed=3.0, speed_y=0.0)
    sink = RecordingSink()
    pipeline = make_pipeline(
        live_source(scene, count=60),
        GroundTruthEngineFactory(scene, delay_s=0.05),
        [sink],
        render={"fps": 100.0, "max_mask_age_ms": 300.0},
        engine=NO_HANG,
    )
    stats = pipeline.run()

    assert_nothing_leaked(sink)
    # Most frames are shown with masks several frames old (grown along the motion), not blanked.
    lagging = [f for f in sink.frames if not f.fully_redacted and f.mask_frame_index < f.index - 2]
    assert len(lagging) > len(sink.frames) // 3
    assert stats.frames_dropped > 0


def test_masks_older_than_max_mask_age_fail_closed(scene, make_pipeline) -> None:
    sink = RecordingSink()
    pipeline = make_pipeline(  # every answer is ~150 ms old by the time it can be shown
        live_source(scene, count=50),
        GroundTruthEngineFactory(scene, delay_s=0.15),
        [sink],
        render={"fps": 100.0, "max_mask_age_ms": 60.0},
        engine=NO_HANG,
    )
    stats = pipeline.run()

    assert_nothing_leaked(sink)
    assert stats.fail_closed.get("stale_masks", 0) > 10
    shown = [f for f in sink.frames if not f.fully_redacted]  # at 100 fps, 60 ms is at most 6 frames
    assert shown and all(f.index - f.mask_frame_index <= 6 for f in shown)
    assert (shown[-1].index, shown[-1].mask_frame_index) == (49, 49)  # the end: the last frame with its masks


def test_moving_secret_that_turns_back_stays_covered(make_pipeline) -> None:
    scene = Scene(speed=3.0, speed_y=0.0)  # 300 px/s, turns back at frame 43
    sink = RecordingSink()
    pipeline = make_pipeline(
        live_source(scene, count=70),
        GroundTruthEngineFactory(scene, delay_s=0.08),
        [sink],
        render={"fps": 100.0},
        engine=NO_HANG,
    )
    pipeline.run()

    assert_nothing_leaked(sink)


def frames_shown_with_older_masks(make_pipeline, scene, *, appears_at: int, fps: float | None = 100.0) -> list:
    """Run the live pipeline over ``scene`` (a secret appearing at frame ``appears_at``, an engine
    answering every ~8 frames at 100 fps) until a run shows a frame after the appearance with masks
    from before it, checking every run for leaks; that run's frames shown with older masks.

    A loaded machine may fail closed on every such frame: such a run proves nothing, so it is run
    again (three times at most)."""
    for _ in range(3):
        sink = RecordingSink()
        pipeline = make_pipeline(
            live_source(scene, count=90),
            GroundTruthEngineFactory(scene, delay_s=0.08),
            [sink],
            render={"fps": fps},
            engine=NO_HANG,
        )
        pipeline.run()

        assert_nothing_leaked(sink)
        late = [f for f in sink.frames if not f.fully_redacted and f.mask_frame_index < f.index]
        if any(f.index >= appears_at and f.mask_frame_index < appears_at for f in late):
            return late
    pytest.fail("in 3 runs no frame after the appearance was shown with older masks: the test proves nothing")


@pytest.mark.parametrize("fps", [100.0, None], ids=["render ticks", "render on arrival"])
def test_a_secret_appearing_between_slow_engine_answers_never_reaches_a_sink(make_pipeline, fps) -> None:
    """Issue 9 (live): a secret that appears after the frame of the newest answer is in no mask.
    With the default ``render.live_guard`` it is hidden (what changed since the masks' frame) until
    the engine has seen it; ``masks_only`` shows it until the next answer. Both pacers: ticks at
    ``render.fps``, or each frame as it arrives (``render.fps: null``)."""
    scene = Scene(width=320, speed=3.0, speed_y=0.0, square_from=45)
    frames_shown_with_older_masks(make_pipeline, scene, appears_at=45, fps=fps)


@pytest.mark.parametrize("fresh", [False, True], ids=["tracked", "fresh track"])
def test_a_secret_appearing_while_the_camera_pans_never_reaches_a_sink(make_pipeline, fresh) -> None:
    """Issue 16 (live) on a moving camera: the guard compares each frame with the masks' frame moved by
    the camera's motion, so the textured wall is shown; a secret appearing on it mid-pan is hidden until
    the engine has seen it, and then where the pan takes it (even without a velocity for its track)."""
    scene = PanningScene(pan=(2.0, 1.0), square_at=(150, 110), square_from=45, velocity_known=not fresh)
    late = frames_shown_with_older_masks(make_pipeline, scene, appears_at=45)
    shown = sorted(f.redacted_fraction for f in late)
    assert shown[len(shown) // 2] < 0.5, f"the pan hid most of the picture: hidden shares {shown}"


class StampedOnce(FakeSource):
    """Stamps every frame with the time of its first read, as if a late capture thread had found
    them all buffered and read them in one burst: capture times then say nothing of motion."""

    def read(self):  # type: ignore[no-untyped-def]
        frame = super().read()
        if frame is None:
            return None
        self.first = getattr(self, "first", frame.t_capture)
        return Frame(frame.image, index=frame.index, t_capture=self.first, source=frame.source)


def test_masks_age_by_frames_when_capture_times_lie(make_pipeline) -> None:
    """Issue 10.1: ages come from what the frames are (their count at the source's rate), not
    from when a thread got to stamp them. With every capture time equal, masks must still be
    grown for the frames that passed, or the moving secret leaks."""
    scene = Scene(width=320, speed=3.0, speed_y=0.0)  # 300 px/s, no bounce within the run
    sink = RecordingSink()
    pipeline = make_pipeline(
        StampedOnce(scene, count=60, fps=100.0, paced=True, live=True),
        GroundTruthEngineFactory(scene, delay_s=0.05),
        [sink],
        render={"fps": 100.0},
        engine=NO_HANG,
    )
    pipeline.run()

    assert_nothing_leaked(sink)
    lagging = [f for f in sink.frames if not f.fully_redacted and f.mask_frame_index < f.index - 2]
    assert lagging, "no frame was shown with older masks: the test proves nothing"


@contextlib.contextmanager
def cpu_hogs(seconds: float) -> Iterator[None]:
    """One busy-looping process per core for the duration of the block (each ends itself after
    ``seconds`` whatever happens, and is killed when the block ends)."""
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
    hogs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.2)  # let them start spinning
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.mark.slow
def test_nothing_leaks_with_every_core_busy(make_pipeline) -> None:
    """Issue 10.1: the low-latency promise must hold on a loaded machine, not only a quiet one.

    With a busy-looping process on every core, run the scenarios that leaked or failed under
    load (a moving secret that bounces, masks older than max_mask_age, a source that drops and
    comes back, a secret appearing between two answers) and check every frame every sink received
    for secret pixels."""
    bouncing = Scene(width=100, speed=3.0, speed_y=0.0)  # 300 px/s, bounces every 23 frames
    diagonal = Scene(width=320, speed=4.0, speed_y=1.5)
    appearing = Scene(width=320, speed=3.0, speed_y=0.0, square_from=45)  # between two answers
    scenarios = [
        (live_source(bouncing, count=300), GroundTruthEngineFactory(bouncing, delay_s=0.08), {}),
        (live_source(diagonal, count=120), GroundTruthEngineFactory(diagonal, delay_s=0.03), {}),
        (
            live_source(bouncing, count=80),
            GroundTruthEngineFactory(bouncing, delay_s=0.15),
            {"max_mask_age_ms": 60.0},
        ),
        (live_source(appearing, count=90), GroundTruthEngineFactory(appearing, delay_s=0.08), {}),
        (
            live_source(diagonal, count=100, fail_at={30, 60}, open_failures=1),
            GroundTruthEngineFactory(diagonal, delay_s=0.01),
            {},
        ),
    ]
    sinks = []
    with cpu_hogs(60.0):
        for source, factory, render in scenarios:
            sink = RecordingSink(f"rec{len(sinks)}")
            make_pipeline(source, factory, [sink], render={"fps": 100.0, **render}, engine=NO_HANG).run()
            sinks.append(sink)
    assert all(len(sink.frames) > 40 for sink in sinks)
    assert_nothing_leaked(*sinks)
    shown = sum(not f.fully_redacted for sink in sinks for f in sink.frames)
    assert shown > 50, "under load nearly every frame was fully redacted: the test would prove nothing"


def test_hanging_engine_fails_closed_then_a_fresh_one_takes_over(scene, make_pipeline) -> None:
    sink = RecordingSink()
    factory = GroundTruthEngineFactory(scene, hang_after=10)
    pipeline = make_pipeline(live_source(scene, count=60), factory, [sink], render={"fps": 100.0})
    stats = pipeline.run()

    assert_nothing_leaked(sink)
    reasons = {f.reason for f in sink.frames}
    assert "engine_hung" in reasons
    hung_at = next(i for i, f in enumerate(sink.frames) if f.reason == "engine_hung")
    assert partially_redacted(sink)[-1] > sink.frames[hung_at].index  # masks again after the restart
    assert stats.engine_restarts >= 1 and len(factory.built) >= 2


def test_crashing_engine_is_restarted_and_the_stream_keeps_flowing(scene, make_pipeline) -> None:
    sink = RecordingSink()
    factory = GroundTruthEngineFactory(scene, delay_s=0.005, raise_after=8)
    pipeline = make_pipeline(live_source(scene, count=60), factory, [sink], render={"fps": 100.0})
    stats = pipeline.run()

    assert_nothing_leaked(sink)
    assert stats.fail_closed.get("engine_down", 0) > 0
    assert stats.engine_restarts >= 2
    first_crash = next(f.index for f in sink.frames if f.reason == "engine_down")
    assert any(i > first_crash for i in partially_redacted(sink))
    assert sink.frames[-1].index == 59


def test_slow_model_load_and_first_frame_fail_closed_without_restart(scene, make_pipeline) -> None:
    sink = RecordingSink()
    # The first inference takes longer than timeout_s: warm-up, not a hang (startup_timeout_s applies).
    factory = GroundTruthEngineFactory(scene, open_delay_s=0.2, first_delay_s=0.8, delay_s=0.005)
    pipeline = make_pipeline(
        live_source(scene, count=120),
        factory,
        [sink],
        render={"fps": 100.0},
        engine={"timeout_s": 0.5, "startup_timeout_s": 5.0},
    )
    stats = pipeline.run()

    assert_nothing_leaked(sink)
    shown = partially_redacted(sink)
    before = [f for f in sink.frames if f.index < shown[0]]
    # Until the first answer, no masks; then that answer may be too old for the frame shown.
    assert sum(f.reason == "no_masks_yet" for f in before) >= 5 and before[0].reason == "no_masks_yet"
    assert {f.reason for f in before} <= {"no_masks_yet", "stale_masks", "fast_motion"}
    assert stats.engine_restarts == 0 and len(factory.built) == 1


@pytest.mark.parametrize(
    ("engine", "factory_options", "message"),
    [
        ({}, {"open_error": EngineError("weights not found at /models/x")}, "weights not found"),
        ({"startup_timeout_s": 0.1}, {"open_delay_s": 0.5}, "engine.startup_timeout_s"),
    ],
)
def test_first_load_failure_stops_the_pipeline_and_is_raised(
    scene, make_pipeline, engine, factory_options, message
) -> None:
    sink = RecordingSink()
    pipeline = make_pipeline(
        live_source(scene), GroundTruthEngineFactory(scene, **factory_options), [sink], engine=engine
    )
    with pytest.raises(EngineError, match=message):
        pipeline.run()
    assert all(f.fully_redacted for f in sink.frames)
    assert sink.closes == 1


@pytest.mark.parametrize("guard", ["hide_changes", "checked_frames"])
def test_silent_live_source_fails_closed_then_recovers(scene, make_pipeline, guard) -> None:
    sink = RecordingSink()
    pipeline = make_pipeline(
        live_source(scene, count=45, pause_at={25: 0.3}),
        GroundTruthEngineFactory(scene),
        [sink],
        render={"fps": 100.0, "max_frame_age_ms": 100.0, "live_guard": guard},
        engine=NO_HANG,
    )
    pipeline.run()

    assert_nothing_leaked(sink)
    silent = [f for f in sink.frames if f.reason == "source_silent"]
    assert len(silent) >= 2 and {f.index for f in silent} == {24}  # (a loaded machine ticks less often)
    assert any(i > 25 for i in partially_redacted(sink))


def test_failing_live_source_is_reconnected_and_the_engine_reset(scene, make_pipeline) -> None:
    sink = RecordingSink()
    factory = GroundTruthEngineFactory(scene)
    source = live_source(scene, count=60, fail_at={20, 40}, open_failures=2)
    pipeline = make_pipeline(source, factory, [sink], render={"fps": 100.0}, engine=NO_HANG)
    stats = pipeline.run()

    assert_nothing_leaked(sink)
    assert stats.source_reconnects == 2 and source.opens == 5
    assert factory.built[0].resets >= 1
    assert sink.frames[-1].index == 59 and not sink.frames[-1].fully_redacted


def test_set_prompts_fails_closed_until_masks_for_the_new_prompts(scene, make_pipeline) -> None:
    sink = RecordingSink()
    factory = GroundTruthEngineFactory(scene, prompts=("square",), delay_s=0.005, set_prompts_delay_s=0.2)
    pipeline = make_pipeline(live_source(scene, count=70), factory, [sink], render={"fps": 100.0}, engine=NO_HANG)
    changed_at: list[int] = []

    def change_prompts() -> None:
        changed_at.append(pipeline.stats().frames_captured)
        pipeline.set_prompts([Prompt("square"), Prompt("stripe")])

    threading.Timer(0.25, change_prompts).start()
    pipeline.run()

    captured_before = changed_at[0]
    early = [f for f in sink.frames if f.index < captured_before - 1 and not f.fully_redacted]
    assert early and all(leaked_pixels(f.image, STRIPE_COLORS) > 0 for f in early)  # not a secret yet
    after = [f for f in sink.frames if f.index > captured_before + 1]
    leaks = {f.index: n for f in after if (n := leaked_pixels(f.image))}
    assert not leaks, f"secret pixels after set_prompts: {leaks}"
    assert any(f.reason == "prompts_changed" for f in after)
    assert any(not f.fully_redacted for f in after)  # masks for the new prompts arrived


# -- sinks and memory ------------------------------------------------------------------------


def test_a_failing_sink_does_not_stop_the_others(scene, make_pipeline) -> None:
    good, bad = RecordingSink("good"), RecordingSink("bad", fail_on_writes={3, 4, 5})
    pipeline = make_pipeline(
        FakeSource(scene, count=40),
        GroundTruthEngineFactory(scene, delay_s=0.002),
        [bad, good],
        # No backfill delay line: its end-of-file burst (the held frames at once) would fall
        # wholly within the failing sink's reopen delay, and this test is about its recovery.
        render={"mode": "exact", "backfill_s": 0},
    )
    stats = pipeline.run()

    assert [f.index for f in good.frames] == list(range(40))
    assert 0 < len(bad.frames) < 40 and bad.frames[-1].index == 39
    assert stats.sink_errors == 3 and bad.opens >= 2
    assert (good.closes, bad.closes >= 1) == (1, True)
    assert_nothing_leaked(good, bad)


def test_queues_stay_bounded_with_a_slow_engine_and_a_slow_sink(make_pipeline) -> None:
    scene = Scene(speed=0.0, speed_y=0.0)  # an unpaced source outruns any motion model; keep still
    live_sink = RecordingSink("live", lossless=False, delay_s=0.03)
    pipeline = make_pipeline(
        FakeSource(scene, count=None, live=True, fps=100.0),
        GroundTruthEngineFactory(scene, delay_s=0.05),
        [live_sink],
        render={"fps": 100.0},
        runtime={"queue_size": 3, "max_duration_s": 0.8},
    )
    stats = pipeline.run()

    assert stats.frames_captured > 10 * stats.engine_queue_peak  # the unpaced source ran far ahead ...
    assert stats.engine_queue_peak <= 3  # ... and the engine queue stayed bounded
    assert stats.frames_dropped > stats.frames_captured // 2
    assert stats.sink_frames_dropped > 0 and all(inbox.peak <= 1 for inbox in pipeline._outlets.inboxes)
    assert_nothing_leaked(live_sink)


def test_stop_ends_run_of_an_endless_source(scene, make_pipeline) -> None:
    sink = RecordingSink()
    pipeline = make_pipeline(live_source(scene), GroundTruthEngineFactory(scene), [sink])
    threading.Timer(0.3, pipeline.stop).start()
    started = time.monotonic()
    stats = pipeline.run()

    assert time.monotonic() - started < 3.0
    assert stats.frames_published > 0 and sink.closes == 1
    assert_nothing_leaked(sink)


# -- lifecycle and errors ----------------------------------------------------------------------


def test_a_broken_file_publishes_what_was_read_then_raises(scene, make_pipeline) -> None:
    sink = RecordingSink()
    pipeline = make_pipeline(
        FakeSource(scene, count=30, fail_at={12}),
        GroundTruthEngineFactory(scene),
        [sink],
        render={"mode": "exact"},
    )
    with pytest.raises(SourceError, match="before frame 12"):
        pipeline.run()
    assert [f.index for f in sink.frames] == list(range(12)) and sink.closes == 1
    assert_nothing_leaked(sink)


def test_build_pipeline_runs_a_config_end_to_end() -> None:
    config = Config.model_validate(
        {
            "source": {
                "kind": "demo",
                "width": 320,
                "height": 180,
                "fps": 20,
                "duration_s": 0.5,
                "realtime": False,
            },
            "engine": {"kind": "cpu-face"},
            "render": {"mode": "exact"},
            "sinks": [{"kind": "null"}],
        }
    )
    recorder = RecordingSink()
    pipeline = build_pipeline(config, extra_sinks=[recorder])
    assert [sink.name for sink in pipeline.sinks] == ["null", "rec"]
    stats = pipeline.run()

    assert [f.index for f in recorder.frames] == list(range(10))
    assert stats.frames_published == 10 and stats.engine_restarts == 0 and recorder.closes == 1


def test_engines_that_never_return_are_not_piled_up(scene, make_pipeline) -> None:
    sink = RecordingSink()
    factory = GroundTruthEngineFactory(scene, hang_after=1)  # each engine hangs for good on its 2nd frame
    pipeline = make_pipeline(live_source(scene), factory, [sink], runtime={"max_duration_s": 1.2})
    threads_before = threading.active_count()
    pipeline.run()

    assert len(factory.built) == MAX_HUNG_ENGINES
    assert threading.active_count() - threads_before <= MAX_HUNG_ENGINES  # the pipeline's own threads ended
    assert sink.frames[-1].fully_redacted and sink.frames[-1].reason == "engine_hung"
    assert_nothing_leaked(sink)


def test_run_logs_statistics_periodically_and_context_manager_stops(scene, make_pipeline, caplog) -> None:
    sink = RecordingSink()
    pipeline = make_pipeline(
        live_source(scene, count=40),
        GroundTruthEngineFactory(scene),
        [sink],
        runtime={"stats_interval_s": 0.1},
    )
    with caplog.at_level(logging.INFO, logger="livefilter.pipeline"):
        pipeline.run()
    assert sum("livefilter stats after" in r.getMessage() for r in caplog.records) >= 2

    other = RecordingSink()
    with make_pipeline(live_source(scene), GroundTruthEngineFactory(scene), [other]) as running:
        time.sleep(0.2)
        assert running.stats().frames_published > 0
    assert other.closes == 1
    with pytest.raises(ValueError, match="at least one prompt"):
        running.set_prompts([])


def test_a_crashing_render_stops_the_run_with_its_error(scene, make_pipeline, monkeypatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected render bug")

    monkeypatch.setattr("livefilter.pipeline.run_low_latency", broken)
    sink = RecordingSink()
    pipeline = make_pipeline(live_source(scene), GroundTruthEngineFactory(scene), [sink])
    with pytest.raises(RuntimeError, match="injected render bug"):
        pipeline.run()
    assert sink.frames == [] and sink.closes == 1


def test_a_sink_that_cannot_open_releases_what_was_opened_and_starts_nothing(scene, make_pipeline) -> None:
    class Unopenable(RecordingSink):
        def open(self) -> None:
            raise SinkError("no such device")

    class FailsToClose(RecordingSink):
        def close(self) -> None:
            super().close()
            raise OSError("disk gone")  # must not hide the open error

    source, first, broken = FakeSource(scene, count=10), FailsToClose("first"), Unopenable("broken")
    pipeline = make_pipeline(source, GroundTruthEngineFactory(scene), [first, broken])
    threads_before = threading.active_count()
    with pytest.raises(SinkError, match="no such device"):
        pipeline.start()
    assert (first.opens, first.closes) == (1, 1) and broken.closes == 0
    assert (source.opens, source.closes) == (1, 1)
    assert threading.active_count() == threads_before and first.frames == []
