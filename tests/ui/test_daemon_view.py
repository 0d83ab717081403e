"""The daemon view: the UI as a client of a real ``livefilter serve`` (its HTTP API and token)."""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np
import pytest

from livefilter.errors import LivefilterError
from livefilter.ui.daemon import DaemonClient, ZoneDraft, camera_rows
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


def test_a_zone_draft_keeps_corners_where_they_were_clicked_on_the_held_picture() -> None:
    held = np.zeros((180, 320, 3), np.uint8)
    draft = ZoneDraft(held).add((176, 99), (320, 180))
    # a click on a picture of another size (e.g. a camera that changed resolution) maps by that picture's geometry
    draft = draft.add((626, 198), (640, 360)).add([313.0, 176.0], (320, 180))
    assert np.array(draft.corners) == pytest.approx(np.array([(0.55, 0.55), (626 / 640, 0.55), (313 / 320, 176 / 180)]))
    assert np.array(draft.pixels()) == pytest.approx(np.array([(176, 99), (313, 99), (313, 176)]))
    shown = draft.shown()
    assert shown[99, 176].tolist() == [255, 215, 0] and shown[99, 250].any() and not shown[20, 20].any()
    assert not held.any(), "the held picture itself stays clean"
    for index in ([None, None], [320, 10], [-1, 10], [10, 180]):  # NaN from a picture not laid out yet, or off it
        with pytest.raises(LivefilterError, match="is not on the 320x180 picture"):
            draft.add(index, (320, 180))
    assert "3 corners: (176, 99) (313, 99) (313, 176)" in draft.describe()


@pytest.mark.slow
def test_daemon_tab_in_the_browser(start_daemon: Any, ui_url: str, chromium: Any) -> None:  # noqa: F811
    import cv2
    from selenium.webdriver.common.action_chains import ActionChains

    from tests.ui.conftest import fetch_image
    from tests.ui.test_browser import By, image_src, open_page, wait_for

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

    def health() -> str:
        return str(driver.find_element(By.CSS_SELECTOR, "#daemon-health textarea").get_attribute("value"))

    def frame_shown() -> int:
        found = re.search(r"picture: frame (\d+)", health())
        return int(found.group(1)) if found else -1

    # the picture refreshes every second (until a corner is placed)
    first_shown = wait_for(lambda: frame_shown() + 1, 30, "the frame shown") - 1
    wait_for(lambda: frame_shown() > first_shown, 20, "the snapshot to refresh")

    # draw a zone: four clicks on the snapshot (the bottom-right quarter), each clicked once
    targets = [(0.55, 0.55), (0.98, 0.55), (0.98, 0.98), (0.55, 0.98)]

    def click_at(fx: float, fy: float) -> None:
        picture = driver.find_element(By.CSS_SELECTOR, "#daemon-snapshot img")
        width, height = picture.size["width"], picture.size["height"]
        ActionChains(driver).move_to_element_with_offset(picture, (fx - 0.5) * width, (fy - 0.5) * height).click().perform()

    def corners() -> list[tuple[float, float]]:
        text = driver.find_element(By.CSS_SELECTOR, "#daemon-points textarea").get_attribute("value")
        return [(float(x), float(y)) for x, y in re.findall(r"\(([-\d.]+), ([-\d.]+)\)", text)]

    def has_marker(picture: np.ndarray, fx: float, fy: float) -> bool:  # draw_points' gold, through JPEG
        x, y = min(round(fx * 320), 318), min(round(fy * 180), 178)
        return bool(np.abs(picture[y - 1 : y + 2, x - 1 : x + 2].astype(int) - (0, 215, 255)).max(axis=2).min() < 60)

    click_at(*targets[0])
    wait_for(lambda: len(corners()) == 1, 20, "the first corner")
    held = image_src(driver, "daemon-snapshot")
    # From the first corner the picture holds still: the camera's picture changes (the window zone goes
    # back on, through the API) and the refreshes that would show it run, but the page keeps the picture
    # the corner was clicked on.
    DaemonClient(f"http://127.0.0.1:{running.server.port}", TOKEN).set_zone("door", "window", True)
    wait_for(lambda: filled(published(running).image, slice(4, 78), slice(4, 152)), 20, "the window zone published")
    wait_for(lambda: "held still" in health(), 20, "the health line to say the picture is held")
    time.sleep(2.5)
    assert image_src(driver, "daemon-snapshot") == held, "the snapshot was replaced while corners are being placed"
    shown = fetch_image(str(held))
    assert not filled(shown, slice(4, 78), slice(4, 152), 30) and has_marker(shown, *targets[0])
    for fx, fy in targets[1:]:  # in quick succession, as a user clicks: none lost, none reordered
        click_at(fx, fy)
    wait_for(lambda: len(corners()) == len(targets), 20, "all four corners")
    assert np.array(corners()) == pytest.approx(np.array(targets) * (320, 180), abs=2), "a corner is not where it was clicked"
    # the held picture shows the corners where they were clicked
    marked = fetch_image(str(image_src(driver, "daemon-snapshot")))
    assert marked.shape[:2] == (180, 320) and not filled(marked, slice(4, 78), slice(4, 152), 30)
    assert all(has_marker(marked, fx, fy) for fx, fy in targets)

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
        if shown is None:
            return False
        shown = cv2.resize(shown, (320, 180))
        return filled(shown, slice(110, 165), slice(190, 300), 16) and filled(shown, slice(4, 78), slice(4, 152), 16)

    # the picture refreshes again: both the drawn zone and the window zone show filled
    wait_for(page_shows_zone, 20, "the page's snapshot to show the drawn zone and the window zone filled")
