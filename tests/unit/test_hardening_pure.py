"""Regression tests of the adversarial pass (issue 13), pure code: each finding, made a test."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from chalicelib import jsonsafe
from chalicelib.cells.counting import MAX_HOUGH_RADIUS, count_cells
from chalicelib.errors import InvalidInput

DEEP = "[" * 20000 + "]" * 20000


# -- bounded-depth JSON -----------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [DEEP, '{"a":' + DEEP + "}", "[" * 65 + "]" * 65, '{"task":"predict","input":' + DEEP + "}"],
)
def test_deep_json_is_a_value_error_not_a_recursion_error(text: str) -> None:
    with pytest.raises(jsonsafe.JSONError, match="nested"):
        jsonsafe.loads(text)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"text": "[" * 5000, "escaped": '\\"[[[[' * 100})
    assert jsonsafe.loads(text)["text"] == "[" * 5000
    assert jsonsafe.loads("[" * 64 + "]" * 64) is not None


@pytest.mark.parametrize("text", ["1" * 5000, b"\xff\xfe", "{", ""])
def test_other_bad_json_is_a_value_error(text: str | bytes) -> None:
    with pytest.raises(ValueError):
        jsonsafe.loads(text)


# -- Hough parameters ---------------------------------------------------------------------
def _image() -> np.ndarray:
    image = np.zeros((200, 300), np.uint8)
    cv2.circle(image, (100, 100), 15, 255, -1)
    cv2.circle(image, (200, 100), 15, 255, -1)
    return image


@pytest.mark.parametrize(
    "parameters",
    [
        {"blur": "4"},
        {"blur": "-3"},
        {"dp": "0"},
        {"min_dist": "0"},
        {"param1": "0"},
        {"param2": "0"},
        {"min_radius": "-1"},
        {"max_radius": "-1"},
        {"min_radius": "40", "max_radius": "30"},
        {"max_radius": "100000"},
        {"max_radius": str(MAX_HOUGH_RADIUS + 1)},
    ],
)
def test_bad_hough_parameters_are_invalid_input_and_cheap(parameters: dict[str, str]) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidInput):
        count_cells(_image(), "hough", **parameters)
    assert time.perf_counter() - started < 1.0


def test_good_hough_parameters_still_count() -> None:
    assert count_cells(_image(), "hough", min_radius="10", max_radius="20").count == 2
