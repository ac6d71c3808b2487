"""Recall on still frames of small faces (20–40 px), per pose and size (issue 14w).

Frames of the test set's kind (``devtools.synthetic.faces``: the astronaut — frontal —,
the cameraman — profile, mirrored for the other side —, ``lfw_subset`` people 0–99, on
the test set's backgrounds), three faces each, 20–40 px wide, upright or tilted
10–25° either way, placed apart. Each face is searched as ``tracking.FaceCoverage``
searches a small moving region around it (the region a face moving ~its own width
per pass makes: its box grown by its side; faces from ``min_face`` up, not a still
region), by the pipeline's detector with and without the fine level
(``BlazeFaceDetector.fine_target``). Found: a detection centred within half the
face's width of the face's centre, 0.5–2.5 × its size (``found_by``). Boxes that
match no face are counted as *other* (texture, parts of faces), confident and weak:
what a change may cost in background PSNR.

    python -m devtools.bench.small_faces --seed 1 --frames 40 --fine 0 40
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from chalicelib.faces import video
from chalicelib.faces.blazeface import FINE_TARGET, default_detector
from devtools.synthetic.faces import SOURCE_CRF, VGA, Actor, Case, render, source_preset

PixelBox = tuple[int, int, int, int]  # x0, y0, x1, y1
PixelRect = tuple[int, int, int, int]  # x, y, w, h
BACKGROUNDS = (
    "rocket",
    "grid",
    "coffee",
    "brick",
    "grass",
    "hubble_deep_field",
    "chelsea",
    "retina",
    "immunohistochemistry",
)
SIZES = ((20, 24), (25, 29), (30, 34), (35, 40))


@dataclass(frozen=True)
class Still:
    """One generated frame (grey) and its faces: box (x0, y0, x1, y1), pose, width."""

    grey: np.ndarray
    faces: tuple[tuple[PixelBox, str, int], ...]


def pose_of(actor: Actor) -> str:
    """``frontal``, ``profile`` or ``tilted`` (any source turned by 10° or more).

    >>> pose_of(Actor("camera", 20, (0, 0))), pose_of(Actor("lfw-3", 20, (0, 0), tilt=-12))
    ('profile', 'tilted')
    """
    if abs(actor.tilt) >= 10:
        return "tilted"
    return "profile" if actor.source.startswith("camera") else "frontal"


def small_face_stills(seed: int, count: int, size: tuple[int, int] = VGA) -> list[Still]:
    """``count`` frames of three small faces each (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    width, height = size
    sources = ["astronaut", "camera", "camera-mirrored", *(f"lfw-{i}" for i in range(100))]
    weights = np.array([0.2, 0.15, 0.15, *([0.5 / 100] * 100)])
    stills: list[Still] = []
    frames: list[np.ndarray] = []
    for number in range(count):
        cells = rng.permutation(6)[:3]  # three of a 3 × 2 grid of cells: faces apart
        actors = []
        for cell in cells:
            face = int(rng.integers(20, 41))
            left, top = (cell % 3) * width / 3, (cell // 3) * height / 2
            centre = (
                float(left + rng.uniform(2 * face, width / 3 - 2 * face)),
                float(top + rng.uniform(2 * face, height / 2 - 2 * face)),
            )
            tilt = float(rng.choice([0.0, 0.0, 1.0, -1.0]) * rng.uniform(10, 25))
            source = str(rng.choice(sources, p=weights / weights.sum()))
            actors.append(Actor(source, face, centre, tilt=tilt))
        case = Case(
            f"small-{seed}-{number}",
            size,
            tuple(actors),
            BACKGROUNDS[number % len(BACKGROUNDS)],
            frames=1,
        )
        frame, boxes = next(iter(render(case)))
        faces = tuple(
            (box, pose_of(actor), actor.width) for box, actor in zip(boxes, actors, strict=True)
        )
        frames.append(frame)
        stills.append(Still(np.zeros(0, np.uint8), faces))
    # Through the test set's encoder and the pipeline's decoder and luma, as a video's
    # frames reach the detector.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "stills.mp4"
        with video.VideoWriter(
            path,
            width,
            height,
            30.0,
            threads=1,
            preset=source_preset(width, height),
            crf=SOURCE_CRF,
        ) as out:
            for frame in frames:
                out.write(frame)
        greys = [video.luma(f, height).copy() for f in video.yuv420_frames(path, threads=1)]
    return [replace(still, grey=grey) for still, grey in zip(stills, greys, strict=True)]


def found_by(box: PixelBox, rects: Sequence[PixelRect]) -> list[int]:
    """Indices of the detections ``rects`` (x, y, w, h) that find the face ``box``
    (x0, y0, x1, y1): centred within half its width of its centre, 0.5–2.5 × its size.

    >>> found_by((100, 100, 130, 130), [(98, 97, 36, 36), (100, 100, 90, 90), (150, 100, 30, 30)])
    [0]
    """
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hits = []
    for number, (x, y, w, h) in enumerate(rects):
        near = math.hypot(x + w / 2 - cx, y + h / 2 - cy) <= 0.5 * (x1 - x0)
        if near and 0.5 <= max(w, h) / side <= 2.5:
            hits.append(number)
    return hits


def moving_region(box: PixelBox, width: int, height: int) -> PixelRect:
    """The region a small face moving about its own width per pass makes: its box grown
    by its side on every side (and 8 px, as ``FaceCoverage._motion`` grows motion),
    clipped to the frame.

    >>> moving_region((100, 100, 130, 130), 640, 480)
    (62, 62, 106, 106)
    """
    x0, y0, x1, y1 = box
    grow = max(x1 - x0, y1 - y0) + 8
    left, top = max(0, x0 - grow), max(0, y0 - grow)
    return left, top, min(width, x1 + grow) - left, min(height, y1 + grow) - top


@dataclass
class Tally:
    """Faces found per (pose, size band), boxes matching no face, CPU."""

    # [found, found confidently, faces]
    found: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    other_confident: int = 0
    other_weak: int = 0
    cpu_s: float = 0.0
    searches: int = 0

    def add(self, pose: str, width: int, hit: bool, sure: bool) -> None:
        band = next(f"{lo}-{hi}" for lo, hi in SIZES if lo <= width <= hi)
        for key in ((pose, band), (pose, "all"), ("all", band), ("all", "all")):
            counts = self.found.setdefault(key, [0, 0, 0])
            counts[0] += int(hit)
            counts[1] += int(sure)
            counts[2] += 1


def measure(stills: Sequence[Still], fine_target: int | None) -> Tally:
    """Search every face's moving region with the pipeline's detector (``fine_target``
    for its BlazeFace) and tally what is found."""
    detector = default_detector()
    detector.blaze.fine_target = fine_target
    tally = Tally()
    for still in stills:
        height, width = still.grey.shape
        for box, pose, face_width in still.faces:
            region = moving_region(box, width, height)
            started = time.process_time()
            found = detector.search(still.grey, [region], [detector.min_face], [False])
            tally.cpu_s += time.process_time() - started
            tally.searches += 1
            rects = [rect for rect, _view in found]
            hits = found_by(box, rects)
            sure = any(not found[i][1].endswith("?") for i in hits)
            tally.add(pose, face_width, bool(hits), sure)
            others = [
                view
                for rect, view in found
                if not any(found_by(other, [rect]) for other, _pose, _w in still.faces)
            ]
            tally.other_weak += sum(view.endswith("?") for view in others)
            tally.other_confident += sum(not view.endswith("?") for view in others)
    return tally


def report(tallies: dict[str, Tally]) -> list[str]:
    names = list(tallies)
    lines = [f"{'pose':<9}{'size':<7}" + "".join(f"{name:>16}" for name in names)]
    keys = sorted(next(iter(tallies.values())).found)
    for pose, band in keys:
        cells = []
        for name in names:
            hit, sure, total = tallies[name].found[(pose, band)]
            cells.append(f"{hit:>3} ({sure:>3})/{total:<3}")
        lines.append(f"{pose:<9}{band:<7}" + "".join(f"{c:>16}" for c in cells))
    rows = {
        "other, confident": [str(tallies[n].other_confident) for n in names],
        "other, weak": [str(tallies[n].other_weak) for n in names],
        "CPU ms/search": [
            f"{1000 * tallies[n].cpu_s / max(1, tallies[n].searches):.1f}" for n in names
        ],
    }
    for label, values in rows.items():
        lines.append(f"{label:<16}" + "".join(f"{value:>16}" for value in values))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument(
        "--fine", type=int, nargs="+", default=[0, FINE_TARGET], help="fine targets (0: none)"
    )
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    stills = small_face_stills(args.seed, args.frames)
    tallies = {
        (f"fine {fine}" if fine else "no fine"): measure(stills, fine or None) for fine in args.fine
    }
    print(
        f"seed {args.seed}: {args.frames} VGA frames, {3 * args.frames} faces of 20-40 px;"
        " found (of them confidently) / faces"
    )
    for line in report(tallies):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
