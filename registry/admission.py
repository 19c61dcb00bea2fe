"""Admitting one submission before acceptance: its record parses, can be stored and is the token's lab's; an uploaded
document is the one the record binds; the signature is the lab's (verified with its key on chain) or made with the
key the registry holds; a replacement names a certificate of the lab that it may replace. The rulebook's checks and
the transaction that accepts follow in :mod:`registry.issuance`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.core import Principal, RegistryCore
from registry.db import Certificate, LifecycleOp
from registry.errors import AlreadyRevoked, DocumentMismatch, Forbidden, InvalidRequest, SignatureRejected, WrongLab
from tracecert.certificate.canonical import document_digest, from_hex, to_hex
from tracecert.certificate.dcc.signature import LAB_KEY_RULE, TrustStore, looks_like_dcc, verify_dcc_signature
from tracecert.certificate.errors import CertificateError, DccError, DccSignatureError
from tracecert.certificate.model import CertificateRecord, Kind, record_from_json
from tracecert.certificate.signing import SigningKey, key_id, verify_signature
from tracecert.chain.types import Activity
from tracecert.verification.checks_record import document_well_formed, is_xml_document

if TYPE_CHECKING:
    from registry.issuance import Submission

__all__ = [
    "Prepared",
    "activity_of",
    "check_document",
    "check_replaces",
    "lab_key_test",
    "prepare",
    "sign_or_verify",
]


@dataclass
class Prepared:
    """A submission whose record parsed, with its canonical bytes and digest (hex)."""

    submission: Submission
    record: CertificateRecord
    canonical: bytes
    digest: str


def activity_of(kind: Kind) -> Activity:
    """The scope activity a certificate kind needs: 检定 (verification, fail notices) or 校准 (calibration)."""
    return Activity.CALIBRATE if kind == Kind.CALIBRATION else Activity.VERIFY


def prepare(principal: Principal, submission: Submission) -> Prepared:
    """Parse the record of a lab's submission and check it can be stored and is the token's lab's.

    Raises:
        Forbidden: NOT_A_LAB for a regulator's token.
        InvalidRequest: the record's own code (RECORD_INVALID...) with the fields.
        WrongLab: the record names another lab.
    """
    if principal.role != "LAB" or principal.lab_id is None:
        raise Forbidden("only a lab's token may issue certificates", code="NOT_A_LAB")
    try:
        record = record_from_json(submission.record)
    except CertificateError as exc:
        raise InvalidRequest(exc.message, code=exc.code, details=[e.to_dict() for e in exc.errors]) from exc
    storable = _storable(record)
    if storable:
        raise InvalidRequest("certificate record is invalid", code="RECORD_INVALID", details=storable)
    if record.lab.lab_id != principal.lab_id:
        raise WrongLab(
            f"record.lab.lab_id {record.lab.lab_id} is not this token's lab {principal.lab_id}",
            details=[{"field": "lab.lab_id", "rule": "token_lab", "message": "must be the token's lab"}],
        )
    return Prepared(submission, record, record.canonical, to_hex(record.digest))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _storable(record: CertificateRecord) -> list[dict[str, str]]:
    """What the model allows but this registry cannot store or the chain cannot encode (so it is refused as
    RECORD_INVALID rather than failing in the database): the indexed columns' lengths, control characters (which
    PostgreSQL text refuses), and the category code as the contracts' bytes32."""
    errors = []
    fields = (
        ("certificate_number", record.certificate_number, 128),
        ("item.serial_number", record.item.serial_number, 128),
        ("item.category_code", record.item.category_code, 64),
    )
    for name, value, limit in fields:
        if value is None:
            continue
        if len(value) > limit:
            errors.append({"field": name, "rule": "max_length", "message": f"at most {limit} characters"})
        if _CONTROL.search(value):
            errors.append({"field": name, "rule": "no_control_characters", "message": "no control characters"})
    if len(record.item.category_code.encode("utf-8")) > 32:
        errors.append(
            {"field": "item.category_code", "rule": "max_bytes", "message": "at most 32 bytes of UTF-8 (bytes32)"}
        )
    return errors


def lab_key_test(core: RegistryCore, lab_id: str) -> Callable[[bytes], bool]:
    """Whether an Ed25519 public key is a key registered on chain to ``lab_id`` and valid now: what a DCC the lab
    signed with its own key (``tracecert dcc export --sign-with``) is judged by.

    The test raises ChainUnavailableError when the chain cannot be asked.
    """

    def test(public_key: bytes) -> bool:
        try:
            info = core.require_key_valid(lab_id, to_hex(key_id(public_key)))
        except (SignatureRejected, CertificateError):
            return False
        return bytes(info.public_key) == public_key

    return test


def check_document(
    p: Prepared,
    max_bytes: int,
    dcc_trust_dirs: Sequence[Path] = (),
    lab_keys: Callable[[bytes], bool] | None = None,
) -> None:
    """The uploaded original document, if any, is within ``max_bytes`` and is the one the record binds; a DCC
    with a ``ds:Signature`` must verify now against the trust anchors in ``dcc_trust_dirs`` (the registry's
    ``dcc_trust_dirs`` setting; read once per list of paths), or, signed with a lab's Ed25519 key, with a key
    ``lab_keys`` accepts (:func:`lab_key_test`; without it no such signature is accepted).

    Raises:
        PayloadTooLarge: over ``max_bytes``.
        DocumentMismatch: the record binds no document, or another one.
        InvalidRequest: an XML document that is no valid DCC, by the verifier's DOCUMENT_WELL_FORMED rule
            (XML_UNSAFE, XML_MALFORMED, DCC_INVALID, DCC_TOO_LARGE, DCC_SCHEMA_UNSUPPORTED, ...); a signed DCC
            whose signature does not hold (DCC_SIGNATURE_INVALID, DCC_SIGNER_UNTRUSTED, DCC_SIGNER_REVOKED).
        ChainUnavailableError: ``lab_keys`` could not ask the chain.
    """
    sub = p.submission
    if sub.document is None:
        return
    if len(sub.document) > max_bytes:
        from registry.errors import PayloadTooLarge

        raise PayloadTooLarge(f"the document has {len(sub.document)} bytes; the limit is {max_bytes}")
    bound = p.record.original_document
    if bound is None:
        raise DocumentMismatch(
            "a document was uploaded but the record has no original_document to bind it",
            details=[
                {
                    "field": "original_document",
                    "rule": "required_with_document",
                    "message": "give media_type and sha256 of the uploaded file",
                }
            ],
        )
    actual = to_hex(document_digest(sub.document))
    if actual != bound.sha256:
        raise DocumentMismatch(
            f"the uploaded document's SHA-256 is {actual}, the record binds {bound.sha256}",
            details=[
                {
                    "field": "original_document.sha256",
                    "rule": "document_sha256",
                    "message": f"uploaded file hashes to {actual}",
                }
            ],
        )
    if is_xml_document(sub.document):
        # What the verifier fails as DOCUMENT_WELL_FORMED (an error: a forged or broken DCC) is never anchored.
        try:
            document_well_formed(sub.document)
        except CertificateError as exc:
            raise InvalidRequest(
                f"the original document is XML but no valid DCC: {exc.message}",
                code=exc.code,
                details=[
                    {"field": "original_document", "rule": "document_well_formed", "message": exc.message},
                    *(e.to_dict() for e in exc.errors[:20]),
                ],
            ) from exc
    if looks_like_dcc(sub.document):
        _check_dcc_signature(sub.document, tuple(Path(d) for d in dcc_trust_dirs), lab_keys)


@functools.lru_cache(maxsize=8)
def _dcc_trust(dirs: tuple[Path, ...]) -> TrustStore:
    return TrustStore.load(dirs)


def _check_dcc_signature(
    document: bytes, dirs: tuple[Path, ...], lab_keys: Callable[[bytes], bool] | None
) -> None:
    """A signed DCC's signature verifies at this moment (the registry accepts it now); an unsigned DCC, or XML
    that is no readable DCC, is not this check's business."""
    trust = _dcc_trust(dirs)
    try:
        verify_dcc_signature(document, trust, at=dt.datetime.now(dt.UTC), lab_keys=lab_keys)
    except DccSignatureError as exc:
        message = exc.message
        if any(e.rule == LAB_KEY_RULE for e in exc.errors):
            message += " (a DCC signed with a lab's own key must be signed with a key of this lab valid now)"
        elif trust.is_empty:
            message += " (set TRACECERT_REGISTRY_DCC_TRUST_DIRS to the trust anchors' files or folders)"
        raise InvalidRequest(
            message,
            code=exc.code,
            details=[{"field": "original_document", "rule": "dcc_signature", "message": exc.message}],
        ) from exc
    except DccError:
        return


def sign_or_verify(core: RegistryCore, p: Prepared, held: dict[str, SigningKey]) -> tuple[str, str, str]:
    """Return (key_id, signature hex, signed_by): the lab's signature verified with its key valid on chain, or the
    registry's signature with the key it holds for the lab. ``held`` caches the lab's held key for one bulk.

    Raises:
        SignatureRejected: incomplete, malformed or not verifying.
        RegistryError: the key is unknown or not valid now (from the core).
    """
    sub, lab_id = p.submission, p.record.lab.lab_id
    digest = from_hex(p.digest)
    if sub.signature is None and sub.key_id is None:
        key = held.get(lab_id)
        if key is None:
            key = held[lab_id] = core.held_signing_key(lab_id)
        return to_hex(key.key_id), to_hex(key.sign(digest)), "REGISTRY"
    if sub.signature is None or sub.key_id is None:
        raise SignatureRejected(
            "give both signature.key_id and signature.value, or neither (registry signs)", code="SIGNATURE_INCOMPLETE"
        )
    try:
        key_id = to_hex(from_hex(sub.key_id))
        signature = from_hex(sub.signature, 64)
    except CertificateError as exc:
        raise SignatureRejected(f"malformed signature: {exc.message}", code="SIGNATURE_MALFORMED") from exc
    info = core.require_key_valid(lab_id, key_id)
    try:
        verify_signature(info.public_key, digest, signature)
    except CertificateError as exc:
        raise SignatureRejected("the signature does not verify for this record and key", code=exc.code) from exc
    return key_id, to_hex(signature), "LAB"


def check_replaces(s: Session, p: Prepared) -> str | None:
    """The digest the record replaces, if any, after checking it is the lab's, not revoked, not replaced.

    Raises:
        InvalidRequest: REPLACED_UNKNOWN.
        AlreadyRevoked: revoked, substituted or replaced already.
    """
    replaces = p.record.replaces
    if replaces is None:
        return None
    old = s.scalar(select(Certificate).where(Certificate.digest == replaces.certificate_digest))
    if old is None or old.lab_id != p.record.lab.lab_id or old.certificate_number != replaces.certificate_number:
        raise InvalidRequest(
            "replaces names no certificate of this lab in this registry",
            code="REPLACED_UNKNOWN",
            details=[
                {
                    "field": "replaces",
                    "rule": "known_certificate",
                    "message": "certificate_number and certificate_digest of an issued one",
                }
            ],
        )
    if s.scalar(select(LifecycleOp.id).where(LifecycleOp.lab_id == old.lab_id, LifecycleOp.digest == old.digest)):
        raise AlreadyRevoked(f"certificate {old.digest} was already revoked or substituted")
    taken = s.scalar(select(Certificate.digest).where(Certificate.replaces_digest == old.digest))
    if taken is not None and taken != p.digest:
        raise AlreadyRevoked(f"certificate {old.digest} is already replaced by {taken}")
    return old.digest
