"""The robustness suite's truth from a label mask."""

import numpy as np

from devtools.bench import robustness


def test_a_label_mask_gives_a_range_whose_low_end_leaves_out_slivers_at_the_edge() -> None:
    labels = np.zeros((40, 40), np.uint16)
    labels[10:16, 10:16] = 1  # whole, centroid at (12.5, 12.5)
    labels[20:26, 0:2] = 2  # a sliver cut by the left edge, centroid x = 0.5
    labels[30:36, 30:36] = 4  # ids need not be consecutive
    case = robustness.from_labels("mask", np.zeros((40, 40), np.uint8), labels, margin=3)
    assert (case.low, case.high) == (2, 3)
    assert case.error(2) == 0 and case.error(3) == 0
    assert case.error(1) > 0 and case.error(4) > 0
