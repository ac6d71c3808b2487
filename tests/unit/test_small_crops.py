"""Small crops with few nuclei (issue-12w): a sane size or a flag, and no background counted."""

from __future__ import annotations

import pytest

from chalicelib.cells.counting import count_cells
from tests.unit.test_segmentation import tune_crop


@pytest.mark.parametrize(
    ("box", "low", "high"), [((168, 0, 72, 60), 4, 6), ((30, 107, 96, 80), 12, 15)]
)
def test_flat_background_of_a_small_crop_is_not_counted(
    box: tuple[int, int, int, int], low: int, high: int
) -> None:
    # Small crops of vitra12_crowded (tune). An opening a quarter of the crop wide
    # followed a pair of nuclei, the ring it left under them pulled the background
    # level down, and flat 8-bit background came out as objects: 12 and 20 found.
    x, y, width, height = box
    image = tune_crop("vitra12_crowded").image[y : y + height, x : x + width]
    assert low <= count_cells(image).count <= high
