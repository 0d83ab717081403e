"""Base model for every config section: unknown keys are errors, values are frozen.

Cross-field rules are small ``check_*`` validators that raise :class:`Problem`, which
carries the key it is about, so the loader can point at that key's line in the YAML.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["Problem", "StrictModel", "check_min_max"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class Problem(ValueError):
    """A cross-field rule failed at ``at`` (a key path relative to the model that raised it)."""

    def __init__(self, message: str, *, at: tuple[str | int, ...] = (), value: Any = None) -> None:
        self.message = message
        self.at = at
        self.value = value
        where = ".".join(str(part) for part in at)
        super().__init__(f"{where}: {message}" if where else message)


def check_min_max(model: BaseModel, low: str, high: str) -> None:
    """Backoff ranges: ``low`` (the first delay) must not exceed ``high`` (the longest)."""
    low_value, high_value = getattr(model, low), getattr(model, high)
    if low_value > high_value:
        raise Problem(f"must not exceed {high} ({high_value:g})", at=(low,), value=low_value)
