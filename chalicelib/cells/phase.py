"""Phase-contrast / brightfield cells: contrast footprint, specks dropped, clumps split by area.

Pure functions on arrays (OpenCV + NumPy). In phase contrast a cell is darker
*and* brighter than the background (a dark body, a bright halo, a ring), and
its parts (nucleus, granules, processes) are contrasted too: counting maxima
of anything counts fragments. Instead:

1. Contrast: the absolute deviation from a smooth (median) background, in
   units of the local noise, smoothed at a third of the cell radius.
2. Footprint: contrast above ``FLOOR_FACTOR`` times the background's; closing at half a cell radius
   joins a cell's body, halo and granules into one region; enclosed holes are
   filled. An elongated cell is one connected region, so one cell.
3. Specks: regions smaller than ``SPECK_AREA`` of a typical cell are not cells.
4. Clumps: the typical cell area is the median area of the regions; a region
   ``k`` times larger (k ≥ 2, rounded) holds ``k`` cells and is split into ``k``
   by a marker-controlled watershed (``cv2.watershed``) from ``k`` seeds placed
   by k-means on its pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from chalicelib.cells.nuclei import Found, offset_factor
from chalicelib.cells.objects import (
    disk,
    fill_holes,
    noise_map,
    normalised,
    smooth_background,
    watershed,
)
from chalicelib.cells.scale import blob_scales

WORK_RADIUS = 6.0  # cell radius (px) at the working resolution
FLOOR_FACTOR = 3.0  # footprint: contrast this many times the background's
SPECK_AREA = 0.3  # regions smaller than this many typical cells are not cells
CLUMP_AREA = 1.6  # a region at least this many typical cells large is split
MAX_SPLIT = 400  # at most this many cells from one region
PREVIEW_PIXELS = 262_144
MIN_BLOB_RADIUS = 8.0  # px: smaller contrast blobs are granules, specks, JPEG blocks
BODY_TO_CELL = 2.0  # a cell's footprint radius over its strongest blob's


def contrast(
    gray: np.ndarray, scale: float, r: float, intensity_range: tuple[float, float]
) -> np.ndarray:
    """Absolute deviation from the background in local-noise units, smoothed (working size).

    Parameters
    ----------
    gray : (M, N) ndarray of uint8 or uint16
    scale : float
        Working resolution / original (≤ 1).
    r : float
        Cell radius at the working resolution, px.
    intensity_range : (lo, hi)

    Returns
    -------
    (m, n) ndarray of float32
    """
    lo, hi = intensity_range
    image = normalised(gray, scale, lo, hi)
    deviation = np.abs(image - smooth_background(image, r, low=False))
    quantum = 1.0 / (hi - lo) if gray.dtype.kind in "ui" else 0.0
    deviation /= noise_map(image, quantum, r)
    return np.asarray(cv2.GaussianBlur(deviation, (0, 0), max(0.7, r / 3)))


def footprint_floor(signal: np.ndarray) -> float:
    """Contrast level above which a pixel belongs to a cell: ``FLOOR_FACTOR`` times the
    10th percentile (the background's typical contrast: noise, JPEG blocks, uneven
    light) — whatever units and noise the image has."""
    sample = signal[:: max(1, signal.shape[0] // 256), :: max(1, signal.shape[1] // 256)]
    return FLOOR_FACTOR * max(float(np.percentile(sample, 10)), 1e-6)


def estimate_cell_radius(gray: np.ndarray, intensity_range: tuple[float, float]) -> float | None:
    """Typical cell radius (original px): twice the most common blob radius of the
    contrast, among blobs at least ``MIN_BLOB_RADIUS`` px (granules, specks and
    JPEG blocks are smaller). A cell's body and halo together are about twice the
    body's blob."""
    lo, hi = intensity_range
    scale = min(1.0, float(np.sqrt(PREVIEW_PIXELS / gray.size)))
    signal = contrast(gray, scale, max(1.0, MIN_BLOB_RADIUS * scale), (lo, hi))
    radii, responses, _noise, _points = blob_scales(signal)
    large = radii >= MIN_BLOB_RADIUS * scale
    if not large.any():
        return None
    radii, responses = radii[large], responses[large]
    strong = responses >= 0.2 * float(np.percentile(responses, 90))
    logs = np.log2(radii[strong])
    bins = np.arange(-1.0, 9.0, 0.1)
    counts, _ = np.histogram(logs, bins)
    peak = int(np.argmax(cv2.GaussianBlur(counts.astype(np.float32)[None, :], (0, 0), 1.5)[0]))
    return float(BODY_TO_CELL * 2.0 ** (bins[peak] + 0.05) / scale)


def segment_cells(
    gray: np.ndarray,
    radius: float,
    intensity_range: tuple[float, float],
    threshold_offset: float = 0.0,
) -> Found:
    """Segment cells of typical ``radius`` (original px) in a phase-contrast image.

    Parameters
    ----------
    gray : (M, N) ndarray of uint8 or uint16
    radius : float
        Typical cell radius (original px), e.g. from ``scale.estimate_radius``
        on the contrast.
    intensity_range : (lo, hi)
    threshold_offset : float
        Scales the footprint threshold by ``2 ** offset``: negative takes in
        fainter cells (more), positive fewer.

    Returns
    -------
    Found
        ``labels`` at the working resolution, all counted (no flags).
    """
    scale = min(1.0, WORK_RADIUS / radius)
    r = radius * scale
    signal = contrast(gray, scale, r, intensity_range)
    floor = footprint_floor(signal) * offset_factor(threshold_offset)
    mask = (signal > floor).astype(np.uint8)
    mask = np.asarray(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, disk(0.5 * r)))
    mask = fill_holes(mask, 4 * np.pi * r * r)
    _, regions, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    area[0] = 0
    typical = _typical_area(area[1:], r)
    cells = np.where(area >= SPECK_AREA * typical, np.maximum(1, np.round(area / typical)), 0)
    cells[(area < CLUMP_AREA * typical) & (cells > 0)] = 1
    cells[0] = 0
    labels = _split(regions, stats, cells.astype(np.int64), signal)
    soft = signal - np.float32(floor)
    return Found(labels, int(labels.max()), (), soft, scale)


def _typical_area(areas: np.ndarray, r: float) -> float:
    """Median area of the regions that are not specks (at least a quarter cell)."""
    real = areas[areas >= 0.25 * np.pi * r * r]
    if real.size == 0:
        return float(np.pi * r * r)
    median = float(np.median(real))
    singles = real[(real >= 0.5 * median) & (real <= 2.0 * median)]
    return float(np.median(singles)) if singles.size else median


def _split(
    regions: np.ndarray, stats: np.ndarray, cells: np.ndarray, relief: np.ndarray
) -> np.ndarray:
    """Label image: region i becomes ``cells[i]`` objects (0: dropped)."""
    table = np.zeros(cells.size, np.int32)
    single = np.flatnonzero(cells == 1)
    table[single] = np.arange(1, single.size + 1, dtype=np.int32)
    labels = table[regions]
    next_label = single.size + 1
    for region in np.flatnonzero(cells > 1):
        k = int(min(cells[region], MAX_SPLIT))
        x, y, w, h = (int(v) for v in stats[region, :4])
        inside = regions[y : y + h, x : x + w] == region
        markers = _kmeans_markers(inside, k)
        local = watershed(-relief[y : y + h, x : x + w], markers, inside.astype(np.uint8))
        target = labels[y : y + h, x : x + w]
        target[local > 0] = local[local > 0] + next_label - 1
        next_label += int(local.max())
    _, consecutive = np.unique(labels, return_inverse=True)  # seeds that coincided leave gaps
    return np.asarray(consecutive.reshape(labels.shape).astype(np.int32))


def _kmeans_markers(inside: np.ndarray, k: int) -> np.ndarray:
    rows, cols = np.nonzero(inside)
    points = np.stack([cols, rows], axis=1).astype(np.float32)
    step = max(1, len(points) // max(500, 8 * k))  # a subsample places the seeds as well
    sample = points[::step]
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 8, 0.5)
    cv2.setRNGSeed(0)
    start = cv2.KMEANS_PP_CENTERS if k <= 20 else cv2.KMEANS_RANDOM_CENTERS  # k-means++ is O(k²)
    labels = np.zeros((len(sample), 1), np.int32)
    _, _, centres = cv2.kmeans(sample, k, labels, criteria, 1, start)
    points = sample
    markers = np.zeros(inside.shape, np.int32)
    for label, (cx, cy) in enumerate(centres, start=1):
        # the nearest pixel of the region to the centre (a clump need not be convex)
        nearest = int(np.argmin((points[:, 0] - cx) ** 2 + (points[:, 1] - cy) ** 2))
        markers[int(points[nearest, 1]), int(points[nearest, 0])] = label
    return markers
