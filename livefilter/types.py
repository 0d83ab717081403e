"""Typed values passed between pipeline stages.

Frames are read-only so threads share them without copying. A sink only ever
receives a :class:`RedactedFrame`, which only the compositor builds, so a raw
:class:`Frame` cannot reach an output by type: building one takes a seal that is
issued once, to :mod:`livefilter.render.compositor` when it is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import InitVar, dataclass, field

import numpy as np


def _readonly(array: np.ndarray) -> np.ndarray:
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array


def mask_boxes(masks: np.ndarray) -> np.ndarray:
    """(n, 4) int32 ``x0, y0, x1, y1`` (half-open) of each (n, H, W) bool mask's True pixels.

    An empty mask gets the zero-size box ``(0, 0, 0, 0)``. Every pixel is read (no
    sampling: a one-pixel object counts): one OpenCV sum per row over all masks at once,
    then per column over the rows each object spans (~2x faster than numpy's ``any``).

    Example:
        >>> m = np.zeros((2, 10, 10), bool); m[0, 2:4, 5:9] = True
        >>> mask_boxes(m).tolist()
        [[5, 2, 9, 4], [0, 0, 0, 0]]
    """
    import cv2

    n, height, width = masks.shape
    boxes = np.zeros((n, 4), np.int32)
    if masks.size == 0:
        return boxes
    pixels = np.ascontiguousarray(masks).view(np.uint8)
    rows_per_mask = cv2.reduce(pixels.reshape(n * height, width), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)
    for i, row_sums in enumerate(rows_per_mask.reshape(n, height)):
        rows = np.flatnonzero(row_sums)
        if rows.size == 0:
            continue
        y0, y1 = int(rows[0]), int(rows[-1]) + 1
        cols = np.flatnonzero(cv2.reduce(pixels[i, y0:y1], 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S))
        boxes[i] = int(cols[0]), y0, int(cols[-1]) + 1, y1
    return boxes


class _Picture:
    """``height`` and ``width`` of a frame's ``image``."""

    __slots__ = ()
    image: np.ndarray

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True, slots=True)
class Frame(_Picture):
    """One captured picture.

    Attributes:
        image: HxWx3 uint8 BGR pixels, read-only.
        index: monotonic index assigned by the source (0, 1, 2, ...).
        t_capture: ``time.monotonic()`` seconds when the frame was captured.
        pts: media timestamp in seconds (file sources), used for frame-exact output.
        source: short name of the source, for logs and statistics.
        shot: number of the shot (camera take) the frame belongs to, counted by the capture
            thread (``engines.shots.ShotCounter``); it changes at every cut, and masks of
            one shot are never shown on a frame of another.
    """

    image: np.ndarray
    index: int
    t_capture: float
    pts: float | None = None
    source: str = ""
    shot: int = 0

    def __post_init__(self) -> None:
        image = self.image
        if not isinstance(image, np.ndarray):
            raise TypeError(f"Frame.image: expected numpy.ndarray, got {type(image).__name__}")
        if image.dtype != np.uint8:
            raise TypeError(f"Frame.image: expected dtype uint8, got {image.dtype}")
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"Frame.image: expected shape (H, W, 3), got {image.shape}")
        object.__setattr__(self, "image", _readonly(image))


@dataclass(frozen=True, slots=True)
class Prompt:
    """A concept that must never be seen, with its own detection threshold."""

    text: str
    threshold: float = 0.5


@dataclass(frozen=True, slots=True)
class MaskSet:
    """Per-object masks an engine computed on one source frame.

    Attributes:
        masks: (n, H, W) bool, one mask per object, at the source frame's size.
        scores: (n,) float32 confidence per object.
        labels: the prompt each object answers, one per object.
        object_ids: (n,) int64 track ids, stable across frames for a tracked object.
        frame_index: index of the frame the masks were computed on.
        t_capture: capture time of that frame (``time.monotonic()`` seconds).
        velocities: (n, 2) float32 object motion in pixels per second (x, y),
            used to grow masks along the motion while they age; zeros when unknown.
        boxes: (n, 4) int32 half-open ``x0, y0, x1, y1`` of each mask's True pixels
            (:func:`mask_boxes`; zero-size when empty). Computed here from the masks, never
            taken from the engine (a wrong box would leak pixels), so the engine thread pays
            for it once and the render thread, which composites one MaskSet onto many frames,
            never rescans the masks.
    """

    masks: np.ndarray
    scores: np.ndarray
    labels: tuple[str, ...]
    object_ids: np.ndarray
    frame_index: int
    t_capture: float
    velocities: np.ndarray = None  # type: ignore[assignment]  # None: unknown, __post_init__ stores zeros
    boxes: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        masks, n = self.masks, len(self.labels)
        if not isinstance(masks, np.ndarray) or masks.dtype != np.bool_ or masks.ndim != 3:
            got = f"{getattr(masks, 'dtype', type(masks).__name__)} {getattr(masks, 'shape', '')}"
            raise TypeError(f"MaskSet.masks: expected (n, H, W) bool array, got {got}")
        if masks.shape[0] != n:
            raise ValueError(f"MaskSet: expected {masks.shape[0]} labels (one per mask), got {n}")
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        ids = np.asarray(self.object_ids, dtype=np.int64).reshape(-1)
        for name, arr in (("scores", scores), ("object_ids", ids)):
            if arr.shape[0] != n:
                raise ValueError(f"MaskSet.{name}: expected shape ({n},), got {arr.shape}")
        velocities = self.velocities
        velocities = (
            np.zeros((n, 2), np.float32)
            if velocities is None
            else np.asarray(velocities, dtype=np.float32)
        )
        if velocities.shape != (n, 2):
            raise ValueError(f"MaskSet.velocities: expected shape ({n}, 2), got {velocities.shape}")
        object.__setattr__(self, "masks", _readonly(masks))
        object.__setattr__(self, "scores", _readonly(scores))
        object.__setattr__(self, "object_ids", _readonly(ids))
        object.__setattr__(self, "velocities", _readonly(velocities))
        object.__setattr__(self, "boxes", _readonly(mask_boxes(masks)))
        object.__setattr__(self, "labels", tuple(self.labels))

    @classmethod
    def empty(cls, height: int, width: int, *, frame_index: int, t_capture: float) -> MaskSet:
        """A valid result that found nothing (the frame may be shown unredacted)."""
        return cls(
            masks=np.zeros((0, height, width), np.bool_),
            scores=np.zeros(0, np.float32),
            labels=(),
            object_ids=np.zeros(0, np.int64),
            frame_index=frame_index,
            t_capture=t_capture,
        )

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.masks.shape[1]), int(self.masks.shape[2])

    def union(self) -> np.ndarray:
        """(H, W) bool: every pixel covered by any object."""
        if len(self) == 0:
            return np.zeros(self.shape, np.bool_)
        return np.logical_or.reduce(self.masks, axis=0)


def _make_seal() -> tuple[Callable[[], object], Callable[[object], bool]]:
    """``issue()`` hands out the one seal that builds a :class:`RedactedFrame` (once: a second call
    raises); ``is_seal(x)`` checks it. The seal lives only in this closure and in the compositor."""
    seal = object()
    issued = False

    def issue() -> object:
        nonlocal issued
        if issued:
            raise RuntimeError(
                "the RedactedFrame seal was already issued (to livefilter.render.compositor); "
                "only the compositor builds frames that sinks accept"
            )
        issued = True
        return seal

    def is_seal(candidate: object) -> bool:
        return candidate is seal

    return issue, is_seal


_issue_seal, _is_seal = _make_seal()


@dataclass(frozen=True, slots=True)
class RedactedFrame(_Picture):
    """A frame that is safe to publish. Only the compositor builds these: any other
    construction (including ``dataclasses.replace``) raises ``TypeError``.

    Attributes:
        image: HxWx3 uint8 BGR, read-only, redaction applied.
        index: index of the source frame shown.
        t_capture: capture time of the source frame.
        pts: media timestamp of the source frame, when known.
        fully_redacted: True when the whole picture was redacted (fail-closed).
        mask_frame_index: index of the frame the masks came from (None when fully redacted).
        reason: why the frame was fully redacted ("no_masks_yet", "stale_masks", ...), else "".
        redacted_fraction: share of the picture's pixels hidden (1.0 when fully redacted).
        seal: the compositor's seal (init only, not stored).
    """

    image: np.ndarray
    index: int
    t_capture: float
    pts: float | None
    fully_redacted: bool
    mask_frame_index: int | None = None
    reason: str = ""
    redacted_fraction: float = 0.0
    seal: InitVar[object] = None

    def __post_init__(self, seal: object) -> None:
        if not _is_seal(seal):
            raise TypeError(
                "RedactedFrame: only the compositor builds frames that sinks accept "
                "(livefilter.render.compositor.Compositor: redact_regions / redact_all); "
                "a frame in which nothing must be hidden is redact_regions(frame, MaskSet.empty(...))"
            )
        object.__setattr__(self, "image", _readonly(self.image))


@dataclass(frozen=True, slots=True)
class ClickRequest:
    """Points (frame pixels; label 1 = object, 0 = background) or a box (x0, y0, x1, y1)
    for click object ``object_id``, due at source frame ``frame_index`` (None = next frame):
    what a user clicked, for an engine that tracks clicked objects (SAM3)."""

    object_id: int
    frame_index: int | None = None
    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: tuple[float, float, float, float] | None = None
