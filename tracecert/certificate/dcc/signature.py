"""Offline verification of a signed DCC: the enveloped ``ds:Signature`` that DCC 3.2 and later may end with.

:func:`verify_dcc_signature` answers ``None`` for a DCC without a signature, a :class:`SignatureReport` for one whose
signature verifies and whose signer chains to a :class:`TrustStore` anchor, and raises a
:class:`~tracecert.certificate.errors.DccSignatureError` otherwise. Nothing is fetched: signxml checks the
signature bytes (references and signature value, with the signer's certificate from ``ds:X509Data``), and this
module checks everything signxml is not asked to:

- the signature is the root's one ``ds:Signature`` and covers the whole DCC: every ``ds:Reference`` is the
  enveloped document (``URI=""`` with the enveloped-signature transform) or the signature's own XAdES
  ``SignedProperties``; a signature over a part of the DCC does not make the DCC signed;
- algorithms: no SHA-1, DSA or HMAC; transforms: enveloped-signature and canonicalization only;
- the signer's certificate chain, built from the signature's certificates (``ds:X509Data``,
  ``xades:CertificateValues``) and the trust store's, to a trust anchor, checked at the signing time: each
  certificate's signature by its issuer, validity, CA basicConstraints (and path length) and keyCertSign on
  issuers, digitalSignature or nonRepudiation on the signer (when it states a key usage). The test certificates
  of PTB's ecosystem lack SubjectAltName, so no WebPKI policy is used;
- revocation: CRLs (embedded ``xades:RevocationValues`` and the trust store's) and embedded OCSP responses, each
  trusted only when its issuer's (or the issuer's delegated responder's) signature verifies. A revocation before
  the signing time refuses the DCC; a later one does not undo what was signed.

The signing time is the signed ``xades:SigningTime`` when there is one (it is the signer's claim, bound by the
signature; a signature timestamp is not evaluated), else the time the caller gives (``at``), else now.

A lab's own Ed25519 signature (:func:`sign_dcc`, ``form`` ``XMLDSig-Ed25519``) has no certificate: signxml does
not implement Ed25519, so it is made and checked here, with lxml's canonicalization and PyNaCl. Its shape, the only
one :func:`verify_dcc_signature` accepts for this algorithm::

    <ds:Signature>                                   the root's last child
      <ds:SignedInfo>
        <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        <ds:SignatureMethod Algorithm="http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519"/>   (RFC 9231)
        <ds:Reference URI="">                        the whole DCC, exactly one reference
          <ds:Transforms>enveloped-signature, then exc-c14n</ds:Transforms>
          <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
          <ds:DigestValue>…</ds:DigestValue>
      <ds:SignatureValue>                            base64 of the 64-byte Ed25519 signature (PureEdDSA, RFC 8032)
                                                     over the canonicalized SignedInfo
      <ds:KeyInfo>
        <ds:KeyName>0x…</ds:KeyName>                 the TraceCert key id (SHA-256 of the public key)
        <dsig11:DEREncodedKeyValue>…                 the public key (see below)

RFC 9231 names the signature method only: it defines no ``ds:KeyValue`` form for EdDSA keys, nor does XMLDSig
1.1. XMLDSig 1.1 does define ``dsig11:DEREncodedKeyValue`` (namespace ``http://www.w3.org/2009/xmldsig11#``) for
any key type: the base64 DER SubjectPublicKeyInfo, which for Ed25519 is RFC 8410's (OID 1.3.101.112). It is
used, so an XMLDSig 1.1 implementation that knows the algorithm (e.g. Apache Santuario) can read the key; the
KeyName is TraceCert's name for it, and must name that key when present. Verification accepts
c14n 1.0 or exclusive c14n 1.0 (with or without comments) for SignedInfo, and for the reference the
enveloped-signature transform optionally followed by one of those; c14n 1.1 is refused for this algorithm (lxml
does not implement it). The key is trusted only when the caller says it is one of the lab's (``lab_keys``): a
:class:`TrustStore` of X.509 anchors cannot vouch for it. The signature states no signing time, so it is judged
at ``at`` or now, like an X.509 signature without ``xades:SigningTime``.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import hmac
import itertools
from base64 import b64decode, b64encode
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, SignXMLException
from signxml.xades import XAdESSignatureConfiguration, XAdESVerifier

from tracecert.certificate.canonical import to_hex
from tracecert.certificate.dcc.schema import DEFAULT_MAX_BYTES, DS_NS, SIGNED_SCHEMA_VERSIONS, parse_dcc
from tracecert.certificate.errors import (
    DccSignatureInvalid,
    DccSignedOldSchema,
    DccSignerRevoked,
    DccSignerUntrusted,
    FieldError,
)
from tracecert.certificate.signing import SigningKey, key_id

__all__ = [
    "ACCEPTED_DIGESTS",
    "ACCEPTED_SIGNATURE_METHODS",
    "DSIG11_NS",
    "ED25519_SIGNATURE_METHOD",
    "LAB_KEY_RULE",
    "SignatureReport",
    "TrustStore",
    "looks_like_dcc",
    "sign_dcc",
    "verify_dcc_signature",
]

XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"
_XADES_141_NS = "http://uri.etsi.org/01903/v1.4.1#"
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
ED25519_SIGNATURE_METHOD = "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519"
"""RFC 9231's ``ds:SignatureMethod`` for Ed25519 (PureEdDSA over the canonicalized ``ds:SignedInfo``)."""
DSIG11_NS = "http://www.w3.org/2009/xmldsig11#"
"""XMLDSig 1.1's namespace, of ``dsig11:DEREncodedKeyValue`` (the Ed25519 signer's public key)."""
LAB_KEY_RULE = "lab_key"
"""``rule`` of the :class:`FieldError` a :class:`DccSignerUntrusted` carries when an Ed25519 signer is not one of
the lab keys the caller accepts (an X.509 signer's refusal carries none): callers tell the two apart by it."""
_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
#: The canonicalizations lxml implements: URI -> (exclusive, with comments).
_LXML_C14N = {
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": (False, False),
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments": (False, True),
    _EXC_C14N: (True, False),
    _EXC_C14N + "WithComments": (True, True),
}
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_C14N = frozenset(m.value for m in CanonicalizationMethod)
_ID_ATTRIBUTES = ("Id", "ID", "id")
_XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
_MAX_CHAIN = 8
_TRUST_SUFFIXES = (".pem", ".crt", ".cer", ".der", ".crl")
_WEAK_HASHES = (hashes.SHA1, hashes.MD5)
_DER = Encoding.DER

ACCEPTED_SIGNATURE_METHODS = frozenset(
    m for m in SignatureMethod if "SHA1" not in m.name and not m.name.startswith(("DSA", "HMAC"))
)
"""RSA (PKCS#1 v1.5 and PSS) and ECDSA with SHA-2 or SHA-3; never SHA-1, DSA or HMAC."""
ACCEPTED_DIGESTS = frozenset(d for d in DigestAlgorithm if "SHA1" not in d.name)
"""SHA-2 and SHA-3 reference digests; never SHA-1."""


def _ds(local: str) -> str:
    return f"{{{DS_NS}}}{local}"


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return _utc(moment).isoformat().replace("+00:00", "Z")


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


# ---------------------------------------------------------------------- trust store


@dataclass(frozen=True, eq=False)
class TrustStore:
    """What signed DCCs are checked against: trust anchors (self-issued CA certificates), other certificates
    that may complete a chain to them (not trusted on their own), and CRLs besides those a signature embeds."""

    anchors: tuple[x509.Certificate, ...] = ()
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()

    @classmethod
    def empty(cls) -> TrustStore:
        """A store that trusts nobody (every signed DCC is DCC_SIGNER_UNTRUSTED)."""
        return cls()

    @classmethod
    def of(
        cls, certificates: Iterable[x509.Certificate], crls: Iterable[x509.CertificateRevocationList] = ()
    ) -> TrustStore:
        """A store of these certificates (self-issued ones are anchors, the others intermediates) and CRLs."""
        anchors: list[x509.Certificate] = []
        intermediates: list[x509.Certificate] = []
        for cert in certificates:
            (anchors if cert.subject == cert.issuer else intermediates).append(cert)
        return cls(tuple(anchors), tuple(intermediates), tuple(crls))

    @classmethod
    def load(cls, paths: Iterable[str | Path]) -> TrustStore:
        """Read PEM or DER certificates and CRLs (``.pem``, ``.crt``, ``.cer``, ``.der``, ``.crl``) from files
        and folders (a folder's files of those suffixes, not its subfolders); a PEM file may hold several.

        Raises:
            ValueError: a path does not exist, or a file holds neither a certificate nor a CRL.
        """
        certificates: list[x509.Certificate] = []
        crls: list[x509.CertificateRevocationList] = []
        for path in (Path(p) for p in paths):
            if path.is_dir():
                files = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in _TRUST_SUFFIXES)
            elif path.is_file():
                files = [path]
            else:
                raise ValueError(f"DCC trust store: {path} does not exist")
            for file in files:
                found_certs, found_crls = _read_trust_file(file.read_bytes())
                if not found_certs and not found_crls:
                    raise ValueError(f"DCC trust store: {file} holds no PEM or DER certificate or CRL")
                certificates += found_certs
                crls += found_crls
        return cls.of(certificates, crls)

    @property
    def is_empty(self) -> bool:
        """No anchor: nothing can be trusted."""
        return not self.anchors


def _read_trust_file(data: bytes) -> tuple[list[x509.Certificate], list[x509.CertificateRevocationList]]:
    if b"-----BEGIN" in data:
        certs: list[x509.Certificate] = []
        crls: list[x509.CertificateRevocationList] = []
        if b"-----BEGIN CERTIFICATE-----" in data:
            try:
                certs = x509.load_pem_x509_certificates(data)
            except ValueError:
                certs = []
        for block in data.split(b"-----BEGIN X509 CRL-----")[1:]:
            with contextlib.suppress(ValueError):
                crls.append(x509.load_pem_x509_crl(b"-----BEGIN X509 CRL-----" + block))
        return certs, crls
    try:
        return [x509.load_der_x509_certificate(data)], []
    except ValueError:
        pass
    try:
        return [], [x509.load_der_x509_crl(data)]
    except ValueError:
        return [], []


# ---------------------------------------------------------------------- report


@dataclass(frozen=True)
class SignatureReport:
    """A DCC signature that verified and whose signer is trusted at the signing time."""

    #: ``XAdES-LT`` (signed properties, embedded certificates and revocation data), ``XAdES``, ``XMLDSig``, or
    #: ``XMLDSig-Ed25519`` (a lab's own key, no certificate).
    form: str
    #: The signer certificate's subject (RFC 4514); for ``XMLDSig-Ed25519`` the key id (``0x`` + hex).
    signer: str
    signing_time: dt.datetime
    #: Where the signing time comes from: ``xades:SigningTime`` (signed), ``given`` (the caller's) or ``now``.
    time_source: str
    #: The chain's subjects, signer first, trust anchor last; empty for ``XMLDSig-Ed25519``.
    chain: tuple[str, ...]
    #: The ``ds:SignatureMethod`` URI.
    algorithm: str
    #: How many ``ds:Reference``s the signature has.
    references: int
    #: Revocation data that spoke about the chain (e.g. ``CRL of CN=Sub CA``); empty when there was none.
    revocation_checked: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON form (times in ISO 8601, UTC)."""
        return {
            "form": self.form,
            "signer": self.signer,
            "signing_time": _iso(self.signing_time),
            "time_source": self.time_source,
            "chain": list(self.chain),
            "algorithm": self.algorithm,
            "references": self.references,
            "revocation_checked": list(self.revocation_checked),
        }


# ---------------------------------------------------------------------- entry point


def looks_like_dcc(data: bytes) -> bool:
    """A cheap test (no parsing): XML whose first 64 KiB name the DCC namespace. Whether it is a DCC for real is
    for :func:`~tracecert.certificate.dcc.schema.parse_dcc` to say."""
    head = data[:65536].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] == b"<" and b"https://ptb.de/dcc" in head


def verify_dcc_signature(
    data: bytes,
    trust: TrustStore,
    *,
    at: dt.datetime | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    lab_keys: Collection[bytes] | Callable[[bytes], bool] | None = None,
    proven_by: dt.datetime | None = None,
) -> SignatureReport | None:
    """Verify a DCC's enveloped XML signature offline; ``None`` when the DCC has no ``ds:Signature``.

    ``at`` is the time a signature without ``xades:SigningTime`` is judged at (default: now); a signed
    SigningTime takes precedence. That SigningTime is the signer's own claim: ``proven_by`` is when the DCC is
    known to have existed (the registry: now, the default; the verifier: the anchoring), and a certificate of the
    chain revoked for key compromise (or for no stated reason) before it is refused even when the claimed signing
    time is earlier — whoever holds a compromised key can write any SigningTime.

    ``trust`` judges X.509 signers; ``lab_keys`` judges an Ed25519 signer (see the module docstring): the raw
    32-byte public keys the caller accepts (the lab's keys registered on chain), or a test of such a key (e.g. one
    that asks the chain); ``None`` accepts no Ed25519 signer.

    Raises:
        DccSignatureInvalid: a digest or the signature value does not match, the signature is malformed, uses a
            refused algorithm or transform, is not the root's only one, or does not cover the whole DCC.
        DccSignerUntrusted: no chain from the signer to a trust anchor valid at the signing time (or no anchors);
            an Ed25519 signer that is not one of ``lab_keys`` (its ``errors`` then name rule
            :data:`LAB_KEY_RULE`).
        DccSignerRevoked: a certificate of the chain was revoked before the signing time.
        DccError: the XML is not a readable DCC (see :func:`~tracecert.certificate.dcc.schema.parse_dcc`).
    """
    tree, _ = parse_dcc(data, max_bytes=max_bytes)
    root = tree.getroot()
    signatures = list(root.iter(_ds("Signature")))
    if not signatures:
        return None
    if len(signatures) > 1:
        raise DccSignatureInvalid(f"the DCC carries {len(signatures)} ds:Signature elements; one is accepted")
    [signature] = signatures
    if signature.getparent() is not root:
        raise DccSignatureInvalid("the ds:Signature is not a child of the DCC's root element (not enveloped)")
    method_el = signature.find(f"{_ds('SignedInfo')}/{_ds('SignatureMethod')}")
    if method_el is not None and method_el.get("Algorithm") == ED25519_SIGNATURE_METHOD:
        return _verify_ed25519(data, lab_keys, at)
    method, references, xades_refs = _check_signed_info(root, signature)
    certs = _x509_data(signature)
    signer = _signer_certificate(certs)

    config_type = XAdESSignatureConfiguration if xades_refs else SignatureConfiguration
    config = config_type(
        location="./",
        expect_references=len(references),
        signature_methods=ACCEPTED_SIGNATURE_METHODS,
        digest_algorithms=ACCEPTED_DIGESTS,
        # The chain (validity included) is checked below at the signing time; signxml's own validity check of the
        # certificate it is given is satisfied here so that a changed document reads as such, whatever the time.
        verification_time=signer.not_valid_before_utc,
    )
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        if xades_refs:
            results: Any = XAdESVerifier().verify(data, x509_cert=signer, parser=parser, expect_config=config)
        else:
            results = XMLVerifier().verify(data, x509_cert=signer, parser=parser, expect_config=config)
    except InvalidDigest as exc:
        raise DccSignatureInvalid(
            f"ds:Signature does not verify: {exc} (the DCC or its signed properties were changed after signing)"
        ) from exc
    except InvalidCertificate as exc:  # pragma: no cover - the validity check is satisfied above
        raise DccSignerUntrusted(f"ds:Signature: {exc}") from exc
    except (SignXMLException, InvalidSignature, ValueError) as exc:
        raise DccSignatureInvalid(f"ds:Signature does not verify: {exc}") from exc
    results = results if isinstance(results, list) else [results]
    if len(results) != len(references):  # pragma: no cover - signxml checks expect_references
        raise DccSignatureInvalid(f"ds:Signature: {len(results)} of {len(references)} references verified")

    signing_time, source = _signing_time(results, at)
    form = "XMLDSig"
    if xades_refs:
        x = f"{{{XADES_NS}}}"
        unsigned = signature.find(
            f"{_ds('Object')}/{x}QualifyingProperties/{x}UnsignedProperties/{x}UnsignedSignatureProperties"
        )
        long_term = unsigned is not None and all(
            unsigned.find(f"{{{XADES_NS}}}{part}") is not None for part in ("CertificateValues", "RevocationValues")
        )
        form = "XAdES-LT" if long_term else "XAdES"

    pool = certs + _embedded(signature, "CertificateValues/{x}EncapsulatedX509Certificate", _load_cert)
    chain = _build_chain(signer, pool, trust, signing_time)
    crls = list(trust.crls) + _embedded(signature, "RevocationValues/{x}CRLValues/{x}EncapsulatedCRLValue", _load_crl)
    responses = _embedded(signature, "RevocationValues/{x}OCSPValues/{x}EncapsulatedOCSPValue", _load_ocsp)
    proven = (proven_by or dt.datetime.now(dt.UTC)) if source == _CLAIMED else None
    checked = _check_revocation(chain, crls, responses, pool, signing_time, proven)
    return SignatureReport(
        form=form,
        signer=_subject(signer),
        signing_time=signing_time,
        time_source=source,
        chain=tuple(_subject(c) for c in chain),
        algorithm=method,
        references=len(references),
        revocation_checked=tuple(checked),
    )


# ---------------------------------------------------------------------- a lab's Ed25519 signature


def _faithful_tree(data: bytes) -> etree._ElementTree:
    """The document as signed: comments and processing instructions kept (``parse_dcc`` drops them, but a PI is
    part of what ``URI=""`` signs); to be called only on bytes :func:`parse_dcc` accepted (no DTD, no entities)."""
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
    )
    return etree.fromstring(data, parser=parser).getroottree()


def _c14n_params(element: etree._Element | None, what: str) -> tuple[bool, bool, list[str] | None]:
    """(exclusive, with comments, InclusiveNamespaces PrefixList) of a CanonicalizationMethod or Transform."""
    algorithm = element.get("Algorithm", "") if element is not None else ""
    if algorithm not in _LXML_C14N:
        raise DccSignatureInvalid(
            f"{what} {algorithm!r} is refused with Ed25519 (c14n 1.0 or exclusive c14n 1.0 only)"
        )
    exclusive, comments = _LXML_C14N[algorithm]
    prefixes = None
    if exclusive and element is not None:
        inclusive = element.find(f"{{{_EXC_C14N}}}InclusiveNamespaces")
        if inclusive is not None:
            prefixes = [p for p in inclusive.get("PrefixList", "").split() if p != "#default"]
    return exclusive, comments, prefixes


def _enveloped_digest(tree: etree._ElementTree, exclusive: bool, prefixes: list[str] | None, method: str) -> bytes:
    """The digest of ``URI=""`` after the enveloped-signature transform: the document without the root's
    ``ds:Signature`` (its following text stays, as the transform removes only the element's nodes), comments
    excluded (``URI=""`` drops them), canonicalized."""
    document = copy.deepcopy(tree)
    root = document.getroot()
    signature = root.find(_ds("Signature"))
    if signature is not None:
        tail = signature.tail
        previous = signature.getprevious()
        if tail:
            if previous is not None:
                previous.tail = (previous.tail or "") + tail
            else:
                root.text = (root.text or "") + tail
        root.remove(signature)
    canonical = etree.tostring(
        document, method="c14n", exclusive=exclusive, with_comments=False, inclusive_ns_prefixes=prefixes
    )
    return hashlib.new(_HASHLIB_NAMES[method], canonical).digest()


_HASHLIB_NAMES = {
    DigestAlgorithm.SHA224.value: "sha224",
    DigestAlgorithm.SHA256.value: "sha256",
    DigestAlgorithm.SHA384.value: "sha384",
    DigestAlgorithm.SHA512.value: "sha512",
    DigestAlgorithm.SHA3_224.value: "sha3_224",
    DigestAlgorithm.SHA3_256.value: "sha3_256",
    DigestAlgorithm.SHA3_384.value: "sha3_384",
    DigestAlgorithm.SHA3_512.value: "sha3_512",
}


def _signed_info_c14n(
    signed_info: etree._Element, exclusive: bool, comments: bool, prefixes: list[str] | None
) -> bytes:
    """``ds:SignedInfo`` canonicalized in the context of its document (as XMLDSig requires): lxml renders the
    namespaces in scope; inclusive c14n 1.0 also makes the apex inherit the ancestors' ``xml:*`` attributes
    (C14N 1.0 §2.4), which lxml does not, so they are copied onto it first (in a copy of the document)."""
    if not exclusive:
        inherited: dict[str, str] = {}
        for ancestor in signed_info.iterancestors():
            for name, value in ancestor.attrib.items():
                if name.startswith(f"{{{_XML_NS}}}") and name not in signed_info.attrib:
                    inherited.setdefault(name, value)
        if inherited:
            document = copy.deepcopy(signed_info.getroottree())
            path = signed_info.getroottree().getpath(signed_info)
            [signed_info] = document.xpath(path)
            for name, value in inherited.items():
                signed_info.set(name, value)
    return etree.tostring(
        signed_info, method="c14n", exclusive=exclusive, with_comments=comments, inclusive_ns_prefixes=prefixes
    )


def _base64(element: etree._Element | None, what: str) -> bytes:
    if element is None:
        raise DccSignatureInvalid(f"ds:Signature has no {what}")
    try:
        return b64decode("".join((element.text or "").split()), validate=True)
    except ValueError as exc:
        raise DccSignatureInvalid(f"{what} is not base64: {exc}") from exc


def _ed25519_public_key(signature: etree._Element) -> bytes:
    """The signer's raw public key from ``dsig11:DEREncodedKeyValue``; a ``ds:KeyName`` of the form ``0x…``
    must be its key id."""
    values = signature.findall(f"{_ds('KeyInfo')}/{{{DSIG11_NS}}}DEREncodedKeyValue")
    if len(values) != 1:
        raise DccSignatureInvalid(
            f"ds:KeyInfo holds {len(values)} dsig11:DEREncodedKeyValue elements; the Ed25519 signer's key is one"
        )
    try:
        key = load_der_public_key(_base64(values[0], "dsig11:DEREncodedKeyValue"))
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise DccSignatureInvalid(f"dsig11:DEREncodedKeyValue is not a public key: {exc}") from exc
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise DccSignatureInvalid("dsig11:DEREncodedKeyValue is not an Ed25519 public key")
    public = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = to_hex(key_id(public))
    for name in signature.iterfind(f"{_ds('KeyInfo')}/{_ds('KeyName')}"):
        text = (name.text or "").strip()
        if text.startswith("0x") and text.lower() != kid:
            raise DccSignatureInvalid(f"ds:KeyName {text} is not the key id of the signature's key ({kid})")
    return public


def _verify_ed25519(
    data: bytes, lab_keys: Collection[bytes] | Callable[[bytes], bool] | None, at: dt.datetime | None
) -> SignatureReport:
    """Verify the root's one Ed25519 ``ds:Signature`` (see the module docstring); the caller checked there is
    exactly one and that it is the root's child."""
    tree = _faithful_tree(data)
    signature = tree.getroot().find(_ds("Signature"))
    assert signature is not None  # parse_dcc's tree had it, and only comments and PIs differ
    signed_info = signature.find(_ds("SignedInfo"))
    assert signed_info is not None  # the signature method was found in it
    exclusive, comments, prefixes = _c14n_params(
        signed_info.find(_ds("CanonicalizationMethod")), "ds:SignedInfo's CanonicalizationMethod"
    )
    references = signed_info.findall(_ds("Reference"))
    if len(references) != 1:
        raise DccSignatureInvalid(
            f"an Ed25519 ds:Signature has {len(references)} ds:Reference elements; one, over the whole DCC, is accepted"
        )
    [reference] = references
    if reference.get("URI") != "":
        raise DccSignatureInvalid(
            f"ds:Reference URI={reference.get('URI')!r} does not sign the whole DCC (URI=\"\" is required): a "
            "signature over a part of the DCC does not sign the DCC"
        )
    transforms = reference.findall(f"{_ds('Transforms')}/{_ds('Transform')}")
    if not transforms or transforms[0].get("Algorithm") != _ENVELOPED or len(transforms) > 2:
        raise DccSignatureInvalid(
            "ds:Reference's transforms must be the enveloped-signature transform, optionally followed by one "
            "canonicalization"
        )
    ref_exclusive, ref_prefixes = False, None
    if len(transforms) == 2:
        ref_exclusive, _, ref_prefixes = _c14n_params(transforms[1], "ds:Reference's transform")
    digest_el = reference.find(_ds("DigestMethod"))
    digest_method = digest_el.get("Algorithm", "") if digest_el is not None else ""
    if digest_method not in _HASHLIB_NAMES:
        raise DccSignatureInvalid(f"ds:Reference's DigestMethod {digest_method!r} is refused (weak or unsupported)")
    stated = _base64(reference.find(_ds("DigestValue")), "ds:DigestValue")
    value = _base64(signature.find(_ds("SignatureValue")), "ds:SignatureValue")
    public = _ed25519_public_key(signature)
    actual = _enveloped_digest(tree, ref_exclusive, ref_prefixes, digest_method)
    if not hmac.compare_digest(actual, stated):
        raise DccSignatureInvalid(
            "ds:Signature does not verify: the DCC's digest does not match ds:DigestValue (the DCC was changed "
            "after signing)"
        )
    try:
        nacl.signing.VerifyKey(public).verify(_signed_info_c14n(signed_info, exclusive, comments, prefixes), value)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError) as exc:
        raise DccSignatureInvalid(
            "ds:Signature does not verify: the Ed25519 signature value does not match ds:SignedInfo"
        ) from exc
    kid = to_hex(key_id(public))
    accepted = lab_keys is not None and (lab_keys(public) if callable(lab_keys) else public in lab_keys)
    if not accepted:
        why = "no lab keys were given to judge it" if lab_keys is None else "it is not a key of the lab"
        raise DccSignerUntrusted(
            f"the DCC is signed with the Ed25519 key {kid}, but {why}",
            [FieldError("ds:Signature/ds:KeyInfo", LAB_KEY_RULE, f"key {kid} is not a key of the lab")],
        )
    signing_time, source = _signing_time([], at)
    return SignatureReport(
        form="XMLDSig-Ed25519",
        signer=kid,
        signing_time=signing_time,
        time_source=source,
        chain=(),
        algorithm=ED25519_SIGNATURE_METHOD,
        references=1,
    )


def sign_dcc(xml: bytes, key: SigningKey, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Sign a DCC with a lab's Ed25519 key: an enveloped ``ds:Signature`` appended as the root's last child, in
    the shape the module docstring gives (one reference ``URI=""``, exclusive c14n, SHA-256, RFC 9231 Ed25519).

    The DCC's bytes are kept as they are, comments and processing instructions included (the XML declaration
    is written as ``<?xml version='1.0' encoding='UTF-8'?>``). The lab key signs the canonicalized SignedInfo,
    XML that cannot be mistaken for the 32-byte certificate digests the same key signs. The result is not
    validated here (:func:`~tracecert.certificate.dcc.export.export_dcc` validates what it signs).

    Raises:
        DccSignatureInvalid: the DCC already carries a ``ds:Signature``.
        DccSignedOldSchema: a DCC 3.0 or 3.1, whose schema has no signature.
        DccError: the XML is not a readable DCC (see :func:`~tracecert.certificate.dcc.schema.parse_dcc`).
    """
    parsed, version = parse_dcc(xml, max_bytes=max_bytes)
    if version not in SIGNED_SCHEMA_VERSIONS:
        raise DccSignedOldSchema(f"DCC {version} has no ds:Signature; sign a DCC {SIGNED_SCHEMA_VERSIONS[0]} or later")
    if next(parsed.getroot().iter(_ds("Signature")), None) is not None:
        raise DccSignatureInvalid("the DCC already carries a ds:Signature; one is accepted")
    tree = _faithful_tree(xml)
    root = tree.getroot()
    signature = etree.SubElement(root, _ds("Signature"), nsmap={"ds": DS_NS})
    signed_info = etree.SubElement(signature, _ds("SignedInfo"))
    etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=_EXC_C14N)
    etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=ED25519_SIGNATURE_METHOD)
    reference = etree.SubElement(signed_info, _ds("Reference"), URI="")
    transforms = etree.SubElement(reference, _ds("Transforms"))
    etree.SubElement(transforms, _ds("Transform"), Algorithm=_ENVELOPED)
    etree.SubElement(transforms, _ds("Transform"), Algorithm=_EXC_C14N)
    etree.SubElement(reference, _ds("DigestMethod"), Algorithm=_SHA256)
    digest_value = etree.SubElement(reference, _ds("DigestValue"))
    signature_value = etree.SubElement(signature, _ds("SignatureValue"))
    key_info = etree.SubElement(signature, _ds("KeyInfo"))
    etree.SubElement(key_info, _ds("KeyName")).text = to_hex(key.key_id)
    spki = ed25519.Ed25519PublicKey.from_public_bytes(key.public_key).public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    etree.SubElement(key_info, f"{{{DSIG11_NS}}}DEREncodedKeyValue", nsmap={"dsig11": DSIG11_NS}).text = (
        b64encode(spki).decode("ascii")
    )
    digest_value.text = b64encode(_enveloped_digest(tree, True, None, _SHA256)).decode("ascii")
    signed = _signed_info_c14n(signed_info, exclusive=True, comments=False, prefixes=None)
    signature_value.text = b64encode(key.sign_message(signed)).decode("ascii")
    out: bytes = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    return out


# ---------------------------------------------------------------------- what is signed


def _check_signed_info(root: etree._Element, signature: etree._Element) -> tuple[str, list[etree._Element], int]:
    """Return (signature method URI, references, how many sign XAdES SignedProperties); refuse weak algorithms,
    other transforms, and references that do not cover the whole document or the signature's signed properties."""
    signed_info = signature.find(_ds("SignedInfo"))
    if signed_info is None:
        raise DccSignatureInvalid("ds:Signature has no ds:SignedInfo")
    method_el = signed_info.find(_ds("SignatureMethod"))
    method = method_el.get("Algorithm", "") if method_el is not None else ""
    if method not in {m.value for m in ACCEPTED_SIGNATURE_METHODS}:
        raise DccSignatureInvalid(
            f"ds:SignatureMethod {method!r} is refused (weak or unsupported: SHA-1, DSA and HMAC are not accepted)"
        )
    c14n_el = signed_info.find(_ds("CanonicalizationMethod"))
    if c14n_el is None or c14n_el.get("Algorithm") not in _C14N:
        raise DccSignatureInvalid("ds:SignedInfo's CanonicalizationMethod is missing or not a canonicalization")
    references = signed_info.findall(_ds("Reference"))
    if not references:
        raise DccSignatureInvalid("ds:SignedInfo has no ds:Reference")
    whole, xades = False, 0
    for index, ref in enumerate(references):
        name = f"ds:Reference {index} (URI={ref.get('URI')!r})"
        digest_el = ref.find(_ds("DigestMethod"))
        digest = digest_el.get("Algorithm", "") if digest_el is not None else ""
        if digest not in {d.value for d in ACCEPTED_DIGESTS}:
            raise DccSignatureInvalid(f"{name}: DigestMethod {digest!r} is refused (weak or unsupported)")
        transforms = [t.get("Algorithm", "") for t in ref.iterfind(f"{_ds('Transforms')}/{_ds('Transform')}")]
        odd = [t for t in transforms if t != _ENVELOPED and t not in _C14N]
        if odd:
            raise DccSignatureInvalid(f"{name}: transform {odd[0]!r} is refused (only enveloped-signature and c14n)")
        uri = ref.get("URI")
        if uri == "":
            if _ENVELOPED not in transforms:
                raise DccSignatureInvalid(f"{name} signs the document without the enveloped-signature transform")
            whole = True
        elif uri is not None and uri.startswith("#") and _is_signed_properties(root, signature, uri[1:]):
            xades += 1
        elif uri is not None and uri.startswith("#") and _is_own_key_info(root, signature, uri[1:]):
            pass  # the signer's certificate, signed too (XAdES signers do this); the DCC is signed by URI=""
        else:
            raise DccSignatureInvalid(
                f"{name} signs something other than the whole DCC or the signature's XAdES SignedProperties: "
                "a signature over a part of the DCC does not sign the DCC"
            )
    if not whole:
        raise DccSignatureInvalid('ds:Signature has no ds:Reference URI="" over the whole DCC')
    return method, references, xades


def _only_element_with_id(root: etree._Element, target: str) -> etree._Element | None:
    """The one element whose Id (any of the Id attributes) is ``target``; None for none or several (an Id met
    twice is how a signature is wrapped around other content)."""
    matches = [
        el
        for el in root.iter(etree.Element)
        if any(el.get(a) == target for a in _ID_ATTRIBUTES) or el.get(_XML_ID) == target
    ]
    return matches[0] if len(matches) == 1 else None


def _is_own_key_info(root: etree._Element, signature: etree._Element, target: str) -> bool:
    """Whether ``target`` is the Id of this signature's own ds:KeyInfo, or of an element in it."""
    element = _only_element_with_id(root, target)
    key_info = signature.find(_ds("KeyInfo"))
    if element is None or key_info is None:
        return False
    return element is key_info or any(a is key_info for a in element.iterancestors())


def _is_signed_properties(root: etree._Element, signature: etree._Element, target: str) -> bool:
    """Whether ``target`` is the Id of XAdES SignedProperties inside this signature."""
    element = _only_element_with_id(root, target)
    if element is None:
        return False
    if element.tag not in (f"{{{XADES_NS}}}SignedProperties", f"{{{_XADES_141_NS}}}SignedProperties"):
        return False
    return any(ancestor is signature for ancestor in element.iterancestors())


def _signing_time(results: list[Any], at: dt.datetime | None) -> tuple[dt.datetime, str]:
    for result in results:
        props = getattr(result, "signed_properties", None)
        if props is None:
            continue
        element = props.find(f"{{{XADES_NS}}}SigningTime")
        if element is None or not (element.text or "").strip():
            break
        try:
            return _utc(dt.datetime.fromisoformat(element.text.strip())), _CLAIMED
        except ValueError as exc:
            raise DccSignatureInvalid(f"xades:SigningTime {element.text!r} is not an ISO 8601 time") from exc
    if at is not None:
        return _utc(at), "given"
    return dt.datetime.now(dt.UTC), "now"


# ---------------------------------------------------------------------- certificates


def _load_cert(data: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(data)


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(data)


def _load_ocsp(data: bytes) -> ocsp.OCSPResponse:
    return ocsp.load_der_ocsp_response(data)


def _x509_data(signature: etree._Element) -> list[x509.Certificate]:
    certs = []
    for element in signature.iterfind(f"{_ds('KeyInfo')}/{_ds('X509Data')}/{_ds('X509Certificate')}"):
        try:
            certs.append(_load_cert(b64decode("".join((element.text or "").split()), validate=True)))
        except ValueError as exc:
            raise DccSignatureInvalid(f"ds:X509Certificate is not a DER certificate: {exc}") from exc
    if not certs:
        raise DccSignatureInvalid("ds:Signature carries no ds:X509Certificate (the signer cannot be identified)")
    return certs


def _embedded(signature: etree._Element, path: str, load: Any) -> list[Any]:
    """Certificates, CRLs or OCSP responses in the XAdES unsigned properties; unreadable ones are skipped (they
    are not signed: they can only help to build or check a chain, each on its own signature)."""
    base = (
        f"{_ds('Object')}/{{{XADES_NS}}}QualifyingProperties/{{{XADES_NS}}}UnsignedProperties/"
        f"{{{XADES_NS}}}UnsignedSignatureProperties/{{{XADES_NS}}}"
    )
    found = []
    for element in signature.iterfind(base + path.format(x=f"{{{XADES_NS}}}")):
        try:
            found.append(load(b64decode("".join((element.text or "").split()), validate=True)))
        except ValueError:
            continue
    return found


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _signer_certificate(certs: list[x509.Certificate]) -> x509.Certificate:
    """The one certificate of ``ds:X509Data`` that issued none of the others (the rest are its chain)."""
    leaves = [c for c in certs if not any(o is not c and o.issuer == c.subject and _issued_by(o, c) for o in certs)]
    if len(leaves) != 1:
        raise DccSignatureInvalid(
            f"ds:X509Data holds {len(certs)} certificates of which {len(leaves)} could be the signer's; one is needed"
        )
    return leaves[0]


def _extension(cert: x509.Certificate, kind: type[Any]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _valid_at(cert: x509.Certificate, when: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= when <= cert.not_valid_after_utc


def _signer_problem(cert: x509.Certificate, when: dt.datetime) -> str | None:
    if not _valid_at(cert, when):
        return (
            f"the signer certificate {_subject(cert)!r} is valid {_iso(cert.not_valid_before_utc)} .. "
            f"{_iso(cert.not_valid_after_utc)}, not at {_iso(when)}"
        )
    usage = _extension(cert, x509.KeyUsage)
    if usage is not None and not (usage.digital_signature or usage.content_commitment):
        return f"the signer certificate {_subject(cert)!r} may not sign (no digitalSignature or nonRepudiation)"
    return None


def _issuer_problem(cert: x509.Certificate, issuer: x509.Certificate, below: int, when: dt.datetime) -> str | None:
    """Why ``issuer`` cannot have issued ``cert`` at ``when`` (``below``: CA certificates under it), or None."""
    name = _subject(issuer)
    if not _valid_at(issuer, when):
        return (
            f"{name!r} is valid {_iso(issuer.not_valid_before_utc)} .. {_iso(issuer.not_valid_after_utc)}, "
            f"not at {_iso(when)}"
        )
    constraints = _extension(issuer, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        return f"{name!r} is not a CA (basicConstraints)"
    if constraints.path_length is not None and below > constraints.path_length:
        return f"{name!r} allows {constraints.path_length} CA certificates below it, the chain has {below}"
    usage = _extension(issuer, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        return f"{name!r} may not sign certificates (keyUsage without keyCertSign)"
    if isinstance(cert.signature_hash_algorithm, _WEAK_HASHES):
        return f"{_subject(cert)!r} is signed with {cert.signature_hash_algorithm.name} (refused)"
    if not _issued_by(cert, issuer):
        return f"{_subject(cert)!r} is not signed by {name!r}"
    return None


def _build_chain(
    signer: x509.Certificate, pool: Sequence[x509.Certificate], trust: TrustStore, when: dt.datetime
) -> list[x509.Certificate]:
    """The chain from ``signer`` to a trust anchor, every link checked at ``when``.

    Raises:
        DccSignerUntrusted: no such chain (the message says the first reason a candidate failed).
    """
    if trust.is_empty:
        raise DccSignerUntrusted(
            f"the DCC is signed by {_subject(signer)!r}, but no DCC trust anchors are configured: configure the "
            "trust store with the certificate of the CA that issues the signers' certificates"
        )
    problem = _signer_problem(signer, when)
    if problem is not None:
        raise DccSignerUntrusted(f"{problem} (the signing time)")
    anchors = [a.public_bytes(_DER) for a in trust.anchors]
    candidates = [*trust.anchors, *trust.intermediates, *pool]
    reasons: list[str] = []

    def extend(chain: list[x509.Certificate]) -> list[x509.Certificate] | None:
        current = chain[-1]
        if current.public_bytes(_DER) in anchors:
            return chain
        if len(chain) >= _MAX_CHAIN:
            reasons.append(f"the chain is longer than {_MAX_CHAIN}")
            return None
        seen = {c.public_bytes(_DER) for c in chain}
        tried: set[bytes] = set()
        for issuer in candidates:
            der = issuer.public_bytes(_DER)
            if issuer.subject != current.issuer or der in seen or der in tried:
                continue
            tried.add(der)
            problem = _issuer_problem(current, issuer, len(chain) - 1, when)
            if problem is not None:
                reasons.append(problem)
                continue
            found = extend([*chain, issuer])
            if found is not None:
                return found
        if not tried:
            reasons.append(f"no certificate of {current.issuer.rfc4514_string()!r} is known")
        return None

    chain = extend([signer])
    if chain is None:
        why = reasons[0] if reasons else "no path"
        raise DccSignerUntrusted(
            f"the signer {_subject(signer)!r} does not chain to a trust anchor at {_iso(when)}: {why}"
        )
    return chain


# ---------------------------------------------------------------------- revocation


def _verified(key: Any, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return True


def _crl_speaks(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    if crl.issuer != issuer.subject:
        return False
    usage = _extension(issuer, x509.KeyUsage)
    if usage is not None and not usage.crl_sign:
        return False
    try:
        return bool(crl.is_signature_valid(issuer.public_key()))  # type: ignore[arg-type]
    except (TypeError, ValueError, UnsupportedAlgorithm):
        return False


def _ocsp_speaks(response: ocsp.OCSPResponse, issuer: x509.Certificate, pool: Sequence[x509.Certificate]) -> bool:
    """The response is signed by ``issuer`` or by a responder ``issuer`` delegated (id-kp-OCSPSigning)."""
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return False
    signers = [issuer]
    for cert in [*response.certificates, *pool]:
        eku = _extension(cert, x509.ExtendedKeyUsage)
        if eku is not None and ExtendedKeyUsageOID.OCSP_SIGNING in eku and _issued_by(cert, issuer):
            signers.append(cert)
    algorithm = response.signature_hash_algorithm
    return any(_verified(s.public_key(), response.signature, response.tbs_response_bytes, algorithm) for s in signers)


def _check_revocation(
    chain: list[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
    responses: Sequence[ocsp.OCSPResponse],
    pool: Sequence[x509.Certificate],
    when: dt.datetime,
    proven_by: dt.datetime | None = None,
) -> list[str]:
    """Refuse a chain with a certificate revoked at or before ``when``, or — ``when`` being only claimed —
    revoked for key compromise (or no stated reason) before ``proven_by``; return which revocation data spoke.

    Raises:
        DccSignerRevoked: a CRL or OCSP response signed by the certificate's issuer revokes it so.
    """
    spoke: list[str] = []

    def cut_off(reason: x509.ReasonFlags | None) -> tuple[dt.datetime, str]:
        if proven_by is not None and proven_by > when and reason in _COMPROMISE:
            return proven_by, f"before the DCC was proven to exist ({_iso(proven_by)}; its signing time is claimed)"
        return when, f"before the signing time {_iso(when)}"

    for cert, issuer in itertools.pairwise(chain):
        for crl in crls:
            if not _crl_speaks(crl, issuer):
                continue
            spoke.append(f"CRL of {_subject(issuer)} ({_iso(crl.last_update_utc)})")
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is None:
                continue
            reason = _revocation_reason(entry)
            limit, said = cut_off(reason)
            if entry.revocation_date_utc > limit or reason is x509.ReasonFlags.remove_from_crl:
                continue
            raise DccSignerRevoked(
                f"{_subject(cert)!r} (serial {cert.serial_number:x}) was revoked on {_iso(entry.revocation_date_utc)}"
                f"{f' ({reason.value})' if reason else ''}, {said}, by the CRL of {_subject(issuer)!r}"
            )
        for response in responses:
            for single in response.responses:
                if single.serial_number != cert.serial_number or not _same_issuer(single, cert, issuer):
                    continue
                if not _ocsp_speaks(response, issuer, pool):
                    continue
                spoke.append(f"OCSP for {_subject(cert)} ({_iso(single.this_update_utc)})")
                revoked_at = single.revocation_time_utc
                if single.certificate_status is not ocsp.OCSPCertStatus.REVOKED or revoked_at is None:
                    continue
                limit, said = cut_off(single.revocation_reason)
                if revoked_at <= limit:
                    raise DccSignerRevoked(
                        f"{_subject(cert)!r} (serial {cert.serial_number:x}) was revoked on {_iso(revoked_at)}, "
                        f"{said}, says an OCSP response of {_subject(issuer)!r}'s responder"
                    )
    return spoke


_CLAIMED = "xades:SigningTime"
#: Revocation reasons after which nothing the key signed can be dated by the signer's own word (no reason stated
#: counts as the worst).
_COMPROMISE = {None, x509.ReasonFlags.unspecified, x509.ReasonFlags.key_compromise, x509.ReasonFlags.ca_compromise}


def _revocation_reason(entry: x509.RevokedCertificate) -> x509.ReasonFlags | None:
    try:
        reason: x509.ReasonFlags = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None
    return reason


def _same_issuer(single: ocsp.OCSPSingleResponse, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, single.hash_algorithm).build()
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return (request.issuer_key_hash, request.issuer_name_hash) == (single.issuer_key_hash, single.issuer_name_hash)
