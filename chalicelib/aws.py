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
_injected: set[str] = set()
# A synchronous caller waits this much longer than its callee may run.
INVOKE_GRACE_S = 10.0


def client(service: str) -> Any:
    """A shared client for ``service``, created on first use (thread-safe)."""
    cached = _clients.get(service)
    if cached is not None:
        return cached
    with _lock:
        if service not in _clients:
            _clients[service] = _create(service)
        return _clients[service]


def invoker(callee_timeout_s: float) -> Any:
    """A Lambda client for *synchronous* invokes of a function that may run ``callee_timeout_s``.

    botocore's defaults (60 s read timeout, retried) would give up on a counter that
    runs 120 s and start it again, doubling the work; this client waits the callee's
    whole timeout plus a grace and makes exactly one attempt. An injected ``lambda``
    client (tests) is served as is.
    """
    with _lock:
        if "lambda" in _injected:
            return _clients["lambda"]
    key = f"lambda#sync{int(callee_timeout_s)}"
    cached = _clients.get(key)
    if cached is not None:
        return cached
    with _lock:
        if key not in _clients:
            _clients[key] = _create(
                "lambda",
                read_timeout=int(callee_timeout_s + INVOKE_GRACE_S),
                retries={"mode": "standard", "total_max_attempts": 1},
            )
        return _clients[key]


def region() -> str:
    """This process's region: ``AWS_REGION`` (Lambda sets it), then ``AWS_DEFAULT_REGION``."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _create(service: str, **options: Any) -> Any:
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    settings: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 5},
        "max_pool_connections": 32,
        **options,
    }
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name=region(), config=Config(**settings)
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
        was_injected = set(_injected)
        _clients.update(names)
        _injected.update(names)
    try:
        yield
    finally:
        with _lock:
            _injected.clear()
            _injected.update(was_injected)
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
