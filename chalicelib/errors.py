"""Named errors. Each says whether retrying can help.

``InvalidInput`` and its subclasses are the caller's fault: they become an error
result (a JSON document, an HTTP 4xx) at once and are never retried. Anything
else that escapes a handler is treated as transient: the event is retried and,
when retries run out, lands in a dead-letter queue with its reason.
"""

from __future__ import annotations

# Python 3.8-compatible: the CellProfiler Batch container imports it.


class LabError(Exception):
    """Base of every error this project raises on purpose."""


class InvalidInput(LabError):
    """The input can never succeed as it is; answer with an error, do not retry."""

    kind = "invalid_input"


class UnsupportedType(InvalidInput):
    kind = "unsupported_type"


class EmptyInput(InvalidInput):
    kind = "empty_input"


class TooLarge(InvalidInput):
    kind = "too_large"


class CorruptInput(InvalidInput):
    kind = "corrupt_input"


class Forbidden(InvalidInput):
    """The caller may not do this (maps to HTTP 403), e.g. pickle from an untrusted bucket."""

    kind = "forbidden"


class NotFound(LabError):
    """A thing asked for does not exist (maps to HTTP 404)."""


class Conflict(LabError):
    """A conditional write lost: someone else changed the thing first (HTTP 409)."""


class TransientError(LabError):
    """A dependency failed in a way that a retry may fix."""
