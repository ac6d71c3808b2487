"""The image-type decision reads a sample of each tile's pixels: the same decisions as
reading them all (issue 12m: a speed change that may move the mode by a bin)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from chalicelib.cells import image_type
from chalicelib.cells.imaging import to_gray
from chalicelib.config import PROJECT_DIR
from devtools.bench import robustness
from devtools.synthetic import cells as synthetic

ANNOTATED = PROJECT_DIR / "bench" / "data" / "annotated"


@cache
def _images() -> list[tuple[str, np.ndarray]]:
    crops = [c for c in robustness.load_annotated(ANNOTATED) if c.image.shape[0] >= 600]
    # the phase-contrast crops (600-800 px: sampled), pc232 inverted (near a boundary)
    found = [(case.name, to_gray(case.image)) for case in crops]
    [pc232] = [case for case in crops if case.name == "pc232"]
    found.append(("pc232 inverted", to_gray(robustness.invert(pc232).image)))
    scene = synthetic.nuclei(60, (900, 900), noise=0.03, gradient=0.4, dtype=np.uint16, seed=3)
    found.append(("generated nuclei 900x900", scene.image))
    return found


def test_the_tiles_of_a_large_preview_are_sampled(monkeypatch: pytest.MonkeyPatch) -> None:
    """An 800 px image's tiles hold ~71,000 preview pixels: every second row and column
    is read (the sampled preview is what the tiles see)."""
    seen: list[tuple[int, ...]] = []
    original = image_type._mode_position

    def spy(tile: np.ndarray) -> tuple[float, float] | None:
        seen.append(tile.shape)
        return original(tile)

    monkeypatch.setattr(image_type, "_mode_position", spy)
    image_type.background_position(np.zeros((800, 800), np.uint8))
    assert seen and max(h * w for h, w in seen) <= 2 * image_type.TILE_SAMPLES
    # an 800 px preview, every second pixel: 3 x 3 tiles of 133-134 px
    assert {h for h, _ in seen} == {133, 134} and {w for _, w in seen} == {133, 134}


def test_sampled_tiles_decide_as_all_pixels_do(monkeypatch: pytest.MonkeyPatch) -> None:
    """The phase-contrast crops (real), an inverted one and generated nuclei."""
    images = _images()
    sampled = [image_type.classify(gray) for _, gray in images]
    monkeypatch.setattr(image_type, "TILE_SAMPLES", 10**9)
    monkeypatch.setattr(image_type, "FAINT_SAMPLES", 10**9)
    for (name, gray), sampled_decision in zip(images, sampled, strict=True):
        _check(name, sampled_decision, image_type.classify(gray))


def _check(name: str, sampled: image_type.TypeDecision, full: image_type.TypeDecision) -> None:
    assert (sampled.image_type, sampled.polarity) == (full.image_type, full.polarity), name
    # the median tile's mode moves by at most two of the 64 bins
    assert abs(sampled.background_position - full.background_position) <= 2 / 64 + 1e-9, name
