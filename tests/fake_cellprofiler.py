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

It reads the ``.cppipe`` with its own few regular expressions and imports nothing of
the project, so a test of the runner's sharding and merging cannot agree with the
production pipeline parser by construction: the fake knows only CellProfiler's side
(``file does contain "…"`` rules matched in order; ExportToSpreadsheet's file names),
and refuses (exit 2) any rule it does not know rather than guess.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

KNOWN = {
    "Images", "Metadata", "NamesAndTypes", "Groups", "CorrectIlluminationApply",
    "IdentifyPrimaryObjects", "IdentifySecondaryObjects", "IdentifyTertiaryObjects",
    "MeasureObjectIntensity", "CalculateMath", "OverlayOutlines", "SaveImages",
    "ExportToSpreadsheet", "MeasureObjectSizeShape", "MeasureImageIntensity",
}  # fmt: skip


def exported_files(text: str) -> list[str]:
    """The CSVs ExportToSpreadsheet writes: ``<object>.csv`` per exported object type."""
    module = text[text.index("ExportToSpreadsheet:") :]
    prefix = ""
    if re.search(r"Add a prefix to file names\?:Yes", module):
        prefix = re.search(r"Filename prefix:(.*)", module).group(1).strip()  # type: ignore[union-attr]
    if re.search(r"Export all measurement types\?:Yes", module):
        return [prefix + "Image.csv"]
    exported = re.findall(r"Data to export:(.*)", module)
    return [prefix + data.strip() + ".csv" for data in exported if data.strip() != "Do not use"]


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
    text = Path(args.p).read_text()
    modules = re.findall(r"^(\w+):\[module_num:", text, flags=re.M)
    unknown = [name for name in modules if name not in KNOWN]
    names = sorted(p.name for p in Path(args.i).rglob("*") if p.is_file())
    rules = re.findall(r"^\s*Select the rule criteria:(.*)$", text, flags=re.M)
    contains = [re.fullmatch(r'and \(file does contain "([^"]+)"\)', r.strip()) for r in rules]
    if not rules or not all(contains):
        print(f"fake CellProfiler: cannot evaluate the rules {rules!r}")
        return 2
    sets = min(sum(1 for n in names if m.group(1) in n) for m in contains if m)
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
    for name in exported_files(text):
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
        print(f"Image # {n}, module ExportToSpreadsheet # {len(modules)}: CPU_time = 0.00 secs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
