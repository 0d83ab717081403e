"""Read back what a camera's image sink wrote, while it runs, and judge every frame against the scene.

Each camera writes ``frames/{index:06d}.png``; a camera that moves to another worker starts
again at index 0 and overwrites, so a :class:`FrameWatcher` thread reads every new version of
every file as it appears (the sink replaces files atomically). The demo scene is rebuilt from the
camera's source settings: frame ``i``'s raw picture and the exact pixels of its face.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from livefilter.sources.scene import Scene, SceneSpec

DEMO = {"kind": "demo", "width": 320, "height": 180, "fps": 10.0, "duration_s": None}
LEAK_TOLERANCE = 0
"""Face pixels a published frame may show exactly as the camera saw them."""


@dataclass(frozen=True)
class Seen:
    """One published frame: when it was read, its index, how it looked, and when its file was written."""

    t: float
    index: int
    kind: str  # "full": fully redacted; "masked": the picture with the face hidden; "leak"
    leaked: int
    written: float  # the version's modification time (wall clock, ``time.time()``): it was written then or later


class Judge:
    """Classifies a published frame of the demo scene (``render.style`` and ``fail_closed_style`` solid)."""

    def __init__(self, source: dict = DEMO) -> None:
        self.scene = Scene(SceneSpec(width=source["width"], height=source["height"], fps=source["fps"]))
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def truth(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index not in self._cache:
            frame = self.scene.render(index)
            self._cache[index] = (frame.image, frame.face_masks.any(axis=0))
        return self._cache[index]

    def reappears(self, index: int, within: int = 5) -> bool:
        """The face came out from behind the bar on one of the last ``within`` frames.

        At 10 fps it moves ~30 px a frame, and the low-latency render shows a new frame with the
        newest masks it has, which may be up to ``render.max_mask_age_ms`` (500 ms: 5 frames) old:
        from the frames where the face was hidden, they hold nothing, even from an exact engine.
        Such frames are not judged for leaks (the render's limit, not the cluster's); the others,
        most of them, are.
        """
        for j in range(max(index - within + 1, 1), index + 1):
            if int(self.truth(j - 1)[1].sum()) < int(self.truth(j)[1].sum()) // 2:
                return True
        return False

    def __call__(self, image: np.ndarray, index: int) -> tuple[str, int]:
        raw, face = self.truth(index)
        same = np.abs(image.astype(np.int16) - raw.astype(np.int16)).max(axis=-1) <= 4
        leaked = int((same & face).sum())
        if float(image.reshape(-1, 3).std(axis=0).max()) < 2.0:
            return "full", leaked
        if leaked > LEAK_TOLERANCE and not self.reappears(index):
            return "leak", leaked
        return "masked", leaked


class FrameWatcher:
    """Reads every version of every frame file under ``folder`` until :meth:`stop`."""

    def __init__(self, folder: Path, judge: Judge) -> None:
        self.folder, self.judge = folder, judge
        self.seen: list[Seen] = []
        self._versions: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch:{folder.name}", daemon=True)

    def start(self) -> FrameWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._scan()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self._scan()

    def _scan(self) -> None:
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return
        for entry in sorted(entries, key=lambda e: e.name):
            if not entry.name.endswith(".png") or entry.name.startswith("."):
                continue
            try:
                version = entry.stat().st_mtime_ns
            except FileNotFoundError:
                continue
            if self._versions.get(entry.name) == version:
                continue
            image = cv2.imread(entry.path)
            if image is None:
                continue
            self._versions[entry.name] = version
            index = int(entry.name.split(".")[0])
            kind, leaked = self.judge(image, index)
            self.seen.append(Seen(time.monotonic(), index, kind, leaked, version / 1e9))

    def since(self, t: float) -> list[Seen]:
        return [s for s in list(self.seen) if s.t >= t]

    def new_session(self, moved_at: float) -> tuple[Seen | None, Seen | None]:
        """A moved camera's new session: its first frame, and its first masked one (None: not yet).

        Told by write time: frames written at or after ``moved_at`` (wall clock, taken once the
        placement showed the new worker). The lost worker writes nothing by then: the controller
        moves a camera only once the lease it last granted that worker has run out, and its sinks
        refuse every frame without one (test_partition checks that, and the one in-flight frame).
        Not the new session's frame numbers starting again at 0: the old session may have published
        only a few frames when the worker was lost, and the new one's first published frame (the
        newest one at its first render tick) may already be numbered past them. Before its first
        masks the new session publishes fully redacted frames.
        """
        new = [s for s in list(self.seen) if s.written >= moved_at]
        return (new[0] if new else None), next((s for s in new if s.kind == "masked"), None)
