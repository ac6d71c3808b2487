"""Batch files: CSV, JSON Lines and joblib in; a predictions CSV out."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from chalicelib.errors import InvalidInput, TooLarge
from chalicelib.predict.model import Prediction
from chalicelib.predict.tables import Table, predictions_csv, read_table
from tests.predict_data import FEATURES, SEED_BENIGN, SEED_MALIGNANT

ROWS = [tuple(SEED_BENIGN[n] for n in FEATURES), tuple(SEED_MALIGNANT[n] for n in FEATURES)]


def read(data: bytes, fmt: str, max_rows: int = 100) -> Table:
    return read_table(data, fmt, FEATURES, max_rows, max_bytes=10**6)


def csv_bytes(header: list[str], rows: list[list[Any]], bom: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode()


def test_csv_any_column_order_with_ids_blank_lines_and_bom() -> None:
    header = ["id", *reversed(FEATURES)]
    body = [["p1", *reversed(ROWS[0])], [], ["p2", *reversed(ROWS[1])]]
    table = read(csv_bytes(header, body, bom=True), "csv")
    assert table.rows == tuple(ROWS) and table.ids == ("p1", "p2")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (csv_bytes(FEATURES[:4], [list(ROWS[0][:4])]), "missing: worstConcavePoints"),
        (csv_bytes([*FEATURES, "age"], [[*ROWS[0], 40]]), "unknown column.s. at position 6"),
        (csv_bytes(FEATURES, [list(ROWS[0]), [1, 2]]), "line 3: 2 cells; the header has 5"),
        (csv_bytes(FEATURES, [[*ROWS[0][:3], "n/a", ROWS[0][4]]]), "line 2: 'worstArea'"),
        (csv_bytes(FEATURES, []), "no observations"),
        (b"\xff" + csv_bytes(FEATURES, [list(ROWS[0])]), "not UTF-8"),
        (b"", "missing"),
    ],
    ids=["missing column", "unknown column", "ragged", "bad cell", "empty", "binary", "nothing"],
)
def test_bad_csv_names_line_and_field(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        read(data, "csv")


def test_json_lines_with_optional_ids() -> None:
    lines = [json.dumps({**SEED_BENIGN, "id": 7}), "", json.dumps(SEED_MALIGNANT)]
    table = read("\n".join(lines).encode(), "jsonl")
    assert table.rows == tuple(ROWS) and table.ids == ("7", "")
    bad = json.dumps({**SEED_BENIGN, "worstRadius": None})
    with pytest.raises(InvalidInput, match="line 2: 'worstRadius'"):
        read(f"{json.dumps(SEED_BENIGN)}\n{bad}".encode(), "jsonl")
    with pytest.raises(InvalidInput, match="line 1: not valid JSON"):
        read(b"{nope}\n", "jsonl")


def test_row_limit() -> None:
    with pytest.raises(TooLarge, match="more than 2 observations"):
        read(csv_bytes(FEATURES, [list(ROWS[0])] * 3), "csv", max_rows=2)


def test_joblib_shapes() -> None:
    np = pytest.importorskip("numpy")
    joblib = pytest.importorskip("joblib")

    def dumped(obj: Any) -> bytes:
        buffer = io.BytesIO()
        joblib.dump(obj, buffer)
        return buffer.getvalue()

    array = np.array(ROWS)
    assert read(dumped(array), "joblib").rows == tuple(ROWS)
    assert read(dumped(array[0]), "joblib").rows == (ROWS[0],)
    assert read(dumped([list(r) for r in ROWS]), "pickle").rows == tuple(ROWS)
    assert read(dumped([SEED_BENIGN, SEED_MALIGNANT]), "joblib").rows == tuple(ROWS)
    columns = {name: array[:, i] for i, name in enumerate(FEATURES)}
    assert read(dumped(columns), "joblib").rows == tuple(ROWS)
    assert read(dumped(SEED_BENIGN), "joblib").rows == (ROWS[0],)
    with pytest.raises(InvalidInput, match="row 0: a row must hold 5 numbers"):
        read(dumped(np.ones((2, 4))), "joblib")
    with pytest.raises(InvalidInput, match="holds a str"):
        read(dumped("hello"), "joblib")


def test_predictions_csv_keeps_rows_and_ids() -> None:
    table = Table(tuple(ROWS), ("a", "b"))
    out = predictions_csv(
        table, [Prediction(1, "benign", 0.9), Prediction(0, "malignant", 0.8)], FEATURES
    )
    records = list(csv.DictReader(io.StringIO(out.decode())))
    assert [r["row"] for r in records] == ["1", "2"] and [r["id"] for r in records] == ["a", "b"]
    assert [r["label"] for r in records] == ["benign", "malignant"]
    assert float(records[1]["worstArea"]) == SEED_MALIGNANT["worstArea"]
