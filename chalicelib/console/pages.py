"""The console's static files (``static/``), served by the app with the right content types.

Files are read once per process and answered with an ETag, so a browser
revalidates with a 304 instead of downloading them again. A strict Content
Security Policy allows only this origin and S3 (presigned links, uploads).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chalice.app import Response

from chalicelib.errors import NotFound

STATIC = Path(__file__).resolve().parent / "static"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}


@lru_cache(maxsize=32)
def _read(name: str) -> tuple[str, str, str]:
    path = STATIC / name
    if path.parent != STATIC or path.suffix not in TYPES or not _is_file(path):
        raise NotFound(f"no console file {name[:80]!r}")
    text = path.read_text(encoding="utf-8")
    return text, TYPES[path.suffix], '"' + hashlib.sha256(text.encode()).hexdigest()[:20] + '"'


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system (ENAMETOOLONG): client input
        return False


def content_security_policy() -> str:
    """Scripts and styles from this origin only; images, media and uploads also from S3."""
    s3 = "https://*.amazonaws.com"
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/")
    sources = f"{s3} {endpoint}".strip()
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: blob: {sources}; media-src 'self' blob: {sources}; "
        f"connect-src 'self' {sources}; frame-ancestors 'none'; base-uri 'self'; "
        f"form-action 'self' {sources}"
    )


def static_file(name: str, headers: Mapping[str, str] | None = None) -> Response:
    """A static file (``index.html`` for the page); 304 when the browser has it already."""
    text, content_type, etag = _read(name)
    common: dict[str, str | list[str]] = {
        "Cache-Control": "no-cache",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if name.endswith(".html"):
        common["Content-Security-Policy"] = content_security_policy()
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    if lowered.get("if-none-match") == etag:
        return Response(body="", status_code=304, headers=common)
    return Response(body=text, status_code=200, headers={**common, "Content-Type": content_type})


def page_weight() -> dict[str, int]:
    """Bytes of every static file (the page weight without images)."""
    return {p.name: p.stat().st_size for p in sorted(STATIC.iterdir()) if p.suffix in TYPES}


def file_response(body: bytes | str, content_type: str, name: str) -> Response:
    """A download: the body with its type and a file name."""
    return Response(
        body=body,
        status_code=200,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": content_disposition(name),
        },
    )


def content_disposition(name: str) -> str:
    """``attachment`` with a file name, as RFC 6266 wants it (header text is ASCII).

    A name made of safe ASCII is quoted as it is; any other gets an ASCII fallback
    (each unsafe character ``_``) and the UTF-8 name percent-encoded (RFC 5987)
    after it. Control characters and path separators are ``_`` in both: a key's
    ``"``, ``;`` or newline broke the header; non-ASCII text made a link S3 refuses.

    >>> content_disposition("p-counts-wells.csv")
    'attachment; filename="p-counts-wells.csv"'
    >>> print(content_disposition('é"a;b\\n.csv'))
    attachment; filename="__a_b_.csv"; filename*=UTF-8''%C3%A9%22a%3Bb_.csv
    """
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", name)
    fallback = re.sub(r"[^A-Za-z0-9 ._()+,=@-]", "_", name)
    if fallback == name:
        return f'attachment; filename="{name}"'
    encoded = quote(name, safe="", errors="replace")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def auth_settings(mode: str, parameter: str) -> dict[str, Any]:
    """How the page signs in: ``none`` locally; ``cognito`` with the hosted UI's URLs.

    ``make deploy`` stores the user pool's sign-in domain and the console's app
    client id (created once the API's URL is known) in the SSM parameter
    ``CONSOLE_SIGNIN_PARAMETER``; it is read once per process.
    """
    if mode != "cognito":
        return {"mode": "none"}
    found = _sign_in(parameter)
    domain, client = str(found["domain"]).rstrip("/"), str(found["client_id"])
    return {
        "mode": "cognito",
        "login_url": f"{domain}/login?response_type=token&client_id={client}&scope=openid+email",
        "logout_url": f"{domain}/logout?client_id={client}",
    }


@lru_cache(maxsize=4)
def _sign_in(parameter: str) -> dict[str, Any]:
    from chalicelib import aws

    try:
        value = aws.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]
    except Exception as exc:
        if aws.error_code(exc) == "ParameterNotFound":
            raise NotFound(f"the console's sign-in settings ({parameter}) are missing") from exc
        raise
    return dict(json.loads(value))


def asset(name: str, headers: Mapping[str, str] | None = None) -> Response:
    """``GET /console/{name}``: a static file, or ``auth.json`` (how to sign in)."""
    if name == "auth.json":
        from chalicelib.config import get_settings

        settings = get_settings()
        answer = auth_settings(settings.console_auth, settings.console_signin_parameter)
        return Response(body=answer, status_code=200, headers={"Cache-Control": "no-store"})
    return static_file(name, headers)
