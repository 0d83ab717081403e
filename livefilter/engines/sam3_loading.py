"""Finding and loading SAM3 weights, with one clear error per way it can fail.

``engine.sam3.model`` (CLI ``--model``) is a local folder (``save_pretrained`` output, or a
downloaded snapshot) or a Hugging Face hub id (default ``facebook/sam3``, a gated
repository: accept its licence on the model page, then ``hf auth login`` or set
``HF_TOKEN``). Nothing heavy is imported at module level.

:func:`locate_weights` decides where the weights come from *before* torch and transformers
are imported (they take seconds to import), so what can fail fast does: a missing or
incomplete folder, a hub id not in the cache with ``HF_HUB_OFFLINE`` set, or a hub that
does not answer one request within :data:`HUB_PROBE_TIMEOUT_S` (instead of the hub
client's retries, about half a minute). Weights in the cache load without the network when
the hub is offline or unreachable.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livefilter.errors import DependencyError, EngineError

__all__ = [
    "HUB_PROBE_TIMEOUT_S",
    "WeightsSource",
    "check_installed",
    "dependency_problem",
    "explain_load_error",
    "load_model",
    "local_folder",
    "locate_weights",
    "require_dependencies",
    "weights_missing_reason",
]

logger = logging.getLogger(__name__)

#: One request to the hub gets this long to answer before SAM3 reports it unreachable.
HUB_PROBE_TIMEOUT_S = 5.0

_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
INSTALL_HINT = (
    "pip install 'livefilter[sam3]' (torchvision must be the build that matches your torch: "
    "see https://pytorch.org/get-started/locally/)"
)


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~")) or model.count("/") > 1 or os.sep != "/" and os.sep in model


def local_folder(model: str) -> Path | None:
    """The folder ``model`` names, or None when it is a hub id.

    Raises:
        EngineError: ``model`` is clearly a path but no such folder exists.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if _looks_like_path(model) or path.exists():
        raise EngineError(
            f"engine.sam3.model: no model folder at {path} — give a folder written by save_pretrained "
            "(config.json + model.safetensors) or a Hugging Face hub id such as facebook/sam3"
        )
    return None


def _folder_problem(folder: Path) -> str | None:
    """What is wrong with a model folder (files only), or None."""
    present = {p.name for p in folder.iterdir()}
    if "config.json" not in present or not present.intersection(_WEIGHT_FILES):
        return (
            f"engine.sam3.model: {folder} holds no model (expected config.json and model.safetensors, "
            f"found {', '.join(sorted(present)[:6]) or 'nothing'}): give the folder save_pretrained or "
            "`hf download facebook/sam3 --local-dir DIR` wrote"
        )
    try:
        model_type = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as exc:
        return f"engine.sam3.model: {folder / 'config.json'} is not a readable model config ({exc})"
    if model_type != "sam3_video":
        return (
            f"engine.sam3.model: {folder} holds a {model_type!r} model; expected a SAM3 video checkpoint "
            "(model_type 'sam3_video', e.g. facebook/sam3)"
        )
    return None


def _hub_cached(repo_id: str, filename: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, filename), str)


def _cached_or_invalid(model: str) -> bool:
    """Whether the hub id's config and weights are in the local cache.

    Raises:
        EngineError: ``model`` is not a valid hub id.
    """
    try:
        return _hub_cached(model, "config.json") and any(_hub_cached(model, name) for name in _WEIGHT_FILES)
    except ValueError as exc:  # HFValidationError: not a valid repo id
        raise EngineError(f"engine.sam3.model {model!r} is neither a folder nor a valid hub id ({exc})") from None


def _not_cached(model: str, why: str) -> str:
    return (
        f"engine.sam3.model: the weights of {model} are not in the local Hugging Face cache and {why}: "
        f"download them once where the hub is reachable (`hf download {model}`, after accepting the "
        "licence), or set engine.sam3.model / --model to a local folder"
    )


def weights_missing_reason(model: str) -> str | None:
    """Why the weights are not on this machine (checks files only, never the network), or None."""
    try:
        folder = local_folder(model)
        if folder is not None:
            return _folder_problem(folder)
        cached = _cached_or_invalid(model)
    except EngineError as exc:
        return str(exc)
    if not cached:
        return f"the weights of {model} are not in the local Hugging Face cache"
    return None


def _hub_unreachable(timeout_s: float) -> str | None:
    """Why the hub did not answer one request (no retries), or None when it answered at all."""
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    try:
        get_session().head(constants.ENDPOINT, timeout=timeout_s)
    except Exception as exc:  # the HTTP client's connect, DNS, TLS and timeout errors
        return f"{constants.ENDPOINT}: {type(exc).__name__}: {exc}; one try, {timeout_s:g} s timeout"
    return None


@dataclass(frozen=True, slots=True)
class WeightsSource:
    """Where SAM3's weights load from: ``source`` (a folder or hub id) and whether the hub may
    be asked (``local_only`` False) or only local files read."""

    model: str
    source: str
    local_only: bool


def locate_weights(model: str, *, probe_timeout_s: float = HUB_PROBE_TIMEOUT_S) -> WeightsSource:
    """Check what can be checked without torch and decide where the weights load from.

    Raises:
        EngineError: at once, with what to do, when the folder is missing or incomplete, the
            hub id is invalid, or the weights are not cached and the hub is offline
            (``HF_HUB_OFFLINE``) or unreachable.
    """
    folder = local_folder(model)
    if folder is not None:
        problem = _folder_problem(folder)
        if problem:
            raise EngineError(problem)
        return WeightsSource(model, str(folder), local_only=True)
    from huggingface_hub import constants

    cached = _cached_or_invalid(model)
    if constants.HF_HUB_OFFLINE:
        if not cached:
            raise EngineError(_not_cached(model, "HF_HUB_OFFLINE is set"))
        return WeightsSource(model, model, local_only=True)
    unreachable = _hub_unreachable(probe_timeout_s)
    if unreachable is None:
        return WeightsSource(model, model, local_only=False)
    if not cached:
        raise EngineError(_not_cached(model, f"the hub could not be reached ({unreachable})"))
    logger.info("engine sam3: the hub is unreachable (%s); loading %s from the local cache", unreachable, model)
    return WeightsSource(model, model, local_only=True)


def dependency_problem() -> str | None:
    """What is missing for SAM3 (a cheap check: finds modules without importing them)."""
    for module in ("torch", "torchvision", "transformers"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed ({INSTALL_HINT})"
    return None


def check_installed() -> None:
    """Raise one :class:`DependencyError` that says what to install when a module is missing
    (without importing anything)."""
    problem = dependency_problem()
    if problem:
        raise DependencyError(f"engine 'sam3' needs torch, torchvision and transformers: {problem}")


def require_dependencies() -> None:
    """Import what SAM3 needs, or raise one :class:`DependencyError` that says what to install."""
    check_installed()
    try:
        import torchvision  # type: ignore[import-untyped]  # noqa: F401  (a torch/torchvision mismatch fails here)
    except Exception as exc:  # RuntimeError "operator torchvision::nms does not exist", ImportError
        raise DependencyError(
            f"engine 'sam3': torchvision does not load beside this torch ({exc}); {INSTALL_HINT}"
        ) from exc
    try:
        from transformers import Sam3VideoModel  # noqa: F401
    except ImportError as exc:
        raise DependencyError(
            f"engine 'sam3' needs transformers >= 5.0 with SAM3 ({exc}): pip install -U 'transformers>=5.0'"
        ) from exc


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def explain_load_error(exc: BaseException, model: str) -> EngineError:
    """Turn whatever ``from_pretrained`` raised into one error that says which case it is and what to do."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    chain = _causes(exc)

    def found(kind: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
        return any(isinstance(item, kind) for item in chain)

    if found(GatedRepoError):
        return EngineError(
            f"engine.sam3.model: {model} is a gated repository on the Hugging Face hub and this machine "
            f"has no access: accept its licence at https://huggingface.co/{model} with your account, then "
            "log in with `hf auth login` (or set HF_TOKEN) and start again"
        )
    if found(RepositoryNotFoundError):
        return EngineError(
            f"engine.sam3.model: no repository {model} on the Hugging Face hub (or it is private and you "
            "are not logged in): check the id, or log in with `hf auth login` / HF_TOKEN, or give a local folder"
        )
    if found((LocalEntryNotFoundError, OfflineModeIsEnabled)) or found(ConnectionError):
        why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "the hub could not be reached"
        return EngineError(_not_cached(model, why))
    return EngineError(f"engine.sam3.model: could not load SAM3 weights from {model}: {exc}")


def load_model(weights: WeightsSource, *, dtype: Any, resolution: int | None) -> tuple[Any, Any]:
    """``from_pretrained`` the config, processor and model from where :func:`locate_weights` said."""
    from transformers import AutoConfig, Sam3VideoProcessor

    from livefilter.engines.sam3_model import StreamingSam3VideoModel, apply_resolution

    model, source, local_only = weights.model, weights.source, weights.local_only
    try:
        # The config first: transformers keeps the hub's own exception as its cause (the
        # processor's loaders replace it with a generic message).
        config = AutoConfig.from_pretrained(source, local_files_only=local_only)
        processor = Sam3VideoProcessor.from_pretrained(source, local_files_only=local_only)
        if config.model_type != "sam3_video":
            raise EngineError(
                f"engine.sam3.model: {model} holds a {config.model_type!r} model; expected a SAM3 video "
                "checkpoint (model_type 'sam3_video', e.g. facebook/sam3)"
            )
        if resolution is not None:
            apply_resolution(config, processor, resolution)
        network = StreamingSam3VideoModel.from_pretrained(
            source, config=config, dtype=dtype, local_files_only=local_only
        )
    except EngineError:
        raise
    except (OSError, ValueError) as exc:
        raise explain_load_error(exc, model) from exc
    return network.eval(), processor
