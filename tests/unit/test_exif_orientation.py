"""A JPEG's EXIF orientation is applied on decode: counts, annotation and CSV as a viewer shows."""

from __future__ import annotations

import struct

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
