"""Leak rate: how often a face shows, on clips with exact ground truth, livefilter vs deface.

    python scripts/bench_leak.py            # full run (~10 min on 2 cores)
    python scripts/bench_leak.py --quick    # smoke run (~1 min)

Each scenario is a synthetic clip from ``livefilter.sources.scene``: real face photos
(``shared/data/faces`` cut out with a soft elliptical alpha, plus scikit-image's
astronaut) composited onto real car photos (``shared/data/plates``), with the scene
generator's per-frame masks of every face's visible pixels as ground truth.

For every output frame and every face at least partly visible, the face *leaks* at τ
when more than τ of its visible pixels are left unredacted. We print the leak rate at
τ = 0, 0.05 and 0.2, the longest run of consecutive leaked frames of one face, and
over-redaction (share of non-face pixels redacted; fail-closed frames count as fully
redacted). How redacted pixels are known exactly is explained in ``benchlib``.

Three redactors see the same frames in the same run:
- ``livefilter file``: the pipeline in ``exact`` mode on a non-live source (every frame,
  masks computed on that frame), lossless sink;
- ``livefilter live``: the source paced at the clip's fps through the ``low_latency``
  pipeline; each output frame is scored against the ground truth of the frame index it
  carries (frames the render skipped are not shown, so cannot leak);
- ``deface``: deface 1.5 per frame (CenterFace, threshold 0.2, mask scale 1.3, solid).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Scenario name -> SceneSpec options (on top of size, fps and seed).
# Only the named option varies; the rest stay at a calm baseline (no occluder, no blur).
BASE: dict[str, object] = {
    "faces": 1, "speed_px_s": 80.0, "face_height_frac": 0.3, "scale_range": (0.9, 1.1), "occluder": False,
    "motion_blur": False, "rotation_deg": 0.0, "enter_exit": False, "noise_sigma": 0.0, "brightness": 1.0,
}
SCENARIOS: dict[str, dict[str, object]] = {
    "slow": {"speed_px_s": 40.0},
    "fast + motion blur": {"speed_px_s": 500.0, "motion_blur": True},
    "scale + rotate": {"scale_range": (0.6, 1.4), "rotation_deg": 15.0},
    "occluder": {"speed_px_s": 150.0, "occluder": True},
    "leave + re-enter": {"speed_px_s": 300.0, "enter_exit": True},
    "several faces": {"faces": 4, "speed_px_s": 120.0, "face_height_frac": 0.25},
    "small faces": {"faces": 2, "face_height_frac": 0.08},
    "low light + noise": {"brightness": 0.3, "noise_sigma": 8.0},
}

FACE_PHOTOS = ("obama.jpg", "biden.jpg", "two_people.jpg", "obama_and_biden.jpg")
BACKGROUNDS = ("eu1.jpg", "eu5.jpg", "eu7.jpg", "eu8.jpg")


# --------------------------------------------------------------------------- clips


def cut_out_face(image: np.ndarray, box: tuple[int, int, int, int], *, margin: float = 0.25) -> np.ndarray:
    """BGRA crop around ``box``; alpha is a soft ellipse, above 0.5 (= face for the scene) on the box."""
    x, y, w, h = box
    mx, my = int(w * margin), int(h * margin)
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(image.shape[1], x + w + mx), min(image.shape[0], y + h + my)
    crop = image[y0:y1, x0:x1]
    alpha = np.zeros(crop.shape[:2], np.uint8)
    center = (x + w // 2 - x0, y + h // 2 - y0)
    cv2.ellipse(alpha, center, (int(w * 0.5), int(h * 0.55)), 0, 0, 360, 255, -1)
    soft = max(3, (min(w, h) // 12) | 1)
    alpha = cv2.GaussianBlur(alpha, (soft, soft), 0)
    return np.dstack([crop, alpha])


def load_faces() -> list[np.ndarray]:
    """BGRA cut-outs of the real faces in ``shared/data/faces`` plus the astronaut."""
    from livefilter.sources.scene import astronaut_face

    boxes = json.loads((DATA / "faces" / "faces.json").read_text())["boxes"]
    faces = [astronaut_face()]
    for name in FACE_PHOTOS:
        image = cv2.imread(str(DATA / "faces" / name))
        if image is None:
            raise SystemExit(f"cannot read {DATA / 'faces' / name}: is shared/data beside the repo?")
        faces += [cut_out_face(image, tuple(b)) for b in boxes[name]]
    return faces


def load_background(name: str) -> np.ndarray:
    """A car photo (the scene scales and crops it to the frame)."""
    image = cv2.imread(str(DATA / "plates" / name))
    if image is None:
        raise SystemExit(f"cannot read {DATA / 'plates' / name}: is shared/data beside the repo?")
    return image


@dataclass(frozen=True)
class Clip:
    name: str
    fps: float
    frames: list[np.ndarray]  # BGR, free of the sentinel colour
    face_masks: list[np.ndarray]  # (k, H, W) bool per frame


def render_clip(name: str, options: dict[str, object], *, width: int, height: int, fps: float,
                n_frames: int, seed: int, faces: list[np.ndarray]) -> Clip:
    from livefilter.sources.scene import Scene, SceneSpec

    spec = SceneSpec(width=width, height=height, fps=fps, seed=seed, **{**BASE, **options})
    background = load_background(BACKGROUNDS[seed % len(BACKGROUNDS)])
    rng = np.random.default_rng(seed)
    chosen = [faces[i] for i in rng.permutation(len(faces))[: spec.faces]]
    scene = Scene(spec, faces=chosen, background=background)
    frames, masks = [], []
    for i in range(n_frames):
        rendered = scene.render(i)
        frames.append(benchlib.exclude_sentinel(rendered.image))
        masks.append(np.asarray(rendered.face_masks, bool))
    return Clip(name, fps, frames, masks)


# --------------------------------------------------------------------------- redactors


@dataclass(frozen=True)
class Run:
    result: benchlib.LeakResult
    fps: float  # frames out per second of wall time
    fail_closed: dict[str, int]  # reason -> fully redacted frames (livefilter's Stats)


# One output frame: (source frame index, packed redacted bits, fully redacted, inexact pixels).
Output = tuple[int, np.ndarray, bool, int]


def observe(clip: Clip, index: int, image: np.ndarray, fully_redacted: bool) -> Output:
    """What scoring needs from one output image, kept small (bits) so runs fit in memory."""
    redacted = benchlib.redacted_pixels(image)
    inexact = 0 if fully_redacted else benchlib.inexact_pixels(image, clip.frames[index], redacted)
    return index, np.packbits(redacted), fully_redacted, inexact


def score_outputs(clip: Clip, outputs: list[Output]) -> benchlib.LeakResult:
    """Score output frames in the order they were output."""
    h, w = clip.frames[0].shape[:2]
    scorer = benchlib.LeakScorer()
    for index, packed, fully, inexact in outputs:
        redacted = np.unpackbits(packed, count=h * w).reshape(h, w).astype(bool)
        scorer.add(redacted, clip.face_masks[index], fully_redacted=fully, inexact=inexact)
    return scorer.result()


def run_deface(clip: Clip, deface: benchlib.DefaceBaseline) -> Run:
    outputs, seconds = [], 0.0
    for i, frame in enumerate(clip.frames):
        t0 = time.perf_counter()
        out = deface.redact(frame)
        seconds += time.perf_counter() - t0
        outputs.append(observe(clip, i, out, False))
    return Run(score_outputs(clip, outputs), len(clip.frames) / seconds, {})  # deface never fails closed


def bench_config(*, live: bool, engine: str, detector: str | None = None):
    """The product's defaults, except a solid sentinel-coloured style so scoring is exact."""
    from livefilter.config import Config

    engine_section: dict[str, object] = {"kind": engine}
    if detector:
        engine_section["cpu_face"] = {"detector": detector}
    return Config.model_validate(
        {
            "engine": engine_section,
            "render": {
                "mode": "low_latency" if live else "exact",
                "style": "solid",
                "solid_color": list(benchlib.SENTINEL_BGR[::-1]),
                "feather_px": 0,
            },
        }
    )


def run_livefilter(clip: Clip, *, live: bool, engine: str, detector: str | None) -> Run:
    outputs: list[Output] = []  # appended by the sink thread only

    def on_frame(frame) -> None:
        outputs.append(observe(clip, frame.index, frame.image, bool(frame.fully_redacted)))

    sink = benchlib.CallbackSink(on_frame, lossless=not live)
    source = benchlib.ClipSource(clip.frames, fps=clip.fps, live=live, name=clip.name)
    pipeline = benchlib.make_pipeline(bench_config(live=live, engine=engine, detector=detector), sinks=[sink], source=source)
    t0 = time.perf_counter()
    stats = pipeline.run()
    elapsed = time.perf_counter() - t0
    return Run(score_outputs(clip, outputs), len(outputs) / elapsed, dict(stats.fail_closed))


# --------------------------------------------------------------------------- report

HEADERS = [
    "scenario",
    "redactor",
    "face-frames",
    "leak τ=0",
    "leak τ=0.05",
    "leak τ=0.2",
    "longest run τ=0.05",
    "over-redaction",
    "fail-closed frames",
    "fps",
]


def row(scenario: str, redactor: str, run: Run) -> list[object]:
    r = run.result
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(run.fail_closed.items()))
    return [
        scenario,
        redactor,
        r.face_frames,
        f"{100 * r.leak_rate(0.0):.1f} %",
        f"{100 * r.leak_rate(0.05):.1f} %",
        f"{100 * r.leak_rate(0.2):.1f} %",
        r.longest_run[0.05],
        f"{100 * r.over_redaction:.1f} %",
        f"{r.fully_redacted}/{r.frames}" + (f" ({reasons})" if reasons else ""),
        f"{run.fps:.1f}",
    ]


def plot(report: list[dict[str, object]], path: Path) -> None:
    """Grouped bars: leak rate at τ = 0.05 per scenario and redactor."""
    plt = benchlib.pyplot()
    scenarios = list(dict.fromkeys(r["scenario"] for r in report))
    redactors = list(dict.fromkeys(r["redactor"] for r in report))
    rate = {(r["scenario"], r["redactor"]): 100 * r["leak_rate"]["0.05"] for r in report}
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    width = 0.8 / len(redactors)
    for j, redactor in enumerate(redactors):
        xs = [i + (j - (len(redactors) - 1) / 2) * width for i in range(len(scenarios))]
        ax.bar(xs, [rate.get((s, redactor), np.nan) for s in scenarios], width, label=redactor)
    ax.set_xticks(range(len(scenarios)), scenarios, rotation=20, ha="right")
    ax.set_ylabel("face-frames leaked (%), τ = 0.05")
    ax.set_title("Leak rate: share of visible face-frames with > 5 % of the face unredacted (lower is better)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    benchlib.save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 scenarios, 60 frames: a smoke run")
    parser.add_argument("--frames", type=int, default=300, help="frames per scenario (default 300 = 10 s)")
    parser.add_argument("--size", default="640x360", help="frame size WxH (default 640x360)")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--engine", default="cpu-face", help="livefilter engine kind (default cpu-face)")
    parser.add_argument("--detector", choices=("retinaface", "centerface"),
                        help="engine.cpu_face.detector (default: the product's default)")
    parser.add_argument("--scenarios", help=f"comma list of scenarios (default all: {', '.join(SCENARIOS)})")
    parser.add_argument("--modes", default="file,live,deface", help="comma list of file, live, deface")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--plot", type=Path, help="write a bar chart of the leak rates here (PNG)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    modes = args.modes.split(",")
    if args.scenarios:
        unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
        if unknown:
            parser.error(f"--scenarios: unknown {sorted(unknown)}; choose from {list(SCENARIOS)}")
        scenarios = {name: SCENARIOS[name] for name in args.scenarios.split(",")}
    else:
        scenarios = dict(list(SCENARIOS.items())[:: 3]) if args.quick else SCENARIOS
    n_frames = 60 if args.quick else args.frames

    print(f"# Leak benchmark — {benchlib.machine_summary()}")
    print(f"# {len(scenarios)} scenarios x {n_frames} frames at {width}x{height} {args.fps:g} fps; engine {args.engine}"
          + (f", detector {args.detector}" if args.detector else ""))
    faces = load_faces()
    deface = benchlib.DefaceBaseline() if "deface" in modes else None
    rows, per_mode, report = [], {m: [] for m in modes}, []
    for name, options in scenarios.items():
        seed = list(SCENARIOS).index(name)  # the same clip whichever scenarios run
        t0 = time.perf_counter()
        clip = render_clip(name, options, width=width, height=height, fps=args.fps, n_frames=n_frames,
                           seed=seed, faces=faces)
        runs: dict[str, Run] = {}
        for mode in modes:
            if mode == "deface":
                runs[mode] = run_deface(clip, deface)
            else:
                runs[mode] = run_livefilter(clip, live=mode == "live", engine=args.engine, detector=args.detector)
            per_mode[mode].append(runs[mode])
        for mode, run in runs.items():
            label = "deface" if mode == "deface" else f"livefilter {mode}"
            rows.append(row(name, label, run))
            report.append({"scenario": name, "redactor": label, "fps": run.fps, "fail_closed": run.fail_closed,
                           **_as_dict(run.result)})
            if run.result.inexact:
                print(f"!! {name} / {label}: {run.result.inexact} output pixels are neither redacted nor "
                      "equal to the input; scoring counts them as shown (inexact)", file=sys.stderr)
        print(f"# {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    for mode, runs in per_mode.items():
        label = "deface" if mode == "deface" else f"livefilter {mode}"
        total = benchlib.merge([r.result for r in runs])
        frames = sum(r.result.frames for r in runs)
        fps = frames / sum(r.result.frames / r.fps for r in runs)
        reasons = sum((Counter(r.fail_closed) for r in runs), Counter())
        rows.append(row("**all**", f"**{label}**", Run(total, fps, dict(reasons))))
        report.append({"scenario": "all", "redactor": label, "fps": fps, "fail_closed": reasons,
                       **_as_dict(total)})
    print()
    print(benchlib.markdown_table(HEADERS, rows))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    if args.plot:
        plot(report, args.plot)
    return 0


def _as_dict(result: benchlib.LeakResult) -> dict[str, object]:
    return {
        "face_frames": result.face_frames,
        "leak_rate": {str(t): result.leak_rate(t) for t in result.leaks},
        "longest_run": {str(t): v for t, v in result.longest_run.items()},
        "over_redaction": result.over_redaction,
        "frames": result.frames,
        "fully_redacted": result.fully_redacted,
        "inexact_pixels": result.inexact,
    }


if __name__ == "__main__":
    raise SystemExit(main())
