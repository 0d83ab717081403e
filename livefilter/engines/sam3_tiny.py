"""Tiny, randomly initialised SAM3 video models for offline tests and benchmarks.

The real weights (``facebook/sam3``) are gated and cannot be downloaded here, so tests
build the same architecture from configs in code (small ViT backbone, CLIP text encoder,
DETR encoder/decoder, mask head, tracker), save it with ``save_pretrained`` and load it
through the same ``from_pretrained`` path users take.

Random weights prove plumbing, memory and cost — never quality. Their masks are not
detections of anything.

The processor needs a CLIP byte-level BPE tokenizer. Instead of the 49 408-token CLIP
vocabulary (whose merges ship only in other wheels), :func:`tiny_tokenizer` builds one with
the 256 byte symbols (plus their end-of-word forms) and no merges: every word is spelled
byte by byte, which is all a random text encoder needs. The text encoder's vocabulary
matches it.

Needs torch, torchvision and transformers (imported here at module level: import this
module only where the SAM3 stack is wanted).

Example:
    >>> from livefilter.engines.sam3_tiny import tiny_tokenizer
    >>> tiny_tokenizer()("face").input_ids
    [0, 71, 66, 68, 326, 1]
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from tokenizers.pre_tokenizers import ByteLevel
from transformers import (
    CLIPTokenizer,
    Sam3ImageProcessor,
    Sam3VideoConfig,
    Sam3VideoModel,
    Sam3VideoProcessor,
)
from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

__all__ = ["full_size_config", "save_tiny_sam3", "tiny_config", "tiny_processor", "tiny_tokenizer"]

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
#: Patch size of SAM3's ViT; processing sizes are multiples of it.
PATCH = 14


def tiny_tokenizer() -> CLIPTokenizer:
    """A byte-level CLIP tokenizer with 514 tokens (BOS, EOS, 256 bytes, 256 end-of-word bytes)."""
    symbols = sorted(ByteLevel.alphabet())
    vocab = {BOS: 0, EOS: 1}
    for suffix in ("", "</w>"):
        for symbol in symbols:
            vocab[symbol + suffix] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])


def tiny_config(image_size: int = 112, *, vocab_size: int = 514, num_maskmem: int = 7,
                max_object_pointers: int = 16) -> Sam3VideoConfig:
    """A SAM3 video config of about 4 M parameters (a frame takes a few tens of ms on a quiet CPU).

    ``num_maskmem`` and ``max_object_pointers`` set how many past frames the tracker reads
    (``facebook/sam3``: 7 and 16); smaller values let memory tests stream fewer frames.

    The tracker's ``memory_encoder_output_channels`` stays at 64 and its hidden size is a
    larger multiple of 64: transformers splits each object pointer into 64-channel memory
    tokens and fails on other shapes.
    """
    if image_size % PATCH:
        raise ValueError(f"image_size: expected a multiple of {PATCH}, got {image_size}")
    grid = image_size // PATCH
    hidden = 128  # the tracker splits object pointers into 64-channel memory tokens: a multiple of 64, > 64
    vit = {
        "model_type": "sam3_vit_model", "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": image_size,
        "patch_size": PATCH, "window_size": 4, "global_attn_indexes": [1], "pretrain_image_size": 56,
    }
    vision = {
        "model_type": "sam3_vision_model", "backbone_config": vit, "fpn_hidden_size": hidden,
        "backbone_feature_sizes": [[4 * grid] * 2, [2 * grid] * 2, [grid] * 2],
    }
    small = {"hidden_size": hidden, "num_attention_heads": 2, "intermediate_size": 64}
    detector = {
        "vision_config": vision,
        "text_config": {
            "model_type": "clip_text_model", "vocab_size": vocab_size, "hidden_size": 32,
            "intermediate_size": 64, "projection_dim": 32, "num_hidden_layers": 1,
            "num_attention_heads": 2, "max_position_embeddings": 32,
            "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1,
        },
        "geometry_encoder_config": {**small, "num_layers": 1},
        "detr_encoder_config": {**small, "num_layers": 1},
        "detr_decoder_config": {**small, "num_layers": 1, "num_queries": 16},
        "mask_decoder_config": {"hidden_size": hidden, "num_attention_heads": 2},
    }
    tracker = {
        "vision_config": vision, "image_size": image_size,
        "prompt_encoder_config": {"hidden_size": hidden, "image_size": image_size, "patch_size": PATCH},
        "mask_decoder_config": {"hidden_size": hidden, "num_attention_heads": 2, "mlp_dim": 64,
                                "iou_head_hidden_dim": 32, "num_hidden_layers": 1},
        "num_maskmem": num_maskmem, "max_object_pointers_in_encoder": max_object_pointers,
        "memory_attention_hidden_size": hidden, "memory_attention_num_layers": 1,
        "memory_attention_feed_forward_hidden_size": 64, "memory_encoder_hidden_size": hidden,
        "memory_encoder_output_channels": 64, "mask_downsampler_embed_dim": hidden,
        "memory_fuser_embed_dim": hidden, "memory_fuser_intermediate_dim": 64,
    }
    return Sam3VideoConfig(detector_config=detector, tracker_config=tracker, low_res_mask_size=4 * grid)


def full_size_config() -> Sam3VideoConfig:
    """The architecture of ``facebook/sam3`` (about 0.85 B parameters), for cost benchmarks."""
    return Sam3VideoConfig()


def tiny_processor(image_size: int = 112) -> Sam3VideoProcessor:
    """The processor users get from the hub, resized to ``image_size``, with :func:`tiny_tokenizer`."""
    size = {"height": image_size, "width": image_size}
    mask = 4 * (image_size // PATCH)
    return Sam3VideoProcessor(
        image_processor=Sam3ImageProcessor(size=size, mask_size={"height": mask, "width": mask}),
        video_processor=Sam2VideoVideoProcessor(size=size),
        tokenizer=tiny_tokenizer(),
    )


def redraw_weights(model: torch.nn.Module, *, seed: int) -> None:
    """Re-draw every weight matrix with std 1/sqrt(fan_in).

    transformers' default initialisation (std 0.02 everywhere) makes random SAM3 mask
    logits nearly constant; fan-in scaled weights keep activations at unit scale so masks
    and scores depend on the picture, which tests of tracking plumbing need.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() >= 2:
                fan_in = parameter[0].numel()
                parameter.copy_(torch.randn(parameter.shape, generator=generator) / math.sqrt(fan_in))


def save_tiny_sam3(
    folder: str | Path, *, image_size: int = 112, seed: int = 0, num_maskmem: int = 7,
    max_object_pointers: int = 16, **config_overrides: Any,
) -> Path:
    """Build a tiny random SAM3 video model and its processor, ``save_pretrained`` both to ``folder``.

    ``config_overrides`` set top-level :class:`Sam3VideoConfig` fields (e.g. ``recondition_every_nth_frame``).
    """
    folder = Path(folder)
    torch.manual_seed(seed)
    config = tiny_config(image_size, num_maskmem=num_maskmem, max_object_pointers=max_object_pointers)
    for key, value in config_overrides.items():
        if not hasattr(config, key):
            raise ValueError(f"unknown Sam3VideoConfig field {key!r}")
        setattr(config, key, value)
    model = Sam3VideoModel(config)
    redraw_weights(model, seed=seed)
    with torch.no_grad():
        # Random object-score logits are negative half of the time, and the tracker then
        # blanks the object's mask: bias them to "present" so random tracks stay visible.
        model.tracker_model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(4.0)
    model.save_pretrained(folder)
    tiny_processor(image_size).save_pretrained(folder)
    return folder
