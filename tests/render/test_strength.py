"""Redaction strength follows the object (issues 9.4 and 10.3): no blurred or pixelated face is
recognisable at any size, in a frame of any size, nor in a fully redacted frame.

"Recognisable" is measured on real face photographs, on the face's own scale, in cycles per
face width (c/fw). People identify faces mostly from the band around 8-16 c/fw, and recognition
falls apart below about 4-6 c/fw (Costen, Parker & Craw 1996; Näsänen 1999). A mosaic of N
blocks across carries at most N/2 c/fw, so the rule "at most 8 blocks across" keeps no more than
4 c/fw. Three measures, each on the face box of the output against the original:

- ``blocks_across`` (pixelate): the face's width over the mosaic's block, read from the pixels;
  at most 8.
- ``feature_band_energy`` (blur): the share of the original's spectral energy between 4 and
  16 c/fw that is left; at most 0.2 % (a Gaussian of sigma = width / 8 leaves < 0.1 %;
  sigma = width / 16 leaves about 2 %, the default sigma of 25 px leaves 20 % of a 4K face).
- ``feature_band_correlation`` (both): how much of the original's 4-16 c/fw structure is still
  in place (cosine similarity of that band). 1 for the raw face; 0.6-1.0 for the faces that
  issue 9 found recognisable (11-15 blocks across); at most 0.43 at 8 blocks, 0.22 for the blur.
  Limit: 0.5.

Faces are cut out with an elliptical mask and redacted by the compositor, as the engine's
masks are; frames are 720p, 1080p and 4K, the face at three sizes each (up to a close-up).
"""

from __future__ import annotations

import functools
import json
import math

import cv2
import numpy as np
import pytest

from livefilter.config.render import RenderConfig
from livefilter.render import Compositor
from livefilter.render.redactors import pixel_block, scaled_strength
from livefilter.types import Frame, MaskSet
from tests.fakes import shared_data

RESOLUTIONS = {"720p": (1280, 720), "1080p": (1920, 1080), "4K": (3840, 2160)}
FACE_HEIGHTS = (0.15, 0.35, 0.7)
"""Face height as a share of the frame's: a face across the room, at a desk, a close-up."""
MAX_BLOCKS = 8
MAX_BAND_ENERGY = 0.002
MAX_BAND_CORRELATION = 0.5


# -- the measures ------------------------------------------------------------------------------


def _band(
    gray: np.ndarray, face_width: float, low: float = 4.0, high: float = 16.0
) -> tuple[np.ndarray, np.ndarray]:
    """Windowed spectrum of a grey crop, and the mask of its ``low``-``high`` c/fw band."""
    height, width = gray.shape
    window = np.outer(np.hanning(height), np.hanning(width))
    spectrum = np.fft.fft2((gray - gray.mean()) * window)
    cycles = np.hypot(np.fft.fftfreq(width)[None, :], np.fft.fftfreq(height)[:, None]) * face_width
    return spectrum, (cycles >= low) & (cycles <= high)


MEASURE_WIDTH = 128
"""Face widths are measured at this many pixels (area-averaged): 64 c/fw, far above the band."""


def _grey(image: np.ndarray, face_width: float) -> tuple[np.ndarray, float]:
    """Grey crop scaled so the face is at most MEASURE_WIDTH px wide, and the face's width there."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    scale = min(1.0, MEASURE_WIDTH / face_width)
    if scale < 1.0:
        size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
        grey = cv2.resize(grey.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    return grey.astype(np.float64), face_width * scale


def feature_band_energy(original: np.ndarray, redacted: np.ndarray, face_width: float) -> float:
    a, band = _band(*_grey(original, face_width))
    b, _ = _band(*_grey(redacted, face_width))
    return float(np.sum(np.abs(b[band]) ** 2) / np.sum(np.abs(a[band]) ** 2))


def feature_band_correlation(original: np.ndarray, redacted: np.ndarray, face_width: float) -> float:
    a, band = _band(*_grey(original, face_width))
    b, _ = _band(*_grey(redacted, face_width))
    dot = np.real(np.sum(a[band] * np.conj(b[band])))
    return float(dot / (np.sqrt(np.sum(np.abs(a[band]) ** 2) * np.sum(np.abs(b[band]) ** 2)) + 1e-12))


def blocks_across(redacted: np.ndarray, face_width: float) -> float:
    """The face's width over the mosaic's block, the block being the commonest run of identical
    pixels along the face's rows (measured, not taken from the settings)."""
    runs: list[int] = []
    for row in redacted[:: max(1, redacted.shape[0] // 16)]:
        change = np.flatnonzero(np.any(row[1:] != row[:-1], axis=1)) + 1
        edges = np.concatenate(([0], change, [len(row)]))
        runs.extend(np.diff(edges)[1:-1].tolist())  # inner runs only: the outer ones may be cut
    if not runs:
        return 1.0
    block = int(np.bincount(runs).argmax())
    return face_width / block


def test_the_measures_flag_what_issue_9_found_recognisable():
    """On a real face: the raw face and 12+ blocks across fail the limits; 8 blocks and a blur of
    sigma = width / 8 pass them. (The calibration behind the limits, checked on every run.)"""
    _, photo, boxes = _photos()[0]
    x, y, w, h = boxes[0]
    face = (slice(y, y + h), slice(x, x + w))
    photo = photo[max(0, y - h) : y + 2 * h, max(0, x - w) : x + 2 * w]  # the face and some context
    x, y = min(x, w), min(y, h)
    face = (slice(y, y + h), slice(x, x + w))
    from livefilter.render.redactors import gaussian_blur, pixelate

    assert feature_band_correlation(photo[face], photo[face], w) == pytest.approx(1.0)
    mosaic_15 = pixelate(photo, round(w / 15))[face]
    assert blocks_across(mosaic_15, w) > MAX_BLOCKS
    assert feature_band_correlation(photo[face], mosaic_15, w) > MAX_BAND_CORRELATION
    assert feature_band_energy(photo[face], gaussian_blur(photo, w / 16)[face], w) > MAX_BAND_ENERGY
    mosaic_8 = pixelate(photo, math.ceil(w / 8))[face]
    assert blocks_across(mosaic_8, w) <= MAX_BLOCKS
    assert feature_band_correlation(photo[face], mosaic_8, w) < MAX_BAND_CORRELATION
    assert feature_band_energy(photo[face], gaussian_blur(photo, w / 8)[face], w) < MAX_BAND_ENERGY


# -- real faces in frames of every size ------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _photos() -> list[tuple[str, np.ndarray, list[list[int]]]]:
    """(name, BGR photo, face boxes [x, y, w, h]): the shared photographs, or scikit-image's
    public-domain astronaut alone when they are absent."""
    import skimage.data

    astronaut = np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])
    photos = [("astronaut", astronaut, [[176, 62, 90, 105]])]
    faces = shared_data() / "faces"
    if (faces / "faces.json").exists():
        boxes = json.loads((faces / "faces.json").read_text())["boxes"]
        for name in ("obama.jpg", "biden.jpg", "two_people.jpg"):
            image = cv2.imread(str(faces / name))
            if image is not None:
                photos.insert(0, (name, image, boxes[name][:1]))
    return photos


def framed(
    photo: np.ndarray, box: list[int], size: tuple[int, int], face_height: float
) -> tuple[Frame, list[int]]:
    """``photo`` scaled so its face is ``face_height`` of the frame's height, the face centred in
    a ``size`` (width, height) frame (grey where the photo does not reach); and the face's box."""
    width, height = size
    x, y, w, h = box
    scale = face_height * height / h
    scaled = cv2.resize(
        photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    fx, fy, fw, fh = (round(v * scale) for v in box)
    left, top = width // 2 - (fx + fw // 2), height // 2 - (fy + fh // 2)  # photo origin in the frame
    frame = np.full((height, width, 3), 128, np.uint8)
    src_x0, src_y0 = max(0, -left), max(0, -top)
    dst_x0, dst_y0 = max(0, left), max(0, top)
    cols = min(scaled.shape[1] - src_x0, width - dst_x0)
    rows = min(scaled.shape[0] - src_y0, height - dst_y0)
    frame[dst_y0 : dst_y0 + rows, dst_x0 : dst_x0 + cols] = scaled[
        src_y0 : src_y0 + rows, src_x0 : src_x0 + cols
    ]
    return Frame(frame, index=0, t_capture=0.0), [fx + left, fy + top, fw, fh]


def face_masks(frame: Frame, box: list[int]) -> MaskSet:
    x, y, w, h = box
    mask = np.zeros((frame.height, frame.width), np.uint8)
    cv2.ellipse(mask, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, 1, -1)
    return MaskSet(mask[None].astype(bool), [1.0], ("face",), [1], frame_index=0, t_capture=0.0)


def inner(box: list[int]) -> tuple[slice, slice]:
    """The middle of the face (inside the ellipse): where eyes, nose and mouth are."""
    x, y, w, h = box
    return slice(y + h // 6, y + 5 * h // 6), slice(x + w // 6, x + 5 * w // 6)


CASES = [
    pytest.param(
        res,
        share,
        id=f"{res}-face{round(share * 100)}%",
        marks=[pytest.mark.slow] if res == "4K" and share < 0.5 else [],  # the 4K close-up runs by default
    )
    for res in RESOLUTIONS
    for share in FACE_HEIGHTS
]


def _check(name: str, style: str, original: np.ndarray, redacted: np.ndarray, face_width: float) -> list[str]:
    problems = []
    if style == "pixelate" and (n := blocks_across(redacted, face_width)) > MAX_BLOCKS:
        problems.append(f"{name}: {n:.1f} blocks across the face")
    if style == "blur" and (e := feature_band_energy(original, redacted, face_width)) > MAX_BAND_ENERGY:
        problems.append(f"{name}: {e:.2%} of the face's 4-16 c/fw detail left by the blur")
    if (c := feature_band_correlation(original, redacted, face_width)) > MAX_BAND_CORRELATION:
        problems.append(f"{name}: facial structure correlation {c:.2f} after {style}")
    return problems


@pytest.mark.parametrize(("resolution", "face_height"), CASES)
def test_no_redacted_face_is_recognisable_at_any_size(resolution: str, face_height: float) -> None:
    problems: list[str] = []
    for name, photo, boxes in _photos():
        frame, box = framed(photo, boxes[0], RESOLUTIONS[resolution], face_height)
        masks = face_masks(frame, box)
        original = frame.image[inner(box)]
        for style in ("pixelate", "blur"):
            out = Compositor(RenderConfig(style=style)).redact_regions(frame, masks)
            problems += _check(name, style, original, out.image[inner(box)], box[2])
    assert not problems, f"{resolution}, face {face_height:.0%} of the height: " + "; ".join(problems)


@pytest.mark.parametrize("resolution", list(RESOLUTIONS))
@pytest.mark.parametrize("style", ["pixelate", "blur"])
def test_no_face_is_recognisable_in_a_fully_redacted_frame(resolution: str, style: str) -> None:
    """Fail-closed at every resolution, with the weakest strength the config accepts: a close-up
    face (the largest a frame holds) is hidden like any redacted object."""
    config = RenderConfig(fail_closed_style=style, fail_closed_strength=2)
    problems: list[str] = []
    for name, photo, boxes in _photos():
        frame, box = framed(photo, boxes[0], RESOLUTIONS[resolution], 0.7)
        out = Compositor(config).redact_all(frame, reason="stale_masks")
        problems += _check(name, style, frame.image[inner(box)], out.image[inner(box)], box[2])
    assert not problems, f"{resolution} fully redacted: " + "; ".join(problems)


@pytest.mark.parametrize(
    ("size", "floor", "expected"),
    [(100, 16, 16), (128, 16, 16), (700, 16, 90.5), (2000, 16, 256.0), (700, 120, 120)],
)
def test_strength_is_the_floor_or_the_size_over_eight_rounded_up(size, floor, expected) -> None:
    strength = scaled_strength(size, floor=floor, blocks_across=8)
    assert strength == pytest.approx(expected, abs=0.1)
    assert size / strength <= 8


@pytest.mark.parametrize("size", [10, 100, 129, 333, 700, 1080, 2160, 3840])
def test_pixel_blocks_leave_at_most_eight_across_and_start_with_halvings(size) -> None:
    block = pixel_block(size, floor=16, blocks_across=8)
    assert block >= 16 and size / block <= 8
    assert block == 16 or size / block > 8 / 1.25  # never more than 25 % coarser than needed
    assert block % (1 << max(0, block.bit_length() - 3)) == 0  # a multiple of a power of two >= block / 8


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("blur_strength", 0.01),
        ("blur_strength", 1.0),
        ("fail_closed_strength", 0.01),
        ("fail_closed_strength", 1.0),
        ("max_blocks_across", 12),
        ("max_blocks_across", 1),
    ],
)
def test_strengths_that_would_not_redact_are_config_errors(key: str, value: float) -> None:
    with pytest.raises(ValueError, match=key):
        RenderConfig(**{key: value})
