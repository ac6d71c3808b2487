"""Tiny generated test images (nothing committed)."""

from __future__ import annotations

import cv2
import numpy as np

DISCS = ((40, 40), (120, 60), (70, 130))


def discs(
    shape: tuple[int, int] = (180, 180), centres=DISCS, radius: int = 15, dtype: type = np.uint8
) -> np.ndarray:
    """Bright filled discs on black: one object per centre."""
    image = np.zeros(shape, np.uint8)
    for centre in centres:
        cv2.circle(image, centre, radius, 220, -1)
    if dtype == np.uint16:
        return image.astype(np.uint16) * 64
    return image


def encode(image: np.ndarray, ext: str) -> bytes:
    ok, buffer = cv2.imencode(ext, image)
    assert ok
    return buffer.tobytes()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature + IHDR claiming a size, with no pixel data (a bomb's header)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )
