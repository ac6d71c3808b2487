"""Entry points of the queue workers: the SQS handler and the ``/jobs`` routes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from chalicelib import aws, observability
from chalicelib.config import get_settings
from chalicelib.errors import Conflict, InvalidInput, NotFound, TooLarge
from chalicelib.http import parse_json_body
from chalicelib.queues import MAX_MESSAGE_BYTES, QueueMessage, message_size
from chalicelib.workers.messages import MalformedJob, message_attributes, parse_job
from chalicelib.workers.records import JobResults
from chalicelib.workers.tasks import TaskRunner
from chalicelib.workers.worker import JobWorker, conflict_reason, same_job


def results_store() -> JobResults:
    settings = get_settings()
    return JobResults(
        aws.client("s3"), settings.results_bucket, aws.client("sqs"), settings.job_results_queue
    )


def default_worker() -> JobWorker:
    from chalicelib.faces import handlers as workflow

    settings = get_settings()
    runner = TaskRunner(
        settings,
        aws.client("s3"),
        # synchronous calls: wait the longest callee's timeout, one attempt (no doubled work)
        aws.invoker(max(settings.cell_counter_timeout, settings.face_blur_timeout)),
        start_video=workflow.on_video_uploaded,
        predict=_predictor(),
    )
    return JobWorker(settings, aws.client("sqs"), results_store(), runner)


def _predictor() -> Any:
    """The prediction service, fed the job's observations as the HTTP route is."""
    from chalicelib.predict import handlers as service

    return lambda observations: service.predict(json.dumps(observations))


def on_job_messages(records: Iterable[Any]) -> None:
    """The ``@app.on_sqs_message`` handler body: Chalice SQS records in."""
    default_worker().handle_batch(QueueMessage.from_records(records))


def submit_job(raw_body: bytes | str | None) -> dict[str, str]:
    """``POST /jobs``: validate, enqueue, and answer with the job id (HTTP 202)."""
    body = parse_json_body(raw_body)  # malformed or nested too deep: a 400
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object {task, input, params?, job_id?}")
    attributes = message_attributes(body.pop("attributes", None))  # SQS's rules, before sending
    job = parse_job(json.dumps(body), str(uuid.uuid4()), attributes)
    settings = get_settings()
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.jobs_queue)["QueueUrl"]
    document = {
        "job_id": job.job_id,
        "task": job.task,
        "input": job.input,
        "params": dict(job.params),
    }
    message = json.dumps(document)
    sqs_attributes = {
        **observability.sqs_attribute(),
        **{k: {"DataType": "String", "StringValue": v} for k, v in job.attributes.items()},
    }
    size = message_size(message, sqs_attributes)
    if size > MAX_MESSAGE_BYTES:  # SQS would refuse it (a 500): say so before sending
        raise TooLarge(
            f"the job and its attributes are {size} bytes; SQS takes "
            f"{MAX_MESSAGE_BYTES // 1024} KiB (put large inputs in S3 and send their s3:// key)"
        )
    results = results_store()
    # The id is taken by one conditional create, before sending: of two jobs posted under
    # one id at once, one writes ``queued`` and the other reads it (a 409), where a read
    # then a send let both through and the worker answered the second ``job_id_in_use``.
    # No worker can have answered a job not yet sent, so ``queued`` replaces no result.
    created = results.create({**document, "status": "queued", "attributes": dict(job.attributes)})
    if created is None:
        existing = results.read(job.job_id)
        if existing is not None and not same_job(existing, job):
            raise Conflict(conflict_reason(job.job_id))  # nothing is queued
    try:
        sqs.send_message(QueueUrl=url, MessageBody=message, MessageAttributes=sqs_attributes)
    except Exception:
        if created is not None:  # a ``queued`` no message will answer: withdraw it
            results.discard(job.job_id, created)
        raise
    return {"job_id": job.job_id, "status": "queued"}


def get_job(job_id: str) -> dict[str, Any]:
    """``GET /jobs/{job_id}``: the job's status and result."""
    document = results_store().read(job_id)
    if document is None:
        raise NotFound(f"no job {job_id!r}")
    return document


__all__ = ["MalformedJob", "get_job", "on_job_messages", "submit_job"]
