"""What changed between two pictures: the part of a newer frame the engine has not seen.

In ``low_latency`` mode a frame newer than the engine's last answer is shown with that answer's
masks grown along each known object's motion. Motion of known objects is all the masks can
follow: a face that *appears* between two answers (through the frame edge, from behind an
occluder, a head turning towards the camera) is in no mask. It is, however, a change of the
picture since the frame the engine looked at. :func:`changed_cells` finds every such change, so
the render can hide it until the engine has looked (``render.live_guard: hide_changes``).

Pure functions on numpy arrays. The pictures are compared on a grid of ``cell`` x ``cell``
pixel cells by their mean colour (area-averaged, so sensor noise of sigma s moves a cell's mean
by about s / cell and does not count as change), any channel; each changed cell is grown by one
cell on every side, so a change that only grazes a cell (its mean moves little) is still hidden
when its neighbour changed clearly.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["CHANGE_CELL_PX", "CHANGE_THRESHOLD", "cell_means", "changed_cells"]

CHANGE_CELL_PX = 8
"""Side of a comparison cell, px. A 20 px face covers at least 2 x 2 whole cells."""

CHANGE_THRESHOLD = 8.0
"""A cell changed when a channel of its mean colour moved by more than this (0-255 scale).

Sensor noise of sigma 10 (a dark, grainy camera) moves the difference of two 8 x 8 cell means
by sigma 1.8, so 8 is 4.5 of its sigmas; a face appearing moves the cells it covers by tens of
levels, one in a dark scene (brightness x0.25) still by more than 8 on most of them."""


def cell_means(image: np.ndarray, cell: int = CHANGE_CELL_PX) -> np.ndarray:
    """Mean colour of each ``cell`` x ``cell`` cell of an (H, W, C) uint8 image, rounded: uint8 (ceil(H/cell), ceil(W/cell), C).

    Example:
        >>> img = np.zeros((16, 24, 3), np.uint8); img[:8, :8] = 80
        >>> cell_means(img)[..., 0].tolist()
        [[80, 0, 0], [0, 0, 0]]
    """
    import cv2

    h, w = image.shape[:2]
    rows, cols = math.ceil(h / cell), math.ceil(w / cell)
    if rows * cell != h or cols * cell != w:  # edge cells: pad by replication, they average what is there
        image = cv2.copyMakeBorder(image, 0, rows * cell - h, 0, cols * cell - w, cv2.BORDER_REPLICATE)
    small = cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA)
    return small.reshape(rows, cols, -1)


def changed_cells(
    reference: np.ndarray,
    image: np.ndarray,
    *,
    height: int,
    width: int,
    cell: int = CHANGE_CELL_PX,
    threshold: float = CHANGE_THRESHOLD,
) -> np.ndarray | None:
    """The pixels of a ``height`` x ``width`` frame in cells whose mean colour differs between
    ``reference`` and ``image`` (both from :func:`cell_means`), grown by one cell; None when none did.

    Example:
        >>> a = np.zeros((16, 32, 3), np.uint8); b = a.copy(); b[10:12, 26:28] = 255  # 4 px changed
        >>> mask = changed_cells(cell_means(a), cell_means(b), height=16, width=32)
        >>> mask[::8, ::8].astype(int).tolist()   # cell (1, 3) changed, grown to its neighbours
        [[0, 0, 1, 1], [0, 0, 1, 1]]
        >>> changed_cells(cell_means(a), cell_means(a), height=16, width=32) is None
        True
    """
    import cv2

    if reference.shape != image.shape:
        raise ValueError(f"changed_cells: expected grids of the same shape, got {reference.shape} and {image.shape}")
    diff = cv2.absdiff(image, reference).reshape(*image.shape[:2], -1)
    largest = diff[..., 0]
    for channel in range(1, diff.shape[2]):  # (a reduction over a 3-long axis is slow in numpy)
        largest = np.maximum(largest, diff[..., channel])
    moved = (largest > threshold).view(np.uint8)
    if not moved.any():
        return None
    moved = cv2.dilate(moved, np.ones((3, 3), np.uint8)).view(bool)
    rows = np.flatnonzero(moved.any(axis=1))
    cols = np.flatnonzero(moved.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    full = np.zeros((height, width), bool)  # only the changed cells' box is written: cost follows the change
    box = moved[r0:r1, c0:c1].repeat(cell, axis=0).repeat(cell, axis=1)
    y0, x0 = r0 * cell, c0 * cell
    full[y0 : r1 * cell, x0 : c1 * cell] = box[: height - y0, : width - x0]
    return full
