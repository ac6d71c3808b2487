"""Local results that survive a restart: the emulator's buckets mirrored to a folder.

``lab local`` keeps every object of the stage's buckets under
``<folder>/<bucket>/<key>`` (with ``<folder>/<bucket>.objects.json`` holding each
object's content type, user metadata and ETag) and puts them back on the next
start. The emulator lives in memory; this folder is what makes a result's link
still work tomorrow.

Sync is incremental (only objects whose ETag changed are downloaded) and runs
every few seconds and once more on stop, so even a killed process loses at
most the last few seconds. Restoring happens with the bucket's notifications
switched off, so restored uploads are not counted again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".objects.json"


def _local_path(folder: Path, bucket: str, key: str) -> Path:
    """Where an object is kept; keys that would leave the folder are refused."""
    path = (folder / bucket / key).resolve()
    if not path.is_relative_to((folder / bucket).resolve()) or key.endswith("/"):
        raise ValueError(f"object key {key!r} cannot be kept as a file")
    return path


@contextlib.contextmanager
def notifications_paused(s3: Any, bucket: str) -> Iterator[None]:
    """Objects written inside fire no S3 events (restored, not new, uploads)."""
    notifications = s3.get_bucket_notification_configuration(Bucket=bucket)
    notifications.pop("ResponseMetadata", None)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    try:
        yield
    finally:
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=notifications
        )


class BucketMirror:
    """Mirrors ``buckets`` between the emulator (``s3``) and ``folder``."""

    def __init__(self, s3: Any, buckets: Iterable[str], folder: Path) -> None:
        self._s3 = s3
        self._buckets = list(buckets)
        self.folder = folder
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- restore ----------------------------------------------------------------------
    def restore(self) -> int:
        """Upload every kept object back into its (empty, new) bucket; the number restored."""
        restored = 0
        for bucket in self._buckets:
            manifest = self._manifest(bucket)
            if manifest:
                with notifications_paused(self._s3, bucket):
                    restored += self._restore_bucket(bucket, manifest)
        return restored

    def _restore_bucket(self, bucket: str, manifest: dict[str, dict[str, Any]]) -> int:
        restored = 0
        for key, info in manifest.items():
            path = _local_path(self.folder, bucket, key)
            if not path.is_file():
                log.warning("kept object %s/%s is missing from %s", bucket, key, self.folder)
                continue
            extra = {"Metadata": dict(info.get("metadata") or {})}
            if info.get("content_type"):
                extra["ContentType"] = info["content_type"]
            self._s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), **extra)
            restored += 1
        return restored

    # -- sync -------------------------------------------------------------------------
    def sync(self) -> int:
        """Bring the folder up to date with the buckets; the number of objects written."""
        with self._lock:
            return sum(self._sync_bucket(bucket) for bucket in self._buckets)

    def _sync_bucket(self, bucket: str) -> int:
        kept = self._manifest(bucket)
        listed: dict[str, str] = {}
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                listed[item["Key"]] = str(item.get("ETag", ""))
        written = 0
        for key, etag in listed.items():
            if kept.get(key, {}).get("etag") == etag:
                continue
            try:
                path = _local_path(self.folder, bucket, key)
            except ValueError as error:
                log.warning("%s", error)
                continue
            obj = self._s3.get_object(Bucket=bucket, Key=key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(obj["Body"].read())
            kept[key] = {
                "etag": etag,
                "content_type": obj.get("ContentType"),
                "metadata": obj.get("Metadata") or {},
            }
            written += 1
        for key in set(kept) - set(listed):
            _local_path(self.folder, bucket, key).unlink(missing_ok=True)
            del kept[key]
            written += 1
        if written:
            self._write_manifest(bucket, kept)
        return written

    def _manifest(self, bucket: str) -> dict[str, dict[str, Any]]:
        path = self.folder / (bucket + MANIFEST_SUFFIX)
        if not path.is_file():
            return {}
        return dict(json.loads(path.read_text()))

    def _write_manifest(self, bucket: str, manifest: dict[str, dict[str, Any]]) -> None:
        path = self.folder / (bucket + MANIFEST_SUFFIX)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(manifest, indent=0, sort_keys=True))
        temporary.replace(path)  # a crash mid-write never leaves half a manifest

    # -- in the background --------------------------------------------------------------
    def start(self, every: float = 3.0) -> None:
        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.sync()
                except Exception:
                    log.exception("could not keep the local buckets in %s", self.folder)

        self._thread = threading.Thread(target=loop, name="bucket-mirror", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.sync()
