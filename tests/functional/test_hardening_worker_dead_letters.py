"""A dead-lettered job keeps its reason when its body is near SQS's 256 KiB (qa6).

The worker's dead-letter copy is the job's body and attributes plus four attributes that say
why (job id, error type, receive count, reason up to 1,000 characters). Before, a job whose
body and attributes were near 256 KiB (as ``POST /jobs`` allows) made a copy over the limit: a
256 KiB dead-letter queue refused it, the job was retried past its last receive, stayed
``retrying`` and was moved by SQS's own redrive without a reason. Now the reason attributes
are fitted in the room the body leaves (the reason cut last), and the job reads ``failed``.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.config import Settings
from chalicelib.queues import MAX_MESSAGE_BYTES, QueueMessage, message_size
from chalicelib.workers.records import JobResults
from chalicelib.workers.worker import JobWorker
from tests.functional.test_hardening_jobs_route import SqsCountingAttributes

SETTINGS = Settings()
ATTRIBUTES = {"chat_id": "42"}


class FailingRunner:
    def run(self, job: Any) -> Any:
        raise RuntimeError("the model store is down: " + "x" * 2000)


@pytest.fixture
def env(moto: None) -> Any:
    s3 = boto3.client("s3", region_name="us-east-1")
    sqs = SqsCountingAttributes(boto3.client("sqs", region_name="us-east-1"))
    s3.create_bucket(Bucket=SETTINGS.results_bucket)
    for queue in (SETTINGS.jobs_queue, SETTINGS.jobs_dlq, SETTINGS.job_results_queue):
        sqs.create_queue(QueueName=queue)
    results = JobResults(s3, SETTINGS.results_bucket, sqs, SETTINGS.job_results_queue)
    worker = JobWorker(SETTINGS, sqs, results, FailingRunner())  # type: ignore[arg-type]
    yield {"sqs": sqs, "results": results, "worker": worker}


def _last_receive(env: Any, room: int) -> QueueMessage:
    """A job whose body and attributes leave ``room`` bytes of 256 KiB, on its last receive."""
    empty = json.dumps({"job_id": "big", "task": "predict", "input": ""})
    chat = {"chat_id": {"DataType": "String", "StringValue": "42"}}
    pad = MAX_MESSAGE_BYTES - room - message_size(empty, chat)
    return _last_receive_of(
        env, json.dumps({"job_id": "big", "task": "predict", "input": "x" * pad})
    )


def _last_receive_of(env: Any, body: str) -> QueueMessage:
    url = env["sqs"].get_queue_url(QueueName=SETTINGS.jobs_queue)["QueueUrl"]
    env["sqs"].send_message(QueueUrl=url, MessageBody="x")
    [got] = env["sqs"].receive_message(QueueUrl=url)["Messages"]
    return QueueMessage(got["MessageId"], got["ReceiptHandle"], body,
                        SETTINGS.max_receive_count, ATTRIBUTES)  # fmt: skip


def _dead_lettered(env: Any) -> dict[str, Any]:
    url = env["sqs"].get_queue_url(QueueName=SETTINGS.jobs_dlq)["QueueUrl"]
    got = env["sqs"].receive_message(QueueUrl=url, MessageAttributeNames=["All"])
    [copy] = got.get("Messages", [])
    return copy  # type: ignore[no-any-return]


@pytest.mark.parametrize("room", [0, 60, 400, 2000])
def test_a_job_near_256_kib_is_dead_lettered_with_what_fits_of_its_reason(
    env: Any, room: int
) -> None:
    message = _last_receive(env, room)
    env["worker"].handle_batch([message])  # before: RetryLater (the copy was refused)

    copy = _dead_lettered(env)
    said = {name: value["StringValue"] for name, value in copy["MessageAttributes"].items()}
    assert copy["Body"] == message.body and said["chat_id"] == "42"
    assert message_size(copy["Body"], copy["MessageAttributes"]) <= MAX_MESSAGE_BYTES
    if room >= 60:
        assert said["job_id"] == "big" and said["error_type"] == "RuntimeError"
    if room >= 400:
        assert said["error_reason"].startswith("the model store is down")
    stored = env["results"].read("big")
    assert stored["status"] == "failed"
    assert stored["error"]["reason"].startswith("the model store is down")  # whole, in S3


def test_a_small_job_is_dead_lettered_with_its_whole_reason(env: Any) -> None:
    body = json.dumps({"job_id": "small", "task": "predict", "input": [1]})
    env["worker"].handle_batch([_last_receive_of(env, body)])
    said = {n: v["StringValue"] for n, v in _dead_lettered(env)["MessageAttributes"].items()}
    assert said["error_reason"] == ("the model store is down: " + "x" * 2000)[:1000]
    assert said["receive_count"] == str(SETTINGS.max_receive_count)
