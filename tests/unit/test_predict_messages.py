"""Request validation at the edge: every bad input is a named 4xx error, never a crash."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.errors import InvalidInput, TooLarge, UnsupportedType
from chalicelib.predict.messages import (
    BatchRequest,
    PredictRequest,
    batch_format,
    number_from_text,
    observation_values,
    parse_json_body,
)
from tests.predict_data import FEATURES, REQUIRED, SEED_BENIGN, observation


def test_key_order_does_not_matter() -> None:
    shuffled = dict(reversed(list(SEED_BENIGN.items())))
    assert observation_values(shuffled, FEATURES) == tuple(SEED_BENIGN[n] for n in FEATURES)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"meanConcavePoints": 0.07951}, "missing: worstRadius, worstTexture"),
        ({**SEED_BENIGN, "age": 40}, "unknown: age"),
        ({k: v for k, v in SEED_BENIGN.items() if k != "worstArea"}, "missing: worstArea"),
        ({}, "missing: meanConcavePoints"),
    ],
)
def test_missing_or_unknown_fields_use_the_seed_wording(body: dict[str, Any], detail: str) -> None:
    with pytest.raises(InvalidInput) as error:
        observation_values(body, FEATURES)
    assert str(error.value).startswith(REQUIRED) and detail in str(error.value)


@pytest.mark.parametrize(
    "value",
    [
        "1.0",
        True,
        False,
        None,
        float("nan"),
        float("inf"),
        -float("inf"),
        1e39,
        -1e39,
        10**400,
        [1.0],
        {"v": 1.0},
    ],
    ids=repr,
)
def test_values_that_are_not_finite_numbers_name_the_field(value: Any) -> None:
    with pytest.raises(InvalidInput, match="'worstArea'"):
        observation_values(observation(worstArea=value), FEATURES)


def test_the_bad_field_is_named_even_when_an_equal_value_came_first() -> None:
    with pytest.raises(InvalidInput, match=r"^'worstArea' must be a finite number, got true"):
        observation_values(observation(worstRadius=1, worstArea=True), FEATURES)


@pytest.mark.parametrize("value", [0, -3, 2.5e-300, 3.4e38])
def test_numbers_in_float32_range_are_taken(value: float) -> None:
    assert observation_values(observation(worstArea=value), FEATURES)[3] == value


@pytest.mark.parametrize(
    ("raw", "error", "reason"),
    [
        (None, InvalidInput, "empty"),
        (b"", InvalidInput, "empty"),
        (b"{", InvalidInput, "not valid JSON"),
        (b"\xff\xfe\x00", InvalidInput, "not valid JSON"),
        (b"[" * 50_000, InvalidInput, "not valid JSON"),
        (b"1" * 5000, InvalidInput, "not valid JSON"),  # past int digit limit
        (b" " * 101, TooLarge, "101 bytes; the limit is 100"),
    ],
    ids=["none", "empty", "truncated", "not utf-8", "deep", "huge int", "too large"],
)
def test_bodies_that_are_not_json(raw: bytes | None, error: type[Exception], reason: str) -> None:
    with pytest.raises(error, match=reason):
        parse_json_body(raw, limit=100 if error is TooLarge else 100_000)


def test_nan_literal_parses_then_is_refused_by_name() -> None:
    document = parse_json_body(json.dumps(observation(worstRadius=float("nan"))).encode(), 10_000)
    with pytest.raises(InvalidInput, match="'worstRadius' must be a finite number, got NaN"):
        PredictRequest.from_document(document, FEATURES, 10)


def test_list_keeps_order_and_names_the_bad_observation() -> None:
    rows = [observation(worstArea=float(i)) for i in range(3)]
    request = PredictRequest.from_document(rows, FEATURES, max_rows=3)
    assert not request.single and [r[3] for r in request.rows] == [0.0, 1.0, 2.0]
    with pytest.raises(InvalidInput, match=r"^observation 1: 'worstArea'"):
        PredictRequest.from_document([rows[0], observation(worstArea="x")], FEATURES, 3)


@pytest.mark.parametrize(
    ("document", "error", "reason"),
    [
        ([], InvalidInput, "empty"),
        ([SEED_BENIGN] * 4, TooLarge, "4 observations; the limit is 3"),
        ("hello", InvalidInput, REQUIRED),
        (42, InvalidInput, "got a JSON number"),
        (None, InvalidInput, "got a JSON null"),
        ([[1, 2, 3, 4, 5]], InvalidInput, "observation 0: .*got a JSON array"),
    ],
)
def test_request_shapes(document: Any, error: type[Exception], reason: str) -> None:
    with pytest.raises(error, match=reason.replace("'", ".")):
        PredictRequest.from_document(document, FEATURES, max_rows=3)


def test_batch_request() -> None:
    request = BatchRequest.from_document({"bucket": "lab-local-data", "key": "runs/a b.CSV"})
    assert request.format == "csv"
    assert request.output_key == "predictions/lab-local-data/runs/a b.CSV.csv"


@pytest.mark.parametrize(
    "document",
    [
        {"bucket": "lab-local-data"},
        {"bucket": "lab-local-data", "key": "a.csv", "extra": 1},
        {"bucket": "X", "key": "a.csv"},
        {"bucket": "lab-local-data", "key": ""},
        {"bucket": "lab-local-data", "key": 7},
        {"bucket": "lab-local-data", "key": "\ud800.csv"},
        {"bucket": "lab-local-data", "key": "k" * 1020 + ".csv"},
        ["lab-local-data", "a.csv"],
    ],
)
def test_bad_batch_requests(document: Any) -> None:
    with pytest.raises(InvalidInput):
        BatchRequest.from_document(document)


def test_batch_formats() -> None:
    assert [batch_format(k) for k in ("a.csv", "a.jsonl", "a.ndjson", "a.joblib", "a.pkl")] == [
        "csv",
        "jsonl",
        "jsonl",
        "joblib",
        "pickle",
    ]
    with pytest.raises(UnsupportedType, match=r"\.csv, \.jsonl"):
        batch_format("a.xlsx")


@pytest.mark.parametrize("text", ["", "1_000", "0x10", "inf", "NaN", "1e39", "one", "1,5"])
def test_text_cells_must_be_plain_finite_decimals(text: str) -> None:
    with pytest.raises(InvalidInput, match="'a'"):
        number_from_text("a", text)
