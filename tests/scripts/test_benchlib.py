"""The benchmark scoring (scripts/benchlib.py) on hand-made arrays."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import benchlib


def _labels(shape: tuple[int, int], *boxes: tuple[int, int, int, int]) -> np.ndarray:
    """(H, W) uint8 label map with face i + 1 filling box (y0, y1, x0, x1); empty boxes = invisible faces."""
    out = np.zeros(shape, np.uint8)
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        out[y0:y1, x0:x1] = i + 1
    return out


def test_leak_fraction_counts_unredacted_visible_pixels():
    faces = _labels((10, 10), (0, 4, 0, 5), (5, 10, 5, 10), (0, 0, 0, 0))  # 20 px, 25 px, invisible
    redacted = np.zeros((10, 10), bool)
    redacted[0:4, 0:4] = True  # 16 of face 0's 20 pixels
    redacted[5:10, 5:10] = True  # all of face 1
    fractions = benchlib.face_leak_fractions(redacted, faces, 3)
    assert fractions[0] == pytest.approx(4 / 20)
    assert fractions[1] == 0.0
    assert math.isnan(fractions[2])


def test_one_visible_face_pixel_is_a_leak_at_zero():
    face = _labels((20, 20), (2, 18, 2, 18))
    redacted = np.ones((20, 20), bool)
    scorer = benchlib.LeakScorer(faces=1)
    scorer.add(redacted, face)
    redacted[17, 17] = False  # one face pixel shows
    scorer.add(redacted, face)
    redacted[17, 17], redacted[19, 19] = True, False  # a background pixel shows: no leak
    scorer.add(redacted, face)
    result = scorer.result()
    assert result.leaks[0.0] == 1 and result.leaks[0.05] == 0
    assert result.longest_run[0.0] == 1


def test_leak_fraction_rejects_mismatched_input():
    with pytest.raises(ValueError, match="labels"):
        benchlib.face_leak_fractions(np.zeros((4, 4), bool), np.zeros((4, 5), np.uint8), 1)
    with pytest.raises(ValueError, match="2 faces"):
        benchlib.face_leak_fractions(np.zeros((4, 4), bool), np.full((4, 4), 3, np.uint8), 2)


def test_labels_from_masks_numbers_faces_and_rejects_overlaps():
    masks = np.zeros((3, 4, 4), bool)
    masks[0, 0, 0] = masks[2, 3, 3] = True
    labels = benchlib.labels_from_masks(masks)
    assert labels[0, 0] == 1 and labels[3, 3] == 3 and labels.sum() == 4
    masks[1, 0, 0] = True
    with pytest.raises(ValueError, match="overlap"):
        benchlib.labels_from_masks(masks)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [([], 0), ([False, False], 0), ([True], 1), ([True, True, False, True, True, True, False], 3)],
)
def test_longest_run(flags, expected):
    assert benchlib.longest_run(flags) == expected


def test_leak_at_tau_is_strictly_more_than_tau():
    shape = (10, 10)
    face = _labels(shape, (0, 10, 0, 10))  # 100 px
    scorer = benchlib.LeakScorer(faces=1, taus=(0.0, 0.05, 0.2))
    for unredacted in (0, 5, 6, 20, 21):  # shown pixels per frame
        redacted = np.ones(shape, bool)
        redacted.reshape(-1)[:unredacted] = False
        scorer.add(redacted, face)
    result = scorer.result()
    assert result.face_frames == 5
    assert result.leaks == {0.0: 4, 0.05: 3, 0.2: 1}  # 5 % is not > 5 %, 20 % is not > 20 %
    assert result.leak_rate(0.0) == pytest.approx(4 / 5)
    assert result.longest_run == {0.0: 4, 0.05: 3, 0.2: 1}


def test_invisible_frames_break_a_run_and_are_not_counted():
    shape = (4, 4)
    face, gone = _labels(shape, (0, 2, 0, 2)), _labels(shape, (0, 0, 0, 0))
    nothing = np.zeros(shape, bool)
    scorer = benchlib.LeakScorer(faces=1, taus=(0.0,))
    for labels in (face, face, gone, face):
        scorer.add(nothing, labels)
    result = scorer.result()
    assert result.face_frames == 3
    assert result.leaks[0.0] == 3
    assert result.longest_run[0.0] == 2


def test_runs_are_per_face():
    shape = (4, 8)
    faces = _labels(shape, (0, 4, 0, 4), (0, 4, 4, 8))
    left, right = np.zeros(shape, bool), np.zeros(shape, bool)
    left[:, :4] = True  # face 0 hidden, face 1 shown
    right[:, 4:] = True
    scorer = benchlib.LeakScorer(faces=2, taus=(0.0,))
    for redacted in (left, right, left, right):  # each face leaks every other frame
        scorer.add(redacted, faces)
    assert scorer.result().leaks[0.0] == 4
    assert scorer.result().longest_run[0.0] == 1


def test_over_redaction_counts_non_face_pixels_outside_fail_closed_frames():
    shape = (10, 10)
    face = _labels(shape, (0, 5, 0, 5))  # 25 face px, 75 non-face px
    redacted = np.zeros(shape, bool)
    redacted[0:5, 0:8] = True  # the face + 15 non-face pixels
    scorer = benchlib.LeakScorer(faces=1, taus=(0.0,))
    scorer.add(redacted, face)
    assert scorer.result().over_redaction == pytest.approx(15 / 75)
    scorer.add(np.zeros(shape, bool), face, fully_redacted=True)  # never leaks, counted apart
    result = scorer.result()
    assert result.over_redaction == pytest.approx(15 / 75)
    assert result.leaks[0.0] == 0 and result.face_frames == 2
    assert result.fully_redacted == 1 and result.frames == 2


def test_heavily_redacted_and_face_free_frames():
    shape = (10, 10)
    face, none = _labels(shape, (0, 2, 0, 2)), _labels(shape, (0, 0, 0, 0))
    scorer = benchlib.LeakScorer(faces=1, taus=(0.0,))
    redacted = np.zeros(shape, bool)
    redacted.reshape(-1)[:30] = True  # 30 % of the frame
    scorer.add(redacted, face)  # 26 of 96 non-face pixels: > 25 %, but a face is visible
    small = np.zeros(shape, bool)
    small.reshape(-1)[:11] = True  # 11 % of a face-free frame
    scorer.add(small, none)
    tiny = np.zeros(shape, bool)
    tiny.reshape(-1)[:10] = True  # exactly 10 %: within the limit
    scorer.add(tiny, none)
    scorer.add(np.zeros(shape, bool), none, fully_redacted=True)  # fail-closed: not counted as over-redaction
    result = scorer.result()
    assert result.heavy_frames == 1 and result.heavy_share == pytest.approx(1 / 3)
    assert (result.face_free_frames, result.face_free_over) == (2, 1)
    assert result.over_pixels == 26 + 11 + 10 and result.nonface_pixels == 96 + 100 + 100


def test_face_free_frames_over_the_limit_are_attributed_to_the_engine_masks_or_the_render():
    shape = (10, 10)
    none = _labels(shape, (0, 0, 0, 0))
    scorer = benchlib.LeakScorer(faces=1, taus=(0.0,))
    over = np.zeros(shape, bool)
    over.reshape(-1)[:20] = True  # 20 % of a face-free frame
    scorer.add(over, none, engine_share=0.15)  # the engine's masks alone are over the limit: a phantom
    scorer.add(over, none, engine_share=0.05)  # the render hid the rest (hidden changes, grown masks)
    scorer.add(over, none)  # not known
    scorer.add(np.zeros(shape, bool), none, engine_share=0.5)  # not over the limit: not counted
    result = scorer.result()
    assert (result.face_free_frames, result.face_free_over, result.face_free_engine) == (4, 3, 1)
    assert benchlib.merge([result, result]).face_free_engine == 2


def test_merge_adds_counts_and_keeps_the_longest_run():
    shape = (2, 2)
    face = _labels(shape, (0, 2, 0, 2))
    a, b = benchlib.LeakScorer(faces=1, taus=(0.0,)), benchlib.LeakScorer(faces=1, taus=(0.0,))
    for _ in range(3):
        a.add(np.zeros(shape, bool), face)
    b.add(np.ones(shape, bool), face)
    empty = benchlib.LeakScorer(faces=1, taus=(0.0,))
    empty.add(np.ones((4, 4), bool), np.zeros((4, 4), np.uint8))  # a bigger face-free frame, all redacted
    merged = benchlib.merge([a.result(), b.result(), empty.result()])
    assert merged.face_frames == 4
    assert merged.leaks[0.0] == 3
    assert merged.longest_run[0.0] == 3
    # Pixels are pooled, not per-clip shares: 16 redacted non-face pixels of 16.
    assert merged.over_redaction == pytest.approx(16 / 16)
    assert merged.face_free_over == 1


def test_sentinel_is_excluded_from_inputs_and_detected_exactly():
    image = np.zeros((2, 3, 3), np.uint8)
    image[0, 0] = (7, 8, 9)
    clean = benchlib.exclude_sentinel(image)
    assert not benchlib.redacted_pixels(clean).any()
    assert (clean[0, 0] == (7, 8, 9)).all()  # other pixels untouched
    assert np.abs(clean.astype(int) - image).max() == 1
    out = clean.copy()
    out[1, 2] = benchlib.SENTINEL_BGR
    redacted = benchlib.redacted_pixels(out)
    assert redacted.sum() == 1 and redacted[1, 2]
    assert benchlib.inexact_pixels(out, clean, redacted) == 0
    out[0, 0] = (7, 8, 10)  # a blended pixel: neither redacted nor the input
    assert benchlib.inexact_pixels(out, clean, redacted) == 1


def test_rss_growth_starts_after_warmup():
    samples = [benchlib.RssSample(t, f, mb) for t, f, mb in [(0, 0, 100), (1, 50, 180), (2, 100, 185), (3, 150, 190)]]
    start, end, growth = benchlib.rss_growth(samples, warmup_frames=60)
    assert (start, end, growth) == (185, 187.5, 2.5)  # end = median of the last (up to) three
    with pytest.raises(ValueError, match="no RSS sample"):
        benchlib.rss_growth(samples, warmup_frames=1000)


def test_rss_slope_fits_growth_per_thousand_frames_after_the_start():
    samples = [benchlib.RssSample(0, 0, 100)] + [benchlib.RssSample(i, 1000 * i, 200 + 0.5 * i) for i in range(1, 6)]
    assert benchlib.rss_slope(samples, from_frames=1000) == pytest.approx(0.5)
    assert benchlib.rss_slope(samples, from_frames=0) > 0.5  # the warm-up jump counts when included
    with pytest.raises(ValueError, match="two frame counts"):
        benchlib.rss_slope(samples, from_frames=5000)
