"""FFmpeg (PyAV) errors in words: no ``[Errno 1094995529]``, no URL (it may carry a password).

Example:
    >>> import av
    >>> describe(av.error.ExitError(-1414092869, "Immediate exit requested"))
    'timed out'
    >>> describe(ConnectionRefusedError(111, "Connection refused"))
    'connection refused (is the server running, and is the port right?)'
    >>> describe(av.error.InvalidDataError(-1094995529, "Invalid data found", "rtsp://u:pw@cam/1"))
    'invalid data found'
"""

from __future__ import annotations

from livefilter.secrets import redact_text

__all__ = ["describe", "says_what_to_do"]

TIMED_OUT = "timed out"
REFUSED = "connection refused (is the server running, and is the port right?)"
UNAUTHORISED = "unauthorised (check credentials)"
NOT_FOUND = "not found (check the path)"


def says_what_to_do(words: str) -> bool:
    """Whether :func:`describe`'s ``words`` already point to the fix (so no generic hint is added)."""
    return words in (REFUSED, UNAUTHORISED, NOT_FOUND)


def describe(error: BaseException, *, timed_out: bool = False) -> str:
    """What went wrong, in a few words, for a network stream or a file read through FFmpeg.

    ``timed_out``: the call took its whole time budget. FFmpeg then reports whatever state the
    interrupted protocol was in (often "Invalid data found"), which would mislead.
    """
    import av

    if isinstance(error, av.error.ExitError | TimeoutError) or timed_out:
        return TIMED_OUT
    if isinstance(error, ConnectionRefusedError):
        return REFUSED
    if isinstance(error, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return UNAUTHORISED
    if isinstance(error, av.error.HTTPNotFoundError):
        return NOT_FOUND
    words = getattr(error, "strerror", None)  # without the error number and the URL or file name
    if isinstance(words, str) and words:
        return redact_text(words[0].lower() + words[1:])
    return redact_text(str(error))
