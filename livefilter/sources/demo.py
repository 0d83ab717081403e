"""``kind: demo``: the synthetic scene as a video source, so livefilter runs with no camera.

Frame ``i`` is :meth:`Scene.render(i) <livefilter.sources.scene.Scene.render>`, so the
exact face masks of any frame the pipeline saw can be rebuilt from its index
(``source.scene.render(frame.index).face_masks``).
"""

from __future__ import annotations

import time
from pathlib import Path

from livefilter.config.source import DemoSourceConfig
from livefilter.errors import SourceError
from livefilter.lifecycle import Lifecycle
from livefilter.sources.image import read_image
from livefilter.sources.pacing import Pacer
from livefilter.sources.scene import Scene, SceneSpec
from livefilter.types import Frame

__all__ = ["DemoSource"]


class DemoSource(Lifecycle):
    """A face moving over a background, behind a bar, paced like a camera when ``realtime``.

    Example:
        >>> source = DemoSource(DemoSourceConfig(width=160, height=90, duration_s=0.1, realtime=False))
        >>> source.open()
        >>> [frame.pts for frame in iter(source.read, None)]
        [0.0, 0.03333333333333333, 0.06666666666666667]
        >>> source.close()
    """

    def __init__(self, config: DemoSourceConfig) -> None:
        self.config = config
        self.name = "demo"
        self._scene: Scene | None = None
        self._index = 0
        self._pacer = Pacer()
        duration = config.duration_s
        self._frames = None if duration is None else max(1, round(duration * config.fps))

    @property
    def nominal_fps(self) -> float:
        return self.config.fps

    @property
    def live(self) -> bool:
        return self.config.realtime

    @property
    def scene(self) -> Scene | None:
        """The scene being played (None until opened): ground truth for any frame index."""
        return self._scene

    def open(self) -> None:
        config = self.config
        spec = SceneSpec(
            width=config.width, height=config.height, fps=config.fps, faces=config.faces, seed=config.seed
        )
        background = None if config.background is None else read_image(Path(config.background).expanduser())
        self._scene = Scene(spec, background=background)
        self._index = 0
        self._pacer.reset()

    def read(self) -> Frame | None:
        if self._scene is None:
            raise SourceError("demo source: read() called before open() (or after close())")
        index = self._index
        if self._frames is not None and index >= self._frames:
            return None
        pts = index / self.config.fps
        image = self._scene.render(index).image
        if self.config.realtime:
            self._pacer.wait(pts)
        self._index += 1
        return Frame(image=image, index=index, t_capture=time.monotonic(), pts=pts, source=self.name)

    def close(self) -> None:
        self._scene = None
