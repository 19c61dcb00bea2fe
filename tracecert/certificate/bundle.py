"""The proof bundle (``tracecert-bundle/1``): one self-contained JSON document per certificate holding the
record, its digest, the lab's signature, the Merkle inclusion proof and the chain anchor.

:func:`verify_bundle_offline` checks everything that needs no chain (digest, key id, signature, inclusion in
the anchored root). Whether that root really is on chain, and the lab/key status, is the verifier's job.
The format is documented in ``docs/bundle.md`` and ``schemas/bundle-v1.schema.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from tracecert.certificate.canonical import (
    HEX32_PATTERN,
    canonical_if_normal,
    canonicalize,
    certificate_digest,
    from_hex,
    jcs_layout,
    parse_json,
    record_to_json,
    to_hex,
)
from tracecert.certificate.errors import (
    BundleInvalid,
    CanonicalizationFailed,
    DigestMismatch,
    FieldError,
    KeyIdMismatch,
)
from tracecert.certificate.merkle import verify_inclusion
from tracecert.certificate.model import CertificateRecord, validation_errors
from tracecert.certificate.signing import key_id, verify_signature

__all__ = [
    "BUNDLE_FORMAT",
    "SCHEMA_ID",
    "Anchor",
    "BundleProof",
    "BundleSignature",
    "ProofBundle",
    "build_bundle",
    "bundle_json_schema",
    "bundle_to_json",
    "dump_bundle",
    "generate_bundle_json_schema",
    "parse_bundle",
    "verify_bundle_offline",
]

BUNDLE_FORMAT = "tracecert-bundle/1"
SCHEMA_ID = "urn:tracecert:schema:bundle-v1"

Hex32 = Annotated[str, StringConstraints(pattern=HEX32_PATTERN)]
Hex64 = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-f]{128}$")]
Address = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class BundleSignature(_Strict):
    """The lab's Ed25519 signature over ``digest``, with the signing public key and its key id."""

    alg: Literal["Ed25519"]
    key_id: Hex32 = Field(description="SHA-256 of public_key; the id the chain registered for the lab key.")
    public_key: Hex32 = Field(description="Raw 32-byte Ed25519 public key.")
    value: Hex64 = Field(description="64-byte Ed25519 signature over the 32 digest bytes.")


class BundleProof(_Strict):
    """The RFC 6962 inclusion proof of the certificate digest in the anchored batch."""

    leaf_index: int = Field(ge=0, description="Zero-based position of the certificate in its batch.")
    tree_size: int = Field(ge=1, description="Number of certificates in the batch.")
    hashes: tuple[Hex32, ...] = Field(description="Audit path, leaf to root.")

    @model_validator(mode="after")
    def _index_inside(self) -> BundleProof:
        if self.leaf_index >= self.tree_size:
            raise ValueError("leaf_index must be smaller than tree_size")
        return self


class Anchor(_Strict):
    """Where the batch root was anchored: enough to look it up with any JSON-RPC endpoint."""

    chain_id: int = Field(ge=1, description="EIP-155 chain id.")
    contract: Address = Field(description="Registry contract address.")
    root: Hex32 = Field(description="Merkle root of the batch, as stored on chain.")
    tx_hash: Hex32 = Field(description="Transaction that anchored the root.")
    block_number: int = Field(ge=0)
    block_timestamp: int | None = Field(ge=0, description="Block time (Unix seconds), null if not known.")


class ProofBundle(_Strict):
    """A ``tracecert-bundle/1`` document. Build with :func:`build_bundle`, read with :func:`parse_bundle`."""

    format: Literal["tracecert-bundle/1"]
    record: CertificateRecord
    digest: Hex32 = Field(description="Certificate digest of record.")
    signature: BundleSignature
    proof: BundleProof
    anchor: Anchor


def build_bundle(
    record: CertificateRecord,
    *,
    signature: bytes,
    public_key: bytes,
    leaf_index: int,
    tree_size: int,
    proof: Sequence[bytes],
    anchor: Anchor,
) -> ProofBundle:
    """Assemble a bundle (the digest and key id are computed here). It is not verified; call
    :func:`verify_bundle_offline` if in doubt.

    Raises:
        BundleInvalid: a part has the wrong form (e.g. a 31-byte hash, leaf_index ≥ tree_size).
    """
    doc = {
        "format": BUNDLE_FORMAT,
        "record": record_to_json(record),
        "digest": to_hex(certificate_digest(record)),
        "signature": {
            "alg": "Ed25519",
            "key_id": to_hex(key_id(public_key)) if len(public_key) == 32 else "",
            "public_key": to_hex(public_key),
            "value": to_hex(signature),
        },
        "proof": {"leaf_index": leaf_index, "tree_size": tree_size, "hashes": [to_hex(h) for h in proof]},
        "anchor": anchor.model_dump(mode="json"),
    }
    return parse_bundle(doc)


def bundle_to_json(bundle: ProofBundle) -> dict[str, Any]:
    """Return the bundle as a JSON object, its record in normal form (see ``docs/bundle.md``)."""
    doc = bundle.model_dump(mode="json", exclude={"record"})
    return {"format": doc.pop("format"), "record": record_to_json(bundle.record), **doc}


def dump_bundle(bundle: ProofBundle) -> bytes:
    """Return the bundle as indented UTF-8 JSON (the bundle itself is not hashed, so layout is free)."""
    return (json.dumps(bundle_to_json(bundle), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def parse_bundle(data: bytes | str | Mapping[str, Any]) -> ProofBundle:
    """Parse and validate a bundle from JSON text or a parsed JSON object.

    The record must be in normal form exactly (no ``null`` members, no empty arrays), so that a verifier in
    any language that only runs JCS over ``record`` gets the same digest.

    Raises:
        BundleInvalid: not JSON, wrong ``format``, a malformed part, or a record that is invalid or not in
            normal form; ``errors`` lists each problem with its field path (record fields under ``record.``).
    """
    doc = _bundle_document(data)
    # One pass of the C encoder, in the JCS layout, is the text pydantic validates and, for a record in normal
    # form, holds the record's canonical bytes: the record is validated once and never written out again. The
    # members are sorted, so "record" is followed by "signature", the last member: neither name is a field
    # anywhere else (every model forbids unknown fields) and JSON strings escape their quotes.
    try:
        text = jcs_layout(doc)
        bundle = ProofBundle.model_validate_json(text)
    except (TypeError, ValueError):  # ValidationError, not JSON, lone surrogates: the reference says why
        return _validate_bundle(doc)
    record = bundle.record
    at, end = text.find(b',"record":'), text.rfind(b',"signature":')
    canonical = canonical_if_normal(record, doc["record"], text[at + 10 : end]) if 0 < at < end else None
    if canonical is None:
        _check_normal_form(doc["record"], record)
    else:
        record.__dict__["canonical"] = canonical  # the cached property, from the same pass
    return bundle


def _parse_bundle_reference(data: bytes | str | Mapping[str, Any]) -> ProofBundle:
    """The definition of :func:`parse_bundle` (JSON written again for pydantic, the record canonicalized from
    the JSON as given and from the model): the property tests hold the fast path equal to it."""
    return _validate_bundle(_bundle_document(data))


def _bundle_document(data: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """The bundle's JSON object with the right ``format`` (first steps of :func:`parse_bundle`)."""
    try:
        doc = dict(data) if isinstance(data, Mapping) else parse_json(data)
    except CanonicalizationFailed as e:
        raise BundleInvalid("bundle is not strict JSON", [FieldError("(bundle)", "json", str(e))]) from e
    if not isinstance(doc, dict):
        raise BundleInvalid("bundle is not a JSON object", [FieldError("(bundle)", "type", "expected an object")])
    if doc.get("format") != BUNDLE_FORMAT:
        raise BundleInvalid(
            f"not a {BUNDLE_FORMAT} document",
            [FieldError("format", "unsupported_value", f"format must be {BUNDLE_FORMAT!r}")],
        )
    return doc


def _validate_bundle(doc: dict[str, Any]) -> ProofBundle:
    """The reference validation of a bundle's JSON object (the last steps of :func:`parse_bundle`)."""
    try:
        bundle = ProofBundle.model_validate_json(json.dumps(doc, ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError) as e:
        if isinstance(e, ValidationError):
            raise BundleInvalid("bundle is invalid", validation_errors(e)) from e
        raise BundleInvalid("bundle is not JSON", [FieldError("(bundle)", "json", str(e))]) from e
    _check_normal_form(doc["record"], bundle.record)
    return bundle


def _check_normal_form(raw: Any, record: CertificateRecord) -> None:
    """The reference check of :func:`parse_bundle`: JCS of the record as given is the record's canonical bytes."""
    try:
        raw_record = canonicalize(raw)
    except CanonicalizationFailed as e:  # pragma: no cover - the record validated, so it is plain JSON
        raise BundleInvalid("record is not canonicalizable", [FieldError("record", "json", str(e))]) from e
    if raw_record != record.canonical:
        raise BundleInvalid(
            "record is not in normal form",
            [FieldError("record", "normal_form", "record has null members, empty arrays or coerced values")],
        )


def verify_bundle_offline(bundle: ProofBundle | bytes | str | Mapping[str, Any]) -> None:
    """Check a bundle without a chain: digest = digest(record), key id = SHA-256(public key), the signature
    over the digest, and the inclusion proof against ``anchor.root``. Returns nothing on success.

    Raises:
        BundleInvalid: the bundle is malformed (only when given JSON rather than a :class:`ProofBundle`).
        DigestMismatch: ``digest`` is not the certificate digest of ``record``.
        KeyIdMismatch: ``signature.key_id`` is not SHA-256 of ``signature.public_key``.
        SignatureInvalid: the signature does not verify.
        ProofInvalid: the inclusion proof does not lead to ``anchor.root``.
    """
    if not isinstance(bundle, ProofBundle):
        bundle = parse_bundle(bundle)
    digest = certificate_digest(bundle.record)
    if to_hex(digest) != bundle.digest:
        raise DigestMismatch(
            "bundle digest is not the record's certificate digest",
            [FieldError("digest", "digest_mismatch", f"record digests to {to_hex(digest)}")],
        )
    sig = bundle.signature
    public_key = from_hex(sig.public_key)
    if to_hex(key_id(public_key)) != sig.key_id:
        raise KeyIdMismatch("signature.key_id is not SHA-256 of signature.public_key")
    verify_signature(public_key, digest, from_hex(sig.value, 64))
    verify_inclusion(
        digest,
        bundle.proof.leaf_index,
        bundle.proof.tree_size,
        [from_hex(h) for h in bundle.proof.hashes],
        from_hex(bundle.anchor.root),
    )


def generate_bundle_json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of ``tracecert-bundle/1`` generated from the models. The file
    ``schemas/bundle-v1.schema.json`` is this output (refresh it with ``tracecert bundle schema --generate``);
    a test keeps the two equal."""
    schema = ProofBundle.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "TraceCert proof bundle, format tracecert-bundle/1",
        "description": (
            "A certificate record with its digest, Ed25519 signature, RFC 6962 inclusion proof and chain "
            "anchor. "
            "Structure only: the kind rules of the record (docs/bundle.md) and the cryptographic checks are "
            "not expressible here."
        ),
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def bundle_json_schema() -> dict[str, Any]:
    """Return the committed JSON Schema file ``schemas/bundle-v1.schema.json`` (read from the package)."""
    text = resources.files("tracecert.certificate.schemas").joinpath("bundle-v1.schema.json").read_text("utf-8")
    result: dict[str, Any] = json.loads(text)
    return result
