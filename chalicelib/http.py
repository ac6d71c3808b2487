"""HTTP error mapping: our named errors become JSON responses with real status codes."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar, overload

from chalice.app import Chalice, Request, Response

from chalicelib.errors import Forbidden, InvalidInput, NotFound, TooLarge

log = logging.getLogger(__name__)

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
    """Decorate a Chalice view: ``InvalidInput``/``NotFound`` become 4xx JSON responses.

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
            except (InvalidInput, NotFound) as error:
                return error_response(error, extra)

        return wrapper

    return decorate(view) if view is not None else decorate


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
