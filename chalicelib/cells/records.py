"""The results bucket: JSON results, annotated images and per-cell tables."""

from __future__ import annotations

from typing import Any

from chalicelib.cells.messages import CountRequest, ResultKeys
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.storage import Bucket


class ResultStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._bucket = Bucket(s3, bucket)

    def read(self, key: str) -> dict[str, Any]:
        """The JSON result for image ``key``; ``NotFound`` if there is none yet."""
        document = self._bucket.read_json(ResultKeys.for_image(key).result)
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
        self._bucket.put_bytes(keys.annotated, annotated, keys.annotated_type)
        self._bucket.put_text(keys.cells, cells_csv, "text/csv")
        # The JSON goes last: its presence means the other files are complete.
        self._put_json(request.key, document)

    def _put_json(self, key: str, document: dict[str, Any]) -> None:
        self._bucket.write_json(ResultKeys.for_image(key).result, document)
