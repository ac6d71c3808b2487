"""Fault injection: S3 and SQS outages during a burst of uploads and jobs (issue 13).

The local cloud runs with AWS's retry timing (failed messages come back after the
visibility timeout, async invokes are retried later on timers) and its fault
injector answers 503. Durations here are scaled down so the tier takes about a
minute; ``lab bench outage`` runs the full 20 s and 60 s cases with AWS's timing.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
from chalice import Chalice

from chalicelib import aws
from chalicelib.config import get_settings
from devtools.bench.outage import exempt_client, run_outage
from devtools.local.cloud import LocalCloud
from devtools.local.redrive import redrive
from tests.integration.conftest import eventually

# Timing-sensitive (outages of seconds against visibility timeouts): `make test` runs this tier
# in its own process after the rest, so no earlier test's threads share its clock.
pytestmark = [pytest.mark.integration, pytest.mark.faults]


@pytest.mark.parametrize("service", ["s3", "sqs"])
def test_a_short_outage_costs_nothing(service: str) -> None:
    # outage 6 s < (MAX_RECEIVE_COUNT - 1) x visibility timeout 8 s: no manual step
    report = run_outage(
        service, 6, images=12, jobs=4, visibility_timeout=8, async_retry_delays=(8, 16)
    )
    assert report.refused_requests > 0  # the outage happened
    assert report.counted_without_manual_step == 12, report.summary()
    assert report.answered_without_manual_step == 4, report.summary()
    assert report.lost == 0 and report.missing == []
    assert report.duplicated_counts == 0 and report.duplicated_replies == 0, report.summary()


def test_a_long_outage_is_one_redrive_away() -> None:
    # outage 9 s > (3 - 1) x 2 s: retries run out, items wait in dead-letter queues
    report = run_outage("s3", 9, images=12, jobs=4, visibility_timeout=2, async_retry_delays=(2, 4))
    assert report.redriven > 0, report.summary()
    assert report.counted == 12 and report.answered == 4, report.summary()
    assert report.duplicated_counts == 0 and report.duplicated_replies == 0, report.summary()


# -- the pump's timing and robustness, on a small app of its own ----------------------------
settings = get_settings()
app = Chalice(app_name="faults-test")
received: list[tuple[str, float]] = []


@app.on_sqs_message(queue=settings.painting_queue, batch_size=1)
def always_fails(event: Any) -> None:
    for record in event:
        received.append((record.body, time.monotonic()))
    raise RuntimeError("downstream service unavailable")


@app.on_sqs_message(queue=settings.jobs_queue, batch_size=10)
def works(event: Any) -> None:
    for record in event:
        received.append((record.body, time.monotonic()))


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(port=0, app=app, visibility_timeout=2) as running:
        yield running


def url(cloud: LocalCloud, queue: str) -> str:
    assert cloud.provisioned is not None
    return cloud.provisioned.url(queue)


def test_receives_are_a_visibility_timeout_apart_and_redrive_sends_them_round_again(
    cloud: LocalCloud,
) -> None:
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=url(cloud, settings.painting_queue), MessageBody="poison")

    def dead() -> list[dict[str, Any]]:
        got = sqs.receive_message(QueueUrl=url(cloud, settings.painting_dlq), WaitTimeSeconds=1)
        return list(got.get("Messages", []))

    messages = eventually(dead, timeout=30)
    times = [t for body, t in received if body == "poison"]
    assert len(times) == settings.max_receive_count
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 1.5, gaps  # the 2 s visibility timeout, not a 1 s (or 0 s) loop
    sqs.change_message_visibility(
        QueueUrl=url(cloud, settings.painting_dlq),
        ReceiptHandle=messages[0]["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    moved = redrive(sqs, settings.painting_dlq)
    assert (moved.source, moved.moved) == (settings.painting_queue, 1)
    eventually(lambda: len([b for b, _ in received if b == "poison"]) > len(times), timeout=10)


@pytest.mark.parametrize("name", ["a b", "", "AWS.x", ".x", "x..y"])
def test_a_message_sqs_would_refuse_does_not_stop_the_queue(cloud: LocalCloud, name: str) -> None:
    sqs = aws.client("sqs")
    with pytest.raises(sqs.exceptions.ClientError):
        sqs.send_message(
            QueueUrl=url(cloud, settings.jobs_queue),
            MessageBody="bad",
            MessageAttributes={name: {"DataType": "String", "StringValue": "v"}},
        )
    sqs.send_message(QueueUrl=url(cloud, settings.jobs_queue), MessageBody=f"after {name!r}")
    eventually(lambda: any(body == f"after {name!r}" for body, _ in received), timeout=10)


def test_the_exempt_client_passes_an_outage(cloud: LocalCloud) -> None:
    assert cloud.faults is not None
    cloud.faults.outage("s3", 30)
    try:
        exempt_client("s3", cloud.endpoint).head_bucket(Bucket=settings.data_bucket)
        import boto3
        from botocore.config import Config
        from botocore.exceptions import ClientError

        once = boto3.client(
            "s3", endpoint_url=cloud.endpoint, config=Config(retries={"total_max_attempts": 1})
        )
        with pytest.raises(ClientError) as raised:
            once.head_bucket(Bucket=settings.data_bucket)
        assert "503" in str(raised.value)
    finally:
        cloud.faults.end()
    assert cloud.faults.refused["s3"] >= 1
