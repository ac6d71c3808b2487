"""``POST /jobs`` never writes ``queued`` over a job the worker already answered (qa7).

The route sends the message, reads ``results/jobs/<id>.json`` and, when it finds none,
writes ``queued``. A worker that ran and answered the job between that read and that
write (a fast ``predict`` job, a warm worker long-polling the queue) had its ``ok``
result replaced: ``GET /jobs/{id}`` said ``queued`` for ever.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import aws
from chalicelib.config import Settings
from tests.functional.conftest import CountingS3
from tests.functional.test_hardening_jobs_route import jobs_url  # noqa: F401


class WorkerAnswers:
    """S3 in which the worker writes the job's ``ok`` result (it ran the job at once) just
    ``before`` or ``after`` the route's first S3 request following the send."""

    def __init__(self, inner: CountingS3, sqs: Any, when: str) -> None:
        self._inner = inner
        self._sqs = sqs
        self._when = when
        self.answered = False

    def _answer(self, bucket: str) -> None:
        if self._sqs.sent and not self.answered:
            self.answered = True
            job_id = json.loads(self._sqs.sent[-1])["job_id"]
            done = {"job_id": job_id, "status": "ok", "replied": True, "result": {}}
            key = f"results/jobs/{job_id}.json"
            self._inner.put_object(Bucket=bucket, Key=key, Body=json.dumps(done).encode())

    def _around(self, operation: str, kwargs: Any) -> Any:
        if self._when == "before":
            self._answer(kwargs["Bucket"])
        try:
            return getattr(self._inner, operation)(**kwargs)
        finally:
            if self._when == "after":
                self._answer(kwargs["Bucket"])

    def get_object(self, **kwargs: Any) -> Any:
        return self._around("get_object", kwargs)

    def put_object(self, **kwargs: Any) -> Any:
        return self._around("put_object", kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class RecordingSQS:
    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.sent: list[str] = []

    def send_message(self, **kwargs: Any) -> Any:
        self.sent.append(kwargs["MessageBody"])
        return self._inner.send_message(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_job_answered_before_the_route_writes_queued_keeps_its_result(
    when: str,
    client: Client,
    s3: CountingS3,
    settings: Settings,
    jobs_url: str,  # noqa: F811
) -> None:
    sqs = RecordingSQS(aws.client("sqs"))
    with aws.injected(s3=WorkerAnswers(s3, sqs, when), sqs=sqs):
        response = client.http.post(
            "/jobs",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"job_id": "fast-1", "task": "predict", "input": {"a": 1}}),
        )
    assert response.status_code == 202
    assert json.loads(client.http.get("/jobs/fast-1").body)["status"] == "ok"
