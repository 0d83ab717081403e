"""Redaction styles hide what they cover, and blending never lets a fully masked pixel through."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from livefilter.render.redactors import blend, gaussian_blur, paste, pixelate, redact_whole, solid


def checkerboard(height: int, width: int) -> np.ndarray:
    """Pixel-level black/white checkerboard with a coloured tint: the highest frequencies there are."""
    y, x = np.mgrid[0:height, 0:width]
    board = ((x + y) % 2 * 255).astype(np.uint8)
    return np.stack([board, 255 - board, board], axis=2)


def high_frequency_energy(image: np.ndarray) -> float:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


def natural_image(height: int = 240, width: int = 320) -> np.ndarray:
    """Smooth shapes plus fine texture, like a face in a camera picture."""
    rng = np.random.default_rng(3)
    image = cv2.resize(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8), (width, height))
    return cv2.add(image, rng.integers(0, 40, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize("sigma", [2.0, 8.0, 25.0, 60.0])
def test_gaussian_blur_matches_a_full_size_gaussian(sigma):
    image = natural_image()
    ours = gaussian_blur(image, sigma).astype(np.float32)
    exact = cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101).astype(np.float32)
    assert ours.shape == image.shape
    error = np.abs(ours - exact)
    assert error[60:-60, 60:-60].mean() < 1.0, "the fast blur must have the strength of a true Gaussian"
    assert error.mean() < 2.5  # edges are reflected at the downscaled grid, a little differently


@pytest.mark.parametrize("sigma", [3.0, 25.0, 60.0])
@pytest.mark.parametrize(
    "inner",
    [(slice(0, 240), slice(0, 320)), (slice(37, 181), slice(50, 299)), (slice(0, 1), slice(319, 320))],
)
def test_gaussian_blur_of_an_inner_part_equals_that_part_of_the_whole(sigma, inner):
    image = natural_image()
    np.testing.assert_array_equal(
        gaussian_blur(image, sigma, inner=inner), gaussian_blur(image, sigma)[inner]
    )


@pytest.mark.parametrize("sigma", [8.0, 25.0, 40.0])
def test_gaussian_blur_removes_fine_detail(sigma):
    image = natural_image()
    before, after = high_frequency_energy(image), high_frequency_energy(gaussian_blur(image, sigma))
    assert after < 0.005 * before


def test_pixelate_makes_each_block_its_mean():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (37, 45, 3), dtype=np.uint8)  # blocks cut by the right and bottom edges
    out = pixelate(image, 8)
    assert out.shape == image.shape
    for y in range(0, 37, 8):
        for x in range(0, 45, 8):
            block = out[y : y + 8, x : x + 8].reshape(-1, 3)
            assert (block == block[0]).all()
    # within rounding: the mean is taken as a chain of 2x2 means
    np.testing.assert_allclose(out[0, 0], image[:8, :8].reshape(-1, 3).mean(axis=0), atol=1.5)


def test_solid_is_given_rgb_and_stored_bgr():
    out = solid((3, 4, 3), (250, 100, 5))
    assert out.dtype == np.uint8 and out.shape == (3, 4, 3)
    assert (out.reshape(-1, 3) == [5, 100, 250]).all()


def test_paste_copies_only_where_the_mask_is_set():
    dst = np.zeros((4, 4, 3), np.uint8)
    mask = np.zeros((4, 4), np.uint8)
    mask[1:3, 2] = 255
    paste(dst, np.full((4, 4, 3), 77, np.uint8), mask)
    assert (dst[1:3, 2] == 77).all() and dst.sum() == 77 * 3 * 2


@pytest.mark.parametrize("level", [255, 0])
def test_blend_is_exact_at_both_ends_for_every_value_pair(level):
    dst = np.arange(256, dtype=np.uint8)[:, None, None].repeat(256, axis=1).repeat(3, axis=2)
    redacted = np.ascontiguousarray(dst.transpose(1, 0, 2))
    before = dst.copy()
    blend(dst, redacted, np.full((256, 256), level, np.uint8))
    np.testing.assert_array_equal(dst, redacted if level == 255 else before)


def test_blend_is_exact_at_both_ends_and_in_place():
    base = checkerboard(6, 6)
    dst = base.copy()
    redacted = np.full_like(base, 128)
    alpha = np.zeros((6, 6), np.uint8)
    alpha[:3] = 255
    alpha[3:5] = 100
    blend(dst, redacted, alpha)
    assert (dst[:3] == 128).all(), "alpha 255 must give the redacted pixel exactly"
    np.testing.assert_array_equal(dst[5:], base[5:])
    assert ((dst[3:5] != base[3:5]) & (dst[3:5] != 128)).all()


@pytest.mark.parametrize(
    "style, strength",
    [("blur", 40.0), ("blur", 3.0), ("pixelate", 40.0), ("pixelate", 2.0), ("solid", 1.0)],
)
def test_redact_whole_leaves_no_pixel_of_the_pattern(style, strength):
    image = checkerboard(108, 192)
    out = redact_whole(image, style, strength, (10, 20, 30))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not (out == image).all(axis=2).any(), "some pixel still shows the input"


def test_redact_whole_rejects_an_unknown_style():
    with pytest.raises(ValueError, match="'mosaic'"):
        redact_whole(checkerboard(8, 8), "mosaic", 4.0)  # type: ignore[arg-type]
