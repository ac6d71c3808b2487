"""``lab bench blur``: does any face slip through, is the background kept, how fast?

For every case of the generated test set (``devtools.synthetic.faces``: real
faces from scikit-image's wheel, 20–300 px, frontal, profile, mirrored, tilted,
moving up to 30 px/frame, entering, leaving and crossing, at 640×480 and
1920×1080) the whole pipeline runs on one core (OpenCV with one thread, ffmpeg
with one thread) and the output is scored against the source:

- exposed frames: a face keeps >= 10 % of its sharpness (gradient energy);
- background PSNR: outside the ground-truth boxes grown by half their size;
- frames per second of each stage and end to end, and the multiple of real time.

``--held-out`` runs the cases drawn from a seed (other people, backgrounds and
paths) that the method was never tuned on. For honest speed figures run it
pinned to one core (``taskset -c 0 lab bench blur``) on an otherwise idle machine.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from chalicelib.faces import process, video
from chalicelib.faces.detection import MultiViewDetector
from chalicelib.faces.tracking import CoverageSettings
from devtools.bench.progress import progress
from devtools.synthetic.faces import DEV_CASES, Case, held_out_cases, score, write

TARGETS = (
    "targets: 0 exposed frames; background PSNR >= 35 dB; "
    ">= 2x real time at 640x480, >= 1x at 1920x1080"
)


@dataclass(frozen=True)
class Row:
    case: Case
    exposed: int
    face_frames: int
    worst_kept: float
    psnr: float
    stage_fps: dict[str, float]
    fps: float
    realtime: float
    whole: int
    searched: float


def run_case(case: Case, folder: Path, strict: bool) -> Row:
    source, target = folder / f"{case.name}.mp4", folder / f"{case.name}.out.mp4"
    truth = write(case, source, threads=1)
    info = video.probe(source)
    started = time.perf_counter()
    done = process.anonymise(
        source,
        target,
        MultiViewDetector(),
        info,
        settings=CoverageSettings.for_mode(strict),
        threads=1,
    )
    seconds = time.perf_counter() - started
    result = score(source, target, truth)
    timings = done.timings.as_ms()
    stage_fps = {k: done.frames / (v / 1e3) if v > 0 else float("inf") for k, v in timings.items()}
    return Row(
        case=case,
        exposed=len(result.exposed),
        face_frames=result.face_frames,
        worst_kept=result.worst_kept,
        psnr=result.background_psnr,
        stage_fps=stage_fps,
        fps=done.frames / seconds,
        realtime=done.frames / info.fps / seconds,
        whole=done.stats.frames_fully_blurred,
        searched=done.stats.searched_fraction(*case.size),
    )


def run(
    held_out: bool = False, strict: bool = False, only: list[str] | None = None, seed: int = 2026
) -> int:
    cv2.setNumThreads(1)
    cases = held_out_cases(seed) if held_out else DEV_CASES
    if only:
        cases = tuple(c for c in (*DEV_CASES, *held_out_cases(seed)) if c.name in only)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for case in progress(cases, "bench blur"):
            rows.append(run_case(case, Path(folder), strict))
    print_table(rows, held_out=held_out, strict=strict, seed=seed)
    return 0


def print_table(rows: list[Row], held_out: bool, strict: bool, seed: int) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\n{f'held-out (seed {seed})' if held_out else 'dev'} cases, "
        f"{'strict' if strict else 'default'} mode; "
        f"frames/s on one core (load average {load:.1f} when done)"
    )
    header = (
        f"{'case':26} {'size':>9} {'exposed':>9} {'worst':>6} {'bg PSNR':>8} "
        f"{'decode':>7} {'detect':>7} {'blur':>7} {'encode':>7} {'total':>6} {'x RT':>5}"
    )
    print(header)
    for r in rows:
        stages = " ".join(
            f"{min(r.stage_fps[k], 99999):7.0f}" for k in ("decode", "detect", "blur", "encode")
        )
        width, height = r.case.size
        print(
            f"{r.case.name:26} {width:>4}x{height:<4} {r.exposed:>4}/{r.face_frames:<4} "
            f"{r.worst_kept:6.2f} {r.psnr:8.1f} {stages} {r.fps:6.1f} {r.realtime:5.2f}"
            + (f"  ({r.whole} frames blurred whole)" if r.whole else "")
        )
    exposed = sum(r.exposed for r in rows)
    print(
        f"exposed frames in all: {exposed}; lowest background PSNR "
        f"{min(r.psnr for r in rows):.1f} dB. worst = highest share of a face's sharpness kept."
    )
    print(TARGETS)
