"""``kind: file``: write redacted frames to an H.264 video with PyAV (libx264, yuv420p).

Frame-exact: frames that carry a media timestamp (``pts``, from a file source) are
written at that timestamp, so the output has the input's frame count and timing, even
for variable frame rates. Frames without one are written back to back at ``fps``.
With ``audio_from``, the audio of that file (normally the input) is copied into the
output, interleaved with the video as it is written; it is re-encoded to AAC only when
the container cannot hold the original codec.
"""

from __future__ import annotations

import io
import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livefilter.config.sinks import FileSinkConfig
from livefilter.errors import SinkError
from livefilter.lifecycle import Lifecycle
from livefilter.sinks.base import require_redacted
from livefilter.types import RedactedFrame

__all__ = ["FileSink", "bgr_to_i420", "even_size"]

logger = logging.getLogger(__name__)

# Video timestamps are written in 1/90000 s (the MPEG clock): exact for 24, 25, 30,
# 50, 60 and NTSC 30000/1001 rates, and fine enough for any variable rate.
TIME_BASE = Fraction(1, 90_000)
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
# MP4/MOV round edit lists to the movie timescale (1/1000 s by default); use ours.
_MOV_SUFFIXES = (".mp4", ".mov", ".m4v")


# BT.601 limited range ("TV" levels), what the stream is tagged with and what FFmpeg
# assumes when decoding untagged video. Rows: output channel; columns: B, G, R, offset.
_BGR_TO_Y = np.array([[24.966, 128.553, 65.481, 16 * 255]]) / 255
_BGR_TO_UV = np.array([[112.0, -74.203, -37.797, 128 * 255], [-18.214, -93.786, 112.0, 128 * 255]]) / 255


def bgr_to_i420(image: np.ndarray) -> np.ndarray:
    """BGR (even sides) -> planar YUV 4:2:0, BT.601 limited range, chroma box-averaged.

    More accurate than swscale's default conversion (no colour bias, greys exact) and
    as fast. Returns the (H * 3 / 2, W) layout ``av.VideoFrame.from_ndarray`` expects.

    Example:
        >>> bgr_to_i420(np.full((2, 2, 3), 255, np.uint8)).ravel().tolist()
        [235, 235, 235, 235, 128, 128]
    """
    h, w = image.shape[:2]
    out = np.empty((h * 3 // 2, w), np.uint8)
    out[:h] = cv2.transform(image, _BGR_TO_Y)
    chroma = cv2.transform(cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA), _BGR_TO_UV)
    flat = out.reshape(-1)
    flat[h * w : h * w * 5 // 4] = chroma[:, :, 0].ravel()
    flat[h * w * 5 // 4 :] = chroma[:, :, 1].ravel()
    return out


def even_size(width: int, height: int) -> tuple[int, int]:
    """The nearest size at least as large with even sides (yuv420p needs them).

    Example:
        >>> even_size(641, 480)
        (642, 480)
    """
    return width + width % 2, height + height % 2


def _can_copy_audio(path: Path, format_name: str) -> bool:
    """Whether ``format_name`` holds ``path``'s audio as is: mux its first packet into a scratch file.

    Asking FFmpeg which codecs a format supports is not enough (it accepts PCM in MP4
    yet rejects some channel layouts only when the file is finalised).
    """
    import av

    with av.open(str(path)) as source_file:
        source = source_file.streams.audio[0]
        try:
            with av.open(io.BytesIO(), "w", format=format_name) as scratch:
                stream = scratch.add_stream_from_template(source)
                packet = next((p for p in source_file.demux(source) if p.dts is not None), None)
                if packet is not None:
                    packet.stream = stream
                    scratch.mux(packet)
        except (av.FFmpegError, ValueError):
            return False
    return True


class _AudioTrack:
    """The audio stream of another file, copied packet by packet into the output.

    Packets are read lazily and muxed as the video advances, so the file is
    interleaved and memory stays bounded however long the input is.
    """

    def __init__(self, path: Path, output: Any) -> None:
        import av

        self._input = av.open(str(path))
        source = self._input.streams.audio[0]
        self.copy = _can_copy_audio(path, output.format.name)
        if self.copy:
            self._stream = output.add_stream_from_template(source)
        else:
            # FFmpeg's AAC encoder takes planar float in a standard channel layout.
            channels = source.codec_context.channels or 2
            self._stream = output.add_stream(
                "aac", rate=source.rate or 48_000, layout=f"{channels}c", format="fltp"
            )
        self._output = output
        self._time_base = source.time_base
        self._decoder = source.codec_context
        self._packets = self._input.demux(source)
        self._pending: Any = None
        self.description = f"{source.codec_context.name} ({'copied' if self.copy else 'to aac'})"

    def pump(self, until_s: float, *, final: bool = False) -> None:
        """Mux audio that starts before ``until_s``; ``final`` also flushes the encoder."""
        while True:
            packet = self._pending if self._pending is not None else next(self._packets, None)
            self._pending = None
            if packet is None:
                break
            if packet.size == 0:  # the demuxer's end-of-stream marker
                continue
            start = packet.pts if packet.pts is not None else packet.dts
            if (
                start is not None
                and self._time_base is not None
                and float(start * self._time_base) >= until_s
            ):
                self._pending = packet
                break
            self._write(packet)
        if final and not self.copy:
            for frame in self._decoder.decode(None):
                self._encode(frame)
            self._encode(None)

    def _write(self, packet: Any) -> None:
        if self.copy:
            if packet.dts is None:  # cannot be placed in the output timeline
                return
            packet.stream = self._stream
            self._output.mux(packet)
            return
        for frame in self._decoder.decode(packet):
            self._encode(frame)

    def _encode(self, frame: Any) -> None:
        for out in self._stream.encode(frame):
            self._output.mux(out)

    def close(self) -> None:
        self._input.close()


class FileSink(Lifecycle):
    """Writes an H.264 video file; ``close()`` finalises it (writes the index).

    The video is written under a temporary name beside the output (``clip.partial.mp4``) and
    moved to its name by ``close()``, so a file at the output's name is always whole. A job
    stopped before its input ended (:meth:`mark_incomplete`, e.g. Ctrl-C in ``livefilter video``)
    keeps the frames written under the temporary name, and says so.
    """

    lossless = True

    def __init__(self, config: FileSinkConfig, *, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"FileSink fps: expected > 0, got {fps!r}")
        self.config = config
        self.fps = fps
        self.configured_path = Path(config.path).expanduser()
        self.path = self.configured_path  # the file being written (see open())
        self.name = f"file:{self.path.name}"
        self._parts = 0  # files this sink has finalised with frames in them
        self._container: Any = None
        self._video: Any = None
        self._audio: _AudioTrack | None = None
        self._audio_path: Path | None = None
        self._input_size: tuple[int, int] | None = None
        self._last_ticks: int | None = None
        self._last_index: int | None = None
        self._live_repeats = False
        self._step = max(1, round(1 / (fps * TIME_BASE)))
        self._frames = 0
        self._warned_pts = False
        self._incomplete = False

    @property
    def frames_written(self) -> int:
        return self._frames

    @property
    def partial_path(self) -> Path:
        """Where the video is written until ``close()`` moves it to :attr:`path`."""
        return self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")

    def mark_incomplete(self) -> None:
        """The job stopped before its input ended: ``close()`` leaves the file at :attr:`partial_path`."""
        self._incomplete = True

    def open(self) -> None:
        import av

        config = self.config
        if self._parts:
            # Reopened (e.g. after a write error): never overwrite what was already recorded.
            base = self.configured_path
            self.path = base.with_name(f"{base.stem}.{self._parts}{base.suffix}")
            logger.warning("file sink %s: reopened; the recording continues in %s", base, self.path)
        path = self.path
        if config.preset not in X264_PRESETS:
            raise SinkError(
                f"file sink {path}: preset {config.preset!r} is not an x264 preset; use one of {', '.join(X264_PRESETS)}"
            )
        if path.exists() and not config.overwrite:
            raise SinkError(
                f"file sink: {path} already exists and overwrite is false; remove it or set overwrite: true"
            )
        if path.is_dir():
            raise SinkError(f"file sink: {path} is a directory; give a file name such as {path / 'out.mp4'}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SinkError(f"file sink: cannot create the folder {path.parent} ({error})") from error
        if not os.access(path.parent, os.W_OK):
            raise SinkError(f"file sink: the folder {path.parent} is not writable")
        self._audio_path = self._check_audio_source()
        self._video, self._input_size, self._last_ticks, self._frames = None, None, None, 0
        self._last_index, self._live_repeats, self._incomplete = None, False, False
        options = (
            {"movie_timescale": str(TIME_BASE.denominator)} if path.suffix.lower() in _MOV_SUFFIXES else {}
        )
        try:
            self._container = av.open(str(self.partial_path), "w", options=options)
        except (av.FFmpegError, ValueError) as error:
            raise SinkError(
                f"file sink: cannot write {path} ({error}); use a video suffix such as .mp4, .mkv or .mov"
            ) from error
        if "libx264" not in self._container.supported_codecs:
            self._container.close()
            self._container = None
            raise SinkError(
                f"file sink: the {path.suffix} format cannot hold H.264 video; use .mp4, .mkv or .mov"
            )

    def _check_audio_source(self) -> Path | None:
        """The file to take audio from, or None (with one log line saying why)."""
        import av

        if self.config.audio_from is None:
            return None
        source = Path(self.config.audio_from).expanduser()
        if not source.is_file():
            raise SinkError(f"file sink {self.path}: audio_from {source} does not exist")
        try:
            with av.open(str(source)) as probe:
                has_audio = bool(probe.streams.audio)
        except av.FFmpegError as error:
            raise SinkError(f"file sink {self.path}: cannot read audio_from {source} ({error})") from error
        if not has_audio:
            logger.info("file sink %s: %s has no audio; writing video only", self.path, source)
            return None
        return source

    def _start(self, width: int, height: int) -> None:
        """Add the streams once the frame size is known (first frame)."""
        from av.video.reformatter import ColorRange, Colorspace

        out_w, out_h = even_size(width, height)
        if (out_w, out_h) != (width, height):
            logger.warning(
                "file sink %s: frames are %dx%d but H.264 (yuv420p) needs even sides; "
                "writing %dx%d with the last row/column repeated",
                self.path,
                width,
                height,
                out_w,
                out_h,
            )
        video = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
        video.width, video.height, video.pix_fmt = out_w, out_h, "yuv420p"
        video.codec_context.time_base = TIME_BASE
        video.codec_context.colorspace = Colorspace.ITU601
        video.codec_context.color_range = ColorRange.MPEG
        video.options = {"crf": str(self.config.crf), "preset": self.config.preset}
        self._video = video
        self._input_size = (width, height)
        if self._audio_path is not None:
            self._audio = _AudioTrack(self._audio_path, self._container)
            logger.info(
                "file sink %s: audio from %s, %s", self.path, self._audio_path, self._audio.description
            )

    def _ticks(self, pts: float | None, index: int) -> int:
        """The output timestamp: the frame's own, else the next slot at ``fps``; always rising.

        The same source frame shown again (``index`` repeats: a live render ticking faster than
        its source) goes in the next slot, and from then on the timeline runs ahead of the
        source's timestamps: that is a live recording, expected, so nothing is said.
        """
        last = self._last_ticks
        if index == self._last_index:
            self._live_repeats = True
        if pts is not None:
            ticks = round(pts / TIME_BASE)
            if last is None or ticks > last:
                return ticks
            if not self._live_repeats and not self._warned_pts:
                self._warned_pts = True
                logger.warning(
                    "file sink %s: a frame's timestamp (%.6f s) does not advance; writing such frames "
                    "1/fps after the previous one",
                    self.path,
                    pts,
                )
        return 0 if last is None else last + self._step

    def write(self, frame: RedactedFrame) -> None:
        import av

        require_redacted(frame, "FileSink.write")
        if self._container is None:
            raise SinkError(f"file sink {self.path}: write() called before open() or after close()")
        image = frame.image
        height, width = image.shape[:2]
        try:
            if self._video is None:
                self._start(width, height)
            elif (width, height) != self._input_size:
                first_w, first_h = self._input_size or (0, 0)
                raise SinkError(
                    f"file sink {self.path}: frame size changed from {first_w}x{first_h} "
                    f"to {width}x{height}; a video file has one size"
                )
            out_w, out_h = self._video.width, self._video.height
            if (out_w, out_h) != (width, height):
                image = cv2.copyMakeBorder(image, 0, out_h - height, 0, out_w - width, cv2.BORDER_REPLICATE)
            picture = av.VideoFrame.from_ndarray(bgr_to_i420(image), format="yuv420p")
            ticks = self._ticks(frame.pts, frame.index)
            picture.pts, picture.time_base = ticks, TIME_BASE
            for packet in self._video.encode(picture):
                self._container.mux(packet)
            self._last_ticks, self._last_index = ticks, frame.index
            self._frames += 1
            if self._audio is not None:
                self._audio.pump(float(ticks * TIME_BASE))
        except av.FFmpegError as error:
            raise SinkError(f"file sink {self.path}: cannot encode frame {frame.index} ({error})") from error

    def close(self) -> None:
        import av

        container, self._container = self._container, None
        if container is None:
            return
        audio, self._audio = self._audio, None
        try:
            if self._video is not None:
                for packet in self._video.encode(None):
                    container.mux(packet)
                if audio is not None and self._last_ticks is not None:
                    # The output is as long as the video: audio past its last frame is dropped.
                    audio.pump(float((self._last_ticks + self._step) * TIME_BASE), final=True)
            container.close()  # writes the trailer (the MP4 index)
        except av.FFmpegError as error:
            _close_quietly(container)
            raise SinkError(f"file sink {self.path}: cannot finalise the video ({error})") from error
        finally:
            if audio is not None:
                audio.close()
        partial = self.partial_path
        if self._frames == 0:
            partial.unlink(missing_ok=True)
            logger.warning("file sink %s: no frames were written, so no file was created", self.path)
            return
        self._parts += 1
        if self._incomplete:
            logger.warning(
                "file sink %s: stopped before the end of the input; the %d frames written are in %s "
                "(incomplete, so not under the output's name)",
                self.path,
                self._frames,
                partial,
            )
            return
        os.replace(partial, self.path)
        logger.info("file sink %s: wrote %d frames", self.path, self._frames)


def _close_quietly(container: Any) -> None:
    """Release a container that already failed; its own error would hide the first one."""
    try:
        container.close()
    except Exception:  # the original error is being raised; this one only hides it
        logger.debug("file sink: closing after an error failed too", exc_info=True)
