"""The image-type preview is made of whole blocks (OpenCV's fast INTER_AREA)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chalicelib.cells import image_type
from devtools.synthetic import cells as synthetic


def generic_preview(gray: np.ndarray) -> np.ndarray:
    """The preview before issue 12ac: INTER_AREA over the whole image, cells of any width."""
    height, width = gray.shape
    step = max(1, max(height, width) // image_type.PREVIEW_SIDE)
    small = gray.astype(np.float32)
    if step > 1:
        size = (max(1, width // step), max(1, height // step))
        small = cv2.resize(small, size, interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.GaussianBlur(small, (0, 0), 1.0))


@pytest.mark.parametrize("shape", [(300, 400), (1024, 1536), (1030, 1543), (700, 2600), (5, 3000)])
def test_preview_is_the_mean_of_whole_blocks(shape: tuple[int, int]) -> None:
    gray = np.random.default_rng(sum(shape)).integers(0, 256, shape).astype(np.uint8)
    preview = image_type._preview(gray)
    height, width = shape
    step = max(1, max(shape) // image_type.PREVIEW_SIDE)
    assert preview.shape == generic_preview(gray).shape
    if step == 1 or min(shape) < step or (height % step == 0 and width % step == 0):
        # no partial block: the same pixels as before
        assert np.array_equal(preview, generic_preview(gray))
        return
    rows, columns = height // step, width // step
    blocks = gray[: rows * step, : columns * step].reshape(rows, step, columns, step)
    means = blocks.astype(np.float64).mean(axis=(1, 3)).astype(np.float32)
    expected = cv2.GaussianBlur(means, (0, 0), 1.0)
    assert np.allclose(preview, expected, atol=1e-3)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_decision_as_with_cells_of_any_width(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sizes that are no multiple of the step: the decision of the generic preview."""
    scene = synthetic.nuclei(80, (1090, 1630), (6.0, 11.0), noise=0.03, gradient=0.3, seed=seed)
    images = [scene.image, 255 - scene.image]
    found = [image_type.classify(gray) for gray in images]
    monkeypatch.setattr(image_type, "_preview", generic_preview)
    for gray, decision in zip(images, found, strict=True):
        before = image_type.classify(gray)
        assert (decision.image_type, decision.polarity) == (before.image_type, before.polarity)
        assert abs(decision.background_position - before.background_position) <= 1 / 64 + 1e-9
