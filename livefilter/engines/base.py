"""The contract every segmentation engine implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from livefilter.types import Frame, MaskSet, Prompt


@runtime_checkable
class Engine(Protocol):
    """Finds every instance of the prompts in a frame. Owned by one engine thread.

    Engines are built with their prompts (``create_engine(config, prompts)``) and keep
    temporal memory between ``infer`` calls (tracks with stable ids that hold through
    brief misses and follow motion).

    Obligations:
        - ``open()`` loads the model; it may be slow and raises
          :class:`~livefilter.errors.EngineError` / ``DependencyError`` with what to do.
        - ``infer(frame)`` returns a :class:`MaskSet` for *that* frame, at its size,
          stamped with its ``index`` and ``t_capture``. It raises on failure; it never
          returns masks it did not compute (an empty MaskSet means "nothing there").
        - ``set_prompts()`` changes what is searched for; results for frames after the
          call answer the new prompts (the engine may reset its memory).
        - ``reset()`` forgets all temporal memory (e.g. after a source reconnect).
        - ``close()`` is idempotent and frees the model.
          Inherit :class:`~livefilter.lifecycle.Lifecycle` for ``with`` support.
    """

    name: str

    def open(self) -> None: ...

    def infer(self, frame: Frame) -> MaskSet: ...

    def set_prompts(self, prompts: Sequence[Prompt]) -> None: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...
