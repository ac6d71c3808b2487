"""HTTP error mapping: our named errors become JSON responses with real status codes."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar, overload

from chalice.app import Chalice, Request, Response

from chalicelib.config import Settings
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound, TooLarge

log = logging.getLogger(__name__)

# Connections a local HTTP server queues before accepting (socketserver's default is 5).
LOCAL_BACKLOG = 128

# Values of the API_AUTH setting and what they ask of API Gateway.
AUTH_MODES = ("none", "api_key", "iam")


def status_for(error: Exception) -> int:
    if isinstance(error, TooLarge):
        return 413
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, InvalidInput):
        return 400
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict):
        return 409
    return 500


def error_response(error: Exception, extra: Mapping[str, Any] | None = None) -> Response:
    status = status_for(error)
    reason = str(error) if status < 500 else "internal error"
    if status >= 500:
        log.exception("unhandled error in a route", exc_info=error)
    return Response(
        body={**(extra or {}), "status": str(status), "reason": reason},
        status_code=status,
        headers={"Content-Type": "application/json"},
    )


P = ParamSpec("P")
R = TypeVar("R")


@overload
def api_errors(view: Callable[P, R]) -> Callable[P, R | Response]: ...


@overload
def api_errors(
    *, extra: Mapping[str, Any] | None = None
) -> Callable[[Callable[P, R]], Callable[P, R | Response]]: ...


def api_errors(
    view: Callable[P, R] | None = None, *, extra: Mapping[str, Any] | None = None
) -> Any:
    """Decorate a Chalice view: ``InvalidInput``/``NotFound``/``Conflict`` become 4xx JSON.

    Use bare (``@api_errors``) or with fields every error body carries as well
    (``@api_errors(extra={"prediction": ""})``, the seed's error body).
    (Chalice catches view exceptions before HTTP middleware sees them, so the
    mapping has to sit on the view itself.)
    """

    def decorate(view: Callable[P, R]) -> Callable[P, R | Response]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            try:
                return view(*args, **kwargs)
            except (InvalidInput, NotFound, Conflict) as error:
                return error_response(error, extra)

        return wrapper

    return decorate(view) if view is not None else decorate


def tune_local_server(local: Any) -> None:
    """Make ``chalice local`` (the module ``chalice.local``, passed in) fast on keep-alive.

    chalice's handler writes headers and body in two ``send()`` calls; with Nagle's
    algorithm on, the body waits for the client's delayed ACK (~40 ms per request
    on a keep-alive connection, ~23 req/s). Its request handler has the switch;
    its server's listen backlog is socketserver's 5 (connect stalls under load).
    Only class attributes change: nothing runs differently in AWS, where
    ``chalice.local`` is not even packaged.
    """
    local.ChaliceRequestHandler.disable_nagle_algorithm = True
    local.ThreadedHTTPServer.request_queue_size = LOCAL_BACKLOG


def parse_json_body(raw_body: bytes | str | None) -> Any:
    """A request body as JSON, nesting bounded; ``InvalidInput`` (HTTP 400) when it is not."""
    from chalicelib import jsonsafe

    try:
        return jsonsafe.loads(raw_body or b"")
    except ValueError as exc:
        raise InvalidInput(f"the body is not valid JSON ({str(exc)[:100]})") from exc


def current_request(app: Chalice) -> Request:
    """The request a view is answering (Chalice sets it before calling the view)."""
    request = app.current_request
    if request is None:
        raise RuntimeError("no current request: called outside a Chalice view")
    return request


def route_auth(mode: str) -> dict[str, Any]:
    """Keyword arguments for ``@app.route`` that protect a route as ``API_AUTH`` says.

    ``none``: open (the local stage). ``api_key``: API Gateway requires an
    ``x-api-key`` header of a key in a usage plan. ``iam``: callers sign
    requests with SigV4 and need ``execute-api:Invoke``.
    """
    if mode == "none":
        return {}
    if mode == "api_key":
        return {"api_key_required": True}
    if mode == "iam":
        from chalice.app import IAMAuthorizer

        return {"authorizer": IAMAuthorizer()}
    raise ValueError(f"API_AUTH must be one of {', '.join(AUTH_MODES)}; got {mode!r}")


CONSOLE_AUTH_MODES = ("none", "cognito")


def console_auth(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for the console's routes (``CONSOLE_AUTH``).

    ``none``: open (the local stage). ``cognito``: API Gateway accepts only an
    ID token of the stage's Cognito user pool (lab members sign in on the page);
    the pool's ARN comes from the infrastructure stack at ``chalice deploy``.
    """
    if settings.console_auth == "none":
        return {}
    if settings.console_auth != "cognito":
        raise ValueError(
            f"CONSOLE_AUTH must be one of {', '.join(CONSOLE_AUTH_MODES)}; "
            f"got {settings.console_auth!r}"
        )
    from chalice.app import CognitoUserPoolAuthorizer

    arns = [settings.cognito_user_pool_arn] if settings.cognito_user_pool_arn else []
    return {"authorizer": CognitoUserPoolAuthorizer("LabMembers", provider_arns=arns)}
