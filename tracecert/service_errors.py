"""The HTTP-facing error base shared by the registry and the verifier services, and the error body they answer with.

Each error has a stable machine ``code``, a human ``message``, optional ``details`` and the HTTP status the API
layer answers with (only an API layer reads ``http_status``; the core imports no HTTP framework). Every error
response is ``{"error": {"code", "message", "details"?}}``.

Exception tree (the generic HTTP refusals; each service derives its own base and leaves from these)::

    ServiceError                      500 INTERNAL_ERROR
    ├── MalformedRequest              400 MALFORMED_JSON / MALFORMED_MULTIPART   the body does not parse at all
    ├── NotFound                      404 NOT_FOUND
    ├── MethodNotAllowed              405 METHOD_NOT_ALLOWED
    ├── PayloadTooLarge               413 PAYLOAD_TOO_LARGE
    ├── UnsupportedMediaType          415 UNSUPPORTED_MEDIA_TYPE
    └── InvalidRequest                422 REQUEST_INVALID                         well-formed, invalid content

A service leaf names the shared leaf first, then its package base (``class NotFound(service_errors.NotFound,
RegistryError)``), so that the leaf's ``code`` and ``http_status`` win over the package base's.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "RETRY_AFTER_SECONDS",
    "InvalidRequest",
    "MalformedRequest",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "ServiceError",
    "UnsupportedMediaType",
    "error_body",
]


#: What a 503 of either service tells the client to wait before retrying (the chain could not be asked).
RETRY_AFTER_SECONDS = 2


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The body of every error response: ``{"error": {"code", "message", "details"?}}``."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


class ServiceError(Exception):
    """Base of the services' errors: ``code`` (stable), ``message`` (human), ``details`` (e.g. field errors)."""

    code = "INTERNAL_ERROR"
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The error object: ``{"code", "message", "details"?}`` (also what a bulk answer lists per failed item)."""
        error: dict[str, Any] = error_body(self.code, self.message, self.details)["error"]
        return error

    def to_body(self) -> dict[str, Any]:
        """The response body: ``{"error": {"code", "message", "details"?}}``."""
        return error_body(self.code, self.message, self.details)


class MalformedRequest(ServiceError):
    """The body cannot be parsed at all (not JSON, broken multipart)."""

    code = "MALFORMED_JSON"
    http_status = 400


class NotFound(ServiceError):
    """Nothing there."""

    code = "NOT_FOUND"
    http_status = 404


class MethodNotAllowed(ServiceError):
    """The path exists, the method does not."""

    code = "METHOD_NOT_ALLOWED"
    http_status = 405


class PayloadTooLarge(ServiceError):
    """A body or file over the configured limit."""

    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class UnsupportedMediaType(ServiceError):
    """A Content-Type (or a file) the endpoint does not read."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


class InvalidRequest(ServiceError):
    """The request is well-formed HTTP but its content is invalid."""

    code = "REQUEST_INVALID"
    http_status = 422
