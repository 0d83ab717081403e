"""Cuts through the whole pipeline: no frame after a cut is published with masks of the
shot before it, and the engine starts afresh on the new shot.

The scene cuts at frame ``CUT``: the background changes and the secret square jumps to
the other side of the frame. Masks of the old shot would cover the old place and show the
square; the render must fail closed (``scene_cut``) until the engine answered a frame of
the new shot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livefilter.engines.shots import ShotCounter
from tests.fakes import FakeSource, GroundTruthEngineFactory, RecordingSink, Scene, leaked_pixels

CUT = 40


@dataclass(frozen=True)
class CutScene(Scene):
    """:class:`~tests.fakes.Scene` with a hard cut at ``cut_at``: another background, the
    square mirrored to the other side (the stripe and the index bits stay)."""

    cut_at: int = CUT

    def square_box(self, index: int) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = Scene.square_box(self, index)
        if index < self.cut_at:
            return x0, y0, x1, y1
        return self.width - x1, y0, self.width - x0, y1

    def image(self, index: int) -> np.ndarray:
        image = Scene.image(self, index)
        if index >= self.cut_at:
            ys, xs = np.mgrid[0 : self.height, 0 : self.width]
            background = np.ones((self.height, self.width), bool)
            background[:6] = False  # the index bits
            for x0, y0, x1, y1 in (self.square_box(index), self.stripe_box):
                background[y0:y1, x0:x1] = False
            other = np.dstack([np.full_like(xs, 180), 200 - ys * 160 // self.height, 40 + xs * 100 // self.width])
            image[background] = other[background].astype(np.uint8)  # 40..200: no secret colour
        return image


def test_the_scene_has_one_cut_where_it_says() -> None:
    scene, counter = CutScene(), ShotCounter()
    shots = [counter.update(scene.image(i)) for i in range(80)]
    assert shots == [0] * CUT + [1] * (80 - CUT)
    old, new = scene.square_box(CUT - 1), scene.square_box(CUT)
    assert new[0] >= old[2] or new[2] <= old[0]  # the square jumped clear of its old place


def test_low_latency_never_shows_a_frame_after_a_cut_with_masks_of_before(make_pipeline) -> None:
    scene = CutScene()
    sink = RecordingSink()
    factory = GroundTruthEngineFactory(scene, delay_s=0.06)  # answers ~6 frames behind the newest
    pipeline = make_pipeline(
        FakeSource(scene, count=90, fps=100.0, paced=True, live=True), factory, [sink], render={"fps": 100.0}
    )
    stats = pipeline.run()

    stale = [f.index for f in sink.frames if f.index >= CUT and not f.fully_redacted and f.mask_frame_index < CUT]
    assert not stale, f"frames {stale} after the cut at {CUT} were shown with masks of the shot before"
    leaks = {f.index: n for f in sink.frames if (n := leaked_pixels(f.image))}
    assert not leaks, f"secret pixels visible in frames {leaks}"
    assert stats.fail_closed.get("scene_cut", 0) >= 1
    after = [f for f in sink.frames if f.index >= CUT]
    assert any(not f.fully_redacted for f in after)  # the new shot is shown once its masks exist
    assert sum(engine.resets for engine in factory.built) >= 1  # tracks of the old shot dropped


def test_exact_mode_answers_the_first_frame_of_a_new_shot_with_fresh_masks(make_pipeline) -> None:
    scene = CutScene()
    sink = RecordingSink()
    factory = GroundTruthEngineFactory(scene, delay_s=0.002)
    pipeline = make_pipeline(FakeSource(scene, count=60), factory, [sink], render={"mode": "exact"})
    stats = pipeline.run()

    assert [f.index for f in sink.frames] == list(range(60))
    assert all(f.mask_frame_index == f.index and not f.fully_redacted for f in sink.frames)
    assert not any(leaked_pixels(f.image) for f in sink.frames)
    assert [engine.resets for engine in factory.built] == [1] and not stats.fail_closed
