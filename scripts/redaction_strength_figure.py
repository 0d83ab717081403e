"""docs/redaction_strength.jpg: the redaction-strength rule, pictured.

The same face (scikit-image's public-domain astronaut) at widths from 60 px (a face across a
room at 720p) to 960 px (a 4K close-up), redacted by the compositor with fixed strengths (the
old defaults: 16 px blocks, blur sigma 25) and with strengths that follow the face (now: at
most 8 blocks, or blur sigmas, across). Every tile is shown at the same size, so what is left
of the face can be compared across sizes.

    python scripts/redaction_strength_figure.py [--out docs/redaction_strength.jpg]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from livefilter.config.render import RenderConfig
from livefilter.render import Compositor
from livefilter.render.redactors import pixel_block, scaled_strength
from livefilter.types import Frame, MaskSet

FACE = (176, 62, 90, 105)  # x, y, w, h of the astronaut's face
WIDTHS = (60, 120, 240, 480, 960)
TILE = (150, 175)  # width, height of each tile
LABEL_W = 190


def face_frame(width: int) -> tuple[Frame, MaskSet, tuple[slice, slice]]:
    """The astronaut scaled so her face is ``width`` px wide; its elliptical mask; a crop around it."""
    import skimage.data

    photo = np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])
    scale = width / FACE[2]
    image = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    x, y, w, h = (round(v * scale) for v in FACE)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.ellipse(mask, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, 1, -1)
    masks = MaskSet(mask[None].astype(bool), [1.0], ("face",), [1], frame_index=0, t_capture=0.0)
    pad_x, pad_y = w // 4, h // 5
    crop = (slice(max(0, y - pad_y), y + h + pad_y), slice(max(0, x - pad_x), x + w + pad_x))
    return Frame(image, index=0, t_capture=0.0), masks, crop


def tile(image: np.ndarray, caption: str) -> np.ndarray:
    out = cv2.resize(image, TILE, interpolation=cv2.INTER_AREA)
    cv2.rectangle(out, (0, TILE[1] - 22), (TILE[0], TILE[1]), (255, 255, 255), -1)
    cv2.putText(out, caption, (5, TILE[1] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def label(text: str) -> np.ndarray:
    out = np.full((TILE[1], LABEL_W, 3), 255, np.uint8)
    for i, line in enumerate(text.split("\n")):
        cv2.putText(out, line, (6, 60 + 22 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/redaction_strength.jpg")
    args = parser.parse_args()

    fixed = {"dilation_px": 0, "dilation_percent": 0}  # the face's own pixels, nothing around
    rows = [
        ("original", None, None),
        ("pixelate, fixed\n16 px (before)", "pixelate", "fixed"),
        ("pixelate, follows\nthe face (now)", "pixelate", "scaled"),
        ("blur, fixed\nsigma 25 (before)", "blur", "fixed"),
        ("blur, follows\nthe face (now)", "blur", "scaled"),
        ("solid (the only\nirreversible one)", "solid", "scaled"),
    ]
    header = [np.full((28, LABEL_W, 3), 255, np.uint8)]
    for width in WIDTHS:
        cell = np.full((28, TILE[0], 3), 255, np.uint8)
        cv2.putText(cell, f"face {width} px", (18, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        header.append(cell)
    lines = [np.hstack(header)]
    for text, style, rule in rows:
        cells = [label(text)]
        for width in WIDTHS:
            frame, masks, crop = face_frame(width)
            size = max(int(masks.boxes[0][2] - masks.boxes[0][0]), int(masks.boxes[0][3] - masks.boxes[0][1]))
            if style is None:
                cells.append(tile(frame.image[crop], ""))
                continue
            if rule == "fixed":
                # The old compositor: the floors alone, whatever the size (a value the config refuses,
                # set past validation for this picture only).
                config = RenderConfig(style=style, **fixed, pixelate_block=16, blur_strength=25)
                config = config.model_copy(update={"max_blocks_across": 10**6})
            else:
                config = RenderConfig(style=style, **fixed)
            image = Compositor(config).redact_regions(frame, masks).image
            if style == "pixelate":
                block = 16 if rule == "fixed" else pixel_block(size, floor=16, blocks_across=8)
                caption = f"{width / block:.1f} blocks across"
            elif style == "blur":
                sigma = 25.0 if rule == "fixed" else scaled_strength(size, floor=25, blocks_across=8)
                caption = f"sigma {sigma:.0f} = w / {width / sigma:.1f}"
            else:
                caption = ""
            cells.append(tile(image[crop], caption))
        lines.append(np.hstack(cells))
    figure = np.vstack(lines)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, figure, [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"wrote {args.out} ({figure.shape[1]}x{figure.shape[0]})")


if __name__ == "__main__":
    main()
