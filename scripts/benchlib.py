"""Shared helpers for livefilter's benchmarks (``scripts/bench_*.py``).

Scoring is pure numpy so it can be tested on hand-made arrays
(``tests/scripts/test_benchlib.py``); the I/O edges (the deface baseline, the
recording sink, the paced clip source, RSS sampling) are small classes below.

How redacted pixels are known exactly: every clip frame is passed through
:func:`exclude_sentinel`, so no input pixel equals the sentinel colour (pure black).
Both livefilter (``style: solid``, ``solid_color: [0, 0, 0]``, no feathering) and
deface (``replacewith='solid'``, which draws black boxes) paint redacted pixels in
exactly that colour, so ``redacted = output == sentinel`` on all three channels, with
neither false positives (the input never has the colour) nor false negatives. Every
other output pixel must equal the input pixel; :func:`inexact_pixels` counts those that
do not (blending, feathering), which would make the measurement inexact, and the
benchmark prints that count. Fail-closed frames (``RedactedFrame.fully_redacted``)
count as fully redacted whatever their style.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np

SENTINEL_BGR = (0, 0, 0)
LEAK_TAUS = (0.0, 0.05, 0.2)


# --------------------------------------------------------------------------- real media


def shared_data() -> Path:
    """The real test media folder ``shared/data`` beside the project (see its README).

    ``$LIVEFILTER_SHARED_DATA`` wins; otherwise the nearest ``shared/data`` found walking up
    from this repository (a git worktree may sit one level deeper than the main checkout).
    """
    import os

    if os.environ.get("LIVEFILTER_SHARED_DATA"):
        return Path(os.environ["LIVEFILTER_SHARED_DATA"])
    repo = Path(__file__).resolve().parents[1]
    for parent in repo.parents:
        if (parent / "shared" / "data").is_dir():
            return parent / "shared" / "data"
    return repo.parent / "shared" / "data"


# --------------------------------------------------------------------------- pixels


def exclude_sentinel(image: np.ndarray, sentinel: Sequence[int] = SENTINEL_BGR) -> np.ndarray:
    """A copy of ``image`` in which no pixel equals ``sentinel`` (such pixels move by one level).

    Then a sentinel-coloured output pixel can only come from redaction.
    """
    out = np.array(image, dtype=np.uint8, copy=True)
    hit = np.all(out == np.asarray(sentinel, np.uint8), axis=-1)
    if hit.any():
        channel = out[..., 0]
        channel[hit] = np.where(channel[hit] < 255, channel[hit] + 1, channel[hit] - 1)
    return out


def redacted_pixels(output: np.ndarray, sentinel: Sequence[int] = SENTINEL_BGR) -> np.ndarray:
    """(H, W) bool: output pixels painted in the sentinel colour (= redacted)."""
    import cv2

    colour = tuple(int(c) for c in sentinel)
    return cv2.inRange(np.ascontiguousarray(output), colour, colour) > 0


def inexact_pixels(output: np.ndarray, source: np.ndarray, redacted: np.ndarray) -> int:
    """Pixels neither redacted nor identical to the input; 0 when the scoring is exact."""
    import cv2

    same = cv2.inRange(cv2.absdiff(np.ascontiguousarray(output), np.ascontiguousarray(source)), (0, 0, 0), (0, 0, 0))
    return int(np.count_nonzero(~((same > 0) | redacted)))


def labels_from_masks(face_masks: np.ndarray) -> np.ndarray:
    """(H, W) uint8 label map from (k, H, W) disjoint face masks: 0 = no face, i + 1 = face i.

    One byte per pixel instead of k: a 1080p clip's ground truth fits in memory.
    """
    masks = np.asarray(face_masks, dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f"face_masks: expected (k, H, W), got shape {masks.shape}")
    if len(masks) > 255:
        raise ValueError(f"face_masks: at most 255 faces fit a uint8 label map, got {len(masks)}")
    labels = np.zeros(masks.shape[1:], np.uint8)
    covered = np.zeros(masks.shape[1:], np.int32)
    for i, mask in enumerate(masks):
        labels[mask] = i + 1
        covered += mask
    if covered.max(initial=0) > 1:
        raise ValueError("face_masks: faces overlap; each pixel must belong to at most one face")
    return labels


# --------------------------------------------------------------------------- scoring


def face_leak_fractions(redacted: np.ndarray, labels: np.ndarray, faces: int) -> np.ndarray:
    """(faces,) share of each face's visible pixels left unredacted; NaN for a face not visible.

    Args:
        redacted: (H, W) bool, True where the output was redacted.
        labels: (H, W) uint8 ground truth, 0 = no face, i + 1 = a visible pixel of face i.
        faces: how many faces the clip has (labels never exceed it).
    """
    if labels.shape != redacted.shape:
        raise ValueError(f"labels: expected shape {redacted.shape}, got {labels.shape}")
    visible = np.bincount(labels.ravel(), minlength=faces + 1)[1:]
    shown = np.bincount(labels[~redacted], minlength=faces + 1)[1:]
    if len(visible) > faces:
        raise ValueError(f"labels: face {len(visible)} found, but the clip has {faces} faces")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(visible > 0, shown / np.maximum(visible, 1), np.nan)


def longest_run(flags: Sequence[bool] | np.ndarray) -> int:
    """Length of the longest run of consecutive True values."""
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


# A frame counts as heavily redacted above this share of its non-face pixels (issue 16) ...
HEAVY_SHARE = 0.25
# ... and a face-free frame may not be redacted beyond this share (outside fail-closed frames).
FACE_FREE_LIMIT = 0.10


@dataclass(frozen=True, slots=True)
class LeakResult:
    """Leak and over-redaction figures of one run (one scenario, one redactor), as counts.

    Over-redaction counts only frames that were not fail-closed: fail-closed frames are
    counted apart (``fully_redacted``), so a startup episode does not hide or inflate what
    the masks themselves cover. Fail-closed frames never leak.
    """

    face_frames: int  # (frame, face) pairs with the face at least partly visible
    leaks: dict[float, int]  # tau -> leaked face-frames
    longest_run: dict[float, int]  # tau -> most consecutive scored frames one face leaked in
    over_pixels: int  # redacted non-face pixels, frames not fail-closed
    nonface_pixels: int  # non-face pixels, frames not fail-closed
    heavy_frames: int  # frames (not fail-closed) with > HEAVY_SHARE of non-face pixels redacted
    face_free_frames: int  # frames (not fail-closed) with no face visible
    face_free_over: int  # of which more than FACE_FREE_LIMIT redacted
    face_free_engine: int  # of those, frames whose engine masks alone cover more than FACE_FREE_LIMIT
    frames: int  # frames scored
    fully_redacted: int  # of which fail-closed
    inexact: int  # pixels neither redacted nor equal to the input (0 = exact scoring)

    def leak_rate(self, tau: float) -> float:
        return self.leaks[tau] / self.face_frames if self.face_frames else float("nan")

    @property
    def over_redaction(self) -> float:
        """Share of non-face pixels redacted (frames not fail-closed)."""
        return self.over_pixels / self.nonface_pixels if self.nonface_pixels else 0.0

    @property
    def heavy_share(self) -> float:
        """Share of frames (not fail-closed) more than HEAVY_SHARE redacted."""
        shown = self.frames - self.fully_redacted
        return self.heavy_frames / shown if shown else 0.0


@dataclass
class LeakScorer:
    """Accumulates per-frame scores, in the order frames were output.

    Faces are identified by their label (stable across a clip). A face that is not
    visible in a frame breaks its run of leaked frames.
    """

    faces: int
    taus: Sequence[float] = LEAK_TAUS
    _fractions: list[np.ndarray] = field(default_factory=list)
    _over: int = 0
    _nonface: int = 0
    _heavy: int = 0
    _face_free: int = 0
    _face_free_over: int = 0
    _face_free_engine: int = 0
    _fully: int = 0
    _inexact: int = 0

    def add(self, redacted: np.ndarray, labels: np.ndarray, *, fully_redacted: bool = False, inexact: int = 0,
            engine_share: float | None = None) -> None:
        """One output frame: ``redacted`` pixels against the face ``labels``; ``engine_share``: the share
        of the frame the engine's own masks for it cover (None: not known), which tells a face-free frame
        over the limit by the engine's masks (a phantom face) from one by what the render hid besides."""
        if fully_redacted:
            self._fully += 1
            self._fractions.append(face_leak_fractions(np.ones(redacted.shape, bool), labels, self.faces))
            return
        fractions = face_leak_fractions(redacted, labels, self.faces)
        self._fractions.append(fractions)
        nonface = labels == 0
        over, total = int(np.count_nonzero(redacted & nonface)), int(np.count_nonzero(nonface))
        self._over += over
        self._nonface += total
        share = over / total if total else 0.0
        self._heavy += share > HEAVY_SHARE
        if np.isnan(fractions).all():
            self._face_free += 1
            if share > FACE_FREE_LIMIT:
                self._face_free_over += 1
                self._face_free_engine += engine_share is not None and engine_share > FACE_FREE_LIMIT
        self._inexact += inexact

    def result(self) -> LeakResult:
        k = self.faces
        table = np.full((len(self._fractions), k), np.nan)
        for i, f in enumerate(self._fractions):
            table[i] = f
        visible = ~np.isnan(table)
        leaks: dict[float, int] = {}
        runs: dict[float, int] = {}
        for tau in self.taus:
            leaked = visible & (np.nan_to_num(table, nan=0.0) > tau)
            leaks[tau] = int(leaked.sum())
            runs[tau] = max((longest_run(leaked[:, j]) for j in range(k)), default=0)
        return LeakResult(
            face_frames=int(visible.sum()),
            leaks=leaks,
            longest_run=runs,
            over_pixels=self._over,
            nonface_pixels=self._nonface,
            heavy_frames=self._heavy,
            face_free_frames=self._face_free,
            face_free_over=self._face_free_over,
            face_free_engine=self._face_free_engine,
            frames=len(self._fractions),
            fully_redacted=self._fully,
            inexact=self._inexact,
        )


def merge(results: Sequence[LeakResult]) -> LeakResult:
    """Totals over several runs (pixel counts pooled; longest run = the longest of any run)."""
    taus = results[0].leaks.keys() if results else ()
    total = {f: sum(getattr(r, f) for r in results) for f in (
        "face_frames", "over_pixels", "nonface_pixels", "heavy_frames", "face_free_frames", "face_free_over",
        "face_free_engine", "frames", "fully_redacted", "inexact")}
    return LeakResult(
        leaks={t: sum(r.leaks[t] for r in results) for t in taus},
        longest_run={t: max(r.longest_run[t] for r in results) for t in taus},
        **total,
    )


# --------------------------------------------------------------------------- tables


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, float), q)) if len(values) else float("nan")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; floats get 3 significant decimals."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return "–" if np.isnan(value) else f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (benchmarks run headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path) -> None:
    """Lay out, write and announce a plot (on stderr, so tables on stdout stay clean)."""
    import sys

    fig.tight_layout()
    fig.savefig(path)
    print(f"# plot: {path}", file=sys.stderr)


def machine_summary() -> str:
    """One line describing the machine and versions, printed with every table."""
    import os
    import platform

    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_gib = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} logical CPUs ({cpu}), {mem_gib:.0f} GiB RAM, no GPU used; "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )


# --------------------------------------------------------------------------- deface


class DefaceBaseline:
    """deface 1.5 (CenterFace, per frame) with its CLI defaults and ``replacewith='solid'``.

    deface reads video as RGB, so frames are converted from BGR and back; its solid
    fill is black, the benchmark sentinel. ``in_shape`` (W, H) is deface's ``--scale``:
    the network input size (default: the frame's own size).

    Its backend is OpenCV DNN, what ``pip install deface`` runs: its ``auto`` picks onnxruntime
    only when the ``onnx`` package is installed too (not one of deface's dependencies), and
    livefilter's ``centerface`` extra installs it, so ``auto`` would make the baseline depend on
    which extras are installed. deface's onnxruntime backend is not the faster one here: it keeps
    the model's weights among its graph inputs (so onnxruntime folds no constants; livefilter's
    CenterFace takes them out, ``centerface_model``), and measured 583 vs 372 ms a 720p frame
    against OpenCV with the 2 cores busy.
    """

    name = "deface"
    threshold = 0.2  # deface's --thresh default
    mask_scale = 1.3  # deface's --mask-scale default

    def __init__(self, in_shape: tuple[int, int] | None = None) -> None:
        from deface.centerface import CenterFace

        with contextlib.redirect_stdout(io.StringIO()):  # it prints its ONNX provider
            self._centerface = CenterFace(in_shape=in_shape, backend="opencv")

    def redact(self, image_bgr: np.ndarray) -> np.ndarray:
        """The redacted BGR image (a new array)."""
        from deface.deface import anonymize_frame

        rgb = np.ascontiguousarray(image_bgr[..., ::-1])
        dets, _ = self._centerface(rgb, threshold=self.threshold)
        anonymize_frame(
            dets,
            rgb,
            mask_scale=self.mask_scale,
            replacewith="solid",
            ellipse=True,
            draw_scores=False,
            replaceimg=None,
            mosaicsize=20,
        )
        return np.ascontiguousarray(rgb[..., ::-1])


# --------------------------------------------------------------------------- pipeline edges


def make_pipeline(config, *, sinks: Sequence[object], source: object | None = None,
                  on_masks: Callable[[object], None] | None = None):
    """``build_pipeline`` (the product's own wiring) with the benchmark's sinks and optionally its source.

    The configured sinks are replaced by a null sink, so the benchmark sink measures at the
    point frames leave the pipeline and no output encoding is mixed into the figures.
    ``on_masks`` sees every MaskSet the engine returns.
    """
    from livefilter.config.sinks import NullSinkConfig
    from livefilter.engines import create_engine, resolve_engine_kind
    from livefilter.pipeline import build_pipeline

    config = config.model_copy(update={"sinks": [NullSinkConfig()]})
    factory = None
    if on_masks is not None:
        kind = resolve_engine_kind(config.engine)
        exact = config.render.mode == "exact"  # as build_pipeline: file jobs get the exact schedule

        def factory(prompts):
            return ObservedEngine(create_engine(config.engine, prompts, kind=kind, exact=exact), on_masks)

    return build_pipeline(config, extra_sinks=list(sinks), source=source, engine_factory=factory)


class ObservedEngine:
    """Delegates to an engine and shows each result to ``on_masks`` (e.g. to count objects)."""

    def __init__(self, engine, on_masks: Callable[[object], None]) -> None:
        self._engine = engine
        self._on_masks = on_masks
        self.name = engine.name

    def infer(self, frame):
        masks = self._engine.infer(frame)
        self._on_masks(masks)
        return masks

    def __getattr__(self, attribute: str):  # open, close, reset, set_prompts, ...
        return getattr(self._engine, attribute)


class ClipSource:
    """A Source over pre-rendered frames: paced in real time (``live``) or as fast as read.

    Follows ``livefilter.sources.base.Source``; pacing sleeps to absolute deadlines
    from the first read, so a slow consumer does not stretch the clip.
    """

    def __init__(self, frames: Sequence[np.ndarray], *, fps: float, live: bool, name: str = "clip") -> None:
        self.name = name
        self._frames = frames
        self._fps = fps
        self._live = live
        self._next = 0
        self._t0: float | None = None

    @property
    def nominal_fps(self) -> float | None:
        return self._fps

    @property
    def live(self) -> bool:
        return self._live

    def open(self) -> None:
        self._next = 0
        self._t0 = None

    def read(self):  # -> Frame | None
        from livefilter.types import Frame

        if self._next >= len(self._frames):
            return None
        i = self._next
        if self._live:
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            delay = self._t0 + i / self._fps - now
            if delay > 0:
                time.sleep(delay)
        self._next += 1
        return Frame(self._frames[i], index=i, t_capture=time.monotonic(), pts=i / self._fps, source=self.name)

    def close(self) -> None:
        self._next = len(self._frames)


class CallbackSink:
    """A lossless or live Sink that hands every ``RedactedFrame`` to ``on_frame``."""

    def __init__(self, on_frame: Callable[[object], None], *, lossless: bool, name: str = "bench") -> None:
        self.name = name
        self.lossless = lossless
        self._on_frame = on_frame
        self.count = 0

    def open(self) -> None:
        pass

    def write(self, frame) -> None:  # frame: RedactedFrame
        self._on_frame(frame)
        self.count += 1

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- memory


@dataclass(frozen=True, slots=True)
class RssSample:
    t: float  # seconds since sampling started
    frames: int  # frames done when sampled
    rss_mb: float


class RssSampler:
    """Samples this process's resident memory (and a frame counter) on a thread."""

    def __init__(self, frames: Callable[[], int], *, interval_s: float = 0.5) -> None:
        import psutil

        self._process = psutil.Process()
        self._frames = frames
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench:rss", daemon=True)
        self.samples: list[RssSample] = []
        self._t0 = 0.0

    def _sample(self) -> None:
        rss = self._process.memory_info().rss / 2**20
        self.samples.append(RssSample(time.monotonic() - self._t0, self._frames(), rss))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def __enter__(self) -> Self:
        self._t0 = time.monotonic()
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()


def rss_growth(samples: Sequence[RssSample], *, warmup_frames: int) -> tuple[float, float, float]:
    """(RSS after warm-up, RSS at the end, growth) in MB; warm-up = first sample past ``warmup_frames``."""
    after = [s for s in samples if s.frames >= warmup_frames]
    if not after:
        raise ValueError(f"no RSS sample after {warmup_frames} frames (got {len(samples)} samples)")
    start = after[0].rss_mb
    end = float(np.median([s.rss_mb for s in after[-3:]]))
    return start, end, end - start


def rss_slope(samples: Sequence[RssSample], *, from_frames: int) -> float:
    """Least-squares RSS growth in MB per 1 000 frames over the samples from ``from_frames`` on.

    Over the second half of a run it tells a slow leak (still rising) from warm-up that ended.
    """
    after = [s for s in samples if s.frames >= from_frames]
    if len({s.frames for s in after}) < 2:
        raise ValueError(f"need samples at two frame counts from frame {from_frames} (got {len(after)} samples)")
    slope = np.polyfit([s.frames for s in after], [s.rss_mb for s in after], 1)[0]
    return float(slope * 1000)


@contextlib.contextmanager
def cpu_meter() -> Iterator[dict[str, float]]:
    """Process CPU use over the block, in percent of one core (200 % = both cores busy)."""
    import psutil

    process = psutil.Process()
    process.cpu_percent(None)
    t0 = time.monotonic()
    result: dict[str, float] = {}
    yield result
    result["cpu_percent"] = process.cpu_percent(None)
    result["seconds"] = time.monotonic() - t0
