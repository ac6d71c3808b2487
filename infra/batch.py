"""AWS Batch for the Cell Painting pipeline: CellProfiler on EC2 that scales to zero.

- Compute environment: managed EC2, ``minvCpus`` 0 (no instance runs while no job
  waits), current c/m/r instance families so any whole-vCPU/memory request the
  painting messages allow up to the largest of them can be placed, in public
  subnets of a VPC without NAT gateways (a NAT gateway bills by the hour).
- Job queue named by ``BATCH_JOB_QUEUE``; a job that no instance can ever fit
  (more vCPUs or memory than the environment has) is cancelled after a while
  instead of waiting RUNNABLE forever, and the painting status shows Batch's reason.
- Job definition named by ``BATCH_JOB_DEFINITION``: the image built from
  ``containers/cellprofiler/Dockerfile``, command ``run``, 1 vCPU and 2 GiB by
  default (what the local emulator registers; messages override per job with
  ``job_vcpu``/``job_memory``), a job role limited to the data bucket.
"""

from __future__ import annotations

from collections.abc import Callable

import aws_cdk as cdk
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from chalicelib.config import PROJECT_DIR
from infra import permissions
from infra.stages import Stage

DEFAULT_VCPUS = 1
DEFAULT_MEMORY_MIB = 2048
# Largest sizes: c6i.32xlarge 128 vCPU, r6i.32xlarge 1,024 GiB.
INSTANCE_CLASSES = (ec2.InstanceClass.C6I, ec2.InstanceClass.M6I, ec2.InstanceClass.R6I)
# Reasons a RUNNABLE job is cancelled for after ``runnable_timeout_minutes`` (and the
# alarm in infra/monitoring.py fires): no instance can ever fit it, or EC2 gives no
# capacity (an instance quota reached shows up here too).
NEVER_PLACEABLE = (
    batch.JobStateTimeLimitActionsReason.COMPUTE_ENVIRONMENT_MAX_RESOURCE,
    batch.JobStateTimeLimitActionsReason.JOB_RESOURCE_REQUIREMENT,
    batch.JobStateTimeLimitActionsReason.INSUFFICIENT_INSTANCE_CAPACITY,
)


RETENTION = {
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def log_removal(stage: Stage) -> cdk.RemovalPolicy:
    """Log groups of a stage that keeps its data outlive the stack, like its buckets.

    A prod redeploy after ``make destroy`` then adopts them (``--import-existing-resources``)
    together with any group Lambda re-created for a function invoked during the teardown,
    instead of failing to create a group that exists; their retention still expires them.
    """
    return cdk.RemovalPolicy.RETAIN if stage.infra.retain_data else cdk.RemovalPolicy.DESTROY


def log_retention(days: int) -> logs.RetentionDays:
    if days not in RETENTION:
        raise ValueError(f"log retention must be one of {sorted(RETENTION)} days, got {days}")
    return RETENTION[days]


class CellProfilerBatch(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: Stage,
        job_grants: list[permissions.Grant],
        render: Callable[[permissions.Resource], list[str]],
    ) -> None:
        super().__init__(scope, construct_id)
        settings = stage.settings
        infra = stage.infra
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            restrict_default_security_group=False,  # would add a custom-resource Lambda
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=20
                )
            ],
            # S3 traffic stays on AWS's network for free; ECR images come via the internet gateway.
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
        )
        # IMDSv2 only, hop limit 1: a container (one network hop further than the
        # instance) cannot reach the instance's metadata and borrow its role; jobs get
        # their own credentials from the ECS task-role endpoint instead.
        self.launch_template = ec2.LaunchTemplate(
            self,
            "Instances",
            launch_template_name=f"{stage.prefix}-cellprofiler",
            require_imdsv2=True,
            http_put_response_hop_limit=1,
            http_tokens=ec2.LaunchTemplateHttpTokens.REQUIRED,
        )
        self.compute_environment = batch.ManagedEc2EcsComputeEnvironment(
            self,
            "Compute",
            vpc=self.vpc,
            launch_template=self.launch_template,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            minv_cpus=0,
            maxv_cpus=infra.batch_max_vcpus,
            instance_classes=list(INSTANCE_CLASSES),
            use_optimal_instance_classes=False,
            allocation_strategy=batch.AllocationStrategy.BEST_FIT_PROGRESSIVE,
            spot=False,
        )
        self.job_queue = batch.JobQueue(
            self,
            "Queue",
            job_queue_name=settings.batch_job_queue,
            compute_environments=[
                batch.OrderedComputeEnvironment(
                    compute_environment=self.compute_environment, order=1
                )
            ],
            job_state_time_limit_actions=[
                batch.JobStateTimeLimitAction(
                    max_time=cdk.Duration.minutes(infra.runnable_timeout_minutes),
                    reason=reason,
                    action=batch.JobStateTimeLimitActionsAction.CANCEL,
                    state=batch.JobStateTimeLimitActionsState.RUNNABLE,
                )
                for reason in NEVER_PLACEABLE
            ],
        )
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/batch/{settings.batch_job_definition}",
            retention=log_retention(infra.log_retention_days),
            removal_policy=log_removal(stage),
        )
        job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),  # type: ignore[arg-type]
            inline_policies={
                "least-privilege": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            sid=grant.sid,
                            actions=sorted(grant.actions),
                            resources=sorted({a for r in grant.resources for a in render(r)}),
                            conditions=permissions.condition_block(grant.conditions) or None,
                        )
                        for grant in job_grants
                    ]
                )
            },
        )
        self.job_definition = batch.EcsJobDefinition(
            self,
            "JobDefinition",
            job_definition_name=settings.batch_job_definition,
            timeout=cdk.Duration.hours(infra.batch_job_timeout_hours),
            container=batch.EcsEc2ContainerDefinition(
                self,
                "Container",
                image=ecs.ContainerImage.from_asset(
                    str(PROJECT_DIR),
                    file="containers/cellprofiler/Dockerfile",
                    platform=ecr_assets.Platform.LINUX_AMD64,
                    exclude=["*", "!chalicelib", "!containers/cellprofiler", "**/__pycache__"],
                ),
                cpu=DEFAULT_VCPUS,
                memory=cdk.Size.mebibytes(DEFAULT_MEMORY_MIB),
                command=["run"],
                job_role=job_role,  # type: ignore[arg-type]
                logging=ecs.LogDriver.aws_logs(stream_prefix="cellprofiler", log_group=log_group),
            ),
        )
