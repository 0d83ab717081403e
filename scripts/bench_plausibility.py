"""Plausibility (issue 16): face false positives and recall with and without the second look.

    python scripts/bench_plausibility.py                            # live schedule, ~5 min on 2 cores
    python scripts/bench_plausibility.py --schedule exact --quick   # as file jobs run, a quarter of the car photos

The cpu-face engine with its defaults (``engine.cpu_face.verify_candidates`` true, with
CenterFace's second opinion on medium marginal candidates) against the same engine without the
second opinion (``second_opinion: none``) and with the check off, on the same pictures in the
same process, each picture a detection frame of its own (the engine is reset before each: no
track carries over):

- *face-free*: the 108 car photos of ``shared/data/plates`` scaled to cover 1280x720 and
  1920x1080, whole and as close-ups of the lower middle (the car's front filling the frame),
  plus scikit-image pictures without people (cat, coffee, clock, coins, rocket, ...).
  Reported: pictures with any face mask, pictures more than 10 % masked, mean masked share.
- *faces*: the labelled faces of ``shared/data/faces`` and the astronaut, scaled to
  20-900 px tall and pasted over a car photo at 1080p. Reported: faces whose box is at
  least 90 % under the masks (recall), by size.
- *half faces* (APPROX. of a profile, or of a face cut by the frame's edge): the left and
  right half of each of those faces (``scene.half_face``), 200-600 px tall over a car photo
  at 720p, where they fill 3-25 % of the frame and are looked at again. Reported: faces at
  least 90 % of whose pixels are under the masks.
- *cost*: engine time per detection frame with and without the check, and how many second
  looks ran (each is one detector run on a small crop).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib

TIERS = {"720p": (1280, 720), "1080p": (1920, 1080)}
SKIMAGE = ("chelsea", "coffee", "clock", "coins", "rocket", "stereo_motorcycle", "brick", "gravel", "hubble_deep_field")
CLOSE_UPS = (0.7, 0.5)  # share of the photo's width and height kept
FACE_HEIGHTS = (20, 32, 48, 80, 160, 400, 900)  # px at 1080p
HALF_HEIGHTS = (200, 400, 600)  # px at 720p


def cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled to cover ``width`` x ``height``, centre cropped."""
    h, w = image.shape[:2]
    s = max(width / w, height / h)
    scaled = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
    y0, x0 = (scaled.shape[0] - height) // 2, (scaled.shape[1] - width) // 2
    return np.ascontiguousarray(scaled[y0 : y0 + height, x0 : x0 + width])


def face_free(root: Path, step: int) -> list[tuple[str, np.ndarray]]:
    from skimage import data

    pictures = []
    for path in sorted((root / "plates").glob("*.jpg"))[::step]:
        photo = cv2.imread(str(path))
        h, w = photo.shape[:2]
        for tier, (width, height) in TIERS.items():
            pictures.append((f"car {tier}", cover(photo, width, height)))
            for zoom in CLOSE_UPS:  # the lower middle: the car's front filling the frame
                front = photo[h - int(zoom * h) :, int((1 - zoom) / 2 * w) : int((1 + zoom) / 2 * w)]
                pictures.append((f"car front close-up {tier}", cover(front, width, height)))
    for name in SKIMAGE:
        image = getattr(data, name)()
        image = image[0] if isinstance(image, tuple) else image
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image[..., ::-1]
        for tier, (width, height) in TIERS.items():
            pictures.append((f"scikit-image {tier}", cover(np.ascontiguousarray(image), width, height)))
    return pictures


@dataclass(frozen=True)
class FacePicture:
    height_px: int
    image: np.ndarray
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the labelled face


def with_faces(root: Path) -> list[FacePicture]:
    from skimage import data

    labelled = json.loads((root / "faces" / "faces.json").read_text())["boxes"]
    photos = [(cv2.imread(str(root / "faces" / name)), boxes) for name, boxes in sorted(labelled.items())]
    photos.append((np.ascontiguousarray(data.astronaut()[:, :, ::-1]), [[176, 62, 96, 124]]))
    background = cover(cv2.imread(str(root / "plates" / "eu1.jpg")), 1920, 1080)
    out = []
    for photo, boxes in photos:
        for x, y, w, h in boxes:
            for target in FACE_HEIGHTS:
                s = target / h
                scaled = cv2.resize(photo, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
                # Paste a window of the scaled photo centred on the face (at most the frame).
                cx, cy = (x + w / 2) * s, (y + h / 2) * s
                half_w, half_h = min(960, scaled.shape[1] // 2), min(540, scaled.shape[0] // 2)
                x0, y0 = int(np.clip(cx - half_w, 0, scaled.shape[1] - 2 * half_w)), int(np.clip(cy - half_h, 0, scaled.shape[0] - 2 * half_h))
                window = scaled[y0 : y0 + 2 * half_h, x0 : x0 + 2 * half_w]
                frame = background.copy()
                ox, oy = 960 - half_w, 540 - half_h
                frame[oy : oy + window.shape[0], ox : ox + window.shape[1]] = window
                fx0, fy0 = ox + x * s - x0, oy + y * s - y0
                box = (round(max(0, fx0)), round(max(0, fy0)), round(min(1920, fx0 + w * s)), round(min(1080, fy0 + h * s)))
                out.append(FacePicture(target, frame, box))
    return out


@dataclass(frozen=True)
class HalfFace:
    height_px: int
    image: np.ndarray
    pixels: np.ndarray  # (H, W) bool: the face's pixels


def half_faces(root: Path) -> list[HalfFace]:
    from bench_leak import cut_out_face

    from livefilter.sources.scene import astronaut_face, half_face

    labelled = json.loads((root / "faces" / "faces.json").read_text())["boxes"]
    cutouts = [astronaut_face()] + [
        cut_out_face(cv2.imread(str(root / "faces" / name)), tuple(b)) for name, boxes in sorted(labelled.items()) for b in boxes
    ]
    background = cover(cv2.imread(str(root / "plates" / "eu1.jpg")), 1280, 720)
    out = []
    for cutout in cutouts:
        for side in ("left", "right"):
            half = half_face(cutout, side)
            for target in HALF_HEIGHTS:
                s = target / half.shape[0]
                face = cv2.resize(half, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)[:720, :1280]
                fh, fw = face.shape[:2]
                x0, y0 = (1280 - fw) // 2, (720 - fh) // 2
                frame = background.copy()
                alpha = face[..., 3:4] / 255.0
                roi = frame[y0 : y0 + fh, x0 : x0 + fw]
                roi[:] = (face[..., :3] * alpha + roi * (1 - alpha)).astype(np.uint8)
                pixels = np.zeros((720, 1280), bool)
                pixels[y0 : y0 + fh, x0 : x0 + fw] = face[..., 3] > 128
                out.append(HalfFace(target, frame, pixels))
    return out


class Timed:
    """The cpu-face engine, timed per ``infer``, counting second looks."""

    def __init__(self, verify: bool, schedule: str, second_opinion: str = "centerface") -> None:
        from livefilter.config.engine import CpuFaceConfig
        from livefilter.engines.face_cpu import CpuFaceEngine
        from livefilter.types import Prompt

        config = CpuFaceConfig(verify_candidates=verify, detect_every=1, schedule=schedule, second_opinion=second_opinion)
        self.engine = CpuFaceEngine(config, [Prompt("face")])
        self.engine.open()
        self.seconds = 0.0
        self.frames = 0
        self.looks = 0
        check = self.engine._plausibility  # counts the second looks it ran
        if check is not None:
            real = check.check

            def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
                verdict = real(*args, **kwargs)
                self.looks += verdict.checked
                return verdict

            check.check = counting  # type: ignore[method-assign]

    def masks(self, image: np.ndarray) -> np.ndarray:
        from livefilter.types import Frame

        self.engine.reset()  # each picture is a scene of its own (live holds can outlast any gap)
        t0 = time.perf_counter()
        result = self.engine.infer(Frame(image, self.frames, 10.0 * self.frames))
        self.seconds += time.perf_counter() - t0
        self.frames += 1
        return result.union() if len(result) else np.zeros(image.shape[:2], bool)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every 4th car photo")
    parser.add_argument("--schedule", choices=("live", "exact"), default="live",
                        help="engine.cpu_face.schedule: live (default) or exact (file jobs: native resolution)")
    args = parser.parse_args(argv)
    root = benchlib.shared_data()
    if not (root / "plates").is_dir():
        raise SystemExit(f"car photos not found at {root / 'plates'}: put shared/data beside the project or set $LIVEFILTER_SHARED_DATA")
    print(f"# Plausibility — {benchlib.machine_summary()}; schedule {args.schedule}")
    negatives, positives = face_free(root, 4 if args.quick else 1), with_faces(root)
    engines = {"off": Timed(False, args.schedule), "on, no second opinion": Timed(True, args.schedule, "none"),
               "on": Timed(True, args.schedule)}
    columns = [f"check {key}" for key in engines]
    rows = []
    groups = sorted({name for name, _ in negatives})
    fp: dict[tuple[str, str], list[float]] = {}
    for name, image in negatives:
        for key, engine in engines.items():  # alternate, so load hits all alike
            fp.setdefault((name, key), []).append(float(engine.masks(image).mean()))
    for name in groups:
        for key in engines:
            shares = np.array(fp[(name, key)])
            rows.append([name, f"check {key}", len(shares), f"{np.mean(shares > 0):.1%}", f"{np.mean(shares > 0.1):.1%}",
                         f"{shares.mean():.2%}"])
    print("\n## Face-free pictures: false positives\n")
    print(benchlib.markdown_table(["pictures", "second look", "n", "any face mask", "> 10 % masked", "mean masked"], rows))
    found: dict[tuple[int, str], list[bool]] = {}
    for picture in positives:
        x0, y0, x1, y1 = picture.box
        for key, engine in engines.items():
            hidden = engine.masks(picture.image)[y0:y1, x0:x1]
            found.setdefault((picture.height_px, key), []).append(bool(hidden.size) and hidden.mean() >= 0.9)
    rows = [[f"{h} px", *(f"{np.mean(found[(h, k)]):.0%} ({sum(found[(h, k)])}/{len(found[(h, k)])})" for k in engines)]
            for h in FACE_HEIGHTS]
    print("\n## Labelled faces at 1080p: recall (face box >= 90 % masked)\n")
    print(benchlib.markdown_table(["face height", *columns], rows))
    halves: dict[tuple[int, str], list[bool]] = {}
    for half in half_faces(root):
        for key, engine in engines.items():
            halves.setdefault((half.height_px, key), []).append(bool(engine.masks(half.image)[half.pixels].mean() >= 0.9))
    rows = [[f"{h} px", *(f"{np.mean(halves[(h, k)]):.0%} ({sum(halves[(h, k)])}/{len(halves[(h, k)])})" for k in engines)]
            for h in HALF_HEIGHTS]
    print("\n## Half faces at 720p (APPROX.: a profile, a face cut by the frame's edge): recall (>= 90 % of the face masked)\n")
    print(benchlib.markdown_table(["face height", *columns], rows))
    off = engines["off"]
    print("\n## Cost (same pictures, same process)\n")
    print(benchlib.markdown_table(
        ["second look", "frames", "ms / detection frame", "second looks", "ratio to off"],
        [[key, e.frames, 1000 * e.seconds / e.frames, e.looks, e.seconds / off.seconds] for key, e in engines.items()],
    ))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
