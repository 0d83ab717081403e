"""Test media for the UI: a real face photo (scikit-image's public-domain astronaut) moving over a
background, with the frame index drawn as bits in the top rows, so a picture the page receives
can be matched with the frame it came from and its face region checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 640, 480
BITS, BIT_W, BIT_H = 12, 16, 12
PATCH = (0, 240, 110, 350)  # y0, y1, x0, x1 of the astronaut image pasted (head and shoulders)
FACE = (185, 60, 265, 170)  # x0, y0, x1, y1: inside the face, in astronaut coordinates (hand-checked)


def astronaut_bgr() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[..., ::-1])


def background() -> np.ndarray:
    """A face-free BGR background: smooth gradients and a coarse grid."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    bg = np.stack([(x * 255 // WIDTH), (y * 255 // HEIGHT), np.full_like(x, 90)], axis=-1).astype(np.uint8)
    bg[(x // 40 + y // 40) % 2 == 0] //= 2
    return bg


def patch_origin(index: int) -> tuple[int, int]:
    """Top-left of the pasted photo in frame ``index``: left and right along a triangle wave."""
    span = WIDTH - (PATCH[3] - PATCH[2])
    phase = (index * 6) % (2 * span)
    x = phase if phase <= span else 2 * span - phase
    return int(x), 180


def face_box(index: int) -> tuple[int, int, int, int]:
    """Where the inner face region is in frame ``index`` (frame pixels, half-open)."""
    ox, oy = patch_origin(index)
    return (ox + FACE[0] - PATCH[2], oy + FACE[1] - PATCH[0], ox + FACE[2] - PATCH[2], oy + FACE[3] - PATCH[0])


def face_template() -> np.ndarray:
    """The raw inner face, grayscale: what must never be found in a picture the page receives."""
    import cv2

    return cv2.cvtColor(astronaut_bgr()[FACE[1] : FACE[3], FACE[0] : FACE[2]], cv2.COLOR_BGR2GRAY)


def frame(index: int) -> np.ndarray:
    image = background()
    ox, oy = patch_origin(index)
    photo = astronaut_bgr()[PATCH[0] : PATCH[1], PATCH[2] : PATCH[3]]
    image[oy : oy + photo.shape[0], ox : ox + photo.shape[1]] = photo[: HEIGHT - oy]
    for bit in range(BITS):  # each bit, and below it its complement (a check no redaction passes)
        on = (index >> bit) & 1
        image[0:BIT_H, bit * BIT_W : (bit + 1) * BIT_W] = 255 if on else 0
        image[BIT_H : 2 * BIT_H, bit * BIT_W : (bit + 1) * BIT_W] = 0 if on else 255
    return image


def decode_index(image: np.ndarray) -> int | None:
    """The index drawn in a (possibly rescaled, lossy) picture; None when the bits are unreadable
    (e.g. a fully redacted frame: each bit must be clear and its complement below it the opposite)."""
    h, w = image.shape[:2]
    sx, sy = w / WIDTH, h / HEIGHT
    value = 0
    for bit in range(BITS):
        x0, x1 = int((bit * BIT_W + 4) * sx), int(((bit + 1) * BIT_W - 4) * sx)
        cell = image[int(3 * sy) : int((BIT_H - 3) * sy), x0:x1].astype(np.float32).mean()
        check = image[int((BIT_H + 3) * sy) : int((2 * BIT_H - 3) * sy), x0:x1].astype(np.float32).mean()
        if not ((cell < 60 and check > 195) or (cell > 195 and check < 60)):
            return None
        value |= int(cell >= 128) << bit
    return value


def write_y4m(path: Path, frames: int, fps: int = 15) -> Path:
    """An uncompressed 4:2:0 clip for Chromium's fake camera."""
    import cv2

    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame(i), cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def write_mp4(path: Path, frames: int, fps: int = 15, audio: bool = True) -> Path:
    """An H.264 clip (with a sine tone when ``audio``), near-lossless so pixels can be compared."""
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"crf": "10", "preset": "ultrafast"}
        sound = container.add_stream("aac", rate=44100) if audio else None
        for i in range(frames):
            for packet in video.encode(av.VideoFrame.from_ndarray(frame(i), format="bgr24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            samples = int(44100 * frames / fps)
            t = np.arange(samples) / 44100
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            chunk = 1024
            for start in range(0, samples, chunk):
                af = av.AudioFrame.from_ndarray(tone[:, start : start + chunk].copy(), format="fltp", layout="mono")
                af.sample_rate = 44100
                af.pts = start
                for packet in sound.encode(af):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    return path
