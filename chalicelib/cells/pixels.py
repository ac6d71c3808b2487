"""Pixel-value conversions shared by counting and drawing (NumPy only)."""

from __future__ import annotations

import numpy as np


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Stretch any dtype linearly to the full uint8 range (uint8 passes through).

    >>> to_uint8(np.array([[0, 512, 1024]], dtype=np.uint16)).tolist()
    [[0, 128, 255]]
    """
    if image.dtype == np.uint8:
        return image
    lo, hi = float(image.min()), float(image.max())
    if hi <= lo:
        return np.zeros(image.shape, dtype=np.uint8)
    scaled = (image.astype(np.float32) - lo) * (255.0 / (hi - lo))
    stretched: np.ndarray = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
    return stretched
