"""A chat job's reply always fits its queue (qa5).

A ``predict`` job of 1,000 observations all far outside the training range answers
≈ 536 KB (each row carries its ``out_of_range`` list). A results queue made before SQS's
1 MiB limit (August 2025), or with ``MaximumMessageSize`` left at CloudFormation's 256 KiB,
refuses it. Before, the worker had stored the result as ``ok`` and then failed to reply: the
message was retried until SQS moved it to the dead-letter queue, and the chat never heard
back. Now a reply over 256 KiB leaves the result out and says where to read it (the job's
result object in the results bucket, written before the reply).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.config import Settings
from chalicelib.predict import handlers as prediction
from chalicelib.queues import QueueMessage
from chalicelib.workers.records import JobResults
from chalicelib.workers.worker import JobWorker
from tests.predict_data import FEATURES, rows

SETTINGS = Settings()
SQS_BEFORE_2025 = 256 * 1024  # a queue's MaximumMessageSize then, and CloudFormation's default


class PredictingRunner:
    def run(self, job: Any) -> dict[str, Any]:
        return prediction.predict(json.dumps(job.input))


@pytest.fixture
def env(moto: None) -> Any:
    s3 = boto3.client("s3", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    s3.create_bucket(Bucket=SETTINGS.results_bucket)
    for queue in (SETTINGS.jobs_queue, SETTINGS.jobs_dlq):
        sqs.create_queue(QueueName=queue)
    results_url = sqs.create_queue(
        QueueName=SETTINGS.job_results_queue,
        Attributes={"MaximumMessageSize": str(SQS_BEFORE_2025)},
    )["QueueUrl"]
    results = JobResults(s3, SETTINGS.results_bucket, sqs, SETTINGS.job_results_queue)
    worker = JobWorker(SETTINGS, sqs, results, PredictingRunner())  # type: ignore[arg-type]
    yield {"sqs": sqs, "results": results, "worker": worker, "results_url": results_url}


def _received(env: Any, body: str, attributes: dict[str, str]) -> QueueMessage:
    url = env["sqs"].get_queue_url(QueueName=SETTINGS.jobs_queue)["QueueUrl"]
    env["sqs"].send_message(QueueUrl=url, MessageBody=body)
    [got] = env["sqs"].receive_message(QueueUrl=url)["Messages"]
    return QueueMessage(got["MessageId"], got["ReceiptHandle"], body, 1, attributes)


def _far_out_rows(n: int) -> list[dict[str, float]]:
    return [dict(zip(FEATURES, [x * 1e6 for x in row], strict=True)) for row in rows(n)]


def test_a_prediction_reply_over_the_queue_limit_points_to_the_result(env: Any) -> None:
    body = json.dumps({"job_id": "big", "task": "predict", "input": _far_out_rows(1000)})
    message = _received(env, body, {"chat_id": "42"})

    env["worker"].handle_batch([message])  # raised RetryLater: the reply could not be sent

    got = env["sqs"].receive_message(QueueUrl=env["results_url"], MessageAttributeNames=["All"])
    [reply] = got["Messages"]
    assert len(reply["Body"].encode()) <= SQS_BEFORE_2025
    answer = json.loads(reply["Body"])
    assert answer["status"] == "ok" and "result" not in answer
    assert answer["result_url"] == f"s3://{SETTINGS.results_bucket}/results/jobs/big.json"
    assert "too large" in answer["note"]
    assert reply["MessageAttributes"]["chat_id"]["StringValue"] == "42"
    stored = env["results"].read("big")
    assert stored["replied"] is True and stored["result"]["count"] == 1000


def test_a_reply_that_fits_is_sent_whole(env: Any) -> None:
    body = json.dumps({"job_id": "small", "task": "predict", "input": _far_out_rows(10)})
    env["worker"].handle_batch([_received(env, body, {})])
    [reply] = env["sqs"].receive_message(QueueUrl=env["results_url"])["Messages"]
    assert json.loads(reply["Body"])["result"]["count"] == 10
