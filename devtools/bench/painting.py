"""``lab bench painting``: CellProfiler's time per image set, and shard speed-up.

Runs CellProfiler headless (the job runner's own invocation) on a local copy of
a pipeline and its images: once as one job, then as N shards in parallel (the
``-f/-l`` ranges a Batch array job would run). Reports wall time, the time per
image set (CellProfiler's own per-module timings, summed per image set), the
per-run start-up overhead (Java, Bio-Formats, pipeline load) and the speed-up
of N shards over one. No AWS involved: this measures what the Batch children do.
"""

from __future__ import annotations

import gzip
import re
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from chalicelib.painting import layout, pipeline
from chalicelib.painting.container import Run, cellprofiler_arguments, judge, run_cellprofiler

MODULE_TIME = re.compile(r"Image # (?P<image>\d+), module .*?Wall_time = (?P<wall>[\d.]+) secs")
WELL = re.compile(r"-(?P<row>[A-P])-(?P<col>\d{2})-")


@dataclass(frozen=True)
class Trial:
    shards: int
    wall_s: float
    image_sets: int
    per_set_s: float  # CellProfiler's module time per image set
    overhead_s: float  # wall time of one run not spent in modules (start-up)


def module_seconds(log_text: str) -> dict[int, float]:
    """Image number -> seconds its modules took, from a headless run's log.

    >>> module_seconds("Image # 2, module Foo # 1: CPU_time = 0.10 secs, Wall_time = 0.25 secs")
    {2: 0.25}
    """
    seconds: dict[int, float] = {}
    for match in MODULE_TIME.finditer(log_text):
        image = int(match["image"])
        seconds[image] = seconds.get(image, 0.0) + float(match["wall"])
    return seconds


def prepare(source: Path, workdir: Path, copies: int) -> tuple[Path, Path]:
    """A pipeline and an image folder (``.gz`` decompressed; wells copied ``copies`` times)."""
    images = workdir / "images"
    images.mkdir(parents=True)
    pipelines = sorted(source.glob("*.cppipe"))
    if not pipelines:
        raise FileNotFoundError(f"no .cppipe in {source}")
    for path in sorted((source / "images").iterdir()):
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        name = path.name[:-3] if path.suffix == ".gz" else path.name
        for copy in range(copies):
            target = name
            if copy and WELL.search(name):  # another plate row: a new image set
                target = WELL.sub(_next_row(copy), name)
            elif copy:
                continue  # illumination functions are shared by every image set
            (images / target).write_bytes(data)
    return pipelines[0], images


def _next_row(offset: int) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        return f"-{chr(ord(match['row']) + offset)}-{match['col']}-"

    return replace


def trial(command: str, pipeline_path: Path, images: Path, image_sets: int, shards: int) -> Trial:
    ranges = layout.split_ranges(image_sets, shards)
    expected = pipeline.expected_outputs(pipeline.inspect_pipeline(pipeline_path.read_text()))
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:

        def one(index: int) -> Run:
            out = Path(scratch) / f"out{index}"
            arguments = cellprofiler_arguments(command, pipeline_path, images, out, ranges[index])
            return run_cellprofiler(arguments, out, Path(scratch) / f"log{index}.txt")

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
            runs = list(pool.map(one, range(len(ranges))))
        wall = time.perf_counter() - started
    failures = [reason for reason in (judge(run, expected) for run in runs) if reason]
    if failures:
        raise RuntimeError(f"CellProfiler failed: {failures[0]}")
    per_image: dict[int, float] = {}
    for run in runs:
        per_image.update(module_seconds(run.log_text))
    overhead = sum(run.seconds for run in runs) / len(runs) - sum(per_image.values()) / len(runs)
    return Trial(
        len(ranges), wall, len(per_image), sum(per_image.values()) / len(per_image), overhead
    )


def bench_painting(
    command: str, source: Path, shard_counts: list[int], copies: int = 1
) -> list[Trial]:
    with tempfile.TemporaryDirectory(prefix="bench-data-") as workdir:
        pipeline_path, images = prepare(source, Path(workdir), copies)
        info = pipeline.inspect_pipeline(pipeline_path.read_text())
        names = [p.name for p in images.iterdir()]
        image_sets = pipeline.estimate_image_sets(info, names) or 1
        return [trial(command, pipeline_path, images, image_sets, n) for n in shard_counts]


def report(trials: list[Trial]) -> list[str]:
    base = trials[0].wall_s if trials else 0.0
    lines = ["shards  image sets  wall s  s/image set (modules)  start-up s/run  speed-up"]
    for t in trials:
        lines.append(
            f"{t.shards:>6}  {t.image_sets:>10}  {t.wall_s:>6.1f}  {t.per_set_s:>21.2f}  "
            f"{t.overhead_s:>14.1f}  {base / t.wall_s:>7.2f}x"
        )
    return lines


def run(
    data: Path, shard_counts: list[int], copies: int = 1, cellprofiler: str | None = None
) -> int:
    """The CLI's ``bench painting``: print the table; 2 when CellProfiler is not installed."""
    import sys

    from devtools.local.batch import CELLPROFILER_VENV, cellprofiler_installed

    if cellprofiler is None and not cellprofiler_installed():
        print("error: CellProfiler is not installed: run `make cellprofiler`", file=sys.stderr)
        return 2
    command = cellprofiler or str(CELLPROFILER_VENV / "bin" / "cellprofiler")
    print(f"CellProfiler on {data} ({copies} cop{'y' if copies == 1 else 'ies'})")
    print("\n".join(report(bench_painting(command, data, shard_counts, copies))))
    return 0
