#!/usr/bin/env python3
"""A stand-in for ``cellprofiler -c -r`` with CellProfiler's observable behaviour.

For tests of the job runner and the local Batch executor where CellProfiler is
not the point. Like CellProfiler 4.2.8.1 headless, it:

- logs the MySQL warning, then "Failed to load pipeline" and exits 0 with no
  exports when a module name is unknown (a partly malformed ``.cppipe``);
- exits 1 when no input file matches the pipeline's first channel rule;
- writes the ExportToSpreadsheet tables (``Image.csv`` and one per object),
  one Image row per image set in the ``-f/-l`` range with the global ImageNumber.

``FAKE_CELLPROFILER_SKIP=Cells.csv`` leaves that table out (a missing output).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib.painting import pipeline

KNOWN = {
    "Images", "Metadata", "NamesAndTypes", "Groups", "CorrectIlluminationApply",
    "IdentifyPrimaryObjects", "IdentifySecondaryObjects", "IdentifyTertiaryObjects",
    "MeasureObjectIntensity", "CalculateMath", "OverlayOutlines", "SaveImages",
    "ExportToSpreadsheet", "MeasureObjectSizeShape", "MeasureImageIntensity",
}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-c", action="store_true")
    parser.add_argument("-r", action="store_true")
    parser.add_argument("-p")
    parser.add_argument("-i")
    parser.add_argument("-o")
    parser.add_argument("-f", type=int, default=1)
    parser.add_argument("-l", type=int, default=None)
    parser.add_argument("--version", action="store_true")
    args = parser.parse_args()
    if args.version:
        print("4.2.8.1")
        return 0
    print("MySQL could not be loaded.")
    info = pipeline.inspect_pipeline(Path(args.p).read_text())
    unknown = [name for name in info.module_names if name not in KNOWN]
    names = sorted(p.name for p in Path(args.i).rglob("*") if p.is_file())
    sets = pipeline.estimate_image_sets(info, names) or 0
    if unknown:
        print("Failed to load pipeline")
        print(f"ValueError: Could not find the {unknown[0]} module")
        return 0
    if sets == 0:
        print("Error: no image sets matched")
        return 1
    last = min(args.l or sets, sets)
    out = Path(args.o)
    out.mkdir(parents=True, exist_ok=True)
    skip = os.environ.get("FAKE_CELLPROFILER_SKIP", "")
    for name in pipeline.expected_outputs(info):
        if name == skip:
            continue
        if name.endswith("Image.csv"):
            rows = [f"{10 + n},{n}" for n in range(args.f, last + 1)]
            text = "Count_Nuclei,ImageNumber\n" + "".join(r + "\n" for r in rows)
        else:
            rows = [f"{n},{k},{n * 0.5 + k}" for n in range(args.f, last + 1) for k in (1, 2)]
            text = "ImageNumber,ObjectNumber,Intensity\n" + "".join(r + "\n" for r in rows)
        (out / name).write_text(text)
    for n in range(args.f, last + 1):
        print(
            f"Image # {n}, module ExportToSpreadsheet # {len(info.modules)}: CPU_time = 0.00 secs"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
