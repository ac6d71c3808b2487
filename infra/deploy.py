"""``make deploy STAGE=…`` and ``make destroy STAGE=…``: the whole path, in order.

Deploy:
  1. preflight: one region (``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else the
     profile's), resolved once and passed to every step below (CDK reads
     ``AWS_REGION`` first, boto3 and Chalice ``AWS_DEFAULT_REGION``: both are set);
     AWS credentials, Docker (image builds), npx (the CDK CLI); the bucket names
     (a name another account owns stops here: set ``BUCKET_SUFFIX``);
  2. ``cdk bootstrap`` the account/region (idempotent; CDK's asset bucket and ECR repo);
  3. ``cdk deploy`` the infrastructure stack for that account and region (buckets,
     queues, container functions, state machine, Batch, log groups, alarms, dashboard;
     Docker builds and pushes the three images). A stage that retains its buckets
     (prod) deploys with ``--import-existing-resources``: after ``make destroy`` the
     buckets are still there, and CloudFormation adopts them instead of failing to
     create them;
  4. check the stack's outputs against the Chalice stage config (same names);
  5. ``chalice deploy`` the app (zip functions, REST API, S3 and SQS triggers) onto
     them; Chalice's record of what it deployed (``.chalice/deployed/<stage>.json``)
     is fetched from and stored in the data bucket, so another machine can update or
     delete the app;
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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from chalicelib.config import PROJECT_DIR
from infra.package import clean_app_tree
from infra.stages import Stage, stage

CDK_CLI = "aws-cdk@2.1148.1"  # the CDK CLI, fetched by npx at deploy time only
CDK_OUT = "infra/cdk.out"


REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")


def resolve_region(
    environ: Mapping[str, str], profile_region: Callable[[], str | None]
) -> str | None:
    """``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then the profile's ``region``."""
    for name in REGION_VARIABLES:
        if environ.get(name):
            return environ[name]
    return profile_region()


def profile_region() -> str | None:
    """The ``region`` of the active profile in ~/.aws/config (no network)."""
    import botocore.session

    session = botocore.session.Session()
    region = session.get_scoped_config().get("region")
    return str(region) if region else None


class Runner:
    def __init__(self, dry_run: bool, python: str) -> None:
        self.dry_run = dry_run
        self.python = python
        self.commands: list[list[str]] = []
        self.region = "<region>"
        self.account = "<account>"

    @property
    def aws_env(self) -> dict[str, str]:
        """What every step gets: the one region, under both names the tools read."""
        return {name: self.region for name in REGION_VARIABLES}

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
        context += ["-c", f"account={self.account}", "-c", f"region={self.region}"]
        if rest_api_id:
            context += ["-c", f"rest_api_id={rest_api_id}"]
        app = ["--app", f"{self.python} -m infra.app", "--output", CDK_OUT]
        self.run(["npx", "--yes", CDK_CLI, *arguments, *app, *context], env=self.aws_env)

    def chalice(self, target: Stage, command: str) -> None:
        chalice = str(Path(self.python).with_name("chalice"))
        if not self.dry_run:
            clean_app_tree(PROJECT_DIR)  # no stale bytecode in the zip
        # STAGE makes app.py's decorators bind this stage's bucket and queue names.
        self.run(
            [chalice, command, "--stage", target.name],
            env={"STAGE": target.name, **self.aws_env},
        )


# -- preflight --------------------------------------------------------------------------------
def preflight(runner: Runner, need_docker: bool) -> tuple[str, str]:
    """(account, region) of the caller's credentials; fails early with what is missing."""
    region = resolve_region(os.environ, profile_region)
    if not region:
        if not runner.dry_run:
            raise SystemExit("set AWS_REGION (or AWS_DEFAULT_REGION / a profile's region) first")
        region = "<region>"
    runner.region = region
    if runner.dry_run:
        runner.say(f"region {region} (dry run: no credentials checked)")
        return runner.account, region
    import boto3

    session = boto3.session.Session(region_name=region)
    try:
        identity = session.client("sts").get_caller_identity()
    except Exception as exc:  # any failure here means "no usable credentials"
        raise SystemExit(f"no usable AWS credentials: {exc}") from exc
    missing = [tool for tool in ("npx",) if shutil.which(tool) is None]
    if need_docker and subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        missing.append("a running Docker engine (docker info failed)")
    if missing:
        raise SystemExit("missing: " + ", ".join(missing))
    runner.account = str(identity["Account"])
    runner.say(f"deploying as {identity['Arn']} to account {runner.account} in {region}")
    return runner.account, region


# -- buckets ----------------------------------------------------------------------------------
def bucket_states(s3: Any, names: Sequence[str]) -> dict[str, str]:
    """Each bucket name -> ``free`` (404), ``ours`` (exists, we may use it) or ``taken``.

    ``HeadBucket`` answers 403 for a bucket another account owns: bucket names are
    global, so such a stage can only deploy with another ``BUCKET_SUFFIX``.
    """
    states = {}
    for name in names:
        try:
            s3.head_bucket(Bucket=name)
        except Exception as exc:
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                states[name] = "free"
                continue
            if code in ("403", "AccessDenied", "Forbidden"):
                states[name] = "taken"
                continue
            raise
        states[name] = "ours"
    return states


def bucket_plan(target: Stage, states: Mapping[str, str]) -> list[str]:
    """Extra ``cdk deploy`` arguments for the buckets found; fails on names we cannot have."""
    taken = sorted(name for name, state in states.items() if state == "taken")
    if taken:
        raise SystemExit(
            "these bucket names belong to another AWS account: "
            + ", ".join(taken)
            + f"\nset BUCKET_SUFFIX in .chalice/config.json (stage {target.name}) to a word of "
            'your lab\'s, e.g. "mylab", then make policies && make deploy'
        )
    existing = sorted(name for name, state in states.items() if state == "ours")
    if existing and not target.infra.retain_data:
        raise SystemExit(
            f"buckets of stage {target.name} exist outside its stack: {', '.join(existing)}; "
            "empty and delete them (this stage does not keep data) or use another BUCKET_SUFFIX"
        )
    # Retained buckets (prod, after make destroy) are adopted by the stack again.
    return ["--import-existing-resources"] if target.infra.retain_data else []


def check_buckets(runner: Runner, target: Stage) -> list[str]:
    names = target.settings.buckets
    runner.say(f"checking bucket names: {', '.join(names)}")
    if runner.dry_run:
        return bucket_plan(target, {})
    import boto3

    states = bucket_states(boto3.session.Session(region_name=runner.region).client("s3"), names)
    for name, state in states.items():
        if state == "ours":
            runner.say(f"  s3://{name} exists: the stack adopts it")
    return bucket_plan(target, states)


def check_policies(runner: Runner) -> None:
    """The committed policy files must be what ``infra/permissions.py`` gives for this config."""
    from infra.policies import expected_files

    stale = [path.name for path, text in expected_files().items() if _differs(path, text)]
    if stale:
        raise SystemExit(
            "the IAM policy files do not match the config (did BUCKET_SUFFIX change?): "
            + ", ".join(stale)
            + "\nrun: make policies"
        )


def _differs(path: Path, text: str) -> bool:
    return not path.exists() or path.read_text() != text


# -- Chalice's deployed state -------------------------------------------------------------------
def state_location(target: Stage) -> tuple[str, str]:
    """Where Chalice's record of the deployed app is kept: the stage's data bucket."""
    return target.settings.data_bucket, f"_deploy/chalice/{target.name}.json"


def deployed_file(target: Stage) -> Path:
    return PROJECT_DIR / ".chalice" / "deployed" / f"{target.name}.json"


def fetch_state(runner: Runner, target: Stage) -> None:
    """Bring ``.chalice/deployed/<stage>.json`` from S3 when this machine has none."""
    bucket, key = state_location(target)
    path = deployed_file(target)
    runner.say(f"chalice state: s3://{bucket}/{key} -> {path.relative_to(PROJECT_DIR)}")
    if runner.dry_run or path.exists():
        return
    import boto3

    s3 = boto3.session.Session(region_name=runner.region).client("s3")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        if str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) in (
            "NoSuchKey",
            "404",
            "NoSuchBucket",
        ):
            runner.say("  none stored yet (first deploy)")
            return
        raise
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)


def store_state(runner: Runner, target: Stage) -> None:
    bucket, key = state_location(target)
    path = deployed_file(target)
    runner.say(f"chalice state: {path.relative_to(PROJECT_DIR)} -> s3://{bucket}/{key}")
    if runner.dry_run or not path.exists():
        return
    import boto3

    s3 = boto3.session.Session(region_name=runner.region).client("s3")
    s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType="application/json")


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
    check_policies(runner)
    adopt = check_buckets(runner, target)
    runner.cdk(target, "bootstrap", f"aws://{account}/{region}")
    runner.cdk(
        target,
        "deploy",
        target.stack_name,
        "--require-approval",
        "never",
        *adopt,
        "--outputs-file",
        str(outputs_file(target).relative_to(PROJECT_DIR)),
    )
    check_outputs(runner, target)
    fetch_state(runner, target)
    runner.chalice(target, "deploy")
    store_state(runner, target)
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
    runner.say(f"dashboard: {dashboard_url(target, region)}")
    if not target.settings.alarm_email:
        runner.say("no ALARM_EMAIL in the stage config: alarms reach the SNS topic only")
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
    preflight(runner, need_docker=False)
    fetch_state(runner, target)
    if protects_routes(target):
        api_id = chalice_deployed(target).get("rest_api_id") or "none"
        runner.cdk(target, "destroy", target.api_stack_name, "--force", rest_api_id=api_id)
    runner.chalice(target, "delete")
    store_state(runner, target)
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


def dashboard_url(target: Stage, region: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards:name={target.prefix}"
    )


def empty_bucket(runner: Runner, bucket: str, delete: bool = False) -> None:
    """Delete every object version (and the bucket); a missing bucket is fine."""
    runner.say(f"emptying s3://{bucket}" + (" and deleting it" if delete else ""))
    if runner.dry_run:
        return
    import boto3

    s3 = boto3.session.Session(region_name=runner.region).resource("s3")
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
