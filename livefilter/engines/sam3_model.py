"""SAM3 streaming on live frames: transformers' ``Sam3VideoModel`` driven one frame at a time,
with bounded memory, per-prompt thresholds, our own de-duplication, and click tracking.

Imports torch and transformers at module level: only :class:`~livefilter.engines.sam3.Sam3Engine`
imports it, inside ``open()``.

What differs from calling transformers directly, and why:

- **No hub kernels.** transformers' SAM3 video code runs NMS and mask hole-filling with a
  kernel downloaded from the hub at run time and silently skips them when that fails
  (always, offline). Results must not depend on a download, so both are switched off
  (``det_nms_thresh = 0``, ``fill_hole_area = 0``) and detections are de-duplicated here
  (:func:`nms_masks`, greedy mask NMS at the checkpoint's ``det_nms_thresh``).
- **No quadratic memory.** transformers' ``mask_iou`` broadcasts an (N, M, H*W) boolean
  tensor (200 detections at 288x288 asked for 26 GB). :func:`mask_iou` computes the same
  IoUs with one matrix product in O((N+M) * H*W) memory; it replaces the module's function
  (bit-identical results: intersections are small integers, exact in float32).
- **Two thresholds, chosen for recall** (a missed object is a leak, an extra one only
  over-redacts): a detection starts a new track when it scores at least its prompt's own
  threshold (default 0.5; transformers starts tracks at ``new_det_thresh`` 0.7), and
  confirms an existing track of its prompt when it scores at least ``confirm_threshold``
  (default 0.3; transformers confirms at 0.5), or the prompt's threshold if that is lower.
  Raising a prompt's threshold therefore means fewer new tracks, never dropping a track the
  detector still sees.
- **Object hygiene**, which transformers switches off in streaming mode (objects are only
  ever added): at most ``max_per_prompt`` detections per prompt and frame and tracks per
  prompt, tracks not confirmed by a detection for ``unconfirmed_drop_frames`` frames are
  removed, and a track overlapping an older one of the same prompt (IoU >= 0.8) is merged
  into it.
- **Bounded memory**: see :mod:`livefilter.engines.sam3_memory`.
- **Detect every Nth frame**: the detector's DETR stages are skipped on the frames in
  between; the tracker (and the shared backbone) still run on every frame. A new text
  session's first frame and the first frame after any prompt change always run the
  detector, so no answer for new prompts is ever a tracker-only guess with nothing to track.
- **Clicks and boxes** are tracked by the same checkpoint's ``Sam3TrackerVideoModel``
  (``model.tracker_model``) in a second streaming session fed with the backbone features
  the text path already computed, so a click costs no second backbone pass.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import Sam3TrackerVideoProcessor, Sam3VideoModel, Sam3VideoProcessor
from transformers.models.sam3_tracker_video.modeling_sam3_tracker_video import (
    Sam3TrackerVideoInferenceSession,
)
from transformers.models.sam3_video import modeling_sam3_video
from transformers.models.sam3_video.modeling_sam3_video import Sam3VideoInferenceSession

from livefilter.engines.sam3_memory import attention_span, trim_detector_metadata, trim_tracker_memory
from livefilter.types import ClickRequest, Prompt

logger = logging.getLogger(__name__)

__all__ = [
    "Sam3Stream",
    "StreamObject",
    "StreamingSam3VideoModel",
    "apply_resolution",
    "mask_iou",
    "nms_masks",
]

#: Two tracks of one prompt whose masks overlap this much are one object.
DUPLICATE_IOU = 0.8


def mask_iou(pred_masks: torch.Tensor, gt_masks: torch.Tensor) -> torch.Tensor:
    """(N, M) IoU of boolean masks (N, H, W) and (M, H, W), in linear memory."""
    a = pred_masks.flatten(1).float()
    b = gt_masks.flatten(1).float()
    intersection = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - intersection
    return intersection / union.clamp(min=1)


modeling_sam3_video.mask_iou = mask_iou


def nms_masks(scores: torch.Tensor, mask_logits: torch.Tensor, iou_threshold: float, limit: int) -> torch.Tensor:
    """Indices of at most ``limit`` detections, best first, none overlapping a better one by
    more than ``iou_threshold`` (``iou_threshold <= 0`` keeps all, as transformers does)."""
    order = torch.argsort(scores, descending=True)
    if iou_threshold <= 0 or order.numel() <= 1:
        return order[:limit]
    binary = mask_logits[order] > 0
    ious = mask_iou(binary, binary).cpu()
    kept: list[int] = []
    for i in range(order.numel()):
        if not kept or float(ious[i, kept].max()) <= iou_threshold:
            kept.append(i)
            if len(kept) == limit:
                break
    return order[torch.tensor(kept, dtype=torch.long, device=order.device)]


class StreamingSam3VideoModel(Sam3VideoModel):
    """``Sam3VideoModel`` whose detection step does not depend on hub kernels and honours
    the session's per-prompt start thresholds, confirmation threshold, detection cap and
    detect-every-Nth switch.

    Loads any SAM3 video checkpoint (same weights, same config class).
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.nms_iou = float(config.det_nms_thresh)
        self.det_nms_thresh = 0.0  # transformers' NMS needs a hub kernel
        self.fill_hole_area = 0  # so does its hole filling
        self.new_det_thresh = 0.0  # replaced by each prompt's own start threshold (_associate_det_trk)
        self._start_thresholds: dict[int, float] = {}  # of the session being stepped, by prompt id

    def run_detection(
        self, inference_session: Sam3VideoInferenceSession, vision_embeds: Any
    ) -> dict[int, dict[str, torch.Tensor]]:
        session = inference_session
        if not isinstance(session, StreamSession):
            raise TypeError(f"expected a StreamSession, got {type(session).__name__}")
        session.frame_detections = {}
        self._start_thresholds = {
            prompt_id: session.prompt_thresholds.get(prompt_id, self.score_threshold_detection)
            for prompt_id in session.prompts
        }
        detections: dict[int, dict[str, torch.Tensor]] = {}
        for prompt_id in session.prompts:
            if not session.detect_now:
                detections[prompt_id] = {"bbox": torch.zeros(0, 4), "mask": torch.zeros(0, 1, 1), "scores": torch.zeros(0)}
                continue
            if prompt_id not in session.prompt_embeddings:
                session.prompt_embeddings[prompt_id] = self.detector_model.get_text_features(
                    input_ids=session.prompt_input_ids[prompt_id],
                    attention_mask=session.prompt_attention_masks[prompt_id],
                    return_dict=True,
                )
            out = self.detector_model(
                vision_embeds=vision_embeds,
                text_embeds=session.prompt_embeddings[prompt_id],
                attention_mask=session.prompt_attention_masks[prompt_id],
            )
            probs = (out.pred_logits.sigmoid() * out.presence_logits.sigmoid())[0]
            # Everything that may confirm a track; only the part above the start threshold
            # may start one (_associate_det_trk).
            threshold = min(self._start_thresholds[prompt_id], session.confirm_threshold)
            candidates = torch.nonzero(probs >= threshold).flatten()
            keep = candidates[nms_masks(probs[candidates], out.pred_masks[0, candidates], self.nms_iou,
                                        session.max_per_prompt)]
            detections[prompt_id] = {
                "bbox": out.pred_boxes[0, keep], "mask": out.pred_masks[0, keep], "scores": probs[keep],
            }
            session.frame_detections[prompt_id] = out.pred_masks[0, keep] > 0
        return detections

    def _associate_det_trk(
        self, det_masks: torch.Tensor, det_scores: torch.Tensor, trk_masks: torch.Tensor, trk_obj_ids: list[int],
        det_prompt_ids: torch.Tensor, trk_prompt_ids: torch.Tensor,
    ) -> tuple[Any, ...]:
        """transformers' matching, but a detection starts a new track only when it scores at
        least its own prompt's start threshold (not one global ``new_det_thresh``)."""
        new, *rest = super()._associate_det_trk(
            det_masks, det_scores, trk_masks, trk_obj_ids, det_prompt_ids, trk_prompt_ids
        )
        new = [i for i in new if float(det_scores[i]) >= self._start_thresholds[int(det_prompt_ids[i])]]
        return (new, *rest)


class _CountsFrames:
    """Knows the stream's length itself (one past the newest frame index), so neither
    trimming old frames nor starting the session mid-stream changes what the tracker
    believes it is: transformers reads object pointers only from frames below it."""

    frames_seen = 0

    @property
    def num_frames(self) -> int:
        return self.frames_seen

    def add_new_frame(self, pixel_values: torch.Tensor, frame_idx: int | None = None) -> int:
        frame_idx = super().add_new_frame(pixel_values, frame_idx)  # type: ignore[misc]
        self.frames_seen = max(self.frames_seen, frame_idx + 1)
        return frame_idx


class StreamSession(_CountsFrames, Sam3VideoInferenceSession):
    """A streaming text-prompt session that counts its own frames and carries the per-frame
    switches :class:`StreamingSam3VideoModel` reads."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prompt_thresholds: dict[int, float] = {}  # start thresholds, by prompt id
        self.confirm_threshold = 1.0  # set by Sam3Stream (1.0: confirming takes the start threshold)
        self.max_per_prompt = 16
        self.detect_now = True
        self.last_detected: int | None = None  # None: the next frame runs the detector
        self.frame_detections: dict[int, torch.Tensor] = {}


class ClickSession(_CountsFrames, Sam3TrackerVideoInferenceSession):
    """A streaming tracker session for point/box prompts that counts its own frames and can
    forget one object."""

    def remove_object(self, obj_id: int) -> None:
        if obj_id not in self._obj_id_to_idx:
            return
        remaining = [other for other in self.obj_ids if other != obj_id]
        old_index = {other: self._obj_id_to_idx[other] for other in remaining}
        for store in (self.point_inputs_per_obj, self.mask_inputs_per_obj, self.output_dict_per_obj,
                      self.frames_tracked_per_obj):
            moved = {new: store[old_index[other]] for new, other in enumerate(remaining)}
            store.clear()
            store.update(moved)
        self._obj_id_to_idx = OrderedDict((other, i) for i, other in enumerate(remaining))
        self._obj_idx_to_id = OrderedDict((i, other) for i, other in enumerate(remaining))
        self.obj_ids = remaining
        self.obj_with_new_inputs = [other for other in self.obj_with_new_inputs if other != obj_id]


def apply_resolution(config: Any, processor: Sam3VideoProcessor, size: int) -> None:
    """Run the model at ``size`` x ``size`` instead of its native size (a multiple of the patch size)."""
    vision = config.detector_config.vision_config
    patch = int(vision.backbone_config.patch_size)
    if size % patch:
        raise ValueError(f"resolution: expected a multiple of {patch}, got {size}")
    grid = size // patch
    config.image_size = size  # propagates to the detector backbone and the tracker
    vision.backbone_feature_sizes = [[4 * grid] * 2, [2 * grid] * 2, [grid] * 2]
    config.low_res_mask_size = 4 * grid
    processor.image_processor.size = {"height": size, "width": size}
    processor.image_processor.mask_size = {"height": 4 * grid, "width": 4 * grid}
    processor.video_processor.size = {"height": size, "width": size}
    processor.target_size = size


@dataclass(frozen=True, slots=True)
class StreamObject:
    """One object in one frame: ``key`` is ("text", model id) or ("click", caller's id)."""

    key: tuple[str, int]
    label: str
    score: float
    mask: np.ndarray  # (H, W) bool at the frame's size


class Sam3Stream:
    """One SAM3 model streaming over consecutive frames. Owned by one thread.

    Frames are numbered by the stream itself (0, 1, 2, ... per session): the tracker reads
    memory at fixed frame offsets, so frames the pipeline dropped must not leave gaps.
    """

    def __init__(
        self,
        model: StreamingSam3VideoModel,
        processor: Sam3VideoProcessor,
        *,
        device: torch.device,
        dtype: torch.dtype,
        window: int,
        max_per_prompt: int,
        unconfirmed_drop_frames: int,
        detect_every: int,
        confirm_threshold: float,
    ) -> None:
        self.model = model
        self.processor = processor
        self.click_processor = Sam3TrackerVideoProcessor(
            image_processor=processor.image_processor, video_processor=processor.video_processor
        )
        self.device, self.dtype = device, dtype
        self.window = window
        tracker_config = model.tracker_model.config
        self.cond_keep = tracker_config.max_cond_frame_num if tracker_config.max_cond_frame_num > 0 else window
        self.span = attention_span(tracker_config)
        self.max_per_prompt = max_per_prompt
        self.unconfirmed_drop_frames = unconfirmed_drop_frames
        self.detect_every = detect_every
        self.confirm_threshold = confirm_threshold
        self.prompts: tuple[Prompt, ...] = ()
        self.text_session: StreamSession | None = None
        self.click_session = self._new_click_session()
        self.frame_idx = 0
        self.last_confirmed: dict[int, int] = {}

    # ------------------------------------------------------------------ sessions

    def _session_kwargs(self) -> dict[str, Any]:
        return {"inference_device": self.device, "inference_state_device": self.device,
                "video_storage_device": self.device, "dtype": self.dtype}

    def _new_click_session(self) -> ClickSession:
        return ClickSession(**self._session_kwargs())

    def _new_text_session(self, prompts: Sequence[Prompt]) -> StreamSession | None:
        self.last_confirmed = {}
        if not prompts:
            return None
        session = StreamSession(**self._session_kwargs())
        session.max_per_prompt = self.max_per_prompt
        session.confirm_threshold = self.confirm_threshold
        self._add_prompts(session, prompts)
        return session

    def _add_prompts(self, session: StreamSession, prompts: Sequence[Prompt]) -> None:
        self.processor.add_text_prompt(session, [prompt.text for prompt in prompts])
        thresholds = {prompt.text: prompt.threshold for prompt in prompts}
        session.prompt_thresholds.update(
            {pid: thresholds[text] for pid, text in session.prompts.items() if text in thresholds}
        )
        # Room for a full set of tracks plus a full set of new detections per prompt: the
        # per-prompt cap is applied after each frame (transformers' own limit only warns and drops).
        self.model.max_num_objects = 2 * self.max_per_prompt * max(1, len(session.prompts))

    def set_prompts(self, prompts: Sequence[Prompt]) -> bool:
        """Search for ``prompts`` from the next frame on, which runs the detector whatever
        ``detect_every`` says. Returns True when the text session had to restart (a prompt
        was removed: transformers cannot drop one mid-stream)."""
        prompts = tuple(prompts)
        old_texts = {prompt.text for prompt in self.prompts}
        new_texts = {prompt.text for prompt in prompts}
        session = self.text_session
        restart = session is None or not old_texts <= new_texts
        if session is None or restart:
            self.text_session = self._new_text_session(prompts)
        else:
            added = [prompt for prompt in prompts if prompt.text not in old_texts]
            if added:
                self._add_prompts(session, added)
            thresholds = {prompt.text: prompt.threshold for prompt in prompts}
            session.prompt_thresholds = {pid: thresholds[text] for pid, text in session.prompts.items()}
            session.last_detected = None
        self.prompts = prompts
        return restart

    def reset(self) -> None:
        """Forget all temporal memory and click objects; keep the prompts."""
        self.text_session = self._new_text_session(self.prompts)
        self.click_session = self._new_click_session()
        self.frame_idx = 0

    @property
    def click_ids(self) -> list[int]:
        return list(self.click_session.obj_ids)

    def remove_click_object(self, object_id: int) -> None:
        self.click_session.remove_object(object_id)

    # ------------------------------------------------------------------ frames

    def step(self, rgb: np.ndarray, clicks: Sequence[ClickRequest] = ()) -> list[StreamObject]:
        """Process the next frame (H, W, 3 uint8 RGB); ``clicks`` are seeded on it first."""
        height, width = rgb.shape[:2]
        idx = self.frame_idx
        with torch.inference_mode():
            inputs = self.processor(images=rgb, device=self.device, return_tensors="pt")  # resize on the GPU
            pixels = inputs.pixel_values[0].to(self.device, self.dtype)
            objects: list[StreamObject] = []
            features = None
            if self.text_session is not None:
                objects += self._step_text(pixels, idx, height, width)
                features = self.text_session.cache.get_vision_features(idx)
            if clicks or self.click_session.obj_ids:
                objects += self._step_clicks(pixels, idx, height, width, clicks, features)
        self._trim(idx)
        self.frame_idx += 1
        return objects

    def _step_text(self, pixels: torch.Tensor, idx: int, height: int, width: int) -> list[StreamObject]:
        session = self.text_session
        assert session is not None
        # A new session (no detection yet) or new prompts detect now; then every Nth frame.
        session.detect_now = session.last_detected is None or idx - session.last_detected >= self.detect_every
        if session.detect_now:
            session.last_detected = idx
        out = self.model(inference_session=session, frame=pixels, frame_idx=idx)
        post = self.processor.postprocess_outputs(session, out, original_sizes=[[height, width]])
        removed, merged_into = self._hygiene(session, out, idx)
        ids = [int(i) for i in post["object_ids"].tolist()]
        masks = post["masks"].cpu().numpy()
        by_id = dict(zip(ids, masks))
        for duplicate, keeper in merged_into.items():
            if duplicate in by_id and keeper in by_id:
                by_id[keeper] = by_id[keeper] | by_id[duplicate]
        labels = {obj: session.prompts[session.obj_id_to_prompt_id[obj]] for obj in ids}
        objects = [
            StreamObject(("text", obj), labels[obj], float(score), by_id[obj])
            for obj, score in zip(ids, post["scores"].tolist())
            if obj not in removed and by_id[obj].any()  # non-overlap constraints can empty a mask
        ]
        for obj in removed:
            session.remove_object(obj)
            self.last_confirmed.pop(obj, None)
        return objects

    def _hygiene(self, session: StreamSession, out: Any, idx: int) -> tuple[set[int], dict[int, int]]:
        """Decide which tracks to remove (unconfirmed, duplicate, over the cap); returns the
        removed ids and, for duplicates, the older track each one is merged into."""
        live = [int(obj) for obj in session.obj_ids]
        low_res = {obj: out.obj_id_to_mask[obj][0] > 0 for obj in live if obj in out.obj_id_to_mask}
        prompt_of = {obj: session.obj_id_to_prompt_id[obj] for obj in live}
        removed: set[int] = set()
        merged_into: dict[int, int] = {}
        if session.detect_now:
            for obj in live:
                detections = session.frame_detections.get(prompt_of[obj])
                mask = low_res.get(obj)
                confirmed = (
                    mask is not None and detections is not None and len(detections) > 0
                    and float(mask_iou(mask[None], detections).max()) >= self.model.trk_assoc_iou_thresh
                )
                if confirmed or obj not in self.last_confirmed:
                    self.last_confirmed[obj] = idx
                elif idx - self.last_confirmed[obj] >= self.unconfirmed_drop_frames:
                    removed.add(obj)
        for prompt_id in set(prompt_of.values()):
            members = sorted(obj for obj in live if prompt_of[obj] == prompt_id and obj not in removed and obj in low_res)
            if len(members) > 1:
                stacked = torch.stack([low_res[obj] for obj in members])
                ious = mask_iou(stacked, stacked).cpu()
                for j in range(1, len(members)):
                    older = [i for i in range(j) if members[i] not in removed and float(ious[i, j]) >= DUPLICATE_IOU]
                    if older:
                        removed.add(members[j])
                        merged_into[members[j]] = members[older[0]]
            survivors = [obj for obj in live if prompt_of[obj] == prompt_id and obj not in removed]
            if len(survivors) > self.max_per_prompt:
                # Keep what the detector saw most recently (a stale track must not crowd out
                # a new detection), then the best scores.
                survivors.sort(key=lambda obj: (-self.last_confirmed.get(obj, idx),
                                                -session.obj_id_to_score.get(obj, 0.0), obj))
                removed.update(survivors[self.max_per_prompt:])
        return removed, merged_into

    def _step_clicks(
        self, pixels: torch.Tensor, idx: int, height: int, width: int,
        clicks: Sequence[ClickRequest], features: dict[str, Any] | None,
    ) -> list[StreamObject]:
        """Track the click objects on this frame. Clicks for a new object seed it here;
        clicks for an object already tracked *correct* it: the frame is tracked first (from
        the object's memory), then run again with the new points on top, and kept as a
        conditioning frame (SAM3's ``add_all_frames_to_correct_as_cond``). Seeding on the
        clicks alone would forget the object and keep only what the new points say. A
        correction frame costs a second tracker pass over the click objects."""
        session = self.click_session
        if features is None:
            vision_embeds = self.model.detector_model.get_vision_features(pixel_values=pixels.unsqueeze(0))
            feats, pos = self.model.get_vision_features_for_tracker(vision_embeds=vision_embeds)
            features = {"vision_feats": feats, "vision_pos_embeds": pos}
        session.cache.cache_vision_features(idx, features)
        tracked = set(session.obj_ids)
        corrections = [click for click in clicks if click.object_id in tracked]
        self._add_click_inputs(idx, height, width, [click for click in clicks if click.object_id not in tracked])
        out = self.model.tracker_model(inference_session=session, frame=pixels, frame_idx=idx)
        if corrections:
            self._add_click_inputs(idx, height, width, corrections)
            out = self.model.tracker_model(inference_session=session, frame=pixels, frame_idx=idx)
            for object_id in {click.object_id for click in corrections}:
                outputs = session.output_dict_per_obj[session.obj_id_to_idx(object_id)]
                outputs["cond_frame_outputs"][idx] = outputs["non_cond_frame_outputs"].pop(idx)
        logits = out.pred_masks.reshape(len(out.object_ids), 1, *out.pred_masks.shape[-2:]).float()
        masks = (F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)[:, 0] > 0)
        scores = out.object_score_logits.float().reshape(-1).sigmoid().tolist()
        masks_np = masks.cpu().numpy()
        return [
            StreamObject(("click", int(obj)), "click", score, mask)
            for obj, score, mask in zip(out.object_ids, scores, masks_np)
            if mask.any()
        ]

    def _add_click_inputs(self, idx: int, height: int, width: int, clicks: Sequence[ClickRequest]) -> None:
        """Put ``clicks`` on frame ``idx`` of the click session; the next tracker call reads them."""
        session = self.click_session
        for click in clicks:
            if click.box is not None:
                self.click_processor.add_inputs_to_inference_session(
                    session, frame_idx=idx, obj_ids=[click.object_id], input_boxes=[[list(click.box)]],
                    original_size=(height, width), clear_old_inputs=True,
                )
            if click.points:
                self.click_processor.add_inputs_to_inference_session(
                    session, frame_idx=idx, obj_ids=[click.object_id],
                    input_points=[[[list(point) for point in click.points]]], input_labels=[[list(click.labels)]],
                    original_size=(height, width), clear_old_inputs=False,
                )
        session.obj_with_new_inputs = sorted({click.object_id for click in clicks})

    def _trim(self, idx: int) -> None:
        if self.text_session is not None:
            trim_tracker_memory(self.text_session, idx, window=self.window, cond_keep=self.cond_keep)
            trim_detector_metadata(self.text_session, idx, window=self.window)
            self.last_confirmed = {obj: f for obj, f in self.last_confirmed.items() if obj in self.text_session.obj_ids}
        trim_tracker_memory(self.click_session, idx, window=self.window, cond_keep=self.cond_keep)
