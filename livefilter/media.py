"""Media file kinds and cheap header facts, shared by the CLI and the UI (below both in the layering).

Example:
    >>> "clip.MP4".lower().endswith(VIDEO_EXTENSIONS)
    True
    >>> video_frame_count("/nonexistent.mp4") is None
    True
"""

from __future__ import annotations

__all__ = ["IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "video_frame_count"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov")


def video_frame_count(path: str) -> int | None:
    """Frames in the first video stream, from the container header (no decoding); None if unknown."""
    import av

    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                seconds = container.duration / av.time_base
            else:
                return None
            rate = stream.average_rate or stream.guessed_rate
            if not rate:
                return None
            return round(seconds * float(rate)) or None
    except (av.FFmpegError, IndexError, OSError, ValueError):
        return None  # the source reports a proper error when it opens the file
