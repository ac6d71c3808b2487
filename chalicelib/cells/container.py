"""Container side of cell counting: read the image from S3, count, write results.

``handle_count_request`` is the entry point of the cell-counter container
function (``containers/cell-counter``); locally the emulator calls it in-process.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from typing import Any

from chalicelib import aws, observability
from chalicelib.cells import imaging
from chalicelib.cells.counting import DEFAULT_METHOD, Counting, count_cells
from chalicelib.cells.messages import CountRequest, ResultKeys
from chalicelib.cells.records import ResultStore
from chalicelib.config import Settings, get_settings
from chalicelib.errors import Conflict, InvalidInput, NotFound, TooLarge
from chalicelib.storage import Bucket, translated

log = logging.getLogger(__name__)


def count_image(
    data: bytes,
    max_pixels: int,
    method: str | None = None,
    parameters: dict[str, Any] | None = None,
) -> tuple[Counting, Any, dict[str, float]]:
    """Decode and count one encoded image; returns (counting, image, timings in ms)."""
    started = time.perf_counter()
    image, _header = imaging.decode(data, max_pixels)
    decoded = time.perf_counter()
    counting = count_cells(imaging.to_gray(image), method or DEFAULT_METHOD, **(parameters or {}))
    counted = time.perf_counter()
    timings = {"decode": (decoded - started) * 1e3, "count": (counted - decoded) * 1e3}
    return counting, image, timings


def result_document(
    request: CountRequest,
    counting: Counting,
    image: Any,
    elapsed_ms: float,
    timings: dict[str, float],
) -> dict[str, Any]:
    height, width = image.shape[:2]
    return {
        "status": "ok",
        "bucket": request.bucket,
        "key": request.key,
        "etag": request.etag,
        "run": request.run,
        "origin": request.origin,
        "count": counting.count,
        "method": counting.method,
        "parameters": dict(counting.parameters),
        **(counting.quality.to_dict() if counting.quality else {}),
        "cells": [cell.to_dict() for cell in counting.cells],
        "flagged": [cell.to_dict() for cell in counting.flagged],
        "width": width,
        "height": height,
        "elapsed_ms": round(elapsed_ms, 1),
        "timings_ms": {name: round(value, 1) for name, value in timings.items()},
    }


CELL_COLUMNS = (
    "ObjectNumber",
    "Counted",
    "Flag",
    "Center_X_px",
    "Center_Y_px",
    "Area_px",
    "EquivalentDiameter_px",
    "MeanIntensity",
    "IntegratedIntensity",
    "BoundingBox_MinX_px",
    "BoundingBox_MinY_px",
    "BoundingBox_Width_px",
    "BoundingBox_Height_px",
)
MICRON_COLUMNS = ("Area_um2", "EquivalentDiameter_um")


def cells_table(counting: Counting) -> str:
    """Per-object CSV: counted objects, then flagged ones (``Counted`` 0 and a ``Flag`` reason).

    Every value is measured on the image at its own resolution; intensities in
    the image's own units. With a pixel size (µm per pixel) the area and
    diameter are also given in µm. Hough circles have no intensity or bounding
    box columns filled.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    microns = counting.pixel_size > 0
    writer.writerow(CELL_COLUMNS + (MICRON_COLUMNS if microns else ()))
    rows = [(cell, True) for cell in counting.cells] + [(cell, False) for cell in counting.flagged]
    for number, (cell, counted) in enumerate(rows, start=1):
        bbox = list(cell.bbox) if cell.bbox else ["", "", "", ""]
        intensity = (
            [round(cell.mean_intensity, 3), round(float(cell.integrated_intensity or 0), 1)]
            if cell.mean_intensity is not None
            else ["", ""]
        )
        row = [
            number,
            int(counted),
            cell.flag or "",
            round(cell.x, 2),
            round(cell.y, 2),
            round(cell.area, 1),
            round(2 * cell.radius, 2),
            *intensity,
            *bbox,
        ]
        if microns:
            size = counting.pixel_size
            row += [round(cell.area * size * size, 3), round(2 * cell.radius * size, 3)]
        writer.writerow(row)
    return out.getvalue()


def already_counted(existing: dict[str, Any], request: CountRequest) -> bool:
    """Is ``existing`` the result of this very request (same bytes, method and parameters)?

    A recount of the same bytes with other parameters is new work, not a duplicate.

    >>> done = {"status": "ok", "etag": "e", "method": "watershed", "parameters": {"diameter": 0}}
    >>> already_counted(done, CountRequest("b", "k", etag="e"))
    True
    >>> already_counted(done, CountRequest("b", "k", etag="e", parameters={"diameter": "25"}))
    False
    """
    if existing.get("status") != "ok" or existing.get("etag") != request.etag:
        return False
    if request.method and request.method != existing.get("method"):
        return False
    counted = existing.get("parameters") or {}
    return all(_same_value(counted.get(name), value) for name, value in request.parameters.items())


def _same_value(counted: Any, requested: str) -> bool:
    try:
        return float(counted) == float(requested)
    except (TypeError, ValueError):
        return str(counted) == requested


class CellCounter:
    def __init__(self, settings: Settings, s3: Any) -> None:
        self._settings = settings
        self._s3 = s3
        self.results = ResultStore(s3, settings.results_bucket)

    def process(self, request: CountRequest) -> dict[str, Any]:
        """Count one uploaded image and write its results; returns the result document.

        Bad images give an error result (never retried). A request for an
        older version of the object than the one now stored is skipped: the
        event for the newer version counts it. AWS errors propagate (retried).
        """
        started = time.perf_counter()
        existing = self.results.find_run(request)
        if (
            existing
            and existing.get("etag") == request.etag
            and existing.get("status") == "ok"
            and self.results.published(request)
        ):
            return existing  # duplicate event: this object already counted with these parameters
        try:
            data = self._download(request)
            if data is None:
                return skipped(request)
            downloaded = time.perf_counter()
            counting, image, timings = count_image(
                data, self._settings.max_image_pixels, request.method, dict(request.parameters)
            )
            annotated_at = time.perf_counter()
            annotated_name = ResultKeys.for_image(request.key).annotated
            # drawn on the decoded image itself: only its shape is read after this
            canvas = imaging.annotate(image, counting, copy=False)
            annotated = imaging.encode(canvas, annotated_name)
        except InvalidInput as error:
            log.warning("could not count s3://%s/%s: %s", request.bucket, request.key, error)
            observability.metric("Failures", 1, f"cells:{error.kind}")
            if self._replaced(request):
                return skipped(request)
            return self.results.write_error(request, error)
        finished = time.perf_counter()
        timings = {
            "download": (downloaded - started) * 1e3,
            **timings,
            "annotate": (finished - annotated_at) * 1e3,
        }
        document = result_document(request, counting, image, (finished - started) * 1e3, timings)
        log.info("counted %d objects in s3://%s/%s", counting.count, request.bucket, request.key)
        if self._replaced(request):
            return skipped(request)
        self.results.write_success(request, document, annotated, cells_table(counting))
        observability.metric("ImagesCounted", 1)
        observability.metric("CountLatency", document["elapsed_ms"])
        return document

    def _replaced(self, request: CountRequest) -> bool:
        """Was the upload replaced (or deleted) while it was counted?

        Then its results must not be written: the newer version's count, finished
        first or still to come, is the key's count (and the run's, which both share).
        Only the time between this look and the writes (milliseconds) is unguarded.
        """
        if request.origin != "upload" or not request.etag:
            return False
        head = Bucket(self._s3, request.bucket).head(request.key)
        if head is not None and str(head.get("ETag", "")).strip('"') == request.etag:
            return False
        log.info("s3://%s/%s changed while it was counted: results not written",
                 request.bucket, request.key)  # fmt: skip
        return True

    def _download(self, request: CountRequest) -> bytes | None:
        extra = {"IfMatch": f'"{request.etag}"'} if request.etag else {}
        try:
            with translated(f"s3://{request.bucket}/{request.key} (ETag {request.etag})"):
                obj = self._s3.get_object(Bucket=request.bucket, Key=request.key, **extra)
        except (NotFound, Conflict):
            return None  # deleted or overwritten since the event: the newer event counts it
        if int(obj.get("ContentLength", 0)) > self._settings.max_image_bytes:
            raise TooLarge(f"the object is larger than {self._settings.max_image_bytes} bytes")
        data: bytes = obj["Body"].read()
        return data


def skipped(request: CountRequest) -> dict[str, Any]:
    """The answer for a request whose object changed or went away: nothing is written."""
    return {
        "status": "skipped",
        "bucket": request.bucket,
        "key": request.key,
        "reason": "the object changed or was deleted since the event",
    }


@observability.instrumented("cells")
def handle_count_request(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point of the cell-counter container function."""
    request = CountRequest.from_payload(event)
    return CellCounter(get_settings(), aws.client("s3")).process(request)
