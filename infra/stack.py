"""The stage's infrastructure stack: everything ``chalice deploy`` cannot create.

Buckets, queues (with dead-letter queues and redrive), the two container-image
functions, the face-blur state machine (from ``statemachines/face-blur.asl.json``,
the file the local emulator runs), AWS Batch for CellProfiler, and the log groups
of every function, each with least-privilege roles from ``infra/permissions.py``.

Every physical name comes from the stage's settings in ``.chalice/config.json``:
the Chalice app finds these resources by those names, so the stack's outputs
only confirm them (``make deploy`` checks that they match before deploying the app).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from chalicelib.config import PROJECT_DIR, Settings
from chalicelib.faces.handlers import CONTAINER_TASKS, STATE_MACHINE_FILE, TASK_FUNCTIONS
from chalicelib.functions import CONTAINER_FUNCTIONS, ContainerFunction
from infra import permissions
from infra.batch import CellProfilerBatch, log_removal, log_retention
from infra.monitoring import Monitoring
from infra.stages import FunctionSize, Stage

# Lambda retries a failed asynchronous invoke twice, then hands the event to the
# on-failure destination (the README's "retried twice ... then lands in the queue").
ASYNC_RETRY_ATTEMPTS = 2
DLQ_RETENTION = cdk.Duration.days(14)
# AWS: a queue feeding Lambda needs a visibility timeout of at least the function's
# timeout, and recommends six times it so a throttled batch is not redelivered early.
VISIBILITY_PER_TIMEOUT = 6


def image_code(directory: str) -> lambda_.DockerImageCode:
    """The function's image, built from its Dockerfile at deploy time (repo root context).

    Synthesizing only records the asset; Docker builds and pushes it on ``cdk deploy``.
    """
    return lambda_.DockerImageCode.from_image_asset(
        str(PROJECT_DIR),
        file=f"containers/{directory}/Dockerfile",
        platform=ecr_assets.Platform.LINUX_AMD64,
        exclude=docker_context_exclude(directory),
    )


def docker_context_exclude(directory: str) -> list[str]:
    """Only what the Dockerfiles copy, so editing the README does not rebuild images."""
    return ["*", "!chalicelib", f"!containers/{directory}", "**/__pycache__"]


class PipelinesStack(cdk.Stack):
    def __init__(self, scope: Construct, stage: Stage, **kwargs: object) -> None:
        super().__init__(
            scope,
            stage.stack_name,
            description=f"lab-pipelines {stage.name}: what Chalice cannot deploy",
            **kwargs,  # type: ignore[arg-type]
        )
        self.stage = stage
        self.settings = stage.settings
        self.buckets = {name: self._bucket(name) for name in self.settings.buckets}
        self.queues = self._queues()
        self.log_groups = self._chalice_log_groups()
        self.functions = {f.directory: self._container_function(f) for f in CONTAINER_FUNCTIONS}
        self.state_machine = self._state_machine()
        self.batch = CellProfilerBatch(
            self,
            "CellProfiler",
            stage=stage,
            job_grants=permissions.cellprofiler_job(self.settings),
            render=self.arns,
        )
        self.monitoring = Monitoring(self, "Monitoring", stage=stage, pipelines=self)
        self.console_users = (
            self._console_users() if self.settings.console_auth == "cognito" else None
        )
        self._outputs()

    # -- the lab console's sign-in ----------------------------------------------------------
    def _console_users(self) -> cognito.UserPool:
        """Lab members sign in to the console here; accounts are made by an admin only.

        The console's app client (its callback is the API's URL, known only after
        ``chalice deploy``) is in the API-access stack.
        """
        retain = self.stage.infra.retain_data
        pool = cognito.UserPool(
            self,
            "ConsoleUsers",
            user_pool_name=f"{self.stage.prefix}-console-users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(min_length=12),
            removal_policy=cdk.RemovalPolicy.RETAIN if retain else cdk.RemovalPolicy.DESTROY,
        )
        pool.add_domain(
            "ConsoleSignIn",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=f"{self.stage.prefix}-{cdk.Aws.ACCOUNT_ID}"
            ),
        )
        return pool

    # -- data -------------------------------------------------------------------------------
    def _bucket(self, name: str) -> s3.Bucket:
        retain = self.stage.infra.retain_data
        return s3.Bucket(
            self,
            _construct_id(name, self.stage.prefix, "Bucket"),
            bucket_name=name,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # `make destroy` empties non-retained buckets itself (no custom-resource Lambda).
            removal_policy=cdk.RemovalPolicy.RETAIN if retain else cdk.RemovalPolicy.DESTROY,
            lifecycle_rules=[
                s3.LifecycleRule(abort_incomplete_multipart_upload_after=cdk.Duration.days(7))
            ],
            cors=self._upload_cors() if name == self.settings.images_bucket else None,
        )

    @staticmethod
    def _upload_cors() -> list[s3.CorsRule]:
        """The console uploads straight from the browser with presigned POSTs.

        A cross-origin form POST reaches S3 with or without CORS; the rule only lets the
        page read the answer. What may be uploaded is decided by the signed policy. The
        console is served by the stage's REST API, whose id exists only after `chalice
        deploy` (after this stack): the origins are API Gateway's in this region.
        """
        return [
            s3.CorsRule(
                allowed_methods=[s3.HttpMethods.POST],
                allowed_origins=[f"https://*.execute-api.{cdk.Aws.REGION}.{cdk.Aws.URL_SUFFIX}"],
                allowed_headers=["*"],
                max_age=3000,
            )
        ]

    def _queues(self) -> dict[str, sqs.Queue]:
        settings = self.settings
        consumers = self.stage.queue_consumers()
        queues: dict[str, sqs.Queue] = {}
        for name, dlq_name in settings.queues_with_dlq.items():
            dlq = self._queue(dlq_name, retention=DLQ_RETENTION)
            queues[dlq_name] = dlq
            consumer = consumers.get(name)
            timeout = self.stage.timeout(consumer) if consumer else 30
            queues[name] = self._queue(
                name,
                visibility=cdk.Duration.seconds(VISIBILITY_PER_TIMEOUT * timeout),
                dead_letter_queue=sqs.DeadLetterQueue(
                    queue=dlq, max_receive_count=settings.max_receive_count
                ),
            )
        for name in settings.plain_queues:
            queues[name] = self._queue(name, retention=DLQ_RETENTION)
        return queues

    def _queue(self, name: str, **options: object) -> sqs.Queue:
        visibility = options.pop("visibility", None)
        retention = options.pop("retention", None)
        return sqs.Queue(
            self,
            _construct_id(name, self.stage.prefix, "Queue"),
            queue_name=name,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=visibility,  # type: ignore[arg-type]
            retention_period=retention,  # type: ignore[arg-type]
            **options,  # type: ignore[arg-type]
        )

    # -- logs -------------------------------------------------------------------------------
    def _log_group(self, construct_id: str, name: str) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            construct_id,
            log_group_name=name,
            retention=log_retention(self.stage.infra.log_retention_days),
            removal_policy=log_removal(self.stage),
        )

    def _chalice_log_groups(self) -> dict[str, logs.LogGroup]:
        """The Chalice functions' log groups, made here so they have a retention and go away
        with the stack (Lambda would create them without either)."""
        groups = {}
        for handler in self.stage.handlers:
            name = self.stage.function_name(handler)
            groups[handler] = self._log_group(
                _construct_id(handler, "", "Logs"), f"/aws/lambda/{name}"
            )
        return groups

    # -- container-image functions -----------------------------------------------------------
    def _container_function(self, definition: ContainerFunction) -> lambda_.DockerImageFunction:
        name = getattr(self.settings, definition.name_setting)
        size = self._size(definition)
        key = _construct_id(definition.directory, "", "")
        role = self.role(
            key + "Role",
            "lambda.amazonaws.com",
            [*_function_grants(definition, self.settings), *permissions.log_grants(name)],
        )
        failures = (
            self.queues[getattr(self.settings, definition.async_failures_setting)]
            if definition.async_failures_setting
            else None
        )
        function = lambda_.DockerImageFunction(
            self,
            key + "Function",
            function_name=name,
            code=image_code(definition.directory),
            architecture=lambda_.Architecture.X86_64,
            memory_size=size.memory_mb,
            timeout=cdk.Duration.seconds(getattr(self.settings, definition.timeout_setting)),
            ephemeral_storage_size=cdk.Size.mebibytes(size.ephemeral_mb),
            reserved_concurrent_executions=size.reserved_concurrency,
            role=role,
            environment=self.function_environment(),
            log_group=self._log_group(key + "Logs", f"/aws/lambda/{name}"),
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
            on_failure=destinations.SqsDestination(failures) if failures else None,
        )
        return function

    def _size(self, definition: ContainerFunction) -> FunctionSize:
        return getattr(self.stage.infra, definition.name_setting.removesuffix("_function"))  # type: ignore[no-any-return]

    def function_environment(self) -> dict[str, str]:
        """The stage's environment variables, as Chalice gives its own functions."""
        return {
            key: value
            for key, value in self.stage.chalice.get("environment_variables", {}).items()
            if not key.startswith("AWS_")  # reserved by Lambda
        }

    # -- Step Functions ----------------------------------------------------------------------
    def _state_machine(self) -> sfn.StateMachine:
        arns = {
            placeholder: self.function_arn(self.stage.function_name(handler))
            for placeholder, handler in TASK_FUNCTIONS.items()
        }
        arns.update(
            {
                placeholder: self.function_arn(getattr(self.settings, setting))
                for placeholder, setting in CONTAINER_TASKS.items()
            }
        )
        role = self.role(
            "FaceBlurStatesRole",
            "states.amazonaws.com",
            [permissions.Grant("InvokeTasks", ("lambda:InvokeFunction",), ())],
            extra_arns={"InvokeTasks": sorted(set(arns.values()))},
        )
        machine = sfn.StateMachine(
            self,
            "FaceBlurStateMachine",
            state_machine_name=self.settings.face_blur_state_machine,
            definition_body=sfn.DefinitionBody.from_file(str(STATE_MACHINE_FILE)),
            definition_substitutions=arns,
            role=role,  # type: ignore[arg-type]
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        for function in self.functions.values():
            machine.node.add_dependency(function)
        return machine

    def function_arn(self, name: str) -> str:
        return self.format_arn(
            service="lambda",
            resource="function",
            resource_name=name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )

    # -- IAM ---------------------------------------------------------------------------------
    def arns(self, resource: permissions.Resource) -> list[str]:
        """ARNs of one of our resources in this account and region."""
        kind, name = resource.kind, resource.name
        if kind in ("objects", "bucket"):
            bucket = f"arn:{self.partition}:s3:::{name}"
            return [bucket + "/*" if kind == "objects" else bucket]
        if kind == "any":
            return ["*"]
        if kind == "parameter":  # SSM parameter names start with "/": no separator added
            return [self.format_arn(service="ssm", resource="parameter" + name,
                                    arn_format=cdk.ArnFormat.NO_RESOURCE_NAME)]  # fmt: skip
        patterns = {
            "queue": ("sqs", "", name, cdk.ArnFormat.NO_RESOURCE_NAME),
            "function": ("lambda", "function", name, cdk.ArnFormat.COLON_RESOURCE_NAME),
            "state_machine": ("states", "stateMachine", name, cdk.ArnFormat.COLON_RESOURCE_NAME),
            "executions": ("states", "execution", f"{name}:*", cdk.ArnFormat.COLON_RESOURCE_NAME),
            "job_queue": ("batch", "job-queue", name, cdk.ArnFormat.SLASH_RESOURCE_NAME),
            "job_definition": ("batch", "job-definition", name, cdk.ArnFormat.SLASH_RESOURCE_NAME),
            "batch_jobs": ("batch", "job", "*", cdk.ArnFormat.SLASH_RESOURCE_NAME),
            "log_group": ("logs", "log-group", name, cdk.ArnFormat.COLON_RESOURCE_NAME),
        }
        service, kind_name, resource_name, arn_format = patterns[kind]
        if arn_format is cdk.ArnFormat.NO_RESOURCE_NAME:
            return [self.format_arn(service=service, resource=resource_name, arn_format=arn_format)]
        arn = self.format_arn(
            service=service, resource=kind_name, resource_name=resource_name, arn_format=arn_format
        )
        if kind == "log_group":
            return [arn, arn + ":*"]
        if kind == "job_definition":
            return [arn, arn + ":*"]
        return [arn]

    def role(
        self,
        construct_id: str,
        service: str,
        grants: Iterable[permissions.Grant],
        extra_arns: dict[str, list[str]] | None = None,
    ) -> iam.Role:
        """A role for ``service`` with exactly ``grants`` as one inline policy."""
        statements = [
            iam.PolicyStatement(
                sid=grant.sid,
                actions=sorted(grant.actions),
                resources=sorted(
                    {arn for r in grant.resources for arn in self.arns(r)}
                    | set((extra_arns or {}).get(grant.sid, []))
                ),
                conditions=permissions.condition_block(grant.conditions) or None,
            )
            for grant in grants
        ]
        return iam.Role(
            self,
            construct_id,
            assumed_by=iam.ServicePrincipal(service),  # type: ignore[arg-type]
            inline_policies={"least-privilege": iam.PolicyDocument(statements=statements)},
        )

    # -- outputs -----------------------------------------------------------------------------
    def _outputs(self) -> None:
        """Names and ARNs; ``make deploy`` checks the names against the Chalice stage config."""
        settings = self.settings
        outputs: dict[str, str] = {}
        for name, bucket in self.buckets.items():
            outputs[output_key(settings, name, "Name")] = bucket.bucket_name
        for name, queue in self.queues.items():
            outputs[output_key(settings, name, "Name")] = queue.queue_name
        for definition in CONTAINER_FUNCTIONS:
            function = self.functions[definition.directory]
            outputs[_pascal(definition.name_setting) + "Name"] = function.function_name
            outputs[_pascal(definition.name_setting) + "Arn"] = function.function_arn
        outputs["FaceBlurStateMachineName"] = self.state_machine.state_machine_name
        outputs["FaceBlurStateMachineArn"] = self.state_machine.state_machine_arn
        outputs["BatchJobQueueName"] = self.batch.job_queue.job_queue_name
        outputs["BatchJobDefinitionName"] = self.batch.job_definition.job_definition_name
        outputs["DashboardUrl"] = self.monitoring.dashboard_url
        outputs["AlarmTopicArn"] = self.monitoring.topic.topic_arn
        if self.console_users is not None:
            outputs["ConsoleUserPoolArn"] = self.console_users.user_pool_arn
            outputs["ConsoleUserPoolId"] = self.console_users.user_pool_id
            outputs["ConsoleSignInDomain"] = (
                f"https://{self.stage.prefix}-{cdk.Aws.ACCOUNT_ID}.auth.{cdk.Aws.REGION}"
                ".amazoncognito.com"
            )
        for key, value in outputs.items():
            cdk.CfnOutput(self, key, value=value)


def output_key(settings: Settings, name: str, suffix: str) -> str:
    """The output naming a resource: its settings field, e.g. ``JobsDlqName``."""
    for field in fields(settings):
        if (
            field.name.endswith(("_bucket", "_queue", "_dlq"))
            and getattr(settings, field.name) == name
        ):
            return _pascal(field.name) + suffix
    raise KeyError(name)


def expected_outputs(settings: Settings) -> dict[str, str]:
    """Output key -> the name the Chalice stage config says it must have."""
    expected = {}
    for field in fields(settings):
        if field.name.endswith(("_bucket", "_queue", "_dlq", "_function", "_state_machine")) and (
            field.name not in ("batch_job_queue",)
        ):
            expected[_pascal(field.name) + "Name"] = getattr(settings, field.name)
    expected["BatchJobQueueName"] = settings.batch_job_queue
    expected["BatchJobDefinitionName"] = settings.batch_job_definition
    return expected


# -- helpers ---------------------------------------------------------------------------------
def _function_grants(definition: ContainerFunction, settings: object) -> list[permissions.Grant]:
    grants = {"cell-counter": permissions.cell_counter, "face-blur": permissions.face_blur}
    return grants[definition.directory](settings)  # type: ignore[arg-type]


def _construct_id(name: str, prefix: str, suffix: str) -> str:
    """``lab-pipelines-dev-jobs-dlq`` -> ``JobsDlqQueue`` (stable across stages)."""
    short = name.removeprefix(prefix + "-") if prefix else name
    return _pascal(short.replace("-", "_")) + suffix


def _pascal(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_") if part)
