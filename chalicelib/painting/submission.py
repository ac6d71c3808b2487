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

# The tag every submitted job carries (its painting job id); the submitting role may set
# no other (infra/permissions.py: TagSubmittedJobs).
PAINTING_JOB_TAG = "painting-job"


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
            **job_environment(self),
            "PAINTING_SHARDS": str(self.shards),
            "PAINTING_IMAGE_SETS": str(self.image_sets or 0),
        }

    def run_request(self) -> dict[str, Any]:
        """``batch.submit_job`` arguments for the CellProfiler job (an array job if sharded)."""
        return job_request(self, "run", self.environment(), job_resources(self.job), self.shards)

    def merge_request(self, run_job_id: str) -> dict[str, Any]:
        """The merge job: runs once every shard of ``run_job_id`` succeeded."""
        return merge_request(self, self.environment(), run_job_id, 2048)


def job_environment(plan: Any) -> dict[str, str]:
    """What every container of a job is told: which job, where its files are."""
    return {
        "PAINTING_JOB_ID": plan.job_id,
        "PAINTING_BUCKET": plan.bucket,
        "PIPELINE": plan.job.pipeline,
        "INPUT": plan.job.input,
        "OUTPUT": plan.job.output,
        "PAINTING_ATTEMPTS": str(plan.attempts),
        # the job logs and its records under the message's correlation id
        **(
            {observability.ENVIRONMENT: observability.correlation_id()}
            if observability.correlation_id()
            else {}
        ),
    }


def job_resources(job: PaintingJob) -> list[dict[str, str]]:
    """The job's ``job_vcpu``/``job_memory`` overrides as Batch resource requirements."""
    resources = []
    if job.vcpus is not None:
        resources.append({"type": "VCPU", "value": f"{job.vcpus:g}"})
    if job.memory_mib is not None:
        resources.append({"type": "MEMORY", "value": str(job.memory_mib)})
    return resources


def job_request(
    plan: Any,
    command: str,
    environment: dict[str, str],
    resources: list[dict[str, str]],
    children: int,
) -> dict[str, Any]:
    """``batch.submit_job`` arguments: an array job when ``children`` > 1."""
    overrides: dict[str, Any] = {
        "command": [command],
        "environment": [{"name": k, "value": v} for k, v in environment.items()],
    }
    if resources:
        overrides["resourceRequirements"] = resources
    request: dict[str, Any] = {
        "jobName": plan.job_name,
        "jobQueue": plan.job_queue,
        "jobDefinition": plan.job_definition,
        "containerOverrides": overrides,
        "retryStrategy": retry_strategy(plan.attempts),
        "tags": {PAINTING_JOB_TAG: plan.job_id},
    }
    if children > 1:
        request["arrayProperties"] = {"size": children}
    return request


def merge_request(
    plan: Any, environment: dict[str, str], run_job_id: str | None, memory_mib: int
) -> dict[str, Any]:
    """The merge job (1 vCPU, ``memory_mib``), after ``run_job_id`` when there is one."""
    resources = [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": str(memory_mib)}]
    request = job_request(plan, "merge", environment, resources, 1)
    request["jobName"] = plan.job_name + "-merge"
    if run_job_id:
        request["dependsOn"] = [{"jobId": run_job_id}]
    return request


def retry_strategy(attempts: int) -> dict[str, Any]:
    """Retry infrastructure failures, not a wrong pipeline (the runner exits 3 for those)."""
    return {
        "attempts": max(1, min(10, attempts)),
        "evaluateOnExit": [
            {"onExitCode": str(layout.EXIT_FAILED), "action": "EXIT"},
            {"onReason": "*", "action": "RETRY"},
        ],
    }


# -- plate jobs: one array child per metadata group ------------------------------------
MERGE_BASE_MIB = 2048  # Python, pandas, pyarrow, pycytominer and the CSV buffers
MERGE_PER_SITE_MIB = 128  # one site's tables, as frames and joined (JUMP-sized: ~1,000 cells)
MERGE_MAX_MIB = 30 * 1024


def merge_memory_mib(largest_group_sites: int) -> int:
    """Memory for a plate merge: it holds one group at a time, so the largest group sizes it.

    >>> merge_memory_mib(2), merge_memory_mib(9), merge_memory_mib(10_000)
    (2304, 3200, 30720)
    """
    return min(MERGE_MAX_MIB, MERGE_BASE_MIB + MERGE_PER_SITE_MIB * max(1, largest_group_sites))


@dataclass(frozen=True)
class PlateSubmission:
    """The groups of a plate job sent to AWS Batch at once (all of them, or a retry's)."""

    job_id: str
    bucket: str
    job: PaintingJob
    job_queue: str
    job_definition: str
    indices: tuple[int, ...]  # positions in the plan's groups
    submission: int  # 1 for the first, +1 for each retry or resend
    attempts: int
    merge_memory_mib: int

    @property
    def job_name(self) -> str:
        return f"cellprofiler-{self.job_id}-s{self.submission}"

    def environment(self) -> dict[str, str]:
        return {
            **job_environment(self),
            "PAINTING_PLAN": layout.plan_key(self.job.output),
            "PAINTING_GROUPS": layout.encode_indices(list(self.indices)),
            "PAINTING_SUBMISSION": str(self.submission),
            **({"PAINTING_PLATEMAP": self.job.platemap} if self.job.platemap else {}),
        }

    def run_request(self) -> dict[str, Any]:
        """One child per group (an array job; a single job for one group)."""
        resources = job_resources(self.job)
        return job_request(self, "run", self.environment(), resources, len(self.indices))

    def merge_request(self, run_job_id: str | None) -> dict[str, Any]:
        """The plate merge, after every group of this submission succeeded."""
        return merge_request(self, self.environment(), run_job_id, self.merge_memory_mib)
