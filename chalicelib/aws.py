"""The one door to AWS: lazily created, cached boto3 clients.

``AWS_ENDPOINT_URL`` (the SDK's standard override) points every client at the
embedded emulator; unset, clients talk to AWS. Importing this module is cheap:
boto3 is imported on first use, so ``import app`` stays fast on a cold start.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    """A shared client for ``service``, created on first use (thread-safe)."""
    cached = _clients.get(service)
    if cached is not None:
        return cached
    with _lock:
        if service not in _clients:
            _clients[service] = _create(service)
        return _clients[service]


def _create(service: str) -> Any:
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name=region, config=config
    )


def reset() -> None:
    """Drop every cached client (after the endpoint or credentials changed)."""
    with _lock:
        _clients.clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError``, or ``""``."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
