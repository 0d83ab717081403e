from __future__ import annotations

import pytest

from livefilter.runtime.metrics import WINDOW_SIZE, Metrics


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
    assert stats.capture_fps == pytest.approx(30.0)
    assert stats.latency_ms_p50 == pytest.approx(40.0)
    assert stats.mask_age_ms_p95 == pytest.approx(10.0)


def test_fail_closed_frames_are_counted_by_reason_and_have_no_mask_age() -> None:
    metrics = Metrics(Clock())
    for reason in ["no_masks_yet", "no_masks_yet", "stale_masks", ""]:
        metrics.frame_published(t_capture=0.0, reason=reason, mask_age_s=None if reason else 0.02)
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
        "dropped 3",
        "queue peak 2",
        "fully redacted 1 (engine_hung 1)",
    ]:
        assert expected in text
