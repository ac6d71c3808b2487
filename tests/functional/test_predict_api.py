"""The Prediction API through chalice.test.Client: seed bodies, real status codes, S3 batches."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.predict import handlers as service
from chalicelib.predict.handlers import ARTIFACTS, PredictionService, served_model
from tests.functional.conftest import CountingS3
from tests.predict_data import FEATURES, REQUIRED, SEED_BENIGN, SEED_MALIGNANT, observation, rows

JSON = {"Content-Type": "application/json"}


def post(client: Client, path: str, body: Any, headers: dict[str, str] = JSON) -> tuple[int, Any]:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    response = client.http.post(path, headers=headers, body=raw)
    return response.status_code, json.loads(response.body)


def test_seed_examples(client: Client) -> None:
    status, body = post(client, "/predict", SEED_MALIGNANT)
    assert status == 200
    assert body == {
        "reason": "OK",
        "prediction": 0,
        "status": "200",
        "probability": pytest.approx(body["probability"]),
        "label": "malignant",
    }
    assert 0.5 <= body["probability"] <= 1.0
    status, body = post(client, "/predict", SEED_BENIGN)
    assert (status, body["prediction"], body["label"]) == (200, 1, "benign")


def test_missing_feature_answers_the_seed_body_with_a_real_400(client: Client) -> None:
    missing = {k: v for k, v in SEED_BENIGN.items() if k != "worstConcavePoints"}
    status, body = post(client, "/predict", missing)
    assert status == 400
    assert body["status"] == "400" and body["prediction"] == ""
    assert body["reason"].startswith(REQUIRED)


# Client input of every kind: a 4xx with a reason, never a 500.
BAD_BODIES = [
    ("not json", 400),
    ("", 400),
    ("[" * 20_000, 400),
    ('{"meanConcavePoints": NaN}', 400),
    (json.dumps(observation(worstArea="1866")), 400),
    (json.dumps(observation(worstArea=True)), 400),
    (json.dumps(observation(worstArea=None)), 400),
    (json.dumps(observation(worstArea=1e39)), 400),
    (json.dumps(observation(worstArea=10**300)), 400),
    (json.dumps(observation(age=3)), 400),
    (json.dumps([]), 400),
    (json.dumps([SEED_BENIGN, "x"]), 400),
    (json.dumps("x"), 400),
    (json.dumps(3), 400),
    (json.dumps(None), 400),
    (json.dumps([SEED_BENIGN] * 1001), 413),
    (" " * (1024 * 1024 + 1), 413),
    (b"\x00\xff\xfe binary", 400),
]


@pytest.mark.parametrize(("raw", "status"), BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_bad_input_is_a_4xx_never_a_500(client: Client, raw: str | bytes, status: int) -> None:
    code, body = post(client, "/predict", raw)
    assert (code, body["status"]) == (status, str(status))
    assert body["reason"] and body["prediction"] == ""


def test_value_errors_name_the_field(client: Client) -> None:
    _, body = post(client, "/predict", observation(worstTexture=float("inf")))
    assert body["reason"] == "'worstTexture' must be a finite number, got Infinity"


def test_a_list_is_answered_in_order(client: Client) -> None:
    batch = [dict(zip(FEATURES, row, strict=True)) for row in rows(25)]
    status, body = post(client, "/predict", batch)
    assert status == 200 and body["count"] == 25
    singles = [post(client, "/predict", one)[1] for one in batch]
    assert [p["prediction"] for p in body["predictions"]] == [s["prediction"] for s in singles]
    assert [p["probability"] for p in body["predictions"]] == [s["probability"] for s in singles]
    assert {p["label"] for p in body["predictions"]} == {"malignant", "benign"}


def test_json_sent_without_the_header_is_still_json(client: Client) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}  # curl -d without -H
    assert post(client, "/predict", SEED_BENIGN, headers=form)[0] == 200


def test_model_metadata(client: Client) -> None:
    response = client.http.get("/model")
    assert response.status_code == 200
    assert json.loads(response.body) == json.loads((ARTIFACTS / "metadata.json").read_text())


# -- POST /predict/batch against moto's S3 ---------------------------------------------


def csv_of(table: list[list[float]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([FEATURES, *table])
    return out.getvalue().encode()


def read_output(s3: CountingS3, settings: Settings, key: str) -> list[dict[str, str]]:
    data = s3.get_object(Bucket=settings.results_bucket, Key=key)["Body"].read().decode()
    return list(csv.DictReader(io.StringIO(data)))


def test_batch_csv_from_any_readable_bucket(
    client: Client, s3: CountingS3, settings: Settings
) -> None:
    table = rows(40)
    s3.put_object(Bucket=settings.images_bucket, Key="obs/run 1.csv", Body=csv_of(table))
    status, body = post(
        client, "/predict/batch", {"bucket": settings.images_bucket, "key": "obs/run 1.csv"}
    )
    assert status == 200, body
    assert body["output"] == {
        "bucket": settings.results_bucket,
        "key": "predictions/obs/run 1.csv.csv",
    }
    assert body["rows"] == 40 and sum(body["counts"].values()) == 40
    out = read_output(s3, settings, "predictions/obs/run 1.csv.csv")
    _, direct = post(client, "/predict", [dict(zip(FEATURES, r, strict=True)) for r in table])
    assert [int(r["prediction"]) for r in out] == [p["prediction"] for p in direct["predictions"]]
    assert [float(r["probability"]) for r in out] == [
        p["probability"] for p in direct["predictions"]
    ]


def test_batch_json_lines(client: Client, s3: CountingS3, settings: Settings) -> None:
    lines = "\n".join(json.dumps({**SEED_BENIGN, "id": f"p{i}"}) for i in range(3))
    s3.put_object(Bucket=settings.data_bucket, Key="obs.jsonl", Body=lines.encode())
    status, body = post(
        client, "/predict/batch", {"bucket": settings.data_bucket, "key": "obs.jsonl"}
    )
    assert status == 200 and body["counts"] == {"benign": 3}
    out = read_output(s3, settings, "predictions/obs.jsonl.csv")
    assert [r["id"] for r in out] == ["p0", "p1", "p2"]


def test_batch_joblib_only_from_the_trusted_bucket(
    client: Client, s3: CountingS3, settings: Settings
) -> None:
    np = pytest.importorskip("numpy")
    joblib = pytest.importorskip("joblib")
    buffer = io.BytesIO()
    joblib.dump(np.array(rows(10)), buffer)  # what the seed's batch Lambda read
    for bucket in (settings.data_bucket, settings.images_bucket):
        s3.put_object(Bucket=bucket, Key="X_test.joblib", Body=buffer.getvalue())

    status, body = post(
        client, "/predict/batch", {"bucket": settings.data_bucket, "key": "X_test.joblib"}
    )
    assert status == 200 and body["rows"] == 10 and body["input"]["format"] == "joblib"

    s3.puts.clear()
    status, body = post(
        client, "/predict/batch", {"bucket": settings.images_bucket, "key": "X_test.joblib"}
    )
    assert status == 403 and "trusted data bucket" in body["reason"]
    assert s3.puts == []


@pytest.mark.parametrize(
    ("key", "content", "status", "reason"),
    [
        ("absent.csv", None, 404, "does not exist"),
        ("bad.csv", b"meanConcavePoints\n1\n", 400, "missing: worstRadius"),
        ("bad.jsonl", b'{"x": 1}\n', 400, "line 1:"),
        ("evil.pkl", b"cposix\nsystem\n(S'true'\ntR.", 400, r"posix\.system"),
        ("table.xlsx", b"PK", 400, "cannot tell the format"),
    ],
)
def test_batch_errors(
    client: Client,
    s3: CountingS3,
    settings: Settings,
    key: str,
    content: bytes | None,
    status: int,
    reason: str,
) -> None:
    if content is not None:
        s3.put_object(Bucket=settings.data_bucket, Key=key, Body=content)
    code, body = post(client, "/predict/batch", {"bucket": settings.data_bucket, "key": key})
    assert code == status and body["status"] == str(status)
    assert re.search(reason, body["reason"]), body


def test_batch_missing_bucket_is_404(client: Client, s3: CountingS3) -> None:
    code, body = post(client, "/predict/batch", {"bucket": "no-such-bucket", "key": "a.csv"})
    assert code == 404, body


def test_batch_size_and_row_limits(s3: CountingS3, settings: Settings) -> None:
    s3.put_object(Bucket=settings.data_bucket, Key="big.csv", Body=csv_of(rows(50)))
    request = json.dumps({"bucket": settings.data_bucket, "key": "big.csv"})
    small = PredictionService(replace(settings, max_batch_bytes=100), served_model())
    with pytest.raises(service.TooLarge, match=r"is \d+ bytes; the limit is 100 bytes"):
        small.predict_batch(request, s3)
    few = PredictionService(replace(settings, max_batch_rows=10), served_model())
    with pytest.raises(service.TooLarge, match="50 observations; the limit is 10"):
        few.predict_batch(request, s3)
