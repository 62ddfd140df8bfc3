"""Refuse malformed requests before any route sees them: NUL bytes and over-deep or oversized JSON.

A NUL byte in a path, a query string, a header or a cookie (an API key in ``Authorization`` or
the session cookie) names nothing the platform stores and PostgreSQL cannot even compare it, so
it is a 400 here. A JSON body is read whole (up to :data:`MAX_JSON_BODY`) and refused when it
nests deeper than :data:`~governance.validation.MAX_JSON_DEPTH` (Python's parser would recurse
until it fails) or is larger than the bound (413). Everything else passes untouched; values
inside well-formed requests are checked by the routes' schemas and the services.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from governance.validation import MAX_JSON_DEPTH, json_depth

MAX_JSON_BODY = 4 << 20  # bytes of a JSON request body
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _looks_like_json(body: bytes) -> bool:
    """A body without a content type that FastAPI would parse as JSON (not an uploaded file)."""
    start = body.lstrip()[:1]
    if start not in (b"{", b"["):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _nul_in_request(scope: Scope) -> str | None:
    if "\x00" in scope.get("path", "") or b"\x00" in unquote_to_bytes(scope.get("raw_path") or b""):
        return "the path"
    query = scope.get("query_string", b"")
    if b"\x00" in query or b"\x00" in unquote_to_bytes(query.replace(b"+", b" ")):
        return "the query string"
    for name, value in scope.get("headers", []):
        if b"\x00" in name or b"\x00" in value:
            return "a cookie" if name.lower() == b"cookie" else f"the {name.decode('latin-1')} header"
    return None


class RequestGuard:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = _nul_in_request(scope)
        if where is not None:
            await _refuse(send, 400, "bad_request", f"{where} contains a NUL byte")
            return
        if scope.get("method") not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        content_type = headers.get(b"content-type", b"").decode("latin-1") or None
        declared_json = _is_json(content_type)
        if content_type and not declared_json:
            await self.app(scope, receive, send)  # an upload or a form: not JSON
            return
        length = headers.get(b"content-length", b"")
        if declared_json and length.isdigit() and int(length) > MAX_JSON_BODY:
            await _refuse(send, 413, "too_large", f"a JSON body may have at most {MAX_JSON_BODY} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more and size <= MAX_JSON_BODY:
            message = await receive()
            if message["type"] != "http.request":
                chunks = []
                more = False
                break
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if more and declared_json:
            await _refuse(send, 413, "too_large", f"a JSON body may have at most {MAX_JSON_BODY} bytes")
            return
        if (declared_json or (not more and _looks_like_json(body))) and json_depth(body) > MAX_JSON_DEPTH:
            await _refuse(
                send, 422, "invalid_input", f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep"
            )
            return
        await self.app(scope, _replay(body, more, receive), send)


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    """A ``receive`` that first gives back what the guard read, then reads on."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replayed


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    payload = json.dumps({"error": {"code": code, "message": message}}).encode()
    response_headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    start: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": response_headers}
    await send(start)
    await send({"type": "http.response.body", "body": payload})
