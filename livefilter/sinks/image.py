"""``kind: image``: still images, one per frame when ``path`` contains ``{index}``,
otherwise the newest frame, replaced atomically (a viewer never sees half a file)."""

from __future__ import annotations

import logging
import os
import string
from pathlib import Path

import cv2

from livefilter.config.sinks import ImageSinkConfig
from livefilter.errors import SinkError
from livefilter.lifecycle import Lifecycle
from livefilter.sinks.base import require_redacted
from livefilter.types import RedactedFrame

__all__ = ["ImageSink"]

logger = logging.getLogger(__name__)


def _placeholders(pattern: str) -> set[str]:
    """Names of the ``{...}`` fields in ``pattern`` (ValueError when braces do not pair up)."""
    return {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}


class ImageSink(Lifecycle):
    """Writes ``path`` (e.g. ``latest.jpg``) or ``frames/{index:06d}.png`` (every frame).

    ``lossless`` is True only in the one-file-per-frame mode: a "latest" image may skip.
    """

    def __init__(self, config: ImageSinkConfig, *, fps: float) -> None:
        self.config = config
        self.fps = fps
        self.template = str(Path(config.path).expanduser())
        try:
            self.per_frame = "index" in _placeholders(config.path)
        except ValueError:
            self.per_frame = False  # open() reports the broken pattern
        self.lossless = self.per_frame
        self.name = f"image:{Path(config.path).name}"
        self._open = False
        self._frames = 0

    @property
    def frames_written(self) -> int:
        return self._frames

    def _path(self, index: int) -> Path:
        return Path(self.template.format(index=index) if self.per_frame else self.template)

    def open(self) -> None:
        pattern = self.config.path
        try:
            unknown = _placeholders(pattern) - {"index"}
            if unknown:
                raise SinkError(
                    f"image sink: path {pattern!r} has a placeholder other than {{index}} "
                    f"({', '.join(sorted(unknown))}); use e.g. frames/{{index:06d}}.png"
                )
            first = self._path(0)
        except ValueError as error:
            raise SinkError(f"image sink: path {pattern!r} is not a valid pattern ({error})") from None
        if not cv2.haveImageWriter(str(first)):
            raise SinkError(
                f"image sink: cannot write {first.suffix or 'files without a suffix'}; use .png, .jpg or .bmp"
            )
        self._open = True

    def write(self, frame: RedactedFrame) -> None:
        require_redacted(frame, "ImageSink.write")
        if not self._open:
            raise SinkError(f"image sink {self.template}: write() called before open() or after close()")
        path = self._path(frame.index)
        ok, encoded = cv2.imencode(path.suffix, frame.image)
        if not ok:
            raise SinkError(f"image sink: OpenCV could not encode frame {frame.index} as {path.suffix}")
        partial = path.with_name(f".{path.name}.partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(encoded.tobytes())
            os.replace(partial, path)
        except OSError as error:
            raise SinkError(f"image sink: cannot write {path} ({error})") from error
        self._frames += 1

    def close(self) -> None:
        if self._open and self._frames:
            logger.info("image sink %s: wrote %d frame(s)", self.template, self._frames)
        self._open = False
