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


def _moving_scene(steps: list[tuple[int, int]]) -> list[np.ndarray]:
    """Grey frames going back in time: a textured square on a flat background, moved
    back by each of ``steps`` (dx, dy) in turn (its forward velocity, px/frame)."""
    rng = np.random.default_rng(2)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (40, 40), np.uint8), (5, 5), 0)
    x, y = 120, 80
    greys = []
    for dx, dy in [(0, 0), *steps]:
        x, y = x - dx, y - dy
        grey = np.full((200, 300), 90, np.uint8)
        grey[y : y + 40, x : x + 40] = texture
        greys.append(grey)
    return greys


def test_a_face_is_followed_back_until_its_velocity_jumps() -> None:
    from chalicelib.faces.tracking import follow_back

    box = np.array([120.0, 80.0, 40.0, 40.0])
    # 8 px/frame to the right, then (going back) 8 px/frame up: a jump of 16 px/frame
    followed = follow_back(_moving_scene([(8, 0)] * 3 + [(0, -8)] * 2), box)
    assert len(followed) == 3
    assert np.abs(followed[-1][0][:2] - [96, 80]).max() < 1.0
    assert np.abs(followed[-1][1] - [8, 0]).max() < 0.5


def test_a_face_is_not_followed_back_on_another_face_s_motion() -> None:
    from chalicelib.faces.tracking import follow_back

    box = np.array([120.0, 80.0, 40.0, 40.0])
    greys = _moving_scene([(8, 0)] * 4)
    assert len(follow_back(greys, box)) == 4
    # moving as another face moves, not as it moves itself after it was found: that
    # face's pixels (the face came out from behind it)
    others = [np.array([7.0, 1.0])]
    assert follow_back(greys, box, own=np.array([0.0, 6.0]), others=others) == []
    assert len(follow_back(greys, box, own=np.array([8.0, 0.0]), others=others)) == 4
    # (nor when the two move alike: the flow tells nothing of whose pixels it follows)
    assert len(follow_back(greys, box, own=np.array([7.0, 2.0]), others=others)) == 4


def _shaken_scene(
    shifts: list[tuple[int, int]], velocity: tuple[int, int]
) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """Grey 320 x 240 frames of a textured scene under a camera shifted by each of
    ``shifts`` (dx, dy) in turn, with a 64-px textured face moving ``velocity``
    px/frame through it by itself; and the face's corner in each frame."""
    from tests.face_doubles import texture

    scene = texture(300, 400, seed=3, blur=9)
    face = texture(64, 64, seed=4, blur=9)
    greys, corners = [], []
    for index, (sx, sy) in enumerate(shifts):
        grey = scene[30 - sy : 270 - sy, 40 - sx : 360 - sx].copy()
        x, y = 60 + velocity[0] * index + sx, 80 + velocity[1] * index + sy
        grey[y : y + 64, x : x + 64] = face
        greys.append(grey)
        corners.append((x, y))
    return greys, corners


def test_a_face_jolted_by_a_shaking_camera_is_followed_not_coasted() -> None:
    # motion-11148-0-shake: under a hand-held camera the flow's step of a face is its
    # own motion plus the camera's jolt. Judged against the face's velocity alone it
    # was refused ("locked onto the background"), the box coasted 14 px off a 27-px
    # face, kept 0.41. Less the jolt (the whole picture's step against its usual
    # one), it is the face's own motion: taken.
    from chalicelib.faces.tracking import FaceCoverage
    from tests.face_doubles import NoSeer

    shifts = [(0, 0), (1, 0), (0, 1), (1, 1), (0, 0), (1, 0), (0, 1), (1, 1), (0, 0)]
    shifts.append((-6, 9))  # the jolt into the last frame
    greys, corners = _shaken_scene(shifts, (8, 0))
    last = len(greys) - 1
    coverage = FaceCoverage(NoSeer(), (320, 240), 30.0)
    for index, grey in enumerate(greys[:last]):
        coverage._greys[index] = grey
    box = np.array([*corners[last - 1], 64, 64], np.float64)
    track = _Track(0, 0, last - 1, box.copy(), points=_features(greys[last - 1], box))
    track.velocity, track.measured = np.array([8.0, 0.0]), True
    coverage._tracks = [track]
    coverage._follow(Pyramid(greys[last - 1]), Pyramid(greys[last]), last)
    assert np.abs(track.box[:2] - corners[last]).max() < 1.5, (track.box, corners[last])
    assert track.followed == last
    # ... and its velocity is measured by its own step, the jolt left out (with it,
    # (5.6, 3.6) px/frame: the pads grew with such swings)
    assert np.abs(track.velocity - [8, 0]).max() < 1.0, track.velocity


def test_a_face_whose_flow_stops_under_a_still_camera_coasts() -> None:
    # ... and without a jolt, a flow that says "still" for a fast face is refused as
    # before: its points locked onto the background.
    from chalicelib.faces.tracking import FaceCoverage
    from tests.face_doubles import NoSeer

    greys, corners = _shaken_scene([(0, 0)] * 10, (0, 0))
    coverage = FaceCoverage(NoSeer(), (320, 240), 30.0)
    for index, grey in enumerate(greys[:9]):
        coverage._greys[index] = grey
    box = np.array([*corners[8], 64, 64], np.float64)
    track = _Track(0, 0, 8, box.copy(), points=_features(greys[8], box))
    track.velocity, track.measured = np.array([12.0, 0.0]), True
    coverage._tracks = [track]
    coverage._follow(Pyramid(greys[8]), Pyramid(greys[9]), 9)
    assert np.allclose(track.box[:2] - box[:2], (12, 0)) and track.points is None
