"""One error body everywhere: ``{"error": {"code", "message"}}`` for domain, validation and HTTP errors."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from governance.errors import GovernError
from governance.validation import database_refusal

logger = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "invalid_input",
    500: "internal_error",
    503: "unavailable",
}


def _code(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _respond(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=dict(headers or {}))


async def _govern_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GovernError)
    return _respond(exc.http_status, _code(type(exc).__name__), " ".join(str(exc).split()))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return _respond(exc.status_code, HTTP_CODES.get(exc.status_code, "http_error"), message, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    return _respond(422, "invalid_input", f"{where}: {first.get('msg')}")


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("database error on %s %s: %s", request.method, request.url.path, exc)
    return _respond(503, "unavailable", "the database cannot be reached")


async def _refused_value(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DataError | IntegrityError)
    logger.warning("database refused a value on %s %s: %s", request.method, request.url.path, exc.orig)
    if isinstance(exc, IntegrityError):
        return _respond(409, "conflict", database_refusal(exc))
    return _respond(422, "invalid_input", database_refusal(exc))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return _respond(500, "internal_error", f"unexpected {type(exc).__name__}")


def install(app: FastAPI) -> None:
    app.add_exception_handler(GovernError, _govern_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(DataError, _refused_value)
    app.add_exception_handler(IntegrityError, _refused_value)
    app.add_exception_handler(Exception, _unexpected)
