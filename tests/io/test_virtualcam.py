"""The virtual webcam sink through pyvirtualcam's real ``Camera`` with a recording backend.

The v4l2loopback kernel module cannot load here, so a backend registered with pyvirtualcam's
public ``register_backend`` stands in for the device: format negotiation and the shape/dtype
checks of ``pyvirtualcam.Camera`` still run.
"""

from __future__ import annotations

import sys
from typing import ClassVar

import numpy as np
import pytest
import pyvirtualcam

from livefilter.config import RenderConfig
from livefilter.config.sinks import VirtualCamSinkConfig
from livefilter.errors import SinkError
from livefilter.render.compositor import Compositor
from livefilter.sinks.virtualcam import VirtualCamSink, loopback_devices
from tests.fakes import Scene

SCENE = Scene()
COMPOSITOR = Compositor(RenderConfig())


class RecordingBackend:
    """A virtual camera device that keeps what it is sent. Accepts only BGR, like a device
    that was set up for it, so a sink sending another format fails the test."""

    instances: ClassVar[list[RecordingBackend]] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: object) -> None:
        if fourcc != pyvirtualcam.util.encode_fourcc(pyvirtualcam.PixelFormat.BGR.value):
            raise RuntimeError(f"unsupported pixel format {pyvirtualcam.util.decode_fourcc(fourcc)}")
        self.width, self.height, self.fps = width, height, fps
        self._device = device or "/dev/video-recording"
        self.frames: list[np.ndarray] = []
        self.closed = 0
        RecordingBackend.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.reshape(self.height, self.width, 3).copy())

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int:
        return pyvirtualcam.util.encode_fourcc(pyvirtualcam.PixelFormat.BGR.value)

    def close(self) -> None:
        self.closed += 1


class MissingDeviceBackend:
    def __init__(self, **kw: object) -> None:
        raise RuntimeError("Device /dev/video10 does not exist.")


@pytest.fixture(autouse=True)
def backends():
    pyvirtualcam.register_backend("recording", RecordingBackend)
    pyvirtualcam.register_backend("missing", MissingDeviceBackend)
    RecordingBackend.instances.clear()
    yield
    from pyvirtualcam import camera

    camera.BACKENDS.pop("recording", None)
    camera.BACKENDS.pop("missing", None)


def redacted(index: int, scene: Scene = SCENE):
    return COMPOSITOR.redact_all(scene.frame(index), reason="test")


def test_frames_reach_the_camera_as_bgr_at_the_output_rate() -> None:
    sink = VirtualCamSink(VirtualCamSinkConfig(backend="recording", device="/dev/video42"), fps=25)
    sink.open()
    sent = [redacted(i) for i in range(3)]
    for frame in sent:
        sink.write(frame)
    backend = RecordingBackend.instances[-1]
    assert (backend.width, backend.height, backend.fps) == (SCENE.width, SCENE.height, 25)
    assert sink.device == "/dev/video42"
    assert len(backend.frames) == 3
    for got, frame in zip(backend.frames, sent):
        np.testing.assert_array_equal(got, frame.image)  # same channel order: no RGB swap
    sink.close()
    sink.close()
    assert backend.closed == 1


def test_configured_fps_overrides_the_output_rate() -> None:
    with VirtualCamSink(VirtualCamSinkConfig(backend="recording", fps=12), fps=30) as sink:
        sink.write(redacted(0))
    assert RecordingBackend.instances[-1].fps == 12
    assert RecordingBackend.instances[-1].closed == 1


def test_a_frame_of_another_size_is_a_sink_error() -> None:
    sink = VirtualCamSink(VirtualCamSinkConfig(backend="recording"), fps=30)
    sink.open()
    sink.write(redacted(0))
    with pytest.raises(SinkError, match="unexpected frame shape"):
        sink.write(redacted(1, Scene(width=SCENE.width * 2, height=SCENE.height * 2)))
    sink.close()


def test_raw_frames_are_refused() -> None:
    sink = VirtualCamSink(VirtualCamSinkConfig(backend="recording"), fps=30)
    sink.open()
    with pytest.raises(TypeError, match="expected RedactedFrame, got Frame"):
        sink.write(SCENE.frame(0))  # type: ignore[arg-type]
    assert RecordingBackend.instances == []


def test_a_failing_backend_gives_one_error_with_the_setup_hint() -> None:
    sink = VirtualCamSink(VirtualCamSinkConfig(backend="missing"), fps=30)
    sink.open()
    with pytest.raises(SinkError) as caught:
        sink.write(redacted(0))
    message = str(caught.value)
    assert "Device /dev/video10 does not exist" in message
    assert "modprobe v4l2loopback devices=1 video_nr=10 card_label=livefilter exclusive_caps=1" in message
    assert "Secure Boot" in message and "OBS" in message


def test_an_unknown_backend_is_named() -> None:
    sink = VirtualCamSink(VirtualCamSinkConfig(backend="nope"), fps=30)
    with pytest.raises(SinkError, match="no backend 'nope'; available here: .*recording"):
        sink.open()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2loopback is Linux only")
@pytest.mark.skipif(bool(loopback_devices()), reason="a v4l2loopback device exists on this machine")
@pytest.mark.parametrize("device", [None, "/dev/video10"])
def test_without_v4l2loopback_open_fails_with_the_setup_hint(device: str | None) -> None:
    sink = VirtualCamSink(VirtualCamSinkConfig(device=device), fps=30)
    with pytest.raises(SinkError) as caught:
        sink.open()
    message = str(caught.value)
    assert "sudo modprobe v4l2loopback" in message
    if device:
        assert "/dev/video10 does not exist" in message


def test_loopback_devices_lists_virtual_video_nodes(tmp_path) -> None:
    for name in ("video10", "video2"):
        (tmp_path / name).mkdir()
    assert loopback_devices(str(tmp_path)) == ["/dev/video2", "/dev/video10"]
    assert loopback_devices(str(tmp_path / "absent")) == []
