from __future__ import annotations

import numpy as np
import pytest

from chalicelib.cells.counting import METHODS, count_cells, parameters_of
from chalicelib.errors import InvalidInput
from tests.images import DISCS, discs


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_hough_finds_each_disc(dtype: type) -> None:
    counting = count_cells(discs(dtype=dtype), "hough")
    assert counting.count == len(DISCS)
    found = sorted((round(c.x), round(c.y)) for c in counting.cells)
    for (x, y), (ex, ey) in zip(found, sorted(DISCS), strict=True):
        assert abs(x - ex) <= 2 and abs(y - ey) <= 2


@pytest.mark.parametrize("image", [np.zeros((64, 64), np.uint8), np.full((64, 64), 255, np.uint8)])
def test_zero_cells_is_a_result(image: np.ndarray) -> None:
    assert count_cells(image, "hough").count == 0


def test_disc_touching_the_border_is_still_counted() -> None:
    assert count_cells(discs(centres=((15, 90),), radius=14), "hough").count == 1


def test_hough_uses_the_seed_parameters() -> None:
    assert parameters_of("hough") == {
        "blur": 5,
        "dp": 1,
        "min_dist": 20,
        "param1": 50,
        "param2": 30,
        "min_radius": 5,
        "max_radius": 30,
    }


def test_parameters_given_as_strings_are_converted() -> None:
    counting = count_cells(discs(), "hough", min_radius="20", max_radius="40")
    assert counting.parameters["min_radius"] == 20 and counting.count == 0


@pytest.mark.parametrize(
    "method, params, message",
    [
        ("nope", {}, "unknown counting method"),
        ("hough", {"radius": 3}, "unknown parameter"),
        ("hough", {"min_radius": "big"}, "must be a number"),
        ("hough", {"min_radius": 2.5}, "whole number"),
        ("hough", {"param1": "nan"}, "finite"),
    ],
)
def test_bad_requests_are_invalid_input(method: str, params: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        count_cells(discs(), method, **params)


def test_every_method_is_pure_and_registered() -> None:
    for name, method in METHODS.items():
        assert method(discs()).method == name
