"""The compositor: the only place a :class:`~livefilter.types.RedactedFrame` is built.

It never modifies the source frame: every call returns a fresh read-only
image, so a sink may hold a frame as long as it likes. (A fresh buffer, not a
ring: the copy costs a fraction of a millisecond at 1080p, and no sink can
ever see a buffer it holds being reused.) Work is done per
object on its region of the frame (see :mod:`livefilter.render.masks`);
objects whose regions overlap are redacted together.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple, Protocol

import numpy as np

from livefilter.config.render import RenderConfig
from livefilter.render.masks import Box, bounding_box, object_alpha
from livefilter.render.redactors import (
    blend,
    blur_cell,
    gaussian_blur,
    paste,
    pixel_block,
    pixelate,
    redact_whole,
    scaled_strength,
    solid,
)
from livefilter.types import Frame, MaskSet, RedactedFrame, _issue_seal

__all__ = ["Compositor", "StaticMask"]


class StaticMask(Protocol):
    """Pixels to redact on every frame whatever the engine found (static privacy zones,
    :class:`~livefilter.render.zones.ZoneBoard`). ``mask`` returns a read-only (H, W) bool
    array, the same object until it changes, or None for none; it is called on the render thread."""

    def mask(self, height: int, width: int) -> np.ndarray | None: ...

_SEAL = _issue_seal()
"""What builds a RedactedFrame: issued to this module only (see :mod:`livefilter.types`)."""


class Compositor:
    """Turns frames and masks into frames safe to publish.

    Stateless apart from its settings and a cached solid fill; one instance belongs to the
    render thread.

    Example:
        >>> comp = Compositor(RenderConfig(style="solid", solid_color=(255, 0, 0), dilation_px=0,
        ...                                dilation_percent=0))
        >>> frame = Frame(np.full((4, 4, 3), 9, np.uint8), index=7, t_capture=0.0)
        >>> masks = np.zeros((1, 4, 4), bool); masks[0, 1, 1] = True
        >>> ms = MaskSet(masks, scores=[1.0], labels=("face",), object_ids=[1], frame_index=7, t_capture=0.0)
        >>> out = comp.redact_regions(frame, ms)
        >>> out.image[1, 1].tolist(), out.image[3, 3].tolist(), out.fully_redacted
        ([0, 0, 255], [9, 9, 9], False)
    """

    def __init__(self, config: RenderConfig, *, static: StaticMask | None = None) -> None:
        """``static``: pixels redacted on every frame, in the same pass as the engine's masks
        (exactly those pixels: no dilation, no feathering)."""
        self._config = config
        self._static = static
        self._static_region: tuple[np.ndarray, _Region | None] | None = None
        self._fill: np.ndarray | None = None  # read-only solid fill at frame size, built on first use

    def _solid_fill(self, height: int, width: int) -> np.ndarray:
        """The solid style's colour over a whole frame, kept between calls (masked copies read it)."""
        fill = self._fill
        if fill is None or fill.shape[:2] != (height, width):
            fill = solid((height, width, 3), self._config.solid_color)
            fill.flags.writeable = False
            self._fill = fill
        return fill

    @property
    def config(self) -> RenderConfig:
        return self._config

    def redact_regions(
        self,
        frame: Frame,
        masks: MaskSet,
        *,
        age_s: float = 0.0,
        speed_bounds: np.ndarray | None = None,
        hide: np.ndarray | None = None,
        camera_shift: tuple[float, float] = (0.0, 0.0),
        motion_within: np.ndarray | None = None,
    ) -> RedactedFrame:
        """Hide every object of ``masks`` in ``frame``, and the pixels of ``hide`` ((H, W) bool, exactly
        those: the render's change since the masks' frame, :mod:`livefilter.render.change`).

        ``camera_shift`` (dx, dy) px: the picture's motion since the masks' frame that ``hide`` was
        found with (a camera pan): what did not change against the moved picture is not in ``hide``,
        so each object is hidden both where its own motion may have taken it and, dilated as it was
        seen, where the camera's motion alone took it (an object still in the scene whose track has
        no velocity yet).

        Masks are dilated, grown along their motion when ``config.follow_motion``
        and ``age_s > 0`` (their age relative to the frame; the margin follows the larger
        of each object's speed and its ``speed_bounds`` entry, px/s), feathered outward,
        and the style applied. An empty MaskSet gives the frame unredacted.

        Raises:
            ValueError: the masks were computed at another size than the frame, or an
                object's velocity is not finite.
        """
        if masks.shape != (frame.height, frame.width):
            raise ValueError(
                f"masks of frame {masks.frame_index}: expected size {frame.width}x{frame.height} "
                f"(the frame's), got {masks.shape[1]}x{masks.shape[0]}; "
                "the engine must return masks at the source frame's size"
            )
        if motion_within is not None and motion_within.shape != (frame.height, frame.width):
            raise ValueError(
                f"motion_within: expected a mask of the frame's size {frame.width}x{frame.height}, "
                f"got {motion_within.shape[1]}x{motion_within.shape[0]}"
            )
        cfg = self._config
        age = age_s if cfg.follow_motion else 0.0
        regions: list[_Region] = []
        bounds = [0.0] * len(masks) if speed_bounds is None else [float(v) for v in speed_bounds]
        if len(bounds) != len(masks):
            raise ValueError(f"speed_bounds: expected one per object ({len(masks)}), got {len(bounds)}")
        grown = functools.partial(object_alpha, dilation_px=cfg.dilation_px, dilation_percent=cfg.dilation_percent,
                                  dilation_percent_max_px=cfg.dilation_percent_max_px, feather_px=cfg.feather_px)
        for mask, box, velocity, bound in zip(masks.masks, masks.boxes.tolist(), masks.velocities, bounds):
            region = grown(
                mask, Box(*box), velocity=(float(velocity[0]), float(velocity[1])), age_s=age, speed_bound=bound
            )
            if region is None:
                continue
            size = max(box[2] - box[0], box[3] - box[1])
            within = motion_within if age > 0 else None  # (no age: no growth to keep within anything)
            # The object as the engine saw it (dilated, no motion).
            seen = grown(mask, Box(*box)) if within is not None or camera_shift != (0.0, 0.0) else None
            if within is not None and seen is not None:
                regions.append(_Region(*seen, size=size))
                region = _within(region, within)
            if region is not None:
                regions.append(_Region(*region, size=size))
            if camera_shift != (0.0, 0.0) and seen is not None:
                # ... carried by the camera's motion.
                moved = _moved_by(_Region(*seen, size=size), *camera_shift, height=frame.height, width=frame.width)
                if moved is not None:
                    regions.append(moved)
        static = self._static_alpha(frame.height, frame.width)
        if static is not None:
            regions.append(static)
        if hide is not None:
            if hide.shape != (frame.height, frame.width):
                raise ValueError(
                    f"hide: expected a mask of the frame's size {frame.width}x{frame.height}, "
                    f"got {hide.shape[1]}x{hide.shape[0]}"
                )
            changed = _exact_region(hide)
            if changed is not None:
                regions.append(changed)
        image = frame.image.copy()
        hidden = 0
        for box, members in _group_overlapping(regions):
            self._redact_group(frame.image, image, box, members)
            hidden += _hidden_pixels(box, members)
        return RedactedFrame(
            image,
            index=frame.index,
            t_capture=frame.t_capture,
            pts=frame.pts,
            fully_redacted=False,
            mask_frame_index=masks.frame_index,
            redacted_fraction=hidden / (frame.height * frame.width),
            seal=_SEAL,
        )

    def _static_alpha(self, height: int, width: int) -> _Region | None:
        """The static mask as a region (alpha 255 on its pixels), rebuilt only when it changes."""
        if self._static is None:
            return None
        mask = self._static.mask(height, width)
        if mask is None:
            return None
        cached = self._static_region
        if cached is None or cached[0] is not mask:
            cached = self._static_region = (mask, _exact_region(mask))
        return cached[1]

    def redact_all(self, frame: Frame, *, reason: str) -> RedactedFrame:
        """Hide the whole frame (fail-closed) with ``fail_closed_style``; ``reason`` is recorded.

        Its strength scales with the frame as an object's does with the object: a face can be as
        large as the frame's shorter side, so that side is at most ``max_blocks_across`` blocks
        (or blur sigmas) across, and any face in the frame no more."""
        if not reason:
            raise ValueError("redact_all: expected a reason (e.g. 'stale_masks'), got an empty string")
        cfg = self._config
        side = min(frame.height, frame.width)  # the largest a face in the frame can be
        strength: float
        if cfg.fail_closed_style == "pixelate":
            floor = max(2, round(cfg.fail_closed_strength))
            strength = pixel_block(side, floor=floor, blocks_across=cfg.max_blocks_across)
        else:
            strength = scaled_strength(side, floor=cfg.fail_closed_strength, blocks_across=cfg.max_blocks_across)
        image = redact_whole(frame.image, cfg.fail_closed_style, strength, cfg.solid_color)
        return RedactedFrame(
            image,
            index=frame.index,
            t_capture=frame.t_capture,
            pts=frame.pts,
            fully_redacted=True,
            mask_frame_index=None,
            reason=reason,
            redacted_fraction=1.0,
            seal=_SEAL,
        )

    def _redact_group(self, source: np.ndarray, out: np.ndarray, box: Box, members: list[_Region]) -> None:
        """Apply the style once over ``box`` (from ``source``), then into ``out`` under each member's alpha.

        Blur and pixelation are as strong as the largest member needs (:func:`pixel_block`,
        :func:`scaled_strength`): at most ``max_blocks_across`` blocks, or blur sigmas, across it."""
        cfg = self._config
        height, width = source.shape[:2]
        size = max(member.size for member in members)
        if cfg.style == "solid":
            redacted = self._solid_fill(height, width)[box.slices]
        elif cfg.style == "blur":
            sigma = scaled_strength(size, floor=cfg.blur_strength, blocks_across=cfg.max_blocks_across)
            # Context around the box so the blur near its edge looks like a whole-frame blur,
            # on the blur's grid so it needs no padded copy.
            context = box.padded(math.ceil(sigma), height, width).aligned(blur_cell(sigma), height, width)
            redacted = gaussian_blur(source[context.slices], sigma, inner=box.within(context).slices)
        else:
            block = pixel_block(size, floor=cfg.pixelate_block, blocks_across=cfg.max_blocks_across)
            # Blocks on the frame's grid, so they do not shimmer as the object moves.
            context = box.aligned(block, height, width)
            redacted = pixelate(source[context.slices], block)[box.within(context).slices]
        for member_box, alpha, _ in members:
            target = out[member_box.slices]
            part = redacted[member_box.within(box).slices]
            if cfg.feather_px > 0:
                blend(target, part, alpha)  # overlapping soft edges only get more hidden
            else:
                paste(target, part, alpha)


class _Region(NamedTuple):
    """One object's alpha on the part of the frame it touches, and the object's size (the larger
    side of its mask's box, px), which sets how strongly it is blurred or pixelated."""

    box: Box
    alpha: np.ndarray
    size: float


def _exact_region(mask: np.ndarray) -> _Region | None:
    """An (H, W) bool mask as a region hiding exactly its pixels (alpha 255), None when empty."""
    box = bounding_box(mask)
    if box is None:
        return None
    return _Region(box, mask[box.slices].view(np.uint8) * np.uint8(255), max(box.width, box.height))


def _moved_by(region: _Region, dx: float, dy: float, *, height: int, width: int) -> _Region | None:
    """``region`` moved by (dx, dy) px, clipped to a ``height`` x ``width`` frame; None when that leaves
    it. A fractional shift covers both whole-pixel places around it on each axis.

    Example:
        >>> r = _Region(Box(2, 2, 4, 4), np.full((2, 2), 255, np.uint8), 2)
        >>> moved = _moved_by(r, 1.5, -3.0, height=8, width=8)
        >>> moved.box, moved.alpha.tolist()
        (Box(x0=3, y0=0, x1=6, y1=1), [[255, 255, 255]])
    """
    xs, ys = (math.floor(dx), math.ceil(dx)), (math.floor(dy), math.ceil(dy))
    box = region.box
    spread = Box(box.x0 + xs[0], box.y0 + ys[0], box.x1 + xs[1], box.y1 + ys[1])
    alpha = np.zeros((spread.height, spread.width), np.uint8)
    for oy in set(ys):
        for ox in set(xs):
            part = alpha[oy - ys[0] : oy - ys[0] + box.height, ox - xs[0] : ox - xs[0] + box.width]
            np.maximum(part, region.alpha, out=part)
    inside = Box(max(0, spread.x0), max(0, spread.y0), min(width, spread.x1), min(height, spread.y1))
    if inside.width <= 0 or inside.height <= 0:
        return None
    return _Region(inside, np.ascontiguousarray(alpha[inside.within(spread).slices]), region.size)


def _within(region: tuple[Box, np.ndarray], where: np.ndarray) -> tuple[Box, np.ndarray] | None:
    """``region`` (box, alpha) kept only on the pixels of ``where`` ((H, W) bool); None when none are left.

    Example:
        >>> where = np.zeros((4, 4), bool); where[:, 2:] = True
        >>> _within((Box(1, 1, 3, 3), np.full((2, 2), 255, np.uint8)), where)[1].tolist()
        [[0, 255], [0, 255]]
    """
    box, alpha = region
    kept = np.where(where[box.slices], alpha, np.uint8(0))
    return (box, kept) if kept.any() else None


def _hidden_pixels(box: Box, members: list[_Region]) -> int:
    """Pixels of ``box`` that some member hides completely (alpha 255)."""
    if len(members) == 1:
        return int(np.count_nonzero(members[0].alpha == 255))
    alpha = np.zeros((box.height, box.width), np.uint8)
    for member_box, member_alpha, _ in members:
        part = alpha[member_box.within(box).slices]
        np.maximum(part, member_alpha, out=part)
    return int(np.count_nonzero(alpha == 255))


def _group_overlapping(regions: list[_Region]) -> list[tuple[Box, list[_Region]]]:
    """Gather regions whose boxes overlap under one union box, so shared pixels are redacted once."""
    groups: list[tuple[Box, list[_Region]]] = []
    for region in regions:
        box, members = region[0], [region]
        merged = True
        while merged:  # a grown box may now overlap groups it missed before
            merged = False
            for group in groups:
                if group[0].overlaps(box):
                    groups.remove(group)
                    box, members = box.union(group[0]), members + group[1]
                    merged = True
                    break
        groups.append((box, members))
    return groups
