"""``lab bench count``: accuracy and speed of every counting method.

Accuracy: mean absolute percentage error (MAPE) of the count on the synthetic
sets (``synthetic.bench_sets``: counts 1-300, 8/16-bit, touching, dim, debris),
on scikit-image's ``coins`` (24), and on the real annotated nuclei image shipped
in ``bench/data`` (a 2018 Data Science Bowl image from StarDist's wheel, 125
nuclei). Speed: ms per megapixel on one core (``cv2.setNumThreads(1)``),
excluding decode. Then, for the default method: a 3840×2160 JPEG end to end
(decode, count, annotate, encode) and the peak memory of a 50-megapixel image.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from chalicelib.cells import imaging
from chalicelib.cells.counting import DEFAULT_METHOD, METHODS, count_cells
from chalicelib.config import PROJECT_DIR
from devtools.bench.progress import progress
from devtools.synthetic import cells as synthetic

REAL_IMAGE = PROJECT_DIR / "bench" / "data" / "dsb2018-img2d.tif"
REAL_LABELS = PROJECT_DIR / "bench" / "data" / "dsb2018-mask2d.tif"


@dataclass(frozen=True)
class Case:
    name: str
    image: np.ndarray
    truth: int


@dataclass(frozen=True)
class Score:
    mape: float
    counts: list[int]
    seconds: float
    megapixels: float


def cases() -> dict[str, list[Case]]:
    from skimage import data

    groups = {
        "synthetic": [Case(name, s.image, s.count) for name, s in synthetic.bench_sets()],
        "coins": [Case("coins", np.asarray(data.coins()), 24)],  # type: ignore[no-untyped-call]
    }
    if REAL_IMAGE.exists():
        labels = np.asarray(cv2.imread(str(REAL_LABELS), cv2.IMREAD_UNCHANGED))
        truth = int(len(np.unique(labels)) - 1)
        image = np.asarray(cv2.imread(str(REAL_IMAGE), cv2.IMREAD_UNCHANGED))
        groups["real"] = [Case("dsb2018", image, truth)]
    return groups


def score(method: str, group: list[Case], label: str) -> Score:
    errors, counts, seconds, pixels = [], [], 0.0, 0
    for case in progress(group, label):
        started = time.perf_counter()
        found = count_cells(case.image, method).count
        seconds += time.perf_counter() - started
        pixels += case.image.size
        counts.append(found)
        errors.append(abs(found - case.truth) / case.truth)
    return Score(100 * float(np.mean(errors)), counts, seconds, pixels / 1e6)


def end_to_end_jpeg(path: Path | None) -> tuple[str, float, int]:
    """Decode + count + annotate + encode one 3840×2160 JPEG; best of three."""
    if path is None:
        scene = synthetic.nuclei(
            2500,
            (2160, 3840),
            (9.0, 16.0),
            overlap=0.2,
            blur=1.5,
            noise=0.03,
            gradient=0.3,
            brightness_spread=0.3,
            seed=5,
        )
        data = imaging.encode_jpeg(scene.image, 92)
        name = "synthetic 3840x2160 JPEG"
    else:
        data = path.read_bytes()
        name = path.name
    best, count = float("inf"), 0
    for _ in range(3):
        started = time.perf_counter()
        image, _ = imaging.decode(data, 100_000_000)
        counting = count_cells(imaging.to_gray(image))
        imaging.encode_jpeg(imaging.annotate(image, counting))
        best = min(best, time.perf_counter() - started)
        count = counting.count
    return name, best * 1e3, count


def peak_memory_50mp() -> float:
    """Peak RSS (GB) of a fresh process counting a 50-megapixel 16-bit image."""
    code = (
        "import resource, numpy as np\n"
        "from devtools.synthetic import cells as synthetic\n"
        "from chalicelib.cells.counting import count_cells\n"
        "tile = synthetic.nuclei(300, (1024, 1024), (5.0, 9.0), overlap=0.2,\n"
        "                        dtype=np.uint16).image\n"
        "image = np.tile(tile, (7, 7))\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "n = count_cells(image).count\n"
        "print(n, image.size, before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[3]) / 1024**2


def run(image: Path | None = None, as_json: bool = False) -> int:
    cv2.setNumThreads(1)
    groups = cases()
    rows = {}
    for method in METHODS:
        rows[method] = {
            name: score(method, group, f"{method}: {name}") for name, group in groups.items()
        }
    name, e2e_ms, e2e_count = end_to_end_jpeg(image)
    memory = peak_memory_50mp()
    truths = {name: [c.truth for c in group] for name, group in groups.items()}
    if as_json:
        print(
            json.dumps(
                {
                    "methods": {m: {g: s.__dict__ for g, s in r.items()} for m, r in rows.items()},
                    "truth": truths,
                    "end_to_end_ms": e2e_ms,
                    "peak_memory_gb_50mp": memory,
                }
            )
        )
        return 0
    print_table(rows, truths)
    print(
        f"\nend to end ({DEFAULT_METHOD}, 1 core): {name}: decode+count+annotate+encode "
        f"{e2e_ms:.0f} ms ({e2e_count} objects)   target < 500 ms"
    )
    print(f"peak memory, 50-megapixel 16-bit image: {memory:.2f} GB   target <= 1.5 GB")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(max RSS of this benchmark process: {own:.0f} MB)")
    return 0


def print_table(rows: dict[str, dict[str, Score]], truths: dict[str, list[int]]) -> None:
    groups = list(truths)
    header = ["method"] + [f"{g} MAPE" for g in groups] + ["ms/MP (1 core)"]
    print("\n" + "  ".join(f"{h:>16}" for h in header))
    for method, scores in rows.items():
        seconds = sum(s.seconds for s in scores.values())
        speed = seconds * 1e3 / sum(s.megapixels for s in scores.values())
        cells = [f"{scores[g].mape:15.1f}%" for g in groups]
        print("  ".join([f"{method:>16}", *cells, f"{speed:16.1f}"]))
    for g in groups:
        if len(truths[g]) == 1:
            found = ", ".join(f"{m} {rows[m][g].counts[0]}" for m in rows)
            print(f"  {g}: truth {truths[g][0]}; found {found}")
    print("targets: synthetic <= 2.5%, real nuclei <= 5%, <= 25 ms/MP excluding decode")
