"""Browser-facing defences for every response: security headers and the cross-site write check.

* Every response gets a Content-Security-Policy (pages: scripts and styles from our own origin
  only, no inline code, no framing), ``X-Frame-Options: DENY`` and ``X-Content-Type-Options:
  nosniff``. A route may set its own, stricter policy: HTML made from data (Evidently's drift
  report, our audit report) is served with ``DATA_HTML_HEADERS``, a ``sandbox`` without scripts,
  so nothing in it runs, let alone with this site's origin and cookie. A run's report may be
  framed by this site's own run page (``FRAMED_DATA_HTML_HEADERS``), never by another.
* A state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` (or, without one, its
  ``Referer``) names another site is refused with 403 before any route runs, whatever its content
  type, unless it authenticates with ``Authorization: Bearer`` (which a foreign page cannot send
  without a CORS preflight we never grant). That stops cross-site form, text and multipart posts
  riding on the dashboards' session cookie. Requests without either header (scripts, curl) pass.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboards.api.errors import error_body
from dashboards.api.metrics import REFUSALS

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# No ``allow-scripts``: the document gets an opaque origin and runs no script, inline or not.
DATA_HTML_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
DATA_HTML_HEADERS = {"Content-Security-Policy": DATA_HTML_CSP}
# A run's report, which our own run page frames (``<iframe sandbox>``): the same sandbox, framable
# by this origin only.
FRAMED_DATA_HTML_HEADERS = {
    "Content-Security-Policy": DATA_HTML_CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'"),
    "X-Frame-Options": "SAMEORIGIN",
}
COMMON_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def _site(scheme: str, netloc: str) -> str:
    """``host[:port]`` in lower case, without the scheme's default port."""
    netloc = netloc.lower().rsplit("@", 1)[-1]
    default = DEFAULT_PORTS.get(scheme.lower())
    if default and netloc.endswith(f":{default}"):
        netloc = netloc[: -len(default) - 1]
    return netloc


def cross_site_source(headers: Headers, scheme: str) -> str | None:
    """The foreign Origin (or Referer) of a request, or None when it is same-site or says nothing."""
    source = headers.get("origin") or headers.get("referer")
    if source is None:
        return None
    host = headers.get("host", "")
    parts = urlsplit(source.strip())
    if parts.scheme and parts.netloc and _site(parts.scheme, parts.netloc) == _site(scheme, host):
        return None
    return source[:200]  # "null" (sandboxed frames, file:) and anything unparsable are foreign too


def _bearer(headers: Headers) -> bool:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(value.strip())


class SecurityMiddleware:
    """Adds the security headers to every response and refuses cross-site state changes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", PAGE_CSP)
                for name, value in COMMON_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        request_headers = Headers(scope=scope)
        if scope["method"] in UNSAFE_METHODS and not _bearer(request_headers):
            source = cross_site_source(request_headers, scope.get("scheme", "http"))
            if source is not None:
                REFUSALS.add("cross_site")
                message = f"a {scope['method']} from another site ({source}) is refused: send it from this site's pages or with a bearer key"
                response = JSONResponse(error_body("cross_site_request", message), status_code=403)
                await response(scope, receive, send_with_headers)
                return
        await self.app(scope, receive, send_with_headers)
