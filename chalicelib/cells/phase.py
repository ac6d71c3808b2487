"""Phase-contrast / brightfield cells: a learned cell-density map, counted region by region.

Pure functions on arrays (OpenCV + NumPy); the model is data read from
``models/phase_density.json`` (written by ``lab train phase-cells`` from the
project's own hand-annotated crops, see ``devtools/phase_training.py``; no
pickle, nothing downloaded). In phase contrast a cell is darker *and* brighter
than the background (a dark body, a bright halo, a ring), and its parts
(nucleus, granules, processes) are contrasted too: counting blobs counts
fragments, thresholding merges clumps. Instead:

1. Contrast: the image over its smooth (median) background, minus one,
   scaled so that the median absolute value of its fine variation (finer
   than ``TYPICAL_SCALE``) is the same in every image, the cells weighed at most
   at the share they cover in the training photos (``typical_contrast``: a crop
   the cells fill is scaled as the photo it was cut from), at a working
   resolution where a typical cell is about 10 px across.
2. Features per pixel (ilastik-style, at six scales, the two largest computed
   on a half-size copy): smoothed contrast and
   absolute contrast, local standard deviation, gradient magnitude, Hessian
   trace and eigenvalues, Laplacian of the absolute contrast.
3. Density: gradient-boosted regression trees map the features to a cell
   density (cells per pixel), trained so that each annotated cell contributes
   a unit Gaussian: the density integrates to the number of cells, whatever
   their shape (a spindle cell is one unit spread along its body, a packed
   clump of round cells is as many units as cells).
4. Regions: pixels where the density is above ``REGION_LEVEL``; a region holds
   ``round(mass)`` cells (a speck or a halo carries less than ``MIN_CELL_MASS`` and is
   dropped) and is split into that many objects by a marker-controlled
   watershed (``cv2.watershed``) on the density from its highest maxima.
5. Outlines: each cell then takes the contrasted pixels next to it (``GROW``
   px at most), and the full-resolution outline follows the smoothed
   contrast: a cell is outlined with its body and halo, not its density.
6. Check: the dark cell bodies (strong minima of the contrast, ``dark_bodies``)
   are counted independently of the trees; far more bodies than cells means
   the trees give these cells less density than the cells they learned from
   (touching pairs counted once, faint cells dropped): the count is flagged
   (``undercount_note``), not corrected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from chalicelib.cells.nuclei import Found, offset_factor
from chalicelib.cells.objects import relabel, watershed
from chalicelib.errors import LabError

MODEL_FILE = Path(__file__).resolve().parent / "models" / "phase_density.json"
FORMAT = "phase-cell-density/1"
FEATURES_PER_SCALE = 8
BACKGROUND_SHRINK = 0.25  # the background is a median of a quarter-size copy
BACKGROUND_KERNEL = 15  # px at that size: ~6 typical cells
TYPICAL_CONTRAST = 0.02  # the typical contrast (``typical_contrast``, a median) is brought to this
TYPICAL_SCALE = 8.0  # px (working): the typical contrast is that of variation finer than this
# The typical contrast is the field's median, but over cells that cover at most the share they
# cover in the tune crops: a crop the cells fill is read as a field they cover as in training.
ENERGY_SIGMA = 3.0  # px (working): the fine |contrast| smoothed at this (the energy) ...
CELL_QUANTILE = 99.0  # ... pixels above CELL_FLOOR times its 99th percentile are cells' ...
CELL_FLOOR = 0.4
MAX_CELL_SHARE = 0.25  # ... and above this share (tune crops: 0.08-0.23) ...
TUNE_CELL_SHARE = 0.15  # ... weigh as this one (the tune crops' median), reached 0.1 further on
# Issue-12z: the typical contrast is capped by the background's grain (the pixels far from
# every cell), so a crop the cells fill is not scaled as if its cells were its background ...
BACKGROUND_CELL_FLOOR = 0.2  # cells: energy above this times its CELL_QUANTILE percentile ...
BACKGROUND_DISTANCE = (6.0, 3.0)  # background: working px from every cell pixel (the second
# where the first leaves too few tiles) ...
BACKGROUND_TILE = 8  # working px: the background's grain is averaged over tiles of this side ...
BACKGROUND_TILE_FILL = 0.1  # ... that hold at least this share of background pixels ...
BACKGROUND_QUANTILE = 10.0  # ... and the grain is this percentile of the tiles (a dimmed
# corner's coarser grain does not raise it) ...
BACKGROUND_MIN_TILES = 2  # ... of at least this many tiles (fewer: no cap)
MAX_TYPICAL_OVER_GRAIN = 2.1  # the typical is at most this times the grain (tune crops covered
# no more than MAX_CELL_SHARE: 1.19-2.06; the cell-covered ones 2.1-3.0; the six photos 1.4-2.0)
# Issue-12ad: the light is divided out before the median background: a polynomial surface of
# the image fitted on its flattest pixels (the background). The median background alone leaves
# a field's curvature (vignetting: 0.4-1.0 across a crop) in the contrast and in its scaling.
LIGHT_DEGREE = 2  # the light: a polynomial of this total degree in x and y (a ramp, a fall-off)
LIGHT_SIDE = 64  # px: it is fitted on a copy of the working image at most this large
LIGHT_SPREAD_SIGMA = 1.5  # px of that copy: the local spread that tells background from cells ...
LIGHT_FLAT_SHARE = 30.0  # ... the fit reads the pixels of the lowest this percent of spread
LIGHT_REJECT = 2.5  # refits leave out pixels this many robust deviations away from the fit
LIGHT_REFITS = 3
LIGHT_FLOOR = 0.1  # the surface is at least this share of its median (no division by ~0)
MIN_TYPICAL = 0.004  # a flatter image is not amplified further (noise is not made into cells)
POLARITY_SIGMA = 3.0  # px (working): the polarity is read from the contrast smoothed at this
POLARITY_SKEW = 0.5  # skewness above this: bright cells (negative phase contrast), turned over
GATE_SCALE = 2  # the background gate reads the absolute contrast at sigmas[2] (3 px)
COARSE_SIGMA = 5.0  # px (working): features at larger scales are computed on a half-size copy
GRID_STEP = 3  # the trees are evaluated on every 3rd working pixel (the density is smooth)
REGION_LEVEL = 0.05  # a region: density above this fraction of one cell's peak density
MIN_CELL_MASS = 0.4  # a region carrying less is not a cell (speck, halo, debris)
OUTLINE_SIGMA = 1.0  # px (working): a cell's outline: where its |contrast| smoothed at this
OUTLINE_LEVEL = 3 * TYPICAL_CONTRAST  # ... is above this
GROW = 8  # px (working): how far a cell extends beyond its density over its contrast
PEAK_DISTANCE = 2  # px at the working size between two seeds of one region
KMEANS_POINTS_PER_SEED = 40  # pixels per seed a flat clump's k-means reads at most
SIZE_STEPS = 4  # further feature passes at most to find the cell size
SIZE_SNAP = 0.5  # |log2 size| found below this (1.41x) at the training size: that size
SIZE_SAME = 0.32  # |log2 size| settled below this (1.25x): the training size after all
SIZE_TOLERANCE = 0.1  # |log2 size| found below this (7 %) after a step: converged
# A size found this many times smaller (larger) than the training size is counted at (still
# flagged): another magnification. At the training magnification, uneven light and small
# crops make cells look 1.25-2.25x larger now and then, and at most 1.43x smaller (the
# bench's crops: 28-90 px for 40), so the larger side needs more.
RESCALE_SMALLER = 1.5
RESCALE_LARGER = 1.6
SIZE_SAMPLE = 5_000  # grid pixels the size trees read at most
SUMS_PIXELS = 4_000_000  # from this many pixels the further size passes reduce by ``area_mean``
MEDIAN_BRACKET = 1 << 16  # values from which ``median`` reads a bracket of the middle
PRODUCT_BLOCK = 32_768  # results per block of ``_product_by_rows`` (at least 64 rows)
MAX_TREE_DEPTH = 12  # deeper trees are refused (a complete tree has 2**depth leaves)
PREDICT_BLOCK = 1 << 15  # (trees x pixels) walked at once by ``predict`` (its arrays stay in cache)
PREDICT_BY_NODE = 16_384  # pixels from which ``predict`` walks tree by tree from node answers
MIN_SIZE_EVIDENCE = 150  # fewer contrasted grid pixels: too little to judge the cell size
BODY_SIGMA = 2.5  # px (working): a dark cell body is a minimum of the contrast smoothed at this
BODY_LEVEL = 4 * TYPICAL_CONTRAST  # ... below minus this
BODY_WINDOW = 5  # px (working): ... the lowest in this window
UNDERCOUNT_RATIO = 1.5  # more dark bodies per cell counted than this (tune: at most 1.5) ...
UNDERCOUNT_Z = 1.35  # ... and (bodies - count) / sqrt(count) above this (tune: 1.34): flagged


class ModelFormatError(LabError):
    """The density model file is missing or not a valid model (a deployment error)."""


@dataclass(frozen=True)
class Trees:
    """A regression ensemble as padded node arrays (see ``DensityModel``)."""

    feature: np.ndarray  # (T, N) int32
    threshold: np.ndarray  # (T, N) float32
    left: np.ndarray  # (T, N) int32
    right: np.ndarray  # (T, N) int32
    value: np.ndarray  # (T, N) float32
    baseline: float

    @cached_property
    def complete(self) -> CompleteTrees:
        return complete_trees(self.feature, self.threshold, self.left, self.right, self.value)


@dataclass(frozen=True)
class CompleteTrees:
    """Trees laid out as complete binary trees of one ``depth`` (for ``predict``).

    Node ``i``'s children are ``2i + 1`` (feature <= threshold) and ``2i + 2``; a
    leaf above the bottom becomes a node whose threshold is infinite and whose
    leaves below all hold its value, so every pixel walks exactly ``depth`` steps
    by arithmetic on its node number.
    """

    depth: int
    feature: np.ndarray  # (T, 2**depth - 1) intp
    threshold: np.ndarray  # (T, 2**depth - 1) float32
    leaf: np.ndarray  # (T, 2**depth) float32


def complete_trees(
    feature: np.ndarray,
    threshold: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    value: np.ndarray,
) -> CompleteTrees:
    """The padded node arrays of ``Trees`` as ``CompleteTrees`` (level by level).

    >>> one = [[0, 0, 0]], [[0.5, 0, 0]], [[1, 1, 2]], [[2, 1, 2]], [[0, 3.0, 7.0]]
    >>> complete_trees(*(np.array(a) for a in one)).leaf.tolist()
    [[3.0, 7.0]]
    """
    trees = feature.shape[0]
    rows = np.arange(trees)[:, None]
    nodes = np.zeros((trees, 1), np.intp)  # the original node at each place of a level
    features: list[np.ndarray] = []
    thresholds: list[np.ndarray] = []
    for _ in range(MAX_TREE_DEPTH + 1):
        inner = left[rows, nodes] != nodes
        if not inner.any():
            return CompleteTrees(
                len(features),
                np.concatenate([np.zeros((trees, 0), np.intp), *features], axis=1),
                np.concatenate([np.zeros((trees, 0), np.float32), *thresholds], axis=1),
                np.asarray(value[rows, nodes], np.float32),
            )
        features.append(np.where(inner, feature[rows, nodes], 0).astype(np.intp))
        thresholds.append(np.where(inner, threshold[rows, nodes], np.inf).astype(np.float32))
        below = np.stack([left[rows, nodes], right[rows, nodes]], axis=2).reshape(trees, -1)
        nodes = np.where(np.repeat(inner, 2, axis=1), below, np.repeat(nodes, 2, axis=1))
    raise ModelFormatError(f"invalid phase-contrast model: trees deeper than {MAX_TREE_DEPTH}")


@dataclass(frozen=True)
class DensityModel:
    """Regression trees as padded node arrays: tree ``t``'s node ``i``.

    A leaf points to itself (``left == right == i``), so every tree is walked
    ``depth`` steps. A pixel goes left when ``features[feature] <= threshold``.
    """

    work_scale: float  # working size / original size for cells of ``cell_diameter``
    cell_diameter: float  # px (original): typical cell in the training photos
    sigmas: tuple[float, ...]  # feature scales, working px
    target_sigma: float  # px (working): each cell's unit Gaussian in training
    baseline: float
    feature: np.ndarray  # (T, N) int32
    threshold: np.ndarray  # (T, N) float32
    left: np.ndarray  # (T, N) int32
    right: np.ndarray  # (T, N) int32
    value: np.ndarray  # (T, N) float32
    density_unit: float  # the densities are stored times this
    size: Trees | None = None  # per pixel: log2 of the cells' size over the training size
    size_gain: float = 1.0  # mean size prediction per unit of true log2 size (< 1: shrunk)
    size_offset: float = 0.0  # octaves: where the answer crosses 0 on the training photos
    size_range: tuple[float, float] = (0.5, 2.0)  # relative sizes the size trees learned

    @property
    def peak(self) -> float:
        """Peak density (cells per working pixel) of one isolated cell."""
        return 1.0 / (2 * np.pi * self.target_sigma**2)

    @cached_property
    def complete(self) -> CompleteTrees:
        return complete_trees(self.feature, self.threshold, self.left, self.right, self.value)


def _node_arrays(trees: Any, features: int) -> dict[str, np.ndarray]:
    """The node arrays of a list of trees, checked (``ModelFormatError`` when invalid)."""
    arrays = {
        key: np.array([tree[key] for tree in trees], dtype)
        for key, dtype in (
            ("feature", np.int32),
            ("threshold", np.float32),
            ("left", np.int32),
            ("right", np.int32),
            ("value", np.float32),
        )
    }
    feature = arrays["feature"]
    nodes = feature.shape[1] if feature.ndim == 2 else 0
    if (
        nodes == 0
        or any(a.shape != feature.shape for a in arrays.values())
        or feature.min() < 0
        or feature.max() >= features
        or min(arrays["left"].min(), arrays["right"].min()) < 0
        or max(arrays["left"].max(), arrays["right"].max()) >= nodes
    ):
        raise ModelFormatError("invalid phase-contrast model: node arrays out of range")
    return arrays


def model_from_document(document: dict[str, Any]) -> DensityModel:
    """Validate and convert the JSON document written by training."""
    if document.get("format") != FORMAT:
        raise ModelFormatError(f"not a {FORMAT} document")
    try:
        sigmas = tuple(float(s) for s in document["sigmas"])
        features = FEATURES_PER_SCALE * len(sigmas)
        arrays = _node_arrays(document["trees"], features)
        size, gain, offset, known = None, 1.0, 0.0, (0.5, 2.0)
        if "size" in document:
            part = document["size"]
            size = Trees(baseline=float(part["baseline"]), **_node_arrays(part["trees"], features))
            gain = float(part["gain"])
            offset = float(part["offset"])
            low, high = (float(v) for v in part["range"])
            known = (low, high)
            if not (0.05 < gain <= 2 and 0 < low < 1 < high and abs(offset) < 2):
                raise ValueError("size gain or range out of bounds")
        return DensityModel(
            float(document["work_scale"]),
            float(document["cell_diameter"]),
            sigmas,
            float(document["target_sigma"]),
            float(document["baseline"]),
            density_unit=float(document["density_unit"]),
            size=size,
            size_gain=gain,
            size_offset=offset,
            size_range=known,
            **arrays,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"invalid phase-contrast model: {exc}") from exc


@lru_cache(maxsize=1)
def default_model() -> DensityModel:
    """The model shipped in ``models/phase_density.json`` (read once)."""
    try:
        document = json.loads(MODEL_FILE.read_text())
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"cannot read {MODEL_FILE.name}: {exc}") from exc
    return model_from_document(document)


def contrast(gray: np.ndarray, scale: float, by_sums: bool | ImageSums = False) -> np.ndarray:
    """The image over its smooth (median) background, minus one, at ``scale`` (float32).

    Parameters
    ----------
    gray : (M, N) ndarray of uint8 or uint16
    scale : float
        Working size / original size (≤ 1).
    by_sums : bool or ImageSums
        Reduce by ``area_mean`` where it is cheaper than ``INTER_AREA`` (``reduced``; an
        ``ImageSums`` of ``gray`` lends its integral image, computed once for all passes).

    Returns
    -------
    (m, n) ndarray of float32
        0 on the background, negative where darker, positive where brighter,
        in units that bring the median absolute value of its variation finer
        than ``TYPICAL_SCALE`` to ``TYPICAL_CONTRAST``: independent of the
        exposure, the bit depth and the microscope's contrast setting. Cell
        bodies are dark (positive phase contrast); an image whose cells are
        bright (negative phase contrast, an inverted export) is turned over
        (``polarity``).
    """
    image = gray
    if scale < 1.0:  # averaging in the image's own type (8/16 bit) is exact enough, and cheaper
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        image = reduced(gray, size, by_sums)
    image = image.astype(np.float32)
    image /= light_field(image)
    height, width = image.shape
    tiny_size = (
        max(1, round(width * BACKGROUND_SHRINK)),
        max(1, round(height * BACKGROUND_SHRINK)),
    )
    tiny = cv2.resize(image, tiny_size, interpolation=cv2.INTER_AREA)
    top = max(float(tiny.max()), 1e-6)
    # medianBlur needs uint8 for large kernels: the background at 1/255 of the top is plenty.
    coded = np.clip(tiny * (255.0 / top), 0, 255).astype(np.uint8)
    kernel = min(BACKGROUND_KERNEL, 2 * (min(tiny_size) // 2) - 1) if min(tiny_size) > 2 else 1
    background = coded if kernel < 3 else cv2.medianBlur(coded, kernel)
    smooth = cv2.resize(background.astype(np.float32) * (top / 255.0), (width, height))
    relative = image / np.maximum(smooth, top / 255.0) - 1.0
    # What the median background leaves of uneven light (vignetting, gradients) is smooth:
    # the typical contrast is measured on what varies within a few cells.
    local = relative - cv2.GaussianBlur(relative, (0, 0), TYPICAL_SCALE)
    typical = typical_contrast(local)
    relative *= np.float32(TYPICAL_CONTRAST / max(typical, MIN_TYPICAL))
    return np.asarray(relative * np.float32(polarity(relative)), np.float32)


def light_field(image: np.ndarray) -> np.ndarray:
    """The smooth light of ``image``: a polynomial surface fitted on its background.

    Parameters
    ----------
    image : (m, n) ndarray of float32
        The working-size image.

    Returns
    -------
    (m, n) ndarray of float32
        A polynomial of total degree ``LIGHT_DEGREE`` in x and y, fitted by least squares on
        a copy at most ``LIGHT_SIDE`` px large, on the pixels whose local spread (at
        ``LIGHT_SPREAD_SIGMA``) is among the lowest ``LIGHT_FLAT_SHARE`` percent (cells are
        textured, the background is flat), refitted without the pixels more than
        ``LIGHT_REJECT`` robust deviations away; over its median and at least
        ``LIGHT_FLOOR``. Dividing by it takes out a ramp or a fall-off of the light as a
        whole, which the median background follows only over fields many kernels wide.
        All ones when the copy has fewer flat pixels than the polynomial has terms.

    >>> ramp = np.linspace(50, 150, 80, dtype=np.float32)[None, :].repeat(60, 0)
    >>> lit = ramp * (1 + 0.01 * np.random.default_rng(0).standard_normal((60, 80)))
    >>> float(np.std(lit / light_field(lit)) / np.mean(lit / light_field(lit))) < 0.012
    True
    >>> light_field(np.ones((2, 2), np.float32)).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    height, width = image.shape
    size = (min(width, LIGHT_SIDE), min(height, LIGHT_SIDE))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    mean = cv2.GaussianBlur(small, (0, 0), LIGHT_SPREAD_SIGMA)
    spread = cv2.GaussianBlur(small * small, (0, 0), LIGHT_SPREAD_SIGMA) - mean * mean
    keep = (spread <= np.percentile(spread, LIGHT_FLAT_SHARE)).ravel()
    powers = _light_powers()
    if int(keep.sum()) <= 2 * len(powers):
        return np.ones_like(image)
    terms = _light_terms(*size)
    values = small.ravel().astype(np.float64)
    for _ in range(LIGHT_REFITS + 1):
        coefficients = np.linalg.lstsq(terms[keep], values[keep], rcond=None)[0]
        residual = values - terms @ coefficients
        deviation = 1.4826 * median(np.abs(residual[keep])) + 1e-9
        inside = keep & (np.abs(residual) <= LIGHT_REJECT * deviation)
        if int(inside.sum()) <= 2 * len(powers):
            break
        keep = inside
    table = np.zeros((LIGHT_DEGREE + 1, LIGHT_DEGREE + 1))  # [j, i]: the term v**j u**i
    for c, (i, j) in zip(coefficients, powers, strict=True):
        table[j, i] = c
    exponents = np.arange(LIGHT_DEGREE + 1)
    rows = _unit_coordinates(height)[:, None] ** exponents  # (height, degree + 1)
    columns = _unit_coordinates(width)[None, :] ** exponents[:, None]  # (degree + 1, width)
    surface = _product_by_rows(rows, table @ columns)
    middle = median(surface)
    if middle <= 0:
        return np.ones_like(image)
    # In place: new float64 arrays of the image's size cost their page faults (a photo's
    # working image: ≈ 5 ms of the 6.5 these two steps took), the values are the same.
    np.divide(surface, middle, out=surface)
    np.maximum(surface, LIGHT_FLOOR, out=surface)
    return surface.astype(np.float32)


def _light_powers() -> list[tuple[int, int]]:
    """The (i, j) of the light's terms u**i v**j, total degree at most ``LIGHT_DEGREE``."""
    return [(i, j) for i in range(LIGHT_DEGREE + 1) for j in range(LIGHT_DEGREE + 1 - i)]


@lru_cache(maxsize=16)
def _light_terms(width: int, height: int) -> np.ndarray:
    """The light's terms at each pixel of a ``width`` × ``height`` copy ((pixels, terms),
    float64, read-only): the same few sizes recur (``LIGHT_SIDE`` square for most images)."""
    u, v = _unit_coordinates(width), _unit_coordinates(height)
    terms = np.stack([np.outer(v**j, u**i).ravel() for i, j in _light_powers()], axis=1)
    terms.flags.writeable = False
    return terms


def median(values: np.ndarray) -> float:
    """``float(np.median(values))`` of a float64 array, without NumPy's generic wrappers
    (≈ 0.2 ms a call, five calls per ``light_field``): the same partition, the middle value
    or the mean of the two middle values (``(a + b) / 2``, as ``np.mean`` of two), NaN when
    there is a NaN.

    >>> median(np.array([3.0, 1.0, 2.0])), median(np.array([4.0, 1.0, 2.0, 3.0]))
    (2.0, 2.5)
    """
    flat = np.ravel(values)
    size = flat.size
    if size == 0 or flat.dtype != np.float64:
        return float(np.median(flat))
    half = size // 2
    middle = [half] if size % 2 else [half - 1, half]
    if size >= MEDIAN_BRACKET:
        found = _bracketed(flat, middle)
        if found is not None:
            return found
    part = np.partition(flat, [*middle, -1])  # NaNs sort last
    if np.isnan(part[-1]):
        return float("nan")
    if size % 2:
        return float(part[half])
    return float((part[half - 1] + part[half]) / 2)


def _bracketed(flat: np.ndarray, ranks: list[int]) -> float | None:
    """The mean of the values of ``ranks`` (0-based order statistics) of a large array, read
    among the values between two order statistics of an even sample around them (the
    count below the lower one shifts the ranks): the same numbers as a partition of the
    whole array, without its copy. ``None`` when the bracket missed or there are NaNs."""
    sample = np.sort(flat[:: max(1, flat.size // 4096)])
    share = (ranks[0] + 0.5) / flat.size
    low = sample[max(0, int((share - 0.03) * sample.size))]
    high = sample[min(sample.size - 1, int((share + 0.03) * sample.size))]
    below = int(np.count_nonzero(flat < low))
    above = int(np.count_nonzero(flat > high))
    within = flat[(flat >= low) & (flat <= high)]
    if below + within.size + above != flat.size:  # NaNs compare false everywhere
        return None
    shifted = [rank - below for rank in ranks]
    if shifted[0] < 0 or shifted[-1] >= within.size:
        return None
    part = np.partition(within, shifted)
    if len(shifted) == 1:
        return float(part[shifted[0]])
    return float((part[shifted[0]] + part[shifted[1]]) / 2)


def _product_by_rows(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left @ right`` computed in blocks of whole 64-row groups (≈ ``PRODUCT_BLOCK`` results).

    OpenBLAS runs a product of h·w·3 ≥ 2**19 on every core it finds, and its other
    threads then spin while they wait: for the light's (h × 3) @ (3 × w) surface of a
    photo's working image, 0.3 ms of work, ≈ 20 ms of CPU (docs/counting.md, 12ah). The
    blocks stay under that (for widths up to ≈ 2,700). Each block is the same kernel on
    the same rows: the same numbers where OpenBLAS runs blocks and whole through one
    kernel; on AVX-512 CPUs it runs small blocks through its small-matrix kernels, which
    round the three products' sum in another order (an ulp or two).

    >>> a, b = np.arange(12.0).reshape(4, 3), np.arange(6.0).reshape(3, 2)
    >>> bool(np.array_equal(_product_by_rows(a, b), a @ b))
    True
    """
    out = np.empty((left.shape[0], right.shape[1]), np.result_type(left, right))
    # Blocks of whole multiples of 64 rows keep OpenBLAS's groups of rows (its last rows
    # take another code path); a last row alone would be a matrix-vector product.
    height = left.shape[0]
    step = 64 * max(1, PRODUCT_BLOCK // (64 * max(1, right.shape[1])))
    start = 0
    while start < height:
        stop = start + step if height - start - step > 1 else height
        np.matmul(left[start:stop], right, out=out[start:stop])
        start = stop
    return out


def _unit_coordinates(n: int) -> np.ndarray:
    """Pixel centres of a side of ``n`` px on -1 … 1 (the same on any copy of the image)."""
    return (np.arange(n, dtype=np.float64) + 0.5) / n * 2 - 1


class ImageSums:
    """The integral image of one gray image (``cv2.integral``, as ``area_mean`` computes it),
    computed on first use and kept: the size search's further passes all reduce the same
    photo (three passes of a 3840 × 2160 photo: one integral of ≈ 3-6 ms instead of three).
    """

    def __init__(self, gray: np.ndarray) -> None:
        self.gray = gray

    @cached_property
    def total(self) -> np.ndarray:
        return integral(self.gray)


def reduced(gray: np.ndarray, size: tuple[int, int], by_sums: bool | ImageSums) -> np.ndarray:
    """``gray`` averaged down to ``size`` (width, height): by ``area_mean`` when ``by_sums``
    (an ``ImageSums`` of ``gray``: with its integral image),
    the image has ``SUMS_PIXELS`` or more, its sum fits in 32 bits and the reduction is by
    no whole number (else OpenCV's fast path); otherwise by OpenCV's ``INTER_AREA``.

    Smaller images keep ``INTER_AREA`` bit for bit: their size search is where the time
    is small, and it can turn on a mean rounded the other way (docs/counting.md, 12ae)."""
    height, width = gray.shape
    whole = width % size[0] == 0 and height % size[1] == 0 and width // size[0] == height // size[1]
    fits = gray.size * int(np.iinfo(gray.dtype).max) < 2**31
    if by_sums is not False and gray.size >= SUMS_PIXELS and fits and not whole:
        if isinstance(by_sums, ImageSums) and by_sums.gray is gray:
            return area_mean(gray, size, by_sums.total)
        return area_mean(gray, size)
    return np.asarray(cv2.resize(gray, size, interpolation=cv2.INTER_AREA))


def area_mean(
    gray: np.ndarray, size: tuple[int, int], total: np.ndarray | None = None
) -> np.ndarray:
    """``gray`` averaged down to ``size`` (width, height) from its integral image: what
    OpenCV's ``INTER_AREA`` computes, without its scalar loop over every pixel for a
    reduction by no whole number.

    Parameters
    ----------
    gray : (M, N) ndarray of uint8 or uint16
    size : (width, height)
        At most (N, M).
    total : (M + 1, N + 1) ndarray, optional
        ``integral(gray)`` when it was already computed (the same numbers).

    Returns
    -------
    (height, width) ndarray of gray's dtype
        Each pixel the mean of the (fractional) rectangle of ``gray`` it covers, rounded
        half to even. The integral image is exact (32-bit integers for an 8-bit image whose
        sum fits them, else float64) and is read at the rectangles' corners, interpolated
        linearly between whole pixels (the integral of a piecewise-constant image is
        bilinear in each pixel): ``INTER_AREA``'s means to its float32 weights (≈ 1e-6
        of a level at 8 bit, ≈ 0.004 at 16 bit; it also drops weights under 1e-3), so a
        mean that close to a half level can round the other way (8 bit: 0-4 pixels of
        65,000-260,000 at the size passes' scales of a 3840 × 2160 photo).

    >>> area_mean(np.array([[0, 4, 8], [4, 8, 12]], np.uint8), (2, 1)).tolist()
    [[3, 9]]
    """
    height, width = gray.shape
    top = int(np.iinfo(gray.dtype).max)
    if total is None:
        total = integral(gray)
    rows, row_share = _cell_edges(height, size[1])
    columns, column_share = _cell_edges(width, size[0])
    # the four whole-pixel corners around each cell corner, read straight from the integral
    # (no temporaries of the image's size), and their bilinear interpolation
    ys, xs = rows[:, None], columns[None, :]
    here = total[ys, xs].astype(np.float64)
    down = total[ys + 1, xs] - here
    right = total[ys, xs + 1] - here
    both = total[ys + 1, xs + 1] - here - down - right
    y, x = row_share[:, None], column_share[None, :]
    corners = here + y * down + x * right + (y * x) * both
    sums = np.diff(np.diff(corners, axis=0), axis=1)
    means = sums * (size[0] * size[1] / (width * height))
    return np.asarray(np.clip(np.rint(means), 0, top), gray.dtype)


def integral(gray: np.ndarray) -> np.ndarray:
    """``cv2.integral`` of ``gray`` ((M + 1, N + 1)): in 32-bit integers for an 8-bit image
    whose sum fits them, else in float64 (OpenCV's only exact depth for 16 bit)."""
    exact32 = gray.dtype == np.uint8 and gray.size * 255 < 2**31
    return np.asarray(cv2.integral(gray, sdepth=cv2.CV_32S if exact32 else cv2.CV_64F))


def _cell_edges(source: int, target: int) -> tuple[np.ndarray, np.ndarray]:
    """The whole pixel at or before each of the ``target + 1`` cell edges along an axis of
    ``source`` pixels (at most ``source - 1``), and the edge's fraction beyond it."""
    edges = np.arange(target + 1) * (source / target)
    whole = np.minimum(np.floor(edges).astype(np.intp), source - 1)
    return whole, edges - whole


def typical_contrast(local: np.ndarray) -> float:
    """The median absolute fine contrast of a field the cells cover no more than in training,
    and at most ``MAX_TYPICAL_OVER_GRAIN`` times its background's grain.

    ``local`` is the relative contrast less its blur at ``TYPICAL_SCALE``; its absolute
    value smoothed at ``ENERGY_SIGMA`` is the energy, and the pixels whose energy is above
    ``CELL_FLOOR`` times its ``CELL_QUANTILE`` percentile are the cells' (a threshold set by
    the cells themselves). Where they cover more than ``MAX_CELL_SHARE`` of the field the
    median is taken with their pixels weighed down to a tune crop's share
    (``weighed_median``, issue-12u). That median is the cells' own contrast where they fill
    the field, so it is capped by the background's grain (``background_grain``, the pixels
    far from every pixel above ``BACKGROUND_CELL_FLOOR`` of the same percentile; issue-12z):
    the tune crops covered as in training and the six photos stay under the cap, scaled as
    the model was trained, and a crop the cells fill is scaled nearer its photo.

    >>> rng = np.random.default_rng(0)
    >>> sparse = rng.normal(0, 0.01, (200, 200)).astype(np.float32)
    >>> crowded = sparse.copy()
    >>> for x in range(14, 200, 22):
    ...     _ = cv2.circle(sparse, (x, 100), 8, 0.2, -1)
    ...     for y in range(14, 160, 22):
    ...         _ = cv2.circle(crowded, (x, y), 8, 0.2, -1)
    >>> typical_contrast(sparse) == float(np.median(np.abs(sparse)))  # as trained
    True
    >>> round(typical_contrast(crowded) / typical_contrast(sparse), 1)  # capped by the grain
    1.1
    >>> round(float(np.median(np.abs(crowded)) / np.median(np.abs(sparse))), 1)  # the cells'
    1.5
    """
    height, width = local.shape
    step = (max(1, height // 256), max(1, width // 256))
    magnitude = np.abs(local)
    energy = cv2.GaussianBlur(magnitude, (0, 0), ENERGY_SIGMA)
    top = float(np.percentile(energy[:: step[0], :: step[1]], CELL_QUANTILE))
    cells = energy[:: step[0], :: step[1]] > CELL_FLOOR * top
    typical = weighed_median(magnitude[:: step[0], :: step[1]].ravel(), cells)
    grain = background_grain(magnitude, energy > BACKGROUND_CELL_FLOOR * top)
    return typical if grain is None else min(typical, MAX_TYPICAL_OVER_GRAIN * grain)


def background_grain(magnitude: np.ndarray, cells: np.ndarray) -> float | None:
    """The ``BACKGROUND_QUANTILE`` percentile over tiles of the mean ``magnitude`` of the
    pixels far from every ``cells`` pixel (``BACKGROUND_DISTANCE``, the nearer distance only
    where the farther leaves too few tiles); ``None`` when fewer than
    ``BACKGROUND_MIN_TILES`` tiles are ``BACKGROUND_TILE_FILL`` background."""
    height, width = magnitude.shape
    distance = cv2.distanceTransform((~cells).astype(np.uint8), cv2.DIST_L2, 3)
    tiles = (max(1, width // BACKGROUND_TILE), max(1, height // BACKGROUND_TILE))
    for reach in BACKGROUND_DISTANCE:
        far = (distance >= reach).astype(np.float32)
        share = cv2.resize(far, tiles, interpolation=cv2.INTER_AREA)
        valid = share >= BACKGROUND_TILE_FILL
        if int(valid.sum()) >= BACKGROUND_MIN_TILES:
            total = cv2.resize(magnitude * far, tiles, interpolation=cv2.INTER_AREA)
            return float(np.percentile(total[valid] / share[valid], BACKGROUND_QUANTILE))
    return None


def weighed_median(sample: np.ndarray, cells: np.ndarray) -> float:
    """The median of ``sample`` (absolute fine contrast) with its ``cells`` pixels weighed
    down to ``TUNE_CELL_SHARE`` where they cover more than ``MAX_CELL_SHARE`` (reached
    linearly 0.1 further on, so that it does not jump; up to that share the plain median)."""
    cells = cells.ravel()
    share = float(cells.mean())
    if share <= MAX_CELL_SHARE or share >= 1.0:
        return float(np.median(sample))
    # the share they are weighed at falls as fast as theirs rises, down to the tune crops'
    weighed = max(TUNE_CELL_SHARE, MAX_CELL_SHARE - (share - MAX_CELL_SHARE))
    weights = np.where(cells, weighed / share, (1 - weighed) / (1 - share))
    order = np.argsort(sample)
    cumulative = np.cumsum(weights[order])
    return float(sample[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def polarity(signal: np.ndarray) -> int:
    """+1 when the cells are darker than the background (positive phase contrast), -1 when
    brighter: the sign of the skewness of the contrast smoothed at ``POLARITY_SIGMA``
    (cell bodies are broader than halos; measured −1.9 … −5.2 on the six photos, the
    same magnitude with the opposite sign inverted). A symmetric image keeps +1."""
    smooth = cv2.GaussianBlur(signal, (0, 0), POLARITY_SIGMA)
    height, width = smooth.shape
    sample = smooth[:: max(1, height // 256), :: max(1, width // 256)].astype(np.float64)
    centred = sample - sample.mean()
    spread = float(np.sqrt(np.mean(centred**2)))
    if spread <= 0:
        return 1
    skew = float(np.mean(centred**3)) / spread**3
    return -1 if skew > POLARITY_SKEW else 1


def features(signal: np.ndarray, sigmas: tuple[float, ...], step: int = 1) -> np.ndarray:
    """Per-pixel features of the contrast on the grid ``[::step, ::step]``.

    Parameters
    ----------
    signal : (m, n) ndarray of float32
        ``contrast`` at the working size.
    sigmas : tuple of float
        Gaussian scales, working px.
    step : int
        Keep every ``step``-th pixel in both directions.

    Returns
    -------
    (F, P) ndarray of float32
        ``F = 8 * len(sigmas)`` features of the ``P`` grid pixels (row-major):
        per scale the smoothed contrast, smoothed absolute contrast, local
        standard deviation, gradient magnitude, Hessian trace, larger and
        smaller Hessian eigenvalue, Laplacian of the absolute contrast (scale
        normalised).
    """
    grid = signal[::step, ::step]
    out = np.empty((FEATURES_PER_SCALE * len(sigmas), grid.size), np.float32)
    magnitude = np.abs(signal)
    square = signal * signal
    coarse: _Coarse | None = None
    for i, s in enumerate(sigmas):
        if s > COARSE_SIGMA:  # smooth enough to be computed at half size, 4x fewer pixels
            coarse = coarse or _Coarse.of(signal, magnitude, square, grid.shape, step)
            planes = [coarse.sample(p) for p in coarse.scale_features(s)]
        else:
            planes = _scale_features(signal, magnitude, square, s, step)
        for j, plane in enumerate(planes):
            out[FEATURES_PER_SCALE * i + j] = plane.ravel()
    return out


@dataclass(frozen=True)
class _Coarse:
    """The contrast at half size, for the scales above ``COARSE_SIGMA``: their features are
    computed there at half the scale (the scale normalisation makes them the same numbers)
    and read back at the grid pixels (bilinear)."""

    signal: np.ndarray
    magnitude: np.ndarray
    square: np.ndarray
    map_x: np.ndarray
    map_y: np.ndarray

    @classmethod
    def of(
        cls,
        signal: np.ndarray,
        magnitude: np.ndarray,
        square: np.ndarray,
        grid_shape: tuple[int, ...],
        step: int,
    ) -> _Coarse:
        height, width = signal.shape
        size = ((width + 1) // 2, (height + 1) // 2)

        def half(plane: np.ndarray) -> np.ndarray:
            return np.asarray(cv2.resize(plane, size, interpolation=cv2.INTER_AREA))

        # Grid pixel (row i, column j) is full-size pixel (step i, step j), which sits at
        # (step j + 0.5) / 2 - 0.5 in the half-size copy.
        xs = (np.arange(grid_shape[1], dtype=np.float32) * step + 0.5) / 2 - 0.5
        ys = (np.arange(grid_shape[0], dtype=np.float32) * step + 0.5) / 2 - 0.5
        map_x = np.ascontiguousarray(np.broadcast_to(xs[None, :], grid_shape[:2]))
        map_y = np.ascontiguousarray(np.broadcast_to(ys[:, None], grid_shape[:2]))
        return cls(half(signal), half(magnitude), half(square), map_x, map_y)

    def scale_features(self, s: float) -> list[np.ndarray]:
        return _scale_features(self.signal, self.magnitude, self.square, s / 2, 1)

    def sample(self, plane: np.ndarray) -> np.ndarray:
        return np.asarray(
            cv2.remap(plane, self.map_x, self.map_y, cv2.INTER_LINEAR, None, cv2.BORDER_REPLICATE)
        )


def _scale_features(
    signal: np.ndarray, magnitude: np.ndarray, square: np.ndarray, s: float, step: int
) -> list[np.ndarray]:
    """The 8 features at scale ``s`` on the grid: filters on the whole image, the
    pointwise arithmetic on the grid only (the same numbers, a ninth of the work)."""

    def on_grid(plane: np.ndarray) -> np.ndarray:
        return plane[::step, ::step]

    full = cv2.GaussianBlur(signal, (0, 0), s)
    smooth = on_grid(full)
    smooth_abs_full = cv2.GaussianBlur(magnitude, (0, 0), s)
    variance = on_grid(cv2.GaussianBlur(square, (0, 0), s)) - smooth * smooth
    gx = on_grid(cv2.Sobel(full, cv2.CV_32F, 1, 0, ksize=3)) / 8
    gy = on_grid(cv2.Sobel(full, cv2.CV_32F, 0, 1, ksize=3)) / 8
    norm = np.float32(s * s / 4)
    hxx = on_grid(cv2.Sobel(full, cv2.CV_32F, 2, 0, ksize=3)) * norm
    hyy = on_grid(cv2.Sobel(full, cv2.CV_32F, 0, 2, ksize=3)) * norm
    hxy = on_grid(cv2.Sobel(full, cv2.CV_32F, 1, 1, ksize=3)) * norm
    trace = hxx + hyy
    spread = np.sqrt((hxx - hyy) ** 2 + 4 * hxy * hxy)
    laplacian = on_grid(cv2.Laplacian(smooth_abs_full, cv2.CV_32F, ksize=3)) * np.float32(s * s)
    return [
        smooth,
        on_grid(smooth_abs_full),
        np.sqrt(np.maximum(variance, 0)),
        np.sqrt(gx * gx + gy * gy) * np.float32(s),
        trace,
        0.5 * (trace + spread),
        0.5 * (trace - spread),
        laplacian,
    ]


def predict(model: DensityModel | Trees, table: np.ndarray) -> np.ndarray:
    """The trees' summed output for each column of ``table`` (F, P) -> (P,) float64.

    All pixels walk a block of trees at once, one level per step, through the
    trees' complete layout (``CompleteTrees``): a few array operations per level
    and no per-node Python, so a small table costs little. A large table (a
    photo's grid; ``PREDICT_BY_NODE`` pixels and more) is walked one tree at a
    time from each node's answers for all pixels (``_tree_leaves``): the same
    leaves, about twice as fast there. A pixel goes left when ``feature <=
    threshold`` (a NaN goes right); the trees' outputs are added in tree order.
    """
    trees = model.complete
    count, pixels = trees.feature.shape[0], table.shape[1]
    out = np.full(pixels, model.baseline, np.float64)
    if pixels >= PREDICT_BY_NODE and trees.depth > 0:
        table = np.ascontiguousarray(table)
        for t, leaves in enumerate(_tree_leaves(trees, table)):
            out += trees.leaf[t].take(leaves)
        return out
    inner = 2**trees.depth - 1
    flat = np.ascontiguousarray(table).ravel()
    column = (trees.feature * pixels).ravel()  # where each node's feature row starts
    threshold = trees.threshold.ravel()
    leaf = trees.leaf.ravel()
    pixel = np.arange(pixels, dtype=np.intp)
    block = max(1, min(count, PREDICT_BLOCK // max(pixels, 1)))
    for first in range(0, count, block):
        last = min(count, first + block)
        tree = np.arange(first, last, dtype=np.intp)[:, None]
        node = np.zeros((last - first, pixels), np.intp)
        for _ in range(trees.depth):
            at = node + tree * inner
            goes_left = flat.take(column.take(at) + pixel) <= threshold.take(at)
            node *= 2
            node += 2
            node -= goes_left
        for row in leaf.take(node - inner + tree * (inner + 1)):
            out += row
    return out


def _tree_leaves(trees: CompleteTrees, table: np.ndarray) -> Iterator[np.ndarray]:
    """Each tree's leaf (0 .. 2**depth - 1) for every column of ``table``, tree by tree.

    Every node's answer is computed for all pixels at once, a comparison along one
    contiguous feature row (no gather of feature values), then each pixel reads
    its own node's answer level by level: the leaves ``predict``'s walk reaches
    (``feature <= threshold`` goes left, a NaN goes right).
    """
    inner, pixels = 2**trees.depth - 1, table.shape[1]
    right = np.empty((inner, pixels), bool)  # one tree's answers: goes right at each node
    answers = right.view(np.uint8).ravel()
    pixel = np.arange(pixels, dtype=np.intp)
    at = np.empty(pixels, np.intp)
    step = np.empty(pixels, np.uint8)
    for feature, threshold in zip(trees.feature.tolist(), trees.threshold, strict=True):
        for n, f in enumerate(feature):
            np.less_equal(table[f], threshold[n], out=right[n])
        np.logical_not(right, out=right)
        node = answers[:pixels].astype(np.intp)  # the place within the level below the root
        first = 1  # the level's first node
        for level in range(1, trees.depth):
            np.multiply(node, pixels, out=at)
            at += pixel
            at += first * pixels
            answers.take(at, out=step)
            node *= 2
            node += step
            first += 1 << level
        yield node


def density_of(signal: np.ndarray, model: DensityModel) -> np.ndarray:
    """Cells per working pixel (float32, ≥ 0) of the working-size ``contrast``; sums to the count.

    Background pixels (absolute contrast smoothed at ``sigmas[GATE_SCALE]``
    below the image's median, ``TYPICAL_CONTRAST``) are not given to the trees:
    they are 0. On the training photos they are 35-50 % of the pixels and
    carry under 1 % of the density the trees give them.
    """
    return _density(signal, features(signal, model.sigmas, GRID_STEP), model)


def contrasted(table: np.ndarray, scales: int) -> np.ndarray:
    """Indices of the grid pixels that are not background (the gate of ``density_of``), in
    a feature table of ``scales`` scales."""
    if scales <= GATE_SCALE:
        return np.arange(table.shape[1])
    return np.flatnonzero(table[FEATURES_PER_SCALE * GATE_SCALE + 1] >= TYPICAL_CONTRAST)


def _density(signal: np.ndarray, table: np.ndarray, model: DensityModel) -> np.ndarray:
    """``density_of`` from the grid's feature table (computed once, also for the size)."""
    grid_shape = signal[::GRID_STEP, ::GRID_STEP].shape
    coarse = np.zeros(table.shape[1], np.float32)
    keep = contrasted(table, len(model.sigmas))
    coarse[keep] = predict(model, np.ascontiguousarray(table[:, keep]))
    grid = np.asarray(coarse / np.float32(model.density_unit), np.float32).reshape(grid_shape)
    height, width = signal.shape
    fine = cv2.resize(grid, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.asarray(np.maximum(fine, 0), np.float32)


@dataclass(frozen=True)
class Prepared:
    """The contrast and grid features at the working ``scale`` (kept for the count)."""

    scale: float
    signal: np.ndarray
    table: np.ndarray


@dataclass(frozen=True)
class SizeEstimate:
    """The cell diameter to count at (original px), why it is in doubt (``None``: it is
    not), the working image judged at that size, and the diameter the size trees found
    (the training size when they agree with it; ``nan`` when they could not judge)."""

    diameter: float
    note: str | None
    prepared: Prepared
    found: float = float("nan")

    @property
    def radius(self) -> float:
        return self.diameter / 2


def estimate_cell_size(gray: np.ndarray, model: DensityModel | None = None) -> SizeEstimate | None:
    """The typical cell size, judged by the model's size trees (``None``: image too small).

    The size trees read the same per-pixel features as the density and say, per
    contrasted pixel, how many octaves larger the cells look than in the
    training photos; their mean (over the gain the training measured) is the
    image's answer. Near the training photos' own answer (``size_offset``,
    within ``SIZE_SNAP``) the image is taken to be at their magnification.
    Otherwise the image is brought to other sizes until the answer changes
    sign (``crossing``): that size scales exactly with the image; less the
    training photos' offset, it is the cells' size. Within ``SIZE_SAME`` of
    the training size the first answer was noise; further away the count is
    flagged (``note``) with the size found. The diameter returned is the
    training size up to ``RESCALE_SMALLER`` / ``RESCALE_LARGER`` times from it
    (at the training magnification uneven light and small crops make cells
    look 1.25-1.6x larger often, more now and then: a count at the training
    size is the better guess there) and the size found beyond (another
    magnification: counted at the training size, the annotated regions at
    0.5x and 2x were off by 59 % and 190 % on average; at the size found, by
    25 % and 47 %, still flagged; docs/counting.md). Each further pass costs
    a contrast and feature computation.
    """
    model = model or default_model()
    nominal = model.cell_diameter
    if min(gray.shape[:2]) < nominal / 2:
        return None
    first = prepare(gray, model, 0.0)
    if model.size is None:
        return SizeEstimate(nominal, None, first)
    answer, evidence = size_answer(first.table, model)
    if evidence < MIN_SIZE_EVIDENCE:
        sparse = "too little cell texture to judge the cell size: set the diameter"
        return SizeEstimate(nominal, sparse, first)
    if abs(answer - model.size_offset) < SIZE_SNAP:
        return SizeEstimate(nominal, None, first, nominal)
    position, note = crossing(gray, model, [(0.0, answer)])
    size = size_at(model, position)
    if note is not None:
        return SizeEstimate(nominal, note, first)
    if abs(position - model.size_offset) < SIZE_SAME:
        return SizeEstimate(nominal, None, first, nominal)
    low, high = (nominal * bound for bound in model.size_range)
    if not low <= size <= high:
        note = (
            f"the cell size could not be judged (the size trees settled at {size:.0f} px, "
            f"outside the {low:.0f}-{high:.0f} px they learned): set the diameter"
        )
        return SizeEstimate(nominal, note, first)
    if size < nominal / RESCALE_SMALLER or size > nominal * RESCALE_LARGER:
        # Another magnification: counted at the size found. The size trees' ±15-25 % moves
        # the count by ~30-50 % (it goes as 1 / size²), so it stays flagged.
        note = (
            f"cells look about {size:.0f} px across, not the {nominal:.0f} px the phase-contrast "
            f"model was trained on: counted at {size:.0f} px; set the diameter to be sure "
            f"(lab count --diameter {nominal:.0f},{size:.0f})"
        )
        return SizeEstimate(size, note, first, size)
    note = (
        f"cells look about {size:.0f} px across, not the {nominal:.0f} px the phase-contrast "
        f"model counts: set the diameter (lab count --diameter {nominal:.0f},{size:.0f})"
    )
    # Near the training size the count stays at it: uneven light and small crops make
    # cells look 1.25-1.6x larger often (docs/counting.md); it is only flagged.
    return SizeEstimate(nominal, note, first, size)


def prepare(
    gray: np.ndarray, model: DensityModel, position: float, by_sums: bool | ImageSums = False
) -> Prepared:
    """Contrast and grid features with the image brought ``position`` octaves smaller than
    the training size (the working scale, at most 1)."""
    return prepared_at(gray, model, min(1.0, model.work_scale / 2.0**position), by_sums)


def prepared_at(
    gray: np.ndarray, model: DensityModel, scale: float, by_sums: bool | ImageSums = False
) -> Prepared:
    """Contrast and grid features of ``gray`` at the working ``scale`` (``by_sums``:
    reduced by its integral image where that is cheaper, see ``reduced``)."""
    signal = contrast(gray, scale, by_sums)
    return Prepared(scale, signal, features(signal, model.sigmas, GRID_STEP))


def size_at(model: DensityModel, position: float) -> float:
    """The cell diameter (px) where the size trees' answer crosses 0 at ``position``
    (log2 of the image brought smaller), less the training photos' own offset."""
    return float(model.cell_diameter * 2.0 ** (position - model.size_offset))


def crossing(
    gray: np.ndarray, model: DensityModel, tried: list[tuple[float, float]]
) -> tuple[float, str | None]:
    """The log2 size where the size answer is 0 (within ``SIZE_TOLERANCE``), from the
    sizes ``tried`` so far ((position, answer) pairs), and why it is in doubt."""
    position, answer = tried[-1]
    sums = ImageSums(gray)  # one integral image for all the further passes (when used)
    for _ in range(SIZE_STEPS):
        if abs(answer) < SIZE_TOLERANCE:
            return position, None
        if answer < 0 and model.work_scale / 2.0**position >= 1.0:
            size = size_at(model, position)
            return position, (
                f"cells look under {size:.0f} px across, too small for the phase-contrast "
                "model: set the diameter"
            )
        position = _next_size(tried)
        # Only the size answer is read from these passes: the integral image's means
        # (``area_mean``) are INTER_AREA's to a rounding, at ≈ 60 % of its time.
        answer, _ = size_answer(prepare(gray, model, position, by_sums=sums).table, model)
        tried.append((position, answer))
    if abs(answer) < SIZE_TOLERANCE:
        return position, None
    size = size_at(model, position)
    return position, f"the cell size did not settle (last {size:.0f} px): set the diameter"


def _next_size(tried: list[tuple[float, float]]) -> float:
    """The next log2 size to try: where the answers change sign when two tried sizes
    bracket it (linear interpolation), else one step of the last answer (at most 1.5
    octaves)."""
    x1, a1 = tried[-1]
    for x0, a0 in reversed(tried[:-1]):
        if (a0 > 0) != (a1 > 0):
            return x1 - a1 * (x1 - x0) / (a1 - a0)
    return x1 + float(np.clip(a1, -1.5, 1.5))


def size_answer(table: np.ndarray, model: DensityModel) -> tuple[float, int]:
    """How many octaves larger the cells look than in the training photos (the size trees'
    mean answer over up to ``SIZE_SAMPLE`` contrasted grid pixels, evenly spread, divided
    by the gain), and how many contrasted pixels there were."""
    keep = contrasted(table, len(model.sigmas))
    if model.size is None or keep.size == 0:
        return 0.0, int(keep.size)
    chosen = keep[:: max(1, keep.size // SIZE_SAMPLE)]
    answer = predict(model.size, np.ascontiguousarray(table[:, chosen]))
    return float(np.mean(answer)) / model.size_gain, int(keep.size)


def segment_cells(
    gray: np.ndarray,
    radius: float,
    intensity_range: tuple[float, float],
    threshold_offset: float = 0.0,
    model: DensityModel | None = None,
    prepared: Prepared | None = None,
) -> Found:
    """Segment cells of typical ``radius`` (original px) in a phase-contrast image.

    Parameters
    ----------
    gray : (M, N) ndarray of uint8 or uint16
    radius : float
        Typical cell radius (original px): ``estimate_cell_size``, or half
        the diameter the caller gave.
    intensity_range : (lo, hi)
        Unused (the contrast is relative to the background); kept for the
        common signature of the segmenters.
    threshold_offset : float
        Scales the least density mass a region needs to count as a cell by
        ``2 ** offset``: negative takes in fainter, smaller cells (more),
        positive fewer.
    model : DensityModel, optional
        The shipped model by default.
    prepared : Prepared, optional
        The contrast and features ``estimate_cell_size`` computed at this
        radius's working scale (not computed again).

    Returns
    -------
    Found
        ``labels`` at the working resolution, all counted (no flags).
    """
    del intensity_range
    model = model or default_model()
    scale = min(1.0, model.work_scale * (model.cell_diameter / 2) / radius)
    if prepared is None or abs(prepared.scale - scale) > 1e-6 * scale:
        prepared = prepared_at(gray, model, scale)
    signal = prepared.signal
    cells = _density(signal, prepared.table, model)
    above = cells - np.float32(REGION_LEVEL * model.peak)
    outline = cv2.GaussianBlur(np.abs(signal), (0, 0), OUTLINE_SIGMA) - np.float32(OUTLINE_LEVEL)
    min_mass = MIN_CELL_MASS * offset_factor(threshold_offset)
    labels = _regions_to_cells(cells, (above > 0).astype(np.uint8), min_mass, outline > 0)
    count = int(labels.max())
    note = undercount_note(dark_bodies(signal), count)
    # Full-resolution outlines: inside a cell where its contrast or its density is high.
    return Found(labels, count, (), np.maximum(outline, above), scale, note=note)


def dark_bodies(signal: np.ndarray) -> int:
    """How many dark cell bodies the working-size ``contrast`` shows: local minima (in a
    ``BODY_WINDOW`` window) of the contrast smoothed at ``BODY_SIGMA`` below
    ``-BODY_LEVEL``. Independent of the density trees; on the training photos about one
    per cell (0.70-1.24 on the eight tune regions: a spindle's body can show two, a packed
    clump fewer).

    >>> img = np.zeros((60, 90), np.float32)
    >>> for x in (20, 45, 70):
    ...     _ = cv2.circle(img, (x, 30), 4, -0.3, -1)
    >>> dark_bodies(img)
    3
    """
    smooth = cv2.GaussianBlur(signal, (0, 0), BODY_SIGMA)
    lowest = cv2.erode(smooth, np.ones((BODY_WINDOW, BODY_WINDOW), np.uint8))
    minima = ((smooth <= lowest) & (smooth < -np.float32(BODY_LEVEL))).astype(np.uint8)
    # A flat minimum (a clipped, black body) is one body, not one per pixel.
    return int(cv2.connectedComponents(minima, connectivity=8)[0]) - 1


def undercount_note(bodies: int, count: int) -> str | None:
    """Why a count of ``count`` cells is too low for ``bodies`` dark cell bodies (``None``:
    it is not): more than ``UNDERCOUNT_RATIO`` bodies per cell (a spindle can show two
    bodies, a cell a granule: up to 1.5 per cell on the tune regions and their
    transformations), and an excess of bodies over cells beyond ``UNDERCOUNT_Z`` times
    the square root of the count (not chance in a small field: up to 1.34 on the tune
    regions and their transformations counted within 15 %).

    >>> undercount_note(45, 22) is None, undercount_note(400, 359) is None
    (False, True)
    """
    cells = max(count, 1)
    if bodies <= UNDERCOUNT_RATIO * cells or (bodies - count) / np.sqrt(cells) <= UNDERCOUNT_Z:
        return None
    return (
        f"{bodies} dark cell bodies for {count} cells counted: touching or faint cells were "
        "probably counted as one or missed (the count is likely too low; check the "
        "annotated image)"
    )


def _regions_to_cells(
    cells: np.ndarray, mask: np.ndarray, min_mass: float, footprint: np.ndarray
) -> np.ndarray:
    """Label image: each region split into ``round(mass)`` cells (0 cells: dropped); each
    cell takes the contrasted pixels (``footprint``) it reaches first, so its outline is the
    cell's, not its density's."""
    count, regions, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    mass = np.bincount(regions.ravel(), cells.ravel(), count)
    mass[0] = 0
    wanted = np.where(mass >= min_mass, np.maximum(1, np.floor(mass + 0.5)), 0).astype(np.int64)
    markers = _seeds(cells, regions, wanted)
    return _grow(_flood(cells, markers, regions, stats, wanted), footprint)


def _seeds(cells: np.ndarray, regions: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Seed labels: in each region, its ``wanted`` highest local maxima of the density."""
    size = 2 * PEAK_DISTANCE + 1
    peaks = (cells >= cv2.dilate(cells, np.ones((size, size), np.uint8))) & (regions > 0)
    rows, cols = np.nonzero(peaks)
    owner = regions[rows, cols]
    order = np.lexsort((-cells[rows, cols], owner))  # by region, highest first
    rows, cols, owner = rows[order], cols[order], owner[order]
    starts = np.searchsorted(owner, owner, side="left")
    rank = np.arange(owner.size) - starts
    keep = rank < wanted[owner]
    markers = np.zeros(cells.shape, np.int32)
    markers[rows[keep], cols[keep]] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return markers


def _flood(
    cells: np.ndarray,
    markers: np.ndarray,
    regions: np.ndarray,
    stats: np.ndarray,
    wanted: np.ndarray,
) -> np.ndarray:
    """Watershed of the density from the seeds, inside the regions that hold cells."""
    inside = (wanted[regions] > 0).astype(np.uint8)
    if not inside.any():
        return np.zeros(cells.shape, np.int32)
    seeded = np.bincount(regions[markers > 0], minlength=wanted.size)
    short = np.flatnonzero((wanted > 0) & (seeded < wanted))
    next_label = int(markers.max()) + 1
    for region in short:  # fewer maxima than cells (a flat clump): k-means seeds
        x, y, w, h = (int(v) for v in stats[region, :4])
        window = markers[y : y + h, x : x + w]
        own = regions[y : y + h, x : x + w] == region
        window[own] = 0
        extra = _kmeans_markers(own, int(wanted[region]))
        window[extra > 0] = extra[extra > 0] + next_label - 1
        next_label += int(extra.max())
    flooded = watershed(-cells, markers, inside)
    present = np.zeros(int(flooded.max()) + 1, bool)  # labels 1..n without gaps (no sort)
    present[flooded.ravel()] = True
    present[0] = False
    return relabel(flooded, present)


def _grow(labels: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Each cell extended over the contrasted pixels next to it, ``GROW`` px at most (a
    spindle's density sits at its middle; its outline is its body's)."""
    # cv2.dilate takes no 32-bit integers: 16 bits while the labels fit them (half the
    # memory of float32, the same maxima), else float32 (exact for labels below 2**24).
    small = int(labels.max(initial=0)) <= np.iinfo(np.uint16).max
    grown: np.ndarray = labels.astype(np.uint16) if small else labels.astype(np.float32)
    free = footprint & (labels == 0)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    for _ in range(GROW):
        spread = cv2.dilate(grown, cross)
        reached = free & (spread > 0)
        if not reached.any():
            break
        np.copyto(grown, spread, where=reached)  # faster than a masked set
        free &= ~reached
    return np.asarray(grown.astype(np.int32))


def _kmeans_markers(inside: np.ndarray, k: int) -> np.ndarray:
    """``k`` seeds spread over a region: k-means of its pixel positions."""
    rows, cols = np.nonzero(inside)
    every = max(1, rows.size // (KMEANS_POINTS_PER_SEED * max(k, 1)))  # evenly spread, for speed
    points = np.stack([cols[::every], rows[::every]], axis=1).astype(np.float32)
    k = min(k, len(points))
    markers = np.zeros(inside.shape, np.int32)
    if k <= 0:
        return markers
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 8, 0.5)
    cv2.setRNGSeed(0)
    labels = np.zeros((len(points), 1), np.int32)
    _, _, centres = cv2.kmeans(points, k, labels, criteria, 1, cv2.KMEANS_PP_CENTERS)
    for label, (cx, cy) in enumerate(centres, start=1):
        nearest = int(np.argmin((points[:, 0] - cx) ** 2 + (points[:, 1] - cy) ** 2))
        markers[int(points[nearest, 1]), int(points[nearest, 0])] = label
    return markers
