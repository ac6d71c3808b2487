"""The results bucket: JSON results, annotated images and per-cell tables.

Every count is kept under its run (``counts/<key>/runs/<run>/``: the source
bucket, origin, method and parameters): counting again with new parameters, or
from another bucket, or by a chat-bot job, adds a run and never overwrites one.
An upload's count is also copied to ``counts/<key>/`` (the latest upload,
what ``GET /counts?key=`` returns); a chat-bot count never is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.cells.messages import RUN_ID, CountRequest, ResultKeys, check_run_id
from chalicelib.console import journal
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.storage import Bucket


class ResultStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._bucket = Bucket(s3, bucket)

    def read(self, key: str, run: str | None = None) -> dict[str, Any]:
        """The JSON result for image ``key``: the latest upload's, or one run's.

        With no upload result yet, the newest run of any origin is returned.
        ``NotFound`` if there is none.
        """
        if run is not None:
            document = self._bucket.read_json(ResultKeys.for_run(key, check_run_id(run)).result)
            if document is None:
                raise NotFound(f"no run {run!r} for {key!r}")
            return dict(document)
        document = self._bucket.read_json(ResultKeys.for_image(key).result)
        if document is None:
            runs = self.runs(key)
            if not runs:
                raise NotFound(f"no result for {key!r} yet")
            newest = max(runs, key=lambda r: str(r.get("written", "")))
            return self.read(key, newest["run"])
        return dict(document)

    def runs(self, key: str) -> list[dict[str, Any]]:
        """A summary of every run of ``key`` (run, origin, bucket, method, parameters, count)."""
        found = []
        prefix = ResultKeys.runs_prefix(key)
        for item in self._bucket.list(prefix):
            # a run id has no dot; an image keyed "<key>/runs/x.png" has its results here too
            run, _, name = item["Key"][len(prefix) :].partition("/")
            if name != "result.json" or not RUN_ID.match(run):
                continue
            document = self._bucket.read_json(item["Key"]) or {}
            found.append(
                {
                    name: document.get(name)
                    for name in (
                        "run",
                        "origin",
                        "bucket",
                        "etag",
                        "status",
                        "method",
                        "parameters",
                        "count",
                        "written",
                    )
                }
            )
        return sorted(found, key=lambda r: str(r.get("written", "")))

    def find(self, key: str) -> dict[str, Any] | None:
        try:
            return self.read(key)
        except NotFound:
            return None

    def find_run(self, request: CountRequest) -> dict[str, Any] | None:
        """This request's earlier result (same bucket, origin, method, parameters), if any."""
        return self._bucket.read_json(ResultKeys.for_run(request.key, request.run).result)

    def published(self, request: CountRequest) -> bool:
        """Has an upload's count of these bytes reached the copy ``GET /counts`` returns?

        The run's files are written before that copy: a retry after an outage between
        the two must not stop at the run's result and leave the previous upload's
        count answered. (Runs of other origins have no such copy.)
        """
        if request.origin != "upload":
            return True
        latest = self._bucket.read_json(ResultKeys.for_image(request.key).result)
        return latest is not None and latest.get("etag") == request.etag

    def write_error(self, request: CountRequest, error: InvalidInput) -> dict[str, Any]:
        document = {
            "status": "error",
            "bucket": request.bucket,
            "key": request.key,
            "etag": request.etag,
            "run": request.run,
            "origin": request.origin,
            "method": request.method,
            "parameters": dict(request.parameters),
            "error": {"type": error.kind, "reason": str(error)},
        }
        self._write_json(ResultKeys.for_run(request.key, request.run), document)
        if request.origin == "upload":
            self._write_json(ResultKeys.for_image(request.key), document)
        return document

    def write_success(
        self, request: CountRequest, document: dict[str, Any], annotated: bytes, cells_csv: str
    ) -> None:
        targets = [ResultKeys.for_run(request.key, request.run)]
        if request.origin == "upload":
            targets.append(ResultKeys.for_image(request.key))
        for keys in targets:
            self._bucket.put_bytes(keys.annotated, annotated, keys.annotated_type)
            self._bucket.put_text(keys.cells, cells_csv, "text/csv")
            # The JSON goes last: its presence means the other files are complete.
            self._write_json(keys, document)

    def _write_json(self, keys: ResultKeys, document: dict[str, Any]) -> None:
        written = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._bucket.write_json(keys.result, {**document, "written": written})
        entry = journal.result_entry(
            str(document.get("bucket", "")),
            str(document.get("key", "")),
            keys.result,
            [keys.annotated, keys.cells] if document.get("status") == "ok" else [],
            str(document.get("status")),
        )
        journal.record(self._bucket, entry)  # the console's listing learns of it
