"""Plate jobs in the zip handler and routes: groups submitted, reported, retried (fake Batch)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import aws
from chalicelib.config import Settings
from chalicelib.painting import layout
from chalicelib.painting.messages import PaintingJob, parse_job
from chalicelib.storage import Bucket
from devtools.synthetic.plate import fields
from tests.functional.test_painting import FakeBatch, FakeSqs, records, send

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "painting" / "plate"
PREFIX = "plates/SYN0001/"
NAMES = [f"Metadata_Plate=SYN0001,Metadata_Well={w}" for w in ("A01", "A02", "B01", "B02")]


@pytest.fixture
def batch(s3: Any) -> Iterator[FakeBatch]:
    fake = FakeBatch()
    with aws.injected(batch=fake, sqs=FakeSqs()):
        yield fake


@pytest.fixture
def plate_job(s3: Any, settings: Settings) -> dict[str, Any]:
    """A 4-well × 2-site plate (names only: nothing runs here) and its job."""
    bucket = settings.data_bucket
    for field in fields("SYN0001", 4, 2):
        for channel in (1, 2, 3):
            key = PREFIX + "images/" + field.file_name(channel)
            s3.put_object(Bucket=bucket, Key=key, Body=b"II*\x00")
    pipeline = (SAMPLES / "PlateAnalysis.cppipe").read_bytes()
    s3.put_object(Bucket=bucket, Key=PREFIX + "PlateAnalysis.cppipe", Body=pipeline)
    s3.put_object(Bucket=bucket, Key=PREFIX + "platemap.csv", Body=b"Metadata_Well\nA01\n")
    return {
        "pipeline": PREFIX + "PlateAnalysis.cppipe",
        "input": PREFIX + "images/",
        "output": PREFIX + "results/",
        "group_by": ["Metadata_Plate", "Metadata_Well"],
        "platemap": PREFIX + "platemap.csv",
    }


def key_of(settings: Settings, body: dict[str, Any]) -> str:
    job = parse_job(0, body)
    assert isinstance(job, PaintingJob)
    return job.key(settings.data_bucket)


def finish_groups(s3: Any, settings: Settings, job_id: str, failed: set[str]) -> None:
    """What the Batch children would leave: a manifest per group."""
    store = Bucket(s3, settings.data_bucket)
    for index, name in enumerate(NAMES):
        folder = name.replace("Metadata_", "").replace("=", "-").replace(",", "_")
        status = "failed" if name in failed else "succeeded"
        store.write_json(
            layout.group_prefix(PREFIX + "results/", folder) + layout.MANIFEST,
            {"job_id": job_id, "status": status, "reason": "CellProfiler exited with code 1"
             if status == "failed" else None, "objects": {"Nuclei": 10 + index},
             "durations_s": {"total": 20.0}, "submission": 1},
        )  # fmt: skip


def test_a_plate_is_one_array_child_per_group_and_a_merge_sized_from_it(
    client: Client, batch: FakeBatch, plate_job: dict[str, Any], s3: Any, settings: Settings
) -> None:
    send(client, plate_job)
    run, merge = batch.submitted
    assert run["arrayProperties"] == {"size": 4}
    environment = {e["name"]: e["value"] for e in run["containerOverrides"]["environment"]}
    assert environment["PAINTING_GROUPS"] == "0-3" and environment["PAINTING_SUBMISSION"] == "1"
    assert merge["dependsOn"] == [{"jobId": run["jobId"]}]
    assert {"type": "MEMORY", "value": "2304"} in merge["containerOverrides"][
        "resourceRequirements"
    ]  # 2 sites in the largest group
    plan = Bucket(s3, settings.data_bucket).read_json(layout.plan_key(plate_job["output"]))
    assert plan is not None and [g["name"] for g in plan["groups"]] == NAMES
    assert all(len(g["sites"]) == 2 for g in plan["groups"])
    [status] = records(s3, settings)
    assert status["state"] == "submitted" and sorted(status["plate"]["groups"]) == NAMES


def test_the_seed_forms_are_unchanged(plate_job: dict[str, Any], settings: Settings) -> None:
    seed = {k: plate_job[k] for k in ("pipeline", "input", "output")}
    job = parse_job(0, seed)
    assert isinstance(job, PaintingJob) and not job.is_plate
    assert job.key(settings.data_bucket) == layout.job_key(
        settings.data_bucket, seed["pipeline"], seed["input"], seed["output"]
    )
    assert key_of(settings, plate_job) != job.key(settings.data_bucket)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"metadata_regex": r"(?P<Well>[A-P][0-9]{2})"}, "no channel group"),
        ({"group_by": ["Row"]}, "group_by names no metadata of the images: Metadata_Row"),
        ({"platemap": PREFIX + "nope.csv"}, "nope.csv does not exist"),
        ({"load_data": PREFIX + "nope.csv"}, "the LoadData CSV s3://"),
        ({"shards": 2}, "leave out shards"),
    ],
)
def test_an_invalid_plate_submits_nothing(
    client: Client,
    batch: FakeBatch,
    plate_job: dict[str, Any],
    s3: Any,
    settings: Settings,
    change: dict[str, Any],
    reason: str,
) -> None:
    send(client, {**plate_job, **change})
    assert batch.submitted == []
    [status] = records(s3, settings)
    assert status["state"] == "rejected" and reason in status["reason"], status["reason"]


def test_a_missing_channel_is_named_and_nothing_submitted(
    client: Client, batch: FakeBatch, plate_job: dict[str, Any], s3: Any, settings: Settings
) -> None:
    [gone] = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=settings.data_bucket, Prefix=plate_job["input"])[
            "Contents"
        ]
        if "_B02_s2_w3" in o["Key"]
    ]
    s3.delete_object(Bucket=settings.data_bucket, Key=gone)
    send(client, plate_job)
    assert batch.submitted == []
    [status] = records(s3, settings)
    assert "1 of 8 sites lack a channel: Plate=SYN0001 Well=B02 Site=2 lacks 3" in status["reason"]


def test_status_retry_and_resend(
    client: Client, batch: FakeBatch, plate_job: dict[str, Any], s3: Any, settings: Settings
) -> None:
    send(client, plate_job)
    job_id = key_of(settings, plate_job)
    batch.statuses[batch.submitted[0]["jobId"]] = "FAILED"
    finish_groups(s3, settings, job_id, failed={NAMES[2]})
    status = client.http.get(f"/painting/jobs/{job_id}").json_body
    assert status["state"] == "failed" and NAMES[2] in status["reason"]
    assert status["totals"] == {"pending": 0, "running": 0, "succeeded": 3, "failed": 1,
                                "dead": 0, "total": 4}  # fmt: skip
    assert status["groups"][NAMES[0]] == {"state": "succeeded", "objects": {"Nuclei": 10}}
    assert status["groups"][NAMES[2]]["reason"] == "CellProfiler exited with code 1"
    [plate_map] = status["plate_maps"]
    key = plate_map.split("/", 3)[3]
    png = s3.get_object(Bucket=settings.data_bucket, Key=key)["Body"].read()
    assert png.startswith(b"\x89PNG")

    before = len(batch.submitted)
    answer = client.http.post(f"/painting/jobs/{job_id}/retry")
    assert answer.status_code == 202 and answer.json_body["retried"] == [NAMES[2]]
    run, merge = batch.submitted[before:]
    assert "arrayProperties" not in run  # exactly one group
    environment = {e["name"]: e["value"] for e in run["containerOverrides"]["environment"]}
    assert environment["PAINTING_GROUPS"] == "2" and environment["PAINTING_SUBMISSION"] == "2"
    assert merge["dependsOn"] == [{"jobId": run["jobId"]}]
    running = client.http.get(f"/painting/jobs/{job_id}").json_body
    assert running["groups"][NAMES[2]]["state"] == "pending"  # the new submission is queued
    assert running["state"] == "submitted"
    assert running["estimated_finish"]  # 1 group left, 20 s per group so far

    again = client.http.post(f"/painting/jobs/{job_id}/retry")
    assert again.status_code == 400 and "nothing to retry" in again.json_body["reason"]

    store = Bucket(s3, settings.data_bucket)
    done = {**(store.read_json(layout.status_key(job_id)) or {}), "state": "succeeded"}
    store.write_json(layout.status_key(job_id), done)
    before = len(batch.submitted)
    send(client, plate_job)  # a finished plate sent again
    assert len(batch.submitted) == before


def test_a_resent_failed_plate_runs_only_unfinished_groups(
    client: Client, batch: FakeBatch, plate_job: dict[str, Any], s3: Any, settings: Settings
) -> None:
    send(client, plate_job)
    job_id = key_of(settings, plate_job)
    finish_groups(s3, settings, job_id, failed={NAMES[1], NAMES[3]})
    store = Bucket(s3, settings.data_bucket)
    failed = {**(store.read_json(layout.status_key(job_id)) or {}), "state": "failed"}
    store.write_json(layout.status_key(job_id), failed)
    send(client, json.dumps(plate_job, indent=1))  # another message with the same job
    run = batch.submitted[2]
    assert run["arrayProperties"] == {"size": 2}
    environment = {e["name"]: e["value"] for e in run["containerOverrides"]["environment"]}
    assert environment["PAINTING_GROUPS"] == "1,3"


def test_retry_needs_a_plate_job(client: Client, batch: FakeBatch) -> None:
    assert client.http.post("/painting/jobs/cp-0000000000000000/retry").status_code == 404


# -- qa6: a failed plate merge is retried --------------------------------------------------------
# Before, the retry route looked only at the groups: with every group succeeded and the merge
# failed (it recorded ``failed``: a platemap changed, a group's table gone; or Batch failed it:
# out of memory, attempts spent) it answered 400 "nothing to retry", and the only way on was to
# resend the message. Now the retry submits the merge alone (no group reruns).
def _all_groups_succeeded(
    client: Client, batch: FakeBatch, plate_job: dict[str, Any], s3: Any, settings: Settings
) -> str:
    send(client, plate_job)
    job_id = key_of(settings, plate_job)
    finish_groups(s3, settings, job_id, failed=set())
    return job_id


def _retry_reruns_only_the_merge(client: Client, batch: FakeBatch, job_id: str) -> None:
    before = len(batch.submitted)
    answer = client.http.post(f"/painting/jobs/{job_id}/retry")
    assert answer.status_code == 202, answer.body
    assert answer.json_body["retried"] == [] and answer.json_body["merge_only"] is True
    [merge] = batch.submitted[before:]  # no group runs again
    assert merge["jobName"].endswith("-merge") and "dependsOn" not in merge
    status = client.http.get(f"/painting/jobs/{job_id}").json_body
    assert status["state"] == "running" and status["reason"] is None  # the merge is under way
    again = client.http.post(f"/painting/jobs/{job_id}/retry")
    assert again.status_code == 400 and "nothing to retry" in again.json_body["reason"]


def test_a_merge_that_recorded_its_failure_is_retried_alone(
    client: Client, batch: FakeBatch, plate_job: dict[str, Any], s3: Any, settings: Settings
) -> None:
    job_id = _all_groups_succeeded(client, batch, plate_job, s3, settings)
    store = Bucket(s3, settings.data_bucket)
    reason = "the platemap s3://b/p.csv changed since the job was submitted: no well column"
    failed = {**(store.read_json(layout.status_key(job_id)) or {}), "state": "failed",
              "reason": reason}  # fmt: skip
    store.write_json(layout.status_key(job_id), failed)  # what the merge runner writes
    assert client.http.get(f"/painting/jobs/{job_id}").json_body["reason"] == reason

    _retry_reruns_only_the_merge(client, batch, job_id)  # before: 400 "nothing to retry"


def test_a_merge_batch_failed_is_retried_alone(
    client: Client, batch: FakeBatch, plate_job: dict[str, Any], s3: Any, settings: Settings
) -> None:
    job_id = _all_groups_succeeded(client, batch, plate_job, s3, settings)
    run, merge = batch.submitted
    batch.statuses[run["jobId"]] = "SUCCEEDED"
    batch.statuses[merge["jobId"]] = "FAILED"  # out of memory, its attempts spent
    assert client.http.get(f"/painting/jobs/{job_id}").json_body["state"] == "failed"

    _retry_reruns_only_the_merge(client, batch, job_id)


def test_a_merge_under_way_is_not_retried(
    client: Client, batch: FakeBatch, plate_job: dict[str, Any], s3: Any, settings: Settings
) -> None:
    job_id = _all_groups_succeeded(client, batch, plate_job, s3, settings)
    before = len(batch.submitted)
    answer = client.http.post(f"/painting/jobs/{job_id}/retry")
    assert answer.status_code == 400 and "merge did not fail" in answer.json_body["reason"]
    assert len(batch.submitted) == before
