"""Rules that span sections: one preview, outputs never overwrite the input; and warnings."""

from __future__ import annotations

from contextlib import nullcontext as does_not_raise

import pytest

from livefilter.config.loader import parse_config
from livefilter.config.root import Config, config_warnings
from livefilter.errors import ConfigError

FILE_SOURCE = {"kind": "file", "path": "in/clip.mp4", "realtime": False}


@pytest.mark.parametrize(
    ("sinks", "expected", "message"),
    [
        ([{"kind": "preview"}, {"kind": "null"}], does_not_raise(), None),
        (
            [{"kind": "preview"}, {"kind": "null"}, {"kind": "preview", "title": "b"}],
            pytest.raises(ConfigError),
            "<dict> sinks[2]: only one preview sink is allowed (also at sinks[0])",
        ),
        ([{"kind": "file", "path": "out/clip.mp4"}], does_not_raise(), None),
        (
            [{"kind": "file", "path": "in/clip.mp4"}],
            pytest.raises(ConfigError),
            "<dict> sinks[0].path: must differ from source.path (it would overwrite the input) (got 'in/clip.mp4')",
        ),
        (
            [{"kind": "null"}, {"kind": "file", "path": "./in/../in/clip.mp4"}],
            pytest.raises(ConfigError),
            "<dict> sinks[1].path: must differ from source.path",
        ),
        (
            [{"kind": "image", "path": "a.png"}, {"kind": "image", "path": "a.png"}],
            pytest.raises(ConfigError),
            "<dict> sinks[1].path: already written by sinks[0] (got 'a.png')",
        ),
    ],
)
def test_sink_rules(sinks, expected, message):
    with expected as caught:
        parse_config({"source": FILE_SOURCE, "render": {"mode": "exact"}, "sinks": sinks})
    if message is not None:
        assert str(caught.value).startswith(message)


def test_same_path_through_a_symlink_is_caught(tmp_path):
    (tmp_path / "real.mp4").write_bytes(b"")
    (tmp_path / "link.mp4").symlink_to(tmp_path / "real.mp4")
    with pytest.raises(ConfigError, match="must differ from source.path"):
        parse_config(
            {
                "source": {"kind": "file", "path": str(tmp_path / "link.mp4")},
                "sinks": [{"kind": "file", "path": str(tmp_path / "real.mp4")}],
            }
        )


@pytest.mark.parametrize(
    ("source", "mode", "warned"),
    [
        ({"kind": "demo"}, "low_latency", []),
        ({"kind": "webcam"}, "low_latency", []),
        ({"kind": "rtsp", "url": "rtsp://h/x"}, "exact", [("render", "mode")]),
        ({"kind": "demo", "realtime": True}, "exact", [("render", "mode")]),
        (FILE_SOURCE, "exact", []),
        (FILE_SOURCE, "low_latency", [("source", "realtime")]),
        ({"kind": "image", "path": "a.png"}, "low_latency", [("source", "realtime")]),
    ],
)
def test_warnings(source, mode, warned):
    config = Config.model_validate({"source": source, "render": {"mode": mode}})
    assert [path for path, _ in config_warnings(config)] == warned
