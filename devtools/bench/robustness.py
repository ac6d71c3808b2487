"""Ground truth for counting: the annotated regions and transformations of them.

Pure functions (arrays and points in, arrays and points out) plus one loader of
``bench/data/annotated``. Each transformation changes the image the way a
different microscope, camera or export would, and moves the truth alongside:
geometric ones move and rescale the points; crops turn the truth into a range
(an object cut by the new edge may or may not be counted).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from chalicelib.cells.imaging import to_gray


@dataclass(frozen=True)
class Annotated:
    """One image with its truth.

    ``points`` are (K, 2) x, y in image pixels; ``low``..``high`` is the count a
    correct method may report (objects cut by the edge may or may not count).
    """

    name: str
    image: np.ndarray
    points: np.ndarray
    low: int
    high: int
    image_type: str = "fluorescence"
    split: str = "tune"

    @property
    def truth(self) -> float:
        return (self.low + self.high) / 2

    def outside(self, found: int) -> int:
        """Objects ``found`` lies outside the truth range (0 inside it)."""
        return max(0, self.low - found, found - self.high)

    def error(self, found: int) -> float:
        """Relative count error: 0 inside the range, else the distance to it over its middle."""
        return self.outside(found) / max(self.truth, 1.0)

    def signed_error(self, found: int) -> float:
        if found < self.low:
            return (found - self.low) / max(self.truth, 1.0)
        return max(0, found - self.high) / max(self.truth, 1.0)


def edge_range(points: np.ndarray, shape: tuple[int, ...], margin: float) -> tuple[int, int]:
    """(objects clear of the edge, all objects) for points in an image of ``shape``.

    >>> edge_range(np.array([[1.0, 50.0], [50.0, 50.0]]), (100, 100), 5)
    (1, 2)
    """
    if len(points) == 0:
        return 0, 0
    height, width = shape[:2]
    x, y = points[:, 0], points[:, 1]
    inside = (x >= margin) & (y >= margin) & (x <= width - 1 - margin) & (y <= height - 1 - margin)
    return int(inside.sum()), len(points)


def load_annotated(directory: Path) -> list[Annotated]:
    """The hand-annotated crops of ``directory/points.json`` (see its README)."""
    document = json.loads((directory / "points.json").read_text())
    found = []
    for crop in document["crops"]:
        image = np.asarray(cv2.imread(str(directory / crop["file"]), cv2.IMREAD_UNCHANGED))
        points = np.array(crop["points"], float).reshape(-1, 2)
        low, high = edge_range(points, image.shape, crop["edge_margin"])
        found.append(
            Annotated(crop["name"], image, points, low, high, crop["image_type"], crop["split"])
        )
    return found


def from_labels(name: str, image: np.ndarray, labels: np.ndarray, margin: float = 3) -> Annotated:
    """Truth from a label mask (one id per object): points at the objects' centroids.

    The count is a range, as for the annotated crops: an object whose centroid is
    within ``margin`` pixels of the image's edge is a sliver cut by the edge and
    may or may not be counted (:func:`edge_range`).
    """
    ids = labels.ravel()
    rows, cols = np.divmod(np.arange(ids.size), labels.shape[1])
    count = int(ids.max()) + 1
    pixels = np.bincount(ids, minlength=count)
    present = np.flatnonzero(pixels[1:]) + 1
    x = np.bincount(ids, cols, count)[present] / pixels[present]
    y = np.bincount(ids, rows, count)[present] / pixels[present]
    points = np.stack([x, y], axis=1)
    low, high = edge_range(points, labels.shape, margin)
    return Annotated(name, image, points, low, high)


# ---------------------------------------------------------------- transformations


def _as_float(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Gray values over the image's own maximum (0..1), and that maximum.

    Relative to the image, not to its dtype: a 16-bit image using 12 bits is
    still transformed over its whole range.
    """
    gray = to_gray(image).astype(np.float32)
    top = max(float(gray.max()), 1.0)
    return gray / top, top


def _back(values: np.ndarray, like: np.ndarray, top: float | None = None) -> np.ndarray:
    if top is None:
        top = max(float(to_gray(like).max()), 1.0)
    limit = float(np.iinfo(like.dtype).max) if like.dtype.kind == "u" else top
    return np.asarray(np.clip(values * top + 0.5, 0, limit).astype(like.dtype))


def gamma(case: Annotated, power: float) -> Annotated:
    values, _ = _as_float(case.image)
    return _replace(case, _back(values**power, case.image), f"gamma {power}")


def noise(case: Annotated, sd: float, seed: int = 0) -> Annotated:
    """Gaussian noise of ``sd`` times the image's 99th-percentile signal above its median."""
    values, _ = _as_float(case.image)
    spread = float(np.percentile(values, 99.5) - np.median(values))
    rng = np.random.default_rng(seed)
    noisy = values + rng.normal(0, sd * spread, values.shape).astype(np.float32)
    return _replace(case, _back(noisy, case.image), f"noise {sd:g}")


def rescale(case: Annotated, factor: float) -> Annotated:
    height, width = case.image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    method = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    image = cv2.resize(case.image, size, interpolation=method)
    points = (case.points + 0.5) * factor - 0.5
    return Annotated(
        f"{case.name} x{factor:g}",
        image,
        points,
        case.low,
        case.high,
        case.image_type,
        case.split,
    )


def gradient(case: Annotated, strength: float, direction: str = "x") -> Annotated:
    """Multiply by a linear ramp from ``1 - strength`` to ``1 + strength`` (uneven light)."""
    values, _ = _as_float(case.image)
    ramp = _ramp(values.shape, direction)
    lit = values * (1 + strength * ramp)
    return _replace(case, _back(lit / (1 + strength), case.image), f"gradient {direction}")


def background_up_signal_down(case: Annotated, strength: float = 0.6) -> Annotated:
    """A background that brightens left to right while the signal above it dims."""
    values, _ = _as_float(case.image)
    base = float(np.median(values))
    ramp = (_ramp(values.shape, "x") + 1) / 2  # 0..1
    signal = (values - base) * (1 - strength * ramp)
    background = base + strength * 0.5 * ramp
    return _replace(case, _back(signal + background, case.image), "bg up, signal down")


def vignette(case: Annotated, strength: float = 0.6) -> Annotated:
    values, _ = _as_float(case.image)
    height, width = values.shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((xx - width / 2) / (width / 2)) ** 2 + ((yy - height / 2) / (height / 2)) ** 2
    falloff = 1 - strength * np.clip(r2 / 2, 0, 1)
    return _replace(case, _back(values * falloff, case.image), "vignetting")


def invert(case: Annotated) -> Annotated:
    top = np.iinfo(case.image.dtype).max
    return _replace(case, (top - case.image).astype(case.image.dtype), "inverted")


def to_16bit(case: Annotated) -> Annotated:
    """Stored in 16 bits using 12 of them (as many cameras do)."""
    values, _ = _as_float(case.image)
    image = np.clip(values * 4095 + 0.5, 0, 4095).astype(np.uint16)
    return _replace(case, image, "16-bit (12 used)")


def to_8bit_dim(case: Annotated) -> Annotated:
    """An under-exposed 8-bit image: the signal uses a quarter of the range."""
    values, _ = _as_float(case.image)
    image = np.clip(values * 64 + 0.5, 0, 255).astype(np.uint8)
    return _replace(case, image, "8-bit, 1/4 range")


def jpeg(case: Annotated, quality: int = 70) -> Annotated:
    """Saved as an 8-bit JPEG (a 16-bit image is first stretched over its own range)."""
    image = case.image
    if image.dtype != np.uint8:
        values, _ = _as_float(image)
        image = np.clip(values * 255 + 0.5, 0, 255).astype(np.uint8)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if ok else image
    return _replace(case, np.asarray(decoded), f"JPEG q{quality}")


def object_radius(points: np.ndarray) -> float:
    """Half the median nearest-neighbour distance of the points, 3..15 px: about an
    object's radius in a crowded field, and an upper bound on it in a sparse one.

    >>> object_radius(np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]]))
    5.0
    """
    if len(points) < 2:
        return 3.0
    d = np.hypot(points[:, None, 0] - points[None, :, 0], points[:, None, 1] - points[None, :, 1])
    np.fill_diagonal(d, np.inf)
    return float(np.clip(np.median(d.min(axis=1)) / 2, 3.0, 15.0))


def crops(case: Annotated, fraction: float = 0.55) -> Iterator[Annotated]:
    """The four corner crops of ``fraction`` of each side, truth as an edge range
    (:func:`window`)."""
    height, width = case.image.shape[:2]
    h, w = round(height * fraction), round(width * fraction)
    for corner, (y0, x0) in enumerate(
        ((0, 0), (0, width - w), (height - h, 0), (height - h, width - w))
    ):
        yield window(case, (x0, y0, w, h), f"crop {corner}")


def window(case: Annotated, box: tuple[int, int, int, int], label: str) -> Annotated:
    """The part ``box`` = (x, y, width, height) of ``case``, truth as an edge range.

    Low: the objects whose centre is at least an object radius inside the crop.
    High: every object with a part inside, i.e. its centre less than a radius
    outside (a nucleus cut by the new edge may or may not be counted).
    """
    reach = object_radius(case.points)
    x0, y0, w, h = box
    image = case.image[y0 : y0 + h, x0 : x0 + w]
    shifted = case.points - np.array([x0, y0], float)
    x, y = shifted[:, 0], shifted[:, 1]
    touching = (x > -reach) & (y > -reach) & (x < w - 1 + reach) & (y < h - 1 + reach)
    inside = (x >= reach) & (y >= reach) & (x <= w - 1 - reach) & (y <= h - 1 - reach)
    points = shifted[(x > -0.5) & (y > -0.5) & (x < w - 0.5) & (y < h - 0.5)]
    low, high = int(inside.sum()), int(touching.sum())
    return Annotated(f"{case.name} {label}", image, points, low, high, case.image_type, case.split)


SMALL_FRACTIONS = (0.3, 0.4, 0.55)  # of each side
SMALL_SCALES = (0.5, 1.0, 2.0)  # the region rescaled first: other magnifications


def small_crops(case: Annotated, seed: int = 0) -> Iterator[tuple[float, Annotated]]:
    """(scale, crop): small crops of ``case`` rescaled by each of ``SMALL_SCALES``, of
    each of ``SMALL_FRACTIONS`` of its sides, at the four corners and four random
    places (``seed``), truth as an edge range; crops under 24 px are left out. The
    stress set of small, sparse images a lab cuts from its own (issue-12w)."""
    rng = np.random.default_rng(seed)
    for factor in SMALL_SCALES:
        scaled = case if factor == 1.0 else rescale(case, factor)
        height, width = scaled.image.shape[:2]
        for fraction in SMALL_FRACTIONS:
            h, w = round(height * fraction), round(width * fraction)
            if min(h, w) < 24:
                continue
            corners = [(0, 0), (width - w, 0), (0, height - h), (width - w, height - h)]
            spots = corners + [
                (int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)))
                for _ in range(4)
            ]
            for k, (x0, y0) in enumerate(spots):
                yield factor, window(scaled, (x0, y0, w, h), f"crop {fraction:g} {k}")


def _ramp(shape: tuple[int, ...], direction: str) -> np.ndarray:
    height, width = shape[:2]
    if direction == "x":
        return np.linspace(-1, 1, width, dtype=np.float32)[None, :].repeat(height, 0)
    if direction == "-x":
        return np.linspace(1, -1, width, dtype=np.float32)[None, :].repeat(height, 0)
    return np.linspace(-1, 1, height, dtype=np.float32)[:, None].repeat(width, 1)


def _replace(case: Annotated, image: np.ndarray, label: str) -> Annotated:
    return Annotated(
        f"{case.name} {label}",
        image,
        case.points,
        case.low,
        case.high,
        case.image_type,
        case.split,
    )


TRANSFORMATIONS: dict[str, Callable[[Annotated], list[Annotated]]] = {
    "original": lambda c: [c],
    "noise": lambda c: [noise(c, 0.08)],
    "rescale 0.5x": lambda c: [rescale(c, 0.5)],
    "rescale 2x": lambda c: [rescale(c, 2.0)],
    "gamma 0.5": lambda c: [gamma(c, 0.5)],
    "gamma 2.0": lambda c: [gamma(c, 2.0)],
    "gradient left-right": lambda c: [gradient(c, 0.6, "x")],
    "gradient right-left": lambda c: [gradient(c, 0.6, "-x")],
    "gradient top-bottom": lambda c: [gradient(c, 0.6, "y")],
    "bg up, signal down": lambda c: [background_up_signal_down(c)],
    "vignetting": lambda c: [vignette(c)],
    "inverted": lambda c: [invert(c)],
    "16-bit (12 used)": lambda c: [to_16bit(c)],
    "8-bit, 1/4 range": lambda c: [to_8bit_dim(c)],
    "JPEG q70": lambda c: [jpeg(c, 70)],
    "crops": lambda c: list(crops(c)),
}
