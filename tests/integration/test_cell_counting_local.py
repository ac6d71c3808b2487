"""Cell counting end to end on the embedded emulator: upload -> S3 event -> counter -> results."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from chalicelib import aws
from chalicelib.cells.messages import ResultKeys
from devtools.local.cloud import LocalCloud
from tests.images import DISCS, discs, encode, png_header_only
from tests.integration.conftest import eventually, read_json

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(port=0, http_port=0, retry_delay=0) as running:
        yield running


def wait_for_result(cloud: LocalCloud, key: str, etag: str) -> dict:
    assert cloud.settings is not None
    s3 = aws.client("s3")

    def probe() -> dict | None:
        found = read_json(s3, cloud.settings.results_bucket, ResultKeys.for_image(key).result)
        return found if found and found.get("etag") == etag else None

    return eventually(probe)


def upload(cloud: LocalCloud, key: str, body: bytes) -> str:
    assert cloud.settings is not None
    put = aws.client("s3").put_object(Bucket=cloud.settings.images_bucket, Key=key, Body=body)
    return put["ETag"].strip('"')


def test_uploaded_image_gets_a_json_result(cloud: LocalCloud) -> None:
    etag = upload(cloud, "plate 1/well+A01.png", encode(discs(), ".png"))
    document = wait_for_result(cloud, "plate 1/well+A01.png", etag)
    assert document["status"] == "ok" and document["count"] == len(DISCS)
    assert document["key"] == "plate 1/well+A01.png"
    url = f"{cloud.http_url}/counts?key={urllib.parse.quote('plate 1/well+A01.png')}"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert json.loads(response.read())["count"] == len(DISCS)


@pytest.mark.parametrize(
    "key, body, kind",
    [
        ("bad/empty.png", b"", "empty_input"),
        ("bad/text.png", b"not an image" * 10, "unsupported_type"),
        ("bad/cut.jpg", encode(discs(), ".jpg")[:400], "corrupt_input"),
        ("bad/bomb.png", png_header_only(12_000, 12_000), "too_large"),
        ("bad/readme.md", b"# hello", "unsupported_type"),
    ],
)
def test_bad_uploads_get_error_results(cloud: LocalCloud, key: str, body: bytes, kind: str) -> None:
    etag = upload(cloud, key, body)
    document = wait_for_result(cloud, key, etag)
    assert document["status"] == "error" and document["error"]["type"] == kind
    assert document["error"]["reason"]


def test_pump_keeps_serving_after_bad_uploads(cloud: LocalCloud) -> None:
    bad = {f"burst/bad{n}.png": upload(cloud, f"burst/bad{n}.png", b"garbage") for n in range(3)}
    etag = upload(cloud, "burst/good.tif", encode(discs(), ".tif"))
    assert wait_for_result(cloud, "burst/good.tif", etag)["count"] == len(DISCS)
    for key, bad_etag in bad.items():
        assert wait_for_result(cloud, key, bad_etag)["status"] == "error"


def test_every_named_resource_exists(cloud: LocalCloud) -> None:
    settings = cloud.settings
    assert settings is not None
    buckets = {b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]}
    assert set(settings.buckets) <= buckets
    sqs = aws.client("sqs")
    for queue, dlq in settings.queues_with_dlq.items():
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
        policy = json.loads(attrs["Attributes"]["RedrivePolicy"])
        assert policy["deadLetterTargetArn"].endswith(f":{dlq}")
        assert int(policy["maxReceiveCount"]) == settings.max_receive_count
    for queue in settings.plain_queues:
        assert sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    batch = aws.client("batch")
    assert batch.describe_job_queues(jobQueues=[settings.batch_job_queue])["jobQueues"]
    definitions = batch.describe_job_definitions(jobDefinitionName=settings.batch_job_definition)
    assert definitions["jobDefinitions"]
