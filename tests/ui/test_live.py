"""The live tab's server side without a browser: what comes back is always redacted, and
fully redacted when the engine cannot keep up or the render is late."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from livefilter.types import Frame, MaskSet, Prompt
from livefilter.ui import live
from livefilter.ui.jobs import JobSettings
from livefilter.ui.clicks import ClickZones
from livefilter.ui.live import LiveSession
from tests.ui import media


class StuckEngine:
    """Opens, then never answers (until released)."""

    name = "stuck"

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def open(self) -> None: ...

    def infer(self, frame: Frame) -> MaskSet:
        self.release.wait(30)
        raise RuntimeError("released")

    def set_prompts(self, prompts: Sequence[Prompt]) -> None: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


@pytest.fixture
def session() -> Iterator[LiveSession]:
    s = LiveSession(JobSettings(style="solid"), deadline_s=0.5)
    yield s
    s.close()


def rgb(index: int) -> np.ndarray:
    return np.ascontiguousarray(media.frame(index)[..., ::-1])


def face_of(image: np.ndarray, index: int) -> np.ndarray:
    x0, y0, x1, y1 = media.face_box(index)
    return image[y0:y1, x0:x1]


def test_frames_come_back_redacted_once_masks_exist(session: LiveSession) -> None:
    results = [session.process(rgb(i)) for i in range(30)]
    for i, (out, _) in enumerate(results):
        assert out.fully_redacted or face_of(out.image, i).max() < 10, f"frame {i}: face shown"
    assert any(not out.fully_redacted for out, _ in results), "never got past fail-closed"
    assert "fps" in results[-1][1].describe()


def test_a_stuck_engine_means_fully_redacted_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    monkeypatch.setattr(live, "create_engine", lambda config, prompts: StuckEngine(release))
    session = LiveSession(JobSettings(style="solid"), deadline_s=0.3)
    try:
        for i in range(8):
            out, status = session.process(rgb(i))
            assert out.fully_redacted and status.fully_redacted
            assert not np.array_equal(face_of(out.image, i), face_of(media.frame(i), i))
    finally:
        release.set()
        session.close()


def test_a_late_render_answers_fully_redacted(session: LiveSession) -> None:
    session.deadline_s = 0.0  # the render can never be in time
    out, status = session.process(rgb(3))
    assert out.fully_redacted and out.reason == "ui_deadline"
    assert "FULLY REDACTED (ui_deadline)" in status.describe()


def test_a_click_adds_a_static_zone_and_a_negative_click_removes_it(session: LiveSession) -> None:
    for i in range(10):
        session.process(rgb(i))
    message = session.add_click(600, 450, positive=True, size=(640, 480))
    assert "static zone" in message
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        out, _ = session.process(rgb(11))
        if not out.fully_redacted and out.image[440:460, 590:610].max() == 0:
            break
    else:
        pytest.fail("the clicked zone never came back redacted")
    assert "removed 1 zone" in session.add_click(600, 450, positive=False, size=(640, 480))
    assert session.click_zones.mask(480, 640) is None


def test_click_zones_rasterise_boxes() -> None:
    zones = ClickZones()
    zones.add_box((2, 1, 5, 3), "a")
    mask = zones.mask(6, 8)
    assert mask is not None and int(mask.sum()) == 6 and mask[1:3, 2:5].all()
    assert zones.remove_at(3, 2) == 1 and zones.mask(6, 8) is None


@pytest.mark.slow
def test_clicks_go_to_sam3_through_its_click_api(tmp_path: object) -> None:
    pytest.importorskip("torchvision", reason="SAM3 needs torchvision (pip install -e '.[sam3]')")
    import torch

    from livefilter.engines.sam3 import click_track_id
    from livefilter.engines.sam3_tiny import save_tiny_sam3

    model = save_tiny_sam3(Path(str(tmp_path)) / "tiny", image_size=112, seed=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model on a busy machine: one thread is fastest
    session = LiveSession(JobSettings(engine="sam3", sam3_model=str(model), style="solid"), deadline_s=0.2)
    try:
        small = np.ascontiguousarray(media.frame(0)[::4, ::4, ::-1])  # 160x120, RGB
        deadline = time.monotonic() + 60
        while not session.tracks_clicks and time.monotonic() < deadline:
            session.process(small)
        assert session.tracks_clicks, "the SAM3 engine never came up"
        assert "SAM3: tracking object 1" in session.add_click(80, 60, positive=True, size=(160, 120))
        assert "SAM3: tracking object 2" in session.add_box((10, 10, 60, 50))
        wanted = {click_track_id(1), click_track_id(2)}
        while time.monotonic() < deadline:
            session.process(small)
            masks = session.pipeline.latest_masks()
            if masks is not None and wanted <= set(masks.object_ids.tolist()):
                break
        else:
            pytest.fail("the clicked objects never came back from SAM3")
    finally:
        session.close()
        torch.set_num_threads(threads)


def test_outlines_use_the_masks_the_frame_was_redacted_with(session: LiveSession) -> None:
    from livefilter.ui.jobs import overlay

    outlined = []
    for i in range(30):
        out, _ = session.process(rgb(i))
        masks = session.masks_of(out)
        if masks is not None:
            assert masks.frame_index == out.mask_frame_index and not out.fully_redacted
            drawn = overlay(out, masks)
            assert face_of(drawn, i).std(axis=(0, 1)).max() < 40, "outlines are drawn on the redacted frame"
            outlined.append(i)
    assert outlined, "no frame could be outlined"
