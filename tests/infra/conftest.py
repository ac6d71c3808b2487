"""Offline infrastructure checks: synthesized CDK templates and Chalice's Terraform.

Synthesizing both stages takes ~10 s (jsii starts Node.js once) and each
``chalice package`` about a second, so they run once per session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.package import clean_app_tree
from infra.stages import DEPLOYABLE_STAGES, Stage
from tests.conftest import ROOT

API_ID = "a1b2c3d4e5"  # stands for the REST API id chalice deploy reports


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    templates: dict[str, dict[str, Any]]  # stack name -> template
    assets: dict[str, dict[str, Any]]  # stack name -> asset manifest

    def infra(self, stage: str) -> dict[str, Any]:
        return self.templates[Stage(stage).stack_name]

    def resources(self, stage: str, kind: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource["Properties"]
            for logical_id, resource in self.infra(stage)["Resources"].items()
            if resource["Type"] == kind
        }


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    from infra.app import synth

    outdir = tmp_path_factory.mktemp("cdk.out")
    assembly = synth(list(DEPLOYABLE_STAGES), outdir, rest_api_id=API_ID)
    templates = {stack.stack_name: stack.template for stack in assembly.stacks}
    assets = {name: json.loads((outdir / f"{name}.assets.json").read_text()) for name in templates}
    return Synthesized(outdir, templates, assets)


def chalice_package(stage: str, outdir: Path) -> subprocess.CompletedProcess[str]:
    """``chalice package --pkg-format terraform`` as make deploy's users would run it."""
    clean_app_tree(ROOT)  # as make deploy does
    env = {**os.environ, "STAGE": stage, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ENDPOINT_URL", None)
    chalice = Path(sys.executable).with_name("chalice")
    return subprocess.run(
        [str(chalice), "package", "--pkg-format", "terraform", "--stage", stage, str(outdir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Stage -> the chalice.tf.json of its package (every stage, local included)."""
    packages = {}
    for stage in ("local", *DEPLOYABLE_STAGES):
        outdir = tmp_path_factory.mktemp(f"package-{stage}")
        done = chalice_package(stage, outdir)
        assert done.returncode == 0, f"chalice package --stage {stage} failed:\n{done.stderr}"
        packages[stage] = {
            "config": json.loads((outdir / "chalice.tf.json").read_text()),
            "zip": outdir / "deployment.zip",
        }
    return packages
