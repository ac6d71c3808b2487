"""Job results: ``results/jobs/<job_id>.json`` in the results bucket, replies on the results
queue, a claim per job so two deliveries of one message do not run it twice."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.errors import Conflict, NotFound
from chalicelib.queues import MAX_MESSAGE_BYTES, message_size
from chalicelib.storage import Bucket

TERMINAL = ("ok", "error", "failed")
# Finished for good: a second delivery of the job is a duplicate. A "failed" job (dead-lettered
# after its retries) whose message comes round again was sent back on purpose (a DLQ redrive):
# it runs again.
DONE = ("ok", "error")
# What a reply may weigh, body and attributes (``queues.MAX_MESSAGE_BYTES``).
MAX_REPLY_BYTES = MAX_MESSAGE_BYTES


class JobResults:
    def __init__(
        self,
        s3: Any,
        bucket: str,
        sqs: Any,
        results_queue: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bucket = Bucket(s3, bucket)
        self._sqs = sqs
        self._queue = results_queue
        self._queue_url: str | None = None
        self._clock = clock

    @staticmethod
    def key(job_id: str) -> str:
        return f"results/jobs/{job_id}.json"

    def read(self, job_id: str) -> dict[str, Any] | None:
        return self._bucket.read_json(self.key(job_id))

    def write(self, document: Mapping[str, Any]) -> None:
        self._bucket.write_json(self.key(str(document["job_id"])), document)

    def create(self, document: Mapping[str, Any]) -> str | None:
        """Write the job's first record unless it has one (a conditional write: a worker
        that answered the job meanwhile keeps its result); its ETag when written, None
        when the job had a record."""
        try:
            return self._bucket.write_json(
                self.key(str(document["job_id"])), document, create_only=True
            )
        except Conflict:
            return None

    def discard(self, job_id: str, etag: str) -> None:
        """Delete the job's record if it is still the one written with ``etag`` (its
        ``queued`` when the job could not be sent): a record written since — the answer
        to the same job sent again by another client — is kept."""
        with contextlib.suppress(Conflict, NotFound):
            self._bucket.delete(self.key(job_id), if_match=etag)

    def claim(
        self, job_id: str, stale_after: float, message_id: str = "", receive: int = 0
    ) -> bool:
        """Take the job for this delivery; False while another delivery runs it.

        A claim older than ``stale_after`` seconds (its worker died) is taken over,
        and so is one left by an earlier receive of the same message: SQS delivers a
        message again only when the earlier delivery is over (its visibility timeout
        passed), e.g. a worker that could not release its claim during an S3 outage.
        """

        def over(held: Mapping[str, Any]) -> bool:
            earlier = int(held.get("receive", 0) or 0)
            return bool(message_id) and held.get("message_id") == message_id and earlier < receive

        return self._bucket.claim(
            f"results/claims/{job_id}",
            {"job_id": job_id, "message_id": message_id, "receive": receive},
            stale_after=stale_after,
            clock=self._clock,
            over=over,
        )

    def release(self, job_id: str) -> None:
        self._bucket.release(f"results/claims/{job_id}")

    def reply(self, document: Mapping[str, Any], attributes: Mapping[str, str]) -> None:
        """Send the result to the results queue, with the job's message attributes.

        A reply over ``MAX_REPLY_BYTES`` (a 1,000-row prediction far out of range is
        ≈ 540 KB) leaves the result out and names the job's result object instead,
        which the worker wrote before replying: SQS would refuse it whole.
        """
        body = {
            k: document[k] for k in ("job_id", "task", "status", "result", "error") if k in document
        }
        message_attributes = {
            name: {"DataType": "String", "StringValue": str(value)}
            for name, value in attributes.items()
        }
        text = json.dumps(body, default=str)
        size = message_size(text, message_attributes)
        if size > MAX_REPLY_BYTES:
            body.pop("result", None)
            body["result_url"] = self._bucket.url(self.key(str(document["job_id"])))
            body["note"] = (
                f"the result is too large for a reply ({size} bytes, over {MAX_REPLY_BYTES}): "
                "read it at result_url"
            )
            text = json.dumps(body, default=str)
        self._sqs.send_message(
            QueueUrl=self.queue_url(), MessageBody=text, MessageAttributes=message_attributes
        )

    def queue_url(self) -> str:
        if self._queue_url is None:
            self._queue_url = str(self._sqs.get_queue_url(QueueName=self._queue)["QueueUrl"])
        return self._queue_url
