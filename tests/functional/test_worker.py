"""The worker's per-record rules, with a scripted task runner, on in-memory AWS (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib.config import Settings
from chalicelib.errors import InvalidInput
from chalicelib.queues import QueueMessage, RetryLater
from chalicelib.workers.records import JobResults
from chalicelib.workers.worker import JobWorker

SETTINGS = Settings()


class ScriptedRunner:
    """Runs jobs by input: 'ok' succeeds, 'bad' is invalid, 'down' fails (transient)."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.recovered: set[str] = set()  # job ids whose service is back up

    def run(self, job: Any) -> dict[str, Any]:
        self.runs.append(job.job_id)
        if job.input == "bad":
            raise InvalidInput("bad input")
        if job.input == "down" and job.job_id not in self.recovered:
            raise ConnectionError("service unavailable")
        return {"echo": job.input}


@pytest.fixture
def aws_env(moto: None) -> Iterator[dict[str, Any]]:
    s3 = boto3.client("s3", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    s3.create_bucket(Bucket=SETTINGS.results_bucket)
    urls = {
        q: sqs.create_queue(QueueName=q)["QueueUrl"]
        for q in (SETTINGS.jobs_queue, SETTINGS.jobs_dlq, SETTINGS.job_results_queue)
    }
    runner = ScriptedRunner()
    results = JobResults(s3, SETTINGS.results_bucket, sqs, SETTINGS.job_results_queue)
    yield {
        "s3": s3,
        "sqs": sqs,
        "urls": urls,
        "runner": runner,
        "results": results,
        "worker": JobWorker(SETTINGS, sqs, results, runner),
    }  # type: ignore[arg-type]


def message(env: dict[str, Any], body: str, receives: int = 1) -> QueueMessage:
    sent = env["sqs"].send_message(QueueUrl=env["urls"][SETTINGS.jobs_queue], MessageBody=body)
    got = env["sqs"].receive_message(QueueUrl=env["urls"][SETTINGS.jobs_queue])["Messages"][0]
    assert got["MessageId"] == sent["MessageId"]
    return QueueMessage(
        got["MessageId"],
        got["ReceiptHandle"],
        body,
        receives,
        {"chat_id": "1"},
        SETTINGS.jobs_queue,
    )


def replies(env: dict[str, Any]) -> list[dict[str, Any]]:
    got = env["sqs"].receive_message(
        QueueUrl=env["urls"][SETTINGS.job_results_queue], MaxNumberOfMessages=10
    )
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def job(job_id: str, value: str) -> str:
    return json.dumps({"job_id": job_id, "task": "predict", "input": value})


def test_a_failing_record_does_not_rerun_the_others(aws_env) -> None:
    batch = [
        message(aws_env, job("a", "ok")),
        message(aws_env, job("b", "down")),
        message(aws_env, job("c", "bad")),
    ]
    with pytest.raises(RetryLater, match="1 of 3 job"):
        aws_env["worker"].handle_batch(batch)
    assert {r["job_id"]: r["status"] for r in replies(aws_env)} == {"a": "ok", "c": "error"}
    # redelivered: only b runs again
    aws_env["runner"].runs.clear()
    with pytest.raises(RetryLater):
        aws_env["worker"].handle_batch(batch)
    assert aws_env["runner"].runs == ["b"]
    assert aws_env["results"].read("b")["status"] == "retrying"


def test_last_receive_goes_to_the_dead_letter_queue_with_the_reason(aws_env) -> None:
    worker = aws_env["worker"]
    last = message(aws_env, job("d", "down"), receives=SETTINGS.max_receive_count)
    worker.handle_batch([last])  # nothing raised: it is dealt with
    dead = aws_env["sqs"].receive_message(
        QueueUrl=aws_env["urls"][SETTINGS.jobs_dlq], MessageAttributeNames=["All"]
    )["Messages"][0]
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attributes["error_reason"] == "service unavailable" and attributes["chat_id"] == "1"
    assert [r["status"] for r in replies(aws_env)] == ["failed"]


def test_malformed_is_answered_at_once_and_never_run(aws_env) -> None:
    aws_env["worker"].handle_batch([message(aws_env, "{oops")])
    [reply] = replies(aws_env)
    assert reply["status"] == "error" and reply["error"]["type"] == "malformed_job"
    assert aws_env["runner"].runs == []


def test_duplicates_are_answered_once(aws_env) -> None:
    worker = aws_env["worker"]
    worker.handle_batch([message(aws_env, job("e", "ok"))])
    worker.handle_batch([message(aws_env, job("e", "ok"))])
    assert [r["job_id"] for r in replies(aws_env)] == ["e"]
    assert aws_env["runner"].runs == ["e"]


def test_a_job_running_elsewhere_is_left_for_later(aws_env) -> None:
    assert aws_env["results"].claim("f", stale_after=900)
    assert aws_env["worker"].handle(message(aws_env, job("f", "ok"))) is False
    assert aws_env["runner"].runs == []


# -- issue 13 ------------------------------------------------------------------------------
def test_a_deeply_nested_job_is_answered_and_its_batch_mates_run(aws_env) -> None:
    deep = '{"task":"predict","input":' + "[" * 20000 + "]" * 20000 + "}"
    batch = [message(aws_env, deep)] + [message(aws_env, job(f"ok{i}", "ok")) for i in range(4)]
    aws_env["worker"].handle_batch(batch)  # nothing to retry: all five are done with
    answered = {r.get("job_id"): r for r in replies(aws_env)}
    assert len(answered) == 5
    (error,) = [r for r in answered.values() if r["status"] == "error"]
    assert error["error"]["type"] == "malformed_job" and "nested" in error["error"]["reason"]
    assert sorted(aws_env["runner"].runs) == [f"ok{i}" for i in range(4)]


def test_a_claim_left_by_an_earlier_receive_of_the_message_is_taken_over(aws_env) -> None:
    # An S3 outage: the worker could not release its claim when the job failed; SQS
    # delivers the message again later, and that delivery must run the job (not wait 900 s).
    first = message(aws_env, job("g", "ok"))
    assert aws_env["results"].claim("g", 900, first.message_id, 1)
    again = QueueMessage(
        first.message_id, first.receipt_handle, first.body, 2, first.attributes, first.queue
    )
    assert aws_env["worker"].handle(again) is True
    assert aws_env["runner"].runs == ["g"]
    # a different message for the same job id still waits for the running one
    assert aws_env["results"].claim("h", 900, "m-1", 1)
    assert not aws_env["results"].claim("h", 900, "m-2", 1)


def test_a_malformed_body_is_not_echoed_whole_into_the_reply(aws_env) -> None:
    aws_env["worker"].handle_batch([message(aws_env, "{" + "x" * 200_000)])
    [reply] = replies(aws_env)
    assert reply["status"] == "error"
    assert len(json.dumps(reply)) < 5000


# -- audit 2026-12-02 ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        # plain text without a space: "expected '<task> <input>' ... got <all of it>"
        '"' * 200_000,
        "é" * 120_000,  # the same, 6 bytes per character once escaped in JSON
        json.dumps({"task": "é" * 100_000, "input": "x"}, ensure_ascii=False),  # "unknown task"
    ],
)
def test_an_error_reason_never_carries_the_whole_body(aws_env, body: str) -> None:
    # SQS refuses a reply over its size limit: the answer could never be sent, so the
    # message would be retried and dead-lettered without a reason, the chat never answered.
    aws_env["worker"].handle_batch([message(aws_env, body)])
    [reply] = replies(aws_env)
    assert reply["status"] == "error" and reply["error"]["type"] == "malformed_job"
    assert len(json.dumps(reply)) < 20_000
    [stored] = [aws_env["results"].read(reply["job_id"])]
    assert len(json.dumps(stored)) < 20_000


# -- qa3 -------------------------------------------------------------------------------------
def test_a_job_id_reused_for_another_job_is_answered_as_a_conflict(aws_env) -> None:
    # before: a second job under a finished job's id was taken for a duplicate delivery:
    # deleted without running, without a reply (the chat waited for ever)
    worker = aws_env["worker"]
    worker.handle_batch([message(aws_env, job("k", "ok"))])
    worker.handle_batch([message(aws_env, job("k", "another input"))])
    first, second = replies(aws_env)
    assert first["status"] == "ok" and first["result"] == {"echo": "ok"}
    assert second["job_id"] == "k" and second["status"] == "error"
    assert second["error"]["type"] == "job_id_in_use"
    assert aws_env["runner"].runs == ["k"]  # not run: its id names another job's result
    assert aws_env["results"].read("k")["result"] == {"echo": "ok"}  # kept
    worker.handle_batch([message(aws_env, job("k", "ok"))])  # a true duplicate: no reply
    assert replies(aws_env) == []


def test_a_dead_lettered_job_sent_round_again_runs_again(aws_env) -> None:
    # `lab redrive lab-local-jobs` (or SQS's DLQ redrive) sends a failed job's message back:
    # before, the worker found its "failed" result, took it for a duplicate delivery and
    # deleted it without running it: the redrive the docs recommend did nothing.
    worker, runner = aws_env["worker"], aws_env["runner"]
    worker.handle_batch([message(aws_env, job("r", "down"), SETTINGS.max_receive_count)])
    assert [r["status"] for r in replies(aws_env)] == ["failed"]
    runner.recovered.add("r")  # the service is back; the message is sent round again
    worker.handle_batch([message(aws_env, job("r", "down"))])
    assert runner.runs == ["r", "r"]
    [reply] = replies(aws_env)
    assert reply["status"] == "ok" and reply["result"] == {"echo": "down"}
    assert aws_env["results"].read("r")["status"] == "ok"
    worker.handle_batch([message(aws_env, job("r", "down"))])  # now a duplicate: no rerun
    assert runner.runs == ["r", "r"] and replies(aws_env) == []


def test_a_malformed_body_delivered_twice_is_answered_once(aws_env) -> None:
    # SQS delivers at least once: before, each delivery of a body that cannot be parsed
    # wrote its error again and sent the chat a second error reply
    malformed = message(aws_env, "{oops")
    aws_env["worker"].handle_batch([malformed])
    aws_env["worker"].handle_batch([malformed])
    assert [r["status"] for r in replies(aws_env)] == ["error"]
