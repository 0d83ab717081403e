"""TEST DOUBLE, not a detector: a shared model whose sessions answer with the *true* secret pixels of
the picture, so the cluster tests check placement and fail-closed moves alone, not the CPU detector's
misses. Picklable: Ray sends it to each worker process.

Two scenes: the demo source's (its face, known from the frame index), and the RTSP test camera's
(:class:`tests.fakes.Scene`, 160x120, whose secrets are known from the index drawn in its pixels:
RTSP renumbers frames). A frame of the RTSP scene's size is answered from that scene.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np

from livefilter.errors import EngineError
from livefilter.sources.scene import Scene, SceneSpec
from livefilter.types import Frame, MaskSet, Prompt
from tests.fakes import Scene as RtspScene
from tests.fakes import decode_index

RTSP_SCENE = RtspScene(speed=0.0, speed_y=0.0)
"""What the test cameras publish to the RTSP server (a square and a stripe: its secrets). They stand
still: following motion is the RTSP pipeline tests' subject (tests/io), moves between workers these'."""


class DemoTruthEngine:
    name = "demo-truth"

    def __init__(self, spec: SceneSpec, prompts: Sequence[Prompt], delay_s: float) -> None:
        self.scene = Scene(spec)
        self.labels = [p.text for p in prompts]
        self.delay_s = delay_s

    def open(self) -> None:
        pass

    def infer(self, frame: Frame) -> MaskSet:
        time.sleep(self.delay_s)
        if frame.image.shape[:2] == (RTSP_SCENE.height, RTSP_SCENE.width):
            secrets = ["square", "stripe"] if "face" in self.labels else []
            truth = RTSP_SCENE.truth(decode_index(frame.image), secrets, t_capture=frame.t_capture, fps=self.scene.spec.fps)
            return MaskSet(
                masks=truth.masks, scores=truth.scores, labels=("face",) * len(secrets), object_ids=truth.object_ids,
                frame_index=frame.index, t_capture=frame.t_capture, velocities=truth.velocities,
            )
        truth = self.scene.render(frame.index)
        masks = truth.face_masks if "face" in self.labels else np.zeros((0, *frame.image.shape[:2]), np.bool_)
        count = len(masks)
        return MaskSet(
            masks=masks, scores=np.ones(count, np.float32), labels=("face",) * count,
            object_ids=np.arange(1, count + 1), frame_index=frame.index, t_capture=frame.t_capture,
            velocities=truth.velocities[:count].astype(np.float32) if count else None,
        )

    def set_prompts(self, prompts: Sequence[Prompt]) -> None:
        self.labels = [p.text for p in prompts]

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class DemoTruthModel:
    """``model=`` for the daemon and the cluster: every camera shows the demo scene of ``spec``."""

    name = "demo-truth"

    def __init__(self, spec: SceneSpec, delay_s: float = 0.03, open_delay_s: float = 0.0) -> None:
        self.spec, self.delay_s, self.open_delay_s = spec, delay_s, open_delay_s

    def __call__(self) -> DemoTruthModel:
        return DemoTruthModel(self.spec, self.delay_s, self.open_delay_s)

    def open(self) -> None:
        time.sleep(self.open_delay_s)

    def session(self, prompts: Sequence[Prompt]) -> DemoTruthEngine:
        return DemoTruthEngine(self.spec, prompts, self.delay_s)

    def close(self) -> None:
        pass


class SecondFailsModel(DemoTruthModel):
    """A model that loads in the first worker only: in every later one ``open`` fails (a marker file
    counts the workers), with a password in its message as a download URL would carry."""

    def __init__(self, spec: SceneSpec, marker: str, password: str) -> None:
        super().__init__(spec)
        self.marker, self.password = marker, password

    def __call__(self) -> SecondFailsModel:
        return self

    def open(self) -> None:
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            raise EngineError(f"cannot load the weights from https://models:{self.password}@weights.example/m") from None
