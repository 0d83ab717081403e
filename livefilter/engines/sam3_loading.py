"""Finding and loading SAM3 weights, with one clear error per way it can fail.

``engine.sam3.model`` (CLI ``--model``) is a local folder (``save_pretrained`` output, or a
downloaded snapshot) or a Hugging Face hub id (default ``facebook/sam3``, a gated
repository: accept its licence on the model page, then ``hf auth login`` or set
``HF_TOKEN``). Nothing heavy is imported at module level.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from livefilter.errors import DependencyError, EngineError

__all__ = [
    "dependency_problem",
    "explain_load_error",
    "load_model",
    "local_folder",
    "require_dependencies",
    "weights_missing_reason",
]

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


def _hub_cached(repo_id: str, filename: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, filename), str)


def weights_missing_reason(model: str) -> str | None:
    """Why the weights are not on this machine (checks files only, never the network), or None."""
    try:
        folder = local_folder(model)
    except EngineError as exc:
        return str(exc)
    if folder is not None:
        present = {p.name for p in folder.iterdir()}
        if "config.json" not in present or not present.intersection(_WEIGHT_FILES):
            return f"{folder} holds no model (expected config.json and model.safetensors)"
        return None
    try:
        cached = _hub_cached(model, "config.json") and any(_hub_cached(model, name) for name in _WEIGHT_FILES)
    except ValueError as exc:  # HFValidationError: not a valid repo id
        return f"engine.sam3.model {model!r} is neither a folder nor a valid hub id ({exc})"
    if not cached:
        return f"the weights of {model} are not in the local Hugging Face cache"
    return None


def dependency_problem() -> str | None:
    """What is missing for SAM3 (a cheap check: finds modules without importing them)."""
    for module in ("torch", "torchvision", "transformers"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed ({INSTALL_HINT})"
    return None


def require_dependencies() -> None:
    """Import what SAM3 needs, or raise one :class:`DependencyError` that says what to install."""
    problem = dependency_problem()
    if problem:
        raise DependencyError(f"engine 'sam3' needs torch, torchvision and transformers: {problem}")
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
        return EngineError(
            f"engine.sam3.model: the weights of {model} are not in the local Hugging Face cache and {why}: "
            f"download them once where the hub is reachable (`hf download {model}`, after accepting the "
            "licence), or set engine.sam3.model / --model to a local folder"
        )
    return EngineError(f"engine.sam3.model: could not load SAM3 weights from {model}: {exc}")


def load_model(model: str, *, dtype: Any, resolution: int | None) -> tuple[Any, Any]:
    """``from_pretrained`` the config, processor and model, from a folder or the hub."""
    from transformers import AutoConfig, Sam3VideoProcessor

    from livefilter.engines.sam3_model import StreamingSam3VideoModel, apply_resolution

    folder = local_folder(model)
    source = str(folder) if folder is not None else model
    local_only = folder is not None
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
