"""``POST /jobs`` never writes ``queued`` over a job the worker already answered (qa7).

The route sent the message, read ``results/jobs/<id>.json`` and, when it found none,
wrote ``queued``. A worker that ran and answered the job between that read and that
write (a fast ``predict`` job, a warm worker long-polling the queue) had its ``ok``
result replaced: ``GET /jobs/{id}`` said ``queued`` for ever.

Since qa8 the route writes ``queued`` (a conditional create) before it sends: the worker
answers at the send at the earliest, or a resubmission of the answered job follows.
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


class AroundS3:
    """S3 that calls ``hook`` with each ``get_object``/``put_object``'s arguments just
    ``before`` or ``after`` the request (the other side's step of a race)."""

    def __init__(self, inner: CountingS3, when: str) -> None:
        self._inner = inner
        self._when = when

    def hook(self, kwargs: Any) -> None:
        raise NotImplementedError

    def _around(self, operation: str, kwargs: Any) -> Any:
        if self._when == "before":
            self.hook(kwargs)
        try:
            return getattr(self._inner, operation)(**kwargs)
        finally:
            if self._when == "after":
                self.hook(kwargs)

    def get_object(self, **kwargs: Any) -> Any:
        return self._around("get_object", kwargs)

    def put_object(self, **kwargs: Any) -> Any:
        return self._around("put_object", kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class WorkerAnswers(AroundS3):
    """S3 in which the worker writes the job's ``ok`` result (it ran the job at once) just
    ``before`` or ``after`` the route's first S3 request following the send."""

    def __init__(self, inner: CountingS3, sqs: Any, when: str) -> None:
        super().__init__(inner, when)
        self._sqs = sqs
        self.answered = False

    def _answer(self, bucket: str) -> None:
        if self._sqs.sent and not self.answered:
            self.answered = True
            job = json.loads(self._sqs.sent[-1])
            job_id = job["job_id"]
            done = {**job, "status": "ok", "replied": True, "result": {}}
            key = f"results/jobs/{job_id}.json"
            self._inner.put_object(Bucket=bucket, Key=key, Body=json.dumps(done).encode())

    def hook(self, kwargs: Any) -> None:
        self._answer(kwargs["Bucket"])


class RecordingSQS:
    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.sent: list[str] = []
        self.on_send: Any = None

    def send_message(self, **kwargs: Any) -> Any:
        self.sent.append(kwargs["MessageBody"])
        answer = self._inner.send_message(**kwargs)
        if self.on_send is not None:
            self.on_send()
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.parametrize("when", ["send", "before", "after"])
def test_a_job_answered_before_the_route_writes_queued_keeps_its_result(
    when: str,
    client: Client,
    s3: CountingS3,
    settings: Settings,
    jobs_url: str,  # noqa: F811
) -> None:
    sqs = RecordingSQS(aws.client("sqs"))
    worker = WorkerAnswers(s3, sqs, when)
    body = json.dumps({"job_id": "fast-1", "task": "predict", "input": {"a": 1}})
    if when == "send":  # at once, as the message reaches the queue
        sqs.on_send = lambda: worker._answer(settings.results_bucket)
    with aws.injected(s3=worker, sqs=sqs):
        response = client.http.post(
            "/jobs", headers={"Content-Type": "application/json"}, body=body
        )
        # a resubmission of the job (its client retrying) after the answer
        again = client.http.post("/jobs", headers={"Content-Type": "application/json"}, body=body)
    assert response.status_code == 202 and again.status_code == 202
    assert worker.answered
    assert json.loads(client.http.get("/jobs/fast-1").body)["status"] == "ok"


class SecondPost(AroundS3):
    """S3 in which another client posts ``other`` under the same job id just ``before`` or
    ``after`` the route's first request for the job's record (qa8)."""

    def __init__(self, inner: CountingS3, client: Client, other: str, when: str) -> None:
        super().__init__(inner, when)
        self._client = client
        self._other = other
        self.status = 0

    def _post(self, key: str) -> None:
        if key.startswith("results/jobs/") and not self.status:
            self.status = -1  # the second route's own requests pass straight through
            response = self._client.http.post(
                "/jobs", headers={"Content-Type": "application/json"}, body=self._other
            )
            self.status = response.status_code

    def hook(self, kwargs: Any) -> None:
        self._post(kwargs["Key"])


@pytest.mark.parametrize("when", ["before", "after"])
def test_two_jobs_posted_at_once_under_one_id_one_is_a_409(
    when: str,
    client: Client,
    s3: CountingS3,
    settings: Settings,
    jobs_url: str,  # noqa: F811
) -> None:
    # before: both were read as new (a read, then a send): both 202, both queued, and the
    # worker answered the second 'job_id_in_use' on the results queue, never its client
    first = json.dumps({"job_id": "same-1", "task": "predict", "input": {"a": 1}})
    second = json.dumps({"job_id": "same-1", "task": "predict", "input": {"a": 2}})
    sqs = RecordingSQS(aws.client("sqs"))
    other = SecondPost(s3, client, second, when)
    with aws.injected(s3=other, sqs=sqs):
        response = client.http.post(
            "/jobs", headers={"Content-Type": "application/json"}, body=first
        )
    assert sorted([response.status_code, other.status]) == [202, 409]
    assert len(sqs.sent) == 1  # only the job that holds the id is queued
    record = json.loads(client.http.get("/jobs/same-1").body)
    assert record["status"] == "queued" and json.loads(sqs.sent[0])["input"] == record["input"]


class RefusingSQS(RecordingSQS):
    def send_message(self, **kwargs: Any) -> Any:
        raise RuntimeError("SQS is down")


class AnsweredThenRefusingSQS(RefusingSQS):
    """SQS that refuses this route's send, after the same job sent by another client was
    run and answered (its ``ok`` written over this route's ``queued``)."""

    def __init__(self, inner: Any, bucket: str) -> None:
        super().__init__(inner)
        self._bucket = bucket

    def send_message(self, **kwargs: Any) -> Any:
        job = json.loads(kwargs["MessageBody"])
        done = {**job, "status": "ok", "replied": True, "result": {"label": "benign"}}
        key = f"results/jobs/{job['job_id']}.json"
        aws.client("s3").put_object(Bucket=self._bucket, Key=key, Body=json.dumps(done).encode())
        return super().send_message(**kwargs)


def _post_refused(client: Client, sqs: RefusingSQS, job_id: str) -> str:
    """``POST /jobs`` of a small job while ``sqs`` refuses it (a 5xx); the body posted."""
    body = json.dumps({"job_id": job_id, "task": "predict", "input": {"a": 1}})
    with aws.injected(sqs=sqs):
        refused = client.http.post("/jobs", headers={"Content-Type": "application/json"}, body=body)
    assert refused.status_code >= 500
    return body


def test_a_job_that_cannot_be_sent_leaves_no_queued_record(
    client: Client,
    s3: CountingS3,
    settings: Settings,
    jobs_url: str,  # noqa: F811
) -> None:
    body = _post_refused(client, RefusingSQS(aws.client("sqs")), "lost-1")
    assert client.http.get("/jobs/lost-1").status_code == 404  # not 'queued' for ever
    again = client.http.post("/jobs", headers={"Content-Type": "application/json"}, body=body)
    assert again.status_code == 202


def test_a_failed_send_does_not_delete_an_answer_written_since(
    client: Client,
    s3: CountingS3,
    settings: Settings,
    jobs_url: str,  # noqa: F811
) -> None:
    """The withdrawal of ``queued`` is conditional on its ETag (qa8 left it unconditional)."""
    sqs = AnsweredThenRefusingSQS(aws.client("sqs"), settings.results_bucket)
    _post_refused(client, sqs, "kept-1")
    record = json.loads(client.http.get("/jobs/kept-1").body)
    assert record["status"] == "ok" and record["result"] == {"label": "benign"}
