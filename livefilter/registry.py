"""Plugin registries: the YAML ``kind`` → the class that implements it.

Each family keeps a plain dict of ``kind -> "module:Class"``; the module is imported
only when that kind is used, so a missing optional dependency matters only to the
plugin that needs it. Users add their own with ``register(...)``.
"""

from __future__ import annotations

import importlib
from typing import Any

from livefilter.errors import ConfigError


class Registry:
    """One family's plugins (``engine``, ``source``, ``sink``): ``kind`` → class, imported on first use."""

    def __init__(self, family: str, entries: dict[str, str]) -> None:
        self.family = family
        self._entries: dict[str, str | type] = dict(entries)

    def register(self, kind: str, implementation: str | type) -> None:
        """Register ``implementation`` (a class or ``"module:Class"``) under ``kind``."""
        self._entries[kind] = implementation

    def kinds(self) -> list[str]:
        return sorted(self._entries)

    def resolve(self, kind: str) -> Any:
        try:
            target = self._entries[kind]
        except KeyError:
            raise ConfigError(
                f"unknown {self.family} kind {kind!r}; expected one of: {', '.join(self.kinds())}"
            ) from None
        if isinstance(target, str):
            module_name, _, attribute = target.partition(":")
            target = getattr(importlib.import_module(module_name), attribute)
            self._entries[kind] = target
        return target
