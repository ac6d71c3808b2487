"""Per-plate Parquet and per-well profiles, under the CellProfiler virtualenv's Python 3.9.

pandas, pyarrow and pycytominer live only there (and in the Batch image), so
this runs a small script with that interpreter on tables written here.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv-cellprofiler" / "bin" / "python"

SCRIPT = r"""
import json, sys
from pathlib import Path
import pandas as pd
from chalicelib.painting import profiles, tables

folder = Path(sys.argv[1])
# Two groups (wells), one image each; cells of A02 are twice as large.
frames = []
for index, (well, area) in enumerate((("A01", 100.0), ("A02", 200.0))):
    number = index + 1
    image = pd.DataFrame({"ImageNumber": [number], "Metadata_Plate": ["P"],
                          "Metadata_Well": [well], "Metadata_Site": ["1"], "Count_Cells": [3]})
    objects = {"ImageNumber": [number] * 3, "ObjectNumber": [1, 2, 3]}
    cells = pd.DataFrame({**objects, "Parent_Nuclei": [1, 2, 3],
                          "AreaShape_Area": [area, area + 10, area + 20]})
    nuclei = pd.DataFrame({**objects, "AreaShape_Area": [10.0, 20.0, 30.0 * number]})
    cyto = pd.DataFrame({**objects, "Parent_Cells": [1, 2, 3], "Parent_Nuclei": [1, 2, 3],
                         "Intensity_MeanIntensity_DNA": [0.1, 0.2, 0.3 * number]})
    frames.append({n: profiles.typed(f) for n, f in
                   (("Image", image), ("Cells", cells), ("Nuclei", nuclei), ("Cytoplasm", cyto))})
writer = profiles.PlateWriter(folder, {"A01": 0, "A02": 1})
for index, group in enumerate(frames):
    writer.add(index, group)
rows = writer.close()
platemap = pd.DataFrame({"well_position": ["A01", "A02"], "control_type": ["negcon", "trt"]})
platemap.to_csv(folder / "platemap.csv", index=False)
built = profiles.build_profiles(writer.wells, profiles.read_platemap(folder / "platemap.csv"))
cells = pd.read_parquet(folder / "single_cells.parquet")
print(json.dumps({
    "rows": rows,
    "cells_per_well": writer.cells_per_well,
    "medians": built.profiles.set_index("Metadata_Well")["Cells_AreaShape_Area"].to_dict(),
    "controls": built.controls,
    "normalized_control": built.normalized.set_index("Metadata_Well")
        .loc["A01", "Cells_AreaShape_Area"],
    "single_cell_columns": sorted(cells.columns)[:8],
    "nuclei_columns": sorted(pd.read_parquet(folder / "Nuclei.parquet").columns),
    "image_numbers": sorted(cells["Metadata_ImageNumber"].unique().tolist()),
}))
"""


@pytest.fixture(scope="module")
def python39() -> Path:
    if not PYTHON.exists():
        pytest.skip("no .venv-cellprofiler here: run `make cellprofiler`")
    probe = subprocess.run(
        [str(PYTHON), "-c", "import numpy.typing, pycytominer, pyarrow"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip("the CellProfiler virtualenv lacks pycytominer: run `make cellprofiler`")
    return PYTHON


def test_well_profiles_parquet_and_normalisation(python39: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(python39), "-c", SCRIPT, str(tmp_path)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["rows"] == {"Image": 2, "Cells": 6, "Nuclei": 6, "Cytoplasm": 6,
                             "single_cells": 6}  # fmt: skip
    assert found["cells_per_well"] == {"A01": 3, "A02": 3}
    assert found["medians"] == {"A01": 110.0, "A02": 210.0}
    assert found["controls"] == "Metadata_control_type == 'negcon'"
    assert found["normalized_control"] == 0.0  # the control is the reference
    assert found["image_numbers"] == [1.0, 2.0]
    assert "Nuclei_AreaShape_Area" in found["nuclei_columns"]
    assert {"Metadata_ImageNumber", "Metadata_ObjectNumber"} <= set(found["nuclei_columns"])
    assert found["single_cell_columns"][0].startswith("Cells_")
