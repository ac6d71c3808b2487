"""A JPEG's EXIF orientation is applied on decode: counts, annotation and CSV as a viewer shows."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest

from chalicelib.cells import imaging
from chalicelib.cells.container import count_image
from tests.images import discs, encode


def with_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG with an APP1 Exif segment holding only the orientation tag (0x0112)."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
    tiff += struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


# what a viewer shows, from the stored pixels (EXIF 2.3, the Orientation tag)
SHOWN = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_decode_turns_a_jpeg_as_a_viewer_shows_it(orientation: int) -> None:
    stored = np.zeros((40, 90), np.uint8)
    stored[5:15, 10:30] = 255  # a block near the top-left corner, nothing symmetric
    data = with_orientation(encode(stored, ".jpg"), orientation)
    image, header = imaging.decode(data, 10**6)
    assert (header.width, header.height) == (90, 40)
    expected = SHOWN[orientation](cv2.imdecode(np.frombuffer(encode(stored, ".jpg"), np.uint8), 0))
    assert image.shape == expected.shape  # was (40, 90) whatever the orientation
    assert np.array_equal(image, expected)


def test_counted_coordinates_are_those_of_the_turned_image() -> None:
    stored = discs((120, 200), centres=((30, 30), (150, 40), (100, 90)))  # (x, y)
    data = with_orientation(encode(stored, ".jpg"), 6)  # shown turned 90° clockwise
    counting, image, _ = count_image(data, 10**6)
    assert image.shape[:2] == (200, 120)
    found = sorted((round(c.x), round(c.y)) for c in counting.cells)
    # stored (x, y) -> shown (height - 1 - y, x)
    expected = sorted((119 - y, x) for x, y in ((30, 30), (150, 40), (100, 90)))
    assert counting.count == 3
    assert all(
        abs(a - c) <= 2 and abs(b - d) <= 2 for (a, b), (c, d) in zip(found, expected, strict=True)
    )


# -- TIFF and PNG (qa3): OpenCV turns a TIFF by its Orientation tag even with IMREAD_UNCHANGED;
# a PNG's eXIf chunk is turned here, as OpenCV does only when it may drop the alpha channel.
def exif_block(orientation: int) -> bytes:
    """A big-endian TIFF structure holding only the Orientation tag (the eXIf/APP1 payload)."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
    tiff += struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    return tiff + struct.pack(">I", 0)


def png_with_exif(png: bytes, orientation: int) -> bytes:
    data = exif_block(orientation)
    crc = struct.pack(">I", zlib.crc32(b"eXIf" + data) & 0xFFFFFFFF)
    chunk = struct.pack(">I", len(data)) + b"eXIf" + data + crc
    return png[:33] + chunk + png[33:]  # after the signature and IHDR


def tiff_with_orientation(stored: np.ndarray, orientation: int) -> bytes:
    tifffile = pytest.importorskip("tifffile")
    out = io.BytesIO()
    photometric = "rgb" if stored.ndim == 3 else "minisblack"
    tifffile.imwrite(out, stored, photometric=photometric, extratags=[(274, "H", 1, orientation)])
    return out.getvalue()


def block_image(dtype: type, channels: int) -> np.ndarray:
    stored = np.zeros((40, 90) if channels == 1 else (40, 90, channels), dtype)
    stored[5:15, 10:30] = 200  # near the top-left corner, nothing symmetric
    stored[30:35, 80:88] = 90
    return stored


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("dtype, channels", [(np.uint8, 1), (np.uint16, 1), (np.uint8, 3)])
def test_decode_turns_a_tiff_as_a_viewer_shows_it(orientation, dtype, channels) -> None:
    # before: orientations 5-8 were refused as corrupt ("the decoded size does not match")
    stored = block_image(dtype, channels)
    image, header = imaging.decode(tiff_with_orientation(stored, orientation), 10**6)
    assert (header.width, header.height, header.orientation) == (90, 40, orientation)
    assert image.dtype == dtype and np.array_equal(image, SHOWN[orientation](stored))


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("channels", [1, 4])
def test_decode_turns_a_png_with_an_exif_chunk(orientation: int, channels: int) -> None:
    # before: a PNG's eXIf orientation was ignored (the image counted as stored)
    stored = block_image(np.uint16 if channels == 1 else np.uint8, channels)
    data = png_with_exif(encode(stored, ".png"), orientation)
    image, header = imaging.decode(data, 10**6)
    assert header.orientation == orientation
    assert image.shape == SHOWN[orientation](stored).shape  # alpha kept
    assert np.array_equal(image, SHOWN[orientation](stored))


def test_a_damaged_exif_chunk_is_ignored_not_fatal() -> None:
    png = encode(block_image(np.uint8, 1), ".png")
    data = (
        png[:33] + struct.pack(">I", 6) + b"eXIf" + b"MM\x00\x2a\xff\xff" + b"\0\0\0\0" + png[33:]
    )
    image, header = imaging.decode(data, 10**6)
    assert header.orientation == 1 and image.shape == (40, 90)
