"""Route bodies of the lab console: what the page asks for, as JSON (or a file).

Each public method answers one route of ``app.py``. Clients and settings are
injected (``Console(settings, clients)``); ``default_console()`` builds the real
one. Links to objects are presigned S3 URLs, so the browser fetches images,
videos and CSVs straight from S3 and uploads go straight to the images bucket
with a presigned POST (nothing large passes through the API).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from chalice.app import Response

from chalicelib.config import Settings
from chalicelib.console import plates, xlsx
from chalicelib.console.pages import content_disposition
from chalicelib.console.results import (
    SORTS,
    ResultIndex,
    check_prefix,
    current,
    image_states,
    latest_by_image,
)
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.faces.messages import output_names
from chalicelib.storage import Bucket, check_key

URL_SECONDS = 3600  # presigned links live an hour; the page refreshes them with each listing
UPLOAD_SECONDS = 900
MAX_FILES = 100
MAX_PER_PAGE = 500
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm")
COUNT_METHODS = ("watershed", "hough")  # offered by the page; the counter has the last word
IMAGE_TYPES = ("auto", "fluorescence", "phase-contrast")  # chalicelib.cells.counting's
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_JOB_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")

Clients = Callable[[str], Any]


def _page(query: Mapping[str, str], default: int = 50) -> tuple[int, int]:
    """``(page, per_page)`` from a query string; 1-based pages."""
    try:
        page = int(query.get("page") or 1)
        per_page = int(query.get("per_page") or default)
    except ValueError as exc:
        raise InvalidInput("page and per_page must be whole numbers") from exc
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"page must be ≥ 1 and per_page between 1 and {MAX_PER_PAGE}")
    return page, per_page


def paginate(items: list[Any], page: int, per_page: int) -> dict[str, Any]:
    """A page of ``items`` with the totals the page's pager needs.

    >>> paginate(list(range(5)), 2, 2)
    {'items': [2, 3], 'total': 5, 'page': 2, 'per_page': 2, 'pages': 3}
    """
    pages = max(1, -(-len(items) // per_page))
    start = (page - 1) * per_page
    return {
        "items": items[start : start + per_page],
        "total": len(items),
        "page": page,
        "per_page": per_page,
        "pages": pages,
    }


def count_parameters(body: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
    """(method, parameters) from the page's form, checked; values stay strings (S3 metadata).

    >>> count_parameters({"method": "hough", "diameter": "12", "threshold_offset": ""})
    ('hough', {'diameter': '12'})
    """
    method = str(body.get("method") or "").strip() or None
    if method is not None and not _NAME.match(method):
        raise InvalidInput(f"the method must be a name like {', '.join(COUNT_METHODS)}")
    raw = body.get("parameters")
    if raw is not None and not isinstance(raw, dict):
        raise InvalidInput('parameters must be an object {"name": "value", …}')
    given = dict(raw or {})
    for name in ("diameter", "threshold_offset", "image_type"):
        if body.get(name) not in (None, ""):
            given[name] = body[name]
    parameters: dict[str, str] = {}
    for name, value in given.items():
        if value in (None, ""):
            continue
        if not _NAME.match(str(name)) or len(str(value)) > 64:
            raise InvalidInput(f"parameter {str(name)[:40]!r} is not a valid name=value")
        parameters[str(name)] = str(value).strip()
    _check_numbers(parameters)
    return method, parameters


def _check_numbers(parameters: Mapping[str, str]) -> None:
    limits = {"diameter": (1.0, 2000.0), "threshold_offset": (-0.45, 0.45)}
    for name, (low, high) in limits.items():
        if name not in parameters:
            continue
        try:
            value = float(parameters[name])
        except ValueError as exc:
            raise InvalidInput(f"{name} must be a number, got {parameters[name]!r}") from exc
        if not low <= value <= high:
            raise InvalidInput(f"{name} must be between {low:g} and {high:g}, got {value:g}")
    if "image_type" in parameters and parameters["image_type"] not in IMAGE_TYPES:
        raise InvalidInput(f"image_type must be one of {', '.join(IMAGE_TYPES)}")


def upload_key(prefix: str, name: str) -> str:
    """The images-bucket key of an uploaded file: the folder plus a safe file name.

    A name with no ASCII letter or digit before its suffix (``漢字.png``) gets one from
    a hash of the name, so two such files do not become one key.

    >>> upload_key("plate 1", "B03 s1.TIF"), upload_key("", "../x.png")
    ('plate 1/B03_s1.TIF', 'x.png')
    >>> upload_key("", "漢字.png"), upload_key("", "字.png")
    ('image-a54bb7d2.png', 'image-0148cce3.png')
    """
    base = PurePosixPath(str(name).replace("\\", "/")).name
    if not base.lower().endswith(IMAGE_SUFFIXES):
        raise InvalidInput(
            f"{base[:200]!r} is not an image the counter reads ({', '.join(IMAGE_SUFFIXES)})"
        )
    stem, dot, suffix = base.rpartition(".")
    safe_stem = re.sub(r"[^A-Za-z0-9._()+-]+", "_", stem).strip("._")
    if not re.search(r"[A-Za-z0-9]", safe_stem):
        digest = hashlib.sha256(base.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        safe_stem = f"image-{digest}"
    safe = f"{safe_stem}{dot}{re.sub(r'[^A-Za-z0-9]+', '', suffix)}"
    folder = check_prefix(prefix).strip("/")
    return check_key(f"{folder}/{safe}" if folder else safe)


def metadata_fields(method: str | None, parameters: Mapping[str, str]) -> dict[str, str]:
    """S3 user metadata that carries counting parameters (``x-amz-meta-count-…``).

    >>> metadata_fields("hough", {"threshold_offset": "0.1"})
    {'x-amz-meta-count-method': 'hough', 'x-amz-meta-count-threshold-offset': '0.1'}
    """
    fields = {"x-amz-meta-count-method": method} if method else {}
    for name, value in parameters.items():
        fields["x-amz-meta-count-" + name.replace("_", "-")] = value
    return fields


class Console:
    def __init__(self, settings: Settings, clients: Clients) -> None:
        self._settings = settings
        self._clients = clients

    @property
    def _s3(self) -> Any:
        return self._clients("s3")

    def _url(self, bucket: str, key: str, download: str | None = None) -> str:
        params: dict[str, str] = {"Bucket": bucket, "Key": key}
        if download:
            params["ResponseContentDisposition"] = content_disposition(download)
        url: str = self._s3.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=URL_SECONDS
        )
        return url

    def _index(self) -> ResultIndex:
        """The results index (uploads to the images bucket included)."""
        return ResultIndex(
            self._s3, self._settings.results_bucket, uploads_bucket=self._settings.images_bucket
        )

    # -- what the page needs to know ----------------------------------------------------
    def config(self) -> dict[str, Any]:
        s = self._settings
        return {
            "stage": s.stage,
            "images_bucket": s.images_bucket,
            "videos_bucket": s.videos_bucket,
            "xlsx_type": XLSX_TYPE,
            "methods": list(COUNT_METHODS),
            "image_types": list(IMAGE_TYPES),
            "max_image_bytes": s.max_image_bytes,
            "image_suffixes": list(IMAGE_SUFFIXES),
        }

    # -- images -------------------------------------------------------------------------
    def list_images(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /console/api/images``: uploads joined with their newest results, a page."""
        started = time.perf_counter()
        prefix = check_prefix(query.get("prefix"))
        page, per_page = _page(query)
        sort = query.get("sort") or "newest"
        if sort not in SORTS:
            raise InvalidInput(f"sort must be one of {', '.join(SORTS)}")
        found = self._index().snapshot(prefix)
        files = found.files
        rows = image_states(
            [u for u in found.uploads if u["Key"].lower().endswith(IMAGE_SUFFIXES)],
            latest_by_image(found.summaries),
            self._settings.images_bucket,
            datetime.now(UTC),
        )
        rows.sort(key=SORTS[sort], reverse=sort == "newest")
        states: dict[str, int] = {}
        for row in rows:
            states[row["status"]] = states.get(row["status"], 0) + 1
        listed = paginate(rows, page, per_page)
        for row in listed["items"]:
            annotated = _annotated(files.get(row.get("result", ""), []))
            row["thumbnail"] = (
                self._url(self._settings.results_bucket, annotated) if annotated else None
            )
        elapsed = (time.perf_counter() - started) * 1e3
        return {"prefix": prefix, "sort": sort, "states": states, **listed,
                "elapsed_ms": round(elapsed, 1)}  # fmt: skip

    def image(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /console/api/image?key=&result=``: a result in full, with links."""
        key = query.get("key") or ""
        if not key:
            raise InvalidInput("pass the image key as ?key=<key>")
        folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        summaries, files = self._index().summaries(folder)
        versions = latest_by_image(summaries).get(key, [])
        wanted = query.get("result") or (versions[0]["result"] if versions else "")
        chosen = next((v for v in versions if v["result"] == wanted), None)
        original = self._url(self._settings.images_bucket, key)
        answer: dict[str, Any] = {"key": key, "original": original, "versions": versions}
        if chosen is None:
            return {**answer, "status": "counting", "document": None}
        document = json.loads(
            self._s3.get_object(Bucket=self._settings.results_bucket, Key=chosen["result"])[
                "Body"
            ].read()
        )
        siblings = files.get(chosen["result"], [])
        annotated, cells = _annotated(siblings), _named(siblings, ".csv")
        stem = PurePosixPath(key).stem
        return {
            **answer,
            **chosen,
            "document": document,
            "annotated": self._url(self._settings.results_bucket, annotated) if annotated else None,
            "cells_csv": self._url(self._settings.results_bucket, cells, f"{stem}.cells.csv")
            if cells
            else None,
        }

    def upload_forms(self, body: Any) -> dict[str, Any]:
        """``POST /console/api/uploads``: one presigned POST per file, parameters as metadata."""
        if not isinstance(body, dict):
            raise InvalidInput("the body must be a JSON object {prefix, files, method, ...}")
        names = body.get("files")
        if not isinstance(names, list) or not 1 <= len(names) <= MAX_FILES:
            raise InvalidInput(f"files must be a list of 1 to {MAX_FILES} file names")
        prefix = body.get("prefix")
        if prefix is not None and not isinstance(prefix, str):  # str() of it became a folder
            raise InvalidInput('the prefix must be a folder name ("plate1/") or absent')
        method, parameters = count_parameters(body)
        fields = metadata_fields(method, parameters)
        forms = []
        named: dict[str, str] = {}
        for name in names:
            key = upload_key(prefix or "", str(name))
            if key in named:  # the later upload would replace the earlier
                raise InvalidInput(
                    f"{named[key][:100]!r} and {str(name)[:100]!r} would both be stored as "
                    f"{key[:200]!r}: rename one"
                )
            named[key] = str(name)
            conditions: list[Any] = [{k: v} for k, v in fields.items()]
            conditions.append(["content-length-range", 1, self._settings.max_image_bytes])
            post = self._s3.generate_presigned_post(
                Bucket=self._settings.images_bucket,
                Key=key,
                Fields=dict(fields),
                Conditions=conditions,
                ExpiresIn=UPLOAD_SECONDS,
            )
            forms.append({"name": str(name), "key": key, **post})
        return {"bucket": self._settings.images_bucket, "forms": forms}

    def recount(self, body: Any) -> dict[str, Any]:
        """``POST /console/api/recount``: count a stored image again with other parameters.

        The same request an upload makes (the counter function, asynchronously),
        so the new result is written beside the old ones; nothing is re-uploaded.
        """
        from chalicelib.cells.messages import CountRequest

        if not isinstance(body, dict) or not body.get("key") or not isinstance(body["key"], str):
            raise InvalidInput("the body must be a JSON object {key, method, parameters}")
        key = check_key(body["key"])
        method, parameters = count_parameters(body)
        head = self._head(self._settings.images_bucket, key)
        request = CountRequest(
            bucket=self._settings.images_bucket,
            key=key,
            etag=str(head.get("ETag", "")).strip('"'),
            size=int(head.get("ContentLength", 0)),
            version_id=head.get("VersionId"),
            method=method,
            parameters=parameters,
        )
        self._clients("lambda").invoke(
            FunctionName=self._settings.cell_counter_function,
            InvocationType="Event",
            Payload=json.dumps(request.to_payload()).encode(),
        )
        return {"key": key, "status": "counting", "method": method, "parameters": parameters}

    def _head(self, bucket: str, key: str) -> dict[str, Any]:
        head = Bucket(self._s3, bucket).head(key)
        if head is None:
            raise NotFound(f"no object {key!r} in {bucket}")
        return head

    # -- folders and plates -------------------------------------------------------------
    def summary(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /console/api/summary?prefix=``: per image, per well, plate grids."""
        started = time.perf_counter()
        prefix = check_prefix(query.get("prefix"))
        summaries, _ = self._index().summaries(prefix)
        bucket = self._settings.images_bucket
        found = [current(versions, bucket) for versions in latest_by_image(summaries).values()]
        newest = [version for version in found if version is not None]
        images = plates.image_rows(newest, prefix)
        wells = plates.well_rows(images)
        return {
            "prefix": prefix,
            "images": images,
            "wells": wells,
            "plates": plates.plates(wells),
            "elapsed_ms": round((time.perf_counter() - started) * 1e3, 1),
        }

    def summary_file(self, query: Mapping[str, str]) -> tuple[bytes | str, str, str]:
        """The summary as a file: (body, content type, file name); CSV (text) or XLSX (bytes)."""
        found = self.summary(query)
        name = (found["prefix"].strip("/").replace("/", "_") or "all") + "-counts"
        kind = query.get("format") or "csv"
        if kind == "xlsx":
            sheets: list[tuple[str, Any]] = [
                ("Images", xlsx.table(found["images"], plates.IMAGE_COLUMNS)),
                ("Wells", xlsx.table(found["wells"], plates.WELL_COLUMNS)),
            ]
            for plate in found["plates"]:
                columns = list(range(1, plate["format"][1] + 1))
                grid = [
                    [row, *values]
                    for row, values in zip(plate["row_names"], plate["grid"], strict=True)
                ]
                sheets.append((f"Plate {plate['plate'] or 'map'}", [["", *columns], *grid]))
            return xlsx.workbook(sheets), XLSX_TYPE, name + ".xlsx"
        if kind != "csv":
            raise InvalidInput("format must be csv or xlsx")
        table = query.get("table") or "wells"
        if table == "images":
            return (
                _csv(found["images"], plates.IMAGE_COLUMNS),
                "text/csv; charset=utf-8",
                name + "-images.csv",
            )
        if table == "wells":
            return (
                _csv(found["wells"], plates.WELL_COLUMNS),
                "text/csv; charset=utf-8",
                name + "-wells.csv",
            )
        raise InvalidInput("table must be images or wells")

    # -- Cell Painting ------------------------------------------------------------------
    def painting_jobs(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /console/api/painting``: status records, the newest first."""
        return self._records(self._settings.data_bucket, "painting-jobs/", query, _job_row)

    def painting_job(self, job_id: str, status: Mapping[str, Any]) -> dict[str, Any]:
        """A painting job's status (from the pipeline's own route) with links to its outputs."""
        links = []
        for url in (status.get("results") or {}).get("files") or []:
            bucket, _, key = str(url).removeprefix("s3://").partition("/")
            if bucket == self._settings.data_bucket and key:
                links.append({"name": key.rsplit("/", 1)[-1], "s3": url,
                              "url": self._url(bucket, key)})  # fmt: skip
        return {**status, "job_id": job_id, "links": links, "plate_map": plate_map(status)}

    # -- videos -------------------------------------------------------------------------
    def videos(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /console/api/videos``: uploads with their blur results and workflow state."""
        prefix = check_prefix(query.get("prefix"))
        page, per_page = _page(query, default=20)
        uploads = [
            o
            for o in Bucket(self._s3, self._settings.videos_bucket).list(prefix)
            if o["Key"].lower().endswith(VIDEO_SUFFIXES)
        ]
        uploads.sort(key=lambda o: o.get("LastModified") or 0, reverse=True)
        listed = paginate(uploads, page, per_page)
        listed["items"] = self._read_json(
            self._settings.blurred_videos_bucket,
            [{"Key": output_names(o["Key"])["result"], "upload": o} for o in listed["items"]],
            _video_row,
        )
        return listed

    def video(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /console/api/video?key=``: original and blurred links, result, workflow states."""
        key = query.get("key") or ""
        if not key:
            raise InvalidInput("pass the video key as ?key=<key>")
        head = self._head(self._settings.videos_bucket, key)
        result = Bucket(self._s3, self._settings.blurred_videos_bucket).read_json(
            output_names(key)["result"]
        )
        answer: dict[str, Any] = {
            "key": key,
            "original": self._url(self._settings.videos_bucket, key),
            "result": result,
            "status": (result or {}).get("status", "running"),
            "workflow": self._workflow(key, head),
        }
        for name, value in _output_keys(result or {}).items():
            answer[name] = self._url(self._settings.blurred_videos_bucket, value)
        return answer

    def _workflow(self, key: str, head: Mapping[str, Any]) -> dict[str, Any]:
        """The face-blur execution of this upload: its status and the states it entered."""
        from chalicelib.faces.messages import execution_name

        version = head.get("VersionId") or str(head.get("ETag", "")).strip('"')
        name = execution_name(self._settings.videos_bucket, key, version)
        sfn = self._clients("stepfunctions")
        machines = sfn.list_state_machines().get("stateMachines", [])
        machine = next(
            (m for m in machines if m["name"] == self._settings.face_blur_state_machine), None
        )
        if machine is None:
            return {"status": "unknown", "states": []}
        arn = machine["stateMachineArn"].replace(":stateMachine:", ":execution:") + ":" + name
        try:
            execution = sfn.describe_execution(executionArn=arn)
            events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        except Exception as exc:
            if "ExecutionDoesNotExist" in repr(exc) or "does not exist" in str(exc):
                return {"status": "not started", "states": []}
            raise
        states = [
            e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
        ]
        return {"name": name, "status": execution.get("status"), "states": states}

    # -- chat jobs ----------------------------------------------------------------------
    def jobs(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /console/api/jobs``: the queue workers' job records, the newest first."""
        return self._records(self._settings.results_bucket, "results/jobs/", query, _job_doc)

    # -- helpers --------------------------------------------------------------------------
    def _records(
        self,
        bucket: str,
        prefix: str,
        query: Mapping[str, str],
        shape: Callable[[dict[str, Any], dict[str, Any] | None], dict[str, Any]],
    ) -> dict[str, Any]:
        """A page of the JSON records under ``prefix``, the newest first, each shaped."""
        page, per_page = _page(query, default=20)
        records = Bucket(self._s3, bucket).list(prefix)
        records.sort(key=lambda o: o.get("LastModified") or 0, reverse=True)
        listed = paginate(records, page, per_page)
        listed["items"] = self._read_json(bucket, listed["items"], shape)
        return listed

    def _read_json(
        self,
        bucket: str,
        items: list[dict[str, Any]],
        shape: Callable[[dict[str, Any], dict[str, Any] | None], dict[str, Any]],
    ) -> list[dict[str, Any]]:
        store = Bucket(self._s3, bucket)

        def read(item: dict[str, Any]) -> dict[str, Any]:
            return shape(item, store.read_json(item["Key"]))

        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
            return list(pool.map(read, items))


def _annotated(keys: list[str]) -> str | None:
    return next((k for k in keys if k.rsplit("/", 1)[-1].startswith("annotated.")), None)


def _named(keys: list[str], suffix: str) -> str | None:
    return next((k for k in keys if k.endswith(suffix)), None)


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    return plates.to_csv(rows, columns)


def _job_row(item: dict[str, Any], record: dict[str, Any] | None) -> dict[str, Any]:
    record = record or {}
    job = record.get("job") or {}
    return {
        "job_id": record.get("job_id") or item["Key"].rsplit("/", 1)[-1].removesuffix(".json"),
        "state": record.get("state", "unknown"),
        "reason": record.get("reason"),
        "input": job.get("input"),
        "output": job.get("output"),
        "updated": record.get("updated_at") or str(item.get("LastModified") or ""),
    }


def _video_row(item: dict[str, Any], result: dict[str, Any] | None) -> dict[str, Any]:
    upload = item["upload"]
    result = result or {}
    return {
        "key": upload["Key"],
        "size": upload.get("Size"),
        "uploaded": str(upload.get("LastModified") or ""),
        "status": result.get("status", "running"),
        "frames": result.get("frames"),
        "faces": result.get("face_boxes_blurred"),
        "reason": (result.get("error") or {}).get("reason"),
    }


def _job_doc(item: dict[str, Any], record: dict[str, Any] | None) -> dict[str, Any]:
    record = dict(record or {})
    record.setdefault("job_id", item["Key"].rsplit("/", 1)[-1].removesuffix(".json"))
    record["updated"] = str(item.get("LastModified") or "")
    return record


def _output_keys(result: Mapping[str, Any]) -> dict[str, str]:
    """Links a blur result names: the video and, where written, a review sheet."""
    found = {}
    output = result.get("output")
    if isinstance(output, Mapping) and output.get("key"):
        found["blurred"] = str(output["key"])
    for name in ("review_sheet", "sheet", "contact_sheet"):
        value = result.get(name)
        if isinstance(value, Mapping):
            value = value.get("key")
        if isinstance(value, str) and value:
            found["review_sheet"] = value.removeprefix("s3://").partition("/")[2] or value
    return found


def plate_map(status: Mapping[str, Any]) -> dict[str, Any]:
    """Group states of a painting job laid on a plate where group names carry wells.

    ``groups`` is ``{"<group>": {"state": …}}``. Groups without a well are
    listed by name only.

    >>> m = plate_map({"groups": {"Metadata_Well=B03": {"state": "failed"}, "x": {"state": "ok"}}})
    >>> m["format"], m["wells"]["B03"]["state"], [g["name"] for g in m["other"]]
    ([8, 12], 'failed', ['x'])
    """
    groups = status.get("groups")
    if not isinstance(groups, Mapping) or not groups:
        return {"format": None, "wells": {}, "other": [], "totals": {}}
    wells: dict[str, dict[str, Any]] = {}
    other = []
    totals: dict[str, int] = {}
    for name, value in groups.items():
        info = dict(value) if isinstance(value, Mapping) else {"state": str(value)}
        state = str(info.get("state", "unknown"))
        totals[state] = totals.get(state, 0) + 1
        well = plates.well_of(str(name).replace("=", "_").replace(",", "_"))
        if well is not None and well.name not in wells:
            wells[well.name] = {**info, "group": str(name), "state": state}
        else:
            other.append({**info, "name": str(name), "state": state})
    parsed = [w for w in (plates.well_of(n) for n in wells) if w is not None]
    rows, columns = plates.plate_format(parsed)
    return {"format": [rows, columns], "row_names": [plates.row_name(r) for r in range(rows)],
            "wells": wells, "other": other, "totals": totals}  # fmt: skip


# -- the route bodies of app.py: one call each ---------------------------------------------
def default_console() -> Console:
    from chalicelib import aws
    from chalicelib.config import get_settings

    return Console(get_settings(), aws.client)


def config() -> dict[str, Any]:
    return default_console().config()


def list_images(query: Mapping[str, str] | None) -> dict[str, Any]:
    return default_console().list_images(query or {})


def image(query: Mapping[str, str] | None) -> dict[str, Any]:
    return default_console().image(query or {})


def upload_forms(body: Any) -> dict[str, Any]:
    return default_console().upload_forms(body)


def recount(body: Any) -> dict[str, Any]:
    return default_console().recount(body)


def summary(query: Mapping[str, str] | None) -> dict[str, Any]:
    return default_console().summary(query or {})


def summary_file(query: Mapping[str, str] | None) -> Response:
    from chalicelib.console.pages import file_response

    return file_response(*default_console().summary_file(query or {}))


def painting_jobs(query: Mapping[str, str] | None) -> dict[str, Any]:
    return default_console().painting_jobs(query or {})


def painting_job(job_id: str) -> dict[str, Any]:
    from chalicelib.painting import handlers

    return default_console().painting_job(job_id, handlers.get_job(job_id))


def retry_painting_job(job_id: str) -> dict[str, Any]:
    """Re-submit a painting job's failed groups (the pipeline's own retry, issue 15)."""
    from chalicelib.painting import handlers

    return handlers.retry_job(job_id)


def videos(query: Mapping[str, str] | None) -> dict[str, Any]:
    return default_console().videos(query or {})


def video(query: Mapping[str, str] | None) -> dict[str, Any]:
    return default_console().video(query or {})


def jobs(query: Mapping[str, str] | None) -> dict[str, Any]:
    return default_console().jobs(query or {})
