"""Speed changes of the phase-contrast path that must give the very same numbers (12ah)."""

from __future__ import annotations

import numpy as np
import pytest

from chalicelib.cells import phase


@pytest.mark.parametrize("seed", range(4))
def test_the_product_by_rows_is_numpys_product(seed: int) -> None:
    """Equal to the last rounding: bit for bit where OpenBLAS runs the blocks and the whole
    product through one kernel (a Haswell-class CPU), within an ulp or two where it runs
    blocks small enough through its small-matrix kernels (AVX-512), whose sums of the
    three products round in another order."""
    rng = np.random.default_rng(seed)
    shapes = [(1, 1), (1, 900), (900, 1), (65, 700), (129, 600), (540, 960), (2000, 3)]
    shapes += [(int(h), int(w)) for h, w in rng.integers(1, 1500, (40, 2))]
    for height, width in shapes:
        left = rng.standard_normal((height, 3))
        right = rng.standard_normal((3, width)) * 100
        whole = left @ right
        scale = np.abs(left) @ np.abs(right)  # (the size of the terms summed, per result)
        error = np.abs(phase._product_by_rows(left, right) - whole)
        assert np.all(error <= 4 * np.finfo(np.float64).eps * scale), (height, width)


def test_the_light_field_reads_the_product_by_rows() -> None:
    rng = np.random.default_rng(5)
    ramp = np.linspace(50, 150, 700, dtype=np.float32)[None, :].repeat(500, 0)
    lit = ramp * (1 + 0.01 * rng.standard_normal((500, 700))).astype(np.float32)
    light = phase.light_field(lit)
    assert light.shape == lit.shape and light.dtype == np.float32
    assert float(np.std(lit / light) / np.mean(lit / light)) < 0.012
