"""The results bucket: JSON results, annotated images and per-cell tables."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.aws import get_json
from chalicelib.cells.messages import CountRequest, ResultKeys
from chalicelib.errors import InvalidInput, NotFound


class ResultStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def read(self, key: str) -> dict[str, Any]:
        """The JSON result for image ``key``; ``NotFound`` if there is none yet."""
        document = get_json(self._s3, self._bucket, ResultKeys.for_image(key).result)
        if document is None:
            raise NotFound(f"no result for {key!r} yet")
        return dict(document)

    def find(self, key: str) -> dict[str, Any] | None:
        try:
            return self.read(key)
        except NotFound:
            return None

    def write_error(self, request: CountRequest, error: InvalidInput) -> dict[str, Any]:
        document = {
            "status": "error",
            "bucket": request.bucket,
            "key": request.key,
            "etag": request.etag,
            "error": {"type": error.kind, "reason": str(error)},
        }
        self._put_json(request.key, document)
        return document

    def write_success(
        self, request: CountRequest, document: dict[str, Any], annotated: bytes, cells_csv: str
    ) -> None:
        keys = ResultKeys.for_image(request.key)
        self._s3.put_object(
            Bucket=self._bucket, Key=keys.annotated, Body=annotated, ContentType=keys.annotated_type
        )
        self._s3.put_object(
            Bucket=self._bucket, Key=keys.cells, Body=cells_csv.encode(), ContentType="text/csv"
        )
        # The JSON goes last: its presence means the other files are complete.
        self._put_json(request.key, document)

    def _put_json(self, key: str, document: dict[str, Any]) -> None:
        self._s3.put_object(
            Bucket=self._bucket,
            Key=ResultKeys.for_image(key).result,
            Body=json.dumps(document, indent=1).encode(),
            ContentType="application/json",
        )
