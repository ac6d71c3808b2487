"""Shared pieces of the segmentation methods: normalising, resizing, labels, shapes.

Pure functions on arrays (OpenCV + NumPy); no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np


def subsample(image: np.ndarray, size: int = 65536) -> np.ndarray:
    """A regular grid of about ``size`` pixels: enough for percentiles, cheap."""
    step = max(1, int(np.sqrt(image.size / size)))
    return image[::step, ::step]


def intensity_range(gray: np.ndarray) -> tuple[float, float]:
    """The 0.5th and 99.9th percentiles of ``gray``, from a subsample.

    >>> intensity_range(np.arange(1000, dtype=np.uint16).reshape(10, 100))
    (4.0, 998.0)
    """
    sample = subsample(gray)
    if sample.dtype.kind == "u":
        cumulative = np.cumsum(np.bincount(sample.ravel()))
        lo, hi = np.searchsorted(cumulative, [0.005 * sample.size, 0.999 * sample.size])
    else:
        lo, hi = np.percentile(sample, (0.5, 99.9))
    return float(lo), float(hi) if hi > lo else float(lo) + 1.0


STEP_MIN_LEVELS = 32  # fewer levels used: not a quantised continuous image (step 1)


def level_step(gray: np.ndarray) -> float:
    """The step between the intensity levels ``gray`` actually uses (1 for most images).

    The pixel-weighted median gap from each occupied level to the next, on a
    subsample: an 8-bit image stored in 16 bits (every 16th level used) has steps of
    16, as its 8-bit original has steps of 1. Quantisation noise scales with it, not
    with the dtype. Float images: 0 (no steps); images using under ``STEP_MIN_LEVELS``
    levels (a drawing, a mask, a generated disc): 1.

    >>> level_step(np.arange(0, 4096, 16, dtype=np.uint16).reshape(16, 16))
    16.0
    >>> level_step(np.arange(256, dtype=np.uint8).reshape(16, 16))
    1.0
    """
    if gray.dtype.kind not in "ui":
        return 0.0
    counts = np.bincount(subsample(gray).ravel().astype(np.int64) - int(gray.min()))
    levels = np.flatnonzero(counts)
    if levels.size < STEP_MIN_LEVELS:
        return 1.0  # a drawing or a mask (a disc of one value on another): no quantisation
    gaps = np.diff(levels)
    weights = counts[levels[:-1]]
    order = np.argsort(gaps, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(gaps[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def resized(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` shrunk by ``scale`` (area averaging), or itself when ``scale`` is 1."""
    if scale >= 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    method = cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=method)


def normalised(gray: np.ndarray, scale: float, lo: float, hi: float, sign: int = 1) -> np.ndarray:
    """float32 ``gray`` resized by ``scale``, ``lo``..``hi`` mapped to 0..1 (or 1..0 for sign -1).

    >>> normalised(np.array([[0, 50, 100]], np.uint8), 1.0, 0, 100).round(2).tolist()
    [[0.0, 0.5, 1.0]]
    """
    out = resized(gray, scale).astype(np.float32)
    out -= np.float32(lo)
    out *= np.float32(1.0 / (hi - lo))
    if sign < 0:
        np.subtract(np.float32(1.0), out, out=out)
    return out


BACKGROUND_RADII = 8.0
PLANE_TILES = 4  # the background's tilt: a plane through the low level of 4 x 4 tiles
PLANE_QUANTILE = 0.1
PLANE_FIT = 0.8  # ... used when it explains this much of their variance
TILE_RADII = 4.0
# The background's reach is at most this fraction of the image's side (it follows the light
# across a large image). A quarter left the opening narrower than a pair of nuclei on small
# crops (≲ 32 radii across): it took them for background, the ring left around them pulled the
# background level down, and flat background came out as objects (issue-12w).
BACKGROUND_MAX_FRACTION = 0.5


def disk(radius: float) -> np.ndarray:
    r = max(1, round(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


DECOMPOSE_FROM = 8  # px: larger discs are applied row by row (cheaper, same result)


def open_disk(image: np.ndarray, radius: int) -> np.ndarray:
    """Morphological opening by ``disk(radius)``: exactly ``cv2.morphologyEx(MORPH_OPEN)``.

    A large disc is slow as one kernel. It is the union of its rows, and an
    erosion (dilation) by a union is the minimum (maximum) of the erosions
    (dilations) by its parts: each row of the disc is a horizontal segment,
    applied as a row pass (the wider passes grown from the narrower ones) and
    shifted by the row's offset. Minimum and maximum are exact, and pixels
    beyond the border never count (as in OpenCV), so the result is
    bit-identical.

    >>> img = np.random.default_rng(0).random((40, 50)).astype(np.float32)
    >>> same = cv2.morphologyEx(img, cv2.MORPH_OPEN, disk(12))
    >>> bool(np.array_equal(open_disk(img, 12), same))
    True
    """
    kernel = disk(radius)
    if radius < DECOMPOSE_FROM:
        return np.asarray(cv2.morphologyEx(image, cv2.MORPH_OPEN, kernel))
    half = kernel.shape[0] // 2
    widths = [int(w) for w in kernel.sum(axis=1) // 2]  # half width of the row at offset i - half

    def apply(
        values: np.ndarray, op: Callable[..., np.ndarray], combine: Callable[..., np.ndarray]
    ) -> np.ndarray:
        passes = {}
        row, done = values, 0
        for w in sorted(set(widths)):
            if w > done:
                row = op(row, np.ones((1, 2 * (w - done) + 1), np.uint8))
                done = w
            passes[w] = row
        found = passes[widths[half]].copy()
        height = values.shape[0]
        for offset in range(1, min(half, height - 1) + 1):
            below, above = passes[widths[half + offset]], passes[widths[half - offset]]
            combine(found[:-offset], below[offset:], out=found[:-offset])
            combine(found[offset:], above[:-offset], out=found[offset:])
        return found

    return apply(apply(image, cv2.erode, np.minimum), cv2.dilate, np.maximum)


def smooth_background(
    image: np.ndarray, object_radius: float, fraction: float = 0.1, low: bool = True
) -> np.ndarray:
    """Slowly varying background under (``low``) or around the objects.

    The kernel is at least ``BACKGROUND_RADII`` object radii wide, so a cluster
    of objects is not taken for background.

    ``low``: a morphological opening far larger than any object (fluorescence,
    bright objects on a dark field). Otherwise a median (phase contrast, objects
    both darker and brighter). Computed on a ~128 px thumbnail, scaled back up.
    """
    height, width = image.shape
    step = max(1, max(height, width) // 128)
    small = cv2.resize(
        image, (max(1, width // step), max(1, height // step)), interpolation=cv2.INTER_AREA
    )
    reach = max(min(small.shape) * fraction, BACKGROUND_RADII * object_radius / step)
    # Still follow the light across the image, but never shrink below the objects.
    reach = max(min(reach, BACKGROUND_MAX_FRACTION * min(small.shape)), 2.5 * object_radius / step)
    k = max(3, int(reach) | 1)
    if low:
        # An opening follows a linear ramp exactly except within its own reach of the
        # image's edges (it flattens there: the rising edge is left as a bright band),
        # and so does a blur with a mirrored border. Both work on the image less its
        # tilt (a plane through the tiles' low levels), which carries the ramp through.
        plane = _plane(small)
        if plane is None:
            blurred = cv2.GaussianBlur(open_disk(small, k // 2), (0, 0), k / 2)
        else:
            base = open_disk(small - plane, k // 2)
            blurred = cv2.GaussianBlur(base, (0, 0), k / 2) + plane
    else:
        lo, hi = float(small.min()), float(small.max())
        u8 = np.clip((small - lo) * (255.0 / max(hi - lo, 1e-9)), 0, 255).astype(np.uint8)
        base = cv2.medianBlur(u8, min(k, 255)).astype(np.float32) * ((hi - lo) / 255.0) + lo
        blurred = cv2.GaussianBlur(base, (0, 0), k / 2)
    return np.asarray(cv2.resize(blurred, (width, height), interpolation=cv2.INTER_LINEAR))


def _plane(values: np.ndarray, tiles: int = PLANE_TILES) -> np.ndarray | None:
    """Least-squares plane a + b x + c y through the low level (``PLANE_QUANTILE``) of
    each of ``tiles`` x ``tiles`` tiles of ``values``, as a float32 image: the tilt of
    the background, whatever the objects on it (a tile is rarely all objects). None
    when the plane explains less than ``PLANE_FIT`` of the levels' variance (no tilt,
    or tiles full of objects in a crowded field: their levels are not background).

    >>> ramp = np.add.outer(np.arange(40.0), 2 * np.arange(60.0)).astype(np.float32)
    >>> ramp[12:18, 18:26] += 50  # an object
    >>> plane = _plane(ramp)
    >>> plane is not None
    True
    >>> float(plane[0, -1] - plane[0, 0]), float(plane[-1, 0] - plane[0, 0])  # 2 * 59, 39
    (118.0, 39.0)
    """
    height, width = values.shape
    rows, cols = min(tiles, height), min(tiles, width)
    top = np.arange(rows + 1) * height // rows
    left = np.arange(cols + 1) * width // cols
    grid = tile_stat(values, top, left, lambda stack: linear_quantile(stack, PLANE_QUANTILE))
    xs = np.tile((left[:-1] + left[1:] - 1) / 2, rows)
    ys = np.repeat((top[:-1] + top[1:] - 1) / 2, cols)
    levels = grid.ravel().astype(np.float64)
    design = np.stack([np.ones(xs.size), xs, ys], axis=1)
    (a, b, c), *_ = np.linalg.lstsq(design, levels, rcond=None)
    spread = float(np.sum(np.square(levels - levels.mean())))
    missed = float(np.sum(np.square(levels - design @ np.array([a, b, c]))))
    if missed > (1 - PLANE_FIT) * spread:  # the low levels are objects, not a tilt
        return None
    row = (a + b * np.arange(width)).astype(np.float32)
    column = (c * np.arange(height)).astype(np.float32)
    return np.asarray(row[None, :] + column[:, None])


def tile_stat(
    values: np.ndarray,
    top: np.ndarray,
    left: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """``statistic`` of every tile between the row bounds ``top`` and column bounds
    ``left``, as a (rows, cols) float64 grid: one call per tile shape (a stack of the
    tiles of that shape along a last axis), not one per tile.

    ``statistic`` takes an (i, j, pixels) stack and reduces its last axis; a quantile
    or median of a stack is the quantile of each tile alone (the same partition and
    interpolation on each), so the grid is what a loop over the tiles gives.

    >>> v = np.arange(35.0).reshape(5, 7)
    >>> tile_stat(v, np.array([0, 2, 5]), np.array([0, 3, 7]), lambda s: s.min(axis=2)).tolist()
    [[0.0, 3.0], [14.0, 17.0]]
    """
    heights, widths = np.diff(top), np.diff(left)
    grid = np.zeros((heights.size, widths.size), np.float64)
    for tile_height in np.unique(heights).tolist():
        ii = np.flatnonzero(heights == tile_height)
        ys = (top[ii][:, None] + np.arange(tile_height)[None, :]).ravel()
        for tile_width in np.unique(widths).tolist():
            jj = np.flatnonzero(widths == tile_width)
            xs = (left[jj][:, None] + np.arange(tile_width)[None, :]).ravel()
            stack = values[np.ix_(ys, xs)].reshape(ii.size, tile_height, jj.size, tile_width)
            stack = stack.transpose(0, 2, 1, 3).reshape(ii.size, jj.size, -1)
            grid[np.ix_(ii, jj)] = statistic(stack)
    return grid


def linear_quantile(stack: np.ndarray, q: float) -> np.ndarray:
    """``np.quantile(stack, q, axis=-1)`` (linear interpolation) of a NaN-free float
    array, computed as NumPy does it — the two neighbouring order statistics, then
    ``a + (b - a) * g`` (or ``b - (b - a) * (1 - g)`` from g = 0.5 up) in the array's
    own precision — but with one partition along the contiguous last axis (NumPy
    partitions along the first, after moving the axis), at one position (the value
    above is the least beyond it): several times faster on a stack of tiles. A test
    compares it with ``np.quantile`` bit for bit.

    >>> v = np.random.default_rng(0).random((3, 4, 101)).astype(np.float32)
    >>> bool(np.array_equal(linear_quantile(v, 0.1), np.quantile(v, 0.1, axis=-1)))
    True
    """
    n = stack.shape[-1]
    virtual = q * (n - 1)
    below = int(np.floor(virtual))
    # One partition, then the next order statistic as the least of what lies above it:
    # NumPy's partition at two positions at once is several times slower than at one.
    ordered = np.partition(stack, below, axis=-1)
    a = ordered[..., below]
    b = ordered[..., below + 1 :].min(axis=-1) if below + 1 < n else a
    g = virtual - below
    step = b - a
    return np.asarray(b - step * (1 - g) if g >= 0.5 else a + step * g)


def robust_level(values: np.ndarray, below: float | None = None) -> tuple[float, float]:
    """Median and robust sd (1.4826 MAD) of a subsample of ``values`` (under ``below``)."""
    sample = subsample(values, 16384).ravel()
    if below is not None:
        kept = sample[sample < below]
        sample = kept if kept.size >= 16 else sample
    median = float(np.median(sample))
    return median, 1.4826 * float(np.median(np.abs(sample - median)))


def pixel_noise(image: np.ndarray) -> float:
    """Robust sd of the per-pixel noise: MAD of a 3x3 high-pass, scaled to white noise.

    Object texture and edges are a minority of pixels, so the median ignores them.

    >>> noise = np.random.default_rng(0).normal(0, 2.0, (256, 256)).astype(np.float32)
    >>> 1.8 < pixel_noise(noise) < 2.2
    True
    """
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)  # gain 6 on white noise
    high = cv2.filter2D(image.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT)
    sample = subsample(high, 65536)
    return 1.4826 * float(np.median(np.abs(sample))) / 6.0


def quantile(values: np.ndarray, q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``: a partition, not a sort.

    >>> quantile(np.arange(101.0), 0.25)
    25.0
    """
    flat = values.ravel()
    k = min(flat.size - 1, max(0, round(q * (flat.size - 1))))
    near_an_end = _near_an_end(flat, k)
    if near_an_end is not None:
        return near_an_end
    return float(np.partition(flat, k)[k])


SELECT_FROM = 4096  # values: below this a partition is as quick as any shortcut
SELECT_SAMPLE = 2048


def _near_an_end(flat: np.ndarray, k: int) -> float | None:
    """The ``k``-th smallest of ``flat`` (as a partition finds it) when it lies near either
    end, from the few values beyond a bound read off a sample; None otherwise.

    The bound is the sample's value of about twice that rank. When at least ``k + 1``
    values lie at or below it (from the top: at or above it, NaNs included, as a
    partition puts them last), the answer is among them, exactly.

    >>> v = np.random.default_rng(0).random(10_000)
    >>> _near_an_end(v, 50) == float(np.partition(v, 50)[50])
    True
    """
    n = flat.size
    if n < SELECT_FROM:
        return None
    sample = flat[:: n // SELECT_SAMPLE]
    low = k < n // 2
    rank = k if low else n - 1 - k  # from the nearer end
    s = min(sample.size - 1, int(2 * (rank + 1) * sample.size / n) + 8)
    if s >= sample.size // 4:
        return None
    at = s if low else sample.size - 1 - s
    bound = np.partition(sample, at)[at]
    beyond = flat <= bound if low else ~(flat < bound)
    count = int(np.count_nonzero(beyond))
    if not rank + 1 <= count <= n // 4:
        return None
    i = k if low else count - 1 - rank
    return float(np.partition(flat[beyond], i)[i])


def tile_map(
    image: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    object_radius: float = 2.0,
    floor: float = -np.inf,
    tiles: int = 8,
) -> np.ndarray:
    """``statistic`` of each tile (a subsample of it), at least ``floor``, smoothed,
    interpolated to full size.

    Tiles are at least ``TILE_RADII`` object radii wide, so no tile lies inside
    one object; at most ``tiles`` per side.
    """
    height, width = image.shape
    side = max(16, int(TILE_RADII * object_radius))
    rows = max(1, min(tiles, height // side))
    cols = max(1, min(tiles, width // side))
    grid = np.zeros((rows, cols), np.float32)
    for i in range(rows):
        for j in range(cols):
            tile = image[
                i * height // rows : (i + 1) * height // rows,
                j * width // cols : (j + 1) * width // cols,
            ]
            grid[i, j] = statistic(subsample(tile, 1024))
    if np.isfinite(floor):
        grid = np.maximum(grid, np.float32(max(floor, float(np.median(grid)) * 0.05)))
    if min(rows, cols) > 2:
        grid = cv2.GaussianBlur(grid, (0, 0), 0.7)
    return np.asarray(cv2.resize(grid, (width, height), interpolation=cv2.INTER_LINEAR))


def tile_quantile(
    image: np.ndarray,
    q: float,
    object_radius: float = 2.0,
    floor: float = -np.inf,
    tiles: int = 8,
    gain: float = 1.0,
    offset: float = 0.0,
) -> np.ndarray:
    """``tile_map`` of ``gain`` times the ``q`` quantile plus ``offset``: the same
    values, with one partition per tile shape instead of one per tile.

    >>> ramp = np.tile(np.arange(256, dtype=np.float32), (256, 1))
    >>> same = tile_map(ramp, lambda t: quantile(t, 0.25) + 1.0)
    >>> bool(np.array_equal(tile_quantile(ramp, 0.25, offset=1.0), same))
    True
    """
    height, width = image.shape
    side = max(16, int(TILE_RADII * object_radius))
    rows = max(1, min(tiles, height // side))
    cols = max(1, min(tiles, width // side))
    top = np.arange(rows + 1) * height // rows
    left = np.arange(cols + 1) * width // cols
    grid = np.zeros((rows, cols), np.float32)
    for tile_height in np.unique(np.diff(top)).tolist():
        for tile_width in np.unique(np.diff(left)).tolist():
            ii = np.flatnonzero(np.diff(top) == tile_height)
            jj = np.flatnonzero(np.diff(left) == tile_width)
            # As ``subsample(tile, 1024)``: every step-th row and column of the tile.
            step = max(1, int(np.sqrt(tile_height * tile_width / 1024)))
            ys = top[ii][:, None] + np.arange(0, tile_height, step)[None, :]
            xs = left[jj][:, None] + np.arange(0, tile_width, step)[None, :]
            sample = image[_rows_or_slice(ys.ravel())][:, _rows_or_slice(xs.ravel())]
            sample = sample.reshape(ii.size, ys.shape[1], jj.size, xs.shape[1])
            sample = sample.transpose(0, 2, 1, 3).reshape(ii.size, jj.size, -1)
            k = min(sample.shape[2] - 1, max(0, round(q * (sample.shape[2] - 1))))
            values = np.partition(sample, k, axis=2)[:, :, k].astype(np.float64)
            grid[np.ix_(ii, jj)] = gain * values + offset
    if np.isfinite(floor):
        grid = np.maximum(grid, np.float32(max(floor, float(np.median(grid)) * 0.05)))
    if min(rows, cols) > 2:
        grid = cv2.GaussianBlur(grid, (0, 0), 0.7)
    return np.asarray(cv2.resize(grid, (width, height), interpolation=cv2.INTER_LINEAR))


def _rows_or_slice(index: np.ndarray) -> np.ndarray | slice:
    """``index`` (sorted, non-empty), or the slice that reads the same positions when they
    are evenly spaced: a view instead of a gathered copy.

    >>> _rows_or_slice(np.array([2, 4, 6])), _rows_or_slice(np.array([0, 1, 3])).tolist()
    (slice(2, 7, 2), [0, 1, 3])
    """
    first = int(index[0])
    step = int(index[1] - index[0]) if index.size > 1 else 1
    if step > 0 and np.array_equal(index, np.arange(first, first + step * index.size, step)):
        return slice(first, first + step * (index.size - 1) + 1, step)
    return index


def noise_map(image: np.ndarray, quantum: float = 0.0, object_radius: float = 2.0) -> np.ndarray:
    """Per-pixel noise sd, varying smoothly: ``pixel_noise`` per tile, interpolated.

    Illumination gradients, vignetting and gamma make the noise differ across
    the image (it scales with the local brightness); thresholds in units of the
    local noise stay right everywhere. ``quantum`` is the intensity step of
    the stored values: the noise is never taken below half of it (a flat, dark,
    8-bit background has no measurable noise, only steps of one count).
    """
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)  # gain 6 on white noise
    # (np.asarray: a float32 image is not copied first; the absolute value is taken in place)
    high = cv2.filter2D(np.asarray(image, np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT)
    np.abs(high, out=high)
    # Never below 5 % of the typical tile, half a quantum, or zero.
    floor = max(0.5 * quantum, 1e-6)
    noise = tile_quantile(high, 0.5, object_radius, floor, gain=1.4826 / 6.0)
    return np.asarray(np.maximum(noise, np.float32(floor)))


def banding_floor(
    floor: float, quantum: float, noise: np.ndarray, levels: float
) -> float | np.ndarray:
    """``floor`` (in noise sds), raised to ``levels`` intensity steps where a step is more.

    Rounding a smooth field to whole levels leaves terraces one level high (a dimmed
    corner of an 8-bit image: bands several pixels wide). Where the noise is under a
    level, nothing dithers them: they are not white noise, smoothing does not shrink
    them, and a threshold in smoothed noise sds takes them for objects. A signal
    within one level of its background may be rounding alone. ``noise`` is the noise
    map the image was divided by and ``quantum`` one level in the same units;
    ``floor`` itself (a scalar) when no pixel's step reaches it.

    >>> banding_floor(1.0, 0.1, np.array([[0.05, 0.5]], np.float32), 1.0).tolist()
    [[2.0, 1.0]]
    >>> banding_floor(1.0, 0.0, np.ones((2, 2), np.float32), 1.0)
    1.0
    """
    if quantum <= 0 or levels * quantum <= floor * float(noise.min()):
        return floor
    steps = np.float32(levels * quantum) / noise
    return np.asarray(np.maximum(steps, np.float32(floor)))


def background_offset(image: np.ndarray, object_radius: float = 2.0) -> np.ndarray:
    """Residual background level of an image in noise units, per tile, interpolated.

    The 25th percentile of each tile plus 0.674 (where the 25th percentile of
    unit-sd noise lies): right wherever at least a quarter of a tile is
    background, and unbiased by how far a morphological background estimate
    sits under the noise.
    """
    return tile_quantile(image, 0.25, object_radius, offset=0.674)


def filter_gain(apply: object, size: int = 65) -> float:
    """L2 norm of a linear filter's impulse response: white-noise sd out / sd in."""
    impulse = np.zeros((size, size), np.float32)
    impulse[size // 2, size // 2] = 1.0
    response = apply(impulse)  # type: ignore[operator]
    return float(np.sqrt(np.sum(np.square(response))))


def otsu_level(signal: np.ndarray) -> float:
    """Otsu's threshold of a non-negative float image (on a subsample)."""
    sample = subsample(signal, 65536)
    top = float(sample.max())
    if top <= 0:
        return 0.0
    u8 = cv2.convertScaleAbs(np.ascontiguousarray(sample), alpha=255.0 / top)
    level, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(level) / 255.0 * top


def fill_holes(mask: np.ndarray, max_area: float) -> np.ndarray:
    """Fill enclosed background regions smaller than ``max_area``.

    >>> ring = np.zeros((9, 9), np.uint8); ring[2:7, 2:7] = 1; ring[4, 4] = 0
    >>> int(fill_holes(ring, 5)[4, 4])
    1
    """
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    cv2.floodFill(padded, None, (0, 0), 2)
    holes = (padded[1:-1, 1:-1] == 0).astype(np.uint8)
    count, labels = cv2.connectedComponents(holes, connectivity=4)  # no stats: 3x faster
    if count <= 1:
        return mask
    inside = np.flatnonzero(holes.view(bool))  # holes are few: look only at them
    which = labels.ravel()[inside]
    small = np.bincount(which, minlength=count) < max_area
    small[0] = False
    filled = mask.copy()
    filled.ravel()[inside[small[which]]] = 1
    return filled


def watershed(landscape: np.ndarray, markers: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Marker-controlled watershed (``cv2.watershed``, Meyer's flooding) inside ``mask``.

    Parameters
    ----------
    landscape : (M, N) ndarray of float32
        Relief to flood: object interiors smooth, boundaries steep.
    markers : (M, N) ndarray of int32
        1..n seeds, 0 unknown.
    mask : (M, N) ndarray of uint8
        Pixels that may belong to an object; everything else is background.

    Returns
    -------
    (M, N) ndarray of int32
        Each mask pixel labelled with the seed whose basin it falls in; 0 outside
        the mask and on watershed lines.
    """
    top = float(landscape.max())
    bottom = float(landscape.min())
    alpha = 255.0 / max(top - bottom, 1e-9)
    # One pass to 8 bits, truncating like astype (|x - 0.5| rounded is floor(x) for x >= 0).
    u8 = cv2.convertScaleAbs(landscape, alpha=alpha, beta=-bottom * alpha - 0.5)
    # OpenCV marks the image's outermost pixels as watershed lines: pad by one.
    u8 = cv2.copyMakeBorder(u8, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    seeds = cv2.copyMakeBorder(markers.astype(np.int32), 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    outside = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_REPLICATE) == 0
    background = int(seeds.max()) + 1
    np.copyto(seeds, background, where=outside & (seeds == 0))  # faster than a masked set
    cv2.watershed(cv2.cvtColor(u8, cv2.COLOR_GRAY2BGR), seeds)
    found = seeds[1:-1, 1:-1]
    # Objects: the seeds' labels, not watershed lines (-1), outside or the background's basin.
    keep = (found > 0) & (found != background) & ~outside[1:-1, 1:-1]
    return np.asarray(np.multiply(found, keep))


@dataclass(frozen=True)
class Shapes:
    """Per-component shape of a label image (index 0 unused)."""

    area: np.ndarray
    elongation: np.ndarray  # long side / short side of the minimum-area rectangle
    solidity: np.ndarray  # area / convex hull area


CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def shapes(labels: np.ndarray, count: int, only: np.ndarray | None = None) -> Shapes:
    """Area, elongation and solidity of labels 1..count (``only``: those to measure).

    The minimum-area rectangle and the convex hull are taken over each object's edge
    pixels (those with a 4-neighbour outside it), in raster order: every corner of the
    hull is one, and OpenCV's hull of them is the hull of all its pixels, point for
    point (random shapes: tests/unit/test_shapes_edge.py), at the cost
    of the outline instead of the area.
    """
    area = label_areas(labels, count).astype(np.float64)
    elongation = np.ones(count + 1)
    solidity = np.ones(count + 1)
    wanted = np.arange(1, count + 1) if only is None else only
    for label in wanted:
        mask = (labels == label).view(np.uint8)
        if np.count_nonzero(mask) < 5:
            continue
        inner = cv2.erode(mask, CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        ys, xs = np.divmod(np.flatnonzero(mask > inner), labels.shape[1])
        points = np.stack([xs, ys], axis=1).astype(np.int32)
        (_, _), (w, h), _ = cv2.minAreaRect(points)
        elongation[label] = max(w, h) / max(1.0, min(w, h))
        hull = cv2.convexHull(points)
        solidity[label] = min(1.0, area[label] / max(1.0, cv2.contourArea(hull) + 0.5 * len(hull)))
    return Shapes(area, elongation, solidity)


def relabel(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Labels with only ``keep[label]`` objects, renumbered 1..n in order."""
    table = np.zeros(keep.size, np.int32)
    table[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    table[0] = 0
    return np.asarray(np.take(table, labels))  # take: twice as fast as indexing


def grow_labels(labels: np.ndarray) -> np.ndarray:
    """Labels with each background pixel next to an object given that object's label
    (the largest, when several touch it); objects keep their own labels.

    >>> grow_labels(np.array([[0, 0, 0, 2]], np.int32)).tolist()
    [[0, 0, 2, 2]]
    """
    kernel = np.ones((3, 3), np.uint8)
    if int(labels.max()) < 2**16:  # 16-bit morphology: exact and faster than float
        grown = cv2.dilate(labels.astype(np.uint16), kernel).astype(np.int32)
    else:
        grown = cv2.dilate(labels.astype(np.float32), kernel).astype(np.int32)
    np.copyto(grown, labels, where=labels > 0)  # faster than a masked set
    return grown


def to_full_resolution(
    labels: np.ndarray, soft: np.ndarray | None, shape: tuple[int, int]
) -> np.ndarray:
    """Labels at the original size: outer edges from ``soft`` > 0 interpolated bilinearly.

    The label of each pixel comes from the nearest working pixel; whether it is
    inside an object at all comes from the smooth ``soft`` map (signal minus its
    threshold) interpolated to full resolution, so outlines follow the objects
    instead of the working grid.
    """
    height, width = shape
    if labels.shape == (height, width):
        return labels
    if soft is None:
        return np.asarray(cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST))
    # The nearest working pixel's label, or (on an object's rim, where the nearest
    # working pixel is background) the neighbouring object's: one resize of the grown labels.
    grown = grow_labels(labels)
    inside = cv2.resize(soft, (width, height), interpolation=cv2.INTER_LINEAR) > 0
    if int(grown.max(initial=0)) < 2**16:  # the nearest label by 16 bits: half the bytes
        nearest = resize_nearest(grown.astype(np.uint16), (width, height))
        wide = np.empty((height, width), np.int32)
        np.multiply(nearest, inside, out=wide)  # widened to 32 bits and masked in one pass
        return wide
    out = resize_nearest(grown, (width, height))
    np.multiply(out, inside, out=out)  # faster than a masked set of the outside
    return np.asarray(out)


def resize_nearest(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)`` of a 2-D image, by rows.

    Each row of the result is one of the image's rows resized along the width alone, so
    only the image's own rows are resized and then copied whole, by the row map OpenCV
    itself gives (its nearest row of each result row: a column of row numbers resized
    the same way). Identical to the one call for any sizes; whole-row copies instead of a
    gather per pixel (``to_full_resolution`` of a 3840 x 2160 photo 20 -> 15.5 ms).

    >>> image = np.arange(6, dtype=np.uint16).reshape(2, 3)
    >>> resize_nearest(image, (5, 3)).tolist()
    [[0, 0, 1, 1, 2], [0, 0, 1, 1, 2], [3, 3, 4, 4, 5]]
    """
    width, height = size
    rows = cv2.resize(image, (width, image.shape[0]), interpolation=cv2.INTER_NEAREST)
    numbers = np.arange(image.shape[0], dtype=np.int32)[:, None]
    index = cv2.resize(numbers, (1, height), interpolation=cv2.INTER_NEAREST).ravel()
    return np.take(rows, index.astype(np.intp), axis=0)


def label_areas(labels: np.ndarray, count: int) -> np.ndarray:
    """Pixels of each label 0..count (int64): ``np.bincount(labels.ravel(), minlength=count
    + 1)[: count + 1]``, for non-negative labels.

    Counted by ``cv2.calcHist`` on 16 bits (about twice as fast as ``np.bincount``, which
    first copies the labels to 64 bits) when that is exact: labels under 2**16 and fewer
    than 2**24 pixels (``calcHist`` returns its counts as float32).

    >>> label_areas(np.array([[0, 2, 2], [5, 2, 0]], np.int32), 3).tolist()
    [2, 0, 3, 0]
    """
    top = int(labels.max()) if labels.size else 0
    if top >= 2**16 or labels.size >= 2**24 or count >= 2**16:
        return np.bincount(labels.ravel(), minlength=count + 1)[: count + 1]
    coded = np.ascontiguousarray(labels, dtype=np.uint16)
    counts = cv2.calcHist([coded], [0], None, [count + 1], [0, count + 1])
    return np.asarray(counts.ravel().astype(np.int64))


def label_runs(
    inside: np.ndarray, ids: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of one label: (label, row, first column, last column) per run.

    ``inside`` are the flat indices of the object pixels in raster order and ``ids``
    their labels. A label image has far fewer runs than pixels, so the per-object
    sums and boxes are taken over runs.

    >>> labels = np.array([[0, 1, 1, 2], [2, 2, 0, 1]], np.int32)
    >>> inside = np.flatnonzero(labels.ravel())
    >>> [a.tolist() for a in label_runs(inside, labels.ravel()[inside], 4)]
    [[1, 2, 2, 1], [0, 0, 1, 1], [1, 3, 0, 3], [2, 3, 1, 3]]
    """
    if inside.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, empty
    step = (ids[1:] != ids[:-1]) | (inside[1:] != inside[:-1] + 1)
    starts = np.flatnonzero(np.r_[True, step])
    ends = np.r_[starts[1:] - 1, inside.size - 1]
    row, first = np.divmod(inside[starts], width)
    if (inside[ends] // width != row).any():  # a run wrapping from one row to the next
        step |= inside[1:] % width == 0
        starts = np.flatnonzero(np.r_[True, step])
        ends = np.r_[starts[1:] - 1, inside.size - 1]
        row, first = np.divmod(inside[starts], width)
    last = inside[ends] - row * width
    return ids[starts].astype(np.int64), row, first, last


def row_runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every horizontal run of one value in a 2-D label image, background runs included:
    its flat start index (raster order) and its value. A run never continues onto the
    next row; each one ends where the next starts (the last at ``labels.size``).

    One comparison of each pixel with its left neighbour: a label image has far fewer
    runs than object pixels (a phase-contrast photo ≈ 63,000 runs, 3.3 million object
    pixels), so per-object sums over runs read the image once.

    >>> starts, values = row_runs(np.array([[0, 1, 1, 2], [2, 2, 0, 1]], np.int32))
    >>> starts.tolist(), values.tolist()
    ([0, 1, 3, 4, 6, 7], [0, 1, 2, 2, 0, 1])
    """
    flat = labels.ravel()
    if flat.size == 0:
        return np.zeros(0, np.intp), flat[:0]
    step = np.empty(flat.size, bool)
    np.not_equal(flat[1:], flat[:-1], out=step[1:])
    step[:: labels.shape[1]] = True  # each row starts a run
    starts = np.flatnonzero(step)
    return starts, np.take(flat, starts)


def run_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum of an image's ``values`` over each run (flat ``starts`` from ``row_runs``).

    Integer images (uint8, uint16: what is counted) exactly, in 32 bits when no row can
    overflow them, else in 64; any other type in float64.

    >>> run_sums(np.array([[200, 100, 50], [7, 8, 9]], np.uint8), np.array([0, 2, 3])).tolist()
    [300, 50, 24]
    """
    if starts.size == 0:
        return np.zeros(0, np.uint64)
    if not np.issubdtype(values.dtype, np.integer):
        return np.asarray(np.add.reduceat(values.ravel(), starts, dtype=np.float64))
    top = int(np.iinfo(values.dtype).max) * values.shape[-1]
    wide = np.uint32 if top < 2**32 else np.uint64
    return np.asarray(np.add.reduceat(values.ravel(), starts, dtype=wide))


def run_boxes(
    label: np.ndarray, row: np.ndarray, first: np.ndarray, last: np.ndarray, count: int
) -> np.ndarray:
    """(count, 4) x, y, width, height per label 1..count from its runs (raster order),
    by one stable sort of the run labels."""
    box = np.zeros((count, 4), np.int64)
    if label.size == 0:
        return box
    order = np.argsort(label, kind="stable")
    sorted_label = label[order]
    starts = np.flatnonzero(np.r_[True, sorted_label[1:] != sorted_label[:-1]])
    ends = np.r_[starts[1:] - 1, sorted_label.size - 1]
    present = sorted_label[starts] - 1
    r = row[order]  # raster order within each label: the first run is the top row
    x0 = np.minimum.reduceat(first[order], starts)
    x1 = np.maximum.reduceat(last[order], starts)
    y0, y1 = r[starts], r[ends]
    box[present] = np.stack([x0, y0, x1 + 1 - x0, y1 + 1 - y0], axis=1)
    return box


def label_boxes(labels: np.ndarray, wanted: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(y0, x0, y1, x1) bounding box (ends exclusive) of each of the ``wanted`` labels
    (present ones, in order), from their runs.

    >>> labels = np.zeros((5, 6), np.int32); labels[1:3, 2:5] = 2; labels[4, 0] = 1
    >>> label_boxes(labels, np.array([2, 1]))
    [(1, 2, 3, 5), (4, 0, 5, 1)]
    """
    top = int(labels.max())
    chosen = np.zeros(top + 1, bool)  # a boolean image: flatnonzero is twice as fast
    chosen[wanted] = True
    inside = np.flatnonzero(np.take(chosen, labels))
    runs = label_runs(inside, labels.ravel()[inside], labels.shape[1])
    boxes = run_boxes(*runs, top)[wanted - 1]
    return [(y, x, y + h, x + w) for x, y, w, h in boxes.tolist()]


def shallow_pairs(
    labels: np.ndarray, relief: np.ndarray, depth: float, peak: np.ndarray | None = None
) -> np.ndarray:
    """Neighbouring objects not separated by a valley at least ``depth`` deep.

    The valley between two objects is measured at their saddle: the highest
    point of ``relief`` where they meet (touching, or across a one-pixel
    watershed line). A pair is shallow when the lower of the two peaks rises
    less than ``depth`` (a fraction of that peak) above the saddle: two seeds in
    one long nucleus, or pieces of a fibre; touching nuclei with a dip between
    them are not.

    Parameters
    ----------
    labels : (M, N) ndarray of int32
        0 background (and watershed lines), 1..n objects.
    relief : (M, N) ndarray of float32
        Objects bright.
    depth : float
        Fraction of the lower peak.
    peak : (n + 1,) ndarray, optional
        Each object's peak height, when known (e.g. at its seed).

    Returns
    -------
    (K, 3) ndarray of float64
        label a, label b (a < b) and the valley's relative depth, shallowest first.
    """
    count = int(labels.max())
    if count < 2:
        return np.zeros((0, 3))
    if peak is None:
        peak = np.full(count + 1, -np.inf)
        inside = labels > 0
        np.maximum.at(peak, labels[inside], relief[inside])
    pairs = _neighbour_pairs(labels, relief)
    key = np.concatenate([a * (count + 1) + b for a, b, _ in pairs])
    height = np.concatenate([h for _, _, h in pairs])
    if key.size == 0:
        return np.zeros((0, 3))
    unique, inverse = np.unique(key, return_inverse=True)
    saddle = np.full(unique.size, -np.inf)
    np.maximum.at(saddle, inverse, height)
    first, second = np.divmod(unique, count + 1)
    lower = np.minimum(peak[first], peak[second])
    relative = (lower - saddle) / np.maximum(lower, 1e-9)
    shallow = relative < depth
    order = np.argsort(relative[shallow], kind="stable")
    table = np.stack([first[shallow], second[shallow], relative[shallow]], axis=1)
    return np.asarray(table[order])


def merge_pairs(labels: np.ndarray, pairs: np.ndarray, max_area: float | None = None) -> np.ndarray:
    """Join the objects of each pair (in order); with ``max_area``, only while the
    joined object stays that small. Returns labels renumbered 1..m.

    >>> merge_pairs(np.array([[1, 2, 0, 3]], np.int32), np.array([[1.0, 2.0, 0.0]])).tolist()
    [[1, 1, 0, 2]]
    """
    if len(pairs) == 0 or int(labels.max()) == 0:
        return labels
    count = max(int(labels.max()), int(pairs[:, :2].max()))
    area = np.bincount(labels.ravel(), minlength=count + 1)
    return np.asarray(np.take(merge_table(pairs, area, max_area), labels))


def merge_table(pairs: np.ndarray, area: np.ndarray, max_area: float | None = None) -> np.ndarray:
    """Label -> joined label (renumbered 1..m, 0 stays 0) for ``merge_pairs``, from the
    objects' areas alone: the label image is only needed to apply it.

    >>> merge_table(np.array([[1.0, 2.0, 0.0]]), np.array([5, 1, 1, 1])).tolist()
    [0, 1, 1, 2]
    """
    count = max(area.size - 1, int(pairs[:, :2].max()) if len(pairs) else 0)
    sizes = np.zeros(count + 1)
    sizes[: area.size] = area
    joined = sizes.tolist()
    parent = list(range(count + 1))  # Python ints: the loop below is scalar work
    for a, b in pairs[:, :2].astype(np.int64).tolist():
        ra, rb = _root(parent, a), _root(parent, b)
        if ra == rb or (max_area is not None and joined[ra] + joined[rb] > max_area):
            continue
        keep, gone = min(ra, rb), max(ra, rb)
        parent[gone] = keep
        joined[keep] += joined[gone]
    roots = np.array([_root(parent, i) for i in range(count + 1)])
    _, renumbered = np.unique(roots, return_inverse=True)
    return np.asarray(renumbered.astype(np.int32))


def _root(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _neighbour_pairs(
    labels: np.ndarray, relief: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(label a < label b, crossing height) for touching pixels and across 1-px lines.

    Only where the labels change (few pixels) is anything gathered.
    """
    found = []
    width = labels.shape[1]
    flat_labels, flat_relief = labels.ravel(), relief.ravel()
    for axis in (0, 1):
        for gap in (1, 2):
            first = labels[:-gap, :] if axis == 0 else labels[:, :-gap]
            second = labels[gap:, :] if axis == 0 else labels[:, gap:]
            rows, cols = np.divmod(np.flatnonzero(first != second), first.shape[1])
            here = rows * width + cols
            step = gap * (width if axis == 0 else 1)
            a, b = flat_labels[here], flat_labels[here + step]
            meet = (a > 0) & (b > 0)
            if gap == 2:
                meet &= flat_labels[here + step // 2] == 0
            here, a, b = here[meet], a[meet], b[meet]
            crossing = np.minimum(flat_relief[here], flat_relief[here + step])
            if gap == 2:
                crossing = np.minimum(crossing, flat_relief[here + step // 2])
            found.append(
                (np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64), crossing)
            )
    return found
