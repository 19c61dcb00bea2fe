"""Errors of the registry service. Each has a stable machine ``code`` and the HTTP status the API answers with
(only the API layer uses ``http_status``).

Exception tree::

    RegistryError                         500 REGISTRY_ERROR
    ├── Unauthorized                      401 UNAUTHORIZED            missing, unknown or revoked token
    ├── Forbidden                         403 FORBIDDEN               token valid, action not allowed for it
    │   ├── WrongLab                      403 WRONG_LAB               another lab's certificate or record
    │   ├── LabNotActive                  403 LAB_SUSPENDED / LAB_REVOKED / LAB_NOT_REGISTERED
    │   └── LabNotAuthorized              403 LAB_NOT_AUTHORIZED      category/activity outside the lab's scope now
    ├── NotFound                          404 NOT_FOUND               (and UNKNOWN_LAB, UNKNOWN_CERTIFICATE, ...)
    ├── Conflict                          409 CONFLICT
    │   ├── NumberReuse                   409 NUMBER_REUSE            same (lab, number), different digest
    │   └── AlreadyRevoked                409 ALREADY_REVOKED         revoked or substituted before
    ├── InvalidRequest                    422 (codes from the certificate layer: RECORD_INVALID, ...)
    │   ├── SignatureRejected             422 SIGNATURE_INVALID / UNKNOWN_KEY / KEY_NOT_VALID / KEY_NOT_HELD
    │   └── DocumentMismatch              422 DOCUMENT_MISMATCH       uploaded file ≠ record's original_document
    ├── PayloadTooLarge                   413 PAYLOAD_TOO_LARGE
    └── ChainUnavailableError             503 CHAIN_UNAVAILABLE       the chain could not be asked; retry
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyRevoked",
    "ChainUnavailableError",
    "Conflict",
    "DocumentMismatch",
    "Forbidden",
    "InvalidRequest",
    "LabNotActive",
    "LabNotAuthorized",
    "NotFound",
    "NumberReuse",
    "PayloadTooLarge",
    "RegistryError",
    "SignatureRejected",
    "Unauthorized",
    "WrongLab",
]


class RegistryError(Exception):
    """Base of registry errors: ``code`` (stable), ``message`` (human), ``details`` (e.g. field errors)."""

    code = "REGISTRY_ERROR"
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The error body: ``{"code", "message", "details"?}``."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class Unauthorized(RegistryError):
    """No valid credential."""

    code = "UNAUTHORIZED"
    http_status = 401


class Forbidden(RegistryError):
    """A valid credential that may not do this."""

    code = "FORBIDDEN"
    http_status = 403


class WrongLab(Forbidden):
    """The certificate or record belongs to another lab."""

    code = "WRONG_LAB"


class LabNotActive(Forbidden):
    """The lab is suspended, revoked or not registered on chain."""

    code = "LAB_SUSPENDED"


class LabNotAuthorized(Forbidden):
    """The lab is not authorized now for the record's category and activity."""

    code = "LAB_NOT_AUTHORIZED"


class NotFound(RegistryError):
    """Nothing there."""

    code = "NOT_FOUND"
    http_status = 404


class Conflict(RegistryError):
    """The request conflicts with what is recorded."""

    code = "CONFLICT"
    http_status = 409


class NumberReuse(Conflict):
    """The lab already issued this certificate number with other content (recorded as a fraud signal)."""

    code = "NUMBER_REUSE"


class AlreadyRevoked(Conflict):
    """The certificate was already revoked or substituted."""

    code = "ALREADY_REVOKED"


class InvalidRequest(RegistryError):
    """The request is well-formed HTTP but its content is invalid."""

    code = "INVALID_REQUEST"
    http_status = 422


class SignatureRejected(InvalidRequest):
    """The signature does not verify, or its key is unknown, not the lab's, or not valid now."""

    code = "SIGNATURE_INVALID"


class DocumentMismatch(InvalidRequest):
    """The uploaded original document does not hash to the record's ``original_document.sha256``."""

    code = "DOCUMENT_MISMATCH"


class PayloadTooLarge(RegistryError):
    """A body or file over the configured limit."""

    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class ChainUnavailableError(RegistryError):
    """The chain could not be asked (the request is safe to retry)."""

    code = "CHAIN_UNAVAILABLE"
    http_status = 503
