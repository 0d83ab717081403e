"""``livefilter serve SITE``: run the daemon until SIGTERM/SIGINT; SIGHUP reloads the file."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Protocol

from livefilter.daemon.config import SiteConfig, load_site
from livefilter.daemon.http import ControlServer, Controlled
from livefilter.daemon.service import Daemon

__all__ = ["Served", "serve"]

logger = logging.getLogger(__name__)


class Served(Controlled, Protocol):
    """What ``serve`` runs: a :class:`Daemon`, or a cluster's controller (``livefilter.cluster``)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def reload(self, trigger: str = "SIGHUP") -> bool: ...


def serve(
    path: str,
    *,
    stop: threading.Event | None = None,
    make: Callable[[SiteConfig, str], Served] | None = None,
) -> int:
    """Run the site in ``path``; returns the exit code (128+N after signal N, 0 after ``stop``).

    ``make(site, path)`` builds what runs it (the CLI passes one that honours ``cluster:``).

    Raises:
        ConfigError: the file is invalid (nothing was started).
        LivefilterError: the shared engine could not load, or the HTTP port is taken.
    """
    site = load_site(path)
    stop = stop or threading.Event()
    received: list[int] = []
    daemon: Served = make(site, path) if make is not None else Daemon(site, path=path)
    control = ControlServer(daemon, site.http) if site.http.enabled else None

    def on_stop(signum: int, _frame: object) -> None:
        received.append(signum)
        logger.warning("%s: draining cameras and finalising outputs", signal.Signals(signum).name)
        stop.set()

    def on_hup(_signum: int, _frame: object) -> None:
        threading.Thread(target=daemon.reload, args=("SIGHUP",), name="reload:SIGHUP", daemon=True).start()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {
            signal.SIGTERM: signal.signal(signal.SIGTERM, on_stop),
            signal.SIGINT: signal.signal(signal.SIGINT, on_stop),
            signal.SIGHUP: signal.signal(signal.SIGHUP, on_hup),
        }
    try:
        daemon.start()
        if control is not None:
            control.open()
        stop.wait()
    finally:
        if control is not None:
            control.close()
        daemon.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 + received[0] if received else 0
