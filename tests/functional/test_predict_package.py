"""`chalice package`: the zip Lambda is small, carries the model, and no scientific library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHALICE = Path(sys.executable).with_name("chalice")


def package(stage: str, out: Path) -> Path:
    env = {**os.environ, "STAGE": stage, "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run(
        [str(CHALICE), "package", "--pkg-format", "terraform", "--stage", stage, str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return out


@pytest.mark.skipif(not CHALICE.exists(), reason="the chalice CLI is not installed")
@pytest.mark.parametrize(("stage", "security"), [("dev", "api_key"), ("prod", "sigv4")])
def test_package_is_a_small_zip_with_stage_auth(tmp_path: Path, stage: str, security: str) -> None:
    out = package(stage, tmp_path / stage)
    with zipfile.ZipFile(out / "deployment.zip") as archive:
        names = archive.namelist()
        unzipped = sum(info.file_size for info in archive.infolist())
    assert (out / "deployment.zip").stat().st_size <= 2 * 1024 * 1024
    assert unzipped <= 5 * 1024 * 1024
    assert "chalicelib/predict/artifacts/model.json" in names
    tops = {name.split("/")[0] for name in names}
    assert not tops & {"numpy", "sklearn", "scipy", "joblib"}

    terraform = json.loads((out / "chalice.tf.json").read_text())
    swagger = json.loads(terraform["locals"]["chalice_api_swagger"])
    for path, method in [("/predict", "post"), ("/predict/batch", "post"), ("/model", "get")]:
        assert swagger["paths"][path][method]["security"] == [{security: []}]
