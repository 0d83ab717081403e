#!/usr/bin/python3
"""A tiny RTSP relay for tests and benchmarks, built on GStreamer's gst-rtsp-server.

Publish H.264 with RECORD to ``rtsp://HOST:PORT/publish/NAME``; read it back with PLAY from
``rtsp://HOST:PORT/NAME``. Every NAME given with ``--relay`` gets both mounts. Prints
``READY <port>`` on stdout once it listens.

Runs on the *system* Python (``/usr/bin/python3``), whose ``python3-gi`` sees the GStreamer
typelibs installed by ``scripts/install_system_deps.sh``; a virtualenv usually does not.

Two GStreamer 1.22 traps are avoided here: the server's thread pool is unbounded (otherwise a
reader's DESCRIBE blocks the publisher for 20 s, then fails with 503), and the SPS/PPS are
repeated by ``h264parse config-interval=-1`` before ``rtph264pay`` (the payloader's own
``config-interval`` corrupts part of each x264 keyframe).
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer

RECORD_LAUNCH = (
    "( rtph264depay name=depay0 ! h264parse config-interval=-1 ! "
    "video/x-h264,stream-format=byte-stream,alignment=au ! "
    "appsink name=sink emit-signals=true sync=false max-buffers=4 drop=true )"
)
PLAY_LAUNCH = (
    "( appsrc name=src is-live=true format=time do-timestamp=true ! "
    "h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )"
)


class Relay:
    """Forwards access units from the publisher's media to the (shared) reader media."""

    def __init__(self, name: str, latency_ms: int) -> None:
        self.name = name
        self.appsrc: Gst.Element | None = None
        self.need_keyframe = True
        self.record = GstRtspServer.RTSPMediaFactory()
        self.record.set_launch(RECORD_LAUNCH)
        self.record.set_transport_mode(GstRtspServer.RTSPTransportMode.RECORD)
        self.record.set_latency(latency_ms)
        self.record.connect("media-configure", self._on_record_media)
        self.play = GstRtspServer.RTSPMediaFactory()
        self.play.set_launch(PLAY_LAUNCH)
        self.play.set_shared(True)
        self.play.connect("media-configure", self._on_play_media)

    def _on_record_media(self, _factory, media) -> None:
        sink = media.get_element().get_by_name("sink")
        sink.connect("new-sample", self._on_sample)

    def _on_play_media(self, _factory, media) -> None:
        self.appsrc = media.get_element().get_by_name("src")
        self.need_keyframe = True
        media.connect("unprepared", self._on_play_unprepared)

    def _on_play_unprepared(self, _media) -> None:
        self.appsrc = None

    def _on_sample(self, sink) -> Gst.FlowReturn:
        sample = sink.emit("pull-sample")
        appsrc = self.appsrc
        if sample is None or appsrc is None:
            return Gst.FlowReturn.OK
        if self.need_keyframe:
            if sample.get_buffer().has_flags(Gst.BufferFlags.DELTA_UNIT):
                return Gst.FlowReturn.OK
            self.need_keyframe = False
        appsrc.emit("push-sample", sample)
        return Gst.FlowReturn.OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
    parser.add_argument("--port", type=int, default=0, help="Port; 0 picks a free one.")
    parser.add_argument("--relay", action="append", default=None, help="Relay name (repeatable).")
    parser.add_argument("--latency-ms", type=int, default=20, help="Jitter buffer of the publisher side.")
    args = parser.parse_args(argv)

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    server.get_thread_pool().set_max_threads(-1)
    mounts = server.get_mount_points()
    relays = [Relay(name, args.latency_ms) for name in (args.relay or ["cam"])]
    for relay in relays:
        mounts.add_factory(f"/publish/{relay.name}", relay.record)
        mounts.add_factory(f"/{relay.name}", relay.play)
    if server.attach(None) == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr)
        return 1

    loop = GLib.MainLoop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
