"""One correlation id from the upload or message to the result, on the local cloud.

The id given at the start (S3 metadata, an SQS attribute) must appear in the log
records of the zip handler, of the container function and in the result document,
and travel in the Lambda payload, the workflow state and the Batch job's environment.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import aws, observability
from chalicelib.cells.messages import ResultKeys
from chalicelib.config import PROJECT_DIR
from devtools.local.batch import ProcessLauncher
from devtools.local.cloud import LocalCloud
from tests.integration.conftest import eventually, read_json
from tests.painting import FAKE_CELLPROFILER, upload_dataset

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    launcher = ProcessLauncher(sys.executable, str(FAKE_CELLPROFILER))
    with LocalCloud(port=0, retry_delay=0, batch_launcher=launcher) as running:
        yield running


def records_with(caplog: pytest.LogCaptureFixture, correlation_id: str) -> dict[str, list[str]]:
    """Logger name -> the messages logged under ``correlation_id``."""
    found: dict[str, list[str]] = {}
    for record in caplog.records:
        if getattr(record, "correlation_id", "") == correlation_id:
            found.setdefault(record.name, []).append(record.getMessage())
    return found


def upload(s3: Any, bucket: str, key: str, sample: str, correlation_id: str) -> None:
    """Put ``samples/<sample>`` at ``key`` with the id in its metadata, as an uploader would."""
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=(PROJECT_DIR / "samples" / sample).read_bytes(),
        Metadata={observability.METADATA_KEY: correlation_id},
    )


def test_an_upload_keeps_its_id_through_handler_container_and_result(
    cloud: LocalCloud, caplog: pytest.LogCaptureFixture
) -> None:
    assert cloud.settings is not None
    s3 = aws.client("s3")
    cid = "upload-" + observability.new_id()
    key = "correlation/coins.png"
    with caplog.at_level(logging.INFO), observability.captured_metrics() as metrics:
        upload(s3, cloud.settings.images_bucket, key, "coins.png", cid)
        result_key = ResultKeys.for_image(key).result
        result = eventually(lambda: read_json(s3, cloud.settings.results_bucket, result_key), 60)
        # the counter records its metrics just after the result: wait for them, not for less
        counted = eventually(
            lambda: [m for m in metrics if "ImagesCounted" in m and m["correlation_id"] == cid]
        )
    assert result["status"] == "ok" and result["correlation_id"] == cid
    logged = records_with(caplog, cid)
    assert "chalicelib.cells.handlers" in logged, logged  # the S3-triggered zip function
    assert "chalicelib.cells.container" in logged, logged  # the counter container function
    line = json.loads(observability.JsonFormatter("cells").format(
        next(r for r in caplog.records if getattr(r, "correlation_id", "") == cid)
    ))  # fmt: skip
    assert line["correlation_id"] == cid
    assert len(counted) == 1
    annotated = s3.head_object(
        Bucket=cloud.settings.results_bucket, Key=ResultKeys.for_image(key).annotated
    )
    assert annotated["Metadata"][observability.METADATA_KEY] == cid


def test_a_video_keeps_its_id_through_the_workflow(
    cloud: LocalCloud, caplog: pytest.LogCaptureFixture
) -> None:
    assert cloud.settings is not None
    s3 = aws.client("s3")
    cid = "video-" + observability.new_id()
    with caplog.at_level(logging.INFO):
        upload(s3, cloud.settings.videos_bucket, "correlation/face.mp4", "face.mp4", cid)
        result = eventually(
            lambda: read_json(
                s3, cloud.settings.blurred_videos_bucket, "correlation/face.mp4.json"
            ),
            90,
        )
        # The join logs its line just after it writes the result: allow it that moment.
        eventually(lambda: "chalicelib.faces.container" in records_with(caplog, cid), 10)
    assert result["status"] == "ok" and result["correlation_id"] == cid
    logged = records_with(caplog, cid)
    assert "chalicelib.faces.handlers" in logged and "chalicelib.faces.container" in logged


def test_a_chat_job_and_a_painting_message_keep_their_ids(
    cloud: LocalCloud, caplog: pytest.LogCaptureFixture
) -> None:
    assert cloud.settings is not None and cloud.provisioned is not None and cloud.batch
    s3, sqs = aws.client("s3"), aws.client("sqs")
    chat, paint = "chat-" + observability.new_id(), "paint-" + observability.new_id()
    s3.put_object(
        Bucket=cloud.settings.data_bucket,
        Key="correlation/chat.png",
        Body=(PROJECT_DIR / "samples" / "coins.png").read_bytes(),
    )
    job = upload_dataset(s3, cloud.settings.data_bucket, "correlation/plate/")
    with caplog.at_level(logging.INFO):
        sent = sqs.send_message(
            QueueUrl=cloud.provisioned.url(cloud.settings.jobs_queue),
            MessageBody=f"count s3://{cloud.settings.data_bucket}/correlation/chat.png",
            MessageAttributes=observability.sqs_attribute(chat),
        )
        sqs.send_message(
            QueueUrl=cloud.provisioned.url(cloud.settings.painting_queue),
            MessageBody=json.dumps(job),
            MessageAttributes=observability.sqs_attribute(paint),
        )
        done = eventually(
            lambda: _finished(read_json(s3, cloud.settings.results_bucket,
                                        f"results/jobs/{sent['MessageId']}.json")),
            60,
        )  # fmt: skip
        submitted = eventually(lambda: _submitted_with(cloud, job["output"]), 60)
    assert done["status"] == "ok" and done["correlation_id"] == chat
    assert done["attributes"]["correlation_id"] == chat  # the reply carries it too
    logged = records_with(caplog, chat)
    assert "chalicelib.cells.container" in logged, logged  # the counter, called by the worker
    environment = {e["name"]: e["value"] for e in submitted["containerOverrides"]["environment"]}
    assert environment[observability.ENVIRONMENT] == paint


def _finished(document: dict[str, Any] | None) -> dict[str, Any] | None:
    return document if document and document.get("status") in ("ok", "error", "failed") else None


def _submitted_with(cloud: LocalCloud, output: str) -> dict[str, Any] | None:
    assert cloud.batch is not None
    for submission in cloud.batch.submissions:
        environment = submission.get("containerOverrides", {}).get("environment", [])
        if any(e["value"] == output for e in environment):
            return submission
    return None
