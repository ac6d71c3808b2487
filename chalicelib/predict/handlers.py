"""The Prediction API's steps: the served model, request bodies to predictions, S3 batches.

This runs in the zip Lambda: standard library and the pure modules only. The
model is read from ``artifacts/`` on first use and kept for the life of the
process; boto3 is touched only by ``POST /predict/batch``.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib import aws, observability
from chalicelib.config import Settings, get_settings
from chalicelib.errors import Forbidden, TooLarge
from chalicelib.predict.messages import (
    PICKLE_FORMATS,
    BatchRequest,
    BatchResult,
    PredictRequest,
    out_of_range,
    parse_json_body,
    prediction_document,
    predictions_document,
)
from chalicelib.predict.model import ModelFormatError, TreeEnsemble
from chalicelib.storage import translated

log = logging.getLogger(__name__)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
MODEL_FILE = "model.json"
METADATA_FILE = "metadata.json"
# Request bodies are JSON; also taken when a client forgets the header
# (curl -d sends application/x-www-form-urlencoded) rather than answering 415.


@dataclass(frozen=True)
class ServedModel:
    """The evaluator and the metadata that describes it (``GET /model``)."""

    ensemble: TreeEnsemble
    metadata: Mapping[str, Any]


def read_model(directory: Path = ARTIFACTS, check_digest: bool = False) -> ServedModel:
    """The model in ``directory`` and its metadata.

    ``check_digest`` also compares ``model.json`` with the sha256 the metadata
    records (the tests and tools do; the Lambda skips it: importing hashlib's
    OpenSSL costs ~3 ms of every cold start, for a package that cannot change).
    """
    data = (directory / MODEL_FILE).read_bytes()
    metadata = json.loads((directory / METADATA_FILE).read_text())
    if check_digest:
        import hashlib

        expected = metadata.get("artifacts", {}).get(MODEL_FILE, {}).get("sha256")
        if hashlib.sha256(data).hexdigest() != expected:
            raise ModelFormatError(
                f"{MODEL_FILE} does not match the sha256 in {METADATA_FILE}; "
                "run `lab train` to rebuild both"
            )
    ensemble = TreeEnsemble.from_document(json.loads(data))
    if list(ensemble.features) != metadata.get("features"):
        raise ModelFormatError(f"{MODEL_FILE} and {METADATA_FILE} disagree on the features")
    return ServedModel(ensemble, metadata)


@functools.lru_cache(maxsize=1)
def served_model() -> ServedModel:
    """The packaged model, read once per process (on the first request, not at import)."""
    return read_model()


class PredictionService:
    def __init__(self, settings: Settings, model: ServedModel) -> None:
        self._settings = settings
        self._model = model
        self._features = model.ensemble.features

    def predict(self, raw_body: bytes | str | None) -> dict[str, Any]:
        """``POST /predict``: one observation or a list, answered in the seed's shape."""
        document = parse_json_body(raw_body, self._settings.max_predict_body_bytes)
        request = PredictRequest.from_document(
            document, self._features, self._settings.max_predict_rows
        )
        predictions = self._model.ensemble.predict(request.rows)
        observability.metric("Predictions", len(predictions))
        outside = self._outside(request.rows)
        if request.single:
            return prediction_document(predictions[0], outside[0])
        return predictions_document(predictions, outside)

    def predict_batch(self, raw_body: bytes | str | None, s3: Any) -> dict[str, Any]:
        """``POST /predict/batch``: predict a file in S3, write a CSV next to the results."""
        started = time.perf_counter()
        request = BatchRequest.from_document(
            parse_json_body(raw_body, self._settings.max_predict_body_bytes)
        )
        self._check_trusted(request)
        # only batches need the file formats (csv, pickle, compression): keep them off cold starts
        from chalicelib.predict.tables import predictions_csv, read_table

        data = BatchStore(s3, self._settings.max_batch_bytes).read(request.bucket, request.key)
        table = read_table(
            data,
            request.format,
            self._features,
            self._settings.max_batch_rows,
            self._settings.max_batch_bytes,
        )
        predictions = self._model.ensemble.predict(table.rows)
        outside = self._outside(table.rows)
        s3.put_object(
            Bucket=self._settings.results_bucket,
            Key=request.output_key,
            Body=predictions_csv(table, predictions, self._features, outside),
            ContentType="text/csv",
        )
        result = BatchResult(
            request=request,
            rows=len(predictions),
            output_bucket=self._settings.results_bucket,
            counts=Counter(p.label for p in predictions),
            elapsed_ms=(time.perf_counter() - started) * 1e3,
            outside=tuple(
                (index + 1, tuple(flag["feature"] for flag in flags))
                for index, flags in enumerate(outside)
                if flags
            ),
        )
        log.info("predicted %d rows of s3://%s/%s", result.rows, request.bucket, request.key)
        observability.metric("Predictions", result.rows)
        return result.to_document()

    def _outside(self, rows: Sequence[Sequence[float]]) -> list[list[dict[str, Any]]]:
        """Per row, its values far outside the training data (``messages.out_of_range``)."""
        ranges = self._model.metadata.get("feature_ranges") or {}
        outside = [out_of_range(row, self._features, ranges) for row in rows]
        if any(outside):
            flagged = sum(map(bool, outside))
            log.info("%d of %d rows far outside the training range", flagged, len(outside))
        return outside

    def metadata(self) -> dict[str, Any]:
        return dict(self._model.metadata)

    def _check_trusted(self, request: BatchRequest) -> None:
        # Unpickling is running a program: only the lab's own bucket may supply one.
        trusted = self._settings.data_bucket
        if request.format in PICKLE_FORMATS and request.bucket != trusted:
            raise Forbidden(
                f"{request.format} files are read only from the trusted data bucket "
                f"{trusted!r} (loading a pickle can run code); send CSV or JSON Lines "
                f"from {request.bucket!r}"
            )


class BatchStore:
    """Reads batch files from S3, size-checked, with S3's errors turned into ours."""

    def __init__(self, s3: Any, max_bytes: int) -> None:
        self._s3 = s3
        self._max_bytes = max_bytes

    def read(self, bucket: str, key: str) -> bytes:
        head = self._call("head_object", bucket, key)
        size = int(head.get("ContentLength", 0))
        if size > self._max_bytes:
            raise TooLarge(
                f"s3://{bucket}/{key} is {size} bytes; the limit is {self._max_bytes} bytes"
            )
        body = self._call("get_object", bucket, key)["Body"]
        data: bytes = body.read(self._max_bytes + 1)  # the object may have grown since HEAD
        if len(data) > self._max_bytes:
            raise TooLarge(f"s3://{bucket}/{key} is over the limit of {self._max_bytes} bytes")
        return data

    def _call(self, operation: str, bucket: str, key: str) -> Any:
        with translated(f"s3://{bucket}/{key}"):
            return getattr(self._s3, operation)(Bucket=bucket, Key=key)


def default_service() -> PredictionService:
    return PredictionService(get_settings(), served_model())


def predict(raw_body: bytes | str | None) -> dict[str, Any]:
    return default_service().predict(raw_body)


def predict_batch(raw_body: bytes | str | None) -> dict[str, Any]:
    return default_service().predict_batch(raw_body, aws.client("s3"))


def model_metadata() -> dict[str, Any]:
    return default_service().metadata()
