"""Middleware around moto: injected outages, and SQS's own checks moto skips.

``FaultInjector`` makes the emulator answer one service's requests with HTTP 503
for a while, as S3 (``SlowDown``) and SQS (``ServiceUnavailable``) do in a real
outage: ``injector.outage("s3", 20)``. botocore retries a 503 a few times and then
raises, so every handler sees what it would see in AWS. Requests whose
User-Agent carries ``EXEMPT_AGENT`` pass (the test's own uploader and checker:
an instrument keeps uploading while the pipeline's S3 calls fail).

``SqsRequestChecks`` refuses ``SendMessage``/``SendMessageBatch`` with message
attribute names or values SQS refuses. moto stores such a message before it
checks it and then fails every later ``ReceiveMessage`` of that queue, so one bad
request would stop a queue for good (AWS stores nothing).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.workers.messages import attribute_problem

log = logging.getLogger(__name__)

EXEMPT_AGENT = "lab-fault-exempt"
SERVICES = ("s3", "sqs")
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")

WsgiApp = Callable[..., Iterable[bytes]]


def service_of(environ: dict[str, Any]) -> str:
    """The AWS service a request to the emulator is for (from its SigV4 scope or target)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("AmazonSQS"):
        return "sqs"
    found = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if found:
        return found.group(1)
    query = environ.get("QUERY_STRING", "")
    scope = re.search(r"X-Amz-Credential=[^&]*?%2F([a-z0-9-]+)%2Faws4_request", query)
    return scope.group(1) if scope else ""


def _error(
    start_response: Any, status: str, body: bytes, headers: list[tuple[str, str]]
) -> Iterable[bytes]:
    start_response(status, [("Content-Length", str(len(body))), *headers])
    return [body]


def s3_slow_down(start_response: Any) -> Iterable[bytes]:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
        b"<Message>Please reduce your request rate. (injected outage)</Message></Error>"
    )
    return _error(start_response, "503 Slow Down", body, [("Content-Type", "application/xml")])


def sqs_error(start_response: Any, status: str, code: str, message: str) -> Iterable[bytes]:
    body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": message}).encode()
    sender = "Sender" if status.startswith("4") else "Receiver"
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-query-error", f"{code};{sender}"),
    ]
    return _error(start_response, status, body, headers)


class FaultInjector:
    """WSGI middleware: while an outage of a service lasts, its requests get a 503."""

    def __init__(self, backend: WsgiApp, clock: Callable[[], float] = time.monotonic) -> None:
        self._backend = backend
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()
        self.refused: dict[str, int] = {service: 0 for service in SERVICES}

    def outage(self, service: str, seconds: float) -> None:
        """Answer ``service`` (``s3`` or ``sqs``) with 503 for the next ``seconds``."""
        if service not in SERVICES:
            raise ValueError(f"service must be one of {', '.join(SERVICES)}, got {service!r}")
        with self._lock:
            self._until[service] = self._clock() + seconds
        log.warning("injected outage: %s answers 503 for %.0f s", service, seconds)

    def end(self) -> None:
        with self._lock:
            self._until.clear()

    def down(self, service: str) -> bool:
        with self._lock:
            return self._clock() < self._until.get(service, 0.0)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        service = service_of(environ)
        exempt = EXEMPT_AGENT in environ.get("HTTP_USER_AGENT", "")
        if service in SERVICES and not exempt and self.down(service):
            with self._lock:
                self.refused[service] += 1
            if service == "s3":
                return s3_slow_down(start_response)
            return sqs_error(
                start_response, "503 Service Unavailable", "ServiceUnavailable", "outage"
            )
        return self._backend(environ, start_response)


class SqsRequestChecks:
    """WSGI middleware: SQS's message-attribute rules, checked before moto stores anything."""

    OPERATIONS = ("AmazonSQS.SendMessage", "AmazonSQS.SendMessageBatch")

    def __init__(self, backend: WsgiApp) -> None:
        self._backend = backend

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET") not in self.OPERATIONS:
            return self._backend(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        problem = self._problem(raw)
        if problem:
            return sqs_error(start_response, "400 Bad Request", "InvalidParameterValue", problem)
        import io

        environ["wsgi.input"] = io.BytesIO(raw)
        return self._backend(environ, start_response)

    @staticmethod
    def _problem(raw: bytes) -> str | None:
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            return None  # moto answers malformed requests itself
        entries = request.get("Entries") if isinstance(request, dict) else None
        messages = entries if isinstance(entries, list) else [request]
        for message in messages:
            attributes = message.get("MessageAttributes") if isinstance(message, dict) else None
            for name, value in (attributes or {}).items():
                text = value.get("StringValue") if isinstance(value, dict) else None
                problem = attribute_problem(str(name), text)
                if problem:
                    return problem
        return None
