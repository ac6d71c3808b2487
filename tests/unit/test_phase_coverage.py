"""Phase contrast: the contrast scaling does not depend on how much of the field the cells
cover (issue-12u). A crop the cells fill is scaled as the field it was cut from, so its
cells do not look fainter and the dark bodies the undercount check reads do not fade; a
field the cells cover as in the tune crops is scaled exactly as the model was trained."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells import phase
from chalicelib.cells.imaging import to_gray
from devtools.bench import robustness
from tests.unit.test_phase import ANNOTATED, tune_crop

SCALE = 0.25  # the model's working scale at its own cell size
TUNE = ["pc197", "pc226", "pc230", "pc250_clump", "pc250_sparse", "pc250_d", "pc232_c", "pc230_c"]


def _plain_median(local: np.ndarray) -> float:
    """The typical contrast before issue-12u: the median over the whole field."""
    height, width = local.shape
    return float(np.median(np.abs(local[:: max(1, height // 256), :: max(1, width // 256)])))


def _clump_corners() -> tuple[np.ndarray, list[tuple[int, int, np.ndarray]]]:
    """The tune crop ``pc250_clump`` and its two lower corner crops (55 % of each side), which
    its packed clump fills: (row, column, image) of each corner in the crop."""
    [case] = [c for c in robustness.load_annotated(ANNOTATED) if c.name == "pc250_clump"]
    assert case.split == "tune"  # tests never look at the held-out crops
    gray = to_gray(case.image)
    height, width = gray.shape
    h, w = round(height * 0.55), round(width * 0.55)
    return gray, [(height - h, x, gray[height - h :, x : x + w]) for x in (0, width - w)]


def _corner_against_whole(
    gray: np.ndarray, row: int, column: int, corner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The corner's contrast counted alone, and the whole crop's contrast over the same area."""
    alone = phase.contrast(corner, SCALE)
    y, x = round(row * SCALE), round(column * SCALE)
    within = phase.contrast(gray, SCALE)[y : y + alone.shape[0], x : x + alone.shape[1]]
    return alone, within


@pytest.mark.parametrize("name", TUNE)
def test_a_field_covered_as_the_tune_crops_is_scaled_as_trained(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tune crops' cells cover no more than ``MAX_CELL_SHARE``: their contrast is the one
    the density trees were trained on, to the bit."""
    gray = tune_crop(name)
    now = phase.contrast(gray, SCALE)
    monkeypatch.setattr(phase, "typical_contrast", _plain_median)
    assert np.array_equal(now, phase.contrast(gray, SCALE))


def test_a_crop_the_clump_fills_is_scaled_as_the_whole_crop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Real cells: in the corners of ``pc250_clump`` that its packed clump fills, the contrast
    counted alone is the whole crop's over the same cells within 20 % (1.05 and 0.84); with the
    field's plain median it was 0.59 and 0.52 (the cells looked about twice as faint: 22 and 17
    of 49-58 and 39-45 counted)."""
    gray, corners = _clump_corners()
    for row, column, corner in corners:
        alone, within = _corner_against_whole(gray, row, column, corner)
        inside = (slice(5, -5), slice(5, -5))
        assert 0.8 < np.abs(alone[inside]).mean() / np.abs(within[inside]).mean() < 1.2
    monkeypatch.setattr(phase, "typical_contrast", _plain_median)
    for row, column, corner in corners:
        alone, within = _corner_against_whole(gray, row, column, corner)
        inside = (slice(5, -5), slice(5, -5))
        assert np.abs(alone[inside]).mean() / np.abs(within[inside]).mean() < 0.65


def test_the_clump_keeps_its_dark_bodies_when_cut_out() -> None:
    """The undercount check counts dark bodies on the scaled contrast: a corner the clump fills
    shows 36 and 30 alone where the whole crop shows 42 and 39 over it (29 and 22 with the
    plain median: the signal faded with the cells)."""
    gray, corners = _clump_corners()
    for row, column, corner in corners:
        alone, within = _corner_against_whole(gray, row, column, corner)
        assert phase.dark_bodies(alone) >= 0.75 * phase.dark_bodies(within) > 25


def test_cells_beyond_the_tune_share_are_weighed_as_a_tune_crop() -> None:
    """Two thirds of a field covered by strongly contrasted cells: the typical contrast is the
    median with the cells weighed at ``TUNE_CELL_SHARE``, inside the background's grain (the
    half-normal's 59th percentile, 0.82 sd), not the cells' contrast (the plain median)."""
    rng = np.random.default_rng(0)
    sd = 0.01
    local = rng.normal(0, sd, (256, 256)).astype(np.float32)
    for y in range(11, 256, 22):
        for x in range(11, 200, 22):  # 64 % of the field is cells and their rims
            cv2.circle(local, (x, y), 10, 0.3, -1)
    assert _plain_median(local) > 10 * sd
    assert phase.typical_contrast(local) == pytest.approx(0.82 * sd, rel=0.15)


def test_more_cells_on_the_same_grain_keep_the_typical_contrast() -> None:
    """The same grain covered by more and more cells (a share of about 0.2 to 0.65, across
    ``MAX_CELL_SHARE`` and the ramp above it): the typical contrast stays within 10 %, with no
    step, where the plain median climbs from the grain to the cells' contrast (35x)."""
    rng = np.random.default_rng(1)
    local = rng.normal(0, 0.01, (256, 256)).astype(np.float32)
    typicals, medians = [], []
    for columns in range(70, 210, 10):
        field = local.copy()
        for y in range(11, 256, 22):
            for x in range(11, columns, 22):
                cv2.circle(field, (x, y), 10, 0.3, -1)
        typicals.append(phase.typical_contrast(field))
        medians.append(_plain_median(field))
    assert max(typicals) / min(typicals) < 1.1
    assert medians[-1] / medians[0] > 10
