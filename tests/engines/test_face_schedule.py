"""Where the CPU face detector looks: tiles, whole-frame passes, the live plan."""

from __future__ import annotations

import numpy as np
import pytest

from livefilter.engines.face_schedule import (
    MIN_TILE_PX,
    TILE_CONTEXT_PX,
    Region,
    exact_regions,
    plan_live,
    tile_grid,
)


@pytest.mark.parametrize(
    ("width", "height", "cols", "rows", "overlap"),
    [(1280, 720, 2, 2, 96), (1920, 1080, 5, 3, 136), (641, 359, 3, 1, 40)],
)
def test_tiles_cover_the_frame_and_hold_every_face_up_to_the_overlap_whole(width, height, cols, rows, overlap):
    tiles = tile_grid(width, height, cols=cols, rows=rows, overlap=overlap)
    assert len(tiles) == cols * rows
    covered = np.zeros((height, width), np.int32)
    for t in tiles:
        covered[t.y0 : t.y1, t.x0 : t.x1] += 1
    assert covered.min() >= 1
    # Any overlap x overlap square of the frame lies inside one tile.
    rng = np.random.default_rng(0)
    for x, y in zip(rng.integers(0, width - overlap, 200), rng.integers(0, height - overlap, 200)):
        assert any(t.x0 <= x and x + overlap <= t.x1 and t.y0 <= y and y + overlap <= t.y1 for t in tiles), (x, y)


def test_exact_regions_are_native_and_add_a_downscaled_pass_only_for_tall_frames():
    assert exact_regions(1280, 720, 640) == [Region(0, 0, 1280, 720)]
    native, small = exact_regions(1920, 1080, 640)
    assert native == Region(0, 0, 1920, 1080) and small.scale == pytest.approx(1 / 3)


@pytest.mark.parametrize("budget_ms", [1.0, 60.0, 120.0, 400.0, 5000.0])
def test_live_plan_fits_the_budget_with_the_fewest_tiles(budget_ms):
    plan = plan_live(1920, 1080, input_width=640, min_face_px=24, ms_per_mpixel=100.0, budget_ms=budget_ms)
    assert plan.whole.scale == pytest.approx(1 / 3)
    assert plan.overlap == 72 + 2 * TILE_CONTEXT_PX  # a 24 px face in the 1/3 pass is 72 px native
    t = plan.tiles[0]
    assert min(t.x1 - t.x0, t.y1 - t.y0) >= min(MIN_TILE_PX, 1080)
    if plan.period > 1:  # fewer tiles would not fit the budget
        fewer = plan_live(
            1920, 1080, input_width=640, min_face_px=24, ms_per_mpixel=100.0, budget_ms=plan.call_ms * 1.5
        )
        assert fewer.period <= plan.period
    whole_ms = 100.0 * plan.whole.pixels / 1e6
    assert plan.call_ms == pytest.approx(whole_ms + 100.0 * t.pixels / 1e6)
    assert [plan.regions(i)[1] for i in range(plan.period)] == list(plan.tiles)  # one tile per call, in turn
    assert "every" in plan.describe()


def test_live_plan_on_a_frame_no_wider_than_input_width_is_the_native_frame():
    plan = plan_live(640, 360, input_width=640, min_face_px=24, ms_per_mpixel=100.0, budget_ms=10.0)
    assert plan.tiles == () and plan.period == 1 and plan.regions(5) == [Region(0, 0, 640, 360)]


def test_region_rejects_bad_rectangles_and_scales():
    with pytest.raises(ValueError, match="x0 < x1"):
        Region(10, 0, 10, 5)
    with pytest.raises(ValueError, match="scale"):
        Region(0, 0, 10, 10, scale=1.5)


def test_on_a_machine_too_slow_for_the_budget_tiles_stay_as_costly_as_the_whole_pass():
    """A rotation of dozens of tiles would leave small faces unvisited for many seconds."""
    slow = plan_live(1920, 1080, input_width=640, min_face_px=24, ms_per_mpixel=1500.0, budget_ms=120.0)
    assert slow.tiles[0].pixels <= slow.whole.pixels
    assert slow.period <= 16  # 1080p native is ~9x the 640 px pass, tiles overlap: 15
    assert slow.call_ms <= 2 * 1500.0 * slow.whole.pixels / 1e6 + 1e-6


def test_the_detector_cost_is_the_machines_not_a_moments_load():
    """The live plan is sized from ``measure_cost``: warm-up runs and a slow moment (another
    process taking the core) must not size it; the fastest timed run does."""
    import time

    from livefilter.engines.face_cpu import Detections, measure_cost

    class Scripted:
        def __init__(self) -> None:
            self.delays = [0.1, 0.3, 0.3, 0.04, 0.3, 0.3, 0.3]  # warm-ups, then a core mostly taken

        def detect(self, image: np.ndarray, threshold: float) -> Detections:
            time.sleep(self.delays.pop(0))
            return Detections.empty()

    cost = measure_cost(Scripted())  # type: ignore[arg-type]
    megapixels = 640 * 384 / 1e6
    assert 1000 * 0.04 / megapixels <= cost < 1000 * 0.12 / megapixels, f"{cost:.0f} ms per megapixel"
