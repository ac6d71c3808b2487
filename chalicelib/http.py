"""HTTP error mapping: our named errors become JSON responses with real status codes."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from chalice.app import Response

from chalicelib.errors import InvalidInput, NotFound, TooLarge

log = logging.getLogger(__name__)


def status_for(error: Exception) -> int:
    if isinstance(error, TooLarge):
        return 413
    if isinstance(error, InvalidInput):
        return 400
    if isinstance(error, NotFound):
        return 404
    return 500


def error_response(error: Exception) -> Response:
    status = status_for(error)
    reason = str(error) if status < 500 else "internal error"
    if status >= 500:
        log.exception("unhandled error in a route", exc_info=error)
    return Response(
        body={"status": str(status), "reason": reason},
        status_code=status,
        headers={"Content-Type": "application/json"},
    )


def api_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a Chalice view: ``InvalidInput``/``NotFound`` become 4xx JSON responses.

    (Chalice catches view exceptions before HTTP middleware sees them, so the
    mapping has to sit on the view itself.)
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except (InvalidInput, NotFound) as error:
            return error_response(error)

    return wrapper
