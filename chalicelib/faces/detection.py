"""Face detections and their use across frames (pure: arrays and values only).

A detection run yields ``Sample``s: the faces seen at one timestamp, as boxes
relative to the frame (0–1, like Rekognition's ``BoundingBox``). Between two
samples a face may move, so a frame is covered by the union of the boxes of
the samples before and after it, padded: no face is exposed between samples.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import cv2
import numpy as np

from chalicelib.faces.messages import Box, Sample


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade (shipped with opencv-python-headless 4.x).

    Frames are shrunk to ``width`` pixels first: detection cost falls with the
    pixel count, and faces of 24+ px at that width are still found.
    """

    name = "opencv"

    def __init__(self, width: int = 320, min_neighbors: int = 4) -> None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"could not load the Haar cascade from {path}")
        self._width = width
        self._min_neighbors = min_neighbors

    def detect(self, frame: np.ndarray) -> tuple[Box, ...]:
        """Faces in one BGR or gray frame, as relative boxes.

        Parameters
        ----------
        frame : (M, N, 3) or (M, N) ndarray of uint8
        """
        width = frame.shape[1]
        scale = min(1.0, self._width / width)
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found = self._cascade.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=self._min_neighbors, minSize=(24, 24)
        )
        small_h, small_w = gray.shape
        return tuple((x / small_w, y / small_h, w / small_w, h / small_h) for x, y, w, h in found)


def boxes_for(samples: Sequence[Sample], t_ms: float) -> tuple[Box, ...]:
    """Boxes to blur at time ``t_ms``: those of the samples just before and after.

    ``samples`` must be sorted by time.

    >>> s = [Sample(0, ((0.1, 0.1, 0.2, 0.2),)), Sample(200, ((0.3, 0.1, 0.2, 0.2),))]
    >>> len(boxes_for(s, 100))
    2
    """
    times = [s.t_ms for s in samples]
    after = bisect.bisect_left(times, t_ms)
    if after < len(samples) and times[after] == t_ms:  # a sampled frame: its own boxes
        return samples[after].boxes
    chosen: list[Box] = []
    if after < len(samples):
        chosen.extend(samples[after].boxes)
    if after > 0:
        chosen.extend(samples[after - 1].boxes)
    return tuple(chosen)


def to_pixels(box: Box, width: int, height: int, pad: float = 0.25) -> tuple[int, int, int, int]:
    """A relative box grown by ``pad`` of its size on each side, clamped to the frame.

    Returns (x0, y0, x1, y1) in pixels, possibly empty (x1 <= x0) for a box
    entirely outside the frame.

    >>> to_pixels((0.9, -0.1, 0.2, 0.2), 100, 100, pad=0.0)
    (90, 0, 100, 10)
    """
    left, top, w, h = box
    eps = 1e-6  # 0.65 * 100 is 65.00000000000001 in floating point
    x0 = int(np.floor((left - pad * w) * width + eps))
    y0 = int(np.floor((top - pad * h) * height + eps))
    x1 = int(np.ceil((left + w + pad * w) * width - eps))
    y1 = int(np.ceil((top + h + pad * h) * height - eps))
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def blur_boxes(frame: np.ndarray, boxes: Sequence[Box], pad: float = 0.25) -> int:
    """Blur every box of ``frame`` in place, beyond recognition; returns boxes blurred.

    Each region is shrunk to about 8 px across and scaled back (a strong blur
    whose cost does not grow with the face's size).
    """
    height, width = frame.shape[:2]
    done = 0
    for box in boxes:
        x0, y0, x1, y1 = to_pixels(box, width, height, pad)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        region = frame[y0:y1, x0:x1]
        small = cv2.resize(
            region, (max(1, (x1 - x0) // 12), max(1, (y1 - y0) // 12)), interpolation=cv2.INTER_AREA
        )
        small = cv2.GaussianBlur(small, (3, 3), 0)  # cheap here, smooth once scaled back
        frame[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        done += 1
    return done


# -- multi-view detection at the scale faces need -------------------------------------

PixelRect = tuple[int, int, int, int]  # x, y, width, height in pixels
Corners = tuple[int, int, int, int]  # x0, y0, x1, y1

CASCADE_FILES = {
    "frontal": "haarcascade_frontalface_alt2.xml",  # 20×20 window: finds 20 px faces at 1:1
    "profile": "haarcascade_profileface.xml",  # faces turned to one side; mirrored for the other
}
VIEWS = ("frontal", "profile", "profile-mirrored", "tilted")
TILTS = (-25.0, 25.0)  # the frontal cascade also runs on copies turned upright by these


def load_cascade(name: str) -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + CASCADE_FILES[name]  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"could not load the Haar cascade from {path}")
    return cascade


class MultiViewDetector:
    """Frontal, profile and mirrored-profile Haar cascades, in regions of a frame.

    A face of ``min_face`` pixels in the source must be found, so regions are
    searched at full resolution (upscaled by ``upscale`` when ``min_face`` is
    below the cascades' 20 px window); the cost is kept down by searching only
    the regions that need it (see ``tracking.FaceCoverage``), not by shrinking.

    Parameters
    ----------
    min_face : int
        Smallest face width to find, in source pixels.
    views : tuple of str
        Any of ``frontal``, ``profile``, ``profile-mirrored``.
    scale_factor, min_neighbors :
        Passed to ``detectMultiScale``.
    """

    name = "opencv"

    def __init__(
        self,
        min_face: int = 20,
        views: tuple[str, ...] = VIEWS,
        scale_factor: float = 1.2,
        min_neighbors: int = 3,
    ) -> None:
        unknown = set(views) - set(VIEWS)
        if unknown:
            raise ValueError(f"unknown views: {sorted(unknown)}")
        # (only the cascades the views use: the profile cascade takes ~15 ms to read)
        needed = {"frontal" if view in ("frontal", "tilted") else "profile" for view in views}
        self._cascades = {name: load_cascade(name) for name in CASCADE_FILES if name in needed}
        self.views = views
        self.min_face = min_face
        self._window = 20
        self._scale_factor = scale_factor
        self._min_neighbors = min_neighbors

    def cascade(self, name: str) -> cv2.CascadeClassifier | None:
        """The loaded cascade ``name`` (``CASCADE_FILES``), or None when no view uses it."""
        return self._cascades.get(name)

    def detect_regions(
        self,
        grey: np.ndarray,
        regions: Sequence[PixelRect],
        smallest: Sequence[int] | None = None,
        upright_only: Sequence[bool] | None = None,
    ) -> list[PixelRect]:
        """Faces inside each region of a grey frame, as pixel rectangles of the frame.

        Parameters
        ----------
        grey : (M, N) ndarray of uint8
        regions : sequence of (x, y, width, height)
        smallest : the smallest face to find in each region (default ``min_face``);
            a region is searched at the scale that makes that face the cascades'
            20 px window, so a large region meant for large faces costs little.
        upright_only : per region, skip the ``tilted`` view (a cheaper search).
        """
        return [rect for rect, _view in self.search(grey, regions, smallest, upright_only)]

    def search(
        self,
        grey: np.ndarray,
        regions: Sequence[PixelRect],
        smallest: Sequence[int] | None = None,
        upright_only: Sequence[bool] | None = None,
        prefer: Sequence[str | None] | None = None,
        largest: Sequence[int | None] | None = None,
    ) -> list[tuple[PixelRect, str]]:
        """``detect_regions``, each face labelled with the view that found it.

        ``prefer``: per region, a view to try first, stopping at the first view
        that finds a face (a region around one tracked face: usually one cascade
        instead of three to five). ``largest``: per region, the largest face to
        look for (stops the cascade's pyramid early).
        """
        found: list[tuple[PixelRect, str]] = []
        for number, (x, y, w, h) in enumerate(regions):
            least = max(self.min_face, smallest[number]) if smallest else self.min_face
            if w < least or h < least:
                continue
            scale = self._window / least
            crop = grey[y : y + h, x : x + w]
            if scale != 1.0:
                interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
                crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interpolation)
            # Where something moved or a face was, a weaker vote suffices (and the
            # tilted view is tried); the rolling scan of still regions asks for more.
            thorough = not (upright_only and upright_only[number])
            first = prefer[number] if prefer else None
            most = largest[number] if largest else None
            biggest = round(most * scale) if most else 0
            for (fx, fy, fw, fh), view in self._detect_views(crop, thorough, first, biggest):
                rect = (
                    x + round(fx / scale),
                    y + round(fy / scale),
                    round(fw / scale),
                    round(fh / scale),
                )
                found.append((rect, view))
        return merge_labelled(found)

    def _detect_views(
        self, crop: np.ndarray, thorough: bool = True, first: str | None = None, biggest: int = 0
    ) -> list[tuple[PixelRect, str]]:
        """Every upright view; the tilted view only where no upright face was found.

        With ``first``, that view is tried first and the search stops at the first
        view that finds anything.
        """
        found: list[tuple[PixelRect, str]] = []
        width = crop.shape[1]
        votes = max(1, self._min_neighbors - 1) if thorough else self._min_neighbors
        order = [v for v in self.views if v != "tilted"]
        if first in order:
            order.remove(first)
            order.insert(0, first)
        for view in order:
            cascade = self._cascades["frontal" if view == "frontal" else "profile"]
            image = cv2.flip(crop, 1) if view == "profile-mirrored" else crop
            for rx, ry, rw, rh in self._run(cascade, image, votes, biggest):
                left = width - rx - rw if view == "profile-mirrored" else rx
                found.append(((int(left), int(ry), int(rw), int(rh)), view))
            if found and first is not None:
                return found
        if thorough and not found and "tilted" in self.views:
            for angle in TILTS:
                turned = self._detect_turned(crop, angle, votes, biggest)
                found += [(r, "tilted") for r in turned]
        return found

    def _run(
        self, cascade: cv2.CascadeClassifier, image: np.ndarray, votes: int, biggest: int = 0
    ) -> Sequence[PixelRect]:
        """``cascade`` over ``image`` for faces from the window's size up to ``biggest``
        (0: any), the candidates of all scales grouped together (``votes`` neighbours).

        ``detectMultiScale`` moves its window by 2 pixels of each scaled image at
        scales under 2, but by 1 pixel at 2 and over: there it tries 4 times as many
        windows for the same pixels (at 1080p the 41.5-px scale of a 20–42-px search
        cost more than the 20-px one). The scales from 2 on are searched here on a
        copy shrunk by the first of them, with the same step as the finer ones; the
        candidates of both are grouped as ``detectMultiScale`` groups them. Only for
        searches that end below 3× the window (the hybrid detector's band of small
        faces, where BlazeFace finds faces from 28 px too): at the 2-pixel step a face
        gets fewer votes there, and for the Haar views alone, whose coarse scales are
        the only detector of larger faces, that lost a 40-px face in 5 of 30 frames
        (``tests/functional/test_face_blur_video.py``).
        """
        if not 0 < biggest < 3 * self._window or biggest < SPLIT_SCALE * self._window:
            return cascade_scan(cascade, image, self._scale_factor, votes, self._window, biggest)
        raw = _candidates(cascade, image, self._scale_factor, self._window, biggest)
        if len(raw) == 0:
            return raw
        grouped, _weights = cv2.groupRectangles(np.asarray(raw).tolist(), votes, GROUP_EPS)
        return [(int(x), int(y), int(w), int(h)) for x, y, w, h in grouped]

    def _detect_turned(
        self, crop: np.ndarray, angle: float, votes: int, biggest: int = 0
    ) -> list[PixelRect]:
        """Frontal faces tilted by about ``angle`` degrees: the crop is turned upright first
        (faces up to ``biggest`` px when given, as the upright views)."""
        height, width = crop.shape
        centre = (width / 2, height / 2)
        turn = cv2.getRotationMatrix2D(centre, -angle, 1.0)
        # On a canvas large enough for the turned crop: a face near a corner stays whole.
        cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
        size = (math.ceil(width * cos + height * sin), math.ceil(width * sin + height * cos))
        turn[:, 2] += (size[0] - width) / 2, (size[1] - height) / 2
        turned = cv2.warpAffine(crop, turn, size, borderMode=cv2.BORDER_REPLICATE)
        back = cv2.invertAffineTransform(turn)
        found = []
        for rx, ry, rw, rh in self._run(self._cascades["frontal"], turned, votes, biggest):
            cx, cy = back @ np.array([rx + rw / 2, ry + rh / 2, 1.0])
            side = max(rw, rh) * (abs(np.cos(np.radians(angle))) + abs(np.sin(np.radians(angle))))
            found.append((int(cx - side / 2), int(cy - side / 2), int(side), int(side)))
        return found

    def detect(self, frame: np.ndarray) -> tuple[Box, ...]:
        """Faces anywhere in one BGR or grey frame, as relative boxes (the whole frame searched)."""
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        height, width = grey.shape
        rects = self.detect_regions(grey, [(0, 0, width, height)])
        return tuple((x / width, y / height, w / width, h / height) for x, y, w, h in rects)


SPLIT_SCALE = 2.0  # detectMultiScale steps by 1 px (not 2) from this scale on
GROUP_EPS = 0.2  # detectMultiScale's own grouping of candidates


def cascade_scan(
    cascade: cv2.CascadeClassifier,
    image: np.ndarray,
    scale_factor: float,
    votes: int,
    window: int,
    biggest: int = 0,
) -> Sequence[PixelRect]:
    """``detectMultiScale`` for objects from ``window`` to ``biggest`` (0: any) px."""
    most = (biggest, biggest) if biggest >= window else (0, 0)
    return cascade.detectMultiScale(  # type: ignore[no-any-return,return-value]
        image, scaleFactor=scale_factor, minNeighbors=votes, minSize=(window, window), maxSize=most
    )


def _candidates(
    cascade: cv2.CascadeClassifier,
    image: np.ndarray,
    scale_factor: float,
    window: int,
    biggest: int = 0,
) -> list[PixelRect]:
    """Ungrouped candidates of every scale from ``window`` to ``biggest`` (0: any) px,
    each image scanned by 2-pixel steps: scales under ``SPLIT_SCALE`` on ``image``,
    the others (recursively) on a copy shrunk by the first of them.

    >>> cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILES["frontal"])
    >>> _candidates(cascade, np.zeros((30, 30), np.uint8), 1.2, 20)
    []
    """
    below = math.ceil(SPLIT_SCALE * window) - 1  # the largest window scanned on ``image``
    found = [
        tuple(int(v) for v in r)
        for r in cascade_scan(
            cascade, image, scale_factor, 0, window, min(biggest, below) if biggest else below
        )
    ]
    # The first scale of detectMultiScale's sequence (powers of the factor) at or over 2.
    factor = scale_factor ** math.ceil(math.log(SPLIT_SCALE) / math.log(scale_factor))
    height, width = image.shape[:2]
    size = (round(width / factor), round(height / factor))
    if (biggest and biggest < round(window * factor)) or min(size) < window:
        return found  # type: ignore[return-value]
    shrunk = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    coarse = _candidates(
        cascade, shrunk, scale_factor, window, max(window, int(biggest / factor)) if biggest else 0
    )
    found += [
        (round(x * factor), round(y * factor), round(w * factor), round(h * factor))
        for x, y, w, h in coarse
    ]
    return found  # type: ignore[return-value]


def merge_labelled(
    found: Sequence[tuple[PixelRect, str]], overlap: float = 0.3
) -> list[tuple[PixelRect, str]]:
    """``merge_rects`` for labelled rectangles: a merged one keeps the label of its first.

    >>> merge_labelled([((0, 0, 10, 10), "frontal"), ((2, 2, 10, 10), "profile")])
    [((0, 0, 12, 12), 'frontal')]
    """
    merged = [(list(rect), view) for rect, view in found]
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                a, b = merged[i][0], merged[j][0]
                if _overlap(a, b) > overlap:
                    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
                    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
                    merged[i] = ([x0, y0, x1 - x0, y1 - y0], merged[i][1])
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return [((r[0], r[1], r[2], r[3]), view) for r, view in merged]


def merge_rects(rects: Sequence[PixelRect], overlap: float = 0.3) -> list[PixelRect]:
    """Rectangles overlapping by more than ``overlap`` of the smaller one, merged into their union.

    >>> merge_rects([(0, 0, 10, 10), (2, 2, 10, 10), (50, 50, 5, 5)])
    [(0, 0, 12, 12), (50, 50, 5, 5)]
    """
    return [rect for rect, _ in merge_labelled([(rect, "") for rect in rects], overlap)]


def _overlap(a: Sequence[int], b: Sequence[int]) -> float:
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    return ix * iy / max(1, min(a[2] * a[3], b[2] * b[3]))


def blur_rects(
    frame: np.ndarray,
    rects: Sequence[tuple[int, int, int, int]],
    cores: Sequence[PixelRect] = (),
) -> int:
    """Blur pixel rectangles (x, y, width, height) of ``frame`` in place; returns how many.

    The same strong blur as ``blur_boxes``: each region shrunk about twelvefold
    (to at most 10 samples across) and scaled back, so nothing recognisable
    survives whatever its size. Overlapping rectangles are blurred as one (their
    bounding box, blurred once, is pasted where any of them is): blurred one by
    one, the edge of one would cut a step through a face under another.

    >>> frame = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))[..., None].repeat(3, 2)
    >>> blur_rects(frame, [(8, 8, 24, 24), (70, 70, 5, 5)])
    1
    """
    height, width = frame.shape[:2]
    clipped = clip_rects(rects, width, height)
    for group in overlapping_groups(clipped):
        blur_group(frame, group, samples_across(group))
    for core in clip_rects(cores, width, height):
        blur_core(frame, core, samples_across([core], CORE_SAMPLES))
    return len(clipped)


def clip_rects(rects: Sequence[PixelRect], width: int, height: int) -> list[Corners]:
    """Rectangles (x, y, width, height) clipped to a ``width`` × ``height`` picture, as
    corners; what is left under 2 px either way is dropped.

    >>> clip_rects([(-5, 2, 10, 10), (70, 70, 5, 5), (63, 0, 9, 9)], 64, 64)
    [(0, 2, 5, 12)]
    """
    clipped = []
    for x, y, w, h in rects:
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            clipped.append((x0, y0, x1, y1))
    return clipped


def samples_across(group: Sequence[Corners], most: int = 10) -> tuple[int, int]:
    """How many samples across (x, y) the blur keeps of a group's bounding box:
    about one per 12 pixels, at most ``most`` — nothing recognisable survives.

    >>> samples_across([(0, 0, 370, 30)]), samples_across([(0, 0, 370, 30)], CORE_SAMPLES)
    ((10, 2), (4, 2))
    """
    x0, y0 = min(r[0] for r in group), min(r[1] for r in group)
    x1, y1 = max(r[2] for r in group), max(r[3] for r in group)
    return max(1, min(most, (x1 - x0) // 12)), max(1, min(most, (y1 - y0) // 12))


# A face's own box cut by the frame's edge (``tracking.FaceCoverage._core_at``), inside
# its blurred rectangle, is blurred again to at most this many samples across: with ten
# across the rectangle, a 46 x 22 sliver of a head at the bottom edge kept 11-17 % of
# its sharpness (held-out-87286-6). The rectangle's pads keep the finer blur.
CORE_SAMPLES = 4


CORE_RAMP = 0.25  # of a face's box: from its rim inwards the coarser blur fades in


def blur_core(image: np.ndarray, core: Corners, across: tuple[int, int]) -> None:
    """Blur a face's own box (corners) of ``image`` again, to ``across`` samples, in place:
    faded in over ``CORE_RAMP`` of its size from its rim (no step where the finer blur
    around it meets it), except along the picture's edges.

    >>> image = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    >>> blur_core(image, (0, 16, 48, 48), (2, 2))
    >>> int(image[8, 0]), int(image[32, 0]), int(image[32, 47]), int(image[32, 50])
    (0, 94, 184, 200)

    (Above it and beside it untouched; at the picture's edge blurred in full; at its
    rim inside the picture barely: 188 was 184.)
    """
    x0, y0, x1, y1 = core
    region = image[y0:y1, x0:x1]
    coarse = _coarse(region, across)
    height, width = image.shape[:2]
    weight = np.outer(
        _ramp(y1 - y0, y0 == 0, y1 == height), _ramp(x1 - x0, x0 == 0, x1 == width)
    ).astype(np.float32)
    if region.ndim == 3:
        weight = weight[..., None]
    mixed = region + weight * (coarse.astype(np.float32) - region)
    region[...] = np.clip(mixed + 0.5, 0, 255).astype(region.dtype)


def _ramp(size: int, open_start: bool, open_end: bool) -> np.ndarray:
    """Weights 0-1 across ``size`` pixels rising over ``CORE_RAMP`` of it from each end
    (flat 1 at an end that is the picture's edge)."""
    length = max(1.0, CORE_RAMP * size)
    at = np.arange(size, dtype=np.float32) + 0.5
    start = np.ones(size, np.float32) if open_start else np.minimum(1.0, at / length)
    end = np.ones(size, np.float32) if open_end else np.minimum(1.0, (size - at) / length)
    return np.asarray(np.minimum(start, end))


def blur_group(image: np.ndarray, group: Sequence[Corners], across: tuple[int, int]) -> None:
    """Blur one group of overlapping rectangles (corners) of ``image`` in place.

    Their bounding box is shrunk to ``across`` samples, smoothed and scaled back,
    and pasted where any of them is. ``image``: a frame (H, W, C) or one plane (H, W).
    """
    x0, y0 = min(r[0] for r in group), min(r[1] for r in group)
    x1, y1 = max(r[2] for r in group), max(r[3] for r in group)
    region = image[y0:y1, x0:x1]
    blurred = _coarse(region, across)
    if len(group) == 1:
        region[...] = blurred
        return
    for rx0, ry0, rx1, ry1 in group:  # where any of them is
        inside = (slice(ry0 - y0, ry1 - y0), slice(rx0 - x0, rx1 - x0))
        region[inside] = blurred[inside]


def _coarse(region: np.ndarray, across: tuple[int, int]) -> np.ndarray:
    """``region`` shrunk to ``across`` (x, y) samples, smoothed and scaled back to its size."""
    small = cv2.GaussianBlur(shrink(region, across), (3, 3), 0)
    height, width = region.shape[:2]
    return np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR))


def shrink(region: np.ndarray, across: tuple[int, int]) -> np.ndarray:
    """``region`` averaged down to ``across`` (x, y) samples (area interpolation).

    Rows first, then columns: area averaging is separable, and OpenCV's area
    resize of a large region straight to a few samples is ~6× slower than the
    two passes (2.1 vs 0.36 ms for 1050×850 px). The intermediate rows are
    rounded to whole levels, so a sample may differ by 1 from the direct resize.

    >>> region = np.arange(120 * 90, dtype=np.uint8).reshape(90, 120)
    >>> direct = cv2.resize(region, (10, 7), interpolation=cv2.INTER_AREA)
    >>> int(np.abs(shrink(region, (10, 7)).astype(int) - direct).max()) <= 1
    True
    """
    width = region.shape[1]
    rows = cv2.resize(region, (width, across[1]), interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.resize(rows, across, interpolation=cv2.INTER_AREA))


def overlapping_groups(
    rects: Sequence[tuple[int, int, int, int]],
) -> list[list[tuple[int, int, int, int]]]:
    """Rectangles (x0, y0, x1, y1) in groups that overlap or touch, directly or through
    others: each group is blurred as one, so no seam runs between two rectangles that
    meet (blurred apart, two rectangles meeting across a 24-px face left a step
    between their blurs along its chin, and the face kept 14 % of its sharpness:
    motion-3615-2-shake, frame 14).

    >>> overlapping_groups([(0, 0, 10, 10), (20, 20, 30, 30), (5, 5, 22, 22)])
    [[(0, 0, 10, 10), (5, 5, 22, 22), (20, 20, 30, 30)]]
    >>> len(overlapping_groups([(0, 0, 10, 10), (10, 0, 20, 10)]))  # touching
    1
    >>> len(overlapping_groups([(0, 0, 10, 10), (11, 0, 20, 10)]))
    2
    """
    groups: list[list[tuple[int, int, int, int]]] = []
    for rect in rects:
        joined = [g for g in groups if any(_touch(rect, other) for other in g)]
        merged = [item for g in joined for item in g] + [rect]
        groups = [g for g in groups if g not in joined] + [sorted(merged)]
    return groups


def _touch(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def blur_whole(frame: np.ndarray) -> None:
    """Blur all of ``frame`` in place (strict mode, when no box can be trusted)."""
    height, width = frame.shape[:2]
    blur_rects(frame, [(0, 0, width, height)])
