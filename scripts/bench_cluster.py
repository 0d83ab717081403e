"""The cost of the Ray layer against the plain daemon, and the failover timeline, on this machine.

    RAY_AUTH_MODE=disabled python scripts/bench_cluster.py            # 4 cameras, 15 s windows
    RAY_AUTH_MODE=disabled python scripts/bench_cluster.py --window 30 --cameras 6
    RAY_AUTH_MODE=disabled python scripts/bench_cluster.py --worker-niceness 15   # Ray's default priority

The same site (N demo cameras, 320x180 at 10 fps, the real shared CPU face engine, one image
sink per camera writing every frame) runs

1. in one in-process :class:`~livefilter.daemon.service.Daemon`;
2. on a local Ray cluster (``ray.init``) as a :class:`~livefilter.cluster.ClusterDaemon` with two
   worker actors of one CPU each.

For each: start-up (constructor to every camera's first masked, not fully redacted, frame; for the
cluster including ``ray.init``), then over a window the CPU of every process involved (the
driver and all its child processes: Ray's GCS, raylet, workers; 100 % = one core) and their
memory (PSS, so shared pages are not counted twice), and how long each worker's health answers
take (the controller's age of its last answer, sampled every 0.1 s from the start to the window's
end: cameras starting included; it is ``health_s`` plus the answer's delay at most while healthy).
The workers run at ``--worker-niceness`` (0, as ``address: local`` runs them; Ray's own default is
15, which starves them behind any other work on the node). Then the failover timeline: worker-1 is
killed (``ray.kill``), then, after it is replaced, the other worker is stopped with SIGSTOP (hung);
for each: time to detection (the controller drops the worker), to the move (its placement changes,
once the lease the worker was last granted has run out: ``hang_s`` after that grant plus
``max_clock_skew_s``), to each moved camera's first frame from its new session, and to its first
masked frame.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from tests.cluster.frames import FrameWatcher, Judge  # noqa: E402

DEMO = {"kind": "demo", "width": 320, "height": 180, "fps": 10.0, "duration_s": None}


def site(folder: Path, cameras: int, cluster: bool) -> dict:
    data: dict = {
        "engine": {"kind": "cpu-face"},
        "defaults": {"render": {"fps": 10.0, "style": "solid", "fail_closed_style": "solid"},
                     "runtime": {"stats_interval_s": 3600}},
        "retry": {"min_s": 0.2, "max_s": 1.0},
        "http": {"enabled": False},
        "audit": {"path": str(folder / "audit.jsonl")},
        "cameras": {
            f"cam{i}": {"source": DEMO, "sinks": [{"kind": "image", "path": str(folder / f"cam{i}" / "{index:06d}.png")}]}
            for i in range(cameras)
        },
    }
    if cluster:
        data["cluster"] = {"address": "auto", "workers": {"count": 2, "num_cpus": 1, "cameras": cameras},
                           "health_s": 0.5, "hang_s": 3.0}
    return data


def processes() -> list[psutil.Process]:
    me = psutil.Process()
    return [me, *me.children(recursive=True)]


def usage(window_s: float) -> tuple[float, float, int]:
    """(CPU % of one core, PSS MB, processes) of this process and its children over ``window_s``."""
    def cpu(procs: list[psutil.Process]) -> dict[int, float]:
        out = {}
        for p in procs:
            try:
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
            except psutil.Error:
                pass
        return out

    before, t0 = cpu(processes()), time.monotonic()
    time.sleep(window_s)
    procs = processes()
    after, t1 = cpu(procs), time.monotonic()
    used = sum(after[pid] - before.get(pid, 0.0) for pid in after)
    pss = 0
    for p in procs:
        try:
            pss += p.memory_full_info().pss
        except psutil.Error:
            pass
    return 100.0 * used / (t1 - t0), pss / 2**20, len(procs)


def first_masked(watchers: dict[str, FrameWatcher], since: float, timeout: float = 120.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(any(s.kind != "full" and s.t >= since for s in w.seen) for w in watchers.values()):
            return time.monotonic() - since
        time.sleep(0.05)
    raise SystemExit("cameras never published masked frames")


def session_times(watcher: FrameWatcher, since: float, moved_at: float) -> tuple[float | None, float | None]:
    """Seconds from ``since`` to the moved camera's new session's first frame and first masked frame
    (told by write time, as the tests do: :meth:`~tests.cluster.frames.FrameWatcher.new_session`)."""
    first, masked = watcher.new_session(moved_at)
    return (None if first is None else first.t - since), (None if masked is None else masked.t - since)


def lose(daemon, watchers: dict[str, FrameWatcher], worker: str, how: str, ray) -> dict:
    before = daemon.placement()
    moving = sorted(c for c, w in before.items() if w == worker)
    actor, pid = daemon.workers()[worker]
    t0 = time.monotonic()
    if how == "kill":
        ray.kill(actor, no_restart=True)
    else:
        os.kill(pid, signal.SIGSTOP)
    while worker in daemon.health():
        time.sleep(0.01)
    detected = time.monotonic() - t0
    while any(daemon.placement().get(c) == worker for c in moving):
        time.sleep(0.01)
    moved, moved_at = time.monotonic() - t0, time.time()
    deadline = time.monotonic() + 120
    times: dict[str, tuple[float | None, float | None]] = {}
    while time.monotonic() < deadline:
        times = {c: session_times(watchers[c], t0, moved_at) for c in moving}
        if all(m is not None for _, m in times.values()):
            break
        time.sleep(0.1)
    if how != "kill":
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    return {"how": how, "worker": worker, "detected_s": detected, "moved_s": moved, "times": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--window", type=float, default=15.0, help="seconds of CPU/memory measurement")
    parser.add_argument("--worker-niceness", type=int, default=0, help="the Ray workers' nice value (Ray's default: 15)")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")

    from livefilter.cluster import ClusterDaemon
    from livefilter.daemon.config import parse_site
    from livefilter.daemon.service import Daemon

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "plain"
        judge = Judge(DEMO)
        t0 = time.monotonic()
        daemon = Daemon(parse_site(site(folder, args.cameras, cluster=False)))
        daemon.start()
        watchers = {n: FrameWatcher(folder / n, judge).start() for n in daemon.site.cameras}
        startup = first_masked(watchers, t0)
        cpu, pss, n = usage(args.window)
        daemon.stop()
        for w in watchers.values():
            w.stop()
        rows.append(("plain daemon", startup, cpu, pss, n))

        import ray

        folder = Path(tmp) / "cluster"
        t0 = time.monotonic()
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False,
                 _system_config={"worker_niceness": args.worker_niceness})
        t_ray = time.monotonic() - t0
        cluster = ClusterDaemon(parse_site(site(folder, args.cameras, cluster=True)))
        cluster.start()
        ages: list[float] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.1):
                ages.extend(cluster.health().values())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        watchers = {n: FrameWatcher(folder / n, judge).start() for n in cluster.site.cameras}
        startup = first_masked(watchers, t0)
        cpu, pss, n = usage(args.window)
        sampling.set()
        sampler.join()
        rows.append(("Ray cluster, 2 workers", startup, cpu, pss, n))

        failovers = [lose(cluster, watchers, "worker-1", "kill", ray)]
        deadline = time.monotonic() + 120
        while "worker-1" not in cluster.workers() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.0)
        failovers.append(lose(cluster, watchers, "worker-0", "hang", ray))
        cluster.stop()
        for w in watchers.values():
            w.stop()
        leaks = sum(s.kind == "leak" for w in watchers.values() for s in w.seen)
        frames = sum(len(w.seen) for w in watchers.values())
        ray.shutdown()

    print(f"\n{args.cameras} demo cameras 320x180@10 fps, shared CPU face engine, image sinks; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| run | start-up to every camera masked (s) | CPU (% of a core) | PSS MB | processes |")
    print("|---|---|---|---|---|")
    for name, s, c, m, n in rows:
        print(f"| {name} | {s:.1f} | {c:.0f} | {m:.0f} | {n} |")
    plain, ray_row = rows
    print(f"ratios cluster/plain: start-up {ray_row[1] / plain[1]:.2f}x (ray.init {t_ray:.1f} s of it), "
          f"CPU {ray_row[2] / plain[2]:.2f}x, PSS {ray_row[3] / plain[3]:.2f}x")
    ages.sort()
    print(f"workers at nice {args.worker_niceness}: age of their last health answer (health_s 0.5 s), "
          f"{len(ages)} samples: median {ages[len(ages) // 2]:.2f} s, p99 {ages[int(len(ages) * 0.99)]:.2f} s, "
          f"max {ages[-1]:.2f} s (hang_s 3 s)")
    print("\n| worker lost by | detected (s) | moved (s) | camera | new session's first frame (s) | first masked frame (s) |")
    print("|---|---|---|---|---|---|")
    for f in failovers:
        for camera, (first, masked) in f["times"].items():
            fmt = lambda v: "n/a" if v is None else f"{v:.1f}"  # noqa: E731
            print(f"| {f['how']} ({f['worker']}) | {f['detected_s']:.1f} | {f['moved_s']:.1f} | {camera} | "
                  f"{fmt(first)} | {fmt(masked)} |")
    print(f"\nframes judged over the cluster run: {frames}; frames showing a face pixel as captured outside "
          f"the judge's reappearance window: {leaks} (the real detector's misses, not fail-open frames)")


if __name__ == "__main__":
    main()
