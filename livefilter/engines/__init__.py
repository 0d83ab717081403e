"""Segmentation engines. Add one: write ``engines/<name>.py`` with a class following
:class:`~livefilter.engines.base.Engine` (constructor ``(settings, prompts)``), its
settings in ``config/engine.py``, and an entry below."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from livefilter.config.engine import EngineConfig
from livefilter.engines.base import Engine
from livefilter.registry import Registry
from livefilter.types import Prompt

logger = logging.getLogger(__name__)

ENGINES = Registry(
    "engine",
    {
        "cpu-face": "livefilter.engines.face_cpu:CpuFaceEngine",
        "sam3": "livefilter.engines.sam3:Sam3Engine",
    },
)


def resolve_engine_kind(config: EngineConfig) -> str:
    """``auto`` → ``sam3`` when a GPU and its weights are present, else ``cpu-face``."""
    if config.kind != "auto":
        return config.kind
    from livefilter.engines.sam3 import sam3_unavailable_reason

    reason = sam3_unavailable_reason(config.sam3)
    if reason is None:
        return "sam3"
    logger.info("engine: auto picked cpu-face (sam3 not used: %s)", reason)
    return "cpu-face"


def create_engine(
    config: EngineConfig, prompts: Sequence[Prompt], *, kind: str | None = None, exact: bool = False
) -> Engine:
    """Build (not open) an engine; ``kind`` overrides ``config.kind`` (already resolved).

    ``exact``: the output shows every frame with masks computed on it (``render.mode: exact``,
    file jobs), so an engine that can trade coverage for speed must not (cpu-face detects
    every frame at native resolution).
    """
    kind = kind or resolve_engine_kind(config)
    settings = {"cpu-face": config.cpu_face.for_render(exact=exact), "sam3": config.sam3}.get(kind)
    return ENGINES.resolve(kind)(settings, list(prompts))


__all__ = ["ENGINES", "Engine", "create_engine", "resolve_engine_kind"]
