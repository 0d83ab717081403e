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

_LAZY = {
    "Pipeline": "livefilter.pipeline",
    "build_pipeline": "livefilter.pipeline",
    "load_config": "livefilter.config.loader",
    "register_engine": "livefilter.engines",
}


def __getattr__(name: str) -> object:
    """Import the pipeline and loaders on first use, so ``import livefilter`` stays light."""
    if name not in _LAZY:
        raise AttributeError(f"module 'livefilter' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(_LAZY[name])
    if name == "register_engine":
        return module.ENGINES.register
    return getattr(module, name)


__all__ = [
    "ConfigError",
    "DependencyError",
    "EngineError",
    "Frame",
    "LivefilterError",
    "MaskSet",
    "Pipeline",
    "Prompt",
    "RedactedFrame",
    "SinkError",
    "SourceError",
    "__version__",
    "build_pipeline",
    "load_config",
    "register_engine",
]
