"""The console's routes through the app (chalice.test.Client) on in-memory S3."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from chalicelib.cells.container import CellCounter
from chalicelib.cells.messages import CountRequest
from chalicelib.config import Settings
from tests.images import discs, encode

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def count(s3: Any, settings: Settings, key: str, n: int) -> dict[str, Any]:
    """Upload an image of ``n`` discs and count it with the real counter."""
    centres = [(25 + 40 * (i % 4), 25 + 50 * (i // 4)) for i in range(n)]
    put = s3.put_object(
        Bucket=settings.images_bucket, Key=key, Body=encode(discs((150, 180), centres, 10), ".png")
    )
    request = CountRequest(settings.images_bucket, key, put["ETag"].strip('"'))
    return CellCounter(settings, s3).process(request)


def get(client: Any, path: str, **headers: str) -> Any:
    return client.http.get(path, headers=headers)


def body(response: Any) -> Any:
    return json.loads(response.body)


def test_the_page_and_its_files(client: Any) -> None:
    page = get(client, "/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert b'src="console/console.js"' in page.body
    script = get(client, "/console/console.js")
    assert script.headers["Content-Type"].startswith("text/javascript")
    again = get(client, "/console/console.js", **{"If-None-Match": script.headers["ETag"]})
    assert again.status_code == 304 and not again.body
    assert get(client, "/console/console.css").headers["Content-Type"].startswith("text/css")
    assert get(client, "/console/secrets.py").status_code == 404
    assert get(client, "/console/..%2Fpages.py").status_code == 404
    assert body(get(client, "/console/auth.json")) == {"mode": "none"}


def test_listing_joins_uploads_and_results_and_caches(client, s3, settings) -> None:
    counted = {k: count(s3, settings, k, n) for k, n in (("f/A01.png", 3), ("f/A02.png", 5))}
    s3.put_object(Bucket=settings.images_bucket, Key="f/B01.png", Body=b"not yet counted")
    listing = body(get(client, "/console/api/images?prefix=f/&sort=key"))
    rows = {r["key"]: r for r in listing["items"]}
    assert listing["states"] == {"ok": 2, "counting": 1}
    assert rows["f/A01.png"]["count"] == counted["f/A01.png"]["count"] == 3
    assert rows["f/A02.png"]["count"] == 5 and rows["f/A02.png"]["thumbnail"].startswith("http")
    assert rows["f/B01.png"]["status"] == "counting" and rows["f/B01.png"]["thumbnail"] is None
    writes = len(s3.puts)
    again = body(get(client, "/console/api/images?prefix=f/&sort=key&per_page=1&page=2"))
    assert len(s3.puts) == writes  # nothing changed: the index is not rewritten
    assert [r["key"] for r in again["items"]] == ["f/A02.png"] and again["pages"] == 3


def test_image_detail_has_links_and_cells(client, s3, settings) -> None:
    result = count(s3, settings, "d/one.png", 4)
    detail = body(get(client, "/console/api/image?key=d/one.png"))
    assert detail["count"] == 4 and len(detail["document"]["cells"]) == 4
    assert "annotated.png" in detail["annotated"] and "cells.csv" in detail["cells_csv"]
    assert detail["document"]["etag"] == result["etag"]
    missing = get(client, "/console/api/image")
    assert missing.status_code == 400 and "key" in body(missing)["reason"]


def test_upload_forms_carry_parameters_as_metadata(client, s3, settings) -> None:
    answer = client.http.post(
        "/console/api/uploads",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"prefix": "plate 2", "files": ["A01 s1.tif"], "diameter": "14"}),
    )
    [form] = body(answer)["forms"]
    assert form["key"] == "plate 2/A01_s1.tif"
    assert form["fields"]["x-amz-meta-count-diameter"] == "14"
    policy = json.loads(__import__("base64").b64decode(form["fields"]["policy"]))
    assert {"x-amz-meta-count-diameter": "14"} in policy["conditions"]
    assert ["content-length-range", 1, settings.max_image_bytes] in policy["conditions"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"files": []}, "files must be a list"),
        ({"files": ["a.txt"]}, "not an image"),
        ({"files": ["a.png"], "threshold_offset": "2"}, "threshold_offset must be between"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_uploads_get_the_reason(client, s3, payload, reason) -> None:
    answer = client.http.post(
        "/console/api/uploads",
        headers={"Content-Type": "application/json"},
        body=json.dumps(payload),
    )
    assert answer.status_code == 400 and reason in body(answer)["reason"]


def test_recount_sends_the_stored_image_to_the_counter(client, s3, fake_lambda, settings) -> None:
    result = count(s3, settings, "r/x.png", 2)
    answer = client.http.post(
        "/console/api/recount",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"key": "r/x.png", "method": "hough", "diameter": 20}),
    )
    assert answer.status_code == 202
    [invocation] = fake_lambda.invocations
    assert invocation["InvocationType"] == "Event"
    payload = invocation["Payload"]
    assert payload["etag"] == result["etag"] and payload["method"] == "hough"
    assert payload["parameters"] == {"diameter": "20"}
    gone = client.http.post(
        "/console/api/recount",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"key": "r/nothing.png"}),
    )
    assert gone.status_code == 404


def test_plate_summary_as_json_csv_and_xlsx(client, s3, settings) -> None:
    for key, n in (("p/A01_1.png", 2), ("p/A01_2.png", 4), ("p/C05_1.png", 6)):
        count(s3, settings, key, n)
    summary = body(get(client, "/console/api/summary?prefix=p/"))
    wells = {w["well"]: w for w in summary["wells"]}
    assert wells["A01"]["total_count"] == 6 and wells["C05"]["mean_count"] == 6.0
    assert summary["plates"][0]["grid"][2][4] == 6.0
    exported = get(client, "/console/api/summary/export?prefix=p/&format=csv&table=wells")
    assert exported.headers["Content-Disposition"] == 'attachment; filename="p-counts-wells.csv"'
    rows = list(csv.DictReader(io.StringIO(exported.body.decode())))
    assert [(r["well"], r["total_count"]) for r in rows] == [("A01", "6"), ("C05", "6")]
    book = get(client, "/console/api/summary/export?prefix=p/&format=xlsx", Accept=XLSX)
    assert book.status_code == 200 and book.body[:2] == b"PK"
    openpyxl = pytest.importorskip("openpyxl")
    sheets = openpyxl.load_workbook(io.BytesIO(book.body))
    assert sheets.sheetnames == ["Images", "Wells", "Plate map"]
    assert sheets["Plate map"]["B2"].value == 3  # A01: mean of 2 and 4
    bad = get(client, "/console/api/summary/export?prefix=p/&format=pdf")
    assert bad.status_code == 400 and "csv or xlsx" in body(bad)["reason"]


def test_bad_pages_are_client_errors(client, s3) -> None:
    for query in ("per_page=0", "page=x", "sort=size", "prefix=%01"):
        answer = get(client, f"/console/api/images?{query}")
        assert answer.status_code == 400, query


@pytest.mark.parametrize("name", ["x" * 300 + ".js", "x" * 5000 + ".css", "a" * 255 + ".html"])
def test_a_file_name_too_long_for_the_file_system_is_a_404(client, name: str) -> None:
    # the name reached the file system (ENAMETOOLONG, an OSError is_file does not swallow)
    answer = client.http.get("/console/" + name)
    assert answer.status_code == 404
    assert b"no console file" in answer.body


def test_the_index_follows_the_journal_and_rebuilds_to_see_deletions(s3, settings) -> None:
    import time

    from chalicelib.console.results import INDEX_PREFIX, ResultIndex, latest_by_image

    offset = [0.0]
    index = ResultIndex(
        s3,
        settings.results_bucket,
        settings.images_bucket,
        clock=lambda: time.time() + offset[0],
        rebuild_s=300,
    )

    def keys() -> list[str]:
        return sorted(latest_by_image(index.snapshot("j/").summaries))

    count(s3, settings, "j/A01.png", 2)
    assert keys() == ["j/A01.png"]
    [built] = [o["Key"] for o in s3.list_objects_v2(Bucket=settings.results_bucket,
                                                     Prefix=INDEX_PREFIX)["Contents"]]  # fmt: skip
    first = json.loads(s3.get_object(Bucket=settings.results_bucket, Key=built)["Body"].read())
    count(s3, settings, "j/A02.png", 3)  # its journal entry, not a listing, brings it in
    assert keys() == ["j/A01.png", "j/A02.png"]
    now = json.loads(s3.get_object(Bucket=settings.results_bucket, Key=built)["Body"].read())
    assert now["built"] == first["built"] and now["results"].keys() > first["results"].keys()
    s3.delete_object(Bucket=settings.images_bucket, Key="j/A01.png")
    for item in s3.list_objects_v2(Bucket=settings.results_bucket, Prefix="counts/j/A01.png/")[
        "Contents"
    ]:
        s3.delete_object(Bucket=settings.results_bucket, Key=item["Key"])
    assert keys() == ["j/A01.png", "j/A02.png"]  # deletions are not journalled...
    offset[0] = 301
    assert keys() == ["j/A02.png"]  # ...the next rebuild sees them
