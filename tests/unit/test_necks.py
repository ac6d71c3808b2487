"""Objects made of two nuclei joined at a neck are cut there; single nuclei are not."""

from __future__ import annotations

import cv2
import numpy as np

from chalicelib.cells.necks import split_necks


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
