"""The benchmark scoring (scripts/benchlib.py) on hand-made arrays."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import benchlib


def _masks(shape: tuple[int, int], *boxes: tuple[int, int, int, int]) -> np.ndarray:
    """(k, H, W) bool with one filled box (y0, y1, x0, x1) per face; None-size boxes are empty."""
    out = np.zeros((len(boxes), *shape), bool)
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        out[i, y0:y1, x0:x1] = True
    return out


def test_leak_fraction_counts_unredacted_visible_pixels():
    faces = _masks((10, 10), (0, 4, 0, 5), (5, 10, 5, 10), (0, 0, 0, 0))  # 20 px, 25 px, invisible
    redacted = np.zeros((10, 10), bool)
    redacted[0:4, 0:4] = True  # 16 of face 0's 20 pixels
    redacted[5:10, 5:10] = True  # all of face 1
    fractions = benchlib.face_leak_fractions(redacted, faces)
    assert fractions[0] == pytest.approx(4 / 20)
    assert fractions[1] == 0.0
    assert math.isnan(fractions[2])


def test_leak_fraction_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="face_masks"):
        benchlib.face_leak_fractions(np.zeros((4, 4), bool), np.zeros((1, 4, 5), bool))


@pytest.mark.parametrize(
    ("flags", "expected"),
    [([], 0), ([False, False], 0), ([True], 1), ([True, True, False, True, True, True, False], 3)],
)
def test_longest_run(flags, expected):
    assert benchlib.longest_run(flags) == expected


def test_leak_at_tau_is_strictly_more_than_tau():
    shape = (10, 10)
    face = _masks(shape, (0, 10, 0, 10))  # 100 px
    scorer = benchlib.LeakScorer(taus=(0.0, 0.05, 0.2))
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
    face, gone = _masks(shape, (0, 2, 0, 2)), _masks(shape, (0, 0, 0, 0))
    nothing = np.zeros(shape, bool)
    scorer = benchlib.LeakScorer(taus=(0.0,))
    for masks in (face, face, gone, face):
        scorer.add(nothing, masks)
    result = scorer.result()
    assert result.face_frames == 3
    assert result.leaks[0.0] == 3
    assert result.longest_run[0.0] == 2


def test_runs_are_per_face():
    shape = (4, 8)
    faces = _masks(shape, (0, 4, 0, 4), (0, 4, 4, 8))
    left, right = np.zeros(shape, bool), np.zeros(shape, bool)
    left[:, :4] = True  # face 0 hidden, face 1 shown
    right[:, 4:] = True
    scorer = benchlib.LeakScorer(taus=(0.0,))
    for redacted in (left, right, left, right):  # each face leaks every other frame
        scorer.add(redacted, faces)
    assert scorer.result().leaks[0.0] == 4
    assert scorer.result().longest_run[0.0] == 1


def test_over_redaction_and_fail_closed_frames():
    shape = (10, 10)
    face = _masks(shape, (0, 5, 0, 5))  # 25 face px, 75 non-face px
    redacted = np.zeros(shape, bool)
    redacted[0:5, 0:8] = True  # the face + 15 non-face pixels
    scorer = benchlib.LeakScorer(taus=(0.0,))
    scorer.add(redacted, face)
    assert scorer.result().over_redaction == pytest.approx(15 / 75)
    scorer.add(np.zeros(shape, bool), face, fully_redacted=True)  # counts as all redacted
    result = scorer.result()
    assert result.over_redaction == pytest.approx((15 + 75) / 150)
    assert result.leaks[0.0] == 0
    assert result.fully_redacted == 1


def test_merge_adds_counts_and_keeps_the_longest_run():
    shape = (2, 2)
    face = _masks(shape, (0, 2, 0, 2))
    a, b = benchlib.LeakScorer(taus=(0.0,)), benchlib.LeakScorer(taus=(0.0,))
    for _ in range(3):
        a.add(np.zeros(shape, bool), face)
    b.add(np.ones(shape, bool), face)
    merged = benchlib.merge([a.result(), b.result()])
    assert merged.face_frames == 4
    assert merged.leaks[0.0] == 3
    assert merged.longest_run[0.0] == 3


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
