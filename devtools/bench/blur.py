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
``--rounds N`` blurs each case N times in a row and reports the run with the
least CPU (and the median's multiple of real time): on shared machines the same
work's CPU time varies by 15-30 % from run to run, and the least is the code's.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from chalicelib.faces import process, video
from chalicelib.faces.blazeface import default_detector, shared_detector
from chalicelib.faces.detection import MultiViewDetector
from chalicelib.faces.tracking import CoverageSettings, RegionDetector
from devtools.bench.progress import progress
from devtools.synthetic.faces import DEV_CASES, Case, held_out_cases, score, write

TARGETS = (
    "targets: 0 exposed frames; background PSNR >= 35 dB; "
    ">= 2x real time at 640x480, >= 1x at 1920x1080"
)


STAGES = ("decode", "detect", "track", "blur", "encode")


@dataclass(frozen=True)
class Row:
    case: Case
    exposed: int
    face_frames: int
    worst_kept: float
    psnr: float
    stage_rt: dict[str, float]  # multiple of real time of each stage alone, from CPU time
    realtime: float  # end to end, CPU time (this process and its ffmpeg children)
    median_realtime: float  # the same, the median of the rounds (== realtime for one round)
    steady: float  # the same without the one-off whole-frame search of the first frame
    wall_realtime: float
    whole: int
    searched: float


def run_case(
    case: Case,
    folder: Path,
    strict: bool,
    detector: str = "default",
    cold: bool = False,
    rounds: int = 1,
) -> Row:
    """One case through ``process.anonymise``, scored. The detector is the process's
    shared one (``shared_detector``, as a warm container uses), or with ``cold`` one
    made for this case (as a container's first segment: onnxruntime's memory is new).
    With several ``rounds`` the case is blurred that many times and the run with the
    least CPU gives the speeds (every round blurs the same rectangles; the last is scored)."""
    source, target = folder / f"{case.name}.mp4", folder / f"{case.name}.out.mp4"
    truth = write(case, source, threads=1)
    info = video.probe(source)
    runs = []
    blurred: set[str] = set()  # the output of every round (one thread: the same bytes)
    for _ in range(max(1, rounds)):
        if detector == "haar":
            chosen: RegionDetector = MultiViewDetector()
        else:
            chosen = default_detector() if cold else shared_detector()
        started = time.perf_counter()
        done = process.anonymise(
            source,
            target,
            chosen,
            info,
            settings=CoverageSettings.for_mode(strict),
            threads=1,
        )
        runs.append((done, time.perf_counter() - started))
        blurred.add(hashlib.sha256(target.read_bytes()).hexdigest())
    if len(blurred) > 1:
        raise RuntimeError(f"{case.name}: the rounds blurred different videos")
    result = score(source, target, truth)
    done, seconds = min(runs, key=lambda run: run[0].timings.total)
    length = done.frames / info.fps  # seconds of video
    cpu = {k: getattr(done.timings, k) for k in STAGES}
    stage_rt = {k: length / v if v > 0 else float("inf") for k, v in cpu.items()}
    return Row(
        case=case,
        exposed=len(result.exposed),
        face_frames=result.face_frames,
        worst_kept=result.worst_kept,
        psnr=result.background_psnr,
        stage_rt=stage_rt,
        realtime=length / done.timings.total,
        median_realtime=length / statistics.median(run.timings.total for run, _ in runs),
        steady=length / (done.timings.total - done.stats.whole_search_cpu_s),
        wall_realtime=length / seconds,
        whole=done.stats.frames_fully_blurred,
        searched=done.stats.searched_fraction(*case.size),
    )


def run(
    held_out: bool = False,
    strict: bool = False,
    only: list[str] | None = None,
    seed: int = 2026,
    detector: str = "default",
    cold: bool = False,
    rounds: int = 1,
) -> int:
    cv2.setNumThreads(1)
    cases = held_out_cases(seed) if held_out else DEV_CASES
    if only:
        cases = tuple(c for c in (*DEV_CASES, *held_out_cases(seed)) if c.name in only)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for case in progress(cases, "bench blur"):
            rows.append(run_case(case, Path(folder), strict, detector, cold, rounds))
    print_table(
        rows,
        held_out=held_out,
        strict=strict,
        seed=seed,
        detector=detector,
        cold=cold,
        rounds=rounds,
    )
    return 0


def _runtime(detector: str) -> str:
    """Where BlazeFace runs (onnxruntime when installed, else cv2.dnn): speeds depend on it."""
    return "" if detector == "haar" else f" (BlazeFace in {shared_detector().blaze.runtime})"


def print_table(
    rows: list[Row],
    held_out: bool,
    strict: bool,
    seed: int,
    detector: str = "default",
    cold: bool = False,
    rounds: int = 1,
) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\n{f'held-out (seed {seed})' if held_out else 'dev'} cases, "
        f"{'strict' if strict else 'default'} mode, detector {detector}{_runtime(detector)}; "
        f"load average {load:.1f} when done.\n"
        "Speed as multiples of real time from CPU seconds on one thread (OpenCV and ffmpeg "
        "with one thread; ffmpeg's CPU counted): each stage alone, then end to end (x RT); "
        "steady = end to end without the one-off search of the whole first frame (what a long "
        "video approaches); wall = wall-clock x RT. "
        + (
            "A new detector per case (--cold: as a container's first segment)."
            if cold or detector == "haar"
            else "One detector for all cases (as a warm container): the first case of each "
            "frame size also pays onnxruntime's first use of its memory (~0.2-0.3 s at 1080p; "
            "--cold for a new detector per case)."
        )
        + (
            f" Each case blurred {rounds} times in a row: speeds from the run with the least "
            "CPU, median = the median run's x RT."
            if rounds > 1
            else ""
        )
    )
    header = (
        f"{'case':26} {'size':>9} {'exposed':>9} {'worst':>6} {'bg PSNR':>8} "
        + " ".join(f"{k:>7}" for k in STAGES)
        + f" {'x RT':>6} {'steady':>6} {'wall':>6}"
        + (f" {'median':>6}" if rounds > 1 else "")
    )
    print(header)
    for r in rows:
        stages = " ".join(f"{min(r.stage_rt[k], 9999):7.1f}" for k in STAGES)
        width, height = r.case.size
        print(
            f"{r.case.name:26} {width:>4}x{height:<4} {r.exposed:>4}/{r.face_frames:<4} "
            f"{r.worst_kept:6.2f} {r.psnr:8.1f} {stages} {r.realtime:6.2f} {r.steady:6.2f} "
            f"{r.wall_realtime:6.2f}"
            + (f" {r.median_realtime:6.2f}" if rounds > 1 else "")
            + (f"  ({r.whole} frames blurred whole)" if r.whole else "")
        )
    exposed = sum(r.exposed for r in rows)
    leaking = sum(1 for r in rows if r.exposed)
    print(
        f"exposed frames in all: {exposed} (in {leaking} of {len(rows)} cases); "
        f"background PSNR >= 35 dB in {sum(r.psnr >= 35 for r in rows)} of {len(rows)} cases "
        f"(lowest {min(r.psnr for r in rows):.1f} dB). worst = highest share of a face's "
        "sharpness kept."
    )
    for label, size in (("640x480", (640, 480)), ("1920x1080", (1920, 1080))):
        speeds = [r.realtime for r in rows if r.case.size == size]
        steady = [r.steady for r in rows if r.case.size == size]
        median = [r.median_realtime for r in rows if r.case.size == size]
        if speeds:
            print(
                f"x RT at {label}: {min(speeds):.2f}-{max(speeds):.2f} "
                f"(steady {min(steady):.2f}-{max(steady):.2f}"
                + (f"; median run {min(median):.2f}-{max(median):.2f}" if rounds > 1 else "")
                + ")"
            )
    print(TARGETS)
