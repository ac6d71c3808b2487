"""The event pump's contract, on a small Chalice app of its own, against the emulator."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from chalice import Chalice

from chalicelib import aws
from chalicelib.config import get_settings
from devtools.local.cloud import AlreadyRunning, LocalCloud
from tests.integration.conftest import eventually

pytestmark = pytest.mark.integration

settings = get_settings()
app = Chalice(app_name="pump-test")
seen: Counter[str] = Counter()
s3_keys: list[str] = []
lock = threading.Lock()


@app.on_sqs_message(queue=settings.jobs_queue, batch_size=10)
def work(event: Any) -> dict[str, Any]:
    failures = []
    for record in event:
        with lock:
            seen[record.body] += 1
        if record.body.startswith("poison"):
            failures.append({"itemIdentifier": record.to_dict()["messageId"]})
    return {"batchItemFailures": failures}


@app.on_sqs_message(queue=settings.painting_queue, batch_size=2)
def always_fails(event: Any) -> None:
    for record in event:
        with lock:
            seen[record.body] += 1
    raise RuntimeError("downstream service unavailable")


@app.on_s3_event(bucket=settings.data_bucket, prefix="in/", suffix=".csv")
def on_csv(event: Any) -> None:
    with lock:
        s3_keys.append(event.key)


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(port=0, app=app, retry_delay=0) as running:
        yield running


def queue_url(cloud: LocalCloud, name: str) -> str:
    assert cloud.provisioned is not None
    return cloud.provisioned.url(name)


def dlq_bodies(cloud: LocalCloud, dlq: str) -> list[str]:
    messages = aws.client("sqs").receive_message(
        QueueUrl=queue_url(cloud, dlq), MaxNumberOfMessages=10, WaitTimeSeconds=1
    )
    return sorted(m["Body"] for m in messages.get("Messages", []))


def test_reported_failures_retry_alone_then_dead_letter(cloud: LocalCloud) -> None:
    sqs = aws.client("sqs")
    for body in ("ok-1", "ok-2", "poison-1"):
        sqs.send_message(QueueUrl=queue_url(cloud, settings.jobs_queue), MessageBody=body)
    assert eventually(lambda: dlq_bodies(cloud, settings.jobs_dlq)) == ["poison-1"]
    assert seen["ok-1"] == 1 and seen["ok-2"] == 1
    assert seen["poison-1"] == settings.max_receive_count


def test_a_raising_handler_loses_nothing(cloud: LocalCloud) -> None:
    sqs = aws.client("sqs")
    for body in ("job-a", "job-b"):
        sqs.send_message(QueueUrl=queue_url(cloud, settings.painting_queue), MessageBody=body)
    found: list[str] = []
    eventually(lambda: found.extend(dlq_bodies(cloud, settings.painting_dlq)) or len(found) == 2)
    assert sorted(found) == ["job-a", "job-b"]
    assert seen["job-a"] == seen["job-b"] == settings.max_receive_count


def test_s3_events_honour_filters_and_decode_keys(cloud: LocalCloud) -> None:
    s3 = aws.client("s3")
    for key in ("in/a b+c.csv", "in/skip.txt", "out/skip.csv", "in/deep/d.csv"):
        s3.put_object(Bucket=settings.data_bucket, Key=key, Body=b"x")
    eventually(lambda: len(s3_keys) >= 2)
    assert sorted(s3_keys) == ["in/a b+c.csv", "in/deep/d.csv"]
    # Nothing failed: the notification queue's dead-letter queue stays empty.
    assert dlq_bodies(cloud, f"{settings.data_bucket}-events-dlq") == []
    body = json.dumps({"Records": []})  # an empty notification is harmless too
    aws.client("sqs").send_message(
        QueueUrl=queue_url(cloud, f"{settings.data_bucket}-events"), MessageBody=body
    )


def test_a_second_local_cloud_in_the_process_is_refused(cloud: LocalCloud) -> None:
    # moto keeps one state per process: a second cloud would reset this one's queues
    # and its pump would take this one's messages (a CI failure once).
    second = LocalCloud(port=0, app=app, retry_delay=0)
    with pytest.raises(AlreadyRunning, match="already running"):
        second.start()
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=queue_url(cloud, settings.jobs_queue), MessageBody="after-refusal")
    eventually(lambda: seen["after-refusal"] == 1)
