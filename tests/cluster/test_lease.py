"""A worker's lease on its outputs (no Ray needed, fast)."""

from __future__ import annotations

import numpy as np
import pytest

from livefilter.cluster.lease import FencedSink, Lease
from livefilter.daemon.config import parse_site
from livefilter.errors import ConfigError, SinkError
from livefilter.types import RedactedFrame
from tests import fakes
from tests.cluster.frames import DEMO
from tests.fakes import RecordingSink


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def redacted() -> RedactedFrame:
    return fakes.redacted(np.zeros((12, 16, 3), np.uint8), 0, 0.0)


def test_a_sink_publishes_only_while_its_workers_lease_holds() -> None:
    clock = Clock()
    lease = Lease("worker-1", clock=clock)
    inner = RecordingSink("out", lossless=True)
    sink = lease.wrap(inner)
    assert isinstance(sink, FencedSink) and sink.name == "out" and sink.lossless
    with pytest.raises(SinkError, match=r"sink out: not publishing: worker-1's lease .* ran out"):
        sink.open()  # starts expired: nothing before the controller's first placement

    lease.grant(clock.now + 3.0)
    sink.open()
    sink.write(redacted())
    lease.grant(clock.now + 1.0)  # a late message never shortens it
    clock.now += 2.9
    sink.write(redacted())
    clock.now += 0.1  # run out: refused, however far the pipeline got
    with pytest.raises(SinkError, match="ran out 0.0 s ago"):
        sink.write(redacted())
    with pytest.raises(SinkError):
        sink.open()
    assert len(inner.frames) == 2

    lease.grant(clock.now + 3.0)  # renewed (the controller still counts on it): publishes again
    sink.write(redacted())
    assert len(inner.frames) == 3
    sink.close()


def test_a_lease_shorter_than_three_health_checks_is_rejected_with_the_key() -> None:
    site = {
        "cluster": {"health_s": 2.0, "hang_s": 5.0},
        "cameras": {"a": {"source": DEMO, "sinks": [{"kind": "null"}]}},
    }
    with pytest.raises(ConfigError, match=r"cluster\.hang_s.*at least 3 x health_s \(6 s\)"):
        parse_site(site)
