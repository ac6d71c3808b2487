"""``lab redrive QUEUE``: move the messages of a dead-letter queue back to its source queue.

The local cloud's queues follow SQS: a message that failed ``MAX_RECEIVE_COUNT``
times (each a visibility timeout apart) moves to its dead-letter queue, where it
waits with its reason. After the cause is fixed (an outage longer than the
retries, a bug), one command sends every such message round again: bodies and
message attributes as they were. In AWS, SQS does this itself (a *DLQ redrive*,
``aws sqs start-message-move-task``): see docs/deploying.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DLQ_SUFFIX = "-dlq"


@dataclass(frozen=True)
class Redriven:
    source: str
    dead_letters: str
    moved: int


def queue_pair(sqs: Any, name: str) -> tuple[str, str]:
    """(source queue, dead-letter queue) for either name, from the queues' redrive policies."""
    urls = sqs.list_queues(QueueNamePrefix=name.removesuffix(DLQ_SUFFIX)).get("QueueUrls", [])
    names = {url.rsplit("/", 1)[-1]: url for url in urls}
    for source, url in names.items():
        policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
        raw = policy.get("Attributes", {}).get("RedrivePolicy")
        if not raw:
            continue
        dlq = str(json.loads(raw)["deadLetterTargetArn"]).rsplit(":", 1)[-1]
        if name in (source, dlq):
            return source, dlq
    known = ", ".join(sorted(names)) or "none"
    raise LookupError(f"no queue with a dead-letter queue is named {name!r} (queues: {known})")


def redrive(sqs: Any, name: str, limit: int = 100_000) -> Redriven:
    """Move up to ``limit`` messages from ``name``'s dead-letter queue back to its source.

    Each message is sent to the source before it is deleted from the dead-letter
    queue: a failure in between leaves a copy in both, never in neither.
    """
    source, dlq = queue_pair(sqs, name)
    source_url = sqs.get_queue_url(QueueName=source)["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName=dlq)["QueueUrl"]
    moved = 0
    while moved < limit:
        got = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
        ).get("Messages", [])
        if not got:
            break
        for message in got:
            attributes = {
                key: {
                    k: v
                    for k, v in value.items()
                    if k in ("DataType", "StringValue", "BinaryValue")
                }
                for key, value in (message.get("MessageAttributes") or {}).items()
            }
            sqs.send_message(
                QueueUrl=source_url, MessageBody=message["Body"], MessageAttributes=attributes
            )
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return Redriven(source, dlq, moved)
