"""AWS Batch submissions of a painting job: how many shards, the job requests.

Pure: a ``SubmitPlan`` turns into ``batch.submit_job`` arguments; the zip
handler sends them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from chalicelib import observability
from chalicelib.painting import layout
from chalicelib.painting.messages import PaintingJob


def plan_shards(job: PaintingJob, estimated_sets: int | None) -> tuple[int, int | None, str | None]:
    """(shards, image_sets, problem): how many Batch array children the job gets.

    >>> plan_shards(PaintingJob("p", "i/", "o/"), 2)
    (1, 2, None)
    >>> plan_shards(PaintingJob("p", "i/", "o/", shards=4), 2)
    (2, 2, None)
    >>> plan_shards(PaintingJob("p", "i/", "o/", sets_per_shard=10), 25)
    (3, 25, None)
    >>> print(plan_shards(PaintingJob("p", "i/", "o/", shards=2), None)[2])
    shards needs the image-set count: give image_sets (the pipeline rules are too complex to count)
    """
    image_sets = job.image_sets or estimated_sets
    wanted = job.shards or 1
    if job.sets_per_shard is not None:
        if job.sets_per_shard < 1:
            return 1, image_sets, "sets_per_shard must be at least 1"
        wanted = math.ceil(image_sets / job.sets_per_shard) if image_sets else 0
    if wanted < 1 or (job.shards is not None and job.shards < 1):
        return 1, image_sets, "shards must be at least 1"
    if wanted > 1 and not image_sets:
        return (
            1,
            image_sets,
            (
                "shards needs the image-set count: give image_sets "
                "(the pipeline rules are too complex to count)"
            ),
        )
    if wanted > layout.MAX_ARRAY_SIZE:
        return 1, image_sets, f"at most {layout.MAX_ARRAY_SIZE} shards (an AWS Batch array job)"
    return (min(wanted, image_sets) if image_sets else 1), image_sets, None


@dataclass(frozen=True)
class SubmitPlan:
    """Everything needed to submit one painting job to AWS Batch."""

    job_id: str
    bucket: str
    job: PaintingJob
    job_queue: str
    job_definition: str
    shards: int
    image_sets: int | None
    attempt: int
    attempts: int

    @property
    def job_name(self) -> str:
        return f"cellprofiler-{self.job_id}-a{self.attempt}"

    def environment(self) -> dict[str, str]:
        return {
            "PAINTING_JOB_ID": self.job_id,
            "PAINTING_BUCKET": self.bucket,
            "PIPELINE": self.job.pipeline,
            "INPUT": self.job.input,
            "OUTPUT": self.job.output,
            "PAINTING_SHARDS": str(self.shards),
            "PAINTING_IMAGE_SETS": str(self.image_sets or 0),
            "PAINTING_ATTEMPTS": str(self.attempts),
            # the job logs and its records under the message's correlation id
            **(
                {observability.ENVIRONMENT: observability.correlation_id()}
                if observability.correlation_id()
                else {}
            ),
        }

    def run_request(self) -> dict[str, Any]:
        """``batch.submit_job`` arguments for the CellProfiler job (an array job if sharded)."""
        overrides: dict[str, Any] = {
            "command": ["run"],
            "environment": [{"name": k, "value": v} for k, v in self.environment().items()],
        }
        resources = []
        if self.job.vcpus is not None:
            resources.append({"type": "VCPU", "value": f"{self.job.vcpus:g}"})
        if self.job.memory_mib is not None:
            resources.append({"type": "MEMORY", "value": str(self.job.memory_mib)})
        if resources:
            overrides["resourceRequirements"] = resources
        request: dict[str, Any] = {
            "jobName": self.job_name,
            "jobQueue": self.job_queue,
            "jobDefinition": self.job_definition,
            "containerOverrides": overrides,
            "retryStrategy": retry_strategy(self.attempts),
            "tags": {"painting-job": self.job_id},
        }
        if self.shards > 1:
            request["arrayProperties"] = {"size": self.shards}
        return request

    def merge_request(self, run_job_id: str) -> dict[str, Any]:
        """The merge job: runs once every shard of ``run_job_id`` succeeded."""
        return {
            "jobName": self.job_name + "-merge",
            "jobQueue": self.job_queue,
            "jobDefinition": self.job_definition,
            "dependsOn": [{"jobId": run_job_id}],
            "containerOverrides": {
                "command": ["merge"],
                "environment": [{"name": k, "value": v} for k, v in self.environment().items()],
                "resourceRequirements": [
                    {"type": "VCPU", "value": "1"},
                    {"type": "MEMORY", "value": "2048"},
                ],
            },
            "retryStrategy": retry_strategy(self.attempts),
            "tags": {"painting-job": self.job_id},
        }


def retry_strategy(attempts: int) -> dict[str, Any]:
    """Retry infrastructure failures, not a wrong pipeline (the runner exits 3 for those)."""
    return {
        "attempts": max(1, min(10, attempts)),
        "evaluateOnExit": [
            {"onExitCode": str(layout.EXIT_FAILED), "action": "EXIT"},
            {"onReason": "*", "action": "RETRY"},
        ],
    }
