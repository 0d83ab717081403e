"""The UI driven through a real browser (headless Chromium + Selenium): uploads, results checked
pixel by pixel, messages for bad uploads, the live webcam tab and click-to-track."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.ui import media
from tests.ui.conftest import fetch_file, fetch_image

pytestmark = pytest.mark.timeout(240)

By: Any = pytest.importorskip("selenium.webdriver.common.by").By
_selenium_errors: Any = pytest.importorskip("selenium.common.exceptions")
StaleElementReferenceException: Any = _selenium_errors.StaleElementReferenceException
NoSuchElementException: Any = _selenium_errors.NoSuchElementException


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it is truthy; an element not rendered yet (a loaded machine
    renders Gradio's components late) counts as "not yet", not as a failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (NoSuchElementException, StaleElementReferenceException):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def open_page(driver: Any, url: str, tab: str | None = None) -> None:
    driver.get(url)
    wait_for(lambda: driver.find_elements(By.ID, "engine"), 30, "the page to load")
    if tab is not None:
        button = next(b for b in driver.find_elements(By.CSS_SELECTOR, "button[role=tab]") if b.text.strip() == tab)
        button.click()


def upload(driver: Any, elem_id: str, path: Path) -> None:
    driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=file]").send_keys(str(path))
    wait_for(lambda: path.stem in driver.find_element(By.ID, elem_id).text, 20, f"{path.name} to upload")


def choose_solid(driver: Any, prefix: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"#{prefix}-style input[value=solid]").click()


def image_src(driver: Any, elem_id: str) -> str | None:
    images = driver.find_elements(By.CSS_SELECTOR, f"#{elem_id} img")
    return images[0].get_attribute("src") if images else None


def toast_text(driver: Any) -> str:
    return " ".join(t.text for t in driver.find_elements(By.CSS_SELECTOR, ".toast-body"))


def leaks_face(image: np.ndarray) -> float:
    """Best match of the raw inner face anywhere in ``image``: about 1.0 where the raw face is shown
    (even through JPEG), near 0.5 at most for a redacted face over this background."""
    gray = cv2.cvtColor(cv2.resize(image, (media.WIDTH, media.HEIGHT)), cv2.COLOR_BGR2GRAY)
    return float(cv2.matchTemplate(gray, media.face_template(), cv2.TM_CCOEFF_NORMED).max())


def test_image_upload_is_redacted_pixel_by_pixel(ui_url: str, chromium: Any, tmp_path: Path) -> None:
    raw = media.frame(20)
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), raw)
    driver = chromium()
    open_page(driver, ui_url)
    upload(driver, "image-upload", path)
    choose_solid(driver, "image")
    driver.find_element(By.ID, "image-go").click()
    src = wait_for(lambda: image_src(driver, "image-out"), 60, "the redacted image")
    shown = fetch_image(src)
    assert shown.shape == raw.shape
    x0, y0, x1, y1 = media.face_box(20)
    assert np.all(shown[y0:y1, x0:x1] == 0), "the face region must be solid black"
    assert leaks_face(shown) < 0.8
    changed = np.any(shown != raw, axis=-1)
    ys, xs = np.nonzero(changed)
    # only the face (plus dilation) changed: everything else is the raw background, pixel for pixel
    assert xs.min() > x0 - 80 and xs.max() < x1 + 80 and ys.min() > y0 - 100 and ys.max() < y1 + 100
    # the download link serves the same pixels, and the overlay is drawn on the redacted picture
    link = driver.find_element(By.CSS_SELECTOR, "#image-download a[download], #image-download a")
    downloaded = cv2.imread(str(fetch_file(link.get_attribute("href"), tmp_path / "dl.png")))
    assert np.array_equal(downloaded, shown)
    overlay = fetch_image(wait_for(lambda: image_src(driver, "image-overlay"), 10, "the overlay"))
    assert overlay.shape == raw.shape
    assert overlay[y0:y1, x0:x1].std(axis=(0, 1)).max() < 3, "the overlay shows the face, not its flat tint"
    assert "1 object(s)" in driver.find_element(By.ID, "image-info").text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"hello", "not an image file"),
        ("broken.png", b"not a png at all", "cannot decode the image"),
    ],
)
def test_bad_image_upload_gives_a_message(
    ui_url: str, chromium: Any, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    driver = chromium()
    open_page(driver, ui_url)
    upload(driver, "image-upload", path)
    driver.find_element(By.ID, "image-go").click()
    text = wait_for(lambda: toast_text(driver), 30, "an error message")
    assert message in text
    assert "Traceback" not in driver.page_source


def test_prompt_the_engine_cannot_answer_gives_a_message(ui_url: str, chromium: Any, tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), media.frame(0))
    driver = chromium()
    open_page(driver, ui_url)
    upload(driver, "image-upload", path)
    box = driver.find_element(By.CSS_SELECTOR, "#image-prompt-0 textarea, #image-prompt-0 input")
    box.clear()
    box.send_keys("license plate")
    engine = driver.find_element(By.CSS_SELECTOR, "#engine input")
    engine.click()
    engine.send_keys("cpu-face\n")
    driver.find_element(By.ID, "image-go").click()
    text = wait_for(lambda: toast_text(driver), 30, "an error message")
    assert "cannot look for 'license plate'" in text


@pytest.mark.slow
def test_video_upload_keeps_frames_and_audio_and_redacts(ui_url: str, chromium: Any, tmp_path: Path) -> None:
    import av

    frames = 45
    clip = media.write_mp4(tmp_path / "clip.mp4", frames)
    driver = chromium()
    open_page(driver, ui_url, tab="Video")
    upload(driver, "video-upload", clip)
    choose_solid(driver, "video")
    driver.find_element(By.ID, "video-go").click()
    link = wait_for(
        lambda: driver.find_elements(By.CSS_SELECTOR, "#video-download a"), 180, "the redacted video"
    )[0]
    out = fetch_file(link.get_attribute("href"), tmp_path / "out.mp4")
    with av.open(str(out)) as container:
        assert container.streams.audio, "the audio track must be kept"
        pictures = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(pictures) == frames
    for index, picture in enumerate(pictures):
        assert media.decode_index(picture) == index
        x0, y0, x1, y1 = media.face_box(index)
        face = picture[y0:y1, x0:x1]
        assert face.mean() < 12, f"frame {index}: face region not redacted: {np.argwhere(face.max(axis=-1) > 40)[[0, -1]].tolist()}"
        assert leaks_face(picture) < 0.8, f"frame {index}: the raw face is visible"
    assert f"{frames} frames" in driver.find_element(By.ID, "video-info").text


def _start_webcam(driver: Any) -> None:
    """Allow the camera (the fake one), then start streaming it to the server."""

    def button(text: str) -> Any:
        try:
            for candidate in driver.find_elements(By.CSS_SELECTOR, "#live-cam button"):
                if candidate.is_displayed() and text in candidate.text:
                    return candidate
        except StaleElementReferenceException:  # the component re-rendered meanwhile: look again
            pass
        return None

    wait_for(lambda: button("Access Webcam"), 30, "the webcam's access button").click()
    wait_for(lambda: button("Record"), 30, "the webcam's record button").click()


@pytest.mark.slow
def test_live_webcam_frames_come_back_redacted(ui_url: str, chromium: Any, tmp_path: Path) -> None:
    camera = media.write_y4m(tmp_path / "camera.y4m", frames=120)
    driver = chromium(fake_camera=camera)
    open_page(driver, ui_url, tab="Live")
    choose_solid(driver, "live")
    _start_webcam(driver)
    seen: dict[str, np.ndarray] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(seen) < 40:
        src = image_src(driver, "live-out")
        if src and src not in seen:
            try:
                seen[src] = fetch_image(src)
            except Exception:  # a frame already replaced and removed; take the next
                pass
        time.sleep(0.05)
    assert len(seen) >= 20, f"only {len(seen)} frames came back"
    redacted_regions = 0
    for image in seen.values():
        assert leaks_face(image) < 0.8, "a frame the page received shows the raw face"
        index = media.decode_index(image)
        if index is None:
            continue  # fully redacted (fail-closed): the index bits are hidden too
        x0, y0, x1, y1 = media.face_box(index % 120)
        h, w = image.shape[:2]
        sx, sy = w / media.WIDTH, h / media.HEIGHT
        face = image[int(y0 * sy) : int(y1 * sy), int(x0 * sx) : int(x1 * sx)]
        assert face.mean() < 20, f"frame {index}: face region not redacted"
        redacted_regions += 1
    assert redacted_regions >= 10, "the pipeline never got past fail-closed"
    status = driver.find_element(By.CSS_SELECTOR, "#live-status textarea").get_attribute("value")
    assert "fps" in status and ("redacting" in status or "FULLY REDACTED" in status)


@pytest.mark.slow
def test_a_click_on_the_live_picture_adds_an_object(ui_url: str, chromium: Any, tmp_path: Path) -> None:
    camera = media.write_y4m(tmp_path / "camera.y4m", frames=60)
    driver = chromium(fake_camera=camera)
    open_page(driver, ui_url, tab="Live")
    choose_solid(driver, "live")
    _start_webcam(driver)
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#live-out img"), 60, "a live frame")
    from selenium.webdriver.common.action_chains import ActionChains

    def click_registered() -> str:
        # click near the bottom-right corner of the picture: background, far from the face's path;
        # the picture is replaced several times a second, so a click may land between two: retry
        try:
            picture = driver.find_element(By.CSS_SELECTOR, "#live-out img")
            width, height = picture.size["width"], picture.size["height"]
            ActionChains(driver).move_to_element_with_offset(picture, width * 0.4, height * 0.4).click().perform()
        except StaleElementReferenceException:
            return ""
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            value = driver.find_element(By.CSS_SELECTOR, "#live-click-info textarea").get_attribute("value")
            if value:
                return str(value)
            time.sleep(0.2)
        return ""

    info = wait_for(click_registered, 40, "the click to register")
    assert "static zone" in info
    # the zone (a square of a fifth of the frame around the click) is now solid black in frames sent back
    cx, cy = 0.9 * media.WIDTH, 0.9 * media.HEIGHT

    def zone_black() -> bool:
        src = image_src(driver, "live-out")
        if not src:
            return False
        try:
            image = cv2.resize(fetch_image(src), (media.WIDTH, media.HEIGHT))
        except Exception:
            return False
        return media.decode_index(image) is not None and image[int(cy) - 20 : int(cy) + 20, int(cx) - 20 : int(cx) + 20].mean() < 15

    wait_for(zone_black, 30, "the clicked zone to be redacted")


@pytest.mark.slow
def test_a_click_on_the_videos_first_frame_adds_an_object(ui_url: str, chromium: Any, tmp_path: Path) -> None:
    import av
    from selenium.webdriver.common.action_chains import ActionChains

    clip = media.write_mp4(tmp_path / "clip.mp4", 15, audio=False)
    driver = chromium()
    open_page(driver, ui_url, tab="Video")
    upload(driver, "video-upload", clip)
    choose_solid(driver, "video")
    next(b for b in driver.find_elements(By.CSS_SELECTOR, "button") if "click-to-track" in b.text).click()
    wait_for(lambda: driver.find_element(By.ID, "video-frame-go").is_displayed(), 30, "the accordion")
    driver.find_element(By.ID, "video-frame-go").click()
    picture = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#video-frame img"), 60, "the first frame")[0]
    shown = fetch_image(picture.get_attribute("src"))
    assert leaks_face(shown) < 0.8, "the first frame is shown redacted"
    # a click at 90% / 90% of the picture: the background's bottom-right corner
    ActionChains(driver).move_to_element_with_offset(
        picture, picture.size["width"] * 0.4, picture.size["height"] * 0.4
    ).click().perform()
    wait_for(
        lambda: "+click" in driver.find_element(By.CSS_SELECTOR, "#video-marks textarea").get_attribute("value"),
        20,
        "the click to be listed",
    )
    driver.find_element(By.ID, "video-go").click()
    link = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#video-download a"), 120, "the video")[0]
    out = fetch_file(link.get_attribute("href"), tmp_path / "out.mp4")
    with av.open(str(out)) as container:
        pictures = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(pictures) == 15
    cx, cy = int(0.9 * media.WIDTH), int(0.9 * media.HEIGHT)
    for picture_out in pictures:
        assert picture_out[cy - 20 : cy + 20, cx - 20 : cx + 20].max() < 12, "the clicked zone is redacted"
