"""The painting job's status record: written by the zip handler and the Batch runner.

``painting/jobs/<job_id>.json`` in the data bucket (and a copy at
``<output>_status.json``). Both processes read and write it through
``JobRecord``, so the fields and the states are defined once, here.

States, in order: ``submitting`` (claimed by a handler) -> ``submitted`` (in
AWS Batch) -> ``running`` (as reported) -> ``succeeded`` or ``failed``; a job
that can never run is ``rejected``. Python 3.8-compatible (the Batch container
imports it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

SUBMITTING = "submitting"
SUBMITTED = "submitted"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
REJECTED = "rejected"
STATES = (SUBMITTING, SUBMITTED, RUNNING, SUCCEEDED, FAILED, REJECTED)
ACTIVE = (SUBMITTING, SUBMITTED)


@dataclass(frozen=True)
class JobRecord:
    """One painting job's status, as stored (``to_dict``) and read (``from_dict``)."""

    job_id: str
    state: str
    reason: str | None = None
    job: Any = None  # the job as parsed (or as sent, when it could not be)
    bucket: str | None = None
    output: str | None = None  # s3:// URL of the output prefix
    message_id: str | None = None
    message_index: int | None = None
    attempt: int = 0
    claimed_at_epoch: float | None = None
    updated_at: str | None = None
    submitted_at: str | None = None
    batch: Mapping[str, Any] | None = None
    shards: int | None = None
    image_sets: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # the runner's figures

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown painting job state {self.state!r}")

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> JobRecord:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        values = {k: v for k, v in document.items() if k in known}
        extra = {k: v for k, v in document.items() if k not in known}
        return cls(**values, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        document = {k: v for k, v in asdict(self).items() if k != "extra"}
        document.update(self.extra)
        return {k: v for k, v in document.items() if v is not None}

    def with_(self, **changes: Any) -> JobRecord:
        known = {k: v for k, v in changes.items() if k in self.__dataclass_fields__}
        extra = {k: v for k, v in changes.items() if k not in self.__dataclass_fields__}
        return replace(self, **known, extra={**self.extra, **extra})

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


def decide(
    record: JobRecord | None,
    message_id: str,
    now: float,
    stale_after: float,
    batch_failed: bool,
) -> str:
    """What a handler does with a job given its status record.

    ``claim`` (new), ``submit`` (our own earlier claim, or a stale one), ``busy``
    (another message is submitting it right now: retry later), ``duplicate``
    (already submitted and alive), ``done`` (already succeeded: DCP's
    check-if-done) or ``resubmit`` (failed or rejected before: run again; shards
    already done are skipped by the runner).

    >>> decide(None, "m1", 0, 900, False)
    'claim'
    >>> decide(JobRecord("cp-1", SUBMITTED), "m2", 0, 900, False)
    'duplicate'
    >>> claimed = JobRecord("cp-1", SUBMITTING, message_id="m1", claimed_at_epoch=0)
    >>> decide(claimed, "m2", 10, 900, False)
    'busy'
    """
    if record is None:
        return "claim"
    state = record.state
    if state == SUBMITTING:
        mine = record.message_id == message_id
        stale = now - float(record.claimed_at_epoch or 0) > stale_after
        return "submit" if mine or stale else "busy"
    if state in (SUBMITTED, RUNNING):
        return "resubmit" if batch_failed else "duplicate"
    if state == SUCCEEDED:
        return "done"
    return "resubmit"
