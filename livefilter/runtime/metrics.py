"""Pipeline statistics: counters plus rolling windows of fixed size.

Every window is a ``deque`` with a ``maxlen``, so a run of months keeps constant memory.
:class:`Metrics` is written by the pipeline threads; :meth:`Metrics.snapshot` returns a
frozen :class:`Stats` that can be printed, logged or compared in tests.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

__all__ = [
    "EVENTS",
    "LATENCY_BUCKETS_S",
    "RATE_WINDOW_S",
    "WINDOW_SIZE",
    "Histogram",
    "HistogramSnapshot",
    "Metrics",
    "Stats",
]

WINDOW_SIZE = 1024
"""Most recent samples kept per rolling window (timestamps, mask ages, latencies)."""

EVENTS = frozenset(
    {"engine_restarts", "source_reconnects", "sink_errors", "sink_frames_dropped", "render_errors"}
)
"""Counters bumped with :meth:`Metrics.count`."""

RATE_WINDOW_S = 5.0
"""Rates (fps) are measured over the last this many seconds."""

LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0)
"""Upper bounds (seconds) of the mask-age and latency histograms (Prometheus ``le``)."""


@dataclass(frozen=True, slots=True)
class HistogramSnapshot:
    """A cumulative histogram: ``counts[i]`` samples were <= ``bounds[i]``; ``count`` and ``sum`` of all."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    sum: float


class Histogram:
    """Counts of samples under fixed bounds since creation (constant memory, never reset).

    Example:
        >>> h = Histogram((0.1, 1.0))
        >>> for v in (0.05, 0.5, 3.0): h.observe(v)
        >>> h.snapshot()
        HistogramSnapshot(bounds=(0.1, 1.0), counts=(1, 2), count=3, sum=3.55)
    """

    def __init__(self, bounds: tuple[float, ...]) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError(f"Histogram: expected increasing bounds, got {bounds}")
        self._bounds = bounds
        self._lock = threading.Lock()
        self._counts = [0] * len(bounds)
        self._count = 0
        self._sum = 0.0

    def observe(self, value: float) -> None:
        with self._lock:
            self._count += 1
            self._sum += value
            for i, bound in enumerate(self._bounds):
                if value <= bound:
                    self._counts[i] += 1
                    break

    def snapshot(self) -> HistogramSnapshot:
        with self._lock:
            cumulative, total = [], 0
            for count in self._counts:
                total += count
                cumulative.append(total)
            return HistogramSnapshot(self._bounds, tuple(cumulative), self._count, round(self._sum, 9))


@dataclass(frozen=True, slots=True)
class Stats:
    """One snapshot of the pipeline's health. Times in milliseconds; None when not measured yet."""

    uptime_s: float
    capture_fps: float
    engine_fps: float
    output_fps: float
    frames_captured: int
    frames_dropped: int
    frames_inferred: int
    frames_published: int
    fail_closed: Mapping[str, int]
    mask_age_ms_p50: float | None
    mask_age_ms_p95: float | None
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    engine_restarts: int
    source_reconnects: int
    sink_errors: int
    sink_frames_dropped: int
    render_errors: int
    engine_queue_peak: int
    mask_age_s: HistogramSnapshot
    latency_s: HistogramSnapshot

    @property
    def frames_fully_redacted(self) -> int:
        return sum(self.fail_closed.values())

    def format(self) -> str:
        """A readable multi-line block for logs and the terminal.

        Example:
            >>> print(Metrics(clock=lambda: 0.0).snapshot().format())  # doctest: +NORMALIZE_WHITESPACE
            livefilter stats after 0.0 s
              capture   0.0 fps  captured 0  dropped 0  source reconnects 0
              engine    0.0 fps  inferred 0  restarts 0  queue peak 0
              output    0.0 fps  published 0  fully redacted 0
              mask age  p50 -  p95 -
              latency   p50 -  p95 - (capture -> sinks)
              sinks     errors 0  frames dropped 0  render errors 0
        """
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(self.fail_closed.items()))
        redacted = f"fully redacted {self.frames_fully_redacted}" + (f" ({reasons})" if reasons else "")
        return "\n".join(
            [
                f"livefilter stats after {self.uptime_s:.1f} s",
                (
                    f"  capture  {self.capture_fps:5.1f} fps  captured {self.frames_captured}  "
                    f"dropped {self.frames_dropped}  source reconnects {self.source_reconnects}"
                ),
                (
                    f"  engine   {self.engine_fps:5.1f} fps  inferred {self.frames_inferred}  "
                    f"restarts {self.engine_restarts}  queue peak {self.engine_queue_peak}"
                ),
                f"  output   {self.output_fps:5.1f} fps  published {self.frames_published}  {redacted}",
                f"  mask age  p50 {_ms(self.mask_age_ms_p50)}  p95 {_ms(self.mask_age_ms_p95)}",
                f"  latency   p50 {_ms(self.latency_ms_p50)}  p95 {_ms(self.latency_ms_p95)} (capture -> sinks)",
                (
                    f"  sinks     errors {self.sink_errors}  frames dropped {self.sink_frames_dropped}  "
                    f"render errors {self.render_errors}"
                ),
            ]
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


class Metrics:
    """Thread-safe counters and rolling windows, written by every pipeline thread.

    Example:
        >>> t = [0.0]
        >>> m = Metrics(clock=lambda: t[0])
        >>> for i in range(11):
        ...     t[0] = i / 10
        ...     m.frame_captured()
        >>> s = m.snapshot()
        >>> s.frames_captured, round(s.capture_fps, 1)
        (11, 10.0)
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._counts: Counter[str] = Counter()
        self._fail_closed: Counter[str] = Counter()
        self._times: dict[str, deque[float]] = {
            name: deque(maxlen=WINDOW_SIZE) for name in ("capture", "engine", "output")
        }
        self._mask_age_s: deque[float] = deque(maxlen=WINDOW_SIZE)
        self._latency_s: deque[float] = deque(maxlen=WINDOW_SIZE)
        self._mask_age_histogram = Histogram(LATENCY_BUCKETS_S)
        self._latency_histogram = Histogram(LATENCY_BUCKETS_S)
        self._queue_peak = 0

    def frame_captured(self, queue_depth: int = 0) -> None:
        with self._lock:
            self._counts["captured"] += 1
            self._times["capture"].append(self._clock())
            self._queue_peak = max(self._queue_peak, queue_depth)

    def frames_dropped(self, count: int) -> None:
        """Frames captured that the engine will never see (queue full, or skipped for a newer one)."""
        if count:
            with self._lock:
                self._counts["dropped"] += count

    def frame_inferred(self) -> None:
        with self._lock:
            self._counts["inferred"] += 1
            self._times["engine"].append(self._clock())

    def frame_published(self, *, t_capture: float, reason: str, mask_age_s: float | None) -> None:
        """A frame was handed to the sinks; ``reason`` is why it was fully redacted ("" if not)."""
        with self._lock:
            now = self._clock()
            self._counts["published"] += 1
            self._times["output"].append(now)
            self._latency_s.append(now - t_capture)
            self._latency_histogram.observe(now - t_capture)
            if reason:
                self._fail_closed[reason] += 1
            if mask_age_s is not None:
                self._mask_age_s.append(mask_age_s)
                self._mask_age_histogram.observe(mask_age_s)

    def count(self, event: str, amount: int = 1) -> None:
        """Add to one of the event counters (see ``EVENTS``)."""
        if event not in EVENTS:
            raise ValueError(f"Metrics.count: unknown event {event!r}; expected one of {sorted(EVENTS)}")
        with self._lock:
            self._counts[event] += amount

    def snapshot(self) -> Stats:
        with self._lock:
            now = self._clock()
            counts = self._counts
            mask_p50, mask_p95 = _percentiles_ms(self._mask_age_s)
            latency_p50, latency_p95 = _percentiles_ms(self._latency_s)
            return Stats(
                uptime_s=now - self._started,
                capture_fps=_rate(self._times["capture"], now),
                engine_fps=_rate(self._times["engine"], now),
                output_fps=_rate(self._times["output"], now),
                frames_captured=counts["captured"],
                frames_dropped=counts["dropped"],
                frames_inferred=counts["inferred"],
                frames_published=counts["published"],
                fail_closed=MappingProxyType(dict(self._fail_closed)),
                mask_age_ms_p50=mask_p50,
                mask_age_ms_p95=mask_p95,
                latency_ms_p50=latency_p50,
                latency_ms_p95=latency_p95,
                engine_restarts=counts["engine_restarts"],
                source_reconnects=counts["source_reconnects"],
                sink_errors=counts["sink_errors"],
                sink_frames_dropped=counts["sink_frames_dropped"],
                render_errors=counts["render_errors"],
                engine_queue_peak=self._queue_peak,
                mask_age_s=self._mask_age_histogram.snapshot(),
                latency_s=self._latency_histogram.snapshot(),
            )


def _rate(times: deque[float], now: float) -> float:
    """Events per second over the last RATE_WINDOW_S (0 when fewer than two events)."""
    recent = [t for t in times if now - t <= RATE_WINDOW_S]
    if len(recent) < 2 or recent[-1] <= recent[0]:
        return 0.0
    return (len(recent) - 1) / (recent[-1] - recent[0])


def _percentiles_ms(samples: deque[float]) -> tuple[float | None, float | None]:
    if not samples:
        return None, None
    p50, p95 = np.percentile(np.fromiter(samples, float, len(samples)), [50, 95]) * 1000.0
    return float(p50), float(p95)
