"""Counting results of a folder, listed fast: one index document per folder, kept current.

Reading 1,000 result documents, or even listing 1,000 keys, is far too slow for
a page that refreshes every few seconds (a 1,000-key listing is ≈ 0.4 s in the
emulator plus ≈ 0.3 s of XML parsing in botocore). Each listed prefix has an
index, ``console/index/<hash>.json`` in the results bucket, with a summary of
every result (status, count, QC; never the per-cell list) and every upload. It
is brought up to date from the change journal (``chalicelib.console.journal``:
usually one small listing and a few reads) and rebuilt from full listings when
it is missing or a few minutes old (which also catches deletions).

Result documents are read defensively: any ``…/result.json`` below the results
prefix of the listed folder is a result; the image it belongs to is the
document's own ``key``; several results of one image (other parameters) are
versions, the newest first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.cells.messages import ResultKeys
from chalicelib.console import journal
from chalicelib.console.journal import watermark
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.storage import Bucket, key_bytes, translated

log = logging.getLogger(__name__)

INDEX_PREFIX = "console/index/"
RESULT_NAME = "result.json"
READERS = 16  # parallel GETs for results not in the index yet
INDEX_VERSION = 4  # 4: results under counts-long-keys/ (long image keys) are listed
REBUILD_SECONDS = 300.0  # a full listing at least this often: deletions, lost journal entries
SKEW_SECONDS = 10.0  # journal entries this recent are listed again (writers' clocks differ)
MARK_EVERY_SECONDS = 60.0  # with nothing new, the index is rewritten (its mark moved) this often


def check_prefix(prefix: str | None) -> str:
    """A folder or name prefix from the page: no leading slash, printable, ≤ 512 characters.

    >>> check_prefix("/plate1/"), check_prefix(None)
    ('plate1/', '')
    """
    text = (prefix or "").lstrip("/")
    if len(text) > 512 or any(ord(ch) < 32 for ch in text):
        raise InvalidInput("the prefix must be at most 512 printable characters")
    key_bytes(text)  # InvalidInput for a lone surrogate, which no S3 request can carry
    return text


def results_prefix(prefix: str) -> str:
    """Where the results of images under ``prefix`` sit in the results bucket.

    >>> results_prefix("plate1/")
    'counts/plate1/'
    """
    # never hashed: an image under a prefix this long has its results in counts-long-keys/
    return ResultKeys.folder("")[: -len("/")] + prefix


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
        "run": document.get("run"),
        "origin": document.get("origin"),
        "updated": str(document.get("written") or modified),
    }


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value or "")


@dataclass(frozen=True)
class Snapshot:
    """What a folder holds: result summaries, the files beside each result, the uploads."""

    summaries: list[dict[str, Any]]
    files: dict[str, list[str]]
    uploads: list[dict[str, Any]]


class ResultIndex:
    """Result summaries and uploads under a prefix, kept in one index document per prefix.

    The index is rebuilt from full listings when it is missing or older than
    ``rebuild_s``; otherwise only the journal entries written since it was last
    brought up to date are read (``chalicelib.console.journal``). Entries of the
    last ``skew_s`` seconds are listed again (writers' clocks differ a little) but
    each is applied once.
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        uploads_bucket: str = "",
        readers: int = READERS,
        clock: Callable[[], float] = time.time,
        rebuild_s: float = REBUILD_SECONDS,
        skew_s: float = SKEW_SECONDS,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._store = Bucket(s3, bucket)
        self._uploads_bucket = uploads_bucket
        self._readers = readers
        self._clock = clock
        self._rebuild_s = rebuild_s
        self._skew_s = skew_s

    def list_objects(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        """Every object under ``prefix`` (``Key``, ``ETag``, ``LastModified``, ``Size``)."""
        return Bucket(self._s3, bucket).list(prefix)

    def summaries(self, prefix: str) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
        found = self.snapshot(prefix)
        return found.summaries, found.files

    def snapshot(self, prefix: str) -> Snapshot:
        """Every result and upload under the image prefix, as of now."""
        index_key = INDEX_PREFIX + hashlib.sha256(prefix.encode()).hexdigest()[:24] + ".json"
        index = self._read_index(index_key)
        now = self._clock()
        if index is None or now - float(index.get("built", 0)) > self._rebuild_s:
            index, changed = self._rebuild(prefix, index or {}, now), True
        else:
            changed = self._apply_journal(prefix, index, now)
        if changed:
            self._store.write_json(index_key, index)
        results = index["results"]
        return Snapshot(
            summaries=[results[k]["summary"] for k in sorted(results)],
            files={k: list(v.get("files") or []) for k, v in results.items()},
            uploads=[{"Key": k, **v} for k, v in sorted(index["uploads"].items())],
        )

    # -- a full rebuild ------------------------------------------------------------------
    def _rebuild(self, prefix: str, old: dict[str, Any], now: float) -> dict[str, Any]:
        mark = watermark(now - self._skew_s)
        # Journal entries already there are covered by the listings that follow (an entry
        # is written after its result): list them first, so none written later is lost.
        seen = self._journal_after(mark)
        uploads = self._uploads(prefix)
        objects = self.list_objects(self._bucket, results_prefix(prefix))
        for key in uploads:  # an image key too long for counts/<key>/ has its own folder
            folder = ResultKeys.folder(key)
            if not folder.startswith(results_prefix("")):
                objects.extend(self.list_objects(self._bucket, folder))
        listed = {o["Key"]: o for o in objects if o["Key"].rsplit("/", 1)[-1] == RESULT_NAME}
        folders = {key.rsplit("/", 1)[0]: key for key in listed}
        files: dict[str, list[str]] = {}
        for o in objects:
            result = folders.get(o["Key"].rsplit("/", 1)[0])
            if result and o["Key"] != result:
                files.setdefault(result, []).append(o["Key"])
        cached = dict(old.get("results") or {})
        results: dict[str, dict[str, Any]] = {}
        stale = []
        for key, item in listed.items():
            etag = str(item.get("ETag", "")).strip('"')
            if cached.get(key, {}).get("etag") == etag:
                results[key] = {**cached[key], "files": files.get(key, [])}
            else:
                stale.append(key)
        for key, (summary, etag) in zip(stale, self._read_many(stale), strict=True):
            if summary is not None:
                results[key] = {"etag": etag, "summary": summary, "files": files.get(key, [])}
        return {"version": INDEX_VERSION, "prefix": prefix, "built": now,
                "mark": mark, "marked": now, "applied": sorted(seen or []),
                "results": results, "uploads": uploads}  # fmt: skip

    def _uploads(self, prefix: str) -> dict[str, dict[str, Any]]:
        """The uploads bucket's objects under ``prefix``, as the index keeps them."""
        if not self._uploads_bucket:
            return {}
        return {o["Key"]: {"ETag": str(o.get("ETag", "")).strip('"'),
                           "LastModified": _iso(o.get("LastModified")), "Size": o.get("Size")}
                for o in self.list_objects(self._uploads_bucket, prefix)}  # fmt: skip

    # -- what changed since ----------------------------------------------------------------
    def _apply_journal(self, prefix: str, index: dict[str, Any], now: float) -> bool:
        listed = self._journal_after(index["mark"])
        if listed is None:  # more than a listing page behind: start over
            index.update(self._rebuild(prefix, index, now))
            return True
        applied = set(index.get("applied") or [])
        keys = [key for key in listed if key not in applied]
        entries = [e for e in self._read_entries(keys) if str(e.get("key", "")).startswith(prefix)]
        results = [e for e in entries if e.get("what") == "result" and e.get("result")]
        for entry, (summary, etag) in zip(
            results, self._read_many([str(e["result"]) for e in results]), strict=True
        ):
            if summary is not None:
                index["results"][entry["result"]] = {
                    "etag": etag, "summary": summary, "files": list(entry.get("files") or [])
                }  # fmt: skip
        for entry in entries:
            if entry.get("what") == "upload" and entry.get("bucket") == self._uploads_bucket:
                index["uploads"][entry["key"]] = {
                    "ETag": str(entry.get("etag", "")).strip('"'),
                    "LastModified": entry.get("modified"),
                    "Size": entry.get("size"),
                }
        if not keys and now - float(index.get("marked", 0)) < MARK_EVERY_SECONDS:
            return False  # nothing new: the index stays as it is (no write)
        mark = max(index["mark"], watermark(now - self._skew_s))
        index.update(mark=mark, marked=now,
                     applied=sorted(k for k in applied.union(keys) if k > mark))  # fmt: skip
        return True

    def _journal_after(self, mark: str) -> list[str] | None:
        """Journal keys after ``mark`` (one listing page); None when there are more."""
        changes = self._s3.list_objects_v2(
            Bucket=self._bucket, Prefix=journal.PREFIX, StartAfter=mark
        )
        if changes.get("IsTruncated"):
            return None
        return [c["Key"] for c in changes.get("Contents", [])]

    def _read_entries(self, keys: list[str]) -> list[dict[str, Any]]:
        def read(key: str) -> dict[str, Any]:
            try:
                return self._store.read_json(key) or {}
            except ValueError:
                return {}

        return self._parallel(read, keys)

    def _read_many(self, keys: list[str]) -> list[tuple[dict[str, Any] | None, str]]:
        """(summary, ETag) of each result document; (None, "") where it is gone."""

        def read(key: str) -> tuple[dict[str, Any] | None, str]:
            try:
                with translated(self._store.url(key)):
                    response = self._s3.get_object(Bucket=self._bucket, Key=key)
            except NotFound:
                return None, ""
            try:
                document = json.loads(response["Body"].read())
            except ValueError:
                document = {"status": "error", "error": {"reason": "unreadable result document"}}
            etag = str(response.get("ETag", "")).strip('"')
            summary = summarise(document, key, _iso(response.get("LastModified")))
            summary["version"] = etag  # changes on a recount
            return summary, etag

        return self._parallel(read, keys)

    def _parallel(self, read: Callable[[str], Any], keys: list[str]) -> list[Any]:
        if not keys:
            return []
        with ThreadPoolExecutor(max_workers=min(self._readers, len(keys))) as pool:
            return list(pool.map(read, keys))

    def _read_index(self, key: str) -> dict[str, Any] | None:
        try:
            document = self._store.read_json(key)
        except ValueError:  # a damaged index is rebuilt
            return None
        if not document or document.get("version") != INDEX_VERSION:
            return None
        return document


def latest_by_image(summaries: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Image key → its results (runs: other parameters, origins, buckets), the newest first.

    An upload's newest result is kept twice by the counter (its run, and the copy that
    ``GET /counts`` returns); the run's own copy is the one listed.

    >>> found = latest_by_image([{"key": "a", "updated": "1", "run": "r1", "result": "a/x"},
    ...                          {"key": "a", "updated": "1", "run": "r1", "result": "a/runs/r1/x"},
    ...                          {"key": "a", "updated": "2", "run": "r2", "result": "a/runs/r2"}])
    >>> [v["result"] for v in found["a"]]
    ['a/runs/r2', 'a/runs/r1/x']
    """
    grouped: dict[str, dict[Any, dict[str, Any]]] = {}
    for summary in summaries:
        runs = grouped.setdefault(summary["key"], {})
        run = summary.get("run") or summary.get("result")
        kept = runs.get(run)
        if kept is None or "/runs/" in str(summary.get("result", "")):
            runs[run] = summary
    return {
        key: sorted(runs.values(), key=lambda s: str(s.get("updated", "")), reverse=True)
        for key, runs in grouped.items()
    }


def current(versions: list[dict[str, Any]], bucket: str, etag: str = "") -> dict[str, Any] | None:
    """The result a listing shows for an upload: the newest upload count of these bytes.

    Counts from other buckets, or by a chat-bot job, are versions but not the upload's.
    """
    for version in versions:
        if version.get("bucket") not in (None, bucket) or version.get("origin") not in (
            None,
            "upload",
        ):
            continue
        if not etag or not version.get("etag") or version["etag"] == etag:
            return version
    return None


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
        versions = results.get(key, [])
        shown = current(versions, bucket, etag)
        modified = _datetime(upload.get("LastModified"))
        row: dict[str, Any] = dict(shown) if shown else {"key": key, "status": "counting"}
        if shown is None:
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
