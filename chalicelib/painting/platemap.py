"""Plate pictures as PNG, with the standard library only. Pure.

``state_map`` colours each well by its group's state (the plate map next to a
job's outputs); ``heatmap`` colours each well by a number (cells per well).
Wells are named ``A01``…``P24`` (or ``AF48``); the plate is the smallest
standard format (96, 384, 1536 wells) that holds every well named. Row letters
and column numbers are drawn with a 3×5 pixel font, so the picture reads
without a plotting library: the zip Lambda and the Batch image both make it.

Python 3.8-compatible (the Batch container imports it).
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Tuple  # noqa: UP035 - a run-time alias under Python 3.8

RGB = Tuple[int, int, int]  # noqa: UP006 - evaluated at run time under Python 3.8
WELL = re.compile(r"^(?P<row>[A-Z]{1,2})(?P<col>[0-9]{1,2})$")
FORMATS = ((8, 12), (16, 24), (32, 48))
STATE_COLOURS: dict[str, RGB] = {
    "pending": (200, 200, 200),
    "running": (66, 133, 244),
    "succeeded": (52, 168, 83),
    "failed": (234, 67, 53),
    "dead": (60, 20, 80),
}
EMPTY: RGB = (255, 255, 255)
GRID: RGB = (120, 120, 120)
INK: RGB = (0, 0, 0)
# viridis at five stops: low values dark purple, high values yellow
RAMP: tuple[RGB, ...] = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
FONT = {  # 3x5 glyphs, rows top to bottom, bits left to right
    "0": (7, 5, 5, 5, 7), "1": (2, 6, 2, 2, 7), "2": (7, 1, 7, 4, 7), "3": (7, 1, 7, 1, 7),
    "4": (5, 5, 7, 1, 1), "5": (7, 4, 7, 1, 7), "6": (7, 4, 7, 5, 7), "7": (7, 1, 2, 2, 2),
    "8": (7, 5, 7, 5, 7), "9": (7, 5, 7, 1, 7), "A": (2, 5, 7, 5, 5), "B": (6, 5, 6, 5, 6),
    "C": (7, 4, 4, 4, 7), "D": (6, 5, 5, 5, 6), "E": (7, 4, 6, 4, 7), "F": (7, 4, 6, 4, 4),
    "G": (7, 4, 5, 5, 7), "H": (5, 5, 7, 5, 5), "I": (7, 2, 2, 2, 7), "J": (1, 1, 1, 5, 7),
    "K": (5, 5, 6, 5, 5), "L": (4, 4, 4, 4, 7), "M": (5, 7, 7, 5, 5), "N": (6, 5, 5, 5, 5),
    "O": (7, 5, 5, 5, 7), "P": (7, 5, 7, 4, 4), "Q": (7, 5, 5, 7, 1), "R": (6, 5, 6, 5, 5),
    "S": (7, 4, 7, 1, 7), "T": (7, 2, 2, 2, 2), "U": (5, 5, 5, 5, 7), "V": (5, 5, 5, 5, 2),
    "W": (5, 5, 7, 7, 5), "X": (5, 5, 2, 5, 5), "Y": (5, 5, 2, 2, 2), "Z": (7, 1, 2, 4, 7),
    "-": (0, 0, 7, 0, 0), ".": (0, 0, 0, 0, 2),
    " ": (0, 0, 0, 0, 0),
}  # fmt: skip
CELL = 14  # pixels per well
MARGIN = 16  # room for labels


def well_position(well: str) -> tuple[int, int] | None:
    """(row, column), 0-based, of a well name; ``None`` if it is not one.

    >>> well_position("A01"), well_position("P24"), well_position("AF48"), well_position("X")
    ((0, 0), (15, 23), (31, 47), None)
    """
    match = WELL.match(well.strip().upper())
    if match is None:
        return None
    letters = match["row"]
    row = (ord(letters[-1]) - 65) + (26 if len(letters) == 2 else 0)
    return row, int(match["col"]) - 1


def well_key(well: str) -> str:
    """A well's name as the plate knows it: ``A1``, ``a01`` and ``A01`` are one well.

    Platemaps, instruments and file names spell wells either way; joins go by this key.
    A name that is not a well is returned stripped.

    >>> well_key("A1"), well_key(" b03"), well_key("AF48"), well_key("ctrl")
    ('A01', 'B03', 'AF48', 'ctrl')
    """
    position = well_position(well)
    if position is None:
        return well.strip()
    return f"{_row_name(position[0])}{position[1] + 1:02d}"


def plate_format(wells: Sequence[str]) -> tuple[int, int]:
    """(rows, columns) of the smallest standard plate holding every well.

    >>> plate_format(["A01", "B02"]), plate_format(["P24"]), plate_format([])
    ((8, 12), (16, 24), (8, 12))
    """
    positions = [p for p in (well_position(w) for w in wells) if p]
    for rows, columns in FORMATS:
        if all(r < rows and c < columns for r, c in positions):
            return rows, columns
    return FORMATS[-1]


class Canvas:
    def __init__(self, width: int, height: int, background: RGB = EMPTY) -> None:
        self.width, self.height = width, height
        self.pixels = [bytearray(bytes(background) * width) for _ in range(height)]

    def fill(self, x: int, y: int, w: int, h: int, colour: RGB) -> None:
        for row in range(max(0, y), min(self.height, y + h)):
            start, stop = max(0, x), min(self.width, x + w)
            if stop > start:
                self.pixels[row][start * 3 : stop * 3] = bytes(colour) * (stop - start)

    def text(self, x: int, y: int, text: str, colour: RGB = INK) -> None:
        for index, char in enumerate(text.upper()):
            glyph = FONT.get(char, FONT[" "])
            for dy, bits in enumerate(glyph):
                for dx in range(3):
                    if bits & (4 >> dx):
                        self.fill(x + index * 4 + dx, y + dy, 1, 1, colour)

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(row) for row in self.pixels)
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + b"".join(
            _chunk(kind, data)
            for kind, data in ((b"IHDR", header), (b"IDAT", zlib.compress(raw, 9)), (b"IEND", b""))
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _row_name(row: int) -> str:
    return chr(65 + row) if row < 26 else "A" + chr(65 + row - 26)


def draw_plate(colours: Mapping[str, RGB], footer: Sequence[tuple[str, RGB]] = ()) -> Canvas:
    """A plate with each named well filled with its colour; a legend line under it."""
    rows, columns = plate_format(list(colours))
    width = MARGIN + columns * CELL + 2
    places = _legend_places(footer, width)
    legend_height = places[-1][1] + 14 if places else 0
    canvas = Canvas(width, MARGIN + rows * CELL + 2 + legend_height)
    for column in range(columns):
        if column % 2 == 0 or columns <= 24:
            canvas.text(MARGIN + column * CELL + 1, 4, f"{column + 1}")
    for row in range(rows):
        canvas.text(3, MARGIN + row * CELL + 4, _row_name(row))
    for row in range(rows):
        for column in range(columns):
            x, y = MARGIN + column * CELL, MARGIN + row * CELL
            canvas.fill(x, y, CELL, CELL, GRID)
            canvas.fill(x + 1, y + 1, CELL - 2, CELL - 2, EMPTY)
    for well, colour in colours.items():
        position = well_position(well)
        if position and position[0] < rows and position[1] < columns:
            x, y = MARGIN + position[1] * CELL, MARGIN + position[0] * CELL
            canvas.fill(x + 1, y + 1, CELL - 2, CELL - 2, colour)
    top = MARGIN + rows * CELL + 6
    for (label, colour), (x, y) in zip(footer, places):  # noqa: B905 - Python 3.8 (the Batch image) has no strict=
        canvas.fill(x, top + y, 7, 7, colour)
        canvas.text(x + 10, top + y + 1, label)
    return canvas


def _legend_places(footer: Sequence[tuple[str, RGB]], width: int) -> list[tuple[int, int]]:
    """Where each legend entry goes (x, y below the plate), wrapping at ``width``."""
    places, x, y = [], 4, 0
    for label, _ in footer:
        size = 10 + 4 * len(label) + 8
        if x + size > width and x > 4:
            x, y = 4, y + 10
        places.append((x, y))
        x += size
    return places


def state_map(well_states: Mapping[str, str]) -> bytes:
    """PNG of a plate: each well in its group's state colour (white: no group)."""
    colours = {well: STATE_COLOURS.get(state, EMPTY) for well, state in well_states.items()}
    legend = [(state, colour) for state, colour in STATE_COLOURS.items()]
    return draw_plate(colours, legend).png()


def ramp(fraction: float) -> RGB:
    """The colour of ``fraction`` (0..1) on the viridis-like ramp.

    >>> ramp(0.0), ramp(1.0)
    ((68, 1, 84), (253, 231, 37))
    """
    fraction = min(1.0, max(0.0, fraction))
    position = fraction * (len(RAMP) - 1)
    low = min(int(position), len(RAMP) - 2)
    t = position - low
    a, b = RAMP[low], RAMP[low + 1]
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def heatmap(values: Mapping[str, float]) -> bytes:
    """PNG of a plate: each well coloured by its value (e.g. cells per well), min..max."""
    if not values:
        return draw_plate({}).png()
    low, high = min(values.values()), max(values.values())
    span = (high - low) or 1.0
    colours = {well: ramp((value - low) / span) for well, value in values.items()}
    legend = [
        (f"{low:g}", ramp(0.0)),
        (f"{(low + high) / 2:g}", ramp(0.5)),
        (f"{high:g}", ramp(1.0)),
    ]
    return draw_plate(colours, legend).png()
