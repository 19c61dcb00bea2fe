"""A certificate as a W3C Verifiable Credential 2.0, secured with an ``eddsa-jcs-2022`` Data Integrity proof.

The credential (see ``docs/bundle.md``, "Verifiable Credential")::

    @context           ["https://www.w3.org/ns/credentials/v2"]
    id                 urn:tracecert:certificate:<digest>
    type               ["VerifiableCredential", "TraceCertCertificateCredential"]
    issuer             did:key of the proving key (else of the key that signed the record, else urn:tracecert:lab:<id>)
    validFrom/Until    the issue date's start / the valid_until date's end, in China Standard Time (UTC+8)
    credentialSubject  {"type": "TraceCertCertificate", "digest": <digest>, "record": <the record, normal form>}
    credentialStatus   {"type": "TraceCertChainStatus", "chainId", "registry", "certificateDigest"}: revoked,
                       substituted or active is read from that chain's CertificateRegistry (the verifier does)
    evidence           [{"type": ["TraceCertAnchoring"], "labSignature", "inclusionProof", "anchor"}]: the
                       proof bundle's parts, so that the credential verifies against the chain on its own
    proof              DataIntegrityProof, cryptosuite eddsa-jcs-2022, verificationMethod did:key:z…#z…

Why a second signature. eddsa-jcs-2022 signs ``SHA-256(JCS(proof configuration)) || SHA-256(JCS(credential
without proof))`` (64 bytes), where the proof configuration holds ``created``, the verification method and the
``@context``. TraceCert's signature is Ed25519 over its own digest ``SHA-256("TraceCert/certificate/v1\\0" ||
JCS(record))`` (:mod:`tracecert.certificate.signing`): a different message, over the record alone, with a domain
prefix the cryptosuite has no room for. No choice of proof options makes the two messages equal, so the existing
signature cannot serve as the proof: the proof is a second Ed25519 signature by a key of the lab (the registry's
held key for a lab that lets the registry sign, else the lab's key file via ``tracecert vc export --key``). A
credential without a proof is still a faithful view of the certificate: its authenticity then rests on the chain
(the record's digest, the lab's TraceCert signature and the inclusion proof in ``evidence``), and it says so in its
``description``.

Only ``did:key`` verification methods are resolved (offline, from the method itself); whether that key belongs to
the record's lab is a question for the chain (``verifier.inputs`` asks it). JSON-LD processing is not needed by
the cryptosuite and is not done; TraceCert's own terms fall under the VC 2.0 context's ``@vocab``.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.signing

from tracecert.certificate.bundle import BUNDLE_FORMAT, ProofBundle, bundle_to_json, parse_bundle
from tracecert.certificate.canonical import canonicalize, certificate_digest, parse_json, record_to_json, to_hex
from tracecert.certificate.errors import CanonicalizationFailed, CertificateError, FieldError
from tracecert.certificate.model import CertificateRecord, record_from_json
from tracecert.certificate.signing import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, SigningKey, key_id

__all__ = [
    "ANCHORING_TYPE",
    "CREDENTIAL_TYPE",
    "CRYPTOSUITE",
    "STATUS_TYPE",
    "SUBJECT_TYPE",
    "VC_CONTEXT",
    "Credential",
    "VcCryptosuiteUnsupported",
    "VcError",
    "VcInvalid",
    "VcProofInvalid",
    "base58btc_decode",
    "base58btc_encode",
    "build_credential",
    "did_key",
    "hash_data",
    "is_credential",
    "prove",
    "public_key_from_did_key",
    "read_credential",
    "verify_proof",
]

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
CREDENTIAL_TYPE = "TraceCertCertificateCredential"
SUBJECT_TYPE = "TraceCertCertificate"
STATUS_TYPE = "TraceCertChainStatus"
ANCHORING_TYPE = "TraceCertAnchoring"
CRYPTOSUITE = "eddsa-jcs-2022"
PROOF_TYPE = "DataIntegrityProof"

_ED25519_PUB = b"\xed\x01"  # multicodec ed25519-pub (varint 0xed)
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_TZ = "+08:00"  # certificate dates are days in China Standard Time (Policy.tz_offset_hours)
_NO_PROOF = (
    "This credential carries no Data Integrity proof: its authenticity rests on the chain (the record's digest, "
    "the lab's TraceCert signature and the inclusion proof in evidence, checked against the anchored batch)."
)
_PROVED = "The lab's key proves this credential (eddsa-jcs-2022); the chain anchoring in evidence is checked too."


class VcError(CertificateError, ValueError):
    """Base of the refusals of a Verifiable Credential."""

    code = "VC_ERROR"


class VcInvalid(VcError):
    """Not a TraceCert certificate credential: not JSON, wrong ``@context`` or ``type``, a part missing or
    malformed, a record that is invalid or does not hash to the stated digest; see ``errors``."""

    code = "VC_INVALID"


class VcProofInvalid(VcError):
    """The Data Integrity proof does not verify (the credential was changed after it was proved), is malformed,
    names a verification method that is not ``did:key`` or not the issuer's key, or has another purpose."""

    code = "VC_PROOF_INVALID"


class VcCryptosuiteUnsupported(VcError):
    """The proof is not a ``DataIntegrityProof`` with the ``eddsa-jcs-2022`` cryptosuite."""

    code = "VC_CRYPTOSUITE_UNSUPPORTED"


# ------------------------------------------------------------------ base58btc, did:key


def base58btc_encode(data: bytes) -> str:
    """Base58 (Bitcoin alphabet) of ``data``; leading zero bytes become ``1``."""
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def base58btc_decode(text: str) -> bytes:
    """The bytes of Base58 (Bitcoin alphabet) text.

    Raises:
        VcProofInvalid: a character outside the alphabet.
    """
    n = 0
    for c in text:
        i = _B58_INDEX.get(c)
        if i is None:
            raise VcProofInvalid(f"{c!r} is not a base58btc character")
        n = n * 58 + i
    zeros = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * zeros + body


def _multibase(data: bytes) -> str:
    return "z" + base58btc_encode(data)


def _from_multibase(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("z") or len(text) > 200:
        raise VcProofInvalid(f"{what} is not multibase base58btc (z…)")
    return base58btc_decode(text[1:])


def did_key(public_key: bytes) -> str:
    """The ``did:key`` of a raw 32-byte Ed25519 public key (``did:key:z6Mk…``)."""
    return "did:key:" + _multibase(_ED25519_PUB + public_key)


def public_key_from_did_key(did: str) -> bytes:
    """The raw Ed25519 public key of a ``did:key`` (``did:key:z6Mk…``, a ``#fragment`` allowed if it is the key's
    own multibase).

    Raises:
        VcProofInvalid: not a did:key, or not of an Ed25519 key.
    """
    if not isinstance(did, str) or not did.startswith("did:key:"):
        raise VcProofInvalid(f"{str(did)[:80]!r} is not a did:key (only did:key verification methods are resolved)")
    ident, _, fragment = did[len("did:key:") :].partition("#")
    if fragment and fragment != ident:
        raise VcProofInvalid("the did:key fragment is not the key's own multibase")
    raw = _from_multibase(ident, "the did:key")
    if len(raw) != 2 + PUBLIC_KEY_SIZE or not raw.startswith(_ED25519_PUB):
        raise VcProofInvalid("the did:key is not an Ed25519 public key")
    return raw[2:]


# ------------------------------------------------------------------ the cryptosuite


def hash_data(unsecured: Mapping[str, Any], proof_config: Mapping[str, Any]) -> bytes:
    """``SHA-256(JCS(proof_config)) || SHA-256(JCS(unsecured))``: the 64 bytes eddsa-jcs-2022 signs.

    Raises:
        VcInvalid: a part cannot be canonicalized (RFC 8785).
    """
    try:
        return hashlib.sha256(canonicalize(proof_config)).digest() + hashlib.sha256(canonicalize(unsecured)).digest()
    except CanonicalizationFailed as e:
        raise VcInvalid(
            "the credential cannot be canonicalized (RFC 8785)", [FieldError("(credential)", "jcs", str(e))]
        ) from e


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def prove(
    unsecured: Mapping[str, Any],
    key: SigningKey,
    *,
    created: str | None = None,
    verification_method: str | None = None,
) -> dict[str, Any]:
    """Add an eddsa-jcs-2022 ``DataIntegrityProof`` (proof purpose ``assertionMethod``) to a credential: the
    proof configuration carries the credential's ``@context``; the signature covers :func:`hash_data`.

    ``verification_method`` defaults to the key's ``did:key:z…#z…``; ``created`` to now (UTC).

    Raises:
        VcInvalid: the credential already has a proof, has no ``@context``, or is not canonicalizable.
    """
    if "proof" in unsecured:
        raise VcInvalid("the credential already has a proof", [FieldError("proof", "present", "prove it once")])
    if "@context" not in unsecured:
        raise VcInvalid("the credential has no @context", [FieldError("@context", "required", "missing")])
    ident = did_key(key.public_key)
    config: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": created or _utc_now(),
        "verificationMethod": verification_method or f"{ident}#{ident.removeprefix('did:key:')}",
        "proofPurpose": "assertionMethod",
        "@context": copy.deepcopy(unsecured["@context"]),
    }
    signature = key.sign_message(hash_data(unsecured, config))
    return {**copy.deepcopy(dict(unsecured)), "proof": {**config, "proofValue": _multibase(signature)}}


def verify_proof(secured: Mapping[str, Any], public_key: bytes | None = None) -> bytes:
    """Verify a credential's eddsa-jcs-2022 proof; return the raw Ed25519 public key that made it.

    The key is ``public_key`` when given, else the ``did:key`` of the verification method (which must then be
    the issuer's). One proof (an object, or a list of one) is verified.

    Raises:
        VcCryptosuiteUnsupported: not a DataIntegrityProof with cryptosuite eddsa-jcs-2022.
        VcProofInvalid: no proof, a malformed one, a purpose other than assertionMethod, a proof @context that
            the credential's does not start with, a key that is not did:key or not the issuer's, or a signature
            that does not verify (the credential was changed).
    """
    proof = secured.get("proof")
    if isinstance(proof, list) and len(proof) == 1:
        proof = proof[0]
    if not isinstance(proof, dict):
        raise VcProofInvalid("the credential has no proof object (exactly one is verified)")
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        raise VcCryptosuiteUnsupported(
            f"proof type {str(proof.get('type'))[:40]!r} with cryptosuite {str(proof.get('cryptosuite'))[:40]!r} "
            f"is not supported (only {PROOF_TYPE} with {CRYPTOSUITE})"
        )
    if proof.get("proofPurpose") != "assertionMethod":
        raise VcProofInvalid("the proof's purpose is not assertionMethod")
    created = proof.get("created")
    if created is not None and not (isinstance(created, str) and _DATETIME_RE.match(created)):
        raise VcProofInvalid("the proof's created is not an XML Schema dateTime")
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    unsecured = {k: v for k, v in secured.items() if k != "proof"}
    if "@context" in options:
        context, own = options["@context"], unsecured.get("@context")
        context_list = context if isinstance(context, list) else [context]
        own_list = own if isinstance(own, list) else [own]
        if own_list[: len(context_list)] != context_list:
            raise VcProofInvalid("the credential's @context does not start with the proof's @context")
        unsecured["@context"] = context
    method = proof.get("verificationMethod")
    if public_key is None:
        public_key = public_key_from_did_key(str(method) if method is not None else "")
        issuer = secured.get("issuer")
        issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
        if issuer_id != str(method).partition("#")[0]:
            raise VcProofInvalid(f"the proof is made by {str(method)[:100]}, not by the issuer's key")
    signature = _from_multibase(proof.get("proofValue"), "proofValue")
    if len(signature) != SIGNATURE_SIZE:
        raise VcProofInvalid(f"the proofValue is {len(signature)} bytes, an Ed25519 signature {SIGNATURE_SIZE}")
    try:
        nacl.signing.VerifyKey(public_key).verify(hash_data(unsecured, options), signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError) as e:
        raise VcProofInvalid("the eddsa-jcs-2022 proof does not verify: the credential was changed") from e
    return public_key


# ------------------------------------------------------------------ TraceCert certificates as credentials


def _end_of_day(day: dt.date) -> str:
    return f"{day.isoformat()}T23:59:59{_TZ}"


def build_credential(
    source: ProofBundle | CertificateRecord,
    *,
    key: SigningKey | None = None,
    created: str | None = None,
) -> dict[str, Any]:
    """The credential of a certificate: from its proof bundle (with the anchoring as ``evidence`` and the chain
    as ``credentialStatus``) or from a bare record (then the verifier must find the anchoring itself and the
    status names no chain). With ``key`` (a key of the record's lab) it is proved with eddsa-jcs-2022 and the
    key's did:key is the issuer; without, the issuer is the did:key of the key that signed the record (a
    bundle) or the lab's URN (a record), and the ``description`` says that authenticity rests on the chain.

    Raises:
        VcInvalid: never for a valid bundle or record (see :func:`prove`).
    """
    bundle = source if isinstance(source, ProofBundle) else None
    record = bundle.record if bundle is not None else source
    assert isinstance(record, CertificateRecord)
    digest = to_hex(certificate_digest(record))
    if key is not None:
        issuer = did_key(key.public_key)
    elif bundle is not None:
        issuer = did_key(bytes.fromhex(bundle.signature.public_key[2:]))
    else:
        issuer = f"urn:tracecert:lab:{record.lab.lab_id}"
    doc: dict[str, Any] = {
        "@context": [VC_CONTEXT],
        "id": f"urn:tracecert:certificate:{digest}",
        "type": ["VerifiableCredential", CREDENTIAL_TYPE],
        "name": f"{record.kind.zh} {record.certificate_number} / {record.kind.en}",
        "description": _PROVED if key is not None else _NO_PROOF,
        "issuer": {"id": issuer, "name": record.lab.name},
        "validFrom": f"{record.dates.issue_date.isoformat()}T00:00:00{_TZ}",
    }
    if record.dates.valid_until is not None:
        doc["validUntil"] = _end_of_day(record.dates.valid_until)
    doc["credentialSubject"] = {"type": SUBJECT_TYPE, "digest": digest, "record": record_to_json(record)}
    status: dict[str, Any] = {"type": STATUS_TYPE, "certificateDigest": digest, "labId": record.lab.lab_id}
    if bundle is not None:
        parts = bundle_to_json(bundle)
        status |= {"chainId": bundle.anchor.chain_id, "registry": bundle.anchor.contract}
        doc["evidence"] = [
            {
                "type": [ANCHORING_TYPE],
                "labSignature": parts["signature"],
                "inclusionProof": parts["proof"],
                "anchor": parts["anchor"],
            }
        ]
    doc["credentialStatus"] = status
    return prove(doc, key, created=created) if key is not None else doc


def is_credential(obj: Mapping[str, Any]) -> bool:
    """Whether a JSON object presents itself as a Verifiable Credential (it has an ``@context``, or a ``type``
    naming ``VerifiableCredential``); :func:`read_credential` then decides whether it is a valid one of ours."""
    kinds = obj.get("type")
    return (
        "@context" in obj
        or kinds == "VerifiableCredential"
        or (isinstance(kinds, list) and "VerifiableCredential" in kinds)
    )


@dataclass(frozen=True)
class Credential:
    """A TraceCert credential read back: the record, the proof bundle rebuilt from ``evidence`` (None without
    one), the status entry, and the key that proved it (None: no proof, authenticity rests on the chain)."""

    document: dict[str, Any]
    record: CertificateRecord
    digest: str
    bundle: dict[str, Any] | None
    status: dict[str, Any]
    issuer: str
    proof_key: bytes | None
    proof_created: str | None

    def summary(self) -> dict[str, Any]:
        """What a report says about the credential (JSON)."""
        proof = None
        if self.proof_key is not None:
            proof = {
                "cryptosuite": CRYPTOSUITE,
                "verification_method": did_key(self.proof_key),
                "key_id": to_hex(key_id(self.proof_key)),
                "created": self.proof_created,
            }
        return {
            "issuer": self.issuer,
            "proof": proof,
            "status": self.status,
            "anchoring_evidence": self.bundle is not None,
            **({} if proof else {"note": _NO_PROOF}),
        }


def _bad(message: str, field: str, rule: str, detail: str = "") -> VcInvalid:
    return VcInvalid(message, [FieldError(field, rule, detail or message)])


def read_credential(data: bytes | str | Mapping[str, Any]) -> Credential:
    """Read a TraceCert credential back, checking everything that needs no chain: its shape (``@context``,
    ``type``), its proof if it has one (:func:`verify_proof`), the record (valid, in normal form, hashing to the
    stated digest), the status entry and the anchoring evidence (a well-formed proof bundle).

    Raises:
        VcInvalid: not JSON, not an object, not a TraceCert certificate credential, or a part is malformed;
            ``errors`` names each problem with its path.
        VcCryptosuiteUnsupported, VcProofInvalid: see :func:`verify_proof`.
    """
    try:
        doc = copy.deepcopy(dict(data)) if isinstance(data, Mapping) else parse_json(data)
    except CanonicalizationFailed as e:
        raise _bad("the credential is not strict JSON", "(credential)", "json", str(e)) from e
    if not isinstance(doc, dict):
        raise _bad("the credential is not a JSON object", "(credential)", "type")
    context = doc.get("@context")
    if not isinstance(context, list) or not context or context[0] != VC_CONTEXT:
        raise _bad(f"@context must be a list starting with {VC_CONTEXT}", "@context", "vc_context")
    kinds = doc.get("type")
    if not isinstance(kinds, list) or "VerifiableCredential" not in kinds or CREDENTIAL_TYPE not in kinds:
        raise _bad(f"type must name VerifiableCredential and {CREDENTIAL_TYPE}", "type", "vc_type")
    issuer = doc.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(issuer_id, str) or not issuer_id:
        raise _bad("the credential has no issuer", "issuer", "required")
    proof_key, created = None, None
    if "proof" in doc:
        proof_key = verify_proof(doc)
        proof = doc["proof"][0] if isinstance(doc["proof"], list) else doc["proof"]
        created = proof.get("created")
    subject = doc.get("credentialSubject")
    if (
        not isinstance(subject, dict)
        or subject.get("type") != SUBJECT_TYPE
        or not isinstance(subject.get("record"), dict)
    ):
        raise _bad(f"credentialSubject must be a {SUBJECT_TYPE} with a record", "credentialSubject", "vc_subject")
    try:
        record = record_from_json(subject["record"])
        canonical = canonicalize(subject["record"])
    except CertificateError as e:
        errors = [FieldError(f"credentialSubject.record.{x.field}", x.rule, x.message) for x in e.errors]
        raise VcInvalid(
            "the credential's record is invalid",
            errors or [FieldError("credentialSubject.record", "record", e.message)],
        ) from e
    if canonical != record.canonical:
        raise _bad(
            "the record is not in normal form",
            "credentialSubject.record",
            "normal_form",
            "record has null members, empty arrays or coerced values",
        )
    digest = to_hex(certificate_digest(record))
    if subject.get("digest") != digest:
        raise _bad(
            "the record does not hash to the stated digest (it was changed)",
            "credentialSubject.digest",
            "digest_mismatch",
            f"the record digests to {digest}",
        )
    status = doc.get("credentialStatus")
    if not isinstance(status, dict) or status.get("type") != STATUS_TYPE or status.get("certificateDigest") != digest:
        raise _bad(
            f"credentialStatus must be a {STATUS_TYPE} of this certificate's digest", "credentialStatus", "vc_status"
        )
    bundle = _bundle_of(doc, record, digest, status)
    return Credential(doc, record, digest, bundle, status, issuer_id, proof_key, created)


def _bundle_of(
    doc: dict[str, Any], record: CertificateRecord, digest: str, status: dict[str, Any]
) -> dict[str, Any] | None:
    evidence = doc.get("evidence")
    if evidence is None:
        return None
    items = evidence if isinstance(evidence, list) else [evidence]
    ours = [e for e in items if isinstance(e, dict) and ANCHORING_TYPE in (e.get("type") or [])]
    if len(ours) != 1:
        raise _bad(f"evidence must hold one {ANCHORING_TYPE}", "evidence", "vc_evidence")
    anchoring = ours[0]
    bundle = {
        "format": BUNDLE_FORMAT,
        "record": record_to_json(record),
        "digest": digest,
        "signature": anchoring.get("labSignature"),
        "proof": anchoring.get("inclusionProof"),
        "anchor": anchoring.get("anchor"),
    }
    try:
        parsed = parse_bundle(bundle)
    except CertificateError as e:
        errors = [FieldError(f"evidence.{x.field}", x.rule, x.message) for x in e.errors]
        raise VcInvalid("the credential's anchoring evidence is malformed", errors) from e
    if (
        status.get("chainId") != parsed.anchor.chain_id
        or str(status.get("registry", "")).lower() != parsed.anchor.contract.lower()
    ):
        raise _bad(
            "credentialStatus names another chain or registry than the anchoring evidence",
            "credentialStatus",
            "vc_status",
        )
    return bundle_to_json(parsed)
