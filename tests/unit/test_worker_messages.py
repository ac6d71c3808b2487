from __future__ import annotations

import json

import pytest

from chalicelib.errors import InvalidInput
from chalicelib.queues import QueueMessage
from chalicelib.workers.messages import MalformedJob, parse_job, s3_location


@pytest.mark.parametrize(
    "text, task, value",
    [
        ("count s3://b/k.png", "count-cells", "s3://b/k.png"),
        ("COUNT s3://b/dir/k.png", "count-cells", "s3://b/dir/k.png"),
        ("blur s3://b/clip.mp4", "blur-faces", "s3://b/clip.mp4"),
        ('predict {"worstArea": 1.5}', "predict", {"worstArea": 1.5}),
        ('predict [{"a": 1}, {"a": 2}]', "predict", [{"a": 1}, {"a": 2}]),
    ],
)
def test_the_bots_plain_text(text: str, task: str, value: object) -> None:
    job = parse_job(text, "m1", {"chat_id": "7"})
    assert (job.task, job.input, job.job_id) == (task, value, "m1")
    assert job.attributes == {"chat_id": "7"}


def test_json_form_keeps_its_job_id_and_params() -> None:
    body = json.dumps(
        {"job_id": "j-1", "task": "count-cells", "input": "s3://b/k", "params": {"method": "hough"}}
    )
    job = parse_job(body, "m1")
    assert job.job_id == "j-1" and job.params == {"method": "hough"}


@pytest.mark.parametrize(
    "body, reason",
    [
        ("", "empty"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "unknown task"),
        ('{"task": "count"}', "needs an input"),
        ('{"task": "dance", "input": "x"}', "unknown task"),
        ('{"task": "count", "input": "x", "extra": 1}', "unknown field"),
        ('{"task": "count", "input": "x", "params": [1]}', "params must be an object"),
        ('{"task": "count", "input": "x", "job_id": "a b"}', "job_id"),
        ("count", "expected '<task> <input>'"),
        ("predict {broken", "not valid JSON"),
        ("x" * (300 * 1024), "larger than"),
    ],
)
def test_malformed_bodies_say_why(body: str, reason: str) -> None:
    with pytest.raises(MalformedJob, match=reason):
        parse_job(body, "m1")


@pytest.mark.parametrize("value", ["b/k", "s3://", "s3://bucket", "s3:///key", 42])
def test_bad_s3_locations(value: object) -> None:
    with pytest.raises(InvalidInput):
        s3_location(value)


def test_queue_message_from_a_lambda_record() -> None:
    record = {
        "messageId": "m",
        "receiptHandle": "r",
        "body": "b",
        "attributes": {"ApproximateReceiveCount": "3"},
        "messageAttributes": {
            "chat_id": {"stringValue": "9", "dataType": "String"},
            "blob": {"binaryValue": "AA==", "dataType": "Binary"},
        },
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs",
    }
    message = QueueMessage.from_record(record)
    assert message.receive_count == 3 and message.queue == "jobs"
    assert message.attributes == {"chat_id": "9"}


@pytest.mark.parametrize(
    "value",
    [
        "s3://arn:aws:s3:::lab-images/a.png",  # an ARN pasted as the bucket
        "s3://my bucket/a.png",
        "s3://lab|images/a.png",
        "s3://" + "b" * 256 + "/a.png",
    ],
)
def test_a_bucket_name_boto3_would_refuse_is_invalid_input_not_a_retry(value: str) -> None:
    # botocore refuses these before sending (ParamValidationError): the worker took that
    # for a transient failure and retried the job until it was dead-lettered.
    with pytest.raises(InvalidInput, match="bucket name"):
        s3_location(value)


def test_a_key_longer_than_s3_allows_is_invalid_input() -> None:
    assert s3_location("s3://b-1/" + "k" * 1024)[1] == "k" * 1024
    with pytest.raises(InvalidInput, match="1,024 bytes"):
        s3_location("s3://b-1/" + "é" * 513)


@pytest.mark.parametrize("bucket", ["a", "UPPER", "lab_local", "lab.images", "x" * 255])
def test_legacy_bucket_names_still_reach_s3(bucket: str) -> None:
    assert s3_location(f"s3://{bucket}/k.png") == (bucket, "k.png")
