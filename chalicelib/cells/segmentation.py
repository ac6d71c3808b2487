"""Tuning-free nucleus/cell segmentation: scale estimate, adaptive mask, distance-transform split.

Pure functions on arrays (OpenCV + NumPy). The pipeline, for an image of any
size, bit depth or illumination:

1. Normalise robustly (percentiles from a histogram) and pick the contrast
   signal: for fluorescence the background-subtracted intensity; for
   brightfield/phase contrast the local standard deviation (texture), since
   cells there are both darker and brighter than the background.
2. Estimate the object scale from the image itself: the median area of the
   components of a global (Otsu) mask gives a radius ``r``.
3. Work at a resolution where ``r`` is about 8 px (never upsampling), so the
   cost per megapixel is bounded and every kernel below has a fixed size.
4. Mask each object at a fraction of its *own* local maximum (dim nuclei next
   to bright ones are kept), above a noise floor measured on the background.
5. Split touching objects at the maxima of the smoothed distance transform;
   drop debris smaller than a fraction of the typical object.
6. Label objects (marker-controlled watershed only inside clumps) and measure
   each one at the original resolution's units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

WORK_RADIUS = 6.0  # object radius (px) at which the work is done
MIN_AREA_FRACTION = 0.15  # debris: smaller than this fraction of a typical object's area
SEED_SPACING = 0.3  # seeds closer than this many radii merge
DT_SMOOTH = 0.12  # distance-transform smoothing, in radii
SEED_MIN_DEPTH = 0.3  # a seed lies at least this many radii inside its object
LOCAL_MAX_REACH = 0.8  # radii over which an object's local maximum is taken
SIGNAL_BLUR = 0.125  # fluorescence signal smoothing, in radii
PREVIEW_PIXELS = 262_144  # the scale is estimated on a preview of about this size
MIN_PREVIEW_RADIUS = 4.0  # below this (preview px) the estimate is redone at full size
RELATIVE_THRESHOLD = 0.5  # mask at this fraction of the local maximum
NOISE_SIGMAS = 3.0  # the mask is at least this many noise sds above the background
PEAK_SIGMAS = 5.0  # fluorescence: an object peaks at least this many sds above it
TEXTURE_RATIO = 2.0  # brightfield: an object's texture peaks at this times the typical


@dataclass(frozen=True)
class Segmentation:
    """Objects found in an image.

    Attributes
    ----------
    labels : (m, n) ndarray of int32
        0 for background, 1..count for objects, at the *working* resolution.
    scale : float
        Working resolution / original resolution (≤ 1).
    radius : float
        Typical object radius in original pixels (estimated or given).
    mode : str
        ``"fluorescence"`` or ``"brightfield"``.
    intensity : (m, n) ndarray of float32
        The original image at the working resolution, in its own units.
    """

    labels: np.ndarray
    scale: float
    radius: float
    mode: str
    intensity: np.ndarray = field(repr=False, compare=False)  # original units, working size

    @property
    def count(self) -> int:
        return int(self.labels.max()) if self.labels.size else 0


def disk(radius: float) -> np.ndarray:
    r = max(1, round(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def subsample(image: np.ndarray, size: int = 65536) -> np.ndarray:
    """A regular grid of about ``size`` pixels: enough for percentiles, cheap."""
    step = max(1, int(np.sqrt(image.size / size)))
    return image[::step, ::step]


def intensity_range(gray: np.ndarray) -> tuple[float, float]:
    """The 0.5th and 99.9th percentiles of ``gray``, from a subsample.

    Integer images use a histogram (no sort).

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


def normalise(gray: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """float32 copy of ``gray`` with ``lo``..``hi`` mapped to 0..1.

    >>> normalise(np.array([[0, 50, 100]], np.uint8), 0, 100).round(2).tolist()
    [[0.0, 0.5, 1.0]]
    """
    out = gray.astype(np.float32)
    out -= np.float32(lo)
    out *= np.float32(1.0 / (hi - lo))
    return out


def resized(gray: np.ndarray, scale: float) -> np.ndarray:
    """``gray`` shrunk by ``scale`` (area averaging), or itself when ``scale`` is 1."""
    if scale >= 1.0:
        return gray
    height, width = gray.shape
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Area averaging for real reductions; bilinear (much faster) for mild ones.
    method = cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR
    return cv2.resize(gray, size, interpolation=method)


def looks_like_brightfield(image: np.ndarray) -> bool:
    """Brightfield/phase contrast has object pixels *darker* than the background too.

    Fluorescence (and bright objects on a dark field) has almost none: its
    background is the darkest common level. Takes a ``normalise``d image.
    """
    sample = image[:: max(1, image.shape[0] // 256), :: max(1, image.shape[1] // 256)]
    counts, edges = np.histogram(sample, bins=64, range=(0.0, 1.0))
    background = edges[int(np.argmax(counts))]
    return bool(np.mean(sample < background - 0.15) > 0.02)


def smooth_background(image: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """Slowly varying background: a morphological opening far larger than any object,
    computed on a ~128 px thumbnail and scaled back up (cheap at any size)."""
    height, width = image.shape
    step = max(1, max(height, width) // 128)
    small = cv2.resize(
        image, (max(1, width // step), max(1, height // step)), interpolation=cv2.INTER_AREA
    )
    k = max(3, int(min(small.shape) * fraction) | 1)
    opened = cv2.morphologyEx(small, cv2.MORPH_OPEN, disk(k // 2))
    blurred = cv2.GaussianBlur(opened, (0, 0), k / 2)
    return cv2.resize(blurred, (width, height), interpolation=cv2.INTER_LINEAR)


def contrast_signal(image: np.ndarray, brightfield: bool, radius: float = 8.0) -> np.ndarray:
    """Where objects are: bright = object. Background-subtracted intensity for
    fluorescence; local standard deviation (texture) at a quarter of the object
    radius for brightfield."""
    if brightfield:
        sigma = max(1.0, radius / 4)
        mean = cv2.GaussianBlur(image, (0, 0), sigma)
        square = cv2.GaussianBlur(image * image, (0, 0), sigma)
        texture = np.sqrt(np.maximum(square - mean * mean, 0))
        smoothed: np.ndarray = cv2.GaussianBlur(texture, (0, 0), sigma)
        return smoothed
    signal: np.ndarray = image - smooth_background(image)
    return np.asarray(cv2.GaussianBlur(signal, (0, 0), max(0.7, radius * SIGNAL_BLUR)))


def otsu_threshold(signal: np.ndarray) -> float:
    top = float(signal.max())
    if top <= 0:
        return 0.0
    u8 = cv2.convertScaleAbs(signal, alpha=255.0 / top)
    level, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(level) / 255.0 * top


def noise_floor(signal: np.ndarray, below: float) -> float:
    """Background level + ``NOISE_SIGMAS`` robust sds, from pixels under ``below``."""
    median, sd = background_level(signal, below)
    return median + NOISE_SIGMAS * sd


def background_level(signal: np.ndarray, below: float) -> tuple[float, float]:
    """Median and robust sd of the signal's pixels under ``below`` (a subsample)."""
    sample = subsample(signal, 16384)
    background = sample[sample < below]
    if background.size < 16:
        return below, 0.0
    median = float(np.median(background))
    return median, 1.4826 * float(np.median(np.abs(background - median)))


def significance(signal: np.ndarray, below: float, brightfield: bool) -> float:
    """The level an object's signal must reach somewhere to be real, not noise.

    Fluorescence: ``PEAK_SIGMAS`` background sds above the background. Brightfield
    texture: ``TEXTURE_RATIO`` times the typical texture (pure noise has an even
    texture, so its "objects" stay under 1.6 times it; real cells reach 2.2+).
    """
    if brightfield:
        return TEXTURE_RATIO * float(np.median(subsample(signal, 16384)))
    median, sd = background_level(signal, below)
    return median + PEAK_SIGMAS * sd


def estimate_radius(mask: np.ndarray) -> float | None:
    """Typical object radius: from the median area of the mask's components."""
    _n, labels = cv2.connectedComponents(mask, connectivity=8)
    areas = np.bincount(labels.ravel())[1:]
    areas = areas[areas >= 9]
    if areas.size == 0:
        return None
    return float(np.sqrt(np.median(areas) / np.pi))


def fill_small_holes(mask: np.ndarray, max_area: float) -> np.ndarray:
    """Fill enclosed background regions smaller than ``max_area`` (textured objects).

    Background reachable from the image edge is found with one flood fill; only
    the few enclosed regions left over are labelled and measured.
    """
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    cv2.floodFill(padded, None, (0, 0), 2)
    holes = (padded[1:-1, 1:-1] == 0).astype(np.uint8)
    count, labels = cv2.connectedComponents(holes, connectivity=4)
    if count <= 1:
        return mask
    areas = np.bincount(labels[holes > 0], minlength=count)
    small = areas < max_area
    small[0] = False
    filled = mask.copy()
    filled[small[labels]] = 1
    return filled


def object_mask(signal: np.ndarray, floor: float, radius: float, offset: float) -> np.ndarray:
    """Each object at ``RELATIVE_THRESHOLD + offset`` of its own local maximum."""
    reach = 2 * max(1, round(radius * LOCAL_MAX_REACH)) + 1
    local_max = cv2.dilate(signal, np.ones((reach, reach), np.uint8))
    relative = np.float32(min(0.95, max(0.05, RELATIVE_THRESHOLD + offset)))
    mask: np.ndarray = ((signal > floor) & (signal > relative * local_max)).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, disk(radius * 0.2))
    return fill_small_holes(mask, 2 * np.pi * radius * radius)


def seeds_of(mask: np.ndarray, radius: float) -> tuple[int, np.ndarray]:
    """One seed per object: maxima of the smoothed distance transform."""
    # Mirror the mask across the image edge: an object cut by the edge then peaks
    # where its centre would be, not in a corner.
    pad = int(np.ceil(radius))
    mirrored = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    distance = cv2.distanceTransform(mirrored, cv2.DIST_L2, 5)[pad:-pad, pad:-pad]
    distance = cv2.GaussianBlur(distance, (0, 0), max(0.5, radius * DT_SMOOTH))
    peaks = (distance >= cv2.dilate(distance, disk(radius * SEED_SPACING))) & (
        distance >= SEED_MIN_DEPTH * radius
    )
    count, seeds = cv2.connectedComponents(peaks.astype(np.uint8), connectivity=8)
    return count - 1, seeds


def label_objects(
    mask: np.ndarray, seeds: np.ndarray, n_seeds: int, min_area: float, strong: np.ndarray
) -> np.ndarray:
    """Label image: one object per seed, debris dropped.

    Components that never rise above the significance level (``strong``) are
    noise. A component with one seed (or none, if large enough) is one object.
    Touching objects (a component holding several seeds) are divided by nearest
    seed, a Voronoi split computed for those components' pixels only.
    """
    n, components = cv2.connectedComponents(mask, connectivity=8)
    area = np.bincount(components.ravel(), minlength=n)
    seed_rows, seed_cols = np.nonzero(seeds)
    seed_ids = seeds[seed_rows, seed_cols]
    seed_component = np.zeros(n_seeds + 1, np.int64)
    seed_component[seed_ids] = components[seed_rows, seed_cols]
    per_component = np.bincount(seed_component[1:], minlength=n)
    significant = np.zeros(n, bool)
    significant[components[strong]] = True
    keep = (area >= min_area) & significant
    keep[0] = False
    whole = keep & (per_component <= 1)
    table = np.zeros(n, np.int32)
    table[whole] = np.arange(1, int(whole.sum()) + 1, dtype=np.int32)
    labels = table[components]
    clumps = keep & (per_component > 1)
    if clumps.any():
        seed_pixels = (seed_rows, seed_cols, seed_ids)
        _split_clumps(labels, components, clumps, seed_component, seed_pixels, int(whole.sum()))
    return np.asarray(labels)


def _split_clumps(
    labels: np.ndarray,
    components: np.ndarray,
    clumps: np.ndarray,
    seed_component: np.ndarray,
    seed_pixels: tuple[np.ndarray, np.ndarray, np.ndarray],
    first: int,
) -> None:
    """Give each pixel of a multi-seed component the label of its nearest seed there."""
    rows, cols = np.nonzero(clumps[components])
    owner = components[rows, cols]
    # Seed centres (a seed may be a small plateau), grouped by component.
    sr, sc, sid = seed_pixels
    count = np.bincount(sid, minlength=len(seed_component))
    seed_ids = np.flatnonzero(count)
    seed_ids = seed_ids[clumps[seed_component[seed_ids]]]
    cy = np.bincount(sid, sr, len(count))[seed_ids] / count[seed_ids]
    cx = np.bincount(sid, sc, len(count))[seed_ids] / count[seed_ids]
    order = np.argsort(seed_component[seed_ids], kind="stable")
    cy, cx, comp = cy[order], cx[order], seed_component[seed_ids][order]
    start = np.searchsorted(comp, owner)
    stop = np.searchsorted(comp, owner, side="right")
    best = np.full(rows.size, np.inf)
    choice = start.copy()
    for j in range(int((stop - start).max())):
        index = start + j
        valid = index < stop
        index = np.where(valid, index, start)
        d = (rows - cy[index]) ** 2 + (cols - cx[index]) ** 2
        better = valid & (d < best)
        best[better] = d[better]
        choice[better] = index[better]
    labels[rows, cols] = first + 1 + choice.astype(np.int32)


def segment(
    gray: np.ndarray,
    diameter: float = 0.0,
    threshold_offset: float = 0.0,
    mode: str = "auto",
) -> Segmentation:
    """Segment nuclei (fluorescence) or cells (brightfield/phase contrast).

    Parameters
    ----------
    gray : (M, N) ndarray of uint8 or uint16
    diameter : float
        Expected object diameter in pixels; 0 estimates it from the image.
    threshold_offset : float
        Added to the relative threshold (0.5 of each object's local maximum):
        positive is stricter, negative more permissive.
    mode : {"auto", "fluorescence", "brightfield"}

    Returns
    -------
    Segmentation
    """
    lo, hi = intensity_range(gray)
    preview_scale = min(1.0, float(np.sqrt(PREVIEW_PIXELS / gray.size)))
    preview = normalise(resized(gray, preview_scale), lo, hi)
    brightfield = looks_like_brightfield(preview) if mode == "auto" else mode == "brightfield"
    mode_name = "brightfield" if brightfield else "fluorescence"
    radius = (
        diameter / 2
        if diameter > 0
        else _estimate(gray, preview, preview_scale, lo, hi, brightfield)
    )
    if radius is None:
        empty = np.zeros((1, 1), np.int32)
        return Segmentation(empty, 1.0, 0.0, mode_name, np.zeros((1, 1), np.float32))
    scale = min(1.0, WORK_RADIUS / radius)
    intensity = resized(gray, scale).astype(np.float32)
    work_radius = radius * scale
    signal = contrast_signal(normalise(intensity, lo, hi), brightfield, work_radius)
    otsu = otsu_threshold(np.maximum(signal, 0))
    floor = noise_floor(signal, otsu)
    strong = signal > significance(signal, otsu, brightfield)
    mask = object_mask(signal, floor, work_radius, threshold_offset)
    n_seeds, seeds = seeds_of(mask, work_radius)
    min_area = MIN_AREA_FRACTION * np.pi * work_radius**2
    labels = label_objects(mask, seeds, n_seeds, min_area, strong)
    return Segmentation(labels, scale, radius, mode_name, intensity)


def _estimate(
    gray: np.ndarray,
    preview: np.ndarray,
    preview_scale: float,
    lo: float,
    hi: float,
    brightfield: bool,
) -> float | None:
    """Object radius in original pixels, from the preview; objects too small to
    measure there are measured again at a resolution where they are ~6 px."""
    radius = _radius_at(preview, brightfield)
    if radius is None or radius >= MIN_PREVIEW_RADIUS or preview_scale >= 1.0:
        return None if radius is None else radius / preview_scale
    closer = min(1.0, preview_scale * 6.0 / max(radius, 1.5))
    finer = _radius_at(normalise(resized(gray, closer), lo, hi), brightfield)
    return None if finer is None else finer / closer


def _radius_at(image: np.ndarray, brightfield: bool) -> float | None:
    """Radius from a global threshold of the contrast signal. Brightfield texture
    depends on the scale it is measured at, so iterate to a self-consistent one."""
    radius: float | None = 4.0
    for _ in range(3 if brightfield else 1):
        signal = contrast_signal(image, brightfield, radius=radius or 4.0)
        otsu = otsu_threshold(np.maximum(signal, 0))
        floor = noise_floor(signal, otsu)
        radius = estimate_radius((signal > max(otsu, floor)).astype(np.uint8))
        if radius is None:
            return None
    return radius


@dataclass(frozen=True)
class Measurements:
    """Per-object measurements in original-image units (one entry per label 1..count)."""

    x: np.ndarray
    y: np.ndarray
    area: np.ndarray
    mean_intensity: np.ndarray
    integrated_intensity: np.ndarray
    bbox: np.ndarray  # (count, 4): x, y, width, height

    @property
    def equivalent_diameter(self) -> np.ndarray:
        return np.asarray(np.sqrt(4 * self.area / np.pi))


def measure(segmentation: Segmentation, gray: np.ndarray) -> Measurements:
    """Centroid, area, intensity and bounding box of every object.

    ``gray`` is the original image; intensities are in its units (e.g. 0–65535).
    """
    labels, scale, intensity = segmentation.labels, segmentation.scale, segmentation.intensity
    count = segmentation.count
    flat = labels.ravel()
    inside = flat > 0
    ids = flat[inside]
    rows, cols = np.divmod(np.flatnonzero(inside), labels.shape[1])
    pixels = np.bincount(ids, minlength=count + 1)[1:].astype(np.float64)
    pixels = np.maximum(pixels, 1)
    x = (np.bincount(ids, cols, count + 1)[1:] / pixels + 0.5) / scale - 0.5
    y = (np.bincount(ids, rows, count + 1)[1:] / pixels + 0.5) / scale - 0.5
    mean = np.bincount(ids, intensity.ravel()[inside], count + 1)[1:] / pixels
    area = pixels / (scale * scale)
    bbox = _bounding_boxes(ids, rows, cols, count, scale, gray.shape)
    return Measurements(x, y, area, mean, mean * area, bbox)


def _bounding_boxes(
    ids: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    count: int,
    scale: float,
    shape: tuple[int, ...],
) -> np.ndarray:
    big = np.iinfo(np.int64).max
    lo_r = np.full(count + 1, big)
    lo_c = np.full(count + 1, big)
    hi_r = np.full(count + 1, -1)
    hi_c = np.full(count + 1, -1)
    np.minimum.at(lo_r, ids, rows)
    np.minimum.at(lo_c, ids, cols)
    np.maximum.at(hi_r, ids, rows)
    np.maximum.at(hi_c, ids, cols)
    x0 = np.floor(lo_c[1:] / scale)
    y0 = np.floor(lo_r[1:] / scale)
    x1 = np.minimum(np.ceil((hi_c[1:] + 1) / scale), shape[1])
    y1 = np.minimum(np.ceil((hi_r[1:] + 1) / scale), shape[0])
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).astype(np.int64)


def outlines(labels: np.ndarray) -> np.ndarray:
    """Boolean mask of object boundary pixels (where a label meets another label or 0)."""
    edge = np.zeros(labels.shape, bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edge & (labels > 0)
