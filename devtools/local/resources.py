"""Create, in the emulator, every resource the stage config names.

Buckets; work queues with their dead-letter queues and redrive policies; plain
queues; the Batch job queue and job definition; and, for each bucket an
``@app.on_s3_event`` watches, an SQS queue the bucket notifies (with its own
dead-letter queue) for the event pump to drain.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalice.app import S3EventConfig

from chalicelib.config import Settings


@dataclass
class Provisioned:
    queue_urls: dict[str, str] = field(default_factory=dict)  # queue name -> URL
    notification_queues: dict[str, str] = field(default_factory=dict)  # bucket -> queue URL

    def url(self, queue: str) -> str:
        return self.queue_urls[queue]


def notification_queue_name(bucket: str) -> str:
    return f"{bucket}-events"


class Provisioner:
    def __init__(
        self, settings: Settings, clients: Callable[[str], Any], visibility_timeout: int = 30
    ):
        self._settings = settings
        self._s3 = clients("s3")
        self._sqs = clients("sqs")
        self._batch = clients("batch")
        self._iam = clients("iam")
        self._sfn = clients("stepfunctions")
        self._visibility = str(visibility_timeout)
        self.provisioned = Provisioned()

    def provision(self, event_sources: list[Any]) -> Provisioned:
        for bucket in self._settings.buckets:
            self._s3.create_bucket(Bucket=bucket)
        for queue, dlq in self._settings.queues_with_dlq.items():
            self.queue_with_dlq(queue, dlq)
        for queue in self._settings.plain_queues:
            self.queue(queue)
        s3_sources = [s for s in event_sources if isinstance(s, S3EventConfig)]
        for bucket in sorted({s.bucket for s in s3_sources}):
            events = sorted({e for s in s3_sources if s.bucket == bucket for e in s.events})
            self.notify_queue(bucket, events)
        self.batch_queue()
        return self.provisioned

    def state_machine(self, name: str, definition: str) -> str:
        """Create a state machine (moto executes it: see ``Emulator.execute_state_machines``)."""
        role = f"arn:aws:iam::123456789012:role/{name}-states"
        created = self._sfn.create_state_machine(name=name, definition=definition, roleArn=role)
        return str(created["stateMachineArn"])

    def batch_queue(self) -> None:
        """An (unmanaged) compute environment, the job queue and the job definition.

        The emulator only records Batch jobs; a local executor runs them.
        """
        name = self._settings.batch_job_queue
        role = self._iam.create_role(
            RoleName=f"{name}-batch-service", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        environment = self._batch.create_compute_environment(
            computeEnvironmentName=name, type="UNMANAGED", state="ENABLED", serviceRole=role
        )
        self._batch.create_job_queue(
            jobQueueName=name,
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[
                {"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}
            ],
        )
        self._batch.register_job_definition(
            jobDefinitionName=self._settings.batch_job_definition,
            type="container",
            containerProperties={
                "image": "lab-pipelines/cellprofiler:local",
                "command": ["run"],
                "resourceRequirements": [
                    {"type": "VCPU", "value": "1"},
                    {"type": "MEMORY", "value": "2048"},
                ],
            },
        )

    def queue(self, name: str, attributes: dict[str, str] | None = None) -> str:
        attrs = {"VisibilityTimeout": self._visibility, **(attributes or {})}
        url: str = self._sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        self.provisioned.queue_urls[name] = url
        return url

    def queue_arn(self, name: str) -> str:
        url = self.provisioned.queue_urls[name]
        attrs = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    def queue_with_dlq(self, name: str, dlq: str) -> str:
        self.queue(dlq, {"MessageRetentionPeriod": "1209600"})
        redrive = {
            "deadLetterTargetArn": self.queue_arn(dlq),
            "maxReceiveCount": str(self._settings.max_receive_count),
        }
        return self.queue(name, {"RedrivePolicy": json.dumps(redrive)})

    def notify_queue(self, bucket: str, events: list[str]) -> None:
        name = notification_queue_name(bucket)
        self.queue_with_dlq(name, f"{name}-dlq")
        self._s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": self.queue_arn(name), "Events": events}]
            },
        )
        self.provisioned.notification_queues[bucket] = self.provisioned.url(name)
