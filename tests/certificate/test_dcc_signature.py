"""Signed DCCs verified offline (tracecert.certificate.dcc.signature): the shared signed examples against their
trust anchors, at their signing time or a given one; algorithms, references and revocation on DCCs signed here."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner

from tracecert.certificate.dcc.signature import SignatureReport, TrustStore, looks_like_dcc, verify_dcc_signature
from tracecert.certificate.errors import CertificateError

DATA = Path(__file__).parent / "data" / "dcc"
TRUST = DATA / "trust"
UTC = dt.UTC
#: Inside the dcclib test CA's validity (2026-01-06 .. 2027-01-06): tests keep passing after 2027.
IN_2026 = dt.datetime(2026, 6, 1, tzinfo=UTC)
BEFORE_CA = dt.datetime(2025, 1, 1, tzinfo=UTC)
PYDCC_SIGNING_TIME = dt.datetime(2023, 6, 20, 12, 12, 42, tzinfo=UTC)


def _read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _store(name: str) -> TrustStore:
    return {
        "pydcc-root": lambda: TrustStore.load([TRUST / "pydcc" / "root.crt"]),
        "pydcc-folder": lambda: TrustStore.load([TRUST / "pydcc"]),
        "dcclib": lambda: TrustStore.load([TRUST / "dcclib" / "ca.pem"]),
        "empty": TrustStore.empty,
    }[name]()


def _outcome(data: bytes, trust: TrustStore, at: dt.datetime | None = None) -> str | SignatureReport | None:
    try:
        return verify_dcc_signature(data, trust, at=at)
    except CertificateError as exc:
        return exc.code


# ---------------------------------------------------------------------- the shared examples


@pytest.mark.parametrize(
    ("file", "store", "at", "expected"),
    [
        ("gp-temperature-typical-3.2.0-signed-lt.xml", "pydcc-root", None, "OK"),
        # the signer expired in 2024: judged at its signed SigningTime, whatever `at` says
        ("gp-temperature-typical-3.2.0-signed-lt.xml", "pydcc-root", IN_2026, "OK"),
        ("gp-temperature-typical-3.2.0-signed-lt.xml", "pydcc-folder", None, "OK"),
        ("gp-temperature-typical-3.2.0-signed-lt-revoked-signer.xml", "pydcc-root", None, "DCC_SIGNER_REVOKED"),
        ("dcclib-3.3.0-signed.xml", "dcclib", IN_2026, "OK"),
        ("dcclib-3.3.0-signed-tampered.xml", "dcclib", IN_2026, "DCC_SIGNATURE_INVALID"),
        # before the CA existed
        ("dcclib-3.3.0-signed.xml", "dcclib", BEFORE_CA, "DCC_SIGNER_UNTRUSTED"),
        # forged trust: a signature checked against another ecosystem's anchor
        ("dcclib-3.3.0-signed.xml", "pydcc-root", IN_2026, "DCC_SIGNER_UNTRUSTED"),
        ("gp-temperature-typical-3.2.0-signed-lt.xml", "dcclib", None, "DCC_SIGNER_UNTRUSTED"),
        ("gp-temperature-typical-3.2.0-signed-lt.xml", "empty", None, "DCC_SIGNER_UNTRUSTED"),
        ("dcclib-3.3.0-valid.xml", "dcclib", IN_2026, None),
        ("ptb-example-3.0.0.xml", "dcclib", None, None),
        ("ptb-vacuumlab-CDG-3.1.1.xml", "empty", None, None),
        ("gp-temperature-typical-3.1.1.xml", "pydcc-root", None, None),
    ],
)
def test_shared_examples(file: str, store: str, at: dt.datetime | None, expected: str | None) -> None:
    outcome = _outcome(_read(file), _store(store), at)
    if expected == "OK":
        assert isinstance(outcome, SignatureReport), outcome
    else:
        assert outcome == expected


def test_xades_lt_report() -> None:
    report = verify_dcc_signature(_read("gp-temperature-typical-3.2.0-signed-lt.xml"), _store("pydcc-root"))
    assert report is not None
    assert report.form == "XAdES-LT"
    assert report.signer == "CN=Calibration Lab A1,O=Calibration A GmbH,C=DE"
    assert (report.signing_time, report.time_source) == (PYDCC_SIGNING_TIME, "xades:SigningTime")
    assert [c.split(",")[0] for c in report.chain] == [
        "CN=Calibration Lab A1",
        "CN=Calibration Community Sub CA 01",
        "CN=Calibration Community Root CA 01",
    ]
    assert report.algorithm == "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    assert report.references == 2
    assert any("CRL of CN=Calibration Community Sub CA 01" in r for r in report.revocation_checked)
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["signing_time"] == "2023-06-20T12:12:42Z" and as_json["chain"][0] == report.signer


@pytest.mark.parametrize(("at", "source"), [(IN_2026, "given"), (None, "now")])
def test_xmldsig_time_is_given_or_now(at: dt.datetime | None, source: str) -> None:
    data = _read("dcclib-3.3.0-signed.xml")
    if at is None and not (
        dt.datetime(2026, 1, 7, tzinfo=UTC) <= dt.datetime.now(UTC) <= dt.datetime(2027, 1, 5, tzinfo=UTC)
    ):
        assert _outcome(data, _store("dcclib")) == "DCC_SIGNER_UNTRUSTED"  # the test CA is not valid now
        return
    report = verify_dcc_signature(data, _store("dcclib"), at=at)
    assert report is not None
    assert (report.form, report.time_source, report.references) == ("XMLDSig", source, 1)
    assert report.signer.startswith("1.2.840.113549.1.9.1=example@ptb.de,CN=cert")
    if at is not None:
        assert report.signing_time == at


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("dcclib-3.3.0-signed-tampered.xml", "Digest mismatch for reference 0"),
        ("gp-temperature-typical-3.2.0-signed-lt-revoked-signer.xml", "Calibration Lab B1"),
        ("dcclib-3.3.0-signed.xml", "2025-01-01"),
    ],
)
def test_messages_say_what(file: str, expected: str) -> None:
    store = "pydcc-root" if file.startswith("gp") else "dcclib"
    with pytest.raises(CertificateError) as caught:
        verify_dcc_signature(_read(file), _store(store), at=BEFORE_CA if "signed.xml" in file else IN_2026)
    assert expected in caught.value.message


def _replace(old: str, new: str) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        assert old.encode() in data
        return data.replace(old.encode(), new.encode(), 1)

    return change


def _doctype(data: bytes) -> bytes:
    assert data.startswith(b"<dcc:")
    return b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n' + data


def _duplicate_signature(data: bytes) -> bytes:
    start, end = data.index(b"<ds:Signature"), data.index(b"</ds:Signature>") + len(b"</ds:Signature>")
    return data[:end] + data[start:end] + data[end:]


def _signature_nested(data: bytes) -> bytes:
    start, end = data.index(b"<ds:Signature"), data.index(b"</ds:Signature>") + len(b"</ds:Signature>")
    signature = data[start:end]
    rest = data[:start] + data[end:]
    anchor = rest.index(b"</dcc:administrativeData>")
    return rest[:anchor] + signature + rest[anchor:]


@pytest.mark.parametrize(
    ("file", "change", "code"),
    [
        # weak or refused algorithms are refused before anything is verified
        ("dcclib-3.3.0-signed.xml", _replace("xmldsig-more#rsa-sha256", "xmldsig#rsa-sha1"), "DCC_SIGNATURE_INVALID"),
        ("dcclib-3.3.0-signed.xml", _replace("2001/04/xmldsig-more#rsa-sha256", "2009/xmldsig11#dsa-sha256"),
         "DCC_SIGNATURE_INVALID"),
        ("dcclib-3.3.0-signed.xml", _replace("xmldsig-more#rsa-sha256", "xmldsig-more#hmac-sha256"),
         "DCC_SIGNATURE_INVALID"),
        ("dcclib-3.3.0-signed.xml", _replace("2001/04/xmlenc#sha256", "2000/09/xmldsig#sha1"),
         "DCC_SIGNATURE_INVALID"),
        ("dcclib-3.3.0-signed.xml",
         _replace('Transform Algorithm="http://www.w3.org/2006/12/xml-c14n11"',
                  'Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"'),
         "DCC_SIGNATURE_INVALID"),
        # a reference to something outside the document
        ("dcclib-3.3.0-signed.xml", _replace('Reference URI=""', 'Reference URI="http://example.org/dcc.xml"'),
         "DCC_SIGNATURE_INVALID"),
        # the signed SigningTime cannot be moved (e.g. before a revocation)
        ("gp-temperature-typical-3.2.0-signed-lt-revoked-signer.xml",
         _replace("2023-06-15T13:47:36Z", "2023-06-15T09:00:00Z"), "DCC_SIGNATURE_INVALID"),
        ("gp-temperature-typical-3.2.0-signed-lt.xml", _replace("2023-06-20T12:12:42Z", "2023-06-20T12:12:43Z"),
         "DCC_SIGNATURE_INVALID"),
        ("dcclib-3.3.0-signed.xml", _duplicate_signature, "DCC_SIGNATURE_INVALID"),
        ("dcclib-3.3.0-signed.xml", _signature_nested, "DCC_SIGNATURE_INVALID"),
        ("dcclib-3.3.0-signed.xml", _doctype, "XML_UNSAFE"),
    ],
)  # fmt: skip
def test_changed_signed_files_are_refused(file: str, change: Callable[[bytes], bytes], code: str) -> None:
    store = "pydcc-root" if file.startswith("gp") else "dcclib"
    assert _outcome(change(_read(file)), _store(store), IN_2026) == code


# ---------------------------------------------------------------------- trust store


def test_trust_store_reads_files_and_folders(tmp_path: Path) -> None:
    folder = TrustStore.load([TRUST / "pydcc"])
    assert [a.subject.rfc4514_string().split(",")[0] for a in folder.anchors] == ["CN=Calibration Community Root CA 01"]
    assert len(folder.intermediates) == 2 and not folder.crls
    der = tmp_path / "ca.cer"
    der.write_bytes(x509.load_pem_x509_certificate((TRUST / "dcclib" / "ca.pem").read_bytes()).public_bytes(
        serialization.Encoding.DER))  # fmt: skip
    assert len(TrustStore.load([der]).anchors) == 1
    assert TrustStore.empty().is_empty and not folder.is_empty


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.pem", None, "does not exist"),
        ("junk.pem", b"not a certificate", "holds no PEM or DER"),
        ("junk.crt", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "holds no PEM or DER"),
    ],
)
def test_trust_store_refuses_unreadable_files(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        TrustStore.load([path])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_read("dcclib-3.3.0-signed.xml"), True),
        (b"\xef\xbb\xbf\n  " + _read("ptb-example-3.0.0.xml"), True),
        (b"%PDF-1.7 https://ptb.de/dcc", False),
        (b"<html>nothing</html>", False),
    ],
)
def test_looks_like_dcc(data: bytes, expected: bool) -> None:
    assert looks_like_dcc(data) is expected


# ---------------------------------------------------------------------- DCCs signed here: chain and revocation

AT = dt.datetime(2030, 1, 1, tzinfo=UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool | None,
    usage: str,
    ocsp_signing: bool = False,
) -> x509.Certificate:
    flags = dict.fromkeys(
        ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
         "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"], False,
    )  # fmt: skip
    for flag in usage.split():
        flags[flag] = True
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(dt.datetime(2040, 1, 1, tzinfo=UTC))
        .add_extension(x509.KeyUsage(**flags), critical=True)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if ocsp_signing:
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class Pki:
    """A root CA, a signing CA under it and a signer, made here; DCCs signed with signxml."""

    def __init__(self, *, signer_usage: str = "digital_signature", sub_ca: bool | None = True) -> None:
        self.root_key, self.sub_key, self.key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
        self.root = _cert(
            "Test Root", self.root_key, "Test Root", self.root_key, ca=True, usage="key_cert_sign crl_sign"
        )
        self.sub = _cert("Test Sub", self.sub_key, "Test Root", self.root_key, ca=sub_ca,
                         usage="key_cert_sign crl_sign")  # fmt: skip
        self.signer = _cert("Test Signer", self.key, "Test Sub", self.sub_key, ca=False, usage=signer_usage)

    def sign(self, data: bytes, *, reference_uri: str | None = None) -> bytes:
        root = etree.fromstring(data)
        signed = XMLSigner(signature_algorithm="ecdsa-sha256").sign(
            root,
            key=self.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            cert=[c.public_bytes(serialization.Encoding.PEM).decode() for c in (self.signer, self.sub)],
            reference_uri=reference_uri,
        )
        return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")

    def crl(
        self, revoked_on: dt.datetime, *, key: ec.EllipticCurvePrivateKey | None = None
    ) -> x509.CertificateRevocationList:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(self.signer.serial_number)
            .revocation_date(revoked_on)
            .build()
        )
        return (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.sub.subject)
            .last_update(revoked_on)
            .next_update(revoked_on + dt.timedelta(days=30))
            .add_revoked_certificate(entry)
            .sign(key or self.sub_key, hashes.SHA256())
        )

    def ocsp(self, revoked_on: dt.datetime, *, delegated: bool = False, forged: bool = False) -> bytes:
        responder_key = ec.generate_private_key(ec.SECP256R1()) if delegated or forged else self.sub_key
        responder = (
            _cert("Test OCSP", responder_key, "Test Sub", self.sub_key if delegated else responder_key, ca=False,
                  usage="digital_signature", ocsp_signing=True)
            if delegated or forged
            else self.sub
        )  # fmt: skip
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=self.signer, issuer=self.sub, algorithm=hashes.SHA256(),
                cert_status=ocsp.OCSPCertStatus.REVOKED, this_update=revoked_on, next_update=None,
                revocation_time=revoked_on, revocation_reason=None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, responder)
        )  # fmt: skip
        if responder is not self.sub:
            builder = builder.certificates([responder])
        return builder.sign(responder_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _with_ocsp(signed: bytes, response: bytes) -> bytes:
    """Add an unsigned XAdES OCSPValues to the signature (unsigned properties: the signature stays valid)."""
    import base64

    x = "http://uri.etsi.org/01903/v1.3.2#"
    tree = etree.fromstring(signed)
    signature = tree.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    obj = etree.SubElement(signature, "{http://www.w3.org/2000/09/xmldsig#}Object")
    path = ["QualifyingProperties", "UnsignedProperties", "UnsignedSignatureProperties", "RevocationValues",
            "OCSPValues", "EncapsulatedOCSPValue"]  # fmt: skip
    node = obj
    for local in path:
        node = etree.SubElement(node, f"{{{x}}}{local}")
    node.text = base64.b64encode(response).decode()
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


UNSIGNED = _read("dcclib-3.3.0-valid.xml")
BEFORE, AFTER = AT - dt.timedelta(days=30), AT + dt.timedelta(days=30)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("valid", "OK"),
        ("signer-may-not-sign", "DCC_SIGNER_UNTRUSTED"),
        ("sub-not-a-ca", "DCC_SIGNER_UNTRUSTED"),
        ("sub-without-basic-constraints", "DCC_SIGNER_UNTRUSTED"),
        ("crl-revokes-before", "DCC_SIGNER_REVOKED"),
        ("crl-revokes-after", "OK"),  # a later revocation does not undo what was signed
        ("crl-forged", "OK"),  # a CRL not signed by the issuer says nothing
        ("ocsp-revokes-before", "DCC_SIGNER_REVOKED"),
        ("ocsp-delegated-revokes-before", "DCC_SIGNER_REVOKED"),
        ("ocsp-revokes-after", "OK"),
        ("ocsp-forged", "OK"),
        ("part-signed", "DCC_SIGNATURE_INVALID"),  # a signature over a part does not sign the DCC
        ("trust-only-the-signer", "DCC_SIGNER_UNTRUSTED"),  # an anchor is a self-issued CA certificate
    ],
)
def test_chain_and_revocation(case: str, expected: str) -> None:
    pki = Pki(
        signer_usage="key_encipherment" if case == "signer-may-not-sign" else "digital_signature",
        sub_ca=False if case == "sub-not-a-ca" else None if case == "sub-without-basic-constraints" else True,
    )
    crls = {
        "crl-revokes-before": [pki.crl(BEFORE)],
        "crl-revokes-after": [pki.crl(AFTER)],
        "crl-forged": [pki.crl(BEFORE, key=ec.generate_private_key(ec.SECP256R1()))],
    }.get(case, [])
    anchors = [pki.signer] if case == "trust-only-the-signer" else [pki.root]
    trust = TrustStore.of(anchors, crls)
    if case == "part-signed":
        data = pki.sign(UNSIGNED.replace(b"<dcc:administrativeData>", b'<dcc:administrativeData Id="part">', 1),
                        reference_uri="#part")  # fmt: skip
    else:
        data = pki.sign(UNSIGNED)
    response = {
        "ocsp-revokes-before": lambda: pki.ocsp(BEFORE),
        "ocsp-delegated-revokes-before": lambda: pki.ocsp(BEFORE, delegated=True),
        "ocsp-revokes-after": lambda: pki.ocsp(AFTER),
        "ocsp-forged": lambda: pki.ocsp(BEFORE, forged=True),
    }.get(case)
    if response is not None:
        data = _with_ocsp(data, response())
    outcome = _outcome(data, trust, AT)
    if expected == "OK":
        assert isinstance(outcome, SignatureReport), outcome
        assert outcome.chain == ("CN=Test Signer", "CN=Test Sub", "CN=Test Root")
        assert (outcome.form, outcome.signing_time, outcome.time_source) == ("XMLDSig", AT, "given")
    else:
        assert outcome == expected


def _xades(pki: Pki, data: bytes) -> tuple[bytes, dt.datetime]:
    """``data`` XAdES-signed by ``pki``'s signer now (signxml writes xades:SigningTime); with that time."""
    from signxml.xades import XAdESSigner

    signed = XAdESSigner(signature_algorithm="ecdsa-sha256").sign(
        etree.fromstring(data),
        key=pki.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        cert=[c.public_bytes(serialization.Encoding.PEM).decode() for c in (pki.signer, pki.sub)],
    )
    out = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    report = verify_dcc_signature(out, TrustStore.of([pki.root], []))
    assert report is not None and report.time_source == "xades:SigningTime"
    return out, report.signing_time


@pytest.mark.parametrize(
    ("reason", "revoked_after_signing", "proven_after_signing", "expected"),
    [
        # revoked for key compromise after the claimed signing time but before the DCC was proven to exist:
        # whoever holds the key could have written that signing time
        (x509.ReasonFlags.key_compromise, 1, 2, "DCC_SIGNER_REVOKED"),
        (None, 1, 2, "DCC_SIGNER_REVOKED"),  # no reason stated counts as the worst
        # revoked after the DCC was proven to exist (anchored, accepted): what it signed stands
        (x509.ReasonFlags.key_compromise, 3, 2, "OK"),
        # a benign revocation after the signing time does not undo what was signed
        (x509.ReasonFlags.superseded, 1, 2, "OK"),
        (x509.ReasonFlags.cessation_of_operation, 1, 2, "OK"),
    ],
)
def test_a_claimed_signing_time_does_not_outlast_a_key_compromise(
    reason: x509.ReasonFlags | None, revoked_after_signing: int, proven_after_signing: int, expected: str
) -> None:
    pki = Pki()
    data, signed_at = _xades(pki, UNSIGNED)
    revoked_on = signed_at + dt.timedelta(days=revoked_after_signing)
    builder = x509.RevokedCertificateBuilder().serial_number(pki.signer.serial_number).revocation_date(revoked_on)
    if reason is not None:
        builder = builder.add_extension(x509.CRLReason(reason), critical=False)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.sub.subject)
        .last_update(revoked_on)
        .next_update(revoked_on + dt.timedelta(days=30))
        .add_revoked_certificate(builder.build())
        .sign(pki.sub_key, hashes.SHA256())
    )
    proven_by = signed_at + dt.timedelta(days=proven_after_signing)
    try:
        verify_dcc_signature(data, TrustStore.of([pki.root], [crl]), proven_by=proven_by)
        outcome = "OK"
    except CertificateError as exc:
        outcome = exc.code
    assert outcome == expected
