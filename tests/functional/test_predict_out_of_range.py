"""POST /predict flags feature values far outside the training data, still answering."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from tests.predict_data import SEED_BENIGN, SEED_MALIGNANT

JSON = {"Content-Type": "application/json"}


def post(client: Client, body: Any) -> dict[str, Any]:
    response = client.http.post("/predict", headers=JSON, body=json.dumps(body))
    assert response.status_code == 200
    return dict(json.loads(response.body))


@pytest.mark.parametrize(
    "feature, value", [("worstRadius", -5), ("worstArea", 1e30), ("meanConcavePoints", 3.0)]
)
def test_a_value_far_outside_the_training_data_is_flagged(client, feature, value) -> None:
    body = post(client, {**SEED_BENIGN, feature: value})
    assert body["prediction"] in (0, 1)  # still answered
    assert "training data" in body["warning"]
    [flag] = body["out_of_range"]
    assert flag["feature"] == feature and flag["value"] == value
    low, high = flag["training_range"]
    assert low <= SEED_BENIGN[feature] <= high


@pytest.mark.parametrize(
    "body", [SEED_BENIGN, SEED_MALIGNANT, {**SEED_BENIGN, "worstArea": 5000.0}]
)
def test_plausible_values_are_not_flagged(client, body) -> None:
    answer = post(client, body)
    assert "warning" not in answer and "out_of_range" not in answer


def test_a_list_flags_only_its_far_out_rows(client) -> None:
    body = post(client, [SEED_BENIGN, {**SEED_MALIGNANT, "worstTexture": -1.0}, SEED_MALIGNANT])
    flags = ["out_of_range" in p for p in body["predictions"]]
    assert flags == [False, True, False] and body["warning"].startswith("1 of 3")


def test_a_batch_flags_its_far_out_rows_in_the_output_and_the_summary(client, s3, settings):
    # before: /predict/batch answered and wrote the CSV without any out-of-range check
    import csv
    import io

    features = list(SEED_BENIGN)
    rows = [SEED_BENIGN, {**SEED_MALIGNANT, "worstArea": 1e30, "worstRadius": -5}, SEED_BENIGN]
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerows([features, *([row[f] for f in features] for row in rows)])
    s3.put_object(Bucket=settings.data_bucket, Key="far.csv", Body=text.getvalue().encode())
    response = client.http.post(
        "/predict/batch",
        headers=JSON,
        body=json.dumps({"bucket": settings.data_bucket, "key": "far.csv"}),
    )
    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["rows"] == 3 and body["warning"].startswith("1 of 3: ")
    # positions and feature names only: the summary never repeats the file's values
    assert body["out_of_range"] == [{"row": 2, "features": ["worstRadius", "worstArea"]}]
    key = body["output"]["key"]
    out = s3.get_object(Bucket=settings.results_bucket, Key=key)["Body"].read().decode()
    flags = [r["out_of_range"] for r in csv.DictReader(io.StringIO(out))]
    assert flags == ["", "worstRadius;worstArea", ""]


def test_a_batch_of_plausible_rows_has_no_warning(client, s3, settings) -> None:
    lines = "\n".join(json.dumps(row) for row in (SEED_BENIGN, SEED_MALIGNANT))
    s3.put_object(Bucket=settings.data_bucket, Key="ok.jsonl", Body=lines.encode())
    response = client.http.post(
        "/predict/batch",
        headers=JSON,
        body=json.dumps({"bucket": settings.data_bucket, "key": "ok.jsonl"}),
    )
    body = json.loads(response.body)
    assert response.status_code == 200 and "warning" not in body and "out_of_range" not in body
