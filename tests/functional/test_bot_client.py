"""The chat-bot client on a shared results queue (issue 13): 20 concurrent
``lab submit --wait`` sometimes missed a reply for 90 s. The cause: a client that found its
own reply returned without putting back the other replies of the same batch, so they
stayed invisible for the queue's visibility timeout."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from chalicelib.config import Settings
from devtools.bot import BotClient

SETTINGS = Settings()


@pytest.fixture
def sqs(moto: None) -> Any:
    client = boto3.client("sqs", region_name="us-east-1")
    client.create_queue(
        QueueName=SETTINGS.job_results_queue, Attributes={"VisibilityTimeout": "30"}
    )
    return client


def reply(sqs: Any, job_id: str) -> None:
    url = sqs.get_queue_url(QueueName=SETTINGS.job_results_queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"job_id": job_id, "status": "ok"}))


def test_replies_after_ones_own_in_a_batch_are_put_back_at_once(sqs: Any) -> None:
    for job_id in ("a", "b", "c"):
        reply(sqs, job_id)
    bot = BotClient(SETTINGS, sqs)
    assert bot.wait("a", timeout=5)["job_id"] == "a"
    began = time.monotonic()
    assert bot.wait("c", timeout=5)["job_id"] == "c"  # was invisible for 30 s
    assert bot.wait("b", timeout=5)["job_id"] == "b"
    assert time.monotonic() - began < 5


def test_a_foreign_message_on_the_queue_does_not_break_waiting(sqs: Any) -> None:
    url = sqs.get_queue_url(QueueName=SETTINGS.job_results_queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="not json")
    reply(sqs, "mine")
    assert BotClient(SETTINGS, sqs).wait("mine", timeout=5)["job_id"] == "mine"
