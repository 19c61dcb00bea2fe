"""The verifier's errors: the shared HTTP refusals and the verifier's own (rate limit, a chain it cannot use).

Every error is ``{"error": {"code", "message"}}``; clients act on ``code``. The base and the generic HTTP leaves
(marked *) are :mod:`tracecert.service_errors`' (shared with the registry); the tree::

    ServiceError*                      500 INTERNAL_ERROR
    ├── MalformedRequest*              400 MALFORMED_JSON / MALFORMED_MULTIPART / JSON_TOO_DEEP
    ├── NotFound*                      404 NOT_FOUND
    │   ├── UnknownLab                 404 UNKNOWN_LAB   (a lab id no lab was registered under)
    │   ├── CreditRecordUnavailable    404 CREDIT_RECORD_UNAVAILABLE   (no CreditRegistry in this deployment)
    │   └── DirectoryUnavailable       404 DIRECTORY_UNAVAILABLE   (the service runs without its index)
    ├── MethodNotAllowed*              405 METHOD_NOT_ALLOWED
    ├── PayloadTooLarge*               413 PAYLOAD_TOO_LARGE
    ├── UnsupportedMediaType*          415 UNSUPPORTED_MEDIA_TYPE
    ├── InvalidRequest (ValueError)    422 REQUEST_INVALID / INVALID_DIGEST / INVALID_LAB_ID / INVALID_AS_OF /
    │                                      INVALID_KIND / INVALID_SUBJECT / UNKNOWN_FILTER / INVALID_JURISDICTION /
    │                                      INVALID_LAB_KIND / INVALID_STATUS / INVALID_CATEGORY /
    │                                      INVALID_EXPIRING_WITHIN_DAYS   (a subclass of the shared InvalidRequest*);
    │                                      a Verifiable Credential refused: VC_INVALID / VC_PROOF_INVALID /
    │                                      VC_CRYPTOSUITE_UNSUPPORTED (tracecert.certificate.vc)
    ├── RateLimited                    429 RATE_LIMITED (Retry-After)
    └── SetupError                     503 NO_RPC_URL / NO_DEPLOYMENT / UNTRUSTED_DEPLOYMENT / CHAIN_UNAVAILABLE
                                           (Retry-After); the CLI exits 2 on these
"""

from __future__ import annotations

from tracecert import service_errors
from tracecert.service_errors import ServiceError

__all__ = [
    "CreditRecordUnavailable",
    "DirectoryUnavailable",
    "InvalidRequest",
    "RateLimited",
    "SetupError",
    "UnknownLab",
]


class InvalidRequest(service_errors.InvalidRequest, ValueError):
    """Well-formed, but not a request this endpoint can answer (bad digest, date, kind, shape).

    Also a ValueError: the parsers (:func:`verifier.inputs.parse_as_of`, ...) raise it where a ValueError is expected.
    """


class RateLimited(ServiceError):
    """Too many uploads from one client address; retry after ``retry_after`` seconds."""

    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SetupError(ServiceError):
    """The verifier cannot reach or trust a chain: no RPC URL, no deployment, an untrusted one, a silent node."""

    code = "CHAIN_UNAVAILABLE"
    http_status = 503


class UnknownLab(service_errors.NotFound):
    """A lab id under which no lab was ever registered (the registry's code for the same answer)."""

    code = "UNKNOWN_LAB"


class CreditRecordUnavailable(service_errors.NotFound):
    """The deployment has no CreditRegistry (it was deployed before the credit record): there is no record to show,
    which is not the same as a clean one."""

    code = "CREDIT_RECORD_UNAVAILABLE"


class DirectoryUnavailable(service_errors.NotFound):
    """The lab directory is read from the verifier's own index: a service that asks a live node for every check
    (``chain_view=live``) has none to read it from."""

    code = "DIRECTORY_UNAVAILABLE"
