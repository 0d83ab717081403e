#!/usr/bin/env python
"""SAM3 engine cost and memory, offline, with randomly initialised models.

Tiny model (default): streams ``--frames`` synthetic 640x480 frames (default 10 000) through
``Sam3Engine`` with its memory window (``memory_frames``), then ``--unbounded-frames``
(default 2 000) with the window switched off, as transformers would run; prints time per
frame and process RSS as it goes, and the RSS growth per 1 000 frames of both.

``--full-size``: the architecture of ``facebook/sam3`` (0.86 B parameters) with random
weights, two streamed frames in float32 and two in bfloat16 (the second one propagates the
first one's tracks), to show what SAM3 costs on this machine (minutes and ~5 GB on 2 CPU cores).

Random weights measure cost and memory, never quality.

Expected GPU path (not measurable here): ``engine.sam3.device: auto`` picks CUDA, dtype
bfloat16, the whole session (frames, features, memories) stays on the GPU; the per-frame
cost is one ViT-L backbone pass at 1008 px plus DETR per prompt plus the tracker per object.
``detect_every: N`` skips the DETR stages on N-1 of N frames, ``resolution`` (e.g. 644 or
560) shrinks every stage roughly with the pixel count, ``compile: true`` compiles the
backbone (slow first frames). GPU memory stays flat for the same reason RSS does here.

    python scripts/bench_sam3.py --frames 2000
    python scripts/bench_sam3.py --full-size
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from livefilter.config.engine import Sam3Config
from livefilter.engines.sam3 import Sam3Engine
from livefilter.types import Frame, Prompt

PROMPTS = [Prompt("face", 0.15), Prompt("license plate", 0.15)]


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def scene(i: int, height: int = 480, width: int = 640) -> np.ndarray:
    """A fixed random texture with two boxes moving across it (BGR)."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 120, (height, width, 3), dtype=np.uint8)
    x = (20 + 4 * i) % (width - 120)
    image[120:300, x:x + 120] = (40, 200, 250)
    image[300:400, width - 140 - x // 2:width - 40 - x // 2] = (250, 250, 250)
    return image


def stream(model: str, frames: int, *, window: bool, every: int) -> dict[str, float]:
    """Run the engine over ``frames`` frames; print progress; return RSS growth and time figures."""
    from livefilter.engines.sam3_model import Sam3Stream

    engine = Sam3Engine(Sam3Config(model=model, max_objects_per_prompt=4), PROMPTS)
    original_trim = Sam3Stream._trim
    if not window:
        Sam3Stream._trim = lambda self, idx: None  # type: ignore[method-assign]
    try:
        engine.open()
        engine.add_points(None, [(320, 240)], [1], object_id=1)
        label = "with memory window" if window else "without window (transformers' behaviour)"
        print(f"\n{label}: {frames} frames")
        print(f"{'frame':>7} {'ms/frame':>9} {'RSS MB':>8} {'objects':>8}")
        marks: list[tuple[int, float]] = []
        times: list[float] = []
        objects = 0
        for i in range(frames):
            image = scene(i)
            start = time.perf_counter()
            objects = len(engine.infer(Frame(image, i, t_capture=i / 30)))
            times.append(time.perf_counter() - start)
            if (i + 1) % every == 0 or i + 1 == frames:
                rss = rss_mb()
                marks.append((i + 1, rss))
                print(f"{i + 1:>7} {1000 * np.mean(times[-every:]):>9.1f} {rss:>8.1f} {objects:>8}", flush=True)
    finally:
        engine.close()
        Sam3Stream._trim = original_trim  # type: ignore[method-assign]
    # Growth measured after warm-up (allocator and caches settle in the first 10 %).
    start_frame, start_rss = marks[max(0, len(marks) // 10)]
    end_frame, end_rss = marks[-1]
    growth = (end_rss - start_rss) / max(1, end_frame - start_frame) * 1000
    first, last = times[: max(1, len(times) // 10)], times[-max(1, len(times) // 10):]
    return {"growth": growth, "first_ms": 1000 * float(np.mean(first)), "last_ms": 1000 * float(np.mean(last)),
            "rss": end_rss}


def tiny(args: argparse.Namespace) -> None:
    from livefilter.engines.sam3_tiny import save_tiny_sam3

    with tempfile.TemporaryDirectory() as folder:
        model = str(save_tiny_sam3(Path(folder) / "tiny", image_size=112))
        bounded = stream(model, args.frames, window=True, every=args.every)
        unbounded = stream(model, args.unbounded_frames, window=False, every=args.every) if args.unbounded_frames else None
    print("\nsummary (tiny random model, 640x480 frames, 2 prompts + 1 click object)")
    rows = [("memory window", bounded)] + ([("no window", unbounded)] if unbounded else [])
    for name, r in rows:
        print(f"  {name:<14} RSS growth {r['growth']:+8.2f} MB / 1000 frames; ms/frame first 10% "
              f"{r['first_ms']:.1f}, last 10% {r['last_ms']:.1f} (x{r['last_ms'] / r['first_ms']:.2f})")
    if unbounded:
        print(f"  ratio of growth, no window / window: {unbounded['growth'] / max(abs(bounded['growth']), 1e-3):.1f}")


def full_size(args: argparse.Namespace) -> None:
    import torch

    from livefilter.engines.sam3_model import Sam3Stream, StreamingSam3VideoModel
    from livefilter.engines.sam3_tiny import full_size_config, tiny_processor

    cores = len(os.sched_getaffinity(0))
    print(f"full-size SAM3 architecture, random weights, {cores} CPU cores, torch threads {torch.get_num_threads()}")
    before = rss_mb()
    start = time.perf_counter()
    model = StreamingSam3VideoModel(full_size_config()).eval()
    params = sum(p.numel() for p in model.parameters())
    print(f"built {params / 1e9:.3f} B parameters in {time.perf_counter() - start:.0f} s, RSS {rss_mb():.0f} MB "
          f"(+{rss_mb() - before:.0f})")
    processor = tiny_processor(1008)
    image = np.ascontiguousarray(scene(0)[..., ::-1])
    for dtype in (torch.float32, torch.bfloat16):
        model.to(dtype)
        run = Sam3Stream(model, processor, device=torch.device("cpu"), dtype=dtype, window=16, max_per_prompt=16,
                         unconfirmed_drop_frames=15, detect_every=1, confirm_threshold=0.3)
        run.set_prompts([Prompt("face", 0.0)])  # threshold 0: up to 16 tracked objects, a busy scene
        for i in range(args.full_frames):
            start = time.perf_counter()
            objects = run.step(image)
            print(f"{str(dtype).removeprefix('torch.'):>9} frame {i}: {time.perf_counter() - start:6.1f} s, "
                  f"{len(objects)} objects, RSS {rss_mb():.0f} MB", flush=True)
        del run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10_000, help="frames with the memory window (tiny model)")
    parser.add_argument("--unbounded-frames", type=int, default=2_000,
                        help="frames without the window (0 skips; memory grows without bound)")
    parser.add_argument("--every", type=int, default=500, help="print a line every N frames")
    parser.add_argument("--full-size", action="store_true", help="the full-size architecture instead (minutes, ~5 GB)")
    parser.add_argument("--full-frames", type=int, default=2,
                        help="frames per dtype with --full-size (the 2nd one also propagates the tracks)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: 1 for the tiny model, torch's default for --full-size)")
    args = parser.parse_args()
    import torch

    threads = args.threads or (None if args.full_size else 1)
    if threads:
        torch.set_num_threads(threads)  # a tiny model gains nothing from threads that fight a busy machine
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    full_size(args) if args.full_size else tiny(args)


if __name__ == "__main__":
    main()
