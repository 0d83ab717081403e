"""Video sources. Add one: write ``sources/<name>.py`` with a class following
:class:`~livefilter.sources.base.Source`, its config in ``config/source.py``, and an
entry below."""

from __future__ import annotations

from livefilter.config.source import SourceConfig
from livefilter.registry import Registry
from livefilter.sources.base import Source

SOURCES = Registry(
    "source",
    {
        "demo": "livefilter.sources.demo:DemoSource",
        "file": "livefilter.sources.file:FileSource",
        "image": "livefilter.sources.image:ImageSource",
        "webcam": "livefilter.sources.webcam:WebcamSource",
        "rtsp": "livefilter.sources.rtsp:RtspSource",
    },
)


def create_source(config: SourceConfig) -> Source:
    """Build (not open) the source a config section describes."""
    return SOURCES.resolve(config.kind)(config)


__all__ = ["SOURCES", "Source", "create_source"]
