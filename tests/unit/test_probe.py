from __future__ import annotations

import numpy as np
import pytest

from chalicelib.cells.probe import format_for_key, jpeg_is_complete, read_header
from chalicelib.errors import CorruptInput, UnsupportedType
from tests.images import discs, encode, png_header_only


@pytest.mark.parametrize(
    "ext, fmt, dtype",
    [
        (".png", "png", np.uint8),
        (".png", "png", np.uint16),
        (".jpg", "jpeg", np.uint8),
        (".tif", "tiff", np.uint8),
        (".tif", "tiff", np.uint16),
    ],
)
def test_reads_size_of_each_format(ext: str, fmt: str, dtype: type) -> None:
    header = read_header(encode(discs((90, 130), dtype=dtype), ext))
    assert (header.format, header.width, header.height) == (fmt, 130, 90)


def test_reads_big_endian_tiff() -> None:
    # A minimal big-endian TIFF: header + one IFD with width (SHORT) and length (LONG).
    ifd = b"\x00\x02" + b"\x01\x00\x00\x03\x00\x00\x00\x01\x01\x2c\x00\x00"
    ifd += b"\x01\x01\x00\x04\x00\x00\x00\x01\x00\x00\x00\xc8" + b"\x00\x00\x00\x00"
    header = read_header(b"MM\x00*\x00\x00\x00\x08" + ifd)
    assert (header.width, header.height) == (300, 200)


def test_header_gives_bomb_size_without_pixels() -> None:
    header = read_header(png_header_only(50_000, 50_000))
    assert header.pixels == 2_500_000_000


@pytest.mark.parametrize("data", [b"hello world", b"GIF89a....", b"%PDF-1.4"])
def test_refuses_other_content(data: bytes) -> None:
    with pytest.raises(UnsupportedType):
        read_header(data)


def test_refuses_bigtiff() -> None:
    with pytest.raises(UnsupportedType, match="BigTIFF"):
        read_header(b"II+\x00\x08\x00\x00\x00")


@pytest.mark.parametrize("cut", [10, 20])
def test_truncated_headers_are_corrupt(cut: int) -> None:
    with pytest.raises(CorruptInput):
        read_header(encode(discs(), ".png")[:cut])


def test_jpeg_cut_before_frame_header_is_corrupt() -> None:
    with pytest.raises(CorruptInput):
        read_header(encode(discs(), ".jpg")[:4])


def test_jpeg_completeness() -> None:
    jpeg = encode(discs(), ".jpg")
    assert jpeg_is_complete(jpeg)
    assert jpeg_is_complete(jpeg + b"\x00\x00")
    assert not jpeg_is_complete(jpeg[:-100])


@pytest.mark.parametrize(
    "key, fmt", [("a/b.PNG", "png"), ("x.jpeg", "jpeg"), ("p/q.r/s.tiff", "tiff")]
)
def test_format_for_key(key: str, fmt: str) -> None:
    assert format_for_key(key) == fmt


@pytest.mark.parametrize("key", ["notes.txt", "no-extension", "archive.tif.gz", "dir.png/file"])
def test_unknown_extension(key: str) -> None:
    with pytest.raises(UnsupportedType, match="unsupported file extension"):
        format_for_key(key)
