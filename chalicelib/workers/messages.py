"""The job message a bot (or a person, or a script) puts on the jobs queue.

Two forms of the SQS body, parsed into the same ``Job``:

- JSON: ``{"job_id"?: str, "task": str, "input": ..., "params"?: {...}}``
- the bot's plain text: ``count s3://bucket/key``, ``predict {"worstRadius": 14, ...}``,
  ``blur s3://bucket/clip.mp4`` (a task name or alias, a space, the input).

Message attributes (``chat_id`` and any others) travel with the job and its
result. Without a ``job_id`` the SQS message id is the job id, so a redelivery
of the same message is recognised as the same job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib import jsonsafe
from chalicelib.errors import InvalidInput
from chalicelib.storage import check_key

TASKS = ("count-cells", "predict", "blur-faces")
ALIASES = {
    "count": "count-cells",
    "count-cells": "count-cells",
    "cells": "count-cells",
    "predict": "predict",
    "prediction": "predict",
    "blur": "blur-faces",
    "blur-faces": "blur-faces",
    "faces": "blur-faces",
}
JOB_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
# Bucket names botocore sends (older us-east-1 buckets may have capitals and _).
_BUCKET = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
MAX_BODY_BYTES = 256 * 1024
# SQS message attributes: names of these characters, not starting with AWS. or Amazon.,
# no leading, trailing or doubled period; values of XML characters, not empty.
MAX_ATTRIBUTES = 6  # of SQS's 10: the dead-letter path adds 4 that say why
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_RESERVED_PREFIXES = ("aws.", "amazon.")
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class MalformedJob(InvalidInput):
    """The message can never be run: answered with an error at once, never retried."""

    kind = "malformed_job"


@dataclass(frozen=True)
class Job:
    job_id: str
    task: str
    input: Any
    params: Mapping[str, Any] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "task": self.task,
            "input": self.input,
            "params": dict(self.params),
            "attributes": dict(self.attributes),
        }


def parse_job(body: str, message_id: str, attributes: Mapping[str, str] | None = None) -> Job:
    """A ``Job`` from an SQS body in either form; ``MalformedJob`` says what is wrong.

    >>> parse_job("count s3://imgs/a.png", "m1").task
    'count-cells'
    >>> parse_job('{"task": "predict", "input": {"worstArea": 1}}', "m2").job_id
    'm2'
    """
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise MalformedJob(f"the message is larger than {MAX_BODY_BYTES // 1024} KiB")
    text = body.strip()
    if not text:
        raise MalformedJob("the message is empty")
    document = _json_document(text) if text.startswith("{") else _plain_text(text)
    return _job(document, message_id, dict(attributes or {}))


def _json_document(text: str) -> dict[str, Any]:
    try:
        document = jsonsafe.loads(text)
    except ValueError as exc:  # malformed or nested too deep
        raise MalformedJob(f"the message is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise MalformedJob("a JSON job must be an object")
    unknown = sorted(set(document) - {"job_id", "task", "input", "params"})
    if unknown:
        raise MalformedJob(
            f"unknown field(s) {', '.join(unknown)}; a job has job_id, task, input, params"
        )
    return document


def _plain_text(text: str) -> dict[str, Any]:
    word, _, rest = text.partition(" ")
    rest = rest.strip()
    if not rest:
        raise MalformedJob(f"expected '<task> <input>', e.g. 'count s3://bucket/key'; got {text!r}")
    value: Any = rest
    if rest.startswith(("{", "[")):
        try:
            value = jsonsafe.loads(rest)
        except ValueError as exc:
            raise MalformedJob(f"the input is not valid JSON: {exc}") from exc
    return {"task": word.lower(), "input": value}


def _job(document: Mapping[str, Any], message_id: str, attributes: dict[str, str]) -> Job:
    task = ALIASES.get(str(document.get("task", "")).lower())
    if task is None:
        raise MalformedJob(
            f"unknown task {document.get('task')!r}; "
            f"tasks: {', '.join(TASKS)} (or count, predict, blur)"
        )
    if "input" not in document or document["input"] in (None, "", [], {}):
        raise MalformedJob(f"task {task} needs an input")
    job_id = str(document.get("job_id") or message_id)
    if not JOB_ID.match(job_id):
        raise MalformedJob("job_id must be 1-128 characters of letters, digits and _.:-")
    params = document.get("params") or {}
    if not isinstance(params, dict):
        raise MalformedJob("params must be an object")
    return Job(job_id, task, document["input"], params, attributes)


def attribute_problem(name: str, value: str | None) -> str | None:
    """Why SQS would refuse a message attribute, or None.

    >>> attribute_problem("chat_id", "42") is None
    True
    >>> attribute_problem("a b", "x")
    "attribute name 'a b' is not allowed: use 1-256 of A-Z a-z 0-9 _ - ."
    """
    if (
        not _ATTRIBUTE_NAME.match(name)
        or name.lower().startswith(_RESERVED_PREFIXES)
        or name.startswith(".")
        or name.endswith(".")
        or ".." in name
    ):
        return f"attribute name {name[:64]!r} is not allowed: use 1-256 of A-Z a-z 0-9 _ - ."
    if not value:
        return f"attribute {name!r} has an empty value"
    if _NOT_XML.search(value):
        return f"attribute {name!r} holds characters SQS does not allow"
    return None


def message_attributes(raw: Any) -> dict[str, str]:
    """The ``attributes`` of a ``POST /jobs`` body, checked as SQS will check them."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > MAX_ATTRIBUTES:
        raise InvalidInput(f"attributes must be an object of at most {MAX_ATTRIBUTES} strings")
    attributes = {}
    for name, value in raw.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise InvalidInput(f"attribute {str(name)[:64]!r} must be a string or a number")
        problem = attribute_problem(str(name), str(value))
        if problem:
            raise InvalidInput(problem)
        attributes[str(name)] = str(value)
    return attributes


def s3_location(value: Any) -> tuple[str, str]:
    """(bucket, key) from ``s3://bucket/key``.

    >>> s3_location("s3://imgs/plate 1/a.png")
    ('imgs', 'plate 1/a.png')
    """
    if not isinstance(value, str) or not value.startswith("s3://"):
        raise InvalidInput(f"expected an S3 location s3://bucket/key, got {value!r}")
    bucket, _, key = value[5:].partition("/")
    if not bucket or not key:
        raise InvalidInput(f"expected an S3 location s3://bucket/key, got {value!r}")
    if not _BUCKET.match(bucket):  # botocore would refuse it before sending: no retry helps
        raise InvalidInput(f"{bucket[:80]!r} is not a bucket name (letters, digits, . - _)")
    return bucket, check_key(key)  # S3's 400 (or botocore's encoding error) would be retried
