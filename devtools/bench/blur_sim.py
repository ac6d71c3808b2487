"""A fast simulation of ``lab bench blur`` with per-frame diagnosis of what leaks.

The same source videos (the test set's cases, encoded as ``lab bench blur`` encodes
them, kept in a cache folder between runs), the same decoder (I420 from ffmpeg or
PyAV), luma, ``FaceCoverage`` and YUV blur as ``process.anonymise`` — but the
output is scored in memory, without re-encoding it. So exposed frames are the
bench's, and the background PSNR runs ~0.6–1.7 dB higher (no encoder loss).

For each exposed frame it prints the faces left sharp (their box, size, share of
sharpness kept, distance from the frame's edge) and the rectangles blurred: what
a tracking or detection change must cover. With ``--loss`` it says where each
case's background error lies: in rectangles centred on a face in view (its pads),
in rectangles centred on none (false or misplaced boxes; those touching the frame's
edge apart) or outside every rectangle. Run it from the repository::

    python -m devtools.bench.blur_sim --seed 16883 --case held-out-16883-1 --detail
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from chalicelib.faces import video
from chalicelib.faces.blazeface import default_detector
from chalicelib.faces.blurring import blur_rects_yuv420, blur_whole_yuv420
from chalicelib.faces.tracking import (
    CoverageSettings,
    CoverageStats,
    Covered,
    FaceCoverage,
    RegionDetector,
)
from devtools.synthetic.faces import (
    DEV_CASES,
    EXPOSED_SHARPNESS,
    Case,
    Rendered,
    Score,
    background_mask,
    emerging_cases,
    faces_present,
    held_out_cases,
    motion_cases,
    motion_key,
    render,
    write,
)

PixelBox = tuple[int, int, int, int]  # x0, y0, x1, y1


@dataclass(frozen=True)
class Leak:
    """One face left sharp in one frame."""

    frame: int
    box: PixelBox  # its ground-truth box, clipped to the frame
    kept: float  # share of its sharpness kept
    edge: int  # px from the nearest edge of the frame (0: cut by it)
    rects: tuple[tuple[int, int, int, int], ...]  # what was blurred in that frame (x, y, w, h)


@dataclass
class Loss:
    """Where the background's squared error lies (summed over frames and channels):
    see ``background_loss``."""

    on_faces: float = 0.0
    off_faces: float = 0.0
    off_faces_at_edge: float = 0.0  # of ``off_faces``: rectangles touching the frame's edge
    outside: float = 0.0
    whole: float = 0.0  # frames blurred whole

    def add(self, other: Loss) -> None:
        self.on_faces += other.on_faces
        self.off_faces += other.off_faces
        self.off_faces_at_edge += other.off_faces_at_edge
        self.outside += other.outside
        self.whole += other.whole

    def shares(self) -> str:
        total = self.on_faces + self.off_faces + self.outside + self.whole
        if total <= 0:
            return "no background error"
        return (
            f"background error {100 * self.on_faces / total:.0f}% in rectangles on faces, "
            f"{100 * self.off_faces / total:.0f}% on none "
            f"({100 * self.off_faces_at_edge / total:.0f}% at the edge), "
            f"{100 * self.outside / total:.0f}% elsewhere"
            + (f", {100 * self.whole / total:.0f}% in frames blurred whole" if self.whole else "")
        )


@dataclass(kw_only=True)
class SimResult(Score):
    """The bench's ``Score`` of one case, with the faces left sharp and the coverage's cost."""

    case: Case
    leaks: list[Leak] = field(default_factory=list)
    whole: int = 0
    coverage_cpu_s: float = 0.0  # CPU seconds in ``FaceCoverage`` (detection and tracking)
    stats: CoverageStats | None = None
    # With ``simulate(..., baseline=True)``: the same case without profile extents, and
    # the frames where one of its rectangles is not inside one of this run's.
    baseline: SimResult | None = None
    uncontained: list[int] = field(default_factory=list)
    # With ``simulate(..., loss=True)``: where the background's error lies.
    loss: Loss | None = None


def background_loss(
    before: np.ndarray,
    after: np.ndarray,
    rects: Sequence[tuple[int, int, int, int]],
    faces: Sequence[PixelBox],
) -> Loss:
    """Split one frame's background error (``Score``'s: outside the faces grown by
    half) between the blurred ``rects`` (x, y, w, h) centred on a face in view
    (``faces``' boxes x0, y0, x1, y1 clipped to the frame: a face mostly beyond the
    edge has its centre outside), the rectangles centred on none — each pixel counted
    once, a face's rectangle first — and the rest of the frame.

    >>> before = np.zeros((10, 20, 3), np.uint8); after = before.copy()
    >>> after[0:4, 0:4] = 2; after[6:10, 14:20] = 1
    >>> loss = background_loss(before, after, [(0, 0, 4, 4), (14, 6, 6, 4)], [(0, 0, 2, 2)])
    >>> loss.on_faces, loss.off_faces, loss.off_faces_at_edge, loss.outside
    (84.0, 72.0, 72.0, 0.0)
    """
    height, width = before.shape[:2]
    diff = before.astype(np.float64) - after.astype(np.float64)
    error = (diff * diff).reshape(height, width, -1).sum(axis=2)
    error[~background_mask((height, width), list(faces))] = 0.0
    kind = np.zeros((height, width), np.uint8)  # 0 outside, 1 on a face, 2 on none, 3 ... at edge
    view = [(max(0, x0), max(0, y0), min(width, x1), min(height, y1)) for x0, y0, x1, y1 in faces]
    # (the faces' rectangles painted last: they win where rectangles overlap)
    for on, (x, y, w, h) in sorted((_centred_on(r, view), tuple(r)) for r in rects):
        edge = x <= 0 or y <= 0 or x + w >= width or y + h >= height
        kind[max(0, y) : max(0, y + h), max(0, x) : max(0, x + w)] = 1 if on else 3 if edge else 2
    return Loss(
        on_faces=float(error[kind == 1].sum()),
        off_faces=float(error[kind >= 2].sum()),
        off_faces_at_edge=float(error[kind == 3].sum()),
        outside=float(error[kind == 0].sum()),
    )


def _centred_on(rect: tuple[int, int, int, int], faces: Sequence[PixelBox]) -> bool:
    x, y, w, h = rect
    cx, cy = x + w / 2, y + h / 2
    return any(x0 <= cx <= x1 and y0 <= cy <= y1 for x0, y0, x1, y1 in faces)


def edge_distance(box: PixelBox, width: int, height: int) -> int:
    """Pixels between ``box`` (x0, y0, x1, y1) and the nearest edge of the frame.

    >>> edge_distance((10, 100, 50, 140), 640, 480), edge_distance((-5, 0, 20, 20), 640, 480)
    (10, 0)
    """
    x0, y0, x1, y1 = box
    return max(0, min(x0, y0, width - x1, height - y1))


def source_video(case: Case, cache: Path) -> tuple[Path, Rendered]:
    """The case's source video (written once per case into ``cache``) and its truth."""
    key = hashlib.sha256((repr(case) + motion_key(case)).encode()).hexdigest()[:12]
    path = cache / f"{case.name}-{key}.mp4"
    if path.exists():
        rendered = Rendered(case, [boxes for _frame, boxes in render(case)], faces_present(case))
        return path, rendered
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.part.mp4")  # (runs side by side)
    rendered = write(case, partial, threads=1)
    partial.rename(path)
    return path, rendered


def simulate(
    case: Case,
    cache: Path,
    settings: CoverageSettings | None = None,
    detector: RegionDetector | None = None,
    baseline: bool = False,
    loss: bool = False,
) -> SimResult:
    """Cover and blur ``case`` as ``process.anonymise`` does; score it in memory.

    ``loss``: also split the background's error (``result.loss``, ``background_loss``);
    it costs a second pass over every frame's pixels.

    ``baseline``: also cover it without profile extents (``profile_extent`` off: the
    rectangles of the tracks' boxes alone), side by side on the same frames, scored
    as ``result.baseline``; ``result.uncontained`` lists the frames where one of its
    rectangles is not inside one of the run's own (none expected: issue 14t)."""
    source, truth = source_video(case, cache)
    width, height = case.size
    info = video.probe(source)
    settings = settings or CoverageSettings()
    detector = detector or default_detector()
    coverage = FaceCoverage(detector, (width, height), info.fps, settings)
    result = SimResult(case=case, loss=Loss() if loss else None)
    originals: dict[int, np.ndarray] = {}
    other: tuple[FaceCoverage, SimResult, dict[int, np.ndarray]] | None = None
    if baseline:
        plain = replace(settings, profile_extent=False)
        other = (FaceCoverage(detector, (width, height), info.fps, plain), SimResult(case=case), {})
    rects: dict[int, list[tuple[int, int, int, int]] | None] = {}
    spent = 0.0
    for index, frame in enumerate(video.yuv420_frames(source, threads=1)):
        originals[index] = frame.copy()
        if other is not None:
            other[2][index] = frame.copy()
        started = time.process_time()
        ready = coverage.push(frame, video.luma(frame, height))
        spent += time.process_time() - started
        _keep_rects(ready, rects)
        _score(ready, originals, truth, result)
        if other is not None:
            plain_ready = other[0].push(other[2][index].copy(), video.luma(frame, height))
            _contained(plain_ready, rects, result)
            _score(plain_ready, other[2], truth, other[1])
    started = time.process_time()
    ready = coverage.finish()
    spent += time.process_time() - started
    _keep_rects(ready, rects)
    _score(ready, originals, truth, result)
    if other is not None:
        plain_ready = other[0].finish()
        _contained(plain_ready, rects, result)
        _score(plain_ready, other[2], truth, other[1])
        other[1].stats = other[0].stats
        result.baseline = other[1]
    result.coverage_cpu_s = spent
    result.stats = coverage.stats
    return result


def _keep_rects(
    ready: Iterable[Covered], rects: dict[int, list[tuple[int, int, int, int]] | None]
) -> None:
    for covered in ready:  # (None: the whole frame)
        rects[covered.index] = None if covered.whole else list(covered.rects)


def _contained(
    ready: Iterable[Covered],
    rects: dict[int, list[tuple[int, int, int, int]] | None],
    result: SimResult,
) -> None:
    """Note in ``result.uncontained`` the frames of ``ready`` (the baseline's) where a
    rectangle lies in none of ``rects`` (the run's own for that frame)."""
    for covered in ready:
        own = rects.pop(covered.index, [])
        if own is None:
            continue
        for x, y, w, h in covered.rects:
            if not any(
                ox <= x and oy <= y and x + w <= ox + ow and y + h <= oy + oh
                for ox, oy, ow, oh in own
            ):
                result.uncontained.append(covered.index)
                break


def simulate_rendered(
    case: Case, settings: CoverageSettings | None = None, detector: RegionDetector | None = None
) -> SimResult:
    """``simulate`` on the rendered frames themselves, in memory (no source video: no
    encoder between the rendering and the coverage) — for tests of a few frames."""
    width, height = case.size
    coverage = FaceCoverage(
        detector or default_detector(), (width, height), case.fps, settings or CoverageSettings()
    )
    truth = Rendered(case, [], faces_present(case))
    result = SimResult(case=case)
    originals: dict[int, np.ndarray] = {}
    for index, (frame, boxes) in enumerate(render(case)):
        truth.boxes.append(boxes)
        yuv = np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420))
        originals[index] = yuv.copy()
        _score(coverage.push(yuv, video.luma(yuv, height)), originals, truth, result)
    _score(coverage.finish(), originals, truth, result)
    result.stats = coverage.stats
    return result


def _score(
    ready: Iterable[Covered], originals: dict[int, np.ndarray], truth: Rendered, result: SimResult
) -> None:
    width, height = result.case.size
    for covered in ready:
        frame = covered.frame
        if covered.whole:
            blur_whole_yuv420(frame, height)
            result.whole += 1
        else:
            blur_rects_yuv420(frame, height, covered.rects, covered.cores)
        before = cv2.cvtColor(originals.pop(covered.index), cv2.COLOR_YUV2BGR_I420)
        after = cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_I420)
        boxes = truth.boxes[covered.index]
        present, error = truth.present[covered.index], result.squared_error
        kept = result.add_frame(covered.index, before, after, boxes, present)
        if result.loss is not None:
            result.loss.add(
                Loss(whole=result.squared_error - error)
                if covered.whole
                else background_loss(before, after, covered.rects, present)
            )
        for box, share in zip(boxes, kept, strict=True):
            if share >= EXPOSED_SHARPNESS:
                rects = tuple(tuple(r) for r in covered.rects)
                edge = edge_distance(box, width, height)
                result.leaks.append(Leak(covered.index, box, share, edge, rects))  # type: ignore[arg-type]


def cases_for(
    seeds: Sequence[int],
    names: Sequence[str] | None,
    dev: bool,
    emerging: Sequence[int] = (),
    motion: Sequence[int] = (),
) -> list[Case]:
    cases: list[Case] = list(DEV_CASES) if dev else []
    for seed in seeds:
        cases += held_out_cases(seed)
    for seed in emerging:
        cases += emerging_cases(seed)
    for seed in motion:
        cases += motion_cases(seed)
    if names:
        cases = [c for c in cases if c.name in names]
    return cases


def _counts(stats: CoverageStats) -> str:
    detect = 1e3 * stats.detect_cpu_s / max(1, stats.frames)
    return (
        f" (detect {detect:.1f}; tracks {stats.tracks}, second looks {stats.second_looks}, "
        f"follow-ups {getattr(stats, 'follow_ups', 0)}, "
        f"edge searches {getattr(stats, 'edge_searches', 0)}, "  # (0 before issue 14n)
        f"edge looks {getattr(stats, 'edge_looks', 0)}/{getattr(stats, 'edge_look_faces', 0)} "
        f"{1e3 * getattr(stats, 'edge_look_cpu_s', 0.0):.0f} ms, "
        f"emerge looks {getattr(stats, 'emerge_looks', 0)}/{getattr(stats, 'emerge_faces', 0)} "
        f"{1e3 * getattr(stats, 'emerge_cpu_s', 0.0):.0f} ms)"
    )


def report(results: Sequence[SimResult], detail: bool, loss: bool = False) -> list[str]:
    lines = []
    for r in results:
        lines.append(
            f"{r.case.name:24} exposed {len(r.exposed):3}/{r.face_frames:<3} "
            f"worst {r.worst_kept:5.2f} PSNR {r.background_psnr:6.2f}"
            + (f" whole {r.whole}" if r.whole else "")
            + f"  coverage {1e3 * r.coverage_cpu_s / max(1, r.frames):5.1f} ms/frame"
            + (_counts(r.stats) if r.stats is not None else "")
        )
        if r.baseline is not None:
            b = r.baseline
            lines.append(
                f"{'  without extents':24} exposed {len(b.exposed):3}/{b.face_frames:<3} "
                f"worst {b.worst_kept:5.2f} PSNR {b.background_psnr:6.2f}; "
                f"frames whose rectangles are not inside the run's: {len(r.uncontained)}"
            )
        if loss and r.loss is not None:
            lines.append(f"    {r.loss.shares()}")
        if detail:
            for leak in r.leaks:
                x0, y0, x1, y1 = leak.box
                lines.append(
                    f"    frame {leak.frame:3}: face {x1 - x0}x{y1 - y0} at ({x0},{y0}) "
                    f"kept {leak.kept:.2f}, {leak.edge} px from the edge; "
                    f"blurred {list(leak.rects)}"
                )
    exposed = sum(len(r.exposed) for r in results)
    leaking = sum(1 for r in results if r.exposed)
    good = sum(r.background_psnr >= 35 for r in results)
    lines.append(
        f"exposed frames {exposed} in {leaking} of {len(results)} cases; "
        f"PSNR >= 35 dB (simulated, no re-encoding) in {good} of {len(results)}"
    )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, action="append", default=[])
    parser.add_argument(
        "--emerging",
        type=int,
        action="append",
        default=[],
        help="the 8 cases of this seed where a small face comes out from behind a larger one",
    )
    parser.add_argument(
        "--motion",
        type=int,
        action="append",
        default=[],
        help="the 8 cases of this seed whose faces turn, stop and go, sway, walk up or away, "
        "or are filmed by a shaking camera",
    )
    parser.add_argument("--dev", action="store_true", help="the dev cases too")
    parser.add_argument("--case", action="append", help="only these cases")
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--detail", action="store_true", help="every face left sharp")
    parser.add_argument(
        "--loss", action="store_true", help="where each case's background error lies"
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/blur-sim-cache"))
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also without profile extents, side by side (and check its rectangles are inside)",
    )
    parser.add_argument(
        "--weak-extent", action="store_true", help="profile extents of weak detections too"
    )
    parser.add_argument(
        "--no-edge-look", action="store_true", help="without the edge look after a start or cut"
    )
    parser.add_argument(
        "--emerge-look",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the look beside larger faces between passes (default: on)",
    )
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    base = CoverageSettings.for_mode(args.strict)
    settings = replace(
        base,
        weak_extent=args.weak_extent,
        edge_look=not args.no_edge_look,
        emerge_look=base.emerge_look if args.emerge_look is None else args.emerge_look,
    )
    results = []
    dev = args.dev or not (args.seed or args.emerging or args.motion)
    for case in cases_for(args.seed, args.case, dev, args.emerging, args.motion):
        results.append(simulate(case, args.cache, settings, baseline=args.baseline, loss=args.loss))
        for line in report(results[-1:], args.detail, args.loss)[:-1]:
            print(line, flush=True)
    print(report(results, False)[-1])
    if args.loss:
        total, low = Loss(), Loss()
        for r in results:
            assert r.loss is not None
            total.add(r.loss)
            if r.background_psnr < 35:
                low.add(r.loss)
        print("all cases: " + total.shares())
        print("cases under 35 dB: " + low.shares())
    if args.baseline:
        plain = [r.baseline for r in results if r.baseline is not None]
        print("without extents: " + report(plain, False)[-1])
        print(f"frames not contained: {sum(len(r.uncontained) for r in results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
