"""End to end through real RTSP servers on 127.0.0.1:

camera (publishes the test scene) → server A → livefilter (RtspSource → engine → render →
RtspSink) → server B → a viewer that decodes the restream.

The engine is the ground-truth test double, fed the scene index the camera drew into the
pixels (RTSP renumbers frames). A secret is recognised in a *decoded* picture by its 2-pixel
checker/stripe pattern, which survives H.264 but no redaction style does (checked below on the
raw camera stream, so the detector can fail).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence

import numpy as np
import pytest

from livefilter.config import EngineConfig, RenderConfig, RuntimeConfig
from livefilter.config.sinks import RtspSinkConfig
from livefilter.config.source import RtspSourceConfig
from livefilter.pipeline import Pipeline
from livefilter.sinks.rtsp import RtspSink
from livefilter.sinks.base import Sink
from livefilter.sources.rtsp import RtspSource
from livefilter.types import Frame, MaskSet
from tests.conftest import FAST_ENGINE
from tests.fakes import (
    GroundTruthEngine,
    GroundTruthEngineFactory,
    RecordingSink,
    Scene,
    decode_index,
    leaked_pixels,
)
from tests.io.conftest import Publisher, RtspServer, Viewer

pytestmark = [pytest.mark.rtsp, pytest.mark.timeout(90)]

SCENE = Scene()
FPS = 15.0
LEAK_PIXELS = 20
"""More pixels than this in the secrets' 2-px alternating pattern = a secret is visible."""


def secret_pattern_pixels(image: np.ndarray) -> int:
    """Pixels (below the index bits) where the colour flips back and forth every 2 px along x,
    as in the secrets' checker and stripes; blur, pixelate and solid leave none."""
    a = image.astype(np.int32)[8:]
    d1, d2 = a[:, :-4] - a[:, 2:-2], a[:, 2:-2] - a[:, 4:]
    return int(((d1 * d2) < -60 * 60).any(axis=-1).sum())


def index_blocks(image: np.ndarray) -> np.ndarray:
    """The mean level of each of the 16 index bits' blocks in the top rows (drawn: ~20 or ~230)."""
    return image[:6, : 16 * 8].reshape(6, 16, 8, 3).mean(axis=(0, 2, 3))


def shows_index(image: np.ndarray) -> bool:
    """True when the top rows still carry crisp index bits (the frame was not fully redacted)."""
    blocks = index_blocks(image)
    return bool(np.all((blocks < 70) | (blocks > 180)))


class PixelIndexEngine(GroundTruthEngine):
    """Ground truth for the scene index drawn in the frame (not the source's frame index)."""

    def infer(self, frame: Frame) -> MaskSet:
        truth = super().infer(dataclasses.replace(frame, index=decode_index(frame.image)))
        return dataclasses.replace(truth, frame_index=frame.index)


class PixelIndexEngineFactory(GroundTruthEngineFactory):
    def __call__(self) -> PixelIndexEngine:
        engine = PixelIndexEngine(self.scene, self.prompts, **self.options)  # type: ignore[arg-type]
        self.built.append(engine)
        return engine


def wait_until_publishing(camera: Publisher, timeout_s: float = 20.0) -> None:
    """Until the camera streams (a reader's DESCRIBE then waits for its next keyframe)."""
    deadline = time.monotonic() + timeout_s
    while camera.sent < 3:
        assert time.monotonic() < deadline, "the test camera could not publish"
        time.sleep(0.05)


@contextlib.contextmanager
def running_relay(rtsp_server, render: RenderConfig, extra_sinks: Sequence[Sink] = ()):
    """Camera server, restream server, a publishing camera and a running livefilter between them
    (its RTSP sink, then ``extra_sinks``), with a viewer of the restream."""
    camera_server, out_server = rtsp_server("cam"), rtsp_server("out")
    with Publisher(camera_server.publish_url("cam"), SCENE.image, fps=FPS) as camera:
        wait_until_publishing(camera)
        source = RtspSource(
            RtspSourceConfig(
                url=camera_server.url("cam"), open_timeout_s=2, read_timeout_s=1,
                reconnect_min_s=0.1, reconnect_max_s=0.5,
            )
        )
        sink = RtspSink(
            RtspSinkConfig(url=out_server.publish_url("out"), gop=5, reconnect_min_s=0.1, reconnect_max_s=0.5),
            fps=FPS,
        )
        pipeline = Pipeline(
            source=source,
            engine_factory=PixelIndexEngineFactory(SCENE, fps=FPS),
            sinks=[sink, *extra_sinks],
            render=render,
            engine=EngineConfig(**{**FAST_ENGINE, "kind": "cpu-face", "timeout_s": 1.0}),
            runtime=RuntimeConfig(stats_interval_s=3600),
        )
        pipeline.start()
        try:
            with Viewer(out_server.url("out")) as viewer:
                yield camera_server, out_server, camera, pipeline, viewer
        finally:
            pipeline.stop()


@pytest.fixture
def relay(rtsp_server):
    with running_relay(rtsp_server, RenderConfig(fps=FPS, max_frame_age_ms=400)) as running:
        yield running


def assert_no_secret_visible(viewer: Viewer) -> None:
    counts = [secret_pattern_pixels(image) for _, image in list(viewer.frames)]
    assert counts, "the viewer decoded nothing"
    assert max(counts) <= LEAK_PIXELS, f"secret visible in {sum(c > LEAK_PIXELS for c in counts)} frames"


def test_the_secret_detector_sees_the_raw_camera(rtsp_server) -> None:
    server = rtsp_server("cam")
    with Publisher(server.publish_url("cam"), SCENE.image, fps=FPS), Viewer(server.url("cam")) as raw:
        assert raw.wait_for(5, timeout_s=20)
    assert min(secret_pattern_pixels(image) for _, image in raw.frames) > 20 * LEAK_PIXELS


def test_restream_hides_secrets_and_survives_camera_loss(relay) -> None:
    camera_server, _, camera, pipeline, viewer = relay
    assert viewer.wait_for(15, timeout_s=20), "no redacted frames reached the viewer"
    assert any(shows_index(image) for _, image in viewer.frames), "every frame was fully redacted"

    camera_server.kill()
    lost = time.monotonic()
    time.sleep(2.5)
    # after max_frame_age_ms (0.4 s) + the restream's delay, every frame shown is fully redacted
    assert viewer.count_since(lost + 1.5) > 0, "the restream stopped while the camera was down"
    assert not any(shows_index(image) for t, image in viewer.frames if t > lost + 1.5), (
        "frames during the outage must be fully redacted"
    )
    camera_server.start()
    back = time.monotonic()
    deadline = back + 20
    while time.monotonic() < deadline and not any(shows_index(im) for t, im in viewer.frames if t > back):
        time.sleep(0.1)
    assert any(shows_index(im) for t, im in viewer.frames if t > back), "livefilter did not reconnect to the camera"
    assert pipeline.error is None
    stats = pipeline.stats()
    assert stats.source_reconnects >= 1 and stats.fail_closed.get("source_silent", 0) > 0
    assert camera.connections >= 2
    assert_no_secret_visible(viewer)


def test_restream_republishes_when_its_server_returns(relay) -> None:
    _, out_server, _, pipeline, viewer = relay
    assert viewer.wait_for(10, timeout_s=20), "no redacted frames reached the viewer"

    out_server.kill()
    time.sleep(1.5)
    assert pipeline.error is None
    out_server.start()
    back = time.monotonic()
    assert viewer.wait_for(10, since=back, timeout_s=20), "livefilter did not republish"
    assert any(shows_index(image) for t, image in viewer.frames if t > back)
    assert pipeline.stats().sink_errors >= 1
    assert_no_secret_visible(viewer)


def secret_pattern_map(image: np.ndarray) -> np.ndarray:
    """Where :func:`secret_pattern_pixels` fires (a boolean picture; the index rows are left out)."""
    a = image.astype(np.int32)
    d1, d2 = a[:, :-4] - a[:, 2:-2], a[:, 2:-2] - a[:, 4:]
    found = np.zeros(image.shape[:2], np.bool_)
    found[8:, 2:-2] = ((d1 * d2) < -60 * 60).any(axis=-1)[8:]
    return found


def grown(mask: np.ndarray, px: int) -> np.ndarray:
    """``mask`` grown by ``px`` pixels (a square neighbourhood)."""
    padded = np.pad(mask, px)
    height, width = mask.shape
    return np.logical_or.reduce(
        [padded[dy : dy + height, dx : dx + width] for dy in range(2 * px + 1) for dx in range(2 * px + 1)]
    )


@pytest.mark.slow
@pytest.mark.parametrize("live_guard", ["hide_changes", "masks_only"])
def test_solid_fill_restream_shows_only_codec_ringing_at_the_fills_edge_from_each_sessions_start(
    rtsp_server, live_guard: str
) -> None:
    """The edge colours a viewer decodes around a *solid* fill (the secret detector fires on up to
    ~60 rows of a restreamed picture, most at a new restream session's first frames) are H.264 ringing
    of the published picture, 1 px outside the fill, never secret pixels: the frames the render published
    (a recording sink beside the RTSP sink) hold no secret pixel, from each session's first frame on,
    after the camera reconnects and after the restream server returns. (The detector also fires on
    the published frames themselves where a 1-3 px sliver of background shows between two fills:
    background colours, not the secret; so the published frames are checked against the truth.)"""
    # Lossless: every frame the render publishes is recorded, so each decoded picture's own source is among
    # them (a lossy recorder drops frames on a loaded machine, and the nearest recorded one has its fills elsewhere).
    recorded = RecordingSink("rec", lossless=True)
    render = RenderConfig(fps=FPS, max_frame_age_ms=400, style="solid", live_guard=live_guard)  # black: no scene colour
    with running_relay(rtsp_server, render, [recorded]) as (camera_server, out_server, _, pipeline, viewer):
        assert viewer.wait_for(15, timeout_s=20), "no redacted frames reached the viewer"
        camera_server.kill()  # a new source session: reconnect, first frames before their masks
        time.sleep(1.5)
        camera_server.start()
        back = time.monotonic()
        deadline = back + 20
        while not any(not f.fully_redacted for f, t in zip(recorded.frames, recorded.received_at) if t > back):
            assert time.monotonic() < deadline, "livefilter did not reconnect to the camera"
            time.sleep(0.1)
        out_server.kill()  # a new restream session: a fresh encoder, whose first frames ring most
        time.sleep(1.0)
        out_server.start()
        assert viewer.wait_for(15, since=time.monotonic(), timeout_s=20), "livefilter did not republish"
        assert pipeline.error is None
    published = [f.image for f in recorded.frames]
    # frames whose index is not under a fill (hide_changes covers the index bits that changed since the
    # masks' frame; a covered bit would read 0 and name another frame)
    known = [f.image for f in recorded.frames if not f.fully_redacted and index_blocks(f.image).min() > 8]
    assert len(known) >= 20, "too few frames were published with their picture and index"
    assert not any(secret_pattern_map(f.image).any() for f in recorded.frames if f.fully_redacted)
    for image in known:  # the render's own output: every pixel of each secret, where it is on that frame, is filled
        index = decode_index(image)
        for label in ("square", "stripe"):
            x0, y0, x1, y1 = SCENE.box(label, index)  # type: ignore[misc]
            assert np.all(image[y0:y1, x0:x1] == 0), f"published frame of scene index {index} shows {label} pixels"
    stack = np.stack(published).reshape(len(published), -1).astype(np.float32)
    decoded = [image for _, image in list(viewer.frames)]
    assert len(decoded) >= 30
    ringing = 0
    for image in decoded:
        found = secret_pattern_map(image)
        if not found.any():
            continue
        # the published picture this one decodes (nearest in pixels): what the encoder was given
        source = published[int(((stack - image.reshape(-1).astype(np.float32)) ** 2).sum(axis=1).argmin())]
        fill = np.all(source == 0, axis=-1)
        assert fill.any(), "pattern in a restreamed picture whose published frame has no solid fill"
        # (2 px: a sliver of background 1-3 px wide between two fills also flips every 2 px)
        edge = grown(fill, 2) & ~fill
        assert not (found & ~edge).any(), "a restreamed picture shows the pattern away from a solid fill's edge"
        ringing += int(found.sum())
    print(f"restreamed pictures {len(decoded)}, published frames {len(published)}, pattern pixels (all at a fill's "
          f"edge) {ringing}, worst picture {max(secret_pattern_pixels(image) for image in decoded)} rows")


def test_a_camera_down_at_start_is_waited_for_with_the_output_fully_redacted(gstreamer, caplog) -> None:
    """Issue 10.4: no exit at start-up; outputs run fully redacted at the configured size; the
    wait is said once (retries are quiet); the camera is picked up when it comes."""
    server = RtspServer("cam")  # its port is known, but it is not running: the camera is down
    source = RtspSource(
        RtspSourceConfig(
            url=server.url("cam"), open_timeout_s=1, read_timeout_s=1, reconnect_min_s=0.1,
            reconnect_max_s=0.3, width=SCENE.width, height=SCENE.height,
        )
    )
    sink = RecordingSink("rec", lossless=False)
    pipeline = Pipeline(
        source=source,
        engine_factory=PixelIndexEngineFactory(SCENE, fps=FPS),
        sinks=[sink],
        render=RenderConfig(fps=FPS, max_frame_age_ms=400),
        engine=EngineConfig(**{**FAST_ENGINE, "kind": "cpu-face", "timeout_s": 1.0}),
        runtime=RuntimeConfig(stats_interval_s=3600),
        wait_for_source=True,
    )
    with caplog.at_level(logging.DEBUG, logger="livefilter.runtime.capture"):
        pipeline.start()  # used to raise SourceError (exit 1)
        try:
            time.sleep(2.0)
            waiting = len(sink.frames)
            server.start()
            with Publisher(server.publish_url("cam"), SCENE.image, fps=FPS):
                deadline = time.monotonic() + 30
                while not any(not f.fully_redacted for f in sink.frames[waiting:]):
                    assert time.monotonic() < deadline, "the camera was not picked up once it came"
                    time.sleep(0.1)
        finally:
            pipeline.stop()
            server.kill()
    before = sink.frames[:waiting]
    assert len(before) >= 5, "the outputs did not run while the camera was down"
    assert all(f.fully_redacted and f.image.shape == (SCENE.height, SCENE.width, 3) for f in before)
    assert max(secret_pattern_pixels(f.image) for f in sink.frames) <= LEAK_PIXELS
    messages = [r.getMessage() for r in caplog.records if r.name == "livefilter.runtime.capture"]
    said = [m for m in messages if "not available yet" in m]
    assert len(said) == 1 and "waiting for it" in said[0] and "fully redacted" in said[0]
    assert sum("still down" in m for m in messages) >= 2  # it retried meanwhile, quietly
    assert f"source {source.name}: connected" in messages
