"""The painting handler, route and job runner on in-memory AWS (moto) and a fake Batch.

The handler is driven through ``chalice.test.Client`` exactly as Lambda would
call it; the runner runs the fake CellProfiler (``tests/fake_cellprofiler.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib import aws
from chalicelib.config import Settings
from chalicelib.errors import TransientError
from chalicelib.painting import layout
from chalicelib.painting.container import RunnerConfig, main
from chalicelib.painting.handlers import PaintingService
from chalicelib.queues import QueueMessage
from chalicelib.storage import Bucket as Store
from tests.functional.conftest import CountingS3
from tests.painting import FAKE_CELLPROFILER, PARTLY_MALFORMED, TRUNCATED, upload_dataset

# The real client's modeled exceptions (ClientException, ...), as boto3 raises them.
BATCH_EXCEPTIONS = (
    boto3.session.Session()
    .client("batch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    .exceptions
)


class FakeBatch:
    """Records submissions; can fail the next calls with an AWS error code."""

    exceptions = BATCH_EXCEPTIONS

    def __init__(self) -> None:
        self.submitted: list[dict[str, Any]] = []
        self.statuses: dict[str, str] = {}
        self.fail_with: list[str] = []

    def submit_job(self, **request: Any) -> dict[str, Any]:
        if self.fail_with:
            code = self.fail_with.pop(0)
            error = self.exceptions.from_code(code)
            raise error({"Error": {"Code": code, "Message": code}}, "SubmitJob")
        job_id = f"job-{len(self.submitted) + 1}"
        self.submitted.append({**request, "jobId": job_id})
        self.statuses[job_id] = "SUBMITTED"
        return {"jobId": job_id, "jobName": request["jobName"]}

    def list_jobs(self, jobQueue: str, filters: list[dict[str, Any]]) -> dict[str, Any]:
        names = set(filters[0]["values"])
        found = [j for j in self.submitted if j["jobName"] in names]
        return {"jobSummaryList": [{"jobId": j["jobId"], "jobName": j["jobName"]} for j in found]}

    def describe_jobs(self, jobs: list[str]) -> dict[str, Any]:
        return {
            "jobs": [
                {"jobId": i, "status": self.statuses[i], "statusReason": "OutOfMemoryError"}
                for i in jobs
                if i in self.statuses
            ]
        }


class FakeSqs:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    def get_queue_url(self, QueueName: str) -> dict[str, str]:
        return {"QueueUrl": f"https://sqs.local/{QueueName}"}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:
        self.deleted.append(ReceiptHandle)


@pytest.fixture
def batch(s3: CountingS3) -> Iterator[FakeBatch]:
    fake = FakeBatch()
    with aws.injected(batch=fake, sqs=FakeSqs()):
        yield fake


@pytest.fixture
def dataset(s3: CountingS3, settings: Settings) -> dict[str, str]:
    return upload_dataset(s3, settings.data_bucket)


def send(client: Client, *bodies: Any) -> Any:
    """Invoke the SQS handler with one record per body (distinct message ids)."""
    event = client.events.generate_sqs_event(
        message_bodies=[b if isinstance(b, str) else json.dumps(b) for b in bodies],
        queue_name="lab-local-painting",
    )
    for number, record in enumerate(event["Records"]):
        record["messageId"] = f"message-{number}-{hash(record['body']) & 0xFFFF}"
        record["receiptHandle"] = f"receipt-{number}"
    return client.lambda_.invoke("on_painting_message", event)


def record(s3: Any, settings: Settings, job_id: str) -> dict[str, Any]:
    return Store(s3, settings.data_bucket).read_json(layout.status_key(job_id)) or {}


def records(s3: Any, settings: Settings) -> list[dict[str, Any]]:
    store = Store(s3, settings.data_bucket)
    return [store.read_json(o["Key"]) or {} for o in store.list(layout.STATUS_PREFIX)]


def test_a_job_is_submitted_once_with_its_overrides(
    client: Client, batch: FakeBatch, dataset: dict[str, str], s3: Any, settings: Settings
) -> None:
    job = {**dataset, "job_memory": "8192", "job_vcpu": 12}
    send(client, job)
    send(client, job)  # a duplicate message
    send(client, [job, job])  # and the same job twice in one message
    assert len(batch.submitted) == 1
    [request] = batch.submitted
    assert request["jobQueue"] == settings.batch_job_queue
    assert request["containerOverrides"]["resourceRequirements"] == [
        {"type": "VCPU", "value": "12"},
        {"type": "MEMORY", "value": "8192"},
    ]
    [status] = records(s3, settings)
    assert status["state"] == "submitted" and status["batch"]["job_id"] == "job-1"
    assert status["image_sets"] == 2
    mirror = Store(s3, settings.data_bucket).read_json(dataset["output"] + layout.OUTPUT_STATUS)
    assert mirror and mirror["job_id"] == status["job_id"]


def test_shards_become_an_array_job_and_a_merge(
    client: Client, batch: FakeBatch, dataset: dict[str, str]
) -> None:
    send(client, {**dataset, "shards": 2})
    run, merge = batch.submitted
    assert run["arrayProperties"] == {"size": 2}
    assert merge["dependsOn"] == [{"jobId": run["jobId"]}]


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"pipeline": "plates/p1/missing.cppipe"}, "does not exist"),
        ({"input": "plates/empty/"}, "has no images"),
        ({"output": "plates/p1/images/"}, "output must differ from input"),
        ({"job_memory": "2"}, "below the AWS Batch minimum"),
        ({"job_vcpu": "0.3"}, "job_vcpu 0.3 is not valid"),
        ({"job_queue": "someone-elses-queue"}, "is not allowed"),
        ({"job_definition": "arn for aws batch job definition"}, "is not allowed"),
        ({"shards": "0"}, "shards must be at least 1"),
        ({"shards": 20_000, "image_sets": 50_000}, "at most 10000 shards"),
    ],
)
def test_invalid_jobs_get_an_error_record(
    client: Client,
    batch: FakeBatch,
    dataset: dict[str, str],
    s3: Any,
    settings: Settings,
    change: dict[str, str],
    reason: str,
) -> None:
    send(client, {**dataset, **change})
    assert batch.submitted == []
    [status] = records(s3, settings)
    assert status["state"] == "rejected" and reason in status["reason"]


def test_truncated_pipeline_is_rejected_before_batch(
    client: Client, batch: FakeBatch, s3: Any, settings: Settings
) -> None:
    job = upload_dataset(s3, settings.data_bucket, "plates/cut/", pipeline=TRUNCATED)
    send(client, job)
    [status] = records(s3, settings)
    assert status["state"] == "rejected" and "declares 4 modules but 2" in status["reason"]
    assert batch.submitted == []


def test_malformed_messages_are_recorded_not_dropped(
    client: Client, batch: FakeBatch, s3: Any, settings: Settings
) -> None:
    send(client, "{not json", [7, {"output": "somewhere/"}])
    reasons = sorted(r["reason"] for r in records(s3, settings))
    assert len(reasons) == 3
    assert any("not JSON" in r for r in reasons)
    assert any("not a JSON object" in r for r in reasons)
    assert any("pipeline is required" in r for r in reasons)
    mirror = Store(s3, settings.data_bucket).read_json("somewhere/" + layout.OUTPUT_STATUS)
    assert mirror and mirror["state"] == "rejected"


def test_transient_errors_retry_only_unfinished_messages(
    client: Client, batch: FakeBatch, dataset: dict[str, str], s3: Any, settings: Settings
) -> None:
    other = upload_dataset(s3, settings.data_bucket, "plates/p2/")
    batch.fail_with = ["ThrottlingException"]  # the first submission (dataset) fails
    with pytest.raises(Exception, match="will be retried"):
        send(client, "[]", dataset, other)
    sqs = aws.client("sqs")
    assert sqs.deleted == ["receipt-0", "receipt-2"]  # the empty list was recorded, p2 submitted
    claimed = [r for r in records(s3, settings) if r.get("state") == "submitting"]
    assert len(claimed) == 1
    # The redelivery of the failed message (same message id) submits it, once.
    event_body = json.dumps(dataset)
    service = PaintingService(settings, s3, batch)
    message_id = claimed[0]["message_id"]
    service.handle([QueueMessage(message_id, "receipt-again", event_body)])
    service.handle([QueueMessage(message_id, "receipt-again", event_body)])
    assert len(batch.submitted) == 2


def test_a_claim_by_another_message_is_retried_later(
    batch: FakeBatch, dataset: dict[str, str], s3: Any, settings: Settings
) -> None:
    body = json.dumps(dataset)
    slow = PaintingService(settings, s3, FakeBatch())
    slow._batch.fail_with = ["ServiceUnavailable"]  # type: ignore[attr-defined]
    with pytest.raises(TransientError):
        slow.handle([QueueMessage("first", "r1", body)])
    with pytest.raises(TransientError, match="being submitted by another message"):
        PaintingService(settings, s3, batch).handle([QueueMessage("second", "r2", body)])
    assert batch.submitted == []


def test_batch_refusal_is_a_rejection(
    client: Client, batch: FakeBatch, dataset: dict[str, str], s3: Any, settings: Settings
) -> None:
    batch.fail_with = ["ClientException"]
    send(client, dataset)
    [status] = records(s3, settings)
    assert status["state"] == "rejected" and "AWS Batch refused" in status["reason"]


def test_a_job_batch_failed_is_resubmitted_by_a_new_message(
    client: Client, batch: FakeBatch, dataset: dict[str, str], s3: Any, settings: Settings
) -> None:
    send(client, dataset)
    batch.statuses["job-1"] = "FAILED"  # e.g. killed for memory, no record written
    send(client, {**dataset, "job_memory": 16384})
    assert [r["jobName"][-3:] for r in batch.submitted] == ["-a1", "-a2"]


def test_get_job_route(
    client: Client, batch: FakeBatch, dataset: dict[str, str], s3: Any, settings: Settings
) -> None:
    assert client.http.get("/painting/jobs/cp-nothing").status_code == 404
    send(client, dataset)
    [status] = records(s3, settings)
    response = client.http.get(f"/painting/jobs/{status['job_id']}")
    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["state"] == "submitted" and body["batch"]["status"] == "SUBMITTED"
    assert body["results"]["output"] == f"s3://{settings.data_bucket}/{dataset['output']}"
    batch.statuses["job-1"] = "FAILED"
    body = json.loads(client.http.get(f"/painting/jobs/{status['job_id']}").body)
    assert body["state"] == "failed" and body["reason"] == "OutOfMemoryError"


# -- the job runner ---------------------------------------------------------------------
@pytest.fixture
def runner_env(
    s3: CountingS3, settings: Settings, dataset: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    monkeypatch.delenv("FAKE_CELLPROFILER_SKIP", raising=False)
    return {
        "PAINTING_JOB_ID": "cp-test",
        "PAINTING_BUCKET": settings.data_bucket,
        "PIPELINE": dataset["pipeline"],
        "INPUT": dataset["input"],
        "OUTPUT": dataset["output"],
        "PAINTING_SHARDS": "1",
        "PAINTING_IMAGE_SETS": "2",
        "PAINTING_ATTEMPTS": "2",
        "CELLPROFILER": str(FAKE_CELLPROFILER),
    }


def test_runner_uploads_outputs_and_a_manifest(
    runner_env: dict[str, str], s3: CountingS3, settings: Settings
) -> None:
    assert main(["run"], runner_env) == 0
    store = Store(s3, settings.data_bucket)
    output = runner_env["OUTPUT"]
    manifest = store.read_json(output + layout.MANIFEST) or {}
    assert manifest["status"] == "succeeded" and manifest["exit_code"] == 0
    assert sorted(manifest["outputs"]) == [output + "Image.csv", output + "Nuclei.csv"]
    assert len(manifest["inputs"]) == 4 and manifest["cellprofiler_version"]
    assert set(manifest["durations_s"]) == {"fetch", "cellprofiler", "upload", "total"}
    assert "ExportToSpreadsheet" in manifest["log_tail"]
    assert store.read_text(output + "Image.csv").splitlines()[1:] == ["11,1", "12,2"]
    assert (store.read_json(output + layout.OUTPUT_STATUS) or {})["state"] == "succeeded"
    puts = len(s3.puts)
    assert main(["run"], runner_env) == 0  # check-if-done: nothing is written again
    assert len(s3.puts) == puts


def test_runner_fails_a_partly_malformed_pipeline_that_exits_zero(
    runner_env: dict[str, str], s3: CountingS3, settings: Settings
) -> None:
    s3.put_object(Bucket=settings.data_bucket, Key=runner_env["PIPELINE"], Body=PARTLY_MALFORMED)
    assert main(["run"], runner_env) == layout.EXIT_FAILED
    store = Store(s3, settings.data_bucket)
    manifest = store.read_json(runner_env["OUTPUT"] + layout.MANIFEST) or {}
    assert manifest["status"] == "failed" and manifest["exit_code"] == 0
    assert "Failed to load pipeline" in manifest["reason"]
    assert "IdentifyPrimaryObjectz" in manifest["reason"]
    assert manifest["outputs"] == []
    status = store.read_json(layout.status_key("cp-test")) or {}
    assert status["state"] == "failed" and status["reason"] == manifest["reason"]


def test_runner_fails_on_missing_outputs(
    runner_env: dict[str, str], s3: CountingS3, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CELLPROFILER_SKIP", "Nuclei.csv")
    assert main(["run"], runner_env) == layout.EXIT_FAILED
    manifest = Store(s3, settings.data_bucket).read_json(runner_env["OUTPUT"] + layout.MANIFEST)
    assert manifest and "missing: Nuclei.csv" in manifest["reason"]


def test_runner_without_cellprofiler(
    runner_env: dict[str, str], s3: CountingS3, settings: Settings
) -> None:
    assert main(["run"], {**runner_env, "CELLPROFILER": "/nonexistent/cellprofiler"}) == 3
    manifest = Store(s3, settings.data_bucket).read_json(runner_env["OUTPUT"] + layout.MANIFEST)
    assert manifest and "code 127" in manifest["reason"]


def test_sharded_run_and_merge(
    runner_env: dict[str, str], s3: CountingS3, settings: Settings
) -> None:
    env = {**runner_env, "PAINTING_SHARDS": "2"}
    assert main(["merge"], env) == layout.EXIT_FAILED  # no shard has run yet
    for index in ("1", "0"):
        assert main(["run"], {**env, "AWS_BATCH_JOB_ARRAY_INDEX": index}) == 0
    assert main(["merge"], env) == 0
    store = Store(s3, settings.data_bucket)
    output = env["OUTPUT"]
    assert store.read_text(output + "Image.csv").splitlines() == [
        "Count_Nuclei,ImageNumber",
        "11,1",
        "12,2",
    ]
    nuclei = store.read_text(output + "Nuclei.csv").splitlines()
    assert [line.split(",")[:2] for line in nuclei[1:]] == [
        ["1", "1"],
        ["1", "2"],
        ["2", "1"],
        ["2", "2"],
    ]
    manifest = store.read_json(output + layout.MANIFEST) or {}
    assert manifest["kind"] == "merge" and manifest["rows"] == {"Image.csv": 2, "Nuclei.csv": 4}
    assert (store.read_json(layout.status_key("cp-test")) or {})["state"] == "succeeded"


def test_runner_reads_a_mounted_file_system(
    runner_env: dict[str, str], s3: CountingS3, settings: Settings, tmp_path: Path
) -> None:
    """As the seed reads FSx for Lustre: the bucket's keys as paths under a mount."""
    for key in (
        runner_env["PIPELINE"],
        *(f"{runner_env['INPUT']}Channel {c}-0{n}.tif" for c in (1, 2) for n in (1, 2)),
    ):
        path = tmp_path / key
        path.parent.mkdir(parents=True, exist_ok=True)
        obj = (
            s3.get_object(Bucket=settings.data_bucket, Key=key) if key.endswith(".cppipe") else None
        )
        path.write_bytes(obj["Body"].read() if obj else b"fake")
    s3.delete_object(
        Bucket=settings.data_bucket, Key=runner_env["PIPELINE"]
    )  # only the mount has it
    assert main(["run"], {**runner_env, "PAINTING_MOUNT": str(tmp_path)}) == 0
    manifest = Store(s3, settings.data_bucket).read_json(runner_env["OUTPUT"] + layout.MANIFEST)
    assert manifest and {i["path"] for i in manifest["inputs"]} >= {
        runner_env["INPUT"] + "Channel 1-01.tif"
    }


def test_runner_config_needs_the_job_variables() -> None:
    with pytest.raises(SystemExit, match="PAINTING_JOB_ID"):
        RunnerConfig.from_environ({"PIPELINE": "p"})
