"""Starting the UI: bind to loopback unless told otherwise, and say what anything else exposes."""

from __future__ import annotations

import ipaddress
import os
import logging
from pathlib import Path

from livefilter.errors import DependencyError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "exposure_warning", "launch"]

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def is_loopback(host: str) -> bool:
    """Example:
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0"), is_loopback("::1")
    (True, True, False, True)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume it resolves beyond this machine


def exposure_warning(host: str, share: bool) -> str | None:
    """What binding to ``host`` (and ``--share``) exposes, or None for loopback only.

    Example:
        >>> exposure_warning("127.0.0.1", False) is None
        True
        >>> print(exposure_warning("0.0.0.0", False))  # doctest: +ELLIPSIS
        livefilter ui: listening on 0.0.0.0: anyone who can reach this machine ... (no password): ...machine.
    """
    notes = []
    if not is_loopback(host):
        notes.append(
            f"listening on {host}: anyone who can reach this machine on that address can use the UI "
            "(no password): upload files, run the engines on this machine's CPU/GPU, start live sessions, "
            "and download the redacted results"
        )
    if share:
        notes.append(
            "--share: Gradio opens a public *.gradio.live link through Gradio's relay servers; anyone "
            "with the link can use the UI, and every picture (uploads included) passes through that relay"
        )
    if not notes:
        return None
    return "livefilter ui: " + "; ".join(notes) + ". Bind to 127.0.0.1 (the default) to keep it on this machine."


def launch(
    *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, share: bool = False, work_dir: Path | None = None
) -> None:
    """Serve the UI until interrupted."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a privacy tool sends no telemetry
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise DependencyError('livefilter ui needs Gradio: pip install -e ".[ui]"  (or pip install gradio)') from None
    from livefilter.ui.app import build_app

    warning = exposure_warning(host, share)
    if warning:
        logger.warning("%s", warning)
    app = build_app(work_dir=work_dir)
    app.queue(default_concurrency_limit=2).launch(
        server_name=host, server_port=port, share=share, show_error=False, quiet=False
    )
