"""Queue workers on the emulator: a batch of good, malformed and failing jobs."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from chalicelib import aws
from devtools.local.cloud import LocalCloud
from tests.images import DISCS, discs, encode
from tests.integration.conftest import eventually
from tests.predict_data import SEED_BENIGN, SEED_MALIGNANT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(port=0, http_port=0, retry_delay=0) as running:
        assert running.settings is not None
        aws.client("s3").put_object(
            Bucket=running.settings.data_bucket, Key="jobs/cells.png", Body=encode(discs(), ".png")
        )
        yield running


def url(cloud: LocalCloud, queue: str) -> str:
    assert cloud.provisioned is not None
    return cloud.provisioned.url(queue)


def drain(cloud: LocalCloud, queue: str, until: int, timeout: float = 40.0) -> list[dict]:
    """Receive (and delete) messages until ``until`` have arrived or ``timeout`` passes."""
    sqs, found = aws.client("sqs"), []
    deadline = time.monotonic() + timeout
    while len(found) < until and time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=url(cloud, queue),
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        )
        for message in got.get("Messages", []):
            sqs.delete_message(QueueUrl=url(cloud, queue), ReceiptHandle=message["ReceiptHandle"])
            found.append(
                {
                    "body": message["Body"],
                    "attributes": {
                        k: v.get("StringValue")
                        for k, v in message.get("MessageAttributes", {}).items()
                    },
                }
            )
    return found


def send(cloud: LocalCloud, body: str, chat_id: str) -> str:
    assert cloud.settings is not None
    sent = aws.client("sqs").send_message(
        QueueUrl=url(cloud, cloud.settings.jobs_queue),
        MessageBody=body,
        MessageAttributes={"chat_id": {"DataType": "String", "StringValue": chat_id}},
    )
    return str(sent["MessageId"])


def test_good_malformed_and_failing_jobs(cloud: LocalCloud) -> None:
    settings = cloud.settings
    assert settings is not None
    # A dependency goes away mid-run: jobs that need it fail; the others must not notice.
    sfn = aws.client("stepfunctions")
    for machine in sfn.list_state_machines()["stateMachines"]:
        sfn.delete_state_machine(stateMachineArn=machine["stateMachineArn"])
    aws.client("s3").put_object(Bucket=settings.data_bucket, Key="jobs/clip.mp4", Body=b"x" * 100)
    jobs = {
        "good-text": send(cloud, f"count s3://{settings.data_bucket}/jobs/cells.png", "c1"),
        "good-json": send(
            cloud,
            json.dumps(
                {
                    "job_id": "good-json",
                    "task": "count-cells",
                    "input": f"s3://{settings.data_bucket}/jobs/cells.png",
                    "params": {"method": "hough"},
                }
            ),
            "c2",
        ),
        "bad-json": send(cloud, "{not json", "c3"),
        "bad-task": send(cloud, "dance s3://b/k", "c4"),
        "missing": send(cloud, f"count s3://{settings.data_bucket}/jobs/none.png", "c5"),
        "failing": send(cloud, f"blur s3://{settings.data_bucket}/jobs/clip.mp4", "c6"),
    }
    replies = drain(cloud, settings.job_results_queue, until=len(jobs))
    by_chat = {r["attributes"]["chat_id"]: json.loads(r["body"]) for r in replies}
    assert Counter(r["attributes"]["chat_id"] for r in replies) == Counter(
        {"c1": 1, "c2": 1, "c3": 1, "c4": 1, "c5": 1, "c6": 1}
    )
    assert by_chat["c1"]["status"] == "ok" and by_chat["c1"]["result"]["count"] == len(DISCS)
    assert by_chat["c2"]["status"] == "ok" and by_chat["c2"]["result"]["method"] == "hough"
    assert by_chat["c3"]["status"] == "error" and "JSON" in by_chat["c3"]["error"]["reason"]
    assert by_chat["c4"]["status"] == "error" and "unknown task" in by_chat["c4"]["error"]["reason"]
    assert (
        by_chat["c5"]["status"] == "error" and "does not exist" in by_chat["c5"]["error"]["reason"]
    )
    assert by_chat["c6"]["status"] == "failed"
    # The failing job is in the dead-letter queue, with its reason, after N receives.
    [dead] = drain(cloud, settings.jobs_dlq, until=1)
    assert dead["attributes"]["chat_id"] == "c6"
    assert "state machine" in dead["attributes"]["error_reason"]
    assert dead["attributes"]["receive_count"] == str(settings.max_receive_count)
    s3 = aws.client("s3")
    stored = json.loads(
        s3.get_object(Bucket=settings.results_bucket, Key=f"results/jobs/{jobs['failing']}.json")[
            "Body"
        ].read()
    )
    assert stored["status"] == "failed" and stored["attempts"] == settings.max_receive_count
    # Nothing else is left anywhere.
    assert drain(cloud, settings.jobs_queue, until=1, timeout=2) == []


def test_a_duplicate_delivery_gives_one_result(cloud: LocalCloud) -> None:
    settings = cloud.settings
    assert settings is not None
    body = json.dumps(
        {"job_id": "dup-1", "task": "count", "input": f"s3://{settings.data_bucket}/jobs/cells.png"}
    )
    send(cloud, body, "d1")
    send(cloud, body, "d1")
    replies = drain(cloud, settings.job_results_queue, until=2, timeout=4)
    assert [json.loads(r["body"])["job_id"] for r in replies] == ["dup-1"]


def test_http_jobs_routes(cloud: LocalCloud) -> None:
    import urllib.request

    settings = cloud.settings
    assert settings is not None and cloud.http_url is not None
    body = json.dumps(
        {
            "task": "count-cells",
            "input": f"s3://{settings.data_bucket}/jobs/cells.png",
            "attributes": {"chat_id": "h1"},
        }
    ).encode()
    request = urllib.request.Request(
        f"{cloud.http_url}/jobs",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
        job_id = json.loads(response.read())["job_id"]

    def finished() -> dict | None:
        with urllib.request.urlopen(f"{cloud.http_url}/jobs/{job_id}", timeout=10) as response:
            document = json.loads(response.read())
        return document if document["status"] == "ok" else None

    assert eventually(finished)["result"]["count"] == len(DISCS)
    drain(cloud, settings.job_results_queue, until=1, timeout=5)


def test_predict_jobs_in_both_forms(cloud: LocalCloud) -> None:
    settings = cloud.settings
    assert settings is not None
    send(cloud, "predict " + json.dumps(SEED_MALIGNANT), "p1")
    send(cloud, json.dumps({"task": "predict", "input": [SEED_BENIGN, SEED_MALIGNANT]}), "p2")
    send(cloud, "predict " + json.dumps({"worstArea": 1.0}), "p3")
    replies = {
        r["attributes"]["chat_id"]: json.loads(r["body"])
        for r in drain(cloud, settings.job_results_queue, until=3)
    }
    assert replies["p1"]["result"]["label"] == "malignant"
    assert [p["label"] for p in replies["p2"]["result"]["predictions"]] == ["benign", "malignant"]
    assert (
        replies["p3"]["status"] == "error"
        and "meanConcavePoints" in replies["p3"]["error"]["reason"]
    )
