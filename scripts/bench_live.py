"""Live throughput and latency: the full pipeline on a paced 1280x720 30 fps source, vs deface.

    python scripts/bench_live.py            # 30 s live run + deface on the same frames
    python scripts/bench_live.py --quick    # 8 s
    python scripts/bench_live.py --quick --guards hide_changes,checked_frames,masks_only --no-deface

livefilter runs the demo source (a real face photo moving over a background, paced in
real time like a camera) through the ``low_latency`` pipeline with the CPU face engine
into the benchmark's own sink (no encoding); we print its statistics
(``Pipeline.run()``), the latency measured in the sink (capture → sink ``write``), and
the process CPU use (psutil; 100 % = one core). deface then redacts the first frames of
the same source per frame, sequentially, as fast as it can, at full resolution (its
default) and at ``--scale 640x360`` (about what livefilter's engine sees).
Targets: 30 fps out; added latency p95 within one frame interval.

``--guards`` runs the pipeline once per ``render.live_guard`` (what covers a face that appears
between two engine answers) and prints their cost side by side: distinct pictures published per
second (``checked_frames`` repeats the engine's frames), latency, fail-closed share, the share of
each shown picture that is hidden, and CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib


def live_config(*, width: int, height: int, fps: float, seconds: float, engine: str, realtime: bool = True,
                live_guard: str = "hide_changes", render_fps: float | None = None):
    from livefilter.config import Config

    return Config.model_validate(
        {
            "source": {"kind": "demo", "width": width, "height": height, "fps": fps,
                       "duration_s": seconds, "realtime": realtime},
            "engine": {"kind": engine},
            "render": {"mode": "low_latency", "live_guard": live_guard, "fps": render_fps},
        }
    )


def run_livefilter(config, shown: list | None = None):
    """(pipeline Stats, sink-side latencies in ms, sink write times, cpu meter); ``shown`` collects
    (frame index, fully redacted, hidden fraction) of every frame the sink got."""
    latencies: list[float] = []
    written: list[float] = []

    def on_frame(frame) -> None:
        now = time.monotonic()
        written.append(now)
        latencies.append(1000 * (now - frame.t_capture))
        if shown is not None:
            shown.append((frame.index, frame.fully_redacted, frame.redacted_fraction))

    sink = benchlib.CallbackSink(on_frame, lossless=False)
    pipeline = benchlib.make_pipeline(config, sinks=[sink])
    with benchlib.cpu_meter() as cpu:
        stats = pipeline.run()
    return stats, latencies, written, cpu


def read_frames(config, max_frames: int) -> list:
    """The first ``max_frames`` frames of the run's source, read as fast as possible."""
    from livefilter.sources import create_source

    source = create_source(config.source.model_copy(update={"realtime": False}))
    source.open()
    frames = []
    try:
        while len(frames) < max_frames and (frame := source.read()) is not None:
            frames.append(frame.image)
    finally:
        source.close()
    return frames


def run_deface(frames: list, in_shape: tuple[int, int] | None) -> tuple[float, float]:
    """deface per frame, sequentially: (fps, process CPU %)."""
    deface = benchlib.DefaceBaseline(in_shape)
    deface.redact(frames[0])  # warm-up (ONNX session)
    with benchlib.cpu_meter() as cpu:
        for image in frames:
            deface.redact(image)
    return len(frames) / cpu["seconds"], cpu["cpu_percent"]


def plot(written: list[float], latencies: list[float], interval_ms: float, title: str, path: Path) -> None:
    """Latency of every output frame (capture → sink write) against time."""
    plt = benchlib.pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    ax.plot([t - written[0] for t in written], latencies, ".", markersize=2, label="capture → sink write")
    ax.axhline(interval_ms, color="red", linestyle="--", label=f"one frame interval ({interval_ms:.1f} ms)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    benchlib.save_figure(fig, path)


def print_guards(compared: list) -> None:
    """One row per ``render.live_guard``: what each costs (same source, one after another)."""
    rows = []
    for guard, stats, latencies, written, cpu, shown in compared:
        span = (written[-1] - written[0]) if len(written) > 1 else float("nan")
        distinct = len({index for index, _, _ in shown})
        with_masks = [fraction for _, full, fraction in shown if not full]
        full = sum(1 for _, f, _ in shown if f)
        rows.append([
            guard,
            f"{(len(written) - 1) / span:.1f}",
            f"{distinct / span:.1f}",
            f"{benchlib.percentile(latencies, 50):.1f} / {benchlib.percentile(latencies, 95):.1f}",
            f"{100 * full / max(len(shown), 1):.1f} % ({full}/{len(shown)})",
            f"{100 * sum(with_masks) / max(len(with_masks), 1):.1f} %",
            f"{cpu['cpu_percent']:.0f} %",
        ])
    print()
    print(benchlib.markdown_table(
        ["render.live_guard", "frames out /s", "distinct pictures /s", "latency capture → sink p50 / p95 (ms)",
         "fail-closed", "hidden share of frames shown with masks", "process CPU"], rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 s instead of 30 s")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--engine", default="cpu-face")
    parser.add_argument("--deface-frames", type=int, default=300, help="frames deface redacts (default 300)")
    parser.add_argument("--plot", type=Path, help="write the per-frame latency plot here (PNG)")
    parser.add_argument("--guards", help="comma list of render.live_guard values to compare (e.g. "
                        "hide_changes,checked_frames,masks_only); the main table uses the first")
    parser.add_argument("--no-deface", action="store_true", help="skip the deface baseline")
    parser.add_argument("--render-fps", type=float, help="set render.fps: the render ticks at this rate instead "
                        "of rendering each frame as it arrives (the default, render.fps null)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    seconds = 8.0 if args.quick else args.seconds
    interval_ms = 1000 / args.fps

    print(f"# Live benchmark — {benchlib.machine_summary()}")
    pacing = f"ticks at render.fps {args.render_fps:g}" if args.render_fps else "renders each frame on arrival"
    print(f"# {width}x{height} at {args.fps:g} fps, {seconds:g} s paced demo source, engine {args.engine}, "
          f"render low_latency ({pacing}), benchmark sink")
    guards = args.guards.split(",") if args.guards else ["hide_changes"]
    compared = []
    for guard in guards:
        shown: list = []
        config = live_config(width=width, height=height, fps=args.fps, seconds=seconds, engine=args.engine,
                             live_guard=guard, render_fps=args.render_fps)
        compared.append((guard, *run_livefilter(config, shown), shown))
        print(compared[-1][1].format(), file=sys.stderr)
    _, stats, latencies, written, cpu, _ = compared[0]
    if len(guards) > 1:
        print_guards(compared)
    scaled = (640, 640 * height // width)
    if args.no_deface:
        deface_full = deface_small = (float("nan"), float("nan"))
        frames: list = []
    else:
        frames = read_frames(config, 60 if args.quick else args.deface_frames)
        deface_full = run_deface(frames, None)
        deface_small = run_deface(frames, scaled)
    p50, p95 = benchlib.percentile(latencies, 50), benchlib.percentile(latencies, 95)
    mean_out = (len(written) - 1) / (written[-1] - written[0]) if len(written) > 1 else float("nan")
    engine_mean = stats.frames_inferred / stats.uptime_s

    def ms(value: float | None) -> str:
        return "–" if value is None else f"{value:.1f}"

    def both(fmt: str) -> list[str]:
        return [fmt.format(fps=fps, cpu=cpu, ms=1000 / fps, n=len(frames)) for fps, cpu in (deface_full, deface_small)]

    target = f"p95 ≤ {interval_ms:.1f}"
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(stats.fail_closed.items())) or "none"
    rows = [
        ["output fps (mean over the run / last 5 s)", f"{mean_out:.1f} / {stats.output_fps:.1f}",
         *both("{fps:.1f}"), f"{args.fps:g}"],
        ["engine fps (mean / last 5 s)", f"{engine_mean:.1f} / {stats.engine_fps:.1f}", *both("{fps:.1f}"), "–"],
        ["frames captured / published / dropped before the engine",
         f"{stats.frames_captured} / {stats.frames_published} / {stats.frames_dropped}", *both("{n} / {n} / 0"), "–"],
        ["mask age p50 / p95 (ms)", f"{ms(stats.mask_age_ms_p50)} / {ms(stats.mask_age_ms_p95)}",
         *both("0 (each frame waits)"), "–"],
        ["fail-closed frames", f"{stats.frames_fully_redacted} ({reasons})", "–", "–", "0 after start-up"],
        ["latency capture → sinks p50 / p95 (ms), pipeline stats",
         f"{ms(stats.latency_ms_p50)} / {ms(stats.latency_ms_p95)}", *both("≥ {ms:.0f} (one frame's work)"), target],
        ["latency capture → sink write p50 / p95 (ms), measured in the sink", f"{p50:.1f} / {p95:.1f}", "–", "–",
         target],
        ["process CPU (100 % = one core)", f"{cpu['cpu_percent']:.0f} %", *both("{cpu:.0f} %"), "–"],
    ]
    print()
    print(benchlib.markdown_table(
        ["figure", f"livefilter ({args.engine}, low_latency)", f"deface (full {width}x{height})",
         f"deface (--scale {scaled[0]}x{scaled[1]})", "target"], rows))
    if args.plot:
        title = f"livefilter live: latency of every output frame ({width}x{height}, {args.fps:g} fps, {args.engine})"
        plot(written, latencies, interval_ms, title, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
