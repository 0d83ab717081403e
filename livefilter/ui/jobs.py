"""What the UI's image and video tabs run: the CLI's own file jobs, with results kept in memory.

Gradio-free, so it is tested without a browser. Each job builds a config the way
``livefilter image`` / ``livefilter video`` do (exact mode: each frame with the masks computed
on it) and runs it through :func:`~livefilter.pipeline.build_pipeline`; the UI adds a
:class:`KeepLast` sink beside the file sink, so what it shows is what the file holds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from livefilter.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, video_frame_count
from livefilter.config import Config
from livefilter.config.loader import parse_config, with_overrides
from livefilter.errors import ConfigError, SourceError
from livefilter.lifecycle import Lifecycle
from livefilter.sinks.base import require_redacted
from livefilter.types import MaskSet, Prompt, RedactedFrame
from livefilter.ui.clicks import ClickZones, Mark, send_marks

__all__ = [
    "ImageResult",
    "JobSettings",
    "KeepLast",
    "Progress",
    "VideoResult",
    "check_upload",
    "first_frame",
    "overlay",
    "redact_image",
    "redact_video",
]


@dataclass(frozen=True, slots=True)
class JobSettings:
    """The controls every tab shares.

    Attributes:
        prompts: (text, confidence) pairs; blank texts are ignored.
        style: blur, pixelate or solid.
        strength: blur sigma or pixelate block size, in pixels (unused by solid).
        dilation_px: grow every mask by this many pixels.
        engine: auto, cpu-face or sam3.
        sam3_model: SAM3 weights (hub id or folder) when ``engine`` is sam3; "" = the default.
    """

    prompts: tuple[tuple[str, float], ...] = (("face", 0.5),)
    style: str = "blur"
    strength: float = 25.0
    dilation_px: int = 6
    engine: str = "auto"
    sam3_model: str = ""

    def overrides(self) -> dict[str, Any]:
        """Dotted config overrides, validated later by the config models like any YAML file."""
        prompts = [{"text": text.strip(), "threshold": float(conf)} for text, conf in self.prompts if text.strip()]
        if not prompts:
            raise ConfigError("prompts: type at least one thing to hide (e.g. face)")
        overrides: dict[str, Any] = {
            "prompts": prompts,
            "render.style": self.style,
            "render.dilation_px": int(self.dilation_px),
            "engine.kind": self.engine,
        }
        if self.style == "blur":
            overrides["render.blur_strength"] = float(self.strength)
        elif self.style == "pixelate":
            overrides["render.pixelate_block"] = max(2, round(self.strength))
        if self.engine == "sam3" and self.sam3_model.strip():
            overrides["engine.sam3.model"] = self.sam3_model.strip()
        return overrides

    def config(self, **sections: Any) -> Config:
        """A validated config from these settings plus ``sections`` (dotted keys)."""
        return parse_config(with_overrides({}, {**self.overrides(), **sections}), origin="the UI's settings")


class KeepLast(Lifecycle):
    """A lossless sink that counts the frames it gets and keeps only the last (bounded memory)."""

    name = "ui"
    lossless = True

    def __init__(self) -> None:
        self.count = 0
        self.fully_redacted = 0
        self.last: RedactedFrame | None = None

    def open(self) -> None:
        pass

    def write(self, frame: RedactedFrame) -> None:
        require_redacted(frame, "KeepLast.write")
        self.last = frame
        self.count += 1
        self.fully_redacted += frame.fully_redacted

    def close(self) -> None:
        pass


def check_upload(path: str | None, extensions: Sequence[str], what: str) -> Path:
    """The uploaded file, or a ConfigError saying what was expected."""
    if not path:
        raise ConfigError(f"no {what} uploaded: choose a file ({', '.join(extensions)})")
    file = Path(path)
    if file.suffix.lower() not in extensions:
        raise ConfigError(
            f"{file.name}: not {'an' if what[0] in 'aeiou' else 'a'} {what} file; "
            f"upload one of {', '.join(extensions)}"
        )
    return file


@dataclass(frozen=True, slots=True)
class ImageResult:
    """``frame``: the redacted picture (as written to ``path``); ``masks``: what was found."""

    frame: RedactedFrame
    masks: MaskSet | None
    path: Path


def redact_image(upload: str | None, settings: JobSettings, out_dir: Path) -> ImageResult:
    """``livefilter image`` on ``upload``: the redacted image in memory and in ``out_dir``."""
    source = check_upload(upload, IMAGE_EXTENSIONS, "image")
    out = Path(out_dir) / f"{source.stem}-redacted.png"
    config = settings.config(
        source={"kind": "image", "path": str(source), "frames": 1, "realtime": False},
        sinks=[{"kind": "image", "path": str(out)}],
        **{"render.mode": "exact"},
    )
    from livefilter.pipeline import build_pipeline

    keep = KeepLast()
    pipeline = build_pipeline(config, extra_sinks=[keep])
    pipeline.run()
    if keep.last is None:
        raise ConfigError(f"{source.name}: nothing was produced (is it an image?)")
    return ImageResult(keep.last, pipeline.latest_masks(), out)


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a video job is: frames published, of ``total`` (None if the header does not say)."""

    done: int
    total: int | None
    elapsed_s: float

    @property
    def fps(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        if self.total is None or self.fps <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.fps)

    def describe(self) -> str:
        """Example:
        >>> Progress(50, 200, 2.0).describe()
        'frame 50 / 200 · 25.0 fps · ETA 6 s'
        """
        of = f" / {self.total}" if self.total is not None else ""
        eta = f" · ETA {self.eta_s:.0f} s" if self.eta_s is not None else ""
        return f"frame {self.done}{of} · {self.fps:.1f} fps{eta}"


@dataclass(frozen=True, slots=True)
class VideoResult:
    path: Path
    frames: int
    fully_redacted: int
    seconds: float
    input_frames: int | None = field(default=None)


def first_frame(upload: str | None, out_dir: Path) -> Path:
    """The video's first frame as a PNG in ``out_dir`` (for the image job to redact: it is never
    shown as it is)."""
    import av
    import cv2

    source = check_upload(upload, VIDEO_EXTENSIONS, "video")
    try:
        with av.open(str(source)) as container:
            picture = next(container.decode(video=0)).to_ndarray(format="bgr24")
    except (av.FFmpegError, StopIteration, IndexError, OSError) as exc:
        raise SourceError(f"{source.name}: cannot read a video frame ({exc}); expected an H.264/H.265/VP9 video") from None
    out = Path(out_dir) / f"{source.stem}-frame0.png"
    cv2.imwrite(str(out), picture)
    return out


def redact_video(
    upload: str | None,
    settings: JobSettings,
    out_dir: Path,
    on_progress: Callable[[Progress], None] = lambda p: None,
    poll_s: float = 0.25,
    marks: Sequence[Mark] = (),
) -> VideoResult:
    """``livefilter video`` on ``upload`` (every frame, audio copied); ``on_progress`` is called
    on the calling thread every ``poll_s`` while the pipeline runs on its own threads.

    ``marks``: clicks and boxes made on the first frame: SAM3 tracks them from frame 0 on
    (its click API); with the CPU engine they are static zones redacted on every frame.
    """
    source = check_upload(upload, VIDEO_EXTENSIONS, "video")
    out = Path(out_dir) / f"{source.stem}-redacted.mp4"
    config = settings.config(
        source={"kind": "file", "path": str(source), "realtime": False},
        sinks=[{"kind": "file", "path": str(out), "audio_from": str(source)}],
        **{"render.mode": "exact"},
    )
    from livefilter.engines import create_engine, resolve_engine_kind
    from livefilter.pipeline import build_pipeline

    options: dict[str, Any] = {}
    if marks:
        kind = resolve_engine_kind(config.engine)
        if kind == "sam3":

            def engine_with_marks(prompts: Sequence[Prompt]) -> Any:
                engine = create_engine(config.engine, prompts, kind=kind)
                send_marks(engine, marks, frame_index=0)
                return engine

            options["engine_factory"] = engine_with_marks
        else:
            width, height = _video_size(source)
            options["static_mask"] = ClickZones.from_marks(marks, (width, height))
    keep = KeepLast()
    pipeline = build_pipeline(config, extra_sinks=[keep], **options)
    total = video_frame_count(str(source))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            pipeline.run()
        except BaseException as exc:  # handed to the caller's thread below
            errors.append(exc)

    started = time.monotonic()
    worker = threading.Thread(target=run, name="ui:video", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(poll_s)
            on_progress(Progress(keep.count, total, time.monotonic() - started))
    finally:
        if worker.is_alive():  # the caller gave up (e.g. the browser left): stop the job
            pipeline.stop()
            worker.join()
    if errors:
        raise errors[0]
    return VideoResult(out, keep.count, keep.fully_redacted, time.monotonic() - started, total)


def _video_size(path: Path) -> tuple[int, int]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return int(stream.width), int(stream.height)


_PALETTE = np.array(
    [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
     (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)],
    np.uint8,
)  # RGB, one colour per object id


def object_color(object_id: int) -> tuple[int, int, int]:
    """The RGB colour object ``object_id`` is outlined in (stable across frames)."""
    r, g, b = _PALETTE[int(object_id) % len(_PALETTE)]
    return int(r), int(g), int(b)


def display_id(object_id: int) -> str:
    """A short name for an object id: SAM3's click objects (ids from ``CLICK_ID_BASE``) as ``cN``.

    Example:
        >>> display_id(3), display_id((1 << 40) + 2)
        ('3', 'c2')
    """
    from livefilter.engines.sam3 import CLICK_ID_BASE

    return f"c{object_id - CLICK_ID_BASE}" if object_id >= CLICK_ID_BASE else str(object_id)


def overlay(frame: RedactedFrame, masks: MaskSet | None) -> np.ndarray:
    """RGB picture for checking: the *redacted* image with each object's mask tinted and outlined
    in its colour and labelled ``#id label score``. Never drawn on the raw frame."""
    import cv2

    rgb = np.ascontiguousarray(frame.image[..., ::-1])
    if masks is None or len(masks) == 0 or masks.shape != (frame.height, frame.width):
        return rgb
    out = rgb.copy()
    for mask, object_id, label, score, box in zip(
        masks.masks, masks.object_ids.tolist(), masks.labels, masks.scores.tolist(), masks.boxes.tolist()
    ):
        color = object_color(object_id)
        tint = out[mask].astype(np.uint16) + np.array(color, np.uint16)
        out[mask] = (tint // 2).astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, color, 2)
        text = f"#{display_id(object_id)} {label} {score:.2f}"
        x, y = box[0], max(box[1] - 6, 14)
        cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
    return out
