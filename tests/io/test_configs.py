"""The live-I/O example configs validate with ``livefilter check``; the camera password
comes from the environment and is never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from livefilter.cli import main
from livefilter.config.loader import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PASSWORD = "s3cret-Cam!"


def test_webcam_to_virtualcam_checks(capsys) -> None:
    assert main(["check", str(CONFIGS / "webcam-to-virtualcam.yaml")]) == 0
    config = load_config(CONFIGS / "webcam-to-virtualcam.yaml")
    assert config.source.kind == "webcam"
    assert [sink.kind for sink in config.sinks] == ["virtualcam", "preview"]


def test_rtsp_cctv_checks_with_the_password_from_the_environment(monkeypatch, capsys) -> None:
    monkeypatch.setenv("LIVEFILTER_CAM_PASSWORD", PASSWORD)
    assert main(["check", str(CONFIGS / "rtsp-cctv.yaml")]) == 0
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err
    assert "viewer:***@" in out
    config = load_config(CONFIGS / "rtsp-cctv.yaml")
    assert config.source.url == f"rtsp://viewer:{PASSWORD}@192.0.2.10:554/stream1"
    assert config.sinks[0].kind == "rtsp"


def test_rtsp_cctv_without_the_password_is_a_usage_error(monkeypatch, capsys) -> None:
    monkeypatch.delenv("LIVEFILTER_CAM_PASSWORD", raising=False)
    monkeypatch.delenv("LIVEFILTER_CAM_PASSWORD_FILE", raising=False)
    assert main(["check", str(CONFIGS / "rtsp-cctv.yaml")]) == 2
    assert "placeholder {LIVEFILTER_CAM_PASSWORD} is not set" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["webcam-to-virtualcam.yaml", "rtsp-cctv.yaml"])
def test_reconnect_ranges_are_ordered(name: str, monkeypatch) -> None:
    monkeypatch.setenv("LIVEFILTER_CAM_PASSWORD", PASSWORD)
    source = load_config(CONFIGS / name).source
    assert source.reconnect_min_s <= source.reconnect_max_s  # type: ignore[union-attr]


def test_the_registries_build_the_live_plugins() -> None:
    from livefilter.config.sinks import RtspSinkConfig, VirtualCamSinkConfig
    from livefilter.config.source import RtspSourceConfig, WebcamSourceConfig
    from livefilter.sinks import Sink, create_sink
    from livefilter.sources import Source, create_source

    built = [
        create_source(WebcamSourceConfig(device=1)),
        create_source(RtspSourceConfig(url="rtsp://u:p@127.0.0.1/x", reconnect_min_s=1, reconnect_max_s=8)),
        create_sink(RtspSinkConfig(url="rtsp://127.0.0.1/x"), fps=25),
        create_sink(VirtualCamSinkConfig(), fps=25),
    ]
    assert [type(p).__name__ for p in built] == ["WebcamSource", "RtspSource", "RtspSink", "VirtualCamSink"]
    assert isinstance(built[0], Source) and isinstance(built[1], Source)
    assert isinstance(built[2], Sink) and isinstance(built[3], Sink)
    assert all(p.live for p in built[:2]) and not any(p.lossless for p in built[2:])
    assert built[1].reconnect_backoff == (1, 8)  # type: ignore[attr-defined]
    assert "p@" not in built[1].name
