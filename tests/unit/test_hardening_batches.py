"""One record's failed delete never stops its batch (qa7).

``queues.process_batch`` deleted each finished record inside its loop without a guard:
a delete that failed (a receipt handle expired because the job outlasted its visibility
timeout, an SQS error) raised out of the batch, and the records after it were not
processed that time (their receive counts still went up, towards the dead-letter queue).
"""

from __future__ import annotations

import pytest

from chalicelib.queues import QueueMessage, RetryLater, process_batch


def test_a_failed_delete_does_not_stop_the_rest_of_the_batch() -> None:
    batch = [QueueMessage(f"m{i}", f"r{i}", "{}") for i in range(3)]
    processed: list[str] = []

    def process(message: QueueMessage) -> bool:
        processed.append(message.message_id)
        return message.message_id != "m2"  # m2 must be retried

    def delete(message: QueueMessage) -> None:
        if message.message_id == "m0":
            raise ConnectionError("ReceiptHandleIsInvalid")

    with pytest.raises(RetryLater, match="1 of 3"):  # m2 only: m0 is done (a redelivery
        process_batch(batch, process, delete)  # finds its result and is deleted then)
    assert processed == ["m0", "m1", "m2"]


def test_a_failed_delete_alone_does_not_fail_the_batch() -> None:
    # Lambda deletes a batch whose handler returned: the record goes with it
    batch = [QueueMessage(f"m{i}", f"r{i}", "{}") for i in range(2)]

    def delete(message: QueueMessage) -> None:
        raise ConnectionError("SQS unavailable")

    assert process_batch(batch, lambda message: True, delete) == batch
