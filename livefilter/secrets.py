"""Keep credentials out of logs, errors and statistics."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*)(?::[^@/\s]*)?@")


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``.

    Example:
        >>> redact_url("rtsp://admin:hunter2@10.0.0.5:554/stream1")
        'rtsp://admin:***@10.0.0.5:554/stream1'
        >>> redact_url("rtsp://10.0.0.5/stream1")
        'rtsp://10.0.0.5/stream1'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None and parts.password is not None:
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        netloc = f"{parts.username or ''}:***@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    # Fallback for strings urlsplit cannot parse (or embedded in longer text).
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)


def redact_text(text: str) -> str:
    """Redact every URL password inside free text (e.g. an FFmpeg error message)."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
