"""Backfill (exact mode, file jobs): an object found late is hidden on the frames before too.

A detector finds some faces only after they have been in the picture for a while: a small or
shadowed face scores under the threshold until it comes closer, a face entering through a
frame edge is found once enough of it shows, a motion-blurred face once it slows down. A live
stream cannot go back; a file job can. The exact render holds back the last
``render.backfill_s`` seconds of engine results (a delay line, :class:`Backfill`); an object
that first shows up on a later frame of the same shot is also drawn on the held-back frames
where the engine did not have it, moved back along its measured motion and grown with the
time gap (as the tracker grows a held track), before those frames are published.

Pure functions of the results: the output is still a deterministic function of the file.
Nothing is ever removed from a frame's masks, only added.

Example:
    >>> from livefilter.types import Frame
    >>> def result(i, boxes):
    ...     masks = np.zeros((len(boxes), 60, 80), bool)
    ...     for k, (x0, y0, x1, y1) in enumerate(boxes):
    ...         masks[k, y0:y1, x0:x1] = True
    ...     ms = MaskSet(masks, np.ones(len(boxes)), ("face",) * len(boxes), np.arange(1, len(boxes) + 1),
    ...                  frame_index=i, t_capture=0.0)
    ...     return EngineResult(Frame(np.zeros((60, 80, 3), np.uint8), i, 0.0, pts=i / 10), ms, 0)
    >>> line = Backfill(backfill_s=0.5)
    >>> [r.frame.index for r in line.push(result(0, []))]  # held back
    []
    >>> ready = line.push(result(1, [(40, 20, 50, 30)])) + line.flush()
    >>> [(r.frame.index, len(r.masks)) for r in ready]  # the face found on frame 1 is hidden on frame 0 too
    [(0, 1), (1, 1)]
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np

from livefilter.runtime.inference import EngineResult
from livefilter.types import MaskSet

__all__ = ["GROWTH_PER_S", "LARGE_AREA", "LARGE_MIN_SCORE", "MAX_GROWTH", "MIN_SIMILARITY", "MOTION_UNCERTAINTY", "PATCH_PX", "SEARCH", "VELOCITY_SPAN_S", "Backfill", "backfill", "carried_back", "same_place"]

GROWTH_PER_S = 0.25
"""A mask carried back grows by this fraction of the object's size per second of the gap, per side
(half the tracker's growth for a held track: its motion is measured on both sides of the gap)...

Chosen on the leak benchmark (720p/1080p, file mode): growth 0.5 and motion 0.25 (the tracker's)
carried look-alikes on the 1080p pattern wall into more face-free frames (53 of 60 above 10 %
redacted, 47 without backfill); 0.25 and 0.25 left a 1500 px/s blurred face showing on 4 frames of
120; 0.25 and 0.4: 47 of 60 and 1 of 120."""

MOTION_UNCERTAINTY = 0.4
"""...and by this fraction of the distance it was moved back, per side..."""

MAX_GROWTH = 0.75
"""...capped at this fraction of its size, per side."""


VELOCITY_SPAN_S = 0.1
"""An object is carried back along its motion over its first this many seconds on the later
frames (the motion nearest the gap; a longer span averages a curving path into a wrong direction)."""


def _time(result: EngineResult) -> float:
    frame = result.frame
    return frame.pts if frame.pts is not None else frame.t_capture


def carried_back(mask: np.ndarray, shift: np.ndarray, gap_s: float) -> np.ndarray:
    """``mask`` (H, W bool) moved by ``shift`` (x, y px) and grown for a ``gap_s`` seconds' guess
    (:data:`GROWTH_PER_S`, :data:`MOTION_UNCERTAINTY`, :data:`MAX_GROWTH`); clipped to the frame."""
    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    out = np.zeros_like(mask)
    if len(xs) == 0:
        return out
    size = np.array([xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], np.float64)
    margin = np.minimum(size * GROWTH_PER_S * gap_s + MOTION_UNCERTAINTY * np.abs(shift), MAX_GROWTH * size)
    mx, my = (int(math.ceil(m)) for m in margin)
    dx, dy = (int(round(s)) for s in shift)
    # The moved, grown mask lies within this rectangle of the frame.
    x0, y0 = max(0, int(xs.min()) + dx - mx), max(0, int(ys.min()) + dy - my)
    x1, y1 = min(width, int(xs.max()) + 1 + dx + mx), min(height, int(ys.max()) + 1 + dy + my)
    if x0 >= x1 or y0 >= y1:
        return out  # moved wholly out of the frame
    # Source pixels that land in it.
    sx0, sy0, sx1, sy1 = x0 - dx, y0 - dy, x1 - dx, y1 - dy
    piece = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cx0, cy0, cx1, cy1 = max(0, sx0), max(0, sy0), min(width, sx1), min(height, sy1)
    if cx0 < cx1 and cy0 < cy1:
        piece[cy0 - sy0 : cy1 - sy0, cx0 - sx0 : cx1 - sx0] = mask[cy0:cy1, cx0:cx1]
    if mx or my:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * mx + 1, 2 * my + 1))
        # Pixels of the source beyond this rectangle grow into it too: dilate with a border.
        piece = cv2.dilate(piece, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    out[y0:y1, x0:x1] = piece.astype(bool)
    return out


PATCH_PX = 24
"""An object's patch is compared at this size (longer side, px) by :func:`same_place`."""

SEARCH = 0.5
"""...searched for within this share of its size around where its motion puts it (a fast,
blurred face's measured motion is a few pixels off)..."""

MIN_SIMILARITY = 0.5
"""...and must match there at least this well (normalised correlation) for the object to count as
already there on the earlier frame: a face that pops in (a cut the shot counter missed, a door
opening) is not carried back over the frames before it."""


def same_place(before: np.ndarray, after: np.ndarray, box: np.ndarray, shift: np.ndarray) -> bool:
    """Whether what ``box`` + ``shift`` (x0, y0, x1, y1; x, y) shows in the BGR picture ``after``
    (the next frame) is already near ``box`` in ``before``: its grey patch, scaled to
    :data:`PATCH_PX`, matches within :data:`SEARCH` of its size around ``box`` with a normalised
    correlation of at least :data:`MIN_SIMILARITY`. A patch mostly beyond the frame edge (entering
    or leaving) or without texture counts as there: nothing is left to compare."""
    height, width = before.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    ax0, ay0 = int(round(x0 + shift[0])), int(round(y0 + shift[1]))
    ax1, ay1 = int(round(x1 + shift[0])), int(round(y1 + shift[1]))
    cx0, cy0, cx1, cy1 = max(ax0, 0), max(ay0, 0), min(ax1, width), min(ay1, height)
    if cx1 - cx0 < 4 or cy1 - cy0 < 4 or (cx1 - cx0) * (cy1 - cy0) < 0.5 * max(w * h, 1.0):
        return True
    template = cv2.cvtColor(np.ascontiguousarray(after[cy0:cy1, cx0:cx1]), cv2.COLOR_BGR2GRAY)
    # Where that patch may be on the earlier frame: its place there, widened by SEARCH.
    bx0 = max(0, int(cx0 - shift[0] - SEARCH * w))
    by0 = max(0, int(cy0 - shift[1] - SEARCH * h))
    bx1 = min(width, int(cx1 - shift[0] + SEARCH * w) + 1)
    by1 = min(height, int(cy1 - shift[1] + SEARCH * h) + 1)
    if bx1 - bx0 < cx1 - cx0 or by1 - by0 < cy1 - cy0:
        return True  # its earlier place is mostly beyond the frame edge
    window = cv2.cvtColor(np.ascontiguousarray(before[by0:by1, bx0:bx1]), cv2.COLOR_BGR2GRAY)
    scale = min(1.0, PATCH_PX / max(cx1 - cx0, cy1 - cy0))
    if scale < 1.0:
        template = cv2.resize(template, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        window = cv2.resize(window, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if template.std() < 2.0 or window.shape[0] < template.shape[0] or window.shape[1] < template.shape[1]:
        return True
    score = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    return bool(np.nanmax(score) >= MIN_SIMILARITY)


def backfill(result: EngineResult, later: Sequence[EngineResult]) -> EngineResult:
    """``result`` with the objects it lacks that appear in ``later`` (the results after it, in
    order) without having been on ``result``'s frame: each carried back from its first later
    frame along its motion over the next :data:`VELOCITY_SPAN_S` (or its own velocity)."""
    masks = result.masks
    if masks is None or not later:
        return result
    t = _time(result)
    known = set(masks.object_ids.tolist())
    first: dict[int, tuple[EngineResult, int]] = {}
    last: dict[int, tuple[EngineResult, int]] = {}  # within VELOCITY_SPAN_S of the first
    best: dict[int, float] = {}  # highest score on the later frames
    for other in later:
        m = other.masks
        if (
            m is None
            or other.frame.shot != result.frame.shot
            or other.prompts_version != result.prompts_version
            or m.shape != masks.shape
        ):
            break  # not the same picture or question any more: nothing after it says anything here
        for k, object_id in enumerate(m.object_ids.tolist()):
            if object_id in known:
                continue
            best[object_id] = max(best.get(object_id, 0.0), float(m.scores[k]))
            start = first.setdefault(object_id, (other, k))
            if _time(other) - _time(start[0]) <= VELOCITY_SPAN_S:
                last[object_id] = (other, k)
    if not first:
        return result
    extra_masks, scores, labels, ids, velocities = [], [], [], [], []
    for object_id, (found, k) in first.items():
        fm = found.masks
        assert fm is not None
        bx0, by0, bx1, by1 = (int(v) for v in fm.boxes[k])
        if (bx1 - bx0) * (by1 - by0) >= LARGE_AREA * masks.shape[0] * masks.shape[1] and best[object_id] < LARGE_MIN_SCORE:
            continue
        t_first = _time(found)
        end, j = last[object_id]
        em = end.masks
        assert em is not None
        t_end = _time(end)
        if t_end - t_first > 1e-6:
            (fx0, fy0, fx1, fy1), (ex0, ey0, ex1, ey1) = fm.boxes[k], em.boxes[j]
            velocity = np.array([(ex0 + ex1 - fx0 - fx1) / 2, (ey0 + ey1 - fy0 - fy1) / 2]) / (t_end - t_first)
        else:
            velocity = fm.velocities[k].astype(np.float64)
        gap = max(0.0, t_first - t)
        if not _was_there(result, later, found, _core(fm.boxes[k]), velocity):
            continue
        carried = carried_back(np.asarray(fm.masks[k]), -velocity * gap, gap)
        if not carried.any():
            continue
        extra_masks.append(carried)
        scores.append(fm.scores[k])
        labels.append(fm.labels[k])
        ids.append(object_id)
        velocities.append(velocity)
    if not extra_masks:
        return result
    grown = MaskSet(
        masks=np.concatenate([np.asarray(masks.masks), np.stack(extra_masks)]),
        scores=np.concatenate([masks.scores, np.asarray(scores, np.float32)]),
        labels=masks.labels + tuple(labels),
        object_ids=np.concatenate([masks.object_ids, np.asarray(ids, np.int64)]),
        frame_index=masks.frame_index,
        t_capture=masks.t_capture,
        velocities=np.concatenate([masks.velocities, np.asarray(velocities, np.float32).reshape(-1, 2)]),
    )
    bounds = result.speed_bounds
    if bounds is not None:
        bounds = np.concatenate([bounds, np.linalg.norm(np.asarray(velocities).reshape(-1, 2), axis=1)])
    return replace(result, masks=grown, speed_bounds=bounds)


LARGE_AREA = 0.015
"""An object whose box covers this share of the frame or more is carried back only if it scored at
least ``LARGE_MIN_SCORE`` on some later frame. What a detector finds late is mostly small (distant,
shadowed, entering faces; a small look-alike costs little), or blurred by motion and then found
sharp; a large object found late with low scores is more likely a look-alike: on the leak
benchmark's pattern wall at 1080p, carrying those back raised over-redaction from 23 % to 28 %,
while real faces found late scored 0.97-1.0 (fast motion) or covered under 1.1 % (crowd)."""

LARGE_MIN_SCORE = 0.9

CORE = 0.5
"""The share of a mask's box (its centre, per side) compared by :func:`same_place`: a face mask
reaches well past the face, and background around it looks the same whether the face is there or not."""


def _core(box: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = (float(v) for v in box)
    mx, my = (1 - CORE) / 2 * (x1 - x0), (1 - CORE) / 2 * (y1 - y0)
    return np.array([x0 + mx, y0 + my, x1 - mx, y1 - my])


def _was_there(result: EngineResult, later: Sequence[EngineResult], found: EngineResult, box: np.ndarray,
               velocity: np.ndarray) -> bool:
    """Whether an object at ``box`` on ``found``'s frame was, moving at ``velocity``, already there on
    every frame from ``result``'s on (:func:`same_place` for each pair of consecutive frames)."""
    frames = [result] + [r for r in later if _time(r) <= _time(found)]
    t_found = _time(found)
    for before, after in zip(frames[-2::-1], frames[:0:-1]):  # backwards from the found frame
        at_after = box - np.tile(velocity * (t_found - _time(after)), 2)
        shift = velocity * (_time(after) - _time(before))
        if not same_place(before.frame.image, after.frame.image, at_after - np.tile(shift, 2), shift):
            return False
    return True


class Backfill:
    """The exact render's delay line: results go in, in order; each comes out ``backfill_s``
    seconds of media time later (or at :meth:`flush`), backfilled from the results after it.
    Owned by the render thread. ``backfill_s`` 0 passes every result straight through."""

    def __init__(self, backfill_s: float) -> None:
        if backfill_s < 0:
            raise ValueError(f"Backfill: expected backfill_s >= 0, got {backfill_s}")
        self.backfill_s = backfill_s
        self._held: deque[EngineResult] = deque()

    def push(self, result: EngineResult) -> list[EngineResult]:
        """Take the next result; return the results now due, oldest first."""
        due = []
        if self._held and _time(result) < _time(self._held[-1]):
            due = self.flush()  # time went back (a seek): the held results do not compare with it
        self._held.append(result)
        while self._held and _time(result) - _time(self._held[0]) >= self.backfill_s:
            due.append(self._release())
        return due

    def flush(self) -> list[EngineResult]:
        """Every held result (the source ended), oldest first."""
        return [self._release() for _ in range(len(self._held))]

    def _release(self) -> EngineResult:
        oldest = self._held.popleft()
        return backfill(oldest, list(self._held))
