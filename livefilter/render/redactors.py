"""Redaction styles: Gaussian blur, pixelation, solid fill — and blending them in.

Pure functions on HxWx3 uint8 BGR arrays. Each style returns a new array of
the same shape; :func:`paste` and :func:`blend` write it into a buffer the
compositor owns, only where the mask or alpha says.

Large blurs run on a downscaled copy and are scaled back up: the down/up
scaling adds its own smoothing, which is subtracted from the sigma used at
the small scale, so the visual strength matches a full-size Gaussian of the
same sigma at a fraction of the cost.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np

__all__ = [
    "STRENGTH_STEP",
    "blend",
    "blur_cell",
    "enlarge",
    "gaussian_blur",
    "paste",
    "pixel_block",
    "pixelate",
    "redact_whole",
    "scaled_strength",
    "solid",
]

STRENGTH_STEP = 2**0.25
"""Scaled blur sigmas are rounded up to powers of this (19 % apart), so a sigma does not change
with every pixel an object's mask grows or shrinks (few cached kernels)."""

_SIGMA_AT_SCALE = 3.0
"""Blurs with a larger sigma run on a grid downscaled so the sigma there is about this many pixels."""


@functools.lru_cache(maxsize=64)
def _gaussian_kernel(sigma: float) -> np.ndarray:
    """1-D Gaussian taps out to 3 sigma; cached since ``cv2.GaussianBlur`` rebuilds them on every call."""
    import cv2

    return cv2.getGaussianKernel(2 * math.ceil(3 * sigma) + 1, sigma)


def blur_cell(sigma: float) -> int:
    """Downscale factor :func:`gaussian_blur` uses for ``sigma``: a power of two (1: full size).

    Images whose sides are multiples of it are blurred without an extra padded copy.
    """
    return 1 << max(0, int(math.log2(max(1.0, sigma / _SIGMA_AT_SCALE))))


def _shrink(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean of every ``factor`` x ``factor`` cell; the sides must be multiples of ``factor``.

    OpenCV's area resize is about 5x faster for a factor of 2 than for larger ones,
    so even factors are taken as a chain of halvings (a mean of means is the mean).
    """
    import cv2

    while factor > 1:
        step = 2 if factor % 2 == 0 else factor
        height, width = image.shape[:2]
        image = cv2.resize(image, (width // step, height // step), interpolation=cv2.INTER_AREA)
        factor //= step
    return image


def _cell_means(image: np.ndarray, cell: int, border: int) -> np.ndarray:
    """Mean of every ``cell`` x ``cell`` cell from the top-left corner; a partial last row or
    column of cells is first filled out with the OpenCV ``border`` mode.

    Whole cells keep OpenCV's area downscaling on its fast, exact path.
    """
    import cv2

    height, width = image.shape[:2]
    rows, cols = -(-height // cell), -(-width // cell)
    if rows * cell != height or cols * cell != width:
        image = cv2.copyMakeBorder(image, 0, rows * cell - height, 0, cols * cell - width, border)
    return _shrink(image, cell)


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Every pixel repeated into a ``factor`` x ``factor`` cell (nearest-neighbour upscaling).

    Scaling the rows with OpenCV and then repeating whole rows is ~7x faster
    than OpenCV's nearest resize at large factors.

    Example:
        >>> enlarge(np.array([[1, 2]], np.uint8), 2)
        array([[1, 1, 2, 2],
               [1, 1, 2, 2]], dtype=uint8)
    """
    import cv2

    height, width = image.shape[:2]
    wide = cv2.resize(image, (width * factor, height), interpolation=cv2.INTER_NEAREST)
    return np.repeat(wide, factor, axis=0)


def gaussian_blur(image: np.ndarray, sigma: float, *, inner: tuple[slice, slice] | None = None) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` pixels (reflected at the edges).

    Args:
        image: HxWx3 uint8.
        sigma: strength in pixels.
        inner: return only this part (``(rows, cols)`` slices with explicit bounds); the
            rest of ``image`` is context that feeds the blur but is not scaled back up.

    Example:
        >>> img = np.zeros((64, 64, 3), np.uint8); img[::2] = 255
        >>> int(np.ptp(gaussian_blur(img, 25.0))) <= 2  # black/white stripes smoothed to one grey
        True
    """
    import cv2

    height, width = image.shape[:2]
    rows_out, cols_out = inner or (slice(0, height), slice(0, width))
    scale = blur_cell(sigma)
    if scale < 2 or min(height, width) < 4 * scale:
        return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)[rows_out, cols_out]
    small = _cell_means(image, scale, cv2.BORDER_REFLECT_101)
    rows, cols = small.shape[:2]
    # Area downscaling (box of `scale`) and linear upscaling (triangle of `scale`) add a
    # variance of about scale^2 / 12 + scale^2 / 6 = scale^2 / 4 (in full-size pixels).
    kernel = _gaussian_kernel(round(math.sqrt(sigma**2 / scale**2 - 0.25), 2))
    cv2.sepFilter2D(small, -1, kernel, kernel, dst=small, borderType=cv2.BORDER_REFLECT_101)
    # Scale up only the cells under `inner`, plus one on each side so the interpolation
    # there matches scaling up the whole image.
    r0, r1 = max(0, rows_out.start // scale - 1), min(rows, (rows_out.stop - 1) // scale + 2)
    c0, c1 = max(0, cols_out.start // scale - 1), min(cols, (cols_out.stop - 1) // scale + 2)
    up = cv2.resize(
        small[r0:r1, c0:c1], ((c1 - c0) * scale, (r1 - r0) * scale), interpolation=cv2.INTER_LINEAR
    )
    top, left = r0 * scale, c0 * scale
    return up[rows_out.start - top : rows_out.stop - top, cols_out.start - left : cols_out.stop - left]


def pixelate(image: np.ndarray, block: int) -> np.ndarray:
    """Replace each ``block`` x ``block`` cell (from the top-left corner) by its mean colour.

    Example:
        >>> img = np.arange(16, dtype=np.uint8).reshape(4, 4, 1).repeat(3, axis=2)
        >>> pixelate(img, 2)[:, :, 0]
        array([[ 3,  3,  5,  5],
               [ 3,  3,  5,  5],
               [11, 11, 13, 13],
               [11, 11, 13, 13]], dtype=uint8)
    """
    import cv2

    height, width = image.shape[:2]
    return enlarge(_cell_means(image, block, cv2.BORDER_REPLICATE), block)[:height, :width]


def solid(shape: tuple[int, ...], rgb: tuple[int, int, int]) -> np.ndarray:
    """An array of ``shape`` (H, W, 3) filled with ``rgb`` (given as R, G, B; stored BGR).

    Example:
        >>> solid((1, 1, 3), (255, 128, 0))[0, 0]
        array([  0, 128, 255], dtype=uint8)
    """
    out = np.empty(shape, np.uint8)
    out[:] = np.tile(np.array(rgb[::-1], np.uint8), (shape[1], 1))  # row-wise copy; np.full is ~50x slower
    return out


def paste(dst: np.ndarray, redacted: np.ndarray, mask: np.ndarray) -> None:
    """Copy ``redacted`` into ``dst`` (in place) where the (H, W) uint8 ``mask`` is not 0."""
    import cv2

    cv2.copyTo(redacted, mask, dst=dst)


def blend(dst: np.ndarray, redacted: np.ndarray, alpha: np.ndarray) -> None:
    """``dst = a * redacted + (1 - a) * dst`` in place, ``a = alpha / 255``; 255 gives ``redacted`` exactly.

    Integer multiplies (each term rounded, so within 1 level of the exact mix)
    are ~3x faster than ``cv2.blendLinear`` with its float weights.

    Example:
        >>> dst = np.zeros((1, 3, 3), np.uint8); red = np.full((1, 3, 3), 200, np.uint8)
        >>> blend(dst, red, np.array([[0, 128, 255]], np.uint8)); dst[0, :, 0]
        array([  0, 100, 200], dtype=uint8)
    """
    import cv2

    weight = cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR)
    shown = cv2.multiply(redacted, weight, scale=1 / 255)
    kept = cv2.multiply(dst, cv2.bitwise_not(weight), scale=1 / 255)
    cv2.add(shown, kept, dst=dst)


def scaled_strength(size_px: float, *, floor: float, blocks_across: float) -> float:
    """Blur sigma for an object ``size_px`` across: ``size_px / blocks_across`` rounded up to a
    power of :data:`STRENGTH_STEP`, and never less than ``floor``.

    As strong as a mosaic of ``blocks_across`` blocks (:func:`pixel_block`): it keeps less than
    1 % of the contrast of detail finer than ``blocks_across / 2`` cycles across the object (a
    Gaussian of sigma s passes exp(-2 pi^2 s^2 f^2) at f cycles/px: 0.7 % at the 8-block
    mosaic's Nyquist frequency).

    Example:
        >>> scaled_strength(100, floor=16, blocks_across=8)  # small: the floor
        16
        >>> round(scaled_strength(700, floor=16, blocks_across=8), 1)  # 700 / 8 = 87.5, rounded up
        90.5
    """
    need = size_px / blocks_across
    if need <= floor:
        return floor
    return float(STRENGTH_STEP ** math.ceil(math.log(need, STRENGTH_STEP) - 1e-9))


def pixel_block(size_px: float, *, floor: int, blocks_across: float) -> int:
    """Pixelation block for an object ``size_px`` across: at least ``floor``, and large enough that
    the object is at most ``blocks_across`` blocks across (6.4-8 for 8), however large.

    ``size_px / blocks_across`` is rounded up to a multiple of a power of two at least a quarter
    of it, so a block changes in steps of 12-25 % as an object's mask grows (no shimmer), and
    averaging the blocks starts with fast halvings (a prime block of 107 px costs 5x more).

    Example:
        >>> pixel_block(100, floor=16, blocks_across=8)  # small: the floor
        16
        >>> pixel_block(700, floor=16, blocks_across=8)  # 87.5 rounded up to a multiple of 16
        96
    """
    need = size_px / blocks_across
    if need <= floor:
        return floor
    step = 1 << max(0, int(math.log2(need)) - 2)
    return int(math.ceil(need / step - 1e-9)) * step


def redact_whole(
    image: np.ndarray,
    style: Literal["blur", "pixelate", "solid"],
    strength: float,
    rgb: tuple[int, int, int] = (0, 0, 0),
) -> np.ndarray:
    """The whole picture hidden (fail-closed): blur sigma or pixel block ``strength``, or a fill."""
    if style == "blur":
        return gaussian_blur(image, strength)
    if style == "pixelate":
        return pixelate(image, max(2, round(strength)))
    if style == "solid":
        return solid(image.shape, rgb)
    raise ValueError(f"redaction style: expected one of 'blur', 'pixelate', 'solid', got {style!r}")
