"""``make deploy STAGE=…`` and ``make destroy STAGE=…``: the whole path, in order.

Deploy:
  1. preflight: AWS credentials and region, Docker (image builds), npx (the CDK CLI);
  2. ``cdk bootstrap`` the account/region (idempotent; CDK's asset bucket and ECR repo);
  3. ``cdk deploy`` the infrastructure stack (buckets, queues, container functions,
     state machine, Batch, log groups; Docker builds and pushes the three images);
  4. check the stack's outputs against the Chalice stage config (same names);
  5. ``chalice deploy`` the app (zip functions, REST API, S3 and SQS triggers) onto them;
  6. ``cdk deploy`` the API-access stack (usage plan + key, or the IAM callers' policy)
     for the REST API Chalice just created, when the stage protects routes.

Destroy runs the other way: API access, ``chalice delete``, empty the buckets that
are not retained, the infrastructure stack; retained buckets (``prod``) are listed
and removed only with ``--delete-data``.

``--dry-run`` prints the commands without running anything (a test checks the order).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from chalicelib.config import PROJECT_DIR
from infra.package import clean_app_tree
from infra.stages import Stage, stage

CDK_CLI = "aws-cdk@2.1148.1"  # the CDK CLI, fetched by npx at deploy time only
CDK_OUT = "infra/cdk.out"


class Runner:
    def __init__(self, dry_run: bool, python: str) -> None:
        self.dry_run = dry_run
        self.python = python
        self.commands: list[list[str]] = []

    def say(self, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def run(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        prefix = " ".join(f"{k}={v}" for k, v in (env or {}).items())
        self.say("$ " + (prefix + " " if prefix else "") + shlex.join(argv))
        self.commands.append(list(argv))
        if self.dry_run:
            return
        subprocess.run(argv, cwd=PROJECT_DIR, env={**os.environ, **(env or {})}, check=True)

    # -- commands ---------------------------------------------------------------------------
    def cdk(self, target: Stage, *arguments: str, rest_api_id: str | None = None) -> None:
        context = ["-c", f"stage={target.name}"]
        if rest_api_id:
            context += ["-c", f"rest_api_id={rest_api_id}"]
        app = ["--app", f"{self.python} -m infra.app", "--output", CDK_OUT]
        self.run(["npx", "--yes", CDK_CLI, *arguments, *app, *context])

    def chalice(self, target: Stage, command: str, region: str) -> None:
        chalice = str(Path(self.python).with_name("chalice"))
        if not self.dry_run:
            clean_app_tree(PROJECT_DIR)  # no stale bytecode in the zip
        # STAGE makes app.py's decorators bind this stage's bucket and queue names.
        self.run(
            [chalice, command, "--stage", target.name],
            env={"STAGE": target.name, "AWS_DEFAULT_REGION": region},
        )


# -- preflight --------------------------------------------------------------------------------
def preflight(runner: Runner, need_docker: bool) -> tuple[str, str]:
    """(account, region) of the caller's credentials; fails early with what is missing."""
    if runner.dry_run:
        return "<account>", "<region>"
    import boto3

    session = boto3.session.Session()
    region = session.region_name
    if not region:
        raise SystemExit("set AWS_REGION (or AWS_DEFAULT_REGION / a profile's region) first")
    try:
        identity = session.client("sts").get_caller_identity()
    except Exception as exc:  # any failure here means "no usable credentials"
        raise SystemExit(f"no usable AWS credentials: {exc}") from exc
    missing = [tool for tool in ("npx",) if shutil.which(tool) is None]
    if need_docker and subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        missing.append("a running Docker engine (docker info failed)")
    if missing:
        raise SystemExit("missing: " + ", ".join(missing))
    runner.say(f"deploying as {identity['Arn']} to account {identity['Account']} in {region}")
    return str(identity["Account"]), region


# -- outputs ----------------------------------------------------------------------------------
def outputs_file(target: Stage) -> Path:
    return PROJECT_DIR / CDK_OUT / f"{target.stack_name}-outputs.json"


def output_mismatches(target: Stage, outputs: Mapping[str, str]) -> list[str]:
    """Where the deployed stack's names differ from the Chalice stage config."""
    from infra.stack import expected_outputs

    problems = []
    for key, name in expected_outputs(target.settings).items():
        if outputs.get(key) != name:
            problems.append(f"{key}: stack has {outputs.get(key)!r}, config says {name!r}")
    return problems


def check_outputs(runner: Runner, target: Stage) -> None:
    runner.say(f"checking {outputs_file(target).name} against .chalice/config.json")
    if runner.dry_run:
        return
    outputs = json.loads(outputs_file(target).read_text())[target.stack_name]
    problems = output_mismatches(target, outputs)
    if problems:
        raise SystemExit("the stack does not match the stage config:\n  " + "\n  ".join(problems))


def chalice_deployed(target: Stage) -> dict[str, Any]:
    """The REST API id and URL ``chalice deploy`` recorded in .chalice/deployed/<stage>.json."""
    path = PROJECT_DIR / ".chalice" / "deployed" / f"{target.name}.json"
    if not path.exists():
        return {}
    for resource in json.loads(path.read_text()).get("resources", []):
        if resource.get("resource_type") == "rest_api":
            return dict(resource)
    return {}


def protects_routes(target: Stage) -> bool:
    return any(route["auth"] != "none" for route in target.routes)


# -- deploy and destroy -----------------------------------------------------------------------
def deploy(runner: Runner, target: Stage) -> None:
    account, region = preflight(runner, need_docker=True)
    runner.cdk(target, "bootstrap", f"aws://{account}/{region}")
    runner.cdk(
        target,
        "deploy",
        target.stack_name,
        "--require-approval",
        "never",
        "--outputs-file",
        str(outputs_file(target).relative_to(PROJECT_DIR)),
    )
    check_outputs(runner, target)
    runner.chalice(target, "deploy", region)
    if protects_routes(target):
        api_id = chalice_deployed(target).get("rest_api_id") or "<rest_api_id>"
        runner.cdk(
            target,
            "deploy",
            target.api_stack_name,
            "--require-approval",
            "never",
            rest_api_id=api_id,
        )
    url = chalice_deployed(target).get("rest_api_url", "<the REST API URL>")
    runner.say(f"deployed {target.name}: {url}")
    auth = target.settings.api_auth
    if auth == "api_key":
        runner.say(
            f"API key: aws apigateway get-api-keys --name-query {target.prefix}-api-key "
            "--include-values --query 'items[0].value' --output text"
        )
    elif auth == "iam":
        runner.say(
            f"callers: attach the managed policy {target.prefix}-api-callers to the lab's users "
            "or roles; requests must be SigV4-signed"
        )


def destroy(runner: Runner, target: Stage, delete_data: bool) -> None:
    _account, region = preflight(runner, need_docker=False)
    if protects_routes(target):
        api_id = chalice_deployed(target).get("rest_api_id") or "none"
        runner.cdk(target, "destroy", target.api_stack_name, "--force", rest_api_id=api_id)
    runner.chalice(target, "delete", region)
    settings = target.settings
    retained = settings.buckets if target.infra.retain_data else []
    for bucket in settings.buckets:
        if bucket not in retained:
            empty_bucket(runner, bucket)
    runner.cdk(target, "destroy", target.stack_name, "--force")
    for bucket in retained:
        if delete_data:
            empty_bucket(runner, bucket, delete=True)
        else:
            runner.say(f"kept s3://{bucket}: retained data (DELETE_DATA=yes removes it)")


def empty_bucket(runner: Runner, bucket: str, delete: bool = False) -> None:
    """Delete every object version (and the bucket); a missing bucket is fine."""
    runner.say(f"emptying s3://{bucket}" + (" and deleting it" if delete else ""))
    if runner.dry_run:
        return
    import boto3

    s3 = boto3.resource("s3")
    try:
        s3.Bucket(bucket).object_versions.delete()
        if delete:
            s3.Bucket(bucket).delete()
    except s3.meta.client.exceptions.NoSuchBucket:
        runner.say(f"  s3://{bucket} does not exist")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__)
    parser.add_argument("command", choices=("deploy", "destroy"))
    parser.add_argument("--stage", required=True)
    parser.add_argument("--delete-data", action="store_true", help="destroy: also retained buckets")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)
    runner = Runner(args.dry_run, sys.executable)
    target = stage(args.stage)
    if args.command == "deploy":
        deploy(runner, target)
    else:
        destroy(runner, target, args.delete_data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
