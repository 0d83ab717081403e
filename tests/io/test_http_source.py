"""The stream source over HTTP (an IP camera's MPEG-TS/MJPEG endpoint), served on 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from livefilter.config.source import RtspSourceConfig
from livefilter.errors import SourceError
from livefilter.sources.rtsp import RtspSource
from tests.fakes import Scene, decode_index

SCENE = Scene()


def write_clip(path: Path, frames: int) -> None:
    import av

    with av.open(str(path), "w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=15, options={"preset": "ultrafast", "bf": "0"})
        stream.width, stream.height, stream.pix_fmt = SCENE.width, SCENE.height, "yuv420p"
        for index in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(SCENE.image(index), format="bgr24")))
        container.mux(stream.encode(None))


@pytest.fixture
def http_base(tmp_path: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.timeout(30)
def test_reads_an_http_stream_and_reports_its_end_as_signal_loss(http_base: str, tmp_path: Path) -> None:
    write_clip(tmp_path / "cam.ts", frames=12)
    source = RtspSource(RtspSourceConfig(url=f"{http_base}/cam.ts", read_timeout_s=3))
    source.open()
    try:
        frames = [source.read() for _ in range(12)]
        with pytest.raises(SourceError, match="ended"):  # a live stream that stops has lost its signal
            source.read()
    finally:
        source.close()
    assert [decode_index(f.image) for f in frames] == list(range(12))
    assert [f.index for f in frames] == list(range(12))


def test_a_missing_http_stream_is_a_source_error(http_base: str) -> None:
    source = RtspSource(RtspSourceConfig(url=f"{http_base}/missing.ts", open_timeout_s=3))
    with pytest.raises(SourceError, match=r"missing\.ts: not found \(check the path\)"):
        source.open()
