"""The default (watershed) counting method: accuracy properties on generated images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells.counting import count_cells
from chalicelib.cells.segmentation import looks_like_brightfield, measure, normalise, segment
from chalicelib.errors import InvalidInput
from devtools.synthetic import cells as synthetic
from tests.conftest import ROOT
from tests.images import DISCS, discs


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("overlap", [0.0, 0.3])
def test_counts_touching_nuclei_under_uneven_light(dtype: type, overlap: float) -> None:
    scene = synthetic.nuclei(
        60,
        (384, 384),
        overlap=overlap,
        gradient=0.5,
        brightness_spread=0.3,
        elongation=1.5,
        debris=6,
        dtype=dtype,
        seed=11,
    )
    found = count_cells(scene.image).count
    assert abs(found - scene.count) <= 0.05 * scene.count


@pytest.mark.parametrize(
    "image",
    [np.zeros((64, 64), np.uint8), np.full((64, 64), 200, np.uint8), np.zeros((64, 64), np.uint16)],
)
def test_blank_images_have_no_objects(image: np.ndarray) -> None:
    assert count_cells(image).count == 0


def test_noise_alone_has_no_objects() -> None:
    noise = np.random.default_rng(0).normal(20, 3, (256, 256)).clip(0, 255).astype(np.uint8)
    assert count_cells(noise).count <= 1


def test_single_object_is_found_and_measured() -> None:
    image = discs(centres=((90, 70),), radius=20)
    [cell] = count_cells(image).cells
    assert abs(cell.x - 90) < 1.5 and abs(cell.y - 70) < 1.5
    assert abs(cell.area - np.pi * 20**2) / (np.pi * 20**2) < 0.15
    assert abs(cell.mean_intensity - 220) < 25
    x, y, w, h = cell.bbox
    assert abs(x - 70) <= 3 and abs(y - 50) <= 3 and abs(w - 41) <= 5 and abs(h - 41) <= 5


def test_objects_cut_by_the_border_count_once() -> None:
    image = discs(centres=((0, 90), (179, 90), (90, 0), (90, 90)), radius=15)
    assert count_cells(image).count == 4


def test_debris_is_rejected_by_size() -> None:
    image = discs(radius=15)
    for x, y in ((150, 20), (20, 160), (160, 160)):
        cv2.circle(image, (x, y), 1, 255, -1)
    assert count_cells(image).count == len(DISCS)


def test_expected_diameter_parameter_is_used() -> None:
    counting = count_cells(discs(), diameter="30")
    assert counting.parameters["estimated_diameter"] == 30.0 and counting.count == len(DISCS)


@pytest.mark.parametrize("params", [{"mode": "phase"}, {"threshold_offset": 0.9}, {"diameter": -1}])
def test_bad_parameters_are_refused(params: dict) -> None:
    with pytest.raises(InvalidInput):
        count_cells(discs(), **params)


def test_brightfield_is_told_from_fluorescence() -> None:
    fluorescent = synthetic.nuclei(30, (256, 256), seed=2).image
    brightfield = np.full((256, 256), 140, np.uint8)
    for x, y in ((60, 60), (150, 90), (90, 180), (200, 200)):
        cv2.circle(brightfield, (x, y), 18, 90, 3)
        cv2.circle(brightfield, (x, y), 22, 200, 2)
    assert not looks_like_brightfield(normalise(fluorescent, 0, float(fluorescent.max())))
    assert looks_like_brightfield(normalise(brightfield, 0, 255))
    assert count_cells(brightfield).parameters["detected_mode"] == "brightfield"
    assert count_cells(brightfield).count == 4


def test_measurements_are_in_original_units_when_working_smaller() -> None:
    scene = synthetic.nuclei(20, (600, 600), (30.0, 40.0), seed=3)
    found = segment(scene.image)
    assert found.scale < 1.0
    table = measure(found, scene.image)
    assert table.x.max() < 600 and table.y.max() < 600
    median_area = float(np.median(table.area))
    assert 0.7 < median_area / (np.pi * 35**2) < 1.3


def test_real_nuclei_image_within_five_percent() -> None:
    """The 2018 Data Science Bowl image shipped in bench/data (125 annotated nuclei)."""
    image = cv2.imread(str(ROOT / "bench" / "data" / "dsb2018-img2d.tif"), cv2.IMREAD_UNCHANGED)
    labels = cv2.imread(str(ROOT / "bench" / "data" / "dsb2018-mask2d.tif"), cv2.IMREAD_UNCHANGED)
    truth = len(np.unique(labels)) - 1
    assert truth == 125
    assert abs(count_cells(image).count - truth) <= 0.05 * truth


def test_coins_are_24() -> None:
    from skimage import data

    assert count_cells(data.coins()).count == 24
