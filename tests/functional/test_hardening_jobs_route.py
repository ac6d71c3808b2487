"""POST /jobs (issue 13): deep nesting and attribute names SQS refuses are a 400, and nothing
reaches the queue."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import aws
from chalicelib.config import Settings
from tests.functional.conftest import CountingS3


@pytest.fixture
def jobs_url(s3: CountingS3, settings: Settings) -> str:
    sqs = aws.client("sqs")
    sqs.create_queue(QueueName=settings.job_results_queue)
    return str(sqs.create_queue(QueueName=settings.jobs_queue)["QueueUrl"])


def post(client: Client, body: str) -> tuple[int, Any]:
    response = client.http.post(
        "/jobs", headers={"Content-Type": "application/json"}, body=body.encode()
    )
    return response.status_code, json.loads(response.body)


def queued(jobs_url: str) -> int:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=jobs_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@pytest.mark.parametrize("depth", [968, 1000, 30_000])
def test_deep_nesting_is_a_400(client: Client, jobs_url: str, depth: int) -> None:
    body = '{"task": "predict", "input": ' + "[" * depth + "1" + "]" * depth + "}"
    status, answer = post(client, body)
    assert status == 400, answer
    assert queued(jobs_url) == 0


@pytest.mark.parametrize(
    "attributes",
    [
        {"a b": "x"},
        {"": "x"},
        {"AWS.trace": "x"},
        {".x": "x"},
        {"x..y": "x"},
        {"ok": ""},
        {"ok": "\u0001"},
    ],
)
def test_attributes_sqs_refuses_are_a_400_before_sending(
    client: Client, jobs_url: str, attributes: dict[str, str]
) -> None:
    body = {"task": "count", "input": "s3://lab-local-images/a.png", "attributes": attributes}
    status, answer = post(client, json.dumps(body))
    assert status == 400, answer
    assert queued(jobs_url) == 0


def test_good_attributes_are_sent(client: Client, jobs_url: str) -> None:
    body = {"task": "count", "input": "s3://lab-local-images/a.png", "attributes": {"chat_id": 7}}
    status, answer = post(client, json.dumps(body))
    assert status == 202, answer
    assert queued(jobs_url) == 1


def test_a_job_id_used_by_another_job_is_a_409_and_nothing_is_sent(
    client: Client, jobs_url: str
) -> None:
    # before: 202, and the worker took the second job for a duplicate: never run, no reply
    first = '{"job_id": "j-1", "task": "predict", "input": {"worstArea": 1}}'
    assert post(client, first)[0] == 202
    assert post(client, first)[0] == 202  # the same job again: idempotent
    status, body = post(client, first.replace('"worstArea": 1', '"worstArea": 2'))
    assert status == 409 and "already names another job" in body["reason"]
    assert queued(jobs_url) == 2


# -- qa5 -------------------------------------------------------------------------------------
class SqsCountingAttributes:
    """moto's SQS, refusing a message whose body and attributes together pass the queue's
    256 KiB as SQS does (moto counts the body only)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def send_message(self, **request: Any) -> Any:
        from botocore.exceptions import ClientError

        from chalicelib.queues import message_size

        if message_size(request["MessageBody"], request.get("MessageAttributes") or {}) > 262144:
            reason = "Message must be shorter than 262144 bytes."
            raise ClientError(
                {"Error": {"Code": "InvalidParameterValue", "Message": reason}}, "SendMessage"
            )
        return self._inner.send_message(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.parametrize(
    "attributes",
    [{"chat_id": "x" * 300_000}, {f"a{i}": "é" * 25_000 for i in range(6)}],
)
@pytest.mark.parametrize("route", ["/jobs", "/console/api/jobs"])
def test_attributes_that_would_pass_sqs_limit_are_a_413(
    client: Client, jobs_url: str, attributes: dict[str, str], route: str
) -> None:
    # before: SQS refused the message (body and attributes over 256 KiB): a 500
    body = {"task": "count", "input": "s3://b/k.png", "attributes": attributes}
    with aws.injected(sqs=SqsCountingAttributes(aws.client("sqs"))):
        response = client.http.post(
            route, headers={"Content-Type": "application/json"}, body=json.dumps(body).encode()
        )
    assert response.status_code == 413, response.body
    assert "256 KiB" in json.loads(response.body)["reason"]
    assert queued(jobs_url) == 0
