"""Read an image's format and size from its header, without decoding it.

Pure Python and cheap, so the decompression-bomb check runs before any pixel
buffer is allocated, and the zip Lambda can use it without OpenCV.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from chalicelib.errors import CorruptInput, UnsupportedType

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*")
BIGTIFF_MAGICS = (b"II+\x00", b"MM\x00+")
# JPEG start-of-frame markers carry the size; C4, C8 and CC are other segments.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_TIFF_WIDTH, _TIFF_LENGTH = 256, 257
_TIFF_BITS, _TIFF_SAMPLES, _TIFF_PLANAR, _TIFF_SAMPLE_FORMAT = 258, 277, 284, 339
_TIFF_ORIENTATION = 274  # EXIF's Orientation tag, in a TIFF's IFD and in an EXIF block
_TIFF_READ_TAGS = frozenset(
    (_TIFF_WIDTH, _TIFF_LENGTH, _TIFF_BITS, _TIFF_SAMPLES, _TIFF_PLANAR, _TIFF_SAMPLE_FORMAT,
     _TIFF_ORIENTATION)
)  # fmt: skip

EXTENSIONS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff"}


@dataclass(frozen=True)
class ImageHeader:
    format: str  # "png" | "jpeg" | "tiff"
    width: int
    height: int
    # EXIF orientation 1-8 of a TIFF (its tag) or a PNG (its eXIf chunk); 1 when absent or
    # unreadable. A JPEG's is applied by OpenCV and not read here (1).
    orientation: int = 1

    @property
    def pixels(self) -> int:
        return self.width * self.height


def format_for_key(key: str) -> str:
    """The image format a key's extension promises.

    >>> format_for_key("plate1/A01.TIF")
    'tiff'
    """
    dot = key.rfind(".")
    extension = key[dot:].lower() if dot >= 0 else ""
    if extension not in EXTENSIONS:
        shown = extension or "(none)"
        raise UnsupportedType(
            f"unsupported file extension {shown}; expected one of {', '.join(sorted(EXTENSIONS))}"
        )
    return EXTENSIONS[extension]


def read_header(data: bytes) -> ImageHeader:
    """Format and size of a PNG, JPEG or TIFF held in ``data``.

    Raises ``UnsupportedType`` for other content and ``CorruptInput`` when the
    header is cut short or malformed.
    """
    if not data:
        raise CorruptInput("the file is empty")
    if data.startswith(PNG_MAGIC):
        return _png(data)
    if data.startswith(JPEG_MAGIC):
        return _jpeg(data)
    if data[:4] in TIFF_MAGICS:
        return _tiff(data)
    if data[:4] in BIGTIFF_MAGICS:
        raise UnsupportedType("BigTIFF files are not supported; save as classic TIFF")
    raise UnsupportedType("the file is not a PNG, JPEG or TIFF image")


def jpeg_is_complete(data: bytes) -> bool:
    """True when a JPEG's image data reaches its end-of-image marker.

    The marker usually ends the file (padding allowed), but phones and cameras may
    append data after it (a motion photo's MP4, a maker's trailer): then an end
    marker after the first scan began is enough, as no FF D9 can occur inside
    entropy-coded data. Damage inside the scan is left to the decoder's warnings.

    >>> jpeg_is_complete(bytes.fromhex("ffd8 ffda 0002 11 ffd9") + b"ftypmp42")
    True
    >>> jpeg_is_complete(bytes.fromhex("ffd8 ffda 0002 11 22") + b"ftypmp42")
    False
    """
    if data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        return True
    scan = _jpeg_scan_start(data)
    return scan is not None and data.find(b"\xff\xd9", scan) >= 0


def _jpeg_scan_start(data: bytes) -> int | None:
    """Offset just after the first start-of-scan segment's header (None if never reached).

    Segments are stepped over by their lengths, so the end marker of a thumbnail
    inside an APP1 (Exif) segment is not taken for the image's own.
    """
    for pos, marker, length in _jpeg_segments(data):
        if marker is None:
            return None
        if marker == 0xDA:
            return pos + 2 + length
    return None


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, int | None, int]]:
    """(offset, marker, length) of each marker segment with a length after the start
    of image, in order; a marker of None (and nothing after it) where the next byte
    is no marker: the header is malformed. Fill bytes and length-less markers are
    stepped over.

    >>> list(_jpeg_segments(bytes.fromhex("ffd8 ffe0 0004 0000 ffff ffda 0002")))
    [(2, 224, 4), (10, 218, 2)]
    >>> list(_jpeg_segments(bytes.fromhex("ffd8 00ff 0000")))
    [(2, None, 0)]
    """
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            yield pos, None, 0
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        yield pos, marker, length
        pos += 2 + length


def _checked(fmt: str, width: int, height: int, orientation: int = 1) -> ImageHeader:
    if width <= 0 or height <= 0:
        raise CorruptInput(f"the {fmt.upper()} header gives an empty size {width}x{height}")
    return ImageHeader(fmt, width, height, orientation if 1 <= orientation <= 8 else 1)


def _png(data: bytes) -> ImageHeader:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise CorruptInput("the PNG header is truncated or malformed")
    width, height = struct.unpack(">II", data[16:24])
    return _checked("png", width, height, _png_orientation(data))


def _png_orientation(data: bytes) -> int:
    """The Orientation in a PNG's eXIf chunk (before its image data), or 1.

    A damaged chunk is ignored (1): a viewer shows such a file as stored.
    """
    pos = len(PNG_MAGIC)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind in (b"IDAT", b"IEND"):
            break
        if kind == b"eXIf":
            block = data[pos + 8 : pos + 8 + length]
            try:
                return _tiff_tags(block).get(_TIFF_ORIENTATION, 1)
            except (struct.error, ValueError):
                return 1
        pos += 12 + length
    return 1


def _jpeg(data: bytes) -> ImageHeader:
    for pos, marker, _length in _jpeg_segments(data):
        if marker is None:
            raise CorruptInput("the JPEG header is malformed")
        if marker in _SOF_MARKERS:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return _checked("jpeg", width, height)
    raise CorruptInput("the JPEG is truncated before its frame header")


def _tiff(data: bytes) -> ImageHeader:
    try:
        tags = _tiff_tags(data)
    except (struct.error, ValueError) as exc:
        raise CorruptInput("the TIFF header is truncated or malformed") from exc
    if _TIFF_WIDTH not in tags or _TIFF_LENGTH not in tags:
        raise CorruptInput("the TIFF header has no image width or length")
    _check_tiff_layout(tags)
    return _checked("tiff", tags[_TIFF_WIDTH], tags[_TIFF_LENGTH], tags.get(_TIFF_ORIENTATION, 1))


def _tiff_tags(data: bytes) -> dict[int, int]:
    """The first IFD's tags this module reads, from a TIFF structure (a file, an EXIF block).

    ``struct.error`` (or ``ValueError``) when it is cut short or not a TIFF structure.
    """
    if data[:4] not in TIFF_MAGICS:
        raise ValueError("not a TIFF structure")
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
    tags: dict[int, int] = {}
    for i in range(count):
        entry = data[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
        tag, kind, n = struct.unpack(order + "HHI", entry[:8])
        if tag in _TIFF_READ_TAGS and kind in (3, 4):
            tags[tag] = _tiff_first_value(data, order, entry, kind, n)
    return tags


def _tiff_first_value(data: bytes, order: str, entry: bytes, kind: int, n: int) -> int:
    """The first value of a SHORT (3) or LONG (4) tag: in the entry, or at its offset."""
    fmt = order + ("H" if kind == 3 else "I")
    size = struct.calcsize(fmt)
    if n * size <= 4:
        return int(struct.unpack(fmt, entry[8 : 8 + size])[0])
    (offset,) = struct.unpack(order + "I", entry[8:12])
    return int(struct.unpack(fmt, data[offset : offset + size])[0])


def _check_tiff_layout(tags: dict[int, int]) -> None:
    """Refuse, by name, the TIFF layouts OpenCV's decoder reads wrongly or not at all.

    OpenCV 4.x decodes channels stored as separate planes of more than 8 bits (what
    ``tifffile.imwrite`` writes for a (3, M, N) 16-bit stack) and two interleaved
    16-bit channels as noise or a flat image, without an error: a wrong count.
    """
    samples = tags.get(_TIFF_SAMPLES, 1)
    bits = tags.get(_TIFF_BITS, 1)
    separate = tags.get(_TIFF_PLANAR, 1) == 2
    if samples > 1 and bits > 8 and (separate or samples == 2):
        how = "as separate planes" if separate else "interleaved"
        raise UnsupportedType(
            f"TIFF with {samples} channels of {bits} bits stored {how} is not supported; "
            "save one channel per page (or per file), or as 8-bit"
        )
    if samples > 4:
        raise UnsupportedType(f"TIFF with {samples} channels per pixel is not supported")
    if bits == 32 and tags.get(_TIFF_SAMPLE_FORMAT, 1) == 1:
        raise UnsupportedType(
            "32-bit unsigned integer TIFF is not supported; save as 16-bit or 32-bit float"
        )
