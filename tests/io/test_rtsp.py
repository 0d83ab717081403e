"""RTSP source and restream sink against a real RTSP server on 127.0.0.1."""

from __future__ import annotations

import fractions
import os
import signal
import time

import numpy as np
import pytest

from livefilter.config import RenderConfig
from livefilter.config.sinks import RtspSinkConfig
from livefilter.config.source import RtspSourceConfig
from livefilter.errors import SinkError, SourceError
from livefilter.render.compositor import Compositor
from livefilter.sinks.rtsp import RtspSink, encoder_options
from livefilter.sources.rtsp import RtspSource
from tests.fakes import Scene, decode_index, redacted
from tests.io.conftest import Publisher, ScriptedRtspServer, Viewer, free_port

SCENE = Scene()
SECRET = "hunter2"


def _read_frames(source: RtspSource, count: int) -> list:
    return [source.read() for _ in range(count)]


def _redacted(index: int):
    """A RedactedFrame of the scene (fully redacted, as the compositor makes them)."""
    return Compositor(RenderConfig(fail_closed_style="solid")).redact_all(SCENE.frame(index), reason="test")


def _marked(index: int):
    """A RedactedFrame that still shows the frame index in its top rows (nothing to hide in it)."""
    image = SCENE.image(index)
    return redacted(image, index, time.monotonic())


# -- without a server ---------------------------------------------------------------------


def test_source_open_refused_is_quick_and_hides_the_password() -> None:
    url = f"rtsp://admin:{SECRET}@127.0.0.1:{free_port()}/stream1"
    source = RtspSource(RtspSourceConfig(url=url, open_timeout_s=3))
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        source.open()
    assert time.monotonic() - started < 3
    message = str(caught.value)
    assert SECRET not in message and SECRET not in source.name
    assert "admin:***@127.0.0.1" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (None, "timed out"),
        ("401 Unauthorized", "unauthorised (check credentials)"),
        ("404 Not Found", "not found (check the path)"),
    ],
    ids=["silent", "401", "404"],
)
def test_source_open_failures_are_said_in_words(status, words) -> None:
    with ScriptedRtspServer(status) as server:
        source = RtspSource(RtspSourceConfig(url=server.url(credentials=f"admin:{SECRET}"), open_timeout_s=1))
        with pytest.raises(SourceError) as caught:
            source.open()
    message = str(caught.value)
    assert f"cannot open stream rtsp://admin:***@127.0.0.1:{server.port}/stream1: {words}" in message
    assert "Errno" not in message and SECRET not in message


def test_source_open_refused_says_refused() -> None:
    source = RtspSource(RtspSourceConfig(url=f"rtsp://127.0.0.1:{free_port()}/stream1", open_timeout_s=3))
    with pytest.raises(SourceError, match=r"/stream1: connection refused \(is the server running") as caught:
        source.open()
    assert "Errno" not in str(caught.value)


def test_sink_to_a_missing_server_raises_sink_error_without_the_password() -> None:
    url = f"rtsp://pub:{SECRET}@127.0.0.1:{free_port()}/publish/out"
    sink = RtspSink(RtspSinkConfig(url=url), fps=15)
    sink.open()
    with pytest.raises(SinkError) as caught:
        sink.write(_redacted(0))
    assert SECRET not in str(caught.value) and SECRET not in sink.name
    assert "pub:***@" in str(caught.value)
    assert "connection refused" in str(caught.value) and "Errno" not in str(caught.value)
    sink.close()
    sink.close()  # idempotent


def test_sink_accepts_only_redacted_frames() -> None:
    sink = RtspSink(RtspSinkConfig(url="rtsp://127.0.0.1:1/x"), fps=15)
    sink.open()
    with pytest.raises(TypeError, match="expected RedactedFrame, got Frame"):
        sink.write(SCENE.frame(0))  # type: ignore[arg-type]


def test_sink_encoder_gives_each_frame_back_at_once() -> None:
    """No lookahead, B-frames or frame threads: every picture in is a packet out, at once
    (a held frame is 33 ms of delay at 30 fps for every viewer)."""
    import av

    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = SCENE.width, SCENE.height, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 15)
    encoder.framerate = fractions.Fraction(15)
    encoder.options = encoder_options(RtspSinkConfig(url="rtsp://127.0.0.1:8554/out", gop=15))
    encoder.open()
    packets_per_frame = []
    for index in range(8):
        picture = av.VideoFrame.from_ndarray(SCENE.image(index), format="bgr24").reformat(format="yuv420p")
        picture.pts = index
        packets_per_frame.append(len(encoder.encode(picture)))
    assert packets_per_frame == [1] * 8


# -- with the GStreamer RTSP server ---------------------------------------------------------


@pytest.mark.rtsp
@pytest.mark.timeout(60)
def test_source_reads_a_live_camera(rtsp_server) -> None:
    server = rtsp_server("cam")
    with Publisher(server.publish_url("cam"), SCENE.image, fps=15):
        source = RtspSource(RtspSourceConfig(url=server.url("cam"), open_timeout_s=10, read_timeout_s=3))
        _open_when_published(source)
        try:
            frames = _read_frames(source, 20)
        finally:
            source.close()
    assert source.live and source.nominal_fps == pytest.approx(15, rel=0.05)
    assert [f.index for f in frames] == list(range(20))
    assert all(f.image.shape == (SCENE.height, SCENE.width, 3) for f in frames)
    scene_indices = [decode_index(f.image) for f in frames]
    assert scene_indices == sorted(scene_indices) and scene_indices[-1] > scene_indices[0]
    # the picture is the scene's (within the codec's loss)
    sample = frames[-1]
    error = np.abs(sample.image.astype(int) - SCENE.image(scene_indices[-1]).astype(int)).mean()
    assert error < 12


class _CountedPackets:
    def __init__(self, packets) -> None:
        self.packets, self.count = packets, 0

    def __iter__(self):
        return self

    def __next__(self):
        packet = next(self.packets)
        self.count += packet.size > 0
        return packet


@pytest.mark.rtsp
@pytest.mark.timeout(60)
def test_source_decoder_holds_no_frames(rtsp_server) -> None:
    """Each picture the camera sends is read out as soon as its packet arrived: frame threading
    in the decoder would hold back one picture per extra thread (measured: 2 frames, 88 ms)."""
    server = rtsp_server("cam")
    with Publisher(server.publish_url("cam"), SCENE.image, fps=15):
        source = RtspSource(RtspSourceConfig(url=server.url("cam"), open_timeout_s=10, read_timeout_s=3))
        _open_when_published(source)
        try:
            source._packets = counted = _CountedPackets(source._packets)
            for read in range(1, 16):
                source.read()
                assert counted.count == read, f"{counted.count} packets demuxed for {read} pictures"
        finally:
            source.close()


@pytest.mark.rtsp
@pytest.mark.timeout(60)
def test_source_read_gives_up_within_the_read_timeout_when_the_server_freezes(rtsp_server) -> None:
    server = rtsp_server("cam")
    with Publisher(server.publish_url("cam"), SCENE.image, fps=15):
        source = RtspSource(RtspSourceConfig(url=server.url("cam"), read_timeout_s=1.5))
        _open_when_published(source)
        _read_frames(source, 5)
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(SourceError, match="lost stream|no picture|ended") as caught:
                for _ in range(1000):  # frames already buffered come first
                    source.read()
            assert "Errno" not in str(caught.value) and "exit requested" not in str(caught.value)
            waited = time.monotonic() - started
            closing = time.monotonic()
            source.close()  # still frozen: closing must not wait for it either
            closed_in = time.monotonic() - closing
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
            source.close()
    assert waited < 1.5 + 0.5
    assert closed_in < 1.5


@pytest.mark.rtsp
@pytest.mark.timeout(90)
def test_source_reports_a_lost_server_and_reopens_when_it_returns(rtsp_server) -> None:
    server = rtsp_server("cam")
    with Publisher(server.publish_url("cam"), SCENE.image, fps=15):
        source = RtspSource(RtspSourceConfig(url=server.url("cam"), read_timeout_s=2))
        _open_when_published(source)
        before = _read_frames(source, 5)
        server.kill()
        with pytest.raises(SourceError):
            for _ in range(1000):
                source.read()
        source.close()
        with pytest.raises(SourceError):  # nothing listens now
            source.open()
        server.start()
        _open_when_published(source)
        after = _read_frames(source, 5)
        source.close()
    indices = [f.index for f in before + after]
    assert indices == sorted(set(indices)), "frame indices keep increasing across reconnects"


@pytest.mark.rtsp
@pytest.mark.timeout(90)
def test_sink_publishes_then_republishes_after_the_server_returns(rtsp_server) -> None:
    server = rtsp_server("out")
    url = server.publish_url("out").replace("rtsp://", f"rtsp://pub:{SECRET}@")
    sink = RtspSink(RtspSinkConfig(url=url, gop=10), fps=15)
    sink.open()
    index = 0

    def publish_for(seconds: float) -> None:
        nonlocal index
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sink.write(_marked(index))
            index += 1
            time.sleep(1 / 15)

    with Viewer(server.url("out")) as viewer:
        publish_for(3.0)
        assert viewer.wait_for(10, timeout_s=10), "the viewer got no frames from the restream"
        first = [decode_index(image) for _, image in viewer.frames]
        assert first == sorted(first) and max(first) <= index
        # the viewer sees the scene's colours (within the codec's loss): YUV planes in the right order
        shown = viewer.frames[-1][1]
        error = np.abs(shown.astype(int) - SCENE.image(decode_index(shown)).astype(int)).mean(axis=(0, 1))
        assert error.max() < 12, f"mean error per channel (B, G, R) {error}"

        server.kill()
        with pytest.raises(SinkError) as caught:
            publish_for(5.0)  # the broken connection shows within a few frames
        assert SECRET not in str(caught.value)
        sink.close()

        server.start()
        restarted = time.monotonic()
        sink.open()
        publish_for(4.0)
        assert viewer.wait_for(10, since=restarted, timeout_s=10), "no frames after republishing"
    sink.close()
    assert viewer.connections >= 2


def _open_when_published(source: RtspSource, timeout_s: float = 20.0) -> None:
    """Open ``source`` once the publisher's stream exists on the server (the first tries may be early)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            source.open()
            return
        except SourceError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.rtsp
@pytest.mark.timeout(60)
def test_sink_aborts_a_publish_to_a_frozen_server(rtsp_server) -> None:
    """A server that stops reading but keeps the connection (SIGSTOP) would block FFmpeg's
    muxer for minutes; the sink gives up after timeout_s and can republish later."""
    from livefilter.types import RedactedFrame

    server = rtsp_server("out")
    sink = RtspSink(RtspSinkConfig(url=server.publish_url("out"), bitrate_kbps=100000, timeout_s=1.5), fps=30)
    sink.open()
    rng = np.random.default_rng(0)  # noise: large packets fill the socket buffers quickly
    noise = [redacted(rng.integers(0, 256, (480, 640, 3), np.uint8), i) for i in range(4)]
    for i in range(5):
        sink.write(noise[i % 4])
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        with pytest.raises(SinkError, match="stopped reading for 1.5 s"):
            for i in range(10_000):
                sink.write(noise[i % 4])
        assert time.monotonic() - stopped < 1.5 + 3.0
        closing = time.monotonic()
        sink.close()
        assert time.monotonic() - closing < 1.0
        sink.open()
        started = time.monotonic()
        with pytest.raises(SinkError, match="did not answer within 1.5 s"):
            sink.write(noise[0])  # connecting to the frozen server
        assert time.monotonic() - started < 1.5 + 1.0
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        sink.close()


@pytest.mark.rtsp
@pytest.mark.timeout(60)
def test_builtin_server_serves_viewers(gstreamer) -> None:
    url = f"rtsp://127.0.0.1:{free_port()}/live"
    sink = RtspSink(RtspSinkConfig(url=url, serve=True, gop=5), fps=15)
    sink.open()
    try:
        with Viewer(url) as viewer:
            deadline = time.monotonic() + 20
            index = 0
            while time.monotonic() < deadline and viewer.count_since(0.0) < 5:
                sink.write(_marked(index))
                index += 1
                time.sleep(1 / 15)
        got = [decode_index(image) for _, image in viewer.frames]
        assert len(got) >= 5 and got == sorted(got) and max(got) < index
    finally:
        sink.close()
    with pytest.raises(SourceError):  # closing the sink stopped its server
        RtspSource(RtspSourceConfig(url=url, open_timeout_s=2)).open()


def test_builtin_server_without_gstreamer_says_what_to_install(monkeypatch) -> None:
    from livefilter.errors import DependencyError
    from livefilter.sinks import rtsp

    monkeypatch.setattr(rtsp, "SYSTEM_PYTHON", "/nonexistent/python3")
    sink = rtsp.RtspSink(RtspSinkConfig(url=f"rtsp://127.0.0.1:{free_port()}/live", serve=True), fps=15)
    with pytest.raises(DependencyError, match="gir1.2-gst-rtsp-server-1.0.*mediamtx"):
        sink.open()


def test_builtin_server_needs_a_path() -> None:
    sink = RtspSink(RtspSinkConfig(url=f"rtsp://127.0.0.1:{free_port()}", serve=True), fps=15)
    with pytest.raises(SinkError, match="needs a path in the URL"):
        sink.open()


@pytest.mark.rtsp
@pytest.mark.timeout(60)
def test_builtin_server_on_a_busy_port_says_so(gstreamer) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        url = f"rtsp://127.0.0.1:{busy.getsockname()[1]}/live"
        with pytest.raises(SinkError, match=r"could not start on 127\.0\.0\.1:\d+: cannot listen"):
            RtspSink(RtspSinkConfig(url=url, serve=True), fps=15).open()
