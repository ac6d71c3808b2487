"""Ids and keys in a route that S3 cannot hold are a 4xx, never a 500 (qa7).

Real S3 answers a request for a key over 1,024 bytes of UTF-8 with ``400
KeyTooLongError`` (moto does not check): that error was no ``NotFound``, so
``GET /jobs/<1,100 characters>`` (and the painting job routes) answered 500 for client
input. A key S3 cannot hold names no object: reading it is "not found".
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.storage import S3_KEY_BYTES


class KeyLimitS3:
    """moto's S3 with real S3's key length limit."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if not callable(method):
            return method

        def checked(*args: Any, **kwargs: Any) -> Any:
            key = kwargs.get("Key") or kwargs.get("Prefix") or ""
            if name != "list_objects_v2" and len(str(key).encode()) > S3_KEY_BYTES:
                error = {"Code": "KeyTooLongError", "Message": "Your key is too long"}
                raise ClientError({"Error": error}, name)
            return method(*args, **kwargs)

        return checked


LONG = "j" * 1100


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/jobs/{LONG}"),
        ("GET", f"/painting/jobs/{LONG}"),
        ("POST", f"/painting/jobs/{LONG}/retry"),
        ("GET", f"/console/api/painting/{LONG}"),
        ("POST", f"/console/api/painting/{LONG}/retry"),
        ("GET", f"/counts?key={LONG}"),
        ("GET", f"/counts?key={LONG}&runs=1"),
        ("GET", f"/console/api/image?key={LONG}"),
        ("GET", f"/console/api/video?key={LONG}"),
    ],
)
def test_an_id_or_key_longer_than_s3_allows_is_not_found(client, s3, method, path) -> None:
    with aws.injected(s3=KeyLimitS3(s3)):
        response = client.http.request(
            method,
            path,
            headers={"Content-Type": "application/json"},
            body=b"{}" if method == "POST" else b"",
        )
    assert response.status_code < 500, response.body[:300]
    if "/jobs/" in path or "/api/painting/" in path:
        assert response.status_code == 404


def test_s3s_key_too_long_error_is_invalid_input_not_an_outage() -> None:
    from chalicelib.errors import InvalidInput
    from chalicelib.storage import classify

    error = ClientError({"Error": {"Code": "KeyTooLongError", "Message": "too long"}}, "PutObject")
    assert isinstance(classify(error, "s3://b/k"), InvalidInput)  # a write: never retried
