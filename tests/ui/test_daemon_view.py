"""The daemon view: the UI as a client of a real ``livefilter serve`` (its HTTP API and token)."""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np
import pytest

from livefilter.errors import LivefilterError
from livefilter.ui.daemon import DaemonClient, camera_rows
from tests.daemon.conftest import start_daemon  # noqa: F401  (the daemon tests' fixture)

# No face: a moving face (and its held, coasting track) can cover any part of the picture, and
# these tests are about zones — what is filled must be the zones alone.
DEMO = {"kind": "demo", "width": 320, "height": 180, "fps": 10.0, "duration_s": None, "faces": 0}
ZONE = {"name": "window", "points": [[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]}
TOKEN = "a-token-of-sufficient-length"


GREEN = (0, 200, 0)  # the zones' fill (RGB == BGR)


def site(token: str | None = None) -> dict[str, Any]:
    http: dict[str, Any] = {"port": 0} if token is None else {"port": 0, "token": token}
    door = {"source": DEMO, "render": {"style": "solid", "solid_color": list(GREEN)}, "sinks": [{"kind": "null"}], "zones": [ZONE]}
    return {"cameras": {"door": door}, "http": http}


def filled(picture: np.ndarray, rows: slice, cols: slice, tolerance: int = 0) -> bool:
    return bool(np.abs(picture[rows, cols].astype(int) - np.array(GREEN)).max() <= tolerance)


def published(running: Any, after: int = -1, timeout: float = 30.0) -> Any:
    """The camera's next published frame after frame ``after`` that is not fully redacted (the engine answers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = running.daemon.camera("door").snapshot()
        if frame is not None and frame.index > after and not frame.fully_redacted:
            return frame
        time.sleep(0.1)
    raise AssertionError("no published frame with masks within the time limit")


def test_client_lists_cameras_sets_prompts_and_switches_zones(start_daemon: Any) -> None:  # noqa: F811
    running = start_daemon(site(TOKEN))
    client = DaemonClient(f"http://127.0.0.1:{running.server.port}", TOKEN)
    [door] = client.cameras()
    assert door["name"] == "door" and door["zones"][0]["enabled"] is True
    assert client.set_zone("door", "window", False)["enabled"] is False
    assert running.daemon.camera("door").zones.mask(180, 320) is None
    assert client.set_prompts("door", ["face", {"text": "face", "threshold": 0.3}])
    row = camera_rows(client.cameras())[0]
    assert row[0] == "door" and "window (hide, off)" in row[6]


def test_client_shows_the_redacted_snapshot_and_adds_and_deletes_zones(start_daemon: Any) -> None:  # noqa: F811
    running = start_daemon(site(TOKEN))
    client = DaemonClient(f"http://127.0.0.1:{running.server.port}", TOKEN)
    published(running)
    shown = client.snapshot("door")
    picture = shown.picture  # RGB
    assert shown.index >= 0 and shown.fail_closed in ("", "stale_masks", "no_masks_yet")
    assert picture.shape == (180, 320, 3) and filled(picture, slice(4, 78), slice(4, 152), 12)  # the window zone
    assert client.add_zone("door", "corner", [(240, 120), (320, 120), (320, 180), (240, 180)]) == {
        "name": "corner", "mode": "hide", "enabled": True
    }
    frame = published(running, after=published(running).index)
    assert filled(frame.image, slice(120, 180), slice(240, 320))
    assert client.delete_zone("door", "window")["name"] == "window"
    assert [z["name"] for z in client.camera("door")["zones"]] == ["corner"]
    with pytest.raises(LivefilterError, match=r"request body points: needs at least 3 entries"):
        client.add_zone("door", "line", [(0, 0), (10, 10)])


def test_client_errors_say_what_to_do(start_daemon: Any) -> None:  # noqa: F811
    running = start_daemon(site(TOKEN))
    with pytest.raises(LivefilterError, match="missing or wrong token"):
        DaemonClient(f"http://127.0.0.1:{running.server.port}", "wrong").cameras()
    with pytest.raises(LivefilterError, match="no zone named 'nope'"):
        DaemonClient(f"http://127.0.0.1:{running.server.port}", TOKEN).set_zone("door", "nope", True)
    with pytest.raises(LivefilterError, match=r"no daemon answers at http://127.0.0.1:9 \(.*\); start one with"):
        DaemonClient("http://127.0.0.1:9").cameras()


@pytest.mark.slow
def test_daemon_tab_in_the_browser(start_daemon: Any, ui_url: str, chromium: Any) -> None:  # noqa: F811
    import cv2
    from selenium.webdriver.common.action_chains import ActionChains

    from tests.ui.conftest import fetch_image
    from tests.ui.test_browser import By, StaleElementReferenceException, image_src, open_page, wait_for

    running = start_daemon(site(TOKEN))
    driver = chromium()
    open_page(driver, ui_url, tab="Daemon")
    address = driver.find_element(By.CSS_SELECTOR, "#daemon-url textarea, #daemon-url input")
    address.clear()
    address.send_keys(f"http://127.0.0.1:{running.server.port}")
    driver.find_element(By.CSS_SELECTOR, "#daemon-token input").send_keys(TOKEN)
    driver.find_element(By.ID, "daemon-refresh").click()
    wait_for(lambda: "window (hide, on)" in driver.find_element(By.ID, "daemon-cameras").text, 20, "the camera list")
    driver.find_element(By.CSS_SELECTOR, "#daemon-zone textarea, #daemon-zone input").send_keys("window")
    driver.find_element(By.CSS_SELECTOR, "#daemon-zone-enabled input").click()  # untick: switch it off
    driver.find_element(By.ID, "daemon-set-zone").click()
    wait_for(lambda: "window (hide, off)" in driver.find_element(By.ID, "daemon-cameras").text, 20, "the zone off")
    assert running.daemon.camera("door").zones.mask(180, 320) is None

    # the redacted snapshot shows, with the camera's health
    wait_for(lambda: image_src(driver, "daemon-snapshot"), 30, "the snapshot")
    wait_for(lambda: "door: running" in driver.find_element(By.CSS_SELECTOR, "#daemon-health textarea").get_attribute("value"), 30, "the health line")

    # draw a zone: four clicks on the snapshot (the bottom-right quarter), then "add zone"
    def click_corner(fx: float, fy: float, count: int) -> None:
        def registered() -> bool:
            try:
                picture = driver.find_element(By.CSS_SELECTOR, "#daemon-snapshot img")
                width, height = picture.size["width"], picture.size["height"]
                ActionChains(driver).move_to_element_with_offset(picture, (fx - 0.5) * width, (fy - 0.5) * height).click().perform()
            except StaleElementReferenceException:  # the picture is replaced every second
                return False
            time.sleep(0.3)
            text = driver.find_element(By.CSS_SELECTOR, "#daemon-points textarea").get_attribute("value")
            return text.startswith(f"{count} corners")

        wait_for(registered, 20, f"corner {count} to register")

    targets = [(0.55, 0.55), (0.98, 0.55), (0.98, 0.98), (0.55, 0.98)]

    def corners_where_clicked() -> bool:
        # A click landing while the snapshot (replaced every second) is being laid out can map to
        # another place on a loaded machine (an open usability defect of the daemon view): read the
        # corners back and start over when one is off, rather than test a zone nobody drew.
        for count, (fx, fy) in enumerate(targets, start=1):
            click_corner(fx, fy, count)
        text = driver.find_element(By.CSS_SELECTOR, "#daemon-points textarea").get_attribute("value")
        got = [tuple(map(float, pair.split(","))) for pair in re.findall(r"\(([-\d.]+, [-\d.]+)\)", text)]
        if len(got) == len(targets) and all(
            abs(x - fx * 320) <= 12 and abs(y - fy * 180) <= 12 for (x, y), (fx, fy) in zip(got, targets)
        ):
            return True
        driver.find_element(By.ID, "daemon-forget-points").click()
        wait_for(lambda: not driver.find_element(By.CSS_SELECTOR, "#daemon-points textarea").get_attribute("value"), 20, "the corners forgotten")
        return False

    wait_for(corners_where_clicked, 120, "four corners where they were clicked")
    name = driver.find_element(By.CSS_SELECTOR, "#daemon-zone textarea, #daemon-zone input")
    name.clear()
    name.send_keys("drawn")
    before = published(running).index
    driver.find_element(By.ID, "daemon-add-zone").click()
    wait_for(lambda: "drawn (hide, on)" in driver.find_element(By.ID, "daemon-cameras").text, 20, "the drawn zone listed")
    # applied: the next published frame has the zone's pixels filled (corners within a few pixels of the clicks)
    frame = published(running, after=before + 1)
    assert filled(frame.image, slice(105, 170), slice(185, 305))
    assert not filled(frame.image, slice(100, 170), slice(10, 150), 30), "only the drawn zone is filled"

    def page_shows_zone() -> bool:
        src = image_src(driver, "daemon-snapshot")
        try:
            shown = fetch_image(src) if src else None
        except Exception:
            return False
        return shown is not None and filled(cv2.resize(shown, (320, 180)), slice(110, 165), slice(190, 300), 16)

    wait_for(page_shows_zone, 20, "the page's snapshot to show the drawn zone filled")
