from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from livefilter.render.change import cell_means, changed_cells
from tests.fakes import shared_data

FACES = shared_data() / "faces"


def dark_noisy_room(rng: np.random.Generator, height: int = 720, width: int = 1280) -> np.ndarray:
    """A dim textured background (brightness x0.25 of a mid-grey gradient with panels)."""
    ys, xs = np.mgrid[0:height, 0:width]
    room = np.stack([60 + xs * 80 // width, 70 + ys * 60 // height, np.full_like(xs, 90)], axis=-1).astype(np.float32)
    room[200:500, 300:700] += 40
    return np.clip(room * 0.25, 0, 255)


def noisy(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def test_sensor_noise_alone_is_no_change() -> None:
    """Two captures of the same dark room with sensor noise of sigma 10 (the leak benchmark's low-light
    scene): next to nothing counts as change, or every live frame between answers would be hidden."""
    rng = np.random.default_rng(1)
    room = dark_noisy_room(rng)
    changed = changed_cells(cell_means(noisy(room, rng, 10)), cell_means(noisy(room, rng, 10)), height=720, width=1280)
    assert changed is None or changed.mean() < 0.005


@pytest.mark.skipif(not FACES.is_dir(), reason="needs the real test media in ../shared/data (faces/)")
@pytest.mark.parametrize("height", [24, 48, 160])
def test_a_real_face_appearing_in_a_dark_noisy_room_is_all_changed(height: int) -> None:
    """A real face (obama.jpg, darkened x0.25 like the room) pasted into a later capture: every one of
    its pixels must lie in the changed region, at small and large sizes and off the cell grid."""
    rng = np.random.default_rng(2)
    room = dark_noisy_room(rng)
    x, y, w, h = json.loads((FACES / "faces.json").read_text())["boxes"]["obama.jpg"][0]
    face = cv2.imread(str(FACES / "obama.jpg"))[y : y + h, x : x + w]
    face = cv2.resize(face, (round(w * height / h), height), interpolation=cv2.INTER_AREA).astype(np.float32) * 0.25
    later = room.copy()
    top, left = 333, 517  # not on the 8 px grid
    later[top : top + face.shape[0], left : left + face.shape[1]] = face
    changed = changed_cells(cell_means(noisy(room, rng, 10)), cell_means(noisy(later, rng, 10)), height=720, width=1280)
    assert changed is not None
    assert changed[top : top + face.shape[0], left : left + face.shape[1]].all()
    assert changed.mean() < 0.02 + 4 * face.shape[0] * face.shape[1] / (720 * 1280)  # the face's region, not the frame


def test_a_frame_not_a_multiple_of_the_cell_is_covered_to_its_edge() -> None:
    before = np.zeros((45, 70, 3), np.uint8)
    after = before.copy()
    after[43:, 66:] = 255  # the bottom-right corner, in the partial last cell
    changed = changed_cells(cell_means(before), cell_means(after), height=45, width=70)
    assert changed is not None and changed.shape == (45, 70) and changed[43:, 66:].all()


def test_grids_of_different_frames_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="same shape"):
        changed_cells(cell_means(np.zeros((16, 16, 3), np.uint8)), cell_means(np.zeros((32, 16, 3), np.uint8)),
                      height=16, width=16)
