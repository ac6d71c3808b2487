"""Synthetic fluorescence-nuclei images with known counts (ground truth for tests and bench)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Synthetic:
    image: np.ndarray
    centres: np.ndarray  # (K, 2) float x, y
    radii: np.ndarray  # (K,) float

    @property
    def count(self) -> int:
        return len(self.radii)


def nuclei(
    count: int,
    shape: tuple[int, int] = (512, 512),
    radius: tuple[float, float] = (8.0, 14.0),
    *,
    overlap: float = 0.0,
    blur: float = 1.0,
    noise: float = 0.02,
    gradient: float = 0.0,
    dtype: type = np.uint8,
    seed: int = 0,
) -> Synthetic:
    """Draw ``count`` bright elliptical nuclei on a dark background.

    Parameters
    ----------
    count : int
        Number of nuclei placed (fewer if the image is too full to place them).
    shape : (M, N)
        Image size.
    radius : (low, high)
        Radii are drawn uniformly from this range.
    overlap : float
        0 keeps nuclei apart; up to ~0.4 lets neighbours touch and overlap by
        that fraction of their radii (the hard case for counting).
    blur, noise, gradient : float
        Gaussian blur sigma (px), noise sd (fraction of full scale), and the
        strength of a left-to-right illumination gradient (0 = flat).
    dtype : uint8 or uint16
    seed : int

    Returns
    -------
    Synthetic
        ``image`` of shape (M, N) and ``dtype``, plus the true centres and radii.

    >>> nuclei(5, (128, 128), seed=1).count
    5
    """
    rng = np.random.default_rng(seed)
    height, width = shape
    canvas: np.ndarray = np.zeros(shape, np.float32)
    centres: list[tuple[float, float]] = []
    radii: list[float] = []
    attempts = 0
    while len(radii) < count and attempts < count * 200:
        attempts += 1
        r = float(rng.uniform(*radius))
        x, y = rng.uniform(r, width - r), rng.uniform(r, height - r)
        if all(
            np.hypot(x - cx, y - cy) >= (r + cr) * (1 - overlap)
            for (cx, cy), cr in zip(centres, radii, strict=True)
        ):
            centres.append((x, y))
            radii.append(r)
    for (x, y), r in zip(centres, radii, strict=True):
        axes = (
            max(2, round(r * rng.uniform(0.85, 1.0))),
            max(2, round(r * rng.uniform(0.85, 1.0))),
        )
        brightness = float(rng.uniform(0.55, 0.95))
        blob = np.zeros(shape, np.float32)
        cv2.ellipse(
            blob,
            (round(x), round(y)),
            axes,
            float(rng.uniform(0, 180)),
            0,
            360,
            brightness,
            -1,
            cv2.LINE_AA,
        )
        canvas = np.maximum(canvas, blob)
    if blur > 0:
        canvas = cv2.GaussianBlur(canvas, (0, 0), blur)
    if gradient:
        ramp = np.linspace(1 - gradient, 1 + gradient, width, dtype=np.float32)[None, :]
        canvas = canvas * ramp + 0.08 * gradient * ramp
    canvas += rng.normal(0, noise, shape).astype(np.float32) + 0.05
    top = np.iinfo(dtype).max
    image: np.ndarray = np.clip(canvas * top * 0.8, 0, top).astype(dtype)
    return Synthetic(image, np.array(centres, float).reshape(-1, 2), np.array(radii, float))
