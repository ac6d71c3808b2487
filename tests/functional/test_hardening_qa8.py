"""Hostile input, sixth pass (qa8): download names, the ``runs`` switch, folder markers.

- The console's CSV link and summary export put an image key's or prefix's text in
  ``Content-Disposition`` as it was: a ``"``, ``;`` or newline broke the header, and
  non-ASCII text made a header (and a presigned link) that is no valid HTTP.
- ``GET /counts?runs=0`` (or ``false``) listed runs: any non-empty text was on.
- A zero-byte folder marker (``plate1/``, what the S3 console's "Create folder" makes)
  got an error result under a key no listing shows, and a journal entry.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

import pytest

from chalicelib.cells.messages import ResultKeys
from chalicelib.config import Settings
from chalicelib.faces.messages import output_names
from tests.functional.test_cell_counting import fire_upload, upload
from tests.functional.test_console import count
from tests.images import discs, encode

HOSTILE = ['pl"ate;1.png', "line\nbreak.png", "café ünïcode.png", "a\\b.png"]


def _assert_header(header: str, name: str) -> None:
    header.encode("ascii")  # header text is ASCII: raised UnicodeEncodeError before
    assert "\n" not in header and "\r" not in header
    parts = header.split("; ")
    assert parts[0] == "attachment"
    assert parts[1].startswith('filename="') and parts[1].endswith('"')
    fallback = parts[1][len('filename="') : -1]
    assert '"' not in fallback and ";" not in fallback and "\\" not in fallback
    expected = name.replace("\n", "_").replace("\\", "_")  # no control character, no path
    if len(parts) == 2:  # what is left is safe ASCII: the plain form says it all
        assert fallback == expected
        return
    assert parts[2].startswith("filename*=UTF-8''") and len(parts) == 3
    assert unquote(parts[2][len("filename*=UTF-8''") :]) == expected


@pytest.mark.parametrize("key", HOSTILE)
def test_the_cells_csv_link_names_the_file_as_rfc_6266_wants(client, s3, settings, key) -> None:
    count(s3, settings, key, 2)
    detail = json.loads(client.http.get(f"/console/api/image?key={quote(key)}").body)
    query = parse_qs(urlparse(detail["cells_csv"]).query)
    [header] = query["response-content-disposition"]
    stem = key.rsplit(".", 1)[0]
    _assert_header(header, f"{stem}.cells.csv")


@pytest.mark.parametrize("prefix", ['pl"ate;1/', "café/"])
def test_the_summary_export_names_the_file_as_rfc_6266_wants(client, s3, settings, prefix):
    count(s3, settings, prefix + "A01_1.png", 2)
    exported = client.http.get(f"/console/api/summary/export?prefix={quote(prefix)}&format=csv")
    assert exported.status_code == 200
    name = prefix.strip("/") + "-counts-wells.csv"
    _assert_header(exported.headers["Content-Disposition"], name)


def test_a_safe_name_keeps_the_plain_header(client, s3, settings) -> None:
    count(s3, settings, "plain/a.png", 1)
    detail = json.loads(client.http.get("/console/api/image?key=plain/a.png").body)
    query = parse_qs(urlparse(detail["cells_csv"]).query)
    assert query["response-content-disposition"] == ['attachment; filename="a.cells.csv"']


@pytest.mark.parametrize("off", ["0", "false", "no", "", "False"])
def test_runs_off_answers_the_latest_count(client, s3, settings, off) -> None:
    count(s3, settings, "r.png", 2)
    answer = json.loads(client.http.get(f"/counts?key=r.png&runs={off}").body)
    assert "runs" not in answer and answer["count"] == 2  # before: the list of runs


@pytest.mark.parametrize("on", ["1", "true", "yes", "TRUE"])
def test_runs_on_lists_runs(client, s3, settings, on) -> None:
    count(s3, settings, "r.png", 2)
    answer = json.loads(client.http.get(f"/counts?key=r.png&runs={on}").body)
    assert len(answer["runs"]) == 1


@pytest.mark.parametrize("other", ["2", "on?", "maybe", "-1"])
def test_runs_anything_else_is_a_400(client, s3, settings, other) -> None:
    count(s3, settings, "r.png", 2)
    answer = client.http.get(f"/counts?key=r.png&runs={quote(other)}")
    assert answer.status_code == 400 and "runs" in json.loads(answer.body)["reason"]


def _keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


@pytest.mark.parametrize("key", ["plate1/", "a/b/", "/"])
def test_a_folder_marker_upload_is_not_counted(client, s3, fake_lambda, settings, key) -> None:
    upload(s3, settings, key, b"")
    fire_upload(client, settings, key)
    assert fake_lambda.invocations == []
    assert _keys(s3, settings.results_bucket) == []  # before: an error result and a journal
    assert ResultKeys.for_image(key).result not in s3.puts
    # an image in that folder still counts
    upload(s3, settings, key.lstrip("/") + "a.png", encode(discs(), ".png"))
    fire_upload(client, settings, key.lstrip("/") + "a.png")
    assert len(fake_lambda.invocations) == 1


@pytest.mark.parametrize("key", ["clips/", "a/b/", "/"])
def test_a_folder_marker_upload_is_not_blurred(client, s3: Any, settings: Settings, key) -> None:
    s3.put_object(Bucket=settings.videos_bucket, Key=key, Body=b"")
    event = client.events.generate_s3_event(bucket=settings.videos_bucket, key=key)
    client.lambda_.invoke("on_video_uploaded", event)
    assert output_names(key)["result"] not in s3.puts  # before: "not a video", listed nowhere
    assert _keys(s3, settings.blurred_videos_bucket) == []
