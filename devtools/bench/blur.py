"""``lab bench blur``: frames per second of each face-blur stage.

For a generated video (a real face moving across a sharp grid, 30 fps) at
640×480 and 1920×1080: decode, detect (per detected frame, Haar on a 320 px
wide copy), blur (per frame), encode (H.264 with one ffmpeg thread), and the
whole pipeline end to end (two decoding passes, detection at 5 Hz) on one core.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import cv2

from chalicelib.faces import process, video
from chalicelib.faces.detection import HaarFaceDetector, blur_boxes
from devtools.bench.progress import progress
from devtools.synthetic.faces import moving_face

SIZES = ((640, 480), (1920, 1080))
FRAMES = 90  # 3 s at 30 fps


def stage_rates(path: Path, target: Path) -> dict[str, float]:
    frames = list(video.frames(path))
    started = time.perf_counter()
    for _ in video.frames(path):
        pass
    decode = len(frames) / (time.perf_counter() - started)
    detector = HaarFaceDetector()
    sampled = frames[::6]
    started = time.perf_counter()
    boxes = [detector.detect(f) for f in sampled]
    detect = len(sampled) / (time.perf_counter() - started)
    face = next((b for b in boxes if b), ())
    copies = [f.copy() for f in frames]
    started = time.perf_counter()
    for frame in copies:
        blur_boxes(frame, face)
    blur = len(copies) / (time.perf_counter() - started)
    height, width = frames[0].shape[:2]
    started = time.perf_counter()
    with video.VideoWriter(target, width, height, 30.0, threads=1) as out:
        for frame in copies:
            out.write(frame)
    encode = len(copies) / (time.perf_counter() - started)
    return {"decode": decode, "detect": detect, "blur": blur, "encode": encode}


def end_to_end(path: Path, target: Path) -> tuple[float, float]:
    """(fps, multiple of real time) for detect + blur + encode of a 30 fps video."""
    started = time.perf_counter()
    found = process.detect(path, HaarFaceDetector(), sample_hz=5.0)
    done = process.blur(path, target, found.samples, found.info, threads=1)
    seconds = time.perf_counter() - started
    return done.frames / seconds, done.frames / found.info.fps / seconds


def run() -> int:
    cv2.setNumThreads(1)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for width, height in progress(SIZES, "bench blur"):
            source = Path(folder) / f"face-{width}x{height}.mp4"
            moving_face(source, frames=FRAMES, size=(width, height), fps=30.0)
            rates = stage_rates(source, Path(folder) / "stage.mp4")
            fps, realtime = end_to_end(source, Path(folder) / "out.mp4")
            rows.append((f"{width}x{height}", rates, fps, realtime))
    print(
        f"\n{'size':>10} {'decode':>9} {'detect':>9} {'blur':>9} {'encode':>9} "
        f"{'end to end':>11} {'x real time':>12}   "
        f"(frames/s, 1 core; output {video.output_codec()})"
    )
    for size, rates, fps, realtime in rows:
        cells = " ".join(f"{rates[k]:9.0f}" for k in ("decode", "detect", "blur", "encode"))
        print(f"{size:>10} {cells} {fps:11.0f} {realtime:11.1f}x")
    print(
        "detect is per detected frame (Haar, 320 px wide); the pipeline detects 5 times a second."
    )
    print("target: 640x480 at 30 fps end to end >= 2x real time")
    return 0
