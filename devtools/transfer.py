"""``lab put`` / ``lab get`` / ``lab painting``: the local cloud without the AWS CLI.

The pip ``awscli`` ignores ``AWS_ENDPOINT_URL`` and goes to real AWS; these
commands always honour ``--endpoint`` (default: ``$AWS_ENDPOINT_URL``, else the
emulator ``lab local`` starts on port 4566).
"""

from __future__ import annotations

import gzip
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chalicelib.errors import InvalidInput

LOCAL_ENDPOINT = "http://127.0.0.1:4566"
LOCAL_API = "http://127.0.0.1:8000"


def api_url() -> str:
    """The HTTP API: ``$LAB_API_URL``, else the one ``lab local`` serves on port 8000."""
    return os.environ.get("LAB_API_URL") or LOCAL_API


def use_endpoint(endpoint: str | None) -> str:
    """Point the project's AWS door at ``endpoint`` (the emulator's fake credentials)."""
    from chalicelib import aws

    chosen = endpoint or os.environ.get("AWS_ENDPOINT_URL") or LOCAL_ENDPOINT
    os.environ["AWS_ENDPOINT_URL"] = chosen
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(name, value)
    aws.reset()
    return chosen


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key).

    >>> split_s3_url("s3://lab-local-images/plate1/a.tif")
    ('lab-local-images', 'plate1/a.tif')
    """
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InvalidInput(f"expected s3://bucket/key, got {url!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def files_to_put(source: Path, key: str, gunzip: bool) -> Iterator[tuple[Path, str]]:
    """(path, key) for a file, or for every file under a folder (``key`` is then a prefix)."""
    if source.is_file():
        name = source.name[: -len(".gz")] if gunzip and source.suffix == ".gz" else source.name
        yield source, (key + name if not key or key.endswith("/") else key)
        return
    if not source.is_dir():
        raise FileNotFoundError(f"no such file or folder: {source}")
    prefix = key if not key or key.endswith("/") else key + "/"
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source).as_posix()
        if gunzip and relative.endswith(".gz"):
            relative = relative[: -len(".gz")]
        yield path, prefix + relative


def put(source: Path, url: str, metadata: dict[str, str], gunzip: bool = False) -> list[str]:
    """Upload a file or a folder; the ``s3://`` URLs written."""
    from chalicelib import aws

    bucket, key = split_s3_url(url)
    s3 = aws.client("s3")
    written = []
    for path, target in files_to_put(source, key, gunzip):
        body = path.read_bytes()
        if gunzip and path.suffix == ".gz":
            body = gzip.decompress(body)
        s3.put_object(Bucket=bucket, Key=target, Body=body, Metadata=metadata)
        written.append(f"s3://{bucket}/{target}")
    return written


def get(url: str, out: Path | None, wait: float = 0.0) -> bytes:
    """The object's bytes (written to ``out`` too); waits up to ``wait`` s for it to appear."""
    from chalicelib import aws
    from chalicelib.errors import NotFound
    from chalicelib.storage import Bucket

    bucket, key = split_s3_url(url)
    deadline = time.monotonic() + wait
    while True:
        try:
            body = Bucket(aws.client("s3"), bucket).get_bytes(key)
            break
        except NotFound:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
    if out is not None:
        out.write_bytes(body)
    return body


def painting_job(pipeline: str, input_prefix: str, output_prefix: str) -> dict[str, str]:
    """The seed's message form."""
    return {"pipeline": pipeline, "input": input_prefix, "output": output_prefix}


def send_painting(job: dict[str, str]) -> str:
    """Send one painting job to the stage's painting queue; its job id."""
    from chalicelib import aws
    from chalicelib.config import get_settings
    from chalicelib.painting import layout

    settings = get_settings()
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.painting_queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(job))
    return layout.job_key(settings.data_bucket, job["pipeline"], job["input"], job["output"])


def wait_for_painting(api: str, job_id: str, timeout: float) -> dict[str, Any] | None:
    """``GET /painting/jobs/{id}`` until the job ends (or ``timeout`` seconds pass)."""
    from chalicelib.painting.records import FAILED, REJECTED, SUCCEEDED

    deadline = time.monotonic() + timeout
    status: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{api}/painting/jobs/{job_id}", timeout=10) as answer:
                status = json.loads(answer.read())
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
        if status and status.get("state") in (SUCCEEDED, FAILED, REJECTED):
            return status
        time.sleep(0.5)
    return status
