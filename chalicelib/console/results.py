"""Counting results of a folder, listed fast: one S3 listing plus a cached summary per result.

Reading 1,000 result documents one GET at a time is far too slow for a page.
Each result's summary (status, count, QC; never the per-cell list) is kept in
one index document per listed prefix, ``console/index/<hash>.json`` in the
results bucket, keyed by the result object's key and validated by its ETag
from the listing: a listing reads only the results that changed since the last
one (in parallel) and rewrites the index only then.

Result documents are read defensively: any ``…/result.json`` below the results
prefix of the listed folder is a result; the image it belongs to is the
document's own ``key``; several results of one image (other parameters) are
versions, the newest first.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from chalicelib.cells.messages import ResultKeys
from chalicelib.errors import InvalidInput
from chalicelib.storage import Bucket

log = logging.getLogger(__name__)

INDEX_PREFIX = "console/index/"
RESULT_NAME = "result.json"
READERS = 16  # parallel GETs for results not in the index yet
INDEX_VERSION = 2


def check_prefix(prefix: str | None) -> str:
    """A folder or name prefix from the page: no leading slash, printable, ≤ 512 characters.

    >>> check_prefix("/plate1/"), check_prefix(None)
    ('plate1/', '')
    """
    text = (prefix or "").lstrip("/")
    if len(text) > 512 or any(ord(ch) < 32 for ch in text):
        raise InvalidInput("the prefix must be at most 512 printable characters")
    return text


def results_prefix(prefix: str) -> str:
    """Where the results of images under ``prefix`` sit in the results bucket.

    >>> results_prefix("plate1/")
    'counts/plate1/'
    """
    marker = "\x1f"
    keys = ResultKeys.for_image(prefix + marker)
    return keys.result.split(marker, 1)[0]


def summarise(document: Mapping[str, Any], result_key: str, modified: str) -> dict[str, Any]:
    """What the list shows of one result document (never the per-cell list).

    Reads QC where a result carries it (``qc.warnings``, ``reliable``), in either
    the top level or ``qc``.

    >>> s = summarise({"status": "ok", "key": "a.png", "count": 3, "method": "watershed",
    ...                "qc": {"warnings": ["blurred"]}, "reliable": False}, "counts/a.png/r", "t")
    >>> s["count"], s["warnings"], s["reliable"]
    (3, ['blurred'], False)
    """
    qc, error = _mapping(document.get("qc")), _mapping(document.get("error"))
    warnings = qc.get("warnings", document.get("warnings")) or []
    reliable = document.get("reliable", qc.get("reliable"))
    reasons = document.get("reasons", qc.get("reasons")) or []
    return {
        "key": str(document.get("key", "")),
        "bucket": document.get("bucket"),
        "etag": document.get("etag", ""),
        "status": str(document.get("status", "unknown")),
        "count": document.get("count"),
        "method": document.get("method"),
        "parameters": document.get("parameters") or {},
        "reliable": reliable if isinstance(reliable, bool) else None,
        "warnings": [str(w) for w in warnings] if isinstance(warnings, list) else [str(warnings)],
        "reasons": [str(r) for r in reasons] if isinstance(reasons, list) else [str(reasons)],
        "image_type": qc.get("image_type"),
        "diameter_px": qc.get("diameter_px"),
        "reason": error.get("reason") or document.get("reason"),
        "width": document.get("width"),
        "height": document.get("height"),
        "result": result_key,
        "updated": modified,
    }


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value or "")


class ResultIndex:
    """Lists result summaries under a prefix; S3 client and bucket injected."""

    def __init__(self, s3: Any, bucket: str, readers: int = READERS) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._readers = readers

    def list_objects(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        """Every object under ``prefix`` (``Key``, ``ETag``, ``LastModified``, ``Size``)."""
        return Bucket(self._s3, bucket).list(prefix)

    def summaries(self, prefix: str) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
        """Every result under the image prefix: (summaries, files beside each result).

        The files map a result key to the other objects in its folder (the
        annotated image and the per-cell CSV).
        """
        objects = self.list_objects(self._bucket, results_prefix(prefix))
        results = {o["Key"]: o for o in objects if o["Key"].rsplit("/", 1)[-1] == RESULT_NAME}
        files: dict[str, list[str]] = {}
        by_folder = {key.rsplit("/", 1)[0]: key for key in results}
        for o in objects:
            result = by_folder.get(o["Key"].rsplit("/", 1)[0])
            if result and o["Key"] != result:
                files.setdefault(result, []).append(o["Key"])
        index_key = INDEX_PREFIX + hashlib.sha256(prefix.encode()).hexdigest()[:24] + ".json"
        cached = self._read_index(index_key)
        entries: dict[str, dict[str, Any]] = {}
        stale = []
        for key, listed in results.items():
            entry = cached.get(key)
            if entry and entry.get("etag") == listed.get("ETag"):
                entries[key] = entry
            else:
                stale.append(listed)
        for listed, summary in self._read_many(stale):
            entries[listed["Key"]] = {"etag": listed.get("ETag"), "summary": summary}
        if stale or set(cached) - set(results):
            self._write_index(index_key, prefix, entries)
        return [entries[k]["summary"] for k in sorted(entries)], files

    def _read_many(
        self, listed: list[dict[str, Any]]
    ) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
        if not listed:
            return []

        def read(item: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
            body = self._s3.get_object(Bucket=self._bucket, Key=item["Key"])["Body"].read()
            try:
                document = json.loads(body)
            except ValueError:
                document = {"status": "error", "error": {"reason": "unreadable result document"}}
            summary = summarise(document, item["Key"], _iso(item.get("LastModified")))
            summary["version"] = str(item.get("ETag", "")).strip('"')  # changes on a recount
            return item, summary

        with ThreadPoolExecutor(max_workers=min(self._readers, len(listed))) as pool:
            return list(pool.map(read, listed))

    def _read_index(self, key: str) -> dict[str, dict[str, Any]]:
        try:
            document = Bucket(self._s3, self._bucket).read_json(key)
        except ValueError:  # a damaged index is rebuilt
            return {}
        if not document or document.get("version") != INDEX_VERSION:
            return {}
        return dict(document.get("entries") or {})

    def _write_index(self, key: str, prefix: str, entries: dict[str, Any]) -> None:
        body = json.dumps(
            {"version": INDEX_VERSION, "prefix": prefix, "entries": entries},
            separators=(",", ":"),
        ).encode()
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")


def latest_by_image(summaries: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Image key → its results, the newest first (other parameter sets are older versions).

    >>> latest_by_image([{"key": "a", "updated": "1"}, {"key": "a", "updated": "2"}])["a"][0]
    {'key': 'a', 'updated': '2'}
    """
    grouped: dict[str, list[dict[str, Any]]] = {}
    for summary in summaries:
        grouped.setdefault(summary["key"], []).append(summary)
    for versions in grouped.values():
        versions.sort(key=lambda s: str(s.get("updated", "")), reverse=True)
    return grouped


def image_states(
    uploads: Iterable[Mapping[str, Any]],
    results: Mapping[str, list[dict[str, Any]]],
    bucket: str,
    now: datetime,
    patience_s: float = 600.0,
) -> list[dict[str, Any]]:
    """One row per image: its upload joined with its newest result.

    An upload with no result, or whose result is for other bytes (another
    ETag), is ``counting`` for ``patience_s`` after the upload and ``no result``
    after that. Results whose image is gone are listed as they are.
    """
    rows: dict[str, dict[str, Any]] = {}
    for upload in uploads:
        key = upload["Key"]
        etag = str(upload.get("ETag", "")).strip('"')
        versions = [v for v in results.get(key, []) if v.get("bucket") in (None, bucket)]
        current = next((v for v in versions if not v.get("etag") or v["etag"] == etag), None)
        modified = upload.get("LastModified")
        row: dict[str, Any] = dict(current) if current else {"key": key, "status": "counting"}
        if current is None:
            age = (now - modified).total_seconds() if isinstance(modified, datetime) else 0.0
            if age > patience_s:
                row["status"] = "no result"
                row["reason"] = f"no result {age / 60:.0f} minutes after the upload"
        row.update(uploaded=_iso(modified), size=upload.get("Size"), versions=len(versions))
        rows[key] = row
    for key, versions in results.items():
        if key not in rows:
            rows[key] = {**versions[0], "uploaded": None, "versions": len(versions)}
    return list(rows.values())


SORTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "key": lambda row: row["key"],
    "newest": lambda row: str(row.get("uploaded") or row.get("updated") or ""),
}
