"""Small shared fixtures for the Prediction API tests."""

from __future__ import annotations

from typing import Any

FEATURES = ["meanConcavePoints", "worstRadius", "worstTexture", "worstArea", "worstConcavePoints"]

# The seed's examples (README of the seed and its article).
SEED_MALIGNANT = {
    "meanConcavePoints": 0.07951,
    "worstRadius": 24.86,
    "worstTexture": 26.58,
    "worstArea": 1866.0,
    "worstConcavePoints": 0.1789,
}
SEED_BENIGN = {
    "meanConcavePoints": 0.03821,
    "worstRadius": 14.97,
    "worstTexture": 24.64,
    "worstArea": 677.9,
    "worstConcavePoints": 0.1015,
}
REQUIRED = (
    "'body' must contain values for: "
    "meanConcavePoints, worstRadius, worstTexture, worstArea, worstConcavePoints"
)


def observation(**changes: Any) -> dict[str, Any]:
    """The seed's benign example with some fields changed."""
    return {**SEED_BENIGN, **changes}


def rows(n: int) -> list[list[float]]:
    """``n`` varied, plausible rows in feature order (no dataset needed)."""
    return [
        [
            0.02 + 0.15 * (i % 7) / 7,
            11.0 + 0.37 * (i % 41),
            15.0 + 0.29 * (i % 53),
            400.0 + 29.0 * (i % 61),
            0.05 + 0.2 * (i % 11) / 11,
        ]
        for i in range(n)
    ]
