"""Pixel-value conversions shared by counting and drawing (NumPy only)."""

from __future__ import annotations

import numpy as np


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Stretch any dtype linearly to the full uint8 range (uint8 passes through).

    In a float image the stretch spans the finite values; NaN and -inf become 0 and
    +inf 255 (one NaN would otherwise make every pixel NaN, and the image black).
    An image without a finite value is black.

    >>> to_uint8(np.array([[0, 512, 1024]], dtype=np.uint16)).tolist()
    [[0, 128, 255]]
    >>> to_uint8(np.array([[0.0, 2.0, np.nan, np.inf]], dtype=np.float32)).tolist()
    [[0, 255, 0, 255]]
    """
    if image.dtype == np.uint8:
        return image
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        finite = np.isfinite(image)
        if not finite.any():
            return np.zeros(image.shape, dtype=np.uint8)
        values = image[finite]
        lo, hi = values.min(), values.max()
        image = np.where(finite, image, np.where(image > 0, hi, lo))  # (NaN > 0 is False)
    lo, hi = float(image.min()), float(image.max())
    if hi <= lo:
        return np.zeros(image.shape, dtype=np.uint8)
    scaled = (image.astype(np.float32) - lo) * (255.0 / (hi - lo))
    stretched: np.ndarray = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
    return stretched
