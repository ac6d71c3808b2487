"""What crosses a boundary in the Cell Painting pipeline, and the pure rules on it.

An SQS message body is one job or a list of jobs, in the seed's exact form::

    {"pipeline": "examples/ExampleVitraImages/ExampleVitra.cppipe",
     "input": "examples/ExampleVitraImages/images/",
     "output": "examples/ExampleVitraImages/output0/",
     "job_memory": "8192", "job_vcpu": "12",              # optional, strings or numbers
     "job_definition": "...", "job_queue": "..."}        # optional, names or ARNs

and, beyond the seed, optional ``shards`` (a Batch array job of that many
CellProfiler ``-f/-l`` ranges), ``sets_per_shard`` (split by image-set count)
and ``image_sets`` (the count, when the pipeline's rules are too complex to
estimate it). Keys are in the data bucket.

A **plate job** adds any of ``group_by`` (metadata names, e.g.
``["Metadata_Plate", "Metadata_Well"]``: one Batch array child per group),
``load_data`` (a LoadData CSV's key), ``metadata_regex`` (file-name metadata
with Python named groups) and ``platemap`` (a platemap CSV's key, for per-well
profiles normalised to its negative controls); see ``plate.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from chalicelib import jsonsafe
from chalicelib.errors import InvalidInput
from chalicelib.painting import layout
from chalicelib.storage import S3_KEY_BYTES, key_bytes

REQUIRED = ("pipeline", "input", "output")
OPTIONAL = ("job_memory", "job_vcpu", "job_definition", "job_queue")
SHARDING = ("shards", "sets_per_shard", "image_sets")
PLATE = ("group_by", "load_data", "metadata_regex", "platemap")
MAX_GROUP_NAMES = 8
# AWS Batch limits on a container's resource requirements: at least 4 MiB of memory and
# one whole vCPU on EC2; Fargate also takes 0.25 and 0.5 vCPU. The upper bounds are the
# largest EC2 instance sizes (448 vCPUs, 24 TiB): above them a job can never be placed.
# The compute environment's own instance types may allow less; Batch reports that itself.
MIN_MEMORY_MIB = 4
MAX_MEMORY_MIB = 24 * 1024 * 1024
FRACTIONAL_VCPUS = (0.25, 0.5)
MAX_VCPUS = 448
# Jobs one message may carry: each is checked against S3 and submitted to Batch within
# the handler's 120 s timeout (2,200 jobs took 90 s locally); send more as more messages.
MAX_JOBS_PER_MESSAGE = 100


@dataclass(frozen=True)
class PaintingJob:
    """One CellProfiler job, normalised: prefixes end in ``/``, numbers are numbers."""

    pipeline: str
    input: str
    output: str
    memory_mib: int | None = None
    vcpus: float | None = None
    job_definition: str | None = None
    job_queue: str | None = None
    shards: int | None = None
    sets_per_shard: int | None = None
    image_sets: int | None = None
    group_by: tuple[str, ...] | None = None
    load_data: str | None = None
    metadata_regex: str | None = None
    platemap: str | None = None

    @property
    def is_plate(self) -> bool:
        """Split by metadata groups (any plate key given) rather than by ``-f/-l`` ranges."""
        return any(getattr(self, name) is not None for name in PLATE)

    def key(self, bucket: str) -> str:
        """The job id; a plate job's also depends on how it is grouped and read."""
        plate = {name: getattr(self, name) for name in PLATE if getattr(self, name) is not None}
        extra = json.dumps(plate, sort_keys=True) if plate else ""
        return layout.job_key(bucket, self.pipeline, self.input, self.output, extra)

    def to_dict(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class InvalidJob:
    """A job (or a whole message) that can never run, with the reason."""

    index: int
    reason: str
    raw: Any = None

    @property
    def output(self) -> str | None:
        """The output prefix, when the job named a usable one (for ``_status.json``)."""
        if isinstance(self.raw, Mapping) and isinstance(self.raw.get("output"), str):
            prefix = layout.normalise_prefix(self.raw["output"])
            return prefix if prefix and not _s3_text_problem("output", prefix) else None
        return None


def parse_body(body: str) -> list[PaintingJob | InvalidJob]:
    """Every job in a message body, each parsed or rejected with a reason.

    >>> jobs = parse_body('[{"pipeline": "p", "input": "i", "output": "o"}, 7]')
    >>> [type(job).__name__ for job in jobs]
    ['PaintingJob', 'InvalidJob']
    >>> parse_body("{oops")[0].reason.split(":")[0]
    'the message is not JSON'
    """
    try:
        document = jsonsafe.loads(body)
    except ValueError as exc:  # malformed, or nested too deep to be a job
        return [InvalidJob(0, f"the message is not JSON: {exc}", body[:1000])]
    if isinstance(document, Mapping):
        document = [document]
    if not isinstance(document, list):
        return [InvalidJob(0, "the message must be a job object or a list of jobs", document)]
    if not document:
        return [InvalidJob(0, "the message is an empty list of jobs", document)]
    if len(document) > MAX_JOBS_PER_MESSAGE:
        return [
            InvalidJob(
                0,
                f"the message holds {len(document)} jobs; the limit is {MAX_JOBS_PER_MESSAGE} "
                "per message (send the rest as more messages)",
                f"a list of {len(document)} jobs",
            )
        ]
    return [parse_job(index, raw) for index, raw in enumerate(document)]


def parse_job(index: int, raw: Any) -> PaintingJob | InvalidJob:
    if not isinstance(raw, Mapping):
        return InvalidJob(index, f"job {index} is not a JSON object", raw)
    problems = [
        f"{name} is required (a non-empty string)" for name in REQUIRED if not _text(raw.get(name))
    ]
    problems += [
        f"{name} must name a folder, not the bucket root"
        for name in ("input", "output")
        if _text(raw.get(name)) and not layout.normalise_prefix(str(raw[name]))
    ]
    problems += [
        problem
        for name in (*REQUIRED, *OPTIONAL, "load_data", "metadata_regex", "platemap")
        if isinstance(raw.get(name), str) and (problem := _s3_text_problem(name, raw[name]))
    ]
    unknown = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL) - set(SHARDING) - set(PLATE))
    if unknown:
        problems.append(f"unknown keys: {', '.join(unknown)}")
    try:
        job = PaintingJob(
            pipeline=str(raw.get("pipeline", "")).strip().lstrip("/"),
            input=layout.normalise_prefix(str(raw.get("input", ""))),
            output=layout.normalise_prefix(str(raw.get("output", ""))),
            memory_mib=_number(raw, "job_memory", int),
            vcpus=_number(raw, "job_vcpu", float),
            job_definition=_optional_text(raw, "job_definition"),
            job_queue=_optional_text(raw, "job_queue"),
            shards=_number(raw, "shards", int),
            sets_per_shard=_number(raw, "sets_per_shard", int),
            image_sets=_number(raw, "image_sets", int),
            group_by=_names(raw, "group_by"),
            load_data=_key(raw, "load_data"),
            metadata_regex=_optional_text(raw, "metadata_regex"),
            platemap=_key(raw, "platemap"),
        )
        if job.is_plate and (job.shards or job.sets_per_shard):
            problems.append("a plate job is split by group_by: leave out shards/sets_per_shard")
        if job.load_data and job.metadata_regex:
            problems.append("give load_data or metadata_regex, not both")
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        return InvalidJob(index, "; ".join(problems), raw)
    return job


# Fields that name S3 keys or prefixes (the others go to Batch as text).
KEY_FIELDS = ("pipeline", "input", "output", "load_data", "platemap")


def _s3_text_problem(name: str, value: str) -> str | None:
    """Why S3 or Batch could never take ``value`` as field ``name``, or None.

    A lone surrogate (JSON spells one ``"\\ud800"``) has no UTF-8 form and a key over
    S3's 1,024 bytes is S3's 400: either would be raised on every delivery, retrying the
    whole message (its good jobs too) into the dead-letter queue.

    >>> _s3_text_problem("input", "images/") is None
    True
    """
    try:
        size = key_bytes(value)
    except InvalidInput:
        return f"{name} is not valid Unicode text (it holds a lone surrogate)"
    if name in KEY_FIELDS and size > S3_KEY_BYTES:
        return f"{name} is longer than S3's {S3_KEY_BYTES:,}-byte keys"
    return None


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _optional_text(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value.strip()


def _names(raw: Mapping[str, Any], name: str) -> tuple[str, ...] | None:
    """Metadata names, as a list (``["Plate", "Well"]``) or comma-separated (``"Plate,Well"``)."""
    value = raw.get(name)
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
        raise ValueError(f'{name} must be a list of metadata names, e.g. ["Metadata_Well"]')
    if len(items) > MAX_GROUP_NAMES:
        raise ValueError(f"{name} takes at most {MAX_GROUP_NAMES} names")
    names = tuple(i.strip() for i in items)
    if any(not n.replace("_", "").isalnum() for n in names):
        raise ValueError(f"{name}: metadata names are letters, digits and _ ({', '.join(names)})")
    return names


def _key(raw: Mapping[str, Any], name: str) -> str | None:
    value = _optional_text(raw, name)
    return value.lstrip("/") if value else None


def _number(raw: Mapping[str, Any], name: str, kind: type) -> Any:
    """A number given as a number or a string (``"8192"``, ``8192``, ``"0.5"``); None if absent."""
    value = raw.get(name)
    if value is None or value == "":
        return None
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name} must be a number, got {shown}")
    try:
        number = float(value)
    except OverflowError:  # an int of hundreds of digits (JSON allows it)
        raise ValueError(f"{name} is far too large, got {shown}") from None
    except ValueError:
        raise ValueError(f"{name} must be a number, got {shown}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {shown}")
    if kind is int and number != int(number):
        raise ValueError(f"{name} must be a whole number, got {shown}")
    return kind(number)


# -- pure validation ---------------------------------------------------------------
def resource_problems(job: PaintingJob) -> list[str]:
    """Memory and vCPU outside what AWS Batch can place.

    >>> for problem in resource_problems(PaintingJob("p", "i/", "o/", memory_mib=2, vcpus=0.3)):
    ...     print(problem)
    job_memory 2 MiB is below the AWS Batch minimum of 4 MiB
    job_vcpu 0.3 is not valid: use 0.25, 0.5 or a whole number from 1 to 448
    """
    problems = []
    memory = job.memory_mib
    if memory is not None and memory < MIN_MEMORY_MIB:
        problems.append(f"job_memory {memory} MiB is below the AWS Batch minimum of 4 MiB")
    elif memory is not None and memory > MAX_MEMORY_MIB:
        problems.append(
            f"job_memory {memory} MiB is above {MAX_MEMORY_MIB} MiB (no instance has it)"
        )
    if job.vcpus is not None and not _valid_vcpus(job.vcpus):
        problems.append(
            f"job_vcpu {job.vcpus:g} is not valid: "
            f"use 0.25, 0.5 or a whole number from 1 to {MAX_VCPUS}"
        )
    return problems


def _valid_vcpus(vcpus: float) -> bool:
    return vcpus in FRACTIONAL_VCPUS or (vcpus == int(vcpus) and 1 <= vcpus <= MAX_VCPUS)


def prefix_problems(job: PaintingJob) -> list[str]:
    """Output must differ from the input and not sit inside it (results would become inputs).

    >>> prefix_problems(PaintingJob("p", "images/", "images/"))
    ['output must differ from input (both images/)']
    >>> prefix_problems(PaintingJob("p", "images/", "images/out/"))
    ['output images/out/ is inside the input images/ (results would be read as input)']
    """
    if job.output == job.input:
        return [f"output must differ from input (both {job.input})"]
    if job.output.startswith(job.input):
        return [
            f"output {job.output} is inside the input {job.input} (results would be read as input)"
        ]
    return []


def resource_name(value: str) -> str:
    """The name in a Batch queue or job-definition ARN (revision dropped).

    >>> resource_name("arn:aws:batch:us-east-1:123456789012:job-definition/cellprofiler:3")
    'cellprofiler'
    >>> resource_name("lab-local-cellprofiler")
    'lab-local-cellprofiler'
    """
    name = value.rsplit("/", 1)[-1] if value.startswith("arn:") else value
    return name.split(":", 1)[0]


def allow_list_problems(
    job: PaintingJob, queues: Iterable[str], definitions: Iterable[str]
) -> list[str]:
    problems = []
    if job.job_queue and resource_name(job.job_queue) not in set(queues):
        problems.append(
            f"job_queue {_shown(job.job_queue)} is not allowed "
            f"(allowed: {', '.join(sorted(queues))})"
        )
    if job.job_definition and resource_name(job.job_definition) not in set(definitions):
        problems.append(
            f"job_definition {_shown(job.job_definition)} is not allowed "
            f"(allowed: {', '.join(sorted(definitions))})"
        )
    return problems


def _shown(value: str, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: a reason quotes, never copies, input.

    >>> _shown("q" * 100, 10)
    "'qqqqqq..."
    """
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def invalid_job_id(message_id: str, index: int) -> str:
    """A stable id for a job that has no job key (a redelivery overwrites the same record)."""
    return "invalid-" + hashlib.sha256(f"{message_id}/{index}".encode()).hexdigest()[:16]
