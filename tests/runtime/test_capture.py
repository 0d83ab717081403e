from __future__ import annotations

import threading

from livefilter.engines.shots import ShotCounter
from livefilter.errors import SourceError
from livefilter.runtime.capture import run_capture
from livefilter.runtime.metrics import Metrics
from livefilter.runtime.slots import BoundedQueue, LatestSlot
from tests.fakes import FakeSource


def capture(source: FakeSource, *, capacity: int = 100, wait_for_room: bool = False):
    """Run the capture loop on an opened ``source`` until it ends; return what it produced."""
    queue, latest, metrics = BoundedQueue(capacity), LatestSlot(), Metrics()
    errors: list[BaseException] = []
    reconnects = threading.Event()
    source.open()
    run_capture(
        source,
        latest_frame=latest,
        engine_queue=queue,
        wait_for_room=wait_for_room,
        metrics=metrics,
        stop=threading.Event(),
        on_reconnect=reconnects.set,
        on_error=errors.append,
        shots=ShotCounter(),
    )
    indices = []
    while (frame := queue.get(0.0)) is not None:
        indices.append(frame.index)
    return indices, latest.get(), metrics.snapshot(), errors, reconnects.is_set(), queue


def test_a_live_source_is_reopened_with_backoff_and_nothing_is_lost_between() -> None:
    source = FakeSource(count=20, live=True, fail_at={5, 6}, open_failures=1)
    indices, latest, stats, errors, reconnected, queue = capture(source)
    assert indices == list(range(20)) and latest.index == 19
    assert stats.source_reconnects == 2 and source.opens == 4 and reconnected
    assert not errors and queue.finished and source.closes >= 3


def test_a_broken_file_ends_the_stream_and_reports_the_error() -> None:
    source = FakeSource(count=20, live=False, fail_at={7})
    indices, _, stats, errors, _, queue = capture(source)
    assert indices == list(range(7))
    assert len(errors) == 1 and isinstance(errors[0], SourceError) and "frame 7" in str(errors[0])
    assert queue.finished and stats.source_reconnects == 0


def test_a_live_source_never_waits_for_the_engine() -> None:
    indices, _, stats, _, _, _ = capture(FakeSource(count=50, live=True), capacity=2)
    assert indices == [48, 49] and stats.frames_dropped == 48 and stats.engine_queue_peak == 2
