"""Bounded memory for transformers' SAM3 streaming sessions.

A streaming ``Sam3VideoInferenceSession`` keeps every processed frame, every per-object
output and several per-frame bookkeeping dicts forever (some are deep-copied on every
frame, so time per frame creeps up too). The tracker only reads:

- the current frame's pixels (its vision features are cached separately);
- non-conditioning outputs of the last ``max(num_maskmem, max_object_pointers_in_encoder) - 1``
  frames (memory features and object pointers; 15 frames for ``facebook/sam3``);
- conditioning outputs: the ``max_cond_frame_num`` closest ones for memory attention, and
  *all* past ones for object pointers;
- the session's frame count: object pointers are read only from frames below it (the
  session counts it as one past the newest frame index, so a session started mid-stream
  reads as many as a fresh one).

So the trimming below keeps the last ``window`` frames of everything and, beyond the
window, the ``cond_keep`` most recent conditioning frames per object. With
``window >= attention_span(config)`` and at most ``cond_keep`` conditioning frames per
object, results equal an untrimmed session's exactly (``tests/engines/test_sam3.py``
proves it); only conditioning frames older than the window *and* beyond the
``cond_keep`` most recent are dropped, which removes their object pointers. The session
keeps counting frames itself (``StreamSession.num_frames``), so trimming never changes
the tracker's view of how long the stream is.

These functions only touch dicts and lists; they import nothing heavy.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

__all__ = ["attention_span", "session_size", "trim_detector_metadata", "trim_tracker_memory"]


def attention_span(tracker_config: Any) -> int:
    """How many past frames the tracker reads (memory frames and object pointers)."""
    return max(int(tracker_config.num_maskmem), int(tracker_config.max_object_pointers_in_encoder)) - 1


def _drop_before(mapping: MutableMapping[int, Any], oldest: int) -> None:
    for key in [key for key in mapping if key < oldest]:
        del mapping[key]


def _keep_only(mapping: MutableMapping[Any, Any], live: set[int]) -> None:
    for key in [key for key in mapping if key not in live]:
        del mapping[key]


def trim_tracker_memory(session: Any, frame_idx: int, *, window: int, cond_keep: int) -> None:
    """Forget tracker state older than ``window`` frames before ``frame_idx`` (inclusive window).

    Works on both ``Sam3VideoInferenceSession`` (text prompts) and
    ``Sam3TrackerVideoInferenceSession`` (clicks): they store per-object state the same way.
    """
    oldest = frame_idx - window + 1
    if session.processed_frames:
        # Only the current frame's pixels are ever read again (features are cached).
        _drop_before(session.processed_frames, frame_idx)
    for outputs in session.output_dict_per_obj.values():
        _drop_before(outputs["non_cond_frame_outputs"], oldest)
        cond = outputs["cond_frame_outputs"]
        if len(cond) > cond_keep:
            recent = set(sorted(cond)[-cond_keep:])
            for key in [key for key in cond if key < oldest and key not in recent]:
                del cond[key]
    for per_object in (session.frames_tracked_per_obj, session.point_inputs_per_obj, session.mask_inputs_per_obj):
        for per_frame in per_object.values():
            _drop_before(per_frame, oldest)


def trim_detector_metadata(session: Any, frame_idx: int, *, window: int) -> None:
    """Forget the text session's per-frame bookkeeping older than the window, and any
    per-object bookkeeping of objects no longer tracked."""
    oldest = frame_idx - window + 1
    live = {int(obj_id) for obj_id in session.obj_ids}
    _drop_before(session.obj_id_to_tracker_score_frame_wise, oldest)
    _drop_before(session.suppressed_obj_ids, oldest)
    for mapping in (session.obj_id_to_score, session.obj_id_to_last_occluded,
                    session.obj_first_frame_idx, session.trk_keep_alive):
        _keep_only(mapping, live)
    unmatched = session.unmatched_frame_inds
    for obj_id in list(unmatched):
        frames = [f for f in unmatched[obj_id] if f >= oldest] if obj_id in live else []
        if frames:
            unmatched[obj_id] = frames
        else:
            del unmatched[obj_id]
    overlaps = session.overlap_pair_to_frame_inds
    for pair in list(overlaps):
        frames = [f for f in overlaps[pair] if f >= oldest] if set(pair) <= live else []
        if frames:
            overlaps[pair] = frames
        else:
            del overlaps[pair]


def _count(values: Iterable[Any]) -> int:
    return sum(len(value) for value in values)


def session_size(session: Any) -> dict[str, int]:
    """Entry counts of everything that grows with frames or objects (for tests and benchmarks)."""
    sizes = {
        "frames": len(session.processed_frames or {}),
        "non_cond_outputs": _count(o["non_cond_frame_outputs"] for o in session.output_dict_per_obj.values()),
        "cond_outputs": _count(o["cond_frame_outputs"] for o in session.output_dict_per_obj.values()),
        "frames_tracked": _count(session.frames_tracked_per_obj.values()),
        "inputs": _count(session.point_inputs_per_obj.values()) + _count(session.mask_inputs_per_obj.values()),
    }
    if hasattr(session, "obj_id_to_tracker_score_frame_wise"):
        sizes.update(
            tracker_scores=len(session.obj_id_to_tracker_score_frame_wise),
            suppressed=len(session.suppressed_obj_ids),
            per_object=sum(len(m) for m in (session.obj_id_to_score, session.obj_first_frame_idx,
                                            session.trk_keep_alive, session.obj_id_to_last_occluded)),
            unmatched=_count(session.unmatched_frame_inds.values()),
            overlaps=_count(session.overlap_pair_to_frame_inds.values()),
        )
    return sizes
