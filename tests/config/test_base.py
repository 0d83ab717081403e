"""Backoff ranges: the first delay must not exceed the longest (``check_min_max``)."""

from __future__ import annotations

from contextlib import nullcontext as does_not_raise

import pytest

from livefilter.config.loader import parse_config
from livefilter.errors import ConfigError


@pytest.mark.parametrize(
    ("data", "expected", "message"),
    [
        ({"engine": {"restart_min_s": 1, "restart_max_s": 1}}, does_not_raise(), None),
        (
            {"engine": {"restart_min_s": 60}},
            pytest.raises(ConfigError),
            "<dict> engine.restart_min_s: must not exceed restart_max_s (30) (got 60)",
        ),
        (
            {"engine": {"restart_max_s": 0.1}},
            pytest.raises(ConfigError),
            "<dict> engine.restart_min_s: must not exceed restart_max_s (0.1) (got 0.5)",
        ),
        (
            {"source": {"kind": "rtsp", "url": "rtsp://h/x", "reconnect_min_s": 40}},
            pytest.raises(ConfigError),
            "<dict> source.reconnect_min_s: must not exceed reconnect_max_s (30) (got 40)",
        ),
        (
            {"sinks": [{"kind": "null"}, {"kind": "rtsp", "url": "rtsp://h/x", "reconnect_max_s": 0.2}]},
            pytest.raises(ConfigError),
            "<dict> sinks[1].reconnect_min_s: must not exceed reconnect_max_s (0.2) (got 0.5)",
        ),
    ],
)
def test_backoff_ranges(data, expected, message):
    with expected as caught:
        parse_config(data)
    if message is not None:
        assert str(caught.value) == message


def test_range_rule_points_at_the_line_of_the_first_delay(tmp_path):
    from livefilter.config.loader import load_config

    path = tmp_path / "c.yaml"
    path.write_text("engine:\n  kind: auto\n  restart_min_s: 9\n  restart_max_s: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:3 engine.restart_min_s:")
