"""Objects made of two nuclei joined at a neck are cut there; single nuclei are not."""

from __future__ import annotations

import cv2
import numpy as np

from chalicelib.cells.necks import join_clipped, split_necks


def scene(pair_gap: int, flagged: bool = False) -> tuple[np.ndarray, int]:
    """Four round objects (labels 1-4) and a fifth: two discs ``pair_gap`` apart
    (label 5), optionally one flagged object (label 6)."""
    labels = np.zeros((80, 260), np.int32)
    for i, x in enumerate((20, 60, 100, 140), start=1):
        cv2.circle(labels, (x, 25), 12, i, -1)
    cv2.circle(labels, (190, 25), 13, 5, -1)
    cv2.circle(labels, (190 + pair_gap, 25), 12, 5, -1)
    if flagged:
        cv2.rectangle(labels, (10, 55), (200, 60), 6, -1)
    return labels, 5


def test_two_overlapping_discs_become_two_objects() -> None:
    labels, count = scene(22)
    gray = (labels > 0).astype(np.uint8) * 100
    out, found = split_necks(labels.copy(), count, gray)
    assert found == 6
    assert np.array_equal(out > 0, labels > 0)  # no pixel lost or added
    assert np.array_equal(out[labels < 5], labels[labels < 5])  # the others untouched
    left, right = out[25, 185], out[25, 217]
    assert {int(left), int(right)} == {5, 6}


def test_a_long_convex_nucleus_and_a_wide_overlap_stay_whole() -> None:
    labels, count = scene(8)  # centres 8 px apart: no neck left
    gray = (labels > 0).astype(np.uint8) * 100
    assert split_necks(labels, count, gray)[1] == count
    ellipse = np.zeros_like(labels)
    for i, x in enumerate((20, 60, 100, 140), start=1):
        cv2.circle(ellipse, (x, 25), 12, i, -1)
    cv2.ellipse(ellipse, (200, 25), (30, 13), 0, 0, 360, 5, -1)
    assert split_necks(ellipse, 5, (ellipse > 0).astype(np.uint8) * 100)[1] == 5


def test_flagged_objects_move_up_behind_the_new_parts() -> None:
    labels, count = scene(22, flagged=True)
    flagged = labels == 6
    out, found = split_necks(labels.copy(), count, (labels > 0).astype(np.uint8) * 100)
    assert found == 6
    assert set(np.unique(out[flagged]).tolist()) == {7}


def test_a_saturated_object_is_left_whole() -> None:
    labels, count = scene(22)
    gray = (labels > 0).astype(np.uint8) * 100
    gray[labels == 5] = 255  # clipped at the top of 8 bits
    assert split_necks(labels, count, gray)[1] == count


def test_objects_are_found_on_coarse_labels_and_cut_at_full_resolution() -> None:
    labels, count = scene(22)
    gray = (labels > 0).astype(np.uint8) * 100
    coarse = cv2.resize(labels, (130, 40), interpolation=cv2.INTER_NEAREST)
    out, found = split_necks(labels.copy(), count, gray, coarse)
    direct, _ = split_necks(labels.copy(), count, gray)
    assert found == 6 and np.array_equal(out, direct)


def test_too_few_objects_to_know_a_typical_size() -> None:
    labels = np.zeros((40, 80), np.int32)
    cv2.circle(labels, (22, 20), 13, 1, -1)
    cv2.circle(labels, (46, 20), 12, 1, -1)
    assert split_necks(labels, 1, (labels > 0).astype(np.uint8))[1] == 1


def clipped_pieces(neck: bool) -> tuple[np.ndarray, np.ndarray]:
    """A saturated object cut in two pieces (labels 1, 2) by a one-pixel line, three
    round objects (3-5) and a flagged one (6). With ``neck`` the object is two
    overlapping discs, else one ellipse."""
    gray = np.zeros((70, 260), np.uint8)
    if neck:
        cv2.circle(gray, (40, 30), 15, 255, -1)
        cv2.circle(gray, (66, 30), 14, 255, -1)
    else:
        cv2.ellipse(gray, (52, 30), (24, 15), 0, 0, 360, 255, -1)
    labels = np.zeros(gray.shape, np.int32)
    labels[gray > 0] = 1
    labels[:, 53:][gray[:, 53:] > 0] = 2
    labels[:, 52] = 0
    for i, x in enumerate((120, 160, 200), start=3):
        cv2.circle(labels, (x, 30), 12, i, -1)
        cv2.circle(gray, (x, 30), 12, 120, -1)
    labels[60:65, 10:100] = 6
    return labels, gray


def test_pieces_of_one_saturated_nucleus_are_joined() -> None:
    labels, gray = clipped_pieces(neck=False)
    out, count = join_clipped(labels, 5, gray)
    assert count == 4
    assert out[30, 40] == out[30, 66] != 0
    assert set(np.unique(out[labels == 6]).tolist()) == {5}  # flagged: after the counted


def test_saturated_nuclei_with_a_neck_between_them_stay_apart() -> None:
    labels, gray = clipped_pieces(neck=True)
    assert join_clipped(labels, 5, gray)[1] == 5


def test_pieces_are_only_joined_inside_a_clipped_region() -> None:
    labels, gray = clipped_pieces(neck=False)
    gray[gray == 255] = 250  # the top value is no clipping level
    assert join_clipped(labels, 5, gray)[1] == 5
