"""Job results: ``results/jobs/<job_id>.json`` in the results bucket, replies on the results
queue, a claim per job so two deliveries of one message do not run it twice."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.aws import error_code, get_json

TERMINAL = ("ok", "error", "failed")


class JobResults:
    def __init__(
        self,
        s3: Any,
        bucket: str,
        sqs: Any,
        results_queue: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._sqs = sqs
        self._queue = results_queue
        self._queue_url: str | None = None
        self._clock = clock

    @staticmethod
    def key(job_id: str) -> str:
        return f"results/jobs/{job_id}.json"

    def read(self, job_id: str) -> dict[str, Any] | None:
        document = get_json(self._s3, self._bucket, self.key(job_id))
        return None if document is None else dict(document)

    def write(self, document: Mapping[str, Any]) -> None:
        self._s3.put_object(
            Bucket=self._bucket,
            Key=self.key(str(document["job_id"])),
            Body=json.dumps(document, indent=1, default=str).encode(),
            ContentType="application/json",
        )

    def claim(self, job_id: str, stale_after: float) -> bool:
        """Take the job for this delivery; False while another delivery runs it.

        A claim older than ``stale_after`` seconds (its worker died) is taken over.
        """
        key = f"results/claims/{job_id}"
        body = json.dumps({"at": self._clock()}).encode()
        try:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, IfNoneMatch="*")
            return True
        except Exception as exc:
            if error_code(exc) not in ("PreconditionFailed", "412"):
                raise
        held = json.loads(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read())
        if self._clock() - float(held.get("at", 0)) < stale_after:
            return False
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body)
        return True

    def release(self, job_id: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=f"results/claims/{job_id}")

    def reply(self, document: Mapping[str, Any], attributes: Mapping[str, str]) -> None:
        """Send the result to the results queue, with the job's message attributes."""
        body = {
            k: document[k] for k in ("job_id", "task", "status", "result", "error") if k in document
        }
        self._sqs.send_message(
            QueueUrl=self.queue_url(),
            MessageBody=json.dumps(body, default=str),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": str(value)}
                for name, value in attributes.items()
            },
        )

    def queue_url(self) -> str:
        if self._queue_url is None:
            self._queue_url = str(self._sqs.get_queue_url(QueueName=self._queue)["QueueUrl"])
        return self._queue_url
