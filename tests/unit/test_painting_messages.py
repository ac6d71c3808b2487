"""Job messages in the seed's forms, the validation rules and the Batch requests. Pure."""

from __future__ import annotations

import json

import pytest

from chalicelib.painting import layout
from chalicelib.painting.messages import (
    InvalidJob,
    PaintingJob,
    allow_list_problems,
    parse_body,
    prefix_problems,
    resource_problems,
)
from chalicelib.painting.records import JobRecord, decide
from chalicelib.painting.submission import SubmitPlan, plan_shards
from chalicelib.queues import QueueMessage
from tests.painting import event


def test_seed_single_job() -> None:
    [job] = parse_body(json.dumps(event("single_job.json")))
    assert job == PaintingJob(
        "examples/ExampleVitraImages/ExampleVitra.cppipe",
        "examples/ExampleVitraImages/images/",
        "examples/ExampleVitraImages/output0/",
    )


def test_seed_list_with_numbers_as_strings_or_numbers() -> None:
    jobs = parse_body(json.dumps(event("jobs_with_resources.json")))
    assert [(j.memory_mib, j.vcpus) for j in jobs if isinstance(j, PaintingJob)] == [
        (8192, 12.0),
        (8192, 8.0),
        (None, None),
    ]


@pytest.mark.parametrize(
    "body, reason",
    [
        ("not json", "not JSON"),
        ("42", "a job object or a list"),
        ("[]", "empty list"),
        ('[{"input": "i/", "output": "o/"}]', "pipeline is required"),
        ('{"pipeline": "p", "input": "", "output": "o/"}', "input is required"),
        ('{"pipeline": "p", "input": "i", "output": "o", "job_memory": "lots"}', "job_memory"),
        ('{"pipeline": "p", "input": "i", "output": "o", "job_vcpu": true}', "job_vcpu"),
        ('{"pipeline": "p", "input": "i", "output": "o", "shards": 1.5}', "whole number"),
        ('{"pipeline": "p", "input": "i", "output": "o", "colour": "red"}', "unknown keys: colour"),
        ('{"pipeline": "p", "input": "i", "output": "o", "job_queue": 3}', "job_queue"),
    ],
)
def test_malformed_jobs_are_rejected_with_a_reason(body: str, reason: str) -> None:
    [invalid] = parse_body(body)
    assert isinstance(invalid, InvalidJob) and reason in invalid.reason


def test_one_bad_job_does_not_spoil_the_others() -> None:
    jobs = parse_body('[{"pipeline": "p", "input": "i", "output": "o"}, "x", {"output": "z"}]')
    assert [type(j).__name__ for j in jobs] == ["PaintingJob", "InvalidJob", "InvalidJob"]
    assert jobs[2].output == "z/"  # type: ignore[union-attr]


def test_prefixes_are_normalised() -> None:
    [job] = parse_body('{"pipeline": "/a/p.cppipe", "input": "/in", "output": "out/"}')
    assert (job.pipeline, job.input, job.output) == ("a/p.cppipe", "in/", "out/")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "memory, vcpus, ok",
    [
        (8192, 12, True),
        (4, 1, True),
        (None, 0.25, True),
        (None, 0.5, True),
        (3, None, False),
        (30 * 1024 * 1024, None, False),
        (None, 0, False),
        (None, 0.3, False),
        (None, 1.5, False),
        (None, 449, False),
    ],
)
def test_resource_limits(memory: int | None, vcpus: float | None, ok: bool) -> None:
    job = PaintingJob("p", "i/", "o/", memory_mib=memory, vcpus=vcpus)
    assert (resource_problems(job) == []) is ok


def test_output_must_differ_from_input() -> None:
    assert prefix_problems(PaintingJob("p", "a/", "a/"))
    assert prefix_problems(PaintingJob("p", "a/", "a/b/"))
    assert prefix_problems(PaintingJob("p", "a/b/", "a/")) == []


def test_allow_list_by_name_or_arn() -> None:
    arn = "arn:aws:batch:us-east-1:123456789012:job-queue/lab-queue"
    ok = PaintingJob("p", "i/", "o/", job_queue=arn, job_definition="cp-def:4")
    assert allow_list_problems(ok, ["lab-queue"], ["cp-def"]) == []
    bad = PaintingJob("p", "i/", "o/", job_queue="other", job_definition="arn for job def")
    problems = allow_list_problems(bad, ["lab-queue"], ["cp-def"])
    assert len(problems) == 2 and "not allowed" in problems[0]


@pytest.mark.parametrize(
    "job, estimate, expected",
    [
        (PaintingJob("p", "i/", "o/"), None, (1, None, None)),
        (PaintingJob("p", "i/", "o/", shards=2), 2, (2, 2, None)),
        (PaintingJob("p", "i/", "o/", shards=8, image_sets=3), None, (3, 3, None)),
        (PaintingJob("p", "i/", "o/", sets_per_shard=4), 9, (3, 9, None)),
    ],
)
def test_plan_shards(job: PaintingJob, estimate: int | None, expected: tuple) -> None:
    assert plan_shards(job, estimate) == expected


def test_plan_shards_needs_a_count_and_bounds() -> None:
    assert plan_shards(PaintingJob("p", "i/", "o/", shards=2), None)[2]
    assert plan_shards(PaintingJob("p", "i/", "o/", shards=0), 5)[2]
    assert plan_shards(PaintingJob("p", "i/", "o/", sets_per_shard=0), 5)[2]
    assert plan_shards(PaintingJob("p", "i/", "o/", shards=20_000), 50_000)[2]


def test_job_key_is_deterministic_and_ignores_resources() -> None:
    a = PaintingJob("p.cppipe", "in/", "out/", memory_mib=1024)
    b = PaintingJob("p.cppipe", "in/", "out/", memory_mib=8192)
    assert a.key("bucket") == b.key("bucket")
    assert a.key("bucket") != PaintingJob("p.cppipe", "in/", "out2/").key("bucket")


def plan(**overrides: object) -> SubmitPlan:
    values: dict = dict(
        job_id="cp-1", bucket="data", job=PaintingJob("p", "i/", "o/", memory_mib=8192, vcpus=12),
        job_queue="q", job_definition="d", shards=1, image_sets=2, attempt=1, attempts=2,
    )  # fmt: skip
    values.update(overrides)
    return SubmitPlan(**values)


def test_submit_request_carries_overrides_and_retry_rules() -> None:
    request = plan().run_request()
    overrides = request["containerOverrides"]
    assert overrides["command"] == ["run"]
    assert {"type": "VCPU", "value": "12"} in overrides["resourceRequirements"]
    assert {"type": "MEMORY", "value": "8192"} in overrides["resourceRequirements"]
    env = {e["name"]: e["value"] for e in overrides["environment"]}
    assert env["INPUT"] == "i/" and env["OUTPUT"] == "o/" and env["PAINTING_JOB_ID"] == "cp-1"
    assert "arrayProperties" not in request
    rules = request["retryStrategy"]["evaluateOnExit"]
    assert rules[0] == {"onExitCode": str(layout.EXIT_FAILED), "action": "EXIT"}


def test_sharded_plan_is_an_array_job_with_a_dependent_merge() -> None:
    sharded = plan(shards=2)
    assert sharded.run_request()["arrayProperties"] == {"size": 2}
    merge = sharded.merge_request("run-id")
    assert merge["dependsOn"] == [{"jobId": "run-id"}]
    assert merge["containerOverrides"]["command"] == ["merge"]
    assert sharded.job_name != plan(attempt=2).job_name


@pytest.mark.parametrize(
    "record, message, now, failed, action",
    [
        (None, "m", 0, False, "claim"),
        (
            {"state": "submitting", "message_id": "m", "claimed_at_epoch": 0},
            "m",
            5,
            False,
            "submit",
        ),
        ({"state": "submitting", "message_id": "x", "claimed_at_epoch": 0}, "m", 5, False, "busy"),
        (
            {"state": "submitting", "message_id": "x", "claimed_at_epoch": 0},
            "m",
            1e4,
            False,
            "submit",
        ),
        ({"state": "submitted"}, "m", 0, False, "duplicate"),
        ({"state": "submitted"}, "m", 0, True, "resubmit"),
        ({"state": "succeeded"}, "m", 0, False, "done"),
        ({"state": "failed"}, "m", 0, False, "resubmit"),
        ({"state": "rejected"}, "m", 0, False, "resubmit"),
    ],
)
def test_decide(record: dict | None, message: str, now: float, failed: bool, action: str) -> None:
    parsed = JobRecord.from_dict({"job_id": "cp-1", **record}) if record else None
    assert decide(parsed, message, now, 900, failed) == action


def test_a_record_round_trips_and_keeps_the_runners_fields() -> None:
    document = {"job_id": "cp-1", "state": "succeeded", "attempt": 2, "manifest": "o/m.json"}
    record = JobRecord.from_dict(document)
    assert record.extra == {"manifest": "o/m.json"}
    assert record.to_dict() == document
    assert record.with_(state="failed", reason="r").to_dict()["reason"] == "r"


def test_an_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown painting job state"):
        JobRecord("cp-1", "done")


def test_queue_messages_from_chalice_records() -> None:
    class Record:
        def to_dict(self) -> dict:
            return {"messageId": "id-1", "receiptHandle": "rh", "body": "{}"}

    assert QueueMessage.from_records([Record()]) == [QueueMessage("id-1", "rh", "{}")]
