"""Optical flow on a pyramid level: a large face is followed on a smaller copy."""

from __future__ import annotations

import cv2
import numpy as np

from chalicelib.faces.tracking import Pyramid, _features, _flow, _Track, flow_level


def test_a_large_face_is_followed_on_a_smaller_pyramid_level() -> None:
    rng = np.random.default_rng(5)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (300, 300), np.uint8), (5, 5), 0)
    before = np.full((720, 960), 90, np.uint8)
    after = before.copy()
    before[200:500, 300:600] = texture
    after[209:509, 293:593] = texture  # moved by (-7, +9)
    box = np.array([300.0, 200.0, 300.0, 300.0])
    assert flow_level(300) == 2
    track = _Track(0, 0, 0, box, points=_features(before, box))
    moved = _flow(Pyramid(before), Pyramid(after), track)
    assert moved is not None and np.abs(moved - [-7, 9]).max() < 1.0
    assert track.points is not None  # the points, back at full size, sit on the moved square
    inside = (track.points[:, 0, 0] >= 293) & (track.points[:, 0, 0] < 593)
    assert inside.mean() > 0.9
