from __future__ import annotations

import threading
import time

import pytest

from livefilter.config import RenderConfig
from livefilter.render.compositor import Compositor
from livefilter.runtime.metrics import Metrics
from livefilter.runtime.sinks import Outlets, run_sink
from livefilter.runtime.slots import BoundedQueue
from tests.fakes import RecordingSink, Scene

SCENE = Scene()
COMPOSITOR = Compositor(RenderConfig())


def redacted(index: int):
    return COMPOSITOR.redact_all(SCENE.frame(index), reason="test")


def test_outlets_refuse_raw_frames() -> None:
    outlets = Outlets([RecordingSink()], metrics=Metrics(), stop=threading.Event())
    with pytest.raises(TypeError, match="only RedactedFrame, got Frame"):
        outlets.send(SCENE.frame(0))  # type: ignore[arg-type]


def test_live_sinks_get_the_newest_frame_lossless_ones_wait() -> None:
    stop, metrics = threading.Event(), Metrics()
    live, lossless = RecordingSink("live", lossless=False), RecordingSink("file")
    outlets = Outlets([live, lossless], metrics=metrics, stop=stop)
    threading.Timer(0.3, stop.set).start()
    for i in range(20):  # nobody drains: the lossless inbox fills, then send waits until stop
        outlets.send(redacted(i))
    live_inbox, lossless_inbox = outlets.inboxes
    assert len(live_inbox) == 1 and live_inbox.get(0.0).index == 19
    assert len(lossless_inbox) == lossless_inbox.capacity
    assert metrics.snapshot().sink_frames_dropped >= 8


def test_a_failing_sink_is_closed_reopened_and_keeps_writing() -> None:
    sink, metrics = RecordingSink(fail_on_writes={2}), Metrics()
    metrics.watch_sink(sink.name)
    inbox = BoundedQueue(100)

    def produce() -> None:
        for i in range(30):
            inbox.put_latest(redacted(i))
            time.sleep(0.005)
        inbox.close()

    sink.open()  # the pipeline opens sinks before their threads start
    threading.Thread(target=produce).start()
    run_sink(sink, inbox=inbox, metrics=metrics, stop=threading.Event())

    stats = metrics.snapshot()
    assert stats.sink_errors == 1 and (sink.opens, sink.closes) == (2, 2)
    assert sink.frames[0].index == 0 and sink.frames[-1].index == 29
    assert len(sink.frames) + stats.sink_frames_dropped == 30
    assert stats.sinks["rec"].written == len(sink.frames)


def test_a_lost_sink_is_one_line_per_failure_and_back_only_once_a_frame_went_through(caplog) -> None:
    """No traceback per retry (that is what -v is for), and no "reopened" before the next failure."""
    import logging

    sink, metrics = RecordingSink(fail_on_writes={2, 3, 4}), Metrics()
    metrics.watch_sink(sink.name)
    inbox = BoundedQueue(100)

    def produce() -> None:
        for i in range(60):
            inbox.put_latest(redacted(i))
            time.sleep(0.005)
        inbox.close()

    sink.open()
    with caplog.at_level(logging.INFO, logger="livefilter.runtime.sinks"):
        threading.Thread(target=produce).start()
        run_sink(sink, inbox=inbox, metrics=metrics, stop=threading.Event())
    records = [r for r in caplog.records if r.name == "livefilter.runtime.sinks"]
    failures = [r for r in records if "write failed" in r.getMessage()]
    assert len(failures) == 3 and all(r.exc_info is None for r in failures)
    assert "injected write failure" in failures[0].getMessage()
    assert not any("reopened" in r.getMessage() and r.levelno >= logging.INFO for r in records)
    back = [r for r in records if "delivering again" in r.getMessage()]
    assert len(back) == 1 and records.index(back[0]) > records.index(failures[-1])
