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
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]
SignalAt = Callable[[float, Box | None], np.ndarray]

SCALE_STEP = float(np.sqrt(2.0))  # ratio of successive sigmas
LEVELS = 5  # Gaussian levels per octave: sigma 1 to 4, interior DoG layers 1.68 and 2.38
MIN_SIGMA = 1.0  # px at the resolution searched
MIN_OCTAVE_SIDE = 12  # the pyramid stops when the image is this small
STRONG_FRACTION = 0.2  # blobs at least this fraction of the strongest ones vote
MIN_VOTES = 2  # a size voted by fewer objects is reported as in doubt
FEW_VOTES = 8  # fewer whole voting blobs: those cut by the image's edge do not vote
NOISE_SIGMAS = 8.0  # ... and this many noise sds above zero
MIN_RADIUS_PX = 2.5  # below this the search is repeated at a finer resolution
PREVIEW_PIXELS = 131_072
REFINE_TILE = 256  # side of the full-resolution tiles searched for small objects
MIN_FINE_BLOBS = 12  # that many strong blobs in the tiles make their size believable
# Previews smaller than this fraction of the image (images over ~2 MP) hide objects up
# to 10 px in radius, whose clusters look like objects: their tiles are always searched
# (on smaller images the tiles cost ~13 ms/MP and changed no bench count).
ALWAYS_FINE_SCALE = 0.25
FINE_CHECK_RADIUS = 3.0  # preview blobs (or thresholded components) smaller (px) may be clusters
HISTOGRAM_BIN = 0.1  # log2 radius
COVER = 1.25  # a blob covers this many radii: its rim and texture are not objects
MASK_MIN_RADIUS = 1.5  # px: thresholded components thinner than this are noise
MASK_MIN_OBJECTS = 3  # the footprint estimate needs this many components
TEXTURE_RATIO = 1.6  # footprint this many blob radii wide: the blobs were texture inside objects
# ... when the blobs are under FINE_CHECK_RADIUS px where searched: touching objects' gaps
# close in the footprint's threshold there, so it is of clusters; texture fits twice across.
CLUSTERED_TEXTURE_RATIO = 2.0
CLUSTER_RATIO = 1.25  # blobs this many footprints wide: the sizes disagree, no clear scale
BACKGROUND_FRACTION = 0.25  # of the image side: the opening that removes the background
SEED_AT_FOOTPRINT = 1.15  # blobs this many footprints wide: seeds at the objects' own width
PARTING_FRACTION = 0.4  # components at least this many blob radii deep count as parted objects
PARTING_STEP = 8  # levels of 255 first tried for the most parted objects (then each near the best)


def blob_scales(
    signal: np.ndarray, min_sigmas: float = 0.0
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Characteristic radius and response of every scale-space maximum.

    A difference-of-Gaussians pyramid: per octave five Gaussian levels (sigma
    1 to 4 px, step sqrt 2), then the image is halved. Maxima in space and
    scale are refined by a parabola through the neighbouring scales.

    Parameters
    ----------
    signal : (M, N) ndarray of float32
        Objects bright.
    min_sigmas : float
        Only maxima with a response above this many noise sds are returned
        (the noise of their own layer: the finest layer's, measured, scaled by
        ``white_noise_ratios``); 0 returns every positive one.

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
    level = np.asarray(signal, np.float32)  # never written to: no copy needed
    ratios = white_noise_ratios()
    octave = 0
    noise = 0.0
    while min(level.shape) >= MIN_OCTAVE_SIDE:
        ratio = ratios[min(octave, len(ratios) - 1)]
        floors = None if octave == 0 else min_sigmas * noise * ratio
        stack, blurred = _dog_stack(level)
        found = _octave(stack, floors, min_sigmas * ratio)
        if octave == 0:
            noise = found[2]
        factor = 2.0**octave
        radii.append(found[0] * factor)
        responses.append(found[1])
        points.append((found[3] + 0.5) * factor - 0.5)
        level = _halved(level, blurred)  # the octave's first level is the blur _halved needs
        octave += 1
    if not radii:
        return np.zeros(0), np.zeros(0), 0.0, np.zeros((0, 2))
    return np.concatenate(radii), np.concatenate(responses), noise, np.concatenate(points)


def _halved(level: np.ndarray, blurred: np.ndarray | None = None) -> np.ndarray:
    """The next octave: blurred by 1 px and halved by area averaging (``blurred``: the
    1 px blur of ``level`` when already made; the octave's first Gaussian level is that)."""
    if blurred is None:
        blurred = cv2.GaussianBlur(level, (0, 0), 1.0)
    return np.asarray(
        cv2.resize(
            blurred,
            (level.shape[1] // 2, level.shape[0] // 2),
            interpolation=cv2.INTER_AREA,
        )
    )


def _dog_stack(image: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The octave's four scale-normalised difference-of-Gaussians layers (sigma 1 to 4),
    and its first Gaussian level (sigma 1)."""
    sigmas = MIN_SIGMA * SCALE_STEP ** np.arange(LEVELS)
    first = blurred = cv2.GaussianBlur(image, (0, 0), float(sigmas[0]))
    stack = []
    for before, after in itertools.pairwise(sigmas):
        step = float(np.sqrt(after**2 - before**2))  # blur the blurred: small kernels
        finer = blurred
        blurred = cv2.GaussianBlur(blurred, (0, 0), step)
        layer = finer - blurred
        layer *= np.float32(1.0 / (SCALE_STEP - 1))
        stack.append(layer)
    return stack, first


# (octaves, layers) sd of each pyramid layer over that of the finest, for white noise:
# ``measure_white_noise_ratios()`` (≈ 0.1 s of CPU, once per process before this was a
# constant — a cold start's first count paid it); tests/unit/test_nuclei_pieces.py
# checks that the table is what the code measures.
WHITE_NOISE_RATIOS = np.array(
    [
        [1.0, 0.7070585226122127, 0.49977834572525504, 0.35294140143482633],
        [0.3687782891349503, 0.3008609909978625, 0.23032949357240046, 0.17004130931779157],
        [0.172943394397731, 0.1459110536269625, 0.11306873924824326, 0.08336732718642098],
        [0.08501931745887922, 0.0717451802764923, 0.056061124509260964, 0.04120429075927394],
        [0.04171238330656615, 0.034868483302811296, 0.026854140482061677, 0.019034758080726445],
    ]
)
WHITE_NOISE_RATIOS.flags.writeable = False


def white_noise_ratios() -> np.ndarray:
    """(octaves, layers) sd of each pyramid layer over that of the finest, for white noise
    (``WHITE_NOISE_RATIOS``).

    Pixel noise reaches the coarse layers much reduced (each averages many
    pixels): a blob there is significant at a far smaller response than in the
    finest layer.

    >>> ratios = white_noise_ratios()
    >>> float(ratios[0, 0]), bool(ratios[1, 0] < ratios[0, 0]), bool(ratios[0, 3] < ratios[0, 0])
    (1.0, True, True)
    """
    return WHITE_NOISE_RATIOS


def measure_white_noise_ratios() -> np.ndarray:
    """``WHITE_NOISE_RATIOS`` measured: the layers' sds on a fixed 1024 x 1024 white-noise
    image (octaves down to 64 px; deeper octaves use the last row)."""
    level = np.random.default_rng(0).normal(0.0, 1.0, (1024, 1024)).astype(np.float32)
    rows = []
    while min(level.shape) >= 64:  # enough pixels for a steady sd
        stack, _ = _dog_stack(level)
        rows.append([float(np.std(layer[4:-4, 4:-4])) for layer in stack])
        level = _halved(level)
    table = np.array(rows)
    return np.asarray(table / table[0, 0])


def _octave(
    stack: list[np.ndarray], floors: np.ndarray | None, min_sigmas: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Scale-space maxima of one octave's ``_dog_stack`` above each layer's floor (None:
    ``min_sigmas``, one per layer, times the finest layer's own noise).

    Candidates are the spatial maxima of each interior layer above its floor;
    only at those few points are the neighbouring layers compared.
    """
    sigmas = MIN_SIGMA * SCALE_STEP ** np.arange(LEVELS)
    noise = 0.0
    if floors is None:
        finest = stack[0][:: max(1, stack[0].shape[0] // 128), :: max(1, stack[0].shape[1] // 128)]
        noise = robust_sd(finest)
        floors = min_sigmas * noise
    centres = np.sqrt(sigmas[:-1] * sigmas[1:])
    kernel = np.ones((3, 3), np.uint8)
    spatial = [cv2.dilate(layer, kernel) for layer in stack]  # cheap: ~0.4 ns a pixel
    width = stack[0].shape[1]
    radii, responses, points = [], [], []
    for k in range(1, LEVELS - 2):  # interior layers only
        low = np.float32(max(0.0, float(floors[k])))
        index = np.flatnonzero((stack[k] >= spatial[k]) & (stack[k] > low))
        here = stack[k].ravel()[index]
        index = index[
            (here >= spatial[k - 1].ravel()[index]) & (here >= spatial[k + 1].ravel()[index])
        ]
        rows, cols = np.divmod(index, width)
        here = stack[k].ravel()[index]
        below, above = stack[k - 1].ravel()[index], stack[k + 1].ravel()[index]
        curvature = below - 2 * here + above
        shift = np.where(curvature < 0, 0.5 * (below - above) / np.minimum(curvature, -1e-12), 0.0)
        shift = np.clip(shift, -0.5, 0.5)
        radii.append(centres[k] * SCALE_STEP**shift * np.sqrt(2.0))
        responses.append(here)
        points.append(np.stack([cols, rows], axis=1).astype(np.float64))
    return np.concatenate(radii), np.concatenate(responses), noise, np.concatenate(points)


def robust_sd(values: np.ndarray) -> float:
    """1.4826 times the median absolute deviation from the median (partitions, no sort).

    >>> round(robust_sd(np.array([0.0, 1.0, 2.0, 3.0, 100.0])), 3)
    1.483
    """
    flat = values.ravel()
    middle = flat.size // 2
    centre = np.partition(flat, middle)[middle]
    return 1.4826 * float(np.partition(np.abs(flat - centre), middle)[middle])


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
    order = np.argsort(-responses, kind="stable")
    # Centres (rounded half to even, as round() does), radii and disc sizes as Python
    # numbers at once: the loop does no per-blob NumPy arithmetic.
    xs = np.clip(np.round(points[order, 0]), 0, width - 1).astype(np.int64).tolist()
    ys = np.clip(np.round(points[order, 1]), 0, height - 1).astype(np.int64).tolist()
    sizes = radii[order]
    discs = np.maximum(1, (COVER * sizes).astype(np.int64)).tolist()
    for i, x, y, size, disc in zip(order.tolist(), xs, ys, sizes.tolist(), discs, strict=True):
        if covered[y, x] > size:
            continue
        keep[i] = True
        cv2.circle(covered, (x, y), disc, size, -1)
    return keep


def cut_by_edge(radii: np.ndarray, points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Which blobs are centred nearer the image's edge than their own radius.

    >>> cut_by_edge(np.array([5.0, 5.0]), np.array([[2.0, 50.0], [50.0, 50.0]]), (100, 100))
    array([ True, False])
    """
    height, width = shape[:2]
    x, y = points[:, 0], points[:, 1]
    nearest = np.minimum(np.minimum(x, width - 1 - x), np.minimum(y, height - 1 - y))
    return np.asarray(nearest < radii)


def typical_radius(signal: np.ndarray) -> tuple[float, int] | None:
    """The most common radius (px) among the strong blobs of ``signal``, and their number.

    The mode of the histogram of log radii of the blobs well above the pixel
    noise that are not texture inside a larger, stronger blob: many nuclei
    outvote a few large bright structures (a fibre, a clump). With fewer than
    ``FEW_VOTES`` strong whole blobs (not cut by the image's edge), those cut by the
    edge do not vote (when a whole one is strong enough) and their mode must hold a
    majority of them (``voted_size``): many cut blobs do not make a few whole ones
    many.
    The number returned then counts whole blobs only: 0 when every strong blob is
    cut by the edge. Returns ``None`` when there is no blob at all (a blank image).

    >>> img = np.zeros((128, 128), np.float32)
    >>> for x in (30, 64, 98):
    ...     _ = cv2.circle(img, (x, 64), 10, 1.0, -1)
    >>> 8.5 < typical_radius(img)[0] < 12.0
    True
    """
    radii, responses, _noise, points = blob_scales(signal, NOISE_SIGMAS)
    if radii.size == 0:
        return None
    strong, top = _strong(radii, responses, points, signal.shape)
    if not strong.any():
        return None
    whole = ~cut_by_edge(radii, points, signal.shape)
    if int((strong & whole).sum()) >= FEW_VOTES:
        return voted_size(np.log2(radii[strong])), int(strong.sum())
    # Few whole objects voted: a blob centred within its own radius of the edge (an
    # object cut by it, seen with its mirror image, as the blur reflects at the border:
    # a sliver or a group and its twin, of any size) can decide the vote, and, painted
    # first, hide the nuclei of a group cut by the edge. Counted among the voters, cut
    # blobs can also make a few whole ones look many (four slivers of one size hold
    # the mode of nine votes against five whole nuclei of spread sizes).
    # Only whole blobs vote then, as strong as the strongest of all (a weak whole
    # blob, noise beside a cut nucleus, is no vote).
    if whole.any() and not whole.all():
        inner, _ = _strong(radii[whole], responses[whole], points[whole], signal.shape, top)
        if inner.any():
            return voted_size(np.log2(radii[whole][inner])), int(inner.sum())
    cut = int((strong & ~whole).sum())
    return voted_size(np.log2(radii[strong])), int(strong.sum()) - cut


def _strong(
    radii: np.ndarray,
    responses: np.ndarray,
    points: np.ndarray,
    shape: tuple[int, ...],
    top: float | None = None,
) -> tuple[np.ndarray, float]:
    """Which blobs vote: not inside a larger, stronger one and at least
    ``STRONG_FRACTION`` of ``top``; and ``top`` (default: the 90th percentile of
    those blobs' responses)."""
    significant = outermost(radii, responses, points, shape)
    if top is None:
        top = float(np.percentile(responses[significant], 90))
    return significant & (responses >= STRONG_FRACTION * top), top


def voted_size(logs: np.ndarray) -> float:
    """The radius the votes (log2 radii) decide: the mode of their histogram, or, when
    they are fewer than ``FEW_VOTES`` and at most half of them are near that mode,
    their median.

    A histogram's mode needs many votes: among a few it is wherever two of them happen
    to fall close (two slivers of nuclei cut by the edge beside three nuclei of other
    sizes), and of two votes it takes the smaller. A mode that holds a majority of a few
    votes is kept; otherwise the median, which moves only as far as the middle vote.

    >>> round(voted_size(np.log2([3.0, 7.0, 7.5, 12.0, 28.0])), 1)
    7.5
    >>> round(voted_size(np.log2([4.0, 16.0])), 1)
    8.0
    >>> round(voted_size(np.log2([9.7, 10.5, 13.0])), 1)
    10.1
    """
    bins = np.arange(-1.0, 9.0, HISTOGRAM_BIN)
    counts, _ = np.histogram(logs, bins)
    smooth = cv2.GaussianBlur(counts.astype(np.float32)[None, :], (0, 0), 1.5)[0]
    peak = int(np.argmax(smooth))
    near = np.abs(logs - (bins[peak] + HISTOGRAM_BIN / 2)) <= 2 * HISTOGRAM_BIN
    if logs.size < FEW_VOTES and 2 * int(near.sum()) <= logs.size:
        return float(2.0 ** float(np.median(logs)))
    centre = float(np.median(logs[near])) if near.any() else bins[peak] + HISTOGRAM_BIN / 2
    return float(2.0**centre)


def footprint_radius(
    signal: np.ndarray, levels: np.ndarray | None = None
) -> tuple[float, int] | None:
    """Median inscribed radius (px) of the thresholded objects of ``signal``, and their number.

    The background (an opening a quarter of the image wide) is removed, the
    rest thresholded by Otsu's method and holes filled; each connected
    component's largest distance to the background is the radius of the
    largest disc that fits inside it. Texture inside an object (a coin's
    relief, a nucleus's chromatin) does not change its footprint, and
    touching round objects keep their own inscribed radius, so this is a
    check on the blob search at any object size. ``None`` with fewer than
    ``MASK_MIN_OBJECTS`` components. ``levels``: ``lifted_levels(signal)`` when made.

    >>> img = np.zeros((200, 200), np.float32)
    >>> for x in (40, 100, 160):
    ...     _ = cv2.circle(img, (x, 100), 20, 1.0, -1)
    ...     _ = cv2.circle(img, (x, 100), 4, 0.3, -1)  # texture
    >>> 18 < footprint_radius(img)[0] < 22
    True
    """
    u8 = lifted_levels(signal) if levels is None else levels
    if u8 is None:
        return None
    _, mask = cv2.threshold(u8, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    radii = inscribed_radii(mask, MASK_MIN_RADIUS)
    if radii.size < MASK_MIN_OBJECTS:
        return None
    return float(np.median(radii)), int(radii.size)


def lifted_levels(signal: np.ndarray) -> np.ndarray | None:
    """``signal`` above its background (an opening a quarter of the image wide), blurred
    by 1 px and scaled to 0..255 (uint8); ``None`` when nothing is above it."""
    height, width = signal.shape
    step = max(1, max(height, width) // 128)
    small = cv2.resize(
        signal, (max(1, width // step), max(1, height // step)), interpolation=cv2.INTER_AREA
    )
    k = max(3, int(BACKGROUND_FRACTION * min(small.shape)) | 1)
    base = cv2.morphologyEx(small, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))  # separable: fast
    base = cv2.resize(broad_blur(base, k / 2), (width, height))
    lifted = np.maximum(cv2.GaussianBlur(signal - base, (0, 0), 1.0), 0)
    top = float(lifted.max())
    if top <= 0:
        return None
    return np.asarray(cv2.convertScaleAbs(lifted, alpha=255.0 / top))


def inscribed_radii(mask: np.ndarray, least: float) -> np.ndarray:
    """Inscribed radius (px) of each connected component of ``mask`` (uint8 0/1, holes
    filled in place), those at least ``least``.

    >>> mask = np.zeros((40, 60), np.uint8)
    >>> _ = cv2.circle(mask, (15, 20), 8, 1, -1); _ = cv2.circle(mask, (45, 20), 2, 1, -1)
    >>> [round(float(r)) for r in inscribed_radii(mask, 1.5)]
    [8, 2]
    """
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    cv2.floodFill(padded, None, (0, 0), 2)
    mask[padded[1:-1, 1:-1] == 0] = 1  # holes
    distance = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    count, labels = cv2.connectedComponents(mask, connectivity=8)
    if count <= 1:
        return np.zeros(0, np.float32)
    # A component's deepest point is a 3x3 maximum of the distance (components
    # never touch, not even diagonally): only those few pixels are compared.
    peaks = np.flatnonzero(
        (distance >= cv2.dilate(distance, np.ones((3, 3), np.uint8))) & (distance >= least)
    )
    inscribed = np.zeros(count, np.float32)
    which = np.asarray(labels).ravel()[peaks].astype(np.int64)
    np.maximum.at(inscribed, which, distance.ravel()[peaks])
    return inscribed[1:][inscribed[1:] >= least]


def parting_radius(
    signal: np.ndarray, width: float, levels: np.ndarray | None = None
) -> float | None:
    """Median inscribed radius (px) of the objects of ``signal`` at the level that parts
    the most of them: the threshold giving the most connected components at least
    ``PARTING_FRACTION`` blob radii (``width``, px of ``signal``) deep (the widest level
    within one of that number), among the levels above the median pixel.

    Which level that is depends only on the shapes of the level sets (which pixels are
    above which): a monotone change of intensity (gamma) relabels the levels but keeps
    the sets, so the level chosen, and the radius, stay the same. Otsu's threshold
    (``footprint_radius``) is a level of intensity: gamma 0.5 lowers it (in the original's
    terms) and widens the objects, gamma 2 raises it above the dimmer objects. ``None``
    with fewer than ``MASK_MIN_OBJECTS`` components at every level. ``levels``:
    ``lifted_levels(signal)`` when made.

    >>> img = np.zeros((100, 200), np.float32)
    >>> for x in (30, 70, 110, 150):  # four touching pairs
    ...     _ = cv2.circle(img, (x - 7, 50), 6, 1.0, -1)
    ...     _ = cv2.circle(img, (x + 7, 50), 6, 1.0, -1)
    >>> img = cv2.GaussianBlur(img, (0, 0), 1.5)
    >>> [round(parting_radius(img**power, 8.0), 1) for power in (0.5, 1.0, 2.0)]
    [5.8, 5.8, 6.0]
    >>> [round(footprint_radius(img**power)[0], 1) for power in (0.5, 1.0, 2.0)]
    [7.6, 6.6, 5.6]
    """
    u8 = lifted_levels(signal) if levels is None else levels
    if u8 is None:
        return None
    least = max(MASK_MIN_RADIUS, PARTING_FRACTION * width)
    # Objects at least 2 * MASK_MIN_RADIUS deep are counted at half the resolution (a
    # quarter of the pixels); the width is measured at full resolution.
    half = least >= 2 * MASK_MIN_RADIUS and min(u8.shape) >= 2 * MIN_OCTAVE_SIDE
    levels = _halved(u8, u8) if half else u8
    depth = least / 2 if half else least
    reach = int(np.ceil(depth))
    offsets = np.arange(-reach, reach + 1) ** 2
    # Pixels at least ``depth`` from the background: those whose disc of that radius is
    # inside (an erosion; cheaper than a distance transform at every level).
    deep = ((offsets[:, None] + offsets[None, :]) < depth**2).astype(np.uint8)
    found: dict[int, int] = {}

    def parted(level: int) -> int:
        if level not in found:
            _, mask = cv2.threshold(levels, level, 1, cv2.THRESH_BINARY)
            count, labels = cv2.connectedComponents(mask, connectivity=8)
            inside = np.asarray(labels)[cv2.erode(mask, deep) > 0]
            found[level] = int(np.count_nonzero(np.bincount(inside, minlength=count)[1:]))
        return found[level]

    # Levels above the median pixel (a rank: the same pixels whatever the gamma) — below
    # it the background's own relief (a gradient's residue) falls apart into pieces.
    # Every PARTING_STEP-th level, then each level below the one chosen: ~20 thresholds,
    # not 254. One object more or less is what a speck or a nucleus's tail does at any
    # level: the widest level within one of the most objects is taken.
    below = np.cumsum(np.bincount(u8.ravel(), minlength=256))
    first = int(np.searchsorted(below, (u8.size + 1) // 2)) + 1  # the median, + 1
    coarse = []
    most = 0
    for level in range(first, 255, PARTING_STEP):
        # Up to the level where half the most objects have sunk below it: the objects
        # only vanish above it, as the brightest remain (a quarter of the levels on DSB).
        coarse.append(level)
        most = max(most, parted(level))
        if 2 * parted(level) < most:
            break
    if most < MASK_MIN_OBJECTS:
        return None
    chosen = next(level for level in coarse if parted(level) >= most - 1)
    level = next(
        level
        for level in range(max(first, chosen - PARTING_STEP + 1), chosen + 1)
        if parted(level) >= most - 1
    )
    radii = inscribed_radii((u8 > level).astype(np.uint8), least)
    count, radius = radii.size, float(np.median(radii)) if radii.size else 0.0
    return radius if count >= MASK_MIN_OBJECTS else None


def broad_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a smooth image by a large ``sigma``, computed on a 4x smaller copy.

    >>> flat = np.full((64, 64), 2.0, np.float32)
    >>> float(broad_blur(flat, 8.0).mean())
    2.0
    """
    height, width = image.shape
    if sigma < 8 or min(height, width) < 16:
        return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma))
    small = cv2.resize(image, (width // 4, height // 4), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), np.sqrt(max(sigma**2 / 16 - 0.25, 0.25)))
    return np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR))


@dataclass(frozen=True)
class Scale:
    """The object size decided, and how sure it is.

    ``radius`` in original pixels; ``blob`` and ``footprint`` the two estimates
    (original pixels, ``None`` when unavailable); ``ambiguous`` says why the
    size is in doubt (``None`` when both agree or the footprint is unavailable);
    ``seed`` the size seeds are placed at when the blobs are ``SEED_AT_FOOTPRINT``
    times wider than the footprint (elongated or overlapping objects): the thinner of
    the footprint and ``parting_radius``; else ``None``.
    """

    radius: float
    blob: float | None
    footprint: float | None
    ambiguous: str | None = None
    seed: float | None = None


def estimate_scale(signal_at: SignalAt, shape: tuple[int, int]) -> Scale | None:
    """Typical object radius: the blob search, checked against the objects' footprint.

    The blob search (``estimate_radius``) sees the strongest scale; inside
    large textured objects that is their texture. The footprint
    (``footprint_radius``, on the preview) sees whole objects. When the
    footprint is ``TEXTURE_RATIO`` times wider (twice, when the blobs are barely
    resolved: :func:`blobs_are_texture`) the blobs were texture and the
    footprint is used; when the blobs are ``CLUSTER_RATIO`` times wider than
    the footprint, the two disagree and the size is reported as ambiguous.
    """
    height, width = shape
    preview = min(1.0, float(np.sqrt(PREVIEW_PIXELS / max(1, height * width))))
    small = signal_at(preview, None)
    voted = estimate_radius(signal_at, shape, small)
    blob, votes = (None, 0) if voted is None else voted
    levels = lifted_levels(small)
    found = footprint_radius(small, levels)
    # Only where the objects are resolved on the preview (a few px): smaller
    # objects merge into clusters there.
    footprint = found[0] / preview if found is not None and found[0] >= 2.0 else None
    if (
        blob is not None
        and footprint is not None
        and blob * preview < 2.0
        and footprint * preview < FINE_CHECK_RADIUS
    ):
        # Objects under 2 preview px (their size from the full-resolution tiles) are not
        # resolved there: thresholded components under FINE_CHECK_RADIUS preview px are
        # as likely their clusters (as for the blobs) and say nothing of their size.
        footprint = None
    if blob is None:
        return None if footprint is None else Scale(footprint, None, footprint)
    few = None
    if votes == 0:
        # Only objects cut by the edge voted: slivers and groups with their mirror images.
        few = (
            f"object size judged from objects cut by the image's edge only ({2 * blob:.0f} px): "
            "set the diameter"
        )
    elif votes < MIN_VOTES:
        # One object (a nucleus, a clump, a speck, a fibre) cannot say what is typical.
        few = f"object size judged from {votes} object only ({2 * blob:.0f} px): set the diameter"
    if footprint is None:
        return Scale(blob, blob, None, few)
    if blobs_are_texture(blob * preview, footprint * preview):
        return Scale(footprint, blob, footprint)
    seed = None
    if blob > SEED_AT_FOOTPRINT * footprint:
        # Blobs wider than the thresholded objects' inscribed radius: elongated or
        # overlapping objects, seeded at their own width. Otsu's footprint follows gamma
        # (DSB 9.3 px; 10.7 at gamma 0.5, 5.7 at 2.0); the width where the most objects
        # part does not (DSB 9.9 px at gamma 1 and 0.5), but where objects never part
        # (no valley between them, or a few isolated ones) it is the groups' width. The
        # thinner of the two: each errs only wide (gamma > 1 still thins Otsu's).
        parting = parting_radius(small, blob * preview, levels)
        seed = footprint if parting is None else min(footprint, parting / preview)
    if blob > CLUSTER_RATIO * footprint:
        note = (
            f"object size ambiguous: blobs {2 * blob:.0f} px, thresholded objects "
            f"{2 * footprint:.0f} px across; set the diameter"
        )
        return Scale(blob, blob, footprint, note, seed)
    return Scale(blob, blob, footprint, few, seed)


def blobs_are_texture(blob: float, footprint: float) -> bool:
    """Whether blobs of radius ``blob`` are texture inside thresholded objects whose
    inscribed radius is ``footprint`` (both px of the image searched).

    Texture (a coin's relief) is far finer than its objects: ``TEXTURE_RATIO``. Objects
    under ``FINE_CHECK_RADIUS`` px have gaps of a pixel or less between the touching ones,
    which the footprint's threshold closes: its components are clusters of them, up to
    1.7 times as wide (the tune regions at 0.35x, a held-out region at 0.5x), so there
    texture must fit twice across (``CLUSTERED_TEXTURE_RATIO``).

    >>> blobs_are_texture(5.0, 8.5), blobs_are_texture(2.6, 4.3), blobs_are_texture(2.2, 20.0)
    (True, False, True)
    """
    resolved = blob >= FINE_CHECK_RADIUS
    return footprint > (TEXTURE_RATIO if resolved else CLUSTERED_TEXTURE_RATIO) * blob


def estimate_radius(
    signal_at: SignalAt, shape: tuple[int, int], preview: np.ndarray | None = None
) -> tuple[float, int] | None:
    """Typical object radius in original pixels, searched coarse to fine (blobs only),
    and the number of blobs that voted for it.

    The whole image is searched on a preview of about ``PREVIEW_PIXELS``; objects
    too small for the preview may hide behind what it finds (their clusters), so
    a few full-resolution tiles are searched too when its blobs are under
    ``FINE_CHECK_RADIUS`` preview px, and always when the preview is under
    ``ALWAYS_FINE_SCALE`` of the image. The tiles' size is taken when they hold
    ``MIN_FINE_BLOBS`` strong blobs under ``MIN_RADIUS_PX`` preview px across (or
    the preview found none).

    Parameters
    ----------
    signal_at : callable(scale, box) -> (m, n) ndarray of float32
        The object signal of the image resized by ``scale`` (≤ 1), restricted to
        ``box = (x, y, width, height)`` in original pixels, or the whole image
        when ``box`` is None.
    shape : (M, N)
        The original image's size.
    preview : (m, n) ndarray of float32, optional
        ``signal_at(scale, None)`` at the preview's scale, when already made.
    """
    height, width = shape
    scale = min(1.0, float(np.sqrt(PREVIEW_PIXELS / max(1, height * width))))
    coarse = typical_radius(signal_at(scale, None) if preview is None else preview)
    if scale >= 1.0:
        return coarse
    if coarse is not None and coarse[0] >= FINE_CHECK_RADIUS and scale >= ALWAYS_FINE_SCALE:
        return coarse[0] / scale, coarse[1]
    # Objects too small for the preview are invisible there, and it may see their
    # clusters instead, as blobs under FINE_CHECK_RADIUS or, on a coarse preview, of
    # any size (a 4096² field of 10 px nuclei: 4 preview px blobs, 47 px): look at a
    # few tiles at full resolution too. Their size is taken only when the preview
    # cannot resolve it.
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
        return small, blobs
    return None if coarse is None else (coarse[0] / scale, coarse[1])
