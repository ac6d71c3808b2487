"""``lab bench outage``: an S3 or SQS outage during a burst of uploads and jobs, and what it cost.

The local cloud runs with AWS's retry timing (a failed message comes back after
the queue's visibility timeout; an async invoke is retried ~1 and ~2 minutes
later). Its fault injector makes S3 or SQS answer 503 for ``outage_s`` seconds
to everything but this benchmark's own client, which keeps uploading images and
sending jobs as instruments and a chat bot would. Then it waits until every
image has its count and every job its reply, and reports how many made it
without a manual step, how many only after ``lab redrive`` (run when the
retries are spent), and how many were lost or done twice.

Duplicates are measured, not assumed: the results bucket is versioned, so each
write of an image's ``result.json`` is a version, and every reply on the results
queue is collected.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger(__name__)

JOB_OBSERVATION = {
    "meanConcavePoints": 0.07951,
    "worstRadius": 24.86,
    "worstTexture": 26.58,
    "worstArea": 1866.0,
    "worstConcavePoints": 0.1789,
}


@dataclass
class OutageReport:
    service: str
    outage_s: float
    visibility_timeout_s: int
    images: int
    jobs: int
    counted_without_manual_step: int = 0
    answered_without_manual_step: int = 0
    redriven: int = 0
    counted: int = 0
    answered: int = 0
    duplicated_counts: int = 0
    duplicated_replies: int = 0
    refused_requests: int = 0
    seconds: float = 0.0
    missing: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return (self.images - self.counted) + (self.jobs - self.answered)

    def summary(self) -> str:
        return (
            f"{self.service} outage {self.outage_s:g} s (visibility timeout "
            f"{self.visibility_timeout_s} s): {self.counted_without_manual_step}/{self.images} "
            f"images counted and {self.answered_without_manual_step}/{self.jobs} jobs answered "
            f"without a manual step; after `lab redrive` ({self.redriven} moved): "
            f"{self.counted}/{self.images} counted, {self.answered}/{self.jobs} answered; "
            f"lost {self.lost}, counted twice {self.duplicated_counts}, answered twice "
            f"{self.duplicated_replies}; {self.refused_requests} requests refused with 503; "
            f"{self.seconds:.0f} s"
        )


def exempt_client(service: str, endpoint: str) -> Any:
    """A client the fault injector lets through (the outside world keeps working)."""
    import boto3
    from botocore.config import Config

    from devtools.local.faults import EXEMPT_AGENT

    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(user_agent_extra=EXEMPT_AGENT, retries={"max_attempts": 10}),
    )


def images_to_upload(count: int) -> list[bytes]:
    """A few distinct small synthetic images, cycled (PNG bytes)."""
    import cv2

    from devtools.synthetic.cells import nuclei

    distinct = []
    for n in range(min(count, 6)):
        image = nuclei(5 + n, shape=(128, 128), radius=(6.0, 9.0), seed=n).image
        ok, encoded = cv2.imencode(".png", image)
        assert ok
        distinct.append(encoded.tobytes())
    return [distinct[i % len(distinct)] for i in range(count)]


def run_outage(
    service: str,
    outage_s: float,
    images: int = 60,
    jobs: int = 10,
    visibility_timeout: int = 30,
    async_retry_delays: tuple[float, float] | None = None,
    timeout: float | None = None,
) -> OutageReport:
    """Run the scenario on a fresh local cloud; see the module docstring."""
    from devtools.local.cloud import LocalCloud

    report = OutageReport(service, outage_s, visibility_timeout, images, jobs)
    started = time.monotonic()
    with LocalCloud(
        port=0, visibility_timeout=visibility_timeout, async_retry_delays=async_retry_delays
    ) as cloud:
        assert cloud.settings is not None and cloud.faults is not None
        scenario = _Scenario(cloud, images, jobs)
        cloud.faults.outage(service, outage_s)
        scenario.arrive(spread_s=min(outage_s / 2, 5.0))
        delays = async_retry_delays or (60.0, 120.0)
        settle = outage_s + cloud.settings.max_receive_count * visibility_timeout + sum(delays)
        scenario.wait(started + (timeout or settle + 60))
        report.counted_without_manual_step = len(scenario.counted)
        report.answered_without_manual_step = len(scenario.replies)
        if len(scenario.counted) < images or len(scenario.replies) < jobs:
            report.redriven = scenario.redrive()
            scenario.wait(time.monotonic() + settle + 30)
        report.counted, report.answered = len(scenario.counted), len(scenario.replies)
        report.duplicated_counts = scenario.duplicated_counts()
        report.duplicated_replies = sum(n - 1 for n in scenario.replies.values() if n > 1)
        report.refused_requests = sum(cloud.faults.refused.values())
        report.missing = scenario.missing()
    report.seconds = time.monotonic() - started
    return report


class _Scenario:
    def __init__(self, cloud: Any, images: int, jobs: int) -> None:
        self.cloud = cloud
        self.settings = cloud.settings
        self.s3 = exempt_client("s3", cloud.endpoint)
        self.sqs = exempt_client("sqs", cloud.endpoint)
        self.keys = [f"outage/img-{i:03d}.png" for i in range(images)]
        self.job_ids = [f"outage-job-{i:03d}" for i in range(jobs)]
        self.counted: set[str] = set()
        self.replies: Counter[str] = Counter()
        self.s3.put_bucket_versioning(
            Bucket=self.settings.results_bucket, VersioningConfiguration={"Status": "Enabled"}
        )
        self.s3.put_object(
            Bucket=self.settings.data_bucket, Key="outage/job.png", Body=images_to_upload(1)[0]
        )

    def arrive(self, spread_s: float) -> None:
        """Upload the images and send the jobs, spread over ``spread_s`` seconds."""
        bodies = images_to_upload(len(self.keys))
        jobs_url = self.cloud.provisioned.url(self.settings.jobs_queue)
        total = len(self.keys) + len(self.job_ids)
        pause = spread_s / max(1, total)
        for key, body in zip(self.keys, bodies, strict=True):
            self.s3.put_object(Bucket=self.settings.images_bucket, Key=key, Body=body)
            time.sleep(pause)
        for n, job_id in enumerate(self.job_ids):
            task = (
                {"task": "predict", "input": JOB_OBSERVATION}
                if n % 2
                else {"task": "count", "input": f"s3://{self.settings.data_bucket}/outage/job.png"}
            )
            self.sqs.send_message(
                QueueUrl=jobs_url,
                MessageBody=json.dumps({"job_id": job_id, **task}),
                MessageAttributes={"chat_id": {"DataType": "String", "StringValue": "bench"}},
            )
            time.sleep(pause)

    def wait(self, deadline: float) -> None:
        """Until every item is done, or each one not done waits in a dead-letter queue."""
        total = len(self.keys) + len(self.job_ids)
        while time.monotonic() < deadline:
            self._collect()
            done = len(self.counted) + len(self.replies)
            if done == total or done + self._parked() >= total:
                return
            time.sleep(0.5)

    def _parked(self) -> int:
        """Messages waiting in the dead-letter and on-failure queues (retries spent)."""
        from devtools.local.resources import notification_queue_name

        queues = (
            f"{notification_queue_name(self.settings.images_bucket)}-dlq",
            self.settings.jobs_dlq,
            self.settings.cell_counter_failures_queue,
        )
        parked = 0
        for queue in queues:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=self.cloud.provisioned.url(queue),
                AttributeNames=["ApproximateNumberOfMessages"],
            )["Attributes"]
            parked += int(attributes["ApproximateNumberOfMessages"])
        return parked

    def _collect(self) -> None:
        for key in self.keys:
            if key in self.counted:
                continue
            try:
                body = self.s3.get_object(
                    Bucket=self.settings.results_bucket, Key=f"counts/{key}/result.json"
                )["Body"].read()
            except self.s3.exceptions.NoSuchKey:
                continue
            if json.loads(body).get("status") == "ok":
                self.counted.add(key)
        url = self.cloud.provisioned.url(self.settings.job_results_queue)
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        for message in got.get("Messages", []):
            reply = json.loads(message["Body"])
            if reply.get("job_id") in self.job_ids and reply.get("status") == "ok":
                self.replies[reply["job_id"]] += 1
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def redrive(self) -> int:
        from devtools.local.redrive import redrive
        from devtools.local.resources import notification_queue_name

        moved = 0
        for queue in (
            self.settings.jobs_queue,
            notification_queue_name(self.settings.images_bucket),
        ):
            moved += redrive(self.sqs, queue).moved
        moved += self._resend_failed_invokes()
        return moved

    def _resend_failed_invokes(self) -> int:
        """Async invokes that ran out of retries wait in the on-failure queue: invoke again."""
        lambda_ = exempt_client("lambda", self.cloud.endpoint)
        url = self.cloud.provisioned.url(self.settings.cell_counter_failures_queue)
        moved = 0
        while True:
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages")
            if not got:
                return moved
            for message in got:
                record = json.loads(message["Body"])
                lambda_.invoke(
                    FunctionName=self.settings.cell_counter_function,
                    InvocationType="Event",
                    Payload=json.dumps(record["requestPayload"]).encode(),
                )
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                moved += 1

    def duplicated_counts(self) -> int:
        versions: Counter[str] = Counter()
        pages = self.s3.get_paginator("list_object_versions").paginate(
            Bucket=self.settings.results_bucket, Prefix="counts/outage/img-"
        )
        for page in pages:
            for version in page.get("Versions", []):
                if version["Key"].endswith("/result.json"):
                    versions[version["Key"]] += 1
        return sum(n - 1 for n in versions.values() if n > 1)

    def missing(self) -> list[str]:
        return sorted(set(self.keys) - self.counted) + sorted(set(self.job_ids) - set(self.replies))


def print_outage(
    seconds: list[float],
    services: list[str],
    images: int,
    jobs: int,
    visibility: int,
    as_json: bool,
) -> int:
    reports = [
        run_outage(service, s, images=images, jobs=jobs, visibility_timeout=visibility)
        for service in services
        for s in seconds
    ]
    for report in reports:
        if as_json:
            print(json.dumps({**asdict(report), "lost": report.lost}))
        else:
            print(report.summary(), flush=True)
    return 0 if all(r.lost == 0 for r in reports) else 1
