"""What needs the functions ``chalice deploy`` created: deployed after it.

Where failed uploads go: S3 invokes ``on_image_uploaded``/``on_video_uploaded``
asynchronously; Lambda retries a failing event twice and then, without a
destination, drops it. An event-invoke config on each of Chalice's S3-triggered
functions (found by the name Chalice gives them) sends such an event, with its
error, to the stage's upload-failures queue, from where it can be sent again.

Who may call the REST API:

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
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.stages import Stage

THROTTLE_RATE = 50  # requests per second, steady
THROTTLE_BURST = 100
# Lambda's own defaults for async invokes, made explicit: 2 retries, events kept 6 h.
ASYNC_RETRIES = 2
ASYNC_MAX_AGE_S = 6 * 3600


def protected_routes(stage: Stage) -> list[tuple[str, str, str]]:
    """(method, path, "api_key" | "iam") of every route of ``stage`` that needs a caller.

    (The console's routes need a signed-in lab member instead: ``"cognito"``.)
    """
    return sorted(
        (route["method"], route["path"], route["auth"])
        for route in stage.routes
        if route["auth"] in ("api_key", "iam")
    )


def invoke_arn_path(method: str, path: str) -> str:
    """``/jobs/{job_id}`` -> ``GET/jobs/*`` (the resource part of an execute-api ARN)."""
    return f"{method}/" + re.sub(r"\{[^}]+\}", "*", path.lstrip("/"))


class ApiAccessStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        stage: Stage,
        rest_api_id: str,
        console_user_pool_id: str | None = None,
        console_signin_domain: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            stage.api_stack_name,
            description=f"lab-pipelines {stage.name}: callers of the REST API",
            **kwargs,
        )
        api_stage = str(stage.chalice.get("api_gateway_stage", "api"))
        routes = protected_routes(stage)
        if any(kind == "api_key" for *_, kind in routes):
            self._usage_plan(stage, rest_api_id, api_stage)
        iam_routes = [(method, path) for method, path, kind in routes if kind == "iam"]
        if iam_routes:
            self._callers_policy(stage, rest_api_id, api_stage, iam_routes)
        if console_user_pool_id and console_signin_domain:
            self._console_client(stage, rest_api_id, api_stage, console_user_pool_id,
                                 console_signin_domain)  # fmt: skip
        if not routes:
            cdk.CfnOutput(self, "Note", value="no route of this stage requires a caller identity")
        self._upload_failure_destinations(stage)

    def _upload_failure_destinations(self, stage: Stage) -> None:
        queue_arn = self.format_arn(
            service="sqs",
            resource=stage.settings.upload_failures_queue,
            arn_format=cdk.ArnFormat.NO_RESOURCE_NAME,
        )
        for handler in stage.s3_handlers:
            lambda_.CfnEventInvokeConfig(
                self,
                "".join(part.title() for part in handler.split("_")) + "OnFailure",
                function_name=stage.function_name(handler),
                qualifier="$LATEST",
                maximum_retry_attempts=ASYNC_RETRIES,
                maximum_event_age_in_seconds=ASYNC_MAX_AGE_S,
                destination_config=lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
                    on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(destination=queue_arn)
                ),
            )

    def _console_client(
        self, stage: Stage, rest_api_id: str, api_stage: str, pool_id: str, domain: str
    ) -> None:
        """The console's app client (hosted sign-in returns to the page) and where the page
        finds it: the SSM parameter ``CONSOLE_SIGNIN_PARAMETER`` the API function reads."""
        page = f"https://{rest_api_id}.execute-api.{self.region}.{self.url_suffix}/{api_stage}/"
        pool = cognito.UserPool.from_user_pool_id(self, "ConsoleUsers", pool_id)
        client = pool.add_client(
            "Console",
            user_pool_client_name=f"{stage.prefix}-console",
            generate_secret=False,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(implicit_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
                callback_urls=[page],
                logout_urls=[page],
            ),
            id_token_validity=cdk.Duration.hours(8),
            prevent_user_existence_errors=True,
        )
        ssm.StringParameter(
            self,
            "ConsoleSignIn",
            parameter_name=stage.settings.console_signin_parameter,
            string_value=cdk.Fn.to_json_string(
                {"domain": domain, "client_id": client.user_pool_client_id}
            ),
            description="The lab console's hosted sign-in: domain and app client id",
        )
        cdk.CfnOutput(self, "ConsoleUrl", value=page)

    def _usage_plan(self, stage: Stage, rest_api_id: str, api_stage: str) -> None:
        # L1 resources: the L2 usage plan wants a Stage construct, and this stage
        # belongs to the API Chalice deployed, not to this stack.
        plan = apigateway.CfnUsagePlan(
            self,
            "UsagePlan",
            usage_plan_name=f"{stage.prefix}-usage-plan",
            throttle=apigateway.CfnUsagePlan.ThrottleSettingsProperty(
                rate_limit=THROTTLE_RATE, burst_limit=THROTTLE_BURST
            ),
            api_stages=[
                apigateway.CfnUsagePlan.ApiStageProperty(api_id=rest_api_id, stage=api_stage)
            ],
        )
        key = apigateway.CfnApiKey(self, "ApiKey", name=f"{stage.prefix}-api-key", enabled=True)
        apigateway.CfnUsagePlanKey(
            self, "UsagePlanKey", key_id=key.ref, key_type="API_KEY", usage_plan_id=plan.ref
        )
        cdk.CfnOutput(self, "ApiKeyId", value=key.ref)

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
