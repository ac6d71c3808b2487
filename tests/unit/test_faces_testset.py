"""The test set: its background (every face reaching into the frame is left out of
it) and its motions beyond a straight line."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from devtools.synthetic.faces import (
    DEV_CASES,
    MOTIONS,
    Actor,
    Case,
    background_mask,
    faces_present,
    held_out_cases,
    motion_cases,
    motion_key,
    render,
    shake_offsets,
    visible_fraction,
)


def test_a_face_barely_inside_is_not_background_though_not_counted_as_exposed() -> None:
    case = Case("entering", (160, 120), (Actor("lfw-3", 40, (-25, 60), (4, 0)),), frames=6)
    present = faces_present(case)
    counted = [boxes for _frame, boxes in render(case)]
    assert present[0] == []  # wholly outside
    sliver = present[2][0]
    assert 0 < visible_fraction(sliver, 160, 120) < 0.25  # a sliver of it is inside
    assert counted[2] == []  # too little inside to count for exposure...
    mask = background_mask((120, 160), present[2])
    assert not mask[60, 0]  # ...but its pixels are not background either
    assert mask[60, 100]
    # once inside enough it counts; the background is grown from its whole size
    assert counted[5] == [(0, 39, 15, 80)] and present[5] == [(-25, 39, 15, 80)]
    grown = background_mask((120, 160), present[5])
    assert not grown[60, 34] and grown[60, 36]  # 15 + half of 40 = 35


def _widths(case: Case) -> list[int]:
    return [x1 - x0 for x0, _y0, x1, _y1 in (boxes[0] for boxes in faces_present(case))]


def test_a_face_walking_up_to_the_camera_grows_and_one_walking_away_shrinks() -> None:
    still = Case("still", (320, 240), (Actor("lfw-60", 40, (160, 120)),), "grid", frames=31)
    assert len(set(_widths(still))) == 1
    up = replace(still, actors=(replace(still.actors[0], zoom=2.0),))
    away = replace(still, actors=(replace(still.actors[0], zoom=0.5),))
    first = _widths(still)[0]
    assert _widths(up)[0] == first == _widths(away)[0]
    assert 1.35 < _widths(up)[-1] / first < 1.48  # 2^(30/60) = 1.41
    assert 0.66 < _widths(away)[-1] / first < 0.76
    frames = [frame for frame, _boxes in render(up)]
    assert not np.array_equal(frames[0], frames[-1])  # the sprite itself grew


def test_a_shaking_camera_moves_the_whole_frame_and_the_faces_with_it() -> None:
    steady = Case("hand", (320, 240), (Actor("lfw-60", 40, (160, 120)),), "grid", frames=12)
    shaken = replace(steady, shake=5.0)
    offsets = shake_offsets(shaken)
    assert offsets.shape == (12, 2) and np.abs(offsets).max() > 0
    for index, ((a, boxes_a), (b, boxes_b)) in enumerate(
        zip(render(steady), render(shaken), strict=True)
    ):
        dx, dy = (int(v) for v in offsets[index])
        x0, y0, x1, y1 = boxes_a[0]
        assert boxes_b[0] == (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
        # inside the frame (away from the mirrored edges) the picture moved as a whole
        inner = a[20:-20, 20:-20]
        assert np.array_equal(b[20 + dy : 220 + dy, 20 + dx : 300 + dx], inner)
    assert np.array_equal(shake_offsets(shaken), offsets)  # the same shake every time


def test_a_turning_face_curves_and_a_stopping_one_slows_to_a_halt() -> None:
    walker = Actor("lfw-60", 40, (60.0, 120.0), (8.0, 0.0))
    straight = Case("straight", (320, 240), (walker,), "grid", frames=20)
    turning = replace(straight, actors=(replace(walker, turn=4.0),))
    pausing = replace(straight, actors=(replace(walker, pause=10),))
    line, turn, pause = (
        [boxes[0] for boxes in faces_present(c)] for c in (straight, turning, pausing)
    )
    assert {box[1] for box in line} == {line[0][1]}  # a straight line stays level
    assert turn[-1][1] > turn[0][1] + 40 and turn[-1][0] < line[-1][0]  # it turns down
    steps = np.diff([box[0] for box in pause])
    assert steps[0] >= 7 and steps[9:11].max() <= 1 and steps[-1] >= 6  # stops at 10, goes


def test_the_motion_set_draws_every_motion_and_leaves_the_older_sets_as_they_were() -> None:
    cases = [c for seed in range(6) for c in motion_cases(seed)]
    kinds = {c.name.split("-", 3)[3] for c in cases}
    assert kinds == set(MOTIONS)
    assert all(motion_key(c) for c in cases)  # each names its cached video apart
    # the straight-line sets' cached videos keep their names (``repr`` and no motion key)
    assert all(motion_key(c) == "" for c in (*DEV_CASES, *held_out_cases(57)))
