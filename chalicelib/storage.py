"""S3 as the pipelines use it: JSON records with their ETag, conditional writes and claims.

One adapter for every pipeline. It takes its client in the constructor, hides
pagination, and turns botocore's ``ClientError`` codes into this project's
errors once (``NotFound``, ``Conflict``, ``Forbidden``), so no caller compares
error-code strings. Conditional writes (``If-None-Match: *`` / ``If-Match``)
let a handler claim a key exactly once across concurrent deliveries.

Python 3.8-compatible: the CellProfiler Batch container imports it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib import observability
from chalicelib.aws import error_code
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound

# S3 refuses keys longer than this many bytes of UTF-8 (moto does not: tests check it themselves).
S3_KEY_BYTES = 1024

MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})
CONFLICT_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
FORBIDDEN_CODES = frozenset({"403", "AccessDenied", "AllAccessDisabled"})
TOO_LONG_CODES = frozenset({"KeyTooLongError"})  # real S3's 400 for a key over 1,024 bytes


def classify(exc: BaseException, what: str) -> Exception | None:
    """Our error for an S3 failure about ``what``, or None when it is not one we name."""
    code = error_code(exc)
    if code in MISSING_CODES:
        return NotFound(f"{what} does not exist")
    if code in CONFLICT_CODES:
        return Conflict(f"{what} was changed by someone else")
    if code in FORBIDDEN_CODES:
        return Forbidden(f"{what} cannot be read with this function's permissions")
    if code in TOO_LONG_CODES:  # no retry can help
        return InvalidInput(f"the key of {what[:200]} is longer than S3 allows")
    return None


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Raise ``NotFound``/``Conflict``/``Forbidden`` for S3 errors about ``what``."""
    try:
        yield
    except Exception as exc:
        ours = classify(exc, what)
        if ours is None:
            raise
        raise ours from exc


def key_bytes(key: str) -> int:
    """The length S3 measures ``key`` by: its bytes in UTF-8.

    A key holding a lone surrogate (JSON spells one as ``"\\ud800"``) has no UTF-8
    form: botocore would raise ``UnicodeEncodeError`` while building the request
    (a crash, or a retry as if S3 were down). It is ``InvalidInput`` here instead.

    >>> key_bytes("plate 1/é.png")
    14
    """
    try:
        return len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput(
            "the object key is not valid Unicode text (it holds a lone surrogate)"
        ) from None


def check_key(key: str, limit: int = S3_KEY_BYTES) -> str:
    """``key`` when S3 can store it in ``limit`` bytes, else ``InvalidInput`` saying why.

    >>> check_key("a.png")
    'a.png'
    """
    if key_bytes(key) > limit:
        raise InvalidInput(
            f"the object key is longer than {limit:,} bytes of UTF-8 (S3's limit is "
            f"{S3_KEY_BYTES:,} bytes)"
        )
    return key


def can_exist(key: str) -> bool:
    """Can S3 hold an object at ``key``? A longer key names nothing: real S3 answers
    ``400 KeyTooLongError`` (not 404) to a read of one, e.g. a route's 1,100-character id.

    >>> can_exist("a.json"), can_exist("k" * 1025)
    (True, False)
    """
    return key_bytes(key) <= S3_KEY_BYTES


def is_folder_marker(key: str) -> bool:
    """A key ending in ``/``: the zero-byte object a console makes for a folder, no image.

    >>> is_folder_marker("plate1/"), is_folder_marker("plate1/a.png")
    (True, False)
    """
    return key.endswith("/")


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def to_json(document: Any) -> bytes:
    return json.dumps(document, indent=1, sort_keys=True, default=str).encode()


@dataclass(frozen=True)
class Record:
    """A JSON document as read, with the ETag that a conditional write must match."""

    document: dict[str, Any]
    etag: str


class Bucket:
    """One S3 bucket: JSON records, objects, listings and transfers."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # -- records ------------------------------------------------------------------------
    def read_record(self, key: str) -> Record | None:
        """The JSON document at ``key`` with its ETag, or None when there is none."""
        if not can_exist(key):
            return None
        try:
            with translated(self.url(key)):
                response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except NotFound:
            return None
        return Record(dict(json.loads(response["Body"].read())), str(response.get("ETag", "")))

    def read_json(self, key: str) -> dict[str, Any] | None:
        found = self.read_record(key)
        return found.document if found else None

    def write_json(
        self, key: str, document: Any, *, create_only: bool = False, if_match: str = ""
    ) -> str:
        """Write a JSON document; ``create_only``/``if_match`` make it conditional.

        A conditional write that loses raises ``Conflict``. Returns the new ETag.
        """
        document = observability.stamped(document)  # the work's correlation id, when any
        return self.put_bytes(
            key, to_json(document), "application/json", create_only=create_only, if_match=if_match
        )

    def claim(
        self,
        key: str,
        document: Any,
        *,
        stale_after: float,
        clock: Any = time.time,
        over: Any = None,
    ) -> bool:
        """Create ``key`` unless a claim younger than ``stale_after`` seconds holds it.

        True when this caller now holds the claim. A stale claim (its holder died),
        or one ``over(held_document)`` says is finished with, is taken over with
        ``If-Match`` on its ETag, so two takers cannot both win.
        """
        body = {"claimed_at": clock(), **(document or {})}
        try:
            self.write_json(key, body, create_only=True)
            return True
        except Conflict:
            pass
        held = self.read_record(key)
        fresh = (
            held is not None and clock() - float(held.document.get("claimed_at", 0)) < stale_after
        )
        if fresh and not (over is not None and held is not None and over(held.document)):
            return False
        try:
            self.write_json(key, body, if_match=held.etag if held else "")
            return True
        except Conflict:
            return False

    def release(self, key: str) -> None:
        self.delete(key)

    # -- objects ------------------------------------------------------------------------
    def head(self, key: str) -> dict[str, Any] | None:
        """The object's metadata (``ContentLength``, ``ETag``, ``Metadata``…), None if absent."""
        if not can_exist(key):
            return None
        try:
            with translated(self.url(key)):
                return dict(self.s3.head_object(Bucket=self.bucket, Key=key))
        except NotFound:
            return None

    def get_bytes(self, key: str, limit: int = 0) -> bytes:
        """The object's bytes (the first ``limit`` only, when given); ``NotFound`` if absent."""
        extra = {"Range": f"bytes=0-{limit - 1}"} if limit else {}
        if not can_exist(key):
            raise NotFound(f"{self.url(key)[:200]} does not exist")
        with translated(self.url(key)):
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=key, **extra)["Body"].read())

    def read_text(self, key: str, limit: int = 0) -> str:
        return self.get_bytes(key, limit).decode("utf-8", errors="replace")

    def put_bytes(
        self,
        key: str,
        body: bytes,
        content_type: str = "application/octet-stream",
        *,
        create_only: bool = False,
        if_match: str = "",
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Write ``body``; returns its ETag (empty when the store gives none)."""
        extra: dict[str, Any] = {}
        if create_only:
            extra["IfNoneMatch"] = "*"
        elif if_match:
            extra["IfMatch"] = if_match
        metadata = observability.object_metadata(metadata)
        if metadata:
            extra["Metadata"] = metadata
        with translated(self.url(key)):
            answer = self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, **extra
            )
        return str((answer or {}).get("ETag", ""))  # (a stand-in store may answer None)

    def put_text(self, key: str, text: str, content_type: str = "text/plain") -> None:
        self.put_bytes(key, text.encode(), content_type)

    def delete(self, key: str, *, if_match: str = "") -> None:
        """Delete ``key``; with ``if_match`` only while its ETag is that one (S3's
        conditional delete: ``Conflict`` when it changed, ``NotFound`` when gone)."""
        extra = {"IfMatch": if_match} if if_match else {}
        with translated(self.url(key)):
            self.s3.delete_object(Bucket=self.bucket, Key=key, **extra)

    def list(self, prefix: str) -> list[dict[str, Any]]:
        """Every object under ``prefix`` as ``{"Key", "Size", "ETag"}``, all pages."""
        paginator = self.s3.get_paginator("list_objects_v2")
        found: list[dict[str, Any]] = []
        with translated(self.url(prefix)):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                found.extend(page.get("Contents", []))
        return found

    def download(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with translated(self.url(key)):
            self.s3.download_file(self.bucket, key, str(path))

    def upload(self, path: Path, key: str) -> None:
        self.s3.upload_file(str(path), self.bucket, key)

    def copy(self, source: str, key: str) -> None:
        with translated(self.url(source)):
            self.s3.copy_object(
                Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": source}
            )
