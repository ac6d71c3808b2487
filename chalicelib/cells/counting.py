"""Cell counting methods: pure functions, image array in, ``Counting`` out.

Every method has the signature ``method(gray, **parameters) -> Counting`` where
``gray`` is a 2-D uint8 or uint16 array. Methods are registered in ``METHODS``
and chosen by name; ``count_cells`` validates the name and the parameters so a
bad request fails with a clear message before any work is done.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from chalicelib.cells.image_type import FLUORESCENCE, PHASE_CONTRAST
from chalicelib.cells.pixels import to_uint8
from chalicelib.cells.quality import Quality, assess
from chalicelib.cells.segmentation import Measurements, measure, segment
from chalicelib.errors import InvalidInput

DEFAULT_METHOD = "watershed"
IMAGE_TYPES = ("auto", FLUORESCENCE, PHASE_CONTRAST)
IMAGE_TYPE_ALIASES = {"brightfield": PHASE_CONTRAST, "phase": PHASE_CONTRAST}
# Hough's cost grows with the square of the largest radius (each candidate centre scans
# the edge points within it): 30 px takes ~0.05 s on 0.5 MP, 100 px up to ~30 s on a
# noisy one, 100,000 px (clamped by OpenCV to the image) minutes. Larger objects: shrink
# the image first.
MAX_HOUGH_RADIUS = 100
HOUGH_RANGES = {  # name: (lowest, highest) accepted
    "dp": (1.0, 4.0),
    "param1": (1.0, 1000.0),
    "param2": (1.0, 1000.0),
}

# Allowed ranges of the numeric parameters (inclusive); 0 means "estimate" for diameter.
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "watershed": {
        "diameter": (0.0, 2000.0),
        "threshold_offset": (-3.0, 3.0),
        "pixel_size": (0.0, 1000.0),
    },
    "hough": {  # check_hough also bounds the radii and min_dist by the image's size
        **HOUGH_RANGES,
        "blur": (1, 31),
        "min_dist": (1.0, 10000.0),
        "min_radius": (0, MAX_HOUGH_RADIUS),
        "max_radius": (1, MAX_HOUGH_RADIUS),
    },
}


@dataclass(frozen=True)
class Cell:
    """One detected object, in original-image pixels.

    ``radius`` is the circle's radius (Hough) or the equivalent radius of the
    object's area (segmentation methods). Intensities are in the image's units.
    """

    x: float
    y: float
    radius: float
    area: float
    mean_intensity: float | None = None
    integrated_intensity: float | None = None
    bbox: tuple[int, int, int, int] | None = None  # x, y, width, height
    flag: str | None = None  # why the object is flagged and not counted

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "x": round(self.x, 2),
            "y": round(self.y, 2),
            "r": round(self.radius, 2),
            "area": round(self.area, 1),
        }
        if self.mean_intensity is not None:
            row["mean_intensity"] = round(self.mean_intensity, 3)
            row["integrated_intensity"] = round(float(self.integrated_intensity or 0), 1)
        if self.bbox is not None:
            row["bbox"] = list(self.bbox)
        if self.flag is not None:
            row["flagged"] = self.flag
        return row


@dataclass(frozen=True)
class Counting:
    """What a method found.

    ``cells`` are the counted objects; ``flagged`` the objects found but not
    counted (a fibre, a giant), each with its reason. ``labels`` (segmentation
    methods only, full resolution: counted objects first, then flagged ones)
    lets the annotator draw real outlines; ``quality`` is the QC verdict.
    """

    method: str
    parameters: Mapping[str, Any]
    cells: tuple[Cell, ...] = field(default_factory=tuple)
    labels: np.ndarray | None = field(default=None, repr=False, compare=False)
    flagged: tuple[Cell, ...] = field(default_factory=tuple)
    quality: Quality | None = None
    pixel_size: float = 0.0  # µm per pixel, 0 when not given

    @property
    def count(self) -> int:
        return len(self.cells)


def count_hough(
    gray: np.ndarray,
    *,
    blur: int = 5,
    dp: float = 1,
    min_dist: float = 20,
    param1: float = 50,
    param2: float = 30,
    min_radius: int = 5,
    max_radius: int = 30,
) -> Counting:
    """The seed's Hough circle transform, with the seed's fixed parameters.

    Parameters
    ----------
    gray : (M, N) ndarray of uint8 or uint16
        16-bit input is stretched to 8 bits first (``HoughCircles`` needs uint8).
    blur : int
        Side of the Gaussian blur kernel (odd).
    dp, min_dist, param1, param2, min_radius, max_radius
        ``cv2.HoughCircles`` arguments with ``HOUGH_GRADIENT``.

    Returns
    -------
    Counting
        One ``Cell`` per circle; no circles gives a count of 0.

    Examples
    --------
    >>> img = np.zeros((120, 120), np.uint8)
    >>> _ = cv2.circle(img, (60, 60), 15, 255, -1)
    >>> count_hough(img).count
    1
    """
    check_hough(gray.shape, blur, dp, min_dist, param1, param2, min_radius, max_radius)
    smoothed = cv2.GaussianBlur(to_uint8(gray), (blur, blur), 0)
    try:
        circles = cv2.HoughCircles(
            smoothed,
            cv2.HOUGH_GRADIENT,
            dp=dp,
            minDist=min_dist,
            param1=param1,
            param2=param2,
            minRadius=min_radius,
            maxRadius=max_radius,
        )
    except cv2.error as exc:  # a parameter OpenCV refuses: the caller's input, never retried
        raise InvalidInput(f"the Hough parameters were refused by OpenCV ({exc.err})") from exc
    found = () if circles is None else circles[0]
    cells = tuple(Cell(float(x), float(y), float(r), float(np.pi * r * r)) for x, y, r in found)
    parameters = {
        "blur": blur,
        "dp": dp,
        "min_dist": min_dist,
        "param1": param1,
        "param2": param2,
        "min_radius": min_radius,
        "max_radius": max_radius,
    }
    return Counting("hough", parameters, cells)


def check_hough(
    shape: tuple[int, ...],
    blur: int,
    dp: float,
    min_dist: float,
    param1: float,
    param2: float,
    min_radius: int,
    max_radius: int,
) -> None:
    """Refuse Hough parameters OpenCV rejects or that would cost unbounded CPU.

    >>> check_hough((100, 100), 4, 1, 20, 50, 30, 5, 30)
    Traceback (most recent call last):
    ...
    chalicelib.errors.InvalidInput: blur must be an odd number from 1 to 31, got 4
    """
    if not (1 <= blur <= 31 and blur % 2 == 1):
        raise InvalidInput(f"blur must be an odd number from 1 to 31, got {blur}")
    for name, value in (("dp", dp), ("param1", param1), ("param2", param2)):
        low, high = HOUGH_RANGES[name]
        if not low <= value <= high:
            raise InvalidInput(f"{name} must be from {low:g} to {high:g}, got {value:g}")
    size = max(shape[:2])
    if not 1 <= min_dist <= size:
        raise InvalidInput(f"min_dist must be from 1 to the image's size, got {min_dist:g}")
    largest = min(MAX_HOUGH_RADIUS, size)
    if not 0 <= min_radius <= max_radius <= largest or max_radius < 1:
        raise InvalidInput(
            f"radii must satisfy 0 <= min_radius <= max_radius <= {largest} (at most "
            f"{MAX_HOUGH_RADIUS} px and the image's size); got {min_radius}..{max_radius}"
        )


def count_watershed(
    gray: np.ndarray,
    *,
    diameter: float = 0.0,
    threshold_offset: float = 0.0,
    image_type: str = "auto",
    pixel_size: float = 0.0,
) -> Counting:
    """Count nuclei or cells: image-type decision, scale estimate, marker-controlled watershed.

    Fluorescent nuclei: blob seeds at the estimated size, ``cv2.watershed`` on
    the smoothed intensity, over-split pieces joined, fibres and giants
    flagged. Phase contrast / brightfield: a learned cell-density map (trees
    trained on the project's annotated photos), each region counted as the
    cells its density adds up to and split by ``cv2.watershed`` of the density
    (``chalicelib.cells.phase``). See ``chalicelib.cells.segmentation``.

    Parameters
    ----------
    gray : (M, N) ndarray of uint8 or uint16
    diameter : float
        Expected object diameter in pixels; 0 (default) estimates it.
    threshold_offset : float
        -3..3. Scales every detection threshold by ``2 ** offset``: negative
        finds more (fainter) objects, positive fewer.
    image_type : {"auto", "fluorescence", "phase-contrast"}
        ``brightfield`` and ``phase`` are accepted for phase contrast.
    pixel_size : float
        Micrometres per pixel; when given, the CSV also has areas and diameters in µm.

    Examples
    --------
    >>> img = np.zeros((120, 160), np.uint8)
    >>> for x in (40, 80, 120):
    ...     _ = cv2.circle(img, (x, 60), 12, 200, -1)
    >>> count_watershed(img).count
    3
    """
    kind = IMAGE_TYPE_ALIASES.get(image_type, image_type)
    if kind not in IMAGE_TYPES:
        raise InvalidInput(
            f"image_type must be one of {', '.join(IMAGE_TYPES)}, got {image_type!r}"
        )
    if 0 < diameter < 3:
        raise InvalidInput("diameter must be 0 (estimate) or at least 3 pixels")
    found = segment(gray, diameter, threshold_offset, kind)
    table = measure(found, gray)
    cells = _cells(table, found.flagged)
    quality = assess(found, gray)
    parameters = {
        "diameter": diameter,
        "threshold_offset": threshold_offset,
        "image_type": kind,
        "pixel_size": pixel_size,
        "detected_image_type": found.image_type,
        "estimated_diameter": round(2 * found.radius, 1),
    }
    counted = tuple(c for c in cells if c.flag is None)
    flagged = tuple(c for c in cells if c.flag is not None)
    return Counting("watershed", parameters, counted, found.labels, flagged, quality, pixel_size)


def _cells(table: Measurements, reasons: tuple[str, ...]) -> list[Cell]:
    count = len(table.x) - len(reasons)
    columns = zip(
        table.x.tolist(),  # Python floats at once: no per-element NumPy scalars
        table.y.tolist(),
        (table.equivalent_diameter / 2).tolist(),
        table.area.tolist(),
        table.mean_intensity.tolist(),
        table.integrated_intensity.tolist(),
        table.bbox.tolist(),
        strict=True,
    )
    return [
        Cell(
            x, y, r, area, mean, total, (box[0], box[1], box[2], box[3]), _reason(i, count, reasons)
        )
        for i, (x, y, r, area, mean, total, box) in enumerate(columns)
    ]


def _reason(i: int, count: int, reasons: tuple[str, ...]) -> str | None:
    return reasons[i - count] if i >= count else None


METHODS: dict[str, Callable[..., Counting]] = {"watershed": count_watershed, "hough": count_hough}


def parameters_of(method: str) -> dict[str, Any]:
    """The parameters ``method`` accepts, with their defaults."""
    signature = inspect.signature(_method(method))
    return {name: p.default for name, p in signature.parameters.items() if name != "gray"}


def count_cells(gray: np.ndarray, method: str = DEFAULT_METHOD, **parameters: Any) -> Counting:
    """Count cells in ``gray`` with the named method.

    Unknown methods and parameters raise ``InvalidInput`` naming what is allowed.
    Numeric parameters given as strings (object metadata, CLI) are converted.
    """
    allowed = parameters_of(method)
    unknown = sorted(set(parameters) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"unknown parameter(s) {', '.join(unknown)} for method {method}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    typed = {name: _coerce(name, value, allowed[name]) for name, value in parameters.items()}
    for name, value in typed.items():
        _check_range(method, name, value)
    return _method(method)(gray, **typed)


def _check_range(method: str, name: str, value: Any) -> None:
    limits = RANGES.get(method, {}).get(name)
    if limits is None or isinstance(value, str):
        return
    low, high = limits
    if not low <= value <= high:
        raise InvalidInput(f"parameter {name} must be within {low:g}..{high:g}, got {value:g}")


def _method(method: str) -> Callable[..., Counting]:
    try:
        return METHODS[method]
    except KeyError:
        raise InvalidInput(
            f"unknown counting method {method!r}; choose one of {', '.join(sorted(METHODS))}"
        ) from None


def _coerce(name: str, value: Any, default: Any) -> Any:
    if isinstance(default, str):
        return str(value)
    kind = type(default) if default is not None else float
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"parameter {name} must be a number, got {value!r}") from None
    if not np.isfinite(number):
        raise InvalidInput(f"parameter {name} must be finite, got {value!r}")
    if kind is int:
        if number != int(number):
            raise InvalidInput(f"parameter {name} must be a whole number, got {value!r}")
        return int(number)
    return number
