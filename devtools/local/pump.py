"""The event pump: makes the app's declared S3 and SQS triggers fire locally.

Handlers are discovered from the Chalice app object (``app.event_sources`` and
``app.handler_map``), never from a hand-kept list.

- SQS: each ``@app.on_sqs_message`` queue is long-polled and its handler called
  with batches of the declared size, as Lambda's event source mapping does. A
  batch that returns normally is deleted (except the ``batchItemFailures`` it
  reports); one that raises is left for SQS to deliver again, so the redrive
  policy moves it to the dead-letter queue after N receives.
- S3: each watched bucket notifies an SQS queue; the pump turns every record of
  every notification into the S3 event a Lambda would receive (one record per
  invocation), skipping ``s3:TestEvent`` and honouring event-name, prefix and
  suffix filters.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from chalice.app import S3EventConfig, SQSEventConfig

from devtools.local.functions import LocalContext
from devtools.local.resources import Provisioned

log = logging.getLogger(__name__)
REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class QueueSource:
    """One ``@app.on_sqs_message`` subscription."""

    function: str
    queue: str
    queue_url: str
    batch_size: int
    pollers: int


def queue_name(config: SQSEventConfig) -> str:
    if config.queue:
        return config.queue
    return str(config.queue_arn).rsplit(":", 1)[-1]


def lambda_sqs_record(message: dict[str, Any], queue: str) -> dict[str, Any]:
    """An SQS message as received by boto3, shaped as Lambda's SQS event record."""
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
        "awsRegion": REGION,
    }


def matches(config: S3EventConfig, record: dict[str, Any]) -> bool:
    """Does an S3 notification record fire this ``@app.on_s3_event``?"""
    event_name = "s3:" + record.get("eventName", "")
    if not any(fnmatch.fnmatchcase(event_name, pattern) for pattern in config.events):
        return False
    key = unquote_plus(record["s3"]["object"]["key"])
    return key.startswith(config.prefix or "") and key.endswith(config.suffix or "")


def normalised_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record with its key encoded as S3 encodes keys for Lambda (``/`` kept)."""
    key = unquote_plus(record["s3"]["object"]["key"])
    s3 = {**record["s3"], "object": {**record["s3"]["object"], "key": quote_plus(key, safe="/")}}
    return {**record, "s3": s3}


class EventPump:
    def __init__(
        self,
        app: Any,
        sqs: Any,
        provisioned: Provisioned,
        retry_delay: float = 1.0,
        wait_seconds: int = 1,
    ) -> None:
        self._app = app
        self._sqs = sqs
        self._provisioned = provisioned
        self._retry_delay = int(max(0, retry_delay))
        self._wait = wait_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.queue_sources = self._discover_queues()
        self.s3_sources: dict[str, list[S3EventConfig]] = {}
        for source in app.event_sources:
            if isinstance(source, S3EventConfig):
                self.s3_sources.setdefault(source.bucket, []).append(source)
            elif not isinstance(source, SQSEventConfig):
                log.warning("%s (%s) is not emulated locally", source.name, type(source).__name__)

    def _discover_queues(self) -> list[QueueSource]:
        sources = []
        for config in self._app.event_sources:
            if isinstance(config, SQSEventConfig):
                name = queue_name(config)
                sources.append(
                    QueueSource(
                        config.name,
                        name,
                        self._provisioned.url(name),
                        config.batch_size,
                        max(1, min(config.maximum_concurrency or 1, 4)),
                    )
                )
        return sources

    # -- running -------------------------------------------------------------
    def start(self) -> None:
        for source in self.queue_sources:
            for n in range(source.pollers):
                self._spawn(f"sqs-{source.queue}-{n}", functools.partial(self.drain_queue, source))
        for bucket in self.s3_sources:
            self._spawn(f"s3-{bucket}", functools.partial(self.drain_notifications, bucket))

    def _spawn(self, name: str, step: Callable[[], int]) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    step()
                except Exception:
                    log.exception("event pump step %s failed", name)
                    self._stop.wait(1.0)

        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self._wait + 10)

    # -- one poll each ---------------------------------------------------------
    def _receive(self, url: str, count: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, count),
            WaitTimeSeconds=self._wait,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def drain_queue(self, source: QueueSource) -> int:
        """Receive one batch and run the handler on it; returns messages received."""
        messages = self._receive(source.queue_url, source.batch_size)
        if not messages:
            return 0
        event = {"Records": [lambda_sqs_record(m, source.queue) for m in messages]}
        try:
            response = self._call(source.function, event)
        except Exception as exc:  # noqa: BLE001 - Lambda's view: the batch failed
            log.warning(
                "%s failed on %d message(s), left for retry: %s",
                source.function,
                len(messages),
                exc,
            )
            self._retry_later(source.queue_url, messages)
            return len(messages)
        failed = (
            {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
            if isinstance(response, dict)
            else set()
        )
        self._delete(source.queue_url, [m for m in messages if m["MessageId"] not in failed])
        self._retry_later(source.queue_url, [m for m in messages if m["MessageId"] in failed])
        return len(messages)

    def drain_notifications(self, bucket: str) -> int:
        """Receive S3 notifications for ``bucket`` and fire the matching handlers."""
        url = self._provisioned.notification_queues[bucket]
        messages = self._receive(url, 10)
        for message in messages:
            try:
                self._dispatch_notification(bucket, json.loads(message["Body"]))
            except Exception as exc:  # noqa: BLE001 - as S3 would, retry the event
                log.warning("S3 event handler failed, notification left for retry: %s", exc)
                self._retry_later(url, [message])
                continue
            self._delete(url, [message])
        return len(messages)

    def _dispatch_notification(self, bucket: str, body: dict[str, Any]) -> None:
        if body.get("Event") == "s3:TestEvent":
            return
        for record in body.get("Records", []):
            for config in self.s3_sources.get(bucket, []):
                if matches(config, record):
                    self._call(config.name, {"Records": [normalised_record(record)]})

    def _call(self, function: str, event: dict[str, Any]) -> Any:
        handler = self._app.handler_map[function]
        return handler(event, LocalContext(function, str(uuid.uuid4())))

    def _delete(self, url: str, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages[start : start + 10])
            ]
            # A handler may already have deleted some itself: those fail harmlessly.
            self._sqs.delete_message_batch(QueueUrl=url, Entries=entries)

    def _retry_later(self, url: str, messages: list[dict[str, Any]]) -> None:
        """Make failed messages visible again after ``retry_delay`` (locally, not minutes)."""
        for message in messages:
            try:
                self._sqs.change_message_visibility(
                    QueueUrl=url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self._retry_delay,
                )
            except Exception:
                log.debug("could not change visibility", exc_info=True)
