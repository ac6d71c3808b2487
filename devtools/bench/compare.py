"""``lab bench count --against REF``: this tree's counting and another commit's, side by side.

Speed on this shared machine can only be compared in one process: single runs of
the same code vary by ±15 % with the other work on the machine. So the other
commit's ``chalicelib`` is extracted (``git archive``) into a temporary folder as a
package of another name, both ``count_cells`` are run on the same images,
alternating image by image (which one goes first alternates too), one OpenCV
thread, and the minimum CPU time per image over the rounds is kept.

Results are compared at the same time, image by image: the count, a hash of the
label image, every cell's values, the parameters and the QC block. With
``--identical`` every image ``lab bench count`` counts is compared (its sets, coins,
the large fields, every robustness transformation of the fluorescence and
phase-contrast crops, the six phase-contrast photos when present), timed once each;
without it only the images of the speed figures (``--large``: and the large fields)
are compared, timed ``rounds`` times.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from chalicelib.cells import imaging
from chalicelib.cells.counting import count_cells
from chalicelib.config import PROJECT_DIR
from devtools.bench import count as bench
from devtools.bench import robustness

Image = tuple[str, str, np.ndarray, dict[str, Any]]  # set, name, gray, count_cells keywords
Counter = Callable[..., Any]
BASE_PACKAGE = "chalicelib_base"


def base_counter(ref: str, into: Path) -> Counter:
    """``count_cells`` of commit ``ref``, imported as ``chalicelib_base`` from ``into``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "chalicelib"],
        cwd=PROJECT_DIR,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "chalicelib").rename(into / BASE_PACKAGE)
    pattern = re.compile(r"\bchalicelib(?=[. ])")
    for path in (into / BASE_PACKAGE).rglob("*.py"):
        path.write_text(pattern.sub(BASE_PACKAGE, path.read_text()))
    sys.path.insert(0, str(into))
    counting = importlib.import_module(f"{BASE_PACKAGE}.cells.counting")
    return counting.count_cells  # type: ignore[no-any-return]


def speed_images(large: bool) -> list[Image]:
    """The images of ``lab bench count``'s speed figures (and the large fields)."""
    annotated = robustness.load_annotated(bench.ANNOTATED)
    groups: list[tuple[str, list[robustness.Annotated]]] = [
        ("synthetic", bench.synthetic_cases()),
        ("dsb2018", bench.dsb()),
        *((f"{c.image_type} {c.split}", [c]) for c in annotated),
    ]
    if large:
        groups.append(("large fields", bench.large_fields()))
    return [(name, c.name, imaging.to_gray(c.image), {}) for name, cases in groups for c in cases]


def all_images() -> Iterator[Image]:
    """Every image ``lab bench count`` counts, with the keywords it counts them with."""
    yield from speed_images(large=True)
    for case in bench.coins():
        yield "coins", case.name, imaging.to_gray(case.image), {}
    annotated = robustness.load_annotated(bench.ANNOTATED)
    fluorescence = [c for c in annotated if c.image_type == "fluorescence"] + bench.dsb()
    phase = [c for c in annotated if c.image_type == "phase-contrast"]
    for group, cases in (("robustness", fluorescence), ("phase robustness", phase)):
        for name, transform in robustness.TRANSFORMATIONS.items():
            keywords = bench.phase_keywords(name) if group.startswith("phase") else {}
            for case in cases:
                for changed in transform(case):
                    yield (
                        f"{group} / {name}",
                        changed.name,
                        imaging.to_gray(changed.image),
                        keywords,
                    )
    for path in sorted((bench.SHARED / "phase-contrast").glob("*.JPG")):
        image = np.asarray(cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
        yield "phase-contrast photos", path.name, imaging.to_gray(image), {}


def summary(counting: Any) -> dict[str, Any]:
    """What must not change: count, label image, cells, parameters, QC, verdict."""
    labels = counting.labels
    quality = counting.quality
    return {
        "count": counting.count,
        "labels": hashlib.sha1(labels.tobytes()).hexdigest() if labels is not None else None,
        "cells": [c.to_dict() for c in (*counting.cells, *counting.flagged)],
        "parameters": dict(counting.parameters),
        "qc": None if quality is None else quality.qc,
        "reliable": None if quality is None else quality.reliable,
    }


def compare(ref: str, rounds: int, large: bool, identical: bool, as_json: bool) -> int:
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as folder:
        base = base_counter(ref, Path(folder))
        images = list(all_images()) if identical else speed_images(large)
        rounds = 1 if identical else rounds
        best: dict[str, list[float]] = {}
        changed: list[str] = []
        for r in range(rounds):
            for i, (group, name, gray, keywords) in enumerate(images):
                pair = [("base", base), ("this", count_cells)]
                found = {}
                for tag, counter in pair if (i + r) % 2 == 0 else pair[::-1]:
                    cpu = time.process_time()
                    result = counter(gray, **keywords)
                    cpu = time.process_time() - cpu
                    times = best.setdefault(f"{group}\t{name}\t{tag}", [])
                    times.append(cpu)
                    if r == 0:
                        found[tag] = json.dumps(summary(result), sort_keys=True, default=str)
                if r == 0 and found["base"] != found["this"]:
                    changed.append(f"{group} / {name}")
        report = _report(images, best, changed, ref)
    if as_json:
        print(json.dumps(report))
    else:
        _print(report)
    return 0


# ``lab bench count``'s overall speed figure leaves out the coins and the large fields.
OUTSIDE_OVERALL = ("coins", "large fields")
OVERALL = "the overall figure's sets"


def _class(group: str, megapixels: float) -> str:
    kind = "phase contrast" if group.startswith("phase") else "fluorescence"
    size = next(n for low, high, n in bench.SIZE_CLASSES if low <= megapixels < high)
    return f"{kind} {size}"


def _report(
    images: list[Image], best: dict[str, list[float]], changed: list[str], ref: str
) -> dict[str, Any]:
    rows: dict[str, dict[str, float]] = {}  # per image type and size class, and overall
    sets: dict[str, dict[str, float]] = {}  # per set
    for group, name, gray, _ in images:
        megapixels = gray.size / 1e6
        keys = [_class(group, megapixels), "all"] + ([] if group in OUTSIDE_OVERALL else [OVERALL])
        for table, key in [(rows, key) for key in keys] + [(sets, group)]:
            row = table.setdefault(key, {"images": 0, "megapixels": 0.0, "base": 0.0, "this": 0.0})
            row["images"] += 1
            row["megapixels"] += megapixels
            for tag in ("base", "this"):
                row[tag] += min(best[f"{group}\t{name}\t{tag}"])
    for row in [*rows.values(), *sets.values()]:
        for tag in ("base", "this"):
            row[tag] = round(row[tag] * 1e3 / row["megapixels"], 1)
        row["megapixels"] = round(row["megapixels"], 2)
    return {
        "against": ref,
        "cpu_ms_per_mp": rows,
        "cpu_ms_per_mp_by_set": sets,
        "images": len(images),
        "changed": changed,
    }


def _print(report: dict[str, Any]) -> None:
    print(f"\nCPU ms/MP, minimum per image, {report['against']} vs this tree (alternated):")
    rows = report["cpu_ms_per_mp"]
    for key, row in sorted(rows.items(), key=lambda item: item[0] in ("all", OVERALL)):
        _print_row(key, row)
    print("per set:")
    for key, row in report["cpu_ms_per_mp_by_set"].items():
        _print_row(key, row)
    print(f"results compared on {report['images']} images: {len(report['changed'])} differ")
    for name in report["changed"]:
        print(f"  {name}")


def _print_row(key: str, row: dict[str, float]) -> None:
    ratio = row["this"] / row["base"] if row["base"] else float("nan")
    print(
        f"  {key:<28}{row['images']:>4.0f} images {row['megapixels']:>6.2f} MP"
        f"  {row['base']:>7.1f} -> {row['this']:>7.1f}  ({100 * (ratio - 1):+.1f} %)"
    )
