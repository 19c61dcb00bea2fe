"""What a request or a file holds: a proof bundle, a record, a W3C Verifiable Credential or a document (PDF, DCC
XML), a moment, a kind, a digest, a lab; one definition of each, for the HTTP API and the CLI.

A credential (JSON with an ``@context``, or a ``type`` naming ``VerifiableCredential``) is read back with
:func:`tracecert.certificate.vc.read_credential`: one that is not a TraceCert certificate credential, or whose
proof does not verify, is refused (422 VC_INVALID, VC_PROOF_INVALID, VC_CRYPTOSUITE_UNSUPPORTED). Its record is
then verified exactly as a bundle (with the anchoring its ``evidence`` carries) or a record is, and the report adds
what the chain says of the credential itself: whether the key that proved it is a key of the record's lab, valid
when the proof was made (VC_PROOF), and its status entry names the chain this verifier reads."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import math
import re
import unicodedata
import zipfile
import zlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Literal

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from tracecert.certificate.canonical import MAX_JSON_DEPTH, parse_json, to_hex
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.errors import CertificateError, JsonTooDeep
from tracecert.certificate.model import Kind, is_valid_usci
from tracecert.certificate.signing import key_id
from tracecert.certificate.vc import Credential, VcError, did_key, is_credential, read_credential
from tracecert.chain.contracts import enterprise_subject
from tracecert.chain.types import SubjectKind
from tracecert.human import DAY, parse_moment
from tracecert.service_errors import MalformedRequest, PayloadTooLarge, ServiceError, UnsupportedMediaType
from tracecert.verification.engine import Verifier
from tracecert.verification.evidence import Evidence
from tracecert.verification.report import Report
from verifier.errors import InvalidRequest

__all__ = [
    "CSV_COLUMNS",
    "REPORT_EMPTY",
    "REPORT_INPUT_INVALID",
    "REPORT_TOO_LARGE",
    "BulkEntry",
    "BulkLimits",
    "CreditSubject",
    "Lookup",
    "VerificationInput",
    "bulk_entries",
    "credential_input",
    "csv_entries",
    "file_entry",
    "input_from_file",
    "input_from_form",
    "input_from_json",
    "is_bulk",
    "is_bundle",
    "is_zip",
    "json_object",
    "parse_as_of",
    "parse_digest",
    "parse_kind",
    "parse_lab",
    "parse_subject",
    "report_empty",
    "report_invalid",
    "report_too_large",
    "self_consistent",
    "sniff",
    "zip_entries",
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
    """One thing to verify: a bundle (optionally with its document), a bare record, or a document alone; a
    credential is verified as the bundle (or record) it carries, with ``credential`` kept for its own checks."""

    bundle: dict[str, Any] | None = None
    record: dict[str, Any] | None = None
    document: bytes | None = None
    as_of: int | None = None
    expected_kind: Kind | None = None
    credential: Credential | None = None

    @property
    def kind(self) -> str:
        """bundle, record or document."""
        return "bundle" if self.bundle is not None else "record" if self.record is not None else "document"

    def run(self, verifier: Verifier) -> Report:
        """Verify it."""
        if self.credential is not None:
            return _verify_credential(self, self.credential, verifier)
        if self.bundle is not None:
            return verifier.verify_bundle(
                self.bundle, document=self.document, as_of=self.as_of, expected_kind=self.expected_kind
            )
        if self.record is not None:
            return verifier.verify_record(self.record, as_of=self.as_of, expected_kind=self.expected_kind)
        assert self.document is not None
        return verifier.verify_document(self.document, as_of=self.as_of, expected_kind=self.expected_kind)


def credential_input(
    obj: dict[str, Any], *, as_of: int | None = None, expected_kind: Kind | None = None
) -> VerificationInput:
    """A W3C Verifiable Credential of a certificate, read back and its proof (if any) verified: the bundle its
    evidence carries is what is verified, else its record (the anchoring is then looked up in the sources).

    Raises:
        InvalidRequest: VC_INVALID, VC_PROOF_INVALID, VC_CRYPTOSUITE_UNSUPPORTED (``details.errors`` the field
            errors).
    """
    try:
        credential = read_credential(obj)
    except VcError as exc:
        errors = [e.to_dict() for e in exc.errors]
        raise InvalidRequest(exc.message, code=exc.code, details={"errors": errors} if errors else None) from exc
    bundle = credential.bundle
    record = credential.document["credentialSubject"]["record"] if bundle is None else None
    return VerificationInput(
        bundle=bundle, record=record, as_of=as_of, expected_kind=expected_kind, credential=credential
    )


def _verify_credential(job: VerificationInput, credential: Credential, verifier: Verifier) -> Report:
    """The credential's certificate verified as its bundle or record is, then what only the chain can say of the
    credential: its status entry must name this chain and registry (else nothing is answered: ``unknown``), and
    the key that proved it must be a key of the record's lab, valid when the proof was made (VC_PROOF)."""
    status = credential.status
    chain_id, registry = verifier.chain.chain_id(), verifier.chain.certificate_registry()
    if "chainId" in status and (status["chainId"], str(status.get("registry", "")).lower()) != (
        chain_id,
        registry.lower(),
    ):
        report = Report(credential.digest, job.as_of if job.as_of is not None else verifier.chain.now(), unknown=True)
        named = f"chain {status['chainId']}, registry {status.get('registry')}"
        report.add(
            "ANCHORED",
            None,
            f"the credential's status is kept on {named}; this verifier reads chain {chain_id}, registry {registry}",
            zh=f"该凭证的状态登记在 {named}，本验证服务读取的是链 {chain_id}、合约 {registry}",
        )
        report.certificate["credential"] = credential.summary()
        return report
    plain = VerificationInput(job.bundle, job.record, job.document, job.as_of, job.expected_kind)
    report = plain.run(verifier)
    report.certificate["credential"] = credential.summary()
    if credential.proof_key is None:
        return report
    method = did_key(credential.proof_key)
    key = verifier.chain.key(key_id(credential.proof_key))
    lab = credential.record.lab.lab_id
    of_lab = key is not None and key.public_key == credential.proof_key and to_hex(key.lab_id) == lab
    created = _unix(credential.proof_created)
    in_window = key is not None and (created is None or key.valid_from <= created < key.valid_until)
    if not of_lab:
        detail = f"the credential was proved by {method}, which is not a key of the lab on chain"
        zh = f"该凭证的证明密钥 {method} 不是链上登记的该机构密钥"
    elif not in_window:
        detail = f"the credential was proved by {method} at {credential.proof_created}, outside the key's validity"
        zh = f"该凭证的证明密钥 {method} 在 {credential.proof_created} 时不在有效期内"
    else:
        detail, zh = f"the credential's eddsa-jcs-2022 proof is by {method}, a key of the lab", ""
    report.add("VC_PROOF", of_lab and in_window, detail, zh=zh, credential_key=method)
    return report


def _unix(moment: str | None) -> int | None:
    if moment is None:
        return None
    try:
        return int(dt.datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


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
    if is_credential(obj):
        return credential_input(obj)
    if _is_record(obj) and not is_bundle(obj):
        return VerificationInput(record=obj)
    return VerificationInput(bundle=obj)


def input_from_json(
    obj: dict[str, Any], *, as_of: int | None = None, expected_kind: Kind | None = None
) -> VerificationInput:
    """A JSON body: a bundle or a credential itself, or ``{"bundle"|"record"|"credential", "as_of"?,
    "expected_kind"?, "document_base64"?}``.

    Raises:
        InvalidRequest: neither shape, an unknown field, a bad date or kind; VC_* for a credential refused.
    """
    if is_credential(obj):
        return credential_input(obj, as_of=as_of, expected_kind=expected_kind)
    if is_bundle(obj):
        return VerificationInput(bundle=obj, as_of=as_of, expected_kind=expected_kind)
    allowed = {"bundle", "record", "credential", "as_of", "expected_kind", "document_base64"}
    unknown = sorted(set(obj) - allowed)
    if unknown or sum(k in obj for k in ("bundle", "record", "credential")) != 1:
        raise InvalidRequest(
            'expected a proof bundle, a credential, {"bundle": …}, {"record": …} or {"credential": …}'
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
    name = next(k for k in ("bundle", "record", "credential") if k in obj)
    target = obj[name]
    if not isinstance(target, dict):
        raise InvalidRequest(f"{name} must be a JSON object")
    if name == "credential":
        job = credential_input(target, as_of=as_of, expected_kind=expected_kind)
        if document is not None and job.bundle is None:
            raise InvalidRequest("a document can only be checked with a credential that carries its anchoring")
        job.document = document
        return job
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
            found.credential = part.credential if part.credential is not None else found.credential
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


# ------------------------------------------------------------------------------------------ bulk: a ZIP, a CSV
# (``tracecert verify`` and ``POST /v1/reports``: one report row per entry)

#: What a refused bulk input answers: nothing in it, over a limit, or not what it claims to be.
REPORT_EMPTY, REPORT_TOO_LARGE, REPORT_INPUT_INVALID = "REPORT_EMPTY", "REPORT_TOO_LARGE", "REPORT_INPUT_INVALID"

#: A CSV's columns, by what their heading may be (the report's own keys and Chinese headings included, so that a
#: report can be verified again): a digest, or a certificate number with its lab (id or code).
CSV_COLUMNS = {
    "digest": ("digest", "certificate_digest", "证书摘要"),
    "certificate_number": ("certificate_number", "certificate number", "number", "证书编号"),
    "lab": ("lab", "lab_id", "lab_code", "lab id", "lab code", "机构代码", "统一社会信用代码"),
}
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def report_empty(message: str) -> InvalidRequest:
    """REPORT_EMPTY (422): a ZIP without files, a CSV without rows."""
    return InvalidRequest(message, code=REPORT_EMPTY)


def report_invalid(message: str, **details: Any) -> InvalidRequest:
    """REPORT_INPUT_INVALID (422): not a ZIP, no known column, a damaged member or row (named in ``details``)."""
    return InvalidRequest(message, code=REPORT_INPUT_INVALID, details=details or None)


def report_too_large(message: str, limit: int, **details: Any) -> PayloadTooLarge:
    """REPORT_TOO_LARGE (413): a member, the whole, or the count of entries over its ``limit``."""
    return PayloadTooLarge(message, code=REPORT_TOO_LARGE, details={"limit": limit, **details})


@dataclass(frozen=True)
class BulkLimits:
    """How much one bulk input may hold: each file or ZIP member (the service's upload limit), everything read
    together (ZIP members uncompressed), and the number of entries (files, members, CSV rows)."""

    member_bytes: int
    total_bytes: int
    max_items: int


@dataclass
class Lookup(VerificationInput):
    """A certificate named by its digest, or by its lab (id) and number: a row of a CSV."""

    digest: str | None = None
    lab: str | None = None
    number: str | None = None

    @property
    def kind(self) -> str:
        """digest or number."""
        return "digest" if self.digest is not None else "number"

    def run(self, verifier: Verifier) -> Report:
        """Look the certificate up in the verifier's sources and verify it; one that cannot be found is an
        ``unknown`` INVALID report (an answer, never "valid"). By number the expected kind is not checked (the
        engine's lookup by number takes none)."""
        if self.digest is None:
            assert self.lab is not None and self.number is not None
            return verifier.verify_number(self.lab, self.number, as_of=self.as_of)
        bundle = verifier.sources.by_digest(self.digest)
        if bundle is None:
            report = Report(self.digest, self.as_of if self.as_of is not None else verifier.chain.now(), unknown=True)
            report.add("ANCHORED", False, "no proof bundle with this digest was found in the verifier's sources")
            return report
        return verifier.verify_bundle(bundle, as_of=self.as_of, expected_kind=self.expected_kind)


@dataclass
class BulkEntry:
    """One row of a bulk report: its label (``x.zip!member``, ``x.csv:3``, a file's name) and what to verify, or
    why it cannot be (``"CODE: message"``, an ERROR row)."""

    label: str
    job: VerificationInput | None = None
    error: str | None = None


def is_zip(data: bytes) -> bool:
    """Whether ``data`` is a ZIP archive (by its first bytes; an empty archive included)."""
    return data[:4] in _ZIP_MAGIC


def is_bulk(data: bytes, name: str) -> bool:
    """Whether a file is a bulk input: a ZIP (by content, or by its name's ``.zip``) or a CSV (``.csv``)."""
    return is_zip(data) or name.lower().endswith((".zip", ".csv"))


def self_consistent(bundle: dict[str, Any]) -> bool:
    """Whether a bundle's record hashes to the digest it claims (only such bundles may serve as sources: another
    would shadow the genuine certificate with its digest)."""
    evidence = Evidence.from_bundle(bundle)
    return evidence.digest is not None and evidence.digest == evidence.claimed_digest


def _label(text: str) -> str:
    # A name from a stranger's archive is only a label: control characters would reach a terminal as escapes.
    return "".join("?" if unicodedata.category(c) == "Cc" else c for c in text)


def _member_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.filename.encode("cp437")  # no UTF-8 flag: Windows in China writes GBK names
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def _hidden(name: str) -> bool:
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    return any((p.startswith(".") and p not in (".", "..")) or p == "__MACOSX" for p in parts)


def file_entry(data: bytes, label: str, *, as_of: int | None = None, expected_kind: Kind | None = None) -> BulkEntry:
    """One file of a bulk input (a ZIP member, an uploaded file): what it holds, or an ERROR row (not a bundle,
    PDF or DCC XML; JSON that does not parse)."""
    try:
        job = input_from_file(data, name=label)
    except ServiceError as exc:
        return BulkEntry(label, error=f"{exc.code}: {exc.message}")
    job.as_of, job.expected_kind = as_of, expected_kind
    return BulkEntry(label, job=job)


def zip_entries(
    data: bytes, name: str, limits: BulkLimits, *, as_of: int | None = None, expected_kind: Kind | None = None
) -> list[BulkEntry]:
    """A ZIP's members, each verified as a file would be, labelled ``name!member/path``. Member names are only
    labels (nothing is extracted: ``../`` goes nowhere); folders, hidden files and ``__MACOSX`` are left out.

    Raises:
        InvalidRequest: REPORT_INPUT_INVALID (not a ZIP, an encrypted or damaged member), REPORT_EMPTY.
        PayloadTooLarge: REPORT_TOO_LARGE — a member over ``limits.member_bytes`` uncompressed (whatever its
            header says: reads stop at the limit), the members together over ``limits.total_bytes``, or more than
            ``limits.max_items`` of them.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise report_invalid(f"{name} is not a ZIP archive that can be read ({exc})") from exc
    members = [(i, _member_name(i)) for i in infos if not i.is_dir() and not _hidden(_member_name(i))]
    if not members:
        raise report_empty(f"{name} holds no files")
    if len(members) > limits.max_items:
        raise report_too_large(
            f"{name} holds {len(members)} files; the limit is {limits.max_items}", limits.max_items, count=len(members)
        )
    entries, total = [], 0
    with archive:
        for info, member in members:
            label = _label(f"{name}!{member}")
            if info.file_size > limits.member_bytes:
                raise report_too_large(
                    f"{label} is {info.file_size} bytes uncompressed; the limit is {limits.member_bytes}",
                    limits.member_bytes,
                    member=member,
                )
            if info.flag_bits & 0x1:
                raise report_invalid(f"{label} is encrypted", member=member)
            try:
                with archive.open(info) as handle:
                    content = handle.read(limits.member_bytes + 1)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, OSError, zlib.error) as exc:
                raise report_invalid(f"{label} cannot be read: {exc}", member=member) from exc
            if len(content) > limits.member_bytes:
                raise report_too_large(
                    f"{label} is over the limit of {limits.member_bytes} bytes", limits.member_bytes, member=member
                )
            total += len(content)
            if total > limits.total_bytes:
                raise report_too_large(
                    f"{name}'s files are over {limits.total_bytes} bytes together", limits.total_bytes, member=member
                )
            entries.append(file_entry(content, label, as_of=as_of, expected_kind=expected_kind))
    return entries


def _csv_text(data: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in a Chinese locale saves CSV in GBK
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise report_invalid(f"{name} is neither UTF-8 nor GB18030 text")


def _csv_delimiter(text: str) -> str:
    # Excel writes ";" where the decimal mark is a comma, and people paste tab-separated columns.
    first = text.split("\n", 1)[0]
    return max(",;\t", key=first.count) if any(d in first for d in ",;\t") else ","


def csv_entries(
    data: bytes, name: str, limits: BulkLimits, *, as_of: int | None = None, expected_kind: Kind | None = None
) -> list[BulkEntry]:
    """A CSV's rows, each a certificate to look up: by its ``digest`` column, else by ``certificate_number`` and
    ``lab`` (lab id or lab code); labelled ``name:line``. A row whose cells are not a digest or a lab is an ERROR
    row (INVALID_DIGEST, INVALID_LAB_ID, REPORT_INPUT_INVALID), not a refusal of the whole; blank rows are left out.

    Raises:
        InvalidRequest: REPORT_INPUT_INVALID (not text, no known column, a line that is not CSV), REPORT_EMPTY.
        PayloadTooLarge: REPORT_TOO_LARGE (over ``limits.total_bytes``, more than ``limits.max_items`` rows).
    """
    if len(data) > limits.total_bytes:
        raise report_too_large(f"{name} is over the limit of {limits.total_bytes} bytes", limits.total_bytes)
    text = _csv_text(data, name)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_csv_delimiter(text))
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise report_empty(f"{name} is empty")
        found = {h.strip().lower(): i for i, h in enumerate(header)}
        where = {key: next((found[a] for a in aliases if a in found), None) for key, aliases in CSV_COLUMNS.items()}
        if where["digest"] is None and where["certificate_number"] is None:
            raise report_invalid(
                f"{name} has no digest or certificate_number column (its columns: {', '.join(header)})",
                row=reader.line_num,
                columns=header,
            )
        if where["digest"] is None and where["lab"] is None:
            raise report_invalid(
                f"{name} has certificate numbers but no lab column (the lab id or code)", row=reader.line_num
            )
        entries: list[BulkEntry] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(entries) == limits.max_items:
                raise report_too_large(
                    f"{name} has more than {limits.max_items} rows", limits.max_items, row=reader.line_num
                )
            entries.append(_csv_entry(cells, where, f"{name}:{reader.line_num}", as_of, expected_kind))
    except csv.Error as exc:
        raise report_invalid(f"{name} line {reader.line_num} is not CSV: {exc}", row=reader.line_num) from exc
    if not entries:
        raise report_empty(f"{name} has a heading but no rows")
    return entries


def _csv_entry(
    cells: list[str], where: dict[str, int | None], label: str, as_of: int | None, expected_kind: Kind | None
) -> BulkEntry:
    def cell(key: str) -> str:
        i = where[key]
        return cells[i].strip() if i is not None and i < len(cells) else ""

    digest, number, lab = cell("digest"), cell("certificate_number"), cell("lab")
    label = _label(label if digest or not number else f"{label} {number}")
    try:
        if digest:
            return BulkEntry(label, Lookup(digest=parse_digest(digest), as_of=as_of, expected_kind=expected_kind))
        if not number:
            raise report_invalid("the row has neither a digest nor a certificate number")
        if not lab:
            raise report_invalid("the row has a certificate number but no lab")
        return BulkEntry(label, Lookup(lab=parse_lab(lab), number=number, as_of=as_of, expected_kind=expected_kind))
    except ServiceError as exc:
        return BulkEntry(label, error=f"{exc.code}: {exc.message}")


def bulk_entries(
    data: bytes, name: str, limits: BulkLimits, *, as_of: int | None = None, expected_kind: Kind | None = None
) -> list[BulkEntry]:
    """A bulk input's entries: a ZIP's members (:func:`zip_entries`) or a CSV's rows (:func:`csv_entries`).

    Raises:
        ServiceError: REPORT_INPUT_INVALID, REPORT_EMPTY (422); REPORT_TOO_LARGE (413).
    """
    if is_zip(data) or name.lower().endswith(".zip"):
        return zip_entries(data, name, limits, as_of=as_of, expected_kind=expected_kind)
    return csv_entries(data, name, limits, as_of=as_of, expected_kind=expected_kind)
