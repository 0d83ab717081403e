"""``kind: file``: decode a video file with PyAV (FFmpeg), keeping each frame's timestamp.

Frames carry their media timestamp (``Frame.pts``, seconds) so the file sink can write
the redacted video frame-exact: same frame count, same timestamps, even for
variable-frame-rate input. With ``realtime`` the file plays like a camera, paced by
those timestamps; with ``loop`` it starts again at the end and timestamps keep rising.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livefilter.av_errors import describe
from livefilter.config.source import FileSourceConfig
from livefilter.errors import InputError, SourceError
from livefilter.lifecycle import Lifecycle
from livefilter.sources.pacing import Pacer
from livefilter.types import Frame

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["FileSource", "VideoInfo", "probe_video"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the container says about its first video stream.

    ``frame_count`` is exact when ``counted`` (the container's index says it), otherwise an
    estimate from the duration (or None).
    """

    width: int
    height: int
    fps: float | None
    frame_count: int | None
    duration_s: float | None
    counted: bool = False


def _open_input(path: Path) -> Any:
    """Open ``path`` with PyAV; every failure becomes an InputError naming the file."""
    import av

    if not path.exists():
        raise InputError(f"file source: {path} does not exist (source.path); check the path")
    if not path.is_file():
        raise InputError(f"file source: {path} is not a file (source.path)")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise InputError(
            f"file source: cannot read {path} as a video ({describe(error)}); is it a video file?"
        ) from error
    if not container.streams.video:
        container.close()
        raise InputError(f"file source: {path} has no video stream")
    return container


def _info(container: Any) -> VideoInfo:
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    else:
        duration = None
    if stream.frames:
        count: int | None = int(stream.frames)
    elif duration is not None and fps is not None:
        count = round(duration * fps)
    else:
        count = None
    return VideoInfo(stream.width, stream.height, fps, count, duration, counted=bool(stream.frames))


def ended_early(decoded: int, info: VideoInfo) -> bool:
    """Whether a pass that decoded ``decoded`` frames stopped short of what the index promises.

    Only an exact count (from the container's index) is trusted; a frame or two (or 1 %)
    may legitimately be cut by edit lists.

    Example:
        >>> info = VideoInfo(64, 48, 24.0, 241, 10.0, counted=True)
        >>> ended_early(109, info), ended_early(240, info)
        (True, False)
    """
    if not info.counted or info.frame_count is None:
        return False
    return decoded < info.frame_count - max(2, info.frame_count // 100)


def probe_video(path: str | Path) -> VideoInfo:
    """Size, rate, frame count (an estimate when the container has no index) and duration."""
    container = _open_input(Path(path).expanduser())
    try:
        return _info(container)
    finally:
        container.close()


class FileSource(Lifecycle):
    """Reads a video file frame by frame. ``read()`` returns None at the end (unless ``loop``)."""

    def __init__(self, config: FileSourceConfig) -> None:
        self.config = config
        self.path = Path(config.path).expanduser()
        self.name = f"file:{self.path.name}"
        self._container: Any = None
        self._frames: Iterator[Any] | None = None
        self._info: VideoInfo | None = None
        self._pacer = Pacer()
        self._index = 0
        self._offset = 0.0  # added to the file's timestamps on each loop pass
        self._last_pts: float | None = None
        self._pass_frames = 0

    @property
    def info(self) -> VideoInfo:
        """Probed on first use (opening the file briefly if the source is not open)."""
        if self._info is None:
            self._info = probe_video(self.path)
        return self._info

    @property
    def nominal_fps(self) -> float | None:
        return self.info.fps

    @property
    def frame_count(self) -> int | None:
        """Frames in one pass of the file (from the index, or duration x fps as an estimate)."""
        return self.info.frame_count

    @property
    def live(self) -> bool:
        return self.config.realtime

    @property
    def _interval(self) -> float:
        return 1.0 / (self.info.fps or 30.0)

    def open(self) -> None:
        self.close()
        self._start_pass()
        self._info = _info(self._container)
        self._index = 0
        self._offset = 0.0
        self._last_pts = None
        self._pacer.reset()

    def _start_pass(self) -> None:
        container = _open_input(self.path)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        self._container = container
        self._frames = container.decode(stream)
        self._pass_frames = 0

    def _next_decoded(self) -> Any | None:
        import av

        if self._frames is None:
            raise SourceError(f"file source: read() called before open() on {self.path}")
        try:
            return next(self._frames)
        except StopIteration:
            info = self.info
            if ended_early(self._pass_frames, info):
                raise InputError(
                    f"file source: {self.path} ended early, after {self._pass_frames} of the "
                    f"{info.frame_count} frames its index lists (the file looks truncated or damaged); "
                    "the frames before that were written"
                ) from None
            return None
        except av.FFmpegError as error:
            raise InputError(
                f"file source: cannot decode {self.path} after {self._pass_frames} frames ({describe(error)}); "
                "the file may be damaged; the frames before that were written"
            ) from error

    def read(self) -> Frame | None:
        decoded = self._next_decoded()
        if decoded is None and self.config.loop and self._pass_frames > 0:
            self._container.close()
            self._start_pass()
            decoded = self._next_decoded()
            if decoded is not None and decoded.time is not None and self._last_pts is not None:
                self._offset = self._last_pts + self._interval - decoded.time
        if decoded is None:
            return None
        self._pass_frames += 1

        if decoded.time is not None:
            pts = decoded.time + self._offset
        elif self._last_pts is None:  # raw streams without timestamps: assume a constant rate
            pts = 0.0
        else:
            pts = self._last_pts + self._interval
        self._last_pts = pts
        image = decoded.to_ndarray(format="bgr24")
        if self.config.realtime:
            self._pacer.wait(pts)
        index = self._index
        self._index += 1
        return Frame(image=image, index=index, t_capture=time.monotonic(), pts=pts, source=self.name)

    def close(self) -> None:
        container, self._container, self._frames = self._container, None, None
        if container is not None:
            container.close()
