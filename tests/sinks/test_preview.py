"""The preview sink never stops the pipeline: without a usable display it is a no-op."""

from __future__ import annotations

import logging
import sys
import time

import numpy as np
import pytest

from livefilter.config.sinks import PreviewSinkConfig
from livefilter.sinks import Sink, create_sink
from livefilter.sinks import preview as preview_module
from livefilter.sinks.preview import PreviewSink, draw_overlay
from livefilter.types import Frame, RedactedFrame
from tests import fakes


def redacted(index: int = 0, *, full: bool = False) -> RedactedFrame:
    image = np.full((90, 160, 3), 200, np.uint8)
    return fakes.redacted(
        image, index, time.monotonic(), fully_redacted=full, reason="engine_down" if full else ""
    )


def run_headless(caplog: pytest.LogCaptureFixture) -> PreviewSink:
    sink = create_sink(PreviewSinkConfig(), fps=30)
    assert isinstance(sink, PreviewSink) and isinstance(sink, Sink) and sink.lossless is False
    with caplog.at_level(logging.WARNING, logger="livefilter.sinks.preview"):
        sink.open()
        for index in range(5):
            sink.write(redacted(index))
        sink.close()
    return sink


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="DISPLAY/WAYLAND_DISPLAY only matter on Linux"
)
def test_no_display_warns_once_and_does_nothing(monkeypatch, caplog) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    shown = []
    monkeypatch.setattr("cv2.imshow", lambda *args: shown.append(args))
    sink = run_headless(caplog)
    assert not sink.enabled and shown == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no display" in warnings[0].message


def test_opencv_without_gui_warns_and_does_nothing(monkeypatch, caplog) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(preview_module, "_opencv_has_gui", lambda: False)
    sink = run_headless(caplog)
    assert not sink.enabled
    assert "without GUI support" in caplog.records[0].message


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="needs an X11 display name that leads nowhere"
)
def test_unreachable_display_is_detected_without_crashing(monkeypatch, caplog) -> None:
    # Qt aborts the process when it cannot reach the display; the probe runs in a child.
    monkeypatch.setenv("DISPLAY", ":93")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    sink = run_headless(caplog)
    assert not sink.enabled
    assert "cannot open a window" in caplog.records[0].message


def test_frames_are_shown_when_a_display_works(monkeypatch) -> None:
    monkeypatch.setattr(preview_module, "display_problem", lambda: None)
    shown = []
    monkeypatch.setattr("cv2.imshow", lambda title, image: shown.append((title, image)))
    monkeypatch.setattr("cv2.waitKey", lambda delay: -1)
    monkeypatch.setattr("cv2.getWindowProperty", lambda title, prop: 1.0)
    monkeypatch.setattr("cv2.destroyWindow", lambda title: None)
    sink = PreviewSink(PreviewSinkConfig(title="out", show_stats=True), fps=30)
    sink.open()
    frame = redacted(3, full=True)
    sink.write(frame)
    sink.close()
    assert len(shown) == 1 and shown[0][0] == "out"
    assert not np.array_equal(shown[0][1], frame.image)  # the statistics overlay was drawn
    assert np.array_equal(shown[0][1][-10:, -10:], frame.image[-10:, -10:])  # only in its corner


def test_window_closed_by_the_user_turns_the_preview_off(monkeypatch) -> None:
    monkeypatch.setattr(preview_module, "display_problem", lambda: None)
    shown = []
    monkeypatch.setattr("cv2.imshow", lambda title, image: shown.append(title))
    monkeypatch.setattr("cv2.waitKey", lambda delay: -1)
    monkeypatch.setattr("cv2.getWindowProperty", lambda title, prop: 0.0)
    monkeypatch.setattr("cv2.destroyWindow", lambda title: None)
    sink = PreviewSink(PreviewSinkConfig(show_stats=False), fps=30)
    sink.open()
    sink.write(redacted(0))
    sink.write(redacted(1))
    assert shown == ["livefilter"] and not sink.enabled


def test_overlay_leaves_the_input_alone() -> None:
    image = np.full((120, 200, 3), 180, np.uint8)
    image.flags.writeable = False
    out = draw_overlay(image, ["12.0 fps", "FULLY REDACTED: engine_down"])
    assert out.shape == image.shape and (image == 180).all()
    assert out[2, 2].max() < 180 and out[-2, -2].min() == 180  # a dark box behind the text, top left


def test_raw_frames_are_refused() -> None:
    with pytest.raises(TypeError, match="expected RedactedFrame"):
        PreviewSink(PreviewSinkConfig(), fps=30).write(Frame(np.zeros((4, 4, 3), np.uint8), 0, 0.0))  # type: ignore[arg-type]
