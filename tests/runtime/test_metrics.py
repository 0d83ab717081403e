from __future__ import annotations

import pytest

from livefilter.runtime.metrics import PERCENTILE_WINDOW_S, WINDOW_SIZE, Metrics


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_windows_stay_bounded_over_a_long_run() -> None:
    clock = Clock()
    metrics = Metrics(clock)
    for i in range(10 * WINDOW_SIZE):
        clock.now = i / 30
        metrics.frame_captured()
        metrics.frame_published(t_capture=clock.now - 0.040, reason="", mask_age_s=0.010)
    assert all(len(window) <= WINDOW_SIZE for window in metrics._times.values())
    assert len(metrics._latency_s) == len(metrics._mask_age_s) == WINDOW_SIZE
    stats = metrics.snapshot()
    assert stats.frames_captured == stats.frames_published == 10 * WINDOW_SIZE
    assert stats.capture_fps == pytest.approx(30.0, rel=0.01)
    assert stats.latency_ms_p50 == pytest.approx(40.0)
    assert stats.mask_age_ms_p95 == pytest.approx(10.0)


def test_fail_closed_frames_are_counted_by_reason_and_have_no_mask_age() -> None:
    metrics = Metrics(Clock())
    for i, reason in enumerate(["no_masks_yet", "no_masks_yet", "stale_masks", ""]):
        metrics.frame_published(t_capture=i / 30, reason=reason, mask_age_s=None if reason else 0.02)
    stats = metrics.snapshot()
    assert dict(stats.fail_closed) == {"no_masks_yet": 2, "stale_masks": 1}
    assert stats.frames_fully_redacted == 3 and stats.frames_published == 4
    assert stats.mask_age_ms_p50 == pytest.approx(20.0)


def test_rates_fall_to_zero_when_events_stop() -> None:
    clock = Clock()
    metrics = Metrics(clock)
    for i in range(10):
        clock.now = i / 10
        metrics.frame_inferred()
    assert metrics.snapshot().engine_fps == pytest.approx(10.0)
    clock.now = 100.0
    assert metrics.snapshot().engine_fps == 0.0


def test_event_counters_reject_unknown_names() -> None:
    metrics = Metrics(Clock())
    metrics.count("engine_restarts", 2)
    assert metrics.snapshot().engine_restarts == 2
    with pytest.raises(ValueError, match="unknown event 'engine_restart'"):
        metrics.count("engine_restart")


def test_format_names_every_figure() -> None:
    clock = Clock()
    metrics = Metrics(clock)
    metrics.frame_captured(queue_depth=2)
    metrics.frames_dropped(3)
    metrics.frame_published(t_capture=0.0, reason="engine_hung", mask_age_s=None)
    clock.now = 2.0
    text = metrics.snapshot().format()
    for expected in [
        "after 2.0 s",
        "captured 1",
        "skipped 3",
        "queue peak 2",
        "fully redacted 1 (engine_hung 1)",
    ]:
        assert expected in text


def test_frames_the_engine_skipped_are_not_called_dropped() -> None:
    metrics = Metrics(Clock())
    metrics.frame_captured()
    metrics.frames_dropped(39)
    text = metrics.snapshot().format()
    assert "dropped" not in text
    assert "skipped 39 (shown with newer masks)" in text.splitlines()[2]  # the engine's line


def test_sink_drops_and_errors_are_named_per_sink() -> None:
    metrics = Metrics(Clock())
    for name in ("file:out.mp4", "rtsp rtsp://127.0.0.1:8554/out"):
        metrics.watch_sink(name)
    for _ in range(5):
        metrics.sink_wrote("file:out.mp4")
    metrics.sink_wrote("rtsp rtsp://127.0.0.1:8554/out")
    metrics.sink_dropped("rtsp rtsp://127.0.0.1:8554/out", 2)
    metrics.sink_failed("rtsp rtsp://127.0.0.1:8554/out")
    stats = metrics.snapshot()
    assert stats.sinks["file:out.mp4"].written == 5 and stats.sinks["file:out.mp4"].dropped == 0
    assert (stats.sink_frames_dropped, stats.sink_errors) == (3, 1)
    assert "file:out.mp4: wrote 5; rtsp rtsp://127.0.0.1:8554/out: wrote 1, dropped 3, errors 1" in stats.format()


def test_a_frame_shown_again_is_a_repeat_not_a_new_frame_or_a_latency() -> None:
    clock = Clock()
    metrics = Metrics(clock)
    metrics.frame_captured()
    for tick in range(4):  # the source went silent: the render shows its last frame again
        clock.now = tick / 30 + 0.010
        metrics.frame_published(t_capture=0.0, reason="source_silent" if tick else "", mask_age_s=None)
    stats = metrics.snapshot()
    assert (stats.frames_captured, stats.frames_published, stats.frames_repeated) == (1, 4, 3)
    assert stats.latency_ms_p95 == pytest.approx(10.0)  # the first showing only
    assert "published 4 (3 repeats of a frame)" in stats.format()
    assert dict(stats.fail_closed) == {"source_silent": 3}


def test_a_burst_after_a_reconnect_is_not_hundreds_of_fps() -> None:
    clock = Clock()
    metrics = Metrics(clock)
    for i in range(150):  # 5 s at 30 fps
        clock.now = i / 30
        metrics.frame_captured()
    clock.now = 15.0  # 10 s down, then FFmpeg hands over what it buffered at once
    for i in range(3):
        clock.now += 0.004
        metrics.frame_captured()
    assert metrics.snapshot().capture_fps < 30


def test_latency_percentiles_forget_an_outage() -> None:
    clock = Clock()
    metrics = Metrics(clock)
    t = 0.0
    for i in range(20):  # old frames flushed after a reconnect: seconds late
        t += 0.033
        clock.now = t
        metrics.frame_published(t_capture=t - 4.7, reason="", mask_age_s=0.030)
    for _ in range(int(PERCENTILE_WINDOW_S * 30) + 30):  # then a normal stream
        t += 1 / 30
        clock.now = t
        metrics.frame_published(t_capture=t - 0.015, reason="", mask_age_s=0.030)
    stats = metrics.snapshot()
    assert stats.latency_ms_p95 == pytest.approx(15.0)


def test_a_single_frame_job_prints_no_rates() -> None:
    clock = Clock()
    metrics = Metrics(clock)
    metrics.frame_captured()
    metrics.frame_inferred()
    clock.now = 0.4
    metrics.frame_published(t_capture=0.0, reason="", mask_age_s=0.0, redacted_fraction=0.2)
    stats = metrics.snapshot()
    assert "fps" not in stats.format()


def test_redacted_share_percentiles_leave_fail_closed_frames_apart() -> None:
    clock = Clock()
    metrics = Metrics(clock)
    shares = [0.0] * 10 + [0.1] * 80 + [0.3] * 7 + [0.6, 0.7, 0.9]
    for i, share in enumerate(shares):
        clock.now = i / 30
        metrics.frame_published(t_capture=clock.now, reason="", mask_age_s=0.01, redacted_fraction=share)
    for i in range(20):  # fail-closed frames: fully redacted, counted on their own line
        clock.now = 10 + i / 30
        metrics.frame_published(t_capture=clock.now, reason="engine_down", mask_age_s=None, redacted_fraction=1.0)
    stats = metrics.snapshot()
    assert stats.redacted_share_p50 == pytest.approx(0.1, abs=0.01)
    assert stats.redacted_share_p95 == pytest.approx(0.3, abs=0.01)
    assert stats.redacted_share_max == pytest.approx(0.9)
    assert stats.frames_mostly_redacted == 3
    assert stats.frames_mostly_hidden == 23 and not stats.mostly_redacted
    line = next(line for line in stats.format().splitlines() if line.strip().startswith("redacted"))
    assert "p50 10 %  p95 30 %  max 90 %  over 50 %: 3 frames (fully redacted apart)" in line


def test_mostly_redacted_output_is_flagged() -> None:
    clock = Clock()
    metrics = Metrics(clock)
    for i in range(10):
        clock.now = i / 30
        reason = "no_masks_yet" if i < 3 else ""
        metrics.frame_published(t_capture=clock.now, reason=reason, mask_age_s=None, redacted_fraction=0.78)
    assert metrics.snapshot().mostly_redacted


def test_the_final_block_gives_rates_over_the_run_not_the_last_seconds() -> None:
    clock = Clock()
    metrics = Metrics(clock)
    for i in range(300):  # a 10 s file read at 30 fps...
        clock.now = i / 30
        metrics.frame_captured()
    clock.now = 13.0  # ...and the run ends a few seconds later (sinks finishing)
    stats = metrics.snapshot()
    assert stats.capture_fps < 15  # the last 5 s
    assert stats.mean_fps["capture"] == pytest.approx(30.0)
    assert " 30.0 fps  captured 300" in stats.format(final=True)
