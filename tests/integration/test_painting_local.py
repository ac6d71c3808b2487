"""Cell Painting through the embedded emulator and the local Batch, with a fake CellProfiler.

SQS message -> the app's handler (event pump) -> Batch SubmitJob recorded by the
emulator -> the local executor runs the job runner -> results in S3 -> the
``GET /painting/jobs/{id}`` route. The fake keeps this fast; the real
CellProfiler runs in ``test_painting_cellprofiler.py``.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import aws
from chalicelib.painting import layout
from devtools.local.batch import ProcessLauncher
from devtools.local.cloud import LocalCloud
from tests.integration.conftest import eventually, read_json
from tests.painting import FAKE_CELLPROFILER, PARTLY_MALFORMED, upload_dataset

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    launcher = ProcessLauncher(sys.executable, str(FAKE_CELLPROFILER))
    with LocalCloud(port=0, http_port=0, retry_delay=0, batch_launcher=launcher) as running:
        yield running


def send(cloud: LocalCloud, body: Any) -> None:
    assert cloud.settings is not None and cloud.provisioned is not None
    aws.client("sqs").send_message(
        QueueUrl=cloud.provisioned.url(cloud.settings.painting_queue),
        MessageBody=body if isinstance(body, str) else json.dumps(body),
    )


def job_status(cloud: LocalCloud, job_id: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{cloud.http_url}/painting/jobs/{job_id}", timeout=5) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def finished(cloud: LocalCloud, job_id: str, timeout: float = 60) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        status = job_status(cloud, job_id)
        return status if status and status["state"] in ("succeeded", "failed", "rejected") else None

    return eventually(probe, timeout=timeout)  # type: ignore[no-any-return]


def key_of(cloud: LocalCloud, job: dict[str, str]) -> str:
    assert cloud.settings is not None
    return layout.job_key(cloud.settings.data_bucket, job["pipeline"], job["input"], job["output"])


def test_sharded_job_runs_as_an_array_and_merges(cloud: LocalCloud) -> None:
    assert cloud.settings is not None and cloud.batch is not None
    s3 = aws.client("s3")
    job = upload_dataset(s3, cloud.settings.data_bucket, "local/sharded/", sets=5)
    send(cloud, {**job, "shards": 2})
    status = finished(cloud, key_of(cloud, job))
    assert status["state"] == "succeeded", status
    assert status["batch"]["array"] == {"SUCCEEDED": 2}
    assert cloud.batch.wait(status["batch"]["merge_job_id"], 30) == "SUCCEEDED"
    image = s3.get_object(Bucket=cloud.settings.data_bucket, Key=job["output"] + "Image.csv")
    rows = image["Body"].read().decode().splitlines()
    assert [r.split(",")[1] for r in rows[1:]] == ["1", "2", "3", "4", "5"]
    [child] = cloud.batch.describe([status["batch"]["job_id"] + ":1"])
    assert child["arrayProperties"] == {"index": 1} and child["status"] == "SUCCEEDED"


def test_duplicate_messages_submit_one_job(cloud: LocalCloud) -> None:
    assert cloud.settings is not None and cloud.batch is not None
    job = upload_dataset(aws.client("s3"), cloud.settings.data_bucket, "local/dup/")
    for _ in range(3):
        send(cloud, job)
    send(cloud, [job, job])
    assert finished(cloud, key_of(cloud, job))["state"] == "succeeded"
    names = [s["jobName"] for s in cloud.batch.submissions if key_of(cloud, job) in s["jobName"]]
    assert len(names) == 1


def test_errors_are_recorded_with_reasons(cloud: LocalCloud) -> None:
    assert cloud.settings is not None
    s3, bucket = aws.client("s3"), cloud.settings.data_bucket
    partly = upload_dataset(s3, bucket, "local/partly/", pipeline=PARTLY_MALFORMED)
    missing = {**upload_dataset(s3, bucket, "local/missing/"), "pipeline": "local/nothing.cppipe"}
    send(cloud, "{this is not json")
    send(cloud, [partly, missing])
    failed = finished(cloud, key_of(cloud, partly))
    assert failed["state"] == "failed" and "Failed to load pipeline" in failed["reason"]
    manifest = read_json(s3, bucket, partly["output"] + layout.MANIFEST)
    assert manifest and manifest["exit_code"] == 0 and manifest["status"] == "failed"
    rejected = finished(cloud, key_of(cloud, missing))
    assert rejected["state"] == "rejected" and "does not exist" in rejected["reason"]

    def malformed() -> list[dict[str, Any]]:
        keys = [
            o["Key"]
            for o in s3.list_objects_v2(Bucket=bucket, Prefix="painting-jobs/invalid-").get(
                "Contents", []
            )
        ]
        documents = [read_json(s3, bucket, k) for k in keys]
        return [d for d in documents if d and "not JSON" in d["reason"]]

    assert eventually(malformed)[0]["state"] == "rejected"
    assert job_status(cloud, "cp-unknown") is None
