"""The issue's "done when": the seed's messages, real CellProfiler, results in S3.

Against the embedded emulator with the ExampleVitra pipeline and images uploaded
(the repository's gzipped copy in ``samples/painting``): the seed's three example
messages (a single job; a list of two; a list with job_memory/job_vcpu) each
leave CellProfiler's CSVs (two image sets, per-object tables) in their output
prefix; a malformed message, a missing pipeline and a partly malformed
``.cppipe`` each leave a clear error record; no job is lost or submitted twice.

Needs ``make cellprofiler`` (``make test`` runs it). Skipped without it, except
under CI, where a missing CellProfiler fails the run.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import aws
from chalicelib.painting import layout
from devtools.local.batch import cellprofiler_installed
from devtools.local.cloud import LocalCloud
from devtools.local.painting import PREFIX, upload_example
from tests.integration.test_painting_local import finished, key_of, send
from tests.painting import event

pytestmark = pytest.mark.integration

# What CellProfiler 4.2.8.1 finds in the two ExampleVitra image sets.
NUCLEI = {"1": "691", "2": "786"}
TABLES = ("Image.csv", "Nuclei.csv", "Cells.csv", "Cytoplasm.csv")


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    if not cellprofiler_installed():
        if os.environ.get("CI"):
            pytest.fail(
                "CellProfiler is not installed; CI must run these tests (make cellprofiler)"
            )
        pytest.skip("CellProfiler is not installed here: run `make cellprofiler`")
    with LocalCloud(port=0, http_port=0, retry_delay=0) as running:
        assert running.settings is not None
        upload_example(aws.client("s3"), running.settings.data_bucket)
        yield running


def table(s3: Any, bucket: str, key: str) -> list[dict[str, str]]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return list(csv.DictReader(io.StringIO(body)))


def assert_cellprofiler_results(cloud: LocalCloud, output: str) -> None:
    assert cloud.settings is not None
    s3, bucket = aws.client("s3"), cloud.settings.data_bucket
    image = table(s3, bucket, output + "Image.csv")
    assert {row["ImageNumber"]: row["Count_Nuclei"].split(".")[0] for row in image} == NUCLEI
    for name in TABLES[1:]:
        rows = table(s3, bucket, output + name)
        counts = {n: str(sum(1 for r in rows if r["ImageNumber"] == n)) for n in NUCLEI}
        assert counts == NUCLEI, name  # one row per object, every image set
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=output + layout.MANIFEST)["Body"].read())
    assert manifest["status"] == "succeeded" and manifest["cellprofiler_version"] == "4.2.8.1"


def test_seed_messages_leave_cellprofiler_tables_in_each_output(cloud: LocalCloud) -> None:
    assert cloud.batch is not None
    messages = ["single_job.json", "two_jobs.json", "jobs_with_resources.json"]
    jobs: list[dict[str, Any]] = []
    for name in messages:
        body = event(name)
        send(cloud, body)
        jobs += body if isinstance(body, list) else [body]
    send(cloud, event("single_job.json"))  # a duplicate: must not run again
    assert len({job["output"] for job in jobs}) == 6
    for job in jobs:
        status = finished(cloud, key_of(cloud, job), timeout=240)
        assert status["state"] == "succeeded", status
        assert_cellprofiler_results(cloud, job["output"])
    names = [s["jobName"] for s in cloud.batch.submissions]
    assert len(names) == len(set(names)) == 6  # one Batch job per job: none lost, none twice
    [with_resources] = [
        s for s in cloud.batch.submissions if key_of(cloud, jobs[3]) in s["jobName"]
    ]
    assert {"type": "VCPU", "value": "12"} in with_resources["containerOverrides"][
        "resourceRequirements"
    ]
    assert {"type": "MEMORY", "value": "8192"} in with_resources["containerOverrides"][
        "resourceRequirements"
    ]


def test_two_shards_give_the_same_tables(cloud: LocalCloud) -> None:
    job = {**event("single_job.json"), "output": PREFIX + "sharded/", "shards": 2}
    send(cloud, job)
    status = finished(cloud, key_of(cloud, job), timeout=240)
    assert status["state"] == "succeeded" and status["shards"] == 2, status
    assert status["batch"]["array"] == {"SUCCEEDED": 2}
    assert_cellprofiler_results(cloud, job["output"])


def test_errors_leave_clear_records(cloud: LocalCloud) -> None:
    assert cloud.settings is not None and cloud.batch is not None
    s3, bucket = aws.client("s3"), cloud.settings.data_bucket
    good = s3.get_object(Bucket=bucket, Key=PREFIX + "ExampleVitra.cppipe")["Body"].read().decode()
    broken = good.replace("IdentifySecondaryObjects:[", "IdentifySecondaryObjectz:[")
    s3.put_object(Bucket=bucket, Key=PREFIX + "Broken.cppipe", Body=broken.encode())
    partly = {
        **event("single_job.json"),
        "pipeline": PREFIX + "Broken.cppipe",
        "output": PREFIX + "broken/",
    }
    missing = {
        **event("single_job.json"),
        "pipeline": PREFIX + "ExampleTYY.cppipe",
        "output": PREFIX + "output6/",
    }
    before = len(cloud.batch.submissions)
    send(cloud, '{"pipeline": "examples/ExampleVitraImages/ExampleVitra.cppipe", "input": ')
    send(cloud, [partly, missing])

    failed = finished(cloud, key_of(cloud, partly), timeout=240)
    assert failed["state"] == "failed"
    assert "Failed to load pipeline" in failed["reason"]
    assert "Could not find the IdentifySecondaryObjectz module" in failed["reason"]
    manifest = json.loads(
        s3.get_object(Bucket=bucket, Key=partly["output"] + layout.MANIFEST)["Body"].read()
    )
    assert manifest["exit_code"] == 0 and manifest["outputs"] == []  # CellProfiler said 0 anyway

    rejected = finished(cloud, key_of(cloud, missing))
    assert (
        rejected["state"] == "rejected" and "ExampleTYY.cppipe does not exist" in rejected["reason"]
    )
    status = json.loads(
        s3.get_object(Bucket=bucket, Key=missing["output"] + "_status.json")["Body"].read()
    )
    assert status["state"] == "rejected"

    invalid = [
        json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
        for o in s3.list_objects_v2(Bucket=bucket, Prefix="painting-jobs/invalid-").get(
            "Contents", []
        )
    ]
    assert [d["reason"].split(":")[0] for d in invalid] == ["the message is not JSON"]
    assert len(cloud.batch.submissions) == before + 1  # only the partly malformed job ran
