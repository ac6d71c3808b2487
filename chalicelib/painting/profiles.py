"""Per-plate Parquet and per-well profiles from CellProfiler's per-group tables.

Runs in the CellProfiler Batch image only (pandas, pyarrow and pycytominer are
there, never in a zip Lambda). Works one group at a time: ``PlateWriter.add``
takes one group's tables (already renumbered plate-wide), appends them to the
per-compartment Parquet files and to the single-cell Parquet (CytoTable's
join: one row per cytoplasm with its cell, nucleus and image), and keeps the
cells of a well only until the well's last group has been added, when they
become that well's profile (the median of each feature, pycytominer's
``aggregate``). ``finish`` annotates the well profiles with the platemap,
normalises them to the negative controls and selects features.

Python 3.8-compatible: the Batch image runs it with the official CellProfiler image's
Python 3.8 (pycytominer 1.2, pandas 2.0, pyarrow 17: the newest releases for 3.8);
locally it runs in the CellProfiler virtualenv (Python 3.9, the same pins). pandas, pyarrow and
pycytominer are imported where they are used, so the zip side can import this
module's names without them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib import spreadsheet
from chalicelib.painting import plate, tables
from chalicelib.painting import platemap as platemap_module

if TYPE_CHECKING:  # imported where used: this module must import without them (doctests)
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger(__name__)

TEXT_PREFIXES = (
    "Metadata_", "FileName_", "PathName_", "URL_", "MD5Digest_", "ObjectsFileName_",
    "ObjectsPathName_", "ObjectsURL_",
)  # fmt: skip
STRATA = ["Metadata_Plate", "Metadata_Well"]
WELL_COLUMNS = plate.PLATEMAP_WELL_COLUMNS  # one list: the submission checks them
FEATURE_SELECTION = ["variance_threshold", "correlation_threshold", "drop_na_columns", "blocklist"]


def _numpy_typing() -> None:
    """pycytominer 1.3 uses ``np.typing`` without importing it; numpy 1.23 needs the import."""
    import numpy.typing  # noqa: F401


def is_text(column: str) -> bool:
    return column.startswith(TEXT_PREFIXES) and not column.startswith("Metadata_ImageNumber")


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as strings, every other column as float64: one schema for every group."""
    import pandas as pd

    out = {}
    for column in frame.columns:
        if is_text(column):
            out[column] = frame[column].astype("string").fillna("")
        else:
            out[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def read_table(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """A group's CSV with the plate's columns (missing ones empty), typed."""
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return typed(frame.reindex(columns=list(columns), fill_value=""))


def cytotable_frame(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns={c: tables.cytotable_name(table, c) for c in frame.columns})


def single_cells(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame | None:
    """One row per cell with every compartment and the image's metadata (CytoTable's join)."""
    named = {name: cytotable_frame(name, frame) for name, frame in frames.items()}
    image = named.get("Image")
    if "Cytoplasm" in named and {"Cells", "Nuclei"} <= set(named):
        cells = named["Cells"].drop(columns=["Metadata_Cells_Parent_Nuclei"], errors="ignore")
        joined = named["Cytoplasm"].merge(
            cells.rename(columns={"Metadata_ObjectNumber": "Metadata_Cytoplasm_Parent_Cells"}),
            on=["Metadata_ImageNumber", "Metadata_Cytoplasm_Parent_Cells"],
        )
        joined = joined.merge(
            named["Nuclei"].rename(
                columns={"Metadata_ObjectNumber": "Metadata_Cytoplasm_Parent_Nuclei"}
            ),
            on=["Metadata_ImageNumber", "Metadata_Cytoplasm_Parent_Nuclei"],
        )
    else:
        base = next((named[n] for n in ("Cells", "Nuclei", "Cytoplasm") if n in named), None)
        if base is None:
            return None
        joined = base
    if image is not None:
        keep = [c for c in image.columns if c.startswith(("Metadata_", "Image_Metadata_"))]
        meta = image[keep].rename(
            columns={c: c[len("Image_") :] for c in keep if c.startswith("Image_Metadata_")}
        )
        meta = meta.loc[:, ~meta.columns.duplicated()]
        joined = meta.merge(joined, on="Metadata_ImageNumber")
    return joined


def features(frame: pd.DataFrame) -> list[str]:
    """Measurement columns of the single-cell table (pycytominer's ``infer`` rule)."""
    return [c for c in frame.columns if c.startswith(tables.COMPARTMENTS)]


class ParquetAppender:
    """A Parquet dataset (a folder ``<name>.parquet/`` of parts), one part per group.

    One part per group keeps memory to one group: a single Parquet file holds
    the metadata of every row group in memory until it is closed, which grows
    with the plate. pandas, pyarrow, DuckDB, CytoTable and pycytominer read the
    folder as one table. Every part has the first part's schema.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._schema: pa.Schema | None = None
        self.parts = 0
        self.rows = 0

    def append(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._schema is None:
            self._schema = table.schema
            self.path.mkdir(parents=True, exist_ok=True)
        else:
            table = _conform(table, self._schema)
        self.parts += 1
        pq.write_table(table, str(self.path / f"part-{self.parts:05d}.parquet"))
        self.rows += table.num_rows

    def close(self) -> None:
        """Nothing is held open (kept for symmetry with the CSV writers)."""


def _conform(table: pa.Table, schema: Any) -> pa.Table:
    """A later group's table in the first group's schema (absent columns as nulls)."""
    import pyarrow as pa

    arrays = []
    for schema_field in schema:
        if schema_field.name in table.column_names:
            arrays.append(table[schema_field.name].cast(schema_field.type))
        else:
            arrays.append(pa.nulls(table.num_rows, schema_field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


@dataclass
class PlateWriter:
    """Parquet files and per-well profiles of one plate, fed one group at a time."""

    folder: Path
    last_group_of_well: Mapping[str, int]  # well -> index of its last group
    appenders: dict[str, ParquetAppender] = field(default_factory=dict)
    pending: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    wells: list[dict[str, Any]] = field(default_factory=list)  # one profile row per well
    cells_per_well: dict[str, int] = field(default_factory=dict)

    def _append(self, name: str, frame: pd.DataFrame) -> None:
        if name not in self.appenders:
            self.appenders[name] = ParquetAppender(self.folder / f"{name}.parquet")
        self.appenders[name].append(frame)

    def add(self, index: int, frames: Mapping[str, pd.DataFrame]) -> None:
        """Group ``index``'s tables (name -> typed frame, ImageNumbers plate-wide)."""
        for name, frame in frames.items():
            if name in tables.METADATA_TABLES + tables.COMPARTMENTS:
                self._append(name, cytotable_frame(name, frame))
        cells = single_cells(frames)
        if cells is None or cells.empty:
            self._flush(index)
            return
        self._append("single_cells", cells)
        if "Metadata_Well" in cells.columns:
            for well, part in cells.groupby("Metadata_Well", sort=False):
                self.pending.setdefault(str(well), []).append(part)
        self._flush(index)

    def _flush(self, index: int) -> None:
        import pandas as pd

        done = [w for w in self.pending if self.last_group_of_well.get(w, -1) <= index]
        for well in done:
            frame = pd.concat(self.pending.pop(well), ignore_index=True)
            self.cells_per_well[well] = len(frame)
            self.wells.extend(aggregate_well(frame).to_dict("records"))

    def close(self) -> dict[str, int]:
        self._flush(1 << 30)
        for appender in self.appenders.values():
            appender.close()
        return {name: appender.rows for name, appender in self.appenders.items()}


def aggregate_well(cells: pd.DataFrame) -> pd.DataFrame:
    """The well's profile: the median of every feature over its cells (pycytominer)."""
    _numpy_typing()
    from pycytominer import aggregate

    strata = [c for c in STRATA if c in cells.columns]
    if "Metadata_Plate" not in strata:
        cells = cells.assign(Metadata_Plate="plate")
        strata = ["Metadata_Plate", *strata]
    profile = aggregate(
        cells,
        strata=strata,
        features=features(cells),
        operation="median",
        compute_object_count=True,
        object_feature="Metadata_ObjectNumber",
    )
    return profile  # type: ignore[no-any-return]


def read_platemap(path: Path) -> pd.DataFrame:
    """A platemap CSV with its well column named ``Metadata_Well``, every column ``Metadata_``."""
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    well = next((c for c in WELL_COLUMNS if c in frame.columns), None)
    if well is None:
        raise ValueError(
            f"the platemap has no well column (one of {', '.join(WELL_COLUMNS)}); "
            f"it has {', '.join(frame.columns)}"
        )
    frame = frame.rename(columns={well: "Metadata_Well"})
    return frame.rename(
        columns={c: c if c.startswith("Metadata_") else f"Metadata_{c}" for c in frame.columns}
    )


def negative_controls(platemap: pd.DataFrame) -> str | None:
    """pycytominer's ``samples`` query for the negative controls the platemap names.

    JUMP's ``control_type == negcon`` first, then ``pert_type == control``, then a
    ``Treatment`` of ``DMSO`` (the usual vehicle control).
    """
    rules = (
        ("Metadata_control_type", "negcon"),
        ("Metadata_pert_type", "control"),
        ("Metadata_Treatment", "DMSO"),
    )
    for column, value in rules:
        if column in platemap.columns and (platemap[column] == value).any():
            return f"{column} == '{value}'"
    return None


@dataclass(frozen=True)
class Profiles:
    profiles: pd.DataFrame  # median per well, annotated
    normalized: pd.DataFrame
    selected: pd.DataFrame
    controls: str  # the samples normalised to
    unannotated: tuple[str, ...] = ()  # wells with a profile that the platemap does not name


def build_profiles(wells: Sequence[Mapping[str, Any]], platemap: pd.DataFrame | None) -> Profiles:
    """Annotate, normalise (to negative controls if named) and feature-select well profiles."""
    import pandas as pd

    _numpy_typing()
    from pycytominer import annotate, feature_select, normalize

    profiles = pd.DataFrame.from_records(list(wells)).sort_values(STRATA, ignore_index=True)
    names = [c for c in profiles.columns if c.startswith(tables.COMPARTMENTS)]
    meta = [c for c in profiles.columns if c not in names]
    samples = "all"
    unannotated: list[str] = []
    if platemap is not None:
        aligned, unannotated = align_platemap(platemap, profiles["Metadata_Well"].tolist())
        profiles = annotate(
            profiles, aligned, join_on=["Metadata_Well", "Metadata_Well"],
            add_metadata_id_to_platemap=False,
        )  # fmt: skip
        profiles = profiles.sort_values(STRATA, ignore_index=True)
        meta = [c for c in profiles.columns if c not in names]
        samples = negative_controls(platemap) or "all"
    normalized = normalize(
        profiles, features=names, meta_features=meta, samples=samples, method="standardize"
    )
    selected = feature_select(
        normalized, features=names, operation=FEATURE_SELECTION, na_cutoff=0.05
    )
    return Profiles(profiles, normalized, selected, samples, tuple(unannotated))


def align_platemap(platemap: pd.DataFrame, wells: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """The platemap ready for pycytominer's ``annotate`` (an inner join on the well's text).

    Its wells are spelt as the profiles spell them (``A1`` in the platemap joins ``A01``
    of the images' metadata), and each profiled well it does not name gets an empty row,
    so its profile is kept unannotated instead of dropped. Returns those wells too.
    """
    import pandas as pd

    spelling = {platemap_module.well_key(str(well)): str(well) for well in wells}
    frame = platemap.copy()
    frame["Metadata_Well"] = [
        spelling.get(platemap_module.well_key(str(well)), str(well))
        for well in frame["Metadata_Well"]
    ]
    named = set(frame["Metadata_Well"])
    missing = sorted({str(well) for well in wells} - named)
    if missing:
        log.warning("%d wells not in the platemap, kept unannotated: %s", len(missing), missing)
        empty = pd.DataFrame({column: [""] * len(missing) for column in frame.columns})
        empty["Metadata_Well"] = missing
        frame = pd.concat([frame, empty], ignore_index=True)
    return frame, missing


def write_frame(frame: pd.DataFrame, folder: Path, stem: str) -> list[Path]:
    """``stem.parquet`` and ``stem.csv`` in ``folder``.

    The CSV's text cells (platemap annotations, metadata from file names) are defused
    for spreadsheets (``spreadsheet.defused``); the Parquet keeps them as they are.
    """
    parquet, text = folder / f"{stem}.parquet", folder / f"{stem}.csv"
    frame.to_parquet(parquet, index=False)
    shown = frame.copy()
    for column in shown.columns:
        if not _is_numeric(shown[column]):
            shown[column] = shown[column].map(spreadsheet.csv_cell)
    shown.to_csv(text, index=False)
    return [parquet, text]


def _is_numeric(column: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(column)) and not pd.api.types.is_bool_dtype(column)
