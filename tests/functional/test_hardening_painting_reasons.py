"""Cell Painting: what a rejected job's reason may quote is bounded (records, logs, console)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import aws
from chalicelib.config import Settings
from tests.functional.test_painting import FakeBatch, FakeSqs, records, send
from tests.painting import upload_dataset


@pytest.fixture
def batch(s3: Any) -> Iterator[FakeBatch]:
    fake = FakeBatch()
    with aws.injected(batch=fake, sqs=FakeSqs()):
        yield fake


@pytest.mark.parametrize(
    "field, value",
    [("job_queue", "q" * 200_000), ("job_definition", "d" * 200_000)],
)
def test_a_reason_quoting_a_huge_field_is_bounded_in_the_record_and_the_log(
    client, batch, s3, settings: Settings, caplog, field, value
) -> None:
    # before: the reason quoted the whole 200,000-character field: a 200 KB log line
    # (CloudWatch cuts events at 256 KB) and status record, shown whole by the console
    dataset = upload_dataset(s3, settings.data_bucket)
    send(client, {**dataset, field: value})
    [status] = records(s3, settings)
    assert status["state"] == "rejected" and field in status["reason"]
    assert len(status["reason"]) <= 1001
    logged = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert logged and max(len(line) for line in logged) < 1200
    assert not batch.submitted
