#!/usr/bin/env python3
"""CPU time per frame of every stage of the live path: H.264 in, CPU face engine, H.264 out.

    python scripts/bench_stages.py                           # 720p and 1080p, 90 frames each
    python scripts/bench_stages.py --size 1920x1080 --frames 60 --pipeline-seconds 10
    python scripts/bench_stages.py --quick

Part 1 (stages): a 30 fps H.264 clip of the demo scene (a real face photo moving over a
background, x264 like a camera) is run through the same calls the live path makes, one
stage after another on one thread: decode (PyAV/FFmpeg), colour conversion to BGR, detection
and tracking (the CPU face engine's ``infer``, its default schedule), compositing
(the compositor's ``redact_regions``, as the render calls it; before it, the default ``render.live_guard``'s
change since the masks' frame, here the previous frame: the render shows frames newer than the
engine's), conversion back to YUV 4:2:0, x264 encode and
mux (to an MP4 file). Each stage is timed with the *process* CPU clock (``time.process_time``),
so the decoder's slice threads and x264's worker threads count; as nothing else runs in the
process meanwhile, the figure is that stage's CPU cost, robust to other load on the machine.
Decoder and encoder variants (threading, x264 preset) run on the same frames.

Part 2 (real path): ``livefilter``'s pipeline, built from a config as ``livefilter run``
does, reads the same clip paced at 30 fps (``realtime: true``) and publishes it to its
built-in RTSP server (``serve: true``) and to a file; it prints output fps, capture → sink
latency and the process CPU (100 % = one core).

The per-camera CPU figure: the sum of the stage means (ms of CPU per frame) × 30 / 1000 is
the number of cores one 30 fps camera keeps busy.
"""

from __future__ import annotations

import argparse
import fractions
import logging
import os
import socket
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib

FPS = 30
STAGES = ["decode", "to BGR", "detect + track", "unseen change", "composite", "to YUV", "encode", "mux"]


def make_clip(path: Path, width: int, height: int, frames: int) -> None:
    """The demo scene as a camera would send it: H.264 (x264 veryfast, no B-frames, GOP 1 s)."""
    import av

    from livefilter.config.source import DemoSourceConfig
    from livefilter.sources.demo import DemoSource

    source = DemoSource(DemoSourceConfig(width=width, height=height, fps=FPS, duration_s=frames / FPS, realtime=False))
    source.open()
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "bf": "0", "g": str(FPS)})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        while (frame := source.read()) is not None:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame.image, format="bgr24")))
        container.mux(stream.encode(None))
    source.close()


def run_stages(clip: Path, out: Path, *, decoder_threads: int, encoder: dict[str, str],
               split: bool = False) -> dict[str, list[float]]:
    """CPU seconds per frame of each stage, the stages run one after another on this thread."""
    import av

    from livefilter.config import EngineConfig, RenderConfig
    from livefilter.engines import create_engine
    from livefilter.render.compositor import Compositor
    from livefilter.runtime.render import UnseenChange
    from livefilter.sinks.rtsp import yuv420_picture
    from livefilter.types import Frame, Prompt

    engine = create_engine(EngineConfig(kind="cpu-face"), [Prompt("face")], kind="cpu-face")
    engine.open()
    render = RenderConfig(mode="low_latency")
    compositor = Compositor(render)
    unseen = UnseenChange()
    before: Frame | None = None  # the masks' frame, as the render sees it: an older one
    cpu: dict[str, list[float]] = defaultdict(list)

    def timed(stage: str, call, *args):
        start = time.process_time()
        result = call(*args)
        cpu[stage].append(time.process_time() - start)
        return result

    with av.open(str(clip)) as source, av.open(str(out), "w") as sink:
        video = source.streams.video[0]
        video.thread_type = "SLICE"
        video.thread_count = decoder_threads
        stream = sink.add_stream("libx264", rate=FPS, options=encoder)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        stream.time_base = fractions.Fraction(1, FPS)
        index = 0
        for packet in source.demux(video):
            for decoded in timed("decode", packet.decode):
                image = timed("to BGR", lambda: decoded.to_ndarray(format="bgr24"))
                frame = Frame(image, index, time.monotonic(), pts=index / FPS)
                regions = engine.regions(frame.width, frame.height)  # what this call looks at
                masks = timed("detect + track", engine.infer, frame)
                for region in regions if split else []:  # the call's split, again region by region (not summed)
                    timed("split: whole-frame pass" if region.scale < 1 else "split: one native tile",
                          engine.detect, image, [region])
                seen = before or frame
                change = timed("unseen change", unseen.since, seen, frame)
                shown = timed("composite", lambda: compositor.redact_regions(
                    frame, masks, hide=None if change is None else change.mask,
                    camera_shift=(0.0, 0.0) if change is None else change.shift))
                before = frame
                assert not shown.fully_redacted, shown.reason
                yuv = timed("to YUV", yuv420_picture, shown.image)
                yuv.pts, yuv.time_base = index, stream.time_base
                for encoded in timed("encode", stream.encode, yuv):
                    timed("mux", sink.mux, encoded)
                index += 1
        for encoded in stream.encode(None):
            sink.mux(encoded)
    engine.close()
    return cpu


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_pipeline(clip: Path, out: Path, seconds: float, preset: str, max_calls_per_s: float | None = None) -> tuple[object, dict]:
    """The product's pipeline: the clip paced at 30 fps -> CPU engine -> RTSP (built-in server) + file."""
    from livefilter.config import Config
    from livefilter.pipeline import build_pipeline

    config = Config.model_validate({
        "source": {"kind": "file", "path": str(clip), "realtime": True, "loop": True},
        "engine": {"kind": "cpu-face", "max_calls_per_s": max_calls_per_s},
        "render": {"mode": "low_latency"},
        "sinks": [
            {"kind": "rtsp", "url": f"rtsp://127.0.0.1:{free_port()}/out", "serve": True, "preset": preset},
            {"kind": "file", "path": str(out), "preset": preset},
        ],
        "runtime": {"stats_interval_s": 3600},
    })
    pipeline = build_pipeline(config)
    with benchlib.cpu_meter() as cpu:
        pipeline.start()
        time.sleep(seconds)
        stats = pipeline.stats()
        pipeline.stop()
    return stats, cpu


def table(results: dict[str, dict[str, list[float]]]) -> str:
    headers = ["stage (CPU ms per frame, mean / p50)", *results]
    rows = []
    for stage in STAGES:
        rows.append([stage, *(f"{1000 * statistics.fmean(cpu[stage]):.2f} / {1000 * statistics.median(cpu[stage]):.2f}"
                              if cpu.get(stage) else "–" for cpu in results.values())])
    totals = {name: sum(1000 * statistics.fmean(cpu[s]) for s in STAGES if cpu.get(s)) for name, cpu in results.items()}
    for split in ("split: whole-frame pass", "split: one native tile"):
        rows.append([f"· of detect + track, {split[7:]} (detector only)",
                     *(f"{1000 * statistics.fmean(cpu[split]):.2f} / {1000 * statistics.median(cpu[split]):.2f}"
                       if cpu.get(split) else "–" for cpu in results.values())])
    rows.append(["**total (ms CPU per frame)**", *(f"**{t:.1f}**" for t in totals.values())])
    rows.append(["cores busy per 30 fps camera", *(f"{t * FPS / 1000:.2f}" for t in totals.values())])
    rows.append(["fps on 2 cores if nothing else ran", *(f"{2000 / t:.0f}" for t in totals.values())])
    return benchlib.markdown_table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720,1920x1080", help="comma list of WxH")
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--pipeline-seconds", type=float, default=15.0, help="0 skips part 2")
    parser.add_argument("--quick", action="store_true", help="30 frames, 6 s pipeline runs")
    parser.add_argument("--shipped-only", action="store_true", help="skip the decoder and encoder variants")
    parser.add_argument("--max-calls-per-s", default="", help="comma list: real-path runs also with engine.max_calls_per_s capped")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="# %(message)s")
    logging.getLogger("livefilter.engines.face_cpu").setLevel(logging.INFO)  # the live plan, with its measured cost
    frames, seconds = (30, 6.0) if args.quick else (args.frames, args.pipeline_seconds)

    from livefilter.config.sinks import RtspSinkConfig
    from livefilter.sinks.rtsp import encoder_options

    live = encoder_options(RtspSinkConfig(url="rtsp://127.0.0.1/x"))
    variants = {
        "as shipped: decoder slice threads (auto), x264 ultrafast zerolatency": (0, live),
        "decoder 1 thread": (1, live),
        "x264 1 thread": (0, {**live, "threads": "1"}),
        "x264 superfast": (0, {**live, "preset": "superfast"}),
        "x264 veryfast": (0, {**live, "preset": "veryfast"}),
    }
    if args.shipped_only:
        variants = dict(list(variants.items())[:1])
    print(f"# Stage costs — {benchlib.machine_summary()}; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="livefilter-stages-") as tmp:
        for size in args.size.split(","):
            width, height = (int(v) for v in size.lower().split("x"))
            clip = Path(tmp) / f"clip{width}x{height}.mp4"
            make_clip(clip, width, height, frames)
            results = {}
            for name, (threads, encoder) in variants.items():
                results[name] = run_stages(clip, Path(tmp) / "out.mp4", decoder_threads=threads, encoder=encoder,
                                           split=not results)
            print(f"\n## {width}x{height}, {frames} frames at {FPS} fps, CPU face engine (process CPU time)\n")
            print(table(results))
            caps = [None, *(float(v) for v in args.max_calls_per_s.split(",") if v)]
            for cap in caps if seconds > 0 else []:
                stats, cpu = run_pipeline(clip, Path(tmp) / "pipeline.mp4", seconds, "ultrafast", cap)
                calls = "as many engine calls as fit" if cap is None else f"engine.max_calls_per_s {cap:g}"
                print(f"\nreal path {width}x{height} paced 30 fps -> RTSP (built-in server) + file, {seconds:g} s, {calls}: "
                      f"output {stats.output_fps:.1f} fps, engine {stats.engine_fps:.1f} fps, captured "
                      f"{stats.frames_captured}, published {stats.frames_published}, dropped before the engine "
                      f"{stats.frames_dropped}, capture->sink p50 {stats.latency_ms_p50:.1f} ms p95 "
                      f"{stats.latency_ms_p95:.1f} ms, fully redacted {stats.frames_fully_redacted}, process CPU "
                      f"{cpu['cpu_percent']:.0f} % (100 % = one core); load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
