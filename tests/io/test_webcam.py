"""Webcam source: a missing or unusable camera is named, with what exists and what to do.

This machine has no camera, so only the checks before OpenCV runs are exercised here.
"""

from __future__ import annotations

import glob
import os
import sys

import pytest

from livefilter.config.source import WebcamSourceConfig
from livefilter.errors import SourceError
from livefilter.sources.webcam import WebcamSource, device_path, device_problem

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="V4L2 device checks are Linux only")


@pytest.mark.parametrize(
    ("device", "expected"),
    [(0, "/dev/video0"), (3, "/dev/video3"), ("2", "/dev/video2"), ("/dev/video7", "/dev/video7"), ("usb-cam", None)],
)
def test_device_path(device: int | str, expected: str | None) -> None:
    assert device_path(device) == expected


def test_a_missing_device_is_named_with_the_existing_ones(tmp_path) -> None:
    problem = device_problem(str(tmp_path / "video9"))
    assert problem is not None
    assert f"{tmp_path / 'video9'} does not exist" in problem
    existing = glob.glob("/dev/video*")
    assert all(path in problem for path in existing)
    if not existing:
        assert "no /dev/video* device exists" in problem


def test_a_regular_file_is_not_a_video_device(tmp_path) -> None:
    path = tmp_path / "video0"
    path.write_bytes(b"")
    assert "is not a video device" in (device_problem(str(path)) or "")


@linux_only
def test_missing_permission_says_how_to_get_it(monkeypatch) -> None:
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert "usermod -aG video" in (device_problem("/dev/null") or "")  # /dev/null: a character device


def test_a_usable_character_device_has_no_problem() -> None:
    assert device_problem("/dev/null") is None


@linux_only
def test_open_a_missing_camera_raises_source_error() -> None:
    free = next(i for i in range(64, 128) if not os.path.exists(f"/dev/video{i}"))
    source = WebcamSource(WebcamSourceConfig(device=free))
    with pytest.raises(SourceError, match=f"camera /dev/video{free} does not exist"):
        source.open()
    assert source.live and source.reconnect_backoff == (0.5, 10.0)
    source.close()  # closing a never-opened source is fine


def test_read_before_open_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="is not open"):
        WebcamSource(WebcamSourceConfig()).read()
