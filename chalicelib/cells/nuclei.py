"""Fluorescent nuclei: blob seeds at the estimated scale, marker-controlled watershed.

Pure functions on arrays (OpenCV + NumPy). For an image of any size, bit depth,
gamma or illumination:

1. Work at a resolution where the typical nucleus radius ``r`` is about
   ``WORK_RADIUS`` px (never upsampling): every kernel below has a fixed size.
2. Subtract a smooth background (a large opening) and measure the pixel noise
   on what is left.
3. Seeds: maxima of the difference of Gaussians at the nucleus scale, at least
   ``SEED_SPACING`` r apart and ``SEED_SIGMAS`` noise sds strong. A blob filter
   tuned to the size finds one maximum per nucleus whether nuclei touch or not,
   and is steady under gamma (it moves peaks very little). A few more seeds come
   from finer scales (``FINE_SEED_SCALES``) where the response is a maximum in
   space *and* scale: two nuclei closer than the nucleus-scale filter resolves.
4. Mask: each nucleus at ``RELATIVE_THRESHOLD`` of its own local maximum (dim
   nuclei next to bright ones are kept), above the noise floor.
5. ``cv2.watershed`` floods the smoothed intensity from the seeds inside the
   mask: touching nuclei are divided along the valleys between them. A nucleus
   far dimmer than the one it touches is a shoulder no blob filter seeds and
   falls under its neighbour's trim level; where the log signal has a blob that
   no trimmed object keeps, on a compact dome of its own, that dome is one more
   object (``DIM_SEEDS``). So is a strong summit the flood gave to no object (a
   bright nucleus whose seed was taken by a neighbour's: ``unseeded_summits``).
6. Size control: debris under ``MIN_AREA_FRACTION`` of a typical nucleus is
   dropped; a connected structure far larger than a nucleus that is long and
   smooth (a fibre, a scratch) or a single object far larger than a nucleus is
   flagged and not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from chalicelib.cells.necks import CLIPPING_LEVELS
from chalicelib.cells.objects import (
    background_offset,
    banding_floor,
    disk,
    fill_holes,
    filter_gain,
    grow_labels,
    label_areas,
    label_boxes,
    level_step,
    merge_table,
    noise_map,
    normalised,
    relabel,
    shallow_pairs,
    shapes,
    smooth_background,
    watershed,
)

WORK_RADIUS = 5.0  # nucleus radius (px) at the working resolution
SEED_SPACING = 0.6  # seeds closer than this many radii are one nucleus
SEED_SIGMAS = 6.0  # a seed's blob response is this many noise sds above zero
# Finer blob filters (fractions of the seed radius) that may add seeds where their
# response is a maximum over space and over the neighbouring scales; the first scale
# is only compared with (a seed there could be finer still: texture, noise).
FINE_SEED_SCALES = (0.6, 0.7, 0.85)
SIGNAL_SIGMAS = 4.0  # ... and its smoothed intensity this many above the background
NOISE_SIGMAS = 3.0  # the mask is at least this many noise sds above the background
RELATIVE_THRESHOLD = 0.5  # mask at this fraction of each nucleus's local maximum
MIN_AREA_FRACTION = 0.2  # debris: smaller than this fraction of a typical nucleus
RECLAIM_SIGMAS = 20.0  # ... unless the flood cut it short and its peak is this strong
RECLAIM_RADII = 1.5  # ... and what its own level keeps closes within this reach
HUGE_AREA = 3.0  # a structure this many typical nuclei large is examined
FIBRE_ELONGATION = 3.0  # ... and flagged when at least this elongated
FIBRE_SOLIDITY = 0.6  # ... and this compact (a long, bent chain is not a fibre)
LONE_GIANT_AREA = 5.0
PLATEAU_SOLIDITY = 0.9  # a clipped plateau this convex is one nucleus (one seed)
CORE_SHARE = 0.5  # a big group's bright core: its objects this bright relative to its brightest
TYPICAL_FLOOR = 0.7  # a typical nucleus is at least this fraction of pi r^2 (r: the size used)
MERGE_MAX_AREA = 1.6  # over-split pieces are joined while they stay this many nuclei large
VALLEY_DEPTH = 0.03  # neighbours with a shallower valley between them are one object
# Dim nuclei beside bright ones (issue 12ab): blob maxima of the log signal at this
# fraction of the radius that no object keeps after the first flood become seeds.
# Off in issue 12ab (held out 4.8 -> 5.1 % then); on since session 38, measured on the
# method of then: generated fields 18.1 -> 4.2 %, held out 4.6 -> 4.1 %, DSB 110 -> 112,
# ~15 % more CPU on nuclei fields (docs/counting.md, "Session 38").
DIM_SEEDS = True
DIM_SCALE = 0.7
DIM_DEPTH = 0.4  # ... at least this many radii inside what no object keeps
DIM_TOLERANCE = (
    0.5  # ... their dome grown downhill, steps of this share of the mask's floor allowed
)
# A strong summit (RECLAIM_SIGMAS) the first flood gave to no object, on a dome of its own
# (as DIM_SEEDS's) at least this fraction of a typical nucleus: a nucleus no seed reached.
UNSEEDED_AREA = 0.5
# A seed's smoothed signal is at least this many intensity levels above the background:
# rounding a smooth field (a dimmed 8-bit corner) leaves terraces of one level.
BANDING_LEVELS = 1.0
# An object within this many radii of the image's edge and brightest on it is the rim
# or glow of a nucleus centred beyond the edge: not counted (issue 12ar).
EDGE_DEPTH = 0.5
# ... or within a radius of it and under this many times the seed's floor on the edge
# (half its support is beyond the edge: sqrt(2) for the noise of a mean of half the pixels).
EDGE_SIGNIFICANCE = float(np.sqrt(2.0))


@dataclass(frozen=True)
class Found:
    """Objects at the working resolution.

    ``labels`` numbers counted objects 1..count and flagged ones after them
    (count+1..count+flagged); ``soft`` > 0 inside objects (for full-resolution
    outlines); ``reasons`` says why each flagged object was flagged.
    """

    labels: np.ndarray
    count: int
    flagged: tuple[str, ...]
    soft: np.ndarray | None
    scale: float
    giants: int = 0  # the last ``giants`` flagged objects are lone giants (not fibres)
    areas: np.ndarray | None = None  # pixels of each label 0.. of ``labels``, when known
    note: str | None = None  # why the count is in doubt (phase: many more bodies than cells)


def offset_factor(threshold_offset: float) -> float:
    """Multiplier of every detection threshold: negative offsets lower them (more objects).

    >>> offset_factor(0.0), offset_factor(-1.0), offset_factor(1.0)
    (1.0, 0.5, 2.0)
    """
    return float(2.0**threshold_offset)


def segment_nuclei(
    gray: np.ndarray,
    radius: float,
    polarity: int,
    intensity_range: tuple[float, float],
    threshold_offset: float = 0.0,
    seed_radius: float | None = None,
) -> Found:
    """Segment nuclei of typical ``radius`` (original px) in a fluorescence image.

    Parameters
    ----------
    gray : (M, N) ndarray of uint8 or uint16
    radius : float
        Typical nucleus radius in original pixels.
    polarity : {1, -1}
        -1 for dark nuclei on a bright background (an inverted image).
    intensity_range : (lo, hi)
        Robust intensity range used to normalise.
    threshold_offset : float
        Scales every threshold by ``2 ** offset``: negative finds more (dimmer)
        objects, positive fewer.
    seed_radius : float, optional
        A smaller radius (original px) for the seeds' blob filter and spacing,
        when the nuclei are thinner than their typical size (elongated).

    Returns
    -------
    Found
    """
    scale = min(1.0, WORK_RADIUS / radius)
    r = radius * scale
    lo, hi = intensity_range
    image = normalised(gray, scale, lo, hi, polarity)
    image -= smooth_background(image, r)
    quantum = level_step(gray) / (hi - lo)
    noise_sd = noise_map(image, quantum, r)
    image /= noise_sd  # in units of the local noise from here on
    image -= background_offset(image, r)
    smoothed = cv2.GaussianBlur(image, (0, 0), max(0.7, 0.2 * r))
    background = 0.0
    noise = filter_gain(lambda v: cv2.GaussianBlur(v, (0, 0), max(0.7, 0.2 * r)))
    factor = offset_factor(threshold_offset)
    r_seed = r if seed_radius is None else min(r, seed_radius * scale)
    signal_floor = background + SIGNAL_SIGMAS * factor * noise
    seed_floor = banding_floor(signal_floor, quantum, noise_sd, BANDING_LEVELS)
    del noise_sd
    seeds, fine = _seeds(image, smoothed, r_seed, seed_floor, factor)
    seeds = _one_seed_per_plateau(seeds, gray, polarity, smoothed.shape)
    if len(fine):  # those the plateau rule kept
        fine = fine[(fine[:, None, :] == seeds[None, :, :]).all(axis=2).any(axis=1)]
    dim = (
        dim_candidates(image, smoothed, r_seed, seeds, signal_floor, factor) if DIM_SEEDS else None
    )
    del image  # large images: keep the peak memory down
    floor = background + NOISE_SIGMAS * factor * noise
    mask = fill_holes((smoothed > floor).astype(np.uint8), 2 * np.pi * r * r)
    markers = _markers(seeds, mask)
    labels = watershed(smoothed, markers, mask)
    peak = _seed_peaks(markers, smoothed)
    labels = _trim(labels, smoothed, peak, background, threshold_offset)
    if dim is not None and len(dim):
        # the dim nuclei the flood left out: each its own dome, an object of its own
        tolerance = DIM_TOLERANCE * NOISE_SIGMAS * noise
        dim, domes = unclaimed_domes(dim, labels, mask, smoothed, background, r, tolerance)
        labels, peak = add_domes(labels, peak, smoothed, dim, domes)
    labels, peak = _add_unseeded(labels, peak, mask, smoothed, (background, r, noise, factor))
    del markers, mask
    labels = _reclaim(labels, smoothed, peak, background, threshold_offset, r, NOISE_SIGMAS * noise)
    # Only needed to bring labels back to full size (and large at full size).
    soft = smoothed - _level_map(labels, peak, background, threshold_offset) if scale < 1 else None
    # The objects grown from finer-scale seeds (a seed is its object's peak: never trimmed).
    apart = np.unique(labels[fine[:, 0], fine[:, 1]]) if len(fine) else None
    labels, count, flagged, giants, areas = _size_control(labels, smoothed, peak, r, apart)
    labels, count, areas = _beyond_edge(labels, count, areas, smoothed, r, seed_floor)
    return Found(labels, count, flagged, soft, scale, giants, areas=areas)


def _seeds(
    image: np.ndarray,
    smoothed: np.ndarray,
    r: float,
    floor: float | np.ndarray,
    factor: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2) row, col of blob maxima at the nucleus scale and at finer scales (raster
    order), and the (J, 2) of them found at a finer scale only.

    The difference of Gaussians at the nucleus scale has one maximum for two nuclei
    closer than about 1.5 r whose peaks differ: the dimmer one is a shoulder on the
    brighter one's flank, and the brighter one's negative surround lowers it. At a
    finer scale the two can part. A finer scale's maximum is a seed when it is also a
    maximum over the neighbouring scales (:func:`scale_maxima`), as significant at
    its own scale as a seed is at the nucleus scale, in the signal, and at least
    ``SEED_SPACING`` r from every other seed (the stronger first). Two layers are
    kept at a time (large images: peak memory); a layer's maxima are compared with
    its neighbours' only at their own pixels.
    """
    strong = smoothed > floor
    spacing = disk(max(1.0, SEED_SPACING * r))
    factors = (*FINE_SEED_SCALES, 1.0)
    found: list[tuple[float, int, int]] = []
    before: np.ndarray | None = None  # the previous layer's response
    waiting: tuple[np.ndarray, np.ndarray, float] | None = None  # its maxima (pixels, kept)
    nominal = np.zeros((0, 2), np.int64)
    for k, f in enumerate(factors):
        blob, level = _blob_layer(image, f * r, SEED_SIGMAS * factor)
        maxima = (blob >= cv2.dilate(blob, spacing)) & (blob > level) & strong
        if waiting is not None and before is not None:  # the layer below, against this one
            pixels, kept, below = waiting
            kept &= scale_maxima(before, pixels, blob, spacing)
            found += _strengths(before, pixels[kept], below)
            waiting = None
        if k == len(factors) - 1:
            nominal = _peak_centres(maxima)
        elif k > 0 and before is not None:
            pixels = np.flatnonzero(maxima)
            waiting = (pixels, scale_maxima(blob, pixels, before, spacing), level)
        del maxima
        before = blob
    fine = _spaced(nominal, sorted(found, reverse=True), SEED_SPACING * r)
    if len(fine) == 0:
        return nominal, fine
    both = np.concatenate([nominal, fine])
    return both[np.lexsort((both[:, 1], both[:, 0]))], fine


def dim_candidates(
    image: np.ndarray,
    smoothed: np.ndarray,
    r: float,
    seeds: np.ndarray,
    floor: float,
    factor: float = 1.0,
) -> np.ndarray:
    """(J, 2) row, col where a nucleus far dimmer than its neighbour may lie unseeded.

    A nucleus at a fraction of its touching neighbour's brightness is a shoulder on
    the neighbour's flank: no blob filter on the intensity has a maximum there, at
    any scale a nucleus allows. On the logarithm of the signal (``log1p(x / k)``,
    ``k`` = ``SIGNAL_SIGMAS`` noise sds) a brightness ratio is a step of the same
    height whatever the brightness, and the shoulder becomes a blob: its difference
    of Gaussians at ``DIM_SCALE`` r has a maximum. Kept are the maxima that are
    significant under a noise that follows the intensity (the log's noise at signal
    ``x`` is 1 / (k + x) noise sds), inside the signal (``floor``), not within
    ``SEED_SPACING`` r of the image's edge or of a seed, and dimmer than
    ``RELATIVE_THRESHOLD`` of the nearest seed (what that seed's object keeps ends
    above them).

    Parameters
    ----------
    image : (M, N) ndarray of float32
        Background-subtracted signal in noise units.
    smoothed : (M, N) ndarray of float32
        The same, smoothed (the watershed's relief).
    r : float
        Nucleus radius (working px).
    seeds : (K, 2) ndarray of int64
        The seeds found so far.
    floor : float
        Least smoothed signal of a seed.
    factor : float
        Multiplier of the significance (``offset_factor``).

    >>> yy, xx = np.mgrid[0:40, 0:60].astype(np.float32)
    >>> def dome(x, h): return h * np.clip(1 - ((xx - x) ** 2 + (yy - 20) ** 2) / 25, 0, 1)
    >>> image = cv2.GaussianBlur(np.maximum(dome(20, 200), dome(28, 30)), (0, 0), 1.0)
    >>> dim_candidates(image, image, 5.0, np.array([[20, 20]]), 4.0).tolist()
    [[20, 29]]
    """
    if len(seeds) == 0:
        return np.zeros((0, 2), np.int64)
    k = np.float32(SIGNAL_SIGMAS)
    logged = np.maximum(image, 0)  # log1p(x / k), cv2.log: ten times np.log1p's speed
    logged *= 1 / k
    logged += 1
    cv2.log(logged, logged)
    blob, level = _blob_layer(logged, DIM_SCALE * r, SEED_SIGMAS * factor)
    del logged
    spacing = disk(max(1.0, SEED_SPACING * r))
    maxima = blob >= cv2.dilate(blob, spacing)
    maxima &= smoothed > floor
    # significance where the log's noise is 1 / (k + x) noise sds
    maxima &= blob * (k + np.maximum(smoothed, 0)) > level
    found = _peak_centres(maxima)
    edge = SEED_SPACING * r
    height, width = smoothed.shape
    inside = (
        (found >= edge).all(axis=1) & (found[:, 0] < height - edge) & (found[:, 1] < width - edge)
    )
    found = np.asarray(found[inside])
    if len(found) == 0:
        return found
    index, distance = nearest_points(smoothed.shape, seeds, found)
    nearest = seeds[index]
    dimmer = (
        smoothed[found[:, 0], found[:, 1]]
        < RELATIVE_THRESHOLD * smoothed[nearest[:, 0], nearest[:, 1]]
    )
    return np.asarray(found[(distance >= SEED_SPACING * r) & dimmer])


def unseeded_summits(
    labels: np.ndarray, mask: np.ndarray, smoothed: np.ndarray, r: float, strength: float
) -> np.ndarray:
    """(J, 2) row, col of the summits of ``smoothed`` at least ``strength`` high that
    lie in ``mask`` on pixels no object of ``labels`` holds.

    A summit is a maximum over the seed spacing (``SEED_SPACING`` r). After the
    first flood these are nuclei no seed reached: the blob filter put one seed on
    a bright nucleus and its unresolved neighbour (a shoulder at the nucleus scale),
    and the flood, which follows the smallest steps, let the background climb the
    neighbour before that seed's object reached it.

    >>> yy, xx = np.mgrid[0:30, 0:40].astype(np.float32)
    >>> smoothed = 50 * np.clip(1 - ((xx - 28) ** 2 + (yy - 15) ** 2) / 25, 0, 1)
    >>> labels = np.zeros((30, 40), np.int32); labels[10:20, 0:12] = 1
    >>> unseeded_summits(labels, (smoothed > 3).astype(np.uint8), smoothed, 5.0, 20.0).tolist()
    [[15, 28]]
    """
    spacing = disk(max(1.0, SEED_SPACING * r))
    summits = (smoothed >= cv2.dilate(smoothed, spacing)) & (smoothed >= strength)
    summits &= (labels == 0) & (mask > 0)
    return _peak_centres(summits)


def _add_unseeded(
    labels: np.ndarray,
    peak: np.ndarray,
    mask: np.ndarray,
    smoothed: np.ndarray,
    levels: tuple[float, float, float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` and ``peak`` with the nuclei no seed reached added (``unseeded_summits``
    on a dome of their own, ``unclaimed_domes``, at least ``UNSEEDED_AREA`` of a
    nucleus: a small fragment or a sliver cut by the edge is less). ``levels``: the
    background, the nucleus radius, the smoothed signal's noise and the thresholds'
    factor (``offset_factor``); a summit is strong as ``_reclaim`` judges a peak."""
    background, r, noise, factor = levels
    tops = unseeded_summits(labels, mask, smoothed, r, background + RECLAIM_SIGMAS * factor)
    if len(tops) == 0:
        return labels, peak
    tolerance = DIM_TOLERANCE * NOISE_SIGMAS * noise
    tops, domes = unclaimed_domes(tops, labels, mask, smoothed, background, r, tolerance)
    large = [k for k, dome in enumerate(domes) if dome[2].sum() >= UNSEEDED_AREA * np.pi * r * r]
    return add_domes(labels, peak, smoothed, tops[large], [domes[k] for k in large])


def nearest_points(
    shape: tuple[int, ...], points: np.ndarray, queries: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Index into ``points`` (K, 2: row, col) of the nearest to each of ``queries``
    (J, 2) and the distance to it, in an image of ``shape``.

    One distance transform with labels (OpenCV's 5x5 mask: distances within 2 % of
    Euclid's: 4.2 for 4.12 below) rather than all pairs: a large field has thousands
    of each.

    >>> points = np.array([[0, 0], [10, 10]])
    >>> index, distance = nearest_points((12, 12), points, np.array([[1, 1], [9, 6]]))
    >>> index.tolist(), distance.round(1).tolist()
    ([0, 1], [1.4, 4.2])
    """
    free = np.ones(shape[:2], np.uint8)
    free[points[:, 0], points[:, 1]] = 0
    distance, label = cv2.distanceTransformWithLabels(
        free, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    owner = np.zeros(int(label.max()) + 1, np.int64)
    owner[label[points[:, 0], points[:, 1]]] = np.arange(len(points))
    rows, cols = queries[:, 0], queries[:, 1]
    return owner[label[rows, cols]], np.asarray(distance[rows, cols], np.float64)


def unclaimed_domes(
    candidates: np.ndarray,
    labels: np.ndarray,
    mask: np.ndarray,
    smoothed: np.ndarray,
    background: float,
    r: float,
    tolerance: float,
) -> tuple[np.ndarray, list[tuple[int, int, np.ndarray]]]:
    """The ``candidates`` (:func:`dim_candidates`) that sit on a dome of their own that
    no object keeps — the dim nuclei the flood left out —, and their domes (row and
    column of the box's corner, the dome's pixels in the box).

    A candidate is kept when (1) it lies at least ``DIM_DEPTH`` r deep inside the
    pixels of ``mask`` that no trimmed object of ``labels`` keeps (a neighbour's
    trimmed rim is thinner), and (2) what lies downhill of it (steps up to
    ``tolerance`` allowed as noise) above ``RELATIVE_THRESHOLD`` of its own height
    is closed within ``RECLAIM_RADII`` r, at least ``MIN_AREA_FRACTION`` of a
    nucleus large and less than ``FIBRE_ELONGATION`` times as long as wide: a glow,
    a haze or a fibre's halo runs on further, and the dimmer rim of one large
    nucleus is a strip along its bright part.

    >>> yy, xx = np.mgrid[0:40, 0:60].astype(np.float32)
    >>> dome = 30 * np.clip(1 - ((xx - 30) ** 2 + (yy - 20) ** 2) / 25, 0, 1)
    >>> labels, mask = np.zeros((40, 60), np.int32), (dome > 3).astype(np.uint8)
    >>> found, domes = unclaimed_domes(np.array([[20, 30]]), labels, mask, dome, 0.0, 5.0, 0.5)
    >>> found.tolist(), domes[0][:2], int(domes[0][2].sum())
    ([[20, 30]], (12, 22), 37)
    >>> labels[15:26, 25:36] = 1  # kept by an object
    >>> unclaimed_domes(np.array([[20, 30]]), labels, mask, dome, 0.0, 5.0, 0.5)[0].tolist()
    []
    """
    domes: list[tuple[int, int, np.ndarray]] = []
    if len(candidates) == 0:
        return candidates, domes
    free = ((labels == 0) & (mask > 0)).astype(np.uint8)
    depth = cv2.distanceTransform(free, cv2.DIST_L2, 3)
    candidates = candidates[depth[candidates[:, 0], candidates[:, 1]] >= DIM_DEPTH * r]
    height, width = labels.shape
    reach = int(np.ceil(RECLAIM_RADII * r))
    step = np.float32(tolerance)
    kept = []
    for y, x in candidates.tolist():
        y0, y1 = max(0, y - reach), min(height, y + reach + 1)
        x0, x1 = max(0, x - reach), min(width, x + reach + 1)
        values = smoothed[y0:y1, x0:x1]
        level = background + RELATIVE_THRESHOLD * (float(smoothed[y, x]) - background)
        allowed = (labels[y0:y1, x0:x1] == 0) & (values >= level)
        start = np.zeros(values.shape, bool)
        start[y - y0, x - x0] = True
        sides = _open_sides(y0, y1, x0, x1, height, width)
        grown = _downhill(start, allowed, values, step, sides)
        if _reaches(grown, sides) or grown.sum() < MIN_AREA_FRACTION * np.pi * r * r:
            continue
        if shapes(grown.astype(np.int32), 1).elongation[1] < FIBRE_ELONGATION:
            kept.append((y, x))
            domes.append((y0, x0, grown))
    return np.array(kept, np.int64).reshape(-1, 2), domes


def add_domes(
    labels: np.ndarray,
    peak: np.ndarray,
    smoothed: np.ndarray,
    seeds: np.ndarray,
    domes: list[tuple[int, int, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` with each of the ``domes`` (row and column of its box's corner, its
    pixels in the box) a new object on the pixels no object holds, and ``peak`` with
    each one's height (the smoothed signal at its seed, a row of ``seeds``).

    The dim nuclei are not flooded with the others: ``cv2.watershed`` grows each seed
    through the lowest pixels first, so a dim seed would take its bright neighbour's
    skirt all around it.

    >>> labels = np.array([[1, 1, 0, 0]], np.int32)
    >>> dome = np.array([[True, True, True]])
    >>> out, peak = add_domes(labels, np.array([0.0, 9.0], np.float32),
    ...                       np.array([[9, 8, 3, 2]], np.float32), np.array([[0, 2]]),
    ...                       [(0, 1, dome)])
    >>> out.tolist(), peak.tolist()
    ([[1, 1, 2, 2]], [0.0, 9.0, 3.0])
    """
    if len(seeds) == 0:
        return labels, peak
    labels = labels.copy()
    first = int(peak.size)
    for k, (y0, x0, dome) in enumerate(domes):
        box = labels[y0 : y0 + dome.shape[0], x0 : x0 + dome.shape[1]]
        np.copyto(box, np.int32(first + k), where=dome & (box == 0))
    heights = smoothed[seeds[:, 0], seeds[:, 1]].astype(np.float32)
    return labels, np.concatenate([peak.astype(np.float32), heights])


def _blob_layer(image: np.ndarray, radius: float, sigmas: float) -> tuple[np.ndarray, float]:
    """The difference of Gaussians for blobs of ``radius`` and the response ``sigmas``
    noise sds make (the image is in noise units; each scale has its own noise gain)."""
    sigma = radius / np.sqrt(2.0)

    def dog(values: np.ndarray) -> np.ndarray:
        inner = cv2.GaussianBlur(values, (0, 0), sigma * 0.8)
        return np.asarray(inner - cv2.GaussianBlur(values, (0, 0), sigma * 1.6))

    return dog(image), sigmas * max(filter_gain(dog, size=2 * int(6 * sigma) + 1), 1e-5)


def scale_maxima(
    blob: np.ndarray, pixels: np.ndarray, other: np.ndarray, footprint: np.ndarray
) -> np.ndarray:
    """Whether ``blob`` at each of the flat ``pixels`` is at least ``other`` (the next
    finer or coarser layer) everywhere in the ``footprint`` around it: with the
    pixel's own spatial maximum, a maximum in space and scale.

    ``cv2.dilate(other, footprint)`` read at the pixels, without the whole dilated
    layer (pixels beyond the image's edge are left out, as ``cv2.dilate`` leaves
    them). A difference of Gaussians with a fixed ratio of widths is scale-normalised,
    so the layers compare directly: a response still rising towards finer scales
    (texture, noise, the edge of a large object) is no maximum.

    >>> blob = np.zeros((3, 5), np.float32); blob[1, 2] = 2.0
    >>> cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
    >>> finer = np.zeros((3, 5), np.float32); finer[0, 2] = 3.0
    >>> scale_maxima(blob, np.array([7]), finer, cross).tolist()
    [False]
    >>> finer[0, 2] = 1.0; finer[0, 0] = 9.0  # outside the footprint
    >>> scale_maxima(blob, np.array([7]), finer, cross).tolist()
    [True]
    """
    height, width = other.shape
    anchor_y, anchor_x = footprint.shape[0] // 2, footprint.shape[1] // 2
    places = [(dy - anchor_y, dx - anchor_x) for dy, dx in zip(*np.nonzero(footprint), strict=True)]
    rows, cols = np.divmod(pixels, width)
    values = blob.ravel()[pixels]
    # Pixels whose whole footprint is inside read each place at one flat offset; only
    # those near the edge need their places clipped and checked (12ah: clipping every
    # pixel's places took a tenth of the generated images' CPU).
    reach_y, reach_x = footprint.shape[0] - 1 - anchor_y, footprint.shape[1] - 1 - anchor_x
    inner = (rows >= anchor_y) & (rows < height - reach_y)
    inner &= (cols >= anchor_x) & (cols < width - reach_x)
    kept = np.ones(pixels.size, bool)
    flat = other.ravel()
    middle = np.flatnonzero(inner)
    at, value, kept_inner = pixels[middle], values[middle], kept[middle]
    for dy, dx in places:
        kept_inner &= value >= flat[at + (dy * width + dx)]
    kept[middle] = kept_inner
    edge = np.flatnonzero(~inner)
    if edge.size:  # all places of all edge pixels at once: (pixels, places)
        dys, dxs = np.array(places, np.intp).reshape(-1, 2).T
        y, x = rows[edge, None] + dys, cols[edge, None] + dxs
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        near = other[np.clip(y, 0, height - 1), np.clip(x, 0, width - 1)]
        kept[edge] = np.all(~inside | (values[edge, None] >= near), axis=1)
    return kept


def _strengths(blob: np.ndarray, pixels: np.ndarray, level: float) -> list[tuple[float, int, int]]:
    """(response over its significance level, row, col) of each group of maxima."""
    peaks = np.zeros(blob.shape, bool)
    peaks.ravel()[pixels] = True
    return [(float(blob[y, x]) / level, y, x) for y, x in _peak_centres(peaks).tolist()]


def _spaced(
    kept: np.ndarray, candidates: list[tuple[float, int, int]], distance: float
) -> np.ndarray:
    """(J, 2) row, col of the ``candidates`` (strength, row, col; strongest first) at
    least ``distance`` from every point of ``kept`` and from each other.

    The candidates near a point of ``kept`` are dropped at once: ``kept`` painted on a
    raster and dilated by the offsets closer than ``distance`` (a large field has
    thousands of seeds). The rest, as they are taken, are filed in square cells
    ``distance`` wide, so each is compared with those of its own and the eight cells
    around it only.

    >>> _spaced(np.array([[0, 0]]), [(3.0, 0, 1), (2.0, 5, 5), (1.0, 5, 6)], 2.0).tolist()
    [[5, 5]]
    """
    if len(kept) and candidates:
        points = np.array([(y, x) for _strength, y, x in candidates], np.int64)
        height = int(max(kept[:, 0].max(), points[:, 0].max())) + 1
        width = int(max(kept[:, 1].max(), points[:, 1].max())) + 1
        raster = np.zeros((height, width), np.uint8)
        raster[kept[:, 0], kept[:, 1]] = 1
        reach = int(np.ceil(distance))
        offsets = np.arange(-reach, reach + 1) ** 2
        footprint = (offsets[:, None] + offsets[None, :] < distance**2).astype(np.uint8)
        near = cv2.dilate(raster, footprint)[points[:, 0], points[:, 1]]
        candidates = [c for c, n in zip(candidates, near.tolist(), strict=True) if not n]
    cell = max(float(distance), 1.0)
    filed: dict[tuple[int, int], list[tuple[int, int]]] = {}

    def file(y: int, x: int) -> None:
        filed.setdefault((int(y // cell), int(x // cell)), []).append((y, x))

    def clear(y: int, x: int) -> bool:
        cy, cx = int(y // cell), int(x // cell)
        return all(
            (y - a) ** 2 + (x - b) ** 2 >= distance**2
            for i in (cy - 1, cy, cy + 1)
            for j in (cx - 1, cx, cx + 1)
            for a, b in filed.get((i, j), ())
        )

    found = []  # (``kept`` is not filed: no candidate left is near it)
    for _strength, y, x in candidates:
        if clear(y, x):
            file(y, x)
            found.append((y, x))
    return np.array(found, np.int64).reshape(-1, 2)


def _one_seed_per_plateau(
    seeds: np.ndarray, gray: np.ndarray, polarity: int, shape: tuple[int, ...]
) -> np.ndarray:
    """``seeds`` with those on one convex clipped plateau reduced to one.

    A saturated nucleus is flat on top: the blob filter finds a maximum at each
    end of a plateau longer than a nucleus is wide, and the two pieces are too
    large together to be joined again. Two saturated nuclei that touch make a
    plateau with a waist (solidity under ``PLATEAU_SOLIDITY``): their seeds stay.
    The seed kept is the one nearest the plateau's centroid.
    """
    if len(seeds) < 2 or gray.dtype.kind != "u":
        return seeds
    level = int(gray.max()) if polarity > 0 else int(gray.min())
    if not (level in CLIPPING_LEVELS if polarity > 0 else level == 0):
        return seeds
    # The nearest pixel of each working pixel, then compared: the same as comparing at
    # full size and taking the nearest, on the working image's pixels only.
    small = gray
    if gray.shape != shape:
        small = cv2.resize(gray, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    flat = np.equal(small, level).view(np.uint8)  # 0 / 1 without a copy
    if np.count_nonzero(flat[seeds[:, 0], seeds[:, 1]]) < 2:
        return seeds  # no two seeds on clipped pixels: none share a plateau
    # Labels only (3x faster than with statistics); the few shared plateaus are measured.
    count, plateau = cv2.connectedComponents(flat, connectivity=8)
    on = plateau[seeds[:, 0], seeds[:, 1]]
    shared = np.flatnonzero(np.bincount(on, minlength=count)[1:] >= 2) + 1
    drop = np.zeros(len(seeds), bool)
    for k in shared.tolist():
        x, y, w, h, area, cx, cy = _component(plateau, k)
        outline, _ = cv2.findContours(
            (plateau[y : y + h, x : x + w] == k).astype(np.uint8),
            cv2.RETR_EXTERNAL,
            cv2.CHAIN_APPROX_SIMPLE,
        )
        hull = cv2.convexHull(np.concatenate(outline))
        # pixels, against the hull through their centres and half a pixel around it
        if area < PLATEAU_SOLIDITY * (cv2.contourArea(hull) + cv2.arcLength(hull, True) / 2):
            continue
        mine = np.flatnonzero(on == k)
        nearest = mine[np.argmin(np.hypot(seeds[mine, 0] - cy, seeds[mine, 1] - cx))]
        drop[mine[mine != nearest]] = True
    return seeds[~drop]


def _component(labels: np.ndarray, k: int) -> tuple[int, int, int, int, int, float, float]:
    """x, y, width, height, area and centroid x, y of label ``k``: the numbers
    ``cv2.connectedComponentsWithStats`` gives (its centroid is the integer sum of the
    coordinates over the area, as here).

    >>> _component(np.array([[0, 1, 1], [0, 1, 0]], np.int32), 1)
    (1, 0, 2, 2, 3, 1.3333333333333333, 0.3333333333333333)
    """
    rows, cols = np.nonzero(labels == k)
    area = rows.size
    x, y = int(cols.min()), int(rows.min())
    width, height = int(cols.max()) - x + 1, int(rows.max()) - y + 1
    return x, y, width, height, area, int(cols.sum()) / area, int(rows.sum()) / area


def _peak_centres(peaks: np.ndarray) -> np.ndarray:
    """(K, 2) row, col of each 8-connected group of ``peaks`` (its rounded centroid).

    Maxima are single pixels unless the signal is flat on top (clipped, or an
    8-bit or JPEG image's plateaus): only then are groups joined, among the peak
    pixels alone (each takes the lowest raster position in its group), not by
    labelling the whole image: the same groups, order (by the first 2 x 2 block each
    holds, as OpenCV's block-based labelling numbers them) and centroids (integer sums
    over the count) as ``cv2.connectedComponentsWithStats`` (tests/unit/test_peak_centres.py).

    >>> peaks = np.zeros((5, 6), bool); peaks[1, 1] = peaks[3, 3] = peaks[3, 4] = True
    >>> _peak_centres(peaks).tolist()
    [[1, 1], [3, 4]]
    """
    width = peaks.shape[1]
    index = np.flatnonzero(peaks)
    rows, cols = np.divmod(index, width)
    pairs = []
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):  # right, and the row below
        step = dy * width + dx
        neighbour = np.isin(index + step, index, assume_unique=True)
        if dx:
            neighbour &= cols < width - 1 if dx > 0 else cols > 0
        first = np.flatnonzero(neighbour)
        pairs.append((first, np.searchsorted(index, index[first] + step)))
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    if a.size == 0:
        return np.stack([rows, cols], axis=1).astype(np.int64)
    group = np.arange(index.size)
    while True:  # each pixel takes the lowest position it is joined to, until none moves
        low = np.minimum(group[a], group[b])
        before = group.copy()
        np.minimum.at(group, a, low)
        np.minimum.at(group, b, low)
        group = group[group]  # (jump along the chain found so far)
        if np.array_equal(group, before):
            break
    _, group = np.unique(group, return_inverse=True)
    # In OpenCV's order: by the first 2 x 2 block (its block-based labelling) each holds.
    block = (rows // 2) * ((width + 1) // 2) + cols // 2
    first = np.full(int(group.max()) + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, group, block)
    group = np.argsort(np.argsort(first, kind="stable"), kind="stable")[group]
    size = np.bincount(group).astype(np.float64)
    centre_rows = np.bincount(group, rows.astype(np.float64)) / size
    centre_cols = np.bincount(group, cols.astype(np.float64)) / size
    return np.stack([np.round(centre_rows), np.round(centre_cols)], axis=1).astype(np.int64)


def _seed_peaks(markers: np.ndarray, smoothed: np.ndarray) -> np.ndarray:
    """Each object's peak height: the smoothed signal at its seed (a blob maximum)."""
    rows, cols = np.divmod(np.flatnonzero(markers != 0), markers.shape[1])  # bool: fast
    peak = np.zeros(int(markers.max()) + 1, np.float32)
    peak[markers[rows, cols]] = smoothed[rows, cols]
    return peak


def _relative(threshold_offset: float) -> float:
    return min(0.9, max(0.1, RELATIVE_THRESHOLD + 0.25 * threshold_offset))


def _level_map(
    labels: np.ndarray, peak: np.ndarray, background: float, threshold_offset: float
) -> np.ndarray:
    """Per pixel, the trim level of the object there (or next to it): full-resolution
    outlines are drawn where the interpolated signal crosses it."""
    level = np.float32(background) + np.float32(_relative(threshold_offset)) * (
        peak - np.float32(background)
    )
    level = np.concatenate([[np.float32(1e6)], level[1:]]).astype(
        np.float32
    )  # background: never inside
    grown = grow_labels(labels)
    return np.asarray(np.take(level, grown, mode="clip"))


def _trim(
    labels: np.ndarray,
    smoothed: np.ndarray,
    peak: np.ndarray,
    background: float,
    threshold_offset: float,
) -> np.ndarray:
    """Keep each object's pixels above ``RELATIVE_THRESHOLD`` of its own peak.

    Per object, not per neighbourhood: a dim nucleus beside a bright one keeps
    its full extent.
    """
    if int(labels.max()) == 0:
        return labels
    relative = _relative(threshold_offset)
    level = np.float32(background) + np.float32(relative) * (peak - np.float32(background))
    level[0] = np.inf
    below = smoothed < np.take(level, labels)
    return np.asarray(np.multiply(labels, ~below))  # faster than a copy and a masked set


def _reclaim(
    labels: np.ndarray,
    smoothed: np.ndarray,
    peak: np.ndarray,
    background: float,
    threshold_offset: float,
    r: float,
    tolerance: float = 0.0,
) -> np.ndarray:
    """Objects the flood left smaller than debris get back what their own level keeps.

    ``cv2.watershed`` floods in order of the step between neighbours, so the
    background (one more marker: everything outside the mask) climbs the steep
    flanks of a small bright nucleus as fast as its seed descends them and can
    leave it a few pixels, then dropped as debris. Such an object (its peak at
    least ``RECLAIM_SIGMAS`` noise sds: a weak bump left small is debris) takes
    back the unlabelled pixels above its own trim level (:func:`_trim`'s rule)
    that join it, when they form a bump closed within ``RECLAIM_RADII`` r of it
    (one reaching further is a broad haze). When those pixels run on into a
    neighbour's unlabelled flank (a small bright nucleus beside a brighter one's
    rim) and the object is the highest point of its reach, it takes back only what
    lies downhill of it (:func:`_downhill`, steps up to ``tolerance`` allowed as
    noise): the neighbour's flank rises away from it. Slivers cut by the image's
    edge are small for that reason and stay as they are.
    """
    count = int(labels.max())
    if count == 0:
        return labels
    area = label_areas(labels, count)
    small = np.flatnonzero((area[1:] > 0) & (area[1:] < MIN_AREA_FRACTION * np.pi * r * r)) + 1
    small = small[peak[small] >= RECLAIM_SIGMAS]
    if small.size == 0:
        return labels
    relative = _relative(threshold_offset)
    height, width = labels.shape
    reach = int(np.ceil(RECLAIM_RADII * r))
    step = np.float32(tolerance)
    boxes = label_boxes(labels, small)
    for k, (y0, x0, y1, x1) in zip(small.tolist(), boxes, strict=True):
        if y0 == 0 or x0 == 0 or y1 == height or x1 == width:
            continue
        y0, y1 = max(0, y0 - reach), min(height, y1 + reach)
        x0, x1 = max(0, x0 - reach), min(width, x1 + reach)
        box = labels[y0:y1, x0:x1]  # a view: the object grows in ``labels``
        level = background + relative * (float(peak[k]) - background)
        values = smoothed[y0:y1, x0:x1]
        free = ((box == 0) & (values >= level)) | (box == k)
        _n, parts = cv2.connectedComponents(free.view(np.uint8), connectivity=8)
        mine = np.unique(parts[box == k])
        grown = np.isin(parts, mine[mine > 0])
        sides = _open_sides(y0, y1, x0, x1, height, width)
        if _reaches(grown, sides) and peak[k] >= values.max() - step:
            # The level joins it to a neighbour's flank, but it is the summit of its
            # window: what it keeps is what lies downhill of it (the flank is uphill).
            grown = _downhill(box == k, free, values, step, sides)
        if not _reaches(grown, sides):
            np.copyto(box, np.int32(k), where=grown)
    return labels


def _open_sides(
    y0: int, y1: int, x0: int, x1: int, height: int, width: int
) -> tuple[bool, bool, bool, bool]:
    """Which sides of the window y0:y1, x0:x1 (top, bottom, left, right) lie inside the
    image: a region touching one of them reaches beyond the window."""
    return y0 > 0, y1 < height, x0 > 0, x1 < width


def _reaches(grown: np.ndarray, sides: tuple[bool, bool, bool, bool]) -> bool:
    top, bottom, left, right = sides
    return bool(
        (top and grown[0].any())
        or (bottom and grown[-1].any())
        or (left and grown[:, 0].any())
        or (right and grown[:, -1].any())
    )


def _downhill(
    start: np.ndarray,
    allowed: np.ndarray,
    values: np.ndarray,
    tolerance: np.float32,
    sides: tuple[bool, bool, bool, bool],
) -> np.ndarray:
    """``start`` grown through ``allowed`` pixels never climbing: a pixel joins when a
    neighbour already in is at least as high (less ``tolerance``). Stops as soon as it
    reaches an open side of the window (``sides``, see :func:`_reaches`)."""
    grown = start.copy()
    cross = np.ones((3, 3), np.uint8)
    floor = np.float32(-np.inf)
    while True:
        reach = cv2.dilate(np.where(grown, values, floor).astype(np.float32), cross)
        new = allowed & ~grown & (values <= reach + tolerance)
        if not new.any():
            return grown
        grown |= new
        if _reaches(new, sides):
            return grown


def _markers(seeds: np.ndarray, mask: np.ndarray) -> np.ndarray:
    markers = np.zeros(mask.shape, np.int32)
    if len(seeds) == 0:
        return markers
    rows = np.clip(seeds[:, 0], 0, mask.shape[0] - 1)
    cols = np.clip(seeds[:, 1], 0, mask.shape[1] - 1)
    inside = mask[rows, cols] > 0
    rows, cols = rows[inside], cols[inside]
    markers[rows, cols] = np.arange(1, rows.size + 1, dtype=np.int32)
    return markers


def _size_control(
    labels: np.ndarray,
    smoothed: np.ndarray,
    peak: np.ndarray,
    r: float,
    apart: np.ndarray | None = None,
) -> tuple[np.ndarray, int, tuple[str, ...], int, np.ndarray | None]:
    """Join over-split nuclei, flag fibres and giants, drop debris.

    Objects in ``apart`` (labels grown from a finer scale's seed) are not joined to a
    neighbour as pieces of it: the nucleus-scale relief has no valley between a
    nucleus and its neighbour's shoulder, which is why the finer scale was needed.
    They still belong to a fibre's group.

    Returns labels with counted objects 1..n and flagged ones after them
    (fibres, then giants), the reasons, the number of giants and the pixels of each
    new label (summed from the old labels' areas: the same counts, no pass over the
    image).
    """
    count = int(labels.max())
    if count == 0:
        return labels, 0, (), 0, None
    nucleus = np.pi * r * r
    area = label_areas(labels, count).astype(np.float64)
    sized = area >= MIN_AREA_FRACTION * nucleus
    typical = float(np.median(area[1:][sized[1:]])) if sized[1:].any() else nucleus
    typical = min(max(typical, TYPICAL_FLOOR * nucleus), 2.0 * nucleus)
    pairs = shallow_pairs(labels, smoothed, VALLEY_DEPTH, peak)
    # Everything below is a table over the labels (label -> new label); the
    # label image is drawn once at the end.
    group_of = merge_table(pairs, area)  # every shallow-connected group as one
    group_area = np.bincount(group_of, weights=area)
    fibre_of = np.zeros(group_of.size, np.int64)  # label -> fibre 1..k, 0: none
    reasons: list[str] = []
    if (group_area[1:] > HUGE_AREA * typical).any():  # only then can a group be a fibre
        fibre_of, reasons = _fibres(labels, group_of, group_area, area, peak, typical)
    in_fibre = fibre_of > 0
    kept_area = np.where(in_fibre, 0.0, area)  # fibres' pixels are not nuclei
    joined_of = merge_table(_without(pairs, apart), kept_area, MERGE_MAX_AREA * typical)
    joined_of[in_fibre] = 0
    joined_area = np.bincount(joined_of, weights=kept_area)
    keep = joined_area >= MIN_AREA_FRACTION * nucleus
    keep[0] = False
    giants = np.flatnonzero(keep & (joined_area > LONE_GIANT_AREA * typical))
    keep[giants] = False
    renumber = np.zeros(keep.size, np.int32)
    renumber[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    final = renumber[joined_of]
    n = int(keep.sum())
    flagged: list[str] = []
    for fibre, reason in enumerate(reasons, start=1):
        final[fibre_of == fibre] = n + 1 + len(flagged)
        flagged.append(reason)
    for giant in giants:
        final[joined_of == giant] = n + 1 + len(flagged)
        flagged.append(f"{joined_area[giant] / typical:.0f} times the typical nucleus area")
    areas = np.bincount(final, weights=area, minlength=n + len(flagged) + 1).astype(np.int64)
    return np.asarray(np.take(final, labels)), n, tuple(flagged), int(giants.size), areas


def _beyond_edge(
    labels: np.ndarray,
    count: int,
    areas: np.ndarray | None,
    smoothed: np.ndarray,
    r: float,
    floor: float | np.ndarray = 0.0,
) -> tuple[np.ndarray, int, np.ndarray | None]:
    """Labels without the counted objects that are the rim or glow of a nucleus
    whose centre lies beyond the image's edge; the count and areas alike.

    Such an object is brightest on one edge (its intensity still rises where it
    leaves the image) and lies near it: within ``EDGE_DEPTH`` r — a nucleus cut
    through its centre reaches about a radius in (its half maximum), one centred a
    radius outside about 0.4 of that (a Gaussian profile) — or within a radius and
    weak: its peak under ``EDGE_SIGNIFICANCE`` times the seed's ``floor`` there (half
    its support is outside the image; a glow of a nucleus outside rises just over the
    floor at the edge). It is counted by the image its centre lies in. Only the
    strips along the edges are looked at.

    >>> labels = np.zeros((20, 20), np.int32); labels[0:2, 8:12] = 1; labels[8:13, 0:3] = 2
    >>> smoothed = np.zeros((20, 20), np.float32); smoothed[0, 10] = 5; smoothed[10, 1] = 5
    >>> kept, n, _ = _beyond_edge(labels, 2, None, smoothed, 5.0)
    >>> n, int(kept[0, 10]), int(kept[10, 1])
    (1, 0, 1)
    """
    if count == 0:
        return labels, count, areas
    if areas is None:
        areas = label_areas(labels, int(labels.max()))
    rim = _edge_peaked(labels, count, areas, smoothed, floor, int(EDGE_DEPTH * r))
    drop = rim[0]
    near, peak, there = _edge_peaked(labels, count, areas, smoothed, floor, int(r))
    drop |= near & (peak < EDGE_SIGNIFICANCE * there)
    if not drop.any():
        return labels, count, areas
    keep = ~drop
    keep[0] = False
    kept = relabel(labels, keep)
    return kept, count - int(drop.sum()), np.r_[areas[0] + areas[drop].sum(), areas[keep]]


def _edge_peaked(
    labels: np.ndarray,
    count: int,
    areas: np.ndarray,
    smoothed: np.ndarray,
    floor: float | np.ndarray,
    depth: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per label: counted, wholly within ``depth`` px of one edge and brightest on that
    edge; its brightest value on that edge; the lowest ``floor`` there (tables over the
    labels, one edge per object: the last edge that qualifies)."""
    found = np.zeros(areas.size, bool)
    peak = np.zeros(areas.size)
    there = np.zeros(areas.size)
    if depth < 1 or min(labels.shape) <= 2 * depth:
        return found, peak, there
    floors = np.broadcast_to(np.asarray(floor, np.float32), labels.shape)
    for side in range(4):  # top, bottom, left, right: each edge as the first row
        strip, values, level = (_from_edge(v, side)[:depth] for v in (labels, smoothed, floors))
        whole = np.bincount(strip.ravel(), minlength=areas.size)[: areas.size] == areas
        whole[0] = False
        whole[count + 1 :] = False  # flagged objects stay as they are
        if not whole.any():
            continue
        top = np.full(areas.size, -np.inf)
        np.maximum.at(top, strip.ravel(), values.ravel())
        on_edge = np.full(areas.size, -np.inf)
        np.maximum.at(on_edge, strip[0], values[0])
        lowest = np.full(areas.size, np.inf)
        np.minimum.at(lowest, strip[0], level[0])
        here = whole & (on_edge >= top)
        found |= here
        peak[here], there[here] = on_edge[here], lowest[here]
    return found, peak, there


def _from_edge(values: np.ndarray, side: int) -> np.ndarray:
    """A view of ``values`` whose first row is edge ``side`` (0 top, 1 bottom, 2 left,
    3 right)."""
    turned = values if side < 2 else values.T
    return turned[::-1] if side % 2 else turned


def _without(pairs: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """The rows of ``pairs`` (label a, label b, depth) that involve none of ``labels``.

    >>> _without(np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 0.0]]), np.array([0, 2])).tolist()
    [[3.0, 4.0, 0.0]]
    """
    if labels is None or len(pairs) == 0:
        return pairs
    ends = pairs[:, :2].astype(np.int64)
    return pairs[~np.isin(ends, labels).any(axis=1)]


def _fibres(
    labels: np.ndarray,
    group_of: np.ndarray,
    group_area: np.ndarray,
    area: np.ndarray,
    peak: np.ndarray,
    typical: float,
) -> tuple[np.ndarray, list[str]]:
    """Groups far larger than a nucleus, long and smooth, with no valley inside.

    ``group_of`` maps each label to its group and ``group_area`` is each group's
    area: the group image is only drawn inside the big groups' boxes. A group
    that is not long as a whole is judged again by its bright core (its objects
    with a peak at least ``CORE_SHARE`` of the group's brightest, together larger
    than ``LONE_GIANT_AREA`` nuclei): nuclei beside a fibre, joined to its halo
    with no valley, make the group as wide as it is long, while the fibre itself
    is far brighter than they are.

    Returns, per label, the fibre it belongs to (1..k, 0 for none), and the
    reasons.
    """
    fibre_of = np.zeros(group_of.size, np.int64)
    big = np.flatnonzero(group_area > HUGE_AREA * typical)
    big = big[big > 0]
    if big.size == 0:
        return fibre_of, []
    reasons: list[str] = []
    for members, (elongation, solidity) in _candidates(labels, group_of, big, area, peak, typical):
        if elongation >= FIBRE_ELONGATION and solidity >= FIBRE_SOLIDITY:
            fibre_of[members] = len(reasons) + 1
            reasons.append(
                f"long smooth structure ({elongation:.1f}:1, "
                f"{area[members].sum() / typical:.0f} nuclei large, no valley inside): "
                "not a nucleus"
            )
    return fibre_of, reasons


def _candidates(
    labels: np.ndarray,
    group_of: np.ndarray,
    big: np.ndarray,
    area: np.ndarray,
    peak: np.ndarray,
    typical: float,
) -> list[tuple[np.ndarray, tuple[float, float]]]:
    """(member labels, (elongation, solidity)) of each big group, or of its bright
    core when the group is not long and its core is as large as a lone giant
    (``LONE_GIANT_AREA``): a chain of three bright nuclei in a group is long too."""
    found = []
    shapes_of = _closed_shapes(labels, group_of, big)
    cores = []
    for group, shape in zip(big.tolist(), shapes_of, strict=True):
        members = np.flatnonzero(group_of == group)
        if shape[0] >= FIBRE_ELONGATION and shape[1] >= FIBRE_SOLIDITY:
            found.append((members, shape))
            continue
        core = members[peak[members] >= CORE_SHARE * peak[members].max()]
        if core.size < members.size and area[core].sum() > LONE_GIANT_AREA * typical:
            cores.append(core)
    if cores:
        core_of = np.zeros(group_of.size, np.int64)
        for k, core in enumerate(cores, start=1):
            core_of[core] = k
        core_shapes = _closed_shapes(labels, core_of, np.arange(1, len(cores) + 1))
        found += list(zip(cores, core_shapes, strict=True))
    return found


def _closed_shapes(
    labels: np.ndarray, group_of: np.ndarray, big: np.ndarray
) -> list[tuple[float, float]]:
    """Elongation and solidity of each of the ``big`` groups once the gaps inside them
    (watershed lines, trimmed rims) are closed by ``grow_labels``.

    Each group is measured in its own bounding box grown by 2 px: ``grow_labels`` of a
    pixel depends only on its 3x3 neighbourhood, so the closed group there is exactly
    the closed group of the whole image, at the cost of its box alone. The pixels of
    the big groups are found through a table over the labels, not a group image.
    """
    height, width = labels.shape
    chosen = np.isin(group_of, big)  # a boolean image: flatnonzero is twice as fast
    chosen[0] = False
    index = np.flatnonzero(np.take(chosen, labels))
    rows, cols = np.divmod(index, width)
    which = group_of[labels.ravel()[index]]
    # The pixels sorted by group: each group's are one slice (not a scan of all of them
    # per group: a dense 4K field has hundreds of big groups).
    order = np.argsort(which, kind="stable")
    rows, cols, which = rows[order], cols[order], which[order]
    starts = np.searchsorted(which, big, side="left").tolist()
    ends = np.searchsorted(which, big, side="right").tolist()
    found = []
    for group, start, end in zip(big.tolist(), starts, ends, strict=True):
        mine = slice(start, end)
        y0, y1 = max(0, int(rows[mine].min()) - 2), min(height, int(rows[mine].max()) + 3)
        x0, x1 = max(0, int(cols[mine].min()) - 2), min(width, int(cols[mine].max()) + 3)
        box = np.take(group_of, labels[y0:y1, x0:x1])
        shape = shapes(grow_labels(box), int(box.max()), only=np.array([group]))
        found.append((float(shape.elongation[group]), float(shape.solidity[group])))
    return found


def keep_mask(labels: np.ndarray, count: int) -> np.ndarray:
    """Boolean table: which label ids are counted objects."""
    keep = np.zeros(int(labels.max()) + 1, bool)
    keep[1 : count + 1] = True
    return keep


__all__ = ["Found", "keep_mask", "offset_factor", "relabel", "segment_nuclei"]
