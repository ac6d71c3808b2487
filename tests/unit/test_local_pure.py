"""The emulator's pure parts: event shaping, filters, function names, async retries."""

from __future__ import annotations

import json
import threading

import pytest
from chalice.app import S3EventConfig

from devtools.local.emulator import function_name
from devtools.local.functions import ASYNC_ATTEMPTS, LocalFunction, LocalFunctions
from devtools.local.pump import lambda_sqs_record, matches, normalised_record


def s3_record(key: str, event: str = "ObjectCreated:Put") -> dict:
    return {"eventName": event, "s3": {"bucket": {"name": "b"}, "object": {"key": key, "size": 3}}}


def config(
    prefix: str | None = None,
    suffix: str | None = None,
    events: tuple[str, ...] = ("s3:ObjectCreated:*",),
) -> S3EventConfig:
    return S3EventConfig("h", "b", list(events), prefix, suffix, "app.h")


@pytest.mark.parametrize(
    "key, prefix, suffix, expected",
    [
        ("a/b.png", None, None, True),
        ("a/b.png", "a/", ".png", True),
        ("a%2Fb.png", "a/", None, True),  # moto encodes "/" as %2F
        ("c/b.png", "a/", None, False),
        ("a/b.jpg", None, ".png", False),
        ("my+file.png", "my file", None, True),  # "+" is a space
    ],
)
def test_prefix_and_suffix_filters_see_decoded_keys(key, prefix, suffix, expected) -> None:
    assert matches(config(prefix, suffix), s3_record(key)) is expected


def test_event_name_filter() -> None:
    assert not matches(config(), s3_record("a.png", "ObjectRemoved:Delete"))
    assert matches(
        config(events=("s3:ObjectRemoved:*",)), s3_record("a.png", "ObjectRemoved:Delete")
    )


def test_records_carry_keys_encoded_as_s3_does() -> None:
    record = normalised_record(s3_record("plate%2F1%2Fmy+img%25.png"))
    assert record["s3"]["object"]["key"] == "plate/1/my+img%25.png"


def test_sqs_record_has_lambda_shape() -> None:
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "r1",
        "Body": "hi",
        "MD5OfBody": "x",
        "Attributes": {"ApproximateReceiveCount": "1"},
        "MessageAttributes": {"chat_id": {"StringValue": "42", "DataType": "String"}},
    }
    record = lambda_sqs_record(message, "jobs")
    assert record["messageId"] == "m1" and record["receiptHandle"] == "r1"
    assert record["messageAttributes"]["chat_id"]["stringValue"] == "42"
    assert record["eventSourceARN"].endswith(":jobs") and record["eventSource"] == "aws:sqs"


@pytest.mark.parametrize(
    "raw",
    [
        "counter",
        "counter:$LATEST",
        "arn:aws:lambda:us-east-1:123456789012:function:counter",
        "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Acounter",
    ],
)
def test_function_names_from_names_and_arns(raw: str) -> None:
    assert function_name(raw) == "counter"


def test_sync_invoke_returns_result_or_lambda_error() -> None:
    def handler(event, context):
        if event.get("fail"):
            raise ValueError("boom")
        return {"echo": event["x"], "name": context.function_name}

    functions = LocalFunctions([LocalFunction("f", lambda: handler)])
    assert functions.invoke("f", b'{"x": 1}') == (True, {"echo": 1, "name": "f"})
    ok, error = functions.invoke("f", b'{"fail": true}')
    assert not ok and error["errorType"] == "ValueError" and error["errorMessage"] == "boom"
    functions.shutdown()


def test_failing_async_invoke_is_retried_then_reported_with_its_reason() -> None:
    calls = []
    reported = []
    done = threading.Event()

    def handler(event, context):
        calls.append(event)
        raise RuntimeError("service down")

    def on_failure(record):
        reported.append(record)
        done.set()

    functions = LocalFunctions([LocalFunction("f", lambda: handler, on_failure)], retry_delay=0.01)
    functions.invoke_async("f", json.dumps({"n": 1}).encode())
    assert done.wait(5)
    functions.shutdown()
    assert len(calls) == ASYNC_ATTEMPTS
    assert reported[0]["requestPayload"] == {"n": 1}
    assert reported[0]["responsePayload"]["errorMessage"] == "service down"
    assert reported[0]["requestContext"]["condition"] == "RetriesExhausted"


def test_async_invoke_that_recovers_is_not_reported() -> None:
    attempts = []
    functions = LocalFunctions(
        [
            LocalFunction(
                "f",
                lambda: lambda e, c: attempts.append(1) or (len(attempts) < 2 and 1 / 0),
                on_failure=lambda r: pytest.fail("reported"),
            )
        ],
        retry_delay=0.01,
    )
    functions.invoke_async("f", b"{}")
    functions.shutdown()
    assert len(attempts) == 2
