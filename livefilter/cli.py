"""Command line: ``livefilter run | check | serve | image | video | schema | ui``.

Exit codes: 0 done; 1 runtime failure (a source, engine or sink could not open or failed
while running, or a sink never delivered a frame); 2 bad command line, config, installation or
input (a missing, undecodable or truncated input file, whether named on the command line or in a
config); 128+N stopped by signal N after a clean shutdown (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from livefilter.config import Config
from livefilter.config.loader import load_config, parse_config, with_overrides
from livefilter import __version__
from livefilter.errors import ConfigError, DependencyError, EngineError, InputError, LivefilterError
from livefilter.lifecycle import Lifecycle
from livefilter.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, video_frame_count
from livefilter.secrets import redact_text, redact_url
from livefilter.runtime.metrics import Stats
from livefilter.types import Prompt, RedactedFrame

__all__ = [
    "ProgressSink",
    "build_parser",
    "main",
    "parse_sink",
    "parse_source",
    "summarize",
]

logger = logging.getLogger("livefilter.cli")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
LOG_FORMAT = "%(asctime)s %(levelname)-7s [%(threadName)s] %(name)s: %(message)s"

_WEBCAM_PATH = re.compile(r"/dev/video\d+")


# --- override parsing --------------------------------------------------------------------


def parse_source(text: str) -> dict[str, Any]:
    """``--source`` → the ``source:`` section it stands for.

    Example:
        >>> parse_source("0")
        {'kind': 'webcam', 'device': 0}
        >>> parse_source("rtsp://cam.local/stream1")
        {'kind': 'rtsp', 'url': 'rtsp://cam.local/stream1'}
    """
    if text == "demo":
        return {"kind": "demo"}
    if text.isdigit():
        return {"kind": "webcam", "device": int(text)}
    if _WEBCAM_PATH.fullmatch(text):
        return {"kind": "webcam", "device": text}
    if text.lower().startswith(STREAM_SCHEMES):
        return {"kind": "rtsp", "url": text}
    if not Path(text).is_file():
        raise ConfigError(
            f"--source {text!r}: no such file; expected demo, a webcam index (0) or /dev/videoN, "
            "rtsp://..., http(s)://..., or the path of a video or image file"
        )
    if text.lower().endswith(IMAGE_EXTENSIONS):
        # A still image on `run` is a live stream of that picture (e.g. to test a virtual camera).
        return {"kind": "image", "path": text, "frames": None, "realtime": True}
    return {"kind": "file", "path": text}


def parse_sink(text: str) -> dict[str, Any]:
    """``--sink`` → one entry of ``sinks:``.

    Example:
        >>> parse_sink("virtualcam:/dev/video10")
        {'kind': 'virtualcam', 'device': '/dev/video10'}
        >>> parse_sink("out/clip.mp4")
        {'kind': 'file', 'path': 'out/clip.mp4'}
    """
    if text in ("preview", "null", "virtualcam"):
        return {"kind": text}
    if text.startswith("virtualcam:"):
        return {"kind": "virtualcam", "device": text.removeprefix("virtualcam:")}
    if text.lower().startswith(("rtsp://", "rtsps://")):
        return {"kind": "rtsp", "url": text}
    if text.lower().endswith(IMAGE_EXTENSIONS):
        return {"kind": "image", "path": text}
    if text.lower().endswith(VIDEO_EXTENSIONS):
        return {"kind": "file", "path": text}
    raise ConfigError(
        f"--sink {redact_url(text)!r}: expected preview, null, virtualcam[:DEVICE], rtsp://..., "
        f"an image path ({', '.join(IMAGE_EXTENSIONS)}) or a video path ({', '.join(VIDEO_EXTENSIONS)})"
    )


def _engine_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``--prompt``, ``--style``, ``--engine`` and ``--model`` as dotted config overrides."""
    overrides: dict[str, Any] = {}
    if args.prompt:
        overrides["prompts"] = list(args.prompt)
    if args.style:
        overrides["render.style"] = args.style
    if args.engine:
        overrides["engine.kind"] = args.engine
    if args.model:
        if args.engine not in (None, "sam3"):
            raise ConfigError(f"--model names SAM3 weights; it cannot be used with --engine {args.engine}")
        overrides["engine.kind"] = "sam3"
        overrides["engine.sam3.model"] = args.model
    return overrides


# --- progress bar --------------------------------------------------------------------------


class ProgressSink(Lifecycle):
    """A tqdm bar over the frames actually published (an extra sink for file jobs).

    Lossless, so it sees every frame and the statistics show no drops for it; a write is
    cheap (tqdm redraws at most ten times a second). The bar follows the newest frame
    index, so it never goes back, and counts fully redacted frames.
    """

    name = "progress"
    lossless = True
    internal = True  # not an output: left out of the statistics

    def __init__(self, total: int | None, *, enabled: bool = True, file: IO[str] | None = None) -> None:
        self.total = total
        self.enabled = enabled
        self.file = file
        self.fully_redacted = 0
        self._bar: Any = None

    def open(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=self.total, unit="frame", disable=not self.enabled, file=self.file, dynamic_ncols=True
        )

    def write(self, frame: RedactedFrame) -> None:
        if frame.fully_redacted:
            self.fully_redacted += 1
            self._bar.set_postfix(fully_redacted=self.fully_redacted, refresh=False)
        if frame.index + 1 > self._bar.n:
            self._bar.update(frame.index + 1 - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


# --- commands ------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    overrides = _engine_overrides(args)
    if args.source:
        overrides["source"] = parse_source(args.source)
    if args.sink:
        overrides["sinks"] = [parse_sink(spec) for spec in args.sink]
    if args.duration is not None:
        overrides["runtime.max_duration_s"] = args.duration
    return _execute(load_config(args.config, overrides))


def _cmd_check(args: argparse.Namespace) -> int:
    from livefilter.daemon.config import camera_config, is_site_file, load_site

    if is_site_file(args.config):
        site = load_site(args.config)
        for name in site.cameras:
            _check_prompts(camera_config(site, name), f"{args.config} cameras.{name}")
        print(f"{args.config}: OK")
        print(f"site: {len(site.cameras)} cameras sharing engine {site.engine.kind}")
        for name in site.cameras:
            print(f"[{name}]\n{summarize(camera_config(site, name))}")
        return EXIT_OK
    config = load_config(args.config)
    _check_prompts(config, args.config)
    print(f"{args.config}: OK")
    print(summarize(config))
    return EXIT_OK


def _check_prompts(config: Config, origin: str) -> None:
    """The CPU face engine answers only faces; say so before a run fails on it (no model loaded).

    An error for ``cpu-face``; a warning for ``auto``, which falls back to it without SAM3.
    """
    if config.engine.kind == "sam3":
        return
    from livefilter.engines.face_cpu import face_prompt

    try:
        face_prompt([Prompt(p.text, p.threshold) for p in config.prompts])
    except EngineError as exc:
        if config.engine.kind == "cpu-face":
            raise ConfigError(f"{origin} prompts: {exc}") from None
        logger.warning("%s prompts: needs SAM3; engine.kind auto falls back to cpu-face, and then: %s", origin, exc)


def _cmd_serve(args: argparse.Namespace) -> int:
    """``serve``: the headless daemon (see :mod:`livefilter.daemon`)."""
    from livefilter.cluster import controller_for
    from livefilter.daemon.serve import serve

    return serve(args.config, make=controller_for)


def _cmd_file_job(args: argparse.Namespace) -> int:
    """``image`` / ``video``: one input file → one output file, every frame exact."""
    is_image = args.command == "image"
    if not Path(args.input).is_file():
        raise InputError(f"input {args.input!r}: no such file")
    extensions = IMAGE_EXTENSIONS if is_image else VIDEO_EXTENSIONS
    if not args.output.lower().endswith(extensions):
        raise ConfigError(
            f"output {args.output!r}: `livefilter {args.command}` writes {', '.join(extensions)} files"
        )
    sink = parse_sink(args.output)
    if is_image:
        source = {"kind": "image", "path": args.input, "frames": 1, "realtime": False}
    else:
        source = {"kind": "file", "path": args.input, "realtime": False}
        sink["audio_from"] = args.input
    overrides = {**_engine_overrides(args), "source": source, "sinks": [sink], "render.mode": "exact"}
    if args.config:
        config = load_config(args.config, overrides)
    else:
        config = parse_config(with_overrides({}, overrides), origin="command line")
    total = 1 if is_image else video_frame_count(args.input)
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():  # log lines above the bar, not through it
        return _execute(config, extra_sinks=[ProgressSink(total, enabled=sys.stderr.isatty())])


def _cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(Config.model_json_schema(), indent=2))
    return EXIT_OK


def _execute(config: Config, extra_sinks: Sequence[Any] = ()) -> int:
    """Build and run the pipeline; SIGINT/SIGTERM stop it cleanly; print the statistics."""
    from livefilter.pipeline import build_pipeline

    pipeline = build_pipeline(config, extra_sinks=list(extra_sinks), wait_for_source=True)
    with _stop_on_signals(pipeline.stop) as received:
        try:
            stats = pipeline.run()
        except LivefilterError:
            if pipeline.stats().frames_published:  # what was done before the failure
                print(pipeline.stats().format(final=True))
            raise
    print(stats.format(final=True))
    if received:
        return 128 + received[0]
    _say_how_much_is_hidden(stats)
    silent = [name for name, sink in stats.sinks.items() if sink.written == 0]
    if silent:
        for name in silent:
            errors = stats.sinks[name].errors
            logger.error(
                "sink %s never delivered a frame%s; the run failed",
                name,
                f" ({errors} failed writes; see the warnings above)" if errors else "",
            )
        return EXIT_FAILURE
    return EXIT_OK


def _say_how_much_is_hidden(stats: Stats) -> None:
    """A warning when most of the output is hidden (the statistics' redacted line has the detail)."""
    if not stats.mostly_redacted:
        return
    shown = stats.frames_published - stats.frames_repeated
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(stats.fail_closed.items()))
    logger.warning(
        "most of the output is hidden: %d of %d frames hide more than half of the picture "
        "(%d fully redacted%s). Check the prompts and their thresholds; a detection covering "
        "most of the frame may be a false positive",
        stats.frames_mostly_hidden,
        shown,
        stats.frames_fully_redacted,
        f": {reasons}" if reasons else "",
    )


@contextlib.contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[list[int]]:
    """Map SIGINT/SIGTERM to ``stop()``; a second signal quits at once. Yields the signals seen."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handle(signum: int, _frame: object) -> None:
        received.append(signum)
        if len(received) > 1:
            os._exit(128 + signum)  # asked twice: do not wait for outputs to finish
        logger.warning(
            "%s: stopping cleanly (press Ctrl-C again to quit at once)", signal.Signals(signum).name
        )
        # In a thread: stop() may take locks the interrupted main thread holds.
        threading.Thread(target=stop, name="signal-stop", daemon=True).start()

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def summarize(config: Config) -> str:
    """A few lines describing what a run would do (credentials and query strings hidden)."""
    source = config.source
    render = config.render
    prompts = ", ".join(f"{p.text} (≥{p.threshold:g})" for p in config.prompts)
    lines = [
        f"  source:  {_describe(source.model_dump())}",
        f"  prompts: {prompts}",
        f"  engine:  {config.engine.kind} (hang timeout {config.engine.timeout_s:g} s)",
        (
            f"  render:  {render.mode}, {render.style}, fps {render.fps or 'of the source'}, "
            f"fully redacted when masks older than {render.max_mask_age_ms:g} ms"
        ),
        f"  sinks:   {'; '.join(_describe(sink.model_dump()) for sink in config.sinks)}",
    ]
    if config.runtime.max_duration_s is not None:
        lines.append(f"  stops after {config.runtime.max_duration_s:g} s")
    return "\n".join(lines)


def _describe(section: Mapping[str, Any]) -> str:
    target = next((section[key] for key in ("path", "url", "device") if section.get(key) is not None), None)
    if isinstance(target, str) and "://" in target:
        target = _safe_url(target)
    return f"{section['kind']} {target}" if target is not None else str(section["kind"])


def _safe_url(url: str) -> str:
    """The URL without its password and query string (tokens often live there)."""
    parts = urlsplit(redact_url(url))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "..." if parts.query else "", ""))


# --- entry point ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    engine = argparse.ArgumentParser(add_help=False)
    engine.add_argument("--style", choices=("blur", "pixelate", "solid"), help="how marked pixels are hidden")
    engine.add_argument("--engine", choices=("auto", "cpu-face", "sam3"), help="segmentation engine")
    engine.add_argument(
        "--model", metavar="PATH_OR_ID", help="SAM3 weights: a local folder or hub id (implies --engine sam3)"
    )

    parser = argparse.ArgumentParser(
        prog="livefilter",
        description="Real-time privacy filter: say what must never be seen, publish only redacted frames.",
        epilog="Exit codes: 0 done, 1 runtime failure, 2 bad command/config/input, 130 Ctrl-C.",
    )
    parser.add_argument("--version", action="version", version=f"livefilter {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", parents=[common, engine], help="run a config (live or file)")
    run.add_argument("config", metavar="CONFIG", help="YAML config file, e.g. configs/demo.yaml")
    run.add_argument(
        "--source", metavar="S", help="demo | 0 | /dev/videoN | rtsp://... | http(s)://... | FILE"
    )
    run.add_argument(
        "--prompt", action="append", metavar="P", help="what to hide (repeat; replaces the config's prompts)"
    )
    run.add_argument(
        "--sink",
        action="append",
        metavar="K",
        help="preview | null | virtualcam[:DEVICE] | rtsp://... | IMAGE | VIDEO (repeat; replaces the config's sinks)",
    )
    run.add_argument("--duration", type=float, metavar="SEC", help="stop after SEC seconds")
    run.set_defaults(handler=_cmd_run)

    check = commands.add_parser("check", parents=[common], help="validate a config without running it")
    check.add_argument("config", metavar="CONFIG")
    check.set_defaults(handler=_cmd_check)

    serve = commands.add_parser(
        "serve", parents=[common], help="run a site of cameras as a daemon (SIGHUP reloads, SIGTERM drains)"
    )
    serve.add_argument("config", metavar="SITE", help="site YAML (cameras: map), or a single-stream config")
    serve.set_defaults(handler=_cmd_serve)

    for name, what in (
        ("image", "an image file"),
        ("video", "a video file, every frame exact, audio copied"),
    ):
        job = commands.add_parser(name, parents=[common, engine], help=f"redact {what}")
        extensions = IMAGE_EXTENSIONS if name == "image" else VIDEO_EXTENSIONS
        job.add_argument("input", metavar="IN", help=f"the {name} file to redact")
        job.add_argument(
            "output",
            metavar="OUT",
            help=f"where to write the redacted copy ({', '.join(extensions)}); folders are created",
        )
        job.add_argument(
            "--prompt", action="append", required=True, metavar="P", help="what to hide (repeat)"
        )
        job.add_argument(
            "--config", metavar="CONFIG", help="take engine and render settings from this config"
        )
        job.set_defaults(handler=_cmd_file_job)

    schema = commands.add_parser("schema", parents=[common], help="print the config's JSON schema")
    schema.set_defaults(handler=_cmd_schema)
    _add_ui_command(commands, common)
    return parser


def _add_ui_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """``livefilter ui``: the browser UI (the ``ui`` extra), on 127.0.0.1 unless told otherwise."""
    ui = commands.add_parser("ui", parents=[common], help='browser UI (pip install -e ".[ui]")')
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    ui.add_argument("--share", action="store_true", help="also publish a public gradio.live link (says what it exposes)")
    ui.set_defaults(handler=_cmd_ui)


def _cmd_ui(args: argparse.Namespace) -> int:
    from livefilter.ui.server import launch

    launch(host=args.host, port=args.port, share=args.share)
    return EXIT_OK


class _RedactingFormatter(logging.Formatter):
    """Last line of defence: no URL password reaches the log, whoever wrote the message."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class _NotPrintedYet(logging.Filter):
    """Drops a record a library already printed through a handler of its own on the way up.

    ``huggingface_hub`` puts a console handler on its logger *and* lets records propagate to
    the root, so each hub warning (e.g. every download retry) came out twice. A library's
    NullHandler prints nothing, so it does not count. The library may be imported at any time
    (SAM3 loads it lazily), so this is decided per record, not when logging is set up."""

    def filter(self, record: logging.LogRecord) -> bool:
        node: logging.Logger | None = logging.getLogger(record.name)
        while node is not None and node is not logging.root:
            if any(not isinstance(handler, logging.NullHandler) for handler in node.handlers):
                return False
            if not node.propagate:
                break
            node = node.parent
        return True


@contextlib.contextmanager
def _logging(verbose: bool) -> Iterator[None]:
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RedactingFormatter(LOG_FORMAT))
    handler.addFilter(_NotPrintedYet())
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with _logging(args.verbose):
        try:
            return int(args.handler(args))
        except (ConfigError, DependencyError, InputError) as exc:
            return _report(exc, EXIT_USAGE)
        except LivefilterError as exc:
            return _report(exc, EXIT_FAILURE)
        except KeyboardInterrupt:
            print("livefilter: interrupted", file=sys.stderr)
            return 128 + signal.SIGINT
        except BrokenPipeError:  # e.g. `livefilter schema | head`: the reader left, that is fine
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_OK
        except Exception as exc:  # a bug: say so, with the traceback (redacted by the formatter)
            logger.exception("internal error (%s); please report it", type(exc).__name__)
            return EXIT_FAILURE


def _report(exc: LivefilterError, code: int) -> int:
    logger.debug("where the error came from (shown with -v):", exc_info=exc)
    print(f"livefilter: error: {redact_text(str(exc))}", file=sys.stderr)
    return code
