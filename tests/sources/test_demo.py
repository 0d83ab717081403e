"""The demo source: the synthetic scene, paced like a camera, ending after duration_s."""

from __future__ import annotations

import functools
import time

import numpy as np
import pytest

from livefilter.config.source import DemoSourceConfig
from livefilter.errors import SourceError
from livefilter.sources import Source, create_source
from livefilter.sources.demo import DemoSource
from livefilter.sources.pacing import Pacer


def read_all(source: DemoSource) -> list:
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    return frames


def test_demo_source_follows_the_contract() -> None:
    source = create_source(DemoSourceConfig(width=160, height=96, fps=20, duration_s=1.0, realtime=False))
    assert isinstance(source, DemoSource) and isinstance(source, Source)
    assert source.nominal_fps == 20 and source.live is False
    source.open()
    try:
        frames = read_all(source)
    finally:
        source.close()
        source.close()  # idempotent
    assert len(frames) == 20
    assert [f.index for f in frames] == list(range(20))
    assert [f.pts for f in frames] == pytest.approx([i / 20 for i in range(20)])
    assert all(f.image.shape == (96, 160, 3) and f.source == "demo" for f in frames)
    assert np.diff([f.t_capture for f in frames]).min() >= 0


def test_demo_frames_are_the_scene_frames_with_ground_truth() -> None:
    source = DemoSource(DemoSourceConfig(width=160, height=96, duration_s=0.5, realtime=False, seed=3))
    source.open()
    frames = read_all(source)
    truth = source.scene.render(frames[7].index)
    np.testing.assert_array_equal(frames[7].image, truth.image)
    assert truth.face_masks.any()
    assert not np.array_equal(frames[0].image, frames[7].image)  # the face moves


def test_reopening_starts_again() -> None:
    source = DemoSource(DemoSourceConfig(width=160, height=96, duration_s=0.2, realtime=False))
    source.open()
    first = read_all(source)
    source.open()
    again = read_all(source)
    assert len(first) == len(again) == 6
    np.testing.assert_array_equal(first[3].image, again[3].image)


def test_read_before_open_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="before open"):
        DemoSource(DemoSourceConfig()).read()


def test_realtime_demo_is_paced_at_fps() -> None:
    fps, duration = 25.0, 0.6
    source = DemoSource(DemoSourceConfig(width=160, height=96, fps=fps, duration_s=duration, realtime=True))
    assert source.live
    source.open()
    start = time.monotonic()
    frames = read_all(source)
    elapsed = time.monotonic() - start
    assert len(frames) == 15  # nothing dropped
    # Frame i is not released before i / fps; the last is due at (n - 1) / fps.
    t0 = frames[0].t_capture
    assert all(f.t_capture - t0 >= f.index / fps - 0.002 for f in frames)
    assert elapsed >= (len(frames) - 1) / fps - 0.002
    assert elapsed < 3 * duration  # roughly real time, even on a loaded machine


def test_forever_demo_keeps_going() -> None:
    source = DemoSource(DemoSourceConfig(width=160, height=96, duration_s=None, realtime=False))
    source.open()
    frames = [source.read() for _ in range(400)]
    assert all(f is not None for f in frames) and frames[-1].index == 399


def test_faces_and_background_photo(tmp_path) -> None:
    import cv2

    photo = np.zeros((90, 160, 3), np.uint8)
    photo[:, :, 2] = 255  # red
    path = tmp_path / "red.png"
    cv2.imwrite(str(path), photo)
    source = DemoSource(DemoSourceConfig(width=160, height=96, faces=3, background=str(path), realtime=False))
    source.open()
    frame = source.read()
    truth = source.scene.render(0)
    assert truth.face_masks.shape[0] == 3
    background = ~truth.face_masks.any(axis=0) & ~source.scene.occluder_mask
    # Away from the faces and the bar the picture is the photo (allow the faces' soft edges).
    assert np.mean(np.all(frame.image[background] == (0, 0, 255), axis=1)) > 0.8


def test_missing_background_photo_is_a_clear_error(tmp_path) -> None:
    source = DemoSource(DemoSourceConfig(background=str(tmp_path / "nope.jpg")))
    with pytest.raises(SourceError, match="nope.jpg does not exist"):
        source.open()


def test_a_stalled_reader_is_not_flooded_with_catch_up_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    # Like a camera: after the consumer stalls (longer than the pacer's resync_s, 1 s by
    # default, 0.2 s here to keep the test short), frames come at fps again, not in a burst.
    monkeypatch.setattr("livefilter.sources.demo.Pacer", functools.partial(Pacer, resync_s=0.2))
    fps = 20.0
    source = DemoSource(DemoSourceConfig(width=160, height=96, fps=fps, duration_s=None, realtime=True))
    source.open()
    source.read()
    time.sleep(0.4)
    start = time.monotonic()
    frames = [source.read() for _ in range(6)]
    elapsed = time.monotonic() - start
    assert [f.index for f in frames] == [1, 2, 3, 4, 5, 6]  # nothing skipped either
    assert elapsed >= 5 / fps - 0.002
