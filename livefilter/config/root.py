"""The whole configuration file, and the rules that span several sections.

Paths in the config (source files, output files) are used as written: a relative path
is relative to the current working directory, like any command-line tool's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field, field_validator, model_validator

from livefilter.config.base import Problem, StrictModel
from livefilter.config.engine import EngineConfig, PromptConfig
from livefilter.config.render import RenderConfig
from livefilter.config.sinks import NullSinkConfig, SinkConfig
from livefilter.config.source import DemoSourceConfig, SourceConfig

__all__ = ["Config", "RuntimeConfig", "check_output_paths", "config_warnings", "null_sink_kind", "source_is_paced"]

Loc = tuple[str | int, ...]


class RuntimeConfig(StrictModel):
    """Queues and statistics."""

    queue_size: int = Field(
        default=2, ge=1, le=64, description="Capture → engine queue length (oldest dropped when full, live sources)."
    )
    stats_interval_s: float = Field(default=5.0, gt=0, le=3600, description="Print statistics this often.")
    max_duration_s: float | None = Field(
        default=None, gt=0, description="Stop after this long; null runs until the source ends or Ctrl-C."
    )


def _default_sinks() -> list[SinkConfig]:
    return [NullSinkConfig()]


class Config(StrictModel):
    """A livefilter run: one source, what to hide, one engine, how to render, one or more sinks."""

    source: SourceConfig = Field(default_factory=DemoSourceConfig, description="Where frames come from.")
    prompts: list[PromptConfig] = Field(
        default_factory=lambda: [PromptConfig(text="face", threshold=0.5)],
        min_length=1,
        description="What must never be seen.",
    )
    engine: EngineConfig = Field(default_factory=EngineConfig, description="What finds it.")
    render: RenderConfig = Field(
        default_factory=RenderConfig, description="How it is hidden, and when everything is."
    )
    sinks: list[SinkConfig] = Field(
        default_factory=_default_sinks, min_length=1, description="Where redacted frames go."
    )
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="Queues and statistics.")

    @field_validator("sinks", mode="before")
    @classmethod
    def _null_kind(cls, value: Any) -> Any:
        return null_sink_kind(value)

    @model_validator(mode="after")
    def check_one_preview(self) -> Config:
        """One window is enough; two preview threads would fight over the GUI."""
        previews = [i for i, sink in enumerate(self.sinks) if sink.kind == "preview"]
        if len(previews) > 1:
            raise Problem(
                f"only one preview sink is allowed (also at sinks[{previews[0]}])", at=("sinks", previews[1])
            )
        return self

    @model_validator(mode="after")
    def check_output_paths(self) -> Config:
        check_output_paths(self.source, self.sinks)
        return self


def check_output_paths(source: SourceConfig, sinks: Sequence[SinkConfig]) -> None:
    """An output must not overwrite the input, nor another output."""
    seen: dict[str, int] = {}
    source_path = getattr(source, "path", None)
    source_real = os.path.realpath(source_path) if source_path else None
    for i, sink in enumerate(sinks):
        path = getattr(sink, "path", None)
        if path is None:
            continue
        real = os.path.realpath(path)
        if real == source_real:
            raise Problem(
                "must differ from source.path (it would overwrite the input)",
                at=("sinks", i, "path"),
                value=path,
            )
        if real in seen:
            raise Problem(f"already written by sinks[{seen[real]}]", at=("sinks", i, "path"), value=path)
        seen[real] = i


def null_sink_kind(value: Any) -> Any:
    """YAML reads ``kind: null`` as nothing; in a sink it can only mean the null sink."""
    if not isinstance(value, list):
        return value
    return [
        {**item, "kind": "null"}
        if isinstance(item, Mapping) and "kind" in item and item["kind"] is None
        else item
        for item in value
    ]


def source_is_paced(source: SourceConfig) -> bool:
    """True when frames arrive at their own rate (cameras, streams, realtime files/demo)."""
    return bool(getattr(source, "realtime", True))


def config_warnings(config: Config) -> list[tuple[Loc, str]]:
    """Combinations that are valid but probably not what the user wants, with their key path."""
    warnings: list[tuple[Loc, str]] = []
    paced = source_is_paced(config.source)
    if config.render.mode == "exact" and paced:
        warnings.append(
            (
                ("render", "mode"),
                (
                    "exact with a live source shows only the frames the engine processed, so the output "
                    "rate follows the engine; use low_latency for smooth live video"
                ),
            )
        )
    if config.render.mode == "low_latency" and not paced:
        warnings.append(
            (
                ("source", "realtime"),
                (
                    "false with render.mode low_latency skips most frames (they arrive faster than they "
                    "are shown); use render.mode: exact for file jobs"
                ),
            )
        )
    return warnings
