"""End to end through real RTSP servers on 127.0.0.1:

camera (publishes the test scene) → server A → livefilter (RtspSource → engine → render →
RtspSink) → server B → a viewer that decodes the restream.

The engine is the ground-truth test double, fed the scene index the camera drew into the
pixels (RTSP renumbers frames). A secret is recognised in a *decoded* picture by its 2-pixel
checker/stripe pattern, which survives H.264 but no redaction style does (checked below on the
raw camera stream, so the detector can fail).
"""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
import pytest

from livefilter.config import EngineConfig, RenderConfig, RuntimeConfig
from livefilter.config.sinks import RtspSinkConfig
from livefilter.config.source import RtspSourceConfig
from livefilter.pipeline import Pipeline
from livefilter.sinks.rtsp import RtspSink
from livefilter.sources.rtsp import RtspSource
from livefilter.types import Frame, MaskSet
from tests.conftest import FAST_ENGINE
from tests.fakes import GroundTruthEngine, GroundTruthEngineFactory, RecordingSink, Scene, decode_index
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


def shows_index(image: np.ndarray) -> bool:
    """True when the top rows still carry crisp index bits (the frame was not fully redacted)."""
    blocks = image[:6, : 16 * 8].reshape(6, 16, 8, 3).mean(axis=(0, 2, 3))
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


@pytest.fixture
def relay(rtsp_server):
    """Camera server, restream server, a publishing camera and a running livefilter between them."""
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
            sinks=[sink],
            render=RenderConfig(fps=FPS, max_frame_age_ms=400),
            engine=EngineConfig(**{**FAST_ENGINE, "kind": "cpu-face", "timeout_s": 1.0}),
            runtime=RuntimeConfig(stats_interval_s=3600),
        )
        pipeline.start()
        try:
            with Viewer(out_server.url("out")) as viewer:
                yield camera_server, out_server, camera, pipeline, viewer
        finally:
            pipeline.stop()


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
