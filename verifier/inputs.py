"""What a request or a file holds: a proof bundle, a record or a document (PDF, DCC XML), a moment, a kind, a
digest, a lab; one definition of each, for the HTTP API and the CLI."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Literal

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from tracecert.certificate.canonical import MAX_JSON_DEPTH, parse_json
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.errors import CertificateError, JsonTooDeep
from tracecert.certificate.model import Kind, is_valid_usci
from tracecert.chain.contracts import enterprise_subject
from tracecert.chain.types import SubjectKind
from tracecert.human import DAY, parse_moment
from tracecert.service_errors import MalformedRequest, UnsupportedMediaType
from tracecert.verification.engine import Verifier
from tracecert.verification.report import Report
from verifier.errors import InvalidRequest

__all__ = [
    "CreditSubject",
    "VerificationInput",
    "input_from_file",
    "input_from_form",
    "input_from_json",
    "is_bundle",
    "json_object",
    "parse_as_of",
    "parse_digest",
    "parse_kind",
    "parse_lab",
    "parse_subject",
    "sniff",
]

DIGEST_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
LAB_HEX_RE = re.compile(r"^0x[0-9a-fA-F]*$")
#: A unified social credit code's shape (GB 32100-2015): the region (characters 3 to 8) is six digits.
USCI_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


def parse_as_of(value: str | int | float | None, *, tz_hours: int = 8) -> int | None:
    """The moment to verify at, as a unix time; None (or ``now``) for the chain's current time.

    Accepts unix seconds, an ISO 8601 date (``2026-04-10``: the *end* of that day in China Standard Time, so
    "was it valid on that day" also catches a revocation during the day), or an ISO 8601 date-time (naive means
    UTC+8).

    Raises:
        InvalidRequest: INVALID_AS_OF.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "now")):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidRequest("as_of must be a date, a date-time or unix seconds", code="INVALID_AS_OF")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(f"as_of {value!r} is out of range", code="INVALID_AS_OF")
    if isinstance(value, int | float):
        seconds = int(value)
    else:
        try:
            seconds, is_date = parse_moment(value, tz_hours)
            seconds += DAY - 1 if is_date else 0  # a date means its end: "was it valid on that day"
        except ValueError as exc:
            raise InvalidRequest(
                f"as_of {value!r} is not a date (YYYY-MM-DD), an ISO date-time or unix seconds", code="INVALID_AS_OF"
            ) from exc
    if not 0 <= seconds < 2**40:
        raise InvalidRequest(f"as_of {value!r} is out of range", code="INVALID_AS_OF")
    return seconds


def parse_kind(value: str | None) -> Kind | None:
    """An expected certificate kind (case-insensitive): verification, calibration, verification_fail_notice.

    Raises:
        InvalidRequest: INVALID_KIND.
    """
    if value is None or not str(value).strip():
        return None
    try:
        return Kind(str(value).strip().upper())
    except ValueError as exc:
        choices = ", ".join(k.value.lower() for k in Kind)
        raise InvalidRequest(f"expected_kind {value!r} is not one of {choices}", code="INVALID_KIND") from exc


def parse_digest(value: str) -> str:
    """A certificate digest, normalized to lower-case ``0x`` + 64 hex.

    Raises:
        InvalidRequest: INVALID_DIGEST.
    """
    text = value.strip()
    if not text.startswith("0x") and len(text) == 64:
        text = "0x" + text
    if not DIGEST_RE.match(text):
        raise InvalidRequest(f"{value!r} is not a certificate digest (0x + 64 hex digits)", code="INVALID_DIGEST")
    return text.lower()


def parse_lab(value: str) -> str:
    """A lab id (``0x`` + 64 hex), or a lab code such as a unified social credit code, as the lab id.

    Raises:
        InvalidRequest: INVALID_LAB_ID.
    """
    text = value.strip()
    if LAB_HEX_RE.match(text):
        if not DIGEST_RE.match(text):
            raise InvalidRequest(f"{value!r} is not a lab id (0x + 64 hex digits)", code="INVALID_LAB_ID")
        return text.lower()
    try:
        return "0x" + derive_lab_id(text).hex()
    except CertificateError as exc:
        raise InvalidRequest(f"{value!r} is not a lab id or lab code", code="INVALID_LAB_ID") from exc


@dataclass(frozen=True)
class CreditSubject:
    """Whose credit record is asked for: a lab (by its id) or an enterprise (by its USCI)."""

    text: str  # as answers name it: the lab id in lower-case hex, or the USCI
    kind: SubjectKind
    subject_id: bytes  # the CreditRegistry's key: the lab id, or keccak256 of the USCI


def parse_subject(value: str) -> CreditSubject:
    """A credit record's subject: a lab id (``0x`` + 64 hex; the ``0x`` may be left out), or an enterprise's unified
    social credit code (18 characters, upper-cased here, with a correct GB 32100 check character: a mistyped code
    would otherwise show a clean record of nobody).

    Raises:
        InvalidRequest: INVALID_SUBJECT.
    """
    text = value.strip()
    if len(text) == 64 and LAB_HEX_RE.match("0x" + text):
        text = "0x" + text
    if LAB_HEX_RE.match(text):
        if not DIGEST_RE.match(text):
            raise InvalidRequest(f"{value!r} is not a lab id (0x + 64 hex digits)", code="INVALID_SUBJECT")
        return CreditSubject(text.lower(), SubjectKind.LAB, bytes.fromhex(text[2:]))
    code = text.upper()
    if len(code) == 18 and USCI_RE.match(code):
        if not is_valid_usci(code):
            raise InvalidRequest(
                f"{value!r} is not a unified social credit code: its check character is wrong", code="INVALID_SUBJECT"
            )
        return CreditSubject(code, SubjectKind.ENTERPRISE, enterprise_subject(code))
    raise InvalidRequest(
        f"{value!r} is neither a lab id (0x + 64 hex digits) nor an enterprise's unified social credit code "
        "(18 characters)",
        code="INVALID_SUBJECT",
    )


FileKind = Literal["json", "pdf", "xml"]


def sniff(data: bytes) -> FileKind | None:
    """What a file is, from its first bytes: JSON (a bundle or record), PDF, XML (a DCC), or None."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return "json"
    if head.startswith(b"<"):
        return "xml"
    return None


def is_bundle(obj: dict[str, Any], *, declared: bool = False) -> bool:
    """Whether a JSON object is a proof bundle: it says so (``format: tracecert-bundle/…``), or, unless only a
    ``declared`` one counts (a folder scanned for bundles, where other JSON files are skipped), it has a format, or
    a digest with an anchor or a proof (an older or damaged bundle, verified and reported as such)."""
    if str(obj.get("format", "")).startswith("tracecert-bundle/"):
        return True
    return not declared and ("format" in obj or ("digest" in obj and ("anchor" in obj or "proof" in obj)))


def _is_record(obj: dict[str, Any]) -> bool:
    return "certificate_number" in obj and "kind" in obj


@dataclass
class VerificationInput:
    """One thing to verify: a bundle (optionally with its document), a bare record, or a document alone."""

    bundle: dict[str, Any] | None = None
    record: dict[str, Any] | None = None
    document: bytes | None = None
    as_of: int | None = None
    expected_kind: Kind | None = None

    @property
    def kind(self) -> str:
        """bundle, record or document."""
        return "bundle" if self.bundle is not None else "record" if self.record is not None else "document"

    def run(self, verifier: Verifier) -> Report:
        """Verify it."""
        if self.bundle is not None:
            return verifier.verify_bundle(
                self.bundle, document=self.document, as_of=self.as_of, expected_kind=self.expected_kind
            )
        if self.record is not None:
            return verifier.verify_record(self.record, as_of=self.as_of, expected_kind=self.expected_kind)
        assert self.document is not None
        return verifier.verify_document(self.document, as_of=self.as_of, expected_kind=self.expected_kind)


def json_object(data: bytes, what: str) -> dict[str, Any]:
    """``data`` read as a JSON object (``what`` names it in the messages), within the depth every parser here
    takes.

    Raises:
        MalformedRequest: not JSON (MALFORMED_JSON), or nested too deep (JSON_TOO_DEEP).
        InvalidRequest: JSON, but not an object.
    """
    try:
        obj = parse_json(data)
    except JsonTooDeep as exc:
        raise MalformedRequest(
            f"{what} is nested deeper than {MAX_JSON_DEPTH} levels", code=exc.code, details={"limit": MAX_JSON_DEPTH}
        ) from exc
    except CertificateError as exc:
        raise MalformedRequest(f"{what} is not valid JSON: {exc.message}") from exc
    if not isinstance(obj, dict):
        raise InvalidRequest(f"{what} must be a JSON object")
    return obj


def input_from_file(data: bytes, *, name: str = "the file") -> VerificationInput:
    """Classify a file's content: a proof bundle or a record (JSON), or a document (PDF or DCC XML).

    Raises:
        MalformedRequest: JSON that does not parse.
        UnsupportedMediaType: neither JSON, PDF nor XML.
        InvalidRequest: JSON that is not an object.
    """
    kind = sniff(data)
    if kind is None:
        raise UnsupportedMediaType(f"{name} is neither a proof bundle (JSON), a PDF nor a DCC XML")
    if kind != "json":
        return VerificationInput(document=data)
    obj = json_object(data, name)
    if _is_record(obj) and not is_bundle(obj):
        return VerificationInput(record=obj)
    return VerificationInput(bundle=obj)


def input_from_json(
    obj: dict[str, Any], *, as_of: int | None = None, expected_kind: Kind | None = None
) -> VerificationInput:
    """A JSON body: a bundle itself, or ``{"bundle"|"record", "as_of"?, "expected_kind"?, "document_base64"?}``.

    Raises:
        InvalidRequest: neither shape, an unknown field, a bad date or kind.
    """
    if is_bundle(obj):
        return VerificationInput(bundle=obj, as_of=as_of, expected_kind=expected_kind)
    allowed = {"bundle", "record", "as_of", "expected_kind", "document_base64"}
    unknown = sorted(set(obj) - allowed)
    if unknown or ("bundle" in obj) == ("record" in obj):
        raise InvalidRequest(
            'expected a proof bundle, {"bundle": …} or {"record": …}'
            + (f" (unknown field {', '.join(unknown)})" if unknown else "")
        )
    if "as_of" in obj:
        as_of = parse_as_of(obj["as_of"])
    if "expected_kind" in obj:
        expected_kind = parse_kind(obj["expected_kind"])
    document = None
    if "document_base64" in obj:
        try:
            document = base64.b64decode(str(obj["document_base64"]), validate=True)
        except ValueError as exc:
            raise InvalidRequest("document_base64 is not base64") from exc
    target = obj.get("bundle", obj.get("record"))
    if not isinstance(target, dict):
        raise InvalidRequest(f"{'bundle' if 'bundle' in obj else 'record'} must be a JSON object")
    if "bundle" in obj:
        return VerificationInput(bundle=target, document=document, as_of=as_of, expected_kind=expected_kind)
    if document is not None:
        raise InvalidRequest("a document can only be checked together with its proof bundle")
    return VerificationInput(record=target, as_of=as_of, expected_kind=expected_kind)


async def input_from_form(
    headers: Headers, body: bytes, *, as_of: int | None, expected_kind: Kind | None
) -> VerificationInput:
    """A multipart body: ``file`` part(s) (a bundle and/or a document, told apart by content), or ``bundle`` and
    ``document`` parts; optional ``as_of`` and ``expected_kind`` fields.

    Raises:
        MalformedRequest: MALFORMED_MULTIPART, or a bundle that is not JSON.
        UnsupportedMediaType: a file that is neither JSON, PDF nor XML.
        InvalidRequest: no file, too many, an unknown field.
    """

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body
        yield b""

    try:
        form = await MultiPartParser(headers, stream(), max_files=4, max_fields=8).parse()
    except MultiPartException as exc:
        raise MalformedRequest(f"the multipart body cannot be read: {exc.message}", code="MALFORMED_MULTIPART") from exc
    found = VerificationInput(as_of=as_of, expected_kind=expected_kind)
    try:
        for name, value in form.multi_items():
            if name in ("as_of", "expected_kind"):
                if not isinstance(value, str):
                    raise InvalidRequest(f"{name} must be a form field, not a file")
                if name == "as_of":
                    found.as_of = parse_as_of(value)
                else:
                    found.expected_kind = parse_kind(value)
                continue
            if name not in ("file", "bundle", "document"):
                raise InvalidRequest(f"unknown form field {name!r} (file, bundle, document, as_of, expected_kind)")
            data = await value.read() if isinstance(value, UploadFile) else value.encode("utf-8")
            label = value.filename if isinstance(value, UploadFile) and value.filename else name
            if name == "bundle":
                part = VerificationInput(bundle=json_object(data, label))
            else:
                part = input_from_file(data, name=label)
                if name == "document" and part.document is None:
                    raise UnsupportedMediaType(f"{label}: the document must be a PDF or a DCC XML")
            taken = found.document is not None if part.document is not None else found.kind != "document"
            if taken:
                raise InvalidRequest("send at most one proof bundle (or record) and one document")
            found.bundle = part.bundle if part.bundle is not None else found.bundle
            found.record = part.record if part.record is not None else found.record
            found.document = part.document if part.document is not None else found.document
    finally:
        await form.close()
    if found.bundle is None and found.record is None and found.document is None:
        raise InvalidRequest("no file: send a proof bundle, a PDF or a DCC XML in a 'file' part")
    if found.record is not None and found.document is not None:
        raise InvalidRequest("a document can only be checked together with its proof bundle")
    return found
