"""``source:`` — where frames come from. A discriminated union on ``kind``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from livefilter.config.base import StrictModel, check_min_max

__all__ = [
    "DemoSourceConfig",
    "FileSourceConfig",
    "ImageSourceConfig",
    "RtspSourceConfig",
    "SourceConfig",
    "WebcamSourceConfig",
]


class DemoSourceConfig(StrictModel):
    """Synthetic scene: a real public-domain face photo moving over a background."""

    kind: Literal["demo"] = "demo"
    width: int = Field(default=1280, ge=64, le=7680, description="Frame width in pixels.")
    height: int = Field(default=720, ge=64, le=4320, description="Frame height in pixels.")
    fps: float = Field(default=30.0, gt=0, le=240, description="Frames per second.")
    duration_s: float | None = Field(
        default=10.0, gt=0, description="Length of the demo in seconds; null runs forever."
    )
    realtime: bool = Field(default=True, description="Pace frames at fps (a live camera) or as fast as possible.")
    seed: int = Field(default=0, ge=0, description="Random seed for the scene.")
    faces: int = Field(default=1, ge=0, le=16, description="Number of moving faces (0 shows the background only).")
    background: str | None = Field(
        default=None, description="Photo to show behind the faces (scaled to cover the frame); null draws a texture."
    )


class FileSourceConfig(StrictModel):
    """A video file (any container/codec FFmpeg decodes)."""

    kind: Literal["file"] = "file"
    path: str = Field(
        ..., min_length=1,
        description="Path of the video file. "
        "Relative paths are relative to the working directory.",
    )
    realtime: bool = Field(
        default=True, description="Pace frames at the file's rate like a live camera; false reads as fast as possible."
    )
    loop: bool = Field(default=False, description="Start again at the end (live demos).")


class ImageSourceConfig(StrictModel):
    """A still image, repeated as a stream (or one frame)."""

    kind: Literal["image"] = "image"
    path: str = Field(
        ..., min_length=1,
        description="Path of the image file. "
        "Relative paths are relative to the working directory.",
    )
    fps: float = Field(default=30.0, gt=0, le=240, description="Rate at which the image is repeated.")
    frames: int | None = Field(default=1, ge=1, description="How many frames to produce; null repeats forever.")
    realtime: bool = Field(default=False, description="Pace frames at fps.")


class WebcamSourceConfig(StrictModel):
    """A local camera by index (0, 1, ...) or device path (/dev/video0)."""

    kind: Literal["webcam"] = "webcam"
    device: int | str = Field(default=0, description="Camera index or device path.")
    width: int | None = Field(default=1280, ge=64, le=7680, description="Requested width.")
    height: int | None = Field(default=720, ge=64, le=4320, description="Requested height.")
    fps: float | None = Field(default=30.0, gt=0, le=240, description="Requested frame rate.")
    read_timeout_s: float = Field(
        default=2.0, gt=0, le=60, description="A camera silent this long counts as unplugged (rounded up to whole seconds on V4L2)."
    )
    reconnect_min_s: float = Field(default=0.5, gt=0, description="First reopen delay after the camera is lost (doubles up to reconnect_max_s).")
    reconnect_max_s: float = Field(default=10.0, gt=0, description="Longest reopen delay.")

    @model_validator(mode="after")
    def check_reconnect_range(self) -> WebcamSourceConfig:
        check_min_max(self, "reconnect_min_s", "reconnect_max_s")
        return self


class RtspSourceConfig(StrictModel):
    """An RTSP/HTTP camera stream. Put passwords in ``{LIVEFILTER_*}`` placeholders."""

    kind: Literal["rtsp"] = "rtsp"
    url: str = Field(..., min_length=1, description="Stream URL, e.g. rtsp://user:{LIVEFILTER_CAM_PASSWORD}@cam/stream1.")
    transport: Literal["tcp", "udp"] = Field(default="tcp", description="RTSP transport.")
    open_timeout_s: float = Field(default=10.0, gt=0, le=300, description="Give up opening after this long.")
    read_timeout_s: float = Field(default=5.0, gt=0, le=300, description="A read that blocks longer counts as signal loss.")
    reconnect_min_s: float = Field(default=0.5, gt=0, description="First reconnect delay (doubles up to reconnect_max_s).")
    reconnect_max_s: float = Field(default=30.0, gt=0, description="Longest reconnect delay.")
    width: int | None = Field(
        default=None, ge=64, le=7680,
        description="The camera's frame width, if known: while the camera is down at start-up the "
        "outputs already run, fully redacted, at this size (with height). Null: they start with the camera.",
    )
    height: int | None = Field(default=None, ge=64, le=4320, description="The camera's frame height (see width).")

    @model_validator(mode="after")
    def check_reconnect_range(self) -> RtspSourceConfig:
        check_min_max(self, "reconnect_min_s", "reconnect_max_s")
        return self

    @model_validator(mode="after")
    def check_size_pair(self) -> RtspSourceConfig:
        if (self.width is None) != (self.height is None):
            raise ValueError("width and height go together: give both (the camera's frame size) or neither")
        return self


SourceConfig = Annotated[
    DemoSourceConfig | FileSourceConfig | ImageSourceConfig | WebcamSourceConfig | RtspSourceConfig,
    Field(discriminator="kind"),
]
