"""The embedded CPU face engine: cost, recall of each candidate detector, and the live pipeline.

    python scripts/bench_cpu_engine.py                  # everything (about 2 minutes)
    python scripts/bench_cpu_engine.py --quick          # fewer frames, 8 s pipeline run
    python scripts/bench_cpu_engine.py --no-pipeline    # engine and recall tables only
    python scripts/bench_cpu_engine.py --pipeline-only --detect-every 1   # one pipeline run

1. **Engine cost** at 1280x720 (a real face moving over a background, ``Scene``), for each
   detector and ``input_width``: ms per ``infer`` on detection frames and on track-only
   frames (the tracker moving masks between detections), and the ratio to the default.
2. **Recall** of each candidate, through the engine as it runs (downscaled to
   ``input_width``, prompt threshold 0.5):
   - *photos*: the labelled faces of ``shared/data/faces`` and the astronaut covered to
     >= 95 % after the renderer's default dilation;
   - *small*: real face crops pasted on a 1280x720 canvas at face heights of 64..28 px;
   - *blur*: face-frames detected in a fast scene (1000 px/s, motion blur, 20 deg tilt,
     occluder), and face-frames left < 99 % covered by per-frame detection vs the engine
     with hold + motion following.
3. **Pipeline**: ``build_pipeline`` on a paced 1280x720 30 fps demo source with the CPU
   engine's defaults (or ``--detector/--detect-every/--input-width``), low_latency render:
   output fps, engine fps, fail-closed frames, mask age and CPU use (100 % = one core).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from livefilter.config.engine import CpuFaceConfig
from livefilter.config.render import RenderConfig
from livefilter.engines.face_cpu import DETECTORS, CpuFaceEngine
from livefilter.engines.tracking import box_iou
from livefilter.render.masks import dilate
from livefilter.sources.scene import Scene, SceneSpec
from livefilter.types import Frame, Prompt

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ASTRONAUT_FACE = [176, 62, 96, 124]  # x, y, w, h in skimage.data.astronaut(), checked by eye
RENDER = RenderConfig()
DEFAULT = CpuFaceConfig()


def make_engine(**settings) -> CpuFaceEngine:
    engine = CpuFaceEngine(CpuFaceConfig(**settings), [Prompt("face", 0.5)])
    engine.open()
    return engine


def hidden(masks) -> np.ndarray:
    if len(masks) == 0:
        return np.zeros(masks.shape, bool)
    return dilate(np.asarray(masks.masks), px=RENDER.dilation_px, percent=RENDER.dilation_percent).any(axis=0)


# --------------------------------------------------------------------------- 1. cost


def engine_cost(detector: str, width: int, frames: list[np.ndarray]) -> tuple[float, float]:
    """Median ms of infer() on detection frames and on track-only frames."""
    detect = make_engine(detector=detector, input_width=width, detect_every=1)
    track = make_engine(detector=detector, input_width=width, detect_every=30)
    detect_ms, track_ms = [], []
    for i, image in enumerate(frames):
        for engine, times in ((detect, detect_ms), (track, track_ms)):
            if engine is track and i % 30 == 0:
                engine.infer(Frame(image, i, i / 30))  # its detection frame: not timed
                continue
            start = time.perf_counter()
            engine.infer(Frame(image, i, i / 30))
            times.append(1000 * (time.perf_counter() - start))
    return statistics.median(detect_ms), statistics.median(track_ms)


# --------------------------------------------------------------------------- 2. recall


def labelled_photos() -> list[tuple[str, np.ndarray, list[list[int]]]]:
    from skimage import data

    photos = [("astronaut", np.ascontiguousarray(data.astronaut()[:, :, ::-1]), [ASTRONAUT_FACE])]
    faces = DATA / "faces"
    if faces.is_dir():
        boxes = json.loads((faces / "faces.json").read_text())["boxes"]
        photos += [(name, cv2.imread(str(faces / name)), b) for name, b in sorted(boxes.items())]
    return photos


def small_face_canvas(photos, face_h: int, width: int = 1280, height: int = 720):
    """Every labelled face, with some context, scaled to ``face_h`` px tall, tiled on a grey canvas."""
    canvas = np.full((height, width, 3), 110, np.uint8)
    boxes, x, y, row = [], 4, 4, 0
    for _, image, faces in photos:
        for fx, fy, fw, fh in faces:
            s = face_h / fh
            x0, y0 = max(0, int(fx - 0.6 * fw)), max(0, int(fy - 0.5 * fh))
            x1, y1 = min(image.shape[1], int(fx + 1.6 * fw)), min(image.shape[0], int(fy + 1.5 * fh))
            crop = cv2.resize(image[y0:y1, x0:x1], None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            ch, cw = crop.shape[:2]
            if x + cw > width:
                x, y, row = 4, y + row + 4, 0
            canvas[y : y + ch, x : x + cw] = crop
            boxes.append([x + (fx - x0) * s, y + (fy - y0) * s, x + (fx - x0 + fw) * s, y + (fy - y0 + fh) * s])
            x, row = x + cw + 4, max(row, ch)
    return canvas, np.array(boxes)


def photo_recall(detector: str, width: int, photos) -> tuple[int, int]:
    engine = make_engine(detector=detector, input_width=width, detect_every=1)
    ok = total = 0
    for i, (_, image, faces) in enumerate(photos):
        cover = hidden(engine.infer(Frame(image, i, 10.0 * i)))
        for x, y, w, h in faces:
            total += 1
            ok += cover[max(0, y) : y + h, max(0, x) : x + w].mean() >= 0.95
    return ok, total


def small_recall(detector: str, width: int, canvases) -> list[str]:
    engine = make_engine(detector=detector, input_width=width)
    out = []
    for face_h, (canvas, truth) in canvases.items():
        found = engine.detect(canvas)
        hit = int((box_iou(truth, found.boxes).max(axis=1) > 0.3).sum()) if len(found) else 0
        out.append(f"{face_h}px {hit}/{len(truth)}")
    return out


def blur_recall(detector: str, width: int, frames) -> tuple[int, int, int, int]:
    """(face-frames detected, face-frames, uncovered per-frame, uncovered with tracking)."""
    results = []
    for settings in ({"hold_ms": 0, "detect_every": 1}, {}):
        engine = make_engine(detector=detector, input_width=width, **settings)
        detected = uncovered = total = 0
        for i, sf in enumerate(frames):
            masks = engine.infer(Frame(sf.image, i, i / 30))
            cover = hidden(masks)
            for face in sf.face_masks:
                visible = int(face.sum())
                if visible < 200:
                    continue
                total += 1
                got = int((cover & face).sum())
                detected += got > 0
                uncovered += got < 0.99 * visible
        results.append((detected, total, uncovered))
    (detected, total, per_frame), (_, _, tracked) = results
    return detected, total, per_frame, tracked


# --------------------------------------------------------------------------- 3. pipeline


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
    detections = count_detector_runs()
    process = psutil.Process()
    cpu0, wall0 = process.cpu_times(), time.perf_counter()
    stats = build_pipeline(config).run()
    cpu1, wall = process.cpu_times(), time.perf_counter() - wall0
    detector_fps = len(detections) / stats.uptime_s if stats.uptime_s else 0.0
    cpu = 100 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / wall
    print(f"pipeline  cpu-face {json.dumps(config.engine.cpu_face.model_dump())}")
    print(f"  paced 1280x720 30 fps demo source, {seconds:g} s, low_latency render ({RENDER.style}), null sink")
    print(stats.format())
    print(f"  process CPU {cpu:.0f} % (100 % = one core) over {wall:.1f} s wall")
    verdict = "sustains" if stats.output_fps >= 29.0 else "does NOT sustain"
    print(f"  => output {stats.output_fps:.1f} fps; engine {stats.engine_fps:.1f} fps of which the detector "
          f"ran {detector_fps:.1f} fps ({len(detections)} runs): {verdict} 30 fps")


def count_detector_runs() -> list[float]:
    """Times of every detector run in this process (the pipeline builds its engine itself)."""
    runs: list[float] = []
    detect = CpuFaceEngine.detect

    def counted(self: CpuFaceEngine, image: np.ndarray):
        runs.append(time.perf_counter())
        return detect(self, image)

    CpuFaceEngine.detect = counted  # type: ignore[method-assign]
    return runs


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer frames and an 8 s pipeline run")
    parser.add_argument("--widths", default="640,480,320", help="input widths to compare (comma separated)")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the live pipeline run")
    parser.add_argument("--pipeline-only", action="store_true", help="only the live pipeline run")
    parser.add_argument("--seconds", type=float, default=None, help="pipeline run length (default 20, quick 8)")
    parser.add_argument("--detector", choices=sorted(DETECTORS), help="pipeline: override the default detector")
    parser.add_argument("--detect-every", type=int, help="pipeline: override the default detect_every")
    parser.add_argument("--input-width", type=int, help="pipeline: override the default input_width")
    args = parser.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    n = 30 if args.quick else 60
    print(f"cv2 {cv2.__version__}, threads {cv2.getNumThreads()}, numpy {np.__version__}; "
          f"defaults: {json.dumps(DEFAULT.model_dump())}")

    if args.pipeline_only:
        run_pipeline(args.seconds or (8.0 if args.quick else 20.0), pipeline_overrides(args))
        return 0
    scene = Scene(SceneSpec(width=1280, height=720, faces=2, speed_px_s=300.0, seed=0))
    frames = [scene.render(i).image for i in range(n)]
    print("\n1. engine ms per infer() at 1280x720 (median; ratio = detection ms / default's)")
    cost = {(d, w): engine_cost(d, w, frames) for d in sorted(DETECTORS) for w in widths}
    base = cost.get((DEFAULT.detector, DEFAULT.input_width)) or engine_cost(DEFAULT.detector, DEFAULT.input_width, frames)
    for (d, w), (detect_ms, track_ms) in cost.items():
        print(f"  {d:10s} input {w:4d}  detect {detect_ms:6.1f} ms  track-only {track_ms:5.2f} ms  "
              f"ratio {detect_ms / base[0]:4.2f}")

    photos = labelled_photos()
    canvases = {h: small_face_canvas(photos, h) for h in (64, 48, 36, 28)}
    fast = []
    for seed in (1, 2):
        spec = SceneSpec(width=1280, height=720, faces=2, speed_px_s=1000.0, motion_blur=True,
                         rotation_deg=20.0, occluder=True, seed=seed)
        fast += [Scene(spec).render(i) for i in range(n)]
    print(f"\n2. recall at prompt threshold 0.5 ({len(photos)} photos, "
          f"{sum(len(f) for _, _, f in photos)} faces; blur: {len(fast)} frames, 2 faces each)")
    for d in sorted(DETECTORS):
        for w in widths:
            ok, total = photo_recall(d, w, photos)
            small = small_recall(d, w, canvases)
            detected, faces, per_frame, tracked = blur_recall(d, w, fast)
            print(f"  {d:10s} input {w:4d}  photos {ok}/{total}  small {' '.join(small)}  "
                  f"blur detected {detected}/{faces}, uncovered per-frame {per_frame} -> tracked {tracked}")

    if not args.no_pipeline:
        print()
        run_pipeline(args.seconds or (8.0 if args.quick else 20.0), pipeline_overrides(args))
    return 0


def pipeline_overrides(args: argparse.Namespace) -> dict:
    pairs = (("detector", args.detector), ("detect_every", args.detect_every), ("input_width", args.input_width))
    return {key: value for key, value in pairs if value is not None}


if __name__ == "__main__":
    sys.exit(main())
