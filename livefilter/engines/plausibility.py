"""Plausibility: a face candidate that would hide much of the frame, or that the detector
was unsure of, is looked at again before it becomes a track.

A detector running on a downscaled frame sees textures at a scale where car grilles,
headlights and patterned fabric can read as faces. Such a phantom can be huge (a car
front in a 1080p frame scored 0.71 as one 1690x1080 face) and the tracker would hold and
grow it for a second. A real face is still a face when looked at again closer, at the
frame's own resolution; a coincidence of texture and scale is not: the reported 1690x1080
phantom scores 0 there at every scale tried.

A candidate is looked at again when it is

- *large*: its box covers ``large_area`` of the frame or more (its mask, ~1.5x the box
  plus the renderer's margin, would hide ~5 % of the picture or more) and is ``large_min_px``
  (64) or more on its longer side (frames up to ~490x280 only: above, 3 % of the frame is a
  larger box); or
- *marginal*: scored below ``marginal_score``, and the second look shows it at least
  ``min_zoom`` times larger than the detector saw it: it was found on a downscaled frame, or it
  is *small* (its box's longer side below ``small_px``) and is enlarged ``small_zoom`` x.

  Other marginal candidates (faces from ~32 px up at the frame's own pixels) are not looked at
  again by the same detector: turned and half faces score anywhere from 0.05 to 1.0 when looked
  at again, at any size.

A *medium* candidate (``second_opinion_px`` and ``second_opinion_area`` or more, not large), of
any score, that no look above covers is asked of a second, independent detector instead (a
*second opinion*, below), when there is one (``check(..., second=...)``).

Looking again runs the detector once more on a crop around the box (``context`` box
sizes of margin per side), rescaled so the box's longer side is at most ``target_px``
(``marginal_target_px`` for a marginal candidate), never upscaled past the frame's own
pixels but for a small marginal candidate. The candidate is *confirmed* when that run finds a face overlapping it
(``confirm_iou``) at ``confirm_score`` or more; otherwise it is dropped before the tracker
sees it, so an unconfirmed giant is never drawn, held or grown. A candidate overlapping a
face kept within the last ``remember_s`` is the same face moving on and is not looked at
again: a face filling a webcam's frame costs one extra detection on a crop when it
appears, not one per detection.

Small candidates. At 1080p, RetinaFace finds dozens of 10-20 px boxes at 0.3-0.6 in gravel,
polka-dot fabric and brick at the frame's own pixels, the same sizes and scores as real faces
~24 px tall in a crowd. Enlarged 2x (the detector's smallest anchors are 16 px), the real ones
score 0.91-1.0 and the texture 0-0.08 (the leak benchmark's crowd, small-face and pattern
scenes, 720p and 1080p: 70 faces, 44 phantoms). A small candidate already found on a 2x
enlarged crop (``detect_scale`` 2, the detector's own small-face confirmation) is not
enlarged again.

Medium candidates: a second opinion. A candidate 64 px or more and covering 0.7 % of the frame
or more, not large, found at the frame's own pixels if marginal (a blurred clock face, boxes in a
wall of pictures: held and grown, such a phantom hid 10-30 % of a 1080p frame), cannot be judged
by RetinaFace again: half faces 200 px tall at 720p score 0.04-0.57 at 96 px and 0.26-0.95 at
their own pixels, the phantoms up to 0.99 and 0.65; and RetinaFace is sure of the clock on some
frames (0.86). A second detector trained apart, CenterFace, asked about the same crop at the
frame's own pixels, tells them apart: the leak benchmark's pattern-wall and cut phantoms of that
size score 0.00-0.08 (the clock 0.02-0.05), half faces 0.24-0.69, real turned, edge and crowd
faces found marginally 0.13-0.87 and real faces found confidently 0.24-0.93
(``scripts/bench_plausibility.py``, the leak benchmark's scenes at 720p and 1080p). The candidate
is kept when CenterFace finds a face overlapping it (``confirm_iou``) at ``second_opinion_score``
or more. CenterFace misses motion-blurred faces (0.01-0.21) and is unsure of small ones, hence
the size limits (smaller candidates cost little when kept), and no candidate within
``second_opinion_near`` box sizes of a face of about its size kept within ``remember_s`` is
asked: a fast face has moved on from its last box. Medium car-grille phantoms (0.88-0.94) stay:
CenterFace scores them 0.25-0.38, like real turned faces.

A candidate the look does not confirm: a rescue. Half faces 400-600 px tall at 720p (a profile, a
face cut by the frame's edge) that RetinaFace found at 0.42-0.92 score 0.25-0.78 when it looks again,
at every look size, and were dropped. A large or marginal candidate of medium size or more
(``second_opinion_px``, ``second_opinion_area``) that its look does not confirm is therefore asked of
the second detector too, on its crop shrunk so the box is ``rescue_target_px`` (160) at most, and kept
at ``rescue_score`` (0.2) or more: there CenterFace scores those half faces 0.30-0.76 (4 of the 6 that
had a candidate, both schedules; the other two 0.00-0.06), and the look-alikes of that size the look
rejected in ``bench_plausibility.py``'s face-free pictures (every 2nd car photo, 159 looks) 0.09 at
most. Over all 666 face-free pictures it kept one: a car grille (``test_039.jpg`` at 1080p, exact
schedule, 0.28), which then hides 5.4 % of that frame. A look-alike the second detector turned down
is not asked again within ``remember_s``: found on every detection call, it cost 8-15 ms per call at
1080p in the leak benchmark's scenes, 2-4 ms with the memory.

Why two sizes. A confident candidate is looked at near native resolution (a box up to 320
px): shrunk to 96 px, real large faces turned 60-75 deg or cut in half (a profile, a face at
the frame's edge) that the detector found at 0.84-1.0 scored 0.3-0.8 and were dropped,
leaving a 400-600 px face at 720p wholly unredacted. A marginal candidate must convince at 96
px: near native resolution a clock face (0.32) and a motorbike's front (0.63) of the
scikit-image pictures scored above 0.8, at 96 px they do not. Large car-grille phantoms
that the detector scores 0.88-0.94 survive: RetinaFace, its landmarks and CenterFace rate
them like turned faces, so dropping them would cost recall (issue 16).

Pure numpy (plus an OpenCV resize) and ``detect`` callables; no engine or tracker code.

Example:
    >>> check = Plausibility()
    >>> boxes = np.array([[100, 0, 1790, 1080], [900, 500, 960, 570]], np.float32)
    >>> check.needs_check(boxes, np.array([0.71, 0.99]), (1080, 1920), detect_scale=1 / 3).tolist()
    [True, False]
    >>> nothing_there = lambda image, threshold: (np.zeros((0, 4)), np.zeros(0))
    >>> verdict = check.check(np.zeros((1080, 1920, 3), np.uint8), boxes, np.array([0.71, 0.99]),
    ...                       t=0.0, detect=nothing_there, detect_scale=1 / 3)
    >>> verdict.keep.tolist(), verdict.checked, verdict.rejected
    ([False, True], 1, 1)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from livefilter.engines.tracking import box_iou

__all__ = ["CONFIRM_SCORE", "DetectFn", "Plausibility", "PlausibilitySettings", "Verdict", "crop_for", "look_scale"]

#: Runs the face detector on a BGR picture at a score threshold; returns (n, 4) x1, y1,
#: x2, y2 boxes in that picture's pixels and their (n,) scores.
DetectFn = Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray]]

CONFIRM_SCORE = 0.8
"""Score a second look must reach. Near native resolution (confident candidates), real faces
found at >= 0.8 (labelled frontal faces, the real profile, half faces and faces turned 60-75
deg, 150-700 px tall at 720p) scored >= 0.84 again; at 96 px (marginal candidates) the
labelled faces scored >= 0.93, the car-front phantoms of the downscaled pass <= 0.69."""


@dataclass(frozen=True, slots=True)
class PlausibilitySettings:
    """When a candidate is looked at again, and how.

    Attributes:
        large_area: a box covering this share of the frame or more is checked...
        large_min_px: ...when its longer side is this long or more. In a small frame (a 320x180
            sub-stream) an ordinary face covers 3 %: found at the frame's own pixels (such a frame
            is never downscaled), where a downscaled pass's giant phantoms do not arise, and a face
            partly behind something scores below ``confirm_score`` when looked at again.
        marginal_score: a candidate scored below this is checked (when zoom helps).
        min_zoom: ...when the frame's pixels show it this many times larger than the detector saw it.
        context: margin of the crop around the box, in box sizes per side.
        target_px: a confident candidate's box longer than this is shrunk to it in the crop
            (never upscaled: a smaller box is looked at with the frame's own pixels).
        marginal_target_px: the same for a marginal candidate (scored below ``marginal_score``).
        small_px: a marginal candidate whose box's longer side is below this is *small*: its crop
            is enlarged towards ``marginal_target_px``, at most ``small_zoom`` times.
        small_zoom: how much a small marginal candidate's crop is enlarged at most.
        second_opinion_px: a candidate that no look above covers (not large; if marginal, found at
            the frame's own pixels and not small) whose box's longer side is this or more...
        second_opinion_area: ...and whose box covers this share of the frame or more is *medium*: a
            second detector looks at its crop at the frame's own pixels, when one is given.
        second_opinion_score: ...and must find a face overlapping it scored this high.
        second_opinion_near: a medium candidate whose centre lies within this many of its sizes of
            a face kept within ``remember_s`` is that face moving on: not asked.
        rescue_target_px: a large or marginal candidate of medium size or more that its second look
            did not confirm is asked of the second detector too, on its crop shrunk so the box's
            longer side is at most this (not when it overlaps one the second detector turned down
            within ``remember_s``: the same look-alike again)...
        rescue_score: ...and kept when that finds a face overlapping it scored this high.
        confirm_score: the second look must find a face scored this high...
        confirm_iou: ...overlapping the candidate this much.
        remember_s: a candidate overlapping a face kept this recently is not checked.
    """

    large_area: float = 0.03
    large_min_px: float = 64.0
    marginal_score: float = 0.8
    min_zoom: float = 1.5
    context: float = 0.5
    target_px: int = 320
    marginal_target_px: int = 96
    small_px: float = 32.0
    small_zoom: float = 2.0
    second_opinion_px: float = 64.0
    second_opinion_area: float = 0.007
    second_opinion_score: float = 0.1
    second_opinion_near: float = 1.5
    rescue_target_px: int = 160
    rescue_score: float = 0.2
    confirm_score: float = CONFIRM_SCORE
    confirm_iou: float = 0.3
    remember_s: float = 1.0

    def __post_init__(self) -> None:
        checks = [
            ("large_area", 0 < self.large_area <= 1, "in (0, 1]"),
            ("large_min_px", self.large_min_px >= 0, ">= 0"),
            ("marginal_score", 0 <= self.marginal_score <= 1, "in [0, 1]"),
            ("min_zoom", self.min_zoom >= 1, ">= 1"),
            ("context", self.context >= 0, ">= 0"),
            ("target_px", self.target_px >= 16, ">= 16"),
            ("marginal_target_px", self.marginal_target_px >= 16, ">= 16"),
            ("small_px", self.small_px >= 0, ">= 0"),
            ("small_zoom", self.small_zoom >= 1, ">= 1"),
            ("second_opinion_px", self.second_opinion_px >= 0, ">= 0"),
            ("second_opinion_area", 0 <= self.second_opinion_area <= 1, "in [0, 1]"),
            ("second_opinion_score", 0 < self.second_opinion_score <= 1, "in (0, 1]"),
            ("second_opinion_near", self.second_opinion_near >= 0, ">= 0"),
            ("rescue_target_px", self.rescue_target_px >= 16, ">= 16"),
            ("rescue_score", 0 < self.rescue_score <= 1, "in (0, 1]"),
            ("confirm_score", 0 < self.confirm_score <= 1, "in (0, 1]"),
            ("confirm_iou", 0 < self.confirm_iou <= 1, "in (0, 1]"),
            ("remember_s", self.remember_s >= 0, ">= 0"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"PlausibilitySettings.{name}: expected {expected}, got {getattr(self, name)!r}")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :meth:`Plausibility.check` decided for one frame's candidates.

    Attributes:
        keep: (n,) bool, the candidates that go on to the tracker.
        checked: how many were looked at again (one detector run on a small crop each),
            second opinions included.
        rejected: how many of those were dropped.
        second_opinions: how many of the looks were the second detector's.
    """

    keep: np.ndarray
    checked: int
    rejected: int
    second_opinions: int = 0


def look_scale(longest: np.ndarray | float, score: np.ndarray | float, settings: PlausibilitySettings) -> np.ndarray:
    """The factor a second look resizes the frame's pixels by, for boxes whose longer side is
    ``longest`` scored ``score``: down to ``target_px`` (``marginal_target_px`` when marginal),
    never up, except a small marginal box, enlarged up to ``small_zoom`` x.

    Example:
        >>> look_scale(np.array([640.0, 640.0, 60.0, 20.0, 20.0]), np.array([0.9, 0.5, 0.5, 0.5, 0.9]),
        ...            PlausibilitySettings()).tolist()
        [0.5, 0.15, 1.0, 2.0, 1.0]
    """
    longest = np.maximum(np.asarray(longest, np.float64), 1.0)
    marginal = np.asarray(score, np.float64) < settings.marginal_score
    target = np.where(marginal, settings.marginal_target_px, settings.target_px)
    limit = np.where(marginal & (longest < settings.small_px), settings.small_zoom, 1.0)
    return np.minimum(limit, target / longest)


def crop_for(
    box: np.ndarray, shape: tuple[int, int], settings: PlausibilitySettings, score: float = 1.0
) -> tuple[int, int, int, int, float]:
    """``x0, y0, x1, y1, scale``: the region of a ``shape`` (H, W) frame to look at again
    for ``box`` scored ``score``, and the factor to resize it by (:func:`look_scale`).

    Example:
        >>> crop_for(np.array([100, 100, 292, 292]), (1080, 1920), PlausibilitySettings())
        (4, 4, 388, 388, 1.0)
        >>> crop_for(np.array([100, 100, 292, 292]), (1080, 1920), PlausibilitySettings(), score=0.5)
        (4, 4, 388, 388, 0.5)
        >>> crop_for(np.array([100, 0, 1790, 1080]), (1080, 1920), PlausibilitySettings())[4]  # doctest: +ELLIPSIS
        0.189...
        >>> crop_for(np.array([100, 100, 116, 120]), (1080, 1920), PlausibilitySettings(), score=0.4)
        (92, 90, 124, 130, 2.0)
    """
    height, width = shape
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    m = settings.context
    x0, y0 = max(0, int(np.floor(x1 - m * w))), max(0, int(np.floor(y1 - m * h)))
    xe, ye = min(width, int(np.ceil(x2 + m * w))), min(height, int(np.ceil(y2 + m * h)))
    scale = float(look_scale(max(w, h), score, settings))
    return x0, y0, max(xe, x0 + 1), max(ye, y0 + 1), scale


class Plausibility:
    """Confirms or drops face candidates before they become tracks. Owned by one thread.

    ``check(...)`` on every detection frame; ``reset()`` when the scene changes (a cut,
    a reconnect, new prompts), so no face is taken as known across it.
    """

    def __init__(self, settings: PlausibilitySettings | None = None) -> None:
        self.settings = settings or PlausibilitySettings()
        self.reset()

    def reset(self) -> None:
        """Forget every known face (and every candidate the second detector turned down)."""
        self._known = np.zeros((0, 4), np.float64)
        self._t_known = np.zeros(0, np.float64)
        self._declined = np.zeros((0, 4), np.float64)
        self._t_declined = np.zeros(0, np.float64)

    def needs_check(
        self, boxes: np.ndarray, scores: np.ndarray, shape: tuple[int, int], *, detect_scale: float | np.ndarray
    ) -> np.ndarray:
        """(n,) bool: candidates large for a ``shape`` (H, W) frame, or marginal where the
        frame's pixels would show them ``min_zoom`` times larger than the detector saw them
        (it ran on the frame resized by ``detect_scale``: one factor, or one per candidate)."""
        s = self.settings
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        sizes = np.clip(boxes[:, 2:] - boxes[:, :2], 0, None)
        large = (sizes.prod(axis=1) >= s.large_area * shape[0] * shape[1]) & (sizes.max(axis=1) >= s.large_min_px)
        scores = np.asarray(scores, np.float64).reshape(-1)
        zooms = look_scale(sizes.max(axis=1), scores, s) >= s.min_zoom * np.asarray(detect_scale, np.float64)
        return large | ((scores < s.marginal_score) & zooms)

    def needs_second_opinion(
        self, boxes: np.ndarray, scores: np.ndarray, shape: tuple[int, int], *, detect_scale: float | np.ndarray
    ) -> np.ndarray:
        """(n,) bool: *medium* candidates, of any score, which :meth:`needs_check` leaves alone (not
        large; if marginal, found at the frame's own pixels and not small), ``second_opinion_px``
        or more on their longer side and covering ``second_opinion_area`` of a ``shape`` (H, W)
        frame or more."""
        medium = self.medium_sized(boxes, shape)
        return medium & ~self.needs_check(boxes, scores, shape, detect_scale=detect_scale)

    def medium_sized(self, boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """(n,) bool: boxes ``second_opinion_px`` or more on their longer side and covering
        ``second_opinion_area`` of a ``shape`` (H, W) frame or more (large ones too): the sizes the
        second detector is asked about."""
        s = self.settings
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        sizes = np.clip(boxes[:, 2:] - boxes[:, :2], 0, None)
        medium = sizes.max(axis=1) >= max(s.second_opinion_px, s.small_px)
        return medium & (sizes.prod(axis=1) >= s.second_opinion_area * shape[0] * shape[1])

    def check(
        self,
        image: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        *,
        t: float,
        detect: DetectFn,
        detect_scale: float | np.ndarray,
        second: DetectFn | None = None,
    ) -> Verdict:
        """Which of this frame's candidates (boxes in ``image``'s pixels, found on ``image``
        resized by ``detect_scale``, one factor or one per candidate) to keep. ``detect`` looks
        again at large and marginal candidates; ``second``, an independent detector, at medium
        ones (None: they are kept)."""
        s = self.settings
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        recent = t - self._t_known <= s.remember_s
        self._known, self._t_known = self._known[recent], self._t_known[recent]
        shape = image.shape[:2]
        suspect = self.needs_check(boxes, scores, shape, detect_scale=detect_scale)
        sized = self.medium_sized(boxes, shape)  # the sizes the second detector is asked about
        medium = sized & ~suspect if second is not None else np.zeros(len(boxes), bool)  # needs_second_opinion
        if len(self._known) and (suspect.any() or medium.any()):
            suspect &= ~(box_iou(boxes, self._known) >= s.confirm_iou).any(axis=1)
            medium &= ~self._near_known(boxes)
        keep = np.ones(len(boxes), bool)
        for i in np.flatnonzero(suspect):
            x0, y0, x1, y1, scale = crop_for(boxes[i], shape, s, float(scores[i]))
            keep[i] = self._found_again(image, boxes[i], (x0, y0, x1, y1), scale, detect, s.confirm_score)
        rescue = np.zeros(len(boxes), bool)
        if second is not None:
            for i in np.flatnonzero(medium):
                x0, y0, x1, y1, _ = crop_for(boxes[i], shape, s)
                keep[i] = self._found_again(image, boxes[i], (x0, y0, x1, y1), 1.0, second, s.second_opinion_score)
            rescue = suspect & ~keep & sized
            recent = t - self._t_declined <= s.remember_s
            self._declined, self._t_declined = self._declined[recent], self._t_declined[recent]
            if len(self._declined) and rescue.any():  # the same look-alike again: not asked on every call
                rescue &= ~(box_iou(boxes, self._declined) >= s.confirm_iou).any(axis=1)
            for i in np.flatnonzero(rescue):
                x0, y0, x1, y1, _ = crop_for(boxes[i], shape, s)
                scale = min(1.0, s.rescue_target_px / max(float(np.max(boxes[i, 2:] - boxes[i, :2])), 1.0))
                keep[i] = self._found_again(image, boxes[i], (x0, y0, x1, y1), scale, second, s.rescue_score)
            declined = boxes[rescue & ~keep]
            self._declined = np.concatenate([self._declined, declined])
            self._t_declined = np.concatenate([self._t_declined, np.full(len(declined), t)])
        kept = boxes[keep]
        if len(kept):
            moved_on = (box_iou(self._known, kept) >= s.confirm_iou).any(axis=1)
            self._known = np.concatenate([self._known[~moved_on], kept])
            self._t_known = np.concatenate([self._t_known[~moved_on], np.full(len(kept), t)])
        looked = suspect | medium
        return Verdict(keep, int(looked.sum()), int((~keep).sum()), int(medium.sum() + rescue.sum()))

    def _near_known(self, boxes: np.ndarray) -> np.ndarray:
        """(n,) bool: a face kept recently overlaps each box (``confirm_iou``), or is of about its
        size (half to twice) and lies within ``second_opinion_near`` box sizes of it (centre to
        centre, in the box's longer side): the same face, moved on, perhaps too fast to overlap its
        last box (motion blur is what the second detector misses). A small face kept inside a
        medium box (a texture confirmed enlarged) does not vouch for the box."""
        s = self.settings
        overlaps = (box_iou(boxes, self._known) >= s.confirm_iou).any(axis=1)
        centres, known = (boxes[:, :2] + boxes[:, 2:]) / 2, (self._known[:, :2] + self._known[:, 2:]) / 2
        longest = np.clip(boxes[:, 2:] - boxes[:, :2], 1, None).max(axis=1)[:, None]
        known_longest = np.clip(self._known[:, 2:] - self._known[:, :2], 1, None).max(axis=1)[None, :]
        distance = np.linalg.norm(centres[:, None, :] - known[None, :, :], axis=2)
        alike = (known_longest >= longest / 2) & (known_longest <= 2 * longest)
        return overlaps | (alike & (distance <= s.second_opinion_near * longest)).any(axis=1)

    def _found_again(
        self,
        image: np.ndarray,
        box: np.ndarray,
        region: tuple[int, int, int, int],
        scale: float,
        detect: DetectFn,
        threshold: float,
    ) -> bool:
        """Whether ``detect`` finds a face overlapping ``box`` (``confirm_iou``) at ``threshold`` or
        more in ``region`` (x0, y0, x1, y1) of ``image`` resized by ``scale``."""
        x0, y0, x1, y1 = region
        crop = image[y0:y1, x0:x1]
        if scale != 1.0:
            size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        found, _ = detect(np.ascontiguousarray(crop), threshold)
        found = np.asarray(found, np.float64).reshape(-1, 4)
        if len(found) == 0:
            return False
        found = found / scale + np.array([x0, y0, x0, y0], np.float64)
        return bool((box_iou(box, found) >= self.settings.confirm_iou).any())
