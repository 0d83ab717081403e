"""Memory over long runs: resident memory sampled over 10 000+ frames for each engine.

    python scripts/bench_memory.py             # cpu-face 50 000 frames, sam3 10 000; plot in docs/
    python scripts/bench_memory.py --quick     # 1 000 frames each, no plot
    python scripts/bench_memory.py --engines cpu-face:20000

The whole pipeline runs (capture → engine → render → sink threads) in ``exact`` mode on
a *non-realtime* demo source, so every frame goes through the engine as fast as the
machine allows: what is measured is memory per frame processed, not per second, and
the run takes minutes instead of the 5.5 min of camera time per 10 000 frames. Frames
are small (320x180 by default): growth per frame (tracks, queues, buffers, caches) does
not depend on the frame size, only the constant part does. SAM3 runs with the tiny
randomly initialised test model (``livefilter.engines.sam3_tiny.save_tiny_sam3``, 112 px), on the CPU.

Target: flat after warm-up — at most 50 MB growth between the first sample past the
warm-up and the end. The table also prints the least-squares trend over the second half of
the run (MB per 1 000 frames): still rising there means a slow leak, not warm-up.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib

DOCS = Path(__file__).resolve().parents[1] / "docs"
TARGET_MB = 50.0


def engine_settings(engine: str, workdir: Path) -> dict[str, object]:
    """The ``engine:`` section for ``engine``; for sam3, builds the tiny test model first."""
    if engine != "sam3":
        return {"kind": engine}
    from livefilter.engines.sam3_tiny import save_tiny_sam3

    model_dir = save_tiny_sam3(workdir / "tiny-sam3")
    return {"kind": "sam3", "sam3": {"model": str(model_dir), "device": "cpu"}, "timeout_s": 120.0}


def run_engine(engine: str, *, frames: int, width: int, height: int, interval_s: float,
               workdir: Path) -> tuple[list[benchlib.RssSample], float]:
    """RSS samples over the run and the mean number of objects the engine returned per frame."""
    from livefilter.config import Config
    fps = 30.0
    config = Config.model_validate(
        {
            "source": {"kind": "demo", "width": width, "height": height, "fps": fps,
                       "duration_s": frames / fps, "realtime": False},
            "engine": engine_settings(engine, workdir),
            # Random SAM3 weights score nothing above 0.5; threshold 0 keeps every object it
            # proposes (up to max_objects_per_prompt), the worst case for tracker memory.
            "prompts": [{"text": "face", "threshold": 0.0 if engine == "sam3" else 0.5}],
            "render": {"mode": "exact"},
        }
    )
    sink = benchlib.CallbackSink(lambda frame: None, lossless=True)
    # A running count, not a list of counts: a list grows by ~8 bytes per frame (4 MB over 500 000
    # frames), which this benchmark would then report as the pipeline's growth.
    objects = np.zeros(2, np.int64)  # objects returned, mask sets seen

    def count(masks: object) -> None:
        objects[0] += len(masks)  # type: ignore[arg-type]
        objects[1] += 1

    pipeline = benchlib.make_pipeline(config, sinks=[sink], on_masks=count)
    gc.collect()
    t0 = time.perf_counter()
    with benchlib.RssSampler(lambda: sink.count, interval_s=interval_s) as sampler:
        pipeline.run()
    elapsed = time.perf_counter() - t0
    print(f"# {engine}: {sink.count} frames in {elapsed:.0f} s ({sink.count / elapsed:.1f} fps), "
          f"{len(sampler.samples)} RSS samples", file=sys.stderr, flush=True)
    return sampler.samples, float(objects[0] / objects[1]) if objects[1] else 0.0


def plot(curves: dict[str, list[benchlib.RssSample]], warmup: int, path: Path) -> None:
    """One panel per engine (own scale, so growth is visible), with the +50 MB target band."""
    plt = benchlib.pyplot()
    fig, axes = plt.subplots(len(curves), 1, figsize=(8, 2.6 * len(curves)), dpi=100, squeeze=False)
    for ax, (engine, samples) in zip(axes[:, 0], curves.items()):
        start, _, growth = benchlib.rss_growth(samples, warmup_frames=warmup)
        ax.plot([s.frames for s in samples], [s.rss_mb for s in samples], label=f"{engine} ({growth:+.1f} MB)")
        ax.axhspan(start, start + TARGET_MB, color="green", alpha=0.08, label=f"target: ≤ {TARGET_MB:g} MB growth")
        ax.axvline(warmup, color="grey", linestyle=":", label="end of warm-up")
        ax.set_ylim(start - 60, start + TARGET_MB + 60)
        ax.set_ylabel("RSS (MB)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize="small")
    axes[-1, 0].set_xlabel("frames processed")
    axes[0, 0].set_title("livefilter process memory over a long run (each engine in a fresh process)")
    benchlib.save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 000 frames, no plot")
    parser.add_argument("--frames", type=int, default=10_000, help="frames per engine without its own :N")
    parser.add_argument("--warmup", type=int, default=500, help="frames of warm-up before growth is measured")
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--engines", default="cpu-face:50000,sam3:10000",
                        help="comma list of engine[:frames] (default cpu-face:50000,sam3:10000)")
    parser.add_argument("--engine-only", help=argparse.SUPPRESS)  # child process: one engine, samples on stdout
    parser.add_argument("--plot", type=Path, default=DOCS / "memory_rss.png")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    plan = {}
    for item in args.engines.split(","):
        engine, _, count = item.partition(":")
        plan[engine] = 1000 if args.quick else int(count or args.frames)
    warmup = min(args.warmup, min(plan.values()) // 4)

    if args.engine_only:
        with tempfile.TemporaryDirectory(prefix="livefilter-bench-") as tmp:
            samples, objects = run_engine(args.engine_only, frames=plan[args.engine_only], width=width,
                                          height=height, interval_s=0.5, workdir=Path(tmp))
        for s in samples:
            print(f"RSS {s.t:.3f} {s.frames} {s.rss_mb:.2f}")
        print(f"OBJECTS {objects:.3f}")
        return 0

    import subprocess

    print(f"# Memory benchmark — {benchlib.machine_summary()}")
    print(f"# frames per engine: {plan}, at {width}x{height}, non-realtime demo source, exact mode; "
          f"warm-up {warmup} frames; each engine in its own process")
    curves: dict[str, list[benchlib.RssSample]] = {}
    rows = []
    for engine, frames in plan.items():
        child = [sys.executable, __file__, "--engine-only", engine, "--engines", f"{engine}:{frames}",
                 "--size", args.size]
        done = subprocess.run(child, capture_output=True, text=True, check=False)
        sys.stderr.write(done.stderr[-3000:] if done.returncode else "".join(
            line + "\n" for line in done.stderr.splitlines() if line.startswith("#")))
        if done.returncode:
            rows.append([engine, "–", "–", "–", "–", "–", f"failed (exit {done.returncode})", "–"])
            continue
        samples = [benchlib.RssSample(float(t), int(f), float(mb))
                   for _, t, f, mb in (line.split() for line in done.stdout.splitlines() if line.startswith("RSS "))]
        objects = next(float(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("OBJECTS "))
        curves[engine] = samples
        start, end, growth = benchlib.rss_growth(samples, warmup_frames=warmup)
        peak = max(s.rss_mb for s in samples)
        slope = benchlib.rss_slope(samples, from_frames=samples[-1].frames // 2)
        verdict = "met" if growth <= TARGET_MB else "NOT met"
        rows.append([engine, samples[-1].frames, f"{objects:.2f}", f"{start:.0f}", f"{end:.0f}", f"{peak:.0f}",
                     f"{growth:+.1f} MB ({verdict})", f"{slope:+.3f}"])
    print()
    print(benchlib.markdown_table(["engine", "frames", "objects / frame", f"RSS after {warmup} frames (MB)", "RSS at end (MB)",
                                   "peak (MB)", f"growth after warm-up (target ≤ {TARGET_MB:g} MB)",
                                   "trend over the 2nd half (MB / 1 000 frames)"], rows))
    if curves and not args.quick:
        plot(curves, warmup, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
