"""The daemon view: the UI as a client of a real ``livefilter serve`` (its HTTP API and token)."""

from __future__ import annotations

from typing import Any

import pytest

from livefilter.errors import LivefilterError
from livefilter.ui.daemon import DaemonClient, camera_rows
from tests.daemon.conftest import start_daemon  # noqa: F401  (the daemon tests' fixture)

DEMO = {"kind": "demo", "width": 320, "height": 180, "fps": 10.0, "duration_s": None}
ZONE = {"name": "window", "points": [[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]}
TOKEN = "a-token-of-sufficient-length"


def site(token: str | None = None) -> dict[str, Any]:
    http: dict[str, Any] = {"port": 0} if token is None else {"port": 0, "token": token}
    return {"cameras": {"door": {"source": DEMO, "sinks": [{"kind": "null"}], "zones": [ZONE]}}, "http": http}


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
    from tests.ui.test_browser import By, open_page, wait_for

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
