"""``chalice package`` (Terraform) succeeds for every stage and fits the infrastructure."""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra.stages import DEPLOYABLE_STAGES, Stage
from tests.conftest import ROOT
from tests.infra.conftest import Synthesized

MAX_ZIP_BYTES = 5 * 1024 * 1024  # the zip functions carry no NumPy/OpenCV (containers do)


@pytest.mark.parametrize("stage", ["local", *DEPLOYABLE_STAGES])
def test_chalice_packages_every_stage(terraform: dict[str, dict[str, Any]], stage: str) -> None:
    package = terraform[stage]
    functions = package["config"]["resource"]["aws_lambda_function"]
    assert functions
    assert all(f["runtime"] == "python3.11" for f in functions.values())
    assert package["zip"].stat().st_size < MAX_ZIP_BYTES
    names = zipfile.ZipFile(package["zip"]).namelist()
    assert "app.py" in names
    assert not [n for n in names if n.startswith(("numpy/", "cv2/", "sklearn/", "infra/"))]


@pytest.mark.parametrize("stage", DEPLOYABLE_STAGES)
def test_deployed_function_names_are_the_ones_infra_expects(
    terraform: dict[str, dict[str, Any]], stage: str
) -> None:
    """The state machine and the log groups point at functions by these names."""
    target = Stage(stage)
    functions = terraform[stage]["config"]["resource"]["aws_lambda_function"]
    assert {h: f["function_name"] for h, f in functions.items()} == {
        h: target.function_name(h) for h in target.handlers
    }


@pytest.mark.parametrize("stage", DEPLOYABLE_STAGES)
def test_sizes_come_from_the_stage_config(terraform: dict[str, dict[str, Any]], stage: str) -> None:
    target = Stage(stage)
    functions = terraform[stage]["config"]["resource"]["aws_lambda_function"]
    for handler, function in functions.items():
        assert function["timeout"] == target.timeout(handler)
        assert function["memory_size"] == target.memory(handler)
        assert function["environment"]["variables"]["STAGE"] == stage


@pytest.mark.parametrize("stage", DEPLOYABLE_STAGES)
def test_triggers_bind_resources_the_stack_creates(
    terraform: dict[str, dict[str, Any]], synthesized: Synthesized, stage: str
) -> None:
    resources = terraform[stage]["config"]["resource"]
    buckets = {b["BucketName"] for b in synthesized.resources(stage, "AWS::S3::Bucket").values()}
    queues = {q["QueueName"]: q for q in synthesized.resources(stage, "AWS::SQS::Queue").values()}
    notified = {n["bucket"] for n in resources["aws_s3_bucket_notification"].values()}
    assert notified and notified <= buckets
    functions = resources["aws_lambda_function"]
    for mapping in resources["aws_lambda_event_source_mapping"].values():
        queue_name = mapping["event_source_arn"].rsplit(":", 1)[-1]
        handler = mapping["function_name"].split(".")[1]
        # Lambda refuses the trigger when the queue's visibility is below the timeout.
        assert queues[queue_name]["VisibilityTimeout"] >= functions[handler]["timeout"]


# Laptop-only code lives in devtools/, which Chalice never packages; these modules
# were once in chalicelib and must not come back.
LAPTOP_ONLY = ("devtools/", "tests/", "tools/", "bench/", "samples/", "models/")
LAPTOP_ONLY_MODULES = ("local", "bench", "cli", "training", "synthetic", "samples", "client")


def test_the_zip_holds_only_what_runs_in_aws(terraform: dict[str, dict[str, Any]]) -> None:
    names = zipfile.ZipFile(terraform["dev"]["zip"]).namelist()
    ours = [n for n in names if n == "app.py" or n.startswith("chalicelib/")]
    assert ours, names[:20]
    assert not [n for n in names if n.startswith(LAPTOP_ONLY)]
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]
    stems = {Path(n).stem for n in ours} | {part for n in ours for part in Path(n).parts[:-1]}
    assert not stems & set(LAPTOP_ONLY_MODULES), sorted(stems & set(LAPTOP_ONLY_MODULES))


def test_nothing_in_chalicelib_imports_laptop_code() -> None:
    for path in (ROOT / "chalicelib").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            bad = [m for m in modules if m.split(".")[0] in ("devtools", "tests", "tools")]
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
