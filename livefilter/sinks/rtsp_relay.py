#!/usr/bin/python3
"""A small RTSP server (GStreamer gst-rtsp-server) that relays published H.264 to viewers.

Publish with RECORD to ``rtsp://HOST:PORT/publish/NAME``; viewers PLAY ``rtsp://HOST:PORT/NAME``.
Every NAME given with ``--relay`` gets both mounts. Prints ``READY <port>`` on stdout once it
listens. The RTSP sink runs it for ``serve: true``; the tests and benchmarks run it through
``scripts/rtsp_test_server.py``.

This file runs on the *system* Python (``/usr/bin/python3``), whose ``python3-gi`` sees the
GStreamer typelibs (``scripts/install_system_deps.sh``); it imports nothing from livefilter, and
importing it needs no GStreamer.

Two GStreamer 1.22 traps are avoided: the thread pool is unbounded (otherwise a viewer's
DESCRIBE blocks the publisher for 20 s, then fails with 503), and SPS/PPS are repeated by
``h264parse config-interval=-1`` (the payloader's own ``config-interval`` corrupts part of each
x264 keyframe). Both sides repeat them, because FFmpeg publishers send them only in the SDP.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

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
    """Forwards access units from the publisher's media to the (shared) viewers' media,
    starting each viewer media at a keyframe."""

    def __init__(self, gst: Any, rtsp: Any, name: str, latency_ms: int) -> None:
        self.gst = gst
        self.name = name
        self.appsrc: Any = None
        self.need_keyframe = True
        self.record = rtsp.RTSPMediaFactory()
        self.record.set_launch(RECORD_LAUNCH)
        self.record.set_transport_mode(rtsp.RTSPTransportMode.RECORD)
        self.record.set_latency(latency_ms)
        self.record.connect("media-configure", self._on_record_media)
        self.play = rtsp.RTSPMediaFactory()
        self.play.set_launch(PLAY_LAUNCH)
        self.play.set_shared(True)
        self.play.connect("media-configure", self._on_play_media)

    def _on_record_media(self, _factory: Any, media: Any) -> None:
        media.get_element().get_by_name("sink").connect("new-sample", self._on_sample)

    def _on_play_media(self, _factory: Any, media: Any) -> None:
        self.appsrc = media.get_element().get_by_name("src")
        self.need_keyframe = True
        media.connect("unprepared", self._on_play_unprepared)

    def _on_play_unprepared(self, _media: Any) -> None:
        self.appsrc = None

    def _on_sample(self, sink: Any) -> Any:
        sample = sink.emit("pull-sample")
        appsrc = self.appsrc
        if sample is not None and appsrc is not None:
            if self.need_keyframe and sample.get_buffer().has_flags(self.gst.BufferFlags.DELTA_UNIT):
                return self.gst.FlowReturn.OK
            self.need_keyframe = False
            appsrc.emit("push-sample", sample)
        return self.gst.FlowReturn.OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
    parser.add_argument("--port", type=int, default=0, help="Port; 0 picks a free one.")
    parser.add_argument("--relay", action="append", default=None, help="Relay name (repeatable).")
    parser.add_argument("--latency-ms", type=int, default=20, help="Jitter buffer of the publisher side.")
    args = parser.parse_args(argv)

    import gi  # type: ignore[import-not-found]

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer  # type: ignore[import-not-found]

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    server.get_thread_pool().set_max_threads(-1)
    mounts = server.get_mount_points()
    relays = [Relay(Gst, GstRtspServer, name.strip("/"), args.latency_ms) for name in (args.relay or ["cam"])]
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
