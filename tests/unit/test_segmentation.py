"""The default (watershed) counting method: properties on generated and annotated real images."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from chalicelib.cells import image_type
from chalicelib.cells.counting import count_cells
from chalicelib.cells.imaging import to_gray
from chalicelib.cells.nuclei import segment_nuclei
from chalicelib.cells.objects import shallow_pairs, watershed
from chalicelib.cells.scale import typical_radius
from chalicelib.cells.segmentation import measure, segment
from chalicelib.errors import InvalidInput
from devtools.bench import robustness
from devtools.synthetic import cells as synthetic
from tests.conftest import ROOT
from tests.images import DISCS, discs

ANNOTATED = ROOT / "bench" / "data" / "annotated"


def tune_crop(name: str) -> robustness.Annotated:
    [case] = [c for c in robustness.load_annotated(ANNOTATED) if c.name == name]
    assert case.split == "tune"  # tests never look at the held-out crops
    return case


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


def test_single_object_is_found_and_measured_at_full_resolution() -> None:
    image = discs(centres=((90, 70),), radius=20)
    [cell] = count_cells(image).cells
    assert abs(cell.x - 90) < 1.5 and abs(cell.y - 70) < 1.5
    assert abs(cell.area - np.pi * 20**2) / (np.pi * 20**2) < 0.25
    assert abs(cell.mean_intensity - 220) < 30
    x, y, w, h = cell.bbox
    assert abs(x - 70) <= 4 and abs(y - 50) <= 4 and abs(w - 41) <= 8 and abs(h - 41) <= 8


def test_labels_are_at_the_images_own_resolution() -> None:
    scene = synthetic.nuclei(20, (600, 600), (30.0, 40.0), seed=3)
    found = segment(scene.image)
    assert found.scale < 1.0 and found.labels.shape == scene.image.shape
    table = measure(found, scene.image)
    median_area = float(np.median(table.area[~table.flagged]))
    assert 0.5 < median_area / (np.pi * 35**2) < 1.3


def test_measurements_equal_a_pixel_by_pixel_reference() -> None:
    # measure sums over horizontal runs: check it against each label's own pixels,
    # with objects that wrap from one row's end to the next row's start.
    rng = np.random.default_rng(4)
    for trial in range(40):
        height, width = (int(v) for v in rng.integers(1, 30, 2))
        labels = rng.integers(0, 6, (height, width)).astype(np.int32)
        if trial % 2:
            labels = np.where(rng.random((height, width)) < 0.2, 0, 3).astype(np.int32)
        gray = rng.integers(0, 65535, labels.shape).astype(np.uint16)
        total = int(labels.max())
        flagged = min(total, trial % 3)
        found = SimpleNamespace(labels=labels, count=total - flagged, flagged=("x",) * flagged)
        table = measure(found, gray)  # type: ignore[arg-type]
        for label in range(1, total + 1):
            rows, cols = np.nonzero(labels == label)
            if rows.size == 0:
                assert table.area[label - 1] == 1 and table.bbox[label - 1].tolist() == [0] * 4
                continue
            assert table.area[label - 1] == rows.size
            assert table.x[label - 1] == pytest.approx(cols.mean(), abs=1e-9)
            assert table.y[label - 1] == pytest.approx(rows.mean(), abs=1e-9)
            assert table.integrated_intensity[label - 1] == gray[rows, cols].astype(float).sum()
            box = [cols.min(), rows.min(), cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min()]
            assert table.bbox[label - 1].tolist() == box
        assert table.flagged.tolist() == [i >= total - flagged for i in range(total)]


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


@pytest.mark.parametrize(
    "params, message",
    [
        ({"image_type": "xray"}, "image_type"),
        ({"threshold_offset": 9}, "within"),
        ({"diameter": -1}, "within"),
        ({"diameter": 1}, "at least 3"),
        ({"pixel_size": -0.1}, "within"),
    ],
)
def test_bad_parameters_are_refused(params: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        count_cells(discs(), **params)


def test_negative_threshold_offset_finds_more_never_fewer() -> None:
    # nuclei dim enough that the offset decides some (at a spread of 0.8 the dim-nucleus
    # seeds of issue 12ab find all 80 at every offset)
    scene = synthetic.nuclei(80, (384, 384), brightness_spread=1.0, noise=0.05, seed=4)
    counts = [count_cells(scene.image, threshold_offset=o).count for o in (1.0, 0.0, -1.0)]
    assert counts[0] <= counts[1] <= counts[2]
    assert counts[0] < counts[2]


def test_a_bright_fibre_is_one_flagged_object_not_ten_nuclei() -> None:
    image = discs(shape=(200, 260), centres=((30, 40), (30, 160), (230, 170)), radius=8)
    cv2.line(image, (70, 40), (220, 130), 255, 14)
    counting = count_cells(image, diameter=16)
    assert counting.count == 3
    [fibre] = counting.flagged
    assert "long" in (fibre.flag or "")


def test_watershed_runs_a_watershed_and_divides_touching_discs() -> None:
    image = np.zeros((80, 120), np.float32)
    cv2.circle(image, (42, 40), 18, 1.0, -1)
    cv2.circle(image, (76, 40), 18, 1.0, -1)
    relief = cv2.GaussianBlur(
        cv2.distanceTransform((image > 0).astype(np.uint8), cv2.DIST_L2, 5), (0, 0), 1
    )
    markers = np.zeros(image.shape, np.int32)
    markers[40, 36], markers[40, 82] = 1, 2
    labels = watershed(relief, markers, (image > 0).astype(np.uint8))
    assert set(np.unique(labels)) == {0, 1, 2}
    left, right = np.nonzero(labels == 1)[1], np.nonzero(labels == 2)[1]
    assert left.max() <= 60 <= right.min() + 2  # the line runs through the neck


def test_a_valley_keeps_touching_nuclei_apart_and_a_plateau_joins_pieces() -> None:
    labels = np.zeros((20, 40), np.int32)
    labels[:, :20], labels[:, 20:] = 1, 2
    valley = np.concatenate([np.linspace(1, 0.5, 20), np.linspace(0.5, 1, 20)])[None, :].repeat(
        20, 0
    )
    plateau = np.ones((20, 40), np.float32)
    assert len(shallow_pairs(labels, valley.astype(np.float32), 0.03)) == 0
    assert len(shallow_pairs(labels, plateau, 0.03)) == 1


def test_scale_estimate_finds_the_disc_size_when_discs_touch() -> None:
    image = np.zeros((200, 200), np.float32)
    for x in range(30, 180, 22):
        for y in range(30, 180, 22):
            cv2.circle(image, (x, y), 11, 1.0, -1)
    found = typical_radius(cv2.GaussianBlur(image, (0, 0), 1.0))
    assert found is not None and 8 < found[0] < 14


@pytest.mark.parametrize("power", [0.5, 2.0])
def test_image_type_survives_gamma_inversion_and_a_brightening_background(power: float) -> None:
    nuclei = tune_crop("human_a")
    for changed in (
        robustness.gamma(nuclei, power),
        robustness.background_up_signal_down(nuclei),
        robustness.gradient(nuclei, 0.6, "-x"),
    ):
        assert image_type.classify(changed.image).image_type == image_type.FLUORESCENCE
    inverted = image_type.classify(robustness.invert(nuclei).image)
    assert inverted.image_type == image_type.FLUORESCENCE and inverted.polarity == -1
    phase = tune_crop("pc250_sparse")
    for changed in (phase, robustness.gamma(phase, power), robustness.invert(phase)):
        gray = to_gray(changed.image)
        assert image_type.classify(gray).image_type == image_type.PHASE_CONTRAST


@pytest.mark.parametrize(
    "name", ["vitra01_crowded", "vitra01_fibre", "vitra01_sparse", "vitra12_crowded", "human_a"]
)
def test_annotated_real_nuclei_within_the_manual_range(name: str) -> None:
    """Hand-annotated crops of CellProfiler's example images (bench/data/annotated)."""
    case = tune_crop(name)
    found = count_cells(case.image).count
    assert case.error(found) <= 0.05, (found, case.low, case.high)


def test_touching_nuclei_with_no_neck_on_their_outline_are_cut_inside() -> None:
    # The DSB image (tune): elongated touching nuclei under one seed, their outline
    # filled by the blur; 103 of 119-125 before the inner levels (issue 12o), 107 now.
    from devtools.bench.count import dsb

    [case] = dsb()
    found = count_cells(case.image).count
    assert 106 <= found <= case.high, (found, case.low, case.high)


def test_real_nuclei_counts_hold_under_gamma_and_a_gradient() -> None:
    case = tune_crop("vitra12_crowded")
    for changed in (robustness.gamma(case, 2.0), robustness.gradient(case, 0.6, "x")):
        assert changed.error(count_cells(changed.image).count) <= 0.1


@pytest.mark.parametrize(
    "change",
    [lambda c: robustness.rescale(c, 0.5), lambda c: robustness.gamma(c, 0.5)],
    ids=["half size", "gamma 0.5"],
)
def test_a_fibre_joined_to_nuclei_by_its_glow_is_flagged_not_cut_into_nuclei(
    change: Callable[[robustness.Annotated], robustness.Annotated],
) -> None:
    # vitra01_fibre changed: nuclei joined to the fibre's glow with no valley made the
    # group as wide as long (2.9:1) and the fibre was cut into 5-7 "nuclei" (41, 39).
    case = change(tune_crop("vitra01_fibre"))
    counting = count_cells(to_gray(case.image))
    assert any("long" in (obj.flag or "") for obj in counting.flagged)
    assert case.error(counting.count) <= 0.05, (counting.count, case.low, case.high)


def test_a_phase_contrast_image_gets_a_qc_verdict() -> None:
    case = tune_crop("pc230")
    counting = count_cells(to_gray(case.image))
    assert counting.quality is not None
    qc = counting.quality.qc
    assert qc["image_type"] == "phase-contrast" and qc["image_type_confidence"] >= 0.75
    assert qc["diameter_px"] == 40.0  # the size trees find the training photos' magnification
    assert counting.quality.reliable, counting.quality.reasons
    assert counting.count > 0


@pytest.mark.parametrize(("well", "fibres"), [("01-A-01", 1), ("12-A-12", 0)])
def test_whole_vitra_images_flag_the_fibre_and_no_chain_of_nuclei(
    shared_data: Path, well: str, fibres: int
) -> None:
    # Well 01 has one broken bright fibre (cut into nuclei before); well 12 has none,
    # but at gamma 0.5 a chain of three bright nuclei was once taken for one.
    path = shared_data / "cellprofiler-examples" / "ExampleVitraImages" / "images"
    gray = to_gray(cv2.imread(str(path / f"Channel 2-{well}-00.tif"), cv2.IMREAD_UNCHANGED))
    for image in (gray, np.sqrt(gray / 255.0) * 255):
        counting = count_cells(image.astype(np.uint8))
        longs = [obj.area for obj in counting.flagged if "long" in (obj.flag or "")]
        assert len([area for area in longs if area > 1500]) == fibres, longs
        if not fibres:
            assert not longs


@pytest.mark.parametrize("seed", [1, 2])
def test_the_areas_the_size_control_sums_are_its_labels_own(seed: int) -> None:
    """``Found.areas`` (summed from the labels before the size control joined, dropped and
    flagged them) is what counting the final labels' pixels gives: the neck split and the
    size checks read it instead of counting again."""
    scene = synthetic.nuclei(40, (256, 256), (6.0, 11.0), overlap=0.3, debris=10, seed=seed)
    gray = to_gray(scene.image)
    found = segment_nuclei(gray, 8.0, 1, (float(gray.min()), float(gray.max())))
    assert found.areas is not None and found.count > 10
    top = int(found.labels.max())
    assert np.array_equal(found.areas, np.bincount(found.labels.ravel(), minlength=top + 1))
