"""MaskSet.boxes: computed from the masks, exact, read-only.

The compositor reads only each object's box, so a box smaller than its mask
would leak pixels: these tests compare against a brute-force reference.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from livefilter.types import MaskSet, mask_boxes


def reference_box(mask: np.ndarray) -> list[int]:
    """Brute force: min/max coordinates of every True pixel; zeros when none."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return [0, 0, 0, 0]
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def mask_set(masks: np.ndarray) -> MaskSet:
    n = len(masks)
    return MaskSet(
        masks, scores=np.ones(n), labels=("face",) * n, object_ids=np.arange(n), frame_index=0, t_capture=0.0
    )


@pytest.mark.parametrize("seed", range(8))
def test_boxes_match_brute_force_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    height, width = rng.integers(1, 90, size=2)
    n = int(rng.integers(1, 6))
    masks = np.zeros((n, height, width), bool)
    for mask in masks:  # sparse scattered pixels, some masks left empty
        density = rng.choice([0.0, 0.001, 0.02, 0.3])
        mask[...] = rng.random((height, width)) < density
    ms = mask_set(masks)
    assert ms.boxes.dtype == np.int32 and ms.boxes.shape == (n, 4)
    assert ms.boxes.tolist() == [reference_box(m) for m in masks]


def test_empty_masks_get_zero_size_boxes():
    ms = mask_set(np.zeros((3, 40, 60), bool))
    assert ms.boxes.tolist() == [[0, 0, 0, 0]] * 3
    assert MaskSet.empty(40, 60, frame_index=0, t_capture=0.0).boxes.shape == (0, 4)


def test_full_frame_masks_span_the_frame():
    ms = mask_set(np.ones((2, 37, 53), bool))
    assert ms.boxes.tolist() == [[0, 0, 53, 37]] * 2


@pytest.mark.parametrize("y, x", [(0, 0), (0, 52), (36, 0), (36, 52)])
def test_single_pixel_at_each_corner(y, x):
    masks = np.zeros((2, 37, 53), bool)
    masks[1, y, x] = True
    assert mask_set(masks).boxes.tolist() == [[0, 0, 0, 0], [x, y, x + 1, y + 1]]


def test_non_contiguous_masks_give_the_same_boxes():
    """Engines may hand over strided or transposed arrays; the pixels, not the layout, count."""
    rng = np.random.default_rng(7)
    masks = rng.random((3, 50, 70)) < 0.002
    strided = np.zeros((3, 100, 140), bool)
    strided[:, ::2, ::2] = masks
    expected = [reference_box(m) for m in masks]
    for layout in (strided[:, ::2, ::2], np.asfortranarray(masks)):
        assert mask_boxes(layout).tolist() == expected


def test_boxes_are_read_only_and_never_taken_from_the_caller():
    masks = np.zeros((1, 10, 10), bool)
    masks[0, 2:5, 3:8] = True
    ms = mask_set(masks)
    with pytest.raises(ValueError):
        ms.boxes[0, 0] = 9
    with pytest.raises(TypeError):
        MaskSet(masks, [1.0], ("face",), [1], 0, 0.0, None, np.zeros((1, 4), np.int32))  # type: ignore[call-arg]
    moved = np.zeros_like(masks)
    moved[0, 6:9, 0:2] = True
    assert dataclasses.replace(ms, masks=moved).boxes.tolist() == [[0, 6, 2, 9]]
