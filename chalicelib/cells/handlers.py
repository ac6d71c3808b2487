"""Zip-Lambda side of cell counting: check an upload, hand it to the counter.

No OpenCV here: this runs in the Chalice function on every upload, so it only
looks at the object's metadata and leaves decoding to the container function.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from chalicelib import aws, observability
from chalicelib.cells.messages import (
    CountRequest,
    check_method,
    parameters_from_metadata,
    parse_flag,
)
from chalicelib.cells.probe import format_for_key
from chalicelib.cells.records import ResultStore
from chalicelib.config import Settings, get_settings
from chalicelib.console import journal
from chalicelib.errors import EmptyInput, InvalidInput, TooLarge
from chalicelib.storage import Bucket, is_folder_marker

log = logging.getLogger(__name__)


class Intake:
    def __init__(self, settings: Settings, s3: Any, lambda_client: Any) -> None:
        self._settings = settings
        self._s3 = s3
        self._lambda = lambda_client
        self.results = ResultStore(s3, settings.results_bucket)

    def accept(self, bucket: str, key: str) -> str:
        """Validate the uploaded object and start counting it.

        Returns what happened: ``"dispatched"``, ``"rejected"`` (an error result
        was written), ``"gone"`` (the object was deleted before we looked) or
        ``"ignored"`` (a folder marker, ``plate1/``: no image, no result).
        Transient AWS errors propagate so the event is retried.
        """
        if is_folder_marker(key):
            log.info("s3://%s/%s is a folder marker: not counted", bucket, key)
            return "ignored"
        head = Bucket(self._s3, bucket).head(key)
        if head is None:
            log.info("s3://%s/%s was deleted before it could be counted", bucket, key)
            return "gone"
        observability.adopt(observability.from_metadata(head.get("Metadata")))
        store = Bucket(self._s3, self._settings.results_bucket)
        journal.record(store, journal.upload_entry(bucket, key, head))  # for the console's list
        method, parameters = parameters_from_metadata(head.get("Metadata") or {})
        request = CountRequest(
            bucket=bucket,
            key=key,
            etag=head.get("ETag", "").strip('"'),
            size=int(head.get("ContentLength", 0)),
            version_id=head.get("VersionId"),
            method=method,
            parameters=parameters,
        )
        try:
            self.check(request)
        except InvalidInput as error:
            log.warning("rejected s3://%s/%s: %s", bucket, key, error)
            observability.metric("Failures", 1, f"cells:{error.kind}")
            self.results.write_error(request, error)
            return "rejected"
        self._lambda.invoke(
            FunctionName=self._settings.cell_counter_function,
            InvocationType="Event",
            Payload=json.dumps(observability.stamped(request.to_payload())).encode(),
        )
        log.info("counting s3://%s/%s", bucket, key)
        return "dispatched"

    def check(self, request: CountRequest) -> None:
        check_method(request.method)  # before the counter decodes a 100 MP image to say so
        format_for_key(request.key)
        if request.size == 0:
            raise EmptyInput("the object is empty (0 bytes)")
        if request.size > self._settings.max_image_bytes:
            raise TooLarge(
                f"the object is {request.size / 2**20:.1f} MiB; "
                f"the limit is {self._settings.max_image_bytes / 2**20:.0f} MiB"
            )


def default_intake() -> Intake:
    return Intake(get_settings(), aws.client("s3"), aws.client("lambda"))


def on_image_uploaded(bucket: str, key: str) -> str:
    return default_intake().accept(bucket, key)


def get_count(key: str | None, run: str | None = None, runs: str | None = None) -> dict[str, Any]:
    """The ``GET /counts?key=`` route: the latest upload's result for an image key.

    ``&run=<id>`` returns one earlier count (another method, other parameters,
    another bucket, a chat-bot job); ``&runs=1`` lists every run of the key.
    """
    if not key:
        raise InvalidInput("pass the image key as ?key=<key>")
    store = ResultStore(aws.client("s3"), get_settings().results_bucket)
    if parse_flag(runs, "runs"):
        return {"key": key, "runs": store.runs(key)}
    return store.read(key, run)
