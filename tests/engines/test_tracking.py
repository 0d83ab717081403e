"""Tracker behaviour on plain arrays: ids, hold, motion, bounds."""

from __future__ import annotations

import numpy as np
import pytest

from livefilter.engines.tracking import Tracker, TrackerSettings, box_iou


def boxes(*xyxy: tuple[float, float, float, float]) -> np.ndarray:
    return np.array(xyxy, np.float64).reshape(-1, 4)


def scores(n: int, value: float = 0.9) -> np.ndarray:
    return np.full(n, value)


def by_id(tracked):
    return {t.track_id: t for t in tracked}


def test_ids_are_stable_while_objects_move_and_new_objects_get_new_ids():
    tracker = Tracker()
    first = tracker.update(0.0, boxes((0, 0, 40, 40), (200, 0, 240, 40)), scores(2))
    assert sorted(t.track_id for t in first) == [1, 2]
    ids = {}
    for i in range(1, 10):  # both move 8 px per frame, in opposite directions, at 30 fps
        t = i / 30
        got = tracker.update(t, boxes((8 * i, 0, 40 + 8 * i, 40), (200 - 8 * i, 0, 240 - 8 * i, 40)), scores(2))
        assert len(got) == 2
        for tb in got:
            left = tb.box[0] < 120
            ids.setdefault(left, set()).add(tb.track_id)
    assert ids == {True: {1}, False: {2}}
    third = tracker.update(0.4, boxes((80, 0, 120, 40), (120, 0, 160, 40), (500, 300, 540, 340)), scores(3))
    assert sorted(t.track_id for t in third) == [1, 2, 3]


def test_order_of_detections_does_not_swap_ids():
    tracker = Tracker()
    tracker.update(0.0, boxes((0, 0, 40, 40), (300, 0, 340, 40)), scores(2))
    got = tracker.update(0.1, boxes((302, 0, 342, 40), (2, 0, 42, 40)), scores(2))
    assert by_id(got)[1].box[0] < 100 and by_id(got)[2].box[0] > 200


def test_track_holds_for_hold_s_after_its_last_detection_then_drops():
    tracker = Tracker(TrackerSettings(hold_s=0.5))
    tracker.update(0.0, boxes((100, 100, 150, 150)), scores(1))
    for t in (0.1, 0.3, 0.5):  # missed by the detector: still there
        assert [tb.track_id for tb in tracker.update(t, boxes(), scores(0))] == [1]
        assert [tb.track_id for tb in tracker.predict(t)] == [1]
    assert tracker.predict(0.51) == []
    assert len(tracker) == 0  # dead tracks are removed, not just hidden
    # A later detection at the same place is a new object with a new id.
    assert [tb.track_id for tb in tracker.update(0.6, boxes((100, 100, 150, 150)), scores(1))] == [2]


def test_hold_zero_keeps_only_this_frames_detections():
    tracker = Tracker(TrackerSettings(hold_s=0.0))
    tracker.update(0.0, boxes((0, 0, 10, 10)), scores(1))
    assert tracker.update(1 / 30, boxes(), scores(0)) == []


def test_velocity_is_estimated_in_pixels_per_second():
    tracker = Tracker()
    for i in range(6):  # 5 px right and 2 px down per frame at 25 fps = (125, 50) px/s
        got = tracker.update(i / 25, boxes((10 + 5 * i, 20 + 2 * i, 60 + 5 * i, 70 + 2 * i)), scores(1))
    np.testing.assert_allclose(got[0].velocity, [125.0, 50.0], rtol=1e-4)


def test_between_detections_the_box_follows_the_velocity_and_grows_with_age():
    tracker = Tracker(TrackerSettings(hold_s=2.0))
    tracker.update(0.0, boxes((0, 0, 100, 100)), scores(1))
    tracker.update(0.1, boxes((20, 0, 120, 100)), scores(1))  # 200 px/s to the right
    widths, centres = [], []
    for t in (0.1, 0.2, 0.4, 0.8):
        (tb,) = tracker.predict(t)
        centres.append((tb.box[0] + tb.box[2]) / 2)
        widths.append(tb.box[2] - tb.box[0])
        assert tb.age_s == pytest.approx(t - 0.1)
    follow = tracker.settings.max_follow_s  # 0.5 s: at 0.8 s it stopped following at 0.6 s
    expected = [70 + 200 * min(t - 0.1, follow) for t in (0.1, 0.2, 0.4, 0.8)]
    np.testing.assert_allclose(centres, expected, atol=1e-3)
    assert centres[-1] < 70 + 200 * 0.7 - 1
    assert widths[0] == pytest.approx(100)
    assert widths == sorted(widths) and widths[-1] > widths[1] > widths[0]
    # Growth is capped: a long-held box never grows beyond (1 + 2 * max_growth) its size.
    (tb,) = tracker.predict(2.0)
    assert tb.box[2] - tb.box[0] <= 100 * (1 + 2 * tracker.settings.max_growth) + 1e-3


def test_fast_motion_keeps_the_id_when_boxes_no_longer_overlap():
    tracker = Tracker()
    tracker.update(0.0, boxes((0, 0, 50, 50)), scores(1))
    tracker.update(1 / 30, boxes((40, 0, 90, 50)), scores(1))  # 1200 px/s
    got = tracker.update(2 / 30, boxes((80, 0, 130, 50)), scores(1))  # no overlap with the last box
    assert [tb.track_id for tb in got] == [1]
    # After a missed frame the prediction still meets the detection.
    got = tracker.update(4 / 30, boxes((160, 0, 210, 50)), scores(1))
    assert [tb.track_id for tb in got] == [1]


def test_speed_is_clamped_so_a_bad_match_cannot_fling_the_mask_away():
    settings = TrackerSettings(max_speed=4.0, match_distance=100.0)
    tracker = Tracker(settings)
    tracker.update(0.0, boxes((0, 0, 10, 10)), scores(1))
    (tb,) = tracker.update(0.01, boxes((500, 0, 510, 10)), scores(1))
    assert np.linalg.norm(tb.velocity) <= 4.0 * 10 + 1e-3


def test_labels_never_match_across_concepts():
    tracker = Tracker()
    tracker.update(0.0, boxes((0, 0, 50, 50)), scores(1), ["face"])
    got = tracker.update(0.1, boxes((0, 0, 50, 50)), scores(1), ["head"])
    assert sorted((tb.track_id, tb.label) for tb in got) == [(1, "face"), (2, "head")]


def test_tracks_are_bounded_by_max_tracks_keeping_the_freshest():
    tracker = Tracker(TrackerSettings(max_tracks=5, hold_s=100.0))
    for i in range(50):  # 50 distinct objects, one per frame, far apart
        tracker.update(i * 0.1, boxes((i * 100, 0, i * 100 + 20, 20)), scores(1))
        assert len(tracker) <= 5
    assert sorted(tb.track_id for tb in tracker.predict(5.0)) == [46, 47, 48, 49, 50]
    many = boxes(*[(i * 30, 500, i * 30 + 20, 520) for i in range(20)])
    assert len(tracker.update(6.0, many, scores(20))) == 5


def test_long_run_keeps_memory_bounded():
    """A months-long stream in miniature: objects come and go, nothing accumulates."""
    tracker = Tracker(TrackerSettings(hold_s=0.2, max_tracks=8))
    rng = np.random.default_rng(0)
    for i in range(3000):
        n = int(rng.integers(0, 4))
        xy = rng.uniform(0, 1000, (n, 2))
        tracker.update(i / 30, np.hstack([xy, xy + 40]), scores(n))
        assert len(tracker) <= 8
    assert tracker.predict(3000 / 30 + 1.0) == []
    assert len(tracker) == 0


def test_reset_forgets_tracks_but_never_reuses_ids():
    tracker = Tracker()
    tracker.update(0.0, boxes((0, 0, 10, 10)), scores(1))
    tracker.reset()
    assert tracker.predict(0.0) == []
    assert [tb.track_id for tb in tracker.update(0.1, boxes((0, 0, 10, 10)), scores(1))] == [2]


def test_mismatched_inputs_are_rejected():
    with pytest.raises(ValueError, match="expected as many scores"):
        Tracker().update(0.0, boxes((0, 0, 1, 1)), scores(2))
    with pytest.raises(ValueError, match="max_tracks"):
        TrackerSettings(max_tracks=0)


def test_box_iou():
    iou = box_iou(boxes((0, 0, 10, 10)), boxes((0, 0, 10, 10), (5, 0, 15, 10), (20, 20, 30, 30)))
    np.testing.assert_allclose(iou, [[1.0, 1 / 3, 0.0]])


def test_detector_jitter_on_a_still_face_is_not_motion():
    """Boxes of a still 24 px face wobble by a pixel or two between detections; followed as a
    velocity, that jitter would carry the held mask off the face within a second."""
    tracker = Tracker(TrackerSettings(hold_s=5.0))
    tracker.update(0.0, boxes((100, 100, 120, 124)), scores(1))
    got = tracker.update(1 / 30, boxes((102, 99, 122, 123)), scores(1))  # 2 px wobble = 60 px/s
    assert got[0].velocity.tolist() == [0.0, 0.0]
    (held,) = tracker.predict(1.5)
    assert abs((held.box[0] + held.box[2]) / 2 - 112) < 1e-3
    # A real move (half the face size in a frame) is motion.
    moved = tracker.update(2 / 30, boxes((112, 99, 132, 123)), scores(1))
    assert moved[0].velocity[0] > 100


def test_a_face_moving_about_its_own_size_per_detection_leaves_no_ghost_track():
    """A 40 px face at 480 px/s detected at 10 fps moves 1.2 of its sizes between detections:
    beyond the first match's gate while its track has no velocity yet. Each detection used to
    start a new track, and the ones left behind were held and grown for hold_s (the demo camera
    at 320x180, 10 fps: up to a quarter of the frame hidden)."""
    tracker = Tracker(TrackerSettings(hold_s=1.0))
    for i in range(6):
        t = i / 10
        x = 48.0 * i
        got = tracker.update(t, boxes((x, 100, x + 40, 140)), scores(1))
        assert [tb.track_id for tb in got] == [1], f"detection {i}: tracks {[tb.track_id for tb in got]}"
        # Between detections the track follows the face: its box at mid-interval covers it.
        mid = tracker.predict(t + 0.05)[0].box
        if i >= 1:
            assert mid[0] <= x + 24 and mid[2] >= x + 64


def test_a_young_track_is_continued_only_by_a_detection_nothing_else_took():
    tracker = Tracker()
    tracker.update(0.0, boxes((100, 100, 140, 140)), scores(1))  # track 1: A, seen once
    # A is seen again in place, and B appears 1.5 sizes away: A keeps its track, B gets its own.
    got = by_id(tracker.update(0.1, boxes((160, 100, 200, 140), (101, 100, 141, 140)), scores(2)))
    assert sorted(got) == [1, 2] and got[1].box[0] < 120 and got[2].box[0] > 150
    # A detection 2.5 sizes from a young track is another face: the young track is held, not moved.
    tracker = Tracker()
    tracker.update(0.0, boxes((100, 100, 140, 140)), scores(1))
    got = by_id(tracker.update(0.1, boxes((200, 100, 240, 140)), scores(1)))
    assert sorted(got) == [1, 2] and got[1].box[0] < 120
    # Only a track detected on the previous update is young: one held through a missed update
    # (maybe a face the detector lost) keeps its place.
    tracker = Tracker()
    tracker.update(0.0, boxes((100, 100, 140, 140)), scores(1))
    tracker.update(0.1, boxes(), scores(0))
    got = by_id(tracker.update(0.2, boxes((160, 100, 200, 140)), scores(1)))
    assert sorted(got) == [1, 2] and got[1].box[0] < 120


def circling(t: float, size: float = 60.0) -> np.ndarray:
    """The box of a face circling at 400 px/s on a 100 px radius (1600 px/s², 27 of its sizes/s², at 4 rad/s)."""
    cx, cy = 300 + 100 * np.cos(4 * t), 300 + 100 * np.sin(4 * t)
    return np.array([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2])


def test_a_held_track_follows_a_curving_path_round_the_curve():
    """The demo camera's face crosses its bar on a sharply curving path and the detector misses it
    for a few frames: a track held along the tangent it left on lost the face's edge (the
    tests/engines/test_occluder_crossing.py leak). Its acceleration carries it round the curve."""
    tracker = Tracker()
    for i in range(10):
        tracker.update(i / 30, circling(i / 30)[None], scores(1))
    for k in range(1, 5):  # missed for 4 frames: held along the tangent, the box lost the face from k = 2
        t = (9 + k) / 30
        (held,) = tracker.predict(t)
        face = circling(t)
        assert (held.box[:2] <= face[:2]).all() and (held.box[2:] >= face[2:]).all(), (
            f"{k} frames after the last detection the held box {held.box.round(1).tolist()} "
            f"does not cover the face {face.round(1).tolist()}"
        )
    # Round the curve: the held box's centre is off the face's by under a fifth of its size (22 px along the tangent).
    centre = (held.box[:2] + held.box[2:]) / 2
    assert np.linalg.norm(centre - (face[:2] + face[2:]) / 2) < 12.0


def test_detector_jitter_on_a_straight_path_is_no_acceleration():
    """A face moving straight on, its box corners jittering by 3 % of its size: held for 0.3 s, it stays
    about as near its line as with no acceleration model (6 px on average); jitter followed as
    acceleration (differences of successive velocities) flung it 53 px off on average."""
    rng = np.random.default_rng(0)
    off = []
    for _ in range(50):
        tracker = Tracker()
        for i in range(15):  # 150 px/s to the right at 30 fps
            tracker.update(i / 30, boxes((5 * i, 0, 5 * i + 40, 40)) + rng.normal(0, 1.2, 4), scores(1))
        (held,) = tracker.predict(14 / 30 + 0.3)
        off.append(float(np.linalg.norm((held.box[:2] + held.box[2:]) / 2 - (5 * 14 + 20 + 45, 20))))
    assert np.mean(off) < 8.0, f"held centre {np.mean(off):.1f} px off the line on average"


def test_a_face_sliding_behind_an_occluder_keeps_its_track():
    """Going behind a bar, a face's detected box shrinks against the bar's edge: its centre slows,
    which the fit takes for a deceleration. Found again past the bar on its straight path, it is still
    the same face, not a new track leaving the old one behind, held and grown, as a ghost."""
    tracker = Tracker()
    bar = (400, 460)
    for i in range(20):
        x1, x2 = 100 + 20 * i, 160 + 20 * i  # a 60 px face at 600 px/s to the right, at 30 fps
        if x2 > bar[0] and x1 < bar[1]:  # only what shows beside the bar is detected...
            x1, x2 = (x1, bar[0]) if x1 < bar[0] else (bar[1], x2)
        if x2 - x1 < 30:  # ...and too little of it is missed (frames 14-16)
            continue
        got = tracker.update(i / 30, boxes((x1, 100, x2, 160)), scores(1))
        assert [tb.track_id for tb in got] == [1], f"frame {i}: tracks {[tb.track_id for tb in got]}"
