"""Offline IAM checks on synthesized templates, Chalice's Terraform and policy files.

Findings, for every ``Allow`` statement (``Deny`` only narrows, e.g. the
SSL-only bucket and queue policies that deny ``s3:*``/``sqs:*`` to everyone
over plain HTTP):

- ``*`` or ``service:*`` as an action, or ``NotAction``/``NotResource``;
- ``*`` as a resource, unless every action of the statement is one AWS offers
  no resource type for (``permissions.RESOURCELESS_ACTIONS``, each with its reason);
- a data-service ARN (S3, SQS, SNS, DynamoDB, Kinesis, …) whose resource name is a
  wildcard (``arn:aws:s3:::*``, ``arn:aws:sqs:*:*:*``, ``…:table/*``);
- an ARN whose account is ``*`` (any account's resource of that name: ours are in the
  role's own account, ``${aws:PrincipalAccount}`` in a static policy file);

and every attached AWS managed policy whose name grants full access
(``…FullAccess``, ``AdministratorAccess``, ``PowerUserAccess``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from infra.permissions import RESOURCELESS_ACTIONS

# service -> index of the resource *name* in the ARN's resource part split on "/" or ":"
DATA_SERVICES = {
    "s3": 0,  # bucket[/key]
    "sqs": 0,  # queue
    "sns": 0,  # topic
    "dynamodb": 1,  # table/NAME
    "kinesis": 1,  # stream/NAME
    "firehose": 1,  # deliverystream/NAME
    "secretsmanager": 1,  # secret:NAME
    "ssm": 1,  # parameter/NAME
    "kms": 1,  # key/ID
    "elasticfilesystem": 1,  # file-system/ID
    "glacier": 1,  # vaults/NAME
    "rds": 1,  # db:NAME
}
FULL_ACCESS = re.compile(r"FullAccess|AdministratorAccess|PowerUserAccess")


@dataclass(frozen=True)
class Finding:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


# -- one policy document -------------------------------------------------------------------
def audit_policy(document: Any, where: str) -> list[Finding]:
    findings: list[Finding] = []
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    for index, statement in enumerate(statements):
        label = f"{where} statement {statement.get('Sid') or index}"
        findings += audit_statement(statement, label)
    return findings


def audit_statement(statement: dict[str, Any], where: str) -> list[Finding]:
    if statement.get("Effect") != "Allow":
        return []
    findings = []
    for key in ("NotAction", "NotResource"):
        if key in statement:
            findings.append(Finding(where, f"Allow with {key} grants everything else"))
    actions = [render(a) for a in _as_list(statement.get("Action", []))]
    resources = [render(r) for r in _as_list(statement.get("Resource", []))]
    for action in actions:
        if action == "*" or action.endswith(":*"):
            findings.append(Finding(where, f"wildcard action {action!r}"))
    if "*" in resources:
        loose = sorted(a for a in actions if a not in RESOURCELESS_ACTIONS)
        if loose:
            findings.append(Finding(where, f"Resource '*' for {', '.join(loose)}"))
    findings += [Finding(where, problem) for problem in resource_problems(resources)]
    return findings


def resource_problems(resources: Iterable[str]) -> list[str]:
    checks = (wildcard_data_resource, wildcard_account)
    return [p for arn in resources for check in checks if (p := check(arn))]


def wildcard_account(arn: str) -> str | None:
    """Why ``arn`` reaches into any account, or None."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[4] == "*":
        return f"{arn!r} matches that resource in any account"
    return None


def wildcard_data_resource(arn: str) -> str | None:
    """Why ``arn`` names no particular resource of a data service, or None."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return None
    service, resource = parts[2], parts[5]
    if service not in DATA_SERVICES:
        return None
    segments = re.split(r"[/:]", resource)
    position = DATA_SERVICES[service]
    name = segments[position] if len(segments) > position else ""
    if not name or name.startswith("*") or name == "?":
        return f"{service} resource {arn!r} matches any {service} resource"
    return None


def audit_managed_policies(arns: Iterable[Any], where: str) -> list[Finding]:
    return [
        Finding(where, f"AWS managed policy {render(arn)!r} grants full access")
        for arn in arns
        if FULL_ACCESS.search(render(arn))
    ]


# -- documents inside templates --------------------------------------------------------------
POLICY_HOLDERS = {
    "AWS::IAM::Role": ("Policies", "PolicyDocument"),
    "AWS::IAM::Policy": (None, "PolicyDocument"),
    "AWS::IAM::ManagedPolicy": (None, "PolicyDocument"),
    "AWS::IAM::User": ("Policies", "PolicyDocument"),
    "AWS::IAM::Group": ("Policies", "PolicyDocument"),
    "AWS::S3::BucketPolicy": (None, "PolicyDocument"),
    "AWS::SQS::QueuePolicy": (None, "PolicyDocument"),
    "AWS::SNS::TopicPolicy": (None, "PolicyDocument"),
}


def cloudformation_policies(template: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for logical_id, resource in template.get("Resources", {}).items():
        holder = POLICY_HOLDERS.get(resource.get("Type", ""))
        properties = resource.get("Properties", {})
        if holder is None:
            continue
        inline, document = holder
        if inline:
            for policy in properties.get(inline, []):
                yield f"{logical_id}/{policy.get('PolicyName', '?')}", policy.get(document, {})
        elif document in properties:
            yield logical_id, properties[document]


def cloudformation_managed_arns(template: dict[str, Any]) -> Iterator[tuple[str, list[Any]]]:
    for logical_id, resource in template.get("Resources", {}).items():
        arns = resource.get("Properties", {}).get("ManagedPolicyArns")
        if arns:
            yield logical_id, list(arns)


def audit_cloudformation(template: dict[str, Any], name: str) -> list[Finding]:
    findings = []
    for where, document in cloudformation_policies(template):
        findings += audit_policy(document, f"{name}:{where}")
    for where, arns in cloudformation_managed_arns(template):
        findings += audit_managed_policies(arns, f"{name}:{where}")
    return findings


def terraform_policies(config: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    resources = config.get("resource", {})
    for kind in ("aws_iam_role_policy", "aws_iam_policy"):
        for name, body in resources.get(kind, {}).items():
            policy = body.get("policy")
            yield f"{kind}.{name}", json.loads(policy) if isinstance(policy, str) else policy


def audit_terraform(config: dict[str, Any], name: str) -> list[Finding]:
    findings = []
    for where, document in terraform_policies(config):
        findings += audit_policy(document, f"{name}:{where}")
    resources = config.get("resource", {})
    for attachment, body in resources.get("aws_iam_role_policy_attachment", {}).items():
        findings += audit_managed_policies([body.get("policy_arn", "")], f"{name}:{attachment}")
    for role, body in resources.get("aws_iam_role", {}).items():
        findings += audit_managed_policies(body.get("managed_policy_arns", []), f"{name}:{role}")
    return findings


# -- CloudFormation values as text -------------------------------------------------------------
def render(value: Any) -> str:
    """An intrinsic-function value as the string it becomes, tokens as ``{Ref}`` markers."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(render(part) for part in parts)
        if function == "Fn::Sub":
            return render(argument[0] if isinstance(argument, list) else argument)
        if function == "Ref":
            return "{" + ("Partition" if argument == "AWS::Partition" else str(argument)) + "}"
        if function == "Fn::GetAtt":
            target = argument if isinstance(argument, str) else ".".join(map(str, argument))
            return "{" + target + "}"
    return "{" + json.dumps(value, sort_keys=True) + "}"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
