"""The synthetic scene: deterministic frames whose face masks are the exact ground truth."""

from __future__ import annotations

import math
from contextlib import nullcontext
from pathlib import Path

import cv2
import numpy as np
import pytest

from livefilter.sources.scene import (
    Scene,
    SceneSpec,
    Shots,
    astronaut_face,
    cameraman_profile,
    half_face,
    turned_face,
)

SMALL = {"width": 320, "height": 180, "fps": 10.0}
# shared/data beside the project; a git worktree may sit one level deeper than the checkout.
SHARED_DATA = next(
    (p / "shared" / "data" for p in Path(__file__).resolve().parents[2].parents if (p / "shared" / "data").is_dir()),
    Path(__file__).resolve().parents[2].parent / "shared" / "data",
)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test photos not found at {SHARED_DATA}")
    return SHARED_DATA


def green_face(height: int = 60, width: int = 46) -> np.ndarray:
    """A pure-green elliptical cut-out with a hard edge: its pixels are unmistakable."""
    cutout = np.zeros((height, width, 4), np.uint8)
    cv2.ellipse(
        cutout, (width // 2, height // 2), (width // 2 - 2, height // 2 - 2), 0, 0, 360, (0, 255, 0, 255), -1
    )
    return cutout


def grey_background(spec: SceneSpec) -> np.ndarray:
    return np.full((spec.height, spec.width, 3), 128, np.uint8)


def test_render_is_deterministic() -> None:
    spec = SceneSpec(
        **SMALL, faces=2, motion_blur=True, rotation_deg=15, noise_sigma=6, brightness=0.7, seed=5, drift_px_s=20
    )
    a, b = Scene(spec), Scene(spec)
    for index in (0, 7, 123):
        fa, fb = a.render(index), b.render(index)
        np.testing.assert_array_equal(fa.image, fb.image)
        np.testing.assert_array_equal(fa.face_masks, fb.face_masks)
        np.testing.assert_array_equal(fa.boxes, fb.boxes)
    # Rendering out of order gives the same frame (render is a pure function of the index).
    np.testing.assert_array_equal(a.render(7).image, b.render(7).image)
    other = Scene(SceneSpec(**SMALL, faces=2, seed=6)).render(7)
    assert not np.array_equal(other.image, a.render(7).image)


def test_frames_change_over_time_and_shapes_match_spec() -> None:
    spec = SceneSpec(**SMALL, faces=3)
    scene = Scene(spec)
    f0, f5 = scene.render(0), scene.render(5)
    assert f0.image.shape == (180, 320, 3) and f0.image.dtype == np.uint8
    assert f0.face_masks.shape == (3, 180, 320) and f0.face_masks.dtype == np.bool_
    assert f0.boxes.shape == (3, 4) and f0.velocities.shape == (3, 2)
    assert not np.array_equal(f0.face_masks, f5.face_masks)


@pytest.mark.parametrize(
    "options",
    [{}, {"rotation_deg": 30.0}, {"motion_blur": True, "speed_px_s": 600.0, "fps": 25.0}, {"faces": 3}],
    ids=["plain", "rotated", "motion-blur", "three-faces"],
)
def test_masks_cover_exactly_the_face_pixels(options: dict) -> None:
    spec = SceneSpec(**{**SMALL, **options}, occluder=False, seed=2)
    scene = Scene(spec, faces=[green_face()], background=grey_background(spec))
    for index in range(0, 60, 7):
        frame = scene.render(index)
        b, g, r = (frame.image[:, :, c].astype(int) for c in range(3))
        # Over grey, g - (b + r) / 2 = 255 * alpha: a pixel is mostly face when alpha > 0.5.
        looks_like_face = (g - (b + r) / 2) > 255 / 2
        union = frame.face_masks.any(axis=0)
        assert union.any()
        mismatch = np.count_nonzero(looks_like_face != union)
        # Only a thin boundary may disagree (resampling rounds there).
        perimeter = np.count_nonzero(
            cv2.morphologyEx(union.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3)))
        )
        assert mismatch <= 0.25 * perimeter, (index, mismatch, perimeter)


def test_masks_of_the_default_face_differ_from_the_background() -> None:
    spec = SceneSpec(**SMALL, occluder=False)
    scene = Scene(spec)
    for index in (0, 11, 29):
        frame = scene.render(index)
        mask = frame.face_masks[0]
        assert mask.any()
        diff = np.abs(frame.image.astype(int) - scene.background.astype(int)).max(axis=2)
        assert np.mean(diff[mask] > 12) > 0.9
        # Beyond the soft edge of the cut-out the picture is the untouched background.
        x0, y0, x1, y1 = frame.boxes[0]
        pad = 0.25 * (y1 - y0)
        outside = np.ones_like(mask)
        outside[max(0, int(y0 - pad)) : int(y1 + pad) + 1, max(0, int(x0 - pad)) : int(x1 + pad) + 1] = False
        assert np.all(diff[outside] == 0)


def test_boxes_bound_the_visible_masks() -> None:
    frame = Scene(SceneSpec(**SMALL, faces=2, rotation_deg=20)).render(13)
    for mask, box in zip(frame.face_masks, frame.boxes):
        ys, xs = np.nonzero(mask)
        assert tuple(box) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_faces_in_front_hide_faces_behind() -> None:
    spec = SceneSpec(**SMALL, faces=3, occluder=False, scale_range=(1.4, 1.6), seed=1)
    colours = [(0, 255, 0), (0, 0, 255), (255, 0, 0)]
    cutouts = []
    for colour in colours:
        cutout = green_face()
        cutout[cutout[:, :, 3] > 0, :3] = colour
        cutouts.append(cutout)
    scene = Scene(spec, faces=cutouts, background=grey_background(spec))
    overlapping = 0
    for index in range(0, 200, 3):
        frame = scene.render(index)
        assert frame.face_masks.sum(axis=0).max() <= 1  # a pixel shows at most one face
        dominant = frame.image.astype(int).argmax(axis=2)
        for i, mask in enumerate(frame.face_masks):
            # Where face i is visible, its own colour dominates (not the one behind it).
            assert np.mean(dominant[mask] == int(np.argmax(colours[i]))) > 0.97
        boxes = frame.boxes[~np.isnan(frame.boxes).any(axis=1)]
        overlapping += any(
            a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
            for j, a in enumerate(boxes)
            for b in boxes[j + 1 :]
        )
    assert overlapping > 0, "no two faces ever overlapped; the test proves nothing"


def test_occluder_hides_face_pixels() -> None:
    open_scene = Scene(SceneSpec(**SMALL, occluder=False))
    hidden_scene = Scene(SceneSpec(**SMALL, occluder=True))
    bar = hidden_scene.occluder_mask
    assert bar.any() and hidden_scene.occluder_box is not None
    crossings = 0
    for index in range(0, 300, 2):
        free, hidden = open_scene.render(index), hidden_scene.render(index)
        behind = free.face_masks[0] & bar
        if not behind.any():
            continue
        crossings += 1
        assert not (hidden.face_masks[0] & bar).any()
        np.testing.assert_array_equal(hidden.image[bar], hidden_scene.background[bar])
        # Outside the bar the face is where it would be without the bar.
        np.testing.assert_array_equal(hidden.face_masks[0] & ~bar, free.face_masks[0] & ~bar)
    assert crossings > 5, "the face never passed behind the bar in 30 s"


def test_enter_exit_has_frames_without_any_face() -> None:
    spec = SceneSpec(**SMALL, enter_exit=True, occluder=False, seed=4)
    scene = Scene(spec)
    empty, visible = [], []
    for index in range(0, 600, 3):
        frame = scene.render(index)
        (empty if not frame.face_masks.any() else visible).append(index)
        if not frame.face_masks.any():
            assert np.isnan(frame.boxes).all()
            # At most the faint soft edge of the cut-out (alpha < 0.5) lingers at the border.
            changed = np.nonzero((frame.image != scene.background).any(axis=2))[1]
            assert np.all((changed < 0.1 * spec.width) | (changed > 0.9 * spec.width))
    assert empty and visible
    # It comes back: a visible frame follows an empty one.
    assert any(v > min(empty) for v in visible)


def test_without_enter_exit_the_face_stays_in_the_frame() -> None:
    scene = Scene(SceneSpec(**SMALL, occluder=False, rotation_deg=25, seed=4))
    for index in range(0, 600, 5):
        frame = scene.render(index)
        x0, y0, x1, y1 = frame.boxes[0]
        assert 0 < x0 and 0 < y0 and x1 < SMALL["width"] and y1 < SMALL["height"]


def test_velocities_match_the_motion_of_the_masks() -> None:
    spec = SceneSpec(width=640, height=360, fps=30.0, occluder=False, scale_range=(1.0, 1.0), seed=3)
    scene = Scene(spec, faces=[green_face(80, 60)], background=grey_background(spec))
    for index in (10, 50, 90):
        a, b = scene.render(index), scene.render(index + 1)
        centre = lambda f: np.array(
            [(f.boxes[0, 0] + f.boxes[0, 2]) / 2, (f.boxes[0, 1] + f.boxes[0, 3]) / 2]
        )
        measured = (centre(b) - centre(a)) * spec.fps
        expected = (a.velocities[0] + b.velocities[0]) / 2
        assert np.linalg.norm(measured - expected) < 0.1 * spec.speed_px_s + 2 * spec.fps


def test_speed_is_the_rms_speed_of_the_face() -> None:
    spec = SceneSpec(width=640, height=360, fps=5.0, speed_px_s=120.0, occluder=False, seed=8)
    scene = Scene(spec)
    speeds = [np.linalg.norm(scene.render(i).velocities[0]) for i in range(0, 3000, 2)]
    rms = math.sqrt(float(np.mean(np.square(speeds))))
    assert rms == pytest.approx(120.0, rel=0.15)


def test_low_light_and_noise() -> None:
    clean = Scene(SceneSpec(**SMALL)).render(3).image.astype(float)
    dark = Scene(SceneSpec(**SMALL, brightness=0.4)).render(3).image.astype(float)
    assert dark.mean() == pytest.approx(0.4 * clean.mean(), rel=0.05)
    noisy = Scene(SceneSpec(**SMALL, noise_sigma=10.0)).render(3).image.astype(float)
    assert np.std(noisy - clean) == pytest.approx(10.0, rel=0.15)
    # Noise differs from frame to frame (a real sensor), yet is reproducible.
    scene, clean_scene = Scene(SceneSpec(**SMALL, noise_sigma=10.0)), Scene(SceneSpec(**SMALL))
    residual = [scene.render(i).image.astype(int) - clean_scene.render(i).image for i in (3, 4)]
    assert not np.array_equal(residual[0], residual[1])
    np.testing.assert_array_equal(scene.render(3).image, noisy.astype(np.uint8))


def test_background_photo_covers_the_frame() -> None:
    photo = np.zeros((100, 100, 3), np.uint8)
    photo[:, :50] = (255, 0, 0)
    photo[:, 50:] = (0, 0, 255)
    scene = Scene(SceneSpec(**SMALL, faces=0, occluder=False), background=photo)
    frame = scene.render(0)
    assert frame.face_masks.shape == (0, 180, 320)
    assert tuple(frame.image[90, 5]) == (255, 0, 0) and tuple(frame.image[90, 314]) == (0, 0, 255)


def test_real_photo_background(shared_data) -> None:
    photo = cv2.imread(str(shared_data / "plates" / "eu1.jpg"))
    frame = Scene(SceneSpec(**SMALL), background=photo).render(0)
    assert frame.image.shape == (180, 320, 3) and frame.face_masks[0].any()


def test_astronaut_face_cutout() -> None:
    face = astronaut_face()
    assert face.dtype == np.uint8 and face.shape[2] == 4 and not face.flags.writeable
    alpha = face[:, :, 3]
    assert alpha[0, 0] == 0 and alpha[face.shape[0] // 2, face.shape[1] // 2] == 255
    # The face region (alpha > 0.5) is a tall ellipse filling most of the cut-out.
    area = np.count_nonzero(alpha > 127)
    ys, xs = np.nonzero(alpha > 127)
    h, w = np.ptp(ys) + 1, np.ptp(xs) + 1
    assert h > w and area == pytest.approx(math.pi * h * w / 4, rel=0.05)


@pytest.mark.parametrize(
    ("field", "value", "expectation"),
    [
        ("width", 8, pytest.raises(ValueError, match="width")),
        ("fps", 0.0, pytest.raises(ValueError, match="fps")),
        ("scale_range", (1.2, 0.8), pytest.raises(ValueError, match="scale_range")),
        ("brightness", 0.0, pytest.raises(ValueError, match="brightness")),
        ("faces", 0, nullcontext()),
    ],
)
def test_spec_validation(field: str, value: object, expectation) -> None:
    with expectation:
        SceneSpec(**{field: value})


def test_cutout_without_face_pixels_is_rejected() -> None:
    with pytest.raises(ValueError, match="alpha > 0.5"):
        Scene(SceneSpec(**SMALL), faces=[np.zeros((10, 10, 4), np.uint8)])


def green_mask(image: np.ndarray) -> np.ndarray:
    """Pixels that are mostly green face over the grey background (alpha > 0.5)."""
    b, g, r = (image[:, :, c].astype(int) for c in range(3))
    return (g - (b + r) / 2) > 255 / 2


def assert_exact(frame, union: np.ndarray | None = None) -> None:
    union = frame.face_masks.any(axis=0) if union is None else union
    mismatch = np.count_nonzero(green_mask(frame.image) != union)
    perimeter = np.count_nonzero(cv2.morphologyEx(union.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3))))
    assert mismatch <= 0.25 * perimeter + 2, (mismatch, perimeter)


def edges_touched(mask: np.ndarray) -> set[str]:
    sides = {"left": mask[:, 0], "right": mask[:, -1], "top": mask[0], "bottom": mask[-1]}
    return {side for side, line in sides.items() if line.any()}


def test_crossing_faces_enter_and_leave_through_every_edge() -> None:
    spec = SceneSpec(**SMALL, faces=2, path="cross", speed_px_s=250.0, occluder=False, seed=4)
    scene = Scene(spec, faces=[green_face()], background=grey_background(spec))
    entered: set[str] = set()
    left: set[str] = set()
    previous = scene.render(0).face_masks
    for index in range(1, 400):
        frame = scene.render(index)
        if index % 5 == 0:
            assert_exact(frame)  # a face cut by the edge: exactly its visible pixels are masked
        for before, now in zip(previous, frame.face_masks):
            if now.any() and not before.any():
                entered |= edges_touched(now)
            if before.any() and not now.any():
                left |= edges_touched(before)
        previous = frame.face_masks
    assert entered == left == {"left", "right", "top", "bottom"}, (entered, left)
    assert np.hypot(*scene.render(40).velocities[0]) == pytest.approx(250.0, rel=1e-6)  # straight, at speed


def test_camera_drift_pans_the_background_and_keeps_the_occluder_still() -> None:
    spec = SceneSpec(**SMALL, faces=0, drift_px_s=60.0, occluder=True, seed=1)
    photo = np.random.default_rng(0).integers(0, 255, (400, 600, 3), np.uint8)
    scene = Scene(spec, background=cv2.GaussianBlur(photo, (5, 5), 0))
    frames = [scene.render(i).image for i in range(0, 30, 5)]
    x0, _, x1, _ = scene.occluder_box
    for frame in frames[1:]:
        assert not np.array_equal(frame[:, :x0], frames[0][:, :x0])  # the view moved
        np.testing.assert_array_equal(frame[:, x0:x1], frames[0][:, x0:x1])  # the bar did not
    np.testing.assert_array_equal(scene.render(5).image, scene.background_at(5))
    still = Scene(SceneSpec(**SMALL, faces=0, occluder=False), background=photo)
    np.testing.assert_array_equal(still.render(0).image, still.render(17).image)


def test_turned_face_is_narrower_with_a_receding_side_and_exact_masks() -> None:
    face = green_face(80, 60)
    turned = turned_face(face, 60.0)
    alpha = turned[:, :, 3] > 127
    cols = np.flatnonzero(alpha.any(axis=0))
    assert 0.35 < (cols[-1] - cols[0] + 1) / 56 < 0.65  # about cos 60° of the ellipse's width
    left, right = alpha[:, cols[0] + 2].sum(), alpha[:, cols[-1] - 2].sum()
    assert right < left  # positive yaw: the right side recedes and shrinks
    spec = SceneSpec(**SMALL, occluder=False, face_height_frac=0.5, seed=3)
    scene = Scene(spec, faces=[turned], background=grey_background(spec))
    for index in (0, 9, 21):
        assert_exact(scene.render(index))
    with pytest.raises(ValueError, match="yaw_deg"):
        turned_face(face, 90.0)


def test_half_face_keeps_one_side_of_the_face() -> None:
    face = green_face(80, 60)
    left, right = half_face(face, "left"), half_face(face, "right")
    assert left.shape[1] + right.shape[1] == face.shape[1]
    assert abs(left.shape[1] - right.shape[1]) <= 2
    np.testing.assert_array_equal(np.hstack([left, right]), face)
    spec = SceneSpec(**SMALL, occluder=False, seed=3)
    assert_exact(Scene(spec, faces=[left], background=grey_background(spec)).render(5))
    with pytest.raises(ValueError, match="nothing is face"):
        half_face(np.zeros((10, 10, 4), np.uint8), "left")


def test_shots_cut_between_scenes_with_faces_numbered_across_shots() -> None:
    one = Scene(SceneSpec(**SMALL, faces=1, seed=1))
    none = Scene(SceneSpec(**SMALL, faces=0, seed=2))
    two = Scene(SceneSpec(**SMALL, faces=2, seed=3))
    shots = Shots([(one, 4), (none, 3), (two, 5)])
    assert (shots.faces, shots.frames, shots.cuts) == (3, 12, (4, 7))
    for index, (scene, local, layers) in {3: (one, 3, [0]), 4: (none, 0, []), 7: (two, 0, [1, 2]), 11: (two, 4, [1, 2])}.items():
        frame, expected = shots.render(index), scene.render(local)
        np.testing.assert_array_equal(frame.image, expected.image)
        assert frame.face_masks.shape == (3, 180, 320)
        np.testing.assert_array_equal(frame.face_masks[layers], expected.face_masks)
        others = [i for i in range(3) if i not in layers]
        assert not frame.face_masks[others].any() and np.isnan(frame.boxes[others]).all()
    np.testing.assert_array_equal(shots.render(12).image, shots.render(0).image)  # loops
    with pytest.raises(ValueError, match="one size and rate"):
        Shots([(one, 2), (Scene(SceneSpec(width=160, height=120)), 2)])
    with pytest.raises(ValueError, match="at least 1"):
        Shots([(one, 0)])


def test_cameraman_profile_is_the_traced_face_of_the_photo() -> None:
    from skimage import data

    from livefilter.sources import scene as scene_module

    cutout = cameraman_profile()
    assert cutout.dtype == np.uint8 and cutout.shape[2] == 4 and not cutout.flags.writeable
    outline = np.array(scene_module._CAMERAMAN_FACE, np.int32)
    face = cutout[:, :, 3] > 127
    # Where is the cut-out in the photo? Its grey pixels are the photo's, unchanged.
    grey = data.camera()
    pad = (cutout.shape[0] - (outline[:, 1].max() - outline[:, 1].min() + 1)) // 2
    x0, y0 = outline.min(axis=0) - pad
    np.testing.assert_array_equal(cutout[:, :, 0], grey[y0 : y0 + cutout.shape[0], x0 : x0 + cutout.shape[1]])
    assert (cutout[:, :, 0] == cutout[:, :, 2]).all()
    traced = np.zeros(face.shape, np.uint8)
    cv2.fillPoly(traced, [outline - (x0, y0)], 1)
    np.testing.assert_array_equal(face, traced == 1)  # face = exactly the traced outline
    assert 0 < cutout[:, :, 3][~face].max() < 128  # a soft ring of hair and neck, never counted as face
    assert 55 <= face.sum(axis=0).nonzero()[0].size <= 70  # about 63 px wide in the photo, ear excluded
