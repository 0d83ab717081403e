"""Per-frame cost of compositing redaction, against the seed tutorial's compositor.

Both run in this process on the same frames and masks. The seed compositor
blurs the whole frame with PIL (``ImageFilter.GaussianBlur(radius=sigma)``),
pastes every mask into one ``L`` composite and pastes the blur through it. It
gets a ready PIL image and returns one (no conversions timed), while ours
takes a Frame + MaskSet and returns a RedactedFrame (fresh read-only buffer,
masks dilated, grown along their motion for their age, and redacted).
The MaskSet is built before timing, as the seed's masks are: its per-object boxes
(``MaskSet.boxes``) are paid once per engine result, in the engine thread, and that
cost is printed on its own line below the table.
Each of our calls runs right after a seed call, so it starts with the CPU caches
the seed's work has flushed: the three masks and the frame come from memory.
(Timed alone in a loop, with warm caches, ours is about 1.5x faster still.)

    python scripts/bench_render.py            # full table (about a minute)
    python scripts/bench_render.py --quick    # CI smoke: one size, one repetition
    python scripts/bench_render.py --cpu-time # on a busy shared machine: single-thread CPU time

Needs Pillow (``pip install livefilter[bench]``).
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from livefilter.config.render import RenderConfig
from livefilter.render import Compositor
from livefilter.types import Frame, MaskSet, mask_boxes

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
COVERAGES = (0.02, 0.10, 0.30)
STYLES = ("blur", "pixelate", "solid")
ELLIPSES = 3
MASK_AGE_S = 0.1
VELOCITY = (120.0, -40.0)


def make_frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A camera-like test picture: smooth gradients plus sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], axis=2)
    noisy = base + rng.normal(0, 20, base.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def make_masks(width: int, height: int, coverage: float) -> np.ndarray:
    """(ELLIPSES, H, W) bool: upright ellipses (face-like, 3:4) covering ``coverage`` of the frame."""
    import cv2

    area = coverage * width * height / ELLIPSES
    semi_x = math.sqrt(area / (math.pi * 4 / 3))
    semi_y = semi_x * 4 / 3
    masks = np.zeros((ELLIPSES, height, width), np.uint8)
    for i in range(ELLIPSES):
        cx = int(width * (i + 0.5) / ELLIPSES)
        cy = int(height * (0.45 + 0.1 * (i % 2)))
        cv2.ellipse(masks[i], (cx, cy), (round(semi_x), round(semi_y)), 0, 0, 360, 1, -1)
    return masks.astype(bool)


def seed_composite(image, masks: np.ndarray, radius: float):
    """The seed tutorial's compositor: whole-frame PIL blur pasted through a composite mask."""
    from PIL import Image, ImageFilter

    blurred = image.filter(ImageFilter.GaussianBlur(radius=radius))
    composite = Image.new("L", image.size, 0)
    for mask in masks:
        layer = Image.fromarray(mask.astype(np.uint8) * 255, mode="L")
        composite.paste(layer, (0, 0), layer)
    final = image.copy()
    final.paste(blurred, mask=composite)
    return final


Clock = Callable[[], float]


def median_ms(fn: Callable[[], object], repeats: int, clock: Clock) -> float:
    return paired_ms(fn, repeats=repeats, clock=clock)[0]


def paired_ms(*fns: Callable[[], object], repeats: int, clock: Clock) -> list[float]:
    """Median ms of each function, timed in turn, so all see the same machine load."""
    for fn in fns:
        fn()  # warm-up: first-call allocations and OpenCV dispatch
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, fn_times in zip(fns, times):
            start = clock()
            fn()
            fn_times.append(clock() - start)
    return [statistics.median(fn_times) * 1e3 for fn_times in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke: 720p only, one repetition")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per cell (default 21, quick 1)")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time the calling thread's CPU with OpenCV single-threaded (like PIL): both then run wholly "
        "on this thread, so other processes on a busy machine skew the figures less than wall time",
    )
    args = parser.parse_args()
    import cv2
    from PIL import Image

    clock: Clock = time.perf_counter
    if args.cpu_time:
        cv2.setNumThreads(1)
        clock = time.thread_time

    repeats = args.repeats or (1 if args.quick else 21)
    sizes = {"720p": SIZES["720p"]} if args.quick else SIZES
    base = RenderConfig()
    sigma = base.blur_strength
    print(
        f"render cost, {'thread CPU' if args.cpu_time else 'wall'} ms/frame (median of {repeats}, seed and "
        f"ours alternating); blur sigma={sigma}, "
        f"pixelate block={base.pixelate_block}, dilation {base.dilation_px}px/{base.dilation_percent}%, "
        f"masks {MASK_AGE_S * 1000:.0f} ms old moving {VELOCITY} px/s, {ELLIPSES} ellipses"
    )
    print(
        f"machine load average (1 min) at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
        f"OpenCV threads: {cv2.getNumThreads()}"
    )
    print(f"{'size':6} {'cover':>6} {'style':9} {'seed ms':>8} {'ours ms':>8} {'seed/ours':>9}")
    ratios = []
    box_costs = []
    for size_name, (width, height) in sizes.items():
        image = make_frame(width, height)
        frame = Frame(image, index=1, t_capture=0.0)
        pil_image = Image.fromarray(np.ascontiguousarray(image[:, :, ::-1]))
        for coverage in COVERAGES:
            raw = make_masks(width, height, coverage)
            masks = MaskSet(
                raw,
                scores=np.ones(len(raw)),
                labels=("face",) * len(raw),
                object_ids=np.arange(len(raw)),
                frame_index=0,
                t_capture=0.0,
                velocities=np.tile(VELOCITY, (len(raw), 1)),
            )
            actual = raw.any(axis=0).mean()
            box_ms = median_ms(functools.partial(mask_boxes, raw), repeats, clock)
            box_costs.append(f"{size_name} {actual:.0%} {box_ms:.2f}")
            for style in STYLES:
                compositor = Compositor(base.model_copy(update={"style": style}))
                seed_ms, ours_ms = paired_ms(
                    functools.partial(seed_composite, pil_image, raw, sigma),
                    functools.partial(compositor.redact_regions, frame, masks, age_s=MASK_AGE_S),
                    repeats=repeats,
                    clock=clock,
                )
                ratios.append(seed_ms / ours_ms)
                print(
                    f"{size_name:6} {actual:6.1%} {style:9} {seed_ms:8.2f} {ours_ms:8.2f} {seed_ms / ours_ms:8.1f}x"
                )
    geo = math.exp(statistics.fmean(math.log(r) for r in ratios))
    print(f"geometric-mean speed-up seed/ours: {geo:.1f}x (target >= 30x)")
    print(
        f"MaskSet.boxes of the {ELLIPSES} masks, ms per MaskSet (paid once per engine result, in the engine "
        f"thread; not in 'ours ms'): " + ", ".join(box_costs)
    )
    print("redact_all (fail-closed, whole frame), ms/frame:")
    for size_name, (width, height) in sizes.items():
        frame = Frame(make_frame(width, height), index=1, t_capture=0.0)
        cells = []
        for style, strength in (("pixelate", 40.0), ("blur", 40.0), ("solid", 2.0)):
            config = base.model_copy(update={"fail_closed_style": style, "fail_closed_strength": strength})
            compositor = Compositor(config)
            ms = median_ms(functools.partial(compositor.redact_all, frame, reason="bench"), repeats, clock)
            cells.append(f"{style}({strength:g}) {ms:.2f}")
        print(f"  {size_name:6} " + "  ".join(cells))


if __name__ == "__main__":
    main()
