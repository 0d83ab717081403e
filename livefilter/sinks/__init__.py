"""Outputs. Add one: write ``sinks/<name>.py`` with a class following
:class:`~livefilter.sinks.base.Sink`, its config in ``config/sinks.py``, and an entry below."""

from __future__ import annotations

from livefilter.config.sinks import SinkConfig
from livefilter.registry import Registry
from livefilter.sinks.base import Sink

SINKS = Registry(
    "sink",
    {
        "file": "livefilter.sinks.file:FileSink",
        "image": "livefilter.sinks.image:ImageSink",
        "preview": "livefilter.sinks.preview:PreviewSink",
        "null": "livefilter.sinks.null:NullSink",
        "rtsp": "livefilter.sinks.rtsp:RtspSink",
        "virtualcam": "livefilter.sinks.virtualcam:VirtualCamSink",
    },
)


def create_sink(config: SinkConfig, *, fps: float) -> Sink:
    """Build (not open) the sink a config entry describes; ``fps`` is the output rate."""
    return SINKS.resolve(config.kind)(config, fps=fps)


__all__ = ["SINKS", "Sink", "create_sink"]
