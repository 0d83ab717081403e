"""YAML/dict → Config, and the one clear ConfigError for every way a config can be wrong."""

from __future__ import annotations

import logging
from contextlib import nullcontext as does_not_raise
from pathlib import Path

import pytest

from livefilter.config import Config
from livefilter.config.loader import format_path, load_config, parse_config, with_overrides
from livefilter.config.sinks import RtspSinkConfig
from livefilter.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- from dicts ----------------------------------------------------------------------------


def test_empty_mapping_gives_the_defaults():
    assert parse_config({}) == Config()


def test_full_config_round_trips_through_dump():
    config = parse_config(
        {
            "source": {"kind": "rtsp", "url": "rtsp://cam/stream1", "transport": "udp"},
            "prompts": ["face", {"text": "license plate", "threshold": 0.3}],
            "engine": {"kind": "sam3", "sam3": {"model": "/models/sam3", "device": "cpu"}},
            "render": {"mode": "exact", "style": "solid", "solid_color": [255, 0, 0]},
            "sinks": [{"kind": "file", "path": "out.mp4"}, {"kind": "preview"}],
            "runtime": {"queue_size": 4},
        }
    )
    assert config.source.kind == "rtsp" and config.source.transport == "udp"
    assert [(p.text, p.threshold) for p in config.prompts] == [("face", 0.5), ("license plate", 0.3)]
    assert config.render.solid_color == (255, 0, 0)
    assert [s.kind for s in config.sinks] == ["file", "preview"]
    assert parse_config(config.model_dump()) == config


@pytest.mark.parametrize(
    ("data", "expected", "message"),
    [
        ({"render": {"fps": 25}}, does_not_raise(), None),
        (
            {"render": {"fps": -5}},
            pytest.raises(ConfigError),
            "<dict> render.fps: must be greater than 0 (got -5)",
        ),
        (
            {"sinks": [{"kind": "null"}, {"kind": "file", "path": "o.mp4", "crf": 60}]},
            pytest.raises(ConfigError),
            "<dict> sinks[1].crf: must be at most 51 (got 60)",
        ),
        (
            {"render": {"style": "blurr"}},
            pytest.raises(ConfigError),
            "<dict> render.style: must be one of: blur, pixelate, solid (got 'blurr'; did you mean 'blur'?)",
        ),
        (
            {"render": {"fsp": 25}},
            pytest.raises(ConfigError),
            "<dict> render.fsp: unknown key 'fsp' (did you mean 'fps'?)",
        ),
        (
            {"sink": [{"kind": "null"}]},
            pytest.raises(ConfigError),
            "sink: unknown key 'sink' (did you mean 'sinks'?)",
        ),
        (
            {"source": {"kind": "fil", "path": "x.mp4"}},
            pytest.raises(ConfigError),
            "<dict> source.kind: must be one of: demo, file, image, webcam, rtsp (got 'fil'; did you mean 'file'?)",
        ),
        (
            {"sinks": [{"path": "x.mp4"}]},
            pytest.raises(ConfigError),
            "<dict> sinks[0].kind: is required (one of: file,",
        ),
        ({"sinks": [{"kind": "file"}]}, pytest.raises(ConfigError), "<dict> sinks[0].path: is required"),
        (
            {"source": {"kind": "demo", "fps": "fast"}},
            pytest.raises(ConfigError),
            "<dict> source.fps: must be a number (got 'fast')",
        ),
        (
            {"source": {"kind": "webcam", "device": [0]}},
            pytest.raises(ConfigError),
            "<dict> source.device: must be an integer or a string (got a list)",
        ),
        ({"runtime": 5}, pytest.raises(ConfigError), "<dict> runtime: must be a mapping (got 5)"),
        ({"prompts": []}, pytest.raises(ConfigError), "<dict> prompts: needs at least 1 entry"),
        ({"prompts": [""]}, pytest.raises(ConfigError), "<dict> prompts[0]: must not be empty (got '')"),
        (
            {"render": {"follow_motion": "sometimes"}},
            pytest.raises(ConfigError),
            "<dict> render.follow_motion: must be true or false (got 'sometimes')",
        ),
    ],
)
def test_dict_errors_name_the_key_path(data, expected, message):
    with expected as caught:
        parse_config(data)
    if message is not None:
        assert message in str(caught.value)


def test_unknown_key_lists_the_valid_keys_of_its_section():
    with pytest.raises(ConfigError) as caught:
        parse_config({"sinks": [{"kind": "rtsp", "url": "rtsp://h/x", "bitrate": 10}]})
    message = str(caught.value)
    assert "sinks[0].bitrate: unknown key 'bitrate' (did you mean 'bitrate_kbps'?)" in message
    valid = message.split("valid keys here: ")[1].split(", ")
    assert valid == sorted(RtspSinkConfig.model_fields)  # that section's keys, not another sink's


def test_all_problems_of_one_config_come_in_one_error():
    with pytest.raises(ConfigError) as caught:
        parse_config({"render": {"fps": 0, "style": "x"}, "runtime": {"queue_size": 0}})
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid configuration (3 problems):"
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == [
        "<dict> render.fps",
        "<dict> render.style",
        "<dict> runtime.queue_size",
    ]


def test_problems_of_a_file_come_in_line_order(tmp_path):
    path = write(tmp_path, "runtime:\n  queue_size: 0\nrender:\n  fps: 0\n  style: x\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [line.split(" ")[2] for line in str(caught.value).splitlines()[1:]] == [
        f"{path}:2",
        f"{path}:4",
        f"{path}:5",
    ]


def test_top_level_must_be_a_mapping():
    with pytest.raises(ConfigError, match="top level must be a mapping .* got a list"):
        parse_config(["face"])  # type: ignore[arg-type]


def test_with_overrides_replaces_dotted_keys_without_touching_the_input():
    data = {"render": {"style": "blur", "fps": 30}, "sinks": [{"kind": "preview"}]}
    result = with_overrides(
        data, {"render.style": "solid", "engine.sam3.model": "/m", "sinks": [{"kind": "null"}]}
    )
    assert result == {
        "render": {"style": "solid", "fps": 30},
        "engine": {"sam3": {"model": "/m"}},
        "sinks": [{"kind": "null"}],
    }
    assert data == {"render": {"style": "blur", "fps": 30}, "sinks": [{"kind": "preview"}]}


@pytest.mark.parametrize(
    ("path", "text"), [(("sinks", 1, "fps"), "sinks[1].fps"), (("render",), "render"), ((), "(top level)")]
)
def test_format_path(path, text):
    assert format_path(path) == text


# --- YAML files ----------------------------------------------------------------------------


def test_yaml_file_loads(tmp_path):
    path = write(tmp_path, "source: {kind: demo, fps: 15}\nprompts: [face]\nsinks:\n  - kind: null\n")
    config = load_config(path)
    assert config.source.fps == 15 and config.sinks[0].kind == "null"


def test_bad_yaml_syntax_reports_line_and_column(tmp_path):
    path = write(tmp_path, "source:\n  kind: demo\n  fps: 30\n   width: 640\nsinks: []\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:4:")
    assert "invalid YAML" in str(caught.value)


def test_tab_indentation_gets_a_hint(tmp_path):
    path = write(tmp_path, "source:\n\tkind: demo\n")
    with pytest.raises(ConfigError, match=r":2:1 invalid YAML: .*indent with spaces, not tabs"):
        load_config(path)


def test_unknown_key_reports_its_line_and_a_suggestion(tmp_path):
    path = write(tmp_path, "source:\n  kind: demo\nrender:\n  style: blur\n  dilaton_px: 4\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(
        f"{path}:5 render.dilaton_px: unknown key 'dilaton_px' (did you mean 'dilation_px'?)"
    )


def test_wrong_type_reports_its_line(tmp_path):
    path = write(tmp_path, "runtime:\n  queue_size: two\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}:2 runtime.queue_size: must be an integer (got 'two')"


def test_negative_rate_in_a_list_item_reports_its_line(tmp_path):
    path = write(tmp_path, "sinks:\n  - kind: null\n  - kind: virtualcam\n    fps: -5\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}:4 sinks[1].fps: must be greater than 0 (got -5)"


def test_missing_key_points_at_its_section(tmp_path):
    path = write(tmp_path, "source:\n  kind: demo\nsinks:\n  - kind: null\n  - kind: file\n    crf: 10\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}:5 sinks[1].path: is required"


def test_duplicate_key_is_an_error(tmp_path):
    path = write(tmp_path, "render:\n  fps: 25\n  style: blur\n  fps: 30\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}:4 render.fps: duplicate key (first at line 2)"


def test_anchors_and_merge_keys_work(tmp_path):
    path = write(
        tmp_path, "sinks:\n  - &out {kind: file, path: a.mp4, crf: 18}\n  - {<<: *out, path: b.mp4}\n"
    )
    config = load_config(path)
    assert [(s.path, s.crf) for s in config.sinks] == [("a.mp4", 18), ("b.mp4", 18)]


def test_yaml_null_kind_means_the_null_sink(tmp_path):
    assert load_config(write(tmp_path, "sinks:\n  - kind: null\n")).sinks[0].kind == "null"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("- face\n", "top level must be a mapping"),
        ("just text\n", "top level must be a mapping"),
    ],
)
def test_empty_or_non_mapping_file(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_directory_is_not_a_config(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_binary_file_is_not_a_config(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(path)


def test_python_tags_are_refused(tmp_path):
    path = write(tmp_path, "render: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match=r":1:\d+ invalid YAML"):
        load_config(path)


def test_overridden_keys_are_blamed_on_the_command_line(tmp_path):
    path = write(tmp_path, "render:\n  style: blur\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {"runtime.max_duration_s": -1})
    assert str(caught.value) == "command line runtime.max_duration_s: must be greater than 0 (got -1)"
    assert load_config(path, {"render.style": "solid"}).render.style == "solid"


def test_warnings_are_logged_with_their_line(tmp_path, caplog):
    path = write(tmp_path, "source:\n  kind: file\n  path: in.mp4\n  realtime: false\n")
    with caplog.at_level(logging.WARNING, logger="livefilter.config.loader"):
        load_config(path)
    assert f"{path}:4 source.realtime: false with render.mode low_latency" in caplog.text


# --- placeholders --------------------------------------------------------------------------

RTSP_WITH_SECRET = "source:\n  kind: rtsp\n  url: rtsp://admin:{LIVEFILTER_CAM_PASSWORD}@10.0.0.5/stream1\n"


def test_placeholder_is_filled_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEFILTER_CAM_PASSWORD", "hunter2")
    config = load_config(write(tmp_path, RTSP_WITH_SECRET))
    assert config.source.url == "rtsp://admin:hunter2@10.0.0.5/stream1"


def test_placeholder_is_filled_from_a_secret_file(tmp_path, monkeypatch):
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    monkeypatch.delenv("LIVEFILTER_CAM_PASSWORD", raising=False)
    monkeypatch.setenv("LIVEFILTER_CAM_PASSWORD_FILE", str(secret))
    config = load_config(write(tmp_path, RTSP_WITH_SECRET))
    assert config.source.url == "rtsp://admin:s3cr3t@10.0.0.5/stream1"


def test_unset_placeholder_names_key_and_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("LIVEFILTER_CAM_PASSWORD", raising=False)
    monkeypatch.delenv("LIVEFILTER_CAM_PASSWORD_FILE", raising=False)
    path = write(tmp_path, RTSP_WITH_SECRET)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(
        f"{path}:3 source.url: placeholder {{LIVEFILTER_CAM_PASSWORD}} is not set"
    )
    assert "LIVEFILTER_CAM_PASSWORD_FILE" in str(caught.value)


def test_unreadable_secret_file(tmp_path, monkeypatch):
    monkeypatch.delenv("LIVEFILTER_CAM_PASSWORD", raising=False)
    monkeypatch.setenv("LIVEFILTER_CAM_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(
        ConfigError,
        match=r"source\.url: \{LIVEFILTER_CAM_PASSWORD\}: cannot read LIVEFILTER_CAM_PASSWORD_FILE=",
    ):
        load_config(write(tmp_path, RTSP_WITH_SECRET))


@pytest.mark.parametrize(
    ("value", "message"),
    [("{LIVEFILTER_cam}", "is not a valid placeholder"), ("{LIVEFILTER_EMPTY}", "is set but empty")],
)
def test_malformed_or_empty_placeholder(monkeypatch, value, message):
    monkeypatch.setenv("LIVEFILTER_EMPTY", "")
    with pytest.raises(ConfigError, match=message):
        parse_config({"sinks": [{"kind": "rtsp", "url": f"rtsp://u:{value}@h/x"}]})


def test_other_braces_are_left_alone():
    config = parse_config({"sinks": [{"kind": "image", "path": "frames/{index:06d}.png"}]})
    assert config.sinks[0].path == "frames/{index:06d}.png"


def test_secret_is_never_echoed(monkeypatch):
    monkeypatch.setenv("LIVEFILTER_RATE", "hunter2")
    monkeypatch.setenv("LIVEFILTER_CAM_PASSWORD", "hunter2")
    data = {
        "source": {"kind": "rtsp", "url": "rtsp://admin:{LIVEFILTER_CAM_PASSWORD}@cam/x", "transport": "tcp"},
        "sinks": [{"kind": "rtsp", "url": "rtsp://u:p@h/x", "bitrate_kbps": "{LIVEFILTER_RATE}"}],
        "render": {"fps": -1},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    message = str(caught.value)
    assert (
        "sinks[0].bitrate_kbps: must be an integer (value hidden: it holds a {LIVEFILTER_*} secret)"
        in message
    )
    assert "hunter2" not in message
