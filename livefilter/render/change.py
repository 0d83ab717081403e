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

**A moving camera** changes every cell, so on a pan or a drifting handheld camera the plain
comparison hides most of the picture. :func:`unseen_change` therefore also compares the new
frame with the seen one *moved by the camera's apparent motion* (a global translation, estimated
by phase correlation of grey thumbnails and refined to a fraction of a pixel), and keeps whichever
alignment leaves fewer changed cells, when much of the picture changed
(:data:`CAMERA_MIN_CHANGE`) and the shift explains most of it (:data:`CAMERA_GAIN`) all over the
picture (:data:`CAMERA_MIN_TILES`), not just where one object moved. With the
shift, what entered the picture through the border has no counterpart in the seen frame and
counts as changed; a face that appears mid-pan is a change against the moved picture as against
the still one. What the shifted comparison does not hide is content that is in the seen frame
and only moved with the camera: a face the engine *found* there is hidden where that motion took
it by its masks moved along (:attr:`Unseen.shift`, the compositor's ``camera_shift``); a face the
engine *missed* there and that moves exactly with the picture is not hidden, as on a still
camera a missed face that does not move is not. Privacy does not rest on the shift being right:
under any shift, what is not hidden is exactly what looks like the seen frame at the shifted
place; a wrong shift (a periodic wall matched one period off) only hides more.

**What the masks' motion envelope needs to cover.** The compositor grows each mask by its age
along the object's motion and by its recent top speed in every direction: on a still camera a
close-up or a fast face leaves 20-50 % of the picture hidden between answers, mostly where the
object did *not* go. Yet wherever a known object went since the seen frame, the picture changed
(the object is now where other content was); where nothing changed for several cells around,
the picture is the seen one, which the engine answered on. So, compared as a still picture,
:attr:`Unseen.reach` marks the cells that changed even faintly (:data:`MOTION_REACH_THRESHOLD`)
grown by :data:`MOTION_REACH_CELLS`, and the
envelope beyond each mask as seen (dilated) is drawn only there. What that shows unhidden is
again only what looks like the seen frame at that very place, over a neighbourhood of several
cells; a face could only hide from it by matching the seen picture cell by cell over that whole
neighbourhood. With a camera shift the envelope is drawn whole (no ``reach``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CAMERA_GAIN",
    "CAMERA_MIN_CHANGE",
    "CAMERA_MIN_TILES",
    "CAMERA_TILES",
    "CHANGE_CELL_PX",
    "CHANGE_THRESHOLD",
    "MOTION_REACH_CELLS",
    "MOTION_REACH_THRESHOLD",
    "Reference",
    "Unseen",
    "box_means",
    "camera_shift",
    "cell_means",
    "changed_cells",
    "motion_thumbnail",
    "unseen_change",
]

CHANGE_CELL_PX = 8
"""Side of a comparison cell, px. A 20 px face covers at least 2 x 2 whole cells."""

CHANGE_THRESHOLD = 8.0
"""A cell changed when a channel of its mean colour moved by more than this (0-255 scale).

Sensor noise of sigma 10 (a dark, grainy camera) moves the difference of two 8 x 8 cell means
by sigma 1.8, so 8 is 4.5 of its sigmas; a face appearing moves the cells it covers by tens of
levels, one in a dark scene (brightness x0.25) still by more than 8 on most of them."""

MOTION_REACH_CELLS = 4
"""How far (cells) from a change since the seen frame a mask's motion envelope is drawn (:attr:`Unseen.reach`).

The changed cells themselves are hidden anyway; the reach keeps the envelope over what a moving
object may change only faintly: the soft edge of a face and cells where it happens to match what
it moved over. On the leak benchmark's face scenes (engine answers every 4th or 8th frame),
1 cell showed edge pixels of faces crossing the frame at 350 px/s (leak@0 of 276 face-frames:
4 -> 10); 3-4 cells leak the face-frames the whole envelope leaks, no more."""

MOTION_REACH_THRESHOLD = 0.5
"""Where the envelope is drawn, a cell counts as changed from this share of :data:`CHANGE_THRESHOLD`
on: the last sliver of a face leaving through the frame's edge (a few rows of a cell, soft-edged)
moves its cell's mean by 5-8 levels, under the threshold that hides. Sensor noise only spreads
the envelope back (a dark grainy picture: whole), never shrinks it."""

CAMERA_MIN_CHANGE = 0.05
"""Share of the picture the still comparison would hide (its changed cells grown by one cell)
before camera motion is looked for.

Below it the picture is taken as still and compared as it is: a still camera with people moving
in it keeps the plain comparison exactly (and its cost). A moving camera changes most cells of a
textured scene (a 1-2 px drift already a quarter of them); a sub-pixel drift (one frame of a slow
one) only a few percent, scattered, which growing by one cell turns into 12-16 % of the picture
hidden (the leak benchmark's drifting car park, 720p): so it is the grown share that counts."""

CAMERA_TILES = 4
"""The picture is cut into ``CAMERA_TILES`` x ``CAMERA_TILES`` tiles to see where the shift explains change."""

CAMERA_MIN_TILES = 8
"""Tiles (of ``CAMERA_TILES`` squared) in which the shift must explain some change before it is taken
for the camera's: half the picture. When the camera moves, the whole textured scene moves with it;
when one object moves over a flat background (a flat background does not change when it moves),
the shift explains change only where the object is, and a face spans fewer tiles (200 px at 720p:
at most 2 x 3 of 4 x 4). So a face the engine missed, moving over a plain wall, is still hidden."""

MOTION_THUMBNAIL_PX = 4
"""Camera motion is estimated on a grey thumbnail of one pixel per ``MOTION_THUMBNAIL_PX`` x
``MOTION_THUMBNAIL_PX`` pixels: the 8 px cell grid aliases fine texture (gravel, fabric, foliage)
and misjudges its shift by several pixels; at 4 px the estimate is within about a pixel on real photos."""

CAMERA_GAIN = 0.5
"""The camera-moved comparison is used only when it leaves at most this share of the cells the
still one does: the shift must explain most of the change, not trade one change for another (a big
object moving over a flat background also changes many cells, and is not the camera).

Both are counted over the cells with a counterpart in the moved seen picture only: the strip that
entered through the border is hidden whatever is decided, and is a whole row or column of cells even
for a 1 px drift (249 cells at 720p for a (1, 1) px one). Counted in, it outweighed the few hundred
scattered cells a 1 px drift changes over a mostly flat picture (the leak benchmark's car park: 410-428),
and the still comparison hid 12 % of it."""


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


def box_means(image: np.ndarray, cell: int = CHANGE_CELL_PX) -> np.ndarray:
    """Mean colour of the ``cell`` x ``cell`` square whose top-left pixel is each pixel of an (H, W, C)
    uint8 image: uint8 (H, W, C). The cell means of the image moved by any shift are read off it
    (squares reaching past the bottom or right edge average replicated border pixels).

    Example:
        >>> img = np.zeros((16, 16, 3), np.uint8); img[:8, :8] = 80
        >>> box_means(img)[[0, 0, 4], [0, 4, 4], 0].tolist()   # all inside, half, a quarter
        [80, 40, 20]
    """
    import cv2

    return cv2.boxFilter(image, -1, (cell, cell), anchor=(0, 0), normalize=True,
                         borderType=cv2.BORDER_REPLICATE).reshape(image.shape)


def motion_thumbnail(image: np.ndarray) -> np.ndarray:
    """The grey float32 thumbnail of an (H, W, 3) uint8 image that :func:`camera_shift` compares:
    (H // MOTION_THUMBNAIL_PX, W // MOTION_THUMBNAIL_PX), area-averaged.

    Example:
        >>> motion_thumbnail(np.full((720, 1280, 3), 9, np.uint8)).shape
        (180, 320)
    """
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 and image.shape[2] == 3 else image
    size = (max(1, image.shape[1] // MOTION_THUMBNAIL_PX), max(1, image.shape[0] // MOTION_THUMBNAIL_PX))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)


class Reference:
    """What the change test keeps of a picture the engine saw: its cell means, and, computed on first
    need (the camera may have moved), its :func:`motion_thumbnail` and :func:`box_means` for
    comparisons at any shift.

    Example:
        >>> ref = Reference(np.zeros((16, 24, 3), np.uint8))
        >>> ref.means.shape, ref.boxes.shape, ref.thumbnail.shape
        ((2, 3, 3), (16, 24, 3), (4, 6))
    """

    def __init__(self, image: np.ndarray, cell: int = CHANGE_CELL_PX) -> None:
        self.image = image
        self.cell = cell
        self.means = cell_means(image, cell)
        self._boxes: np.ndarray | None = None
        self._thumbnail: np.ndarray | None = None

    @property
    def boxes(self) -> np.ndarray:
        if self._boxes is None:
            self._boxes = box_means(self.image, self.cell)
            self._boxes.flags.writeable = False
        return self._boxes

    @property
    def thumbnail(self) -> np.ndarray:
        if self._thumbnail is None:
            self._thumbnail = motion_thumbnail(self.image)
            self._thumbnail.flags.writeable = False
        return self._thumbnail


@dataclass(frozen=True, slots=True)
class Unseen:
    """What a frame shows that the engine has not seen: ``mask`` (H, W) bool, the pixels to hide;
    ``shift`` (dx, dy) px, the camera's apparent motion since the seen frame that ``mask`` was found
    with ((0, 0): compared as a still picture). Content of the seen frame appears moved by ``shift``;
    what the engine found there must be hidden where that took it, too.

    ``reach`` (H, W) bool, compared as a still picture only (None with a shift): the pixels within
    :data:`MOTION_REACH_CELLS` cells of a cell that changed even faintly, where a known object can have moved
    to since the seen frame; the masks' motion envelope is drawn there (see the module's notes)."""

    mask: np.ndarray
    shift: tuple[float, float] = (0.0, 0.0)
    reach: np.ndarray | None = None


def _largest_channel_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(rows, cols) uint8: the largest difference over the channels of two (rows, cols[, C]) uint8 grids."""
    import cv2

    diff = cv2.absdiff(a, b).reshape(*a.shape[:2], -1)
    largest = diff[..., 0]
    for channel in range(1, diff.shape[2]):  # (a reduction over a 3-long axis is slow in numpy)
        largest = np.maximum(largest, diff[..., channel])
    return largest


def _moved(reference: np.ndarray, image: np.ndarray, threshold: float) -> np.ndarray:
    """(rows, cols) bool: cells where a channel of the mean colour moved by more than ``threshold``."""
    return _largest_channel_diff(image, reference) > threshold


def _grown(moved: np.ndarray, cells: int = 1) -> np.ndarray:
    """(rows, cols) bool: the cells of ``moved`` grown by ``cells`` cells on every side."""
    import cv2

    return cv2.dilate(moved.view(np.uint8), np.ones((2 * cells + 1, 2 * cells + 1), np.uint8)).view(bool)


def _cell_pixels(cells: np.ndarray, *, height: int, width: int, cell: int) -> np.ndarray | None:
    """The pixels of a ``height`` x ``width`` frame in ``cells`` ((rows, cols) bool); None when there are none."""
    if not cells.any():
        return None
    rows = np.flatnonzero(cells.any(axis=1))
    cols = np.flatnonzero(cells.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    full = np.zeros((height, width), bool)  # only the changed cells' box is written: cost follows the change
    box = cells[r0:r1, c0:c1].repeat(cell, axis=0).repeat(cell, axis=1)
    y0, x0 = r0 * cell, c0 * cell
    full[y0 : r1 * cell, x0 : c1 * cell] = box[: height - y0, : width - x0]
    return full


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
    if reference.shape != image.shape:
        raise ValueError(f"changed_cells: expected grids of the same shape, got {reference.shape} and {image.shape}")
    return _cell_pixels(_grown(_moved(reference, image, threshold)), height=height, width=width, cell=cell)


@functools.lru_cache(maxsize=4)
def _window(rows: int, cols: int) -> np.ndarray:
    import cv2

    window = cv2.createHanningWindow((cols, rows), cv2.CV_32F)
    window.flags.writeable = False
    return window


def camera_shift(reference: np.ndarray, image: np.ndarray) -> tuple[float, float]:
    """The global translation (dx, dy) px that best carries the picture of ``reference`` onto ``image``
    (both :func:`motion_thumbnail`): phase correlation, to a fraction of a thumbnail pixel. A camera
    pan moves the whole picture; (0, 0) when nothing gives a shift.

    Example:
        >>> import cv2
        >>> rng = np.random.default_rng(0)
        >>> wall = cv2.resize(rng.integers(0, 255, (50, 90, 3), dtype=np.uint8), (720, 400), interpolation=cv2.INTER_CUBIC)
        >>> a, b = wall[16:376, 16:656], wall[8:368, 40:680]   # the camera moved 24 px right, 8 px up
        >>> [round(v) for v in camera_shift(motion_thumbnail(a), motion_thumbnail(b))]   # the picture: left, down
        [-24, 8]
    """
    import cv2

    if reference.shape != image.shape:
        raise ValueError(f"camera_shift: expected thumbnails of the same shape, got {reference.shape} and {image.shape}")
    window = _window(*image.shape[:2])
    # Windowed copies: given the window, OpenCV multiplies its inputs by it in place.
    (dx, dy), _ = cv2.phaseCorrelate(reference * window, image * window)
    if not (math.isfinite(dx) and math.isfinite(dy)):
        return 0.0, 0.0
    return dx * MOTION_THUMBNAIL_PX, dy * MOTION_THUMBNAIL_PX


def _aligned_diff(
    boxes: np.ndarray, means: np.ndarray, shift: tuple[float, float], *, cell: int, step: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Over every ``step``-th cell of ``means``: the largest channel difference (uint8) from the seen
    picture moved by ``shift`` (its :func:`box_means` ``boxes`` read at the moved place, bilinear),
    and whether that place lies wholly inside the seen picture (bool; not: it entered through the border)."""
    import cv2

    height, width = boxes.shape[:2]
    dx, dy = shift
    ys = np.arange(0, means.shape[0], step, dtype=np.float32) * cell - np.float32(dy)
    xs = np.arange(0, means.shape[1], step, dtype=np.float32) * cell - np.float32(dx)
    map_x, map_y = np.meshgrid(xs, ys)
    moved_ref = cv2.remap(boxes, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    largest = _largest_channel_diff(moved_ref.reshape(len(ys), len(xs), -1), means[::step, ::step])
    inside = ((ys >= 0) & (ys <= height - cell))[:, None] & ((xs >= 0) & (xs <= width - cell))[None, :]
    return largest, inside


RANKING_CELLS = 4000
"""Shifts are ranked on every n-th cell in each direction, n such that about this many are compared
(every 2nd at 720p, every 3rd at 1080p); the chosen one is then compared on every cell."""

SHIFT_SEARCH_STEPS = 6
"""Steps of the whole-pixel descent from the estimate (each 1 px along one axis)."""


def _best_shift(
    boxes: np.ndarray, means: np.ndarray, estimate: tuple[float, float], *, cell: int, threshold: float
) -> tuple[float, float]:
    """The shift near ``estimate`` under which the fewest cells with a counterpart in the seen picture
    changed (on a subset of the cells, :data:`RANKING_CELLS`; counting all cells would favour the
    smaller shift, whose border strip is smaller): the estimate itself, the best whole pixel near
    it, or a fraction of a pixel off that (the vertex of a parabola through its neighbours' mean
    squared differences, on each axis)."""
    step = max(1, round(math.sqrt(means.shape[0] * means.shape[1] / RANKING_CELLS)))

    def score(shift: tuple[float, float]) -> tuple[float, int, float]:
        """Share of the compared cells that changed; then fewer cells that came in; then closeness."""
        largest, inside = _aligned_diff(boxes, means, shift, cell=cell, step=step)
        if not inside.any():
            return math.inf, 0, math.inf
        compared = largest[inside]
        squared = float(np.mean(np.square(compared, dtype=np.float32)))
        return float(np.mean(compared > threshold)), inside.size - compared.size, squared

    # Descend over whole pixels from the estimate's: the best of it and its 4 neighbours, until it is itself.
    scores: dict[tuple[int, int], tuple[float, int, float]] = {}
    bx, by = round(estimate[0]), round(estimate[1])
    for _ in range(SHIFT_SEARCH_STEPS):
        for i, j in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
            if (bx + i, by + j) not in scores:
                scores[(bx + i, by + j)] = score((bx + i, by + j))
        best = min(scores, key=lambda k: scores[k])
        if best == (bx, by):
            break
        bx, by = best
    fine = [float(bx), float(by)]
    for axis, (before, after) in enumerate([((bx - 1, by), (bx + 1, by)), ((bx, by - 1), (bx, by + 1))]):
        if before in scores and after in scores:
            low, mid, high = scores[before][2], scores[(bx, by)][2], scores[after][2]
            curve = low - 2 * mid + high
            if math.isfinite(curve) and curve > 0:
                fine[axis] += min(0.5, max(-0.5, (low - high) / (2 * curve)))
    ranked = {(float(bx), float(by)): scores[(bx, by)]}
    for candidate in ((fine[0], fine[1]), estimate):
        if candidate not in ranked:
            ranked[candidate] = score(candidate)
    return min(ranked, key=lambda k: ranked[k])


def _spread(cells: np.ndarray) -> int:
    """In how many of the ``CAMERA_TILES`` x ``CAMERA_TILES`` tiles of a (rows, cols) bool grid at
    least one cell in 50 is True (0 for a grid too small to cut)."""
    if min(cells.shape) < CAMERA_TILES:
        return 0
    rows = np.linspace(0, cells.shape[0], CAMERA_TILES + 1).astype(int)
    cols = np.linspace(0, cells.shape[1], CAMERA_TILES + 1).astype(int)
    counts = np.add.reduceat(np.add.reduceat(cells.astype(np.int32), rows[:-1], axis=0), cols[:-1], axis=1)
    sizes = np.diff(rows)[:, None] * np.diff(cols)[None, :]
    return int(np.count_nonzero(counts * 50 >= np.maximum(sizes, 1)))


def unseen_change(
    reference: Reference,
    image: np.ndarray,
    *,
    threshold: float = CHANGE_THRESHOLD,
    guess: tuple[float, float] | None = None,
) -> Unseen | None:
    """What ``image`` shows that ``reference`` (the picture the engine saw) did not: its changed cells,
    compared as a still picture or, when the camera moved, with the seen picture moved by the camera's
    apparent motion when that explains most of the change all over the picture (see the module's
    notes), and, compared as a still picture, where known objects can have moved (``reach``); None
    when nothing changed, not even faintly (then nothing moved either).

    ``guess``: where the camera's motion probably is (say, the last frame's shift scaled to this
    frame's age): tried first, and the picture's phase correlation (about a millisecond at 720p)
    only when the shift found from it does not explain the change or still leaves
    :data:`CAMERA_MIN_CHANGE` of the picture hidden (a stale guess, after the camera turned or a cut,
    settles near itself on a shift that explains just enough); the shift that hides less is kept.

    Example (the camera drifts 3 px to the right over a textured wall; a square appears):
        >>> import cv2
        >>> rng = np.random.default_rng(0)
        >>> wall = cv2.resize(rng.integers(0, 255, (50, 90, 3), dtype=np.uint8), (720, 400), interpolation=cv2.INTER_CUBIC)
        >>> seen, later = wall[20:380, 20:660].copy(), wall[20:380, 23:663].copy()
        >>> later[100:140, 200:240] = 255
        >>> unseen = unseen_change(Reference(seen), later)
        >>> unseen.shift, bool(unseen.mask[100:140, 200:240].all()), bool(unseen.mask[:, 632:].all())
        ((-3.0, 0.0), True, True)
        >>> round(float(unseen.mask.mean()), 3)   # the square and the strip that came in, not the wall
        0.041
        >>> still = changed_cells(cell_means(seen), cell_means(later), height=360, width=640)
        >>> round(float(still.mean()), 3)   # compared as a still picture: nearly all of it
        1.0
    """
    height, width = image.shape[:2]
    cell = reference.cell
    means = cell_means(image, cell)
    if means.shape != reference.means.shape:
        raise ValueError(
            f"unseen_change: expected a picture of the seen one's size, got {width}x{height} "
            f"and {reference.image.shape[1]}x{reference.image.shape[0]}"
        )
    still_diff = _largest_channel_diff(means, reference.means)
    moved = still_diff > threshold
    shift: tuple[float, float] = (0.0, 0.0)
    grown = _grown(moved)
    if np.count_nonzero(grown) >= CAMERA_MIN_CHANGE * moved.size:
        for estimate in ([] if guess is None else [guess]) + [None]:
            if estimate is None:  # phase correlation is good to about a pixel; the comparison needs a fraction
                estimate = camera_shift(reference.thumbnail, motion_thumbnail(image))
            best = _best_shift(reference.boxes, means, estimate, cell=cell, threshold=threshold)
            largest, inside = _aligned_diff(reference.boxes, means, best, cell=cell)
            aligned = (largest > threshold) | ~inside  # what entered through the border has no counterpart
            # The gain is judged where both comparisons have something to compare: the strip that came
            # in is a whole cell row or column even for a 1 px drift, a cost of the shift's size, not of
            # change it leaves unexplained (see CAMERA_GAIN).
            explains = (
                np.count_nonzero(aligned & inside) <= CAMERA_GAIN * np.count_nonzero(moved & inside)
                and _spread(moved & ~aligned) >= CAMERA_MIN_TILES
            )
            if best != (0.0, 0.0) and explains:
                hidden = _grown(aligned)
                if shift == (0.0, 0.0) or np.count_nonzero(hidden) < np.count_nonzero(grown):
                    grown, shift = hidden, best
                # A guess that leaves little hidden is taken as it is; one that leaves more may be a local
                # optimum near a stale motion (the camera turned; a cut): phase correlation decides.
                if np.count_nonzero(grown) < CAMERA_MIN_CHANGE * moved.size:
                    break
    mask = _cell_pixels(grown, height=height, width=width, cell=cell)
    if shift != (0.0, 0.0):
        return None if mask is None else Unseen(mask, shift)
    faint = still_diff > threshold * MOTION_REACH_THRESHOLD  # (includes `moved`)
    reach = _cell_pixels(_grown(faint, MOTION_REACH_CELLS), height=height, width=width, cell=cell)
    if reach is None:
        return None
    return Unseen(np.zeros((height, width), np.bool_) if mask is None else mask, shift, reach)
