"""SQS as the pipelines use it: records parsed once, every record processed on its own.

Chalice's deployer cannot turn on ``ReportBatchItemFailures`` for an SQS event
source, so a handler that raised would make SQS deliver the whole batch again,
successes included. ``process_batch`` therefore deletes each record that is done
with, then raises ``RetryLater`` naming the rest: only those come back, and after
the queue's ``maxReceiveCount`` they move to its dead-letter queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib import observability
from chalicelib.errors import TransientError

log = logging.getLogger(__name__)


# What one SQS message may weigh, body and attributes: SQS's limit was 256 KiB until August
# 2025, and is still every queue's made before then (and CloudFormation's default).
MAX_MESSAGE_BYTES = 256 * 1024


def message_size(body: str, attributes: Mapping[str, Mapping[str, str]]) -> int:
    """Bytes SQS counts for a message: its body, and each attribute's name, type and value.

    >>> message_size("é", {"chat_id": {"DataType": "String", "StringValue": "42"}})
    17
    """
    return len(body.encode("utf-8", "surrogatepass")) + sum(
        len(name.encode()) + len(value["DataType"]) + len(value["StringValue"].encode())
        for name, value in attributes.items()
    )


class RetryLater(TransientError):
    """Raised after a batch: some records failed and must be delivered again."""


@dataclass(frozen=True)
class QueueMessage:
    """One SQS record, parsed at the edge."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int = 1
    attributes: Mapping[str, str] = field(default_factory=dict)
    queue: str = ""

    @classmethod
    def from_record(cls, record: Any) -> QueueMessage:
        """From a Chalice ``SQSRecord`` or the raw Lambda record dict.

        ``messageId`` and the attributes are only in the record's ``to_dict()``.
        """
        raw: Mapping[str, Any] = record.to_dict() if hasattr(record, "to_dict") else record
        attributes = {
            str(name): str(value.get("stringValue", ""))
            for name, value in (raw.get("messageAttributes") or {}).items()
            if isinstance(value, Mapping) and value.get("stringValue") is not None
        }
        return cls(
            message_id=str(raw["messageId"]),
            receipt_handle=str(raw["receiptHandle"]),
            body=str(raw.get("body", "")),
            receive_count=int((raw.get("attributes") or {}).get("ApproximateReceiveCount", 1)),
            attributes=attributes,
            queue=str(raw.get("eventSourceARN", "")).rsplit(":", 1)[-1],
        )

    @classmethod
    def from_records(cls, records: Iterable[Any]) -> list[QueueMessage]:
        return [cls.from_record(record) for record in records]


class Deleter:
    """Deletes processed messages from their queue (queue URLs looked up once)."""

    def __init__(self, sqs: Any, default_queue: str = "") -> None:
        self._sqs = sqs
        self._default = default_queue
        self._urls: dict[str, str] = {}

    def url(self, queue: str) -> str:
        if queue not in self._urls:
            self._urls[queue] = str(self._sqs.get_queue_url(QueueName=queue)["QueueUrl"])
        return self._urls[queue]

    def __call__(self, message: QueueMessage) -> None:
        queue = message.queue or self._default
        self._sqs.delete_message(QueueUrl=self.url(queue), ReceiptHandle=message.receipt_handle)


def process_batch(
    messages: list[QueueMessage],
    process: Callable[[QueueMessage], bool],
    delete: Callable[[QueueMessage], None],
    what: str = "message",
) -> list[QueueMessage]:
    """Run ``process`` on every message, delete each one done with, raise if any must retry.

    ``process`` returns True when the message is done with (success, or an error
    answered that a retry cannot fix) and False, or raises, when it should be
    delivered again. One message's failure never stops the others, and a message
    is deleted as soon as it is done, so a timeout later in the batch cannot make
    it run twice. Returns the messages done with, when none has to be retried.
    """
    done: list[QueueMessage] = []
    retry: list[tuple[QueueMessage, str]] = []
    for message in messages:
        try:
            # each message's own id: its correlation_id attribute, else its message id
            with observability.correlated(
                observability.from_attributes(message.attributes) or message.message_id
            ):
                finished = process(message)
        except Exception as exc:  # noqa: BLE001 - any failure: retried, then dead-lettered
            log.warning("%s %s will be retried: %s", what, message.message_id, exc)
            retry.append((message, f"{type(exc).__name__}: {exc}"))
            continue
        if finished:
            _delete_done(message, delete, what)
            done.append(message)
        else:
            retry.append((message, "not finished"))
    if retry:
        ids = ", ".join(m.message_id for m, _ in retry)
        raise RetryLater(
            f"{len(retry)} of {len(messages)} {what}(s) will be retried ({ids}): {retry[0][1]}"
        )
    return done


def _delete_done(message: QueueMessage, delete: Callable[[QueueMessage], None], what: str) -> None:
    """Delete a record that is done with; a failed delete is logged, never raised.

    Raising would leave the rest of the batch unprocessed. The record is done either way:
    when the batch returns, Lambda deletes it with the others; when the batch raises for
    another record, SQS delivers it again and its result (a claim, a job record) makes
    that delivery a duplicate, deleted without a second run.
    """
    try:
        delete(message)
    except Exception as exc:  # noqa: BLE001 - an expired receipt handle, an SQS error
        log.warning(
            "%s %s is done but was not deleted (%s): a redelivery is a duplicate",
            what,
            message.message_id,
            exc,
        )
