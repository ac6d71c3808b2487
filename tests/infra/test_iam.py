"""Least privilege, checked offline: no wildcard grants, no FullAccess, policies current.

The audit itself is shown to catch each kind of bad statement, so a green run
means the templates are clean, not that the check is blind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra import iam_audit, permissions, policies
from infra.stages import DEPLOYABLE_STAGES, Stage
from tests.conftest import ROOT
from tests.infra.conftest import Synthesized


def test_synthesized_templates_grant_no_wildcards(synthesized: Synthesized) -> None:
    findings = [
        finding
        for name, template in synthesized.templates.items()
        for finding in iam_audit.audit_cloudformation(template, name)
    ]
    assert [str(f) for f in findings] == []


@pytest.mark.parametrize("stage", DEPLOYABLE_STAGES)
def test_chalice_terraform_grants_no_wildcards(
    terraform: dict[str, dict[str, Any]], stage: str
) -> None:
    # The local stage is the emulator and never deployed: it keeps Chalice's autogen
    # policy (make deploy refuses STAGE=local).
    findings = iam_audit.audit_terraform(terraform[stage]["config"], stage)
    assert [str(f) for f in findings] == []


def test_policy_files_grant_no_wildcards() -> None:
    files = sorted((ROOT / ".chalice").glob("policy-*.json"))
    assert files
    findings = [
        finding
        for path in files
        for finding in iam_audit.audit_policy(json.loads(path.read_text()), path.name)
    ]
    assert [str(f) for f in findings] == []


def test_policy_files_are_what_the_grants_table_generates() -> None:
    stale = [
        path.name
        for path, text in policies.expected_files().items()
        if not path.exists() or path.read_text() != text
    ]
    assert stale == [], "run: .venv/bin/python -m infra.policies"
    generated = set(policies.expected_files())
    committed = set((ROOT / ".chalice").glob("policy-*.json"))
    assert committed == generated, "policy files for functions that no longer exist"


@pytest.mark.parametrize("stage", DEPLOYABLE_STAGES)
def test_every_chalice_function_has_its_own_policy_and_size(stage: str) -> None:
    target = Stage(stage)
    assert sorted(target.handlers) == sorted(permissions.CHALICE_FUNCTIONS)
    assert target.chalice["autogen_policy"] is False
    functions = target.chalice["lambda_functions"]
    for handler in target.handlers:
        entry = functions[handler]
        assert entry["iam_policy_file"] == policies.policy_file_name(stage, handler)
        assert entry["lambda_memory_size"] >= 128 and entry["lambda_timeout"] <= 900


@pytest.mark.parametrize("stage", DEPLOYABLE_STAGES)
def test_chalice_roles_carry_the_committed_policy_files(
    terraform: dict[str, dict[str, Any]], stage: str
) -> None:
    resources = terraform[stage]["config"]["resource"]
    for handler in Stage(stage).handlers:
        attached = json.loads(resources["aws_iam_role_policy"][f"{handler}_role"]["policy"])
        committed = json.loads(
            (ROOT / ".chalice" / policies.policy_file_name(stage, handler)).read_text()
        )
        assert attached == committed, handler


@pytest.mark.parametrize("stage", DEPLOYABLE_STAGES)
def test_policies_name_only_this_stages_resources(stage: str) -> None:
    """Every ARN in a policy file names a resource of this stage (or is a documented '*')."""
    target = Stage(stage)
    for handler in target.handlers:
        document = policies.function_policy(target, handler)
        for statement in document["Statement"]:
            resources = statement["Resource"]
            for arn in resources if isinstance(resources, list) else [resources]:
                if arn == "*":
                    assert set(statement["Action"]) <= set(permissions.RESOURCELESS_ACTIONS)
                elif arn != "arn:aws:batch:*:${aws:PrincipalAccount}:job/*":
                    assert target.prefix in arn, (handler, arn)


# -- the audit catches what it must -------------------------------------------------------------
def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


BAD_STATEMENTS = {
    "any action": _allow("*", "arn:aws:s3:::lab-pipelines-dev-data/*"),
    "service-wide action": _allow("s3:*", "arn:aws:s3:::lab-pipelines-dev-data/*"),
    "any resource for S3": _allow("s3:GetObject", "*"),
    "any resource for SQS": _allow(["sqs:SendMessage"], ["*"]),
    "any resource, mixed actions": _allow(["batch:DescribeJobs", "batch:SubmitJob"], "*"),
    "any bucket": _allow("s3:GetObject", "arn:aws:s3:::*/*"),
    "any queue": _allow("sqs:SendMessage", "arn:aws:sqs:*:*:*"),
    "any table": _allow("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/*"),
    "one queue, any account": _allow("sqs:SendMessage", "arn:aws:sqs:*:*:lab-pipelines-dev-jobs"),
    "NotAction": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::x"},
    "NotResource": {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::x"},
    "CloudFormation join to any bucket": _allow(
        "s3:PutObject",
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::*"]]},
    ),
}


@pytest.mark.parametrize("statement", BAD_STATEMENTS.values(), ids=list(BAD_STATEMENTS))
def test_audit_flags_a_bad_statement(statement: dict[str, Any]) -> None:
    assert iam_audit.audit_policy(_policy(statement), "test")


GOOD_STATEMENTS = {
    "resource-less by AWS design": _allow(
        ["rekognition:StartFaceDetection", "states:ListStateMachines"], "*"
    ),
    "deny everything over plain HTTP": {
        "Effect": "Deny",
        "Action": "s3:*",
        "Principal": {"AWS": "*"},
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    },
    "objects of one bucket": _allow("s3:GetObject", "arn:aws:s3:::lab-pipelines-dev-data/*"),
    "one queue, the caller's account": _allow(
        "sqs:SendMessage", "arn:aws:sqs:*:${aws:PrincipalAccount}:lab-pipelines-dev-jobs"
    ),
    "a token-built ARN": _allow("sqs:SendMessage", {"Fn::GetAtt": ["Queue", "Arn"]}),
}


@pytest.mark.parametrize("statement", GOOD_STATEMENTS.values(), ids=list(GOOD_STATEMENTS))
def test_audit_passes_a_scoped_statement(statement: dict[str, Any]) -> None:
    assert iam_audit.audit_policy(_policy(statement), "test") == []


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::aws:policy/AmazonS3FullAccess",
        "arn:aws:iam::aws:policy/AdministratorAccess",
        {
            "Fn::Join": [
                "",
                ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/AWSBatchFullAccess"],
            ]
        },
    ],
)
def test_audit_flags_full_access_managed_policies(arn: Any) -> None:
    template = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"ManagedPolicyArns": [arn], "AssumeRolePolicyDocument": {}},
            }
        }
    }
    assert iam_audit.audit_cloudformation(template, "t")
    attachment = {"aws_iam_role_policy_attachment": {"a": {"policy_arn": iam_audit.render(arn)}}}
    assert iam_audit.audit_terraform({"resource": attachment}, "tf")


def test_audit_reads_inline_role_policies_in_templates_and_terraform() -> None:
    bad = _policy(_allow("s3:*", "*"))
    template = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"Policies": [{"PolicyName": "p", "PolicyDocument": bad}]},
            }
        }
    }
    assert len(iam_audit.audit_cloudformation(template, "t")) == 2  # action and resource
    config = {"resource": {"aws_iam_role_policy": {"r": {"policy": json.dumps(bad)}}}}
    assert len(iam_audit.audit_terraform(config, "tf")) == 2


def test_audit_flags_a_bad_policy_file(tmp_path: Path) -> None:
    """The committed-files check reads real files: one wildcard file is found."""
    path = tmp_path / "policy-dev-x.json"
    path.write_text(json.dumps(_policy(_allow("sqs:*", "arn:aws:sqs:*:*:*"))))
    findings = iam_audit.audit_policy(json.loads(path.read_text()), path.name)
    problems = sorted(f.problem for f in findings)
    assert [p.split(" ")[0] for p in problems] == ["'arn:aws:sqs:*:*:*'", "sqs", "wildcard"]
    assert problems[0].endswith("in any account")


def test_submitted_jobs_may_carry_only_the_tags_the_submission_sets() -> None:
    """TagResource on any job of the account is held to the tag keys SubmitJob really sends."""
    from chalicelib.painting.messages import PaintingJob
    from chalicelib.painting.submission import SubmitPlan

    plan = SubmitPlan("j1", "data", PaintingJob("p", "i/", "o/"), "q", "d", 2, 2, 1, 2)
    sent = set(plan.run_request()["tags"]) | set(plan.merge_request("run-1")["tags"])
    document = policies.function_policy(Stage("dev"), "on_painting_message")
    (tagging,) = [s for s in document["Statement"] if "batch:TagResource" in s["Action"]]
    allowed = tagging["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]
    assert sent and set(allowed) == sent
    assert tagging["Resource"] == "arn:aws:batch:*:${aws:PrincipalAccount}:job/*"
