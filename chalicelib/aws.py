"""The one door to AWS: lazily created, cached boto3 clients.

``AWS_ENDPOINT_URL`` (the SDK's standard override) points every client at the
embedded emulator; unset, clients talk to AWS. Importing this module is cheap:
boto3 is imported on first use, so ``import app`` stays fast on a cold start.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
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
        for created in _clients.values():
            close = getattr(created, "close", None)
            if close is not None:
                close()  # release pooled connections now, not at garbage collection
        _clients.clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError``, or ``""``."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def injected(**clients: Any) -> Iterator[None]:
    """Serve the given clients (``s3=…``, ``lambda_=…``) instead of real ones.

    For tests and tools that hand the app an in-memory fake: dependency
    injection at the one door, rather than patching modules.
    """
    names = {name.rstrip("_"): value for name, value in clients.items()}
    with _lock:
        saved = {name: _clients.get(name) for name in names}
        _clients.update(names)
    try:
        yield
    finally:
        with _lock:
            for name, value in saved.items():
                if value is None:
                    _clients.pop(name, None)
                else:
                    _clients[name] = value


def emulator_client(service: str, endpoint: str) -> Any:
    """A client for the local emulator at ``endpoint`` (its fake credentials), uncached.

    For tools and tests that talk to an emulator running in another process.
    """
    import boto3

    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
