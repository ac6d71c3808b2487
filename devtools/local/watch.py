"""``lab local`` prints one line per finished result: counts, videos, painting and chat jobs.

Polls the listings of where each pipeline writes its results (a second apart)
and reads each new or changed result document once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

Formatter = Callable[[dict[str, Any]], str | None]


def count_line(result: dict[str, Any]) -> str | None:
    """``counted plate1/A01.png: 123 cells (watershed, 210 ms)`` or the error's reason."""
    key = result.get("key", "?")
    if result.get("status") == "ok":
        warnings = (result.get("qc") or {}).get("warnings") or []
        flag = f"; QC: {'; '.join(map(str, warnings))}" if warnings else ""
        return (
            f"counted  {key}: {result.get('count')} cells ({result.get('method')}, "
            f"{result.get('elapsed_ms', 0):.0f} ms){flag}"
        )
    if result.get("status") == "error":
        return f"rejected {key}: {(result.get('error') or {}).get('reason')}"
    return None


def video_line(result: dict[str, Any]) -> str | None:
    key = result.get("key", "?")
    if result.get("status") == "ok":
        return (
            f"blurred  {key}: {result.get('face_boxes_blurred')} face boxes in "
            f"{result.get('frames')} frames -> {(result.get('output') or {}).get('key')}"
        )
    if result.get("status") == "error":
        return f"failed   {key}: {(result.get('error') or {}).get('reason')}"
    return None


def painting_line(record: dict[str, Any]) -> str | None:
    state = record.get("state")
    if state not in ("succeeded", "failed", "rejected"):
        return None
    reason = f": {record.get('reason')}" if record.get("reason") else ""
    return f"painting {record.get('job_id')}: {state}{reason}"


def job_line(record: dict[str, Any]) -> str | None:
    if record.get("status") not in ("ok", "error", "failed"):
        return None
    return f"job      {record.get('job_id')} ({record.get('task')}): {record.get('status')}"


@dataclass(frozen=True)
class Source:
    bucket: str
    prefix: str
    suffix: str
    line: Formatter
    skip: str = "\0"  # keys containing this are not results (e.g. ``_work/``)
    need: str = ""  # keys must contain this (a count's run, not the upload's copy of it)


def sources(settings: Any) -> list[Source]:
    """Where each pipeline's finished results appear."""
    return [
        Source(settings.results_bucket, "counts/", "/result.json", count_line, need="/runs/"),
        Source(settings.blurred_videos_bucket, "", ".json", video_line, skip="_work/"),
        Source(settings.data_bucket, "painting-jobs/", ".json", painting_line),
        Source(settings.results_bucket, "results/jobs/", ".json", job_line),
    ]


class ResultWatcher:
    def __init__(self, s3: Any, watched: list[Source], say: Callable[[str], None]) -> None:
        self._s3 = s3
        self._sources = watched
        self._say = say
        self._seen: dict[tuple[str, str], str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def prime(self) -> None:
        """Remember what is there already (restored results are not news)."""
        for source in self._sources:
            for key, etag in self._listing(source):
                self._seen[(source.bucket, key)] = etag

    def poll(self) -> list[str]:
        """Read results that are new or changed since the last poll; their lines."""
        lines = []
        for source in self._sources:
            for key, etag in self._listing(source):
                if self._seen.get((source.bucket, key)) == etag:
                    continue
                self._seen[(source.bucket, key)] = etag
                body = self._s3.get_object(Bucket=source.bucket, Key=key)["Body"].read()
                try:
                    line = source.line(json.loads(body))
                except ValueError:
                    line = None
                if line:
                    lines.append(line)
        return lines

    def _listing(self, source: Source) -> list[tuple[str, str]]:
        found = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=source.bucket, Prefix=source.prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith(source.suffix) and source.skip not in key and source.need in key:
                    found.append((key, str(item.get("ETag", ""))))
        return found

    def start(self, every: float = 1.0) -> None:
        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    for line in self.poll():
                        self._say(line)
                except Exception:
                    log.exception("could not list the results")

        self._thread = threading.Thread(target=loop, name="result-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
