"""``make deploy``/``make destroy`` run their steps in the one order that works."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra import deploy
from infra.stack import expected_outputs
from infra.stages import Stage
from tests.conftest import ROOT


def plan(*arguments: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "infra.deploy", *arguments, "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.splitlines()


def position(lines: list[str], *words: str) -> int:
    return next(i for i, line in enumerate(lines) if all(w in line for w in words))


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_deploy_order(stage: str) -> None:
    target = Stage(stage)
    lines = plan("deploy", "--stage", stage)
    steps = [
        position(lines, "cdk", "bootstrap"),
        position(lines, "cdk", "deploy", target.stack_name),
        position(lines, "checking", "outputs"),
        position(lines, "chalice deploy --stage " + stage, f"STAGE={stage}"),
    ]
    if deploy.protects_routes(target):
        steps.append(position(lines, "cdk", "deploy", target.api_stack_name))
    assert steps == sorted(steps)
    assert all(f"stage={stage}" in line for line in lines if "aws-cdk@" in line)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_destroy_order(stage: str) -> None:
    target = Stage(stage)
    lines = plan("destroy", "--stage", stage)
    chalice = position(lines, "chalice delete --stage " + stage)
    infra = position(lines, "cdk", "destroy", target.stack_name)
    assert chalice < infra
    if deploy.protects_routes(target):
        assert position(lines, "cdk", "destroy", target.api_stack_name) < chalice
    emptied = [line for line in lines if line.startswith("emptying")]
    kept = [line for line in lines if line.startswith("kept")]
    if target.infra.retain_data:  # prod keeps the lab's data unless told otherwise
        assert not emptied and len(kept) == len(target.settings.buckets)
        deleted = plan("destroy", "--stage", stage, "--delete-data")
        assert position(deleted, "emptying", "deleting") > position(deleted, "cdk", "destroy")
    else:  # CloudFormation deletes only empty buckets: empty them first
        assert len(emptied) == len(target.settings.buckets) and not kept
        assert max(position(lines, b) for b in target.settings.buckets) < infra


def test_the_local_stage_is_not_deployable() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "infra.deploy", "deploy", "--stage", "local", "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode != 0 and "dev, prod" in done.stderr


def test_output_check_catches_a_stack_that_does_not_match_the_config() -> None:
    target = Stage("dev")
    outputs = expected_outputs(target.settings)
    assert deploy.output_mismatches(target, outputs) == []
    wrong = {**outputs, "JobsQueueName": "lab-pipelines-prod-jobs"}
    assert deploy.output_mismatches(target, wrong) == [
        "JobsQueueName: stack has 'lab-pipelines-prod-jobs', config says 'lab-pipelines-dev-jobs'"
    ]
    missing = {k: v for k, v in outputs.items() if k != "FaceBlurStateMachineName"}
    assert len(deploy.output_mismatches(target, missing)) == 1
