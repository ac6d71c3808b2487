"""A plate job's platemap is checked when the job is submitted, not after every well has run.

Before, only its existence was: a platemap the merge could not read (no well column, not
UTF-8, a well twice) failed the merge at the very end, after the whole plate had run on
Batch, with a traceback instead of a reason on the job.
"""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.painting import plate, profiles
from tests.functional.test_painting import records, send
from tests.functional.test_painting_plate import (  # noqa: F401
    NAMES,
    PREFIX,
    FakeBatch,
    batch,
    finish_groups,
    key_of,
    plate_job,
)


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"Plate,Treatment\nSYN0001,DMSO\n", "no well column"),
        (b"Metadata_Well,Treatment\nA01,DMSO\nA01,drug\n", "more than once: A01"),
        (b"Well,Treatment\nA01,\xff\xfe\n", "not UTF-8"),
        (b"Well,Treatment\nnot-a-well,DMSO\n", "not a well name"),
        (b"", "no well column"),
    ],
)
def test_a_platemap_the_merge_could_not_use_rejects_the_job_before_batch(
    client: Client,
    batch: FakeBatch,  # noqa: F811
    plate_job: dict[str, Any],  # noqa: F811
    s3: Any,
    settings: Settings,
    body: bytes,
    reason: str,
) -> None:
    s3.put_object(Bucket=settings.data_bucket, Key=PREFIX + "platemap.csv", Body=body)
    send(client, plate_job)
    assert batch.submitted == []
    [status] = records(s3, settings)
    assert status["state"] == "rejected" and reason in status["reason"], status["reason"]


USABLE = [
    b"Metadata_Well\nA01\n",
    b"\xef\xbb\xbfWell,Treatment\nA01,DMSO\nB02,drug\n",  # Excel's "CSV UTF-8" (a BOM)
    b"well_position,pert_type\nA1,control\nP24,trt\n",
]


@pytest.mark.parametrize("body", USABLE)
def test_a_usable_platemap_passes(body: bytes) -> None:
    assert plate.platemap_problems(body) == []


@pytest.mark.parametrize("body", USABLE)
def test_a_usable_platemap_reads_as_the_merge_reads_it(body: bytes, tmp_path) -> None:
    pytest.importorskip("pandas")  # (the Batch image's; not in the zip Lambda's venv)
    path = tmp_path / "platemap.csv"
    path.write_bytes(body)
    assert "Metadata_Well" in profiles.read_platemap(path).columns


def test_two_retries_at_once_submit_the_failed_groups_once(
    client: Client,
    batch: FakeBatch,  # noqa: F811
    plate_job: dict[str, Any],  # noqa: F811
    s3: Any,
    settings: Settings,
) -> None:
    # A double click on "retry" in the console: the second request reads the record before
    # the first has written it. Before, both submitted the failed groups (two Batch array
    # jobs writing the same outputs) and only then did the second get its 409.
    from chalicelib.errors import Conflict
    from chalicelib.painting.handlers import default_service

    job_id = _failed_plate(client, batch, plate_job, s3, settings, NAMES[2])
    before = len(batch.submitted)
    second: list[Any] = []
    submit = batch.submit_job

    def submit_and_retry_meanwhile(**request: Any) -> dict[str, Any]:
        if not second:  # while the first retry submits, the second arrives
            second.append("arriving")
            try:
                second[0] = default_service().retry(job_id)
            except Conflict as error:
                second[0] = error
        return submit(**request)

    batch.submit_job = submit_and_retry_meanwhile  # type: ignore[method-assign]
    first = default_service().retry(job_id)
    assert first["retried"] == [NAMES[2]]
    assert isinstance(second[0], Conflict), second
    assert len(batch.submitted) - before == 2  # one run and one merge, not two of each


@pytest.mark.parametrize("age, retried", [(5.0, False), (500.0, True)])
def test_a_retry_claim_blocks_only_while_fresh(
    client: Client,
    batch: FakeBatch,  # noqa: F811
    plate_job: dict[str, Any],  # noqa: F811
    s3: Any,
    settings: Settings,
    age: float,
    retried: bool,
) -> None:
    import time

    from chalicelib.errors import Conflict
    from chalicelib.painting import layout
    from chalicelib.painting.handlers import default_service
    from chalicelib.storage import Bucket

    job_id = _failed_plate(client, batch, plate_job, s3, settings, NAMES[1])
    store = Bucket(s3, settings.data_bucket)
    record = store.read_json(layout.status_key(job_id)) or {}
    store.write_json(layout.status_key(job_id), {**record, "retry_claimed_at": time.time() - age})
    if retried:  # a retry that died after its claim: taken over
        assert default_service().retry(job_id)["retried"] == [NAMES[1]]
        assert "retry_claimed_at" not in (store.read_json(layout.status_key(job_id)) or {})
    else:
        with pytest.raises(Conflict, match="being retried"):
            default_service().retry(job_id)


def _failed_plate(
    client: Client,
    batch: FakeBatch,  # noqa: F811
    plate_job: dict[str, Any],  # noqa: F811
    s3: Any,
    settings: Settings,
    failed: str,
) -> str:
    """The plate job sent, its Batch run failed and the group ``failed`` left failed: its id."""
    send(client, plate_job)
    job_id = key_of(settings, plate_job)
    batch.statuses[batch.submitted[0]["jobId"]] = "FAILED"
    finish_groups(s3, settings, job_id, failed={failed})
    return str(job_id)
