"""The cell-counting upload path under hostile timing and metadata (qa7).

- The same key uploaded again while its first version is being counted: the first
  count, finishing last, replaced the second's in ``GET /counts`` (and in the run both
  share): the key answered a count of bytes no longer stored.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from chalicelib.cells.container import CellCounter, handle_count_request
from chalicelib.cells.messages import CountRequest
from chalicelib.config import Settings
from tests.functional.test_cell_counting import fire_upload, result, upload
from tests.images import DISCS, discs, encode


class UploadWhileCounting:
    """S3 for the first counter: right after it downloads, the key is uploaded again and
    that version is counted to the end (a second, faster counter)."""

    def __init__(self, inner: Any, settings: Settings, key: str, newer: bytes) -> None:
        self._inner = inner
        self._settings = settings
        self._key = key
        self._newer = newer
        self.newer_count: dict[str, Any] = {}

    def get_object(self, **kwargs: Any) -> Any:
        answer = self._inner.get_object(**kwargs)
        if kwargs["Bucket"] == self._settings.images_bucket and not self.newer_count:
            data = answer["Body"].read()
            etag = upload(self._inner, self._settings, self._key, self._newer)
            payload = {"bucket": self._settings.images_bucket, "key": self._key, "etag": etag}
            self.newer_count = CellCounter(self._settings, self._inner).process(
                CountRequest.from_payload(payload)
            )
            answer = {**answer, "Body": io.BytesIO(data)}
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.parametrize("older", [encode(discs(), ".png"), b"\x89PNG\r\n\x1a\n broken"])
def test_a_count_of_a_replaced_upload_never_replaces_the_newer_count(
    client, s3, settings, older: bytes
) -> None:
    etag = upload(s3, settings, "r.png", older)
    racing = UploadWhileCounting(s3, settings, "r.png", encode(discs(centres=DISCS[:2]), ".png"))
    payload = {"bucket": settings.images_bucket, "key": "r.png", "etag": etag}
    first = CellCounter(settings, racing).process(CountRequest.from_payload(payload))
    assert racing.newer_count["count"] == 2
    assert first["status"] == "skipped"  # counted, but the object changed meanwhile
    latest = json.loads(client.http.get("/counts?key=r.png").body)
    assert latest["count"] == 2 and latest["etag"] == racing.newer_count["etag"]
    assert result(s3, settings, "r.png")["etag"] == racing.newer_count["etag"]
    run = racing.newer_count["run"]
    assert json.loads(client.http.get(f"/counts?key=r.png&run={run}").body)["count"] == 2


@pytest.mark.parametrize("method", ["../x", "my_method", "Hough Transform", "hough/../watershed"])
def test_a_method_that_is_no_name_gets_an_error_result_its_runs_list(
    client, s3, fake_lambda, settings, method: str
) -> None:
    upload(s3, settings, "m.png", encode(discs(), ".png"), Metadata={"count-method": method})
    fire_upload(client, settings, "m.png")
    for invocation in fake_lambda.invocations:  # (none once the intake refuses it)
        handle_count_request(invocation["Payload"])
    latest = json.loads(client.http.get("/counts?key=m.png").body)
    assert latest["status"] == "error" and "method" in latest["error"]["reason"]
    [listed] = json.loads(client.http.get("/counts?key=m.png&runs=1").body)["runs"]
    answer = client.http.get(f"/counts?key=m.png&run={listed['run']}")
    assert answer.status_code == 200 and json.loads(answer.body)["status"] == "error"
