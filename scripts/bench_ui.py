"""Benchmark of the browser UI (``livefilter ui``) on this machine, in headless Chromium.

1. Live tab: webcam → redacted frame latency *as the page sees it*, and the fps it sustains.
   The page's camera is a canvas stream (``getUserMedia`` is replaced before the page loads)
   showing a real face photo (scikit-image's astronaut) moving over a background, with the
   page's own clock (``performance.now()``, ms) drawn as bits in the top rows. Each redacted
   picture the server sends back is decoded in the page when it has loaded: latency = now −
   the clock in its pixels, both on the page's clock. It also checks the face is hidden.
2. Video tab: throughput of the tab (through ``gradio_client``: upload, job, download)
   against ``livefilter video`` in the same process on the same file.

Run: ``python scripts/bench_ui.py [--seconds 20] [--frames 150]`` (needs chromium, chromium-driver,
``pip install -e ".[ui,test]"``). Timings are taken under whatever else runs on the machine;
the video ratio is the figure to compare.
"""

from __future__ import annotations

import argparse
import base64
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ui import media  # noqa: E402  (the same moving-face media as the browser tests)

CLOCK_BITS = 20
FAKE_CAMERA_JS = """
(() => {
  const W = 640, H = 480, BITS = %(bits)d;
  const canvas = document.createElement('canvas'); canvas.width = W; canvas.height = H;
  const g = canvas.getContext('2d');
  const face = new Image(); face.src = 'data:image/png;base64,%(face)s';
  let k = 0;
  function draw() {
    g.fillStyle = '#3c6e8c'; g.fillRect(0, 0, W, H);
    g.fillStyle = '#9bc45a'; for (let x = 0; x < W; x += 80) g.fillRect(x, 40, 40, H);
    const span = W - 240, phase = (k * 4) %% (2 * span);
    if (face.complete) g.drawImage(face, phase <= span ? phase : 2 * span - phase, 200);
    const t = Math.round(performance.now()) & ((1 << BITS) - 1);
    for (let b = 0; b < BITS; b++) { g.fillStyle = (t >> b) & 1 ? '#fff' : '#000'; g.fillRect(b * 16, 0, 16, 16); }
    k++;
  }
  setInterval(draw, 1000 / 30); draw();
  const stream = canvas.captureStream(30);
  navigator.mediaDevices.getUserMedia = async () => stream;
})();
"""
OBSERVER_JS = """
window.__lat = []; window.__leak = 0; window.__seen = new Set();
const BITS = %(bits)d;
const c = document.createElement('canvas'); const g = c.getContext('2d', {willReadFrequently: true});
setInterval(() => {
  const img = document.querySelector('#live-out img');
  if (!img || window.__seen.has(img.src)) return;
  const src = img.src; window.__seen.add(src);
  const probe = new Image(); probe.crossOrigin = 'anonymous';
  probe.onload = () => {
    const now = Math.round(performance.now()) & ((1 << BITS) - 1);
    c.width = probe.naturalWidth; c.height = probe.naturalHeight; g.drawImage(probe, 0, 0);
    const sx = c.width / 640, sy = c.height / 480;
    let t = 0, readable = true;
    for (let b = 0; b < BITS; b++) {
      const p = g.getImageData(Math.round((b * 16 + 8) * sx), Math.round(8 * sy), 1, 1).data;
      const v = (p[0] + p[1] + p[2]) / 3;
      if (v > 60 && v < 195) readable = false;
      if (v >= 128) t |= 1 << b;
    }
    if (readable) window.__lat.push([performance.now(), (now - t + (1 << BITS)) %% (1 << BITS)]);
    else window.__lat.push([performance.now(), null]);
  };
  probe.src = src;
}, 5);
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _face_png() -> str:
    photo = media.astronaut_bgr()[media.PATCH[0] : media.PATCH[1], media.PATCH[2] : media.PATCH[3]]
    ok, data = cv2.imencode(".png", photo)
    assert ok
    return base64.b64encode(data.tobytes()).decode()


def _chromium(tmp: Path) -> object:
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless=new --no-sandbox --disable-gpu --disable-background-networking --disable-component-update "
        "--disable-sync --no-first-run --window-size=1400,1800 --use-fake-ui-for-media-stream"
    ).split():
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(dir=tmp)}")
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(shutil.which("chromedriver")))


def bench_live(url: str, seconds: float, tmp: Path) -> dict[str, float]:
    from selenium.webdriver.common.by import By

    driver = _chromium(tmp)
    try:
        driver.execute_cdp_cmd(  # type: ignore[attr-defined]
            "Page.addScriptToEvaluateOnNewDocument",
            {"source": FAKE_CAMERA_JS % {"bits": CLOCK_BITS, "face": _face_png()}},
        )
        driver.get(url)  # type: ignore[attr-defined]
        time.sleep(3)
        next(b for b in driver.find_elements(By.CSS_SELECTOR, "button[role=tab]") if b.text.strip() == "Live").click()  # type: ignore[attr-defined]
        time.sleep(1)
        for label in ("Access Webcam", "Record"):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                buttons = [b for b in driver.find_elements(By.CSS_SELECTOR, "#live-cam button") if b.is_displayed() and label in b.text]  # type: ignore[attr-defined]
                if buttons:
                    buttons[0].click()
                    break
                time.sleep(0.2)
        driver.execute_script(OBSERVER_JS % {"bits": CLOCK_BITS})  # type: ignore[attr-defined]
        time.sleep(5)  # warm-up: engine load, first masks
        driver.execute_script("window.__lat = [];")  # type: ignore[attr-defined]
        time.sleep(seconds)
        samples = driver.execute_script("return window.__lat;")  # type: ignore[attr-defined]
        status = driver.find_element(By.CSS_SELECTOR, "#live-status textarea").get_attribute("value")  # type: ignore[attr-defined]
    finally:
        driver.quit()  # type: ignore[attr-defined]
    latencies = np.array([s[1] for s in samples if s[1] is not None], float)
    span = (samples[-1][0] - samples[0][0]) / 1000 if len(samples) > 1 else float("nan")
    print(f"  last status: {status}")
    return {
        "frames received": float(len(samples)),
        "fully redacted (clock hidden)": float(sum(1 for s in samples if s[1] is None)),
        "fps in the page": (len(samples) - 1) / span if span else float("nan"),
        "latency p50 ms": float(np.percentile(latencies, 50)) if latencies.size else float("nan"),
        "latency p95 ms": float(np.percentile(latencies, 95)) if latencies.size else float("nan"),
        "latency min ms": float(latencies.min()) if latencies.size else float("nan"),
    }


def bench_video(url: str, frames: int, tmp: Path) -> dict[str, float]:
    from gradio_client import Client, handle_file

    from livefilter.cli import main

    clip = media.write_mp4(tmp / "bench.mp4", frames)
    started = time.perf_counter()
    assert main(["video", str(clip), str(tmp / "cli.mp4"), "--prompt", "face"]) == 0
    cli_s = time.perf_counter() - started
    client = Client(url, verbose=False)
    started = time.perf_counter()
    client.predict(
        handle_file(str(clip)), "auto", "", "face", 0.5, "", 0.5, "", 0.5, "blur", 25, 6, api_name="/redact_video"
    )
    ui_s = time.perf_counter() - started
    return {
        "frames": float(frames),
        "livefilter video fps": frames / cli_s,
        "video tab fps (upload + job + download)": frames / ui_s,
        "ratio tab / cli": cli_s / ui_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="live measurement length")
    parser.add_argument("--frames", type=int, default=150, help="video length for the throughput comparison")
    parser.add_argument(
        "--stream-every", type=float, nargs="+", default=[0.04, 0.1, 0.2],
        help="webcam send intervals to measure (Gradio's stream_every, seconds)",
    )
    args = parser.parse_args()

    from livefilter.ui.app import build_app

    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    url = ""
    for every in args.stream_every:
        app, url = _serve(build_app, tmp, every)
        try:
            print(f"live tab, {args.seconds:g} s, page sends a frame every {every:g} s "
                  "(canvas camera 640x480 at 30 fps, cpu-face engine):")
            for key, value in bench_live(url, args.seconds, tmp).items():
                print(f"  {key:38s} {value:8.1f}")
        finally:
            app.close()
    app, url = _serve(build_app, tmp, args.stream_every[0])
    try:
        print(f"video tab vs livefilter video, {args.frames} frames 640x480:")
        for key, value in bench_video(url, args.frames, tmp).items():
            print(f"  {key:38s} {value:8.2f}")
    finally:
        app.close()
    return 0


def _serve(build_app: Callable[..., Any], tmp: Path, every: float) -> tuple[Any, str]:
    app = build_app(work_dir=tmp / "results", live_stream_every_s=every)
    app.queue(default_concurrency_limit=2)
    _, url, _ = app.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    return app, url


if __name__ == "__main__":
    raise SystemExit(main())
