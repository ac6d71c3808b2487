"""Objects that are two overlapping nuclei: split at a neck (pure NumPy/OpenCV).

A nucleus is convex, or nearly: its outline has no narrow neck. Two nuclei that
overlap or touch with no valley of intensity between them (one seed, or pieces
joined for want of a valley) make one peanut-shaped object whose narrowest
point is well under the thickness of either part. On the full-resolution
outline of each object larger than a typical one, the distance to the
background (the local half-thickness) has a maximum in each part; where the
thickness on the way from one maximum to another falls under ``NECK`` of the
thinner part's, the object is cut there, each part keeping the pixels nearest
to its core.

``NECK`` was read off the tune images (generated sets, the DSB image, the tune
crops; docs/counting.md): among objects over 1.2 typical areas, 8 of 849 single
nuclei have a neck ratio under 0.9, while about half of the 79 objects holding
two nuclei are under 0.85.

Touching nuclei blurred together often show no neck on the object's outline (the
blur fills it) but do inside: the brighter parts of the object — the pixels above
``INNER_LEVELS`` of the way from its dimmest to its brightest (smoothed) value —
take the shape of the two nuclei's cores, joined at a neck, or the bright nucleus
with the dim one as a lobe. An object left whole at its outline, whose outline
has two parts at least ``MIN_THICKNESS`` thick, is cut at the first such level
where a neck under ``INNER_NECK`` joins two parts at least ``INNER_THICKNESS``
typical radii thick; each part then grows back over the rest of the object, and
both must still be ``MIN_PART`` typical areas. Chosen on the tune images (issue
12o, docs/counting.md): of 12 objects it cuts there, 9 hold two annotated nuclei.
"""

from __future__ import annotations

import cv2
import numpy as np

from chalicelib.cells.objects import label_areas, label_boxes

NECK = 0.85  # a neck thinner than this fraction of the thinner part's thickness splits
SPLIT_FROM = 1.2  # only objects this many typical (median) areas large are examined
MIN_PART = 0.35  # each part at least this fraction of a typical object's area ...
MIN_THICKNESS = 0.6  # ... and this fraction of a typical object's radius thick
CLIPPED_SHARE = 0.2  # objects with more of their pixels at the clipping level are left whole
CLIPPING_LEVELS = frozenset(2**bits - 1 for bits in (8, 10, 12, 14, 16))
BISECTIONS = 8
INNER_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5)  # shares of the object's range, dimmest to brightest
INNER_NECK = 0.75  # a neck this thin inside the object splits it
INNER_THICKNESS = 0.4  # ... between parts this many typical radii thick at that level
INNER_SIGMA = 0.2  # smoothing before the levels, in typical nucleus radii
OBJECT_TO_NUCLEUS = 0.85  # a trimmed object's radius over its nucleus's (blob) radius


def split_necks(
    labels: np.ndarray,
    count: int,
    gray: np.ndarray,
    coarse: np.ndarray | None = None,
    polarity: int = 1,
    areas: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Split counted objects (labels 1..count) made of nuclei joined at a neck.

    Parameters
    ----------
    labels : (M, N) ndarray of int32
        0 background, 1..count counted objects, count+1.. flagged ones.
    count : int
    gray : (M, N) ndarray of uint8 or uint16
        The image: objects mostly at its clipping level (saturated) are left
        whole (the clip level's outline is not the nuclei's).
    coarse : (m, n) ndarray of int32, optional
        The same objects at a smaller working resolution (``labels`` being
        their nearest-neighbour enlargement, rims refined): which objects are
        large, the typical one and where they lie are found there, at a
        fraction of the cost.
    polarity : int
        1 when the nuclei are brighter than the background, -1 when darker
        (an inverted image): the inner levels are taken on ``polarity * gray``.
    areas : (K,) ndarray of int64, optional
        Pixels of each label 0..count (or more) of ``coarse`` (of ``labels`` without
        it), when already known.

    Returns
    -------
    labels, count
        New parts are numbered after the counted objects; flagged objects move
        up by as many (``labels`` is changed in place when anything is split).
        Fewer than 3 objects: unchanged (no typical size).

    Examples
    --------
    >>> img = np.zeros((60, 200), np.uint8)
    >>> for x in (20, 60, 100):
    ...     _ = cv2.circle(img, (x, 30), 12, 1, -1)
    >>> _ = cv2.circle(img, (140, 30), 12, 1, -1); _ = cv2.circle(img, (160, 30), 12, 1, -1)
    >>> labels = cv2.connectedComponents(img)[1]
    >>> split_necks(labels, 4, img * 100)[1]
    5
    """
    if count < 3:
        return labels, count
    sizes = labels if coarse is None else coarse
    factor = labels.size / sizes.size  # full-resolution pixels per pixel of ``sizes``
    area = (label_areas(sizes, count) if areas is None else areas[: count + 1]) * factor
    typical = float(np.median(area[1:]))
    big = np.flatnonzero(area > SPLIT_FROM * typical)
    big = big[big > 0]
    if big.size == 0:
        return labels, count
    top = _clipping_level(gray)
    radius = float(np.sqrt(typical / np.pi))
    thickness = MIN_THICKNESS * radius
    parts = []
    boxes = (
        label_boxes(labels, big)
        if coarse is None
        else _enlarged(label_boxes(coarse, big), coarse, labels)
    )
    masks = [
        labels[y0:y1, x0:x1] == label
        for label, (y0, x0, y1, x1) in zip(big.tolist(), boxes, strict=True)
    ]
    # Only an object whose outline has two thick maxima or more can be cut (at its outline
    # or inside): those are found for all at once, on one canvas (``_packed``).
    canvas, places = _packed(masks)
    distances = cv2.distanceTransform(canvas, cv2.DIST_L2, 5)
    for k in np.flatnonzero(_maxima_per_mask(distances, thickness, places, masks) >= 2).tolist():
        (y0, x0, y1, x1), mask = boxes[k], masks[k]
        saturated = 0 if top is None else np.count_nonzero((gray[y0:y1, x0:x1] == top) & mask)
        if saturated > CLIPPED_SHARE * np.count_nonzero(mask):
            continue
        row, column = places[k]
        inside = np.s_[row : row + y1 - y0 + 2, column : column + x1 - x0 + 2]
        padded, distance = canvas[inside], distances[inside]
        maxima = _thick_maxima(distance, thickness)
        split = _split(padded[1:-1, 1:-1], MIN_PART * typical, thickness, NECK, distance, maxima)
        if split is None and maxima[1] - 1 >= 2:
            # Two thick parts but no neck on the outline: look for one inside.
            split = _split_inside(mask, gray[y0:y1, x0:x1], polarity, typical, radius)
        if split is not None:
            parts.append((y0, x0, split))
    if not parts:
        return labels, count
    return _renumbered(labels, count, parts)


PACK_WIDTH = 2048  # px: the least width of the canvas the objects' masks are packed into


def _packed(masks: list[np.ndarray]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The masks packed side by side in rows on one uint8 canvas, each inside a border
    of one background pixel of its own, and the (row, column) of each padded mask.

    The canvas's distance transform is, in each padded mask, that mask's own: a pixel's
    nearest background pixel is in its own border or inside it (a path out of it
    crosses the border, or jumps it at a greater cost), so one call does the work of one
    per object.

    >>> canvas, places = _packed([np.ones((2, 3), bool), np.ones((1, 1), bool)])
    >>> canvas[:, :8]
    array([[0, 0, 0, 0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0, 0, 1, 0],
           [0, 1, 1, 1, 0, 0, 0, 0],
           [0, 0, 0, 0, 0, 0, 0, 0]], dtype=uint8)
    >>> places
    [(0, 0), (0, 5)]
    """
    width = max([PACK_WIDTH, *(m.shape[1] + 2 for m in masks)])
    places = []
    row = column = tallest = 0
    for mask in masks:
        h, w = mask.shape[0] + 2, mask.shape[1] + 2
        if column + w > width:
            row, column, tallest = row + tallest, 0, 0
        places.append((row, column))
        column += w
        tallest = max(tallest, h)
    canvas = np.zeros((max(1, row + tallest), width), np.uint8)
    for mask, (r, c) in zip(masks, places, strict=True):
        canvas[r + 1 : r + 1 + mask.shape[0], c + 1 : c + 1 + mask.shape[1]] = mask
    return canvas, places


def _maxima_per_mask(
    distances: np.ndarray,
    thickness: float,
    places: list[tuple[int, int]],
    masks: list[np.ndarray],
) -> np.ndarray:
    """How many thick maxima (``_thick_maxima``) each packed mask's distance transform
    has (``_packed``: ``distances`` is the canvas's).

    A maximum is at least 2 px from the background, so it lies inside its own mask,
    never touching another one: each connected maximum of the canvas is one mask's,
    the same as in the mask's own transform (its 3 x 3 neighbourhood is in its box).
    """
    maxima, count, found = _thick_maxima(distances, thickness)
    owner = np.zeros(distances.shape, np.int32)
    for k, ((r, c), mask) in enumerate(zip(places, masks, strict=True)):
        owner[r : r + mask.shape[0] + 2, c : c + mask.shape[1] + 2] = k
    index = np.flatnonzero(maxima)
    of = np.zeros(count, np.int64)
    of[found.ravel()[index]] = owner.ravel()[index]  # each maximum's mask
    return np.bincount(of[1:], minlength=len(masks))


def _clipping_level(gray: np.ndarray) -> int | None:
    """The image's top value when it looks like a clipping level (8-16 bits), else None."""
    top = int(gray.max())
    return top if gray.dtype.kind == "u" and top in CLIPPING_LEVELS else None


def _enlarged(
    boxes: list[tuple[int, int, int, int]], coarse: np.ndarray, labels: np.ndarray
) -> list[tuple[int, int, int, int]]:
    """Boxes of ``coarse`` in the pixels of ``labels``, wide enough to hold each object:
    a rim pixel of ``labels`` may come from the coarse pixel next to the object."""
    sy, sx = labels.shape[0] / coarse.shape[0], labels.shape[1] / coarse.shape[1]
    height, width = labels.shape
    return [
        (
            max(0, int((y0 - 1) * sy) - 1),
            max(0, int((x0 - 1) * sx) - 1),
            min(height, int(np.ceil((y1 + 1) * sy)) + 1),
            min(width, int(np.ceil((x1 + 1) * sx)) + 1),
        )
        for y0, x0, y1, x1 in boxes
    ]


def _renumbered(
    labels: np.ndarray, count: int, parts: list[tuple[int, int, np.ndarray]]
) -> tuple[np.ndarray, int]:
    """Labels with each split object's parts 2.. numbered after the counted objects."""
    extra = sum(int(split.max()) - 1 for *_, split in parts)
    out = labels
    if int(out.max()) > count:  # flagged objects: after the new parts
        out[out > count] += extra
    next_label = count + 1
    for y0, x0, split in parts:
        box = out[y0 : y0 + split.shape[0], x0 : x0 + split.shape[1]]
        for k in range(2, int(split.max()) + 1):
            box[split == k] = next_label
            next_label += 1
    return out, count + extra


def _split(
    mask: np.ndarray,
    min_area: float,
    min_thickness: float,
    neck: float = NECK,
    distance: np.ndarray | None = None,
    known_maxima: tuple[np.ndarray, int, np.ndarray] | None = None,
    within: np.ndarray | None = None,
) -> np.ndarray | None:
    """Part labels 1..k (0 outside) of ``mask`` cut at its necks, or None without one.

    ``distance``: the distance transform of ``mask`` padded by one pixel of
    background, when already known; ``known_maxima``: its ``_thick_maxima`` at
    ``min_thickness``, when already known. ``within``: a larger mask (unpadded) the
    parts grow over instead of ``mask``.

    >>> img = np.zeros((40, 80), np.uint8)
    >>> _ = cv2.circle(img, (22, 20), 14, 1, -1); _ = cv2.circle(img, (52, 20), 13, 1, -1)
    >>> parts = _split(img, 100, 5)
    >>> int(parts.max()), bool(np.array_equal(parts > 0, img > 0))
    (2, True)
    >>> _ = cv2.ellipse(img, (37, 20), (30, 14), 0, 0, 360, 1, -1)  # one long convex object
    >>> _split(img, 100, 5) is None
    True
    """
    if distance is None:
        padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        distance = cv2.distanceTransform(padded, cv2.DIST_L2, 5)
    if known_maxima is None:
        known_maxima = _thick_maxima(distance, min_thickness)
    maxima, count, found = known_maxima
    peaks = np.asarray(found, np.int32)
    if count <= 2:
        return None
    height, where = _maxima_points(distance, maxima, peaks, count)
    kept: list[int] = []
    for candidate in (np.argsort(-height[1:], kind="stable") + 1).tolist():
        if all(
            not _joined(
                distance, neck * min(height[candidate], height[other]), where, candidate, other
            )
            for other in kept
        ):
            kept.append(candidate)
    if len(kept) < 2:
        return None
    level = max(
        _pass_level(distance, where, a, b) for i, a in enumerate(kept) for b in kept[i + 1 :]
    )
    # Above the highest neck between them the kept maxima lie in separate cores.
    _, cores = cv2.connectedComponents((distance > level + 0.5).astype(np.uint8), connectivity=8)
    split = np.zeros(distance.shape, np.int32)
    for part, peak in enumerate(kept, start=1):
        core = int(cores[peaks == peak].max())
        if core == 0:
            return None
        split[cores == core] = part
    space = distance > 0 if within is None else np.pad(within, 1) > 0
    split = _grow_within(split, space)[1:-1, 1:-1]
    if label_areas(split, len(kept))[1:].min() < min_area:
        return None
    return np.ascontiguousarray(split)


def _thick_maxima(distance: np.ndarray, min_thickness: float) -> tuple[np.ndarray, int, np.ndarray]:
    """The local maxima of ``distance`` at least ``min_thickness`` (and 2 px) high: their
    mask, and ``cv2.connectedComponents`` of it (count with the background, labels)."""
    maxima = distance >= cv2.dilate(distance, np.ones((3, 3), np.uint8))
    maxima &= distance >= max(2.0, min_thickness)
    count, found = cv2.connectedComponents(maxima.astype(np.uint8), connectivity=8)
    return maxima, int(count), found


def _maxima_points(
    distance: np.ndarray, maxima: np.ndarray, peaks: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """The height of each maximum 0..count-1 (``peaks`` labels them) and a pixel (row,
    column) of each maximum 1..count-1.

    Two 8-neighbours that are both local maxima (each at least the other) have the same
    distance, so a maximum is flat: any of its pixels gives its height, and any serves
    to ask which part of a level set it lies in (plain assignments, no ``np.maximum.at``
    or ``np.unique``: whichever pixel NumPy keeps).
    """
    index = np.flatnonzero(maxima)
    label = peaks.ravel()[index]
    height = np.zeros(count)
    height[label] = distance.ravel()[index]
    last = np.zeros(count, np.int64)
    last[label] = index
    return height, np.stack(np.divmod(last[1:], peaks.shape[1]), axis=1)


def _split_inside(
    mask: np.ndarray, gray: np.ndarray, polarity: int, typical: float, radius: float
) -> np.ndarray | None:
    """Part labels 1..k (0 outside) of ``mask`` cut at a neck of its brighter pixels
    (``INNER_LEVELS``, dimmest level first), or None.

    The levels' masks are stacked one under another (a row of background between
    them) for one distance transform: only levels with two maxima as thick as a part
    must be are examined further, and most objects (single nuclei) have none.

    Two dome-shaped nuclei 13 px apart, the second 0.7 as bright: their outline
    at 0.2 has no neck, their brighter parts have one.

    >>> y, x = np.mgrid[0:36, 0:56].astype(np.float32)
    >>> img = np.exp(-((x - 20) ** 2 + (y - 18) ** 2) / 40.5)
    >>> img += 0.7 * np.exp(-((x - 33) ** 2 + (y - 18) ** 2) / 40.5)
    >>> mask = img > 0.2
    >>> _split(mask.astype(np.uint8), MIN_PART * 150, MIN_THICKNESS * 6.9) is None
    True
    >>> parts = _split_inside(mask, img, 1, 150.0, 6.9)
    >>> int(parts.max()), bool(np.array_equal(parts > 0, mask))
    (2, True)
    """
    values = gray.astype(np.float32)
    if polarity < 0:
        values = -values
    smoothed = cv2.GaussianBlur(values, (0, 0), max(0.7, INNER_SIGMA * radius / OBJECT_TO_NUCLEUS))
    low, high, _, _ = cv2.minMaxLoc(smoothed, mask.view(np.uint8))
    if high <= low:
        return None
    height, width = mask.shape
    rows = height + 1  # each level's mask and a row of background below it
    stack = np.zeros((rows * len(INNER_LEVELS) + 1, width + 2), np.uint8)
    levels = np.float32(low) + np.float32(high - low) * np.array(INNER_LEVELS, np.float32)
    layers = stack[1:].reshape(len(INNER_LEVELS), rows, width + 2)[:, :height, 1:-1]
    np.greater_equal(smoothed, levels[:, None, None], out=layers.view(bool))
    layers &= mask.view(np.uint8)
    distance = cv2.distanceTransform(stack, cv2.DIST_L2, 5)
    thick = max(2.0, INNER_THICKNESS * radius)
    maxima, count, found = _thick_maxima(distance, thick)
    if count <= 2:
        return None
    peaks = np.asarray(found, np.int32)
    # Each thick maximum's height, a pixel of it and its level; a level can only be cut
    # where one of its maxima is apart from the level's highest above INNER_NECK of
    # its own height (the test ``_split`` starts with): only then is it examined.
    top, where = _maxima_points(distance, maxima, peaks, count)  # row, col; label order
    level_of = (where[:, 0] - 1) // rows
    heights = top[1:]
    for i in range(len(INNER_LEVELS)):
        mine = np.flatnonzero(level_of == i)
        if mine.size < 2:
            continue
        padded = slice(i * rows, i * rows + height + 2)
        order = mine[np.argsort(-heights[mine], kind="stable")]
        (ya, xa) = where[order[0]] - (i * rows, 0)
        apart = False
        for other in order[1:].tolist():
            yb, xb = where[other] - (i * rows, 0)
            level = INNER_NECK * heights[other]
            if not _connected(distance[padded], level, (int(ya), int(xa)), (int(yb), int(xb))):
                apart = True
                break
        if not apart:
            continue
        split = _split(
            stack[padded], MIN_PART * typical, thick, INNER_NECK, distance[padded], within=mask
        )
        if split is not None:
            return split
    return None


def _joined(distance: np.ndarray, level: float, where: np.ndarray, a: int, b: int) -> bool:
    """Whether maxima ``a`` and ``b`` (1-based, pixels in ``where``) are connected where
    ``distance`` is at least ``level``."""
    (ya, xa), (yb, xb) = where[a - 1], where[b - 1]
    return _connected(distance, level, (int(ya), int(xa)), (int(yb), int(xb)))


def _connected(values: np.ndarray, level: float, a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether pixels ``a`` and ``b`` (row, column) are 8-connected where ``values`` is
    at least ``level``.

    The straight digital line from one to the other is tried first: when all of it is
    at least ``level`` they are connected, and the components need not be labelled
    (the usual case — the distance to the outline is concave on a convex part, so two
    maxima of one nucleus are joined along the line between them). Otherwise the
    components decide, as before.

    >>> v = np.ones((5, 7), np.float32); v[:, 3] = 0
    >>> _connected(v, 1.0, (0, 0), (4, 2)), _connected(v, 1.0, (0, 0), (4, 6))
    (True, False)
    >>> v[2, 3] = 1  # a gap in the wall, off the straight line
    >>> _connected(v, 1.0, (0, 0), (4, 6))
    True
    """
    (ya, xa), (yb, xb) = a, b
    steps = max(abs(yb - ya), abs(xb - xa))
    # One pixel per step along the longer axis, the other rounded: consecutive pixels
    # are 8-neighbours. (A loop: the line is a few pixels, NumPy calls cost more.)
    for k in range(1, steps):
        y, x = ya + round((yb - ya) * k / steps), xa + round((xb - xa) * k / steps)
        if not values[y, x] >= level:
            break
    else:
        if values[ya, xa] >= level and values[yb, xb] >= level:
            return True
    _, parts = cv2.connectedComponents((values >= level).astype(np.uint8), connectivity=8)
    return bool(parts[ya, xa] == parts[yb, xb])


def _pass_level(distance: np.ndarray, where: np.ndarray, a: int, b: int) -> float:
    """The highest level of ``distance`` at which maxima ``a`` and ``b`` are joined (the
    half-thickness at the neck between them), by bisection."""
    (ya, xa), (yb, xb) = where[a - 1], where[b - 1]
    low, high = 0.0, float(min(distance[ya, xa], distance[yb, xb]))
    for _ in range(BISECTIONS):
        level = (low + high) / 2
        if _joined(distance, level, where, a, b):
            low = level
        else:
            high = level
    return low


def _grow_within(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``labels`` grown a pixel at a time into the rest of ``mask`` (a pixel goes to the
    largest label reaching it first)."""
    kernel = np.ones((3, 3), np.uint8)
    while True:
        reach = mask & (labels == 0)
        grown = cv2.dilate(labels.astype(np.uint16), kernel).astype(np.int32)
        reach &= grown > 0
        if not reach.any():
            return labels
        labels[reach] = grown[reach]
