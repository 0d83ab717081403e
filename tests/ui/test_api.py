"""The UI's endpoints through ``gradio_client`` (beside the browser tests, not instead of them)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.ui import media

gradio_client = pytest.importorskip("gradio_client")

DEFAULTS = ("face", 0.5, "", 0.5, "", 0.5)


def test_redact_image_endpoint(ui_url: str, tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), media.frame(5))
    client = gradio_client.Client(ui_url, verbose=False)
    shown, drawn, download, info = client.predict(
        gradio_client.handle_file(str(path)), "cpu-face", "", *DEFAULTS, "solid", 25, 6, api_name="/redact_image"
    )
    image = cv2.imread(shown)
    x0, y0, x1, y1 = media.face_box(5)
    assert image.shape == (media.HEIGHT, media.WIDTH, 3)
    assert np.all(image[y0:y1, x0:x1] == 0)
    assert np.array_equal(cv2.imread(download), image)
    assert "1 object(s)" in info


def test_errors_reach_the_client_as_messages(ui_url: str, tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    path.write_bytes(b"\0" * 64)
    client = gradio_client.Client(ui_url, verbose=False)
    with pytest.raises(Exception, match="not a video file; upload one of .mp4"):
        client.predict(
            gradio_client.handle_file(str(path)), "auto", "", *DEFAULTS, "blur", 25, 6, api_name="/redact_video"
        )


@pytest.mark.slow
def test_missing_sam3_weights_are_a_message(ui_url: str, tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), media.frame(5))
    client = gradio_client.Client(ui_url, verbose=False)
    with pytest.raises(Exception, match="no model folder at /nonexistent/sam3"):
        client.predict(
            gradio_client.handle_file(str(path)), "sam3", "/nonexistent/sam3", *DEFAULTS, "blur", 25, 6,
            api_name="/redact_image",
        )
