"""Batch files of observations in, a CSV of predictions out (pure: bytes in, values out).

Formats (chosen by the key's extension, see ``messages.BATCH_FORMATS``):

``csv``
    UTF-8 text, a header row naming the model's features in any order, one
    observation per line; an optional ``id`` column is carried to the output.
``jsonl``
    One JSON object per line, as ``POST /predict`` takes it, optionally with an
    ``"id"``; blank lines are skipped.
Text files are read as a stream and reading stops at the first row beyond the
limit, so a file of any size costs at most ``max_rows`` parsed rows of memory.
Error reasons name lines and fields but never repeat the file's content: the
API may read files its caller cannot.

``joblib`` / ``pickle``
    What the seed's batch Lambda read: ``joblib.dump(X)`` of an (N, F) array in
    the model's feature order (or one row of F), or plain lists of rows, a list
    of observation dicts, or a dict of columns. Read by ``pickles.load``
    (restricted, no code runs); the service takes them only from the trusted
    data bucket.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib import jsonsafe
from chalicelib.errors import InvalidInput, TooLarge
from chalicelib.predict import pickles
from chalicelib.predict.messages import (
    PICKLE_FORMATS,
    number_from_text,
    observation_values,
    row_values,
)
from chalicelib.predict.model import Prediction
from chalicelib.spreadsheet import defused

ID = "id"
OUT_OF_RANGE = "out_of_range"


@dataclass(frozen=True)
class Table:
    """Observations read from a batch file, in file order."""

    rows: tuple[tuple[float, ...], ...]
    ids: tuple[str, ...] | None = None


def read_table(
    data: bytes, file_format: str, features: Sequence[str], max_rows: int, max_bytes: int
) -> Table:
    """Parse a batch file of ``file_format`` into a ``Table`` of at most ``max_rows`` rows.

    Every row is validated as ``POST /predict`` validates an observation; the
    first bad row raises ``InvalidInput`` naming its line (or index) and field.

    >>> read_table(b"b,a\\n2,1\\n4,3\\n", "csv", ["a", "b"], 10, 100).rows
    ((1.0, 2.0), (3.0, 4.0))
    """
    if file_format in PICKLE_FORMATS:
        values = (max_rows + 1) * (len(features) + 1)  # room for an id column
        table = _from_object(pickles.load(data, max_bytes, max_values=values), features)
    else:
        lines = _lines(data)
        read = _read_csv if file_format == "csv" else _read_jsonl
        table = read(lines, features, max_rows)
    if not table.rows:
        raise InvalidInput("the file holds no observations")
    if len(table.rows) > max_rows:
        raise TooLarge(f"the file holds more than {max_rows} observations (the limit)")
    return table


def predictions_csv(
    table: Table,
    predictions: Sequence[Prediction],
    features: Sequence[str],
    outside: Sequence[Sequence[Mapping[str, Any]]] | None = None,
) -> bytes:
    """The output file: each input row with its prediction, label and probability, and
    (when ``outside`` is given) an ``out_of_range`` column: the names of the row's features
    far outside the training data (``messages.out_of_range``), ``;``-separated, or empty.

    >>> print(predictions_csv(Table(((1.0, 2.0),)), [Prediction(1, "yes", 0.75)], ["a", "b"])
    ...       .decode(), end="")
    row,a,b,prediction,label,probability
    1,1.0,2.0,1,yes,0.75
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    id_columns = [ID] if table.ids is not None else []
    flag_columns = [OUT_OF_RANGE] if outside is not None else []
    writer.writerow(
        ["row", *id_columns, *features, "prediction", "label", "probability", *flag_columns]
    )
    for index, (row, prediction) in enumerate(zip(table.rows, predictions, strict=True)):
        ident = [defused(table.ids[index])] if table.ids is not None else []
        flags = [";".join(f["feature"] for f in outside[index])] if outside is not None else []
        writer.writerow(
            [index + 1, *ident, *row, prediction.value, prediction.label, prediction.probability,
             *flags]
        )  # fmt: skip
    return out.getvalue().encode()


def _lines(data: bytes) -> Iterator[str]:
    """The file's text lines, decoded as they are read (no second copy of the file)."""
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    try:
        yield from stream
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the file is not UTF-8 text ({exc.reason})") from exc


def _read_csv(lines: Iterator[str], features: Sequence[str], max_rows: int) -> Table:
    reader = csv.reader(lines)
    try:
        header = [name.strip() for name in next(reader, [])]
        columns = _csv_columns(header, features)
        id_column = header.index(ID) if ID in header else None
        rows: list[tuple[float, ...]] = []
        ids: list[str] = []
        for cells in reader:
            if not cells or cells == [""]:
                continue
            if len(rows) == max_rows:
                raise TooLarge(f"the file holds more than {max_rows} observations (the limit)")
            if len(cells) != len(header):
                raise InvalidInput(
                    f"line {reader.line_num}: {len(cells)} cells; the header has {len(header)}"
                )
            rows.append(_csv_row(cells, columns, features, reader.line_num))
            if id_column is not None:
                ids.append(cells[id_column].strip())
    except csv.Error as exc:
        raise InvalidInput(f"line {reader.line_num}: not valid CSV ({exc})") from exc
    return Table(tuple(rows), tuple(ids) if id_column is not None else None)


def _csv_columns(header: list[str], features: Sequence[str]) -> list[int]:
    missing = [name for name in features if name not in header]
    unknown = [n for n, name in enumerate(header, 1) if name not in features and name != ID]
    if missing or unknown or len(set(header)) != len(header):
        details = [f"missing: {', '.join(missing)}"] if missing else []
        positions = ", ".join(str(n) for n in unknown[:20])
        details += [f"unknown column(s) at position {positions}"] if unknown else []
        raise InvalidInput(
            f"the CSV header must name each of: {', '.join(features)}, and optionally {ID}"
            + (f" ({'; '.join(details)})" if details else " (a column is repeated)")
        )
    return [header.index(name) for name in features]


def _csv_row(
    cells: list[str], columns: list[int], features: Sequence[str], line: int
) -> tuple[float, ...]:
    try:
        return tuple(
            number_from_text(name, cells[column], echo=False)
            for name, column in zip(features, columns, strict=True)
        )
    except InvalidInput as error:
        raise InvalidInput(f"line {line}: {error}") from None


def _read_jsonl(lines: Iterator[str], features: Sequence[str], max_rows: int) -> Table:
    rows: list[tuple[float, ...]] = []
    ids: list[Any] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if len(rows) == max_rows:
            raise TooLarge(f"the file holds more than {max_rows} observations (the limit)")
        try:
            document = jsonsafe.loads(line)
        except ValueError as exc:  # malformed or too deep: the reason says where, not what
            raise InvalidInput(f"line {number}: not valid JSON ({str(exc)[:100]})") from exc
        row, ident = _with_id(document, features, f"line {number}")
        rows.append(row)
        ids.append(ident)
    return _table(rows, ids)


def _with_id(document: Any, features: Sequence[str], where: str) -> tuple[tuple[float, ...], Any]:
    ident = None
    if isinstance(document, dict) and ID in document:
        document = dict(document)
        ident = document.pop(ID)
    try:
        return observation_values(document, features, echo=False), ident
    except InvalidInput as error:
        raise InvalidInput(f"{where}: {error}") from None


def _table(rows: list[tuple[float, ...]], ids: list[Any]) -> Table:
    has_ids = any(ident is not None for ident in ids)
    labels = tuple("" if i is None else str(i) for i in ids) if has_ids else None
    return Table(tuple(rows), labels)


def _from_object(obj: Any, features: Sequence[str]) -> Table:
    """Rows from what a joblib/pickle file held."""
    if isinstance(obj, pickles.ArrayValue):
        return _positional(obj.rows(), features)
    if isinstance(obj, dict):
        return _from_columns(obj, features)
    if isinstance(obj, list | tuple) and obj and all(isinstance(o, dict) for o in obj):
        pairs = [_with_id(o, features, f"observation {i}") for i, o in enumerate(obj)]
        return _table([row for row, _ in pairs], [ident for _, ident in pairs])
    if isinstance(obj, list | tuple):
        return _positional([_plain_row(o) for o in obj], features)
    raise InvalidInput(
        f"the file holds a {type(obj).__name__}; expected an (N, {len(features)}) array, "
        "a list of rows or observations, or a dict of columns"
    )


def _plain_row(row: Any) -> Any:
    if isinstance(row, pickles.ArrayValue) and len(row.shape) == 1:
        return row.values
    return row


def _positional(rows: Sequence[Any], features: Sequence[str]) -> Table:
    return Table(tuple(_indexed(row_values, row, features, i) for i, row in enumerate(rows)))


def _from_columns(obj: dict[Any, Any], features: Sequence[str]) -> Table:
    """A dict of columns (``df.to_dict("list")``: name -> values), or one observation."""
    columns = {name: _plain_row(values) for name, values in obj.items()}
    if not columns or not all(isinstance(v, list | tuple) for v in columns.values()):
        return Table((_with_id(obj, features, "the observation")[0],))
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1:
        raise InvalidInput("the columns have different lengths")
    records = [{name: columns[name][i] for name in columns} for i in range(lengths.pop())]
    pairs = [_with_id(record, features, f"row {i}") for i, record in enumerate(records)]
    return _table([row for row, _ in pairs], [ident for _, ident in pairs])


def _indexed(
    check: Callable[[Any, Sequence[str]], tuple[float, ...]],
    row: Any,
    features: Sequence[str],
    index: int,
) -> tuple[float, ...]:
    try:
        return check(row, features)
    except InvalidInput as error:
        raise InvalidInput(f"row {index}: {error}") from None
