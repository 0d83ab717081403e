"""Static privacy zones: exact pixels, fused with engine masks, independent of the engine."""

from __future__ import annotations

import numpy as np
import pytest

from livefilter.config import EngineConfig, RenderConfig, RuntimeConfig
from livefilter.render.compositor import Compositor
from livefilter.render.zones import Zone, ZoneBoard, zone_mask
from livefilter.pipeline import Pipeline
from livefilter.types import Frame, MaskSet
from tests.fakes import FAST_ENGINE, FakeSource, GroundTruthEngineFactory, RecordingSink, Scene

RED = (0, 0, 255)  # BGR of solid_color [255, 0, 0]
SOLID = RenderConfig(style="solid", solid_color=(255, 0, 0), dilation_px=0, dilation_percent=0, fps=100.0)


def box(x0: int, y0: int, x1: int, y1: int, **options: object) -> Zone:
    return Zone("z", ((x0, y0), (x1, y0), (x1, y1), (x0, y1)), fraction=False, **options)  # type: ignore[arg-type]


def frame_of(image: np.ndarray, index: int = 0) -> Frame:
    return Frame(image, index=index, t_capture=0.0)


def gray(height: int = 40, width: int = 64) -> np.ndarray:
    image = np.full((height, width, 3), 100, np.uint8)
    image[..., 1] = np.arange(width, dtype=np.uint8)[None, :]  # every column different
    return image


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        (box(10, 5, 20, 9), (slice(5, 9), slice(10, 20))),
        (Zone("half", ((0, 0), (0.5, 0), (0.5, 1), (0, 1))), (slice(0, 40), slice(0, 32))),
        (Zone("all", ((0, 0), (1, 0), (1, 1), (0, 1))), (slice(0, 40), slice(0, 64))),
        (Zone("quarter", ((0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75))), (slice(10, 30), slice(16, 48))),
    ],
)
def test_rectangles_cover_exactly_their_pixels(zone: Zone, expected: tuple[slice, slice]) -> None:
    mask = zone_mask([zone], 40, 64)
    truth = np.zeros((40, 64), bool)
    truth[expected] = True
    assert mask is not None and np.array_equal(mask, truth)


def test_triangle_covers_the_pixels_whose_centres_it_encloses() -> None:
    zone = Zone("t", ((0, 0), (8, 0), (0, 8)), fraction=False)
    ys, xs = np.mgrid[0:10, 0:10] + 0.5
    assert np.array_equal(zone_mask([zone], 10, 10), xs + ys < 8)


def test_show_zones_invert_and_hide_zones_add() -> None:
    show = Zone("drive", ((0, 0), (32, 0), (32, 40), (0, 40)), fraction=False, mode="show")
    hide = Zone("plate", ((4, 4), (8, 4), (8, 8), (4, 8)), fraction=False)
    mask = zone_mask([show, hide], 40, 64)
    truth = np.zeros((40, 64), bool)
    truth[:, 32:] = True
    truth[4:8, 4:8] = True
    assert np.array_equal(mask, truth)
    assert zone_mask([show.__class__("off", show.points, fraction=False, enabled=False)], 40, 64) is None


def test_compositor_redacts_zones_pixel_exact_with_no_engine_masks() -> None:
    image = gray()
    board = ZoneBoard([box(10, 5, 20, 9)])
    out = Compositor(SOLID, static=board).redact_regions(frame_of(image), MaskSet.empty(40, 64, frame_index=0, t_capture=0.0))

    inside = np.zeros((40, 64), bool)
    inside[5:9, 10:20] = True
    assert (out.image[inside] == RED).all()
    assert np.array_equal(out.image[~inside], image[~inside])  # not one pixel more
    assert not out.fully_redacted


def test_zones_fuse_with_engine_masks_in_one_pass() -> None:
    image = gray()
    masks = np.zeros((1, 40, 64), bool)
    masks[0, 20:30, 40:50] = True
    engine = MaskSet(masks, scores=[1.0], labels=("face",), object_ids=[1], frame_index=0, t_capture=0.0)
    comp = Compositor(SOLID, static=ZoneBoard([box(10, 5, 44, 25)]))  # overlaps the face
    out = comp.redact_regions(frame_of(image), engine)

    hidden = np.zeros((40, 64), bool)
    hidden[5:25, 10:44] = True
    hidden[20:30, 40:50] = True
    assert (out.image[hidden] == RED).all()
    assert np.array_equal(out.image[~hidden], image[~hidden])


def test_zones_switch_at_run_time() -> None:
    image = gray()
    board = ZoneBoard([box(0, 0, 8, 8)])
    comp = Compositor(SOLID, static=board)
    empty = MaskSet.empty(40, 64, frame_index=0, t_capture=0.0)
    assert (comp.redact_regions(frame_of(image), empty).image[:8, :8] == RED).all()
    board.set_enabled("z", False)
    assert np.array_equal(comp.redact_regions(frame_of(image), empty).image, image)
    board.set_enabled("z", True)
    assert (comp.redact_regions(frame_of(image), empty).image[:8, :8] == RED).all()


def test_a_zone_stays_redacted_while_the_engine_is_down(release) -> None:
    """No engine ever answers: every frame is fully redacted, so the zone is too; once the
    engine answers (with nothing to hide), the zone is still redacted on every frame."""
    scene = Scene()
    zone_box = (100, 60, 150, 100)
    board = ZoneBoard([box(*zone_box)])
    sink = RecordingSink()
    factory = GroundTruthEngineFactory(scene, prompts=("nothing",), open_delay_s=0.3, release=release, fps=100.0)
    pipeline = Pipeline(
        source=FakeSource(scene, count=60, fps=100.0, paced=True, live=True),
        engine_factory=factory,
        sinks=[sink],
        render=SOLID.model_copy(update={"fail_closed_style": "solid"}),
        engine=EngineConfig(kind="cpu-face", **FAST_ENGINE),
        runtime=RuntimeConfig(stats_interval_s=3600.0),
        static_mask=board,
    )
    pipeline.run()

    x0, y0, x1, y1 = zone_box
    down = [f for f in sink.frames if f.fully_redacted]
    up = [f for f in sink.frames if not f.fully_redacted]
    assert down and up  # both phases happened
    for frame in sink.frames:
        assert (frame.image[y0:y1, x0:x1] == RED).all(), f"zone shown on frame {frame.index}"
    raw = scene.image(up[-1].index)
    outside = np.ones(raw.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(up[-1].image[outside], raw[outside])
