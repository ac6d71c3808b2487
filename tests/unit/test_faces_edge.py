"""Small fast faces at the frame's edge (issue 14n): entering or leaving, in view for a
few frames, each one covered in every frame.

Real faces (scikit-image's wheel) on real backgrounds, rendered in memory and covered
by the pipeline's own detector and ``FaceCoverage``; before issue 14n each of these
clips left the face sharp in 1-6 frames (the optical flow lost it, or it was in
view between two detection passes and never searched at its size).
"""

from __future__ import annotations

import cv2
import pytest

from devtools.bench.blur_sim import simulate_rendered
from devtools.synthetic.faces import Actor, Case

VGA = (640, 480)

CLIPS = [
    # entering
    Case("in-top", VGA, (Actor("lfw-3", 24, (200, -12), (-25, 20)),), "coffee", frames=10),
    Case("in-bottom", VGA, (Actor("lfw-7", 24, (400, 495), (25, -22)),), "grass", frames=10),
    Case("in-left-out-top", VGA, (Actor("lfw-3", 26, (-10, 100), (20, -18)),), "grass", frames=8),
    # leaving
    Case("out-bottom", VGA, (Actor("lfw-3", 24, (320, 420), (-20, 16)),), "grass", frames=10),
    Case("out-right", VGA, (Actor("lfw-7", 26, (560, 200), (26, -3)),), "brick", frames=10),
]


@pytest.mark.parametrize("case", CLIPS, ids=[case.name for case in CLIPS])
def test_a_small_fast_face_at_the_edge_is_never_left_sharp(case: Case) -> None:
    cv2.setNumThreads(1)
    result = simulate_rendered(case)
    assert result.face_frames >= 4  # the face is in view (counted) in a few frames
    assert result.exposed == [], [(leak.frame, leak.box, leak.kept) for leak in result.leaks]
    assert result.whole == 0  # by boxes, not by blurring whole frames
    assert result.background_psnr > 30  # and not by blurring the whole picture either
