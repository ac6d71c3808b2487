"""Cell counting: an image key near S3's 1,024-byte limit still gets a findable result."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from chalicelib.cells.container import handle_count_request
from tests.functional.test_cell_counting import fire_upload, upload
from tests.images import DISCS, discs, encode


@pytest.mark.parametrize("length", [930, 1000, 1024])
def test_a_long_key_is_counted_and_found_by_key(client, s3, fake_lambda, settings, length) -> None:
    key = "plate/" + "é" * ((length - len("plate/") - len(".png")) // 2) + ".png"
    key = key[:-4] + "x" * (length - len(key.encode())) + ".png"
    assert len(key.encode()) == length
    upload(s3, settings, key, encode(discs(), ".png"))
    fire_upload(client, settings, key)
    document = handle_count_request(fake_lambda.invocations[0]["Payload"])
    assert document["status"] == "ok"
    too_long = [k for k in s3.puts if len(k.encode()) > 1024]
    assert not too_long  # real S3 refuses these writes (moto does not)
    response = client.http.get(f"/counts?key={quote(key)}")
    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["count"] == len(DISCS) and body["key"] == key
    runs = json.loads(client.http.get(f"/counts?key={quote(key)}&runs=1").body)["runs"]
    assert [r["count"] for r in runs] == [len(DISCS)]
