"""The cluster's /metrics: every worker's Prometheus text with a ``worker`` label, one header per family."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["merge_metrics"]


def with_label(sample: str, key: str, value: str) -> str:
    """``name{a="1"} 2`` → ``name{key="value",a="1"} 2`` (values here are worker names, no quoting needed).

    Example:
        >>> with_label('up{camera="door"} 1.0', "worker", "w0"), with_label("queue 0.0", "worker", "w0")
        ('up{worker="w0",camera="door"} 1.0', 'queue{worker="w0"} 0.0')
    """
    name, sep, rest = sample.partition("{")
    if sep:
        return f'{name}{{{key}="{value}"{"" if rest.startswith("}") else ","}{rest}'
    name, _, rest = sample.partition(" ")
    return f'{name}{{{key}="{value}"}} {rest}'


def merge_metrics(texts: Mapping[str, str], extra: str = "") -> bytes:
    """Merge ``worker → Prometheus text``: each family's HELP/TYPE once, then every worker's samples."""
    headers: dict[str, list[str]] = {}
    samples: dict[str, list[str]] = {}
    for worker, text in texts.items():
        family = ""
        for line in text.splitlines():
            if line.startswith(("# HELP ", "# TYPE ")):
                family = line.split()[2]
                lines = headers.setdefault(family, [])
                if line not in lines:
                    lines.append(line)
                samples.setdefault(family, [])
            elif line and not line.startswith("#") and family:
                samples[family].append(with_label(line, "worker", worker))
    body = [line for family in headers for line in headers[family] + samples[family]]
    return ("\n".join(body) + "\n" + extra).encode()
