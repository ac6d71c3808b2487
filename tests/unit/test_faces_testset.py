"""The test set's background: every face reaching into the frame is left out of it."""

from __future__ import annotations

from devtools.synthetic.faces import (
    Actor,
    Case,
    background_mask,
    faces_present,
    render,
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
