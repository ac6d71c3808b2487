from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from chalicelib.cells import imaging
from chalicelib.cells.counting import Cell, Counting
from chalicelib.errors import CorruptInput, TooLarge, UnsupportedType
from tests.images import discs, encode, png_header_only

LIMIT = 100_000_000


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif"])
def test_decodes_gray(ext: str) -> None:
    image, header = imaging.decode(encode(discs(), ext), LIMIT)
    assert image.shape == (180, 180) and image.dtype == np.uint8
    assert header.format in ("png", "jpeg", "tiff")


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_keeps_16_bit(ext: str) -> None:
    image, _ = imaging.decode(encode(discs(dtype=np.uint16), ext), LIMIT)
    assert image.dtype == np.uint16 and image.max() == 220 * 64


def test_decodes_rgb_and_rgba() -> None:
    bgr = cv2.cvtColor(discs(), cv2.COLOR_GRAY2BGR)
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    assert imaging.decode(encode(bgr, ".jpg"), LIMIT)[0].shape == (180, 180, 3)
    decoded = imaging.decode(encode(bgra, ".png"), LIMIT)[0]
    assert decoded.shape == (180, 180, 4)
    assert imaging.to_gray(decoded).shape == (180, 180)


def test_refuses_decompression_bomb_before_decoding() -> None:
    with pytest.raises(TooLarge, match="megapixels"):
        imaging.decode(png_header_only(20_000, 20_000), LIMIT)


def test_limit_is_configurable() -> None:
    with pytest.raises(TooLarge):
        imaging.decode(encode(discs(), ".png"), max_pixels=100)


def test_truncated_jpeg_is_corrupt() -> None:
    data = encode(discs(), ".jpg")
    with pytest.raises(CorruptInput, match="truncated"):
        imaging.decode(data[: len(data) // 2], LIMIT)


def test_padding_before_the_end_of_image_marker_is_not_damage() -> None:
    # A camera's (and one of the seed's phase-contrast photos') two bytes between the
    # last scan and FF D9: libjpeg warns "2 extraneous bytes before marker 0xd9" and
    # every pixel is there.
    data = encode(discs(), ".jpg")
    assert data.endswith(b"\xff\xd9")
    padded = data[:-2] + b"\xff\x00" * 3 + data[-2:]  # IMG00250.JPG's last bytes
    _image, warnings = imaging._decode_with_warnings(padded)
    assert warnings == ["Corrupt JPEG data: 2 extraneous bytes before marker 0xd9\n"]
    image, _ = imaging.decode(padded, LIMIT)
    assert np.array_equal(image, imaging.decode(data, LIMIT)[0])
    # bytes that break the scan itself still are
    broken = data[:-40] + b"\x00\x00" + data[-2:]
    with pytest.raises(CorruptInput, match="truncated or corrupt"):
        imaging.decode(broken, LIMIT)


def test_truncated_png_is_corrupt() -> None:
    data = encode(np.random.default_rng(0).integers(0, 255, (200, 200), np.uint8), ".png")
    with pytest.raises(CorruptInput):
        imaging.decode(data[: len(data) // 2], LIMIT)


def test_non_image_bytes_are_refused() -> None:
    with pytest.raises(UnsupportedType):
        imaging.decode(b"\x00" * 100, LIMIT)


def test_annotation_draws_outlines_and_keeps_size() -> None:
    image = discs(dtype=np.uint16)
    counting = Counting("test", {}, (Cell(40, 40, 15, 700),))
    canvas = imaging.annotate(image, counting)
    assert canvas.shape == (180, 180, 3) and canvas.dtype == np.uint8
    assert tuple(canvas[40, 40 + 16]) == imaging.OUTLINE_BGR  # on the circle's outline
    assert (
        cv2.imdecode(np.frombuffer(imaging.encode_png(canvas), np.uint8), 1).shape == canvas.shape
    )


def test_to_uint8_flat_image_is_black() -> None:
    assert imaging.to_uint8(np.full((3, 3), 7, np.uint16)).max() == 0


def test_the_seeds_phase_contrast_photos_all_decode(shared_data: Path) -> None:
    # The photos the original system counted: each is a whole JPEG a lab uploads as is
    # (IMG00250.JPG has padding before its end marker).
    photos = sorted((shared_data / "phase-contrast").glob("*.JPG"))
    assert len(photos) == 6
    for photo in photos:
        image, header = imaging.decode(photo.read_bytes(), LIMIT)
        assert image.shape[:2] == (header.height, header.width)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (6, 1), (33, 47)])
def test_thicken_is_a_dilation_by_a_two_by_two_square(shape: tuple[int, int]) -> None:
    mask = np.random.default_rng(sum(shape)).random(shape) < 0.2
    mask[0, 0] = mask[-1, -1] = True  # the corners
    expected = cv2.dilate(mask.view(np.uint8), np.ones((2, 2), np.uint8)) > 0
    assert np.array_equal(imaging.thicken(mask), expected)


def test_large_annotation_colours_outlines_and_flagged_objects_apart() -> None:
    labels = np.zeros((1600, 90), np.int32)  # over 1500 px: outlines thickened
    cv2.circle(labels, (30, 400), 12, 1, -1)
    cv2.circle(labels, (60, 900), 15, 2, -1)  # flagged (above the count)
    cells, flagged = (Cell(30, 400, 12, 450),), (Cell(60, 900, 15, 700),)
    counting = Counting("watershed", {}, cells, labels, flagged)
    canvas = imaging.annotate(np.full((1600, 90), 60, np.uint8), counting)
    edges = imaging.thicken(imaging.outlines(labels)) & (labels > 0)
    green = np.all(canvas == imaging.OUTLINE_BGR, axis=2)
    magenta = np.all(canvas == imaging.FLAGGED_BGR, axis=2)
    below = slice(100, None)  # below the count written at the top
    assert green[below].any() and magenta[below].any()
    assert np.array_equal(green[below], (edges & (labels == 1))[below])
    assert np.array_equal(magenta[below], (edges & (labels == 2))[below])


def test_annotation_without_a_copy_draws_on_a_bgr_image_itself() -> None:
    labels = np.zeros((1600, 90), np.int32)
    cv2.circle(labels, (30, 400), 12, 1, -1)
    counting = Counting("watershed", {}, (Cell(30, 400, 12, 450),), labels)
    image = np.full((1600, 90, 3), 60, np.uint8)
    expected = imaging.annotate(image, counting)
    assert (image == 60).all()  # copy=True (the default) leaves the image alone
    drawn = imaging.annotate(image, counting, copy=False)
    assert drawn is image and np.array_equal(drawn, expected)
    gray = np.full((1600, 90), 60, np.uint8)  # not BGR: drawn on a copy all the same
    assert np.array_equal(imaging.annotate(gray, counting, copy=False), expected)
    assert (gray == 60).all()
