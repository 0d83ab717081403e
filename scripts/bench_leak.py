"""Leak and over-redaction where users are: 720p and 1080p clips with exact ground truth, livefilter vs deface.

    python scripts/bench_leak.py --quick                    # development run (a few minutes)
    python scripts/bench_leak.py --tier 720p,1080p          # the full run at 720p and 1080p
    python scripts/bench_leak.py --tier 360p                # the original 640x360 scenes
    python scripts/bench_leak.py --scenario "small faces,cuts" --tier 720p --frames 60
    python scripts/bench_leak.py --tier 720p --modes replay  # live render without its timing scatter

Every clip comes from ``livefilter.sources.scene`` (a pure, deterministic generator):
real face photos (the labelled faces of ``shared/data/faces`` cut out with a soft
elliptical edge, and scikit-image's astronaut) composited into moving scenes over real
photos (``shared/data/plates`` car photos, scikit-image images). The generator knows
which pixels of every face are visible in every frame (after occlusion, frame edges,
blur, scaling): that is the ground truth. Faces are real photos; the *profiles* scene
uses the one real profile available offline (scikit-image's cameraman, traced by eye).
Approximations are labelled APPROX. in the output: the *turned* faces are planar
perspective warps of frontal photos (``turned_face``) and half-face crops
(``half_face``), and the pattern scene's poster, socket and fabric are drawn by this script.

Scoring (``benchlib``), per (frame, visible face) pair ("face-frame"): the face leaks at
τ when more than τ of its visible pixels are unredacted (leak@0: any pixel). Longest run:
most consecutive output frames one face leaked in (τ = 0). Over-redaction: share of
non-face pixels redacted, over frames that were not fail-closed (fail-closed frames are
counted apart); "frames > 25 %": frames with more than a quarter of their non-face
pixels redacted; "face-free > 10 %": frames with no face visible that are more than
10 % redacted (issue 16's limit); for livefilter, "(engine n)": of those, the frames whose engine
masks alone cover more than 10 % (a phantom face held as a track), the rest being what the render
hid besides them (live: ``render.live_guard``'s hidden changes, masks grown along their motion). Redaction is read back exactly (solid sentinel fill).

Three redactors see the same frames in the same run:
- ``livefilter file``: the product's defaults as ``livefilter video`` runs them (``exact``
  mode, non-live source, lossless sink), only the style set to a solid sentinel fill;
- ``livefilter live``: the same clip paced at its fps through the ``low_latency`` pipeline;
  each output frame is scored against the frame it carries; fps is the steady output rate;
- ``livefilter replay``: live mode without its timing: the engine (live schedule) answers every
  ``--replay-period``-th frame, each answer shown with the ``low_latency`` render (``render_frame``,
  ``render.live_guard``) on the next that many frames, as an engine that takes that long would.
  Live figures scatter with the machine's load; these do not (but for the detector's live
  schedule, sized from its cost measured at start), so a render change is measured on them.
  fps: frames rendered per second of render CPU time;
- ``deface``: deface 1.5 per frame with its defaults (CenterFace on the full frame,
  threshold 0.2, its own box scaling 1.3 and ellipse), solid fill. Its outputs are cached
  per frame, keyed by the frame's exact pixels (``--deface-cache``); its fps is measured in every run.
fps: livefilter's output rate from its first to its last output frame (start-up excluded);
deface's frames per second. Both include the same per-frame read-back (a few ms).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib

TIERS = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}
FACE_PHOTOS = ("obama.jpg", "biden.jpg", "two_people.jpg", "obama_and_biden.jpg")
PARTIAL_PHOTO = "obama_partial_face.jpg"  # a real face cut by the photo's edge
# scikit-image photos without people: a cat's face, a cup, a clock face, coins (heads in relief), ...
SKIMAGE_OBJECTS = ("chelsea", "coffee", "clock", "coins", "rocket", "stereo_motorcycle", "brick", "gravel")


# --------------------------------------------------------------------------- media


def cut_out_face(image: np.ndarray, box: tuple[int, int, int, int], *, margin: float = 0.25) -> np.ndarray:
    """BGRA crop around ``box``; alpha is a soft ellipse, above 0.5 (= face for the scene) on the box."""
    x, y, w, h = box
    mx, my = int(w * margin), int(h * margin)
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(image.shape[1], x + w + mx), min(image.shape[0], y + h + my)
    crop = image[y0:y1, x0:x1]
    alpha = np.zeros(crop.shape[:2], np.uint8)
    center = (x + w // 2 - x0, y + h // 2 - y0)
    cv2.ellipse(alpha, center, (int(w * 0.5), int(h * 0.55)), 0, 0, 360, 255, -1)
    soft = max(3, (min(w, h) // 12) | 1)
    alpha = cv2.GaussianBlur(alpha, (soft, soft), 0)
    return np.dstack([crop, alpha])


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"cannot read {path}: is shared/data beside the project (or $LIVEFILTER_SHARED_DATA set)?")
    return image


@dataclass(frozen=True)
class Media:
    """Everything the scenes are made of, loaded once."""

    faces: list[np.ndarray]  # frontal BGRA cut-outs (real)
    partial: np.ndarray  # a real face cut by its photo's edge
    profile: np.ndarray  # a real face in profile (scikit-image's cameraman, grey)
    cars: list[Path]  # real car photos (mostly fronts), read when a scene needs one
    objects: list[np.ndarray]  # scikit-image photos without people

    @classmethod
    def load(cls) -> Media:
        from skimage import data

        from livefilter.sources.scene import astronaut_face, cameraman_profile

        root = benchlib.shared_data()
        boxes = json.loads((root / "faces" / "faces.json").read_text())["boxes"]
        faces = [astronaut_face()]
        for name in FACE_PHOTOS:
            image = read_image(root / "faces" / name)
            faces += [cut_out_face(image, tuple(b)) for b in boxes[name]]
        partial = cut_out_face(read_image(root / "faces" / PARTIAL_PHOTO), tuple(boxes[PARTIAL_PHOTO][0]))
        cars = sorted((root / "plates").glob("*.jpg"))
        if not cars:
            raise SystemExit(f"no car photos (*.jpg) in {root / 'plates'}: is shared/data complete?")
        objects = []
        for name in SKIMAGE_OBJECTS:
            image = getattr(data, name)()
            image = image[0] if isinstance(image, tuple) else image  # stereo_motorcycle: (left, right, disparity)
            objects.append(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image[..., ::-1].copy())
        return cls(faces, partial, cameraman_profile(), cars, objects)


def turned(media: Media, rng: np.random.Generator, low: float, high: float) -> list[np.ndarray]:
    """Every frontal face warped to a random yaw in ±[low, high] degrees (an approximation)."""
    from livefilter.sources.scene import turned_face

    return [turned_face(f, float(rng.choice([-1, 1]) * rng.uniform(low, high))) for f in media.faces]


def profiles(media: Media) -> list[np.ndarray]:
    """Half-face crops of every frontal face, both sides (an approximation of a profile)."""
    from livefilter.sources.scene import half_face

    return [half_face(f, side) for f in media.faces for side in ("left", "right")]


def drawn_patterns(width: int, height: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Drawn face-like things, ``width`` x ``height`` each: a cartoon-face poster, a wall socket, fabric (BGR)."""
    c, r = (width // 2, height // 2), min(width, height) * 2 // 5
    poster = np.full((height, width, 3), (40, 180, 230), np.uint8)
    cv2.circle(poster, c, r, (120, 200, 250), -1)
    for dx in (-r // 3, r // 3):
        cv2.circle(poster, (c[0] + dx, c[1] - r // 4), max(2, r // 8), (30, 30, 30), -1)
    cv2.ellipse(poster, (c[0], c[1] + r // 6), (r // 2, r // 3), 0, 20, 160, (30, 30, 120), max(2, r // 16))
    socket = np.full((height, width, 3), 235, np.uint8)
    cv2.circle(socket, c, r, (205, 205, 205), -1)
    for dx in (-r // 3, r // 3):
        cv2.circle(socket, (c[0] + dx, c[1]), max(2, r // 7), (40, 40, 40), -1)
    cv2.rectangle(socket, (c[0] - r // 10, c[1] - r), (c[0] + r // 10, c[1] - r + r // 5), (170, 170, 170), -1)
    fabric = np.full((height, width, 3), rng.integers(60, 200, 3).tolist(), np.uint8)
    step = max(8, min(width, height) // 8)
    for y in range(0, height + step, step):
        for x in range((y // step % 2) * step // 2, width + step, step):
            cv2.circle(fabric, (x, y), step // 4, (245, 245, 240), -1)
            cv2.circle(fabric, (x + step // 8, y + step // 10), step // 12, (30, 30, 30), -1)
    return [poster, socket, fabric]


def collage(tiles: list[np.ndarray], width: int, height: int, columns: int = 4, rows: int = 3) -> np.ndarray:
    """A wall of photos and drawings: each grid cell covered by one tile."""
    from livefilter.sources.scene import fit_background

    out = np.zeros((height, width, 3), np.uint8)
    for n in range(columns * rows):
        x0, x1 = n % columns * width // columns, (n % columns + 1) * width // columns
        y0, y1 = n // columns * height // rows, (n // columns + 1) * height // rows
        out[y0:y1, x0:x1] = fit_background(tiles[n % len(tiles)], x1 - x0, y1 - y0)
    return out


# --------------------------------------------------------------------------- scenarios


def px(low: float, high: float, height: int) -> dict[str, object]:
    """SceneSpec options for faces ``low``..``high`` pixels tall (hairline to chin)."""
    mid = (low + high) / 2
    return {"face_height_frac": mid / height, "scale_range": (low / mid, high / mid)}


# The calm baseline every scenario starts from.
BASE: dict[str, object] = {
    "faces": 1, "speed_px_s": 80.0, "face_height_frac": 0.3, "scale_range": (0.9, 1.1), "occluder": False,
    "motion_blur": False, "rotation_deg": 0.0, "enter_exit": False, "noise_sigma": 0.0, "brightness": 1.0,
}


@dataclass(frozen=True)
class Scenario:
    name: str
    tiers: tuple[str, ...]
    what: str  # one line for the report; says what is approximated
    build: Callable[[int, int, float, int, int, Media], object]  # (w, h, fps, frames, seed, media) -> Shots


def one_shot(options: dict[str, object] | Callable[[int], dict[str, object]], faces: Callable[[Media, np.random.Generator], list[np.ndarray]] | None,
             background: Callable[[Media, int, int, np.random.Generator], np.ndarray]):
    """A builder for a single-shot scene over ``background`` with ``faces``."""

    def build(w: int, h: int, fps: float, frames: int, seed: int, media: Media):
        from livefilter.sources.scene import Scene, SceneSpec, Shots

        rng = np.random.default_rng(seed)
        sized = options(h) if callable(options) else options
        spec = SceneSpec(width=w, height=h, fps=fps, seed=seed, **{**BASE, **sized})
        cutouts = faces(media, rng) if faces else media.faces
        chosen = [cutouts[i] for i in rng.permutation(len(cutouts))[: max(1, spec.faces)]]
        return Shots([(Scene(spec, faces=chosen, background=background(media, w, h, rng)), frames)])

    return build


def car(media: Media, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    return read_image(media.cars[int(rng.integers(len(media.cars)))])


def frontal(media: Media, rng: np.random.Generator) -> list[np.ndarray]:
    return media.faces


def real_profiles(media: Media, rng: np.random.Generator) -> list[np.ndarray]:
    """The real profile, facing left and (mirrored) right."""
    return [media.profile, np.ascontiguousarray(media.profile[:, ::-1])]


def mixed_crowd(media: Media, rng: np.random.Generator) -> list[np.ndarray]:
    return media.faces + real_profiles(media, rng) + turned(media, rng, 20, 45) + profiles(media)[::3]


def turned_heads(media: Media, rng: np.random.Generator) -> list[np.ndarray]:
    return turned(media, rng, 60, 75) + profiles(media) + [media.partial]


def pattern_wall(media: Media, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    tiles = media.objects + drawn_patterns(w // 4, h // 3, rng)  # the collage's cell size
    order = rng.permutation(len(tiles))
    return collage([tiles[i] for i in order], w, h)


# Frames per shot of the scenes with cuts; fixed, so a clip's first frames do not depend on
# its length (and deface's cached outputs serve any --frames).
SHOT_FRAMES = 20


def car_park(w: int, h: int, fps: float, frames: int, seed: int, media: Media):
    """Car photos, one per shot, the camera drifting; hard cuts between shots; no faces."""
    from livefilter.sources.scene import Scene, SceneSpec, Shots

    rng = np.random.default_rng(seed)
    shots = []
    for j in range(3):
        spec = SceneSpec(width=w, height=h, fps=fps, seed=seed + j, faces=0, occluder=False, drift_px_s=0.02 * w)
        shots.append((Scene(spec, background=car(media, w, h, rng)), SHOT_FRAMES))
    return Shots(shots)


def cuts(w: int, h: int, fps: float, frames: int, seed: int, media: Media):
    """Three shots with hard cuts, cycling: faces here, none there, faces elsewhere (issue 16)."""
    from livefilter.sources.scene import Scene, SceneSpec, Shots

    rng = np.random.default_rng(seed)
    shots = []
    for j, (k, size) in enumerate([(2, (80, 200)), (0, (80, 200)), (3, (40, 140))]):
        spec = SceneSpec(width=w, height=h, fps=fps, seed=seed + j, **{**BASE, **px(*size, h), "faces": k,
                                                                          "speed_px_s": 120.0})
        chosen = [media.faces[i] for i in rng.permutation(len(media.faces))[: max(1, k)]]
        shots.append((Scene(spec, faces=chosen, background=car(media, w, h, rng)), SHOT_FRAMES))
    return Shots(shots)


LEGACY = ("360p",)
HD = ("720p", "1080p")
SCENARIOS: list[Scenario] = [
    # The original 640x360 scenes (one tier).
    Scenario("slow", LEGACY, "1 face, 30 % of the height, 40 px/s", one_shot({"speed_px_s": 40.0}, None, car)),
    Scenario("fast + motion blur", LEGACY, "500 px/s with motion blur",
             one_shot({"speed_px_s": 500.0, "motion_blur": True}, None, car)),
    Scenario("scale + rotate", LEGACY, "size 0.6-1.4x, tilting ±15°",
             one_shot({"scale_range": (0.6, 1.4), "rotation_deg": 15.0}, None, car)),
    Scenario("occluder", LEGACY, "a bar passes in front", one_shot({"speed_px_s": 150.0, "occluder": True}, None, car)),
    Scenario("leave + re-enter", LEGACY, "leaves left/right and comes back",
             one_shot({"speed_px_s": 300.0, "enter_exit": True}, None, car)),
    Scenario("several faces", LEGACY, "4 faces, 25 % of the height",
             one_shot({"faces": 4, "speed_px_s": 120.0, "face_height_frac": 0.25}, None, car)),
    Scenario("small faces 360p", LEGACY, "2 faces, 8 % of the height",
             one_shot({"faces": 2, "face_height_frac": 0.08}, None, car)),
    Scenario("low light + noise", LEGACY, "brightness x0.3, noise σ 8",
             one_shot({"brightness": 0.3, "noise_sigma": 8.0}, None, car)),
    # Where users are: 1280x720 and 1920x1080.
    Scenario("small faces", HD, "6 faces 20-48 px tall, slow",
             one_shot(lambda h: {**px(20, 48, h), "faces": 6, "speed_px_s": 60.0}, frontal, car)),
    Scenario("profiles", HD, "a real face in profile (~70° yaw, grey photo), facing left and right, 40-200 px, "
             "leaving and re-entering", one_shot(lambda h: {**px(40, 200, h), "faces": 3, "speed_px_s": 250.0,
                                                            "enter_exit": True}, real_profiles, car)),
    Scenario("turned (approx.)", HD, "APPROX.: frontal photos yaw-warped 60-75°, half-face crops, a real face cut by "
             "its photo's edge; 40-140 px, leaving and re-entering",
             one_shot(lambda h: {**px(40, 140, h), "faces": 4, "speed_px_s": 250.0, "enter_exit": True},
                      turned_heads, car)),
    Scenario("edges", HD, "5 faces 40-160 px crossing the frame, in and out through all four edges",
             one_shot(lambda h: {**px(40, 160, h), "faces": 5, "speed_px_s": 350.0, "path": "cross"}, frontal, car)),
    Scenario("close-up", HD, "1 face over 400 px tall, cut by the frame edges",
             one_shot(lambda h: {**px(420, min(900, 0.86 * h), h), "speed_px_s": 150.0}, frontal, car)),
    Scenario("crowd", HD, "16 faces 24-96 px: frontal, real profiles, turned 20-45° and half faces (APPROX.)",
             one_shot(lambda h: {**px(24, 96, h), "faces": 16, "speed_px_s": 40.0}, mixed_crowd, car)),
    Scenario("low light", HD, "3 faces 40-120 px, brightness x0.25, sensor noise σ 10",
             one_shot(lambda h: {**px(40, 120, h), "faces": 3, "brightness": 0.25, "noise_sigma": 10.0},
                      frontal, car)),
    Scenario("fast motion", HD, "2 faces 60-200 px at 1500 px/s, motion blur",
             one_shot(lambda h: {**px(60, 200, h), "faces": 2, "speed_px_s": 1500.0, "motion_blur": True},
                      frontal, car)),
    Scenario("car park (no faces)", HD, f"3 car photos, drifting camera, a hard cut every {SHOT_FRAMES} frames; no face",
             car_park),
    Scenario("patterns (no faces)", HD, "scikit-image photos (cat, clock, coins, ...) + DRAWN poster face, "
             "socket, fabric; drifting camera; no face",
             one_shot({"faces": 0, "drift_px_s": 40.0}, None, pattern_wall)),
    Scenario("cuts", HD, f"3 shots of {SHOT_FRAMES} frames, hard cuts, cycling: 2 faces / none / 3 faces elsewhere",
             cuts),
]
QUICK = ("small faces", "profiles", "edges", "patterns (no faces)", "cuts")


# --------------------------------------------------------------------------- clips


@dataclass(frozen=True)
class Clip:
    name: str
    tier: str
    fps: float
    frames: list[np.ndarray]  # BGR, free of the sentinel colour
    labels: list[np.ndarray]  # (H, W) uint8 per frame: 0 = no face, i + 1 = face i
    faces: int


def render_clip(scenario: Scenario, tier: str, *, fps: float, n_frames: int, seed: int, media: Media) -> Clip:
    width, height = TIERS[tier]
    shots = scenario.build(width, height, fps, n_frames, seed, media)
    frames, labels = [], []
    for i in range(n_frames):
        rendered = shots.render(i)
        frames.append(benchlib.exclude_sentinel(rendered.image))
        labels.append(benchlib.labels_from_masks(rendered.face_masks))
    return Clip(scenario.name, tier, fps, frames, labels, shots.faces)


# --------------------------------------------------------------------------- redactors


@dataclass(frozen=True)
class Run:
    result: benchlib.LeakResult
    fps: float  # livefilter: output rate, first to last output frame; deface: frames per second redacting
    fail_closed: dict[str, int]  # reason -> fully redacted frames (livefilter's Stats)


# One output frame: (source frame index, packed redacted bits, fully redacted, inexact pixels).
Output = tuple[int, np.ndarray, bool, int]


def observe(clip: Clip, index: int, image: np.ndarray, fully_redacted: bool) -> Output:
    """What scoring needs from one output image, kept small (bits) so runs fit in memory."""
    redacted = benchlib.redacted_pixels(image)
    inexact = 0 if fully_redacted else benchlib.inexact_pixels(image, clip.frames[index], redacted)
    return index, np.packbits(redacted), fully_redacted, inexact


def score_outputs(clip: Clip, outputs: list[Output], engine_shares: list[float | None] | None = None) -> benchlib.LeakResult:
    """Score output frames in the order they were output; ``engine_shares``: per output, the share of
    the frame its engine masks cover (livefilter), which attributes a face-free frame over the limit."""
    h, w = clip.frames[0].shape[:2]
    scorer = benchlib.LeakScorer(faces=clip.faces)
    shares = engine_shares if engine_shares is not None else [None] * len(outputs)
    for (index, packed, fully, inexact), engine_share in zip(outputs, shares, strict=True):
        redacted = np.unpackbits(packed, count=h * w).reshape(h, w).astype(bool)
        scorer.add(redacted, clip.labels[index], fully_redacted=fully, inexact=inexact, engine_share=engine_share)
    return scorer.result()


class DefaceCache:
    """deface's read-back output per frame, keyed by a hash of the frame's exact pixels.

    deface redacts each frame on its own (no state between frames), so its output is a
    function of the frame and its settings. The 1080p tier takes deface seconds a frame
    on 2 busy cores; the cache lets every run measure livefilter (which changes) against
    deface figures computed once, for any ``--frames``. deface's fps is still measured
    in every run. One file per clip (named by deface's settings and the clip's first
    frame) maps frame hashes to outputs.
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.hits = 0  # frames served from the cache
        self.misses = 0  # frames deface ran on

    @staticmethod
    def frame_key(frame: np.ndarray) -> str:
        import hashlib

        return hashlib.sha256(frame.tobytes()).hexdigest()[:24]

    def path(self, clip: Clip, deface: benchlib.DefaceBaseline) -> Path | None:
        import hashlib
        from importlib.metadata import version

        if self.folder is None:
            return None
        settings = f"deface {version('deface')} {deface.threshold} {deface.mask_scale} {self.frame_key(clip.frames[0])}"
        return self.folder / f"{hashlib.sha256(settings.encode()).hexdigest()[:24]}.npz"

    def load(self, path: Path | None) -> dict[str, tuple[np.ndarray, bool, int]]:
        if path is None or not path.is_file():
            return {}
        data = np.load(path)
        return {str(k): (p, bool(f), int(x)) for k, p, f, x in zip(data["keys"], data["packed"], data["fully"],
                                                                       data["inexact"])}

    def store(self, path: Path | None, entries: dict[str, tuple[np.ndarray, bool, int]]) -> None:
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(entries)
        partial = path.with_suffix(".tmp.npz")
        np.savez_compressed(partial, keys=np.array(keys), packed=np.stack([entries[k][0] for k in keys]),
                            fully=np.array([entries[k][1] for k in keys]), inexact=np.array([entries[k][2] for k in keys]))
        partial.replace(path)


def run_deface(clip: Clip, deface: benchlib.DefaceBaseline, cache: DefaceCache, *, fps_sample: int = 3) -> Run:
    """deface on every frame not in the cache (the same pixels, the same output); fps measured in this run."""
    path = cache.path(clip, deface)
    entries = cache.load(path)
    outputs: list[Output] = []
    seconds, timed = 0.0, 0
    for i, frame in enumerate(clip.frames):
        key = cache.frame_key(frame)
        if cache.folder is not None and key in entries:
            cache.hits += 1
            outputs.append((i, *entries[key]))
            continue
        t0 = time.perf_counter()
        output = observe(clip, i, deface.redact(frame), False)
        seconds, timed = seconds + time.perf_counter() - t0, timed + 1
        cache.misses += 1
        entries[key] = output[1:]
        outputs.append(output)
    if timed < fps_sample:  # too few frames ran: time a sample of the clip too
        for i in np.linspace(0, len(clip.frames) - 1, min(fps_sample, len(clip.frames))).round().astype(int):
            t0 = time.perf_counter()
            observe(clip, int(i), deface.redact(clip.frames[i]), False)
            seconds, timed = seconds + time.perf_counter() - t0, timed + 1
    if cache.misses:
        cache.store(path, entries)
    return Run(score_outputs(clip, outputs), timed / seconds if timed else float("nan"), {})  # never fails closed


def bench_config(*, live: bool, engine: str | None, overrides: dict[str, object] | None = None):
    """The product's defaults (plus ``overrides``), with a solid sentinel-coloured style so scoring is exact."""
    from livefilter.config.loader import parse_config, with_overrides

    fixed = {
        "source": {"kind": "demo", "realtime": live},  # replaced by the clip, paced the same way
        "render.mode": "low_latency" if live else "exact",
        "render.style": "solid",
        "render.solid_color": list(benchlib.SENTINEL_BGR[::-1]),
        "render.feather_px": 0,
        **({"engine.kind": engine} if engine else {}),
    }
    return parse_config(with_overrides({}, {**(overrides or {}), **fixed}), origin="bench_leak --set")


def parse_sets(items: list[str]) -> dict[str, object]:
    """``--set engine.cpu_face.detector=centerface`` → ``{"engine.cpu_face.detector": "centerface"}`` (YAML values)."""
    import yaml

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE with a dotted config key, e.g. engine.cpu_face.detect_every=1")
        out[key] = yaml.safe_load(value)
    return out


def mask_share(masks) -> float:
    """Share of the frame a MaskSet's masks cover, on every 4th pixel of every 4th row (cheap on the
    engine's thread; exact enough to tell a phantom over FACE_FREE_LIMIT)."""
    return float(masks.masks[:, ::4, ::4].any(axis=0).mean()) if len(masks) else 0.0


def run_livefilter(clip: Clip, *, live: bool, engine: str | None, overrides: dict[str, object]) -> Run:
    outputs: list[Output] = []  # appended by the sink thread only
    engine_shares: list[float | None] = []  # per output: the share its engine masks cover
    by_frame: dict[int, float] = {}  # engine thread: frame index -> share its masks cover
    stamps: list[float] = []

    def on_masks(masks) -> None:
        by_frame[masks.frame_index] = mask_share(masks)

    def on_frame(frame) -> None:
        stamps.append(time.perf_counter())
        outputs.append(observe(clip, frame.index, frame.image, bool(frame.fully_redacted)))
        engine_shares.append(None if frame.mask_frame_index is None else by_frame.get(frame.mask_frame_index))

    sink = benchlib.CallbackSink(on_frame, lossless=not live)
    source = benchlib.ClipSource(clip.frames, fps=clip.fps, live=live, name=clip.name)
    pipeline = benchlib.make_pipeline(bench_config(live=live, engine=engine, overrides=overrides), sinks=[sink],
                                      source=source, on_masks=on_masks)
    stats = pipeline.run()
    # Output frames per second from the first to the last output: the engine's start-up is not in it.
    fps = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return Run(score_outputs(clip, outputs, engine_shares), fps, dict(stats.fail_closed))


def run_replay(clip: Clip, *, period: int, engine: str | None, overrides: dict[str, object]) -> Run:
    """``livefilter replay``: the engine answers frames 0, ``period``, 2 ``period``, ...; the answer on frame
    a is the newest from frame a + ``period`` to a + 2 ``period`` - 1, each rendered as the live render does."""
    from livefilter.engines import create_engine, resolve_engine_kind
    from livefilter.engines.shots import ShotCounter
    from livefilter.render.compositor import Compositor
    from livefilter.runtime.inference import EngineResult, SpeedMemory
    from livefilter.runtime.render import UnseenChange, render_frame
    from livefilter.types import Frame, Prompt

    config = bench_config(live=True, engine=engine, overrides=overrides)
    shots = ShotCounter()
    frames = [Frame(image, index=i, t_capture=i / clip.fps, pts=i / clip.fps, source=clip.name,
                    shot=shots.update(image)) for i, image in enumerate(clip.frames)]
    model = create_engine(config.engine, [Prompt(p.text, p.threshold) for p in config.prompts],
                          kind=resolve_engine_kind(config.engine))
    model.open()
    answers: dict[int, EngineResult] = {}
    try:
        speeds, shot = SpeedMemory(), None
        for a in range(0, len(frames), period):  # as the engine thread does: a cut resets the tracks
            if shot is not None and frames[a].shot != shot:
                model.reset()
                speeds.clear()
            shot = frames[a].shot
            masks = model.infer(frames[a])
            bounds = speeds.bounds(masks.object_ids, masks.velocities, t=masks.t_capture)
            answers[a] = EngineResult(frames[a], masks, 0, speed_bounds=bounds)
    finally:
        model.close()
    compositor = Compositor(config.render)
    unseen = UnseenChange() if config.render.live_guard == "hide_changes" else None
    outputs: list[Output] = []
    engine_shares: list[float | None] = []  # per output: the share its engine masks cover
    reasons: Counter[str] = Counter()
    cpu = 0.0
    for n, frame in enumerate(frames):
        result = answers.get((n // period - 1) * period)
        if config.render.live_guard == "checked_frames" and result is not None:
            frame = result.frame
        start = time.process_time()
        out = render_frame(compositor, frame, result, prompts_version=0, config=config.render,
                           frame_period_s=1 / clip.fps, unseen=unseen)
        cpu += time.process_time() - start
        if out.fully_redacted:
            reasons[out.reason] += 1
        outputs.append(observe(clip, frame.index, out.image, bool(out.fully_redacted)))
        shown_with = None if out.fully_redacted or result is None else result.masks
        engine_shares.append(None if shown_with is None else mask_share(shown_with))
    return Run(score_outputs(clip, outputs, engine_shares), len(frames) / cpu if cpu > 0 else 0.0, dict(reasons))


# --------------------------------------------------------------------------- report

HEADERS = ["tier", "scenario", "redactor", "face-frames", "leak@0", "leak@5%", "longest run@0", "over-redaction",
           "frames >25 %", "face-free >10 %", "fail-closed", "fps", "file fps / deface"]


def pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.1f} %"


def row(tier: str, scenario: str, redactor: str, run: Run, deface_fps: float | None) -> list[object]:
    r = run.result
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(run.fail_closed.items()))
    shown = r.frames - r.fully_redacted
    return [
        tier, scenario, redactor, r.face_frames,
        pct(r.leak_rate(0.0)), pct(r.leak_rate(0.05)), r.longest_run[0.0],
        pct(r.over_redaction), f"{pct(r.heavy_share)} ({r.heavy_frames}/{shown})",
        face_free(r, attributed=redactor != "deface"),
        f"{r.fully_redacted}/{r.frames}" + (f" ({reasons})" if reasons else ""),
        f"{run.fps:.1f}", f"{run.fps / deface_fps:.2f}×" if deface_fps and redactor == "livefilter file" else "",
    ]


def face_free(r: benchlib.LeakResult, *, attributed: bool) -> str:
    """Face-free frames over the limit / all; ``attributed`` (livefilter): how many of them the engine's
    own masks put over the limit (a phantom face), the rest being what the render hid besides (live:
    ``render.live_guard``'s hidden changes, masks grown along their motion)."""
    counts = f"{r.face_free_over}/{r.face_free_frames}"
    return f"{counts} (engine {r.face_free_engine})" if attributed and r.face_free_over else counts


def label(mode: str) -> str:
    return "deface" if mode == "deface" else f"livefilter {mode}"


def pooled(runs: list[Run]) -> Run:
    total = benchlib.merge([r.result for r in runs])
    seconds = sum(r.result.frames / r.fps for r in runs if r.fps > 0)
    reasons = sum((Counter(r.fail_closed) for r in runs), Counter())
    return Run(total, total.frames / seconds if seconds else 0.0, dict(reasons))


def targets(tier: str, runs: dict[str, list[tuple[str, Run]]]) -> list[list[object]]:
    """Issue 9 and 16 targets beside the measured figures (file and live vs deface)."""
    out: list[list[object]] = []

    def check(name: str, value: str, ok: bool | None) -> None:
        out.append([tier, name, value, "–" if ok is None else ("met" if ok else "**not met**")])

    file, live, deface = (runs.get(m, []) for m in ("file", "live", "deface"))
    d = pooled([r for _, r in deface]) if deface else None
    if file:
        f = pooled([r for _, r in file])
        with_faces = [(n, r) for n, r in file if r.result.face_frames]
        worst = max(with_faces, key=lambda nr: nr[1].result.leak_rate(0.0), default=None)
        check("file leak@0 pooled ≤ 1 %", pct(f.result.leak_rate(0.0)), f.result.leak_rate(0.0) <= 0.01)
        if worst:
            rate = worst[1].result.leak_rate(0.0)
            check("file leak@0 every scenario ≤ 2 %", f"worst {pct(rate)} ({worst[0]})", rate <= 0.02)
        check("file longest leaked run ≤ 3 frames", str(f.result.longest_run[0.0]), f.result.longest_run[0.0] <= 3)
        check("file over-redaction pooled ≤ 10 %", pct(f.result.over_redaction), f.result.over_redaction <= 0.10)
        check("file: no face-free frame > 10 % redacted (outside fail-closed)",
              f"{face_free(f.result, attributed=True)} frames", f.result.face_free_over == 0)
        if d:
            check("file fps ≥ 3× deface", f"{f.fps:.1f} vs {d.fps:.1f} ({f.fps / d.fps:.2f}×)", f.fps >= 3 * d.fps)
    if live:
        v = pooled([r for _, r in live])
        # A fail-closed frame cannot leak: when most frames fail closed, live leak rates say little.
        check("live frames fail-closed (no target; a fail-closed frame cannot leak)",
              f"{pct(v.result.fully_redacted / v.result.frames if v.result.frames else 0.0)} "
              f"({v.result.fully_redacted}/{v.result.frames})", None)
        check("live fps out ≥ 29 (paced 30 fps)", f"{v.fps:.1f}", v.fps >= 29 if tier == "720p" else None)
        if d:
            check("live leak@0 ≤ deface file leak@0", f"{pct(v.result.leak_rate(0.0))} vs {pct(d.result.leak_rate(0.0))}",
                  v.result.leak_rate(0.0) <= d.result.leak_rate(0.0))
        check("live over-redaction pooled ≤ 10 %", pct(v.result.over_redaction), v.result.over_redaction <= 0.10)
        check("live: no face-free frame > 10 % redacted (outside fail-closed)",
              f"{face_free(v.result, attributed=True)} frames", v.result.face_free_over == 0)
    return out


def ratios(run: Run, deface: Run, *, fps: bool) -> list[str]:
    """livefilter's pooled figures divided by deface's ("–" when deface's is 0)."""

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}×" if b else ("1×" if a == b else "– (deface 0)")

    r, d = run.result, deface.result
    return [
        ratio(r.leak_rate(0.0), d.leak_rate(0.0)), ratio(r.leak_rate(0.05), d.leak_rate(0.05)),
        ratio(r.longest_run[0.0], d.longest_run[0.0]), ratio(r.over_redaction, d.over_redaction),
        ratio(run.fps, deface.fps) if fps else "(paced)",
    ]


def plot(report: list[dict[str, object]], path: Path) -> None:
    """Grouped bars per tier and scenario: leak@0 (top) and over-redaction (bottom), per redactor."""
    plt = benchlib.pyplot()
    cells = [r for r in report if r["scenario"] != "pooled"]
    keys = list(dict.fromkeys((r["tier"], r["scenario"]) for r in cells))
    redactors = list(dict.fromkeys(r["redactor"] for r in cells))
    value = {(r["tier"], r["scenario"], r["redactor"]): r for r in cells}
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.55 * len(keys) + 2), 7), dpi=100, sharex=True)
    width = 0.8 / len(redactors)
    for ax, (title, get) in zip(axes, [
        ("face-frames with any face pixel shown (leak@0, %)", lambda r: 100 * r["leak_rate"]["0.0"]),
        ("non-face pixels redacted (over-redaction, %)", lambda r: 100 * r["over_redaction"]),
    ]):
        for j, redactor in enumerate(redactors):
            xs = [i + (j - (len(redactors) - 1) / 2) * width for i in range(len(keys))]
            ys = [get(value[(*k, redactor)]) if (*k, redactor) in value else np.nan for k in keys]
            ax.bar(xs, [np.nan if y is None else y for y in ys], width, label=redactor)
        ax.set_ylabel(title, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[1].set_xticks(range(len(keys)), [f"{t} {s}" for t, s in keys], rotation=35, ha="right", fontsize=8)
    axes[0].set_title("livefilter vs deface on clips with exact ground truth (lower is better)")
    benchlib.save_figure(fig, path)


def as_dict(tier: str, scenario: str, redactor: str, run: Run) -> dict[str, object]:
    r = run.result
    return {
        "tier": tier, "scenario": scenario, "redactor": redactor, "fps": run.fps, "fail_closed": run.fail_closed,
        "face_frames": r.face_frames, "leaks": {str(t): n for t, n in r.leaks.items()},
        "leak_rate": {str(t): r.leak_rate(t) for t in r.leaks},
        "over_pixels": r.over_pixels, "nonface_pixels": r.nonface_pixels,
        "longest_run": {str(t): v for t, v in r.longest_run.items()}, "over_redaction": r.over_redaction,
        "heavy_frames": r.heavy_frames, "face_free_frames": r.face_free_frames, "face_free_over": r.face_free_over,
        "face_free_engine": r.face_free_engine,
        "frames": r.frames, "fully_redacted": r.fully_redacted, "inexact_pixels": r.inexact,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"development run: 720p, {len(QUICK)} scenarios, 30 frames (a few minutes)")
    parser.add_argument("--tier", help=f"comma list of tiers (default all: {', '.join(TIERS)})")
    parser.add_argument("--scenario", help="comma list of scenarios (default: all of the chosen tiers)")
    parser.add_argument("--frames", type=int, help="frames per clip (default 60 = 2 s; 30 with --quick)")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--engine", help="livefilter engine kind (default: the product's default)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a livefilter config value (dotted key, YAML value), e.g. "
                        "--set engine.cpu_face.detector=centerface; repeatable; the render style stays fixed")
    parser.add_argument("--modes", default="file,live,deface", help="comma list of file, live, replay, deface")
    parser.add_argument("--replay-period", type=int, default=4,
                        help="replay: the engine answers every this many frames (default %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--plot", type=Path, help="write bar charts of leak@0 and over-redaction here (PNG)")
    parser.add_argument("--deface-cache", type=Path, default=Path.home() / ".cache" / "livefilter" / "bench_leak",
                        help="deface's outputs per clip, reused for identical frames (default %(default)s)")
    parser.add_argument("--no-deface-cache", action="store_true", help="run deface on every frame of every clip")
    args = parser.parse_args(argv)

    names = [s.name for s in SCENARIOS]
    tiers = (args.tier or ("720p" if args.quick else ",".join(TIERS))).split(",")
    if set(tiers) - set(TIERS):
        parser.error(f"--tier: unknown {sorted(set(tiers) - set(TIERS))}; choose from {list(TIERS)}")
    chosen = args.scenario.split(",") if args.scenario else (list(QUICK) if args.quick else names)
    if set(chosen) - set(names):
        parser.error(f"--scenario: unknown {sorted(set(chosen) - set(names))}; choose from {names}")
    modes = args.modes.split(",")
    if set(modes) - {"file", "live", "replay", "deface"}:
        parser.error(f"--modes: expected a comma list of file, live, replay, deface; got {args.modes!r}")
    if args.replay_period < 1:
        parser.error(f"--replay-period: expected a whole number of frames >= 1, got {args.replay_period}")
    n_frames = args.frames or (30 if args.quick else 60)
    overrides = parse_sets(args.set)
    from livefilter.errors import ConfigError

    try:
        bench_config(live=False, engine=args.engine, overrides=overrides)  # a bad --set fails here, before any work
    except ConfigError as exc:
        parser.error(str(exc))
    plan = [(t, s) for t in tiers for s in SCENARIOS if s.name in chosen and t in s.tiers]
    if not plan:
        parser.error(f"no scenario of {chosen} runs at {tiers}; scenarios per tier: "
                     + "; ".join(f"{s.name}: {'/'.join(s.tiers)}" for s in SCENARIOS))

    print(f"# Leak benchmark — {benchlib.machine_summary()}")
    print(f"# {len(plan)} clips x {n_frames} frames at {args.fps:g} fps; tiers {', '.join(tiers)}; "
          f"engine {args.engine or 'default'}{''.join(f'; {k}={v}' for k, v in overrides.items())}; command: python scripts/bench_leak.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    media = Media.load()
    deface = benchlib.DefaceBaseline() if "deface" in modes else None
    cache = DefaceCache(None if args.no_deface_cache else args.deface_cache)
    rows, report = [], []
    per_tier: dict[str, dict[str, list[tuple[str, Run]]]] = {}
    for tier, scenario in plan:
        seed = names.index(scenario.name)  # the same clip whichever scenarios run
        t0 = time.perf_counter()
        clip = render_clip(scenario, tier, fps=args.fps, n_frames=n_frames, seed=seed, media=media)
        runs: dict[str, Run] = {}
        for mode in ("deface", *[m for m in modes if m != "deface"]):
            if mode not in modes:
                continue
            if mode == "deface":
                assert deface is not None
                runs[mode] = run_deface(clip, deface, cache)
            elif mode == "replay":
                runs[mode] = run_replay(clip, period=args.replay_period, engine=args.engine, overrides=overrides)
            else:
                runs[mode] = run_livefilter(clip, live=mode == "live", engine=args.engine, overrides=overrides)
            per_tier.setdefault(tier, {}).setdefault(mode, []).append((scenario.name, runs[mode]))
        deface_fps = runs["deface"].fps if "deface" in runs else None
        for mode in modes:
            rows.append(row(tier, scenario.name, label(mode), runs[mode], deface_fps))
            report.append(as_dict(tier, scenario.name, label(mode), runs[mode]))
            if runs[mode].result.inexact:
                print(f"!! {tier} {scenario.name} / {label(mode)}: {runs[mode].result.inexact} output pixels are "
                      "neither redacted nor equal to the input; scoring counts them as shown (inexact)", file=sys.stderr)
        print(f"# {tier} {scenario.name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    pooled_rows, target_rows, ratio_rows = [], [], []
    groups = dict(per_tier)
    hd = [t for t in per_tier if t in HD]
    if len(hd) > 1:
        groups["+".join(hd)] = {m: [x for t in hd for x in per_tier[t].get(m, [])] for m in modes}
    for tier, by_mode in groups.items():
        deface_pool = pooled([r for _, r in by_mode["deface"]]) if by_mode.get("deface") else None
        for mode in modes:
            run = pooled([r for _, r in by_mode.get(mode, [])])
            pooled_rows.append(row(tier, "**pooled**", label(mode), run, deface_pool.fps if deface_pool else None))
            report.append(as_dict(tier, "pooled", label(mode), run))
            if deface_pool and mode != "deface":
                ratio_rows.append([tier, label(mode), *ratios(run, deface_pool, fps=mode == "file")])
        if tier != "360p":
            target_rows += targets(tier, by_mode)

    if cache.hits:
        print(f"# deface: {cache.hits} frames scored from its cached outputs for identical frames ({cache.folder}), "
              f"{cache.misses} redacted in this run; its fps measured in this run (at least 3 frames per clip)")
    print("\n## Per scenario\n")
    print(benchlib.markdown_table(HEADERS, rows))
    print("\n## Pooled\n")
    print(benchlib.markdown_table(HEADERS, pooled_rows))
    if ratio_rows:
        print("\n## Ratios to deface (pooled; below 1 = less than deface)\n")
        print(benchlib.markdown_table(["tier", "redactor", "leak@0", "leak@5%", "longest run", "over-redaction",
                                       "fps"], ratio_rows))
    if target_rows:
        print("\n## Targets (issues 9 and 16)\n")
        print(benchlib.markdown_table(["tier", "target", "measured", ""], target_rows))
    print("\n## Scenarios\n")
    print(benchlib.markdown_table(["scenario", "tiers", "what (APPROX. = approximation of real footage)"],
                                  [[s.name, "/".join(s.tiers), s.what] for s in SCENARIOS
                                   if any(s.name == p.name for _, p in plan)]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    if args.plot:
        plot(report, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
