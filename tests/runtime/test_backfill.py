"""Backfill (exact mode): real faces the CPU engine finds late are hidden on the frames before too.

The clips are real labelled faces (``../shared/data/faces``, the astronaut) on a textured
background; the engine is the default CPU face engine as a file job runs it; coverage is what
the renderer hides (its default dilation included, ``covered``).
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from livefilter.config import RenderConfig
from livefilter.runtime.backfill import Backfill, backfill
from livefilter.runtime.inference import EngineResult, PromptBoard
from livefilter.runtime.metrics import Metrics
from livefilter.runtime.render import run_exact
from livefilter.runtime.slots import BoundedQueue
from livefilter.types import Frame
from tests.engines.test_face_cpu import covered, engine, face_crops, labelled_photos, scaled, textured_canvas

WIDTH, HEIGHT, FPS = 640, 360, 30.0


@pytest.fixture(scope="module")
def crops():
    photos = labelled_photos()
    if len(photos) == 1:
        pytest.skip("real face photographs not found (shared/data beside the repo)")
    return face_crops(photos)


class RecordingOutlets:
    """The render's outlets, recording what it publishes."""

    def __init__(self, published: list) -> None:
        self.send, self.close = published.append, lambda: None


def entering(crop, box, *, face_h: float = 56, speed: int = 8, frames: int = 16):
    """A real face entering through the right edge, ``speed`` px a frame: frames and visible face boxes."""
    image, b = scaled(crop, box, face_h)
    canvas = textured_canvas(WIDTH, HEIGHT, seed=3)
    y = HEIGHT // 2 - int(b[1] + b[3]) // 2
    out, boxes = [], []
    for i in range(frames):
        ox = WIDTH - int(b[0]) - speed * i  # the face box's left edge at the frame edge at i = 0
        frame = canvas.copy()
        x0, x1 = max(0, ox), min(WIDTH, ox + image.shape[1])
        frame[y : y + image.shape[0], x0:x1] = image[:, x0 - ox : x1 - ox]
        out.append(frame)
        v = b + [ox, y, ox, y]
        boxes.append([max(0.0, v[0]), v[1], min(WIDTH, v[2]), v[3]])
    return out, np.round(boxes).astype(int)


def popping_in(crop, box, *, at: int, frames: int = 16, face_h: float = 56):
    """A real face absent on frames before ``at``, then there (a door opens, a cut the shot counter misses)."""
    image, b = scaled(crop, box, face_h)
    canvas = textured_canvas(WIDTH, HEIGHT, seed=4)
    ox, oy = WIDTH // 2 - int(b[0] + b[2]) // 2, HEIGHT // 2 - int(b[1] + b[3]) // 2
    out = []
    for i in range(frames):
        frame = canvas.copy()
        if i >= at:
            frame[oy : oy + image.shape[0], ox : ox + image.shape[1]] = image
        out.append(frame)
    return out


def engine_results(frames, shots=None) -> list[EngineResult]:
    e = engine()
    results = []
    for i, image in enumerate(frames):
        frame = Frame(image, i, 0.0, pts=i / FPS, shot=0 if shots is None else shots[i])
        results.append(EngineResult(frame, e.infer(frame), 0))
    return results


def through(results: list[EngineResult], backfill_s: float) -> list[EngineResult]:
    line = Backfill(backfill_s)
    return [due for r in results for due in line.push(r)] + line.flush()


def leaked_frames(results: list[EngineResult], boxes: np.ndarray) -> int:
    """Frames on which more than 5 % of the visible face is not hidden."""
    leaked = 0
    for r, (x0, y0, x1, y1) in zip(results, boxes):
        if x1 > x0 and 1.0 - covered(r.masks)[y0:y1, x0:x1].mean() > 0.05:
            leaked += 1
    return leaked


def test_faces_found_late_while_entering_are_hidden_on_the_frames_before(crops):
    """Every labelled face entering through the frame edge: the engine finds it once enough shows;
    backfill hides it on the frames before, where it was already partly in the picture."""
    plain = carried = 0
    for crop, box in crops:
        frames, boxes = entering(crop, box)
        results = engine_results(frames)
        out = through(results, 0.5)
        assert [r.frame.index for r in out] == list(range(len(frames))), "every frame once, in order"
        for before, after in zip(results, out):  # nothing is ever taken away
            assert set(before.masks.object_ids.tolist()) <= set(after.masks.object_ids.tolist())
        plain += leaked_frames(results, boxes)
        carried += leaked_frames(out, boxes)
    assert plain >= len(crops), f"the clip should have late detections to fill ({plain} leaked frames)"
    assert carried <= plain // 4, f"backfill left {carried} of {plain} leaked face-frames"


def test_a_face_that_pops_in_is_not_carried_back_over_the_frames_before(crops):
    """A face absent before frame 8 (nothing entered: it appeared) is not drawn on frames 0-7."""
    crop, box = crops[0]
    results = engine_results(popping_in(crop, box, at=8))
    assert len(results[8].masks) == 1, "the engine should find the face when it appears"
    out = through(results, 0.5)
    assert [len(r.masks) for r in out[:8]] == [0] * 8


def test_no_backfill_across_a_shot_change(crops):
    """A face found on a later shot says nothing about the frames of the earlier one."""
    crop, box = crops[0]
    frames, boxes = entering(crop, box)
    first = next(i for i, r in enumerate(engine_results(frames)) if len(r.masks))
    results = engine_results(frames, shots=[0 if i < first else 1 for i in range(len(frames))])
    filled = backfill(results[first - 1], results[first:])
    assert filled is results[first - 1]


def test_exact_render_publishes_frames_backfilled(crops):
    """run_exact (render.mode exact) publishes each frame once, in order, with the carried-back masks."""
    crop, box = crops[3]
    frames, boxes = entering(crop, box)
    results = engine_results(frames)
    queue: BoundedQueue[EngineResult] = BoundedQueue(len(results) + 1)
    for r in results:
        queue.put_latest(r)
    queue.close()
    published: list = []
    outlets = RecordingOutlets(published)

    from livefilter.render.compositor import Compositor

    config = RenderConfig(mode="exact", style="solid")
    run_exact(Compositor(config), results=queue, prompts=PromptBoard(), config=config, outlets=outlets,  # type: ignore[arg-type]
              metrics=Metrics(), stop=threading.Event())
    assert [out.index for out in published] == list(range(len(frames)))
    expected = through(results, config.backfill_s)
    assert leaked_frames(expected, boxes) < leaked_frames(results, boxes)
    for out, r in zip(published, expected):
        hidden = covered(r.masks)
        assert (out.image[hidden] == 0).all(), f"frame {out.index}: a backfilled mask was not drawn"


def test_a_seek_back_releases_what_is_held():
    """Media time going back (a seek) cannot hold results forever: the held ones are released."""
    def result(i: int, t: float) -> EngineResult:
        from livefilter.types import MaskSet

        frame = Frame(np.zeros((8, 8, 3), np.uint8), i, 0.0, pts=t)
        return EngineResult(frame, MaskSet.empty(8, 8, frame_index=i, t_capture=0.0), 0)

    line = Backfill(0.5)
    assert line.push(result(0, 10.0)) == [] and line.push(result(1, 10.1)) == []
    assert [r.frame.index for r in line.push(result(2, 0.0))] == [0, 1]
    assert dataclasses.is_dataclass(line.flush()[0])


def test_a_large_object_found_late_is_carried_back_only_if_it_scored_high(crops):
    """Found late and large with low scores is more likely a look-alike (a car front, a poster) than a
    face: it is not carried back; the same object scored high once (a blurred face found sharp) is."""
    from livefilter.types import MaskSet

    crop, box = crops[0]
    frames = popping_in(crop, box, at=0, face_h=150)  # a large real face, there all along

    def results(score: float) -> list[EngineResult]:
        out = []
        for i, image in enumerate(frames[:4]):
            masks = np.zeros((int(i > 0), HEIGHT, WIDTH), bool)
            masks[:, 80:280, 220:420] = True  # found from frame 1 on; 200x200 px: 17 % of the frame
            ms = MaskSet(masks, np.full(len(masks), score), ("face",) * len(masks), np.ones(len(masks), np.int64),
                         frame_index=i, t_capture=0.0)
            out.append(EngineResult(Frame(image, i, 0.0, pts=i / FPS), ms, 0))
        return out

    low, high = results(0.5), results(0.95)
    assert len(backfill(low[0], low[1:]).masks) == 0
    assert len(backfill(high[0], high[1:]).masks) == 1



def test_frames_answered_before_a_prompt_change_are_shown_after_the_delay_line():
    """A prompt change while results wait in the delay line fails closed only the results that
    reached the render after it (answers to the old prompts), not the ones answered before."""
    import time

    from livefilter.render.compositor import Compositor
    from livefilter.types import MaskSet

    def result(i: int) -> EngineResult:
        frame = Frame(np.full((8, 8, 3), 255, np.uint8), i, 0.0, pts=i / FPS)
        return EngineResult(frame, MaskSet.empty(8, 8, frame_index=i, t_capture=0.0), 0)

    published: list = []
    outlets = RecordingOutlets(published)

    config = RenderConfig(mode="exact", style="solid", backfill_s=0.5)
    queue: BoundedQueue[EngineResult] = BoundedQueue(16)
    prompts = PromptBoard()
    for i in range(3):
        queue.put_latest(result(i))
    render = threading.Thread(
        target=run_exact, args=(Compositor(config),),
        kwargs=dict(results=queue, prompts=prompts, config=config, outlets=outlets, metrics=Metrics(), stop=threading.Event()),
    )
    render.start()
    deadline = time.monotonic() + 10
    while len(queue) and time.monotonic() < deadline:  # all three reached the render, held (0.07 s < 0.5 s)
        time.sleep(0.01)
    time.sleep(0.1)
    assert published == [], "held in the delay line"
    prompts.set([])  # the user changes the prompts; results 3 and 4 answer the old ones
    queue.put_latest(result(3))
    queue.put_latest(result(4))
    queue.close()
    render.join(10)
    assert [out.index for out in published] == [0, 1, 2, 3, 4]
    assert [out.reason for out in published] == ["", "", "", "prompts_changed", "prompts_changed"]
