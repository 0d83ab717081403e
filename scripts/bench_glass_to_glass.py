#!/usr/bin/env python3
"""Glass-to-glass latency through a real RTSP server: camera → server → livefilter → server → viewer.

    python scripts/bench_glass_to_glass.py                 # 720p30, 20 s
    python scripts/bench_glass_to_glass.py --seconds 8 --width 640 --height 360
    python scripts/bench_glass_to_glass.py --engine cpu-face

A test camera publishes H.264 (x264 zerolatency) to the GStreamer relay of
``scripts/rtsp_test_server.py`` (needs ``scripts/install_system_deps.sh``). livefilter reads it
(``RtspSource``), runs the ``low_latency`` pipeline and republishes (``RtspSink``) to a second
mount; a viewer decodes that. Each camera frame carries its index as 32 black/white blocks in
its top rows; the viewer decodes the index and looks up when the camera made that frame, all
on one monotonic clock. In the same run a second viewer reads the camera's own stream: that
is the baseline (one hop: encode, relay, decode), so the ratio shows what livefilter adds.

``--engine none`` (default) answers every frame with "nothing found" instantly, so the
figure is the video path alone; in ``low_latency`` mode the render never waits for the
engine, and ``--engine cpu-face`` shows the effect of its CPU load on the path.
"""

from __future__ import annotations

import argparse
import fractions
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BITS, BLOCK = 32, 16


def draw_index(image: np.ndarray, index: int) -> None:
    for bit in range(BITS):
        image[:BLOCK, bit * BLOCK : (bit + 1) * BLOCK] = 255 if (index >> bit) & 1 else 0


def read_index(image: np.ndarray) -> int | None:
    """The index drawn by :func:`draw_index`, or None when the blocks are not crisp (redacted)."""
    means = image[2 : BLOCK - 2, : BITS * BLOCK].reshape(BLOCK - 4, BITS, BLOCK, 3)[:, :, 2:-2].mean(axis=(0, 2, 3))
    if np.any((means > 60) & (means < 195)):
        return None
    return int(sum(1 << bit for bit in range(BITS) if means[bit] > 127))


class Camera(threading.Thread):
    """Publishes a moving test picture with the frame index drawn in; remembers each frame's time."""

    def __init__(self, url: str, width: int, height: int, fps: float) -> None:
        super().__init__(name="bench-camera", daemon=True)
        self.url, self.width, self.height, self.fps = url, width, height, fps
        self.made_at: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        import av

        container = av.open(self.url, mode="w", format="rtsp", options={"rtsp_transport": "tcp"})
        stream = container.add_stream(
            "libx264", rate=round(self.fps),
            options={"preset": "ultrafast", "tune": "zerolatency", "bf": "0", "g": str(round(self.fps))},
        )
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = fractions.Fraction(1, 90_000)
        ys, xs = np.mgrid[0 : self.height, 0 : self.width]
        t0 = time.monotonic()
        index = 0
        while not self.stop.is_set():
            image = np.empty((self.height, self.width, 3), np.uint8)
            image[..., 0] = (xs + 4 * index) % 256
            image[..., 1] = (ys + 2 * index) % 256
            image[..., 2] = 128
            draw_index(image, index)
            now = time.monotonic()
            self.made_at[index] = now
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = int((now - t0) * 90_000), stream.time_base
            container.mux(stream.encode(frame))
            index += 1
            self.stop.wait(max(0.0, t0 + index / self.fps - time.monotonic()))
        container.close()


class Viewer(threading.Thread):
    """Decodes ``url`` and records (arrival time, index) for every frame whose index is readable."""

    def __init__(self, url: str) -> None:
        super().__init__(name=f"bench-viewer {url}", daemon=True)
        self.url = url
        self.seen: list[tuple[float, int]] = []
        self.unreadable = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import av

        while not self.stop.is_set():
            try:
                with av.open(self.url, options={"rtsp_transport": "tcp", "fflags": "nobuffer"},
                             timeout=(5.0, 2.0)) as container:
                    for picture in container.decode(video=0):
                        index = read_index(picture.to_ndarray(format="bgr24"))
                        if index is None:
                            self.unreadable += 1
                        else:
                            self.seen.append((time.monotonic(), index))
                        if self.stop.is_set():
                            return
            except Exception:  # noqa: BLE001 - not published yet: try again
                self.stop.wait(0.2)


def latencies_ms(viewer: Viewer, camera: Camera, since: float) -> list[float]:
    return [(t - camera.made_at[i]) * 1000 for t, i in viewer.seen if t >= since and i in camera.made_at]


def summary(name: str, values: list[float], seconds: float) -> str:
    if not values:
        return f"{name:<34} no readable frames"
    q = statistics.quantiles(values, n=20)
    return (f"{name:<34} p50 {statistics.median(values):6.1f} ms  p95 {q[18]:6.1f} ms  "
            f"max {max(values):6.1f} ms  ({len(values) / seconds:4.1f} fps received)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=20.0, help="Measured time (after a 4 s warm-up).")
    parser.add_argument("--engine", choices=["none", "cpu-face"], default="none")
    args = parser.parse_args()

    from livefilter.config import EngineConfig, RenderConfig, RuntimeConfig
    from livefilter.config.sinks import RtspSinkConfig
    from livefilter.config.source import RtspSourceConfig
    from livefilter.pipeline import Pipeline
    from livefilter.sinks.rtsp import RtspSink
    from livefilter.sources.rtsp import RtspSource
    from livefilter.types import MaskSet

    server = subprocess.Popen(
        ["/usr/bin/python3", str(ROOT / "scripts" / "rtsp_test_server.py"), "--relay", "cam", "--relay", "out"],
        stdout=subprocess.PIPE, text=True,
    )
    pipeline = None
    threads: list[threading.Thread] = []
    try:
        ready = server.stdout.readline() if server.stdout else ""
        if not ready.startswith("READY"):
            print("the RTSP test server did not start; run scripts/install_system_deps.sh", file=sys.stderr)
            return 1
        base = f"rtsp://127.0.0.1:{ready.split()[1]}"
        camera = Camera(f"{base}/publish/cam", args.width, args.height, args.fps)
        camera.start()
        threads.append(camera)
        while len(camera.made_at) < 3:
            time.sleep(0.05)

        class NothingFound:
            """Answers "looked, found nothing" at once: the video path alone is measured."""

            name = "none"

            def open(self) -> None: ...
            def set_prompts(self, prompts) -> None: ...
            def reset(self) -> None: ...
            def close(self) -> None: ...

            def infer(self, frame):
                return MaskSet.empty(frame.height, frame.width, frame_index=frame.index, t_capture=frame.t_capture)

        engine_config = EngineConfig(kind="cpu-face")
        if args.engine == "none":
            factory = NothingFound
        else:
            from functools import partial

            from livefilter.engines import create_engine
            from livefilter.types import Prompt

            factory = partial(create_engine, engine_config, [Prompt("face")], kind="cpu-face")
        pipeline = Pipeline(
            source=RtspSource(RtspSourceConfig(url=f"{base}/cam")),
            engine_factory=factory,
            sinks=[RtspSink(RtspSinkConfig(url=f"{base}/publish/out", gop=round(args.fps)), fps=args.fps)],
            render=RenderConfig(fps=args.fps, mode="low_latency"),
            engine=engine_config,
            runtime=RuntimeConfig(stats_interval_s=3600),
        )
        pipeline.start()
        direct, restream = Viewer(f"{base}/cam"), Viewer(f"{base}/out")
        for viewer in (direct, restream):
            viewer.start()
            threads.append(viewer)
        time.sleep(4.0)
        since = time.monotonic()
        time.sleep(args.seconds)

        base_ms, out_ms = latencies_ms(direct, camera, since), latencies_ms(restream, camera, since)
        print(f"glass-to-glass at {args.width}x{args.height} {args.fps:g} fps, {args.seconds:g} s, "
              f"engine {args.engine}, GStreamer RTSP relay on 127.0.0.1")
        print(summary("camera -> server -> viewer", base_ms, args.seconds))
        print(summary("camera -> livefilter -> viewer", out_ms, args.seconds))
        if base_ms and out_ms:
            added = statistics.median(out_ms) - statistics.median(base_ms)
            print(f"livefilter adds {added:.1f} ms at p50 "
                  f"(ratio {statistics.median(out_ms) / statistics.median(base_ms):.2f}x the one-hop baseline)")
        print(f"restream frames without a readable index (fully redacted): {restream.unreadable}")
        stats = pipeline.stats()
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}"

        print(f"livefilter: capture {stats.capture_fps:.1f} fps, output {stats.output_fps:.1f} fps, "
              f"capture->sink p50 {ms(stats.latency_ms_p50)} ms p95 {ms(stats.latency_ms_p95)} ms, "
              f"fully redacted {stats.frames_fully_redacted}")
        return 0
    finally:
        if pipeline is not None:
            pipeline.stop()
        for thread in threads:
            thread.stop.set()  # type: ignore[attr-defined]
        for thread in threads:
            thread.join(10)
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
