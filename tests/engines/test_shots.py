"""Cuts are told from motion on thumbnails: a new shot gets a new number, motion does not."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pytest

from livefilter.engines.shots import CutSettings, ShotCounter, change, is_cut, signature
from livefilter.sources.scene import Scene, SceneSpec, Shots

SPEC = {"width": 320, "height": 180, "fps": 30.0}


def shots_of(*specs: dict[str, object], frames: int = 12) -> Shots:
    return Shots([(Scene(SceneSpec(**{**SPEC, **spec})), frames) for spec in specs])


def counted(shots: Shots) -> list[int]:
    counter = ShotCounter()
    return [counter.update(shots.render(i).image) for i in range(shots.frames)]


def test_a_cut_between_two_scenes_starts_a_new_shot() -> None:
    shots = shots_of({"seed": 1}, {"seed": 2}, {"seed": 3})
    numbers = counted(shots)
    starts = [i for i in range(1, len(numbers)) if numbers[i] != numbers[i - 1]]
    assert starts == list(shots.cuts) and numbers[-1] == 2


@pytest.mark.parametrize(
    "motion",
    [
        {"speed_px_s": 1500.0, "motion_blur": True, "faces": 3},  # fast, blurred faces
        {"enter_exit": True, "speed_px_s": 600.0},  # a face leaving and coming back
        {"drift_px_s": 60.0, "faces": 0},  # the camera drifting over the scene
        {"brightness": 0.3, "noise_sigma": 10.0},  # low light, sensor noise
    ],
)
def test_motion_within_a_shot_is_not_a_cut(motion: dict[str, object]) -> None:
    assert set(counted(shots_of({"seed": 4, **motion}, frames=45))) == {0}


def test_a_light_change_alone_is_not_a_cut() -> None:
    image = Scene(SceneSpec(**SPEC, seed=5)).render(0).image
    darker = (image * 0.5).astype(np.uint8)  # the lights dimmed: same structure, shifted colours
    structure, colour = change(signature(image), signature(darker))
    assert structure < 0.05 and colour > 0
    assert not is_cut(signature(image), signature(darker), CutSettings())


def test_change_of_flat_pictures() -> None:
    black, grey = np.zeros((90, 160, 3), np.uint8), np.full((90, 160, 3), 128, np.uint8)
    textured = Scene(SceneSpec(**SPEC, seed=6)).render(0).image
    assert change(signature(black), signature(black)) == (0.0, pytest.approx(0.0, abs=1e-6))
    assert change(signature(black), signature(grey))[0] == 0.0  # no structure either side
    assert is_cut(signature(black), signature(textured), CutSettings())  # out of a black screen


@pytest.mark.parametrize(
    "field, value, expectation",
    [
        ("thumb_width", 4, pytest.raises(ValueError, match="thumb_width: expected >= 8, got 4")),
        ("min_colour_change", 0.0, pytest.raises(ValueError, match=r"min_colour_change: expected in \(0, 1\]")),
        ("min_structure_change", 0.5, nullcontext()),
    ],
)
def test_settings_are_checked(field: str, value: float, expectation) -> None:
    with expectation:
        CutSettings(**{field: value})
