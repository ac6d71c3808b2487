"""JSON from clients and queues, parsed with a bound on nesting depth and size.

``json.loads`` recurses once per ``[`` or ``{``: a body nested a few thousand
deep raises ``RecursionError`` (not a ``ValueError``), which escapes the usual
``except ValueError`` and turns client input into a crash (an HTTP 500, a queue
batch retried into its dead-letter queue). Every JSON document that arrives from
outside goes through ``loads`` here instead: it counts the nesting first (strings
skipped) and refuses anything deeper than ``MAX_DEPTH`` with ``JSONError``, a
``ValueError``, so the caller's existing error path answers it.

Python 3.8-compatible (no new syntax): any container may import it.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Deeper than any document this project accepts (a job, a painting message, observations).
MAX_DEPTH = 64

# A JSON string (escapes included) or one bracket: strings are skipped whole, so a
# "[" inside a string does not count as nesting.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class JSONError(ValueError):
    """The text is not a JSON document this project accepts (malformed, too deep, too big)."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's pairs as a dict; ``JSONError`` when a key repeats.

    ``json`` keeps the last value of a repeated key without a word, while another reader
    of the same text (a proxy, a log viewer) may keep the first: ambiguous input.
    """
    document = dict(pairs)
    if len(document) == len(pairs):
        return document
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise JSONError(f"the JSON repeats the key {key[:64]!r} in one object")
        seen.add(key)
    return document  # pragma: no cover - a shorter dict means a repeated key


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (strings ignored).

    >>> depth('{"a": [1, [2]], "b": "[[[["}')
    3
    """
    deepest = level = 0
    for token in _TOKENS.finditer(text):
        char = token.group()
        if char in "[{":
            level += 1
            if level > deepest:
                deepest = level
        elif char in "]}":
            level -= 1
    return deepest


def loads(
    raw: str | bytes | bytearray,
    max_depth: int = MAX_DEPTH,
    max_bytes: int | None = None,
) -> Any:
    """``json.loads`` with limits; every failure is a ``JSONError`` (a ``ValueError``).

    >>> loads('{"a": [1, 2]}')
    {'a': [1, 2]}
    >>> loads("[" * 100 + "]" * 100)
    Traceback (most recent call last):
    ...
    chalicelib.jsonsafe.JSONError: the JSON is nested 100 deep; the limit is 64
    """
    if max_bytes is not None and len(raw) > max_bytes:
        raise JSONError(f"the JSON is {len(raw)} bytes; the limit is {max_bytes} bytes")
    if isinstance(raw, (bytes, bytearray)):
        try:
            text = bytes(raw).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise JSONError(f"the JSON is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    else:
        text = raw
    # Fast path: few brackets cannot nest deeply (every small request body).
    if text.count("[") + text.count("{") > max_depth:
        found = depth(text)
        if found > max_depth:
            raise JSONError(f"the JSON is nested {found} deep; the limit is {max_depth}")
    try:
        return json.loads(text, object_pairs_hook=_unique)
    except RecursionError as exc:  # pragma: no cover - the depth check comes first
        raise JSONError("the JSON is nested too deep") from exc
    except ValueError as exc:  # JSONDecodeError, and integers beyond Python's digit limit
        raise JSONError(str(exc)) from exc
