"""A reference client that talks to the workers the way the chat bot does.

It sends the user's text as the message body with a ``chat_id`` attribute, and
waits on the results queue for the reply to that message (the job id of a
plain-text job is its SQS message id). Replies meant for other jobs are put
back for their own consumers.
"""

from __future__ import annotations

import json
import time
from typing import Any

from chalicelib.config import Settings


class BotClient:
    def __init__(self, settings: Settings, sqs: Any) -> None:
        self._settings = settings
        self._sqs = sqs

    def _url(self, queue: str) -> str:
        return str(self._sqs.get_queue_url(QueueName=queue)["QueueUrl"])

    def send(self, text: str, chat_id: str) -> str:
        """Send ``text`` as the bot would; returns the job id."""
        sent = self._sqs.send_message(
            QueueUrl=self._url(self._settings.jobs_queue),
            MessageBody=text,
            MessageAttributes={"chat_id": {"DataType": "String", "StringValue": chat_id}},
        )
        return str(sent["MessageId"])

    def wait(self, job_id: str, timeout: float = 120.0) -> dict[str, Any] | None:
        """The reply for ``job_id`` from the results queue, or None after ``timeout`` s."""
        url = self._url(self._settings.job_results_queue)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            wait = max(1, min(5, int(deadline - time.monotonic())))
            response = self._sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait,
                MessageAttributeNames=["All"],
            )
            for message in response.get("Messages", []):
                reply = json.loads(message["Body"])
                if reply.get("job_id") == job_id:
                    self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    attributes = message.get("MessageAttributes", {})
                    reply["attributes"] = {k: v.get("StringValue") for k, v in attributes.items()}
                    return dict(reply)
                self._sqs.change_message_visibility(  # not ours: let its consumer have it
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        return None
