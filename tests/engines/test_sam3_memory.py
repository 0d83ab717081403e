"""Trimming SAM3 session state to a window (pure dict work, no model needed)."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

from livefilter.engines.sam3_memory import attention_span, trim_detector_metadata, trim_tracker_memory


def session(frames: int, objects: list[int], cond: dict[int, list[int]]) -> SimpleNamespace:
    """A session shaped like transformers' after ``frames`` frames with ``objects`` tracked."""
    per_frame = {f: {} for f in range(frames)}
    return SimpleNamespace(
        processed_frames=dict(per_frame),
        output_dict_per_obj={
            i: {"cond_frame_outputs": {f: {} for f in cond.get(i, [])},
                "non_cond_frame_outputs": {f: {} for f in range(frames) if f not in cond.get(i, [])}}
            for i in range(len(objects))
        },
        frames_tracked_per_obj={i: dict(per_frame) for i in range(len(objects))},
        point_inputs_per_obj={i: {0: {}} for i in range(len(objects))},
        mask_inputs_per_obj={i: {frames - 1: {}} for i in range(len(objects))},
        obj_ids=list(objects),
        obj_id_to_tracker_score_frame_wise=defaultdict(dict, {f: {} for f in range(frames)}),
        suppressed_obj_ids=defaultdict(set, {f: set() for f in range(frames)}),
        obj_id_to_score={o: 0.9 for o in objects + [99]},
        obj_id_to_last_occluded={o: -1 for o in objects + [99]},
        obj_first_frame_idx={o: 0 for o in objects + [99]},
        trk_keep_alive={o: 30 for o in objects + [99]},
        unmatched_frame_inds=defaultdict(list, {objects[0]: list(range(frames)), 99: [1, 2]}),
        overlap_pair_to_frame_inds=defaultdict(list, {(objects[0], objects[1]): [3, frames - 1], (99, objects[0]): [5]}),
    )


def test_keeps_the_window_and_the_most_recent_conditioning_frames():
    s = session(100, [7, 8], cond={0: [0, 10, 20, 30, 40, 50, 97], 1: [5]})
    trim_tracker_memory(s, 99, window=4, cond_keep=4)
    assert list(s.processed_frames) == [99]
    assert sorted(s.output_dict_per_obj[0]["non_cond_frame_outputs"]) == [96, 98, 99]
    assert sorted(s.output_dict_per_obj[0]["cond_frame_outputs"]) == [30, 40, 50, 97]
    assert sorted(s.output_dict_per_obj[1]["cond_frame_outputs"]) == [5], "fewer than cond_keep: all kept"
    assert sorted(s.frames_tracked_per_obj[1]) == [96, 97, 98, 99]
    assert s.point_inputs_per_obj[0] == {} and s.mask_inputs_per_obj[0] == {99: {}}


def test_detector_bookkeeping_keeps_the_window_and_live_objects_only():
    s = session(100, [7, 8], cond={})
    trim_detector_metadata(s, 99, window=4)
    assert sorted(s.obj_id_to_tracker_score_frame_wise) == [96, 97, 98, 99]
    assert sorted(s.suppressed_obj_ids) == [96, 97, 98, 99]
    for mapping in (s.obj_id_to_score, s.obj_id_to_last_occluded, s.obj_first_frame_idx, s.trk_keep_alive):
        assert sorted(mapping) == [7, 8]
    assert dict(s.unmatched_frame_inds) == {7: [96, 97, 98, 99]}
    assert dict(s.overlap_pair_to_frame_inds) == {(7, 8): [99]}
    assert isinstance(s.unmatched_frame_inds, defaultdict), "transformers appends to it by key"


def test_attention_span_of_facebook_sam3():
    assert attention_span(SimpleNamespace(num_maskmem=7, max_object_pointers_in_encoder=16)) == 15
