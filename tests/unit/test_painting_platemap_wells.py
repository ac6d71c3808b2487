"""A platemap's wells join the plate's wells however they are spelt (qa5).

The submission takes ``A1`` as a well name, as labs and instruments write it, while the
images' metadata may say ``A01``. Before, the merge joined them as text with pycytominer's
``annotate`` (an inner join): no well matched, and after every well had run the merge
failed in ``normalize`` ("Found array with 0 sample(s)"). A platemap naming only some of
the wells silently dropped the others' profiles. Now wells join by their position on the
plate (``A1`` = ``A01`` = ``a01``), a well the platemap does not name keeps its profile,
unannotated, and is listed; ``A1`` and ``A01`` in one platemap are one well named twice.

pandas and pycytominer live only in the CellProfiler virtualenv (and the Batch image): the
profile tests run a script with its Python, as ``test_painting_profiles`` does.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from chalicelib.painting import plate, platemap
from tests.unit.test_painting_profiles import ROOT, python39  # noqa: F401

SCRIPT = r"""
import json, os, sys
from pathlib import Path
import pandas as pd
from chalicelib.painting import profiles

folder, body = Path(sys.argv[1]), sys.argv[2]
wells = []
for well, area in (("A01", 100.0), ("A02", 200.0), ("B01", 300.0)):
    cells = pd.DataFrame({"Metadata_Plate": ["P"] * 3, "Metadata_Well": [well] * 3,
                          "Metadata_ObjectNumber": [1.0, 2.0, 3.0],
                          "Cells_AreaShape_Area": [area, area + 10, area + 20],
                          "Nuclei_AreaShape_Area": [10.0, 20.0, 30.0]})
    wells.extend(profiles.aggregate_well(cells).to_dict("records"))
(folder / "platemap.csv").write_text(body)
built = profiles.build_profiles(wells, profiles.read_platemap(folder / "platemap.csv"))
table = built.profiles.set_index("Metadata_Well")
print(json.dumps({
    "wells": sorted(table.index),
    "treatment": table["Metadata_Treatment"].to_dict(),
    "area": table["Cells_AreaShape_Area"].to_dict(),
    "normalized": sorted(built.normalized["Metadata_Well"]),
    "controls": built.controls,
    "unannotated": list(built.unannotated),
}), flush=True)
os._exit(0)  # (pyarrow's threads sometimes abort the interpreter's exit under load)
"""


def _profiles(python: Path, folder: Path, body: str) -> dict:
    done = subprocess.run(
        [str(python), "-c", SCRIPT, str(folder), body],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_platemap_spelling_wells_a1_annotates_the_a01_profiles(
    python39: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    found = _profiles(python39, tmp_path, "well_position,Treatment\nA1,DMSO\na2,drug\nB1,drug\n")
    assert found["wells"] == ["A01", "A02", "B01"]  # the images' spelling kept
    assert found["treatment"] == {"A01": "DMSO", "A02": "drug", "B01": "drug"}
    assert found["area"] == {"A01": 110.0, "A02": 210.0, "B01": 310.0}
    assert found["controls"] == "Metadata_Treatment == 'DMSO'"
    assert found["unannotated"] == []


def test_a_well_the_platemap_does_not_name_keeps_its_profile(
    python39: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    found = _profiles(python39, tmp_path, "Well,Treatment\nA01,DMSO\nA02,drug\n")
    assert found["wells"] == ["A01", "A02", "B01"]
    assert found["normalized"] == ["A01", "A02", "B01"]
    assert found["treatment"]["B01"] == ""
    assert found["unannotated"] == ["B01"]


@pytest.mark.parametrize(
    "name, key",
    [("A1", "A01"), ("a01", "A01"), (" B3 ", "B03"), ("P24", "P24"), ("AF48", "AF48"), ("x", "x")],
)
def test_well_key(name: str, key: str) -> None:
    assert platemap.well_key(name) == key


def test_a1_and_a01_in_one_platemap_are_one_well_named_twice() -> None:
    [problem] = plate.platemap_problems(b"Well,Treatment\nA1,DMSO\nA01,drug\n")
    assert "more than once" in problem and "A01" in problem


# -- a plate's name never chooses a path on disk ----------------------------------------------
@pytest.mark.parametrize("value", ["..", ".", "...", "../x"])
def test_a_plate_named_dots_is_a_plain_folder_name(value: str) -> None:
    # The merge writes a plate to <work>/plates/<name>/, uploads every file under it and
    # removes it. Before, a Metadata_Plate of ".." (a LoadData CSV's column, or a file name
    # starting with it) named the work folder itself: its platemap and scratch were uploaded
    # as the plate's files, then deleted, failing the next plate's merge.
    group = plate.Group((("Metadata_Plate", value), ("Metadata_Well", "A01")), ())
    name = plate.plate_name(group)
    assert name not in ("", ".", "..") and "/" not in name
    assert name.strip(".")  # not dots only


# -- profile CSVs open in a spreadsheet as text -----------------------------------------------
DEFUSE_SCRIPT = r"""
import csv, json, os, sys
from pathlib import Path
import pandas as pd
from chalicelib.painting import profiles

folder = Path(sys.argv[1])
frame = pd.DataFrame({"Metadata_Well": ["A01", "A02"],
                      "Metadata_Treatment": ['=HYPERLINK("http://x","y")', "DMSO"],
                      "Cells_AreaShape_Area": [-1.5, 2.0]})
profiles.write_frame(frame, folder, "profiles")
with open(folder / "profiles.csv", newline="") as handle:
    rows = list(csv.DictReader(handle))
parquet = pd.read_parquet(folder / "profiles.parquet")
print(json.dumps({"csv": rows, "parquet": parquet["Metadata_Treatment"].tolist()}), flush=True)
os._exit(0)  # (pyarrow's threads sometimes abort the interpreter's exit under load)
"""


def test_a_platemap_formula_is_text_in_the_profile_csv(
    python39: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    # qa3's lead: profiles*.csv were written by pandas as they were: a platemap annotation
    # "=HYPERLINK(...)" ran as a formula when the CSV was opened in a spreadsheet
    done = subprocess.run(
        [str(python39), "-c", DEFUSE_SCRIPT, str(tmp_path)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    [first, second] = found["csv"]
    assert first["Metadata_Treatment"] == '\'=HYPERLINK("http://x","y")'
    assert second["Metadata_Treatment"] == "DMSO"
    assert float(first["Cells_AreaShape_Area"]) == -1.5  # numbers stay numbers
    assert found["parquet"][0] == '=HYPERLINK("http://x","y")'  # data, not a spreadsheet
