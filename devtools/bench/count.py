"""``lab bench count``: accuracy, robustness, speed and memory of cell counting.

Accuracy (count error against truth; a crop's truth is a range when objects
are cut by its edge):

- ``synthetic``: generated nuclei with known counts (``synthetic.bench_sets``);
- ``dsb2018``: the real annotated Data Science Bowl image in ``bench/data`` (125);
- ``fluorescence`` / ``phase contrast``: hand-annotated regions of real images
  (``bench/data/annotated``, see its README), the ``tune`` crops and the
  ``heldout`` crops reported apart (no constant was chosen on them);
- ``photos``: the six full phase-contrast photos in ``../shared/data`` when
  present: which image type each is taken for, and its count (no truth).

Robustness: every transformation in ``robustness.TRANSFORMATIONS`` applied to
the real annotated fluorescence images (tune crops and the DSB image), error per
transformation; the same transformations on the phase-contrast crops (tune and
held out apart; rescaled crops counted with the diameter scaled alike), and
the cell size the phase model judges on each, without a diameter. Speed:
ms per megapixel on one core excluding decode, over all and per image size
class and detected image type (``large fields``: generated 2048², 3840×2160 and
4096² nuclei fields, counted for accuracy too); a 3840×2160 JPEG end to end;
peak memory of a 50-megapixel 16-bit image.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from chalicelib.cells import container, imaging
from chalicelib.cells.counting import DEFAULT_METHOD, count_cells
from chalicelib.cells.messages import CountRequest
from chalicelib.cells.phase import (
    RESCALE_LARGER,
    RESCALE_SMALLER,
    default_model,
    estimate_cell_size,
)
from chalicelib.config import PROJECT_DIR
from chalicelib.errors import CorruptInput, TooLarge
from devtools.bench import robustness
from devtools.bench.progress import progress
from devtools.bench.robustness import Annotated
from devtools.synthetic import cells as synthetic

DATA = PROJECT_DIR / "bench" / "data"
ANNOTATED = DATA / "annotated"
# ../shared/data beside the repository (or beside the folder of a git worktree).
SHARED = next(
    (
        base / "shared" / "data"
        for base in (PROJECT_DIR.parent, PROJECT_DIR.parent.parent)
        if (base / "shared" / "data").is_dir()
    ),
    PROJECT_DIR.parent / "shared" / "data",
)


@dataclass
class Row:
    """Errors (relative, signed) and counts of one set or transformation."""

    name: str
    errors: list[float] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    megapixels: float = 0.0
    # (megapixels, CPU seconds, detected image type) per image: speed by size class
    images: list[tuple[float, float, str]] = field(default_factory=list)
    # per image: the count was flagged not reliable (phase robustness)
    unreliable: list[bool] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return 100 * float(np.mean(np.abs(self.errors))) if self.errors else float("nan")

    @property
    def worst(self) -> float:
        return 100 * float(np.max(np.abs(self.errors))) if self.errors else float("nan")


def _count(image: np.ndarray, row: Row, method: str = DEFAULT_METHOD) -> Any:
    gray = imaging.to_gray(image)
    started, cpu = time.perf_counter(), time.process_time()
    counting = count_cells(gray, method)
    row.seconds += time.perf_counter() - started
    cpu = time.process_time() - cpu
    row.cpu_seconds += cpu
    row.megapixels += gray.size / 1e6
    row.images.append((gray.size / 1e6, cpu, counting.parameters.get("detected_image_type", "")))
    return counting


def score(name: str, cases: list[Annotated], method: str = DEFAULT_METHOD) -> Row:
    row = Row(name)
    for case in progress(cases, name[:28]):
        counting = _count(case.image, row, method)
        row.errors.append(case.signed_error(counting.count))
        truth = f"{case.low}-{case.high}" if case.low != case.high else f"{case.high}"
        row.details.append(
            f"{case.name:<28} manual {truth:>7}  found {counting.count:4d}  "
            f"({100 * case.signed_error(counting.count):+.0f}%)  "
            f"{counting.parameters.get('detected_image_type', '')}"
            f"{'' if counting.quality is None or counting.quality.reliable else '  (not reliable)'}"
        )
    return row


def coins() -> list[Annotated]:
    """scikit-image's 24 coins (≈ 40 px across, with relief) at 0.5×, 1×, 2× and 3×."""
    from skimage import data

    image = np.asarray(data.coins())  # type: ignore[no-untyped-call]
    found = []
    for factor in (0.5, 1.0, 2.0, 3.0):
        method = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
        scaled = cv2.resize(image, None, fx=factor, fy=factor, interpolation=method)
        found.append(Annotated(f"coins {factor:g}x", scaled, np.zeros((0, 2)), 24, 24))
    return found


def synthetic_cases() -> list[Annotated]:
    return [
        Annotated(name, s.image, s.centres, s.count, s.count) for name, s in synthetic.bench_sets()
    ]


def dim_beside_bright() -> list[Annotated]:
    """Generated fields of dim nuclei touching bright ones (0.1-0.5 of their brightness)
    and lone nuclei: the held-out regions' undercount, reproduced (issue 12ab)."""
    fields = [synthetic.dim_beside_bright(seed) for seed in range(6)]
    return [
        Annotated(f"dim beside bright {i}", f.image, f.centres, f.count, f.count)
        for i, f in enumerate(fields)
    ]


LARGE_TILE = 1024


def large_fields() -> list[Annotated]:
    """Generated nuclei fields at a lab's usual sizes: 2048², 3840×2160 and 4096².

    Each is made of 1024² tiles of the bench's nuclei (four drawn, flipped and
    rotated in turn so no neighbour repeats): drawing a 16-megapixel field at
    once takes minutes. Truth: every centre, and those 3 px clear of the edge.
    """
    tiles = [
        synthetic.nuclei(
            300,
            (LARGE_TILE, LARGE_TILE),
            (7.0, 13.0),
            overlap=0.1,
            blur=1.2,
            noise=0.03,
            gradient=0.4,
            brightness_spread=0.35,
            elongation=1.3,
            texture=0.3,
            debris=30,
            dtype=np.uint16,
            seed=101 + i,
        )
        for i in range(4)
    ]
    cases = []
    for height, width in ((2048, 2048), (2160, 3840), (4096, 4096)):
        rows, cols = -(-height // LARGE_TILE), -(-width // LARGE_TILE)
        image = np.zeros((rows * LARGE_TILE, cols * LARGE_TILE), np.uint16)
        points = []
        for i in range(rows):
            for j in range(cols):
                tile = tiles[(i + j) % 4]
                flip_y, flip_x = i % 2 == 1, j % 2 == 1
                picture = tile.image[:: -1 if flip_y else 1, :: -1 if flip_x else 1]
                centres = tile.centres.copy()
                if flip_x:
                    centres[:, 0] = LARGE_TILE - 1 - centres[:, 0]
                if flip_y:
                    centres[:, 1] = LARGE_TILE - 1 - centres[:, 1]
                y0, x0 = i * LARGE_TILE, j * LARGE_TILE
                image[y0 : y0 + LARGE_TILE, x0 : x0 + LARGE_TILE] = picture
                points.append(centres + np.array([x0, y0]))
        centres = np.concatenate(points)
        centres = centres[(centres[:, 0] <= width - 1) & (centres[:, 1] <= height - 1)]
        image = np.ascontiguousarray(image[:height, :width])
        low, high = robustness.edge_range(centres, image.shape, 3.0)
        cases.append(Annotated(f"nuclei field {width}x{height}", image, centres, low, high))
    return cases


def dsb() -> list[Annotated]:
    image = np.asarray(cv2.imread(str(DATA / "dsb2018-img2d.tif"), cv2.IMREAD_UNCHANGED))
    labels = np.asarray(cv2.imread(str(DATA / "dsb2018-mask2d.tif"), cv2.IMREAD_UNCHANGED))
    return [robustness.from_labels("dsb2018", image, labels)]


def accuracy() -> list[Row]:
    annotated = robustness.load_annotated(ANNOTATED)

    def pick(kind: str, split: str) -> list[Annotated]:
        return [c for c in annotated if c.image_type == kind and c.split == split]

    return [
        score("synthetic", synthetic_cases()),
        score("dim beside bright (generated)", dim_beside_bright()),
        score("dsb2018", dsb()),
        score("coins (scikit-image)", coins()),
        score("large fields (generated)", large_fields()),
        score("fluorescence (tune)", pick("fluorescence", "tune")),
        score("fluorescence (held out)", pick("fluorescence", "heldout")),
        score("phase contrast (tune)", pick("phase-contrast", "tune")),
        score("phase contrast (held out)", pick("phase-contrast", "heldout")),
    ]


def robustness_suite(cases: list[Annotated], label: str) -> list[Row]:
    rows = []
    for name, transform in progress(list(robustness.TRANSFORMATIONS.items()), label):
        row = Row(name)
        for case in cases:
            for changed in transform(case):
                counting = _count(changed.image, row)
                row.errors.append(changed.signed_error(counting.count))
                row.details.append(
                    f"{changed.name}: {counting.count} ({changed.low}-{changed.high})"
                )
        rows.append(row)
    return rows


RESCALES = {"rescale 0.5x": 0.5, "rescale 2x": 2.0}  # transformations that change the cell size


def phase_keywords(transformation: str) -> dict[str, Any]:
    """``count_cells`` keywords for a phase-contrast crop under ``transformation``: a
    rescaled crop is counted with the model's cell diameter scaled alike."""
    factor = RESCALES.get(transformation)
    return {"diameter": default_model().cell_diameter * factor} if factor else {}


def phase_robustness(cases: list[Annotated], label: str) -> list[Row]:
    """The transformations on phase-contrast crops. A rescaled photo is another
    magnification: the phase model counts at its training size and only flags
    another size (``phase_sizes``), so the rescaled crops are counted with the
    diameter scaled alike (as the flag tells a user to set it)."""
    rows = []
    for name, transform in progress(list(robustness.TRANSFORMATIONS.items()), label):
        keywords = phase_keywords(name)
        row = Row(name)
        for case in cases:
            for changed in transform(case):
                counting = count_cells(imaging.to_gray(changed.image), **keywords)
                row.errors.append(changed.signed_error(counting.count))
                quality = counting.quality
                row.unreliable.append(quality is not None and not quality.reliable)
        rows.append(row)
    return rows


def flag_line(row: Row) -> str:
    """How many counts of a phase robustness row were flagged not reliable, their errors,
    and the worst error of the counts left reliable."""
    flagged = [e for e, bad in zip(row.errors, row.unreliable, strict=True) if bad]
    kept = [abs(e) for e, bad in zip(row.errors, row.unreliable, strict=True) if not bad]
    errors = " ".join(f"{100 * e:+.0f}%" for e in flagged)
    worst = f"{100 * max(kept):.0f}%" if kept else "-"
    return f"{len(flagged)}/{len(row.errors)} flagged ({errors or 'none'}), worst unflagged {worst}"


def phase_sizes(cases: list[Annotated]) -> list[str]:
    """What the phase model's size trees say, per transformation, counting without a
    diameter: how many images are flagged for their cell size, and the sizes found
    (right: 20 px at 0.5x, 80 px at 2x, none flagged otherwise)."""
    lines = []
    for name, transform in progress(list(robustness.TRANSFORMATIONS.items()), "phase sizes"):
        flagged, sizes, total = 0, [], 0
        for case in cases:
            for changed in transform(case):
                gray = imaging.to_gray(changed.image)
                size = estimate_cell_size(gray)
                total += 1
                if size is not None and size.note is not None:
                    flagged += 1
                    if np.isfinite(size.found):
                        sizes.append(f"{size.found:.0f}")
        lines.append(f"{name:<22} size flagged {flagged:2d}/{total:<3d} {' '.join(sizes)}")
    return lines


def phase_rescaled_auto(cases: list[Annotated]) -> list[str]:
    """The rescaled crops counted without a diameter (another magnification, as a lab's
    photo would come): a size the model finds beyond ``RESCALE_SMALLER`` times smaller or
    ``RESCALE_LARGER`` times larger is counted at, flagged; next to the count at the
    training size (before 2026-12-04)."""
    lines = []
    nominal = default_model().cell_diameter
    for name in RESCALES:
        auto, fixed, flagged = [], [], 0
        for case in cases:
            for changed in robustness.TRANSFORMATIONS[name](case):
                gray = imaging.to_gray(changed.image)
                counting = count_cells(gray)
                auto.append(changed.error(counting.count))
                fixed.append(changed.error(count_cells(gray, diameter=nominal).count))
                flagged += counting.quality is not None and not counting.quality.reliable
        within = sum(e <= 0.2 for e in auto)
        lines.append(
            f"{name:<14} mean {100 * np.mean(auto):5.1f}%  worst {100 * max(auto):4.0f}%  "
            f"within ±20% {within}/{len(auto)}  flagged {flagged}/{len(auto)}   "
            f"(at {nominal:.0f} px: mean {100 * np.mean(fixed):.1f}%, "
            f"worst {100 * max(fixed):.0f}%)"
        )
    return lines


def photos() -> list[str]:
    lines = []
    for path in sorted((SHARED / "phase-contrast").glob("*.JPG")):
        # decoded as an upload is (``cv2.imread`` took a photo ``imaging.decode`` refused)
        try:
            image, _ = imaging.decode(path.read_bytes(), 100_000_000)
        except (CorruptInput, TooLarge) as error:
            lines.append(f"{path.name}: refused on upload: {error}")
            continue
        gray = imaging.to_gray(image)
        started = time.perf_counter()
        counting = count_cells(gray)
        elapsed = (time.perf_counter() - started) * 1e3
        qc = counting.quality.qc if counting.quality else {}
        lines.append(
            f"{path.name}: taken for {qc.get('image_type')} "
            f"(confidence {qc.get('image_type_confidence')}), {counting.count} cells, "
            f"diameter {qc.get('diameter_px')} px, count {elapsed:.0f} ms"
            + ("" if counting.quality is None or counting.quality.reliable else ", not reliable")
        )
    return lines


E2E_REQUEST = CountRequest("bench", "uploads/photo.jpg", etag="bench")
# The cell-counter image's malloc settings (containers/cell-counter/Dockerfile): arrays up to
# 32 MiB on the heap, freed memory kept, so a photo's large arrays cost no page faults.
CONTAINER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "1073741824"}
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def malloc_as_in_the_container() -> bool:
    """This process's glibc set as ``CONTAINER_MALLOC`` sets the container's (``mallopt``, the
    same tunables as the environment variables read at start); ``False`` without glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    trim = int(CONTAINER_MALLOC["MALLOC_TRIM_THRESHOLD_"])
    mmap = int(CONTAINER_MALLOC["MALLOC_MMAP_THRESHOLD_"])
    return bool(mallopt(M_TRIM_THRESHOLD, trim) == 1 and mallopt(M_MMAP_THRESHOLD, mmap) == 1)


def end_to_end_jpeg(path: Path | None) -> tuple[str, float, float, int]:
    """One 3840×2160 JPEG through what the counter does for an upload: decode, count,
    annotated image and its encoding, result JSON and CSV, with the container's malloc
    settings (``malloc_as_in_the_container``); best of three (wall, CPU ms)."""
    malloc_as_in_the_container()
    if path is None:
        real = SHARED / "phase-contrast" / "IMG00197.JPG"
        path = real if real.exists() else None
    if path is None:
        scene = synthetic.nuclei(
            2500, (2160, 3840), (9.0, 16.0), overlap=0.2, blur=1.5, noise=0.03, seed=5
        )
        data = imaging.encode_jpeg(scene.image, 92)
        name = "synthetic 3840x2160 JPEG"
    else:
        data = path.read_bytes()
        name = path.name
    return _end_to_end(data, name)


DENSE_NUCLEI = SHARED / "cellprofiler-examples" / "ExampleHuman" / "images"
DENSE_NUCLEI /= "AS_09125_050116030001_D03f00d0.tif"


def dense_fluorescence_jpeg() -> tuple[str, float, float, int] | None:
    """``end_to_end_jpeg`` for real dense fluorescence at 3840×2160: CellProfiler's
    ExampleHuman DNA image (512², ~480 nuclei) tiled with mirrored copies (no seams) to
    ~10,000 nuclei, as a JPEG (quality 92); None without ``../shared/data``. The phase
    photo the line above uses has a few hundred cells: a lab's nuclei fields cost more."""
    tile = cv2.imread(str(DENSE_NUCLEI), cv2.IMREAD_GRAYSCALE)
    if tile is None:
        return None
    row = np.hstack([tile, tile[:, ::-1]] * (3840 // (2 * tile.shape[1]) + 1))
    field = np.vstack([row, row[::-1]] * (2160 // (2 * tile.shape[0]) + 1))[:2160, :3840]
    data = imaging.encode_jpeg(np.ascontiguousarray(field), 92)
    return _end_to_end(data, "ExampleHuman DNA tiled to 3840x2160 JPEG")


def _end_to_end(data: bytes, name: str) -> tuple[str, float, float, int]:
    best, best_cpu, count = float("inf"), float("inf"), 0
    for _ in range(3):
        started, cpu = time.perf_counter(), time.process_time()
        image, _ = imaging.decode(data, 100_000_000)
        counting = count_cells(imaging.to_gray(image))
        imaging.encode_jpeg(imaging.annotate(image, counting, copy=False))  # as the container
        json.dumps(container.result_document(E2E_REQUEST, counting, image, 0.0, {}))
        container.cells_table(counting)
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        count = counting.count
    return name, best * 1e3, best_cpu * 1e3, count


def peak_memory_50mp() -> float:
    """Peak RSS (GB) of a fresh process counting a 50-megapixel 16-bit image."""
    code = (
        "import resource, numpy as np, cv2\n"
        "cv2.setNumThreads(1)\n"
        "from devtools.synthetic import cells as synthetic\n"
        "from chalicelib.cells.counting import count_cells\n"
        "tile = synthetic.nuclei(300, (1024, 1024), (5.0, 9.0), overlap=0.2,\n"
        "                        dtype=np.uint16).image\n"
        "image = np.tile(tile, (7, 7))\n"
        "n = count_cells(image).count\n"
        "print(n, image.size, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **CONTAINER_MALLOC},  # as the container's memory is used
    ).stdout.split()
    return int(out[2]) / 1024**2


def run(image: Path | None = None, as_json: bool = False, quick: bool = False) -> int:
    cv2.setNumThreads(1)
    sets = accuracy()
    annotated = robustness.load_annotated(ANNOTATED)
    tune = [c for c in annotated if c.image_type == "fluorescence" and c.split == "tune"]
    held = [c for c in annotated if c.image_type == "fluorescence" and c.split == "heldout"]
    suite = robustness_suite(tune + dsb(), "robustness (tune + dsb)")
    suite_held = robustness_suite(held, "robustness (held out)")
    phase_cases = [c for c in annotated if c.image_type == "phase-contrast"]
    phase_tune = phase_robustness([c for c in phase_cases if c.split == "tune"], "phase (tune)")
    phase_held = phase_robustness([c for c in phase_cases if c.split == "heldout"], "phase (held)")
    size_lines = phase_sizes(phase_cases)
    auto_lines = phase_rescaled_auto(phase_cases)
    photo_lines = photos()
    name, e2e_ms, e2e_cpu_ms, e2e_count = (
        ("skipped", 0.0, 0.0, 0) if quick else end_to_end_jpeg(image)
    )
    dense = None if quick else dense_fluorescence_jpeg()
    memory = 0.0 if quick else peak_memory_50mp()
    # Comparable with the figures of earlier rounds: the sets without coins and large fields.
    speed_rows = [r for r in sets if not r.name.startswith(("coins", "large", "dim beside"))]
    seconds = sum(r.seconds for r in speed_rows)
    cpu_seconds = sum(r.cpu_seconds for r in speed_rows)
    megapixels = sum(r.megapixels for r in speed_rows)
    classes = size_classes([r for r in sets if not r.name.startswith(("coins", "dim beside"))])
    if as_json:
        print(
            json.dumps(
                {
                    "sets": {
                        r.name: {"mean": r.mean, "max": r.worst, "counts": r.details} for r in sets
                    },
                    "robustness": {r.name: {"mean": r.mean, "max": r.worst} for r in suite},
                    "robustness_heldout": {
                        r.name: {"mean": r.mean, "max": r.worst} for r in suite_held
                    },
                    "phase_robustness": {
                        r.name: {"mean": r.mean, "max": r.worst} for r in phase_tune
                    },
                    "phase_robustness_heldout": {
                        r.name: {"mean": r.mean, "max": r.worst} for r in phase_held
                    },
                    "phase_flagged": {
                        r.name: {"tune": flag_line(r), "heldout": flag_line(h)}
                        for r, h in zip(phase_tune, phase_held, strict=True)
                    },
                    "phase_sizes": size_lines,
                    "phase_rescaled_without_diameter": auto_lines,
                    "photos": photo_lines,
                    "ms_per_mp": seconds * 1e3 / megapixels,
                    "cpu_ms_per_mp": cpu_seconds * 1e3 / megapixels,
                    "cpu_ms_per_mp_by_size": classes,
                    "end_to_end_ms": e2e_ms,
                    "end_to_end_cpu_ms": e2e_cpu_ms,
                    "end_to_end_dense_cpu_ms": None if dense is None else dense[2],
                    "peak_memory_gb_50mp": memory,
                }
            )
        )
        return 0
    print_report(sets, suite, suite_held, photo_lines)
    print_table("robustness (phase contrast)", phase_tune, phase_held)
    print("\ncounts flagged not reliable (phase contrast; tune | held out):")
    for tune_row, held_row in zip(phase_tune, phase_held, strict=True):
        print(f"  {tune_row.name:<22} {flag_line(tune_row)} | {flag_line(held_row)}")
    print("\ncell size judged by the phase model (no diameter given; tune and held-out crops):")
    for line in size_lines:
        print(f"  {line}")
    print("\nrescaled crops counted without a diameter (tune and held-out crops):")
    for line in auto_lines:
        print(f"  {line}")
    print(
        f"\nspeed ({DEFAULT_METHOD}, 1 core, excluding decode): "
        f"{seconds * 1e3 / megapixels:.1f} ms/MP over {megapixels:.1f} MP of the sets above"
        "   target <= 25 ms/MP"
        f"\n  CPU time {cpu_seconds * 1e3 / megapixels:.1f} ms/MP "
        f"(wall time above includes waiting for the CPU; load average {os.getloadavg()[0]:.1f})"
    )
    print_size_classes(classes)
    if not quick:
        print(
            f"end to end: {name} decode+count+annotate+encode+JSON+CSV {e2e_ms:.0f} ms wall, "
            f"{e2e_cpu_ms:.0f} ms CPU ({e2e_count} objects)   target <= 500 ms"
        )
        if dense is not None:
            dense_name, dense_ms, dense_cpu_ms, dense_count = dense
            print(
                f"end to end: {dense_name} {dense_ms:.0f} ms wall, {dense_cpu_ms:.0f} ms CPU "
                f"({dense_count} objects)   target <= 500 ms"
            )
        print(f"peak memory, 50-megapixel 16-bit image: {memory:.2f} GB   target <= 1.5 GB")
    return 0


SIZE_CLASSES = ((0.0, 0.25, "< 0.25 MP"), (0.25, 2.0, "0.25-2 MP"), (2.0, float("inf"), ">= 2 MP"))


def size_classes(rows: list[Row]) -> dict[str, dict[str, dict[str, float]]]:
    """CPU ms/MP per image size class and detected image type (and over all of each).

    Most of the cost is fixed per image, so small crops cost several times more per
    megapixel than a lab's 1-20 MP images: the classes keep both figures in view.
    """
    images = [image for row in rows for image in row.images]
    found: dict[str, dict[str, dict[str, float]]] = {}
    for kind in [*sorted({k for _, _, k in images}), "all"]:
        for low, high, name in (*SIZE_CLASSES, (0.0, float("inf"), "all sizes")):
            mine = [(mp, cpu) for mp, cpu, k in images if low <= mp < high and kind in (k, "all")]
            if mine:
                total = sum(mp for mp, _ in mine)
                found.setdefault(kind, {})[name] = {
                    "images": len(mine),
                    "megapixels": round(total, 2),
                    "cpu_ms_per_mp": round(sum(cpu for _, cpu in mine) * 1e3 / total, 1),
                }
    return found


def print_size_classes(classes: dict[str, dict[str, dict[str, float]]]) -> None:
    print("  CPU ms/MP by image size (detected image type; the sets above and the large fields):")
    for kind, by_size in classes.items():
        cells = "   ".join(
            f"{name} {c['cpu_ms_per_mp']:.0f} ({c['images']:.0f} images, {c['megapixels']:.1f} MP)"
            for name, c in by_size.items()
        )
        print(f"    {kind:<15}{cells}")


def print_table(title: str, tune: list[Row], held: list[Row]) -> None:
    print(f"\n{title:<28}{'tune mean':>14}{'worst':>8}{'held-out mean':>15}{'worst':>8}")
    for row, other in zip(tune, held, strict=True):
        print(
            f"{row.name:<28}{row.mean:>13.1f}%{row.worst:>7.0f}%{other.mean:>14.1f}%{other.worst:>7.0f}%"
        )
    print(
        f"{'all transformations':<28}{float(np.mean([r.mean for r in tune])):>13.1f}%"
        f"{max(r.worst for r in tune):>7.0f}%{float(np.mean([r.mean for r in held])):>14.1f}%"
        f"{max(r.worst for r in held):>7.0f}%"
    )
    print(
        "rescaled crops counted with the diameter scaled alike (without a diameter the phase "
        f"model flags another size, and counts at it beyond {RESCALE_SMALLER:g}x smaller or "
        f"{RESCALE_LARGER:g}x larger: below)"
    )


def print_report(
    sets: list[Row], suite: list[Row], held: list[Row], photo_lines: list[str]
) -> None:
    print(f"\n{'set':<28}{'mean error':>12}{'worst':>10}{'ms/MP':>9}{'CPU ms/MP':>11}")
    for row in sets:
        speed = row.seconds * 1e3 / max(row.megapixels, 1e-9)
        cpu = row.cpu_seconds * 1e3 / max(row.megapixels, 1e-9)
        print(f"{row.name:<28}{row.mean:>11.1f}%{row.worst:>9.0f}%{speed:>9.1f}{cpu:>11.1f}")
    print(
        "targets: synthetic <= 2.5%; fluorescence vs manual <= 5%; "
        "phase contrast every region within ±20%"
    )
    for row in sets[1:]:
        print(f"\n{row.name}:")
        for line in row.details:
            print(f"  {line}")
    print(
        f"\n{'robustness (real nuclei)':<28}{'tune+dsb mean':>14}{'worst':>8}"
        f"{'held-out mean':>15}{'worst':>8}"
    )
    for row, other in zip(suite, held, strict=True):
        print(
            f"{row.name:<28}{row.mean:>13.1f}%{row.worst:>7.0f}%{other.mean:>14.1f}%{other.worst:>7.0f}%"
        )
    overall = float(np.mean([r.mean for r in suite]))
    print(
        f"{'all transformations':<28}{overall:>13.1f}%{max(r.worst for r in suite):>7.0f}%"
        f"{float(np.mean([r.mean for r in held])):>14.1f}%{max(r.worst for r in held):>7.0f}%"
    )
    print("targets: mean <= 5%, no transformation > 15%")
    if photo_lines:
        print("\nfull phase-contrast photos (../shared/data, no truth):")
        for line in photo_lines:
            print(f"  {line}")
