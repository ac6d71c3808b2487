"""What each job task does. Heavy work goes to the container functions.

A task returns its result (a JSON-able dict) or raises: ``InvalidInput`` for a
job that can never succeed (answered with an error at once), anything else for
a failure that a retry may fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib import observability
from chalicelib.cells.handlers import Intake
from chalicelib.cells.messages import CountRequest, ResultKeys
from chalicelib.config import Settings
from chalicelib.errors import InvalidInput, TransientError
from chalicelib.faces.messages import is_video_key
from chalicelib.storage import Bucket
from chalicelib.workers.messages import Job, s3_location

Task = Callable[[Job], dict[str, Any]]


class FunctionFailed(RuntimeError):
    """A container function answered with an unhandled error (retried)."""


class ObjectChanged(TransientError):
    """The object was replaced between the worker's look and the count (retried: the next
    attempt looks again and counts what is stored then)."""


class TaskRunner:
    def __init__(
        self,
        settings: Settings,
        s3: Any,
        lambda_client: Any,
        start_video: Callable[[str, str], str],
        predict: Callable[[Any], dict[str, Any]],
    ) -> None:
        self._settings = settings
        self._s3 = s3
        self._lambda = lambda_client
        self._start_video = start_video
        self._predict = predict
        self.tasks: dict[str, Task] = {
            "count-cells": self.count_cells,
            "blur-faces": self.blur_faces,
            "predict": self.predict,
        }

    def run(self, job: Job) -> dict[str, Any]:
        return self.tasks[job.task](job)

    def count_cells(self, job: Job) -> dict[str, Any]:
        bucket, key = s3_location(job.input)
        head = self._head(bucket, key)
        params = {str(k): str(v) for k, v in job.params.items() if k != "method"}
        request = CountRequest(
            bucket,
            key,
            head["ETag"].strip('"'),
            int(head["ContentLength"]),
            head.get("VersionId"),
            job.params.get("method"),
            params,
            origin="bot",  # kept as its own run: never overwrites an upload's result
        )
        Intake(self._settings, self._s3, self._lambda).check(request)
        document = self._invoke(self._settings.cell_counter_function, request.to_payload())
        if document.get("status") == "error":
            raise InvalidInput(document["error"]["reason"])
        if document.get("status") != "ok":  # "skipped": replaced or deleted since the head
            raise ObjectChanged(
                f"s3://{bucket}/{key} changed while it was counted "
                f"({document.get('reason', document.get('status'))}); counted again on retry"
            )
        keys = ResultKeys.for_run(key, request.run)
        return {
            "count": document.get("count"),
            "reliable": document.get("reliable"),
            "run": request.run,
            "method": document.get("method"),
            "width": document.get("width"),
            "height": document.get("height"),
            "result": f"s3://{self._settings.results_bucket}/{keys.result}",
            "annotated": f"s3://{self._settings.results_bucket}/{keys.annotated}",
        }

    def blur_faces(self, job: Job) -> dict[str, Any]:
        bucket, key = s3_location(job.input)
        self._head(bucket, key)
        if is_video_key(key):  # videos go through the face-blur workflow
            started = self._start_video(bucket, key)
            return {
                "workflow": started,
                "output_bucket": self._settings.blurred_videos_bucket,
                "note": "the blurred video and its JSON result appear when the workflow ends",
            }
        return self._invoke(
            self._settings.face_blur_function,
            {"action": "blur_image", "bucket": bucket, "key": key},
        )

    def predict(self, job: Job) -> dict[str, Any]:
        return self._predict(job.input)

    def _head(self, bucket: str, key: str) -> Mapping[str, Any]:
        head = Bucket(self._s3, bucket).head(key)
        if head is None:
            raise InvalidInput(f"s3://{bucket}/{key} does not exist")
        return head

    def _invoke(self, function: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = self._lambda.invoke(
            FunctionName=function,
            InvocationType="RequestResponse",
            Payload=json.dumps(observability.stamped(payload)).encode(),
        )
        document = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            error = document if isinstance(document, dict) else {}
            reason = f"{function}: {error.get('errorMessage', document)}"
            if error.get("errorType") in refused_input_types():
                raise InvalidInput(reason)  # the function's verdict on the input: no retry
            raise FunctionFailed(reason)
        if not isinstance(document, dict):
            raise FunctionFailed(f"{function} returned {document!r}")
        return document


def refused_input_types() -> frozenset[str]:
    """The names of ``InvalidInput`` and its subclasses: what a function raises for input
    that can never succeed (a corrupt image: ``CorruptInput``). Lambda reports such an
    error as a ``FunctionError`` with its ``errorType``; retrying it only delays the answer.

    >>> {"InvalidInput", "CorruptInput", "TooLarge"} <= refused_input_types()
    True
    """
    found: set[str] = set()
    pending: list[type] = [InvalidInput]
    while pending:
        kind = pending.pop()
        found.add(kind.__name__)
        pending.extend(kind.__subclasses__())
    return frozenset(found)
