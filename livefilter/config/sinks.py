"""``sinks:`` — where redacted frames go. A list; several run at once."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from livefilter.config.base import StrictModel, check_min_max

__all__ = [
    "FileSinkConfig",
    "ImageSinkConfig",
    "NullSinkConfig",
    "PreviewSinkConfig",
    "RtspSinkConfig",
    "SinkConfig",
    "VirtualCamSinkConfig",
]


class FileSinkConfig(StrictModel):
    """An MP4 (H.264) file."""

    kind: Literal["file"] = "file"
    path: str = Field(
        ..., min_length=1,
        description="Output video path (.mp4, .mkv, .mov); missing folders are created. "
        "Relative paths are relative to the working directory.",
    )
    crf: int = Field(default=20, ge=0, le=51, description="x264 quality (lower = better, larger).")
    preset: str = Field(default="veryfast", description="x264 preset.")
    overwrite: bool = Field(default=True, description="Replace an existing file.")
    audio_from: str | None = Field(
        default=None,
        description="Copy the audio of this file (usually the input video) into the output; "
        "null writes video only.",
    )


class ImageSinkConfig(StrictModel):
    """Still images: the latest frame, or one file per frame when path contains {index}."""

    kind: Literal["image"] = "image"
    path: str = Field(
        ..., min_length=1,
        description="Output path, e.g. out.png or frames/{index:06d}.jpg. "
        "Relative paths are relative to the working directory.",
    )


class PreviewSinkConfig(StrictModel):
    """A window on the local display (skipped with a warning when there is none)."""

    kind: Literal["preview"] = "preview"
    title: str = Field(default="livefilter", description="Window title.")
    show_stats: bool = Field(default=True, description="Overlay fps and mask age.")


class NullSinkConfig(StrictModel):
    """Discards frames (benchmarks)."""

    kind: Literal["null"] = "null"


class RtspSinkConfig(StrictModel):
    """Publish H.264 to an RTSP server (mediamtx, go2rtc, ...), or serve it with ``serve: true``."""

    kind: Literal["rtsp"] = "rtsp"
    url: str = Field(
        ...,
        min_length=1,
        description="Publish URL, e.g. rtsp://127.0.0.1:8554/redacted; with serve: true, the URL viewers open.",
    )
    serve: bool = Field(
        default=False,
        description="Run a built-in RTSP server (GStreamer gst-rtsp-server, see scripts/install_system_deps.sh) "
        "listening at the URL's host and port, instead of publishing to an external one.",
    )
    transport: Literal["tcp", "udp"] = Field(default="tcp", description="RTSP transport.")
    bitrate_kbps: int = Field(default=4000, ge=100, le=100000, description="Target bitrate.")
    gop: int = Field(default=30, ge=1, le=600, description="Keyframe interval in frames (short = quick join).")
    preset: str = Field(default="ultrafast", description="x264 preset.")
    timeout_s: float = Field(
        default=5.0, gt=0, le=300, description="A publish blocked this long (server frozen, network lost) is aborted and retried."
    )
    reconnect_min_s: float = Field(default=0.5, gt=0, description="First republish delay.")
    reconnect_max_s: float = Field(default=10.0, gt=0, description="Longest republish delay.")

    @model_validator(mode="after")
    def check_reconnect_range(self) -> RtspSinkConfig:
        check_min_max(self, "reconnect_min_s", "reconnect_max_s")
        return self


class VirtualCamSinkConfig(StrictModel):
    """A virtual webcam for video calls (v4l2loopback on Linux, OBS on Windows/macOS)."""

    kind: Literal["virtualcam"] = "virtualcam"
    device: str | None = Field(default=None, description="e.g. /dev/video10; null lets pyvirtualcam choose.")
    backend: str | None = Field(default=None, description="pyvirtualcam backend name; null tries each.")
    fps: float | None = Field(default=None, gt=0, le=240, description="Advertised rate; null uses the output rate.")


SinkConfig = Annotated[
    FileSinkConfig | ImageSinkConfig | PreviewSinkConfig | NullSinkConfig | RtspSinkConfig | VirtualCamSinkConfig,
    Field(discriminator="kind"),
]
