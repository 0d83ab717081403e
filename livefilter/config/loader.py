"""YAML file → validated :class:`~livefilter.config.root.Config`, with errors that point at lines.

Three layers, so tests can start from dicts: :func:`load_config` reads and parses the file,
:func:`with_overrides` applies command-line values, :func:`parse_config` fills
``{LIVEFILTER_*}`` placeholders and validates. Every problem found becomes one line of a
single :class:`~livefilter.errors.ConfigError`::

    configs/x.yaml:12 sinks[1].crf: must be at most 51 (got 60)

Placeholders: ``{LIVEFILTER_CAM_PASSWORD}`` anywhere in a string value is replaced by the
environment variable of that name, or by the content of the file named by
``LIVEFILTER_CAM_PASSWORD_FILE`` (Docker/systemd secrets; one trailing newline is dropped).
Values that held a placeholder are never quoted back in messages.

Relative paths inside the config are kept as written, so they are relative to the current
working directory (as for any command-line tool), not to the config file.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from livefilter.config.base import Problem
from livefilter.config.root import Config, config_warnings
from livefilter.errors import ConfigError
from livefilter.secrets import redact_text

__all__ = ["format_path", "load_config", "load_model", "parse_config", "parse_model", "with_overrides"]

logger = logging.getLogger(__name__)

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)
Warnings = Callable[[Any], list[tuple[Path_, str]]]

_PLACEHOLDER = re.compile(r"\{(LIVEFILTER[^{}]*)\}", re.IGNORECASE)
_PLACEHOLDER_NAME = re.compile(r"LIVEFILTER_[A-Z0-9_]+")
_QUOTED = re.compile(r"'([^']*)'")
_COMMAND_LINE = "command line"

_TYPE_NOUNS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_required": "null",
}


@dataclass(frozen=True, slots=True)
class _Issue:
    path: Path_
    message: str
    detail: str = ""  # " (got 5)", " (got 'blurr'; did you mean 'blur'?)", ...


def load_config(path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None) -> Config:
    """Read ``path`` (YAML), apply ``overrides`` (see :func:`with_overrides`) and validate.

    Raises:
        ConfigError: the file is missing, unreadable, not valid YAML, or not a valid config.
    """
    return load_model(path, Config, overrides, warnings=config_warnings)


def load_model(
    path: str | os.PathLike[str],
    model: type[M],
    overrides: Mapping[str, Any] | None = None,
    *,
    warnings: Warnings | None = None,
) -> M:
    """:func:`load_config` for another top-level model (e.g. the daemon's site file)."""
    data, locator = read_yaml(path, overrides)
    return _validate(with_overrides(_require_mapping(data, locator.origin, model), overrides or {}), locator, model, warnings)


def read_yaml(
    path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None
) -> tuple[Any, _Locator]:
    """The parsed YAML of ``path`` and a locator for its key paths' lines."""
    label = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: config file not found (relative to {os.getcwd()})") from None
    except IsADirectoryError:
        raise ConfigError(f"{label}: is a directory, expected a YAML config file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}: not UTF-8 text (byte {exc.start}); is this a YAML file?") from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read the config file ({exc.strerror or exc})") from None
    data, lines = _parse_yaml(text, label)
    return data, _Locator(label, lines, tuple(_split(key) for key in overrides or {}))


def parse_config(data: Mapping[str, Any], *, origin: str = "<dict>") -> Config:
    """Validate an already-parsed config; ``origin`` names it in messages.

    Example:
        >>> parse_config({"sinks": [{"kind": "null"}]}).sinks[0].kind
        'null'
        >>> parse_config({"render": {"fps": -5}})
        Traceback (most recent call last):
        ...
        livefilter.errors.ConfigError: <dict> render.fps: must be greater than 0 (got -5)
    """
    return parse_model(data, Config, origin=origin, warnings=config_warnings)


def parse_model(data: Mapping[str, Any], model: type[M], *, origin: str = "<dict>", warnings: Warnings | None = None) -> M:
    """:func:`parse_config` for another top-level model."""
    return _validate(data, _Locator(origin, {}, ()), model, warnings)


def with_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``data`` where each dotted key of ``overrides`` replaces that value.

    A section replaced by one of the same ``kind`` keeps its other settings, so
    ``--source other.mp4`` on a file job stays a file job (e.g. ``realtime: false``).

    Example:
        >>> with_overrides({"render": {"style": "blur", "fps": 30}}, {"render.style": "solid"})
        {'render': {'style': 'solid', 'fps': 30}}
        >>> with_overrides({"source": {"kind": "file", "path": "a.mp4", "realtime": False}},
        ...                {"source": {"kind": "file", "path": "b.mp4"}})
        {'source': {'kind': 'file', 'path': 'b.mp4', 'realtime': False}}
        >>> with_overrides({"source": {"kind": "demo", "fps": 15}}, {"source": {"kind": "file", "path": "b.mp4"}})
        {'source': {'kind': 'file', 'path': 'b.mp4'}}
    """
    result: dict[str, Any] = dict(data)
    for key, value in overrides.items():
        *parents, last = _split(key)
        target = result
        for part in parents:
            child = target.get(part)
            child = dict(child) if isinstance(child, Mapping) else {}
            target[part] = child
            target = child
        current = target.get(last)
        if (
            isinstance(value, Mapping)
            and isinstance(current, Mapping)
            and "kind" in value
            and current.get("kind") == value["kind"]
        ):
            value = {**current, **value}
        target[last] = value
    return result


def format_path(path: Iterable[str | int]) -> str:
    """``("sinks", 1, "fps")`` → ``sinks[1].fps``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _split(key: str) -> tuple[str, ...]:
    return tuple(key.split("."))


# --- YAML --------------------------------------------------------------------------------


def _parse_yaml(text: str, label: str) -> tuple[Any, dict[Path_, int]]:
    """Parse ``text``; return the data and the line of every key path."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(
                f"{label}: the file is empty; expected sections such as source:, prompts:, sinks:"
            )
        lines: dict[Path_, int] = {}
        duplicates: list[str] = []
        _index_lines(node, (), lines, duplicates, label)
        if duplicates:
            raise ConfigError(_join(duplicates))
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_yaml_message(exc, label)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return data, lines


def _yaml_message(exc: yaml.MarkedYAMLError, label: str) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
    problem = exc.problem or exc.context or "syntax error"
    if "\\t" in problem or "\t" in problem:
        problem += " (indent with spaces, not tabs)"
    context = ""
    if exc.context and exc.problem and exc.context_mark is not None:
        context = f" ({exc.context} at line {exc.context_mark.line + 1})"
    return f"{where} invalid YAML: {problem}{context}"


def _index_lines(
    node: yaml.Node, path: Path_, lines: dict[Path_, int], duplicates: list[str], label: str
) -> None:
    """Record the line of each key (for mappings) or item (for lists), before construction."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in first_seen and key != "<<":
                duplicates.append(
                    f"{label}:{line} {format_path(path + (key,))}: duplicate key (first at line {first_seen[key]})"
                )
            first_seen.setdefault(key, line)
            lines[path + (key,)] = line
            _index_lines(value_node, path + (key,), lines, duplicates, label)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, path + (i,), lines, duplicates, label)


# --- validation --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Locator:
    """Turns a key path into ``file:line`` (or ``command line`` for overridden keys)."""

    origin: str
    lines: dict[Path_, int]
    overridden: tuple[Path_, ...]

    def where(self, path: Path_) -> str:
        if any(path[: len(prefix)] == prefix for prefix in self.overridden):
            return _COMMAND_LINE
        line = self.line_number(path)
        return f"{self.origin}:{line}" if line else self.origin

    def line_number(self, path: Path_) -> int:
        """Line of ``path``, or of its closest parent present in the file (0 if none)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 0

    def line(self, issue: _Issue) -> str:
        return f"{self.where(issue.path)} {format_path(issue.path)}: {issue.message}{issue.detail}"


def _require_mapping(data: Any, origin: str, model: type[BaseModel] = Config) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{origin}: the top level must be a mapping of sections "
            f"({', '.join(model.model_fields)}), got {_describe_value(data)}"
        )
    return data


def _validate(data: Any, locator: _Locator, model: type[M], warnings: Warnings | None) -> M:
    data = _require_mapping(data, locator.origin, model)
    secret_paths: set[Path_] = set()
    issues: list[_Issue] = []
    data = _fill_placeholders(data, (), secret_paths, issues)
    if issues:
        raise ConfigError(_join(locator.line(issue) for issue in issues))
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        issues = _merge(_issue(error, data, secret_paths, model) for error in exc.errors())
        issues.sort(key=lambda issue: locator.line_number(issue.path))
        raise ConfigError(_join(locator.line(issue) for issue in issues)) from None
    for path, message in warnings(config) if warnings else ():
        logger.warning("%s", locator.line(_Issue(path, message)))
    return config


def _join(lines: Iterable[str]) -> str:
    lines = list(lines)
    if len(lines) == 1:
        return lines[0]
    return f"invalid configuration ({len(lines)} problems):\n" + "\n".join(f"  {line}" for line in lines)


# --- placeholders ------------------------------------------------------------------------


def _fill_placeholders(value: Any, path: Path_, secret_paths: set[Path_], issues: list[_Issue]) -> Any:
    """Replace ``{LIVEFILTER_*}`` in every string; note the paths that now hold secrets."""
    if isinstance(value, Mapping):
        return {
            key: _fill_placeholders(item, path + (key,), secret_paths, issues) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_fill_placeholders(item, path + (i,), secret_paths, issues) for i, item in enumerate(value)]
    if not isinstance(value, str) or not _PLACEHOLDER.search(value):
        return value
    secret_paths.add(path)

    def substitute(match: re.Match[str]) -> str:
        try:
            return _secret(match.group(1))
        except ValueError as exc:
            issues.append(_Issue(path, str(exc)))
            return ""

    return _PLACEHOLDER.sub(substitute, value)


def _secret(name: str) -> str:
    if not _PLACEHOLDER_NAME.fullmatch(name):
        raise ValueError(
            f"{{{name}}} is not a valid placeholder; use upper-case letters, digits and _ "
            "after LIVEFILTER_, e.g. {LIVEFILTER_CAM_PASSWORD}"
        )
    value = os.environ.get(name)
    if value is None and f"{name}_FILE" in os.environ:
        secret_file = os.environ[f"{name}_FILE"]
        try:
            value = Path(secret_file).read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise ValueError(f"{{{name}}}: cannot read {name}_FILE={secret_file} ({reason})") from None
    if value is None:
        raise ValueError(
            f"placeholder {{{name}}} is not set; export {name}=... or {name}_FILE=/path/to/secret"
        )
    if value == "":
        raise ValueError(f"placeholder {{{name}}} is set but empty")
    return value


# --- pydantic errors → user messages -------------------------------------------------------


def _issue(error: Mapping[str, Any], data: Any, secret_paths: set[Path_], root: type[BaseModel]) -> _Issue:
    loc, kind, ctx = tuple(error["loc"]), error["type"], error.get("ctx") or {}
    value, keep_tail, hint = error.get("input"), 0, ""
    show_value = kind not in ("missing", "extra_forbidden") and (
        kind in _TYPE_NOUNS or not _is_container(value)
    )
    problem = ctx.get("error")
    if kind == "value_error" and isinstance(problem, Problem):
        loc, keep_tail, value = loc + problem.at, len(problem.at), problem.value
        message, show_value = problem.message, problem.value is not None
    elif kind == "extra_forbidden":
        key = str(loc[-1])
        valid = sorted({name for model in _models_at(loc[:-1], root) for name in model.model_fields})
        message = f"unknown key {key!r}{_suggest(key, valid, ' (did you mean {!r}?)')}; valid keys here: {', '.join(valid)}"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        loc, keep_tail = loc + ("kind",), 1
        kinds = [str(_kind_of(model)) for model in _models_at(loc[:-1], root)]
        if kind == "union_tag_invalid":
            value, show_value = ctx["tag"], True
            message, hint = f"must be one of: {', '.join(kinds)}", _suggest(str(value), kinds)
        else:
            message, show_value = f"is required (one of: {', '.join(kinds)})", False
    elif kind == "literal_error":
        choices = _QUOTED.findall(str(ctx.get("expected", "")))
        message, hint = f"must be one of: {', '.join(choices)}", _suggest(str(value), choices)
    else:
        message = _message(kind, ctx, str(error.get("msg", "")))
        keep_tail = 1 if kind == "missing" else 0
    path = _resolve(loc, data, keep_tail)
    if show_value and path in secret_paths:
        return _Issue(path, message, " (value hidden: it holds a {LIVEFILTER_*} secret)")
    if show_value:
        return _Issue(path, message, f" (got {_describe_value(value)}{hint})")
    return _Issue(path, message)


def _message(kind: str, ctx: Mapping[str, Any], default: str) -> str:
    if kind in _TYPE_NOUNS:
        return f"must be {_TYPE_NOUNS[kind]}"
    limits = {
        "greater_than": ("must be greater than", "gt"),
        "greater_than_equal": ("must be at least", "ge"),
        "less_than": ("must be less than", "lt"),
        "less_than_equal": ("must be at most", "le"),
    }
    if kind in limits:
        words, key = limits[kind]
        return f"{words} {_number(ctx[key])}"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "too_short":
        count = ctx.get("min_length")
        return f"needs at least {count} {'entry' if count == 1 else 'entries'}"
    if kind == "too_long":
        return f"allows at most {ctx.get('max_length')} entries"
    if kind == "missing":
        return "is required"
    if kind == "invalid_key":
        return "keys must be strings"
    default = default.removeprefix("Value error, ")
    return default[:1].lower() + default[1:]


def _suggest(word: str, choices: list[str], template: str = "; did you mean {!r}?") -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return template.format(close[0]) if close else ""


def _models_at(loc: Path_, root: type[BaseModel]) -> list[type[BaseModel]]:
    """The model class(es) that validate the value at pydantic ``loc`` (tags included)."""
    models: list[type[BaseModel]] = [root]
    for part in loc:
        if isinstance(part, int):
            continue
        with_field = [model for model in models if part in model.model_fields]
        if with_field:
            models = [m for model in with_field for m in _models_in(model.model_fields[part].annotation)]
            continue
        tagged = [model for model in models if _kind_of(model) == part]
        models = tagged or models
    return models


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def _kind_of(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("kind")
    return field.default if field is not None else None


def _resolve(loc: Path_, data: Any, keep_tail: int) -> Path_:
    """Follow ``loc`` through ``data``, dropping pydantic's union tags (``file``, ``int``...).

    The last ``keep_tail`` parts are kept even when absent from the data (a missing key).
    """
    path: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
            path.append(str(part))
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
            path.append(part)
        elif i >= len(loc) - keep_tail:
            current = None
            path.append(part)
    return tuple(path)


def _merge(issues: Iterable[_Issue]) -> list[_Issue]:
    """One line per key: ``must be an integer`` + ``must be a string`` → ``... or a string``."""
    by_path: dict[Path_, list[_Issue]] = {}
    for issue in issues:
        same = by_path.setdefault(issue.path, [])
        if issue not in same:
            same.append(issue)
    result: list[_Issue] = []
    for path, same in by_path.items():
        if len(same) > 1 and all(
            i.message.startswith("must be ") and i.detail == same[0].detail for i in same
        ):
            kinds = " or ".join(i.message.removeprefix("must be ") for i in same)
            same = [_Issue(path, f"must be {kinds}", same[0].detail)]
        result.extend(same)
    return result


def _is_container(value: Any) -> bool:
    return isinstance(value, (Mapping, list, tuple))


def _describe_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        text = redact_text(value)
        return repr(text if len(text) <= 60 else text[:57] + "...")
    return redact_text(str(value))


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
