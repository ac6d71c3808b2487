"""What crosses a boundary in the cell-counting pipeline."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import InvalidInput
from chalicelib.storage import S3_KEY_BYTES, check_key, key_bytes

# Per-upload parameters travel as S3 object metadata: ``x-amz-meta-count-method``
# chooses the method and ``x-amz-meta-count-<parameter>`` sets a parameter
# (dashes for underscores), e.g. ``x-amz-meta-count-min-radius: 8``.
METADATA_PREFIX = "count-"
ORIGINS = ("upload", "bot")  # an upload to the images bucket, or a chat-bot job
RUN_ID = re.compile(r"^[a-z0-9-]{1,64}$")
# A counting method's name (``watershed``, ``hough``): what a run id can carry as it is.
METHOD_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
# the longest name under an image's folder: runs/<64-character run id>/annotated.png
LONGEST_RESULT_NAME = len("runs/") + 64 + len("/annotated.png")


@dataclass(frozen=True)
class CountRequest:
    """One uploaded image to count: the payload of the counter function."""

    bucket: str
    key: str
    etag: str = ""
    size: int = 0
    version_id: str | None = None
    method: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    origin: str = "upload"

    @property
    def run(self) -> str:
        """Which count of this image this is: source bucket, origin, method and parameters.

        Results are kept per run, so new parameters (or another bucket, or a
        chat-bot job) never overwrite an earlier count.

        >>> CountRequest("b", "k.png", parameters={"diameter": "15"}).run
        'default-d836c02c0272'
        """
        return run_id(self.bucket, self.origin, self.method, self.parameters)

    def to_payload(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "etag": self.etag,
            "size": self.size,
            "version_id": self.version_id,
            "method": self.method,
            "parameters": dict(self.parameters),
            "origin": self.origin,
        }

    @classmethod
    def from_payload(cls, payload: Any) -> CountRequest:
        if not isinstance(payload, Mapping):
            raise InvalidInput("the count request must be a JSON object")
        missing = [name for name in ("bucket", "key") if not payload.get(name)]
        if missing:
            raise InvalidInput(f"the count request lacks {', '.join(missing)}")
        return cls(
            bucket=str(payload["bucket"]),
            key=check_key(str(payload["key"])),
            etag=str(payload.get("etag") or ""),
            size=int(payload.get("size") or 0),
            version_id=payload.get("version_id"),
            method=payload.get("method"),
            parameters={str(k): str(v) for k, v in (payload.get("parameters") or {}).items()},
            origin=_origin(payload.get("origin") or "upload"),
        )


def _origin(value: Any) -> str:
    if value not in ORIGINS:
        raise InvalidInput(f"origin must be one of {', '.join(ORIGINS)}, got {value!r}")
    return str(value)


def run_id(bucket: str, origin: str, method: str | None, parameters: Mapping[str, str]) -> str:
    """A short, stable name for one (bucket, origin, method, parameters) combination."""
    canonical = json.dumps(
        [bucket, origin, method or "", sorted((str(k), str(v)) for k, v in parameters.items())]
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    # any text a client sent as the method still makes a run id (RUN_ID): the digest tells
    # runs apart, the name is only for people
    name = re.sub(r"[^a-z0-9-]", "-", str(method or "default").lower()[:20])
    return f"{name}-{digest}"


def check_method(method: Any) -> str | None:
    """``method`` when it can name a counting method (text of letters, digits and ``-``).

    Which names exist is the counter's to say (``counting.METHODS``, NumPy); this check
    runs where the request is made (the upload's intake, a chat job) and keeps out what
    could never be one: a number or a list from a job's params, a path from metadata.

    >>> check_method("hough"), check_method(None)
    ('hough', None)
    >>> check_method(5)
    Traceback (most recent call last):
    ...
    chalicelib.errors.InvalidInput: a counting method is a name of letters, digits and '-' \
(watershed, hough); got 5
    """
    if method is None or method == "":
        return None
    if isinstance(method, str) and METHOD_NAME.match(method):
        return method
    shown = method[:40] if isinstance(method, str) else json.dumps(method, default=str)[:40]
    raise InvalidInput(
        f"a counting method is a name of letters, digits and '-' (watershed, hough); got {shown}"
    )


FLAG_ON = ("1", "true", "yes")
FLAG_OFF = ("", "0", "false", "no")


def parse_flag(value: str | None, name: str) -> bool:
    """A query-string switch (``&runs=1``): 1/true/yes on; absent, empty, 0/false/no off.

    Anything else is refused rather than read as on (``runs=0`` listed runs).

    >>> parse_flag("0", "runs"), parse_flag(None, "runs"), parse_flag("TRUE", "runs")
    (False, False, True)
    """
    text = (value or "").strip().lower()
    if text in FLAG_ON:
        return True
    if text in FLAG_OFF:
        return False
    raise InvalidInput(f"{name} must be 1, true or yes (on), or 0, false or no (off)")


def check_run_id(run: str) -> str:
    """``run`` if it looks like a run id (query input), else ``InvalidInput``."""
    if not RUN_ID.match(run):
        raise InvalidInput(f"not a run id: {run!r}")
    return run


def parameters_from_metadata(metadata: Mapping[str, str]) -> tuple[str | None, dict[str, str]]:
    """Split S3 user metadata into (method, parameters).

    >>> parameters_from_metadata({"count-method": "hough", "count-min-radius": "8", "owner": "x"})
    ('hough', {'min_radius': '8'})
    """
    method = None
    parameters: dict[str, str] = {}
    for name, value in metadata.items():
        name = name.lower()
        if not name.startswith(METADATA_PREFIX):
            continue
        parameter = name[len(METADATA_PREFIX) :].replace("-", "_")
        if parameter == "method":
            method = value
        else:
            parameters[parameter] = value
    return method, parameters


@dataclass(frozen=True)
class ResultKeys:
    """Where the results of one image go in the results bucket.

    The annotated image is a JPEG for JPEG uploads (photographs: a PNG of a
    3840×2160 frame takes ~0.5 s to encode) and a PNG otherwise.

    >>> ResultKeys.for_image("a/b.JPG").annotated
    'counts/a/b.JPG/annotated.jpg'
    """

    result: str
    annotated: str
    cells: str

    @classmethod
    def for_image(cls, key: str) -> ResultKeys:
        """The latest upload's results (what ``GET /counts?key=`` returns)."""
        return cls._under(cls.folder(key), key)

    @classmethod
    def for_run(cls, key: str, run: str) -> ResultKeys:
        """One run's results, kept whatever is counted later.

        >>> ResultKeys.for_run("a.tif", "watershed-0123").result
        'counts/a.tif/runs/watershed-0123/result.json'
        """
        return cls._under(f"{cls.folder(key)}runs/{run}/", key)

    @classmethod
    def runs_prefix(cls, key: str) -> str:
        return f"{cls.folder(key)}runs/"

    @staticmethod
    def folder(key: str) -> str:
        """``counts/<key>/``, or for a key too long for that (over ≈ 930 bytes: the result
        keys would pass S3's 1,024-byte limit) ``counts-long-keys/<sha256 of the key>/``.

        The same key always maps to the same folder, so ``GET /counts?key=`` finds it.

        >>> ResultKeys.folder("a/b.png")
        'counts/a/b.png/'
        >>> ResultKeys.folder("x" * 1000)[:17], len(ResultKeys.folder("x" * 1000))
        ('counts-long-keys/', 82)
        """
        folder = f"counts/{key}/"
        if key_bytes(folder) + LONGEST_RESULT_NAME <= S3_KEY_BYTES:  # InvalidInput: no UTF-8
            return folder
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return f"counts-long-keys/{digest}/"

    @classmethod
    def _under(cls, prefix: str, key: str) -> ResultKeys:
        jpeg = key.lower().endswith((".jpg", ".jpeg"))
        annotated = prefix + ("annotated.jpg" if jpeg else "annotated.png")
        return cls(prefix + "result.json", annotated, prefix + "cells.csv")

    @property
    def annotated_type(self) -> str:
        return "image/jpeg" if self.annotated.endswith(".jpg") else "image/png"
