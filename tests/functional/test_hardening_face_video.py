"""Hostile videos through the face workflow's own steps (issue qa4): frames smaller than
the smallest face, a header that understates the frame count, variable frame rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chalicelib.errors import UnsupportedType
from chalicelib.faces import process, video
from chalicelib.faces.blazeface import shared_detector
from chalicelib.faces.tracking import CoverageSettings


def tiny(path: Path, width: int, height: int, frames: int = 4) -> Path:
    with video.VideoWriter(path, width, height, 10.0) as out:
        for i in range(frames):
            out.write(np.full((height, width, 3), 40 * i, np.uint8))
    return path


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (16, 16)])
def test_frames_smaller_than_the_smallest_face_are_refused_by_name(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    source = tiny(tmp_path / "tiny.mp4", *size)
    info = video.probe(source)
    target = tmp_path / "out.mp4"
    with pytest.raises(UnsupportedType, match="smaller than the smallest face"):
        process.anonymise(
            source,
            target,
            shared_detector(),
            info,
            settings=CoverageSettings(),
            segment=process.Segment(0, info.frames, 15),
        )
    assert not target.exists()


def test_frames_as_large_as_the_smallest_face_are_blurred(tmp_path: Path) -> None:
    side = shared_detector().min_face
    source = tiny(tmp_path / "small.mp4", side, side)
    info = video.probe(source)
    done = process.anonymise(source, tmp_path / "out.mp4", shared_detector(), info)
    assert done.frames == 4
