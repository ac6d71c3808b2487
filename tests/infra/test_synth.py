"""The infrastructure synthesizes offline, lints clean and says what the app expects."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cfnlint.api import lint

from chalicelib.faces.handlers import CONTAINER_TASKS, STATE_MACHINE_FILE, TASK_FUNCTIONS
from chalicelib.functions import CONTAINER_FUNCTIONS
from chalicelib.painting.messages import PaintingJob, resource_problems
from chalicelib.painting.submission import SubmitPlan
from infra.iam_audit import render
from infra.stack import expected_outputs
from infra.stages import DEPLOYABLE_STAGES, Stage
from tests.infra.conftest import API_ID, Synthesized

STAGES = pytest.mark.parametrize("stage", DEPLOYABLE_STAGES)
LINT_REGIONS = ["us-east-1", "eu-west-1", "eu-central-1"]
# Warnings we accept, each with its reason; any other warning fails like an error.
ACCEPTED_WARNINGS = {
    # CDK adds DependsOn on a function's role (and its default policy) although the
    # function already references the role: redundant, harmless.
    "W3005": "redundant DependsOn that aws-cdk-lib itself emits",
}
# Resource types that cost nothing while no request or job arrives (storage aside).
IDLE_FREE_TYPES = {
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::InstanceProfile",
    "AWS::IAM::ManagedPolicy",
    "AWS::Lambda::Function",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Logs::LogGroup",
    "AWS::StepFunctions::StateMachine",
    "AWS::Batch::ComputeEnvironment",  # checked below: minvCpus 0
    "AWS::Batch::JobQueue",
    "AWS::Batch::JobDefinition",
    "AWS::EC2::VPC",
    "AWS::EC2::Subnet",
    "AWS::EC2::RouteTable",
    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::EC2::Route",
    "AWS::EC2::InternetGateway",
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::VPCEndpoint",  # checked below: Gateway type (S3), not Interface
    "AWS::EC2::SecurityGroup",
    "AWS::Cognito::UserPool",  # the console's lab members: free up to 10,000 monthly users
    "AWS::Cognito::UserPoolDomain",
    "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::UsagePlanKey",
    "AWS::ApiGateway::ApiKey",
    "AWS::CDK::Metadata",
    "AWS::EC2::LaunchTemplate",
    "AWS::SNS::Topic",  # pay per message sent
    "AWS::SNS::TopicPolicy",
    "AWS::Events::Rule",  # AWS service events: free
}
# What costs a fixed amount per month whether anything runs or not (us-east-1 prices):
# a standard alarm $0.10 per metric it evaluates, a dashboard $3.00 (docs/deploying.md).
IDLE_MONTHLY_USD = {"AWS::CloudWatch::Alarm": 0.10, "AWS::CloudWatch::Dashboard": 3.00}
IDLE_BUDGET_USD = 10.0


def test_every_stage_synthesizes(synthesized: Synthesized) -> None:
    expected = {Stage(s).stack_name for s in DEPLOYABLE_STAGES}
    expected |= {Stage(s).api_stack_name for s in DEPLOYABLE_STAGES}  # both protect routes
    assert set(synthesized.templates) == expected


def test_templates_pass_cfn_lint(synthesized: Synthesized) -> None:
    problems = []
    for name, template in synthesized.templates.items():
        for match in lint(json.dumps(template), regions=LINT_REGIONS):
            if match.rule.id not in ACCEPTED_WARNINGS:
                problems.append(f"{name}: {match.rule.id} {match.message} ({match.path})")
    assert problems == []


def test_cfn_lint_would_catch_a_broken_template(synthesized: Synthesized) -> None:
    template = json.loads(json.dumps(synthesized.infra("dev")))
    queue = next(r for r in template["Resources"].values() if r["Type"] == "AWS::SQS::Queue")
    queue["Properties"]["VisibilityTimeout"] = 99_999  # SQS allows at most 43,200 s
    ids = {match.rule.id for match in lint(json.dumps(template), regions=["us-east-1"])}
    assert any(rule.startswith("E") for rule in ids)


@STAGES
def test_nothing_costs_money_while_idle(synthesized: Synthesized, stage: str) -> None:
    types = {r["Type"] for r in synthesized.infra(stage)["Resources"].values()}
    judged = IDLE_FREE_TYPES | set(IDLE_MONTHLY_USD)
    assert types <= judged, f"new resource types to judge: {types - judged}"
    assert idle_monthly_usd(synthesized.infra(stage)) <= IDLE_BUDGET_USD
    for environment in synthesized.resources(stage, "AWS::Batch::ComputeEnvironment").values():
        assert environment["ComputeResources"]["MinvCpus"] == 0
    for endpoint in synthesized.resources(stage, "AWS::EC2::VPCEndpoint").values():
        assert endpoint.get("VpcEndpointType", "Gateway") == "Gateway"


def idle_monthly_usd(template: dict[str, Any]) -> float:
    """The fixed monthly cost of the template's alarms (per metric) and dashboards."""
    total = 0.0
    for resource in template["Resources"].values():
        price = IDLE_MONTHLY_USD.get(resource["Type"], 0.0)
        metrics = resource["Properties"].get("Metrics")
        count = sum(1 for m in metrics if "MetricStat" in m) if metrics else 1
        total += price * count
    return round(total, 2)


@STAGES
def test_container_functions_are_built_from_their_dockerfiles(
    synthesized: Synthesized, stage: str
) -> None:
    settings = Stage(stage).settings
    functions = synthesized.resources(stage, "AWS::Lambda::Function")
    images = synthesized.assets[Stage(stage).stack_name]["dockerImages"]
    by_name = {f["FunctionName"]: f for f in functions.values()}
    for definition in CONTAINER_FUNCTIONS:
        function = by_name[getattr(settings, definition.name_setting)]
        assert function["PackageType"] == "Image"
        image_hash = render(function["Code"]["ImageUri"]).rsplit(":", 1)[-1]
        source = images[image_hash]["source"]
        assert source["dockerFile"] == f"containers/{definition.directory}/Dockerfile"
        assert source["platform"] == "linux/amd64"
        assert function["Environment"]["Variables"]["STAGE"] == stage


@STAGES
def test_counter_failures_land_in_its_queue(synthesized: Synthesized, stage: str) -> None:
    settings = Stage(stage).settings
    queues = synthesized.resources(stage, "AWS::SQS::Queue")
    configs = list(synthesized.resources(stage, "AWS::Lambda::EventInvokeConfig").values())
    with_destination = [c for c in configs if "DestinationConfig" in c]
    assert len(with_destination) == 1
    target = with_destination[0]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert queues[target]["QueueName"] == settings.cell_counter_failures_queue
    assert with_destination[0]["MaximumRetryAttempts"] == 2


@STAGES
def test_state_machine_is_the_asl_file(synthesized: Synthesized, stage: str) -> None:
    target = Stage(stage)
    (machine,) = synthesized.resources(stage, "AWS::StepFunctions::StateMachine").values()
    assert machine["StateMachineName"] == target.settings.face_blur_state_machine
    key = machine["DefinitionS3Location"]["Key"]
    files = synthesized.assets[target.stack_name]["files"]
    (asset,) = [a for h, a in files.items() if key.startswith(h)]
    uploaded = (synthesized.outdir / asset["source"]["path"]).read_text()
    assert uploaded == STATE_MACHINE_FILE.read_text()  # the same file, byte for byte
    placeholders = set(re.findall(r"\$\{(\w+)\}", uploaded))
    substitutions = machine["DefinitionSubstitutions"]
    assert placeholders == set(substitutions) == set(TASK_FUNCTIONS) | set(CONTAINER_TASKS)
    for placeholder, handler in TASK_FUNCTIONS.items():
        assert render(substitutions[placeholder]).endswith(
            ":function:" + target.function_name(handler)
        )
    for placeholder, setting in CONTAINER_TASKS.items():
        assert render(substitutions[placeholder]).endswith(
            ":function:" + getattr(target.settings, setting)
        )


@STAGES
def test_buckets_are_private_encrypted_and_ssl_only(synthesized: Synthesized, stage: str) -> None:
    settings = Stage(stage).settings
    buckets = synthesized.resources(stage, "AWS::S3::Bucket")
    assert sorted(b["BucketName"] for b in buckets.values()) == sorted(settings.buckets)
    for bucket in buckets.values():
        assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
        (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    policies = synthesized.resources(stage, "AWS::S3::BucketPolicy").values()
    ssl_only = {
        policy["Bucket"]["Ref"]
        for policy in policies
        if any(_denies_plain_http(s) for s in policy["PolicyDocument"]["Statement"])
    }
    assert ssl_only == set(buckets)


@STAGES
def test_only_the_console_origin_may_read_upload_answers(
    synthesized: Synthesized, stage: str
) -> None:
    """The images bucket's CORS rule names API Gateway's origins in the region, not '*'."""
    settings = Stage(stage).settings
    buckets = synthesized.resources(stage, "AWS::S3::Bucket").values()
    (images,) = [b for b in buckets if b["BucketName"] == settings.images_bucket]
    (rule,) = images["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["POST"]
    (origin,) = [render(o) for o in rule["AllowedOrigins"]]
    assert origin == "https://*.execute-api.{AWS::Region}.{AWS::URLSuffix}"
    assert [b for b in buckets if "CorsConfiguration" in b] == [images]


def _denies_plain_http(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition", {}).get("Bool", {})
    return statement["Effect"] == "Deny" and condition.get("aws:SecureTransport") == "false"


@STAGES
def test_data_is_retained_only_in_prod(synthesized: Synthesized, stage: str) -> None:
    resources = synthesized.infra(stage)["Resources"].values()
    policies = {r["DeletionPolicy"] for r in resources if r["Type"] == "AWS::S3::Bucket"}
    assert policies == ({"Retain"} if stage == "prod" else {"Delete"})


@STAGES
def test_queues_redrive_to_their_dlq_after_max_receive_count(
    synthesized: Synthesized, stage: str
) -> None:
    target = Stage(stage)
    settings = target.settings
    queues = synthesized.resources(stage, "AWS::SQS::Queue")
    by_name = {q["QueueName"]: (logical_id, q) for logical_id, q in queues.items()}
    expected = set(settings.queues_with_dlq) | set(settings.queues_with_dlq.values())
    assert set(by_name) == expected | set(settings.plain_queues)
    consumers = target.queue_consumers()
    for name, dlq in settings.queues_with_dlq.items():
        queue = by_name[name][1]
        redrive = queue["RedrivePolicy"]
        assert redrive["maxReceiveCount"] == settings.max_receive_count
        assert redrive["deadLetterTargetArn"]["Fn::GetAtt"][0] == by_name[dlq][0]
        # Lambda refuses an SQS trigger whose queue hides messages for less than its timeout.
        assert queue["VisibilityTimeout"] >= target.timeout(consumers[name])
    for queue in queues.values():
        assert queue["SqsManagedSseEnabled"] is True


@STAGES
def test_batch_runs_cellprofiler_within_the_painting_limits(
    synthesized: Synthesized, stage: str
) -> None:
    target = Stage(stage)
    settings = target.settings
    (queue,) = synthesized.resources(stage, "AWS::Batch::JobQueue").values()
    (definition,) = synthesized.resources(stage, "AWS::Batch::JobDefinition").values()
    (environment,) = synthesized.resources(stage, "AWS::Batch::ComputeEnvironment").values()
    assert queue["JobQueueName"] == settings.batch_job_queue
    assert definition["JobDefinitionName"] == settings.batch_job_definition
    container = definition["ContainerProperties"]
    assert container["Command"] == ["run"]
    resources = {r["Type"]: r["Value"] for r in container["ResourceRequirements"]}
    default = PaintingJob("p", "i/", "o/", memory_mib=int(resources["MEMORY"]))
    assert resource_problems(default) == []
    plan = SubmitPlan("cp-1", "b", default, "q", "d", 2, 4, 1, 2)
    merge = {
        r["type"]: r["value"]
        for r in plan.merge_request("j")["containerOverrides"]["resourceRequirements"]
    }
    compute = environment["ComputeResources"]
    assert compute["MinvCpus"] == 0
    assert float(merge["VCPU"]) <= compute["MaxvCpus"]
    assert float(resources["VCPU"]) <= compute["MaxvCpus"]
    image_hash = render(container["Image"]).rsplit(":", 1)[-1]
    image = synthesized.assets[target.stack_name]["dockerImages"][image_hash]["source"]
    assert image["dockerFile"] == "containers/cellprofiler/Dockerfile"
    reasons = {a["Reason"] for a in queue["JobStateTimeLimitActions"]}
    assert "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT" in reasons


@STAGES
def test_no_nat_gateway_and_no_always_on_instances(synthesized: Synthesized, stage: str) -> None:
    types = {r["Type"] for r in synthesized.infra(stage)["Resources"].values()}
    assert not types & {"AWS::EC2::NatGateway", "AWS::EC2::Instance", "AWS::EC2::EIP"}


@STAGES
def test_outputs_name_what_the_chalice_config_names(synthesized: Synthesized, stage: str) -> None:
    template = synthesized.infra(stage)
    resources = template["Resources"]
    for key, name in expected_outputs(Stage(stage).settings).items():
        value = json.dumps(template["Outputs"][key]["Value"])
        # A Ref, a GetAtt, or a name cut out of an ARN: the resource it points at.
        reference = re.search(r'"(?:Ref|Fn::GetAtt)": \[?"(\w+)"', value)
        assert reference, key
        assert name in json.dumps(resources[reference.group(1)]["Properties"]), key


@STAGES
def test_every_log_group_has_the_stage_retention(synthesized: Synthesized, stage: str) -> None:
    target = Stage(stage)
    groups = {
        g["LogGroupName"]: g for g in synthesized.resources(stage, "AWS::Logs::LogGroup").values()
    }
    for handler in target.handlers:
        assert f"/aws/lambda/{target.function_name(handler)}" in groups
    assert f"/aws/batch/{target.settings.batch_job_definition}" in groups
    assert {g["RetentionInDays"] for g in groups.values()} == {target.infra.log_retention_days}


PAGE_FILES = {("GET", "/"), ("GET", "/console/{name}")}  # the console's HTML, CSS, JS


@STAGES
def test_no_route_is_open_in_a_deployed_stage(stage: str) -> None:
    """Machine routes need the stage's API auth, the console's data a signed-in lab member;
    only the page's own static files are open (it signs lab members in)."""
    target = Stage(stage)
    assert target.routes
    kinds = {(r["method"], r["path"]): r["auth"] for r in target.routes}
    assert {key for key, kind in kinds.items() if kind == "none"} == PAGE_FILES
    console = {k for k in kinds if k[1].startswith("/console/api/")}
    assert console and {kinds[k] for k in console} == {"cognito"}
    machine = set(kinds) - PAGE_FILES - console
    assert {kinds[k] for k in machine} == {target.settings.api_auth}
    assert target.settings.api_auth in ("api_key", "iam")


@STAGES
def test_console_users_sign_in_through_the_stage_user_pool(
    synthesized: Synthesized, stage: str
) -> None:
    target = Stage(stage)
    (pool,) = synthesized.resources(stage, "AWS::Cognito::UserPool").values()
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert synthesized.resources(stage, "AWS::Cognito::UserPoolDomain")
    outputs = synthesized.infra(stage)["Outputs"]
    assert {"ConsoleUserPoolArn", "ConsoleUserPoolId", "ConsoleSignInDomain"} <= set(outputs)
    api = synthesized.templates[target.api_stack_name]["Resources"].values()
    by_type = {r["Type"]: r["Properties"] for r in api}
    client = by_type["AWS::Cognito::UserPoolClient"]
    page = render(client["CallbackURLs"][0])
    assert page.startswith(f"https://{API_ID}.execute-api.") and page.endswith("/api/")
    assert client["AllowedOAuthFlows"] == ["implicit"] and not client.get("GenerateSecret")
    assert by_type["AWS::SSM::Parameter"]["Name"] == target.settings.console_signin_parameter


def test_api_key_stage_gets_a_usage_plan_and_a_key(synthesized: Synthesized) -> None:
    target = Stage("dev")
    assert target.settings.api_auth == "api_key"
    resources = synthesized.templates[target.api_stack_name]["Resources"].values()
    by_type = {r["Type"]: r["Properties"] for r in resources}
    (stage,) = by_type["AWS::ApiGateway::UsagePlan"]["ApiStages"]
    assert stage == {"ApiId": API_ID, "Stage": target.chalice["api_gateway_stage"]}
    assert by_type["AWS::ApiGateway::UsagePlan"]["Throttle"]["RateLimit"] > 0
    assert by_type["AWS::ApiGateway::ApiKey"]["Name"] == f"{target.prefix}-api-key"
    assert "AWS::ApiGateway::UsagePlanKey" in by_type


def test_iam_stage_gets_a_callers_policy_for_exactly_its_routes(
    synthesized: Synthesized,
) -> None:
    target = Stage("prod")
    assert target.settings.api_auth == "iam"
    resources = synthesized.templates[target.api_stack_name]["Resources"].values()
    (policy,) = [r["Properties"] for r in resources if r["Type"] == "AWS::IAM::ManagedPolicy"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    arns = sorted(render(arn).split(f"{API_ID}/api/", 1)[1] for arn in statement["Resource"])
    assert "POST/predict" in arns and "POST/predict/batch" in arns and "GET/jobs/*" in arns
    assert len(arns) == len([r for r in target.routes if r["auth"] == "iam"])


@STAGES
def test_s3_triggered_functions_send_failed_events_to_a_queue(
    synthesized: Synthesized, stage: str
) -> None:
    # issue 13: an upload that keeps failing used to vanish after Lambda's two retries
    target = Stage(stage)
    assert target.s3_handlers == ["on_image_uploaded", "on_video_uploaded"]
    resources = synthesized.templates[target.api_stack_name]["Resources"].values()
    configs = [r["Properties"] for r in resources if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert sorted(c["FunctionName"] for c in configs) == [
        target.function_name(h) for h in target.s3_handlers
    ]
    queue = target.settings.upload_failures_queue
    assert queue in {
        q["QueueName"] for q in synthesized.resources(stage, "AWS::SQS::Queue").values()
    }
    for config in configs:
        assert config["Qualifier"] == "$LATEST" and config["MaximumRetryAttempts"] == 2
        destination = render(config["DestinationConfig"]["OnFailure"]["Destination"])
        assert destination.startswith("arn:") and destination.endswith(f":{queue}")
