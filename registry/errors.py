"""Errors of the registry service. Each has a stable machine ``code`` and the HTTP status the API answers with
(only the API layer uses ``http_status``). The base and the generic HTTP leaves come from
:mod:`tracecert.service_errors` (shared with the verifier); every registry error is also a :class:`RegistryError`.

Exception tree::

    tracecert.service_errors.ServiceError
    └── RegistryError                     500 REGISTRY_ERROR
        ├── Unauthorized                  401 UNAUTHORIZED            missing, unknown or revoked token
        ├── Forbidden                     403 FORBIDDEN               token valid, action not allowed for it
        │   ├── WrongLab                  403 WRONG_LAB               another lab's certificate or record
        │   ├── LabNotActive              403 LAB_SUSPENDED / LAB_REVOKED / LAB_NOT_REGISTERED
        │   └── LabNotAuthorized          403 LAB_NOT_AUTHORIZED      category/activity outside the lab's scope now
        ├── NotFound*                     404 NOT_FOUND               (and UNKNOWN_LAB, UNKNOWN_CERTIFICATE, ...)
        ├── Conflict                      409 CONFLICT
        │   ├── NumberReuse               409 NUMBER_REUSE            same (lab, number), different digest
        │   └── AlreadyRevoked            409 ALREADY_REVOKED         revoked or substituted before
        ├── InvalidRequest*               422 (codes from the certificate layer: RECORD_INVALID, ...)
        │   ├── SignatureRejected         422 SIGNATURE_INVALID / UNKNOWN_KEY / KEY_NOT_VALID / KEY_NOT_HELD
        │   └── DocumentMismatch          422 DOCUMENT_MISMATCH       uploaded file ≠ record's original_document
        ├── PayloadTooLarge*              413 PAYLOAD_TOO_LARGE
        ├── ChainUnavailableError         503 CHAIN_UNAVAILABLE       the chain could not be asked; retry
        │   (503 DATABASE_UNAVAILABLE: the database is away — restarting, recovering — answered by
        │    registry.api.errors from the database driver's error; retry)
        ├── CustodyError                  500 CUSTODY_ERROR           a held key cannot be opened (registry.custody)
        │
        │   and, never answered over HTTP:
        ├── OnboardingError               (its code)                  an onboarding step refused (registry.onboarding)
        │   └── InvalidScope              INVALID_SCOPE               a malformed --scope (a usage error, exit 2)
        ├── RegistryClientError           (the registry's code)       a refusal the client received (registry.client)
        │   └── RegistryUnreachable       REGISTRY_UNREACHABLE
        ├── CliError                      (its code)                  a command's own refusal (registry.cli.common)
        └── DemoError                     DEMO_NOT_POSSIBLE           (tracecert_app.demo)

    * also the :mod:`tracecert.service_errors` leaf of the same name (its code and status).
    The HTTP-only refusals MalformedRequest* and UnsupportedMediaType* are in :mod:`registry.api.errors`.

Every one has ``code``, ``message`` and ``details``; the command line reports them all in one ``except``
(:func:`registry.cli.common.reporting_errors`), exiting with their ``exit_code``.
"""

from __future__ import annotations

from tracecert import service_errors
from tracecert.service_errors import ServiceError

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


class RegistryError(ServiceError):
    """Base of registry errors: ``code`` (stable), ``message`` (human), ``details`` (e.g. field errors)."""

    code = "REGISTRY_ERROR"
    http_status = 500
    #: The command line's exit code for it (2: a usage error).
    exit_code = 1


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


class NotFound(service_errors.NotFound, RegistryError):
    """Nothing there."""


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


class InvalidRequest(service_errors.InvalidRequest, RegistryError):
    """The request is well-formed HTTP but its content is invalid."""


class SignatureRejected(InvalidRequest):
    """The signature does not verify, or its key is unknown, not the lab's, or not valid now."""

    code = "SIGNATURE_INVALID"


class DocumentMismatch(InvalidRequest):
    """The uploaded original document does not hash to the record's ``original_document.sha256``."""

    code = "DOCUMENT_MISMATCH"


class PayloadTooLarge(service_errors.PayloadTooLarge, RegistryError):
    """A body or file over the configured limit."""


class ChainUnavailableError(RegistryError):
    """The chain could not be asked (the request is safe to retry)."""

    code = "CHAIN_UNAVAILABLE"
    http_status = 503
