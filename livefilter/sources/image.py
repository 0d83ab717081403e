"""``kind: image``: a still photo as a stream of ``frames`` identical frames at ``fps``."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from livefilter.config.source import ImageSourceConfig
from livefilter.errors import InputError, SourceError
from livefilter.lifecycle import Lifecycle
from livefilter.sources.pacing import Pacer
from livefilter.types import Frame

__all__ = ["ImageSource", "read_image"]


def read_image(path: Path) -> np.ndarray:
    """The image at ``path`` as HxWx3 uint8 BGR; InputError naming the file otherwise."""
    if not path.is_file():
        raise InputError(f"image {path} does not exist; check the path")
    # imdecode instead of imread: works for any path encoding and reports failure plainly.
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot decode the image {path}; expected a .jpg, .png, .bmp, .webp or .tiff file")
    return image


class ImageSource(Lifecycle):
    """Repeats one image; ``read()`` returns None after ``frames`` frames (never if null)."""

    def __init__(self, config: ImageSourceConfig) -> None:
        self.config = config
        self.path = Path(config.path).expanduser()
        self.name = f"image:{self.path.name}"
        self._image: np.ndarray | None = None
        self._index = 0
        self._pacer = Pacer()

    @property
    def nominal_fps(self) -> float:
        return self.config.fps

    @property
    def live(self) -> bool:
        return self.config.realtime

    def open(self) -> None:
        image = read_image(self.path)
        image.flags.writeable = False  # shared by every frame
        self._image = image
        self._index = 0
        self._pacer.reset()

    def read(self) -> Frame | None:
        if self._image is None:
            raise SourceError(f"image source: read() called before open() on {self.path}")
        index = self._index
        if self.config.frames is not None and index >= self.config.frames:
            return None
        pts = index / self.config.fps
        if self.config.realtime:
            self._pacer.wait(pts)
        self._index += 1
        return Frame(image=self._image, index=index, t_capture=time.monotonic(), pts=pts, source=self.name)

    def close(self) -> None:
        self._image = None
