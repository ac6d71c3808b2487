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
    brightness_spread: float = 0.0,
    elongation: float = 1.0,
    texture: float = 0.0,
    debris: int = 0,
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
    brightness_spread : float
        Log-normal sd of per-nucleus brightness (0.4: dim and bright side by side).
    elongation : float
        Largest ratio of a nucleus's long to short axis (1 = round).
    texture : float
        Strength of smooth intensity texture inside nuclei (chromatin).
    debris : int
        Small bright specks (1–2 px) that are not nuclei and must not be counted.
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
    centres, radii = _place(rng, count, shape, radius, overlap)
    canvas: np.ndarray = np.zeros(shape, np.float32)
    grain = _texture(rng, shape, max(2.0, radius[0] / 3)) if texture else None
    for (x, y), r in zip(centres, radii, strict=True):
        stretch = float(rng.uniform(1.0, elongation))
        axes = (max(2, round(r * np.sqrt(stretch))), max(2, round(r / np.sqrt(stretch))))
        level = (
            0.6 * float(np.exp(rng.normal(0, brightness_spread)))
            if brightness_spread
            else (float(rng.uniform(0.55, 0.95)))
        )
        blob = np.zeros(shape, np.float32)
        cv2.ellipse(
            blob,
            (round(x), round(y)),
            axes,
            float(rng.uniform(0, 180)),
            0,
            360,
            level,
            -1,
            cv2.LINE_AA,
        )
        canvas = np.maximum(canvas, blob)
    if grain is not None:
        canvas *= 1 + texture * grain
    for _ in range(debris):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        cv2.circle(canvas, (cx, cy), int(rng.integers(1, 3)), float(rng.uniform(0.5, 1.0)), -1)
    if blur > 0:
        canvas = cv2.GaussianBlur(canvas, (0, 0), blur)
    if gradient:
        ramp = np.linspace(1 - gradient, 1 + gradient, width, dtype=np.float32)[None, :]
        canvas = canvas * ramp + 0.08 * gradient * ramp
    canvas += rng.normal(0, noise, shape).astype(np.float32) + 0.05
    top = np.iinfo(dtype).max
    image: np.ndarray = np.clip(canvas * top * 0.8, 0, top).astype(dtype)
    return Synthetic(image, np.array(centres, float).reshape(-1, 2), np.array(radii, float))


def _place(
    rng: np.random.Generator,
    count: int,
    shape: tuple[int, int],
    radius: tuple[float, float],
    overlap: float,
) -> tuple[list[tuple[float, float]], list[float]]:
    height, width = shape
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
    return centres, radii


def _texture(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    noise = rng.normal(0, 1, shape).astype(np.float32)
    field: np.ndarray = cv2.GaussianBlur(noise, (0, 0), scale)
    return np.asarray(field / max(float(np.abs(field).max()), 1e-6))


# The benchmark's synthetic sets: counts 1-300, 8 and 16 bit, touching nuclei,
# dim next to bright, elongated, textured, uneven illumination, debris.
BENCH_COUNTS = (1, 3, 10, 25, 50, 100, 150, 200, 300)


def bench_sets() -> list[tuple[str, Synthetic]]:
    sets: list[tuple[str, Synthetic]] = []
    for count in BENCH_COUNTS:
        shape = (512, 512) if count <= 100 else (1024, 1024)
        for overlap, dtype in ((0.0, np.uint8), (0.25, np.uint16), (0.25, np.uint8)):
            name = f"n={count} overlap={overlap} {np.dtype(dtype).name}"
            image = nuclei(
                count,
                shape,
                (7.0, 13.0),
                overlap=overlap,
                blur=1.2,
                noise=0.03,
                gradient=0.4,
                brightness_spread=0.35,
                elongation=1.6,
                texture=0.3,
                debris=max(1, count // 10),
                dtype=dtype,
                seed=count * 7 + len(sets),
            )
            sets.append((name, image))
    return sets


# Dim nuclei touching bright ones (issue 12ab): the brightness of the dim one against its
# bright neighbour; each field has pairs of every ratio in turn and lone nuclei.
DIM_RATIOS = (0.1, 0.2, 0.35, 0.5)


def dim_beside_bright(
    seed: int,
    ratios: tuple[float, ...] = DIM_RATIOS,
    shape: tuple[int, int] = (256, 256),
    radius: float = 7.0,
    pairs: int = 8,
    lone: int = 8,
) -> Synthetic:
    """A field of ``pairs`` bright nuclei each touched by a dim one (``ratios`` of its
    brightness in turn, centres 1.5-1.9 radii apart) and ``lone`` nuclei of 25-100 % of
    the brightest, 8 bit: domes (a nucleus is thickest in its middle) blurred by 1.5 px,
    noise sd 2 on a background of 10, the brightest at 200.

    >>> field = dim_beside_bright(1, pairs=2, lone=1)
    >>> field.count, field.image.dtype.name
    (5, 'uint8')
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    canvas = np.zeros(shape, np.float32)
    centres: list[tuple[float, float]] = []
    radii: list[float] = []

    def free(x: float, y: float, reach: float) -> bool:
        return all((x - a) ** 2 + (y - b) ** 2 > reach**2 for a, b in centres)

    def put(x: float, y: float, height: float, r: float) -> None:
        nonlocal canvas
        inside = np.clip(1 - ((xx - x) ** 2 + (yy - y) ** 2) / (r * r), 0, 1)
        canvas = np.maximum(canvas, height * np.sqrt(inside))
        centres.append((x, y))
        radii.append(r)

    attempts = 0
    while len(radii) < 2 * pairs and attempts < 2000:
        attempts += 1
        x = rng.uniform(2 * radius, shape[1] - 2 * radius)
        y = rng.uniform(2 * radius, shape[0] - 2 * radius)
        angle, apart = rng.uniform(0, 2 * np.pi), rng.uniform(1.5, 1.9) * radius
        x2, y2 = x + apart * np.cos(angle), y + apart * np.sin(angle)
        inside = 1.5 * radius < x2 < shape[1] - 1.5 * radius
        inside &= 1.5 * radius < y2 < shape[0] - 1.5 * radius
        if not (inside and free(x, y, 3.2 * radius) and free(x2, y2, 3.2 * radius)):
            continue
        height = 200 * rng.uniform(0.7, 1.0)
        ratio = ratios[(len(radii) // 2) % len(ratios)]
        put(x, y, height, radius * rng.uniform(0.85, 1.15))
        put(x2, y2, height * ratio, radius * rng.uniform(0.85, 1.15))
    placed = len(radii)
    while len(radii) < placed + lone and attempts < 4000:
        attempts += 1
        x = rng.uniform(1.5 * radius, shape[1] - 1.5 * radius)
        y = rng.uniform(1.5 * radius, shape[0] - 1.5 * radius)
        if free(x, y, 3.0 * radius):
            put(x, y, 200 * rng.uniform(0.25, 1.0), radius * rng.uniform(0.85, 1.15))
    image = cv2.GaussianBlur(canvas, (0, 0), 1.5) + 10 + rng.normal(0, 2.0, shape)
    return Synthetic(
        np.clip(image, 0, 255).astype(np.uint8),
        np.array(centres, float).reshape(-1, 2),
        np.array(radii, float),
    )
