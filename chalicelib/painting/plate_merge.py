"""One plate's merge: per-group CellProfiler tables in, plate tables, Parquet and profiles out.

The Batch merge job (and ``lab bench painting --plate``) call ``merge_plate``
with two callables: ``fetch`` brings one group's tables into a local folder,
``release`` removes it. Groups are taken one at a time, so memory and disk
hold one group, whatever the size of the plate:

- every per-image table (``Image.csv``, ``Nuclei.csv``…) is appended row by row
  to the plate's CSV with plate-wide ``ImageNumber``/``Group_Number``;
  a table without ``ImageNumber`` (``Experiment.csv``) is the first group's;
- the same rows go to per-compartment Parquet files and the single-cell
  Parquet, with CytoTable's column names (``profiles.PlateWriter``);
- each well's profile (pycytominer ``aggregate``, median) is made as soon as
  its last group is in; then the well profiles are annotated with the
  platemap, normalised to its negative controls and feature-selected;
- ``cells_per_well.png`` is the plate heatmap of the cell count per well.

Python 3.8-compatible: the Batch image runs it with the official CellProfiler image's
Python 3.8 (pycytominer 1.2, pandas 2.0, pyarrow 17: the newest releases for 3.8);
locally it runs in the CellProfiler virtualenv (Python 3.9, the same pins).
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.painting import platemap, profiles, tables

PROFILE_FILES = ("profiles", "profiles_normalized", "profiles_feature_select")
HEATMAP = "cells_per_well.png"


@dataclass(frozen=True)
class GroupOutput:
    """What one group left: its tables, and its place on the plate."""

    name: str
    wells: tuple[str, ...]
    image_sets: int
    tables: tuple[str, ...]  # CSV file names, e.g. ("Image.csv", "Nuclei.csv")


@dataclass(frozen=True)
class PlateMerge:
    plate: str
    files: tuple[str, ...]  # names written in the output folder
    rows: dict[str, int]
    cells_per_well: dict[str, int]
    controls: str | None
    unannotated: tuple[str, ...] = ()  # wells profiled that the platemap does not name

    def to_dict(self) -> dict[str, Any]:
        return {
            "plate": self.plate,
            "files": list(self.files),
            "rows": self.rows,
            "cells_per_well": self.cells_per_well,
            "normalized_to": self.controls,
            "wells_not_in_platemap": list(self.unannotated),
        }


MAX_TABLE_NAME = 255  # one file name on disk


def plan_problem(planned: Mapping[str, Any]) -> str | None:
    """Why a group's plan entry cannot name the merge's keys and folders, or None.

    The plan sits in the user's output prefix (``_plate/plan.json``): its group's folder and
    plate each choose a key and a folder on disk, so each must be one plain name.

    >>> plan_problem({"folder": "Well-A01", "plate": "P1"}) is None
    True
    >>> plan_problem({"folder": "..", "plate": "P1"})
    "names the folder '..': not one plain name"
    """
    for field in ("folder", "plate"):
        value = planned.get(field)
        if not _plain_name(value):
            return f"names the {field} {str(value)[:200]!r}: not one plain name"
    return None


def manifest_problem(manifest: Mapping[str, Any]) -> str | None:
    """Why a group's manifest cannot name the merge's inputs, or None.

    It sits in the user's output prefix (``_groups/<folder>/manifest.json``): its tables must
    be plain ``.csv`` file names of the group's own folder (``Image.csv``; not
    ``../other/Image.csv``), read from that folder and written to one on disk.

    >>> manifest_problem({"tables": ["Image.csv"], "image_sets": 2}) is None
    True
    >>> manifest_problem({"tables": ["../../x.csv"], "image_sets": 2})
    "names the table '../../x.csv': not a .csv file name of the group's own folder"
    """
    names = manifest.get("tables")
    if not isinstance(names, list):
        return "lists no tables (a list of .csv file names)"
    for name in names:
        if not (_plain_name(name) and str(name).lower().endswith(".csv")):
            problem = "not a .csv file name of the group's own folder"
            return f"names the table {str(name)[:200]!r}: {problem}"
    count = manifest.get("image_sets")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        return f"names {str(count)[:50]!r} image sets: not a count"
    return None


def _plain_name(value: object) -> bool:
    """One file or folder name: no separator, not ``.`` or ``..``, not empty, not too long."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_TABLE_NAME
        and value not in (".", "..")
        and not any(c in value for c in "/\\\0")
    )


def last_group_of_well(groups: Sequence[GroupOutput]) -> dict[str, int]:
    """Well -> index of the last group holding it (its profile can be made after that one).

    >>> last_group_of_well([GroupOutput("a", ("A01",), 1, ()),
    ...                     GroupOutput("b", ("A01", "A02"), 1, ())])
    {'A01': 1, 'A02': 1}
    """
    found: dict[str, int] = {}
    for index, group in enumerate(groups):
        for well in group.wells:
            found[well] = index
    return found


def read_header(path: Path) -> list[str]:
    with open(path, newline="") as handle:
        return next(csv.reader(handle), [])


def merge_plate(
    plate: str,
    groups: Sequence[GroupOutput],
    header: Callable[[GroupOutput, str], list[str]],
    fetch: Callable[[GroupOutput], Path],
    out: Path,
    platemap_csv: Path | None = None,
    release: Callable[[Path], None] = lambda folder: shutil.rmtree(folder, ignore_errors=True),
) -> PlateMerge:
    """Merge the groups of one plate into ``out`` (created); what was written."""
    out.mkdir(parents=True, exist_ok=True)
    names = tables.union_columns(group.tables for group in groups)
    columns = {
        name: tables.union_columns(header(g, name) for g in groups if name in g.tables)
        for name in names
    }
    per_image = [name for name in names if "ImageNumber" in columns[name]]
    starts = tables.offsets([group.image_sets for group in groups])
    handles = {name: open(out / name, "w", newline="") for name in per_image}  # noqa: SIM115
    writers = {name: csv.writer(handle, lineterminator="\n") for name, handle in handles.items()}
    for name in per_image:
        writers[name].writerow(columns[name])
    counts = dict.fromkeys(per_image, 0)
    writer = profiles.PlateWriter(out, last_group_of_well(groups))
    try:
        for index, group in enumerate(groups):
            place = tables.GroupTable(group.name, starts[index], index + 1)
            folder = fetch(group)
            try:
                for name in group.tables:
                    if name in per_image:
                        counts[name] += _append_rows(
                            folder / name, columns[name], place, writers[name]
                        )
                    elif not (out / name).exists():
                        shutil.copyfile(folder / name, out / name)
                writer.add(index, _frames(folder, group, columns, place))
            finally:
                release(folder)
    finally:
        for handle in handles.values():
            handle.close()
    rows = {**counts, **{f"{k}.parquet": v for k, v in writer.close().items()}}
    files = [*names, *(f"{k}.parquet" for k in writer.appenders)]
    controls: str | None = None
    unannotated: tuple[str, ...] = ()
    if writer.wells:
        platemap_frame = profiles.read_platemap(platemap_csv) if platemap_csv else None
        built = profiles.build_profiles(writer.wells, platemap_frame)
        for stem, frame in zip(PROFILE_FILES, (built.profiles, built.normalized, built.selected)):  # noqa: B905 - Python 3.8 (the Batch image) has no strict=
            files += [path.name for path in profiles.write_frame(frame, out, stem)]
        controls, unannotated = built.controls, built.unannotated
    (out / HEATMAP).write_bytes(platemap.heatmap(dict(writer.cells_per_well)))
    files.append(HEATMAP)
    return PlateMerge(plate, tuple(files), rows, dict(writer.cells_per_well), controls, unannotated)


def _append_rows(path: Path, columns: Sequence[str], place: tables.GroupTable, writer: Any) -> int:
    count = 0
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        for row in tables.renumbered(reader, header, columns, place):
            writer.writerow(row)
            count += 1
    return count


def _frames(
    folder: Path, group: GroupOutput, columns: dict[str, list[str]], place: tables.GroupTable
) -> dict[str, Any]:
    """The group's Image and compartment tables as typed frames, numbered plate-wide."""
    frames = {}
    for name in group.tables:
        kind = tables.table_name(name)
        if kind not in tables.METADATA_TABLES + tables.COMPARTMENTS:
            continue
        frame = profiles.read_table(folder / name, columns[name])
        if "ImageNumber" in frame.columns:
            frame["ImageNumber"] = frame["ImageNumber"] + place.offset
        if "Group_Number" in frame.columns:
            frame["Group_Number"] = float(place.group_number)
        frames[kind] = frame
    return frames
