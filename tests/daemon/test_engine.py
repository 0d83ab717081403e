"""The shared engine: one worker, fair turns, each camera's session its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from functools import partial

import numpy as np
import pytest

from livefilter.config import EngineConfig, RenderConfig, RuntimeConfig
from livefilter.config.engine import CpuFaceConfig
from livefilter.daemon.engine import FaceModel, SharedEngine
from livefilter.pipeline import Pipeline
from livefilter.types import Frame, Prompt, RedactedFrame
from tests.fakes import FAST_ENGINE, SQUARE_COLORS, STRIPE_COLORS, FakeSource, GroundTruthEngine, RecordingSink, Scene, leaked_pixels


class TruthModel:
    """TEST DOUBLE of a shared model: each session is a GroundTruthEngine with its own prompts."""

    name = "truth"

    def __init__(self, scene: Scene, delay_s: float = 0.002, release: threading.Event | None = None) -> None:
        self.scene, self.delay_s = scene, delay_s
        self.release = release or threading.Event()
        self.sessions: list[GroundTruthEngine] = []
        self.opened = 0

    def open(self) -> None:
        self.opened += 1

    def session(self, prompts: Sequence[Prompt]) -> GroundTruthEngine:
        hang = 0 if prompts and prompts[0].text == "hang" else None  # a session that never answers
        engine = GroundTruthEngine(
            self.scene, prompts, fps=100.0, delay_s=self.delay_s, hang_after=hang, release=self.release
        )
        self.sessions.append(engine)
        return engine

    def close(self) -> None:
        pass


@pytest.fixture
def shared(scene: Scene):
    model = TruthModel(scene)
    engine = SharedEngine(lambda: model)
    engine.open()
    engine.model = model  # type: ignore[attr-defined]
    yield engine
    engine.close()


def test_a_flooding_camera_cannot_starve_another(shared: SharedEngine) -> None:
    order: list[str] = []
    gate = threading.Event()
    shared.submit("busy", lambda _: gate.wait())  # hold the worker while the queue fills
    flood = [shared.submit("busy", lambda _: order.append("busy")) for _ in range(20)]
    quiet = shared.submit("quiet", lambda _: order.append("quiet"))
    gate.set()
    quiet.result(5)
    for future in flood:
        future.result(5)
    assert order.index("quiet") <= 1  # served in its turn, not after the 20 queued before it


def _camera(scene: Scene, shared: SharedEngine, name: str, prompt: str, sink: RecordingSink) -> Pipeline:
    return Pipeline(
        source=FakeSource(scene, count=None, fps=100.0, paced=True, live=True, name=name),
        engine_factory=partial(shared.client, name, [Prompt(prompt)]),
        sinks=[sink],
        # masks_only: the moving square must stay visible to the camera that does not hide it (with
        # hide_changes it is hidden on frames newer than their masks, on both cameras)
        render=RenderConfig(fps=100.0, live_guard="masks_only"),
        engine=EngineConfig(kind="cpu-face", **{**FAST_ENGINE, "timeout_s": 2.0}),  # no restarts under load
        runtime=RuntimeConfig(stats_interval_s=3600.0),
    )


def _shown(sink: RecordingSink) -> list[RedactedFrame]:
    return [frame for frame in list(sink.frames) if not frame.fully_redacted]


def test_a_cameras_masks_never_reach_another_camera(scene: Scene, shared: SharedEngine) -> None:
    """Camera a hides the square, camera b the stripe, on the same pictures and one engine:
    b must still show the square on every frame it shows (a's masks never applied to b), and
    the other way round. The cameras run until each has shown 40 frames (however slow a loaded
    machine makes them), then every frame they published is checked."""
    sink_a, sink_b = RecordingSink(), RecordingSink()
    cameras = [_camera(scene, shared, "a", "square", sink_a), _camera(scene, shared, "b", "stripe", sink_b)]
    for camera in cameras:
        camera.start()
    try:
        deadline = time.monotonic() + 120
        while not all(
            len(_shown(sink)) > 40 and name in shared.usage() and shared.usage()[name].frames > 20
            for name, sink in (("a", sink_a), ("b", sink_b))
        ):
            assert time.monotonic() < deadline, "the cameras did not show 40 frames each within 120 s"
            assert all(camera.error is None for camera in cameras), [camera.error for camera in cameras]
            time.sleep(0.05)
    finally:
        for camera in cameras:
            camera.stop()

    assert len(shared.model.sessions) >= 2  # type: ignore[attr-defined]  # a session per camera (and restart)
    for sink, hidden, other in ((sink_a, SQUARE_COLORS, STRIPE_COLORS), (sink_b, STRIPE_COLORS, SQUARE_COLORS)):
        assert all(leaked_pixels(frame.image, hidden) == 0 for frame in sink.frames)
        assert all(leaked_pixels(frame.image, other) > 0 for frame in _shown(sink))


def test_sessions_answer_only_the_frame_their_camera_submitted(scene: Scene, shared: SharedEngine) -> None:
    clients = {name: shared.client(name, [Prompt("square")]) for name in ("a", "b", "c")}
    errors: list[str] = []

    def drive(name: str) -> None:
        client = clients[name]
        client.open()
        for index in range(40):
            frame = scene.frame(index, t_capture=time.monotonic(), source=name)
            masks = client.infer(frame)
            if (masks.frame_index, masks.t_capture) != (frame.index, frame.t_capture):
                errors.append(f"{name}: frame {index} answered with {masks.frame_index}")

    threads = [threading.Thread(target=drive, args=(name,)) for name in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for client in clients.values():
        client.close()
    assert errors == []
    assert {name: usage.frames for name, usage in shared.usage().items()} == {"a": 40, "b": 40, "c": 40}


def test_a_session_failure_stays_with_its_camera(scene: Scene, shared: SharedEngine) -> None:
    good, bad = shared.client("good", [Prompt("square")]), shared.client("bad", [Prompt("square")])
    good.open()
    bad.open()
    shared.model.sessions[1].raise_after = 0  # type: ignore[attr-defined]
    frame = scene.frame(1)
    with pytest.raises(RuntimeError, match="injected crash"):
        bad.infer(frame)
    assert good.infer(frame).frame_index == 1


def test_the_face_model_loads_one_detector_for_every_session() -> None:
    model = FaceModel(CpuFaceConfig())
    model.open()
    sessions = [model.session([Prompt("face")]) for _ in range(3)]
    for session in sessions:
        session.open()
    assert len({id(session.detector) for session in sessions}) == 1  # type: ignore[attr-defined]
    seconds = {id(session.second_opinion) for session in sessions}  # type: ignore[attr-defined]
    assert len(seconds) == 1 and sessions[0].second_opinion is not None  # type: ignore[attr-defined]
    frame = Frame(np.zeros((90, 160, 3), np.uint8), index=0, t_capture=0.0)
    assert all(len(session.infer(frame)) == 0 for session in sessions)


def test_the_face_models_detector_uses_at_most_the_threads_it_is_given() -> None:
    from livefilter.engines.face_cpu import default_threads

    for threads, expected in ((1, 1), (3, 3), (None, default_threads())):
        model = FaceModel(CpuFaceConfig(), threads=threads)
        model.open()
        session = model.session([Prompt("face")])
        assert session.detector._net.threads == expected  # type: ignore[attr-defined]
        assert session.second_opinion._net.threads == expected  # type: ignore[attr-defined]


@pytest.mark.slow
def test_sam3_cameras_share_one_model_with_a_session_each(tmp_path) -> None:
    """The tiny random SAM3: one model loaded, one streaming session (memory window) per camera."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision", reason="SAM3 in transformers needs torchvision (pip install 'livefilter[sam3]')")
    from livefilter.config.engine import Sam3Config
    from livefilter.daemon.engine import Sam3Model
    from livefilter.engines.sam3_tiny import save_tiny_sam3

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model_dir = save_tiny_sam3(tmp_path / "tiny", image_size=112, seed=0)
        shared = SharedEngine(lambda: Sam3Model(Sam3Config(model=str(model_dir), device="cpu", max_objects_per_prompt=2, memory_frames=4)))
        shared.open()
        try:
            a, b = shared.client("a", [Prompt("face", 0.2)]), shared.client("b", [Prompt("face", 0.2)])
            a.open()
            b.open()
            weights = {id(client._session._weights.model) for client in (a, b)}  # type: ignore[union-attr]
            streams = {id(client._session._stream) for client in (a, b)}  # type: ignore[union-attr]
            assert len(weights) == 1 and len(streams) == 2
            rng = np.random.default_rng(7)
            image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
            for i in range(3):
                for client in (a, b):
                    masks = client.infer(Frame(image, index=i, t_capture=i / 10))
                    assert masks.frame_index == i and masks.masks.shape[1:] == (120, 160)
            a.reset()  # one camera's memory forgotten, the other's kept
            assert b.infer(Frame(image, index=3, t_capture=0.3)).frame_index == 3
            a.close()
            b.close()
        finally:
            shared.close()
    finally:
        torch.set_num_threads(threads)


def test_a_hung_session_gets_the_worker_replaced_and_other_cameras_recover(scene: Scene, release) -> None:
    models: list[TruthModel] = []

    def factory() -> TruthModel:
        models.append(TruthModel(scene, release=release))
        return models[-1]

    shared = SharedEngine(factory, hang_s=0.3)
    shared.open()
    try:
        stuck, ok = shared.client("stuck", [Prompt("hang")]), shared.client("ok", [Prompt("square")])
        stuck.open()
        ok.open()
        threading.Thread(target=stuck.infer, args=(scene.frame(0),), daemon=True).start()
        wait = time.monotonic() + 10
        while shared.restarts == 0:
            assert time.monotonic() < wait, "the hung worker was not replaced"
            time.sleep(0.05)
        assert len(models) == 2  # a fresh model on a fresh worker
        with pytest.raises(Exception, match="restarted after a hang"):
            ok.infer(scene.frame(1))  # its session belonged to the abandoned model
        fresh = shared.client("ok", [Prompt("square")])  # what its pipeline does next
        fresh.open()
        assert fresh.infer(scene.frame(2)).labels == ("square",)
    finally:
        release.set()
        shared.close()
