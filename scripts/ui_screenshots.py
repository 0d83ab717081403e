"""Screenshots of the UI's tabs for the README (headless Chromium): docs/ui-image.png,
docs/ui-video.png, docs/ui-live.png, docs/ui-daemon.png (a demo daemon started here). The pictures are scikit-image's public-domain astronaut
moving over a drawn background (the same media as tests/ui).

Run: ``python scripts/ui_screenshots.py [image|video|live|daemon ...]`` (default: every tab; needs
chromium, chromium-driver, ``pip install -e ".[ui,test]"``).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ui import media  # noqa: E402
from tests.ui.test_browser import _start_webcam, open_page, upload, wait_for  # noqa: E402


TABS = ("image", "video", "live", "daemon")


def main(tabs: list[str]) -> int:
    from selenium import webdriver
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    unknown = sorted(set(tabs) - set(TABS))
    if unknown:
        print(f"unknown tab(s) {unknown}; choose from {', '.join(TABS)}", file=sys.stderr)
        return 2
    chosen = set(tabs or TABS)

    from livefilter.ui.app import build_app
    from tests.ui.conftest import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, _free_port

    tmp = Path(tempfile.mkdtemp(prefix="ui-shots-"))
    photo = tmp / "astronaut.png"
    cv2.imwrite(str(photo), media.frame(30))
    clip = media.write_mp4(tmp / "clip.mp4", 60)
    camera = media.write_y4m(tmp / "camera.y4m", 120)
    app = build_app(work_dir=tmp / "results")
    app.queue()
    _, url, _ = app.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-video-capture={camera}", f"--user-data-dir={tmp / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    docs = ROOT / "docs"
    try:
        if "image" in chosen:
            open_page(driver, url)
            upload(driver, "image-upload", photo)
            driver.find_element(By.ID, "image-go").click()
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#image-overlay img"), 60, "the image result")
            time.sleep(1)
            driver.save_screenshot(str(docs / "ui-image.png"))

        if "video" in chosen:
            open_page(driver, url, tab="Video")
            upload(driver, "video-upload", clip)
            driver.find_element(By.ID, "video-go").click()
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#video-download a"), 120, "the video result")
            time.sleep(2)
            driver.save_screenshot(str(docs / "ui-video.png"))

        if "live" in chosen:
            open_page(driver, url, tab="Live")
            _start_webcam(driver)
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#live-out img"), 60, "a live frame")
            time.sleep(6)
            driver.save_screenshot(str(docs / "ui-live.png"))

        if "daemon" in chosen:
            daemon, server = _demo_daemon()
            try:
                open_page(driver, url, tab="Daemon")
                address = driver.find_element(By.CSS_SELECTOR, "#daemon-url textarea, #daemon-url input")
                address.clear()
                address.send_keys(f"http://127.0.0.1:{server.port}")
                time.sleep(3)  # the cameras start publishing
                driver.find_element(By.ID, "daemon-refresh").click()
                wait_for(lambda: "door" in driver.find_element(By.ID, "daemon-cameras").text, 20, "the camera list")
                picture = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#daemon-snapshot img"), 30, "the snapshot")[0]
                for fx, fy in [(0.6, 0.55), (0.95, 0.6), (0.9, 0.95)]:  # three corners of a zone being drawn
                    picture = driver.find_element(By.CSS_SELECTOR, "#daemon-snapshot img")
                    width, height = picture.size["width"], picture.size["height"]
                    ActionChains(driver).move_to_element_with_offset(picture, (fx - 0.5) * width, (fy - 0.5) * height).click().perform()
                    time.sleep(0.5)
                driver.find_element(By.CSS_SELECTOR, "#daemon-zone textarea, #daemon-zone input").send_keys("driveway")
                time.sleep(2)
                driver.save_screenshot(str(docs / "ui-daemon.png"))
            finally:
                server.close()
                daemon.stop()
    finally:
        driver.quit()
        app.close()
    print("wrote " + ", ".join(f"docs/ui-{tab}.png" for tab in TABS if tab in chosen))
    return 0


def _demo_daemon() -> tuple[object, object]:
    """``livefilter serve`` with two demo cameras on 127.0.0.1 (no token: loopback only)."""
    from livefilter.daemon.config import parse_site
    from livefilter.daemon.http import ControlServer
    from livefilter.daemon.service import Daemon

    demo = {"kind": "demo", "width": 640, "height": 360, "fps": 10.0, "duration_s": None}
    zone = {"name": "window", "points": [[0, 0], [0.4, 0], [0.4, 0.4], [0, 0.4]]}
    site = {
        "engine": {"kind": "cpu-face"},
        "http": {"port": 0},
        "cameras": {
            "door": {"source": demo, "sinks": [{"kind": "null"}], "zones": [zone]},
            "yard": {"source": demo, "sinks": [{"kind": "null"}], "prompts": ["face"]},
        },
    }
    daemon = Daemon(parse_site(site))
    daemon.start()
    server = ControlServer(daemon, daemon.site.http)
    server.open()
    return daemon, server


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
