"""The image source: one real image file repeated as a stream."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from livefilter.config.source import ImageSourceConfig
from livefilter.errors import SourceError
from livefilter.sources import Source, create_source
from livefilter.sources.image import ImageSource

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def photo(tmp_path: Path) -> tuple[Path, np.ndarray]:
    image = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    assert cv2.imwrite(str(path), image)
    return path, image


def test_image_is_repeated_frames_times(photo) -> None:
    path, image = photo
    source = create_source(ImageSourceConfig(path=str(path), frames=5, fps=10))
    assert isinstance(source, ImageSource) and isinstance(source, Source)
    assert source.nominal_fps == 10 and source.live is False
    source.open()
    frames = list(iter(source.read, None))
    source.close()
    assert len(frames) == 5
    assert [f.index for f in frames] == list(range(5))
    assert [f.pts for f in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    for frame in frames:
        np.testing.assert_array_equal(frame.image, image)  # PNG is lossless
        assert not frame.image.flags.writeable


def test_default_is_a_single_frame(photo) -> None:
    source = ImageSource(ImageSourceConfig(path=str(photo[0])))
    source.open()
    assert source.read() is not None and source.read() is None


def test_unlimited_frames(photo) -> None:
    source = ImageSource(ImageSourceConfig(path=str(photo[0]), frames=None))
    source.open()
    assert all(source.read() is not None for _ in range(200))


def test_realtime_is_paced(photo) -> None:
    source = ImageSource(ImageSourceConfig(path=str(photo[0]), frames=6, fps=20, realtime=True))
    assert source.live
    source.open()
    start = time.monotonic()
    frames = list(iter(source.read, None))
    elapsed = time.monotonic() - start
    assert len(frames) == 6 and 5 / 20 - 0.002 <= elapsed < 5 / 20 * 4


def test_greyscale_and_alpha_images_become_bgr(tmp_path: Path) -> None:
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((8, 10), 77, np.uint8))
    rgba = tmp_path / "rgba.png"
    cv2.imwrite(str(rgba), np.full((8, 10, 4), 200, np.uint8))
    for path in (grey, rgba):
        source = ImageSource(ImageSourceConfig(path=str(path)))
        source.open()
        assert source.read().image.shape == (8, 10, 3)


def test_real_photo() -> None:
    path = SHARED_DATA / "faces" / "obama.jpg"
    if not path.is_file():
        pytest.skip(f"real test photos not found at {SHARED_DATA}")
    source = ImageSource(ImageSourceConfig(path=str(path)))
    source.open()
    frame = source.read()
    assert frame.image.shape == cv2.imread(str(path)).shape


def test_missing_image_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=f"{tmp_path / 'nope.jpg'} does not exist"):
        ImageSource(ImageSourceConfig(path=str(tmp_path / "nope.jpg"))).open()


def test_undecodable_image_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.jpg"
    junk.write_text("not an image")
    with pytest.raises(SourceError, match=f"cannot decode the image {junk}"):
        ImageSource(ImageSourceConfig(path=str(junk))).open()


def test_read_before_open_is_a_clear_error(photo) -> None:
    with pytest.raises(SourceError, match="before open"):
        ImageSource(ImageSourceConfig(path=str(photo[0]))).read()
