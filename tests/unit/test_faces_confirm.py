"""A weak BlazeFace detection confirmed by the frontal Haar cascade (issue 14y)."""

from __future__ import annotations

import numpy as np

from chalicelib.faces.blazeface import haar_agrees, haar_confirms
from chalicelib.faces.detection import load_cascade


def test_the_cascade_agrees_only_with_a_face_at_the_box_s_place_and_size() -> None:
    box = (100, 100, 60, 60)
    assert haar_agrees(box, [(104, 96, 64, 64)])
    assert not haar_agrees(box, [])
    assert not haar_agrees(box, [(160, 100, 60, 60)])  # the next face
    assert not haar_agrees(box, [(120, 110, 24, 24)])  # an eye
    assert not haar_agrees(box, [(60, 60, 140, 140)])  # a head-and-shoulders box
    assert haar_agrees(box, [(160, 100, 60, 60), (98, 102, 58, 58)])


def test_a_flat_crop_is_not_confirmed_and_a_box_cut_short_is_not_searched() -> None:
    grey = np.full((240, 320), 128, np.uint8)
    cascade = load_cascade("frontal")
    assert not haar_confirms(grey, (100, 80, 60, 60), cascade)
    assert not haar_confirms(grey[:50], (100, 0, 60, 60), cascade)
