"""Shared fixtures: a scene with known secrets and a quick way to wire a test pipeline."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from livefilter.config import EngineConfig, RenderConfig, RuntimeConfig
from livefilter.pipeline import Pipeline
from tests.fakes import FAST_ENGINE, FakeSource, GroundTruthEngineFactory, RecordingSink, Scene


@pytest.fixture
def scene() -> Scene:
    return Scene()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown so engines a test left hanging return and their threads end."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def make_pipeline(release: threading.Event) -> Iterator[Callable[..., Pipeline]]:
    """``make_pipeline(source, factory, sinks, render={...}, engine={...}, runtime={...})``:
    a Pipeline with test-speed settings; every one built is stopped at teardown."""
    built: list[Pipeline] = []

    def make(
        source: FakeSource,
        factory: GroundTruthEngineFactory,
        sinks: Sequence[RecordingSink],
        *,
        render: dict[str, Any] | None = None,
        engine: dict[str, Any] | None = None,
        runtime: dict[str, Any] | None = None,
    ) -> Pipeline:
        factory.options.setdefault("release", release)
        factory.options.setdefault("fps", source.fps)
        pipeline = Pipeline(
            source=source,
            engine_factory=factory,
            sinks=sinks,
            render=RenderConfig(**{"fps": 50.0, **(render or {})}),
            engine=EngineConfig(**{"kind": "cpu-face", **FAST_ENGINE, **(engine or {})}),
            runtime=RuntimeConfig(**{"stats_interval_s": 3600.0, **(runtime or {})}),
        )
        built.append(pipeline)
        return pipeline

    yield make
    for pipeline in built:
        pipeline.stop()
