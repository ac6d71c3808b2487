"""moto in server mode on loopback, with Lambda invokes answered by our handlers.

moto cannot run Lambda code without Docker, so a thin WSGI middleware answers
``POST /2015-03-31/functions/{name}/invocations`` for the functions we know and
passes every other request to moto unchanged. Step Functions Task states that
invoke Lambda come through the same door (``MOTO_PORT`` points them here).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from devtools.local.functions import LocalFunctions

log = logging.getLogger(__name__)

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")

StartResponse = Callable[..., Any]


def function_name(raw: str) -> str:
    """Plain name from a name, partial ARN or full ARN (optionally qualified).

    >>> function_name("arn:aws:lambda:us-east-1:123456789012:function:counter:$LATEST")
    'counter'
    """
    name = unquote(raw)
    if ":function:" in name:
        name = name.split(":function:", 1)[1]
    return name.split(":", 1)[0]


class LambdaInvokeMiddleware:
    def __init__(self, backend: Callable[..., Iterable[bytes]], functions: LocalFunctions):
        self._backend = backend
        self._functions = functions

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        match = INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") != "POST" or match is None:
            return self._backend(environ, start_response)
        name = function_name(match["name"])
        if name not in self._functions:
            return self._backend(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = environ["wsgi.input"].read(length) if length else b""
        if environ.get("HTTP_X_AMZ_INVOCATION_TYPE") == "Event":
            self._functions.invoke_async(name, payload)
            start_response(
                "202 Accepted", [("Content-Type", "application/json"), ("Content-Length", "0")]
            )
            return [b""]
        ok, result = self._functions.invoke(name, payload)
        body = json.dumps(result).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Amz-Executed-Version", "$LATEST"),
        ]
        if not ok:
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        start_response("200 OK", headers)
        return [body]


class Emulator:
    """moto's server application behind our middleware, served on a thread."""

    def __init__(
        self,
        functions: LocalFunctions,
        host: str = "127.0.0.1",
        port: int = 0,
        wrappers: Iterable[Callable[[Any], Any]] = (),
    ) -> None:
        self.functions = functions
        self._wrappers = tuple(wrappers)  # more middleware around moto (the local Batch)
        self.host = host
        self._requested_port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        moto_app: Any = DomainDispatcherApplication(create_backend_app)
        for wrap in self._wrappers:
            moto_app = wrap(moto_app)
        app = LambdaInvokeMiddleware(moto_app, self.functions)
        self._server = make_server(
            self.host, self._requested_port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="emulator", daemon=True
        )
        self._thread.start()
        self.reset()

    def execute_state_machines(self) -> None:
        """Make moto run Step Functions executions (its Task states call back here)."""
        import urllib.request

        body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/config", data=body, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    def reset(self) -> None:
        """Empty every moto backend: moto keeps state per process, not per server."""
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        # Invocations in progress still talk to the emulator: let them end first.
        self.functions.drain()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.functions.shutdown()
