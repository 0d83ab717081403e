"""Fixtures for the UI tests: the app served on 127.0.0.1, and headless Chromium driven by Selenium.

Browser tests are skipped, with the reason, only when Chromium or its driver is missing
(``scripts/install_system_deps.sh`` installs both).
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason='the UI needs gradio: pip install -e ".[ui]"')

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-background-networking "
    "--disable-component-update --disable-sync --no-first-run --window-size=1400,1800"
).split()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ui_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The whole app, served like ``livefilter ui`` does (loopback, queue on)."""
    from livefilter.ui.app import build_app
    from livefilter.ui.live import LiveSessions

    sessions = LiveSessions(idle_s=20.0)
    app = build_app(work_dir=tmp_path_factory.mktemp("ui-results"), sessions=sessions)
    app.queue(default_concurrency_limit=2)
    _, url, _ = app.launch(
        server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True, show_error=False
    )
    try:
        yield url.rstrip("/")
    finally:
        sessions.close_all()
        app.close()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``chromium(fake_camera=None)``: a fresh headless Chromium (own profile); quit at teardown."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Chromium or chromedriver missing: sudo bash scripts/install_system_deps.sh")
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (the test extra)")
    drivers: list[Any] = []

    def start(fake_camera: Path | None = None) -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}")
        if fake_camera is not None:
            options.add_argument("--use-fake-ui-for-media-stream")
            options.add_argument("--use-fake-device-for-media-stream")
            options.add_argument(f"--use-file-for-fake-video-capture={fake_camera}")
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
        driver.set_page_load_timeout(30)
        drivers.append(driver)
        return driver

    try:
        yield start
    finally:
        for driver in drivers:
            driver.quit()


def fetch_image(url: str) -> np.ndarray:
    """The picture at ``url`` (as the page got it), BGR."""
    import cv2

    with urllib.request.urlopen(url, timeout=10) as response:
        data = np.frombuffer(response.read(), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert image is not None, f"{url}: not an image"
    return image


def fetch_file(url: str, path: Path) -> Path:
    with urllib.request.urlopen(url, timeout=30) as response:
        path.write_bytes(response.read())
    return path
