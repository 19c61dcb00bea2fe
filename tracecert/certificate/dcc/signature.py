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
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from base64 import b64decode
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, SignXMLException
from signxml.xades import XAdESSignatureConfiguration, XAdESVerifier

from tracecert.certificate.dcc.schema import DEFAULT_MAX_BYTES, DS_NS, parse_dcc
from tracecert.certificate.errors import DccSignatureInvalid, DccSignerRevoked, DccSignerUntrusted

__all__ = [
    "ACCEPTED_DIGESTS",
    "ACCEPTED_SIGNATURE_METHODS",
    "SignatureReport",
    "TrustStore",
    "looks_like_dcc",
    "verify_dcc_signature",
]

XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"
_XADES_141_NS = "http://uri.etsi.org/01903/v1.4.1#"
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
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

    #: ``XAdES-LT`` (signed properties, embedded certificates and revocation data), ``XAdES`` or ``XMLDSig``.
    form: str
    #: The signer certificate's subject (RFC 4514).
    signer: str
    signing_time: dt.datetime
    #: Where the signing time comes from: ``xades:SigningTime`` (signed), ``given`` (the caller's) or ``now``.
    time_source: str
    #: The chain's subjects, signer first, trust anchor last.
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
    data: bytes, trust: TrustStore, *, at: dt.datetime | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> SignatureReport | None:
    """Verify a DCC's enveloped XML signature offline; ``None`` when the DCC has no ``ds:Signature``.

    ``at`` is the time a signature without ``xades:SigningTime`` is judged at (default: now); a signed
    SigningTime takes precedence.

    Raises:
        DccSignatureInvalid: a digest or the signature value does not match, the signature is malformed, uses a
            refused algorithm or transform, is not the root's only one, or does not cover the whole DCC.
        DccSignerUntrusted: no chain from the signer to a trust anchor valid at the signing time (or no anchors).
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
    checked = _check_revocation(chain, crls, responses, pool, signing_time)
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
        else:
            raise DccSignatureInvalid(
                f"{name} signs something other than the whole DCC or the signature's XAdES SignedProperties: "
                "a signature over a part of the DCC does not sign the DCC"
            )
    if not whole:
        raise DccSignatureInvalid('ds:Signature has no ds:Reference URI="" over the whole DCC')
    return method, references, xades


def _is_signed_properties(root: etree._Element, signature: etree._Element, target: str) -> bool:
    matches = [
        el
        for el in root.iter(etree.Element)
        if any(el.get(a) == target for a in _ID_ATTRIBUTES) or el.get(_XML_ID) == target
    ]
    if len(matches) != 1:
        return False
    [element] = matches
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
            return _utc(dt.datetime.fromisoformat(element.text.strip())), "xades:SigningTime"
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
) -> list[str]:
    """Refuse a chain with a certificate revoked at or before ``when``; return which revocation data spoke.

    Raises:
        DccSignerRevoked: a CRL or OCSP response signed by the certificate's issuer revokes it before ``when``.
    """
    spoke: list[str] = []
    for cert, issuer in itertools.pairwise(chain):
        for crl in crls:
            if not _crl_speaks(crl, issuer):
                continue
            spoke.append(f"CRL of {_subject(issuer)} ({_iso(crl.last_update_utc)})")
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is None or entry.revocation_date_utc > when:
                continue
            reason = _revocation_reason(entry)
            if reason is x509.ReasonFlags.remove_from_crl:
                continue
            raise DccSignerRevoked(
                f"{_subject(cert)!r} (serial {cert.serial_number:x}) was revoked on {_iso(entry.revocation_date_utc)}"
                f"{f' ({reason.value})' if reason else ''}, before the signing time {_iso(when)}, by the CRL of "
                f"{_subject(issuer)!r}"
            )
        for response in responses:
            for single in response.responses:
                if single.serial_number != cert.serial_number or not _same_issuer(single, cert, issuer):
                    continue
                if not _ocsp_speaks(response, issuer, pool):
                    continue
                spoke.append(f"OCSP for {_subject(cert)} ({_iso(single.this_update_utc)})")
                revoked_at = single.revocation_time_utc
                if single.certificate_status is ocsp.OCSPCertStatus.REVOKED and revoked_at and revoked_at <= when:
                    raise DccSignerRevoked(
                        f"{_subject(cert)!r} (serial {cert.serial_number:x}) was revoked on {_iso(revoked_at)}, "
                        f"before the signing time {_iso(when)}, says an OCSP response of {_subject(issuer)!r}'s "
                        "responder"
                    )
    return spoke


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
