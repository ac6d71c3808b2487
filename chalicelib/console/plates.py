"""Wells from file names, and per-image / per-well summaries of counting results.

Pure: summaries in, rows out. No I/O, no AWS.

Instruments name wells in a few ways; each is recognised in the file name (not
the folder): ``Plate1_B03_s2_w1.tif`` (ImageXpress), ``B3_01_1_1_DAPI_001.tif``
(Cytation), ``r02c03f01p01-ch1sk1fk1fl1.tiff`` (Operetta / Opera Phenix),
``MFGTMP_140206180002_B03f00d0.TIF`` (CellInsight). Rows ``A``–``AF`` and
columns ``1``–``48`` cover 6- to 1536-well plates.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.spreadsheet import csv_cell

# r01c01 (Operetta / Phenix): row and column numbers, any case.
_ROW_COL = re.compile(r"(?:^|[^A-Za-z0-9])r(\d{1,2})c(\d{1,2})(?=f|p|[^A-Za-z0-9]|$)", re.I)
# A01, B3, AF48: an upper-case row, a 1-2 digit column, not inside a word or a number.
_LETTER = re.compile(r"(?:^|[^A-Za-z0-9])(A[A-F]|[A-Z])(\d{1,2})(?![0-9])(?=[^A-Za-z]|f\d|$)")

# Plate formats drawn: 96, 384 and 1536 wells as (rows, columns), smallest first.
FORMATS = ((8, 12), (16, 24), (32, 48))


@dataclass(frozen=True, order=True)
class Well:
    """A well by 0-based row and 1-based column; ``name`` is ``A01``-style.

    >>> Well(1, 3).name
    'B03'
    >>> Well(27, 12).name
    'AB12'
    """

    row: int
    column: int

    @property
    def row_name(self) -> str:
        return row_name(self.row)

    @property
    def name(self) -> str:
        return f"{self.row_name}{self.column:02d}"


def row_name(row: int) -> str:
    """``0`` → ``A``, ``25`` → ``Z``, ``26`` → ``AA`` (1536-well plates).

    >>> [row_name(r) for r in (0, 15, 26, 31)]
    ['A', 'P', 'AA', 'AF']
    """
    return chr(65 + row) if row < 26 else "A" + chr(65 + row - 26)


def _row_index(letters: str) -> int:
    return ord(letters[0]) - 65 if len(letters) == 1 else 26 + ord(letters[1]) - 65


def well_of(name: str) -> Well | None:
    """The well a file name carries, or None.

    Only the last path component is read; ``r..c..`` wins over letter forms.

    >>> [well_of(n).name for n in ("Plate1_B03_s2_w1.tif", "B3_01_1_1_DAPI_001.tif",
    ...                            "r02c03f01p01-ch1sk1fk1fl1.tiff", "MFG_1402_B03f00d0.TIF")]
    ['B03', 'B03', 'B03', 'B03']
    >>> [well_of(n) for n in ("DATA01.tif", "coins.png", "img_s1_w1.tif", "A00.tif", "A49.tif")]
    [None, None, None, None, None]
    >>> well_of("P7_A01_s1.png").name, well_of("P7_B3.png").name
    ('A01', 'P07')
    """
    base = name.rsplit("/", 1)[-1]
    found = _ROW_COL.search(base)
    if found:
        row, column = int(found[1]), int(found[2])
        if 1 <= row <= 32 and 1 <= column <= 48:
            return Well(row - 1, column)
    # Zero-padded forms (A01) are more specific than short ones (P7 may be a plate name).
    candidates = [
        (len(match[2]) != 2, Well(_row_index(match[1]), int(match[2])))
        for match in _LETTER.finditer(base)
        if 1 <= int(match[2]) <= 48 and _row_index(match[1]) < 32
    ]
    return min(candidates, key=lambda c: c[0])[1] if candidates else None


def plate_format(wells: Iterable[Well]) -> tuple[int, int]:
    """The smallest standard plate (rows, columns) holding every well.

    >>> plate_format([Well(0, 1), Well(7, 12)]), plate_format([Well(8, 1)]), plate_format([])
    ((8, 12), (16, 24), (8, 12))
    """
    listed = list(wells)
    rows = max((w.row + 1 for w in listed), default=1)
    columns = max((w.column for w in listed), default=1)
    for format_rows, format_columns in FORMATS:
        if rows <= format_rows and columns <= format_columns:
            return format_rows, format_columns
    return FORMATS[-1]


def plate_of(key: str, prefix: str) -> str:
    """The plate an image belongs to: its folder below the summarised prefix ('' at top).

    >>> plate_of("exp/p1/A01.tif", "exp/"), plate_of("exp/A01.tif", "exp/")
    ('p1', '')
    """
    relative = key[len(prefix) :] if key.startswith(prefix) else key
    return relative.rsplit("/", 1)[0] if "/" in relative else ""


IMAGE_COLUMNS = (
    "key", "plate", "well", "status", "count", "method", "reliable", "warnings", "reason",
)  # fmt: skip
WELL_COLUMNS = (
    "plate", "well", "images", "counted", "total_count", "mean_count", "sd_count",
    "min_count", "max_count", "errors", "unreliable",
)  # fmt: skip


def image_rows(summaries: Iterable[Mapping[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """One row per image (``IMAGE_COLUMNS``) from result summaries, sorted by key."""
    rows = []
    for summary in summaries:
        key = str(summary.get("key", ""))
        well = well_of(key)
        reliable = summary.get("reliable")
        rows.append(
            {
                "key": key,
                "plate": plate_of(key, prefix),
                "well": well.name if well else "",
                "status": summary.get("status", ""),
                "count": summary.get("count") if summary.get("status") == "ok" else None,
                "method": summary.get("method") or "",
                "reliable": "" if reliable is None else ("yes" if reliable else "no"),
                "warnings": "; ".join(str(w) for w in summary.get("warnings") or []),
                "reason": summary.get("reason") or "",
            }
        )
    return sorted(rows, key=lambda row: row["key"])


def well_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (plate, well): image count, total / mean / sd / min / max of counts, problems.

    >>> rows = image_rows([{"key": "A01_s1.tif", "status": "ok", "count": 10},
    ...                    {"key": "A01_s2.tif", "status": "ok", "count": 14},
    ...                    {"key": "B02_s1.tif", "status": "error", "reason": "empty"}], "")
    >>> [(w["well"], w["total_count"], w["mean_count"], w["errors"]) for w in well_rows(rows)]
    [('A01', 24, 12.0, 0), ('B02', 0, None, 1)]
    """
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        if row["well"]:
            groups.setdefault((row["plate"], row["well"]), []).append(row)
    wells = []
    for (plate, well), members in sorted(groups.items(), key=_well_order):
        counts = [int(m["count"]) for m in members if m["count"] is not None]
        wells.append(
            {
                "plate": plate,
                "well": well,
                "images": len(members),
                "counted": len(counts),
                "total_count": sum(counts),
                "mean_count": round(sum(counts) / len(counts), 2) if counts else None,
                "sd_count": _sd(counts),
                "min_count": min(counts, default=None),
                "max_count": max(counts, default=None),
                "errors": sum(1 for m in members if m["status"] == "error"),
                "unreliable": sum(1 for m in members if m["reliable"] == "no"),
            }
        )
    return wells


def _well_order(item: tuple[tuple[str, str], Any]) -> tuple[str, int, int]:
    (plate, name), _ = item
    well = well_of(name)
    return (plate, well.row, well.column) if well else (plate, 99, 99)


def _sd(values: list[int]) -> float | None:
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    return round(math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)), 2)


def plates(wells: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per plate: its format and a grid (rows × columns) of mean counts (None: no data).

    >>> [p["format"] for p in plates([{"plate": "", "well": "H12", "mean_count": 3.0}])]
    [[8, 12]]
    """
    by_plate: dict[str, dict[Well, Any]] = {}
    for row in wells:
        well = well_of(str(row["well"]))
        if well is not None:
            by_plate.setdefault(str(row["plate"]), {})[well] = row.get("mean_count")
    result = []
    for plate, values in sorted(by_plate.items()):
        rows, columns = plate_format(values)
        grid = [
            [values.get(Well(r, c)) for c in range(1, columns + 1)] for r in range(rows)
        ]  # fmt: skip
        result.append({"plate": plate, "format": [rows, columns], "grid": grid,
                       "row_names": [row_name(r) for r in range(rows)]})  # fmt: skip
    return result


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV text (None as an empty cell; text a spreadsheet would run as a formula,
    e.g. an image key starting with ``=``, gets a leading ``'``).

    >>> to_csv([{"a": 1, "b": None}, {"a": "=1+1", "b": -2}], ("a", "b"))
    "a,b\\n1,\\n'=1+1,-2\\n"
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])
    return out.getvalue()
