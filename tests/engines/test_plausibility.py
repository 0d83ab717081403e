"""A large or marginal face candidate is looked at again before it becomes a track."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import cv2
import numpy as np
import pytest

from livefilter.config.engine import CpuFaceConfig
from livefilter.engines.face_cpu import CpuFaceEngine
from livefilter.engines.plausibility import Plausibility, PlausibilitySettings, crop_for
from livefilter.types import Frame, Prompt

# shared/data beside the project; a git worktree may sit one level deeper than the checkout.
SHARED_DATA = next(
    (p / "shared" / "data" for p in Path(__file__).resolve().parents[2].parents if (p / "shared" / "data").is_dir()),
    Path(__file__).resolve().parents[2].parent / "shared" / "data",
)
HD = (1080, 1920)
GIANT = np.array([[115, 0, 1805, 1080]], np.float32)  # the reported phantom: ~1690x1080
FACE = np.array([[900, 500, 960, 570]], np.float32)  # a 60x70 face


def require_shared(folder: str, what: str) -> None:
    """Skips the test when ``shared/data/folder`` (real media beside the project) is absent, as on a clean clone."""
    if not (SHARED_DATA / folder).is_dir():
        pytest.skip(f"{what} not found at {SHARED_DATA / folder} (shared/data beside the project)")


class FakeDetector:
    """Records every second look; answers with fixed boxes (in the crop's pixels) or a function of the crop."""

    def __init__(self, answer=None) -> None:
        self.crops: list[np.ndarray] = []
        self.thresholds: list[float] = []
        self.answer = answer

    def __call__(self, crop: np.ndarray, threshold: float):
        self.crops.append(crop)
        self.thresholds.append(threshold)
        boxes = np.zeros((0, 4)) if self.answer is None else np.asarray(self.answer(crop), float).reshape(-1, 4)
        return boxes, np.full(len(boxes), 0.99)


def centered_face(fraction: float = 0.5):
    """A detector that finds one face in the middle of any crop (as a real face looks again)."""

    def answer(crop: np.ndarray) -> np.ndarray:
        h, w = crop.shape[:2]
        return np.array([w * (1 - fraction) / 2, h * (1 - fraction) / 2, w * (1 + fraction) / 2, h * (1 + fraction) / 2])

    return answer


def image(shape=HD) -> np.ndarray:
    return np.zeros((*shape, 3), np.uint8)


def check(plausibility, boxes, scores, detect, *, t=0.0, shape=HD, detect_scale=1 / 3, second=None):
    return plausibility.check(
        image(shape), boxes, np.asarray(scores), t=t, detect=detect, detect_scale=detect_scale, second=second
    )


def test_an_unconfirmed_giant_is_dropped() -> None:
    detect = FakeDetector()  # the second look finds nothing
    verdict = check(Plausibility(), GIANT, [0.71], detect)
    assert verdict.keep.tolist() == [False]
    assert (verdict.checked, verdict.rejected) == (1, 1)
    # Looked at again smaller: the box spans target_px in the crop, at the confirming score.
    settings = PlausibilitySettings()
    crop_h, crop_w = detect.crops[0].shape[:2]
    assert max(crop_h, crop_w) <= 2 * (1 + 2 * settings.context) * settings.target_px
    assert detect.thresholds == [settings.confirm_score]


def test_a_confirmed_giant_is_kept() -> None:
    verdict = check(Plausibility(), GIANT, [0.99], FakeDetector(centered_face(0.9)))
    assert verdict.keep.tolist() == [True]
    assert (verdict.checked, verdict.rejected) == (1, 0)


def test_a_face_found_elsewhere_in_the_crop_does_not_confirm() -> None:
    # The second look finds a small "face" (a logo on the grille) inside the giant box.
    verdict = check(Plausibility(), GIANT, [0.9], FakeDetector(centered_face(0.1)))
    assert verdict.keep.tolist() == [False]


def test_a_confident_face_of_ordinary_size_is_not_looked_at_again() -> None:
    detect = FakeDetector()
    verdict = check(Plausibility(), FACE, [0.99], detect)
    assert verdict.keep.tolist() == [True] and verdict.checked == 0 and detect.crops == []


@pytest.mark.parametrize(
    "detect_scale, checked",
    [(1 / 3, True), (1.0, False)],  # 1080p at 640 px: its own pixels show more; at 1:1 they show nothing new
)
def test_a_marginal_candidate_is_looked_at_again_where_the_frame_shows_more(detect_scale, checked) -> None:
    detect = FakeDetector()
    verdict = check(Plausibility(), FACE, [0.6], detect, detect_scale=detect_scale)
    assert verdict.checked == int(checked)
    assert verdict.keep.tolist() == [not checked]
    if checked:  # at the frame's own resolution: box + half a box of context per side
        assert detect.crops[0].shape[:2] == (140, 120)


SMALL = np.array([[900, 500, 914, 518]], np.float32)  # a 14x18 candidate: a face ~24 px tall, or gravel


@pytest.mark.parametrize(
    "box, score, detect_scale, checked",
    [
        (SMALL, 0.4, 1.0, True),  # found at the frame's own pixels: looked at enlarged 2x
        (SMALL, 0.9, 1.0, False),  # confident
        (SMALL, 0.4, 2.0, False),  # already found on a 2x enlarged crop: 2x again shows nothing new
        (FACE, 0.5, 1.0, False),  # 60x70 at its own pixels: not looked at (turned and half faces vary too much)
    ],
)
def test_small_marginal_candidates_are_looked_at_again_enlarged(box, score, detect_scale, checked) -> None:
    detect = FakeDetector()
    verdict = check(Plausibility(), box, [score], detect, detect_scale=detect_scale)
    assert verdict.checked == int(checked)
    assert verdict.keep.tolist() == [not checked]


def test_a_small_marginal_candidate_is_looked_at_enlarged_and_kept_when_confirmed() -> None:
    detect = FakeDetector(centered_face(0.5))
    verdict = check(Plausibility(), SMALL, [0.4], detect, detect_scale=1.0)
    assert verdict.keep.tolist() == [True] and verdict.checked == 1
    # the box plus half a box of context per side (28x36 px), enlarged 2x
    assert detect.crops[0].shape[:2] == (72, 56)


MEDIUM = np.array([[1040, 110, 1180, 265]], np.float32)  # 140x155: the pattern wall's clock at 1080p


@pytest.mark.parametrize(
    "box, score, detect_scale, shape, asked",
    [
        (MEDIUM, 0.5, 1.0, HD, "medium"),  # marginal, at the frame's own pixels, 1 % of the frame: asked
        (MEDIUM, 0.5, 1.0, (720, 1280), "medium"),
        (MEDIUM, 0.9, 1.0, HD, "medium"),  # confident too (RetinaFace was sure of the clock at 0.86 once)
        (MEDIUM, 0.9, 1 / 3, HD, "medium"),  # confident, found downscaled (live): no other look covers it
        # looked at again by the detector, which does not confirm it: asked too (a half face)
        (np.array([[700, 200, 1150, 640]], np.float32), 0.9, 1.0, HD, "rescue"),  # large
        (MEDIUM, 0.5, 1 / 3, HD, "rescue"),  # found downscaled: looked at again at the frame's own pixels
        (SMALL, 0.4, 1.0, HD, None),  # small: looked at enlarged by the detector itself
        (FACE, 0.5, 1.0, HD, None),  # 60x70: 0.2 % of the frame, below second_opinion_area
        (np.array([[900, 500, 1000, 620]], np.float32), 0.5, 1.0, HD, None),  # 100x120: 0.6 %
        (np.array([[300, 150, 350, 205]], np.float32), 0.5, 1.0, (360, 640), None),  # 1.2 % but below 64 px
    ],
)
def test_medium_candidates_are_asked_of_a_second_detector(box, score, detect_scale, shape, asked) -> None:
    detect, second = FakeDetector(), FakeDetector()  # neither finds anything
    verdict = check(Plausibility(), box, [score], detect, detect_scale=detect_scale, shape=shape, second=second)
    assert len(second.crops) == int(asked is not None) and verdict.second_opinions == int(asked is not None)
    w, h = (box[0, 2:] - box[0, :2]).tolist()
    settings = PlausibilitySettings()
    if asked == "medium":
        assert detect.crops == []  # RetinaFace is not asked again: its looks do not tell these apart
        assert verdict.checked == 1
        assert verdict.keep.tolist() == [False] and verdict.rejected == 1
        # at the frame's own pixels, box + half a box of context per side, at the second opinion's score
        assert np.abs(np.subtract(second.crops[0].shape[:2], (2 * h, 2 * w))).max() <= 1
        assert second.thresholds == [settings.second_opinion_score]
    elif asked == "rescue":
        assert len(detect.crops) == 1 and verdict.checked == 1  # the detector looked first, unconvinced
        assert verdict.keep.tolist() == [False] and verdict.rejected == 1
        # the same crop, shrunk so the box's longer side is rescue_target_px, at rescue_score
        x0, y0, x1, y1, _ = crop_for(box[0], shape, settings)
        shrink = min(1.0, settings.rescue_target_px / max(w, h))  # never enlarged
        assert np.abs(np.subtract(second.crops[0].shape[:2], ((y1 - y0) * shrink, (x1 - x0) * shrink))).max() <= 1
        assert second.thresholds == [settings.rescue_score]
    else:
        assert verdict.keep.tolist() == [not verdict.checked]


def test_a_candidate_the_detector_does_not_confirm_is_kept_when_the_second_detector_finds_it() -> None:
    """A large or marginal candidate of medium size or more that the detector's second look drops (a
    half face 400-600 px tall at 720p scores 0.25-0.78 at every look size) is kept when the second
    detector, looking at it shrunk to rescue_target_px, finds a face on it."""
    large = np.array([[700, 200, 1150, 640]], np.float32)
    for box, score, scale in [(large, 0.9, 1.0), (MEDIUM, 0.5, 1 / 3)]:
        detect, second = FakeDetector(), FakeDetector(centered_face(0.5))
        verdict = check(Plausibility(), box, [score], detect, detect_scale=scale, second=second)
        assert verdict.keep.tolist() == [True] and (verdict.checked, verdict.second_opinions, verdict.rejected) == (1, 1, 0)
        # A face elsewhere in the crop (not overlapping the candidate) does not vouch for it.
        second = FakeDetector(centered_face(0.1))
        assert check(Plausibility(), box, [score], FakeDetector(), detect_scale=scale, second=second).keep.tolist() == [False]


def test_a_look_alike_the_second_detector_turned_down_is_not_asked_again_until_forgotten() -> None:
    """The rescue costs one second-detector run per candidate; a look-alike found on every detection
    call (a car's grille) is asked once per remember_s, and dropped in between."""
    large = np.array([[700, 200, 1150, 640]], np.float32)
    plausibility, second = Plausibility(), FakeDetector()  # the second detector finds nothing
    remember = plausibility.settings.remember_s
    for t, asked in [(0.0, 1), (0.5 * remember, 1), (2.5 * remember, 2)]:
        verdict = check(plausibility, large, [0.9], FakeDetector(), t=t, detect_scale=1.0, second=second)
        assert verdict.keep.tolist() == [False] and len(second.crops) == asked
    # elsewhere in the frame: another candidate, asked
    other = large + np.array([900, 0, 700, 0], np.float32)
    check(plausibility, other, [0.9], FakeDetector(), t=2.5 * remember, detect_scale=1.0, second=second)
    assert len(second.crops) == 3
    plausibility.reset()  # a cut: nothing is remembered across it
    check(plausibility, large, [0.9], FakeDetector(), t=2.5 * remember, detect_scale=1.0, second=second)
    assert len(second.crops) == 4


def test_a_medium_candidate_the_second_detector_finds_is_kept() -> None:
    second = FakeDetector(centered_face(0.5))
    verdict = check(Plausibility(), MEDIUM, [0.4], FakeDetector(), detect_scale=1.0, second=second)
    assert verdict.keep.tolist() == [True] and (verdict.checked, verdict.second_opinions, verdict.rejected) == (1, 1, 0)
    # A face elsewhere in the crop (not overlapping the candidate) does not vouch for it.
    second = FakeDetector(centered_face(0.1))
    assert check(Plausibility(), MEDIUM, [0.4], FakeDetector(), detect_scale=1.0, second=second).keep.tolist() == [False]


def test_without_a_second_detector_medium_candidates_are_kept() -> None:
    detect = FakeDetector()
    verdict = check(Plausibility(), MEDIUM, [0.4], detect, detect_scale=1.0)
    assert verdict.keep.tolist() == [True] and verdict.checked == 0 and detect.crops == []


@pytest.mark.parametrize(
    "shift, t, asked",
    [
        ((15, 5), 0.5, False),  # overlapping the face kept at t=0
        ((200, 0), 0.1, False),  # 1.3 sizes away: the same face, moving fast (motion blur, which CenterFace misses)
        ((300, 0), 0.1, True),  # 1.9 sizes away: another face, or none
        ((15, 5), 1.5, True),  # the face kept was forgotten
    ],
)
def test_a_known_face_moving_on_is_not_asked_of_the_second_detector(shift, t, asked) -> None:
    """A face kept moments ago (e.g. before it blurred or turned) is not put in doubt."""
    plausibility, second = Plausibility(), FakeDetector()
    check(plausibility, MEDIUM, [0.95], FakeDetector(), t=0.0, detect_scale=1.0, second=FakeDetector(centered_face(0.5)))
    moved = MEDIUM + np.array([*shift, *shift], np.float32)
    verdict = check(plausibility, moved, [0.4], FakeDetector(), t=t, detect_scale=1.0, second=second)
    assert verdict.keep.tolist() == [not asked] and len(second.crops) == int(asked)


def test_a_small_face_kept_inside_a_medium_candidate_does_not_vouch_for_it() -> None:
    """At 1080p a 20 px patch of the clock face's centre was confirmed enlarged 2x; the clock itself
    (140x155) must still convince the second detector."""
    plausibility, second = Plausibility(), FakeDetector()
    centre = (MEDIUM[:, :2] + MEDIUM[:, 2:]) / 2
    small = np.concatenate([centre - 10, centre + 10], axis=1)
    check(plausibility, small, [0.95], FakeDetector(), t=0.0, detect_scale=2.0, second=second)
    verdict = check(plausibility, MEDIUM, [0.4], FakeDetector(), t=0.1, detect_scale=1.0, second=second)
    assert verdict.keep.tolist() == [False] and len(second.crops) == 1


def test_a_known_face_is_not_looked_at_again_until_forgotten() -> None:
    plausibility = Plausibility(PlausibilitySettings(remember_s=1.0))
    detect = FakeDetector(centered_face(0.9))
    check(plausibility, GIANT, [0.99], detect, t=0.0)
    moved = GIANT + np.array([20, 0, 20, 0], np.float32)
    assert check(plausibility, moved, [0.99], detect, t=0.5).checked == 0  # the same face, moved on
    assert check(plausibility, moved, [0.99], detect, t=1.4).checked == 0  # seen at 0.5: still known
    assert check(plausibility, moved, [0.99], detect, t=2.5).checked == 1  # not seen for > 1 s
    plausibility.reset()
    assert check(plausibility, moved, [0.99], detect, t=2.6).checked == 1
    assert len(detect.crops) == 3


@pytest.mark.parametrize(
    "box, checked",
    [
        ([217, 49, 254, 102], False),  # a 37x53 face in a 320x180 frame: 3.4 % of it, under 64 px
        ([200, 40, 270, 130], True),  # 70x90: large at this size too
    ],
)
def test_in_a_small_frame_an_ordinary_face_is_not_large(box, checked) -> None:
    """A 320x180 sub-stream is seen at its own pixels only: a face partly behind something, found at
    0.68 and looked at again, scored 0.35 and was dropped (the demo camera at 5 fps)."""
    detect = FakeDetector()  # the second look finds nothing
    verdict = check(Plausibility(), np.array([box], float), [0.68], detect, shape=(180, 320), detect_scale=1.0)
    assert verdict.keep.tolist() == [not checked]
    assert verdict.checked == int(checked) and len(detect.crops) == int(checked)


def test_a_rejected_giant_is_not_remembered() -> None:
    plausibility = Plausibility()
    detect = FakeDetector()
    check(plausibility, GIANT, [0.71], detect, t=0.0)
    assert check(plausibility, GIANT, [0.71], detect, t=0.1).keep.tolist() == [False]
    assert len(detect.crops) == 2


def test_crop_for_stays_in_the_frame_and_never_upscales() -> None:
    settings = PlausibilitySettings()
    x0, y0, x1, y1, scale = crop_for(GIANT[0], HD, settings)
    assert (x0, y0, x1, y1) == (0, 0, 1920, 1080) and scale == pytest.approx(320 / 1690)
    assert crop_for(np.array([10, 10, 40, 50]), HD, settings)[4] == 1.0
    assert crop_for(np.array([10, 10, 310, 330]), HD, settings)[4] == 1.0  # looked at with the frame's own pixels


@pytest.mark.parametrize(
    "field, value, expectation",
    [
        ("large_area", 0.0, pytest.raises(ValueError, match=r"large_area: expected in \(0, 1\], got 0.0")),
        ("large_min_px", -1.0, pytest.raises(ValueError, match="large_min_px: expected >= 0, got -1.0")),
        ("target_px", 8, pytest.raises(ValueError, match="target_px: expected >= 16, got 8")),
        ("min_zoom", 0.5, pytest.raises(ValueError, match="min_zoom: expected >= 1")),
        ("small_zoom", 0.5, pytest.raises(ValueError, match="small_zoom: expected >= 1")),
        ("second_opinion_score", 0.0, pytest.raises(ValueError, match=r"second_opinion_score: expected in \(0, 1\]")),
        ("second_opinion_px", -1.0, pytest.raises(ValueError, match="second_opinion_px: expected >= 0")),
        ("second_opinion_area", 1.5, pytest.raises(ValueError, match=r"second_opinion_area: expected in \[0, 1\]")),
        ("second_opinion_near", -1.0, pytest.raises(ValueError, match="second_opinion_near: expected >= 0")),
        ("confirm_score", 0.9, nullcontext()),
    ],
)
def test_settings_are_checked(field, value, expectation) -> None:
    with expectation:
        PlausibilitySettings(**{field: value})


# --------------------------------------------------------------------------- the real engine


def car_front(name: str, zoom: float, width: int, height: int) -> np.ndarray:
    """The lower-middle ``zoom`` part of a car photo, scaled to cover ``width`` x ``height``."""
    photo = cv2.imread(str(SHARED_DATA / "plates" / name))
    h, w = photo.shape[:2]
    ch, cw = int(h * zoom), int(w * zoom)
    crop = photo[h - ch :, (w - cw) // 2 : (w - cw) // 2 + cw]
    s = max(width / cw, height / ch)
    big = cv2.resize(crop, (round(cw * s), round(ch * s)), interpolation=cv2.INTER_CUBIC)
    y0, x0 = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return np.ascontiguousarray(big[y0 : y0 + height, x0 : x0 + width])


def engine(**settings) -> CpuFaceEngine:
    e = CpuFaceEngine(CpuFaceConfig(**settings), [Prompt("face")])
    e.open()
    return e


@pytest.fixture
def detector_cost(monkeypatch):
    """Sets the detector cost the live schedule plans its tiles by (ms per megapixel), instead of
    measuring it on a machine whose load varies: the live plan becomes part of the test's input."""

    def use(ms_per_mpixel: float) -> None:
        monkeypatch.setattr("livefilter.engines.face_cpu.measure_cost", lambda detector, repeats=3: ms_per_mpixel)

    return use


def composite(
    cutout: np.ndarray, height_px: int, width: int = 1280, height: int = 720, background: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``cutout`` (BGRA) scaled to ``height_px`` tall, centred over ``background`` (default scikit-image's
    coffee photo), resized to the frame; the frame and the face's pixels (alpha > 0.5)."""
    from skimage import data

    if background is None:
        background = np.ascontiguousarray(data.coffee()[:, :, ::-1])
    frame = cv2.resize(background, (width, height))
    s = height_px / cutout.shape[0]
    face = cv2.resize(cutout, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)[:height]
    fh, fw = face.shape[:2]
    x0, y0 = (width - fw) // 2, max(0, (height - fh) // 2)
    alpha = face[..., 3:4] / 255.0
    roi = frame[y0 : y0 + fh, x0 : x0 + fw]
    roi[:] = (face[..., :3] * alpha + roi * (1 - alpha)).astype(np.uint8)
    truth = np.zeros((height, width), bool)
    truth[y0 : y0 + fh, x0 : x0 + fw] = face[..., 3] > 128
    return frame, truth


@pytest.mark.parametrize("schedule", ["exact", "live"])
@pytest.mark.parametrize("side, height_px", [("left", 400), ("left", 500), ("right", 500), ("right", 600)])
def test_a_large_half_face_is_confirmed_by_the_second_look(detector_cost, schedule, side, height_px) -> None:
    """A face cut in half (as by the frame's edge, or a head turned away) filling much of a
    720p frame: the detector finds it (0.84-1.0), and the second look must not drop it. Shrunk
    to 96 px for that look, such faces scored 0.3-0.8 and were left wholly unredacted."""
    from livefilter.sources.scene import astronaut_face, half_face

    detector_cost(60.0)
    image, face = composite(half_face(astronaut_face(), side), height_px)
    masks = engine(schedule=schedule).infer(Frame(image, 0, 0.0))
    hidden = masks.union() if len(masks) else np.zeros(face.shape, bool)
    assert hidden[face].mean() > 0.99, f"{1 - hidden[face].mean():.0%} of the face left visible"


@pytest.mark.xfail(
    strict=True,
    reason="issue 16, not finished: medium grille phantoms (250x290 to 420x560 px, scores 0.69-0.94) score "
    ">= 0.86 when looked at again near native resolution, like real large half and turned faces do (which a "
    "96 px second look dropped: test_a_large_half_face_is_confirmed_by_the_second_look); RetinaFace's "
    "landmarks and CenterFace do not separate them either, so they are kept (recall first): 13-20 % of the frame",
)
@pytest.mark.parametrize("schedule, ms_per_mpixel", [("exact", 0.0), ("live", 30.0), ("live", 300.0)])
@pytest.mark.parametrize("width, height", [(1920, 1080), (1280, 720)])
def test_a_car_front_is_not_taken_for_a_giant_face(detector_cost, schedule, ms_per_mpixel, width, height) -> None:
    require_shared("plates", "real car photos")
    detector_cost(ms_per_mpixel)  # the live tile plan: a fast and a slow machine
    frame = Frame(car_front("test_039.jpg", 0.7, width, height), 0, 0.0)
    unverified = engine(schedule=schedule, verify_candidates=False).infer(frame)
    assert len(unverified) and unverified.union().mean() > 0.1  # the phantom the issue reports
    masks = engine(schedule=schedule).infer(frame)
    # No giant phantom. Native-resolution tiles and the mirrored frame edge (issue 9) may still
    # answer a face-sized patch of grille or a sliver at the edge: a few hundredths of the frame.
    assert masks.union().mean() < 0.01, f"{masks.boxes.tolist()} hide {masks.union().mean():.1%} of the frame"


def clock_on_the_wall(zoom: float) -> np.ndarray:
    """scikit-image's clock photo (a blurred clock face) in a cell of the leak benchmark's 1080p
    pattern wall (480x360, scaled by ``zoom``), over its coffee photo."""
    from skimage import data

    from livefilter.sources.scene import fit_background

    frame = fit_background(np.ascontiguousarray(data.coffee()[:, :, ::-1]), 1920, 1080)
    cell = fit_background(cv2.cvtColor(data.clock(), cv2.COLOR_GRAY2BGR), round(480 * zoom), round(360 * zoom))
    frame[100 : 100 + cell.shape[0], 500 : 500 + cell.shape[1]] = cell
    return frame


@pytest.mark.parametrize("zoom", [1.0, 1.1, 1.2, 1.35])
def test_a_blurred_clock_face_is_not_taken_for_a_face(zoom) -> None:
    """RetinaFace finds the clock face at 0.30-0.86 (140-170 px at 1080p) and rates it like a turned
    or half face when it looks again; CenterFace, asked for a second opinion, scores it <= 0.05
    (issue 16: the pattern wall's frames were 10-30 % redacted by it, held and grown)."""
    frame = Frame(clock_on_the_wall(zoom), 0, 0.0)
    alone = engine(schedule="exact", second_opinion="none").infer(frame)
    assert len(alone) == 1 and alone.union().mean() > 0.01  # the phantom
    masks = engine(schedule="exact").infer(frame)
    assert len(masks) == 0, f"{len(masks)} phantom faces hide {masks.union().mean():.2%} of the frame"


# Half faces (a face cut by the frame's edge, or a head turned away; APPROX.) 200-300 px tall at
# 720p (1-2 % of the frame) that RetinaFace finds at 0.31-0.8 only: the second opinion scores them 0.24-0.69.
MARGINAL_HALVES = [
    ("obama.jpg", 0, "right", 200), ("obama_and_biden.jpg", 0, "left", 200), ("obama_and_biden.jpg", 0, "right", 200),
    ("obama_and_biden.jpg", 1, "left", 200), ("obama_and_biden.jpg", 1, "left", 250),
    ("obama_and_biden.jpg", 2, "left", 250), ("obama_partial_face.jpg", 0, "right", 250),
    ("two_people.jpg", 0, "left", 300),
]


class CountingCenterFace:
    """The real CenterFace, counting the crops it is asked about."""

    name = "centerface"

    def __init__(self) -> None:
        from livefilter.engines.face_cpu import CenterFace

        self.inner, self.calls = CenterFace(), 0

    def detect(self, image: np.ndarray, threshold: float):
        self.calls += 1
        return self.inner.detect(image, threshold)


def labelled_cutout(name: str, index: int) -> np.ndarray:
    """Labelled face ``index`` of ``shared/data/faces/name``, cut out as the leak benchmark does (BGRA:
    the box plus a quarter per side, alpha a soft ellipse); skips the test when the photos are absent."""
    import json

    require_shared("faces", "labelled faces")
    x, y, w, h = json.loads((SHARED_DATA / "faces" / "faces.json").read_text())["boxes"][name][index]
    photo = cv2.imread(str(SHARED_DATA / "faces" / name))
    x0, y0 = max(0, x - w // 4), max(0, y - h // 4)
    crop = photo[y0 : y + h + h // 4, x0 : x + w + w // 4]
    alpha = np.zeros(crop.shape[:2], np.uint8)
    cv2.ellipse(alpha, (x + w // 2 - x0, y + h // 2 - y0), (w // 2, int(h * 0.55)), 0, 0, 360, 255, -1)
    soft = max(3, (min(w, h) // 12) | 1)
    return np.dstack([crop, cv2.GaussianBlur(alpha, (soft, soft), 0)])


@pytest.mark.parametrize("name, index, side, height_px", MARGINAL_HALVES)
def test_a_marginal_half_face_is_kept_by_the_second_opinion(name, index, side, height_px) -> None:
    from livefilter.sources.scene import half_face

    image, face = composite(half_face(labelled_cutout(name, index), side), height_px)
    frame = Frame(image, 0, 0.0)
    alone = engine(schedule="exact", second_opinion="none").infer(frame)
    assert len(alone) == 1 and alone.scores[0] < PlausibilitySettings().marginal_score  # found, marginally
    second = CountingCenterFace()
    e = CpuFaceEngine(CpuFaceConfig(schedule="exact"), [Prompt("face")], second_opinion=second)
    e.open()
    masks = e.infer(frame)
    assert second.calls == 1  # a medium candidate: asked
    hidden = masks.union() if len(masks) else np.zeros(face.shape, bool)
    assert hidden[face].mean() == alone.union()[face].mean() > 0.98, (
        f"{1 - hidden[face].mean():.0%} of the half face left visible"
    )


# Half faces 400-600 px tall at 720p (APPROX.: a profile, a face cut by the frame's edge) that
# RetinaFace finds but does not confirm when it looks again (0.25-0.78 at every look size):
# CenterFace, looking at them shrunk to 160 px, scores them 0.3-0.76; the look-rejected phantoms of
# bench_plausibility's face-free pictures of that size 0.09 at most.
UNCONFIRMED_HALVES = [
    ("obama_and_biden.jpg", 1, "left", 400), ("obama_and_biden.jpg", 1, "right", 400),
    ("obama_partial_face.jpg", 0, "right", 600),
]


@pytest.mark.parametrize("schedule", ["exact", "live"])
@pytest.mark.parametrize("name, index, side, height_px", UNCONFIRMED_HALVES)
def test_a_half_face_the_second_look_does_not_confirm_is_kept_by_the_second_opinion(
    detector_cost, schedule, name, index, side, height_px
) -> None:
    from livefilter.sources.scene import half_face

    require_shared("plates", "real car photos")
    detector_cost(60.0)
    car = cv2.imread(str(SHARED_DATA / "plates" / "eu1.jpg"))  # bench_plausibility's background: the photo
    s = max(1280 / car.shape[1], 720 / car.shape[0])  # scaled to cover the frame, centre cropped
    car = cv2.resize(car, (round(car.shape[1] * s), round(car.shape[0] * s)), interpolation=cv2.INTER_CUBIC)
    y0, x0 = (car.shape[0] - 720) // 2, (car.shape[1] - 1280) // 2
    car = car[y0 : y0 + 720, x0 : x0 + 1280]
    image, face = composite(half_face(labelled_cutout(name, index), side), height_px, background=car)
    frame = Frame(image, 0, 0.0)
    alone = engine(schedule=schedule, second_opinion="none").infer(frame)
    assert len(alone) == 0  # found, then dropped by the detector's own second look
    masks = engine(schedule=schedule).infer(frame)
    hidden = masks.union() if len(masks) else np.zeros(face.shape, bool)
    assert hidden[face].mean() > 0.98, f"{1 - hidden[face].mean():.0%} of the half face left visible"


def gravel_wall(width: int = 1920, height: int = 1080) -> np.ndarray:
    """scikit-image's gravel photo (512x512, grey) tiled at its own pixels over a frame."""
    from skimage import data

    tile = cv2.cvtColor(data.gravel(), cv2.COLOR_GRAY2BGR)
    reps = (height // tile.shape[0] + 1, width // tile.shape[1] + 1, 1)
    return np.ascontiguousarray(np.tile(tile, reps)[:height, :width])


@pytest.mark.parametrize("schedule", ["exact", "live"])
def test_gravel_is_not_taken_for_a_crowd_of_small_faces(detector_cost, schedule) -> None:
    """At 1080p, RetinaFace finds dozens of 11-16 px "faces" in gravel at 0.3-0.6, as it finds
    real faces ~24 px tall; enlarged 2x, real ones score >= 0.9 and gravel <= 0.3 (issue 16)."""
    detector_cost(60.0)
    frame = Frame(gravel_wall(), 0, 0.0)
    unverified = engine(schedule=schedule, verify_candidates=False).infer(frame)
    assert len(unverified) >= 10  # the phantoms
    masks = engine(schedule=schedule).infer(frame)
    assert len(masks) == 0, f"{len(masks)} phantom faces hide {masks.union().mean():.2%} of the frame"


def faces_on_gravel(height_px: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """The labelled faces of shared/data, each scaled to ``height_px`` tall and pasted with its
    surroundings (3x its height square) over the gravel wall; the frame and the face boxes."""
    import json

    labelled = json.loads((SHARED_DATA / "faces" / "faces.json").read_text())["boxes"]
    frame, boxes = gravel_wall(), []
    for i, (name, (x, y, w, h)) in enumerate((n, b) for n, bs in sorted(labelled.items()) for b in bs):
        s = height_px / h
        photo = cv2.resize(cv2.imread(str(SHARED_DATA / "faces" / name)), None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        x0, y0 = int(max(0, (x + w / 2) * s - 1.5 * height_px)), int(max(0, (y + h / 2) * s - 1.5 * height_px))
        window = photo[y0 : y0 + 3 * height_px, x0 : x0 + 3 * height_px]
        ox, oy = 150 + i % 5 * 350, 150 + i // 5 * 350
        frame[oy : oy + window.shape[0], ox : ox + window.shape[1]] = window
        fx, fy = ox + x * s - x0, oy + y * s - y0
        boxes.append((round(fx), round(fy), round(fx + w * s), round(fy + h * s)))
    return frame, boxes


@pytest.mark.parametrize("height_px", [20, 28])
def test_small_real_faces_on_gravel_are_still_covered(height_px) -> None:
    """Every small face the engine covers without the second look it covers with it; the gravel
    around them stays clear."""
    require_shared("faces", "labelled faces")
    image, boxes = faces_on_gravel(height_px)
    frame = Frame(image, 0, 0.0)

    def covered(masks) -> list[bool]:
        hidden = masks.union() if len(masks) else np.zeros(image.shape[:2], bool)
        return [bool(hidden[y0:y1, x0:x1].mean() >= 0.9) for x0, y0, x1, y1 in boxes]

    unverified, verified = engine(schedule="exact", verify_candidates=False).infer(frame), engine(schedule="exact").infer(frame)
    assert sum(covered(unverified)) >= len(boxes) - 1  # the detector finds these faces at all
    assert covered(verified) == [a or b for a, b in zip(covered(unverified), covered(verified))], (
        f"faces covered without the second look {covered(unverified)}, with it {covered(verified)}"
    )
    assert len(verified) <= len(boxes), f"{len(verified)} masks for {len(boxes)} faces"


def test_a_close_up_face_is_still_covered() -> None:
    from skimage import data

    astronaut = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    face = np.s_[62 - 30 : 62 + 124 + 30, 176 - 140 : 176 + 96 + 140]  # the face with some context
    close_up = cv2.resize(astronaut[face], (1920, 1080), interpolation=cv2.INTER_CUBIC)  # face ~ 70 % of the height
    masks = engine().infer(Frame(close_up, 0, 0.0))
    assert len(masks) == 1
    hidden = masks.union()
    fx, fy = 1920 / 376, 1080 / 184  # the labelled face box in the close-up
    box = np.s_[round(30 * fy) : round(154 * fy), round(140 * fx) : round(236 * fx)]
    assert hidden[box].mean() > 0.9


def test_each_candidate_zooms_from_the_scale_it_was_found_at() -> None:
    """A tile at the frame's own pixels shows nothing new; a downscaled pass does."""
    boxes = np.concatenate([FACE, FACE + np.array([300, 0, 300, 0], np.float32)])
    detect = FakeDetector()
    verdict = check(Plausibility(), boxes, [0.6, 0.6], detect, detect_scale=np.array([1.0, 1 / 3]))
    assert verdict.keep.tolist() == [True, False] and verdict.checked == 1
