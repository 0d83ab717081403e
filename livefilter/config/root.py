"""The whole configuration file."""

from __future__ import annotations

from pydantic import Field

from livefilter.config.base import StrictModel
from livefilter.config.engine import EngineConfig, PromptConfig
from livefilter.config.render import RenderConfig
from livefilter.config.sinks import NullSinkConfig, SinkConfig
from livefilter.config.source import DemoSourceConfig, SourceConfig

__all__ = ["RuntimeConfig", "Config"]


class RuntimeConfig(StrictModel):
    """Queues and statistics."""

    queue_size: int = Field(2, ge=1, le=64, description="Capture → engine queue length (oldest dropped when full, live sources).")
    stats_interval_s: float = Field(5.0, gt=0, le=3600, description="Print statistics this often.")
    max_duration_s: float | None = Field(None, gt=0, description="Stop after this long; null runs until the source ends or Ctrl-C.")


class Config(StrictModel):
    source: SourceConfig = Field(default_factory=DemoSourceConfig)
    prompts: list[PromptConfig] = Field(default_factory=lambda: [PromptConfig(text="face")], min_length=1)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    render: RenderConfig = Field(default_factory=RenderConfig)
    sinks: list[SinkConfig] = Field(default_factory=lambda: [NullSinkConfig()], min_length=1)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
