"""What crosses the Prediction API's boundary: request bodies in, result documents out.

Validation happens here, once, at the edge: a request either becomes a frozen
``PredictRequest``/``BatchRequest`` of plain floats or raises ``InvalidInput``
(HTTP 400) / ``TooLarge`` (HTTP 413) with a reason that names the field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib import jsonsafe
from chalicelib.errors import InvalidInput, TooLarge, UnsupportedType
from chalicelib.predict.model import FLOAT32_MAX, Prediction
from chalicelib.storage import S3_KEY_BYTES, key_bytes

_NUMBER_TYPES = (int, float)  # exactly these: bool is an int subclass and is refused
# S3 bucket names: 3-63 characters of lowercase letters, digits, dots and dashes.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
OUTPUT_PREFIX, OUTPUT_SUFFIX = "predictions/", ".csv"
# The output key adds a prefix, the source bucket (two files of one name in two buckets
# must not overwrite each other, at most 63 characters and a "/") and a suffix.
MAX_KEY_BYTES = S3_KEY_BYTES - len(OUTPUT_PREFIX) - len(OUTPUT_SUFFIX) - 64
# Batch formats by the key's extension.
BATCH_FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".joblib": "joblib",
    ".pkl": "pickle",
    ".pickle": "pickle",
}
PICKLE_FORMATS = ("joblib", "pickle")


def required_fields_reason(features: Sequence[str]) -> str:
    """The seed's wording for a body without exactly the model's features.

    >>> required_fields_reason(["a", "b"])
    "'body' must contain values for: a, b"
    """
    return f"'body' must contain values for: {', '.join(features)}"


def parse_json_body(raw: bytes | str | None, limit: int) -> Any:
    """The decoded JSON document of a request body of at most ``limit`` bytes."""
    if not raw:
        raise InvalidInput("the body is empty; send a JSON document")
    if len(raw) > limit:
        raise TooLarge(f"the body is {len(raw)} bytes; the limit is {limit} bytes")
    try:
        return jsonsafe.loads(raw)
    except ValueError as exc:  # malformed, nested too deep, not UTF-8
        raise InvalidInput(f"the body is not valid JSON ({_short(exc)})") from exc


def observation_values(
    observation: Any, features: Sequence[str], echo: bool = True
) -> tuple[float, ...]:
    """The values of one observation (a JSON object) in the model's feature order.

    Key order does not matter; a missing or unknown key, or a value that is not
    a finite number within float32 range (strings, booleans, null, NaN, ±inf),
    raises ``InvalidInput`` naming the field. ``echo=False`` (files the API reads
    from S3) keeps the file's content (values, unknown keys) out of the reason.

    >>> observation_values({"b": 2, "a": 1.5}, ["a", "b"])
    (1.5, 2)
    >>> observation_values({"a": 1}, ["a", "b"])
    Traceback (most recent call last):
    ...
    chalicelib.errors.InvalidInput: 'body' must contain values for: a, b (missing: b)
    """
    # (the hot path of every request: plain loops, no generators)
    if not isinstance(observation, dict):
        raise InvalidInput(f"{required_fields_reason(features)} (got a JSON {_kind(observation)})")
    try:
        values = tuple([observation[name] for name in features])
    except KeyError:
        raise InvalidInput(_fields_reason(observation, features, echo)) from None
    if len(observation) != len(features):
        raise InvalidInput(_fields_reason(observation, features, echo))
    for value in values:
        if type(value) not in _NUMBER_TYPES or not -FLOAT32_MAX <= value <= FLOAT32_MAX:
            name = next(n for n, v in zip(features, values, strict=True) if v is value)
            raise InvalidInput(_value_reason(name, value, echo))
    return values


def row_values(row: Any, features: Sequence[str], echo: bool = True) -> tuple[float, ...]:
    """The values of one positional row (a list, in the model's feature order), checked.

    >>> row_values([1, 2.5], ["a", "b"])
    (1, 2.5)
    >>> row_values([1, True], ["a", "b"])
    Traceback (most recent call last):
    ...
    chalicelib.errors.InvalidInput: 'b' must be a finite number, got true
    """
    if not isinstance(row, list | tuple) or len(row) != len(features):
        raise InvalidInput(
            f"a row must hold {len(features)} numbers, in the order {', '.join(features)}"
        )
    for name, value in zip(features, row, strict=True):
        if type(value) not in _NUMBER_TYPES or not -FLOAT32_MAX <= value <= FLOAT32_MAX:
            raise InvalidInput(_value_reason(name, value, echo))
    return tuple(row)


def number_from_text(name: str, text: str, echo: bool = True) -> float:
    """A value from a text cell (CSV): a plain decimal number, finite, within float32 range.

    >>> number_from_text("a", " 1.5e2 ")
    150.0
    >>> number_from_text("a", "nan")
    Traceback (most recent call last):
    ...
    chalicelib.errors.InvalidInput: 'a' must be a finite number, got "nan"
    """
    cell = text.strip()
    if not _DECIMAL.match(cell):
        raise InvalidInput(_value_reason(name, cell, echo))
    value = float(cell)
    if not -FLOAT32_MAX <= value <= FLOAT32_MAX:
        raise InvalidInput(_value_reason(name, value, echo))
    return value


_DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True, slots=True)
class PredictRequest:
    """``POST /predict``: one observation (an object) or a list of them."""

    rows: tuple[tuple[float, ...], ...]
    single: bool

    @classmethod
    def from_document(cls, document: Any, features: Sequence[str], max_rows: int) -> PredictRequest:
        if isinstance(document, dict):
            return cls((observation_values(document, features),), single=True)
        if not isinstance(document, list):
            raise InvalidInput(
                f"{required_fields_reason(features)}; send one JSON object, "
                f"or a list of up to {max_rows} (got a JSON {_kind(document)})"
            )
        if not document:
            raise InvalidInput("the list is empty; send at least one observation")
        if len(document) > max_rows:
            raise TooLarge(
                f"{len(document)} observations; the limit is {max_rows} per request "
                "(POST /predict/batch reads any number from S3)"
            )
        rows = []
        for index, observation in enumerate(document):
            try:
                rows.append(observation_values(observation, features))
            except InvalidInput as error:
                raise InvalidInput(f"observation {index}: {error}") from None
        return cls(tuple(rows), single=False)


# A value is "far outside" the training data when it lies more than this many widths of
# the training range beyond either end, or is negative where every training value was not
# (a size or a fraction). Plausible values just past the edges are not flagged.
FAR_OUTSIDE_WIDTHS = 1.0
MAX_LISTED_ROWS = 100  # a batch's summary lists this many flagged rows; its CSV flags all
OUT_OF_RANGE_WARNING = (
    "some feature values are far outside the training data's range "
    "(see out_of_range): the prediction there is an extrapolation, check the units"
)


def out_of_range(
    row: Sequence[float],
    features: Sequence[str],
    ranges: Mapping[str, Sequence[float]],
    widths: float = FAR_OUTSIDE_WIDTHS,
) -> list[dict[str, Any]]:
    """The values of ``row`` far outside the training range of their feature.

    Parameters
    ----------
    row : sequence of float
        One observation, in the order of ``features``.
    ranges : mapping of feature name to (min, max)
        The training data's range; a feature without one is not checked.
    widths : float
        How far past an end counts as far outside, in widths of the range.

    >>> ranges = {"r": (8.0, 36.0)}
    >>> out_of_range([40.0], ["r"], ranges), out_of_range([-5.0], ["r"], ranges)[0]["feature"]
    ([], 'r')
    >>> out_of_range([1e30], ["r"], ranges)[0]["training_range"]
    [8.0, 36.0]
    """
    found = []
    for name, value in zip(features, row, strict=True):
        if name not in ranges:
            continue
        low, high = (float(v) for v in ranges[name])
        margin = widths * (high - low)
        negative = value < 0 <= low
        if negative or value < low - margin or value > high + margin:
            found.append({"feature": name, "value": value, "training_range": [low, high]})
    return found


def prediction_document(
    prediction: Prediction, outside: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """The seed's success body for one observation, plus probability and label
    (and ``warning`` and ``out_of_range`` when a value is far outside the training data)."""
    document: dict[str, Any] = {
        "reason": "OK",
        "prediction": prediction.value,
        "status": "200",
        "probability": prediction.probability,
        "label": prediction.label,
    }
    if outside:
        document.update(warning=OUT_OF_RANGE_WARNING, out_of_range=list(outside))
    return document


def predictions_document(
    predictions: Sequence[Prediction], outside: Sequence[Sequence[Mapping[str, Any]]] = ()
) -> dict[str, Any]:
    """The success body for a list: one entry per observation, in the request's order;
    an entry with a value far outside the training data has ``out_of_range``."""
    entries = []
    for index, p in enumerate(predictions):
        entry: dict[str, Any] = {
            "prediction": p.value,
            "probability": p.probability,
            "label": p.label,
        }
        if index < len(outside) and outside[index]:
            entry["out_of_range"] = list(outside[index])
        entries.append(entry)
    document: dict[str, Any] = {
        "reason": "OK",
        "status": "200",
        "count": len(predictions),
        "predictions": entries,
    }
    flagged = sum(1 for entry in entries if "out_of_range" in entry)
    if flagged:
        document["warning"] = f"{flagged} of {len(entries)}: {OUT_OF_RANGE_WARNING}"
    return document


@dataclass(frozen=True)
class BatchRequest:
    """``POST /predict/batch``: a file of observations in S3."""

    bucket: str
    key: str
    format: str

    @classmethod
    def from_document(cls, document: Any) -> BatchRequest:
        if not isinstance(document, dict) or set(document) != {"bucket", "key"}:
            raise InvalidInput("'body' must contain values for: bucket, key")
        bucket, key = document["bucket"], document["key"]
        if not isinstance(bucket, str) or not _BUCKET_NAME.match(bucket):
            raise InvalidInput(f"'bucket' must be an S3 bucket name, got {_short_json(bucket)}")
        if not isinstance(key, str) or not 0 < _utf8_length(key) <= MAX_KEY_BYTES:
            raise InvalidInput(f"'key' must be an S3 object key, got {_short_json(key)}")
        return cls(bucket, key, batch_format(key))

    @property
    def output_key(self) -> str:
        """Where the predictions go in the results bucket: ``predictions/<bucket>/<key>.csv``."""
        return f"{OUTPUT_PREFIX}{self.bucket}/{self.key}{OUTPUT_SUFFIX}"


def batch_format(key: str) -> str:
    """The file format of a batch object, from its key's extension.

    >>> batch_format("runs/2024/obs.JSONL")
    'jsonl'
    """
    lowered = key.lower()
    for extension, name in BATCH_FORMATS.items():
        if lowered.endswith(extension):
            return name
    raise UnsupportedType(
        f"cannot tell the format of {key!r}; use one of {', '.join(BATCH_FORMATS)}"
    )


@dataclass(frozen=True)
class BatchResult:
    """What ``POST /predict/batch`` did: the summary it answers with."""

    request: BatchRequest
    rows: int
    output_bucket: str
    counts: Mapping[str, int]
    elapsed_ms: float
    # (row number from 1, its features far outside the training data) of each flagged row
    outside: tuple[tuple[int, tuple[str, ...]], ...] = ()

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "reason": "OK",
            "status": "200",
            "input": {
                "bucket": self.request.bucket,
                "key": self.request.key,
                "format": self.request.format,
            },
            "rows": self.rows,
            "counts": dict(self.counts),
            "output": {"bucket": self.output_bucket, "key": self.request.output_key},
            "elapsed_ms": round(self.elapsed_ms, 1),
        }
        if self.outside:  # positions and feature names, never the file's values
            document["warning"] = f"{len(self.outside)} of {self.rows}: {OUT_OF_RANGE_WARNING}"
            document["out_of_range"] = [
                {"row": row, "features": list(features)}
                for row, features in self.outside[:MAX_LISTED_ROWS]
            ]
        return document


def _fields_reason(
    observation: Mapping[str, Any], features: Sequence[str], echo: bool = True
) -> str:
    missing = [name for name in features if name not in observation]
    unknown = [str(name) for name in observation if name not in features]
    details = []
    if missing:
        details.append(f"missing: {', '.join(missing)}")
    if unknown and echo:
        details.append(f"unknown: {', '.join(unknown)[:200]}")
    elif unknown:
        details.append(f"{len(unknown)} unknown key(s)")
    return f"{required_fields_reason(features)} ({'; '.join(details)})"


def _value_reason(name: str, value: Any, echo: bool = True) -> str:
    if not echo:
        return f"'{name}' must be a finite number within float32 range (|value| <= 3.403e+38)"
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return (
            f"'{name}' is out of range: {_short_json(value)} "
            f"(the model takes |value| <= {FLOAT32_MAX:.4g}, float32)"
        )
    return f"'{name}' must be a finite number, got {_short_json(value)}"


def _utf8_length(text: str) -> int:
    try:
        return key_bytes(text)
    except InvalidInput:  # a lone surrogate ("\\ud800") is no S3 key
        return -1


def _short_json(value: Any) -> str:
    """A short JSON preview of ``value`` that never fails (huge integers, deep lists)."""
    if type(value) is int and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, list | tuple | dict):
        return f"a JSON {_kind(value)}"  # a preview of a container could recurse without end
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        text = f"a {type(value).__name__}"
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 80 else text[:77] + "..."
