"""Past one machine: a site's cameras on Ray worker actors (``cluster:`` in the site file).

Nothing here imports Ray until a cluster starts; without ``cluster:`` the daemon runs as before.
"""

from __future__ import annotations

from livefilter.cluster.controller import ClusterDaemon
from livefilter.cluster.placement import assign
from livefilter.daemon.config import SiteConfig
from livefilter.daemon.serve import Served
from livefilter.daemon.service import Daemon

__all__ = ["ClusterDaemon", "assign", "controller_for"]


def controller_for(site: SiteConfig, path: str) -> Served:
    """What ``livefilter serve`` runs for ``site``: a cluster's controller with ``cluster:``, else the daemon."""
    if site.cluster is not None:
        return ClusterDaemon(site, path=path)
    return Daemon(site, path=path)
