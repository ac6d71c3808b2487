"""Quality control of a count: what was decided, what looks wrong, whether to trust it.

Pure functions (NumPy/OpenCV); no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from chalicelib.cells.objects import subsample
from chalicelib.cells.segmentation import Segmentation

CLIPPING_LEVELS = frozenset(2**bits - 1 for bits in (8, 10, 12, 14, 16))
SATURATION_WARNING = 0.005  # fraction of pixels at the top value
SATURATION_BLOCKING = 0.05
MIN_RADIUS = 2.5  # px: smaller objects cannot be told apart reliably
FOCUS_WARNING = 0.25  # edge sharpness ratio below this: out of focus (see ``focus``)
# A central window of this side (px after the step) is judged: 256 where it was 384
# (2.25x fewer pixels blurred three times; no verdict of the bench changed: docs/counting.md).
FOCUS_WINDOW = 256
FLAGGED_BLOCKING = 0.2  # flagged objects over all objects


@dataclass(frozen=True)
class Quality:
    """The ``qc`` block of a result and the verdict."""

    qc: dict[str, Any]
    reliable: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"qc": self.qc, "reliable": self.reliable, "reliability_reasons": list(self.reasons)}


def saturated_fraction(gray: np.ndarray) -> float:
    """Fraction of pixels at the image's top value when that value looks clipped.

    A clipped image has a pile of pixels at exactly the top value of its
    storage or of its camera (8, 10, 12, 14 or 16 bits).

    >>> img = np.zeros((10, 10), np.uint8); img[0, :5] = 255
    >>> saturated_fraction(img)
    0.05
    """
    sample = subsample(gray, 262_144)
    top = int(sample.max())
    if top not in CLIPPING_LEVELS:
        return 0.0
    fraction = float(np.mean(sample == top))
    return round(fraction, 5) if fraction >= 0.0005 else 0.0


def focus(gray: np.ndarray, radius: float) -> float:
    """Edge sharpness at the object scale: fine over coarse band-pass energy.

    The mean absolute difference of Gaussians at sigma r/8..r/4 over that at
    r/4..r/2, on a subsample: about 0.4-0.7 for sharp objects, lower when the
    image is blurred (out of focus) at the objects' scale.
    """
    if radius <= 0:
        return 0.0
    step = max(1, int(radius / 6))
    image = gray[::step, ::step]
    height, width = image.shape
    side = FOCUS_WINDOW  # a central window is enough to judge sharpness
    y0, x0 = max(0, (height - side) // 2), max(0, (width - side) // 2)
    image = image[y0 : y0 + side, x0 : x0 + side].astype(np.float32)
    r = radius / step
    fine = [cv2.GaussianBlur(image, (0, 0), max(0.5, r * f)) for f in (0.125, 0.25, 0.5)]
    high = float(np.mean(np.abs(fine[0] - fine[1])))
    low = float(np.mean(np.abs(fine[1] - fine[2])))
    return round(high / low, 3) if low > 0 else 0.0


def _size_and_focus(segmentation: Segmentation, sharpness: float) -> list[str]:
    """Reasons not to trust a count that come from the objects' size and sharpness."""
    found = []
    if 0 < segmentation.radius < MIN_RADIUS:
        found.append(
            f"objects are only ~{2 * segmentation.radius:.1f} px across: too small to separate"
        )
    if segmentation.scale_note:
        found.append(segmentation.scale_note)
    if segmentation.count_note:
        found.append(segmentation.count_note)
    if segmentation.count and sharpness < FOCUS_WARNING:
        found.append(f"the image looks out of focus (sharpness {sharpness:.2f})")
    return found


def assess(segmentation: Segmentation, gray: np.ndarray) -> Quality:
    """QC block and reliability verdict for a segmentation of ``gray``.

    A size in doubt (``segmentation.scale_note``: nuclei whose size is
    ambiguous, phase-contrast cells whose size could not be judged) or a count
    in doubt (``segmentation.count_note``: far more dark cell bodies than
    phase-contrast cells counted) makes the count not reliable.
    """
    decision = segmentation.decision
    saturated = saturated_fraction(gray)
    sharpness = focus(gray, segmentation.radius)
    warnings: list[str] = []
    blocking: list[str] = []
    if decision.uncertain:
        blocking.append(
            f"image type uncertain ({decision.image_type}, confidence {decision.confidence:.2f}): "
            "set image_type to fluorescence or phase-contrast"
        )
    if decision.polarity < 0:
        warnings.append("dark objects on a bright background: counted as inverted fluorescence")
    if saturated >= SATURATION_WARNING:
        message = f"{100 * saturated:.1f}% of pixels are saturated"
        (blocking if saturated >= SATURATION_BLOCKING else warnings).append(message)
    blocking += _size_and_focus(segmentation, sharpness)
    flagged = len(segmentation.flagged)
    if flagged:
        warnings.append(
            f"{flagged} object(s) flagged and not counted: " + "; ".join(segmentation.flagged)
        )
        if flagged > FLAGGED_BLOCKING * max(1, segmentation.count + flagged):
            blocking.append("many objects were flagged: check the annotated image")
    if segmentation.count == 0:
        warnings.append("no objects found")
    qc = {
        "image_type": segmentation.image_type,
        "image_type_confidence": decision.confidence,
        "polarity": "bright objects" if decision.polarity > 0 else "dark objects",
        "diameter_px": round(2 * segmentation.radius, 1),
        "flagged_objects": flagged,
        "saturated_fraction": saturated,
        "focus": sharpness,
        "warnings": warnings + blocking,
    }
    return Quality(qc, not blocking, tuple(blocking))
