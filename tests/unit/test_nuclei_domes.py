"""A dim nucleus on a bright one's flank (no dip between them) is a second dome: its own seed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells.nuclei import dome_seeds
from chalicelib.cells.segmentation import segment

R = 5.0  # nucleus radius at the working resolution
LONE = ((25, 25), (70, 25), (120, 25), (25, 95), (135, 95))


def _field(pair: tuple[float, float] | None, noise: float = 2.0) -> np.ndarray:
    """Five lone nuclei (radius 7 px, 8 bit) and, with ``pair`` = (distance, brightness),
    a bright nucleus at (60, 85) with a dimmer one touching it on its right."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:120, 0:160].astype(np.float32)

    def disc(x: float, y: float, height: float) -> np.ndarray:
        return np.asarray(height * (((xx - x) ** 2 + (yy - y) ** 2) <= 49.0), np.float32)

    raw = np.zeros(yy.shape, np.float32)
    for x, y in LONE:
        raw = np.maximum(raw, disc(x, y, 200.0))
    raw = np.maximum(raw, disc(60, 85, 200.0))
    if pair is not None:
        distance, height = pair
        raw = np.maximum(raw, disc(60 + distance, 85, height))
    image = cv2.GaussianBlur(raw, (0, 0), 2.0) + 10 + rng.normal(0, noise, raw.shape)
    return np.asarray(np.clip(image, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("height", [120.0, 140.0])
def test_a_dim_nucleus_beside_a_bright_one_is_its_own_object(height: float) -> None:
    image = _field((12.0, height))
    row = image[85, 60:73].astype(int)
    assert np.all(np.diff(row[:10]) <= 2)  # the bright one's flank runs into it: no dip
    assert segment(image).count == len(LONE) + 2  # main: one object for the pair


def test_lone_nuclei_and_a_lone_bright_one_are_not_split() -> None:
    assert segment(_field(None)).count == len(LONE) + 1


def _row(discs: list[tuple[int, float]]) -> np.ndarray:
    """Discs (radius 5.5 px) at x with their heights along y = 20 of a 40 x 90 image, blurred."""
    yy, xx = np.mgrid[0:40, 0:90].astype(np.float32)
    raw = np.zeros(yy.shape, np.float32)
    for x, height in discs:
        raw = np.maximum(raw, height * (((xx - x) ** 2 + (yy - 20) ** 2) <= 5.5**2))
    return np.asarray(cv2.GaussianBlur(raw, (0, 0), 1.5), np.float32)


LONE_ROW = [(15, 100.0), (50, 100.0), (75, 100.0)]


def _objects(image: np.ndarray, seeds: list[int]) -> tuple[np.ndarray, np.ndarray]:
    _, labels = cv2.connectedComponents((image > 10).astype(np.uint8))
    markers = np.zeros(labels.shape, np.int32)
    for x in seeds:
        markers[20, x] = labels[20, x]
    return labels.astype(np.int32), markers


def test_the_new_seed_is_on_the_dim_nucleus() -> None:
    image = _row([*LONE_ROW, (24, 60.0)])
    labels, markers = _objects(image, [15, 50, 75])
    found = dome_seeds(image, labels, markers, image, R, 1.0)
    assert len(found) == 1
    row, col = found[0]
    assert row == 20 and 22 <= col <= 28  # on the dim nucleus (centre 24), not the bright one


@pytest.mark.parametrize("case", ["one nucleus each", "a weak dome", "no typical object"])
def test_no_seed_without_a_second_nucleus_sized_dome(case: str) -> None:
    image = _row(LONE_ROW if case == "one nucleus each" else [*LONE_ROW, (24, 60.0)])
    labels, markers = _objects(image, [15, 50, 75])
    if case == "no typical object":  # the pair alone: it is the typical object
        labels[:, 35:] = 0
        markers[:, 35:] = 0
    least = 1e6 if case == "a weak dome" else 1.0
    assert dome_seeds(image, labels, markers, image, R, least).tolist() == []


def test_no_objects_no_seeds() -> None:
    empty = np.zeros((30, 30), np.float32)
    labels = np.zeros((30, 30), np.int32)
    assert dome_seeds(empty, labels, labels, empty, R, 1.0).shape == (0, 2)
