"""Chat jobs that used to be lost or retried as outages (qa7).

- A ``count-cells`` job whose ``method`` param is not text (``5``, ``["hough"]``)
  crashed the counter on ``.lower()``: a function error, retried as an outage into the
  dead-letter queue, no answer until then.
- A ``count-cells`` job whose image was uploaded again between the worker's look and the
  counter's download: the counter skipped the old version (nothing written) and the
  worker answered ``ok`` with ``count: null`` and links to results that do not exist.
- A ``blur-faces`` job naming an image the face-blur function refuses (corrupt, not an
  image, over 100 MP): the function raised its named error (``CorruptInput``), Lambda
  reported a ``FunctionError``, and the worker retried it as an outage into the DLQ.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from chalicelib.cells.container import handle_count_request
from chalicelib.errors import InvalidInput
from chalicelib.workers.messages import Job
from chalicelib.workers.tasks import TaskRunner
from tests.images import discs, encode


class InProcessLambda:
    """Runs a container function in this process and answers as Lambda does (an unhandled
    error is a ``FunctionError`` with the error's type and message)."""

    def __init__(self, handler: Any = handle_count_request) -> None:
        self.invoked = 0
        self._handler = handler

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.invoked += 1
        try:
            answer = self._handler(json.loads(kwargs["Payload"]))
        except Exception as error:  # noqa: BLE001 - what Lambda reports for an unhandled error
            answer = {"errorMessage": str(error), "errorType": type(error).__name__}
            return {
                "FunctionError": "Unhandled",
                "Payload": io.BytesIO(json.dumps(answer).encode()),
            }
        return {"Payload": io.BytesIO(json.dumps(answer).encode())}


@pytest.mark.parametrize("method", [5, 1.5, True, ["hough"], {"a": 1}])
def test_a_count_job_with_a_method_that_is_no_name_is_answered_not_retried(
    s3, settings, method: Any
) -> None:
    s3.put_object(Bucket=settings.images_bucket, Key="a.png", Body=encode(discs(), ".png"))
    lambda_ = InProcessLambda()
    runner = TaskRunner(settings, s3, lambda_, start_video=lambda b, k: "", predict=lambda o: {})
    job = Job("j", "count-cells", f"s3://{settings.images_bucket}/a.png", {"method": method})
    with pytest.raises(InvalidInput, match="method"):
        runner.run(job)
    assert lambda_.invoked == 0  # refused before the counter is started


class ReplacedAfterHead:
    """S3 for the worker: the image is uploaded again right after the worker looks at it."""

    def __init__(self, inner: Any, settings: Any) -> None:
        self._inner = inner
        self._settings = settings

    def head_object(self, **kwargs: Any) -> Any:
        answer = self._inner.head_object(**kwargs)
        body = encode(discs(centres=((40, 40),)), ".png")
        self._inner.put_object(Bucket=kwargs["Bucket"], Key=kwargs["Key"], Body=body)
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_count_job_whose_image_is_replaced_meanwhile_is_retried_not_answered_empty(
    s3, settings
) -> None:
    # The counter skips a version that is no longer stored ("skipped", nothing written);
    # the worker answered that "ok" with count null and links to results never written.
    s3.put_object(Bucket=settings.images_bucket, Key="a.png", Body=encode(discs(), ".png"))
    lambda_ = InProcessLambda()
    runner = TaskRunner(
        settings,
        ReplacedAfterHead(s3, settings),
        lambda_,
        start_video=lambda b, k: "",
        predict=lambda o: {},
    )
    job = Job("j", "count-cells", f"s3://{settings.images_bucket}/a.png", {})
    with pytest.raises(Exception, match="changed") as raised:
        runner.run(job)
    assert not isinstance(raised.value, InvalidInput)  # retried: the next attempt counts
    assert lambda_.invoked == 1


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("bad.jpg", b"\xff\xd8\xff\xe0 not a jpeg"),
        ("notes.png", b"plain text, not a PNG"),
        ("empty.png", b""),
    ],
)
def test_a_blur_job_for_an_image_the_function_refuses_is_answered_not_retried(
    s3, settings, key: str, body: bytes
) -> None:
    from chalicelib.faces.container import handle_face_blur

    s3.put_object(Bucket=settings.images_bucket, Key=key, Body=body)
    lambda_ = InProcessLambda(handle_face_blur)
    runner = TaskRunner(settings, s3, lambda_, start_video=lambda b, k: "", predict=lambda o: {})
    job = Job("j", "blur-faces", f"s3://{settings.images_bucket}/{key}", {})
    with pytest.raises(InvalidInput):
        runner.run(job)
    assert lambda_.invoked == 1
