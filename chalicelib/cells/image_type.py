"""Which kind of microscope image this is, with a confidence (pure NumPy/OpenCV).

The decision rests on where the background sits in the image's own intensity
range, measured per tile (so illumination gradients do not move it) on the
histogram's mode (so gamma, bit depth and exposure, which keep the order of
intensities, do not move it across the boundaries either):

- fluorescence: a dark background at the bottom of the range, bright objects;
- dark objects on a bright background (an inverted fluorescence image, or
  stained nuclei in brightfield): the background at the top of the range;
- phase contrast / brightfield: the background in the middle, objects both
  darker (bodies, rings) and brighter (halos) than it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from chalicelib.cells.objects import quantile, subsample

FLUORESCENCE = "fluorescence"
PHASE_CONTRAST = "phase-contrast"
IMAGE_TYPES = (FLUORESCENCE, PHASE_CONTRAST)

# Background position (0 = darkest, 1 = brightest) at the decision boundaries.
# Measured: fluorescence 0.01-0.24 (incl. gamma, gradients, a brightening
# background), phase contrast 0.30-0.77 (incl. gamma and inversion), inverted
# fluorescence 0.99. See docs/counting.md.
DARK_BOUNDARY = 0.28
BRIGHT_BOUNDARY = 0.90
CONFIDENCE_SPAN = 0.12  # this far from a boundary, the decision is certain
LOW_CONFIDENCE = 0.75
TILES = 3
FAINT_TILE = 0.25  # a tile whose range is under this share of the image's is faint
PREVIEW_SIDE = 512
TILE_SAMPLES = 16384  # pixels of the preview read per tile (every step-th row and column)
FAINT_SAMPLES = 65536  # pixels of the preview its intensity range is read from


@dataclass(frozen=True)
class TypeDecision:
    """What kind of image, how sure, and which way objects point.

    Attributes
    ----------
    image_type : {"fluorescence", "phase-contrast"}
    polarity : {1, -1}
        1: objects brighter than the background; -1: darker (an inverted
        fluorescence image is counted as fluorescence with polarity -1).
        Phase contrast has objects of both signs; its polarity is 1.
    confidence : float
        0.5 (on a boundary) to 1.0.
    background_position : float
        The background's place in the intensity range, 0..1.
    """

    image_type: str
    polarity: int
    confidence: float
    background_position: float

    @property
    def uncertain(self) -> bool:
        return self.confidence < LOW_CONFIDENCE


def background_position(gray: np.ndarray, tiles: int = TILES) -> float:
    """Median over tiles of the histogram mode's position in the tile's 0.5-99.5 % range.

    Read on about ``TILE_SAMPLES`` pixels per tile (every step-th pixel of the blurred
    preview, which keeps each pixel's noise as it is: a smaller preview would average
    it away and narrow the background's peak).

    A faint tile (a range under ``FAINT_TILE`` of the image's 0.5-99.9 % range)
    whose mode sits mid-range is noise alone, which says nothing of the image
    type: it is left out (unless every tile is such). A sparse fluorescence image
    is mostly such tiles, and was taken for phase contrast.

    Parameters
    ----------
    gray : (M, N) ndarray of uint8, uint16 or float

    Returns
    -------
    float
        0 for a background at the dark end, 1 at the bright end.

    Examples
    --------
    >>> dark = np.zeros((90, 90), np.uint8); dark[::9, ::9] = 200
    >>> round(background_position(cv2.GaussianBlur(dark, (5, 5), 0)), 2)
    0.01
    """
    preview = _preview(gray)
    # Every step-th pixel of the (blurred) preview: about TILE_SAMPLES per tile are
    # plenty for a 64-bin mode and the 0.5 / 99.5 % range, at a fraction of the cost.
    step = max(1, round(float(np.sqrt(preview.size / (tiles * tiles * TILE_SAMPLES)))))
    if step > 1:
        preview = np.ascontiguousarray(preview[::step, ::step])
    height, width = preview.shape
    whole = subsample(preview, FAINT_SAMPLES)  # the range a faint tile is judged against
    faint = FAINT_TILE * (quantile(whole, 0.999) - quantile(whole, 0.005))
    positions: list[float] = []
    noise: list[float] = []
    for i in range(tiles):
        for j in range(tiles):
            tile = preview[
                i * height // tiles : (i + 1) * height // tiles,
                j * width // tiles : (j + 1) * width // tiles,
            ]
            found = _mode_position(tile)
            if found is None:
                continue
            position, spread = found
            mid_range = DARK_BOUNDARY <= position <= BRIGHT_BOUNDARY
            (noise if spread < faint and mid_range else positions).append(position)
    chosen = positions or noise
    return float(np.median(chosen)) if chosen else 0.0


def classify(gray: np.ndarray) -> TypeDecision:
    """Decide fluorescence vs phase contrast/brightfield, with a confidence.

    >>> spots = np.zeros((120, 120), np.uint8)
    >>> for x in (30, 60, 90):
    ...     _ = cv2.circle(spots, (x, 60), 8, 200, -1)
    >>> decision = classify(spots)
    >>> decision.image_type, decision.polarity, decision.confidence
    ('fluorescence', 1, 1.0)
    """
    position = background_position(gray)
    if position < DARK_BOUNDARY:
        kind, polarity, margin = FLUORESCENCE, 1, DARK_BOUNDARY - position
    elif position > BRIGHT_BOUNDARY:
        kind, polarity, margin = FLUORESCENCE, -1, position - BRIGHT_BOUNDARY
    else:
        kind, polarity = PHASE_CONTRAST, 1
        margin = min(position - DARK_BOUNDARY, BRIGHT_BOUNDARY - position)
    confidence = 0.5 + 0.5 * min(1.0, margin / CONFIDENCE_SPAN)
    return TypeDecision(kind, polarity, round(confidence, 3), round(position, 3))


def forced(image_type: str, gray: np.ndarray) -> TypeDecision:
    """The decision when the user names the type: polarity still comes from the image."""
    position = background_position(gray)
    polarity = -1 if image_type == FLUORESCENCE and position > 0.5 else 1
    return TypeDecision(image_type, polarity, 1.0, round(position, 3))


def _preview(gray: np.ndarray) -> np.ndarray:
    height, width = gray.shape
    step = max(1, max(height, width) // PREVIEW_SIDE)
    if step > 1 and min(height, width) >= step:
        # Whole step x step blocks, the last rows and columns that make no whole block
        # left out (at most step - 1 of each): OpenCV's INTER_AREA then takes its fast
        # path, each block's mean (3 ms on a 3840 x 2160 photo, where the cells of 7.007
        # pixels took 20 ms; docs/counting.md, issue 12ac).
        rows, columns = height // step, width // step
        whole = gray[: rows * step, : columns * step].astype(np.float32)
        small = np.asarray(cv2.resize(whole, (columns, rows), interpolation=cv2.INTER_AREA))
        return np.asarray(cv2.GaussianBlur(small, (0, 0), 1.0))
    small = gray.astype(np.float32)
    if step > 1:
        size = (max(1, width // step), max(1, height // step))
        small = np.asarray(cv2.resize(small, size, interpolation=cv2.INTER_AREA))
    return np.asarray(cv2.GaussianBlur(small, (0, 0), 1.0))


def _mode_position(tile: np.ndarray) -> tuple[float, float] | None:
    """The mode's place in the tile's 0.5-99.5 % range, and that range."""
    if tile.size < 64:
        return None
    tile = np.ascontiguousarray(tile)  # once: the quantiles and the histogram read it flat
    lo, hi = quantile(tile, 0.005), quantile(tile, 0.995)
    if hi <= lo:
        return None
    counts = histogram(tile, 64, lo, hi)
    smooth = cv2.GaussianBlur(counts.astype(np.float32)[None, :], (0, 0), 1.5)[0]
    return (float(np.argmax(smooth)) + 0.5) / 64, hi - lo


def histogram(values: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    """Counts of ``values`` in ``bins`` equal bins from ``lo`` to ``hi`` (both included), as
    ``np.histogram(values, bins, (lo, hi))[0]`` but by ``cv2.calcHist`` (4x faster).

    OpenCV's last bin excludes its upper edge: the edge is moved up by one float32 step
    so that values equal to ``hi`` count, as in NumPy. A value within rounding of an
    inner bin edge may fall on the other side of it (the mode of every tile of the
    bench images and their transformations is unchanged: docs/counting.md).

    >>> v = np.random.default_rng(1).random((40, 25)).astype(np.float32)
    >>> expected = np.histogram(v, 64, (0.1, 0.9))[0]
    >>> bool(np.array_equal(histogram(v, 64, 0.1, 0.9), expected))
    True
    """
    top = float(np.nextafter(np.float32(hi), np.float32(np.inf)))
    image = np.ascontiguousarray(values, dtype=np.float32)
    counts = cv2.calcHist([image], [0], None, [bins], [float(lo), top])
    return np.asarray(counts.ravel().astype(np.int64))
