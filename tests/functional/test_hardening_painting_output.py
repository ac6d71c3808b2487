"""Two painting jobs for one output prefix: only one runs (qa5).

The handler refuses a job whose output prefix another job is running in; it read
``<output>_status.json``, which was written only after Batch's ``SubmitJob``. A second job
for the same output handled while the first was being submitted (another handler
invocation: the painting queue's batches run concurrently) found nothing there and was
submitted too: two Batch jobs writing into one output. Now the output is claimed
(a conditional write) before anything is submitted.
"""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.painting.handlers import OUTPUT_IN_USE, default_service
from chalicelib.queues import QueueMessage
from tests.functional.test_painting import (  # noqa: F401
    FakeBatch,
    batch,
    dataset,
    records,
    send,
)


def _other_job(s3: Any, settings: Settings, job: dict[str, str]) -> dict[str, str]:
    """Another job (another pipeline object) writing into the same output."""
    body = s3.get_object(Bucket=settings.data_bucket, Key=job["pipeline"])["Body"].read()
    other = job["pipeline"].replace("analysis", "analysis-v2")
    s3.put_object(Bucket=settings.data_bucket, Key=other, Body=body)
    return {**job, "pipeline": other}


def test_a_second_job_for_a_used_output_is_refused(
    client: Client,
    batch: FakeBatch,  # noqa: F811
    dataset: dict[str, str],  # noqa: F811
    s3: Any,
    settings: Settings,
) -> None:
    send(client, dataset)
    send(client, _other_job(s3, settings, dataset))
    assert len(batch.submitted) == 1
    states = sorted((r["state"], r.get("reason") or "") for r in records(s3, settings))
    assert states[0][0] == "rejected" and OUTPUT_IN_USE in states[0][1]
    assert states[1][0] == "submitted"


def test_a_second_job_for_the_output_during_the_first_submission_is_refused(
    client: Client,
    batch: FakeBatch,  # noqa: F811
    dataset: dict[str, str],  # noqa: F811
    s3: Any,
    settings: Settings,
) -> None:
    other = _other_job(s3, settings, dataset)
    meanwhile: list[Any] = []
    submit = batch.submit_job

    def submit_while_another_handler_takes_the_other_job(**request: Any) -> dict[str, Any]:
        if not meanwhile:  # another invocation handles the other job now
            meanwhile.append("handling")
            message = QueueMessage("m-2", "r-2", _json(other))
            meanwhile[0] = default_service().accept_message(message)
        return submit(**request)

    batch.submit_job = submit_while_another_handler_takes_the_other_job  # type: ignore[method-assign]
    send(client, dataset)
    assert meanwhile == [["rejected"]]
    assert len(batch.submitted) == 1
    states = sorted(r["state"] for r in records(s3, settings))
    assert states == ["rejected", "submitted"]


def _json(body: dict[str, str]) -> str:
    import json

    return json.dumps(body)


def test_an_output_claim_left_by_a_dead_handler_does_not_block_it_forever(
    client: Client,
    batch: FakeBatch,  # noqa: F811
    dataset: dict[str, str],  # noqa: F811
    s3: Any,
    settings: Settings,
) -> None:
    import time

    from chalicelib.painting import layout
    from chalicelib.storage import Bucket

    store = Bucket(s3, settings.data_bucket)
    claim = {"job_id": "cp-dead", "state": "submitting", "claimed_at_epoch": time.time() - 1000}
    store.write_json(dataset["output"] + layout.OUTPUT_STATUS, claim)
    send(client, dataset)
    assert len(batch.submitted) == 1
    fresh = {**claim, "claimed_at_epoch": time.time()}
    store.write_json(dataset["output"] + layout.OUTPUT_STATUS, fresh)
    send(client, _other_job(s3, settings, dataset))
    assert len(batch.submitted) == 1  # a fresh claim of another job still holds the output
