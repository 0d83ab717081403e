"""The site file a running daemon (or cluster controller) reloads from.

One place decides when the file has changed, when a change has settled (an editor or
``cat >`` may still be writing it) and what a reload may apply: both the single-machine
:class:`~livefilter.daemon.service.Daemon` and the cluster controller read it through here.
"""

from __future__ import annotations

import hashlib
import logging

from livefilter.daemon.audit import AuditLog
from livefilter.daemon.config import SiteConfig, load_site
from livefilter.errors import ConfigError
from livefilter.secrets import redact_text

__all__ = ["FIXED_SECTIONS", "SiteFile", "keep_fixed_sections"]

logger = logging.getLogger(__name__)

FIXED_SECTIONS = ("engine", "http", "audit", "cluster")
"""Sections a reload cannot change: they take effect at the next start of the service."""


class SiteFile:
    """The watched ``path``: its content's digest as last applied, and a change seen once."""

    def __init__(self, path: str, audit: AuditLog) -> None:
        self.path = path
        self._audit = audit
        self._applied = _digest(path)
        self._settling: str | None = None  # a new content, seen once (settled_change)

    def changed(self) -> bool:
        """True when the file's content differs from the one last applied (or rejected)."""
        return _digest(self.path) != self._applied

    def settled_change(self) -> bool:
        """One check of the watched file: True when its content differs from the one running
        *and* has not changed since the previous check. A file caught while it is still being
        written (empty, or cut short yet valid: cameras missing) is never reported; it is once
        it has stayed the same for one check."""
        digest = _digest(self.path)
        if digest == self._applied:
            self._settling = None
            return False
        if digest != self._settling:  # new content: let the writer finish
            self._settling = digest
            return False
        self._settling = None
        return True

    def load(self, trigger: str) -> SiteConfig | None:
        """The file's site, or None (logged and audited; the running configuration stays) when it
        does not validate. Either way this content counts as seen: a bad file is not retried every poll."""
        self._applied = _digest(self.path)
        try:
            return load_site(self.path)
        except ConfigError as exc:
            message = redact_text(str(exc))
            logger.error("reload (%s) rejected, the running configuration stays:\n%s", trigger, message)
            self._audit.event("reload", ok=False, trigger=trigger, errors=message.splitlines())
            return None


def keep_fixed_sections(old: SiteConfig, new: SiteConfig) -> tuple[SiteConfig, list[str]]:
    """``new`` with :data:`FIXED_SECTIONS` kept as in ``old``, and the names of those it wanted to change."""
    fixed = [key for key in FIXED_SECTIONS if getattr(old, key) != getattr(new, key)]
    if fixed:
        logger.warning("reload: %s changed; that takes effect at the next restart of the service", ", ".join(fixed))
        new = new.model_copy(update={key: getattr(old, key) for key in fixed})
    return new, fixed


def _digest(path: str) -> str | None:
    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read()).hexdigest()
    except OSError:
        return None
