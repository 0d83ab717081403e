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

Every stage is stamped per camera frame (by the index in its picture): packet received,
frame decoded, captured, at the sink (rendered), encoded, packet written, and at the viewers;
the table gives each step in ms and in frame intervals, the decoder's and encoder's buffer
depths (frames held), and the calling threads' CPU time. A virtual-webcam sink with a recording
pyvirtualcam backend takes the same frames, so its capture -> write delay is in the same table.
``--demux-option``, ``--encoder-option`` and ``--decoder-threads`` measure one setting's effect.

``--engine none`` (default) answers every frame with "nothing found" instantly, so the
figure is the video path alone; in ``low_latency`` mode the render never waits for the
engine, and ``--engine cpu-face`` shows the effect of its CPU load on the path.
"""

from __future__ import annotations

import argparse
import collections
import fractions
import os
import statistics
import subprocess
import sys
import threading
import time
from functools import partial
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

    def __init__(self, url: str, width: int, height: int, fps: float, stamps: Stamps) -> None:
        super().__init__(name="bench-camera", daemon=True)
        self.url, self.width, self.height, self.fps, self.stamps = url, width, height, fps, stamps
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
            self.stamps.mark("camera made", index, now)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = int((now - t0) * 90_000), stream.time_base
            container.mux(stream.encode(frame))
            self.stamps.mark("camera packet written", index, time.monotonic())
            index += 1
            self.stop.wait(max(0.0, t0 + index / self.fps - time.monotonic()))
        container.close()


class Stamps:
    """Per camera frame index: the monotonic time it passed each stage, plus buffer depths and
    thread CPU time. Keyed by the index drawn into the picture, so every stage of every process
    thread lines up on one clock."""

    def __init__(self) -> None:
        self.at: dict[str, dict[int, float]] = collections.defaultdict(dict)
        self.depth: dict[str, list[int]] = collections.defaultdict(list)
        self.cpu: dict[str, list[float]] = collections.defaultdict(list)

    def mark(self, stage: str, index: int | None, t: float) -> None:
        if index is not None:
            self.at[stage].setdefault(index, t)


class TimedPacket:
    """A demuxed packet that notes when it arrived and how many packets the decoder held."""

    def __init__(self, packet, owner: TimedPackets) -> None:
        self.packet, self.owner = packet, owner

    def decode(self):
        cpu = time.thread_time()
        frames = self.packet.decode()
        self.owner.decode_cpu += time.thread_time() - cpu
        now = time.monotonic()
        for frame in frames:
            seq = self.owner.arrival.pop(_key(frame.time), None)
            if seq is not None:
                self.owner.decoded[_key(frame.time)] = (self.owner.arrival_t.pop(seq), now, self.owner.seq - seq)
        return frames


class TimedPackets:
    """Wraps a demux iterator: arrival time and order of every packet, by its timestamp."""

    def __init__(self, packets) -> None:
        self.packets = packets
        self.seq = 0
        self.arrival: dict[float, int] = {}
        self.arrival_t: dict[int, float] = {}
        self.decoded: dict[float, tuple[float, float, int]] = {}  # pts -> (arrived, decoded, packets held)
        self.decode_cpu = 0.0

    def __iter__(self):
        return self

    def __next__(self) -> TimedPacket:
        packet = next(self.packets)
        self.seq += 1
        if packet.pts is not None:
            self.arrival[_key(float(packet.pts * packet.time_base))] = self.seq
            self.arrival_t[self.seq] = time.monotonic()
        return TimedPacket(packet, self)


def _key(t: float | None) -> float:
    return round(t or 0.0, 6)


def timed_source_class(stamps: Stamps):
    from livefilter.sources.rtsp import RtspSource

    class TimedSource(RtspSource):
        """livefilter's RTSP source, stamping packet arrival, decode and capture."""

        def open(self) -> None:
            super().open()
            self._packets = self._timed = TimedPackets(self._packets)

        def read(self):
            cpu, decode_cpu = time.thread_time(), self._timed.decode_cpu
            frame = super().read()
            stamps.cpu["source read (demux, decode, to BGR)"].append(time.thread_time() - cpu)
            stamps.cpu["  of which decode"].append(self._timed.decode_cpu - decode_cpu)
            index = read_index(frame.image)
            arrived, decoded, held = self._timed.decoded.pop(_key(frame.pts), (None, None, None))
            if arrived is not None and index is not None:
                stamps.mark("lf packet received", index, arrived)
                stamps.mark("lf frame decoded", index, decoded)
                stamps.depth["decoder: packets held"].append(held)
            stamps.mark("lf captured (BGR)", index, frame.t_capture)
            return frame

    return TimedSource


class TimedStream:
    """The sink's encoder stream: stamps encode, counts frames the encoder holds."""

    def __init__(self, stream, owner) -> None:
        self.stream, self.owner = stream, owner
        self.pending: dict[int, int | None] = {}

    def __getattr__(self, name: str):
        return getattr(self.stream, name)

    def encode(self, picture=None):
        stamps = self.owner.stamps
        if picture is not None:
            self.pending[picture.pts] = self.owner.current
        cpu = time.thread_time()
        packets = self.stream.encode(picture)
        now = time.monotonic()
        if picture is not None:
            stamps.cpu["  of which x264 encode"].append(time.thread_time() - cpu)
            stamps.depth["encoder: frames held"].append(len(self.pending) - len(packets))
        for packet in packets:
            index = self.pending.pop(packet.pts, None)
            stamps.mark("lf packet encoded", index, now)
            self.owner.packet_index[id(packet)] = index
        return packets


class TimedContainer:
    def __init__(self, container, owner) -> None:
        self.container, self.owner = container, owner

    def __getattr__(self, name: str):
        return getattr(self.container, name)

    def mux(self, packet) -> None:
        cpu = time.thread_time()
        self.container.mux(packet)
        self.owner.stamps.cpu["  of which RTP mux + send"].append(time.thread_time() - cpu)
        self.owner.stamps.mark("lf packet written", self.owner.packet_index.pop(id(packet), None), time.monotonic())


def recording_virtual_camera(stamps: Stamps):
    """The virtual-webcam sink with a pyvirtualcam backend that stamps each picture it is sent
    (the v4l2loopback device cannot load here; tests/io/test_virtualcam.py does the same)."""
    import pyvirtualcam

    from livefilter.config.sinks import VirtualCamSinkConfig
    from livefilter.sinks.virtualcam import VirtualCamSink

    bgr = pyvirtualcam.util.encode_fourcc(pyvirtualcam.PixelFormat.BGR.value)

    class StampingBackend:
        def __init__(self, *, width: int, height: int, **kw: object) -> None:
            self.width, self.height = width, height

        def send(self, frame: np.ndarray) -> None:
            stamps.mark("vcam written", read_index(frame.reshape(self.height, self.width, 3)), time.monotonic())

        def device(self) -> str:
            return "/dev/video-bench"

        def native_fourcc(self) -> int:
            return bgr

        def close(self) -> None: ...

    pyvirtualcam.register_backend("bench-stamping", StampingBackend)
    return partial(VirtualCamSink, VirtualCamSinkConfig(backend="bench-stamping", device="/dev/video-bench"))


def timed_sink_class(stamps: Stamps):
    from livefilter.sinks.rtsp import RtspSink

    class TimedSink(RtspSink):
        """livefilter's RTSP sink, stamping arrival at the sink, encode and send."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.stamps, self.current, self.packet_index = stamps, None, {}

        def write(self, frame) -> None:
            self.current = read_index(frame.image)
            stamps.mark("lf at sink (rendered)", self.current, time.monotonic())
            cpu = time.thread_time()
            super().write(frame)
            stamps.cpu["sink write (to YUV, encode, mux)"].append(time.thread_time() - cpu)

        def _connect(self, width: int, height: int) -> None:
            super()._connect(width, height)
            self._stream, self._container = TimedStream(self._stream, self), TimedContainer(self._container, self)

    return TimedSink


class Viewer(threading.Thread):
    """Decodes ``url`` like a player (FFmpeg defaults + nobuffer) and stamps packet arrival and
    display of every frame whose index is readable."""

    def __init__(self, url: str, stamps: Stamps, prefix: str) -> None:
        super().__init__(name=f"bench-viewer {url}", daemon=True)
        self.url, self.stamps, self.prefix = url, stamps, prefix
        self.seen: list[tuple[float, int]] = []
        self.unreadable = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import av

        while not self.stop.is_set():
            try:
                with av.open(self.url, options={"rtsp_transport": "tcp", "fflags": "nobuffer"},
                             timeout=(5.0, 2.0)) as container:
                    packets = TimedPackets(container.demux(video=0))
                    for packet in packets:
                        for picture in packet.decode():
                            index = read_index(picture.to_ndarray(format="bgr24"))
                            if index is None:
                                self.unreadable += 1
                                continue
                            now = time.monotonic()
                            self.seen.append((now, index))
                            arrived, _, _ = packets.decoded.pop(_key(picture.time), (None, None, None))
                            self.stamps.mark(f"{self.prefix} packet received", index, arrived or now)
                            self.stamps.mark(f"{self.prefix} shown", index, now)
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


PATH = ["camera made", "camera packet written", "lf packet received", "lf frame decoded", "lf captured (BGR)",
        "lf at sink (rendered)", "lf packet encoded", "lf packet written", "out packet received", "out shown"]
VIRTUAL_CAMERA = ["lf captured (BGR)", "vcam written"]
BASELINE = ["camera made", "camera packet written", "direct packet received", "direct shown"]


def breakdown(stamps: Stamps, indices: set[int], fps: float) -> list[str]:
    """Per-stage delay table: p50/p95 of each step, in ms and in frame intervals."""
    lines = [f"{'step':<58} {'frames':>6} {'p50 ms':>7} {'p95 ms':>7} {'p50 fr':>7}"]
    chains = (("through livefilter to RTSP", PATH), ("virtual webcam (same frames)", VIRTUAL_CAMERA),
              ("baseline: one plain hop", BASELINE))
    for title, chain in chains:
        lines.append(f"-- {title}")
        for a, b in zip(chain, chain[1:]):
            deltas = [(stamps.at[b][i] - stamps.at[a][i]) * 1000 for i in indices
                      if i in stamps.at[a] and i in stamps.at[b]]
            if len(deltas) < 2:
                lines.append(f"{a + ' -> ' + b:<58} {len(deltas):>6}      -")
                continue
            p50, p95 = statistics.median(deltas), statistics.quantiles(deltas, n=20)[18]
            lines.append(f"{a + ' -> ' + b:<58} {len(deltas):>6} {p50:7.1f} {p95:7.1f} {p50 * fps / 1000:7.2f}")
    for name, depths in stamps.depth.items():
        if depths:
            lines.append(f"{name}: median {statistics.median(depths):g}, max {max(depths)} (buffer depth in frames)")
    for name, values in stamps.cpu.items():
        if values:
            lines.append(f"thread CPU {name:<36} p50 {statistics.median(values) * 1000:6.2f} ms/frame")
    lines.append("(thread CPU: the calling thread only; FFmpeg's slice threads and x264's worker threads are "
                 "not counted: scripts/bench_stages.py gives whole-stage CPU)")
    return lines


def _pairs(items: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


def override_options(args) -> None:
    """Apply --demux-option/--encoder-option/--decoder-threads by wrapping the option functions
    the source and sink call (to measure each setting's effect without editing the package)."""
    from livefilter.sinks import rtsp as rtsp_sink
    from livefilter.sources import rtsp as rtsp_source

    def merged(function, extra: dict[str, str]):
        def options(config):
            result = {**function(config), **extra}
            return {key: value for key, value in result.items() if value}
        return options

    if args.demux_option:
        rtsp_source.demux_options = merged(rtsp_source.demux_options, _pairs(args.demux_option))
    if args.encoder_option:
        rtsp_sink.encoder_options = merged(rtsp_sink.encoder_options, _pairs(args.encoder_option))
    if args.decoder_threads:
        rtsp_source.DECODER_THREAD_TYPE = args.decoder_threads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=20.0, help="Measured time (after a 4 s warm-up).")
    parser.add_argument("--engine", choices=["none", "cpu-face"], default="none")
    parser.add_argument("--demux-option", action="append", default=[], metavar="KEY=VALUE",
                        help="Add or override (empty VALUE: remove) an RtspSource demuxer/decoder option.")
    parser.add_argument("--encoder-option", action="append", default=[], metavar="KEY=VALUE",
                        help="Add or override (empty VALUE: remove) an RtspSink libx264 option.")
    parser.add_argument("--relay-latency-ms", type=int, default=None,
                        help="The relay's jitter buffer on the publishing side (rtsp_relay.py --latency-ms; default 20).")
    parser.add_argument("--decoder-threads", choices=["SLICE", "FRAME"], default=None,
                        help="Override the RtspSource decoder's thread type (to measure frame threading).")
    parser.add_argument("--render-fps", type=float, default=None,
                        help="Set render.fps: the render ticks at this rate (default: each frame rendered on arrival).")
    args = parser.parse_args()
    override_options(args)

    from livefilter.config import EngineConfig, RenderConfig, RuntimeConfig
    from livefilter.config.sinks import RtspSinkConfig
    from livefilter.config.source import RtspSourceConfig
    from livefilter.sinks.rtsp import encoder_options
    from livefilter.sources import rtsp as rtsp_source
    from livefilter.sources.rtsp import demux_options
    from livefilter.pipeline import Pipeline
    from livefilter.types import MaskSet

    stamps = Stamps()

    server = subprocess.Popen(
        ["/usr/bin/python3", str(ROOT / "scripts" / "rtsp_test_server.py"), "--relay", "cam", "--relay", "out",
         *([] if args.relay_latency_ms is None else ["--latency-ms", str(args.relay_latency_ms)])],
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
        camera = Camera(f"{base}/publish/cam", args.width, args.height, args.fps, stamps)
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
            from livefilter.engines import create_engine
            from livefilter.types import Prompt

            factory = partial(create_engine, engine_config, [Prompt("face")], kind="cpu-face")
        pipeline = Pipeline(
            source=timed_source_class(stamps)(RtspSourceConfig(url=f"{base}/cam")),
            engine_factory=factory,
            sinks=[timed_sink_class(stamps)(RtspSinkConfig(url=f"{base}/publish/out", gop=round(args.fps)), fps=args.fps),
                   recording_virtual_camera(stamps)(fps=args.fps)],
            # render.fps null (default): each frame rendered as it arrives; --render-fps: the tick pacer.
            # masks_only: the index blocks change on every frame, and hide_changes would hide them on the
            # frames shown before the engine answered them (its cost is in bench_live.py --guards).
            render=RenderConfig(fps=args.render_fps, mode="low_latency", live_guard="masks_only"),
            engine=engine_config,
            runtime=RuntimeConfig(stats_interval_s=3600),
        )
        pipeline.start()
        direct, restream = Viewer(f"{base}/cam", stamps, "direct"), Viewer(f"{base}/out", stamps, "out")
        for viewer in (direct, restream):
            viewer.start()
            threads.append(viewer)
        time.sleep(4.0)
        since = time.monotonic()
        time.sleep(args.seconds)

        base_ms, out_ms = latencies_ms(direct, camera, since), latencies_ms(restream, camera, since)
        pacing = f"render ticks at {args.render_fps:g} fps" if args.render_fps else "render on frame arrival"
        print(f"glass-to-glass at {args.width}x{args.height} {args.fps:g} fps, {args.seconds:g} s, "
              f"engine {args.engine}, {pacing}, GStreamer RTSP relay on 127.0.0.1; load average {os.getloadavg()[0]:.1f}")
        print(f"demuxer/decoder options {demux_options(RtspSourceConfig(url=base))}, decoder threads "
              f"{rtsp_source.DECODER_THREAD_TYPE}; encoder {encoder_options(RtspSinkConfig(url=base))}")
        print(summary("camera -> server -> viewer", base_ms, args.seconds))
        print(summary("camera -> livefilter -> viewer", out_ms, args.seconds))
        if base_ms and out_ms:
            added = statistics.median(out_ms) - statistics.median(base_ms)
            print(f"livefilter adds {added:.1f} ms at p50 "
                  f"(ratio {statistics.median(out_ms) / statistics.median(base_ms):.2f}x the one-hop baseline)")
        measured = {i for i, t in camera.made_at.items() if t >= since - 0.5}
        for line in breakdown(stamps, measured, args.fps):
            print(line)
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
