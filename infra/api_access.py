"""Who may call the REST API that ``chalice deploy`` created: deployed after it.

Chalice marks routes ``api_key_required`` or gives them an IAM authorizer
(``API_AUTH`` per stage) but creates no API key, usage plan or caller policy;
this stack does, for the stage's REST API id:

- ``api_key``: a usage plan on the ``api`` stage with throttling, and one API key
  in it (read its value with ``aws apigateway get-api-key --include-value``);
- ``iam``: a managed policy allowing ``execute-api:Invoke`` on exactly the
  protected routes, to attach to the lab's users or roles.
"""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.stages import Stage

THROTTLE_RATE = 50  # requests per second, steady
THROTTLE_BURST = 100


def protected_routes() -> list[tuple[str, str, str]]:
    """(method, path, "api_key" | "iam") of every route that requires a caller identity."""
    import app as chalice_app

    found = []
    for path, methods in chalice_app.app.routes.items():
        for method, entry in methods.items():
            if entry.api_key_required:
                found.append((method, path, "api_key"))
            elif entry.authorizer is not None:
                found.append((method, path, "iam"))
    return sorted(found)


def invoke_arn_path(method: str, path: str) -> str:
    """``/jobs/{job_id}`` -> ``GET/jobs/*`` (the resource part of an execute-api ARN)."""
    return f"{method}/" + re.sub(r"\{[^}]+\}", "*", path.lstrip("/"))


class ApiAccessStack(cdk.Stack):
    def __init__(self, scope: Construct, stage: Stage, rest_api_id: str, **kwargs: Any) -> None:
        super().__init__(
            scope,
            stage.api_stack_name,
            description=f"lab-pipelines {stage.name}: callers of the REST API",
            **kwargs,
        )
        api_stage = str(stage.chalice.get("api_gateway_stage", "api"))
        routes = protected_routes()
        if any(kind == "api_key" for *_, kind in routes):
            self._usage_plan(stage, rest_api_id, api_stage)
        iam_routes = [(method, path) for method, path, kind in routes if kind == "iam"]
        if iam_routes:
            self._callers_policy(stage, rest_api_id, api_stage, iam_routes)
        if not routes:
            cdk.CfnOutput(self, "Note", value="no route of this stage requires a caller identity")

    def _usage_plan(self, stage: Stage, rest_api_id: str, api_stage: str) -> None:
        api = apigateway.RestApi.from_rest_api_id(self, "Api", rest_api_id)
        plan = apigateway.UsagePlan(
            self,
            "UsagePlan",
            name=f"{stage.prefix}-usage-plan",
            throttle=apigateway.ThrottleSettings(
                rate_limit=THROTTLE_RATE, burst_limit=THROTTLE_BURST
            ),
            api_stages=[
                apigateway.UsagePlanPerApiStage(
                    api=api,
                    stage=apigateway.Stage.from_stage_attributes(
                        self, "Stage", rest_api=api, stage_name=api_stage
                    ),
                )
            ],
        )
        key = apigateway.ApiKey(self, "ApiKey", api_key_name=f"{stage.prefix}-api-key")
        plan.add_api_key(key)
        cdk.CfnOutput(self, "ApiKeyId", value=key.key_id)

    def _callers_policy(
        self, stage: Stage, rest_api_id: str, api_stage: str, routes: list[tuple[str, str]]
    ) -> None:
        resources = [
            self.format_arn(
                service="execute-api",
                resource=rest_api_id,
                resource_name=f"{api_stage}/{invoke_arn_path(method, path)}",
                arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
            )
            for method, path in routes
        ]
        policy = iam.ManagedPolicy(
            self,
            "Callers",
            managed_policy_name=f"{stage.prefix}-api-callers",
            description="Attach to whoever may call the protected routes (SigV4-signed requests)",
            statements=[
                iam.PolicyStatement(
                    sid="InvokeProtectedRoutes", actions=["execute-api:Invoke"], resources=resources
                )
            ],
        )
        cdk.CfnOutput(self, "CallersPolicyArn", value=policy.managed_policy_arn)
