"""``lab bench painting --plate WELLSxSITES``: a generated plate run by well groups.

What a Batch array child does, measured on this machine with real CellProfiler:

0. **Unsplit**: the whole plate as one CellProfiler run, the reference: the merged
   per-group tables must hold the same per-object rows (times and paths aside).
1. **Per site**: a group (one well) run alone: wall time per site, CellProfiler's
   own module time per site, and the start-up every run pays (Java, the pipeline).
2. **Speed-up**: ``workers`` groups one after another, then ``workers`` other
   groups at once; the ratio of the two wall times.
3. **Merge**: the plate merge (CSVs, Parquet, profiles, heatmap) of the real
   group outputs, and of the same outputs copied to 4× and 16× as many groups
   (wells relabelled), in a fresh process each: wall time and peak memory.
4. **Projection** for a 384-well × 9-site plate on AWS Batch, from the measured
   per-site and start-up times and the on-demand price of the instance (below).

Prices (AWS on-demand, Linux, us-east-1, published per hour): c5.xlarge (4 vCPU,
8 GiB) $0.17; CellProfiler runs one process per vCPU, so a vCPU-hour costs
$0.17 / 4 = $0.0425. Spot prices vary by the hour and are not used.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.painting import pipeline, plate
from devtools.synthetic.plate import REGEX, write_plate

PIPELINE = (
    Path(__file__).resolve().parents[2] / "samples" / "painting" / "plate" / "PlateAnalysis.cppipe"
)
PRICE_PER_HOUR = 0.17  # c5.xlarge on-demand, us-east-1, Linux
VCPUS_PER_INSTANCE = 4
INSTANCE = "c5.xlarge"
TARGET_WELLS, TARGET_SITES = 384, 9
FLEET_VCPUS = 256  # the compute environment's maxvCpus assumed for the projection
JUMP_SITE_S = 78.0  # JUMP_analysis_v3.cppipe per site (docs/cell-painting.md)
MODULE_TIME = r"Image # (?P<image>\d+), module .*?Wall_time = (?P<wall>[\d.]+) secs"


@dataclass(frozen=True)
class GroupRun:
    group: str
    sites: int
    wall_s: float
    module_s: float  # CellProfiler's module time, all sites
    output: Path


def parse_plate(text: str) -> tuple[int, int]:
    """``4x2`` -> (4 wells, 2 sites).

    >>> parse_plate("4x2"), parse_plate("16X9")
    ((4, 2), (16, 9))
    """
    wells, _, sites = text.lower().partition("x")
    if not (wells.isdigit() and sites.isdigit()) or int(wells) < 1 or int(sites) < 1:
        raise ValueError(f"--plate takes WELLSxSITES, e.g. 4x2, not {text!r}")
    return int(wells), int(sites)


def module_seconds(log_text: str) -> float:
    import re

    return sum(float(m["wall"]) for m in re.finditer(MODULE_TIME, log_text))


def run_group(
    command: str,
    group: plate.Group,
    images: Path,
    scratch: Path,
    grouping: Sequence[str],
    group_by: Sequence[str],
) -> GroupRun:
    """CellProfiler on the group's own images only, as a Batch child runs it."""
    folder = scratch / group.folder
    inputs = folder / "input"
    inputs.mkdir(parents=True)
    for key in group.keys:
        os.link(images / key, inputs / key)
    arguments = [
        command,
        "-c",
        "-r",
        "-p",
        str(PIPELINE),
        "-i",
        str(inputs),
        "-o",
        str(folder / "output"),
        *plate.group_arguments(group, group_by, grouping),
    ]
    started = time.perf_counter()
    done = subprocess.run(arguments, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    log = done.stdout + done.stderr
    if (
        done.returncode != 0
        or pipeline.load_failure(log)
        or not (folder / "output" / "Image.csv").exists()
    ):
        raise RuntimeError(f"CellProfiler failed on {group.name}: {log[-2000:]}")
    return GroupRun(group.name, len(group.sites), wall, module_seconds(log), folder / "output")


def run_many(
    command: str, groups: Sequence[plate.Group], workers: int, **kw: Any
) -> tuple[float, list[GroupRun], float]:
    """(wall s, runs, CPU s of the CellProfiler processes) of ``groups`` on ``workers`` threads."""
    cpu = _children_cpu()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        runs = list(pool.map(lambda g: run_group(command, g, **kw), groups))
    return time.perf_counter() - started, runs, _children_cpu() - cpu


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def replicate(runs: Sequence[GroupRun], copies: int, target: Path) -> list[dict[str, Any]]:
    """The group outputs ``copies`` times, each copy on other wells (Image.csv relabelled)."""
    from devtools.synthetic.plate import well_names

    wells = (
        well_names(len(runs) * copies, columns=24)
        if len(runs) * copies > 32
        else well_names(len(runs) * copies)
    )
    described: list[dict[str, Any]] = []
    for copy in range(copies):
        for index, run in enumerate(runs):
            well = wells[copy * len(runs) + index]
            folder = target / f"{copy:03d}-{index:04d}"
            folder.mkdir(parents=True)
            for table in run.output.glob("*.csv"):
                if table.name == "Image.csv":
                    _relabel(table, folder / table.name, well)
                else:
                    shutil.copyfile(table, folder / table.name)
            with open(run.output / "Image.csv") as image:
                image_sets = sum(1 for _ in image) - 1
            described.append(
                {
                    "name": f"{copy}-{run.group}",
                    "wells": [well],
                    "image_sets": image_sets,
                    "tables": sorted(p.name for p in folder.glob("*.csv")),
                    "folder": str(folder),
                }
            )
    described.sort(key=lambda g: str(g["wells"][0]))
    return described


def _relabel(source: Path, target: Path, well: str) -> None:
    with open(source, newline="") as read, open(target, "w", newline="") as write:
        reader = csv.DictReader(read)
        writer = csv.DictWriter(write, fieldnames=reader.fieldnames or [], lineterminator="\n")
        writer.writeheader()
        for row in reader:
            row["Metadata_Well"] = well
            writer.writerow(row)


MERGE_SCRIPT = """
import json, resource, sys, time
from pathlib import Path
from chalicelib.painting import plate_merge as pm
spec = json.loads(Path(sys.argv[1]).read_text())
groups = [pm.GroupOutput(g["name"], tuple(g["wells"]), g["image_sets"], tuple(g["tables"]))
          for g in spec["groups"]]
folders = {g["name"]: Path(g["folder"]) for g in spec["groups"]}
started = time.perf_counter()
result = pm.merge_plate("SYN0001", groups, lambda g, t: pm.read_header(folders[g.name] / t),
                        lambda g: folders[g.name], Path(spec["out"]), Path(spec["platemap"]),
                        release=lambda folder: None)
print(json.dumps({"seconds": time.perf_counter() - started,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "cells": sum(result.cells_per_well.values())}))
"""


def time_merge(
    python: str, groups: list[dict[str, Any]], out: Path, platemap_csv: Path
) -> dict[str, float]:
    spec = out.parent / f"{out.name}.json"
    spec.write_text(json.dumps({"groups": groups, "out": str(out), "platemap": str(platemap_csv)}))
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [python, "-c", MERGE_SCRIPT, str(spec)],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the merge failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def projection(per_site_s: float, startup_s: float, merge_s: float) -> list[str]:
    """Wall time and cost of a 384-well × 9-site plate, one group per well."""
    groups = TARGET_WELLS
    group_s = startup_s + TARGET_SITES * per_site_s
    vcpu_hours = groups * group_s / 3600
    cost = vcpu_hours * PRICE_PER_HOUR / VCPUS_PER_INSTANCE
    waves = math.ceil(groups / FLEET_VCPUS)
    wall_s = waves * group_s + merge_s
    return [
        f"  {groups} groups x ({startup_s:.1f} s start-up + "
        f"{TARGET_SITES} sites x {per_site_s:.2f} s) "
        f"= {group_s:.0f} s per group; {vcpu_hours:.2f} vCPU-hours",
        f"  cost: {vcpu_hours:.2f} vCPU-h x ${PRICE_PER_HOUR} / {VCPUS_PER_INSTANCE} vCPU "
        f"({INSTANCE} "
        f"on-demand) = ${cost:.2f}",
        f"  wall on {FLEET_VCPUS} vCPUs: {waves} wave(s) x {group_s:.0f} s + merge {merge_s:.0f} s "
        f"= {wall_s / 60:.1f} min",
    ]


def bench_plate(command: str, python: str, wells: int, sites: int, workers: int) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="bench-plate-") as tmp:
        root = Path(tmp)
        write_plate(root / "plate", wells, sites)
        images = root / "plate" / "images"
        info = pipeline.inspect_pipeline(PIPELINE.read_text())
        planned = plate.plan_plate(
            keys=sorted(p.name for p in images.iterdir()),
            input_prefix="",
            group_by=["Plate", "Well"],
            regex=REGEX,
        )
        if planned.problems:
            raise RuntimeError("; ".join(planned.problems))
        kw = {
            "images": images,
            "scratch": root / "runs",
            "grouping": plate.pipeline_grouping(info),
            "group_by": planned.group_by,
        }
        groups = list(planned.groups)
        unsplit_s, reference = _unsplit(command, images, root / "unsplit")
        first = groups[:workers]
        serial_s, serial, serial_cpu = run_many(command, first, 1, **kw)
        second = groups[workers : 2 * workers]
        if len(second) < len(first):
            kw["scratch"] = root / "again"
            second = first
        parallel_s, parallel, parallel_cpu = run_many(command, second, workers, **kw)
        rest = [g for g in groups if g not in first and g not in second]
        _, others, _ = run_many(command, rest, workers, **{**kw, "scratch": root / "rest"})
        done = {r.group: r for r in [*serial, *parallel, *others]}
        runs = [done[g.name] for g in groups]
        sites_serial = sum(r.sites for r in serial)
        per_site_wall = serial_s / sites_serial
        per_site_module = sum(r.module_s for r in serial) / sites_serial
        startup = sum(r.wall_s - r.module_s for r in serial) / len(serial)
        load = os.getloadavg()[0]
        lines = [
            f"plate {wells} wells x {sites} sites x 3 channels ({len(groups)} well groups), "
            f"{workers} worker(s), {os.cpu_count()} cores, load average {load:.1f} at the end",
            f"per site: {per_site_wall:.2f} s wall ({per_site_module:.2f} s in modules); "
            f"start-up per run {startup:.1f} s",
            f"{len(first)} groups one after another: {serial_s:.1f} s ({serial_cpu:.1f} CPU s); "
            f"{len(second)} groups at once: {parallel_s:.1f} s ({parallel_cpu:.1f} CPU s); "
            f"speed-up {serial_s / parallel_s:.2f}x",
            "merge (CSV + Parquet + profiles + heatmap), fresh process each:",
            "  groups  cells  wall s  peak MiB",
        ]
        per_group_merge = 0.0
        for copies in (1, 4, 16):
            described = replicate(runs, copies, root / f"copies{copies}")
            figures = time_merge(
                python, described, root / f"merged{copies}", root / "plate" / "platemap.csv"
            )
            per_group_merge = figures["seconds"] / len(described)
            lines.append(
                f"  {len(described):>6}  {figures['cells']:>5}  {figures['seconds']:>6.1f}  "
                f"{figures['peak_mib']:>8.0f}"
            )
        lines.append(
            f"the plate as one CellProfiler run: {unsplit_s:.1f} s; the merged groups "
            f"against it: {_compare(reference, root / 'merged1')}"
        )
        lines.append(
            f"projection, {TARGET_WELLS} wells x {TARGET_SITES} sites on AWS Batch "
            f"(measured per-site and start-up times):"
        )
        lines += projection(per_site_module, startup, per_group_merge * TARGET_WELLS)
        lines.append(
            f"the same for the JUMP analysis pipeline ({JUMP_SITE_S:.0f} s per 1080x1080 "
            "8-channel site, measured once with CellProfiler 4.2.8.1 on this machine):"
        )
        lines += projection(JUMP_SITE_S, startup, per_group_merge * TARGET_WELLS)
        return lines


def _unsplit(command: str, images: Path, out: Path) -> tuple[float, Path]:
    arguments = [command, "-c", "-r", "-p", str(PIPELINE), "-i", str(images), "-o", str(out)]
    started = time.perf_counter()
    done = subprocess.run(arguments, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"CellProfiler failed on the whole plate: {done.stdout[-2000:]}")
    return time.perf_counter() - started, out


def _compare(reference: Path, merged: Path) -> str:
    """``identical`` when every per-object row and value agrees (times and paths aside)."""
    from chalicelib.painting import tables

    differences = []
    for name in ("Image.csv", "Nuclei.csv", "Cells.csv", "Cytoplasm.csv"):
        with open(reference / name, newline="") as a, open(merged / name, newline="") as b:
            left, right = list(csv.DictReader(a)), list(csv.DictReader(b))
        columns = tables.comparable_columns(left[0]) if left else []
        changed = sum(
            1 for x, y in zip(left, right, strict=False) for c in columns if x[c] != y.get(c)
        )
        if len(left) != len(right) or changed:
            differences.append(f"{name}: {len(left)} vs {len(right)} rows, {changed} values differ")
    return "identical per-object results" if not differences else "; ".join(differences)


def run(spec: str, workers: int = 0, cellprofiler: str | None = None) -> int:
    """The CLI's ``bench painting --plate WELLSxSITES``; 2 when CellProfiler is not installed."""
    import sys

    from devtools.local.batch import CELLPROFILER_VENV, cellprofiler_installed

    if cellprofiler is None and not cellprofiler_installed():
        print("error: CellProfiler is not installed: run `make cellprofiler`", file=sys.stderr)
        return 2
    wells, sites = parse_plate(spec)
    command = cellprofiler or str(CELLPROFILER_VENV / "bin" / "cellprofiler")
    python = str(CELLPROFILER_VENV / "bin" / "python")
    for line in bench_plate(command, python, wells, sites, workers or os.cpu_count() or 1):
        print(line, flush=True)
    return 0
