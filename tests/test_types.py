"""MaskSet.boxes: computed from the masks, exact, read-only.

The compositor reads only each object's box, so a box smaller than its mask
would leak pixels: these tests compare against a brute-force reference.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from livefilter.types import Frame, MaskSet, RedactedFrame, mask_boxes


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


# -- RedactedFrame: only the compositor builds one ------------------------------------------


def _raw_frame() -> Frame:
    return Frame(np.full((8, 8, 3), 77, np.uint8), index=3, t_capture=1.0, pts=0.1)


def test_the_compositor_builds_redacted_frames():
    from livefilter.config.render import RenderConfig
    from livefilter.render.compositor import Compositor

    frame = _raw_frame()
    compositor = Compositor(RenderConfig())
    shown = compositor.redact_regions(frame, MaskSet.empty(8, 8, frame_index=3, t_capture=1.0))
    hidden = compositor.redact_all(frame, reason="no_masks_yet")
    assert isinstance(shown, RedactedFrame) and isinstance(hidden, RedactedFrame)
    assert (shown.index, shown.pts, hidden.reason) == (3, 0.1, "no_masks_yet")


@pytest.mark.parametrize(
    "build",
    [
        lambda image: RedactedFrame(image, 0, 0.0, None, fully_redacted=False),
        lambda image: RedactedFrame(image, 0, 0.0, None, True, None, "stale_masks"),
        lambda image: RedactedFrame(image, 0, 0.0, None, False, seal=object()),  # a forged seal
        lambda image: RedactedFrame(image, 0, 0.0, None, False, seal=None),
    ],
    ids=["positional", "all fields", "forged seal", "no seal"],
)
def test_nothing_but_the_compositor_can_wrap_pixels_in_a_redacted_frame(build):
    with pytest.raises(TypeError, match="only the compositor builds"):
        build(_raw_frame().image.copy())


def test_a_redacted_frame_cannot_be_refilled_with_raw_pixels():
    from livefilter.config.render import RenderConfig
    from livefilter.render.compositor import Compositor

    frame = _raw_frame()
    safe = Compositor(RenderConfig()).redact_all(frame, reason="engine_down")
    with pytest.raises((TypeError, ValueError)):  # replace() rebuilds through __init__: no seal
        dataclasses.replace(safe, image=frame.image)
    with pytest.raises(ValueError, match="read-only"):
        safe.image[...] = frame.image  # the pixels cannot be overwritten in place either


def test_the_seal_is_issued_once_to_the_compositor():
    import livefilter.render.compositor  # noqa: F401  (imported: the seal is taken)
    from livefilter.types import _issue_seal

    with pytest.raises(RuntimeError, match="already issued"):
        _issue_seal()
