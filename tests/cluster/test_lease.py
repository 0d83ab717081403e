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


def test_a_lease_shorter_than_three_health_checks_is_rejected_with_the_key() -> None:
    site = {
        "cluster": {"health_s": 2.0, "hang_s": 5.0},
        "cameras": {"a": {"source": DEMO, "sinks": [{"kind": "null"}]}},
    }
    with pytest.raises(ConfigError, match=r"cluster\.hang_s.*at least 3 x health_s \(6 s\)"):
        parse_site(site)
