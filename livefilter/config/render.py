"""``render:`` — how redaction looks and when the output fails closed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from livefilter.config.base import StrictModel

__all__ = ["RedactStyle", "RenderConfig"]

RedactStyle = Literal["blur", "pixelate", "solid"]


class RenderConfig(StrictModel):
    """How redaction looks, and when the whole frame is hidden instead (fail-closed)."""

    mode: Literal["low_latency", "exact"] = Field(
        default="low_latency",
        description="low_latency: newest frame + latest masks (grown to follow motion); "
        "exact: each frame only with masks computed on it (file jobs).",
    )
    live_guard: Literal["hide_changes", "checked_frames", "masks_only"] = Field(
        default="hide_changes",
        description="low_latency: what covers a face that appears between two engine answers. "
        "hide_changes: frames newer than the masks' frame also hide every region that changed since it "
        "(moving things stay hidden until the engine has looked; when the camera moves, changed against "
        "that frame moved by the camera's motion, so a pan hides what came into view, not the whole "
        "picture; on a still picture the masks' growth along their motion is drawn only near what changed); "
        "checked_frames: show only frames the "
        "engine checked, each with its own masks (output repeats them: engine-rate pictures, more latency); "
        "masks_only: masks grown along known objects' motion only (a new face can show until the next answer).",
    )
    backfill_s: float = Field(
        default=0.5, ge=0, le=5,
        description="exact (file jobs): output runs this many seconds of media time behind the engine, and an "
        "object found in that time is also hidden on the earlier frames that lacked it, moved back along its "
        "motion and grown with the gap (faces found late: small, shadowed, entering the frame, blurred). "
        "Memory: this many seconds of frames and masks. 0 turns it off.",
    )
    style: RedactStyle = Field(default="blur", description="How marked pixels are hidden.")
    blur_strength: float = Field(
        default=25.0,
        ge=2,
        le=200,
        description="Smallest Gaussian blur sigma in pixels; larger objects get more "
        "(see max_blocks_across).",
    )
    pixelate_block: int = Field(
        default=16,
        ge=2,
        le=256,
        description="Smallest pixelation block in pixels; larger objects get larger blocks "
        "(see max_blocks_across).",
    )
    max_blocks_across: int = Field(
        default=8,
        ge=2,
        le=8,
        description="Blur and pixelation scale with each object: at most this many blocks (or blur sigmas) "
        "across its larger side, and across a fully redacted frame's shorter side. More than 8 leaves "
        "faces recognisable.",
    )
    solid_color: tuple[int, int, int] = Field(default=(0, 0, 0), description="Fill colour as [R, G, B], 0-255.")
    dilation_px: int = Field(default=6, ge=0, le=512, description="Grow every mask by this many pixels.")
    dilation_percent: float = Field(default=10.0, ge=0, le=100, description="Grow every mask by this percent of the object's size.")
    dilation_percent_max_px: int = Field(
        default=32,
        ge=0,
        le=512,
        description="The growth from dilation_percent is at most this many pixels (dilation_px still applies): "
        "a large object's outline is known to a few pixels, not to a tenth of its size (the face engine pads "
        "its masks itself). 32: the surroundings hidden around a face 420-620 px tall at 720p drop from 36 % "
        "to 24 % of the picture, with the same face pixels hidden on the leak benchmark (docs/benchmarks.md §1).",
    )
    feather_px: int = Field(default=0, ge=0, le=128, description="Soften mask edges over this many pixels (outside the dilated mask).")
    fps: float | None = Field(
        default=None,
        gt=0,
        le=240,
        description="Output rate; null follows the source: each frame is rendered as it arrives (low_latency), "
        "the newest shown again when the source is late by a quarter frame.",
    )
    max_mask_age_ms: float = Field(default=500.0, gt=0, le=60000, description="Masks older than this (vs the frame shown) make the frame fully redacted.")
    max_frame_age_ms: float = Field(default=1000.0, gt=0, le=60000, description="A source silent for this long makes the output fully redacted.")
    follow_motion: bool = Field(default=True, description="Grow ageing masks along each object's motion (low_latency).")
    fail_closed_style: RedactStyle = Field(default="pixelate", description="How a fully redacted frame looks.")
    fail_closed_strength: float = Field(
        default=40.0,
        ge=2,
        le=400,
        description="Smallest blur sigma or pixel block of a fully redacted frame; larger frames get more "
        "(see max_blocks_across).",
    )
