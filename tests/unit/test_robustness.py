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


def points_case() -> robustness.Annotated:
    points = np.array([[10.0, 10.0], [50.0, 50.0], [90.0, 90.0], [60.0, 20.0]])
    return robustness.Annotated("dots", np.zeros((100, 100), np.uint8), points, 4, 4)


def test_a_window_counts_objects_cut_by_its_edge_in_the_high_end_only() -> None:
    # object radius: half the median nearest-neighbour distance, clipped to 3..15 -> 15
    crop = robustness.window(points_case(), (0, 0, 80, 80), "corner")
    assert crop.image.shape == (80, 80)
    # (10, 10) is 10 px inside, (90, 90) 10 px outside: both under a radius from the edge
    assert (crop.low, crop.high) == (2, 4)
    assert len(crop.points) == 3 and crop.name == "dots corner"


def test_small_crops_cover_three_scales_and_leave_out_tiny_ones() -> None:
    crops = list(robustness.small_crops(points_case()))
    scales = sorted({factor for factor, _ in crops})
    assert scales == [0.5, 1.0, 2.0]
    assert all(min(c.image.shape) >= 24 for _, c in crops)
    # 0.5x: 50 px, so only 0.55 (28 px) of its side is left; 1x and 2x: all three
    assert len(crops) == 8 * (1 + 3 + 3)
    assert all(0 <= c.low <= c.high for _, c in crops)
