"""Mask geometry: grown masks always cover what they must (checked against an exact distance map)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt

from livefilter.render.masks import (
    Box,
    bounding_box,
    dilate,
    dilation_radius,
    feather,
    follow_motion,
    motion_margin,
    object_alpha,
    sweep,
)


def ellipse(height: int, width: int, cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0


def distance_to(mask: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance of every pixel to the nearest True pixel (independent reference)."""
    return distance_transform_edt(~mask)


def test_bounding_box_is_tight_and_none_when_empty():
    mask = np.zeros((50, 60), bool)
    assert bounding_box(mask) is None
    mask[7, 11] = mask[30, 44] = True
    assert bounding_box(mask) == Box(11, 7, 45, 31)


@pytest.mark.parametrize(
    "shape, blob, px, percent",
    [
        ((80, 90), (40, 40, 10, 14), 6, 0),  # small radius: exact per-pixel grid
        ((400, 500), (250, 200, 120, 150), 6, 15),  # radius ~57 px: computed on a coarser grid
        ((300, 300), (20, 280, 60, 50), 0, 30),  # object cut by the frame edge
    ],
)
def test_dilate_covers_every_pixel_within_the_radius(shape, blob, px, percent):
    mask = ellipse(*shape, *blob)
    radius = dilation_radius(bounding_box(mask), px=px, percent=percent)
    grown = dilate(mask[None], px=px, percent=percent)[0]
    distance = distance_to(mask)
    assert grown[distance <= radius].all(), "a pixel within the dilation radius was left uncovered"
    # Conservative, but not wildly: nothing beyond 1.2 * radius + 2 px.
    assert not grown[distance > 1.2 * radius + 2].any()


def test_dilation_percent_scales_with_object_size():
    small = ellipse(600, 600, 300, 300, 20, 20)
    large = ellipse(600, 600, 300, 300, 160, 160)
    reach = []
    for mask in (small, large):
        grown = dilate(mask[None], px=2, percent=10)[0]
        reach.append(distance_to(mask)[grown].max())
    diag_small = bounding_box(small).diagonal
    diag_large = bounding_box(large).diagonal
    assert reach[0] == pytest.approx(max(2, 0.1 * diag_small), abs=1.5)
    assert reach[1] >= 0.1 * diag_large
    assert reach[1] > 6 * reach[0]


def test_percent_growth_stops_at_its_pixel_cap_and_still_covers_within_it():
    small = ellipse(600, 600, 300, 300, 20, 20)  # 10 % of its diagonal: ~6 px, under the cap
    large = ellipse(600, 600, 300, 300, 200, 200)  # 10 % of its diagonal: ~57 px, capped to 24
    for mask, radius in ((small, max(2, 0.1 * bounding_box(small).diagonal)), (large, 24.0)):
        assert dilation_radius(bounding_box(mask), px=2, percent=10, percent_max_px=24) == pytest.approx(radius)
        grown = dilate(mask[None], px=2, percent=10, percent_max_px=24)[0]
        distance = distance_to(mask)
        assert grown[distance <= radius].all(), "a pixel within the capped radius was left uncovered"
        assert not grown[distance > 1.2 * radius + 2].any()
    # The cap bounds only the percentage: dilation_px still applies in full.
    assert dilation_radius(bounding_box(large), px=40, percent=10, percent_max_px=24) == 40


def test_empty_object_gives_no_region():
    assert object_alpha(np.zeros((20, 20), bool), Box(0, 0, 0, 0), dilation_px=3, dilation_percent=10) is None
    assert not dilate(np.zeros((2, 20, 20), bool), px=3, percent=10).any()


@pytest.mark.parametrize("shift", [(20, 10), (-7, 15), (0, -12), (9, 0)])
def test_sweep_moves_along_the_whole_segment(shift):
    mask = np.zeros((60, 60), bool)
    mask[30, 30] = True
    swept = sweep(mask, *shift)
    ys, xs = np.nonzero(swept)
    for t in np.linspace(0, 1, 41):
        px, py = 30 + shift[0] * t, 30 + shift[1] * t
        assert np.hypot(xs - px, ys - py).min() <= 0.75, f"no swept pixel near the path at t={t}"
    assert swept[30, 30] and swept[30 + shift[1], 30 + shift[0]]
    assert swept.sum() <= max(abs(shift[0]), abs(shift[1])) + 1  # a thin line, not a filled box


@pytest.mark.parametrize(
    "velocity",
    [(300.0, 0.0), (-250.0, 120.0), (0.0, -400.0), (180.0, 180.0)],
)
@pytest.mark.parametrize("axes", [(12, 16), (70, 90)])
def test_follow_motion_covers_the_future_position(velocity, axes):
    height, width, age = 480, 640, 0.4
    cx, cy = 320, 240
    mask = ellipse(height, width, cx, cy, *axes)
    dx, dy = velocity[0] * age, velocity[1] * age
    future = ellipse(height, width, cx + dx, cy + dy, *axes)
    halfway = ellipse(height, width, cx + dx / 2, cy + dy / 2, *axes)
    grown = follow_motion(mask[None], np.array([velocity]), age)[0]
    assert grown[mask].all(), "the last known position must stay covered"
    assert grown[halfway].all(), "the path between must be covered"
    assert grown[future].all(), "the object's position after age_s at its velocity must be covered"


def test_follow_motion_without_age_or_speed_changes_nothing_and_margin_grows_with_age():
    mask = ellipse(200, 200, 100, 100, 20, 25)
    still = follow_motion(mask[None], np.zeros((1, 2)), 0.0)[0]
    np.testing.assert_array_equal(still, mask)
    young = follow_motion(mask[None], np.zeros((1, 2)), 0.1)[0].sum()
    old = follow_motion(mask[None], np.zeros((1, 2)), 0.5)[0].sum()
    assert mask.sum() < young < old
    assert motion_margin(speed_px_s=200, age_s=0.5, size_px=50) > motion_margin(
        speed_px_s=0, age_s=0.5, size_px=50
    )


def test_follow_motion_without_it_the_future_position_is_not_covered():
    """Guards the test above: a plain dilation does not reach where the object went."""
    mask = ellipse(480, 640, 200, 240, 20, 26)
    future = ellipse(480, 640, 200 + 120, 240, 20, 26)
    grown = dilate(mask[None], px=6, percent=10)[0]
    assert not grown[future].all()


@pytest.mark.parametrize("blob", [(50, 50, 8, 10), (200, 150, 90, 110)])
@pytest.mark.parametrize("feather_px", [1, 6, 25])
def test_feather_keeps_the_mask_fully_hidden_and_ramps_outside(blob, feather_px):
    mask = ellipse(360, 400, *blob)
    alpha = feather(mask[None], feather_px)[0]
    distance = distance_to(mask)
    assert alpha.dtype == np.uint8
    assert (alpha[mask] == 255).all(), "feathering must never let a masked pixel through"
    assert not alpha[distance > feather_px + 2].any(), "the ramp ends at feather_px outside the mask"
    ring = (distance > 1) & (distance < feather_px)
    if ring.any():
        assert (alpha[ring] < 255).any(), "the edge should be soft"


def test_feathered_dilation_is_fully_hidden_on_the_whole_dilated_mask():
    mask = ellipse(300, 300, 150, 150, 40, 55)
    box, alpha = object_alpha(mask, bounding_box(mask), dilation_px=6, dilation_percent=10, feather_px=12)
    full = np.zeros(mask.shape, np.uint8)
    full[box.slices] = alpha
    radius = dilation_radius(bounding_box(mask), px=6, percent=10)
    assert (full[distance_to(mask) <= radius] == 255).all()
    assert math.isclose(radius, 0.1 * math.hypot(81, 111), rel_tol=0.02)


def test_absurd_motion_covers_the_frame_without_blowing_up():
    """A wild velocity estimate must stay safe and cheap: the path is bounded by the frame."""
    mask = ellipse(120, 160, 40, 60, 8, 10)
    box, alpha = object_alpha(
        mask, bounding_box(mask), dilation_px=6, dilation_percent=10, velocity=(1e9, -3e8), age_s=0.5
    )
    assert box == Box(0, 0, 160, 120) and (alpha == 255).all()


@pytest.mark.parametrize("velocity", [(float("nan"), 0.0), (0.0, float("inf"))])
def test_non_finite_velocity_is_refused(velocity):
    mask = ellipse(60, 80, 40, 30, 8, 10)
    with pytest.raises(ValueError, match="finite"):
        object_alpha(
            mask, bounding_box(mask), dilation_px=6, dilation_percent=10, velocity=velocity, age_s=0.2
        )


def test_non_contiguous_masks_give_the_same_result():
    """Engines may hand over transposed or strided arrays; the pixels, not the layout, count."""
    mask = ellipse(90, 120, 50, 40, 18, 12)
    strided = np.zeros((180, 240), bool)
    strided[::2, ::2] = mask
    layouts = [mask, np.asfortranarray(mask), strided[::2, ::2]]
    results = [
        object_alpha(m, bounding_box(m), dilation_px=4, dilation_percent=10, velocity=(50, 20), age_s=0.2)
        for m in layouts
    ]
    for box, alpha in results[1:]:
        assert box == results[0][0]
        np.testing.assert_array_equal(alpha, results[0][1])


@pytest.mark.parametrize("velocity", [(300.0, 0.0), (-200.0, 150.0)])
def test_follow_motion_covers_an_object_that_turned_back(velocity):
    """The mask's velocity points one way, the object reversed right after: it must stay covered."""
    height, width, age = 480, 640, 0.3
    mask = ellipse(height, width, 320, 240, 20, 26)
    reversed_ = ellipse(height, width, 320 - velocity[0] * age, 240 - velocity[1] * age, 20, 26)
    sideways = ellipse(height, width, 320 - velocity[1] * age, 240 + velocity[0] * age, 20, 26)
    grown = follow_motion(mask[None], np.array([velocity]), age)[0]
    assert grown[reversed_].all(), "an object that turned back must stay covered"
    assert grown[sideways].all(), "an object that turned aside at the same speed must stay covered"


@pytest.mark.parametrize("seed", range(6))
def test_dilate_covers_random_shapes_anywhere_in_the_frame(seed):
    """Scattered blobs and lone pixels, near edges and on any grid offset: never a pixel short."""
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(90, 400)), int(rng.integers(90, 400))
    mask = np.zeros((height, width), bool)
    for _ in range(int(rng.integers(1, 5))):
        cx, cy = rng.uniform(-20, width + 20), rng.uniform(-20, height + 20)
        mask |= ellipse(height, width, cx, cy, rng.uniform(1, width / 3), rng.uniform(1, height / 3))
    mask[int(rng.integers(0, height)), int(rng.integers(0, width))] = True  # a lone pixel
    percent = float(rng.uniform(0, 30))
    radius = dilation_radius(bounding_box(mask), px=3, percent=percent)
    grown = dilate(mask[None], px=3, percent=percent)[0]
    assert grown[distance_to(mask) <= radius].all(), "a pixel within the dilation radius was left uncovered"


@pytest.mark.parametrize("shift", [(7.4, -3.2), (-11.0, 0.4), (0.3, 9.6), (-4.5, -4.5)])
def test_sweeping_the_complement_equals_complementing_the_sweep(shift):
    from livefilter.render.masks import _sweep_outside

    rng = np.random.default_rng(4)
    mask = rng.random((40, 50)) > 0.97
    outside = (~mask).view(np.uint8)
    np.testing.assert_array_equal(_sweep_outside(outside, *shift) == 0, sweep(mask, *shift))
