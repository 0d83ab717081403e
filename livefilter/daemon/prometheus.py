"""Prometheus ``/metrics``: a collector that reads every camera's totals at scrape time.

Nothing is counted twice: the numbers are the pipelines' own :class:`~livefilter.runtime.metrics.Stats`
(added up across a camera's restarts by :meth:`~livefilter.daemon.camera.CameraRunner.totals`)
and the shared engine's per-camera usage. Names follow Prometheus conventions:
``livefilter_`` prefix, base units (seconds, ratios), ``_total`` counters, labels ``camera`` and
``reason`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from livefilter.daemon.camera import CameraRunner
from livefilter.daemon.engine import SharedEngine
from livefilter.runtime.metrics import HistogramSnapshot

__all__ = ["DaemonCollector", "render_metrics"]

_COUNTERS = (
    ("frames_in", "frames_captured", "Frames read from the camera."),
    ("frames_out", "frames_published", "Frames published to the sinks (redacted)."),
    ("frames_dropped", "frames_dropped", "Captured frames the engine never saw (it was busy)."),
    ("frames_inferred", "frames_inferred", "Frames the engine answered."),
    ("engine_restarts", "engine_restarts", "Engine sessions rebuilt after a failure or hang."),
    ("source_reconnects", "source_reconnects", "Times the source was lost and reopened."),
    ("sink_errors", "sink_errors", "Sink write or reopen failures."),
    ("sink_frames_dropped", "sink_frames_dropped", "Frames a slow sink did not take."),
    ("render_errors", "render_errors", "Frames nothing could be shown for."),
)


def _buckets(snapshot: HistogramSnapshot | None) -> tuple[list[tuple[str, float]], float]:
    if snapshot is None:
        return [("+Inf", 0.0)], 0.0
    buckets = [(repr(float(bound)), float(count)) for bound, count in zip(snapshot.bounds, snapshot.counts)]
    buckets.append(("+Inf", float(snapshot.count)))
    return buckets, snapshot.sum


class DaemonCollector(Collector):
    """Collects the daemon's metrics on each scrape: its cameras (``runners()``) and shared engine."""

    def __init__(self, runners: Callable[[], Sequence[CameraRunner]], engine: SharedEngine) -> None:
        self._runners, self._engine = runners, engine

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        runners = self._runners()
        usage = self._engine.usage()
        totals = {runner.name: runner.totals() for runner in runners}
        statuses = {runner.name: runner.status() for runner in runners}

        for name, key, doc in _COUNTERS:
            family = CounterMetricFamily(f"livefilter_{name}", doc, labels=["camera"])
            for camera, total in totals.items():
                family.add_metric([camera], total.counters[key])
            yield family
        family = CounterMetricFamily(
            "livefilter_fail_closed_frames", "Frames published fully redacted, by reason.", labels=["camera", "reason"]
        )
        for camera, total in totals.items():
            for reason, count in sorted(total.fail_closed.items()):
                family.add_metric([camera, reason], count)
        yield family
        family = CounterMetricFamily(
            "livefilter_camera_start_failures", "Times a camera's pipeline could not start (retried with backoff).",
            labels=["camera"],
        )
        for camera, total in totals.items():
            family.add_metric([camera], total.start_failures)
        yield family
        family = CounterMetricFamily(
            "livefilter_camera_restarts", "Times a camera's pipeline ended and was started again.", labels=["camera"]
        )
        for camera, total in totals.items():
            family.add_metric([camera], total.restarts)
        yield family

        for name, attr, doc in (
            ("mask_age_seconds", "mask_age_s", "Age of the masks shown, relative to the frame."),
            ("latency_seconds", "latency_s", "Capture to sinks, per published frame."),
            (
                "redacted_ratio", "redacted_share",
                "Share of each published frame's pixels that is redacted (fully redacted fail-closed "
                "frames apart: livefilter_fail_closed_frames_total counts those).",
            ),
        ):
            histogram = HistogramMetricFamily(f"livefilter_{name}", doc, labels=["camera"])
            for camera, total in totals.items():
                buckets, total_sum = _buckets(getattr(total, attr))
                histogram.add_metric([camera], buckets, total_sum)
            yield histogram
        for name, attr, doc in (
            ("engine_seconds", "seconds", "Shared engine time per frame."),
            ("engine_wait_seconds", "wait_seconds", "Time a frame waited for its turn at the shared engine."),
        ):
            histogram = HistogramMetricFamily(f"livefilter_{name}", doc, labels=["camera"])
            for camera in totals:
                camera_usage = usage.get(camera)
                buckets, total_sum = _buckets(getattr(camera_usage, attr).snapshot() if camera_usage else None)
                histogram.add_metric([camera], buckets, total_sum)
            yield histogram

        cpu = CounterMetricFamily(
            "livefilter_engine_cpu_seconds", "CPU time the shared engine spent on the camera's frames.", labels=["camera"]
        )
        for camera in totals:
            cpu.add_metric([camera], usage[camera].cpu_seconds if camera in usage else 0.0)
        yield cpu

        up = GaugeMetricFamily("livefilter_camera_up", "1 while the camera's pipeline runs.", labels=["camera"])
        fps = GaugeMetricFamily("livefilter_output_fps", "Frames published per second (last 5 s).", labels=["camera"])
        failing = GaugeMetricFamily(
            "livefilter_camera_fail_closed", "1 while the camera publishes fully redacted frames.", labels=["camera"]
        )
        for camera, status in statuses.items():
            up.add_metric([camera], 1.0 if status["state"] == "running" else 0.0)
            fps.add_metric([camera], float(status["output_fps"]))
            failing.add_metric([camera], 1.0 if status["fail_closed"] else 0.0)
        yield up
        yield fps
        yield failing
        pending = GaugeMetricFamily("livefilter_engine_queue_frames", "Jobs waiting for the shared engine.")
        pending.add_metric([], float(self._engine.pending))
        yield pending


def render_metrics(runners: Callable[[], Sequence[CameraRunner]], engine: SharedEngine) -> tuple[bytes, str]:
    """The /metrics body and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST

    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaemonCollector(runners, engine))
    return generate_latest(registry), CONTENT_TYPE_LATEST


