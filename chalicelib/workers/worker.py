"""The queue worker: every record of a batch on its own.

- A body that cannot be parsed is answered at once with an error result and
  deleted: it can never succeed, so it is not retried.
- A job already finished (a duplicate delivery) is deleted without a second result;
  another job under its id is answered ``job_id_in_use``. A failed job whose message
  comes round again (a dead-letter redrive) runs again.
- A finished job (ok, or an error of its input) writes ``results/jobs/<id>.json``,
  replies on the results queue with the message's attributes, and is deleted.
- A failing job is left on the queue (SQS delivers it again) with its last error
  recorded; on its last allowed receive it is moved to the dead-letter queue with
  the reason as message attributes, and answered as failed.

Successful records are deleted by the worker itself, and the handler raises if
any record is to be retried, so a failing record never makes the others run
again (Chalice cannot configure ``ReportBatchItemFailures``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from chalicelib import observability
from chalicelib.config import Settings
from chalicelib.errors import InvalidInput
from chalicelib.queues import (
    MAX_MESSAGE_BYTES,
    Deleter,
    QueueMessage,
    message_size,
    process_batch,
)
from chalicelib.workers.messages import Job, MalformedJob, parse_job
from chalicelib.workers.records import DONE, JobResults
from chalicelib.workers.tasks import TaskRunner

log = logging.getLogger(__name__)


class JobWorker:
    def __init__(
        self,
        settings: Settings,
        sqs: Any,
        results: JobResults,
        runner: TaskRunner,
        stale_claim_seconds: float = 900.0,
    ) -> None:
        self._settings = settings
        self._sqs = sqs
        self._results = results
        self._runner = runner
        self._stale = stale_claim_seconds
        self._queues = Deleter(sqs, settings.jobs_queue)

    def handle_batch(self, messages: list[QueueMessage]) -> None:
        process_batch(messages, self.handle, self._queues, "job")

    def handle(self, message: QueueMessage) -> bool:
        """Process one message; True when it is done with (delete it)."""
        try:
            job = parse_job(message.body, message.message_id, message.attributes)
        except MalformedJob as error:
            answered = self._results.read(message.message_id)
            if answered and answered.get("task") == "unknown" and answered.get("replied"):
                return True  # a second delivery of a body already answered
            self._finish(
                # the body (up to 256 KiB) is no input: a reply holding it could not be sent
                Job(message.message_id, "unknown", message.body[:1000], {}, message.attributes),
                "error",
                error=error,
                elapsed=0.0,
            )
            return True
        existing = self._results.read(job.job_id)
        if existing is not None and not same_job(existing, job):
            self._answer_conflict(job)  # never run, never stored over the other job's result
            return True
        finished = existing is not None and existing.get("status") in DONE
        if finished and existing and existing.get("replied"):
            return True  # a duplicate delivery: one result, not two
        if not self._results.claim(
            job.job_id, self._stale, message.message_id, message.receive_count
        ):
            return False  # another delivery is running (or answering) it now
        if finished and existing:
            self._reply(existing, job)  # its worker stopped between result and reply
            return True
        return self._run(job, message)

    def _answer_conflict(self, job: Job) -> None:
        document = {
            **self._document(job, "error"),
            "error": {"type": "job_id_in_use", "reason": conflict_reason(job.job_id)},
        }
        observability.metric("Jobs", 1, "error")
        self._results.reply(document, job.attributes)

    def _run(self, job: Job, message: QueueMessage) -> bool:
        started = time.perf_counter()
        try:
            result = self._runner.run(job)
        except InvalidInput as error:
            self._finish(job, "error", error=error, elapsed=time.perf_counter() - started)
            return True
        except Exception as error:  # noqa: BLE001 - recorded, retried, then dead-lettered
            self._results.release(job.job_id)
            log.warning("job %s failed (receive %d): %s", job.job_id, message.receive_count, error)
            if message.receive_count >= self._settings.max_receive_count:
                self._dead_letter(message, job, error)
                self._finish(
                    job,
                    "failed",
                    error=error,
                    elapsed=time.perf_counter() - started,
                    attempts=message.receive_count,
                )
                return True
            self._results.write(
                {**self._document(job, "retrying", error=error), "attempts": message.receive_count}
            )
            observability.metric("Jobs", 1, "retrying")
            return False
        self._finish(job, "ok", result=result, elapsed=time.perf_counter() - started)
        return True

    def _finish(
        self,
        job: Job,
        status: str,
        *,
        result: Any = None,
        error: BaseException | None = None,
        elapsed: float,
        attempts: int = 1,
    ) -> None:
        document = observability.stamped(
            {
                **self._document(job, status, result, error),
                "timings_ms": {"run": round(elapsed * 1e3, 1)},
                "attempts": attempts,
                "replied": False,
            }
        )
        observability.metric("Jobs", 1, status)
        self._results.write(document)
        self._reply(document, job)

    def _reply(self, document: dict[str, Any], job: Job) -> None:
        self._results.reply(document, job.attributes)
        self._results.write({**document, "replied": True})

    def _document(
        self, job: Job, status: str, result: Any = None, error: BaseException | None = None
    ) -> dict[str, Any]:
        document: dict[str, Any] = {
            "job_id": job.job_id,
            "task": job.task,
            "status": status,
            "input": job.input,
            "params": dict(job.params),
            "attributes": dict(job.attributes),
            "finished_at": time.time(),
        }
        if result is not None:
            document["result"] = result
        if error is not None:
            kind = getattr(error, "kind", type(error).__name__)
            document["error"] = {"type": kind, "reason": _bounded(str(error))}
        return document

    def _dead_letter(self, message: QueueMessage, job: Job, error: BaseException) -> None:
        """Move the message to the dead-letter queue with why, keeping its attributes."""
        # SQS allows 10 attributes: keep up to 6 of the job's, add the 4 that say why.
        kept = list(message.attributes.items())[:6]
        attributes = {name: {"DataType": "String", "StringValue": value} for name, value in kept}
        why = [
            ("job_id", "String", job.job_id),
            ("error_type", "String", type(error).__name__),
            ("receive_count", "Number", str(message.receive_count)),
            ("error_reason", "String", str(error)[:1000] or "-"),
        ]
        attributes.update(reason_attributes(message_size(message.body, attributes), why))
        if attributes.get("error_reason", {}).get("StringValue") != why[3][2]:
            log.warning("job %s dead-lettered with its reason cut to fit 256 KiB", job.job_id)
        self._sqs.send_message(
            QueueUrl=self._queues.url(self._settings.jobs_dlq),
            MessageBody=message.body,
            MessageAttributes=attributes,
        )


def reason_attributes(
    used: int, why: list[tuple[str, str, str]], limit: int = MAX_MESSAGE_BYTES
) -> dict[str, dict[str, str]]:
    """The attributes saying why a message was dead-lettered, in the room ``used`` bytes leave.

    A body near 256 KiB leaves little: SQS would refuse the whole copy (and later move the
    message itself, without a reason). Attributes are added in order while they fit; the
    last one, the reason, is cut to the room left (the job's record keeps it whole).

    >>> why = [("job_id", "String", "j"), ("error_reason", "String", "é" * 50)]
    >>> reason_attributes(0, why)["error_reason"]["StringValue"] == "é" * 50
    True
    >>> cut = reason_attributes(1000 - 40, why, limit=1000)
    >>> cut["job_id"]["StringValue"], cut["error_reason"]["StringValue"]
    ('j', 'ééé…')
    >>> reason_attributes(1000 - 10, why, limit=1000)
    {}
    """
    found: dict[str, dict[str, str]] = {}
    room = limit - used
    for index, (name, kind, value) in enumerate(why):
        room -= len(name) + len(kind)
        data = value.encode("utf-8")
        if len(data) > room and index == len(why) - 1:
            # cut on a character boundary; "…" says it was cut
            data = data[: max(room - 3, 0)].decode("utf-8", "ignore").encode("utf-8")
            data = data + "…".encode() if data else b""
        if not data or len(data) > room:
            room += len(name) + len(kind)
            continue
        found[name] = {"DataType": kind, "StringValue": data.decode("utf-8")}
        room -= len(data)
    return found


def same_job(record: Mapping[str, Any], job: Job) -> bool:
    """Is ``record`` (``results/jobs/<id>.json``) this job's, or another job's under its id?

    A job id is the client's idempotency key: a second delivery of the same job is
    answered once, but another job sent under a used id must not pass for it.

    >>> same_job({"task": "predict", "input": [1], "params": {}}, Job("j", "predict", [1]))
    True
    >>> same_job({"task": "predict", "input": [2]}, Job("j", "predict", [1]))
    False
    """
    return (
        record.get("task") == job.task
        and record.get("input") == job.input
        and (record.get("params") or {}) == dict(job.params)
    )


def conflict_reason(job_id: str) -> str:
    return (
        f"job_id {job_id!r} already names another job (another task, input or params); "
        "send this one with a new job_id, or none"
    )


MAX_REASON_CHARS = 1000


def _bounded(reason: str) -> str:
    """An error's text cut to ``MAX_REASON_CHARS``: many reasons quote the input, and a
    reply quoting a 256 KiB body whole could not be sent (SQS's size limit).

    >>> len(_bounded("x" * 5000)), _bounded("short")
    (1001, 'short')
    """
    return reason if len(reason) <= MAX_REASON_CHARS else reason[:MAX_REASON_CHARS] + "…"
