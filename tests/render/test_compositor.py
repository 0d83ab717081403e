"""The compositor hides every masked pixel (and its margin), touches nothing far away, and fails closed."""

from __future__ import annotations

import json
from contextlib import nullcontext

import cv2
import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt

from livefilter.config.render import RenderConfig
from livefilter.render import Compositor
from livefilter.render.masks import bounding_box, dilation_radius
from livefilter.types import Frame, MaskSet, RedactedFrame
from tests.fakes import shared_data

DATA = shared_data()
STYLES = ("blur", "pixelate", "solid")


def checkerboard(height: int, width: int) -> np.ndarray:
    """Pixel-level black/white checkerboard: any blur, block mean or fill changes every pixel."""
    y, x = np.mgrid[0:height, 0:width]
    board = ((x + y) % 2 * 255).astype(np.uint8)
    return np.stack([board, 255 - board, board], axis=2)


def ellipse(height: int, width: int, cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0


def make_masks(*masks: np.ndarray, velocities=None, frame_index: int = 3) -> MaskSet:
    n = len(masks)
    return MaskSet(
        np.stack(masks),
        scores=np.ones(n),
        labels=("face",) * n,
        object_ids=np.arange(n),
        frame_index=frame_index,
        t_capture=0.0,
        velocities=velocities,
    )


def changed(out: RedactedFrame, frame: Frame) -> np.ndarray:
    return (out.image != frame.image).any(axis=2)


def config(**overrides) -> RenderConfig:
    return RenderConfig(**{"solid_color": (10, 200, 60), **overrides})


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("feather_px", [0, 9])
@pytest.mark.parametrize(
    "blobs",
    [
        [(100, 90, 14, 18)],  # a small face: dilation_px wins
        [(300, 200, 110, 140), (140, 330, 40, 50)],  # a large face (percent wins) and a small one
        [(60, 220, 70, 90), (150, 230, 70, 90)],  # overlapping objects
        [(10, 15, 50, 60), (630, 470, 45, 40)],  # cut by the frame's corners
        [(320, 240, 200, 200)],  # a very large face: the percentage stops at dilation_percent_max_px
    ],
)
def test_every_masked_pixel_and_its_margin_is_hidden_and_far_pixels_untouched(style, feather_px, blobs):
    height, width = 480, 640
    frame = Frame(checkerboard(height, width), index=5, t_capture=1.0, pts=0.2)
    objects = [ellipse(height, width, *blob) for blob in blobs]
    cfg = config(style=style, feather_px=feather_px, dilation_px=6, dilation_percent=10)
    out = Compositor(cfg).redact_regions(frame, make_masks(*objects))

    hidden = changed(out, frame)
    for mask in objects:
        radius = dilation_radius(bounding_box(mask), px=6, percent=10, percent_max_px=cfg.dilation_percent_max_px)
        distance = distance_transform_edt(~mask)
        assert hidden[distance <= radius].all(), "a masked or margin pixel was published unchanged"
        if style == "solid":
            assert (out.image[distance <= radius] == [60, 200, 10]).all(), "RGB (10, 200, 60) must be BGR"
        else:  # blurred / averaged into grey: the black-and-white pattern is gone, not just nudged
            assert (np.abs(out.image[distance <= radius].astype(int) - 128) < 40).all()
    far = np.ones((height, width), bool)
    for mask in objects:
        radius = dilation_radius(bounding_box(mask), px=6, percent=10, percent_max_px=cfg.dilation_percent_max_px)
        far &= distance_transform_edt(~mask) > 1.2 * radius + feather_px + 3
    np.testing.assert_array_equal(out.image[far], frame.image[far])
    assert (out.index, out.t_capture, out.pts, out.mask_frame_index) == (5, 1.0, 0.2, 3)
    assert not out.fully_redacted and out.reason == ""


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("velocity", [(400.0, 0.0), (-150.0, -300.0)])
def test_ageing_masks_cover_where_the_object_went(style, velocity):
    height, width, age = 480, 640, 0.3
    frame = Frame(checkerboard(height, width), index=9, t_capture=0.0)
    mask = ellipse(height, width, 260, 300, 25, 32)
    future = ellipse(height, width, 260 + velocity[0] * age, 300 + velocity[1] * age, 25, 32)
    masks = make_masks(mask, velocities=[velocity])

    out = Compositor(config(style=style)).redact_regions(frame, masks, age_s=age)
    assert changed(out, frame)[future].all(), "the object's position after age_s must be hidden"
    assert changed(out, frame)[mask].all()

    fresh = Compositor(config(style=style)).redact_regions(frame, masks, age_s=0.0)
    static = Compositor(config(style=style, follow_motion=False)).redact_regions(frame, masks, age_s=age)
    for out in (fresh, static):
        assert not changed(out, frame)[future].all(), "without age or follow_motion, masks are not moved"


def test_empty_maskset_gives_the_frame_unredacted():
    frame = Frame(checkerboard(48, 64), index=2, t_capture=4.0)
    out = Compositor(config()).redact_regions(frame, MaskSet.empty(48, 64, frame_index=1, t_capture=3.9))
    np.testing.assert_array_equal(out.image, frame.image)
    assert not out.fully_redacted and out.mask_frame_index == 1 and out.index == 2


@pytest.mark.parametrize(
    "mask_size, expectation",
    [
        ((48, 64), nullcontext()),
        ((64, 48), pytest.raises(ValueError, match="expected size 64x48")),
        ((24, 32), pytest.raises(ValueError, match="got 32x24")),
    ],
)
def test_masks_of_another_size_raise(mask_size, expectation):
    frame = Frame(checkerboard(48, 64), index=0, t_capture=0.0)
    masks = make_masks(np.ones(mask_size, bool))
    with expectation:
        Compositor(config()).redact_regions(frame, masks)


@pytest.mark.parametrize("style", STYLES)
def test_input_is_never_modified_and_outputs_are_independent_and_read_only(style):
    frame = Frame(checkerboard(120, 160), index=0, t_capture=0.0)
    before = frame.image.copy()
    comp = Compositor(config(style=style, feather_px=4))
    masks = make_masks(ellipse(120, 160, 80, 60, 20, 25))
    first = comp.redact_regions(frame, masks)
    second = comp.redact_regions(frame, masks)
    third = comp.redact_all(frame, reason="stale_masks")
    np.testing.assert_array_equal(frame.image, before)
    images = [first.image, second.image, third.image]
    for image in images:
        assert not image.flags.writeable
        assert not np.shares_memory(image, frame.image)
    assert not np.shares_memory(first.image, second.image)
    np.testing.assert_array_equal(first.image, second.image)


@pytest.mark.parametrize(
    "style, strength",
    [("pixelate", 40.0), ("pixelate", 2.0), ("blur", 40.0), ("blur", 4.0), ("solid", 2.0)],
)
@pytest.mark.parametrize("size", [(48, 64), (1080, 1920)])
def test_redact_all_leaves_no_input_pixel(style, strength, size):
    frame = Frame(checkerboard(*size), index=11, t_capture=2.0, pts=0.5)
    comp = Compositor(config(fail_closed_style=style, fail_closed_strength=strength))
    out = comp.redact_all(frame, reason="engine_down")
    assert not (out.image == frame.image).all(axis=2).any()
    assert out.fully_redacted and out.reason == "engine_down" and out.mask_frame_index is None
    assert (out.index, out.t_capture, out.pts) == (11, 2.0, 0.5)


def test_redact_all_needs_a_reason():
    frame = Frame(checkerboard(8, 8), index=0, t_capture=0.0)
    with pytest.raises(ValueError, match="reason"):
        Compositor(config()).redact_all(frame, reason="")


def test_pixelate_blocks_follow_the_frame_grid():
    """Blocks stay put while an object moves, so the mosaic does not shimmer."""
    rng = np.random.default_rng(1)
    frame = Frame(rng.integers(0, 256, (160, 160, 3), dtype=np.uint8), index=0, t_capture=0.0)
    out = Compositor(config(style="pixelate", pixelate_block=16, dilation_px=0, dilation_percent=0))
    image = out.redact_regions(frame, make_masks(ellipse(160, 160, 77, 83, 30, 30))).image
    block = image[64:80, 64:80].reshape(-1, 3)
    assert (block == block[0]).all()


def high_frequency_energy(gray: np.ndarray) -> float:
    return float(cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F).var())


def test_blurred_face_in_a_real_photo_loses_its_detail():
    faces = DATA / "faces" / "faces.json"
    if not faces.exists():
        pytest.skip(f"real test photos not found at {DATA} (../shared/data beside the project)")
    boxes = json.loads(faces.read_text())["boxes"]
    for name, face_boxes in boxes.items():
        image = cv2.imread(str(DATA / "faces" / name))
        height, width = image.shape[:2]
        objects = []
        for x, y, w, h in face_boxes:
            face = np.zeros((height, width), np.uint8)
            cv2.ellipse(face, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, 1, -1)
            objects.append(face.astype(bool))
        frame = Frame(image, index=0, t_capture=0.0)
        out = Compositor(RenderConfig(style="blur")).redact_regions(frame, make_masks(*objects))
        for x, y, w, h in face_boxes:
            inner = (slice(y + h // 4, y + 3 * h // 4), slice(x + w // 4, x + 3 * w // 4))
            gray_in = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[inner]
            gray_out = cv2.cvtColor(out.image, cv2.COLOR_BGR2GRAY)[inner]
            ratio = high_frequency_energy(gray_out) / high_frequency_energy(gray_in)
            # 2 %: about what uint8 rounding alone leaves on a smooth face after any strong blur.
            assert ratio < 0.02, f"{name}: face at {x},{y} keeps {ratio:.1%} of its fine detail"
            # As strong as a full-size Gaussian of the same sigma (computed on the face + 4 sigma).
            pad = (slice(max(0, y - 100), y + h + 100), slice(max(0, x - 100), x + w + 100))
            exact = cv2.GaussianBlur(image[pad], (0, 0), 25.0)
            inner_in_pad = tuple(slice(i.start - p.start, i.stop - p.start) for i, p in zip(inner, pad))
            exact_gray = cv2.cvtColor(exact, cv2.COLOR_BGR2GRAY)[inner_in_pad]
            assert high_frequency_energy(gray_out) < 1.1 * high_frequency_energy(exact_gray) + 0.1


def test_feathered_edge_is_soft_outside_and_solid_inside():
    height, width = 200, 200
    frame = Frame(np.full((height, width, 3), 255, np.uint8), index=0, t_capture=0.0)
    mask = ellipse(height, width, 100, 100, 30, 40)
    cfg = config(style="solid", solid_color=(0, 0, 0), feather_px=12, dilation_px=6, dilation_percent=0)
    gray = Compositor(cfg).redact_regions(frame, make_masks(mask)).image[:, :, 0].astype(int)
    distance = distance_transform_edt(~mask)
    assert (gray[distance <= 6] == 0).all(), "the dilated mask is fully covered"
    ring = gray[(distance > 8) & (distance < 16)]
    assert ((ring > 0) & (ring < 255)).mean() > 0.9, "between the mask and feather_px out, pixels are blended"
    assert (gray[distance > 20] == 255).all()


def test_the_share_of_the_picture_hidden_is_recorded():
    """Issue 16: statistics report how much of each picture is hidden; the compositor knows."""
    comp = Compositor(
        RenderConfig(style="solid", solid_color=(255, 255, 255), dilation_px=0, dilation_percent=0, feather_px=0)
    )
    frame = Frame(np.zeros((100, 200, 3), np.uint8), index=0, t_capture=0.0)
    masks = np.zeros((3, 100, 200), bool)
    masks[0, :50, :100] = True  # a quarter of the frame
    masks[1, 25:75, 50:150] = True  # overlaps the first by 25x50
    masks[2, 90:100, 190:200] = True  # apart: 100 pixels
    ms = MaskSet(masks, scores=[1.0] * 3, labels=("face",) * 3, object_ids=[1, 2, 3], frame_index=0, t_capture=0.0)
    out = comp.redact_regions(frame, ms)
    expected = (5000 + 5000 - 1250 + 100) / 20000
    assert out.redacted_fraction == pytest.approx(expected)
    assert int((out.image != 0).any(axis=2).sum()) == round(expected * 20000)  # what the eye sees
    assert comp.redact_regions(frame, MaskSet.empty(100, 200, frame_index=0, t_capture=0.0)).redacted_fraction == 0.0
    assert comp.redact_all(frame, reason="test").redacted_fraction == 1.0


@pytest.mark.parametrize("style", STYLES)
def test_motion_within_keeps_the_growth_there_and_the_object_as_seen_everywhere(style):
    """``motion_within`` (where the render saw change since the masks' frame): the masks' growth by their
    age is drawn only there, the object as seen (dilated) wherever it lies, even where nothing changed."""
    height, width, age, velocity = 480, 640, 0.3, (200.0, 0.0)
    frame = Frame(checkerboard(height, width), index=9, t_capture=0.0)
    mask = ellipse(height, width, 260, 300, 25, 32)
    future = ellipse(height, width, 260 + velocity[0] * age, 300, 25, 32)
    masks = make_masks(mask, velocities=[velocity])
    comp = Compositor(config(style=style))
    whole = changed(comp.redact_regions(frame, masks, age_s=age), frame)
    within = np.zeros((height, width), bool)
    within[:, 250:] = True  # the object went right: changed there, not on its left
    clipped = changed(comp.redact_regions(frame, masks, age_s=age, motion_within=within), frame)
    seen = changed(comp.redact_regions(frame, masks, age_s=0.0), frame)
    assert clipped[future].all() and clipped[seen].all(), "where it went and where it was seen: hidden"
    assert (clipped == (whole & within) | seen).all()
    assert whole[:, :250].sum() > 1.5 * clipped[:, :250].sum(), "the margin on the side it left is not drawn"
    nowhere = changed(comp.redact_regions(frame, masks, age_s=age, motion_within=np.zeros_like(within)), frame)
    assert (nowhere == seen).all()
    with pytest.raises(ValueError, match="motion_within: expected a mask of the frame's size 640x480"):
        comp.redact_regions(frame, masks, age_s=age, motion_within=within[:100])
