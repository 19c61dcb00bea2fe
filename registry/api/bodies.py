"""Request bodies: read within the configured limits, parse strictly, validate the envelope.

A body is never read unbounded: the declared Content-Length is checked first, then the bytes are counted as they
arrive (413 PAYLOAD_TOO_LARGE either way), and only then parsed. JSON is parsed strictly (UTF-8, no duplicate keys,
no NaN; 400 MALFORMED_JSON). Envelopes refuse unknown fields (422 UNKNOWN_FIELD); the certificate record inside is
left to the certificate layer, which names the failing field (422 RECORD_INVALID).
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Sequence
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from registry.api.deps import SettingsDep
from registry.api.errors import MalformedRequest, UnsupportedMediaType, envelope_error
from registry.enterprises import region_valid
from registry.errors import InvalidRequest, PayloadTooLarge
from registry.instruments import XLSX, InstrumentIn, parse_table
from registry.issuance import Submission
from tracecert.certificate.canonical import MAX_JSON_DEPTH, parse_json
from tracecert.certificate.errors import CanonicalizationFailed, JsonTooDeep
from tracecert.chain.types import RevocationReason

__all__ = [
    "BulkIn",
    "BulkSubmissions",
    "CertificateIn",
    "DrawBody",
    "DrawIn",
    "DrawResultBody",
    "DrawResultIn",
    "EnterpriseBody",
    "EnterpriseIn",
    "RegisterIn",
    "RegisterRows",
    "Revocation",
    "RevocationBody",
    "RevokeIn",
    "SignatureIn",
    "SiteBody",
    "SiteIn",
    "SubmissionBody",
    "WatchBody",
    "WatchIn",
    "WebhookBody",
    "WebhookIn",
    "openapi_bodies",
]

JSON = "application/json"
MULTIPART = "multipart/form-data"
CSV = "text/csv"
_PARTS = ("record", "signature", "public", "document")
#: The text a multipart ``public`` part may have (JSON's booleans, as an HTML form sends them).
_PUBLIC_PART = {"true": True, "false": False}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignatureIn(_Envelope):
    """The lab's own Ed25519 signature over the certificate digest (lab-signing mode)."""

    key_id: StrictStr = Field(description="0x + 64 hex: SHA-256 of the public key, registered on chain")
    value: StrictStr = Field(description="0x + 128 hex: the Ed25519 signature of the certificate digest")


class CertificateIn(_Envelope):
    """One certificate. Without ``signature`` the registry signs with the lab's key it holds. With ``public``
    anyone may download its proof bundle (for a reference standard's certificate, which others' certificates cite)."""

    record: dict[str, Any] = Field(description="The certificate record (tracecert/1), see docs/bundle.md")
    signature: SignatureIn | None = None
    public: StrictBool = Field(
        default=False,
        description="Publish it: anyone may download its proof bundle. Not part of the digest: true publishes an "
        "already accepted certificate; false never makes a published one private again.",
    )


class BulkIn(_Envelope):
    """Up to ``bulk_max`` certificates; each is accepted or refused on its own."""

    certificates: list[CertificateIn]


class RevokeIn(_Envelope):
    """A revocation: a reason (code or name) and, optionally, when it takes effect (default: now)."""

    reason: StrictInt | StrictStr = Field(
        description="RevocationReason code or name: " + ", ".join(f"{r.value} {r.name}" for r in RevocationReason)
    )
    effective_time: StrictInt | AwareDatetime | None = Field(
        default=None, description="Unix time, or an ISO-8601 date-time with its UTC offset"
    )


class DrawIn(_Envelope):
    """A published random inspection draw (the file ``tracecert draw run`` writes: see tracecert.draws)."""

    spec: dict[str, Any] = Field(description="The draw's inputs: purpose, jurisdiction, population, size, inspectors")
    commitment: StrictStr = Field(pattern=r"^0x[0-9a-f]{64}$", description="SHA-256 of the inputs, committed on chain")
    chain_id: StrictInt
    contract: StrictStr
    regulator: StrictStr = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    tx_hash: StrictStr
    commit_block: StrictInt = Field(ge=0)
    seed_block: StrictInt = Field(ge=0)
    seed_block_hash: StrictStr
    seed: StrictStr
    sample: list[StrictStr]
    inspectors: dict[str, list[StrictStr]]


class OutcomeIn(_Envelope):
    """What the inspection of one drawn item found."""

    outcome: Literal["PASS", "FAIL", "NOT_INSPECTED"] = Field(description="合格 / 不合格 / 未能检查")
    note: StrictStr = Field(default="", max_length=2000)


class DrawResultIn(_Envelope):
    """The results of a draw's inspections, by drawn item."""

    results: dict[str, OutcomeIn]


class EnterpriseIn(_Envelope):
    """An enterprise to register: by itself (no token) or by a regulator over its region."""

    usci: StrictStr = Field(description="统一社会信用代码, 18 characters")
    name: StrictStr = Field(description="The enterprise's registered name")


class SiteIn(_Envelope):
    """A site's new name or region (or both); its identifier, and so its QR code, stays."""

    name: StrictStr | None = Field(None, min_length=1, max_length=256, description="The site's new name")
    region: StrictInt | None = Field(None, description="The site's GB/T 2260 six-digit region code")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("a site's name is not blank")
        return value.strip() if value is not None else None

    @field_validator("region")
    @classmethod
    def _region(cls, value: int | None) -> int | None:
        if value is not None and not region_valid(value):
            raise ValueError("not a six-digit GB/T 2260 region code of a province, city or district")
        return value

    @model_validator(mode="after")
    def _something(self) -> SiteIn:
        if self.name is None and self.region is None:
            raise ValueError("give the site's new name, its region, or both")
        return self


class WatchIn(_Envelope):
    """Certificates to watch, by digest (up to 1,000 at once)."""

    digests: list[Annotated[StrictStr, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]] = Field(min_length=1, max_length=1000)
    note: StrictStr = Field(default="", max_length=256, description="Why (a supplier's name, a contract)")


class WebhookIn(_Envelope):
    """Where to post alerts."""

    url: StrictStr = Field(max_length=2048, description="An http(s) URL of a public host")


class RegisterIn(_Envelope):
    """Instruments to register, all or none (up to 20,000): each row as :class:`InstrumentIn`; CSV or Excel
    bodies carry the same fields as columns (Chinese or English headings)."""

    instruments: list[InstrumentIn]


class _RegisterEnvelope(_Envelope):
    # Rows are validated together by the register, which names every failing row.
    instruments: list[Any]


class _BulkEnvelope(_Envelope):
    # Items are validated one by one, so one bad item does not refuse the others.
    certificates: list[Any]


# ---------------------------------------------------------------------------------------------- reading bytes


def _media_type(request: Request, allowed: Sequence[str]) -> str:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in allowed:
        raise UnsupportedMediaType(
            f"Content-Type must be {' or '.join(allowed)}",
            details={"allowed": list(allowed), "received": media or None},
        )
    return media


def _too_large(limit: int, what: str = "the request body") -> PayloadTooLarge:
    return PayloadTooLarge(f"{what} is over the limit of {limit} bytes", details={"limit": limit})


def _check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(limit)


async def _bounded_stream(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    _check_declared_length(request, limit)
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        yield chunk


def _parse_json(data: bytes, field: str = "(body)") -> Any:
    try:
        return parse_json(data)
    except JsonTooDeep as exc:
        raise MalformedRequest(
            f"{'the body' if field == '(body)' else field} is nested deeper than {MAX_JSON_DEPTH} levels",
            code=exc.code,
            details=[{"field": field, "rule": "max_depth", "limit": MAX_JSON_DEPTH, "message": exc.message}],
        ) from exc
    except CanonicalizationFailed as exc:
        raise MalformedRequest(
            f"{'the body' if field == '(body)' else field} is not valid JSON",
            code="MALFORMED_JSON",
            details=[{"field": field, "rule": "json", "message": exc.message}],
        ) from exc


async def read_json(request: Request, limit: int) -> Any:
    """The JSON body (``application/json`` only), read within ``limit`` bytes.

    Raises:
        UnsupportedMediaType, PayloadTooLarge, MalformedRequest.
    """
    _media_type(request, (JSON,))
    body = bytearray()
    async for chunk in _bounded_stream(request, limit):
        body += chunk
    return _parse_json(bytes(body))


class _BoundedMultiPartParser(MultiPartParser):
    """Starlette's multipart parser, counting each part while it streams in: ``document`` files up to
    ``document_limit``, every other part up to ``part_limit`` (413 as soon as one is over)."""

    def __init__(self, headers: Headers, stream: AsyncGenerator[bytes, None], *, part_limit: int, document_limit: int):
        # Starlette refuses a field part over 1 MiB by default (400); ours are counted below, up to ``part_limit``.
        super().__init__(
            headers, stream, max_files=len(_PARTS) + 4, max_fields=len(_PARTS) + 4, max_part_size=part_limit + 1
        )
        self.part_limit = part_limit
        self.document_limit = document_limit
        self._part_bytes = 0

    def on_part_begin(self) -> None:
        super().on_part_begin()
        self._part_bytes = 0

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._part_bytes += end - start
        part = self._current_part  # Starlette's state; the name is known once the headers are parsed
        if part.file is not None and part.field_name == "document":
            if self._part_bytes > self.document_limit:
                raise _too_large(self.document_limit, "the document")
        elif self._part_bytes > self.part_limit:
            raise _too_large(self.part_limit, f"part {part.field_name!r}")
        super().on_part_data(data, start, end)


async def _part_bytes(value: str | UploadFile) -> bytes:
    if isinstance(value, UploadFile):
        return await value.read()
    return value.encode("utf-8")


def _safe_filename(name: str | None) -> str | None:
    if not name:
        return None
    return _CONTROL.sub("", name)[-200:] or None


async def _read_multipart(
    request: Request, part_limit: int, document_limit: int
) -> tuple[dict[str, Any], tuple[bytes, str | None] | None]:
    """The envelope ``{"record", "signature"?, "public"?}`` and the document (content, filename), if one was sent."""
    parser = _BoundedMultiPartParser(
        request.headers,
        _bounded_stream(request, part_limit + document_limit),
        part_limit=part_limit,
        document_limit=document_limit,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise MalformedRequest(
            "the multipart body cannot be parsed",
            code="MALFORMED_MULTIPART",
            details=[{"field": "(body)", "rule": "multipart", "message": exc.message}],
        ) from exc
    try:
        names = [name for name, _ in form.multi_items()]
        unknown = sorted({n for n in names if n not in _PARTS})
        if unknown:
            raise InvalidRequest(
                "the multipart body has parts this endpoint does not know",
                code="UNKNOWN_FIELD",
                details=[
                    {"field": n, "rule": "unknown_field", "message": f"parts are {', '.join(_PARTS)}"} for n in unknown
                ],
            )
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidRequest(
                "a multipart part is repeated",
                code="REQUEST_INVALID",
                details=[{"field": n, "rule": "duplicate", "message": "give this part once"} for n in twice],
            )
        envelope: dict[str, Any] = {}
        for name in ("record", "signature"):
            value = form.get(name)
            if value is not None:
                envelope[name] = _parse_json(await _part_bytes(value), name)
        public = form.get("public")
        if public is not None:
            # "true" or "false"; anything else goes on as text, which the envelope refuses (REQUEST_INVALID).
            text = (await _part_bytes(public)).decode("utf-8", "replace")
            envelope["public"] = _PUBLIC_PART.get(text, text)
        document = form.get("document")
        if document is None:
            return envelope, None
        if not isinstance(document, UploadFile):
            raise InvalidRequest(
                "the document must be a file part (with a filename)",
                code="REQUEST_INVALID",
                details=[{"field": "document", "rule": "file_part", "message": "send the document as a file"}],
            )
        return envelope, (await document.read(), _safe_filename(document.filename))
    finally:
        await form.close()


# ---------------------------------------------------------------------------------------------- envelopes


def _validate(model: type[_Envelope], data: Any, prefix: str = "") -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise envelope_error(exc, prefix) from exc


def _submission(item: CertificateIn) -> Submission:
    sig = item.signature
    return Submission(
        item.record, key_id=sig.key_id if sig else None, signature=sig.value if sig else None, public=item.public
    )


async def _submission_body(request: Request, settings: SettingsDep) -> Submission:
    media = _media_type(request, (JSON, MULTIPART))
    if media == JSON:
        return _submission(_validate(CertificateIn, await read_json(request, settings.max_body_bytes)))
    envelope, document = await _read_multipart(request, settings.max_body_bytes, settings.max_document_bytes)
    submission = _submission(_validate(CertificateIn, envelope))
    if document is not None:
        submission.document, submission.document_filename = document
    return submission


SubmissionBody = Annotated[Submission, Depends(_submission_body)]
"""One certificate from ``application/json`` (CertificateIn) or ``multipart/form-data`` (record, signature?,
public?, document?)."""


async def _bulk_body(request: Request, settings: SettingsDep) -> list[Submission | InvalidRequest]:
    data = await read_json(request, settings.max_body_bytes)
    envelope: _BulkEnvelope = _validate(_BulkEnvelope, data)
    if len(envelope.certificates) > settings.bulk_max:
        raise PayloadTooLarge(
            f"{len(envelope.certificates)} certificates in one request; the limit is {settings.bulk_max}",
            code="BULK_TOO_LARGE",
            details={"limit": settings.bulk_max, "received": len(envelope.certificates)},
        )
    items: list[Submission | InvalidRequest] = []
    for raw in envelope.certificates:
        try:
            items.append(_submission(_validate(CertificateIn, raw)))
        except InvalidRequest as exc:
            items.append(exc)
    return items


BulkSubmissions = Annotated[list[Submission | InvalidRequest], Depends(_bulk_body)]
"""The bulk's items in order: a Submission, or the envelope error of that item."""


_REASONS = [r.name for r in RevocationReason]


class Revocation(BaseModel):
    """A parsed revocation request."""

    reason: int
    effective_time: int | None


async def _revocation_body(request: Request, settings: SettingsDep) -> Revocation:
    body: RevokeIn = _validate(RevokeIn, await read_json(request, settings.max_body_bytes))
    reason = body.reason
    if isinstance(reason, str):
        try:
            reason = RevocationReason[reason.strip().upper()].value
        except KeyError:
            raise InvalidRequest(
                f"unknown reason {reason!r}",
                code="INVALID_REASON",
                details=[{"field": "reason", "rule": "enum", "message": f"one of {', '.join(_REASONS)}"}],
            ) from None
    when = body.effective_time
    return Revocation(reason=reason, effective_time=int(when.timestamp()) if not isinstance(when, int | None) else when)


RevocationBody = Annotated[Revocation, Depends(_revocation_body)]


async def _draw_body(request: Request, settings: SettingsDep) -> DrawIn:
    body: DrawIn = _validate(DrawIn, await read_json(request, settings.max_body_bytes))
    return body


async def _draw_result_body(request: Request, settings: SettingsDep) -> DrawResultIn:
    body: DrawResultIn = _validate(DrawResultIn, await read_json(request, settings.max_body_bytes))
    return body


async def _enterprise_body(request: Request, settings: SettingsDep) -> EnterpriseIn:
    body: EnterpriseIn = _validate(EnterpriseIn, await read_json(request, settings.max_body_bytes))
    return body


async def _register_rows(request: Request, settings: SettingsDep) -> list[Any]:
    media = _media_type(request, (JSON, CSV, XLSX))
    if media == JSON:
        envelope: _RegisterEnvelope = _validate(_RegisterEnvelope, await read_json(request, settings.max_body_bytes))
        return envelope.instruments
    body = bytearray()
    async for chunk in _bounded_stream(request, settings.max_body_bytes):
        body += chunk
    return await run_in_threadpool(parse_table, media, bytes(body))


async def _site_body(request: Request, settings: SettingsDep) -> SiteIn:
    body: SiteIn = _validate(SiteIn, await read_json(request, settings.max_body_bytes))
    return body


async def _watch_body(request: Request, settings: SettingsDep) -> WatchIn:
    body: WatchIn = _validate(WatchIn, await read_json(request, settings.max_body_bytes))
    return body


async def _webhook_body(request: Request, settings: SettingsDep) -> WebhookIn:
    body: WebhookIn = _validate(WebhookIn, await read_json(request, settings.max_body_bytes))
    return body


WatchBody = Annotated[WatchIn, Depends(_watch_body)]
SiteBody = Annotated[SiteIn, Depends(_site_body)]
WebhookBody = Annotated[WebhookIn, Depends(_webhook_body)]
EnterpriseBody = Annotated[EnterpriseIn, Depends(_enterprise_body)]
RegisterRows = Annotated[list[Any], Depends(_register_rows)]
"""The rows of an instrument register, from JSON (RegisterIn), CSV (UTF-8) or Excel (.xlsx)."""
DrawBody = Annotated[DrawIn, Depends(_draw_body)]
DrawResultBody = Annotated[DrawResultIn, Depends(_draw_result_body)]


# ---------------------------------------------------------------------------------------------- OpenAPI


def _multipart_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["record"],
        "properties": {
            "record": {"type": "string", "description": "The record as JSON text (a field or a file part)"},
            "signature": {"type": "string", "description": "Optional: {key_id, value} as JSON text"},
            "public": {
                "type": "string",
                "enum": ["true", "false"],
                "description": "Optional: true publishes it (anyone may download its proof bundle); default false",
            },
            "document": {
                "type": "string",
                "format": "binary",
                "description": "Optional: the original PDF or DCC XML; its SHA-256 must be original_document.sha256",
            },
        },
        "additionalProperties": False,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def openapi_bodies() -> dict[str, dict[str, Any]]:
    """``openapi_extra`` of the routes whose body is read here (FastAPI does not see these bodies)."""
    one = {
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": _ref("CertificateIn")}, MULTIPART: {"schema": _multipart_schema()}},
        }
    }
    return {
        "certificate": one,
        "bulk": {"requestBody": {"required": True, "content": {JSON: {"schema": _ref("BulkIn")}}}},
        "revoke": {"requestBody": {"required": True, "content": {JSON: {"schema": _ref("RevokeIn")}}}},
        "draw": {"requestBody": {"required": True, "content": {JSON: {"schema": _ref("DrawIn")}}}},
        "draw_result": {"requestBody": {"required": True, "content": {JSON: {"schema": _ref("DrawResultIn")}}}},
        "enterprise": {"requestBody": {"required": True, "content": {JSON: {"schema": _ref("EnterpriseIn")}}}},
        "watch": {"requestBody": {"required": True, "content": {JSON: {"schema": _ref("WatchIn")}}}},
        "site": {"requestBody": {"required": True, "content": {JSON: {"schema": _ref("SiteIn")}}}},
        "webhook": {"requestBody": {"required": True, "content": {JSON: {"schema": _ref("WebhookIn")}}}},
        "register": {
            "requestBody": {
                "required": True,
                "content": {
                    JSON: {"schema": _ref("RegisterIn")},
                    CSV: {"schema": {"type": "string", "description": "A table with a heading row"}},
                    XLSX: {"schema": {"type": "string", "format": "binary", "description": "The first sheet"}},
                },
            }
        },
    }


#: Models the OpenAPI document must carry for :func:`openapi_bodies`.
BODY_MODELS: tuple[type[BaseModel], ...] = (
    CertificateIn,
    BulkIn,
    RevokeIn,
    DrawIn,
    DrawResultIn,
    EnterpriseIn,
    RegisterIn,
    SiteIn,
    WatchIn,
    WebhookIn,
)
