"""Merge the per-shard CSV tables of one CellProfiler job into one table each. Pure.

CellProfiler's ``-f/-l`` shards keep global ImageNumbers, so merging is a union
of rows ordered by ``ImageNumber`` (then ``ObjectNumber``). Columns are the union
of the shards' columns in first-seen order (a shard whose objects lack a
measurement leaves it empty). Python 3.8-compatible (the Batch container imports it).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass


@dataclass(frozen=True)
class MergedTable:
    text: str
    rows: int
    image_numbers: tuple[int, ...]


def _number(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "") else float("inf")
    except ValueError:
        return float("inf")


def merge_tables(tables: list[str]) -> MergedTable:
    """One CSV from several with the same kind of rows.

    >>> merged = merge_tables(["ImageNumber,Count\\n2,5\\n", "ImageNumber,Count\\n1,7\\n"])
    >>> merged.text.splitlines()
    ['ImageNumber,Count', '1,7', '2,5']
    >>> merged.image_numbers
    (1, 2)
    """
    columns: list[str] = []
    rows: list[dict[str, str]] = []
    for table in tables:
        reader = csv.DictReader(io.StringIO(table))
        for name in reader.fieldnames or []:
            if name not in columns:
                columns.append(name)
        rows.extend(reader)
    rows.sort(key=lambda row: (_number(row.get("ImageNumber")), _number(row.get("ObjectNumber"))))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    numbers = sorted(
        {
            int(_number(row["ImageNumber"]))
            for row in rows
            if _number(row.get("ImageNumber")) < float("inf")
        }
    )
    return MergedTable(out.getvalue(), len(rows), tuple(numbers))


def image_number_gaps(image_numbers: tuple[int, ...], expected: int | None = None) -> list[int]:
    """ImageNumbers missing from 1..max (or 1..expected): image sets no shard produced.

    >>> image_number_gaps((1, 2, 4))
    [3]
    >>> image_number_gaps((1, 2), expected=3)
    [3]
    """
    top = (
        max(image_numbers, default=0)
        if expected is None
        else max(expected, max(image_numbers, default=0))
    )
    present = set(image_numbers)
    return [n for n in range(1, top + 1) if n not in present]
