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
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

__all__ = [
    "EVENTS",
    "LATENCY_BUCKETS_S",
    "PERCENTILE_WINDOW_S",
    "RATE_WINDOW_S",
    "SHARE_BUCKETS",
    "WINDOW_SIZE",
    "Histogram",
    "HistogramSnapshot",
    "Metrics",
    "SinkStats",
    "Stats",
]

WINDOW_SIZE = 1024
"""Most recent samples kept per rolling window (timestamps, mask ages, latencies)."""

EVENTS = frozenset({"engine_restarts", "source_reconnects", "render_errors"})
"""Counters bumped with :meth:`Metrics.count`."""

RATE_WINDOW_S = 5.0
"""Rates (fps) are measured over the last this many seconds."""

PERCENTILE_WINDOW_S = 10.0
"""Mask age and latency percentiles describe the last this many seconds (an outage long
gone does not weigh on them)."""

SHARE_BINS = 100
"""The redacted share of each frame is kept as a histogram of 1 % bins over the whole run
(constant memory; the percentiles describe the whole run, e.g. a whole file job)."""


LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0)
"""Upper bounds (seconds) of the mask-age and latency histograms (Prometheus ``le``)."""

SHARE_BUCKETS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
"""Upper bounds (ratios) of the redacted-share histogram (Prometheus ``le``): 0 is "nothing hidden"."""


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
class SinkStats:
    """What one sink did: frames it wrote, frames it never got or lost, failed writes."""

    written: int = 0
    dropped: int = 0
    errors: int = 0


@dataclass(frozen=True, slots=True)
class Stats:
    """One snapshot of the pipeline's health. Times in milliseconds; None when not measured.

    ``frames_dropped`` are captured frames the engine skipped (a newer one was waiting); the
    render still shows them, with the newest masks. ``frames_repeated`` of the published
    frames showed the same source frame again (the output ticks faster than the source).
    ``redacted_share_*`` describe the part of each published picture that is hidden, over
    the whole run, not counting fully redacted (fail-closed) frames; ``frames_mostly_redacted``
    of those hid more than half of the picture (``redacted_share``: their histogram, for
Prometheus); ``frames_mostly_hidden`` counts the frames
    shown (repeats apart) that hid more than half, fully redacted ones included. ``mean_fps``:
    "capture", "engine" and "output" rates from each one's first event to its last (the final
    block shows them: the last seconds' rates fall to zero once a file has been read).
    """

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
    render_errors: int
    engine_queue_peak: int
    mask_age_s: HistogramSnapshot
    latency_s: HistogramSnapshot
    frames_repeated: int = 0
    sinks: Mapping[str, SinkStats] = field(default_factory=lambda: MappingProxyType({}))
    redacted_share_p50: float | None = None
    redacted_share_p95: float | None = None
    redacted_share_max: float | None = None
    frames_mostly_redacted: int = 0
    frames_mostly_hidden: int = 0
    mean_fps: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    redacted_share: HistogramSnapshot = field(
        default_factory=lambda: HistogramSnapshot(SHARE_BUCKETS, (0,) * len(SHARE_BUCKETS), 0, 0.0)
    )

    @property
    def frames_fully_redacted(self) -> int:
        return sum(self.fail_closed.values())

    @property
    def sink_errors(self) -> int:
        return sum(sink.errors for sink in self.sinks.values())

    @property
    def sink_frames_dropped(self) -> int:
        return sum(sink.dropped for sink in self.sinks.values())

    @property
    def mostly_redacted(self) -> bool:
        """More than half of the frames shown hid more than half of the picture (fully
        redacted ones included): most of what the user gets is hidden."""
        shown = self.frames_published - self.frames_repeated
        return shown > 0 and self.frames_mostly_hidden * 2 > shown

    def format(self, *, final: bool = False) -> str:
        """A readable multi-line block for logs and the terminal (``final``: the one printed
        at the end of a run, with mean rates over the run instead of the last seconds'). Rates
        that cannot be measured (fewer than two frames, e.g. an image job) are left out.

        Example:
            >>> print(Metrics(clock=lambda: 0.0).snapshot().format())  # doctest: +NORMALIZE_WHITESPACE
            livefilter stats after 0.0 s
              capture   captured 0  source reconnects 0
              engine    inferred 0  skipped 0  restarts 0  queue peak 0
              output    published 0  fully redacted 0
              redacted  share of each picture p50 -  p95 -  max -  over 50 %: 0 frames (fully redacted apart)
              mask age  p50 -  p95 -
              latency   p50 -  p95 - (capture -> sinks)
              sinks     none  render errors 0
        """
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(self.fail_closed.items()))
        redacted = f"fully redacted {self.frames_fully_redacted}" + (f" ({reasons})" if reasons else "")
        rates = {"capture": self.capture_fps, "engine": self.engine_fps, "output": self.output_fps}
        if final:
            rates = {name: self.mean_fps.get(name, 0.0) for name in rates}
        repeats = f" ({self.frames_repeated} repeats of a frame)" if self.frames_repeated else ""
        sinks = "; ".join(_sink_line(name, sink) for name, sink in self.sinks.items()) or "none"
        return "\n".join(
            [
                f"livefilter {'final ' if final else ''}stats after {self.uptime_s:.1f} s",
                (
                    f"  capture  {_fps(rates['capture'], self.frames_captured)}captured {self.frames_captured}  "
                    f"source reconnects {self.source_reconnects}"
                ),
                (
                    f"  engine   {_fps(rates['engine'], self.frames_inferred)}inferred {self.frames_inferred}  "
                    f"skipped {self.frames_dropped}{' (shown with newer masks)' if self.frames_dropped else ''}  "
                    f"restarts {self.engine_restarts}  queue peak {self.engine_queue_peak}"
                ),
                f"  output   {_fps(rates['output'], self.frames_published)}published {self.frames_published}{repeats}  {redacted}",
                (
                    f"  redacted  share of each picture p50 {_share(self.redacted_share_p50)}  "
                    f"p95 {_share(self.redacted_share_p95)}  max {_share(self.redacted_share_max)}  "
                    f"over 50 %: {self.frames_mostly_redacted} frames (fully redacted apart)"
                ),
                f"  mask age  p50 {_ms(self.mask_age_ms_p50)}  p95 {_ms(self.mask_age_ms_p95)}",
                f"  latency   p50 {_ms(self.latency_ms_p50)}  p95 {_ms(self.latency_ms_p95)} (capture -> sinks)",
                f"  sinks     {sinks}  render errors {self.render_errors}",
            ]
        )


def _sink_line(name: str, sink: SinkStats) -> str:
    parts = [f"wrote {sink.written}"]
    if sink.dropped:
        parts.append(f"dropped {sink.dropped}")
    if sink.errors:
        parts.append(f"errors {sink.errors}")
    return f"{name}: {', '.join(parts)}"


def _fps(value: float, events: int) -> str:
    """The rate, unless too few events to measure one (e.g. an image job's single frame)."""
    return f"{value:5.1f} fps  " if events > 1 else ""


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


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
        self._first: dict[str, float] = {}  # when each stream's first event came
        self._last: dict[str, float] = {}  # and its latest
        self._mask_age_s: deque[tuple[float, float]] = deque(maxlen=WINDOW_SIZE)  # (when, value)
        self._latency_s: deque[tuple[float, float]] = deque(maxlen=WINDOW_SIZE)
        self._mask_age_histogram = Histogram(LATENCY_BUCKETS_S)
        self._latency_histogram = Histogram(LATENCY_BUCKETS_S)
        self._shares = np.zeros(SHARE_BINS + 1, np.int64)  # bin i: share rounded to i %
        self._share_max: float | None = None
        self._share_histogram = Histogram(SHARE_BUCKETS)
        self._last_t_capture: float | None = None
        self._sinks: dict[str, Counter[str]] = {}
        self._queue_peak = 0

    def frame_captured(self, queue_depth: int = 0) -> None:
        with self._lock:
            self._counts["captured"] += 1
            self._tick("capture")
            self._queue_peak = max(self._queue_peak, queue_depth)

    def frames_dropped(self, count: int) -> None:
        """Frames captured that the engine will never see (queue full, or skipped for a newer one)."""
        if count:
            with self._lock:
                self._counts["dropped"] += count

    def frame_inferred(self) -> None:
        with self._lock:
            self._counts["inferred"] += 1
            self._tick("engine")

    def frame_published(
        self,
        *,
        t_capture: float,
        reason: str,
        mask_age_s: float | None,
        redacted_fraction: float | None = None,
    ) -> None:
        """A frame was handed to the sinks; ``reason`` is why it was fully redacted ("" if not);
        ``redacted_fraction`` the share of its pixels hidden.

        A frame with the same capture time as the previous one is the same source frame shown
        again: counted as a repeat, and left out of the latency, mask age and redacted share
        (its latency is that of its first showing; a stalled source would otherwise make
        seconds-long "latencies").
        """
        with self._lock:
            now = self._tick("output")
            self._counts["published"] += 1
            if reason:
                self._fail_closed[reason] += 1
            if t_capture == self._last_t_capture:
                self._counts["repeated"] += 1
                return
            self._last_t_capture = t_capture
            if reason or (redacted_fraction is not None and redacted_fraction > 0.5):
                self._counts["mostly_hidden"] += 1
            self._latency_s.append((now, now - t_capture))
            self._latency_histogram.observe(now - t_capture)
            if mask_age_s is not None:
                self._mask_age_s.append((now, mask_age_s))
                self._mask_age_histogram.observe(mask_age_s)
            if not reason and redacted_fraction is not None:
                share = min(max(float(redacted_fraction), 0.0), 1.0)
                self._shares[round(share * SHARE_BINS)] += 1
                self._share_max = share if self._share_max is None else max(self._share_max, share)
                self._share_histogram.observe(share)
                if share > 0.5:
                    self._counts["mostly_redacted"] += 1

    def watch_sink(self, sink: str) -> None:
        """List ``sink`` in the statistics (even before, or without, any frame). Sinks not
        watched (e.g. the CLI's progress bar) are not counted."""
        with self._lock:
            self._sinks.setdefault(sink, Counter())

    def sink_wrote(self, sink: str) -> None:
        """``sink`` delivered one frame."""
        with self._lock:
            if sink in self._sinks:
                self._sinks[sink]["written"] += 1

    def sink_dropped(self, sink: str, count: int = 1) -> None:
        """Frames ``sink`` never delivered: replaced by a newer one while it was busy, or lost while it was down."""
        with self._lock:
            if sink in self._sinks:
                self._sinks[sink]["dropped"] += count

    def sink_failed(self, sink: str) -> None:
        """A write to ``sink`` failed (that frame is counted as dropped too)."""
        with self._lock:
            if sink in self._sinks:
                self._sinks[sink]["errors"] += 1
                self._sinks[sink]["dropped"] += 1

    def _tick(self, stream: str) -> float:
        now = self._clock()
        self._times[stream].append(now)
        self._first.setdefault(stream, now)
        self._last[stream] = now
        return now

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
            mask_p50, mask_p95 = _percentiles_ms(self._mask_age_s, now)
            latency_p50, latency_p95 = _percentiles_ms(self._latency_s, now)
            share_p50, share_p95 = _histogram_percentiles(self._shares, self._share_max)
            rates = {name: _rate(times, now, self._first.get(name, now)) for name, times in self._times.items()}
            return Stats(
                uptime_s=now - self._started,
                capture_fps=rates["capture"],
                engine_fps=rates["engine"],
                output_fps=rates["output"],
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
                render_errors=counts["render_errors"],
                engine_queue_peak=self._queue_peak,
                mask_age_s=self._mask_age_histogram.snapshot(),
                latency_s=self._latency_histogram.snapshot(),
                frames_repeated=counts["repeated"],
                sinks=MappingProxyType(
                    {
                        name: SinkStats(c["written"], c["dropped"], c["errors"])
                        for name, c in self._sinks.items()
                    }
                ),
                redacted_share_p50=share_p50,
                redacted_share_p95=share_p95,
                redacted_share_max=self._share_max,
                frames_mostly_redacted=counts["mostly_redacted"],
                frames_mostly_hidden=counts["mostly_hidden"],
                redacted_share=self._share_histogram.snapshot(),
                mean_fps=MappingProxyType(
                    {
                        name: _mean_rate(count, self._first.get(name), self._last.get(name))
                        for name, count in (
                            ("capture", counts["captured"]),
                            ("engine", counts["inferred"]),
                            ("output", counts["published"]),
                        )
                    }
                ),
            )


def _rate(times: deque[float], now: float, first: float) -> float:
    """Events per second over the last RATE_WINDOW_S (or since the first event, when sooner).

    Counting over the whole window, not between the first and last event in it, keeps a
    burst after a silence (a camera reconnecting) from reading as hundreds of fps.
    """
    span = min(RATE_WINDOW_S, now - first)
    if len(times) < 2 or span <= 0:
        return 0.0
    return sum(1 for t in times if now - t < span) / span


def _mean_rate(count: int, first: float | None, last: float | None) -> float:
    """Events per second from the first event to the last (0 when fewer than two)."""
    if count < 2 or first is None or last is None or last <= first:
        return 0.0
    return (count - 1) / (last - first)


def _percentiles_ms(samples: deque[tuple[float, float]], now: float) -> tuple[float | None, float | None]:
    """p50 and p95 of the samples taken in the last PERCENTILE_WINDOW_S."""
    recent = [value for when, value in samples if now - when <= PERCENTILE_WINDOW_S]
    if not recent:
        return None, None
    p50, p95 = np.percentile(np.asarray(recent, float), [50, 95]) * 1000.0
    return float(p50), float(p95)


def _histogram_percentiles(counts: np.ndarray, top: float | None) -> tuple[float | None, float | None]:
    """p50 and p95 of a share histogram (to the nearest 1 %), at most the largest share seen, ``top``."""
    total = int(counts.sum())
    if total == 0 or top is None:
        return None, None
    cumulative = np.cumsum(counts)
    p50, p95 = (min(int(np.searchsorted(cumulative, q * total)) / SHARE_BINS, top) for q in (0.5, 0.95))
    return p50, p95
