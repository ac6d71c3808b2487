"""A change journal in the results bucket, so the console never lists a whole folder twice.

Listing 1,000 objects from S3 costs a second in the emulator and a few hundred
milliseconds of XML parsing in a Lambda, every time. Instead, whoever writes a
result or accepts an upload also writes one tiny object
``console/changes/<UTC time to the µs>-<hash>.json`` naming it. The time-ordered
names let a reader ask S3 for "everything after the last change I applied"
(``StartAfter``), which is usually nothing or a handful of keys.

Writing a journal entry never fails the pipeline: the result itself is already
stored, and the console rebuilds its index from full listings every few minutes
anyway (see ``chalicelib.console.results``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "console/changes/"


def change_key(now: float, bucket: str, key: str) -> str:
    """A journal key that sorts by time (µs, UTC), unique per object.

    >>> change_key(0.5, "b", "k")
    'console/changes/19700101T000000.500000Z-710800c9e207.json'
    """
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now * 1e6) % 10**6:06d}Z"
    digest = hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:12]
    return f"{PREFIX}{stamp}-{digest}.json"


def watermark(now: float) -> str:
    """The journal key before every change written at or after ``now``.

    >>> watermark(0.5) < change_key(0.5, "b", "k")
    True
    """
    return change_key(now, "", "")[: -len("-000000000000.json")]


def record(
    store: Any,
    entry: dict[str, Any],
    clock: Callable[[], float] = time.time,
) -> None:
    """Write one journal entry (``store`` is a ``storage.Bucket`` of the results bucket)."""
    key = change_key(clock(), str(entry.get("bucket", "")), str(entry.get("key", "")))
    try:
        store.put_bytes(key, json.dumps(entry).encode(), "application/json")
    except Exception:  # the result is stored; the console rebuilds its index from listings
        log.exception("could not journal %s for the console", entry.get("key"))


def result_entry(
    bucket: str, key: str, result_key: str, files: Sequence[str], status: str
) -> dict[str, Any]:
    """A result was written: the image, the result document and the files beside it."""
    return {"what": "result", "bucket": bucket, "key": key, "result": result_key,
            "files": list(files), "status": status}  # fmt: skip


def upload_entry(bucket: str, key: str, head: dict[str, Any]) -> dict[str, Any]:
    """An upload was accepted (counting starts): what a listing of the bucket would show."""
    modified: Any = head.get("LastModified")
    return {
        "what": "upload",
        "bucket": bucket,
        "key": key,
        "etag": str(head.get("ETag", "")),
        "size": head.get("ContentLength"),
        "modified": modified.isoformat() if isinstance(modified, datetime) else str(modified),
    }
