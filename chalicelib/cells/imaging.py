"""Image decoding, normalisation and annotation (OpenCV; no I/O beyond bytes).

Everything here takes bytes or arrays and returns bytes or arrays, so the
container function, the CLI and the tests share it.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading

import cv2
import numpy as np

from chalicelib.cells.counting import Counting
from chalicelib.cells.pixels import to_uint8
from chalicelib.cells.probe import ImageHeader, jpeg_is_complete, read_header
from chalicelib.cells.segmentation import outlines
from chalicelib.errors import CorruptInput, TooLarge

# libjpeg reports data it had to make up as warnings on stderr and still returns an
# image (a JPEG cut in half and closed with FF D9 decodes, its lower half flat gray).
JPEG_DAMAGE_WARNINGS = ("Corrupt JPEG data", "Premature end of JPEG file")
# ... except a few padding bytes after the last scan, before the end-of-image marker:
# every pixel was decoded (cameras write them; one of the seed's own phase-contrast
# photos has two and was refused as corrupt).
JPEG_PADDING = re.compile(r"Corrupt JPEG data: \d+ extraneous bytes before marker 0xd9\s*$")
_stderr_lock = threading.Lock()
# A JPEG is 8-bit gray or colour, so this reads what IMREAD_UNCHANGED reads, except that
# OpenCV applies the EXIF orientation for any flags but IMREAD_UNCHANGED.
JPEG_READ = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH

OUTLINE_BGR = (0, 255, 0)
FLAGGED_BGR = (255, 0, 255)  # objects found but not counted (a fibre, a giant)
TEXT_BGR = (0, 0, 255)


def decode(data: bytes, max_pixels: int) -> tuple[np.ndarray, ImageHeader]:
    """Decode PNG/JPEG/TIFF bytes, refusing bombs and broken files first.

    Parameters
    ----------
    data : bytes
        The encoded file.
    max_pixels : int
        Largest width × height accepted; checked from the header before decoding.

    Returns
    -------
    image : (M, N) or (M, N, 3|4) ndarray of uint8 or uint16
        Channels in BGR(A) order. Turned by its EXIF orientation as a viewer shows it
        (a JPEG's EXIF, a TIFF's Orientation tag, a PNG's eXIf chunk), so the count's
        coordinates, the annotated image and the CSV agree with what the user sees; M and
        N are then swapped for orientations 5-8.
    header : ImageHeader
        From the file: width and height as stored, before any EXIF turn.
    """
    header = read_header(data)
    if header.pixels > max_pixels:
        raise TooLarge(
            f"image is {header.width}x{header.height} = {header.pixels / 1e6:.1f} megapixels; "
            f"the limit is {max_pixels / 1e6:.0f} megapixels"
        )
    if header.format == "jpeg" and not jpeg_is_complete(data):
        raise CorruptInput("the JPEG is truncated (no end-of-image marker)")
    if header.format == "jpeg":
        image, warnings = _decode_with_warnings(data)
        damage = [
            line
            for line in warnings
            if line.startswith(JPEG_DAMAGE_WARNINGS) and not JPEG_PADDING.match(line)
        ]
        if damage:
            raise CorruptInput(f"the JPEG is truncated or corrupt ({damage[0].strip()[:120]})")
    else:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise CorruptInput(
            f"the {header.format.upper()} file could not be decoded (corrupt or truncated)"
        )
    if header.format == "png":  # OpenCV turns a PNG only when it may drop its alpha
        image = oriented(image, header.orientation)
    stored = (header.height, header.width)
    turned = (header.width, header.height)
    # OpenCV turns a JPEG by its EXIF (not read by the probe) and a TIFF by its tag itself
    expected = (stored, turned) if header.format == "jpeg" else (stored,)
    if header.orientation >= 5:
        expected = (turned,)
    if image.shape[:2] not in expected:
        raise CorruptInput("the decoded size does not match the header")
    if image.dtype not in (np.uint8, np.uint16):
        image = to_uint8(image)
    return image, header


def oriented(image: np.ndarray, orientation: int) -> np.ndarray:
    """``image`` (stored pixels) as a viewer shows it under an EXIF ``orientation`` (1-8).

    >>> a = np.arange(6).reshape(2, 3)
    >>> oriented(a, 6).tolist(), oriented(a, 1) is a
    ([[3, 0], [4, 1], [5, 2]], True)
    """
    turns = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    turn = turns.get(orientation)
    return image if turn is None else np.ascontiguousarray(turn(image))


def _decode_with_warnings(data: bytes) -> tuple[np.ndarray | None, list[str]]:
    """``cv2.imdecode`` with what the decoder printed on stderr (fd 2) meanwhile.

    OpenCV offers no hook for libjpeg's warnings, so fd 2 points at a file for the
    call; other output caught in that window is written back to stderr.
    """
    with _stderr_lock, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), JPEG_READ)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        lines = sink.read().decode("utf-8", errors="replace").splitlines(keepends=True)
    others = [line for line in lines if not line.startswith(JPEG_DAMAGE_WARNINGS)]
    if others:
        sys.stderr.write("".join(others))
    return image, lines


def to_gray(image: np.ndarray) -> np.ndarray:
    """Single-channel view of a gray, BGR or BGRA image, dtype preserved."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[:, :, 0]
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


def to_bgr(image: np.ndarray) -> np.ndarray:
    """A uint8 BGR copy of any image, for drawing on."""
    image = to_uint8(image)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image.copy()


def annotate(image: np.ndarray, counting: Counting, copy: bool = True) -> np.ndarray:
    """Outline each detected object and write the count in the top-left corner.

    Segmentation methods get each object's real outline; Hough gets its circles.
    With ``copy=False`` a uint8 BGR ``image`` is drawn on and returned itself (an
    upload's decoded image, not needed afterwards: a 3840 x 2160 photo's 25 MB copy
    saved); any other image is drawn on a BGR copy as with ``copy=True``.
    """
    drawable = image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    canvas = image if not copy and drawable and image.flags.c_contiguous else to_bgr(image)
    thickness = max(1, round(max(canvas.shape[:2]) / 1000))
    if counting.labels is not None:
        _draw_outlines(canvas, counting.labels, counting.count)
    else:
        for cell in counting.cells:
            centre = (round(cell.x), round(cell.y))
            cv2.circle(canvas, centre, max(1, round(cell.radius)), OUTLINE_BGR, thickness + 1)
    scale = max(0.6, max(canvas.shape[:2]) / 1200)
    label = f"Count: {counting.count}"
    if counting.flagged:
        label += f" (+{len(counting.flagged)} flagged)"
    origin = (round(10 * scale), round(35 * scale))
    cv2.putText(canvas, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 3)
    cv2.putText(canvas, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_BGR, thickness + 1)
    return canvas


def _draw_outlines(canvas: np.ndarray, labels: np.ndarray, counted: int) -> None:
    """Counted objects' outlines in green, flagged ones (labels above ``counted``) in magenta."""
    height, width = canvas.shape[:2]
    if labels.shape != (height, width):
        labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
    objects = labels > 0
    edges = outlines(labels, objects)
    if max(height, width) > 1500:  # thicken: one-pixel lines vanish when a big image is viewed
        edges = thicken(edges)
        edges &= objects
    # Outlines are a few % of the pixels: colour them by index, not by full-image masks.
    index = np.flatnonzero(edges)
    which = np.take(labels.ravel(), index)
    _paint(canvas, index[which <= counted], OUTLINE_BGR)
    _paint(canvas, index[which > counted], FLAGGED_BGR)


def thicken(mask: np.ndarray) -> np.ndarray:
    """``mask`` (bool) dilated by a 2 x 2 square: each pixel also marks the one below it, the
    one to its right and the one below-right, as ``cv2.dilate`` with ``np.ones((2, 2))``
    (anchor at the square's lower right) does, by three shifted ORs (twice as fast).

    >>> thicken(np.array([[1, 0, 0], [0, 0, 0], [0, 0, 1]], bool)).astype(int).tolist()
    [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    """
    down = mask.copy()
    down[1:] |= mask[:-1]
    out = down.copy()
    out[:, 1:] |= down[:, :-1]
    return out


def _paint(canvas: np.ndarray, index: np.ndarray, colour: tuple[int, int, int]) -> None:
    """Set the pixels at flat ``index`` of a contiguous (M, N, 3) ``canvas`` to ``colour``,
    one channel at a time (a scatter of bytes: several times faster than of 3-byte rows)."""
    if not canvas.flags.c_contiguous:  # a reshaped copy would be painted, not the canvas
        canvas.reshape(-1, 3)[index] = colour  # (never so from ``to_bgr``)
        return
    flat = canvas.reshape(-1)
    at = index * 3
    for channel, value in enumerate(colour):
        flat[at + channel] = value


def encode(image: np.ndarray, name: str) -> bytes:
    """Encode as JPEG when ``name`` ends in .jpg/.jpeg, else as PNG."""
    if name.lower().endswith((".jpg", ".jpeg")):
        return encode_jpeg(image)
    return encode_png(image)


def encode_png(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - OpenCV only fails here on invalid arrays
        raise ValueError("could not encode the annotated image")
    return buffer.tobytes()


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover
        raise ValueError("could not encode the annotated image")
    return buffer.tobytes()


def contact_sheet(
    panels: list[tuple[np.ndarray, str]], tile_width: int = 640, columns: int = 4
) -> np.ndarray:
    """Annotated images side by side, each with a caption (parameters and count).

    Parameters
    ----------
    panels : list of ((M, N, 3) ndarray of uint8, str)
        BGR images (e.g. from ``annotate``) and their captions.
    tile_width : int
        Each panel is scaled to this width (never enlarged).
    columns : int
        Panels per row.

    Returns
    -------
    (H, W, 3) ndarray of uint8

    >>> panel = np.zeros((50, 100, 3), np.uint8)
    >>> contact_sheet([(panel, "a"), (panel, "b")]).shape
    (88, 212, 3)
    """
    if not panels:
        raise ValueError("a contact sheet needs at least one panel")
    caption_height, gap = 30, 4
    tiles = []
    for image, caption in panels:
        scale = min(1.0, tile_width / image.shape[1])
        small = (
            cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            if scale < 1
            else image
        )
        tile = np.full((small.shape[0] + caption_height, small.shape[1], 3), 255, np.uint8)
        tile[caption_height:] = small
        cv2.putText(
            tile, caption, (4, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA
        )
        tiles.append(tile)
    height = max(t.shape[0] for t in tiles)
    width = max(t.shape[1] for t in tiles)
    rows = [tiles[i : i + columns] for i in range(0, len(tiles), columns)]
    ncols = min(columns, len(tiles))
    sheet = np.full(
        (len(rows) * (height + gap) + gap, ncols * (width + gap) + gap, 3), 255, np.uint8
    )
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            y, x = gap + r * (height + gap), gap + c * (width + gap)
            sheet[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    return sheet
