"""Typed, validated configuration (YAML → frozen pydantic models)."""

from livefilter.config.engine import CpuFaceConfig, EngineConfig, PromptConfig, Sam3Config
from livefilter.config.render import RenderConfig
from livefilter.config.root import Config, RuntimeConfig
from livefilter.config.sinks import SinkConfig
from livefilter.config.source import SourceConfig

__all__ = [
    "Config",
    "CpuFaceConfig",
    "EngineConfig",
    "PromptConfig",
    "RenderConfig",
    "RuntimeConfig",
    "Sam3Config",
    "SinkConfig",
    "SourceConfig",
]
