"""Errors raised by :mod:`tracecert.certificate`; each leaf carries a stable machine ``code``.

The tree::

    CertificateError                      CERTIFICATE_ERROR
    ├── RecordInvalid (ValueError)        RECORD_INVALID            .errors: field, rule, message
    ├── CanonicalizationFailed (ValueError) CANONICALIZATION_FAILED   not representable as RFC 8785 JSON
    ├── MalformedValue (ValueError)       MALFORMED_VALUE           bad hex, wrong digest/key length
    ├── SignatureInvalid                  SIGNATURE_INVALID
    │   └── KeyIdMismatch                 KEY_ID_MISMATCH           key id is not SHA-256(public key)
    ├── KeyFileInvalid                    KEY_FILE_INVALID          unreadable or tampered key file
    │   └── KeyFileDecryptFailed          KEY_FILE_DECRYPT_FAILED   wrong passphrase (or altered ciphertext)
    ├── ProofInvalid                      PROOF_INVALID             Merkle inclusion proof does not verify
    ├── BundleInvalid (ValueError)        BUNDLE_INVALID            .errors: field, rule, message
    │   └── DigestMismatch                DIGEST_MISMATCH           bundle digest is not the record's digest
    └── DccError                          (abstract: DCC XML import/export)
        ├── XmlUnsafe                     XML_UNSAFE                DOCTYPE, entities, external references
        ├── DccTooLarge                   DCC_TOO_LARGE             over the size limit
        ├── XmlMalformed                  XML_MALFORMED             not well-formed XML
        ├── DccWrongRoot                  DCC_WRONG_ROOT            XML, but not a DCC
        ├── DccSchemaUnsupported          DCC_SCHEMA_UNSUPPORTED    schemaVersion we do not carry
        ├── DccInvalid                    DCC_INVALID               .errors: XSD violations
        ├── DccIncomplete                 DCC_INCOMPLETE            .errors: fields the record needs
        ├── DccSignedOldSchema            DCC_SIGNED_OLD_SCHEMA     a 3.0/3.1 DCC with a ds:Signature
        └── DccSignatureError             (abstract: a signed DCC's XML signature)
            ├── DccSignatureInvalid       DCC_SIGNATURE_INVALID     digest or signature value mismatch
            ├── DccSignerUntrusted        DCC_SIGNER_UNTRUSTED      chain not to a trust anchor at signing time
            └── DccSignerRevoked          DCC_SIGNER_REVOKED        revoked before the signing time

Every error has ``code`` (class attribute, never changes) and a human ``message``; the ones that describe
several problems carry ``errors``, a list of :class:`FieldError`. Callers map codes, never message text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import ClassVar

__all__ = [
    "BundleInvalid",
    "CanonicalizationFailed",
    "CertificateError",
    "DccError",
    "DccIncomplete",
    "DccInvalid",
    "DccSchemaUnsupported",
    "DccSignatureError",
    "DccSignatureInvalid",
    "DccSignedOldSchema",
    "DccSignerRevoked",
    "DccSignerUntrusted",
    "DccTooLarge",
    "DccWrongRoot",
    "DigestMismatch",
    "FieldError",
    "JsonTooDeep",
    "KeyFileDecryptFailed",
    "KeyFileInvalid",
    "KeyIdMismatch",
    "MalformedValue",
    "ProofInvalid",
    "RecordInvalid",
    "SignatureInvalid",
    "XmlMalformed",
    "XmlUnsafe",
]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field: ``field`` is a dotted path (``results.0.expanded_uncertainty``),
    ``rule`` a stable machine name (``required_for_kind``), ``message`` for humans."""

    field: str
    rule: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Return ``{"field", "rule", "message"}`` (for JSON error bodies)."""
        return asdict(self)


class CertificateError(Exception):
    """Base of every error raised by :mod:`tracecert.certificate`."""

    code: ClassVar[str] = "CERTIFICATE_ERROR"

    def __init__(self, message: str, errors: Iterable[FieldError] = ()) -> None:
        self.message = message
        self.errors: list[FieldError] = list(errors)
        super().__init__(message)

    def __str__(self) -> str:
        if not self.errors:
            return self.message
        details = "; ".join(f"{e.field}: {e.message} [{e.rule}]" for e in self.errors[:10])
        more = f" (+{len(self.errors) - 10} more)" if len(self.errors) > 10 else ""
        return f"{self.message}: {details}{more}"

    def to_dict(self) -> dict[str, object]:
        """Return ``{"code", "message", "errors"}``, the shape used in CLI and API error bodies."""
        return {"code": self.code, "message": self.message, "errors": [e.to_dict() for e in self.errors]}


class RecordInvalid(CertificateError, ValueError):
    """The certificate record is malformed or breaks a rule of its kind; see ``errors``."""

    code = "RECORD_INVALID"


class CanonicalizationFailed(CertificateError, ValueError):
    """The value cannot be written as RFC 8785 canonical JSON (NaN, integer beyond 2**53, ...)."""

    code = "CANONICALIZATION_FAILED"


class JsonTooDeep(CanonicalizationFailed):
    """JSON nested deeper than :data:`tracecert.certificate.canonical.MAX_JSON_DEPTH` (refused before parsing)."""

    code = "JSON_TOO_DEEP"


class MalformedValue(CertificateError, ValueError):
    """A hex string, key, digest or signature has the wrong form or length."""

    code = "MALFORMED_VALUE"


class SignatureInvalid(CertificateError):
    """The Ed25519 signature does not verify for this public key and digest."""

    code = "SIGNATURE_INVALID"


class KeyIdMismatch(SignatureInvalid):
    """The stated key id is not SHA-256 of the stated public key."""

    code = "KEY_ID_MISMATCH"


class KeyFileInvalid(CertificateError):
    """The key file cannot be read, has an unknown format, or its parts do not agree."""

    code = "KEY_FILE_INVALID"


class KeyFileDecryptFailed(KeyFileInvalid):
    """The secret key could not be decrypted: wrong passphrase, or the ciphertext was altered."""

    code = "KEY_FILE_DECRYPT_FAILED"


class ProofInvalid(CertificateError):
    """The Merkle inclusion proof does not lead from the digest to the root."""

    code = "PROOF_INVALID"


class BundleInvalid(CertificateError, ValueError):
    """The proof bundle is not a well-formed ``tracecert-bundle/1`` document; see ``errors``."""

    code = "BUNDLE_INVALID"


class DigestMismatch(BundleInvalid):
    """The digest stated in a bundle is not the digest of the record it carries."""

    code = "DIGEST_MISMATCH"


class DccError(CertificateError):
    """Base of the errors about DCC XML documents."""

    code = "DCC_ERROR"


class XmlUnsafe(DccError):
    """The XML uses a DOCTYPE, entity declarations or external references, which are refused."""

    code = "XML_UNSAFE"


class DccTooLarge(DccError):
    """The XML document is larger than the configured limit."""

    code = "DCC_TOO_LARGE"


class XmlMalformed(DccError):
    """The input is not well-formed XML."""

    code = "XML_MALFORMED"


class DccWrongRoot(DccError):
    """The XML root is not ``{https://ptb.de/dcc}digitalCalibrationCertificate``."""

    code = "DCC_WRONG_ROOT"


class DccSchemaUnsupported(DccError):
    """The DCC declares a ``schemaVersion`` whose XSD is not carried by this package."""

    code = "DCC_SCHEMA_UNSUPPORTED"


class DccInvalid(DccError):
    """The DCC does not validate against the XSD of its declared schema version; see ``errors``."""

    code = "DCC_INVALID"


class DccIncomplete(DccError):
    """The DCC lacks data that a certificate record requires and no override supplied it; see ``errors``."""

    code = "DCC_INCOMPLETE"


class DccSignedOldSchema(DccError):
    """A DCC of a version whose schema has no ``ds:Signature`` (3.0, 3.1) carries one: it is refused, not
    repaired (sign a DCC 3.2 or later)."""

    code = "DCC_SIGNED_OLD_SCHEMA"


class DccSignatureError(DccError):
    """Base of the refusals of a signed DCC's XML signature (the DCC is not anchored, the verifier fails it)."""

    code = "DCC_SIGNATURE_ERROR"


class DccSignatureInvalid(DccSignatureError):
    """The XML signature does not verify: a reference's digest or the signature value does not match the
    signed bytes (the DCC was changed after signing), or the signature is malformed or uses an algorithm not
    accepted."""

    code = "DCC_SIGNATURE_INVALID"


class DccSignerUntrusted(DccSignatureError):
    """The signature verifies, but its signer's certificate chain does not lead to a configured trust anchor
    at the signing time (or no trust store is configured)."""

    code = "DCC_SIGNER_UNTRUSTED"


class DccSignerRevoked(DccSignatureError):
    """A certificate of the signer's chain was revoked before the signing time (by a CRL or OCSP response
    embedded in the DCC or in the trust store)."""

    code = "DCC_SIGNER_REVOKED"
