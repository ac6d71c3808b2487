"""Operations: alarms and a dashboard per stage, a deploy that resolves one region and works
twice, and the settings that keep clients, timeouts and concurrency consistent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import replace
from typing import Any

import pytest
from botocore.stub import Stubber

from chalicelib import aws
from chalicelib.config import Settings, settings_from, stage_environment
from chalicelib.functions import CONTAINER_FUNCTIONS
from infra import deploy
from infra.iam_audit import render
from infra.monitoring import dead_letter_queues, function_names, work_queues
from infra.permissions import input_buckets, start_face_detection, static_policy
from infra.stages import DEPLOYABLE_STAGES, LAMBDA_RUNTIME, Stage
from tests.conftest import ROOT
from tests.infra.conftest import Synthesized

STAGES = pytest.mark.parametrize("stage", DEPLOYABLE_STAGES)
API_GATEWAY_LIMIT_S = 29


def alarms_by_name(synthesized: Synthesized, stage: str) -> dict[str, dict[str, Any]]:
    alarms = synthesized.resources(stage, "AWS::CloudWatch::Alarm").values()
    return {alarm["AlarmName"]: alarm for alarm in alarms}


def queue_logical_ids(synthesized: Synthesized, stage: str) -> dict[str, str]:
    queues = synthesized.resources(stage, "AWS::SQS::Queue")
    return {queue["QueueName"]: logical_id for logical_id, queue in queues.items()}


# -- alarms and dashboard -----------------------------------------------------------------------
def queue_alarms(synthesized: Synthesized, stage: str, names: list[str]) -> dict[str, Any]:
    """Queue name -> the one alarm watching it."""
    ids = queue_logical_ids(synthesized, stage)
    alarms = list(alarms_by_name(synthesized, stage).values())
    found = {}
    for name in names:
        (found[name],) = [a for a in alarms if _watches(a, ids[name])]
    return found


@STAGES
def test_every_dead_letter_queue_alarms_on_its_first_message(
    synthesized: Synthesized, stage: str
) -> None:
    names = dead_letter_queues(Stage(stage).settings)
    assert names
    for name, alarm in queue_alarms(synthesized, stage, names).items():
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["Threshold"] == 0
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["AlarmActions"], f"{name}: nobody is told"


@STAGES
def test_every_work_queue_alarms_on_its_oldest_message(
    synthesized: Synthesized, stage: str
) -> None:
    target = Stage(stage)
    names = work_queues(target.settings)
    assert set(names) == set(target.queue_consumers())  # every queue a function consumes
    for alarm in queue_alarms(synthesized, stage, names).values():
        assert alarm["MetricName"] == "ApproximateAgeOfOldestMessage"
        assert alarm["Threshold"] == target.infra.queue_age_alarm_minutes * 60


def _watches(alarm: dict[str, Any], logical_id: str) -> bool:
    return any(
        json.dumps(d["Value"]) == json.dumps({"Fn::GetAtt": [logical_id, "QueueName"]})
        for d in alarm.get("Dimensions", [])
    )


@STAGES
def test_every_function_alarms_on_five_percent_errors_in_five_minutes(
    synthesized: Synthesized, stage: str
) -> None:
    target = Stage(stage)
    names = function_names(target)
    assert len(names) == len(target.handlers) + len(CONTAINER_FUNCTIONS)
    rate_alarms = [a for a in alarms_by_name(synthesized, stage).values() if "Metrics" in a]
    watched = {}
    for alarm in rate_alarms:
        expression = next(m for m in alarm["Metrics"] if "Expression" in m)
        functions = {
            d["Value"]
            for m in alarm["Metrics"]
            if "MetricStat" in m
            for d in m["MetricStat"]["Metric"]["Dimensions"]
        }
        (function,) = functions
        periods = {m["MetricStat"]["Period"] for m in alarm["Metrics"] if "MetricStat" in m}
        watched[function] = (alarm["Threshold"], periods, expression["Expression"])
    assert set(watched) == set(names)
    for threshold, periods, expression in watched.values():
        assert threshold == 5 and periods == {300}
        assert "100 *" in expression and "/ invocations" in expression


@STAGES
def test_a_batch_job_stuck_runnable_is_cancelled_and_alarms(
    synthesized: Synthesized, stage: str
) -> None:
    target = Stage(stage)
    (queue,) = synthesized.resources(stage, "AWS::Batch::JobQueue").values()
    limits = queue["JobStateTimeLimitActions"]
    assert {a["MaxTimeSeconds"] for a in limits} == {target.infra.runnable_timeout_minutes * 60}
    assert "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY" in {a["Reason"] for a in limits}
    (rule,) = synthesized.resources(stage, "AWS::Events::Rule").values()
    pattern = rule["EventPattern"]
    assert pattern["detail"]["statusReason"] == [{"prefix": "Canceled by JobStateTimeLimit action"}]
    assert rule["Targets"][0]["Arn"]["Ref"] in synthesized.resources(stage, "AWS::SNS::Topic")
    alarm = alarms_by_name(synthesized, stage)[f"{target.prefix}-batch-runnable-too-long"]
    assert alarm["Namespace"] == "AWS/Events" and alarm["MetricName"] == "MatchedEvents"


@STAGES
def test_alarms_notify_one_topic_and_the_dashboard_shows_the_app_metrics(
    synthesized: Synthesized, stage: str
) -> None:
    target = Stage(stage)
    (topic_id,) = synthesized.resources(stage, "AWS::SNS::Topic")
    for name, alarm in alarms_by_name(synthesized, stage).items():
        assert name.startswith(target.prefix + "-")
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["TreatMissingData"] == "notBreaching"
    (dashboard,) = synthesized.resources(stage, "AWS::CloudWatch::Dashboard").values()
    assert dashboard["DashboardName"] == target.prefix
    body = render(dashboard["DashboardBody"])
    for metric in (
        "ImagesCounted",
        "CountLatency",
        "Failures",
        "Jobs",
        "PaintingGroups",
        "VideoSecondsBlurred",
        "Predictions",
    ):
        assert metric in body
    assert "LabPipelines" in body
    outputs = synthesized.infra(stage)["Outputs"]
    assert "#dashboards:name=" + target.prefix in render(outputs["DashboardUrl"]["Value"])


def test_the_alarm_email_subscribes_to_the_topic() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_sqs as sqs

    from infra.monitoring import Monitoring

    target = Stage("dev")
    target.__dict__["settings"] = replace(target.settings, alarm_email="lab@example.org")
    target.__dict__["handlers"] = ["api_handler"]
    app = cdk.App()
    stack = cdk.Stack(app, "MonitoringOnly")
    names = [*dead_letter_queues(target.settings), *work_queues(target.settings)]
    pipelines = _Pipelines(
        queues={n: sqs.Queue(stack, n.replace("-", ""), queue_name=n) for n in names},
        batch=_Batch(_JobQueue("arn:aws:batch:eu-west-1:111111111111:job-queue/q")),
    )
    Monitoring(stack, "Monitoring", stage=target, pipelines=pipelines)  # type: ignore[arg-type]
    template = app.synth().get_stack_by_name("MonitoringOnly").template
    (subscription,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SNS::Subscription"
    ]
    assert subscription == {**subscription, "Protocol": "email", "Endpoint": "lab@example.org"}


class _JobQueue:
    def __init__(self, arn: str) -> None:
        self.job_queue_arn = arn


class _Batch:
    def __init__(self, job_queue: _JobQueue) -> None:
        self.job_queue = job_queue


class _Pipelines:
    def __init__(self, queues: dict[str, Any], batch: _Batch) -> None:
        self.queues = queues
        self.batch = batch


# -- the region, resolved once --------------------------------------------------------------------
def dry_run(env: dict[str, str], *arguments: str) -> list[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    base["AWS_CONFIG_FILE"] = str(ROOT / "no-such-aws-config")  # no profile region either
    done = subprocess.run(
        [sys.executable, "-m", "infra.deploy", *arguments, "--dry-run"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.splitlines()


@pytest.mark.parametrize("command", ["deploy", "destroy"])
def test_only_aws_region_set_is_the_region_of_every_step(command: str) -> None:
    lines = dry_run({"AWS_REGION": "eu-west-2"}, command, "--stage", "prod")
    steps = [line for line in lines if line.startswith("$ ")]
    assert any("cdk" in s for s in steps) and any("chalice" in s for s in steps)
    for step in steps:
        assert "AWS_REGION=eu-west-2 AWS_DEFAULT_REGION=eu-west-2 " in step, step
        if "aws-cdk@" in step:
            assert "-c region=eu-west-2" in step, step
    if command == "deploy":
        assert "/eu-west-2" in next(s for s in steps if "bootstrap" in s)


def test_aws_region_wins_over_aws_default_region_everywhere() -> None:
    both = {"AWS_REGION": "eu-west-2", "AWS_DEFAULT_REGION": "us-east-1"}
    lines = dry_run(both, "deploy", "--stage", "dev")
    assert not [line for line in lines if "us-east-1" in line]


def test_region_precedence() -> None:
    assert deploy.resolve_region({"AWS_REGION": "a", "AWS_DEFAULT_REGION": "b"}, lambda: "c") == "a"
    assert deploy.resolve_region({"AWS_DEFAULT_REGION": "b"}, lambda: "c") == "b"
    assert deploy.resolve_region({}, lambda: "c") == "c"
    assert deploy.resolve_region({}, lambda: None) is None


def test_stacks_get_an_explicit_account_and_region() -> None:
    from infra.app import environment

    env = environment("123456789012", "eu-west-2")
    assert env is not None and (env.account, env.region) == ("123456789012", "eu-west-2")
    assert environment(None, None) is None  # offline synths (tests) stay agnostic
    with pytest.raises(SystemExit):
        environment("<account>", "eu-west-2")


# -- prod deploys twice -----------------------------------------------------------------------
def _s3_with(answers: dict[str, int]) -> Any:
    client = aws.emulator_client("s3", "http://127.0.0.1:9")  # never contacted: stubbed
    stubber = Stubber(client)
    for name, status in answers.items():
        if status == 200:
            stubber.add_response("head_bucket", {}, {"Bucket": name})
        else:
            stubber.add_client_error(
                "head_bucket",
                str(status),
                http_status_code=status,
                expected_params={"Bucket": name},
            )
    stubber.activate()
    return client


def test_prod_redeploy_over_retained_buckets_adopts_them(synthesized: Synthesized) -> None:
    target = Stage("prod")
    names = target.settings.buckets
    # After `make destroy STAGE=prod` every bucket is still there (retained).
    states = deploy.bucket_states(_s3_with({n: 200 for n in names}), names)
    assert set(states.values()) == {"ours"}
    assert deploy.bucket_plan(target, states) == ["--import-existing-resources"]
    # CloudFormation can import a resource only with a fixed name and a Retain policy.
    buckets = [
        r for r in synthesized.infra("prod")["Resources"].values() if r["Type"] == "AWS::S3::Bucket"
    ]
    assert sorted(b["Properties"]["BucketName"] for b in buckets) == sorted(names)
    for bucket in buckets:
        assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    # Log groups too: one Lambda re-created during the teardown must not block the deploy.
    for stage, policy in (("prod", "Retain"), ("dev", "Delete")):
        groups = [
            r
            for r in synthesized.infra(stage)["Resources"].values()
            if r["Type"] == "AWS::Logs::LogGroup"
        ]
        assert {g["DeletionPolicy"] for g in groups} == {policy}
    lines = dry_run({"AWS_REGION": "eu-west-1"}, "deploy", "--stage", "prod")
    (infra_step,) = [s for s in lines if "deploy " + target.stack_name in s]
    assert "--import-existing-resources" in infra_step


def test_a_bucket_name_another_account_owns_asks_for_a_suffix() -> None:
    target = Stage("dev")
    names = target.settings.buckets
    answers = {n: 404 for n in names}
    answers[names[0]] = 403
    states = deploy.bucket_states(_s3_with(answers), names)
    assert states[names[0]] == "taken" and states[names[1]] == "free"
    with pytest.raises(SystemExit, match="BUCKET_SUFFIX"):
        deploy.bucket_plan(target, states)
    assert deploy.bucket_plan(target, {n: "free" for n in names}) == []


def test_leftover_buckets_of_a_stage_that_keeps_no_data_are_refused() -> None:
    target = Stage("dev")
    with pytest.raises(SystemExit, match="exist outside its stack"):
        deploy.bucket_plan(target, {target.settings.images_bucket: "ours"})


def test_one_setting_suffixes_every_bucket_and_nothing_else() -> None:
    env = stage_environment("prod")
    plain = settings_from({}, env)
    suffixed = settings_from({"BUCKET_SUFFIX": "mylab"}, env)
    assert suffixed.buckets == [f"{name}-mylab" for name in plain.buckets]
    assert suffixed.jobs_queue == plain.jobs_queue
    assert suffixed.cell_counter_function == plain.cell_counter_function


def test_chalice_state_is_kept_in_the_data_bucket() -> None:
    lines = dry_run({"AWS_REGION": "eu-west-1"}, "deploy", "--stage", "dev")
    bucket, key = deploy.state_location(Stage("dev"))
    fetch = next(i for i, line in enumerate(lines) if f"s3://{bucket}/{key} ->" in line)
    chalice = next(i for i, line in enumerate(lines) if "chalice deploy" in line)
    store = next(i for i, line in enumerate(lines) if f"-> s3://{bucket}/{key}" in line)
    assert fetch < chalice < store


# -- clients, timeouts, concurrency, instances -----------------------------------------------------
@STAGES
def test_the_api_function_ends_before_api_gateway_gives_up(stage: str) -> None:
    assert Stage(stage).timeout("api_handler") <= API_GATEWAY_LIMIT_S


def test_synchronous_callers_outwait_the_callee_and_never_retry() -> None:
    settings = Settings()
    for definition in CONTAINER_FUNCTIONS:
        callee = getattr(settings, definition.timeout_setting)
        client = aws.invoker(callee)
        assert client.meta.config.read_timeout > callee
        assert client.meta.config.retries["total_max_attempts"] == 1
    # The worker calls the counter synchronously and must outlive that call.
    assert (
        Stage("dev").timeout("on_job_messages")
        > aws.invoker(settings.cell_counter_timeout).meta.config.read_timeout
    )


@STAGES
def test_container_functions_have_reserved_concurrency_and_their_setting_timeout(
    synthesized: Synthesized, stage: str
) -> None:
    target = Stage(stage)
    by_name = {
        f["FunctionName"]: f for f in synthesized.resources(stage, "AWS::Lambda::Function").values()
    }
    for definition in CONTAINER_FUNCTIONS:
        function = by_name[getattr(target.settings, definition.name_setting)]
        assert function["ReservedConcurrentExecutions"] >= 1
        assert function["Timeout"] == getattr(target.settings, definition.timeout_setting)


@STAGES
def test_batch_instances_keep_the_metadata_endpoint_from_containers(
    synthesized: Synthesized, stage: str
) -> None:
    (template,) = synthesized.resources(stage, "AWS::EC2::LaunchTemplate").items()
    options = template[1]["LaunchTemplateData"]["MetadataOptions"]
    assert options["HttpPutResponseHopLimit"] == 1 and options["HttpTokens"] == "required"
    (environment,) = synthesized.resources(stage, "AWS::Batch::ComputeEnvironment").values()
    launch = environment["ComputeResources"]["LaunchTemplate"]
    assert template[0] in json.dumps(launch)


def test_rekognition_may_read_every_video_a_worker_job_can_name() -> None:
    settings = Stage("prod").settings
    policy = static_policy(start_face_detection(settings))
    (statement,) = [s for s in policy["Statement"] if s["Sid"] == "RekognitionReadsVideo"]
    for bucket in input_buckets(settings):
        assert f"arn:aws:s3:::{bucket}/*" in statement["Resource"]


@pytest.mark.parametrize("stage", DEPLOYABLE_STAGES)
def test_zip_functions_get_the_pinned_boto3_in_a_layer(
    terraform: dict[str, dict[str, Any]], stage: str
) -> None:
    pinned = next(
        line.split("==")[1].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("boto3==")
    )
    package = terraform[stage]
    resources = package["config"]["resource"]
    assert resources["aws_lambda_layer_version"]
    for function in resources["aws_lambda_function"].values():
        assert function["runtime"] == LAMBDA_RUNTIME
        assert function["layers"]
    layer = package["zip"].with_name("layer-deployment.zip")
    names = zipfile.ZipFile(layer).namelist()
    assert any(n.startswith(f"python/lib/{LAMBDA_RUNTIME}/site-packages/boto3/") for n in names)
    assert any(f"boto3-{pinned}.dist-info" in n for n in names)
    assert not any(n.startswith("boto3/") for n in zipfile.ZipFile(package["zip"]).namelist())
