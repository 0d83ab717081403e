"""Temporal memory for detector engines: detections become tracks with stable ids.

A track **holds** for ``hold_s`` after its last detection (a face the detector misses
for a few frames stays covered) and, between detections, **follows** its estimated
velocity, and over short misses its acceleration (a face on a curving path is followed
round the curve), while its box grows with the uncertainty of that guess. Pure numpy, no
engine or image code: time comes from the caller (media time: ``Frame.pts`` for files,
else ``Frame.t_capture``), so behaviour is deterministic.

Example:
    >>> tracker = Tracker(TrackerSettings(hold_s=1.0))
    >>> [t.track_id for t in tracker.update(0.0, np.array([[10, 10, 50, 50]]), np.array([0.9]))]
    [1]
    >>> moved = tracker.update(0.1, np.array([[20, 10, 60, 50]]), np.array([0.9]))
    >>> moved[0].track_id, moved[0].velocity.round(1).tolist()
    (1, [100.0, 0.0])
    >>> tracker.predict(0.2)[0].box.round(0).tolist()  # followed 10 px, grown with age
    [26.0, 8.0, 74.0, 52.0]
    >>> tracker.predict(1.2)  # held 1.0 s after the last detection, then dropped
    []
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["TrackedBox", "Tracker", "TrackerSettings", "box_iou"]


@dataclass(frozen=True, slots=True)
class TrackerSettings:
    """How tracks are matched, held, followed and bounded.

    Attributes:
        hold_s: a track lives this long after its last detection.
        max_tracks: most tracks kept; beyond it the stalest are dropped.
        match_iou: a detection continues a track when their boxes overlap this much...
        match_distance: ...or when their centres are closer than this many track sizes.
        velocity_smoothing: weight of the newest velocity measurement (0..1].
        growth_per_s: a predicted box grows by this fraction of its size per second of age.
        motion_uncertainty: and by this fraction of the distance it was moved, per side.
        max_growth: growth is capped at this fraction of the size, per side.
        max_speed: speeds are clamped to this many track sizes per second (a bad match
            must not fling a mask off the face).
        min_motion: velocity is measured from the last place the track was seen to move
            from, once it has moved this fraction of its size (shorter moves are detector jitter:
            a still face must not drift); not moving that far for ``max_follow_s`` measures 0.
        max_follow_s: a track follows its velocity for at most this long after its last
            detection, then stays where it got to (still growing with age).
        accel_window_s: acceleration is fitted (least squares, constant acceleration) to the
            track's detections of this many last seconds, three at least...
        accel_evidence: ...and kept only when it exceeds this many of its standard errors, the
            detections' scatter about the fit (at least ``jitter`` of the track's size) telling
            how far to trust it: detector jitter on a straight or still path is no acceleration.
        jitter: the least scatter assumed of a detection's centre, as a fraction of its size.
        max_accel: accelerations are clamped to this many track sizes per second squared.
        max_turn_s: a held track keeps changing its velocity by its acceleration for at most
            this long after its last detection: a face on a curving path is followed round the
            curve over a short miss, not along the tangent it left on.
        young_match_distance: a track detected once, on the previous update, that no detection
            continued, continues with a detection up to this many track sizes away that started
            no other match (it has no velocity yet to predict with): a face moving about its own
            size per detection (fast, or at a low frame rate) leaves no ghost track behind, held
            and grown for ``hold_s``. Detections are matched to tracks with a history first.
    """

    hold_s: float = 1.0
    max_tracks: int = 64
    match_iou: float = 0.2
    match_distance: float = 1.0
    velocity_smoothing: float = 0.6
    growth_per_s: float = 0.5
    motion_uncertainty: float = 0.25
    max_growth: float = 0.75
    max_speed: float = 30.0
    min_motion: float = 0.15
    max_follow_s: float = 0.5
    accel_window_s: float = 0.2
    accel_evidence: float = 3.0
    jitter: float = 0.02
    max_accel: float = 40.0
    max_turn_s: float = 0.3
    young_match_distance: float = 2.0

    def __post_init__(self) -> None:
        if self.hold_s < 0:
            raise ValueError(f"TrackerSettings.hold_s: expected >= 0, got {self.hold_s}")
        if self.max_tracks < 1:
            raise ValueError(f"TrackerSettings.max_tracks: expected >= 1, got {self.max_tracks}")
        if not 0 < self.velocity_smoothing <= 1:
            raise ValueError(
                f"TrackerSettings.velocity_smoothing: expected in (0, 1], got {self.velocity_smoothing}"
            )


@dataclass(frozen=True, slots=True)
class TrackedBox:
    """Where a track is believed to be at the time asked.

    Attributes:
        track_id: stable id (1, 2, ...), never reused within a tracker's life.
        box: (4,) float32 x1, y1, x2, y2, moved along the velocity and grown with age.
        score: score of the track's last detection.
        label: the concept it answers.
        velocity: (2,) float32 px/s (x, y).
        age_s: seconds since the track's last detection (0 on a detection).
    """

    track_id: int
    box: np.ndarray
    score: float
    label: str
    velocity: np.ndarray
    age_s: float


@dataclass(slots=True)
class _Track:
    track_id: int
    box: np.ndarray  # x1, y1, x2, y2 at the last detection
    t_detect: float
    score: float
    label: str
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float64))
    has_velocity: bool = False
    anchor: np.ndarray | None = None  # centre the velocity is measured from, and when
    t_anchor: float = 0.0
    hits: int = 1  # detections so far
    accel: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float64))  # px/s^2
    seen: np.ndarray = field(init=False)  # (n, 3) t, centre x, y of the detections in the last accel_window_s

    def __post_init__(self) -> None:
        self.seen = np.array([[self.t_detect, *_centers(self.box)]], np.float64)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of x1, y1, x2, y2 boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _fitted_accel(seen: np.ndarray, jitter_px: float, evidence: float) -> np.ndarray:
    """(2,) px/s^2: the acceleration of a constant-acceleration least-squares fit to ``seen``
    ((n, 3) t, x, y), or 0 when it is within ``evidence`` standard errors of 0 (or n < 3).

    The scatter about the fit (not below ``jitter_px``; just that with three detections, which a
    parabola fits exactly) measures the detections' noise, and the standard error of the
    acceleration follows from it and from how the times are spread.
    """
    if len(seen) < 3:
        return np.zeros(2)
    tau = seen[:, 0] - seen[-1, 0]
    design = np.stack([np.ones_like(tau), tau, tau * tau / 2], axis=1)
    coef, *_ = np.linalg.lstsq(design, seen[:, 1:], rcond=None)
    residual = seen[:, 1:] - design @ coef
    scatter2 = max(float((residual**2).sum()) / max(1, 2 * (len(seen) - 3)), jitter_px**2)
    stderr = np.sqrt(scatter2 * np.linalg.inv(design.T @ design)[2, 2])
    accel = coef[2]
    return accel if float(np.linalg.norm(accel)) > evidence * stderr else np.zeros(2)


def _clamped(vector: np.ndarray, limit: float) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector * (limit / norm) if norm > limit else vector


def _centers(boxes: np.ndarray) -> np.ndarray:
    return (boxes[..., :2] + boxes[..., 2:]) / 2


def _sizes(boxes: np.ndarray) -> np.ndarray:
    return np.sqrt(np.prod(np.clip(boxes[..., 2:] - boxes[..., :2], 1e-6, None), axis=-1))


class Tracker:
    """Turns per-frame detections into held, moving tracks. Owned by one thread.

    ``update(t, boxes, scores)`` on frames the detector ran on; ``predict(t)`` on the
    frames in between (norfair's ``period``). Both return every live track at ``t``.
    """

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._t_update: float | None = None  # time of the previous update

    def __len__(self) -> int:
        return len(self._tracks)

    def reset(self) -> None:
        """Forget every track (ids keep counting up, so an old id never returns)."""
        self._tracks.clear()
        self._t_update = None

    def update(
        self,
        t: float,
        boxes: np.ndarray,
        scores: np.ndarray,
        labels: tuple[str, ...] | list[str] | None = None,
    ) -> list[TrackedBox]:
        """Match this frame's detections (x1, y1, x2, y2) to tracks; unmatched ones start tracks.

        Only detections with the same label continue a track (no labels: all the same).
        """
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        labels = list(labels) if labels is not None else [""] * len(boxes)
        if not len(boxes) == len(scores) == len(labels):
            raise ValueError(
                f"Tracker.update: expected as many scores and labels as boxes ({len(boxes)}), "
                f"got {len(scores)} scores and {len(labels)} labels"
            )
        self._drop_expired(t)
        predicted = np.array([self._predicted_box(tr, t, grow=False) for tr in self._tracks]).reshape(-1, 4)
        # A track turning by a wrong acceleration (a face sliding behind an occluder slows its box's
        # centre) must still meet its face where the straight path puts it.
        straight = np.array([self._predicted_box(tr, t, grow=False, turn=False) for tr in self._tracks])
        pairs = self._match([predicted, straight.reshape(-1, 4)], boxes, labels)
        pairs += self._match_young(predicted, boxes, labels, pairs)
        for ti, di in pairs:
            self._continue(self._tracks[ti], t, boxes[di], float(scores[di]))
        self._t_update = t
        matched_dets = {di for _, di in pairs}
        for di in range(len(boxes)):
            if di not in matched_dets:
                self._tracks.append(_Track(self._next_id, boxes[di].copy(), t, float(scores[di]), labels[di]))
                self._next_id += 1
        self._bound()
        return self.predict(t)

    def predict(self, t: float) -> list[TrackedBox]:
        """Every live track at ``t``: moved along its velocity, grown with its age."""
        self._drop_expired(t)
        return [
            TrackedBox(
                track_id=tr.track_id,
                box=self._predicted_box(tr, t, grow=True).astype(np.float32),
                score=tr.score,
                label=tr.label,
                velocity=tr.velocity.astype(np.float32),
                age_s=max(0.0, t - tr.t_detect),
            )
            for tr in self._tracks
        ]

    # ------------------------------------------------------------------ internals

    def _predicted_box(self, tr: _Track, t: float, *, grow: bool, turn: bool = True) -> np.ndarray:
        """Where ``tr`` is at ``t``: moved along its velocity (and its acceleration if ``turn``),
        grown with its age if ``grow``."""
        s = self.settings
        age = max(0.0, t - tr.t_detect)
        follow = min(age, s.max_follow_s)
        turning = min(age, s.max_turn_s, s.max_follow_s) if turn else 0.0
        # Velocity plus acceleration for ``turning`` s, then straight on until ``follow`` s.
        shift = tr.velocity * follow + tr.accel * turning * (follow - turning / 2)
        box = tr.box + np.concatenate([shift, shift])
        if grow and age > 0:
            size = tr.box[2:] - tr.box[:2]
            margin = size * s.growth_per_s * age + s.motion_uncertainty * np.abs(shift)
            margin = np.minimum(margin, s.max_growth * size)
            box = box + np.concatenate([-margin, margin])
        return box

    def _match(self, predictions: list[np.ndarray], boxes: np.ndarray, labels: list[str]) -> list[tuple[int, int]]:
        """Greedy matching, closest (normalised centre distance) first, within the gates; each track
        at the nearest of its ``predictions`` (one (n_tracks, 4) array per motion guess)."""
        pairs: list[tuple[int, int]] = []
        if len(self._tracks) == 0 or len(boxes) == 0:
            return pairs
        s = self.settings
        iou = np.max([box_iou(predicted, boxes) for predicted in predictions], axis=0)
        dist = np.min([
            np.linalg.norm(_centers(predicted)[:, None] - _centers(boxes)[None], axis=2) / _sizes(predicted)[:, None]
            for predicted in predictions
        ], axis=0)
        same_label = np.array([[tr.label == lab for lab in labels] for tr in self._tracks])
        allowed = same_label & ((iou >= s.match_iou) | (dist <= s.match_distance))
        used_t: set[int] = set()
        used_d: set[int] = set()
        for flat in np.argsort(np.where(allowed, dist, np.inf), axis=None):
            ti, di = np.unravel_index(flat, dist.shape)
            if not allowed[ti, di]:
                break
            if ti in used_t or di in used_d:
                continue
            used_t.add(int(ti))
            used_d.add(int(di))
            pairs.append((int(ti), int(di)))
        return pairs

    def _match_young(
        self, predicted: np.ndarray, boxes: np.ndarray, labels: list[str], pairs: list[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """Second round, for what the first left over: tracks detected once, on the previous update,
        and detections within ``young_match_distance`` of them (closest first)."""
        s = self.settings
        used_t, used_d = {ti for ti, _ in pairs}, {di for _, di in pairs}
        young = [
            ti for ti, tr in enumerate(self._tracks)
            if ti not in used_t and tr.hits == 1 and tr.t_detect == self._t_update
        ]
        free = [di for di in range(len(boxes)) if di not in used_d]
        if not young or not free:
            return []
        dist = np.linalg.norm(_centers(predicted[young])[:, None] - _centers(boxes[free])[None], axis=2)
        dist = dist / _sizes(predicted[young])[:, None]
        same = np.array([[self._tracks[ti].label == labels[di] for di in free] for ti in young])
        dist = np.where(same & (dist <= s.young_match_distance), dist, np.inf)
        out: list[tuple[int, int]] = []
        taken_t: set[int] = set()
        taken_d: set[int] = set()
        for flat in np.argsort(dist, axis=None):
            yi, fi = np.unravel_index(flat, dist.shape)
            if not np.isfinite(dist[yi, fi]):
                break
            if yi in taken_t or fi in taken_d:
                continue
            taken_t.add(int(yi))
            taken_d.add(int(fi))
            out.append((young[int(yi)], free[int(fi)]))
        return out

    def _continue(self, tr: _Track, t: float, box: np.ndarray, score: float) -> None:
        s = self.settings
        tr.hits += 1
        size = float(_sizes(box))
        seen = np.vstack([tr.seen, [t, *_centers(box)]])
        tr.seen = seen[seen[:, 0] >= t - s.accel_window_s - 1e-9]
        tr.accel = _clamped(_fitted_accel(tr.seen, s.jitter * size, s.accel_evidence), s.max_accel * size)
        if tr.anchor is None:
            tr.anchor, tr.t_anchor = _centers(tr.box), tr.t_detect
        dt = t - tr.t_anchor
        moved = _centers(box) - tr.anchor
        measured: np.ndarray | None = None
        if dt > 1e-6 and float(np.linalg.norm(moved)) >= s.min_motion * size:
            measured = moved / dt
        elif dt >= s.max_follow_s:
            measured = np.zeros(2)  # still (or jittering in place) for a while
        if measured is not None:
            # ``measured`` is the mean velocity since the anchor, so the velocity at dt / 2; it and the
            # previous estimate (at the anchor's time) are both brought to ``t`` along the acceleration.
            now = _clamped(measured, s.max_speed * size) + tr.accel * (dt / 2)
            before = tr.velocity + tr.accel * dt
            a = s.velocity_smoothing if tr.has_velocity else 1.0
            tr.velocity = _clamped(a * now + (1 - a) * before, s.max_speed * size)
            tr.has_velocity = True
            tr.anchor, tr.t_anchor = _centers(box), t
        tr.box, tr.t_detect, tr.score = box.copy(), t, score

    def _drop_expired(self, t: float) -> None:
        hold = self.settings.hold_s
        self._tracks = [tr for tr in self._tracks if t - tr.t_detect <= hold]

    def _bound(self) -> None:
        limit = self.settings.max_tracks
        if len(self._tracks) > limit:
            # Keep the most recently detected, then the most confident.
            self._tracks.sort(key=lambda tr: (tr.t_detect, tr.score), reverse=True)
            del self._tracks[limit:]
