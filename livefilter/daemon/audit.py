"""The audit log: one JSON object per line for what happened, never pixels, never secrets.

Events (``event`` key): ``daemon_start``, ``daemon_stop``, ``reload`` (``ok`` true/false,
with the errors when false), ``camera_start``, ``camera_stop``, ``camera_start_failed``,
``camera_restart``, ``prompts_changed``, ``zone_changed``, ``fail_closed_start`` /
``fail_closed_end`` (one episode: its camera, reason, start and end) and ``source_reconnect``.
Each line has ``ts`` (UTC ISO 8601) and, when about one camera, ``camera``.

Every string value passes through :func:`~livefilter.secrets.redact_text`, so an URL
password that reached a message is replaced by ``***`` before it is written.
"""

from __future__ import annotations

import datetime
import json
import logging
import logging.handlers
import os
import threading
from typing import Any

from livefilter.lifecycle import Lifecycle
from livefilter.secrets import redact_text

__all__ = ["AuditLog"]

logger = logging.getLogger("livefilter.audit")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact_text(str(value))


class AuditLog(Lifecycle):
    """Append audit events to ``path`` (rotated at ``max_bytes``, ``backups`` kept), or to the
    ``livefilter.audit`` logger when ``path`` is None. Safe to call from any thread.

    Example:
        >>> import io, json
        >>> log = AuditLog(None)
        >>> log.event("source_reconnect", camera="door", url="rtsp://u:pw@cam/1")["url"]
        'rtsp://u:***@cam/1'
    """

    def __init__(self, path: str | None, *, max_bytes: int = 10_000_000, backups: int = 5) -> None:
        self.path = path
        self._max_bytes = max_bytes
        self._backups = backups
        self._lock = threading.Lock()
        self._handler: logging.handlers.RotatingFileHandler | None = None

    def open(self) -> None:
        if self.path is None or self._handler is not None:
            return
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        self._handler = logging.handlers.RotatingFileHandler(
            self.path, maxBytes=self._max_bytes, backupCount=self._backups, encoding="utf-8"
        )

    def event(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one event; returns the record as written."""
        record = {"ts": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"), "event": event}
        record.update(_clean(fields))
        line = json.dumps(record, sort_keys=False, allow_nan=False, default=str)
        with self._lock:
            if self._handler is None:
                logger.info("%s", line)
            else:
                self._handler.emit(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))
        return record

    def close(self) -> None:
        with self._lock:
            handler, self._handler = self._handler, None
        if handler is not None:
            handler.close()
