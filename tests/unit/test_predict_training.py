"""`lab train` is reproducible and the committed artifacts are its output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.predict.handlers import ARTIFACTS, read_model
from tests.conftest import ROOT

pytest.importorskip("sklearn")

# A fresh process, as `lab train` runs (pickle bytes depend on what the
# process loaded before, so an in-process rerun is not byte-comparable for the joblib file).
TRAIN = """
import sys
from pathlib import Path
from devtools.training import report, train
out = Path(sys.argv[1])
print(report(train(out / "artifacts", out / "models" / "breast-cancer.joblib", out)))
"""


def test_training_reproduces_the_committed_artifacts(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", TRAIN, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    fresh = {
        "model.json": tmp_path / "artifacts" / "model.json",
        "metadata.json": tmp_path / "artifacts" / "metadata.json",
        "breast-cancer.joblib": tmp_path / "models" / "breast-cancer.joblib",
    }
    committed = {
        "model.json": ARTIFACTS / "model.json",
        "metadata.json": ARTIFACTS / "metadata.json",
        "breast-cancer.joblib": ROOT / "models" / "breast-cancer.joblib",
    }
    for name, path in fresh.items():
        assert path.read_bytes() == committed[name].read_bytes(), (
            f"{name} differs from a fresh training run: run `lab train`"
        )
    assert read_model(tmp_path / "artifacts").ensemble == read_model().ensemble
    assert "accuracy 0.9" in done.stdout and "predictions equal True" in done.stdout
