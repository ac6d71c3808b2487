"""Train the phase-contrast cell-density model from the project's own annotations.

``lab train phase-cells`` runs this. Training data: the hand point annotations
of the phase-contrast crops marked ``tune`` in ``bench/data/annotated/points.json``
(one point per cell, see that folder's README); the ``heldout`` crops are never
read here. Each annotated cell becomes a unit Gaussian (``TARGET_SIGMA`` working
px) in a target density map; scikit-learn's ``HistGradientBoostingRegressor``
learns that density from the per-pixel features of ``chalicelib.cells.phase``;
its trees are exported as plain node arrays into
``chalicelib/cells/models/phase_density.json`` (no pickle), which the counter
reads with NumPy alone. Everything is seeded: a rerun writes the same file.

It also reports leave-one-crop-out counts (a model trained without a crop,
counted on that crop), the honest figure for the crops it was trained on.
"""

from __future__ import annotations

import hashlib
import json
import platform
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingRegressor

from chalicelib.cells import phase
from chalicelib.cells.imaging import to_gray
from chalicelib.config import PROJECT_DIR
from chalicelib.errors import LabError

ANNOTATED = PROJECT_DIR / "bench" / "data" / "annotated"
WORK_SCALE = 0.25  # the training photos' typical cell (~40 px) becomes ~10 px
CELL_DIAMETER = 40.0  # px in the training photos (round cells 30-35 px, spread ones larger)
SIGMAS = (1.0, 2.0, 3.0, 4.5, 6.5, 9.5)  # feature scales, working px (9.5: a whole spindle)
TARGET_SIGMA = 3.5  # working px: about a cell's radius
DENSITY_UNIT = 100.0  # the trees learn densities times this (leaf values near 1)
HYPERPARAMETERS = {"max_iter": 50, "max_depth": 5, "learning_rate": 0.2, "random_state": 0}
# Each crop is also learned stretched by these factors along x and along y (at the same area):
# a cell made longer is still one cell, so an elongated cell's density does not grow with its
# length (without them the generated spindles of the unit tests carry 1.5 cells each).
STRETCHES = (2.0,)
# ... and once under a random smooth light (``unevenly_lit``, seeded by the crop's name): with
# issue-12y's cell-covered crops the trees otherwise take the grain of a dimmed corner for faint
# cells (vignetting on the tune crops 10 -> 76 % mean in-sample; with the view 28 %).
UNEVEN_LIGHT_VIEWS = True
# ... and once under a random gamma, 2 ** U(-1, 1) (``gamma_adjusted``, seeded by the crop's name):
# issue-12q, with four more tune crops; leave one crop out over the eighteen, originals 17.4 ->
# 16.1 % mean (another draw: 18.1 %), all rows 19.8 -> 19.6 % (19.3 %) (docs/counting.md).
GAMMA_VIEWS = True
GAMMA_RANGE = 1.0  # octaves of the power either way (0.5-2.0, the bench's two gamma rows)
# Issue-12p tried spreading a large cell's unit over its own contrasted pixels
# (``footprint_density``) instead of a Gaussian at its point: fewer spread cells over-counted,
# but isolated round cells, specks and uneven light got worse (docs/counting.md); off. Issue-12ag
# found its gate (``phase.TYPICAL_CONTRAST`` at sigma 3) passes 46-84 % of a tune crop's pixels:
# an isolated cell's unit is spread over the background within FOOTPRINT_REACH, not its body.
FOOTPRINT_TARGETS = False
# Issue-12ag tried weighing every training view alike whatever its size (``view_weights``): by
# pixels the small crops of packed round cells (``pc250_h`` 0.5 % of them) hardly move the trees,
# which give a packed round cell 0.6-0.75 of a unit even in-sample. In-sample it fixes them, left
# out it does not (with FOOTPRINT_TARGETS 16.0 % against 14.1 %; docs/counting.md); off.
VIEW_WEIGHTS = False
FOOTPRINT_REACH = 20.0  # working px (2 typical cells): contrasted pixels nearer a point are its
FOOTPRINT_CORE = 3.0  # working px: every point holds at least this disc
FOOTPRINT_SMOOTH = 2.0  # working px: the shared unit is smoothed at this
FOOTPRINT_SPREAD = 400.0  # working px: cells whose footprint is larger are spread (below: a
# Gaussian as before; median footprints: packed and round cells 70-350, spread cells 600-850)
PARITY_TOLERANCE = 0.02  # cells: NumPy trees vs scikit-learn on a whole crop
# The size trees learn how much larger (log2) the cells look than in the training photos from
# the tune crops rescaled by these factors (0.35x-3.4x, quarter octaves).
SIZE_FACTORS = tuple(float(2.0 ** (k / 4)) for k in range(-6, 8))
SIZE_RANGE = (2.0**-1.25, 2.0**1.25)  # sizes counted without a flag (the factors less a margin)
SIZE_PIXELS = 15_000  # contrasted pixels per crop and factor (evenly spread)
# The size trees learn from the tune crops at least this many px on each side: a smaller crop at
# 0.35x is a field of a few cells (issue-12y: with its 130-400 px crops the size trees settled
# at 16 px for pc197 at 0.5x and 62 px at 2x, outside the unit tests' quarter).
SIZE_MIN_SIDE = 500
SIZE_PARITY_TOLERANCE = 0.01  # log2 size: NumPy trees vs scikit-learn (median over a crop)


class ParityError(LabError):
    """The exported trees do not reproduce scikit-learn's predictions."""


@dataclass(frozen=True)
class Crop:
    name: str
    gray: np.ndarray
    points: np.ndarray  # (K, 2) x, y in crop pixels
    low: int  # cells clear of the edge
    high: int  # all annotated cells


@dataclass(frozen=True)
class TrainingResult:
    path: Path
    crops: tuple[str, ...]
    pixels: int
    parity: float  # largest count difference, exported trees vs scikit-learn
    cross_validation: tuple[tuple[str, int, int, int], ...]  # name, low, high, found
    size_gain: float = 1.0
    size_folds: tuple[tuple[str, tuple[float, ...]], ...] = ()  # name, size found per factor


def tune_crops(directory: Path = ANNOTATED) -> list[Crop]:
    """The phase-contrast crops marked ``tune`` (never the held-out ones)."""
    document = json.loads((directory / "points.json").read_text())
    crops = []
    for crop in document["crops"]:
        if crop["image_type"] != "phase-contrast" or crop["split"] != "tune":
            continue
        gray = to_gray(np.asarray(cv2.imread(str(directory / crop["file"]), cv2.IMREAD_UNCHANGED)))
        points = np.array(crop["points"], float).reshape(-1, 2)
        margin = crop["edge_margin"]
        height, width = gray.shape
        clear = (
            (points[:, 0] >= margin)
            & (points[:, 1] >= margin)
            & (points[:, 0] <= width - 1 - margin)
            & (points[:, 1] <= height - 1 - margin)
        )
        crops.append(Crop(crop["name"], gray, points, int(clear.sum()), len(points)))
    return crops


def target_density(shape: tuple[int, int], points: np.ndarray, scale: float) -> np.ndarray:
    """A unit Gaussian (``TARGET_SIGMA``) per point, at the working size: sums to the points
    inside (mass beyond the border is lost, as a cell cut by the edge is partly outside)."""
    impulses = np.zeros(shape, np.float32)
    for x, y in points * scale:
        col, row = round(float(x)), round(float(y))
        if 0 <= row < shape[0] and 0 <= col < shape[1]:
            impulses[row, col] += 1.0
    return np.asarray(
        cv2.GaussianBlur(impulses, (0, 0), TARGET_SIGMA, borderType=cv2.BORDER_CONSTANT)
    )


def footprint_density(signal: np.ndarray, points: np.ndarray, scale: float) -> np.ndarray:
    """One cell's unit spread over its own contrasted pixels: each contrasted pixel
    (``phase.contrasted``'s gate: |contrast| smoothed at ``phase.GATE_SCALE``'s sigma at
    least ``phase.TYPICAL_CONTRAST``) within ``FOOTPRINT_REACH`` working px of a point goes to
    its nearest point (a disc of ``FOOTPRINT_CORE`` px around each point always does), each
    point's unit is shared evenly by its pixels, then smoothed (``FOOTPRINT_SMOOTH``). A
    spread cell's unit is a wide, low density; a packed cell's a small, high one: the density
    the trees can read off a cell's texture, whatever its size.

    >>> signal = np.zeros((40, 60), np.float32)
    >>> signal[10:30, 5:55] = 0.1  # one wide contrasted cell
    >>> round(float(footprint_density(signal, np.array([[30.0, 20.0]]), 1.0).sum()), 2)
    1.0
    """
    height, width = signal.shape
    seeds = np.ones((height, width), np.uint8)
    inside = []
    for x, y in points * scale:
        col, row = round(float(x)), round(float(y))
        if 0 <= row < height and 0 <= col < width:
            seeds[row, col] = 0
            inside.append(row * width + col)
    if not inside:
        return np.zeros((height, width), np.float32)
    distance, labels = cv2.distanceTransformWithLabels(
        seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    # DIST_LABEL_PIXEL numbers the seed pixels 1.. in row-major order; points sharing a pixel
    # share its label and add up.
    order = np.flatnonzero(seeds.ravel() == 0)
    cells = np.zeros(order.size + 1, np.float64)
    np.add.at(cells, np.searchsorted(order, inside) + 1, 1.0)
    sigma = SIGMAS[phase.GATE_SCALE]
    energy = cv2.GaussianBlur(np.abs(signal), (0, 0), sigma)
    footprint = ((energy >= phase.TYPICAL_CONTRAST) & (distance <= FOOTPRINT_REACH)) | (
        distance <= FOOTPRINT_CORE
    )
    area = np.bincount(labels[footprint], minlength=cells.size).astype(np.float64)
    # A cell no larger than FOOTPRINT_SPREAD keeps its Gaussian; a larger one is spread over
    # its footprint, fully from twice that area on.
    spread = np.clip(area / FOOTPRINT_SPREAD - 1.0, 0.0, 1.0)
    share = np.divide(cells * spread, area, out=np.zeros_like(cells), where=area > 0)
    target = np.where(footprint, share[labels], 0.0).astype(np.float32)
    spread_target = cv2.GaussianBlur(
        target, (0, 0), FOOTPRINT_SMOOTH, borderType=cv2.BORDER_REFLECT
    )
    impulses = np.zeros(height * width, np.float32)
    np.add.at(
        impulses, inside, (1.0 - spread[np.searchsorted(order, inside) + 1]).astype(np.float32)
    )
    point_target = cv2.GaussianBlur(
        impulses.reshape(height, width), (0, 0), TARGET_SIGMA, borderType=cv2.BORDER_CONSTANT
    )
    return np.asarray(spread_target + point_target, np.float32)


def stretched(
    gray: np.ndarray, points: np.ndarray, factor: float, axis: int
) -> tuple[np.ndarray, np.ndarray]:
    """``gray`` and its ``points`` stretched by ``factor`` along ``axis`` (0: x, 1: y) at the
    same area (the other axis shrunk alike): each cell longer and thinner, still one cell."""
    along = np.sqrt(factor)
    fx, fy = (along, 1 / along) if axis == 0 else (1 / along, along)
    image = cv2.resize(gray, None, fx=fx, fy=fy, interpolation=cv2.INTER_AREA)
    return np.asarray(image), (points + 0.5) * np.array([fx, fy]) - 0.5


def training_views(crop: Crop) -> list[tuple[np.ndarray, np.ndarray]]:
    """The crop as photographed, stretched by each of ``STRETCHES`` along x and along y,
    (``UNEVEN_LIGHT_VIEWS``) under one random smooth light seeded by its name and
    (``GAMMA_VIEWS``) under one random gamma seeded by its name."""
    views = [(crop.gray, crop.points)]
    for factor in STRETCHES:
        views += [stretched(crop.gray, crop.points, factor, axis) for axis in (0, 1)]
    seed = zlib.crc32(crop.name.encode())
    if UNEVEN_LIGHT_VIEWS:
        views.append((unevenly_lit(crop.gray, np.random.default_rng(seed)), crop.points))
    if GAMMA_VIEWS:
        power = float(2.0 ** np.random.default_rng(seed + 1).uniform(-GAMMA_RANGE, GAMMA_RANGE))
        views.append((gamma_adjusted(crop.gray, power), crop.points))
    return views


def gamma_adjusted(gray: np.ndarray, power: float) -> np.ndarray:
    """``gray`` with its values (over its dtype's maximum) raised to ``power``, same dtype.

    >>> gamma_adjusted(np.array([[0, 64, 255]], np.uint8), 2.0).tolist()
    [[0, 16, 255]]
    """
    top = float(np.iinfo(gray.dtype).max)
    adjusted = top * (gray.astype(np.float32) / top) ** power
    return np.asarray(np.clip(adjusted + 0.5, 0, top).astype(gray.dtype))


def training_table(crops: list[Crop]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(pixels, features), (pixels,) target and (``VIEW_WEIGHTS``) (pixels,) weight, every
    working pixel of every view of every crop (``training_views``)."""
    tables, targets = [], []
    for crop in crops:
        for gray, points in training_views(crop):
            signal = phase.contrast(gray, WORK_SCALE)
            tables.append(phase.features(signal, SIGMAS).T)
            if FOOTPRINT_TARGETS:
                target = footprint_density(signal, points, WORK_SCALE)
            else:
                target = target_density(signal.shape, points, WORK_SCALE)
            targets.append(target.ravel())
    weights = view_weights([len(t) for t in targets]) if VIEW_WEIGHTS else None
    return np.concatenate(tables), np.concatenate(targets) * DENSITY_UNIT, weights


def view_weights(sizes: list[int]) -> np.ndarray:
    """Per-pixel training weights of views of ``sizes`` pixels, mean 1, each view weighing the
    same in all (each of its pixels 1 / its size).

    >>> view_weights([1, 3]).round(3).tolist()
    [2.0, 0.667, 0.667, 0.667]
    """
    weights = np.concatenate([np.full(n, 1.0 / n) for n in sizes])
    return np.asarray(weights / weights.mean())


def fit(crops: list[Crop]) -> HistGradientBoostingRegressor:
    table, target, weights = training_table(crops)
    return HistGradientBoostingRegressor(**HYPERPARAMETERS).fit(
        table, target, sample_weight=weights
    )


def rescaled(gray: np.ndarray, factor: float) -> np.ndarray:
    """``gray`` as if photographed at ``factor`` times the magnification."""
    if factor == 1.0:
        return gray
    method = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return np.asarray(cv2.resize(gray, None, fx=factor, fy=factor, interpolation=method))


def contrasted_table(gray: np.ndarray) -> np.ndarray:
    """(F, P) features of the contrasted grid pixels at the training working scale, the
    pixels the counter's size trees read (``phase.contrasted``)."""
    signal = phase.contrast(gray, WORK_SCALE)
    table = phase.features(signal, SIGMAS, phase.GRID_STEP)
    return table[:, phase.contrasted(table, len(SIGMAS))]


def unevenly_lit(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``gray`` under a random smooth light: a linear ramp in a random direction times a
    radial fall-off, each of random strength (the size must not depend on the light)."""
    height, width = gray.shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    along = (np.cos(angle) * (xx / width - 0.5) + np.sin(angle) * (yy / height - 0.5)) * 2
    light = 1 + rng.uniform(0.2, 0.6) * along
    radius2 = ((xx - width / 2) / (width / 2)) ** 2 + ((yy - height / 2) / (height / 2)) ** 2
    light *= 1 - rng.uniform(0.0, 0.6) * np.clip(radius2 / 2, 0, 1)
    top = float(np.iinfo(gray.dtype).max)
    lit = gray.astype(np.float32) * light / max(float(light.max()), 1e-6)
    return np.asarray(np.clip(lit + 0.5, 0, top).astype(gray.dtype))


def size_table(crops: list[Crop]) -> tuple[np.ndarray, np.ndarray]:
    """(pixels, features) and (pixels,) log2 factor: every crop at every ``SIZE_FACTORS``,
    as photographed and under a random uneven light (seeded)."""
    rng = np.random.default_rng(0)
    tables, targets = [], []
    for crop in crops:
        for factor in SIZE_FACTORS:
            image = rescaled(crop.gray, factor)
            for version in (image, unevenly_lit(image, rng)):
                table = contrasted_table(version)
                table = table[:, :: max(1, table.shape[1] // SIZE_PIXELS)]
                tables.append(table.T)
                targets.append(np.full(table.shape[1], np.log2(factor)))
    return np.concatenate(tables), np.concatenate(targets)


def size_crops(crops: list[Crop]) -> list[Crop]:
    """The crops the size trees learn from (``SIZE_MIN_SIDE``)."""
    return [c for c in crops if min(c.gray.shape) >= SIZE_MIN_SIDE]


def fit_size(crops: list[Crop]) -> HistGradientBoostingRegressor:
    table, target = size_table(size_crops(crops))
    return HistGradientBoostingRegressor(**HYPERPARAMETERS).fit(table, target)


def size_offset(document: dict[str, Any], crops: list[Crop]) -> float:
    """Median over the crops of the log2 size where the size answer crosses 0 at their own
    magnification (``document``: the model with offset 0): the counter's reference."""
    model = phase.model_from_document(document)
    found = []
    for crop in crops:
        answer, _ = phase.size_answer(phase.prepare(crop.gray, model, 0.0).table, model)
        position, _ = phase.crossing(crop.gray, model, [(0.0, answer)])
        found.append(position)
    return float(np.median(found))


def fit_all(crops: list[Crop]) -> dict[str, Any]:
    """The density and size trees trained on ``crops``, as the model document."""
    regressor, size = fit(crops), fit_size(crops)
    gain = size_gain(size, size_crops(crops))
    offset = size_offset(export(regressor, crops, size, gain), size_crops(crops))
    return export(regressor, crops, size, gain, offset)


def size_gain(regressor: HistGradientBoostingRegressor, crops: list[Crop]) -> float:
    """Slope of the mean prediction against the true log2 size within half an octave of
    the training size (through 0): the counter divides its answers by it."""
    truth, answers = [], []
    for crop in crops:
        for factor in SIZE_FACTORS:
            if abs(np.log2(factor)) <= 0.5:
                table = contrasted_table(rescaled(crop.gray, factor))
                answers.append(float(np.mean(regressor.predict(table.T.astype(np.float64)))))
                truth.append(float(np.log2(factor)))
    t, a = np.array(truth), np.array(answers)
    return float(np.clip(np.sum(t * a) / np.sum(t * t), 0.2, 1.5))


def annotations_digest(crops: list[Crop]) -> str:
    """sha256 of what the model learns from: the crops' names, pixels and points."""
    digest = hashlib.sha256()
    for crop in crops:
        digest.update(crop.name.encode())
        digest.update(np.ascontiguousarray(crop.gray).tobytes())
        digest.update(np.ascontiguousarray(crop.points, np.float64).tobytes())
    return digest.hexdigest()


def export(
    regressor: HistGradientBoostingRegressor,
    crops: list[Crop],
    size: HistGradientBoostingRegressor | None = None,
    gain: float = 1.0,
    offset: float = 0.0,
) -> dict[str, Any]:
    """The fitted trees as the JSON document ``phase.model_from_document`` reads."""
    document = {
        "format": phase.FORMAT,
        "work_scale": WORK_SCALE,
        "cell_diameter": CELL_DIAMETER,
        "sigmas": list(SIGMAS),
        "target_sigma": TARGET_SIGMA,
        "density_unit": DENSITY_UNIT,
        "baseline": float(np.asarray(regressor._baseline_prediction).ravel()[0]),
        "trained_on": [c.name for c in crops],
        "annotations_sha256": annotations_digest(crops),
        "hyperparameters": HYPERPARAMETERS,
        "versions": {"scikit-learn": sklearn.__version__, "python": platform.python_version()},
        "trees": tree_arrays(regressor),
    }
    if size is not None:
        document["size"] = {
            "factors": list(SIZE_FACTORS),
            "range": list(SIZE_RANGE),
            "gain": gain,
            "offset": offset,
            "baseline": float(np.asarray(size._baseline_prediction).ravel()[0]),
            "trees": tree_arrays(size),
        }
    return document


def tree_arrays(regressor: HistGradientBoostingRegressor) -> list[dict[str, list[Any]]]:
    """Each fitted tree as padded node lists (leaves point to themselves)."""
    trees: list[dict[str, list[Any]]] = []
    for (predictor,) in regressor._predictors:  # one tree per iteration (regression)
        nodes = predictor.nodes
        own = np.arange(len(nodes))
        leaf = nodes["is_leaf"].astype(bool)
        trees.append(
            {
                "feature": np.where(leaf, 0, nodes["feature_idx"]).tolist(),
                "threshold": np.where(leaf, 0.0, nodes["num_threshold"]).tolist(),
                "left": np.where(leaf, own, nodes["left"]).tolist(),
                "right": np.where(leaf, own, nodes["right"]).tolist(),
                "value": np.where(leaf, nodes["value"], 0.0).tolist(),
            }
        )
    width = max(len(t["feature"]) for t in trees)
    for tree in trees:  # pad to one width with unreachable self-looping leaves
        extra = width - len(tree["feature"])
        start = len(tree["feature"])
        tree["feature"] += [0] * extra
        tree["threshold"] += [0.0] * extra
        tree["left"] += list(range(start, width))
        tree["right"] += list(range(start, width))
        tree["value"] += [0.0] * extra
    return trees


def check_parity(
    regressor: HistGradientBoostingRegressor, model: phase.DensityModel, crop: Crop
) -> float:
    """Cells on ``crop`` by the exported trees minus by scikit-learn (should be ~0)."""
    table = phase.features(phase.contrast(crop.gray, WORK_SCALE), SIGMAS)
    ours = phase.predict(model, table)
    theirs = regressor.predict(table.T.astype(np.float64))
    difference = abs(float(np.sum(ours) - np.sum(theirs))) / DENSITY_UNIT
    if difference > PARITY_TOLERANCE:
        raise ParityError(f"exported trees differ from scikit-learn by {difference:.3f} cells")
    return difference


def check_size_parity(
    regressor: HistGradientBoostingRegressor, model: phase.DensityModel, crop: Crop
) -> float:
    """Median log2 size on ``crop`` by the exported size trees minus by scikit-learn."""
    assert model.size is not None
    table = contrasted_table(crop.gray)
    ours = float(np.median(phase.predict(model.size, table)))
    theirs = float(np.median(regressor.predict(table.T.astype(np.float64))))
    if abs(ours - theirs) > SIZE_PARITY_TOLERANCE:
        raise ParityError(f"exported size trees differ from scikit-learn by {ours - theirs:.3f}")
    return abs(ours - theirs)


def size_cross_validate(crops: list[Crop]) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """Leave one crop out: size trees trained on the others, the left-out crop's size found
    at 0.5x, 1x and 2x (1, 2 and 4 times would be exact, relative to its own 1x)."""
    found = []
    for left_out in crops:
        others = [c for c in crops if c is not left_out]
        model = phase.model_from_document(fit_all(others))
        sizes = []
        for factor in (0.5, 1.0, 2.0):
            estimate = phase.estimate_cell_size(rescaled(left_out.gray, factor), model)
            sizes.append(estimate.found if estimate else float("nan"))
        found.append((left_out.name, tuple(sizes)))
    return tuple(found)


def count_with(model: phase.DensityModel, crop: Crop) -> int:
    radius = model.cell_diameter / 2  # the crop's own magnification: the training size
    return phase.segment_cells(crop.gray, radius, (0.0, 255.0), model=model).count


def cross_validate(crops: list[Crop]) -> tuple[tuple[str, int, int, int], ...]:
    """Leave one crop out: train on the others, count the one left out."""
    found = []
    for left_out in crops:
        others = [c for c in crops if c is not left_out]
        model = phase.model_from_document(export(fit(others), others))
        found.append((left_out.name, left_out.low, left_out.high, count_with(model, left_out)))
    return tuple(found)


def train(path: Path = phase.MODEL_FILE, cross_validation: bool = True) -> TrainingResult:
    crops = tune_crops()
    regressor = fit(crops)
    size = fit_size(crops)
    gain = size_gain(size, size_crops(crops))
    offset = size_offset(export(regressor, crops, size, gain), size_crops(crops))
    document = export(regressor, crops, size, gain, offset)
    model = phase.model_from_document(document)
    parity = max(check_parity(regressor, model, crop) for crop in crops)
    for crop in crops:
        check_size_parity(size, model, crop)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    phase.default_model.cache_clear()
    pixels = sum(phase.contrast(c.gray, WORK_SCALE).size for c in crops)
    folds = cross_validate(crops) if cross_validation else ()
    size_folds = size_cross_validate(size_crops(crops)) if cross_validation else ()
    return TrainingResult(
        path, tuple(c.name for c in crops), pixels, parity, folds, gain, size_folds
    )


def report(result: TrainingResult) -> str:
    lines = [
        f"wrote {result.path.relative_to(PROJECT_DIR)}: {len(result.crops)} annotated crops "
        f"({', '.join(result.crops)}), {result.pixels} pixels; exported trees vs "
        f"scikit-learn: {result.parity:.4f} cells apart",
    ]
    if result.cross_validation:
        lines.append("leave one crop out (trained without it):")
        for name, low, high, found in result.cross_validation:
            truth = f"{low}-{high}" if low != high else f"{high}"
            miss = max(0, low - found, found - high) / ((low + high) / 2)
            sign = "-" if found < low else "+"
            lines.append(
                f"  {name:<14} manual {truth:>7}  found {found:4d}  ({sign}{100 * miss:.0f}%)"
            )
    lines.append(f"size trees: mean answer {result.size_gain:.2f} x the true log2 size")
    if result.size_folds:
        lines.append(
            "cell size found, leave one crop out, at 0.5x, 1x, 2x (right: 20, 40, 80 px; "
            "40 px is also the answer within 1.25x of it):"
        )
        for name, sizes in result.size_folds:
            lines.append(f"  {name:<14} " + "  ".join(f"{d:5.1f} px" for d in sizes))
    return "\n".join(lines)
