"""``livefilter serve``: many cameras, one shared engine, control and observability.

Built above :mod:`livefilter.pipeline`: each camera is a :class:`~livefilter.pipeline.Pipeline`
whose engine factory hands it a client of one shared engine (:mod:`livefilter.daemon.engine`).
"""
