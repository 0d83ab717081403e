"""The Gradio app: image, video and live tabs over the same pipeline the CLI runs.

Every picture the server sends to the browser is a :class:`~livefilter.types.RedactedFrame`
the compositor built (or a drawing on one); raw frames never leave the pipeline. Errors
reach the page as messages (``gr.Error``), never as stack traces.
"""

from __future__ import annotations

import functools
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import numpy as np

from livefilter.errors import ConfigError, LivefilterError
from livefilter.secrets import redact_text
from livefilter.ui.clicks import Mark
from livefilter.ui.daemon import CAMERA_COLUMNS, DaemonClient, ZoneDraft, camera_health, camera_rows, parse_prompts
from livefilter.ui.jobs import JobSettings, display_id, first_frame, overlay, redact_image, redact_video
from livefilter.ui.live import LiveSessions

__all__ = ["PROMPT_ROWS", "build_app"]

logger = logging.getLogger(__name__)

PROMPT_ROWS = 3
"""Prompt fields per tab (blank ones are ignored)."""

F = TypeVar("F", bound=Callable[..., Any])


def user_message(exc: BaseException) -> str:
    """What the page shows for ``exc``: livefilter's own message, or a pointer to the server log."""
    if isinstance(exc, LivefilterError):
        return redact_text(str(exc))
    return f"internal error ({type(exc).__name__}); the server log has the details — please report it"


def speaks_errors(fn: F) -> F:
    """Turn any error of ``fn`` into a message on the page (a ``gr.Error``), never a stack trace."""

    def report(exc: BaseException) -> gr.Error:
        if isinstance(exc, LivefilterError):
            logger.info("ui: %s", redact_text(str(exc)))
        else:
            logger.exception("ui: %s failed", fn.__name__)
        return gr.Error(user_message(exc), print_exception=False)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:
            raise report(exc) from None

    return wrapper  # type: ignore[return-value]


def settings_from(values: tuple[Any, ...], engine: str, model: str) -> JobSettings:
    """Gradio inputs → :class:`JobSettings`: PROMPT_ROWS (text, confidence) pairs, then style, strength, dilation."""
    pairs = values[: 2 * PROMPT_ROWS]
    style, strength, dilation = values[2 * PROMPT_ROWS :]
    prompts = tuple((str(pairs[i] or ""), float(pairs[i + 1])) for i in range(0, len(pairs), 2))
    return JobSettings(
        prompts=prompts,
        style=str(style),
        strength=float(strength),
        dilation_px=int(dilation),
        engine=engine,
        sam3_model=model or "",
    )


def _controls(prefix: str) -> list[gr.components.Component]:
    """Prompt rows with their confidence, then style, strength and dilation."""
    controls: list[gr.components.Component] = []
    for row in range(PROMPT_ROWS):
        with gr.Row(equal_height=True):
            controls.append(
                gr.Textbox(
                    value="face" if row == 0 else "",
                    label=f"Prompt {row + 1}" if row else "Prompt 1 (what must never be seen)",
                    placeholder="e.g. license plate",
                    elem_id=f"{prefix}-prompt-{row}",
                    scale=3,
                )
            )
            controls.append(
                gr.Slider(0.05, 0.95, value=0.5, step=0.05, label="confidence", elem_id=f"{prefix}-conf-{row}", scale=2)
            )
    with gr.Row():
        controls.append(gr.Radio(["blur", "pixelate", "solid"], value="blur", label="style", elem_id=f"{prefix}-style"))
        controls.append(
            gr.Slider(2, 100, value=25, step=1, label="strength (blur sigma / pixel block)", elem_id=f"{prefix}-strength")
        )
        controls.append(gr.Slider(0, 64, value=6, step=1, label="dilation (px)", elem_id=f"{prefix}-dilation"))
    return controls


LIVE_STREAM_EVERY_S = 0.1
"""How often the page sends a webcam frame (scripts/bench_ui.py measures the trade-off)."""


def build_app(
    *,
    work_dir: Path | None = None,
    sessions: LiveSessions | None = None,
    live_stream_every_s: float = LIVE_STREAM_EVERY_S,
) -> gr.Blocks:
    """The whole UI. ``work_dir`` holds results for download (a fresh temp folder by default)."""
    out_root = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="livefilter-ui-"))
    out_root.mkdir(parents=True, exist_ok=True)
    live_sessions = sessions if sessions is not None else LiveSessions()

    def job_dir() -> Path:
        return Path(tempfile.mkdtemp(dir=out_root))

    with gr.Blocks(title="livefilter", analytics_enabled=False) as app:  # no telemetry from a privacy tool
        gr.Markdown(
            "# livefilter\nSay what must never be seen; only redacted pictures leave the server. "
            "Same engines and compositor as the command line."
        )
        with gr.Row():
            engine = gr.Dropdown(
                ["auto", "cpu-face", "sam3"], value="auto", label="engine", elem_id="engine",
                info="auto: SAM3 when a GPU and its weights are present, else the CPU face engine",
            )
            model = gr.Textbox(label="SAM3 weights (hub id or folder)", placeholder="facebook/sam3", elem_id="sam3-model")

        with gr.Tab("Image", id="image"):
            with gr.Row():
                with gr.Column():
                    image_in = gr.File(label="image", file_types=None, type="filepath", elem_id="image-upload")
                    image_controls = _controls("image")
                    image_go = gr.Button("Redact", variant="primary", elem_id="image-go")
                with gr.Column():
                    image_out = gr.Image(label="redacted", format="png", type="numpy", interactive=False, elem_id="image-out")
                    image_overlay = gr.Image(
                        label="masks (ids and scores, drawn on the redacted image)", format="png",
                        interactive=False, elem_id="image-overlay",
                    )
                    image_file = gr.File(label="download", interactive=False, elem_id="image-download")
                    image_info = gr.Markdown(elem_id="image-info")

            @speaks_errors
            def on_image(upload: str | None, engine_kind: str, sam3_model: str, *values: Any) -> tuple[Any, ...]:
                result = redact_image(upload, settings_from(values, engine_kind, sam3_model), job_dir())
                masks = result.masks
                found = "nothing found" if masks is None or len(masks) == 0 else ", ".join(
                    f"#{display_id(i)} {label} {score:.2f}"
                    for i, label, score in zip(masks.object_ids.tolist(), masks.labels, masks.scores.tolist())
                )
                return (
                    np.ascontiguousarray(result.frame.image[..., ::-1]),
                    overlay(result.frame, masks),
                    str(result.path),
                    f"**{len(masks) if masks is not None else 0} object(s):** {found}",
                )

            image_go.click(
                on_image,
                [image_in, engine, model, *image_controls],
                [image_out, image_overlay, image_file, image_info],
                api_name="redact_image",
            )

        with gr.Tab("Video", id="video"):
            with gr.Row():
                with gr.Column():
                    video_in = gr.File(label="video", type="filepath", elem_id="video-upload")
                    video_controls = _controls("video")
                    gr.Markdown(
                        "Every frame is processed (no frame limit) with the masks computed on it; "
                        "the audio is copied. No time limit: long videos take as long as the engine needs "
                        "(the progress bar shows fps and the time left)."
                    )
                    with gr.Accordion("click-to-track on the first frame", open=False):
                        frame_go = gr.Button("show the first frame (redacted)", elem_id="video-frame-go")
                        video_frame = gr.Image(
                            label="first frame, redacted (click to add objects)", format="png",
                            interactive=False, elem_id="video-frame",
                        )
                        with gr.Row():
                            video_click_mode = gr.Radio(
                                ["add", "remove", "box"], value="add", label="a click on the frame",
                                info="SAM3 tracks the objects from the first frame on; with the CPU engine "
                                "a click or box is a static zone redacted on every frame",
                                elem_id="video-click-mode",
                            )
                            video_clear = gr.Button("forget the clicks", elem_id="video-clear")
                        video_marks_info = gr.Textbox(label="clicks", interactive=False, elem_id="video-marks")
                    video_marks = gr.State([])
                    video_corner = gr.State(None)
                    video_go = gr.Button("Redact video", variant="primary", elem_id="video-go")
                with gr.Column():
                    video_out = gr.Video(label="redacted", interactive=False, elem_id="video-out")
                    video_file = gr.File(label="download", interactive=False, elem_id="video-download")
                    video_info = gr.Markdown(elem_id="video-info")

            @speaks_errors
            def on_first_frame(upload: str | None, engine_kind: str, sam3_model: str, *values: Any) -> Any:
                still = first_frame(upload, job_dir())
                result = redact_image(str(still), settings_from(values, engine_kind, sam3_model), still.parent)
                return np.ascontiguousarray(result.frame.image[..., ::-1])

            frame_go.click(on_first_frame, [video_in, engine, model, *video_controls], video_frame)

            @speaks_errors
            def on_frame_click(mode: str, marks: list[Mark], first: Any, evt: gr.SelectData) -> tuple[Any, ...]:
                x, y = (float(v) for v in evt.index)
                if mode == "box" and first is None:
                    return marks, (x, y), f"box: first corner ({x:.0f}, {y:.0f}); click the opposite corner"
                if mode == "box":
                    (x0, x1), (y0, y1) = sorted((first[0], x)), sorted((first[1], y))
                    mark = Mark(box=(x0, y0, x1, y1))
                else:
                    mark = Mark(point=(x, y), positive=mode == "add")
                marks = [*marks, mark]
                return marks, None, "; ".join(m.describe() for m in marks)

            video_frame.select(
                on_frame_click, [video_click_mode, video_marks, video_corner], [video_marks, video_corner, video_marks_info]
            )
            video_clear.click(lambda: ([], None, ""), None, [video_marks, video_corner, video_marks_info])

            @speaks_errors
            def on_video(
                upload: str | None, marks: list[Mark], engine_kind: str, sam3_model: str, *values: Any,
                progress: Any = gr.Progress(),
            ) -> tuple[Any, ...]:
                def report(p: Any) -> None:
                    progress((p.done, p.total) if p.total else None, desc=p.describe(), unit="frames")

                settings = settings_from(values, engine_kind, sam3_model)
                result = redact_video(upload, settings, job_dir(), report, marks=marks)
                note = (
                    f"{result.frames} frames"
                    + (f" (input: {result.input_frames})" if result.input_frames is not None else "")
                    + f" in {result.seconds:.1f} s ({result.frames / max(result.seconds, 1e-9):.1f} fps); "
                    + f"fully redacted: {result.fully_redacted}"
                )
                return str(result.path), str(result.path), note

            video_go.click(
                on_video,
                [video_in, video_marks, engine, model, *video_controls],
                [video_out, video_file, video_info],
                api_name="redact_video",
            )

        live_tab(engine, model, live_sessions, live_stream_every_s)
        daemon_tab()

    return app


def live_tab(engine: gr.Dropdown, model: gr.Textbox, sessions: LiveSessions, stream_every_s: float) -> None:
    """The live tab: the browser's webcam through the low-latency pipeline, redacted frames back."""
    with gr.Tab("Live", id="live"):
        with gr.Row():
            with gr.Column():
                webcam = gr.Image(
                    sources=["webcam"], streaming=True, type="numpy", label="your camera (never sent back)",
                    webcam_options=gr.WebcamOptions(mirror=False), elem_id="live-cam",
                )
                controls = _controls("live")
            with gr.Column():
                live_out = gr.Image(
                    label="redacted, from the server (click to add objects)", format="jpeg",
                    interactive=False, elem_id="live-out",
                )
                status = gr.Textbox(label="status", interactive=False, elem_id="live-status")
                outline = gr.Checkbox(
                    value=False, label="outline each object in its colour, with its id and score",
                    elem_id="live-outline",
                )
                with gr.Row():
                    click_mode = gr.Radio(
                        ["add", "remove", "box"], value="add", label="a click on the picture",
                        info="add: a new object (SAM3) or a static zone (CPU engine); remove: negative click; "
                        "box: two clicks give opposite corners", elem_id="live-click-mode",
                    )
                    clear = gr.Button("remove clicked objects", elem_id="live-clear")
                click_info = gr.Textbox(label="clicks", interactive=False, elem_id="live-click-info")
                corner = gr.State(None)

        @speaks_errors
        def on_frame(
            request: gr.Request, frame: np.ndarray | None, engine_kind: str, sam3_model: str, outlined: bool,
            *values: Any,
        ) -> tuple[Any, str]:  # the request first: Gradio fills it in by position, before *values
            if frame is None:
                return gr.skip(), "waiting for the camera"
            session = sessions.get(_session_key(request), settings_from(values, engine_kind, sam3_model))
            out, state = session.process(frame)
            if outlined:
                return overlay(out, session.masks_of(out)), state.describe()
            return np.ascontiguousarray(out.image[..., ::-1]), state.describe()

        webcam.stream(
            on_frame,
            [webcam, engine, model, outline, *controls],
            [live_out, status],
            stream_every=stream_every_s,
            concurrency_limit=sessions.limit,
            show_progress="hidden",
            api_name="live_frame",
        )

        @speaks_errors
        def on_click(mode: str, first: Any, evt: gr.SelectData, request: gr.Request) -> tuple[str, Any]:
            session = sessions.peek(_session_key(request))
            if session is None:
                return "start the camera first", None
            x, y = (float(v) for v in evt.index)
            if mode == "box":
                if first is None:
                    return f"box: first corner ({x:.0f}, {y:.0f}); click the opposite corner", (x, y)
                return session.add_box((first[0], first[1], x, y)), None
            return session.add_click(x, y, positive=mode == "add", size=session.frame_size), None

        live_out.select(on_click, [click_mode, corner], [click_info, corner])

        @speaks_errors
        def on_clear(request: gr.Request) -> str:
            session = sessions.peek(_session_key(request))
            return session.clear_objects() if session is not None else "no live session"

        clear.click(on_clear, None, click_info)


DAEMON_VIEW = "daemon-view"
"""The daemon tab's concurrency group: its snapshot refresh and everything that reads or changes the
zone being drawn run one at a time, in the order the page sent them (no click lost or reordered)."""


def daemon_tab() -> None:
    """Cameras of a running ``livefilter serve`` (its HTTP API and token): health, the redacted
    snapshot, prompts, and zones drawn on the snapshot, switched and deleted."""
    with gr.Tab("Daemon", id="daemon"):
        gr.Markdown(
            "The cameras of a running `livefilter serve`, through its HTTP API and token. The picture is "
            "the camera's newest **published** frame (`/api/cameras/NAME/snapshot.jpg`: redacted, as its "
            "outputs got it; fully redacted while it fails closed), refreshed every second. Click on it to "
            "place a zone's corners: from the first corner the picture holds still, with the corners drawn, "
            "until *add zone* or *forget corners*. Zones added here live in the daemon's memory: a "
            "restart, or a reload of the site file that changes this camera's zones, brings the file's back."
        )
        with gr.Row():
            url = gr.Textbox(value="http://127.0.0.1:8089", label="daemon address (its http: section)", elem_id="daemon-url")
            token = gr.Textbox(label="token (http.token)", type="password", elem_id="daemon-token")
            refresh = gr.Button("refresh", elem_id="daemon-refresh")
        table = gr.Dataframe(headers=CAMERA_COLUMNS, interactive=False, label="cameras", elem_id="daemon-cameras")
        with gr.Row():
            with gr.Column():
                camera = gr.Dropdown([], label="camera", elem_id="daemon-camera", allow_custom_value=True)
                snapshot = gr.Image(
                    label="redacted snapshot (click: a zone corner)", format="jpeg", type="numpy", interactive=False,
                    elem_id="daemon-snapshot",
                )
                health = gr.Textbox(label="health", interactive=False, elem_id="daemon-health")
            with gr.Column():
                with gr.Row():
                    prompts = gr.Textbox(label="prompts (comma-separated; TEXT: THRESHOLD)", elem_id="daemon-prompts")
                    set_prompts = gr.Button("set prompts", elem_id="daemon-set-prompts")
                with gr.Row():
                    zone = gr.Textbox(label="zone name", elem_id="daemon-zone")
                    mode = gr.Radio(["hide", "show"], value="hide", label="new zone's mode", elem_id="daemon-zone-mode")
                points_info = gr.Textbox(label="corners clicked", interactive=False, elem_id="daemon-points")
                with gr.Row():
                    add_zone = gr.Button("add zone", elem_id="daemon-add-zone")
                    forget = gr.Button("forget corners", elem_id="daemon-forget-points")
                with gr.Row():
                    enabled = gr.Checkbox(value=True, label="enabled", elem_id="daemon-zone-enabled")
                    set_zone = gr.Button("switch zone", elem_id="daemon-set-zone")
                    delete_zone = gr.Button("delete zone", elem_id="daemon-delete-zone")
                result = gr.Textbox(label="answer", interactive=False, elem_id="daemon-answer")
        draft = gr.State(None)  # ZoneDraft | None: the zone being drawn, on its held-still snapshot
        timer = gr.Timer(1.0)

        @speaks_errors
        def on_refresh(address: str, secret: str, chosen: str | None) -> tuple[Any, Any]:
            cameras = DaemonClient(address, secret).cameras()
            names = [c["name"] for c in cameras]
            value = chosen if chosen in names else (names[0] if names else None)
            return camera_rows(cameras), gr.update(choices=names, value=value)

        def on_tick(address: str, secret: str, name: str | None, drawing: ZoneDraft | None) -> tuple[Any, str]:
            """The chosen camera's snapshot and health; errors go to the health line (no toast a second).
            While a zone is being drawn the picture holds still (only the health line refreshes)."""
            if not name:
                return gr.skip(), "choose a camera (refresh lists them)"
            try:
                client = DaemonClient(address, secret)
                state = client.camera(name)
                if drawing is not None:
                    return gr.skip(), camera_health(state) + "; picture held still while you place corners"
                shown = client.snapshot(name)
            except LivefilterError as exc:
                return gr.skip(), redact_text(str(exc))
            return shown.picture, camera_health(state, shown)

        @speaks_errors
        def on_click(drawing: ZoneDraft | None, clicked: np.ndarray | None, evt: gr.SelectData) -> tuple[Any, Any, str]:
            """A corner where the user clicked: on the first one the clicked picture is held still."""
            if clicked is None:
                raise ConfigError("no snapshot to click on yet: choose a camera (refresh lists them)")
            drawing = (drawing or ZoneDraft(clicked)).add(evt.index, (clicked.shape[1], clicked.shape[0]))
            return drawing, drawing.shown(), drawing.describe()

        @speaks_errors
        def on_prompts(address: str, secret: str, name: str | None, text: str) -> tuple[str, Any, Any]:
            client = DaemonClient(address, secret)
            if not name:
                raise ConfigError("choose a camera first (refresh lists them)")
            now = client.set_prompts(name, parse_prompts(text))
            return f"{name}: prompts now {now}", *on_refresh(address, secret, name)

        def chosen(name: str | None, zone_name: str) -> tuple[str, str]:
            if not name or not zone_name.strip():
                raise ConfigError("choose a camera and type the zone's name (the zones column lists them)")
            return name, zone_name.strip()

        @speaks_errors
        def on_zone(address: str, secret: str, name: str | None, zone_name: str, on: bool) -> tuple[str, Any, Any]:
            name, zone_name = chosen(name, zone_name)
            switched = DaemonClient(address, secret).set_zone(name, zone_name, on)
            state = "on" if switched["enabled"] else "off"
            return f"{name}: zone {switched['name']} {state}", *on_refresh(address, secret, name)

        @speaks_errors
        def on_add(
            address: str, secret: str, name: str | None, zone_name: str, zone_mode: str, drawing: ZoneDraft | None,
        ) -> tuple[Any, ...]:
            name, zone_name = chosen(name, zone_name)
            placed = len(drawing.corners) if drawing is not None else 0
            if drawing is None or placed < 3:
                raise ConfigError(f"a zone needs at least 3 corners: click them on the snapshot ({placed} so far)")
            added = DaemonClient(address, secret).add_zone(
                name, zone_name, list(drawing.corners), units="fraction", mode=zone_mode
            )
            message = f"{name}: zone {added['name']} added ({added['mode']})"
            return message, *on_refresh(address, secret, name), *forget_corners(drawing)

        @speaks_errors
        def on_delete(address: str, secret: str, name: str | None, zone_name: str) -> tuple[str, Any, Any]:
            name, zone_name = chosen(name, zone_name)
            deleted = DaemonClient(address, secret).delete_zone(name, zone_name)
            return f"{name}: zone {deleted['name']} deleted", *on_refresh(address, secret, name)

        def forget_corners(drawing: ZoneDraft | None) -> tuple[None, str, Any]:
            """No zone being drawn; the held picture without its corners until the next refresh."""
            return None, "", gr.skip() if drawing is None else drawing.picture

        one_at_a_time: dict[str, Any] = {"concurrency_id": DAEMON_VIEW, "concurrency_limit": 1}
        refresh.click(on_refresh, [url, token, camera], [table, camera], api_name="daemon_cameras")
        timer.tick(on_tick, [url, token, camera, draft], [snapshot, health], show_progress="hidden", **one_at_a_time)
        snapshot.select(
            on_click, [draft, snapshot], [draft, snapshot, points_info], trigger_mode="multiple", show_progress="hidden",
            **one_at_a_time,
        )
        forget.click(forget_corners, [draft], [draft, points_info, snapshot], **one_at_a_time)
        camera.change(  # corners belong to one camera's picture: none, and no picture until this camera's
            lambda: (None, "", None), None, [draft, points_info, snapshot], **one_at_a_time
        )
        set_prompts.click(on_prompts, [url, token, camera, prompts], [result, table, camera], api_name="daemon_prompts")
        set_zone.click(on_zone, [url, token, camera, zone, enabled], [result, table, camera], api_name="daemon_zone")
        add_zone.click(
            on_add, [url, token, camera, zone, mode, draft], [result, table, camera, draft, points_info, snapshot],
            api_name="daemon_add_zone", **one_at_a_time,
        )
        delete_zone.click(on_delete, [url, token, camera, zone], [result, table, camera], api_name="daemon_delete_zone")


def _session_key(request: gr.Request) -> str:
    return str(request.session_hash or "anonymous")
