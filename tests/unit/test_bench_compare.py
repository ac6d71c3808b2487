"""``lab bench count --against``: another commit's counter beside this tree's, and the report."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from chalicelib.cells.counting import count_cells
from chalicelib.config import PROJECT_DIR
from devtools.bench import compare


def spots() -> np.ndarray:
    image = np.zeros((120, 160), np.uint8)
    for x in (30, 70, 110):
        cv2.circle(image, (x, 60), 10, 200, -1)
    return image


def test_the_report_gives_each_version_its_minimum_per_image_per_megapixel() -> None:
    small, large = np.zeros((100, 100), np.uint8), np.zeros((1000, 1000), np.uint8)
    images = [("synthetic", "a", small, {}), ("phase-contrast tune", "b", large, {})]
    best = {
        "synthetic\ta\tbase": [0.004, 0.002],
        "synthetic\ta\tthis": [0.001, 0.003],
        "phase-contrast tune\tb\tbase": [0.05],
        "phase-contrast tune\tb\tthis": [0.04, 0.06],
    }
    report = compare._report(images, best, ["synthetic / a"], "main")
    rows = report["cpu_ms_per_mp"]
    assert rows["fluorescence < 0.25 MP"]["base"] == 200.0  # 2 ms over 0.01 MP
    assert rows["fluorescence < 0.25 MP"]["this"] == 100.0
    assert rows["phase contrast 0.25-2 MP"]["this"] == 40.0
    assert rows["all"]["images"] == 2 and rows["all"]["megapixels"] == 1.01
    assert rows[compare.OVERALL] == rows["all"]  # no coins or large fields here
    assert report["cpu_ms_per_mp_by_set"]["synthetic"]["this"] == 100.0
    assert report["changed"] == ["synthetic / a"]


def test_the_summary_holds_what_must_not_change() -> None:
    found = compare.summary(count_cells(spots()))
    assert found["count"] == 3 and found["reliable"] in (True, False)
    assert len(found["labels"]) == 40 and len(found["cells"]) == 3
    assert found["qc"]["image_type"] == "fluorescence"


@pytest.mark.skipif(
    shutil.which("git") is None or not (PROJECT_DIR / ".git").exists(),
    reason="needs the project's git repository",
)
def test_another_commit_counts_beside_this_tree(tmp_path: Path) -> None:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        base = compare.base_counter(head, tmp_path)
        assert base.__module__ == f"{compare.BASE_PACKAGE}.cells.counting"
        assert base(spots()).count == count_cells(spots()).count == 3
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == compare.BASE_PACKAGE]:
            del sys.modules[name]
