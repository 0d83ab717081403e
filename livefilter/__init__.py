"""livefilter: a real-time privacy filter for live video."""

from livefilter.errors import (
    ConfigError,
    DependencyError,
    EngineError,
    LivefilterError,
    SinkError,
    SourceError,
)
from livefilter.types import Frame, MaskSet, Prompt, RedactedFrame

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DependencyError",
    "EngineError",
    "Frame",
    "LivefilterError",
    "MaskSet",
    "Prompt",
    "RedactedFrame",
    "SinkError",
    "SourceError",
    "__version__",
]
