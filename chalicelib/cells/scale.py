"""Object size from the image itself: a scale-space (difference of Gaussians) blob search.

A bright disc of radius ``r`` gives its strongest scale-normalised Laplacian
response at ``sigma = r / sqrt(2)``, whatever its brightness and whether or
not it touches its neighbours. The typical radius is the response-weighted
median of the characteristic scales of the strongest blobs. Touching objects,
crops and crowded fields keep their own blobs (unlike the area of a global
threshold's components, which grows when objects merge), and gamma changes
only the blobs' profiles, not their extent, so the estimate moves little.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import cv2
import numpy as np

Box = tuple[int, int, int, int]
SignalAt = Callable[[float, Box | None], np.ndarray]

SCALE_STEP = float(np.sqrt(2.0))  # ratio of successive sigmas
LEVELS = 5  # Gaussian levels per octave: sigma 1 to 4, interior DoG layers 1.68 and 2.38
MIN_SIGMA = 1.0  # px at the resolution searched
MIN_OCTAVE_SIDE = 12  # the pyramid stops when the image is this small
STRONG_FRACTION = 0.2  # blobs at least this fraction of the strongest ones vote
NOISE_SIGMAS = 8.0  # ... and this many noise sds above zero
MIN_RADIUS_PX = 2.5  # below this the search is repeated at a finer resolution
PREVIEW_PIXELS = 131_072
REFINE_TILE = 256  # side of the full-resolution tiles searched for small objects
MIN_FINE_BLOBS = 12  # that many strong blobs in the tiles make their size believable
HISTOGRAM_BIN = 0.1  # log2 radius
COVER = 1.25  # a blob covers this many radii: its rim and texture are not objects


def blob_scales(signal: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Characteristic radius and response of every scale-space maximum.

    A difference-of-Gaussians pyramid: per octave five Gaussian levels (sigma
    1 to 4 px, step sqrt 2), then the image is halved. Maxima in space and
    scale are refined by a parabola through the neighbouring scales.

    Parameters
    ----------
    signal : (M, N) ndarray of float32
        Objects bright.

    Returns
    -------
    radii, responses : (K,) ndarrays of float
        Radius (sqrt(2) sigma, px of ``signal``) and scale-normalised response of
        each maximum with a positive response.
    noise : float
        Robust sd of the finest difference-of-Gaussians layer (pixel noise).
    points : (K, 2) ndarray of float
        x, y of each maximum in ``signal``'s pixels.
    """
    radii: list[np.ndarray] = []
    responses: list[np.ndarray] = []
    points: list[np.ndarray] = []
    level = signal.astype(np.float32)
    factor = 1.0
    noise = 0.0
    while min(level.shape) >= MIN_OCTAVE_SIDE:
        found = _octave(level)
        if factor == 1.0:
            noise = found[2]
        radii.append(found[0] * factor)
        responses.append(found[1])
        points.append((found[3] + 0.5) * factor - 0.5)
        level = np.asarray(
            cv2.resize(
                cv2.GaussianBlur(level, (0, 0), 1.0),
                (level.shape[1] // 2, level.shape[0] // 2),
                interpolation=cv2.INTER_AREA,
            )
        )
        factor *= 2.0
    if not radii:
        return np.zeros(0), np.zeros(0), 0.0, np.zeros((0, 2))
    return np.concatenate(radii), np.concatenate(responses), noise, np.concatenate(points)


def _octave(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    sigmas = MIN_SIGMA * SCALE_STEP ** np.arange(LEVELS)
    blurred = [cv2.GaussianBlur(image, (0, 0), float(sigmas[0]))]
    for before, after in itertools.pairwise(sigmas):
        step = float(np.sqrt(after**2 - before**2))  # blur the blurred: small kernels
        blurred.append(cv2.GaussianBlur(blurred[-1], (0, 0), step))
    stack = np.stack([(blurred[i] - blurred[i + 1]) / (SCALE_STEP - 1) for i in range(LEVELS - 1)])
    centres = np.sqrt(sigmas[:-1] * sigmas[1:])
    kernel = np.ones((3, 3), np.uint8)
    spatial = np.stack([cv2.dilate(layer, kernel) for layer in stack])
    radii, responses, points = [], [], []
    for k in range(1, LEVELS - 2):  # interior layers only
        peak = (
            (stack[k] >= spatial[k])
            & (stack[k] >= spatial[k - 1])
            & (stack[k] >= spatial[k + 1])
            & (stack[k] > 0)
        )
        rows, cols = np.nonzero(peak)
        below, here, above = (
            stack[k - 1][rows, cols],
            stack[k][rows, cols],
            stack[k + 1][rows, cols],
        )
        curvature = below - 2 * here + above
        shift = np.where(curvature < 0, 0.5 * (below - above) / np.minimum(curvature, -1e-12), 0.0)
        shift = np.clip(shift, -0.5, 0.5)
        radii.append(centres[k] * SCALE_STEP**shift * np.sqrt(2.0))
        responses.append(here)
        points.append(np.stack([cols, rows], axis=1).astype(np.float64))
    finest = stack[0][:: max(1, stack.shape[1] // 128), :: max(1, stack.shape[2] // 128)]
    noise = 1.4826 * float(np.median(np.abs(finest - np.median(finest))))
    return np.concatenate(radii), np.concatenate(responses), noise, np.concatenate(points)


def outermost(
    radii: np.ndarray, responses: np.ndarray, points: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """Which blobs are not inside a stronger, larger blob (texture within an object).

    Blobs are taken strongest first; each accepted one paints its disc with its
    radius, and a later (weaker) blob whose centre lies in a larger accepted
    blob's disc is texture of that object, not an object.
    """
    covered = np.zeros(shape[:2], np.float32)
    keep = np.zeros(radii.size, bool)
    height, width = covered.shape
    for i in np.argsort(-responses, kind="stable"):
        x = min(max(round(float(points[i, 0])), 0), width - 1)
        y = min(max(round(float(points[i, 1])), 0), height - 1)
        if covered[y, x] > radii[i]:
            continue
        keep[i] = True
        cv2.circle(covered, (x, y), max(1, int(COVER * radii[i])), float(radii[i]), -1)
    return keep


def typical_radius(signal: np.ndarray) -> tuple[float, int] | None:
    """The most common radius (px) among the strong blobs of ``signal``, and their number.

    The mode of the histogram of log radii of the blobs well above the pixel
    noise that are not texture inside a larger, stronger blob: many nuclei
    outvote a few large bright structures (a fibre, a clump).
    Returns ``None`` when there is no blob at all (a blank image).

    >>> img = np.zeros((128, 128), np.float32)
    >>> for x in (30, 64, 98):
    ...     _ = cv2.circle(img, (x, 64), 10, 1.0, -1)
    >>> 8.5 < typical_radius(img)[0] < 12.0
    True
    """
    radii, responses, noise, points = blob_scales(signal)
    if radii.size == 0:
        return None
    significant = responses > NOISE_SIGMAS * noise
    if not significant.any():
        return None
    radii, responses, points = radii[significant], responses[significant], points[significant]
    significant = outermost(radii, responses, points, signal.shape)
    top = float(np.percentile(responses[significant], 90))
    strong = significant & (responses >= STRONG_FRACTION * top)
    if not strong.any():
        return None
    logs = np.log2(radii[strong])
    bins = np.arange(-1.0, 9.0, HISTOGRAM_BIN)
    counts, _ = np.histogram(logs, bins)
    smooth = cv2.GaussianBlur(counts.astype(np.float32)[None, :], (0, 0), 1.5)[0]
    peak = int(np.argmax(smooth))
    near = np.abs(logs - (bins[peak] + HISTOGRAM_BIN / 2)) <= 2 * HISTOGRAM_BIN
    centre = float(np.median(logs[near])) if near.any() else bins[peak] + HISTOGRAM_BIN / 2
    return float(2.0**centre), int(strong.sum())


def estimate_radius(signal_at: SignalAt, shape: tuple[int, int]) -> float | None:
    """Typical object radius in original pixels, searched coarse to fine.

    Parameters
    ----------
    signal_at : callable(scale, box) -> (m, n) ndarray of float32
        The object signal of the image resized by ``scale`` (≤ 1), restricted to
        ``box = (x, y, width, height)`` in original pixels, or the whole image
        when ``box`` is None.
    shape : (M, N)
        The original image's size.
    """
    height, width = shape
    scale = min(1.0, float(np.sqrt(PREVIEW_PIXELS / max(1, height * width))))
    coarse = typical_radius(signal_at(scale, None))
    if scale >= 1.0:
        return None if coarse is None else coarse[0]
    # Objects too small for the preview are invisible there (it may see their
    # clusters instead): look at a few tiles at full resolution too.
    side = min(REFINE_TILE, height, width)
    fine: list[float] = []
    blobs = 0
    for fx, fy in ((0.5, 0.5), (0.25, 0.25), (0.75, 0.75)):
        x = int(min(max(0.0, fx * width - side / 2), width - side))
        y = int(min(max(0.0, fy * height - side / 2), height - side))
        found = typical_radius(signal_at(1.0, (x, y, side, side)))
        if found is not None:
            fine.append(found[0])
            blobs += found[1]
    small = float(np.median(fine)) if fine else None
    if (
        small is not None
        and blobs >= MIN_FINE_BLOBS
        and (coarse is None or small * scale < MIN_RADIUS_PX)
    ):
        return small
    return None if coarse is None else coarse[0] / scale
