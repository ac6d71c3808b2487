"""``lab bench count --small-crops``: small, sparse crops of the tune regions (issue-12w).

A lab cuts small crops from its own images: a corner with two nuclei, a 60 px
field at another magnification. ``robustness.small_crops`` makes 8 crops (four
corners, four random places) of 0.3, 0.4 and 0.55 of each side of every tune
fluorescence region and the DSB image, each rescaled 0.5×, 1× and 2× first: 504
images, truth as an edge range. Held-out regions are never used here.

Per scale: the count error (as the other sets: 0 inside the range), the counts over
15 % (and how many of them were flagged not reliable), the objects outside the range
summed, the counts flagged not reliable, and the crops whose object size is off by
more than 1.5x from the size estimated on their whole region (scaled alike), with how
many of those were flagged.
"""

from __future__ import annotations

import json
import time

import cv2
import numpy as np

from chalicelib.cells.counting import count_cells
from devtools.bench import robustness
from devtools.bench.count import ANNOTATED, dsb

OFF_SIZE = 1.5  # an object size this far from the whole region's is off


def run(as_json: bool = False) -> int:
    cv2.setNumThreads(1)
    regions = [
        c
        for c in robustness.load_annotated(ANNOTATED)
        if c.image_type == "fluorescence" and c.split == "tune"
    ] + dsb()
    cpu = time.process_time()
    rows: dict[str, list[tuple[float, int, bool, bool]]] = {}
    for region in regions:
        whole = float(count_cells(region.image).parameters["estimated_diameter"])
        for factor, crop in robustness.small_crops(region):
            counting = count_cells(crop.image)
            size = float(counting.parameters.get("estimated_diameter") or 0.0)
            ratio = size / (whole * factor) if size > 0 else 0.0
            off = not 1 / OFF_SIZE <= ratio <= OFF_SIZE
            flagged = counting.quality is not None and not counting.quality.reliable
            row = (crop.error(counting.count), crop.outside(counting.count), flagged, off)
            rows.setdefault(f"{factor:g}x", []).append(row)
    rows["all"] = [row for values in rows.values() for row in values]
    table = {name: _summary(values) for name, values in rows.items()}
    if as_json:
        print(json.dumps(table))
        return 0
    print(f"\nsmall crops of the tune regions and DSB ({time.process_time() - cpu:.0f} s CPU)")
    print(
        f"{'scale':<6}{'crops':>6}{'mean':>8}{'worst':>8}{'>15% (flagged)':>16}{'outside':>9}"
        f"{'flagged':>9}{'size off (flagged)':>20}"
    )
    for name, s in table.items():
        print(
            f"{name:<6}{s['crops']:>6}{s['mean']:>7.1f}%{s['worst']:>7.0f}%"
            f"{s['over_15']:>10} ({s['over_15_flagged']:>3})"
            f"{s['outside']:>9}{s['flagged']:>9}{s['size_off']:>12} ({s['size_off_flagged']})"
        )
    return 0


def _summary(values: list[tuple[float, int, bool, bool]]) -> dict[str, float]:
    errors = np.array([v[0] for v in values])
    flagged = np.array([v[2] for v in values])
    off = np.array([v[3] for v in values])
    return {
        "crops": len(values),
        "mean": 100 * float(errors.mean()),
        "worst": 100 * float(errors.max()),
        "over_15": int((errors > 0.15).sum()),
        "over_15_flagged": int(((errors > 0.15) & flagged).sum()),
        "outside": int(sum(v[1] for v in values)),
        "flagged": int(flagged.sum()),
        "size_off": int(off.sum()),
        "size_off_flagged": int((off & flagged).sum()),
    }
