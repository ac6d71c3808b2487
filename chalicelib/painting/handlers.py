"""The Cell Painting steps on the zip-Lambda side: accept job messages, submit, report.

``on_painting_messages`` is the ``@app.on_sqs_message`` handler: every job of
every message is validated and either submitted to AWS Batch (once: the job key
is claimed with a conditional write before submitting) or recorded as rejected
with its reason. Transient AWS errors delete the messages that were fully
handled and raise, so only the others come back, and after ``max_receive_count``
receives they land in the dead-letter queue. ``get_job`` answers
``GET /painting/jobs/{id}``; ``retry_job`` answers ``POST /painting/jobs/{id}/retry``.
A plate job (``group_by``, ``load_data``, ``metadata_regex``, ``platemap``) is
planned, submitted and reported by group through ``plate_jobs.PlateJobs``.
"""

from __future__ import annotations

import calendar
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from chalicelib import aws, observability
from chalicelib.config import Settings, get_settings
from chalicelib.errors import Conflict, InvalidInput, NotFound, TransientError
from chalicelib.painting import groups, layout, pipeline, plate_jobs
from chalicelib.painting.messages import (
    InvalidJob,
    PaintingJob,
    allow_list_problems,
    invalid_job_id,
    parse_body,
    prefix_problems,
    resource_problems,
)
from chalicelib.painting.records import (
    ACTIVE,
    FAILED,
    REJECTED,
    SUBMITTED,
    SUBMITTING,
    JobRecord,
    decide,
)
from chalicelib.painting.submission import SubmitPlan, plan_shards
from chalicelib.queues import Deleter, QueueMessage, process_batch
from chalicelib.storage import Bucket, Record, is_folder_marker, now_iso

log = logging.getLogger(__name__)
MAX_PIPELINE_BYTES = 5 * 1024 * 1024
CLAIM_STALE_SECONDS = 900.0  # a claim this old without a submission is taken over
RETRY_CLAIM_SECONDS = 120.0  # a retry submits within seconds; a claim this old was abandoned
RETRY_CLAIM_FIELDS = ("retry_claim", "retry_claimed_at")
MAX_REASON_CHARS = 1000  # as the queue workers' (a rejection's record, log line and reply)


@dataclass(frozen=True)
class Checked:
    """A job after validation against S3: problems, or how to shard it."""

    problems: tuple[str, ...]
    shards: int = 1
    image_sets: int | None = None
    plate: Any = None  # plate.Plate, for a plate job
    output_etag: str = ""  # of <output>_status.json as checked ("" when there was none)


class PaintingService:
    def __init__(
        self,
        settings: Settings,
        s3: Any,
        batch: Any,
        sqs: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._batch = batch
        self._sqs = sqs
        self._clock = clock
        self.store = Bucket(s3, settings.data_bucket)
        self.plates = plate_jobs.PlateJobs(self.store, batch, self._call, self._find, clock)

    # -- the SQS handler ------------------------------------------------------------------
    def handle(self, messages: list[QueueMessage]) -> dict[str, list[str]]:
        """Accept every message; message id -> the outcome of each of its jobs."""
        outcomes: dict[str, list[str]] = {}

        def accept(message: QueueMessage) -> bool:
            outcomes[message.message_id] = self.accept_message(message)
            return True

        process_batch(messages, accept, self._delete, "painting message")
        return outcomes

    def accept_message(self, message: QueueMessage) -> list[str]:
        outcomes = []
        for index, job in enumerate(parse_body(message.body)):
            if isinstance(job, InvalidJob):
                outcomes.append(self.reject_unparsed(message.message_id, job))
            else:
                outcomes.append(self.accept_job(job, message.message_id, index))
        log.info("painting message %s: %s", message.message_id, ", ".join(outcomes))
        return outcomes

    def _delete(self, message: QueueMessage) -> None:
        if self._sqs is not None:
            Deleter(self._sqs, self._settings.painting_queue)(message)

    # -- one job --------------------------------------------------------------------------
    def accept_job(self, job: PaintingJob, message_id: str, index: int) -> str:
        """``submitted``, ``resubmitted``, ``duplicate``, ``done`` or ``rejected``."""
        job_id = job.key(self._settings.data_bucket)
        found = self.store.read_record(layout.status_key(job_id))
        record = JobRecord.from_dict(found.document) if found else None
        etag = found.etag if found else ""
        action = decide(
            record, message_id, self._clock(), CLAIM_STALE_SECONDS, self._batch_failed(record)
        )
        if action == "resubmit" and record and record.message_id == message_id:
            action = "done"  # a redelivery of the message that already ran this job
        if action == "busy":
            raise TransientError(f"job {job_id} is being submitted by another message")
        if action in ("duplicate", "done"):
            log.info("job %s (%s): %s, not submitted again", job_id, job.output, action)
            return action
        checked = self.check(job, job_id)
        base = JobRecord(
            job_id=job_id,
            state=SUBMITTING,
            job=job.to_dict(),
            bucket=self._settings.data_bucket,
            message_id=message_id,
            message_index=index,
            output=self.store.url(job.output),
        )
        if checked.problems:
            return self._reject(base, "; ".join(checked.problems), job.output, etag, record)
        attempt = (record.attempt if record else 0) + (0 if action == "submit" else 1)
        claim = base.with_(attempt=attempt, claimed_at_epoch=self._clock(), updated_at=now_iso())
        self._write_conditionally(layout.status_key(job_id), claim, etag, record is None)
        in_use = self._claim_output(job.output, claim, checked.output_etag)
        if in_use:  # another job took the output since the check
            return self._reject(base, in_use, job.output, "", None, overwrite=True)
        if checked.plate is not None:
            return self._submit_plate(job, job_id, checked, claim, record, action, base)
        plan = self._plan(job, job_id, checked, attempt)
        try:
            batch = self._submit(plan, adopt=action == "submit")
        except InvalidInput as error:
            return self._reject(base, str(error), job.output, "", None, overwrite=True)
        submitted = claim.with_(
            state=SUBMITTED,
            batch=batch,
            shards=plan.shards,
            image_sets=plan.image_sets,
            submitted_at=now_iso(),
        )
        self._record(submitted, job.output)
        log.info("job %s submitted as %s (%d shard(s))", job_id, batch["job_id"], plan.shards)
        return "resubmitted" if attempt > 1 else "submitted"

    def _submit_plate(
        self,
        job: PaintingJob,
        job_id: str,
        checked: Checked,
        claim: JobRecord,
        record: JobRecord | None,
        action: str,
        base: JobRecord,
    ) -> str:
        """Every group not yet succeeded (all, the first time) and the merge."""
        previous = (record.extra.get("plate") if record else None) or None
        found = self.plates.write_plan(job, checked.plate)
        indices = list(range(len(found["groups"])))
        if previous:  # a resend: the groups that succeeded stay done (check-if-done)
            states = self.plates.states(job.output, previous)
            done = {name for name, state in states.items() if state.state == "succeeded"}
            indices = [i for i, g in enumerate(found["groups"]) if g["name"] not in done]
        try:
            part = self.plates.submit(
                job, job_id, found, indices, previous, self._settings, adopt=action == "submit"
            )
        except InvalidInput as error:
            return self._reject(base, str(error), job.output, "", None, overwrite=True)
        submitted = claim.with_(
            state=SUBMITTED, batch=part.pop("batch"), plate=part, submitted_at=now_iso(),
            reason=None,
        )  # fmt: skip
        self._record(submitted, job.output)
        return "resubmitted" if claim.attempt > 1 else "submitted"

    def retry(self, job_id: str) -> dict[str, Any]:
        """Submit the failed and dead groups of a plate job again (and its merge)."""
        found = self.store.read_record(layout.status_key(self._job_id(job_id)))
        if found is None:
            raise NotFound(f"no painting job {job_id}")
        record = JobRecord.from_dict(found.document)
        previous = record.extra.get("plate")
        if not previous or not isinstance(record.job, Mapping):
            raise InvalidInput(
                f"job {job_id} is not a plate job (no group_by): resend its message instead"
            )
        job = PaintingJob(**_job_fields(record.job))
        states = self.plates.states(job.output, previous)
        indices = self.plates.retry_indices(previous, states)
        if not indices and not self._merge_failed(record):
            counts = ", ".join(f"{k} {v}" for k, v in groups.totals(states).items() if v)
            raise InvalidInput(
                f"nothing to retry: no group of {job_id} failed or died ({counts}) "
                "and its merge did not fail"
            )
        plan = self.plates.read_plan(job)
        if plan is None:
            raise NotFound(f"the plan of {job_id} is gone: resend its message")
        found = self._claim_retry(record, found.etag, job_id)  # before anything is submitted
        part = self.plates.submit(job, job_id, plan, indices, previous, self._settings, False)
        retried = [plan["groups"][i]["name"] for i in indices]
        unclaimed = replace(record, extra={k: v for k, v in record.extra.items()
                                           if k not in RETRY_CLAIM_FIELDS})  # fmt: skip
        updated = unclaimed.with_(
            state=SUBMITTED, batch=part.pop("batch"), plate=part, attempt=record.attempt + 1,
            reason=None, updated_at=now_iso(), submitted_at=now_iso(),
        )  # fmt: skip
        try:
            self.store.write_json(
                layout.status_key(record.job_id), updated.to_dict(), if_match=found.etag
            )
        except Conflict as exc:
            raise Conflict(f"job {job_id} changed while retrying: look again") from exc
        self.store.write_json(job.output + layout.OUTPUT_STATUS, updated.to_dict())
        log.info("plate job %s: retried %d group(s): %s", job_id, len(retried), retried)
        return {
            "job_id": record.job_id,
            "retried": retried,
            "merge_only": not retried,  # every group had succeeded: the merge had failed
            "batch": updated.batch,
        }

    def _merge_failed(self, record: JobRecord) -> bool:
        """Did the plate's merge fail, every group having succeeded? The merge records its own
        failures (``failed``: a platemap changed, a group's table gone); Batch's (out of
        memory, its attempts spent) show on the merge job. Either way only the merge reruns."""
        if record.state == FAILED:
            return True
        merge_id = (record.batch or {}).get("merge_job_id")
        return bool(merge_id) and any(
            job.get("jobId") == merge_id and job.get("status") == "FAILED"
            for job in self._describe(record)
        )

    def _claim_retry(self, record: JobRecord, etag: str, job_id: str) -> Record:
        """Mark the record as being retried, conditionally: of two retries at once (a double
        click) only one submits; the other is a ``Conflict`` before it submits anything,
        whether it read the record before the claim (the write's ``If-Match`` fails) or
        after (the claim is fresh). The retry's final record drops the claim."""
        key = layout.status_key(record.job_id)
        held = record.extra.get("retry_claimed_at")
        if isinstance(held, int | float) and self._clock() - held < RETRY_CLAIM_SECONDS:
            raise Conflict(f"job {job_id} is being retried: look again in a minute")
        claim = record.with_(
            retry_claim=uuid.uuid4().hex, retry_claimed_at=self._clock(), updated_at=now_iso()
        )
        try:
            self.store.write_json(key, claim.to_dict(), if_match=etag)
        except Conflict as exc:
            raise Conflict(f"job {job_id} is being retried or changed: look again") from exc
        claimed = self.store.read_record(key)
        if claimed is None:
            raise NotFound(f"no painting job {job_id}")
        return claimed

    @staticmethod
    def _job_id(job_id: str) -> str:
        if not job_id or "/" in job_id:
            raise InvalidInput("give a painting job id, e.g. cp-0123456789abcdef")
        return job_id

    def reject_unparsed(self, message_id: str, invalid: InvalidJob) -> str:
        record = JobRecord(
            job_id=invalid_job_id(message_id, invalid.index),
            state=REJECTED,
            message_id=message_id,
            message_index=invalid.index,
            job=invalid.raw,
        )
        output = invalid.output
        other = self.store.read_json(output + layout.OUTPUT_STATUS) if output else None
        mirror = output if output and not (other and other.get("state") in ACTIVE) else None
        return self._reject(record, invalid.reason, mirror, "", None, overwrite=True)

    def _reject(
        self,
        base: JobRecord,
        reason: str,
        output: str | None,
        etag: str,
        record: JobRecord | None,
        overwrite: bool = False,
    ) -> str:
        if len(reason) > MAX_REASON_CHARS:  # reasons quote the message: bound logs and records
            reason = reason[:MAX_REASON_CHARS] + "…"
        log.warning("painting job %s rejected: %s", base.job_id, reason)
        observability.metric("Failures", 1, "painting:rejected")
        rejected = base.with_(state=REJECTED, reason=reason, updated_at=now_iso())
        key = layout.status_key(base.job_id)
        if overwrite:
            self.store.write_json(key, rejected.to_dict())
        else:
            self._write_conditionally(key, rejected, etag, record is None)
        if output and not reason.startswith(OUTPUT_IN_USE):
            self.store.write_json(output + layout.OUTPUT_STATUS, rejected.to_dict())
        return "rejected"

    def _write_conditionally(self, key: str, record: JobRecord, etag: str, create: bool) -> None:
        try:
            self.store.write_json(
                key, record.to_dict(), create_only=create, if_match="" if create else etag
            )
        except Conflict as exc:
            raise TransientError(f"{key} changed while this message was handled") from exc

    def _record(self, record: JobRecord, output: str) -> None:
        self.store.write_json(layout.status_key(record.job_id), record.to_dict())
        self.store.write_json(output + layout.OUTPUT_STATUS, record.to_dict())

    # -- validation -----------------------------------------------------------------------
    def check(self, job: PaintingJob, job_id: str) -> Checked:
        """Everything that can be known before submitting, as human-readable problems."""
        settings = self._settings
        problems = resource_problems(job) + prefix_problems(job)
        problems += allow_list_problems(
            job, settings.allowed_job_queues, settings.allowed_job_definitions
        )
        info, pipeline_problems = self._read_pipeline(job.pipeline)
        problems += pipeline_problems
        names = [
            obj["Key"][len(job.input) :]
            for obj in self.store.list(job.input)
            if not is_folder_marker(obj["Key"])
        ]
        if not any(pipeline.is_image(name) for name in names):
            where = self.store.url(job.input)
            problems.append(f"the input prefix {where} has no images ({len(names)} other files)")
        output_problems, output_etag = self._output_problems(job, job_id)
        problems += output_problems
        if job.is_plate:
            found, plate_problems = self.plates.plan(job, info, [job.input + n for n in names])
            problems += plate_problems
            return Checked(tuple(problems), 1, found.sites if found else None, found, output_etag)
        estimate = pipeline.estimate_image_sets(info, names) if info else None
        shards, image_sets, shard_problem = plan_shards(job, estimate)
        if shard_problem:
            problems.append(shard_problem)
        return Checked(tuple(problems), shards, image_sets, output_etag=output_etag)

    def _read_pipeline(self, key: str) -> tuple[pipeline.PipelineInfo | None, list[str]]:
        head = self.store.head(key)
        if head is None:
            return None, [f"the pipeline {self.store.url(key)} does not exist"]
        if int(head.get("ContentLength", 0)) > MAX_PIPELINE_BYTES:
            return None, [f"the pipeline {self.store.url(key)} is over 5 MiB: not a .cppipe?"]
        info = pipeline.inspect_pipeline(self.store.read_text(key))
        return info, [f"{key}: {problem}" for problem in pipeline.pipeline_problems(info)]

    def _output_problems(self, job: PaintingJob, job_id: str) -> tuple[list[str], str]:
        """Whether another job is running in the output; the output status's ETag."""
        found = self.store.read_record(job.output + layout.OUTPUT_STATUS)
        problem = self._in_use(found.document if found else None, job_id)
        return ([problem] if problem else []), (found.etag if found else "")

    def _in_use(self, other: Mapping[str, Any] | None, job_id: str) -> str | None:
        if not other or other.get("job_id") == job_id or other.get("state") not in ACTIVE:
            return None
        claimed = float(other.get("claimed_at_epoch") or 0)
        if other.get("state") == SUBMITTING and self._clock() - claimed > CLAIM_STALE_SECONDS:
            return None  # its handler died before submitting (its message will take it over)
        return f"{OUTPUT_IN_USE} {other.get('job_id')} ({other.get('state')})"

    def _claim_output(self, output: str, claim: JobRecord, etag: str) -> str | None:
        """Write the claim to ``<output>_status.json`` unless it changed since the check
        (a conditional write); why not, when another job now runs there."""
        key = output + layout.OUTPUT_STATUS
        try:
            self.store.write_json(key, claim.to_dict(), create_only=not etag, if_match=etag)
            return None
        except Conflict:
            problem = self._in_use(self.store.read_json(key), claim.job_id)
            if problem:
                return problem
            raise TransientError(f"{key} changed while this message was handled") from None

    # -- AWS Batch ------------------------------------------------------------------------
    def _plan(self, job: PaintingJob, job_id: str, checked: Checked, attempt: int) -> SubmitPlan:
        settings = self._settings
        return SubmitPlan(
            job_id=job_id,
            bucket=settings.data_bucket,
            job=job,
            job_queue=job.job_queue or settings.batch_job_queue,
            job_definition=job.job_definition or settings.batch_job_definition,
            shards=checked.shards,
            image_sets=checked.image_sets,
            attempt=max(1, attempt),
            attempts=settings.painting_job_attempts,
        )

    def _submit(self, plan: SubmitPlan, adopt: bool) -> dict[str, Any]:
        """Submit the CellProfiler job (and its merge job when sharded); their ids."""
        request = plan.run_request()
        run_id = (self._find(plan.job_queue, request["jobName"]) if adopt else None) or self._call(
            request
        )
        batch: dict[str, Any] = {"job_id": run_id, "job_name": request["jobName"]}
        observability.metric("PaintingGroups", plan.shards)
        if plan.shards > 1:
            merge = plan.merge_request(run_id)
            merge_id = (self._find(plan.job_queue, merge["jobName"]) if adopt else None) or (
                self._call(merge)
            )
            batch["merge_job_id"] = merge_id
        return batch

    def _call(self, request: dict[str, Any]) -> str:
        try:
            return str(self._batch.submit_job(**request)["jobId"])
        except self._batch.exceptions.ClientException as exc:
            raise InvalidInput(f"AWS Batch refused the job: {exc}") from exc

    def _find(self, queue: str, name: str) -> str | None:
        """A job already submitted under ``name`` (an earlier attempt of this message)."""
        found = self._batch.list_jobs(
            jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [name]}]
        )
        jobs = [j for j in found.get("jobSummaryList", []) if j.get("jobName") == name]
        return str(jobs[0]["jobId"]) if jobs else None

    def _batch_failed(self, record: JobRecord | None) -> bool:
        """Did Batch fail the job without the runner recording it (e.g. out of memory)?"""
        if not record or record.state != SUBMITTED:
            return False
        return any(job.get("status") == "FAILED" for job in self._describe(record))

    def _describe(self, record: JobRecord) -> list[dict[str, Any]]:
        batch = record.batch or {}
        ids = [batch[k] for k in ("job_id", "merge_job_id") if batch.get(k)]
        if not ids:
            return []
        return list(self._batch.describe_jobs(jobs=ids).get("jobs", []))

    # -- status ---------------------------------------------------------------------------
    def job_status(self, job_id: str) -> dict[str, Any]:
        """The job's record, with Batch's view and the outputs so far."""
        document = self.store.read_json(layout.status_key(self._job_id(job_id)))
        if document is None:
            raise NotFound(f"no painting job {job_id}")
        record = JobRecord.from_dict(document)
        status = {k: v for k, v in record.to_dict().items() if k != "claimed_at_epoch"}
        if record.batch:
            status.update(self._progress(record))
        job = record.job if isinstance(record.job, Mapping) else {}
        if isinstance(record.extra.get("plate"), Mapping) and isinstance(job.get("output"), str):
            status.update(self._plate_progress(record, job["output"], status))
        output = job.get("output") if record.state != REJECTED else None
        if isinstance(output, str):
            status["results"] = self._results(output)
        return status

    def _progress(self, record: JobRecord) -> dict[str, Any]:
        described = {job["jobId"]: job for job in self._describe(record)}
        batch = dict(record.batch or {})
        run = described.get(batch.get("job_id", ""), {})
        batch["status"] = run.get("status")
        if run.get("arrayProperties"):
            batch["array"] = run["arrayProperties"].get("statusSummary", {})
        merge = described.get(batch.get("merge_job_id", ""), {})
        if merge:
            batch["merge_status"] = merge.get("status")
        failed = [job for job in described.values() if job.get("status") == "FAILED"]
        progress: dict[str, Any] = {"batch": batch}
        if record.state != SUBMITTED:
            return progress  # the runner recorded the outcome
        if failed:
            progress.update(
                state="failed", reason=failed[0].get("statusReason", "AWS Batch failed")
            )
        else:
            progress["state"] = "running" if run.get("status") == "RUNNING" else "submitted"
        return progress

    def _plate_progress(
        self, record: JobRecord, output: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Groups, totals, estimated finish, plate maps; a plate that cannot finish is failed."""
        part = record.extra["plate"]
        started = _epoch(record.submitted_at) or self._clock()
        report = self.plates.report(output, part, started)
        states = report.pop("_states")
        if record.state == SUBMITTED:
            failure = plate_jobs.plate_failure(states)
            merge = (status.get("batch") or {}).get("merge_status")
            if failure:
                report.update(state="failed", reason=failure)
            elif report["totals"]["succeeded"] == report["totals"]["total"] and merge != "FAILED":
                report.update(state="running", reason=None)  # the merge is under way
        return report

    def _results(self, output: str) -> dict[str, Any]:
        keys = [o["Key"] for o in self.store.list(output)]
        shard_manifests = [
            k
            for k in keys
            if k.startswith(output + layout.SHARDS_DIR) and k.endswith(layout.MANIFEST)
        ]
        files = [
            self.store.url(k)
            for k in keys
            if not k[len(output) :].startswith((layout.SHARDS_DIR, layout.LOGS_DIR))
            and k[len(output) :] not in (layout.OUTPUT_STATUS, layout.MANIFEST)
        ]
        return {
            "output": self.store.url(output),
            "manifest": self.store.url(output + layout.MANIFEST)
            if output + layout.MANIFEST in keys
            else None,
            "files": files,
            "shards_finished": len(shard_manifests),
        }


OUTPUT_IN_USE = "the output prefix is in use by job"


def default_service() -> PaintingService:
    return PaintingService(get_settings(), aws.client("s3"), aws.client("batch"), aws.client("sqs"))


def on_painting_messages(records: Any) -> dict[str, list[str]]:
    """The ``@app.on_sqs_message`` handler's body: parse at the edge, then accept."""
    return default_service().handle(QueueMessage.from_records(records))


def get_job(job_id: str) -> dict[str, Any]:
    """``GET /painting/jobs/{id}``."""
    return default_service().job_status(job_id)


def retry_job(job_id: str) -> dict[str, Any]:
    """``POST /painting/jobs/{id}/retry``: only the failed and dead groups run again."""
    return default_service().retry(job_id)


def _job_fields(job: Mapping[str, Any]) -> dict[str, Any]:
    """A stored ``PaintingJob.to_dict()`` back as constructor arguments."""
    fields = {k: v for k, v in job.items() if k in PaintingJob.__dataclass_fields__}
    if isinstance(fields.get("group_by"), list):
        fields["group_by"] = tuple(fields["group_by"])
    return fields


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
