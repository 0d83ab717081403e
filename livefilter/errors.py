"""Errors that speak to the user: what was wrong, where, and what to do."""

from __future__ import annotations


class LivefilterError(Exception):
    """Base class for every error livefilter raises on purpose."""


class ConfigError(LivefilterError):
    """A configuration file or override is invalid (message names the key path)."""


class SourceError(LivefilterError):
    """A video source could not be opened or read (URLs are shown without credentials)."""


class InputError(SourceError):
    """The input itself is bad: a file that is missing, undecodable or ends early.

    The command line exits 2 for it (bad input), whether the path came from the command
    line or from a config; frames read before a truncated file ended are still published.
    """


class EngineError(LivefilterError):
    """A segmentation engine could not be loaded or failed while running."""


class SinkError(LivefilterError):
    """An output could not be opened or written."""


class DependencyError(LivefilterError):
    """An optional dependency needed by the chosen plugin is not installed."""
