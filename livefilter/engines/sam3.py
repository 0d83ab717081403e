"""Meta's SAM3 on Hugging Face transformers: say "face", "license plate", "computer screen",
and every instance is segmented and tracked with temporal memory.

SAM3 runs on a CUDA GPU in bfloat16, or on a CPU in float32 at tens of seconds per frame at
full size (``scripts/bench_sam3.py``: fine for an image, too slow for live video), which
``open()`` says plainly before the first frame. ``engine: auto`` only picks it when a GPU and
the weights are present (:func:`sam3_unavailable_reason`); ``engine: sam3`` runs it anywhere.

Streaming, memory bounds, object hygiene and click tracking live in
:mod:`livefilter.engines.sam3_model` (imported in ``open()``: torch and transformers load
only when this engine runs); weights are found by :mod:`livefilter.engines.sam3_loading`.

Clicks and boxes (for a UI or an API; callable from any thread)::

    engine.add_points(None, [(320, 240)], [1], object_id=1)   # next frame, one positive click
    engine.add_points(None, [(330, 250), (300, 200)], [1, 0], object_id=1)  # correct: +1 / -1
    engine.add_box(None, (100, 80, 220, 260), object_id=2)    # a second object, by its box
    engine.add_click(320, 240, object_id=3)                   # shorthand for one point
    engine.remove_object(2)                                   # stop tracking object 2

Coordinates are pixels of the frames given to ``infer``. ``frame_index`` None seeds the
object on the next frame the engine processes; an index seeds it on the first processed
frame whose ``Frame.index`` is at least that (a click on a frame already past lands on the
next one). Points for an object already tracked correct it on that frame, on top of what
its memory says (the frame is tracked first, then refined with the new points, and kept as a
conditioning frame); they never re-seed it from the new points alone. Click objects appear in
the MaskSet with label ``"click"`` and object id
``click_track_id(object_id)`` (= ``CLICK_ID_BASE + object_id``), next to the text objects,
until removed or ``reset()``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from livefilter.config.engine import Sam3Config
from livefilter.engines.sam3_loading import (
    check_installed,
    dependency_problem,
    load_model,
    locate_weights,
    require_dependencies,
    weights_missing_reason,
)
from livefilter.errors import EngineError
from livefilter.lifecycle import Lifecycle
from livefilter.types import ClickRequest, Frame, MaskSet, Prompt

logger = logging.getLogger(__name__)

__all__ = ["CLICK_ID_BASE", "ClickRequest", "Sam3Engine", "click_track_id", "sam3_unavailable_reason"]

#: Object ids of click objects in a MaskSet start here; text objects count up from 1.
CLICK_ID_BASE = 1 << 40
#: Full-size SAM3 on the CPU, from ``scripts/bench_sam3.py --full-size`` (random weights,
#: 1008 px, one prompt, one track; 2 cores): parameters, cores, seconds per frame by dtype.
#: More tracked objects cost more (the issue measured ~100 s / ~30 s with many of them).
_CPU_PARAMS, _CPU_CORES = 859_921_848, 2
_CPU_SECONDS = {"float32": 46.0, "bfloat16": 23.0}


def click_track_id(object_id: int) -> int:
    """The MaskSet object id of click object ``object_id``."""
    return CLICK_ID_BASE + int(object_id)


def sam3_unavailable_reason(settings: Sam3Config) -> str | None:
    """Why ``engine: auto`` should not pick SAM3 here, or None when a CUDA GPU and the
    weights (a local folder, or the hub id already in the Hugging Face cache) are present.

    Never touches the network; imports torch only when the weights are present.
    """
    reason = weights_missing_reason(settings.model)
    if reason:
        return reason
    if settings.device == "cpu":
        return ("engine.sam3.device is cpu (auto picks SAM3 only on a CUDA GPU: on a CPU it takes tens of "
                "seconds per frame; engine.kind: sam3 runs it anyway)")
    reason = dependency_problem()
    if reason:
        return reason
    import torch

    if not torch.cuda.is_available():
        return ("no CUDA GPU is visible to torch (auto picks SAM3 only on a GPU: on a CPU it takes tens of "
                "seconds per frame; engine.kind: sam3 runs it anyway)")
    return None


def _check_prompts(prompts: Sequence[Prompt]) -> tuple[Prompt, ...]:
    prompts = tuple(prompts)
    for prompt in prompts:
        if not isinstance(prompt, Prompt):
            raise TypeError(f"prompts: expected Prompt, got {type(prompt).__name__}")
    texts = [prompt.text for prompt in prompts]
    if len(set(texts)) != len(texts):
        raise ValueError(f"prompts: each text once, got {texts}")
    return prompts


@dataclass(frozen=True, slots=True)
class Sam3Weights:
    """A loaded SAM3 model, shareable by several engines called on one thread (each keeps its
    own session and memory window; see :mod:`livefilter.daemon.engine`)."""

    model: Any
    processor: Any
    device: Any
    dtype: Any


def load_weights(settings: Sam3Config) -> Sam3Weights:
    """Load the model ``settings`` name onto its device (the slow part of ``Sam3Engine.open``).

    What can be checked without torch is checked first (:func:`locate_weights`): a missing
    folder or unreachable weights fail in about a second, not after importing torch."""
    check_installed()
    source = locate_weights(settings.model)
    require_dependencies()
    import torch

    device, dtype = _device_and_dtype(settings, torch)
    logger.info("engine sam3: loading %s for %s (%s)", settings.model, device, str(dtype).removeprefix("torch."))
    model, processor = load_model(source, dtype=dtype, resolution=settings.resolution)
    model.to(device)
    if settings.compile:
        if device.type == "cuda":
            model.detector_model.vision_encoder.compile()
        else:
            logger.warning("engine.sam3.compile is ignored on CPU (torch.compile is used on CUDA only)")
    return Sam3Weights(model, processor, device, dtype)


def _device_and_dtype(settings: Sam3Config, torch: Any) -> tuple[Any, Any]:
    cuda = torch.cuda.is_available()
    if settings.device == "cuda" and not cuda:
        raise EngineError(
            f"engine.sam3.device is 'cuda' but torch {torch.__version__} sees no CUDA GPU "
            f"(CUDA build: {torch.version.cuda or 'none'}): install the CUDA build of torch for your "
            "driver, or set engine.sam3.device: auto"
        )
    device = torch.device("cuda" if settings.device == "cuda" or (settings.device == "auto" and cuda)
                          else "cpu")
    names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    default = torch.bfloat16 if device.type == "cuda" else torch.float32
    return device, names.get(settings.dtype, default)


class Sam3Engine(Lifecycle):
    """Text-prompted (and click-seeded) segmentation and tracking with SAM3.

    Follows :class:`~livefilter.engines.base.Engine`; ``infer`` runs on one thread, while
    ``set_prompts``, ``reset`` and the click methods may be called from any thread: they
    take effect on the next ``infer``.
    """

    name = "sam3"

    def __init__(
        self, settings: Sam3Config, prompts: Sequence[Prompt], *, weights: Sam3Weights | None = None
    ) -> None:
        """``weights``: an already loaded model to use (shared with other engines called on the
        same thread); None loads one in ``open()``."""
        if not isinstance(settings, Sam3Config):
            raise TypeError(f"settings: expected Sam3Config, got {type(settings).__name__}")
        self.settings = settings
        self._prompts = _check_prompts(prompts)
        self._lock = threading.Lock()
        self._pending_prompts: tuple[Prompt, ...] | None = None
        self._pending_clicks: list[ClickRequest] = []
        self._pending_removals: list[int] = []
        self._reset_pending = False
        self._stream: Any = None
        self._weights = weights
        self.expected_infer_s = 0.0  # seconds per frame when known to be slow (CPU); see open()
        self._text_ids: dict[int, int] = {}
        self._next_id = 1
        self._motion: dict[int, tuple[float, float, float]] = {}

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Load the model (unless given shared ``weights``) and start this engine's own session."""
        weights = self._weights or load_weights(self.settings)
        from livefilter.engines.sam3_model import Sam3Stream  # torch and transformers: after the cheap checks

        settings = self.settings
        model, processor, device, dtype = weights.model, weights.processor, weights.device, weights.dtype
        stream = Sam3Stream(
            model, processor, device=device, dtype=dtype, window=settings.memory_frames,
            max_per_prompt=settings.max_objects_per_prompt,
            unconfirmed_drop_frames=settings.unconfirmed_drop_frames, detect_every=settings.detect_every,
            confirm_threshold=settings.confirm_threshold,
        )
        with self._lock:
            stream.set_prompts(self._prompts)
            self._pending_prompts = None
        if settings.memory_frames < stream.span:
            logger.warning(
                "engine.sam3.memory_frames=%d is below the %d frames this model's tracker attends to: "
                "memory stays smaller, but tracking differs from the model's own behaviour",
                settings.memory_frames, stream.span,
            )
        if device.type == "cpu":
            self.expected_infer_s, cost = self._cpu_cost(model, dtype, processor.target_size)
            logger.warning("%s", cost)
        logger.info("engine sam3: %s on %s (%s), %d px", settings.model, device, str(dtype).removeprefix("torch."),
                    processor.target_size)
        self._stream = stream

    @staticmethod
    def _cpu_cost(model: Any, dtype: Any, size: int) -> tuple[float, str]:
        """Expected seconds per frame on this CPU, and a warning that says so."""
        params = sum(p.numel() for p in model.parameters())
        kind = "bfloat16" if "bfloat16" in str(dtype) else "float32"
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        seconds = _CPU_SECONDS[kind] * params / _CPU_PARAMS * _CPU_CORES / cores * (size / 1008) ** 2
        return seconds, (
            f"engine sam3 runs on the CPU ({cores} cores, {kind}): expect about {seconds:.3g} s per frame "
            f"for this {params / 1e9:.2g} B-parameter model at {size} px (full-size SAM3 measured "
            f"≈{_CPU_SECONDS['float32']:.0f} s in float32 and ≈{_CPU_SECONDS['bfloat16']:.0f} s in bfloat16 "
            f"per frame on {_CPU_CORES} cores): fine for an image or a short file; live video wants a CUDA GPU "
            f"(or engine: cpu-face for faces). The hang timeout is at least {3 * seconds:.3g} s to match"
        )

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None and getattr(stream.device, "type", "") == "cuda":
            import torch

            del stream
            torch.cuda.empty_cache()

    # ------------------------------------------------------------------ requests (any thread)

    @property
    def prompts(self) -> tuple[Prompt, ...]:
        return self._prompts

    def set_prompts(self, prompts: Sequence[Prompt]) -> None:
        """Search for ``prompts`` from the next frame on. Adding prompts keeps the tracks;
        removing one restarts the text session (its objects get new ids)."""
        prompts = _check_prompts(prompts)
        with self._lock:
            self._prompts = prompts
            self._pending_prompts = prompts

    def reset(self) -> None:
        """Forget all temporal memory, text tracks and click objects (keeps the prompts)."""
        with self._lock:
            self._reset_pending = True
            self._pending_clicks.clear()
            self._pending_removals.clear()

    def add_points(
        self,
        frame_index: int | None,
        points: Sequence[tuple[float, float]],
        labels: Sequence[int],
        object_id: int,
    ) -> None:
        """Seed or refine click object ``object_id`` with points (label 1 = on the object, 0 = not)."""
        points = tuple((float(x), float(y)) for x, y in points)
        labels = tuple(int(label) for label in labels)
        if not points or len(points) != len(labels):
            raise ValueError(f"add_points: expected one label per point, got {len(points)} points, {len(labels)} labels")
        if any(label not in (0, 1) for label in labels):
            raise ValueError(f"add_points: labels must be 1 (object) or 0 (background), got {list(labels)}")
        self._queue_click(ClickRequest(_object_id(object_id), _frame_index(frame_index), points=points, labels=labels))

    def add_box(self, frame_index: int | None, box: Sequence[float], object_id: int) -> None:
        """Seed click object ``object_id`` with a box (x0, y0, x1, y1) in frame pixels."""
        x0, y0, x1, y1 = (float(v) for v in box)
        if not (x0 < x1 and y0 < y1):
            raise ValueError(f"add_box: expected x0 < x1 and y0 < y1, got {(x0, y0, x1, y1)}")
        self._queue_click(ClickRequest(_object_id(object_id), _frame_index(frame_index), box=(x0, y0, x1, y1)))

    def add_click(self, x: float, y: float, object_id: int, *, positive: bool = True,
                  frame_index: int | None = None) -> None:
        """One point: ``add_points(frame_index, [(x, y)], [1 or 0], object_id)``."""
        self.add_points(frame_index, [(x, y)], [1 if positive else 0], object_id)

    def remove_object(self, object_id: int) -> None:
        """Stop tracking click object ``object_id`` (from the next frame)."""
        object_id = _object_id(object_id)
        with self._lock:
            self._pending_clicks = [c for c in self._pending_clicks if c.object_id != object_id]
            self._pending_removals.append(object_id)

    def _queue_click(self, request: ClickRequest) -> None:
        with self._lock:
            self._pending_clicks.append(request)

    def _take_pending(self, frame_index: int) -> tuple[bool, tuple[Prompt, ...] | None, list[int], list[ClickRequest]]:
        with self._lock:
            reset, self._reset_pending = self._reset_pending, False
            prompts, self._pending_prompts = self._pending_prompts, None
            removals, self._pending_removals = self._pending_removals, []
            due = [c for c in self._pending_clicks if c.frame_index is None or c.frame_index <= frame_index]
            self._pending_clicks = [c for c in self._pending_clicks if c not in due]
        return reset, prompts, removals, due

    # ------------------------------------------------------------------ frames (engine thread)

    def infer(self, frame: Frame) -> MaskSet:
        stream = self._stream
        if stream is None:
            raise EngineError("engine sam3: infer() before open() (or after close())")
        reset, prompts, removals, clicks = self._take_pending(frame.index)
        if reset:
            stream.reset()
            self._text_ids.clear()
            self._motion.clear()
        if prompts is not None and stream.set_prompts(prompts):
            self._text_ids.clear()
        for object_id in removals:
            stream.remove_click_object(object_id)
        if stream.text_session is None and not clicks and not stream.click_ids:
            return MaskSet.empty(frame.height, frame.width, frame_index=frame.index, t_capture=frame.t_capture)
        rgb = np.ascontiguousarray(frame.image[..., ::-1])
        try:
            objects = stream.step(rgb, clicks)
        except Exception as exc:
            raise EngineError(f"engine sam3 failed on frame {frame.index}: {type(exc).__name__}: {exc}") from exc
        ids = [self._track_id(obj.key) for obj in objects]
        masks = (np.stack([obj.mask for obj in objects]) if objects
                 else np.zeros((0, frame.height, frame.width), np.bool_))
        live = set(stream.text_session.obj_ids) if stream.text_session is not None else set()
        self._text_ids = {key: value for key, value in self._text_ids.items() if key in live}
        return MaskSet(
            masks=masks,
            scores=np.array([obj.score for obj in objects], np.float32),
            labels=tuple(obj.label for obj in objects),
            object_ids=np.array(ids, np.int64),
            frame_index=frame.index,
            t_capture=frame.t_capture,
            velocities=self._velocities(ids, masks, frame.t_capture),
        )

    def _track_id(self, key: tuple[str, int]) -> int:
        kind, model_id = key
        if kind == "click":
            return click_track_id(model_id)
        if model_id not in self._text_ids:
            self._text_ids[model_id] = self._next_id
            self._next_id += 1
        return self._text_ids[model_id]

    def _velocities(self, ids: list[int], masks: np.ndarray, t_capture: float) -> np.ndarray:
        """Pixels per second of each box centre since the object's previous result."""
        velocities = np.zeros((len(ids), 2), np.float32)
        motion: dict[int, tuple[float, float, float]] = {}
        for i, (track, mask) in enumerate(zip(ids, masks)):
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            cx, cy = (cols[0] + cols[-1]) / 2.0, (rows[0] + rows[-1]) / 2.0
            previous = self._motion.get(track)
            if previous is not None and t_capture > previous[2]:
                dt = t_capture - previous[2]
                velocities[i] = ((cx - previous[0]) / dt, (cy - previous[1]) / dt)
            motion[track] = (cx, cy, t_capture)
        self._motion = motion
        return velocities


def _object_id(object_id: int) -> int:
    if isinstance(object_id, bool) or not isinstance(object_id, (int, np.integer)):
        raise TypeError(f"object_id: expected int, got {type(object_id).__name__}")
    if not 0 <= object_id < CLICK_ID_BASE:
        raise ValueError(f"object_id: expected 0 <= id < {CLICK_ID_BASE}, got {object_id}")
    return int(object_id)


def _frame_index(frame_index: int | None) -> int | None:
    if frame_index is not None and (isinstance(frame_index, bool) or not isinstance(frame_index, (int, np.integer))):
        raise TypeError(f"frame_index: expected int or None, got {type(frame_index).__name__}")
    return None if frame_index is None else int(frame_index)
