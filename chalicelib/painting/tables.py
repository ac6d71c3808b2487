"""Merging the per-group tables of a plate one group at a time, and CytoTable's names. Pure.

Each group ran CellProfiler on its own images, so its ``ImageNumber`` starts
at 1. The merge gives every image set its plate-wide number (the groups'
image-set counts, in group order, are the offsets) and every group its
``Group_Number``, writing row by row: memory holds one group's rows at most
(for the Parquet row group), never the plate.

Column names follow CytoTable's ``cellprofiler_csv`` preset, so CytoTable and
pycytominer read the Parquet as they read CytoTable's own: every measurement
is prefixed with its compartment (``Nuclei_AreaShape_Area``,
``Image_Count_Cells``); identifiers become ``Metadata_ImageNumber``,
``Metadata_ObjectNumber``, ``Metadata_Cytoplasm_Parent_Cells``; the image's
``Metadata_Plate``/``Metadata_Well`` keep their names.

Python 3.8-compatible (the Batch container imports it).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

IDENTIFYING = (
    "ImageNumber",
    "ObjectNumber",
    "Metadata_Well",
    "Metadata_Plate",
    "Parent_Cells",
    "Parent_Nuclei",
)
METADATA_TABLES = ("Image",)
COMPARTMENTS = ("Cells", "Nuclei", "Cytoplasm")
# Columns that differ between two runs of the same images (where and when they ran).
RUN_SPECIFIC = ("ExecutionTime_", "PathName_", "URL_", "ModuleError_", "ImageSet_")


@dataclass(frozen=True)
class GroupTable:
    """One group's copy of a table: where it is, and the group's place in the plate."""

    key: str
    offset: int  # image sets of the groups before this one
    group_number: int  # 1-based, in plate order


def union_columns(headers: Iterable[Sequence[str]]) -> list[str]:
    """Every column of every group, in first-seen order.

    >>> union_columns([["ImageNumber", "A"], ["ImageNumber", "B", "A"]])
    ['ImageNumber', 'A', 'B']
    """
    columns: list[str] = []
    seen: set[str] = set()
    for header in headers:
        for name in header:
            if name not in seen:
                seen.add(name)
                columns.append(name)
    return columns


def offsets(image_sets: Sequence[int]) -> list[int]:
    """Each group's ImageNumber offset from the image-set counts of the groups before it.

    >>> offsets([2, 3, 1])
    [0, 2, 5]
    """
    found, total = [], 0
    for count in image_sets:
        found.append(total)
        total += count
    return found


def renumbered(
    rows: Iterable[Sequence[str]], header: Sequence[str], columns: Sequence[str], group: GroupTable
) -> Iterator[list[str]]:
    """One group's data rows in the plate's columns, ``ImageNumber`` and ``Group_Number`` global.

    >>> rows = renumbered([["1", "7"]], ["ImageNumber", "Count"], ["ImageNumber", "Group_Number",
    ...                   "Count"], GroupTable("k", offset=4, group_number=3))
    >>> list(rows)
    [['5', '3', '7']]
    """
    where = {name: index for index, name in enumerate(header)}
    picks = [where.get(name) for name in columns]
    image = where.get("ImageNumber")
    group_at = columns.index("Group_Number") if "Group_Number" in columns else None
    for row in rows:
        if not row:
            continue
        out = [row[i] if i is not None and i < len(row) else "" for i in picks]
        if image is not None and image < len(row):
            out[columns.index("ImageNumber")] = _shift(row[image], group.offset)
        if group_at is not None:
            out[group_at] = str(group.group_number)
        yield out


def _shift(value: str, offset: int) -> str:
    try:
        return str(int(float(value)) + offset)
    except ValueError:
        return value


def merge_csv(
    parts: Iterable[tuple[GroupTable, Iterator[list[str]]]], columns: Sequence[str], out: object
) -> int:
    """Write the plate table to the text file ``out`` from each group's CSV rows; rows written.

    ``parts`` yields (group, csv rows including the header) one group at a time, so
    a caller streaming each group from storage never holds more than one row.
    """
    writer = csv.writer(out, lineterminator="\n")  # type: ignore[arg-type]
    writer.writerow(columns)
    count = 0
    for group, rows in parts:
        header = next(rows, [])
        for row in renumbered(rows, header, columns, group):
            writer.writerow(row)
            count += 1
    return count


def table_name(file_name: str) -> str:
    """``Nuclei`` for ``Nuclei.csv`` or ``MyExpt_Nuclei.csv``.

    >>> table_name("MyExpt_Nuclei.csv"), table_name("Image.csv")
    ('Nuclei', 'Image')
    """
    stem = file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    for known in METADATA_TABLES + COMPARTMENTS:
        if stem == known or stem.endswith("_" + known):
            return known
    return stem


def cytotable_name(table: str, column: str) -> str:
    """A column's name in CytoTable's Parquet (its ``cellprofiler_csv`` preset rules).

    >>> for column in ("ImageNumber", "ObjectNumber", "Parent_Cells", "AreaShape_Area"):
    ...     print(cytotable_name("Cytoplasm", column))
    Metadata_ImageNumber
    Metadata_ObjectNumber
    Metadata_Cytoplasm_Parent_Cells
    Cytoplasm_AreaShape_Area
    >>> [cytotable_name("Image", c) for c in ("Metadata_Well", "Metadata_Site", "Count_Cells")]
    ['Metadata_Well', 'Image_Metadata_Site', 'Image_Count_Cells']
    """
    if column not in IDENTIFYING:
        return column if column.startswith(table) else f"{table}_{column}"
    if column.startswith("Metadata_"):
        return column
    if column.startswith(table):
        return "Metadata_" + column
    if not any(name in column for name in METADATA_TABLES) and "ObjectNumber" not in column:
        return f"Metadata_{table}_{column}"
    return "Metadata_" + column


def comparable_columns(columns: Iterable[str]) -> list[str]:
    """Columns that two runs of the same images must agree on (not times or local paths).

    >>> comparable_columns(["ImageNumber", "Count_Cells", "ExecutionTime_01Images", "PathName_DNA"])
    ['ImageNumber', 'Count_Cells']
    """
    return [name for name in columns if not name.startswith(RUN_SPECIFIC)]
