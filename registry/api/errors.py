"""How the API answers errors: always ``{"error": {"code", "message", "details"?}}`` with a stable machine code.

HTTP-only refusals, beside the service's :class:`~registry.errors.RegistryError` tree (each also the
:mod:`tracecert.service_errors` leaf of the same name)::

    RegistryError
    ├── MalformedRequest          400 MALFORMED_JSON / MALFORMED_MULTIPART
    ├── UnsupportedMediaType      415 UNSUPPORTED_MEDIA_TYPE
    ├── InvalidRequest            422 REQUEST_INVALID / UNKNOWN_FIELD (envelope), INVALID_DIGEST, INVALID_LAB_ID, ...
    └── PayloadTooLarge           413 PAYLOAD_TOO_LARGE / BULK_TOO_LARGE

The database's errors: away for now, 503 DATABASE_UNAVAILABLE; a uniqueness a concurrent request took first, 409
CONCURRENT_CHANGE (both: send again). Anything unexpected becomes 500 INTERNAL_ERROR (logged here, never shown to
the client).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.db import database_unavailable
from registry.errors import ChainUnavailableError, InvalidRequest, RegistryError
from tracecert import service_errors
from tracecert.chain.errors import ChainUnavailable
from tracecert.service_errors import RETRY_AFTER_SECONDS, error_body

__all__ = [
    "ErrorBody",
    "InternalErrorMiddleware",
    "MalformedRequest",
    "UnsupportedMediaType",
    "documented",
    "envelope_error",
    "install_error_handlers",
]

logger = logging.getLogger(__name__)


class MalformedRequest(service_errors.MalformedRequest, RegistryError):
    """The body cannot be parsed at all (not JSON, broken multipart)."""


class UnsupportedMediaType(service_errors.UnsupportedMediaType, RegistryError):
    """The Content-Type is not one this endpoint reads."""


class ErrorDetail(BaseModel):
    """The error object."""

    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error response."""

    error: ErrorDetail


_DOCUMENTED = {
    400: "Malformed JSON or multipart body (MALFORMED_JSON, MALFORMED_MULTIPART)",
    401: "Missing, unknown or revoked token (UNAUTHORIZED)",
    403: "Not allowed for this token (WRONG_LAB, LAB_SUSPENDED, LAB_NOT_AUTHORIZED, NOT_A_LAB, ...)",
    404: "Not found (UNKNOWN_CERTIFICATE, UNKNOWN_BATCH, NOT_ANCHORED, ...)",
    409: "Conflict (NUMBER_REUSE, ALREADY_REVOKED)",
    413: "Body, file or bulk over the limit (PAYLOAD_TOO_LARGE, BULK_TOO_LARGE)",
    415: "Wrong Content-Type (UNSUPPORTED_MEDIA_TYPE)",
    422: "Invalid content (REQUEST_INVALID, UNKNOWN_FIELD, RECORD_INVALID, SIGNATURE_INVALID, INVALID_DIGEST, ...)",
    503: "The chain could not be asked; retry after Retry-After seconds (CHAIN_UNAVAILABLE)",
}


def documented(success: Mapping[int, dict[str, Any]], *errors: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of a route: its success answers and the error statuses it can answer."""
    out: dict[int | str, dict[str, Any]] = {status: answer for status, answer in success.items()}
    out.update({status: {"model": ErrorBody, "description": _DOCUMENTED[status]} for status in errors})
    return out


def _field_errors(errors: Iterable[Mapping[str, Any]], prefix: str = "") -> list[dict[str, str]]:
    out = []
    for err in errors:
        path = ".".join(str(p) for p in err["loc"])
        field = ".".join(p for p in (prefix, path) if p) or "(body)"
        rule = "unknown_field" if err["type"] == "extra_forbidden" else err["type"]
        rule = "required" if rule == "missing" else rule
        out.append({"field": field, "rule": rule, "message": err["msg"]})
    return out


def envelope_error(exc: ValidationError, prefix: str = "") -> InvalidRequest:
    """A request envelope's validation error as 422 UNKNOWN_FIELD (if any field is unknown: the likely cause, e.g.
    a misspelled name) or REQUEST_INVALID, with ``details`` = ``[{field, rule, message}]``."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    details = _field_errors(errors, prefix)
    if any(e["type"] == "extra_forbidden" for e in errors):
        return InvalidRequest("the request has fields it may not have", code="UNKNOWN_FIELD", details=details)
    return InvalidRequest("the request is invalid", code="REQUEST_INVALID", details=details)


async def _registry_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if isinstance(exc, ChainUnavailableError) else None
    if exc.http_status >= 500 and not isinstance(exc, ChainUnavailableError):
        logger.error("registry error %s: %s", exc.code, exc.message)
    return JSONResponse(exc.to_body(), status_code=exc.http_status, headers=headers)


async def _chain_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    # A chain-layer error that a service did not wrap: the node is down, the request is safe to retry.
    return JSONResponse(
        error_body("CHAIN_UNAVAILABLE", "the chain node is unreachable; retry"),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _database_error(_request: Request, exc: Exception) -> JSONResponse:
    # The database went away (restarting, recovering after a crash, a dropped connection) or stayed locked past
    # the busy timeout: nothing was committed, the request is safe to retry (503). A uniqueness raced: 409, retry.
    # Anything else is a bug: a 500.
    assert isinstance(exc, sqlalchemy.exc.DBAPIError)
    if database_unavailable(exc):
        logger.warning("database unavailable: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
        return JSONResponse(
            error_body("DATABASE_UNAVAILABLE", "the registry's database is unavailable; retry"),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, sqlalchemy.exc.IntegrityError):
        # A uniqueness the request relied on was taken by a concurrent request between its read and its write
        # (two imports of one register, say): nothing was committed, and sent again it sees the other's row. Logged
        # in full, as a path that does not retry by itself is worth knowing.
        logger.warning("concurrent change: %s", str(exc.orig).splitlines()[0] if exc.orig else exc, exc_info=exc)
        return JSONResponse(
            error_body("CONCURRENT_CHANGE", "a concurrent request changed the same records; send the request again"),
            status_code=409,
            headers={"Retry-After": "1"},
        )
    logger.error("database error", exc_info=exc)
    return JSONResponse(error_body("INTERNAL_ERROR", "internal error"), status_code=500)


async def _query_invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Query and path parameters (bodies are read by registry.api.bodies): drop the "query"/"path" location.
    errors = [{**e, "loc": tuple(e["loc"])[1:]} for e in exc.errors()]
    return JSONResponse(
        error_body("REQUEST_INVALID", "the request parameters are invalid", _field_errors(errors)), status_code=422
    )


_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every refusal into the error body."""
    app.add_exception_handler(RegistryError, _registry_error)
    app.add_exception_handler(ChainUnavailable, _chain_unavailable)
    app.add_exception_handler(sqlalchemy.exc.DBAPIError, _database_error)
    app.add_exception_handler(RequestValidationError, _query_invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(InternalErrorMiddleware)


class InternalErrorMiddleware:
    """Anything unexpected: logged with its traceback here, answered 500 INTERNAL_ERROR with no internals.

    (Starlette's own catch-all would re-raise after answering, so the server logs it a second time.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:  # too late for a clean answer; let the server drop the connection
                raise
            response = JSONResponse(error_body("INTERNAL_ERROR", "internal error; it has been logged"), status_code=500)
            await response(scope, receive, send)
