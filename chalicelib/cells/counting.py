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

from chalicelib.cells.pixels import to_uint8
from chalicelib.errors import InvalidInput

DEFAULT_METHOD = "hough"


@dataclass(frozen=True)
class Cell:
    """One detected object: centre (x, y) in pixels, radius in pixels, area in pixels²."""

    x: float
    y: float
    radius: float
    area: float

    def to_dict(self) -> dict[str, float]:
        return {
            "x": round(self.x, 2),
            "y": round(self.y, 2),
            "r": round(self.radius, 2),
            "area": round(self.area, 1),
        }


@dataclass(frozen=True)
class Counting:
    method: str
    parameters: Mapping[str, Any]
    cells: tuple[Cell, ...] = field(default_factory=tuple)

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
    smoothed = cv2.GaussianBlur(to_uint8(gray), (blur, blur), 0)
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


METHODS: dict[str, Callable[..., Counting]] = {"hough": count_hough}


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
    return _method(method)(gray, **typed)


def _method(method: str) -> Callable[..., Counting]:
    try:
        return METHODS[method]
    except KeyError:
        raise InvalidInput(
            f"unknown counting method {method!r}; choose one of {', '.join(sorted(METHODS))}"
        ) from None


def _coerce(name: str, value: Any, default: Any) -> Any:
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
