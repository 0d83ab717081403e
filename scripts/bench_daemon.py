"""The daemon's capacity on this machine: 1280x720 cameras against the shared CPU face engine.

    python scripts/bench_daemon.py            # full: cameras 1..8, shared vs per-process, 3 min reload soak
    python scripts/bench_daemon.py --quick    # shorter windows, fewer points

1. **Cameras at 15 fps out.** For N demo cameras (a real face photo moving over a background,
   paced at 15 fps like a camera, 1280x720) in one ``livefilter serve`` daemon (in process, the
   real :class:`~livefilter.daemon.service.Daemon`), measured over a window after warm-up: each
   camera's output rate, the share of frames published fully redacted (fail-closed), the rate the
   shared engine answered each camera, mask age p95, the process CPU (100 % = one core) and RSS.
   N "sustains 15 fps" when every camera publishes >= 14.25 fps with < 1 % fail-closed frames.
   Sinks are null by default (the filter alone); ``--sink file`` adds an H.264 encode per camera.
2. **Shared engine vs one process per camera.** The same N cameras as N ``livefilter run``
   processes (one engine each): total CPU and RSS of the processes, vs the daemon's.
3. **Memory with reloads.** Two cameras for ``--soak`` seconds; every 10 s the file changes (one
   camera's style: a restart; the other's prompts: in place). RSS over time, growth after warm-up.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGET_FPS = 15.0


def camera(index: int, sink: str, folder: Path) -> dict:
    sinks = [{"kind": "null"}] if sink == "null" else [{"kind": "file", "path": str(folder / f"cam{index}.mp4")}]
    return {
        "source": {"kind": "demo", "width": 1280, "height": 720, "fps": TARGET_FPS, "duration_s": None, "seed": index},
        "sinks": sinks,
    }


def site(cameras: int, sink: str, folder: Path) -> dict:
    return {
        "engine": {"kind": "cpu-face"},
        "defaults": {"render": {"fps": TARGET_FPS}, "runtime": {"stats_interval_s": 3600}},
        "http": {"enabled": False},
        "audit": {"path": str(folder / "audit.jsonl")},
        "cameras": {f"cam{i}": camera(i, sink, folder) for i in range(cameras)},
    }


def measure_daemon(cameras: int, sink: str, warmup_s: float, window_s: float) -> dict:
    from livefilter.daemon.config import parse_site
    from livefilter.daemon.service import Daemon

    with tempfile.TemporaryDirectory() as tmp:
        daemon = Daemon(parse_site(site(cameras, sink, Path(tmp))))
        daemon.start()
        try:
            time.sleep(warmup_s)
            before = {r.name: r.totals() for r in daemon.runners()}
            engine_before = {name: (u.frames, u.cpu_seconds) for name, u in daemon.engine.usage().items()}
            with benchlib.cpu_meter() as cpu:
                time.sleep(window_s)
            after = {r.name: r.totals() for r in daemon.runners()}
            engine_after = {name: (u.frames, u.cpu_seconds) for name, u in daemon.engine.usage().items()}
            mask_p95 = [stats.mask_age_ms_p95 for r in daemon.runners() if (stats := r.stats()) is not None]
            rss_mb = psutil.Process().memory_info().rss / 2**20
        finally:
            daemon.stop()
    out_fps, engine_fps, failed = [], [], []
    for name, end in after.items():
        start = before[name]
        published = end.counters["frames_published"] - start.counters["frames_published"]
        out_fps.append(published / cpu["seconds"])
        engine_fps.append((end.counters["frames_inferred"] - start.counters["frames_inferred"]) / cpu["seconds"])
        fully = sum((end.fail_closed - start.fail_closed).values())
        failed.append(fully / max(published, 1))
    inferences = sum(engine_after[n][0] - engine_before.get(n, (0, 0.0))[0] for n in engine_after)
    engine_cpu = sum(engine_after[n][1] - engine_before.get(n, (0, 0.0))[1] for n in engine_after)
    process_cpu_s = cpu["cpu_percent"] / 100.0 * cpu["seconds"]
    return {
        "cameras": cameras,
        "engine_cpu_ms": 1000.0 * engine_cpu / max(inferences, 1),
        "other_cpu_per_camera": (process_cpu_s - engine_cpu) / cpu["seconds"] / cameras,
        "out_fps_min": min(out_fps),
        "out_fps_mean": sum(out_fps) / len(out_fps),
        "engine_fps_mean": sum(engine_fps) / len(engine_fps),
        "fail_closed_max": max(failed),
        "mask_age_p95_ms": max((m for m in mask_p95 if m is not None), default=float("nan")),
        "cpu_percent": cpu["cpu_percent"],
        "rss_mb": rss_mb,
        "sustains": min(out_fps) >= 0.95 * TARGET_FPS and max(failed) < 0.01,
    }


def measure_processes(cameras: int, sink: str, warmup_s: float, window_s: float) -> dict:
    """N ``livefilter run`` processes, one camera each; CPU and RSS summed over the window."""
    with tempfile.TemporaryDirectory() as tmp:
        processes = []
        for i in range(cameras):
            config = Path(tmp) / f"cam{i}.yaml"
            one = camera(i, sink, Path(tmp))
            config.write_text(yaml.safe_dump({
                **one, "engine": {"kind": "cpu-face"}, "render": {"fps": TARGET_FPS},
                "runtime": {"stats_interval_s": 3600, "max_duration_s": warmup_s + window_s + 2},
            }))
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "livefilter", "run", str(config)],
                env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            ))
        handles = [psutil.Process(p.pid) for p in processes]
        time.sleep(warmup_s)
        for handle in handles:
            handle.cpu_percent(None)
        t0 = time.monotonic()
        time.sleep(window_s)
        cpu = sum(handle.cpu_percent(None) for handle in handles)
        rss = sum(handle.memory_info().rss for handle in handles) / 2**20
        seconds = time.monotonic() - t0
        outputs = [p.communicate(timeout=120)[0] for p in processes]
    fps = [_output_fps(text) for text in outputs]
    return {"cameras": cameras, "cpu_percent": cpu, "rss_mb": rss, "out_fps_min": min(fps), "seconds": seconds}


def _output_fps(stats_text: str) -> float:
    for line in stats_text.splitlines():
        if line.strip().startswith("output"):
            return float(line.split()[1])
    return float("nan")


def soak(seconds: float, reload_every_s: float = 10.0) -> list[tuple[float, float, int]]:
    """(elapsed s, RSS MB, frames published) every 2 s over a run with a reload every ``reload_every_s``."""
    from livefilter.daemon.config import load_site
    from livefilter.daemon.service import Daemon

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "site.yaml"
        data = site(2, "null", Path(tmp))
        path.write_text(yaml.safe_dump(data))
        daemon = Daemon(load_site(path), path=str(path))
        daemon.start()
        samples: list[tuple[float, float, int]] = []
        t0 = time.monotonic()
        next_reload = t0 + reload_every_s
        flip = False
        try:
            while (now := time.monotonic()) - t0 < seconds:
                if now >= next_reload:
                    flip = not flip
                    data["cameras"]["cam0"]["render"] = {"style": "solid" if flip else "blur"}  # restart
                    data["cameras"]["cam1"]["prompts"] = ["head" if flip else "face"]  # in place
                    path.write_text(yaml.safe_dump(data))
                    daemon.reload("bench")
                    next_reload = now + reload_every_s
                published = sum(r.totals().counters["frames_published"] for r in daemon.runners())
                samples.append((now - t0, psutil.Process().memory_info().rss / 2**20, published))
                time.sleep(2.0)
        finally:
            daemon.stop()
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sink", choices=("null", "file"), default="null")
    parser.add_argument("--cameras", type=int, nargs="*", help="camera counts to try (default 1 2 3 4 6 8)")
    parser.add_argument("--soak", type=float, help="seconds of the reload soak (default 180, quick 40)")
    args = parser.parse_args(argv)
    warmup, window = (4.0, 8.0) if args.quick else (6.0, 20.0)
    counts = args.cameras or ([1, 2, 4] if args.quick else [1, 2, 3, 4, 6, 8])
    print(f"# {benchlib.machine_summary()}")
    print(f"# 1280x720 demo cameras at {TARGET_FPS:g} fps, shared cpu-face engine, sinks: {args.sink}; "
          f"warm-up {warmup:g} s, window {window:g} s")

    rows, shared = [], {}
    for n in counts:
        r = measure_daemon(n, args.sink, warmup, window)
        shared[n] = r
        rows.append([n, f"{r['out_fps_min']:.1f}", f"{r['engine_fps_mean']:.1f}", f"{r['engine_cpu_ms']:.1f}",
                     f"{100 * r['fail_closed_max']:.1f} %",
                     f"{r['mask_age_p95_ms']:.0f}", f"{r['cpu_percent']:.0f} %", f"{r['cpu_percent'] / n:.0f} %",
                     f"{r['rss_mb']:.0f}", "yes" if r["sustains"] else "no"])
        print(f"# {n} cameras: done", file=sys.stderr)
    print("\n## Cameras in one daemon\n")
    print(benchlib.markdown_table(
        ["cameras", "out fps (worst camera)", "engine fps per camera", "engine CPU ms per frame", "fail-closed (worst)",
         "mask age p95 ms",
         "CPU", "CPU per camera", "RSS MB", "sustains 15 fps"], rows))
    if len(shared) > 1:
        low, high = min(shared), max(shared)
        per_camera_mb = (shared[high]["rss_mb"] - shared[low]["rss_mb"]) / (high - low)
        print(f"\nRSS per added camera: {per_camera_mb:.0f} MB ({low} -> {high} cameras)")

    # Capacity on an otherwise idle machine, from CPU time (robust to other load): the engine is
    # one thread (<= 1 core); capture + render of each camera run on their own threads.
    cost_s = sum(r["engine_cpu_ms"] for r in shared.values()) / len(shared) / 1000.0
    other = sum(r["other_cpu_per_camera"] for r in shared.values()) / len(shared)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    print(f"\nCPU time: engine {1000 * cost_s:.1f} ms per frame answered; capture + render + sinks "
          f"{100 * other:.0f} % of a core per camera at {TARGET_FPS:g} fps out")
    for rate in (5.0, 7.5):
        by_engine = 1.0 / (cost_s * rate)
        by_cores = cores / (other + cost_s * rate)
        print(f"  engine answering each camera {rate:g}x/s: the engine thread allows {by_engine:.1f} cameras, "
              f"{cores} cores allow {by_cores:.1f} -> about {int(min(by_engine, by_cores))} cameras at 15 fps out")

    compare = [n for n in counts if n in (2, 4)] or counts[:1]
    rows = []
    for n in compare:
        p = measure_processes(n, args.sink, warmup + 4.0, window)
        s = shared[n]
        rows.append([n, f"{s['cpu_percent']:.0f} %", f"{p['cpu_percent']:.0f} %", f"{p['cpu_percent'] / s['cpu_percent']:.2f}x",
                     f"{s['rss_mb']:.0f}", f"{p['rss_mb']:.0f}", f"{p['rss_mb'] / s['rss_mb']:.2f}x",
                     f"{s['out_fps_min']:.1f}", f"{p['out_fps_min']:.1f}"])
    print("\n## Shared engine (one daemon) vs one `livefilter run` process per camera\n")
    print(benchlib.markdown_table(
        ["cameras", "CPU shared", "CPU per-process", "ratio", "RSS MB shared", "RSS MB per-process", "ratio",
         "out fps shared (worst)", "out fps per-process (worst)"], rows))

    seconds = args.soak or (40.0 if args.quick else 180.0)
    samples = soak(seconds)
    warm = [s for s in samples if s[0] >= min(20.0, seconds / 3)]
    growth = warm[-1][1] - warm[0][1] if len(warm) > 1 else float("nan")
    print(f"\n## Memory over {seconds:.0f} s with a reload every 10 s (2 cameras)\n")
    print(f"RSS after warm-up {warm[0][1]:.0f} MB -> end {warm[-1][1]:.0f} MB (growth {growth:+.1f} MB, "
          f"max {max(s[1] for s in samples):.0f} MB); {samples[-1][2]} frames published; "
          f"{int(seconds // 10)} reloads")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
