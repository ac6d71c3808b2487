"""S3 adapter of the painting pipeline: JSON records, listings, transfers.

Takes its client in the constructor, hides pagination and turns "no such key"
into ``None``. Conditional writes (``If-None-Match``/``If-Match``) let the
handler claim a job key exactly once. Python 3.8-compatible (the Batch
container imports it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from chalicelib import aws

MISSING_CODES = ("404", "NoSuchKey", "NotFound")
CONFLICT_CODES = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")


class Conflict(Exception):
    """A conditional write lost: someone else wrote the key first."""


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Store:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # -- records ----------------------------------------------------------------
    def read_json(self, key: str) -> dict[str, Any] | None:
        found = self.read_json_with_etag(key)
        return found[0] if found else None

    def read_json_with_etag(self, key: str) -> tuple[dict[str, Any], str] | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if aws.error_code(exc) in MISSING_CODES:
                return None
            raise
        return json.loads(response["Body"].read()), str(response.get("ETag", ""))

    def write_json(
        self, key: str, document: dict[str, Any], *, create_only: bool = False, if_match: str = ""
    ) -> None:
        """Write a JSON document; ``create_only``/``if_match`` make it conditional."""
        extra: dict[str, str] = {}
        if create_only:
            extra["IfNoneMatch"] = "*"
        elif if_match:
            extra["IfMatch"] = if_match
        body = json.dumps(document, indent=1, sort_keys=True, default=str).encode()
        try:
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", **extra
            )
        except Exception as exc:
            if extra and aws.error_code(exc) in CONFLICT_CODES:
                raise Conflict(key) from exc
            raise

    # -- objects ----------------------------------------------------------------
    def head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.s3.head_object(Bucket=self.bucket, Key=key))
        except Exception as exc:
            if aws.error_code(exc) in MISSING_CODES:
                return None
            raise

    def read_text(self, key: str, limit: int = 0) -> str:
        extra = {"Range": f"bytes=0-{limit - 1}"} if limit else {}
        body = self.s3.get_object(Bucket=self.bucket, Key=key, **extra)["Body"].read()
        return str(body.decode("utf-8", errors="replace"))

    def list(self, prefix: str) -> list[dict[str, Any]]:
        """Every object under ``prefix`` as ``{"Key", "Size", "ETag"}``, all pages."""
        paginator = self.s3.get_paginator("list_objects_v2")
        found: list[dict[str, Any]] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(page.get("Contents", []))
        return found

    def download(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.s3.download_file(self.bucket, key, str(path))

    def upload(self, path: Path, key: str) -> None:
        self.s3.upload_file(str(path), self.bucket, key)

    def put_text(self, key: str, text: str, content_type: str = "text/plain") -> None:
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=text.encode(), ContentType=content_type
        )

    def copy(self, source: str, key: str) -> None:
        self.s3.copy_object(
            Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": source}
        )
