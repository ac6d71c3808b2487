"""Segmentation for counting: image type, scale, method, full-resolution labels, measurements.

Pure functions on arrays (OpenCV + NumPy); no I/O. ``segment`` decides the
image type (``image_type.classify``), estimates the object size
(``scale.estimate_radius`` for nuclei, ``phase.estimate_cell_size`` for
phase contrast), runs ``nuclei.segment_nuclei`` or ``phase.segment_cells`` and
brings the labels back to the image's own resolution (where nuclei joined at a
neck are cut apart: ``necks.split_necks``); ``measure`` measures every object
there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chalicelib.cells import image_type as kinds
from chalicelib.cells.image_type import TypeDecision
from chalicelib.cells.necks import split_necks
from chalicelib.cells.nuclei import Found, segment_nuclei
from chalicelib.cells.objects import (
    intensity_range,
    label_areas,
    normalised,
    row_runs,
    run_boxes,
    run_sums,
    to_full_resolution,
)
from chalicelib.cells.phase import estimate_cell_size, segment_cells
from chalicelib.cells.scale import Box, estimate_scale

RADIUS_CHECK = 1.3  # re-run when the objects found are this far from the size assumed
AGREEMENT = 1.6  # objects further than this from the size used make the size ambiguous
GIANT_ROUNDS = 4
GIANT_SHARE = 0.1  # this many flagged giants per counted object: the size was misjudged
OBJECT_TO_BLOB = 0.85  # measured object radius over the blob radius (at half maximum)


@dataclass(frozen=True)
class Segmentation:
    """Objects found in an image, at the image's own resolution.

    Attributes
    ----------
    labels : (M, N) ndarray of int32
        0 background; 1..count counted objects; count+1..count+len(flagged)
        objects flagged and not counted.
    count : int
    flagged : tuple of str
        Why each flagged object was flagged (in label order).
    decision : TypeDecision
    radius : float
        Typical object radius used, original pixels.
    scale : float
        Working resolution / original.
    scale_note : str or None
        Why the object size is in doubt (the count is then not reliable).
    count_note : str or None
        Why the count itself is in doubt (phase contrast: far more dark cell bodies
        than cells counted; the count is then not reliable).
    """

    labels: np.ndarray = field(repr=False)
    count: int
    flagged: tuple[str, ...]
    decision: TypeDecision
    radius: float
    scale: float
    scale_note: str | None = None
    count_note: str | None = None

    @property
    def image_type(self) -> str:
        return self.decision.image_type


def segment(
    gray: np.ndarray,
    diameter: float = 0.0,
    threshold_offset: float = 0.0,
    image_type: str = "auto",
) -> Segmentation:
    """Segment nuclei (fluorescence) or cells (phase contrast / brightfield).

    Parameters
    ----------
    gray : (M, N) ndarray of uint8 or uint16
    diameter : float
        Expected object diameter in pixels; 0 estimates it from the image.
    threshold_offset : float
        Scales the detection thresholds by ``2 ** offset``: negative finds more
        (fainter) objects, positive fewer.
    image_type : {"auto", "fluorescence", "phase-contrast"}

    Returns
    -------
    Segmentation

    Examples
    --------
    >>> import cv2
    >>> img = np.zeros((120, 160), np.uint8)
    >>> for x in (40, 80, 120):
    ...     _ = cv2.circle(img, (x, 60), 12, 200, -1)
    >>> segment(img).count
    3
    """
    decision = kinds.classify(gray) if image_type == "auto" else kinds.forced(image_type, gray)
    window = intensity_range(gray)
    if decision.image_type == kinds.PHASE_CONTRAST:
        return _phase(gray, decision, window, diameter, threshold_offset)
    return _fluorescence(gray, decision, window, diameter, threshold_offset)


def _fluorescence(
    gray: np.ndarray,
    decision: TypeDecision,
    window: tuple[float, float],
    diameter: float,
    threshold_offset: float,
) -> Segmentation:
    lo, hi = window

    def signal_at(scale: float, box: Box | None) -> np.ndarray:
        part = gray if box is None else gray[box[1] : box[1] + box[3], box[0] : box[0] + box[2]]
        return normalised(part, scale, lo, hi, decision.polarity)

    note = None
    seed = None
    if diameter > 0:
        radius = diameter / 2
    else:
        estimate = estimate_scale(signal_at, gray.shape)
        if estimate is None:
            return _empty(gray, decision)
        radius, note = estimate.radius, estimate.ambiguous
        # Blobs wider than the thresholded objects' inscribed radius (``SEED_AT_FOOTPRINT``):
        # elongated or overlapping nuclei. Seeds at the thinner size part them (pieces of
        # one nucleus, with no valley between, are joined again); the rest keeps the
        # blob size (areas, working resolution). From a smaller disagreement than
        # the one that makes the size ambiguous: gamma < 1 widens the footprint
        # (DSB at gamma 0.5: 1.19 where the original is 1.28).
        seed = estimate.seed
    found = segment_nuclei(gray, radius, decision.polarity, window, threshold_offset, seed)
    rounds = 0
    while (
        diameter <= 0
        and rounds < GIANT_ROUNDS
        and found.giants >= max(3, GIANT_SHARE * found.count)
    ):
        # Many giants: the size estimate caught the objects' texture (a coin's
        # relief), not the objects. Their own size is the better estimate.
        # (Fibres are flagged too, but say nothing about the nuclei's size.)
        total = found.count + len(found.flagged)
        giants = _median_radius(found, total, total - found.giants)
        radius = max(radius * 1.5, giants / found.scale / OBJECT_TO_BLOB)
        found = segment_nuclei(gray, radius, decision.polarity, window, threshold_offset)
        rounds += 1
    measured = None  # of the objects in ``found``
    if rounds == 0 and diameter <= 0 and found.count >= 3:
        # The blob estimate can be pulled by noise or gamma: check it against
        # the objects themselves and run once more if they disagree.
        measured = _median_radius(found, found.count) / found.scale / OBJECT_TO_BLOB
        if max(measured / radius, radius / measured) > RADIUS_CHECK:
            radius = measured
            found = segment_nuclei(gray, radius, decision.polarity, window, threshold_offset, seed)
            measured = None
    if note is None and diameter <= 0:
        note = _disagreement(found, radius, measured)
    labels = to_full_resolution(found.labels, found.soft, gray.shape)
    labels, count = split_necks(
        labels, found.count, gray, found.labels, decision.polarity, found.areas
    )
    return Segmentation(labels, count, found.flagged, decision, radius, found.scale, note)


def _disagreement(found: Found, radius: float, measured: float | None) -> str | None:
    """Why the size is in doubt when the objects found are far from the size used
    (``measured``: their radius when already known)."""
    if found.count < 3:
        return None
    if measured is None:
        measured = _median_radius(found, found.count) / found.scale / OBJECT_TO_BLOB
    if max(measured / radius, radius / measured) <= AGREEMENT:
        return None
    return (
        f"objects found ({2 * measured:.0f} px) far from the size estimated "
        f"({2 * radius:.0f} px): set the diameter"
    )


def _phase(
    gray: np.ndarray,
    decision: TypeDecision,
    window: tuple[float, float],
    diameter: float,
    threshold_offset: float,
) -> Segmentation:
    if diameter > 0:
        radius, note, prepared = diameter / 2, None, None
    else:
        size = estimate_cell_size(gray)
        if size is None:
            return _empty(gray, decision)
        radius, note, prepared = size.radius, size.note, size.prepared
    found = segment_cells(gray, radius, window, threshold_offset, prepared=prepared)
    labels = to_full_resolution(found.labels, found.soft, gray.shape)
    return Segmentation(
        labels, found.count, found.flagged, decision, radius, found.scale, note, found.note
    )


def _median_radius(found: Found, count: int, first: int = 0) -> float:
    """Equivalent radius of the median object among labels first+1..count."""
    areas = label_areas(found.labels, count) if found.areas is None else found.areas
    area = areas[first + 1 : count + 1]
    return float(np.sqrt(max(float(np.median(area)), 1.0) / np.pi))


def _empty(gray: np.ndarray, decision: TypeDecision) -> Segmentation:
    return Segmentation(np.zeros(gray.shape, np.int32), 0, (), decision, 0.0, 1.0)


@dataclass(frozen=True)
class Measurements:
    """Per-object measurements at the image's own resolution (one entry per label).

    ``x``/``y`` centroid, ``area`` in pixels, intensities in the image's units,
    ``bbox`` (count, 4) x, y, width, height; ``flagged`` marks objects not counted.
    """

    x: np.ndarray
    y: np.ndarray
    area: np.ndarray
    mean_intensity: np.ndarray
    integrated_intensity: np.ndarray
    bbox: np.ndarray
    flagged: np.ndarray

    @property
    def equivalent_diameter(self) -> np.ndarray:
        return np.asarray(np.sqrt(4 * self.area / np.pi))


def measure(segmentation: Segmentation, gray: np.ndarray) -> Measurements:
    """Centroid, area, intensity and bounding box of every object, full resolution.

    >>> import cv2
    >>> img = np.zeros((100, 100), np.uint8)
    >>> _ = cv2.circle(img, (50, 40), 15, 200, -1)
    >>> table = measure(segment(img), img)
    >>> round(float(table.x[0])), round(float(table.y[0]))
    (50, 40)
    """
    labels = segmentation.labels
    total = segmentation.count + len(segmentation.flagged)
    width = labels.shape[1]
    # Over runs of one label (≈ 1 % as many as object pixels on a photo), not pixel by pixel.
    starts, values = row_runs(labels)
    ends = np.append(starts[1:], labels.size)
    sums = run_sums(gray, starts)
    keep = values != 0
    label, start, end = values[keep].astype(np.int64), starts[keep], ends[keep]
    row, first = np.divmod(start, width)
    last = end - 1 - row * width
    length = (last - first + 1).astype(np.float64)
    # Sums of whole numbers, exact in float64: the same as summing pixel by pixel.
    integrated = np.bincount(label, sums[keep].astype(np.float64), total + 1)[1:]
    pixels = np.maximum(np.bincount(label, length, total + 1)[1:], 1)
    x = np.bincount(label, length * (first + last) / 2, total + 1)[1:] / pixels
    y = np.bincount(label, length * row, total + 1)[1:] / pixels
    bbox = run_boxes(label, row, first, last, total)
    flagged = np.arange(1, total + 1) > segmentation.count
    return Measurements(x, y, pixels, integrated / pixels, integrated, bbox, flagged)


def outlines(labels: np.ndarray, objects: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of object boundary pixels (where a label meets another label or 0).

    ``objects`` is ``labels > 0`` when the caller has it already.

    >>> outlines(np.array([[0, 1, 1, 1], [0, 1, 1, 2]], np.int32)).astype(int).tolist()
    [[0, 1, 0, 1], [0, 1, 1, 1]]
    """
    across = labels[:, 1:] != labels[:, :-1]  # each comparison serves both pixels
    down = labels[1:, :] != labels[:-1, :]
    edge = np.zeros(labels.shape, bool)
    edge[:, 1:] |= across
    edge[:, :-1] |= across
    edge[1:, :] |= down
    edge[:-1, :] |= down
    edge &= labels > 0 if objects is None else objects
    return edge
