from __future__ import annotations

import numpy as np
import pytest

from livefilter.config import RenderConfig
from livefilter.render.compositor import Compositor
from livefilter.runtime.inference import EngineResult
from livefilter.runtime.render import TickPacer, compose, fail_reason
from livefilter.types import MaskSet, RedactedFrame
from tests.fakes import Scene, leaked_pixels

SCENE = Scene()
FRAME = SCENE.frame(10, t_capture=100.0)


def result(
    *, index: int = 10, t_capture: float = 100.0, version: int = 0, size: tuple[int, int] | None = None
):
    masks = SCENE.truth(index, ["square"], t_capture=t_capture, fps=50.0)
    if size is not None:
        masks = MaskSet.empty(*size, frame_index=index, t_capture=t_capture)
    return EngineResult(SCENE.frame(index, t_capture=t_capture), masks, version)


@pytest.mark.parametrize(
    ("engine_result", "options", "expected"),
    [
        (result(), {}, ""),
        (result(index=8, t_capture=99.6), {}, ""),  # 400 ms old: within max_mask_age
        (None, {}, "no_masks_yet"),
        (EngineResult(FRAME, None, 0, "engine_hung"), {}, "engine_hung"),
        (EngineResult(FRAME, None, 0, "engine_down"), {}, "engine_down"),
        (result(version=0), {"prompts_version": 1}, "prompts_changed"),
        (result(size=(60, 80)), {}, "mask_size_mismatch"),
        (result(index=5, t_capture=99.4), {}, "stale_masks"),
        (result(index=11, t_capture=100.1), {}, "stale_masks"),  # masks of a newer frame than the one shown
        (result(), {"now": 101.5, "max_frame_age_s": 1.0}, "source_silent"),
        (result(), {"now": 100.5, "max_frame_age_s": 1.0}, ""),
    ],
)
def test_fail_reason(engine_result, options, expected) -> None:
    kwargs = {"prompts_version": 0, "max_mask_age_s": 0.5, **options}
    assert fail_reason(FRAME, engine_result, **kwargs) == expected


class BrokenCompositor(Compositor):
    def __init__(self, returns: object = None) -> None:
        super().__init__(RenderConfig())
        self.returns = returns

    def redact_regions(self, frame, masks, *, age_s=0.0):  # type: ignore[no-untyped-def]
        if self.returns is None:
            raise RuntimeError("injected compositing failure")
        return self.returns


@pytest.mark.parametrize("returns", [None, FRAME, FRAME.image], ids=["raises", "raw frame", "raw array"])
def test_compose_redacts_everything_when_compositing_fails(returns) -> None:
    out = compose(BrokenCompositor(returns), FRAME, result(), "")
    assert isinstance(out, RedactedFrame)
    assert (out.fully_redacted, out.reason) == (True, "render_error")
    assert leaked_pixels(out.image) == 0


def test_compose_uses_the_masks_and_their_age() -> None:
    seen = {}

    class Spy(Compositor):
        def redact_regions(self, frame, masks, *, age_s=0.0):  # type: ignore[no-untyped-def]
            seen["age_s"] = age_s
            return super().redact_regions(frame, masks, age_s=age_s)

    out = compose(Spy(RenderConfig()), FRAME, result(index=8, t_capture=99.75), "")
    assert not out.fully_redacted and out.mask_frame_index == 8
    assert seen["age_s"] == pytest.approx(0.25)


def test_compose_never_returns_raw_pixels_for_a_reason() -> None:
    out = compose(Compositor(RenderConfig()), FRAME, result(), "stale_masks")
    assert (out.fully_redacted, out.reason) == (True, "stale_masks")
    assert not np.array_equal(out.image, FRAME.image) and leaked_pixels(out.image) == 0


class FakeTime:
    """A clock and a stop event whose waits advance the clock instead of sleeping."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, delay: float) -> bool:
        self.sleeps.append(round(delay, 6))
        self.now += delay
        return False

    def is_set(self) -> bool:
        return False


def test_pacer_keeps_the_rate_and_absorbs_a_late_tick() -> None:
    time = FakeTime()
    pacer = TickPacer(10.0, time)
    for work in [0.0, 0.02, 0.02, 0.35, 0.02, 0.02]:
        assert pacer.wait(time)  # type: ignore[arg-type]
        time.now += work
    # ticks at 0, .1, .2, .3; the 4th tick's work overruns to .65: next tick at once, then
    # every .1 again from there (no burst of ticks to catch up)
    assert time.sleeps == [0.1, 0.08, 0.08, 0.08]
    assert time.now == pytest.approx(0.77)


def test_pacer_rejects_a_zero_rate() -> None:
    with pytest.raises(ValueError, match="fps > 0"):
        TickPacer(0.0)
