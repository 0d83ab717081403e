#!/usr/bin/env python3
"""CPU per shown frame of ``render.live_guard: hide_changes``, and how much of the picture it hides.

    python scripts/bench_live_guard.py                 # 720p and 1080p
    python scripts/bench_live_guard.py --tier 720p --answers 2

The guard runs on every frame the render shows with older masks (30 a second): it compares the
frame with the one the engine answered for. The leak benchmark's clips are used (``bench_leak.py``:
a still camera with small faces, and the two drifting-camera scenes); each engine answer is shown
on the next 8 frames, as at about 4 answers a second. Two ways, on the same frames, in the same
process, timed with the process CPU clock:

- *still comparison*: the cell means of the shown frame against the masks' frame's (the guard
  before camera motion was compensated: ``cell_means`` + ``changed_cells``);
- *guard*: what the render calls (``UnseenChange.since``): the same, and when much of the picture
  changed, the camera's motion estimated and the frame compared against the masks' frame moved by it.

The ratio guard / still is the figure that carries over to other machines; "hidden" is the mean
share of the picture the guard hides (not counting masks).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_leak  # noqa: E402

SCENES = ("small faces", "car park (no faces)", "patterns (no faces)")
SHOWN_PER_ANSWER = 8


def measure(frames: list[np.ndarray], answers: list[int]) -> dict[str, float]:
    from livefilter.render.change import cell_means, changed_cells
    from livefilter.runtime.render import UnseenChange
    from livefilter.types import Frame

    height, width = frames[0].shape[:2]
    pictures = [Frame(image, index=i, t_capture=i / 30) for i, image in enumerate(frames)]
    shown = [(a, a + k) for a in answers for k in range(1, SHOWN_PER_ANSWER + 1)]

    def still() -> list[float]:
        out, reference = [], None
        for seen, now in shown:
            if now == seen + 1:
                reference = cell_means(frames[seen])
            changed = changed_cells(reference, cell_means(frames[now]), height=height, width=width)
            out.append(0.0 if changed is None else float(changed.mean()))
        return out

    def guard() -> list[float]:
        unseen = UnseenChange()
        out = []
        for seen, now in shown:
            change = unseen.since(pictures[seen], pictures[now])
            out.append(0.0 if change is None else float(change.mask.mean()))
        return out

    cpu: dict[str, list[float]] = {"still": [], "guard": []}
    hidden: dict[str, list[float]] = {}
    for _ in range(3):  # interleaved, best of three: other load on the machine only adds time
        for name, run in (("still", still), ("guard", guard)):
            start = time.process_time()
            hidden[name] = run()
            cpu[name].append((time.process_time() - start) / len(shown) * 1000)
    return {"still_ms": min(cpu["still"]), "guard_ms": min(cpu["guard"]),
            "still_hidden": float(np.mean(hidden["still"])), "guard_hidden": float(np.mean(hidden["guard"]))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", default="720p,1080p", help="comma list of 720p, 1080p")
    parser.add_argument("--answers", type=int, default=4, help="engine answers per clip (each shown on 8 frames)")
    args = parser.parse_args(argv)

    media = bench_leak.Media.load()
    scenarios = {s.name: s for s in bench_leak.SCENARIOS}
    n_frames = 20 * args.answers  # within one shot of the car park (cuts every 20 frames)
    print("| tier | scene | still comparison ms | guard ms | guard / still | hidden: still | hidden: guard |")
    print("|---|---|---|---|---|---|---|")
    for tier in args.tier.split(","):
        for name in SCENES:
            clip = bench_leak.render_clip(scenarios[name], tier, fps=30.0, n_frames=n_frames, seed=0, media=media)
            answers = [20 * a + 2 for a in range(args.answers)]  # 2..10 of each 20-frame shot
            m = measure(clip.frames, answers)
            print(f"| {tier} | {name} | {m['still_ms']:.2f} | {m['guard_ms']:.2f} | {m['guard_ms'] / m['still_ms']:.2f}x "
                  f"| {m['still_hidden']:.1%} | {m['guard_hidden']:.1%} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
