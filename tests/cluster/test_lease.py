"""A worker's lease on its outputs (no Ray needed, fast)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from livefilter.cluster.lease import FencedSink, Lease
from livefilter.daemon.config import parse_site
from livefilter.errors import ConfigError
from livefilter.types import RedactedFrame
from tests import fakes
from tests.cluster.frames import DEMO
from tests.fakes import RecordingSink


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder(RecordingSink):
    def __init__(self) -> None:
        super().__init__("out", lossless=True)
        self.opened = self.closed = 0

    def open(self) -> None:
        self.opened += 1

    def close(self) -> None:
        self.closed += 1


def redacted() -> RedactedFrame:
    return fakes.redacted(np.zeros((12, 16, 3), np.uint8), 0, 0.0)


def test_a_sink_publishes_only_while_its_workers_lease_holds(caplog) -> None:
    clock = Clock()
    lease = Lease("worker-1", clock=clock)
    inner = Recorder()
    sink = lease.wrap(inner)
    assert isinstance(sink, FencedSink) and sink.name == "out" and sink.lossless
    assert sink.reconnect_backoff == inner.reconnect_backoff  # the rest is the inner sink's
    sink.open()  # starts expired: nothing before the controller's first placement
    with caplog.at_level(logging.WARNING, logger="livefilter.cluster.lease"):
        sink.write(redacted())
    assert (inner.opened, len(inner.frames)) == (0, 0)
    assert "worker-1's lease from the cluster's controller was never granted" in caplog.text
    caplog.clear()

    lease.grant(clock.now + 3.0)
    sink.write(redacted())  # opened at the first frame under the lease
    caplog.clear()
    lease.grant(clock.now + 1.0)  # a late message never shortens it
    clock.now += 2.9
    sink.write(redacted())
    assert (inner.opened, len(inner.frames)) == (1, 2)

    clock.now += 0.1  # run out: refused, however far the pipeline got, and the output let go
    with caplog.at_level(logging.WARNING, logger="livefilter.cluster.lease"):
        for _ in range(3):
            sink.write(redacted())
    assert (len(inner.frames), inner.closed) == (2, 1)
    assert "sink out: not publishing: worker-1's lease from the cluster's controller ran out 0.0 s ago" in caplog.text
    assert caplog.text.count("not publishing") == 1

    lease.grant(clock.now + 3.0)  # renewed (the controller still counts on it): publishes at once
    sink.write(redacted())
    assert (inner.opened, len(inner.frames)) == (2, 3)
    assert "publishing again (lease renewed; 3 frames were not published)" in caplog.text
    sink.close()
    assert inner.closed == 2



class Frozen(Recorder):
    """An output whose write is where the process is stopped: the clock moves on meanwhile."""

    def __init__(self, clock: Clock, frozen_s: float) -> None:
        super().__init__()
        self.clock, self.frozen_s = clock, frozen_s

    def write(self, frame: RedactedFrame) -> None:
        self.clock.now += self.frozen_s
        super().write(frame)


def test_the_one_frame_whose_write_began_under_the_lease_is_the_only_one_past_it_and_it_is_reported(caplog) -> None:
    clock = Clock()
    lease = Lease("worker-1", clock=clock)
    inner = Frozen(clock, 0.0)
    sink = lease.wrap(inner)
    lease.grant(clock.now + 3.0)
    sink.write(redacted())
    clock.now += 2.5
    inner.frozen_s = 10.0  # stopped mid-write, 0.5 s before the lease's end; resumed 9.5 s past it
    with caplog.at_level(logging.WARNING, logger="livefilter.cluster.lease"):
        sink.write(fakes.redacted(np.zeros((12, 16, 3), np.uint8), 7, 0.7))
        inner.frozen_s = 0.0
        for _ in range(3):  # resumed: every later frame is refused
            sink.write(redacted())
    assert len(inner.frames) == 2 and inner.frames[-1].index == 7 and sink.late == 1
    assert (
        "sink out: frame 7 was published 9.50 s after worker-1's lease ran out: its write began 0.50 s before the "
        "lease's end" in caplog.text
    )
    assert caplog.text.count("was published") == 1 and sink.refused == 3


def test_a_lease_shorter_than_three_health_checks_is_rejected_with_the_key() -> None:
    site = {
        "cluster": {"health_s": 2.0, "hang_s": 5.0},
        "cameras": {"a": {"source": DEMO, "sinks": [{"kind": "null"}]}},
    }
    with pytest.raises(ConfigError, match=r"cluster\.hang_s.*at least 3 x health_s \(6 s\)"):
        parse_site(site)
