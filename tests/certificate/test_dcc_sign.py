"""A DCC signed with the lab's Ed25519 key (sign_dcc, export_dcc(sign_with=...), ``tracecert dcc export
--sign-with``): the bytes checked against an independent computation, verification by key, tampering, malformed
signatures and the import of a signed export."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.pwhash
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree
from typer.testing import CliRunner

from tracecert.certificate.canonical import certificate_digest, record_to_json, to_hex
from tracecert.certificate.dcc import export_dcc, import_dcc, validate_dcc
from tracecert.certificate.dcc.signature import (
    DSIG11_NS,
    ED25519_SIGNATURE_METHOD,
    LAB_KEY_RULE,
    SignatureReport,
    TrustStore,
    sign_dcc,
    verify_dcc_signature,
)
from tracecert.certificate.errors import CertificateError
from tracecert.certificate.model import record_from_json
from tracecert.certificate.signing import SigningKey, generate_key, save_key_file
from tracecert_app.cli import app

from .conftest import DCC_EXAMPLES, calibration_json, fail_notice_json, verification_json

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
AT = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
KEY = SigningKey.from_seed(bytes(range(32)))
OTHER = SigningKey.from_seed(bytes(range(1, 33)))
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _ds(local: str) -> str:
    return f"{{{DS}}}{local}"


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    return export_dcc(record_from_json(calibration_json()))


@pytest.fixture(scope="module")
def signed(unsigned: bytes) -> bytes:
    return sign_dcc(unsigned, KEY)


def _outcome(data: bytes, lab_keys: Any = (KEY.public_key,)) -> str | SignatureReport | None:
    try:
        return verify_dcc_signature(data, TrustStore.empty(), at=AT, lab_keys=lab_keys)
    except CertificateError as exc:
        return exc.code


def _tree(data: bytes) -> etree._ElementTree:
    return etree.fromstring(data, parser=PARSER).getroottree()


def _signature(tree: etree._ElementTree) -> etree._Element:
    found = next(tree.getroot().iter(_ds("Signature")), None)
    assert found is not None
    return found


def _resign(tree: etree._ElementTree, key: SigningKey = KEY, exclusive: bool = True) -> bytes:
    """Sign the (changed) SignedInfo again, computed here with lxml directly: what is refused is then refused
    for its shape, not for a signature value that no longer matches."""
    signature = _signature(tree)
    signed_info = signature.find(_ds("SignedInfo"))
    assert signed_info is not None
    value = key._key.sign(etree.tostring(signed_info, method="c14n", exclusive=exclusive)).signature
    value_el = signature.find(_ds("SignatureValue"))
    if value_el is not None:
        value_el.text = base64.b64encode(value).decode()
    out: bytes = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    return out


# ---------------------------------------------------------------------- the bytes


def test_signature_bytes_match_an_independent_computation(unsigned: bytes, signed: bytes) -> None:
    """DigestValue is SHA-256 of the unsigned export's exclusive c14n; SignatureValue is Ed25519 (checked with
    `cryptography`, not PyNaCl) over SignedInfo as exclusive c14n writes it in its context (the ds namespace
    declared on it, nothing of the DCC's namespaces), spelled out here by hand."""
    digest = hashlib.sha256(etree.tostring(_tree(unsigned), method="c14n", exclusive=True)).digest()
    tree = _tree(signed)
    root, signature = tree.getroot(), _signature(tree)
    assert root[-1] is signature  # the root's last child, as DCC 3.3.0's XSD has it
    digest_b64 = base64.b64encode(digest).decode()
    assert signature.findtext(f"{_ds('SignedInfo')}/{_ds('Reference')}/{_ds('DigestValue')}") == digest_b64
    expected_signed_info = (
        f'<ds:SignedInfo xmlns:ds="{DS}">'
        f'<ds:CanonicalizationMethod Algorithm="{EXC}"></ds:CanonicalizationMethod>'
        f'<ds:SignatureMethod Algorithm="{ED25519_SIGNATURE_METHOD}"></ds:SignatureMethod>'
        '<ds:Reference URI="">'
        f'<ds:Transforms><ds:Transform Algorithm="{ENVELOPED}"></ds:Transform>'
        f'<ds:Transform Algorithm="{EXC}"></ds:Transform></ds:Transforms>'
        f'<ds:DigestMethod Algorithm="{SHA256}"></ds:DigestMethod>'
        f"<ds:DigestValue>{digest_b64}</ds:DigestValue>"
        "</ds:Reference></ds:SignedInfo>"
    ).encode()
    value = base64.b64decode(signature.findtext(_ds("SignatureValue")) or "")
    assert len(value) == 64
    Ed25519PublicKey.from_public_bytes(KEY.public_key).verify(value, expected_signed_info)  # raises if not
    # KeyInfo: the key id as KeyName, the key as XMLDSig 1.1 DEREncodedKeyValue (RFC 8410 SubjectPublicKeyInfo)
    assert signature.findtext(f"{_ds('KeyInfo')}/{_ds('KeyName')}") == to_hex(KEY.key_id)
    spki = Ed25519PublicKey.from_public_bytes(KEY.public_key).public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    der = signature.findtext(f"{_ds('KeyInfo')}/{{{DSIG11_NS}}}DEREncodedKeyValue") or ""
    assert base64.b64decode(der) == spki
    # everything before the signature is the unsigned export, unchanged
    head, tail = signed.split(b"<ds:Signature ")
    assert tail.endswith(b"</ds:Signature></dcc:digitalCalibrationCertificate>")
    stripped = head + b"</dcc:digitalCalibrationCertificate>"
    assert etree.tostring(_tree(unsigned), method="c14n") == etree.tostring(_tree(stripped), method="c14n")


def test_signed_export_validates_and_verifies(signed: bytes) -> None:
    assert validate_dcc(signed) == "3.3.0"
    report = _outcome(signed)
    assert isinstance(report, SignatureReport), report
    assert report.form == "XMLDSig-Ed25519"
    assert report.signer == to_hex(KEY.key_id)
    assert (report.chain, report.references, report.algorithm) == ((), 1, ED25519_SIGNATURE_METHOD)
    assert (report.signing_time, report.time_source) == (AT, "given")
    now = verify_dcc_signature(signed, TrustStore.empty(), lab_keys={KEY.public_key})
    assert now is not None and now.time_source == "now"


def test_export_sign_with_is_sign_dcc(unsigned: bytes) -> None:
    record = record_from_json(calibration_json())
    # Ed25519 is deterministic: signing the same export with the same key gives the same bytes
    assert export_dcc(record, sign_with=KEY) == sign_dcc(unsigned, KEY)


@pytest.mark.parametrize("builder", [verification_json, calibration_json, fail_notice_json])
def test_import_of_the_signed_export_is_the_same_record(builder: Callable[[], dict[str, Any]]) -> None:
    record = record_from_json(builder())
    signed = export_dcc(record, sign_with=KEY)
    plain, again = import_dcc(export_dcc(record)).record, import_dcc(signed).record
    assert record_to_json(again) == record_to_json(plain) == record_to_json(record)
    assert certificate_digest(again) == certificate_digest(plain) == certificate_digest(record)


# ---------------------------------------------------------------------- who signed


@pytest.mark.parametrize(
    ("lab_keys", "expected"),
    [
        ([KEY.public_key], "OK"),
        ({OTHER.public_key, KEY.public_key}, "OK"),
        (lambda public: public == KEY.public_key, "OK"),  # a test of the key, e.g. one asking the chain
        ([OTHER.public_key], "DCC_SIGNER_UNTRUSTED"),  # another lab's key
        ([], "DCC_SIGNER_UNTRUSTED"),
        (None, "DCC_SIGNER_UNTRUSTED"),  # nobody said which keys are the lab's
        (lambda public: False, "DCC_SIGNER_UNTRUSTED"),
        ([KEY.key_id], "DCC_SIGNER_UNTRUSTED"),  # a key id is not a public key
    ],
)
def test_signer_is_judged_by_the_lab_keys(signed: bytes, lab_keys: Any, expected: str) -> None:
    outcome = _outcome(signed, lab_keys)
    if expected == "OK":
        assert isinstance(outcome, SignatureReport), outcome
    else:
        assert outcome == expected


def test_untrusted_signer_names_the_lab_key_rule(signed: bytes) -> None:
    with pytest.raises(CertificateError) as e:
        verify_dcc_signature(signed, TrustStore.empty(), lab_keys=[OTHER.public_key])
    assert e.value.code == "DCC_SIGNER_UNTRUSTED"
    assert [x.rule for x in e.value.errors] == [LAB_KEY_RULE]
    assert to_hex(KEY.key_id) in e.value.message


def test_signed_by_another_key_verifies_as_that_key(unsigned: bytes) -> None:
    by_other = sign_dcc(unsigned, OTHER)
    assert _outcome(by_other) == "DCC_SIGNER_UNTRUSTED"
    report = _outcome(by_other, [OTHER.public_key])
    assert isinstance(report, SignatureReport) and report.signer == to_hex(OTHER.key_id)


# ---------------------------------------------------------------------- tampering


def _swap_key(data: bytes) -> bytes:
    """Another key's DEREncodedKeyValue and KeyName under the lab's signature value."""
    tree = _tree(data)
    signature = _signature(tree)
    spki = Ed25519PublicKey.from_public_bytes(OTHER.public_key).public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    key_info = signature.find(_ds("KeyInfo"))
    assert key_info is not None
    key_info[0].text = to_hex(OTHER.key_id)
    key_info[1].text = base64.b64encode(spki).decode()
    out: bytes = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    return out


def _flip_signature_bit(data: bytes) -> bytes:
    tree = _tree(data)
    value_el = _signature(tree).find(_ds("SignatureValue"))
    assert value_el is not None
    value = bytearray(base64.b64decode(value_el.text or ""))
    value[10] ^= 1
    value_el.text = base64.b64encode(bytes(value)).decode()
    out: bytes = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    return out


TAMPERINGS: dict[str, Callable[[bytes], bytes]] = {
    "a measured value": lambda d: d.replace(b"<si:value>", b"<si:value>1", 1),
    "the certificate number": lambda d: d.replace(b"JZ2024-00321", b"JZ2024-00322", 1),
    "an attribute added": lambda d: d.replace(b"<dcc:administrativeData>", b'<dcc:administrativeData id="x">', 1),
    "whitespace between elements": lambda d: d.replace(b"<dcc:coreData>", b"<dcc:coreData> ", 1),
    "a processing instruction added": lambda d: d.replace(b"<dcc:coreData>", b"<dcc:coreData><?x y?>", 1),
    "the signature value": _flip_signature_bit,
    "the key swapped": _swap_key,
}


@pytest.mark.parametrize("change", sorted(TAMPERINGS))
def test_tampering_is_refused(signed: bytes, change: str) -> None:
    tampered = TAMPERINGS[change](signed)
    assert tampered != signed
    assert _outcome(tampered, [KEY.public_key, OTHER.public_key]) == "DCC_SIGNATURE_INVALID"


def test_comments_are_not_signed(signed: bytes) -> None:
    """URI="" leaves comments out of what is signed (XMLDSig): adding one does not break the signature."""
    commented = signed.replace(b"<dcc:coreData>", b"<dcc:coreData><!-- a note -->", 1)
    assert commented != signed
    assert isinstance(_outcome(commented), SignatureReport)


def test_comments_and_processing_instructions_are_kept_by_sign_dcc(unsigned: bytes) -> None:
    data = unsigned.replace(b"<dcc:coreData>", b"<dcc:coreData><!-- note --><?tool x?>", 1)
    signed = sign_dcc(data, KEY)
    assert b"<!-- note --><?tool x?>" in signed
    assert isinstance(_outcome(signed), SignatureReport)


# ---------------------------------------------------------------------- malformed signatures


def _edit(signed: bytes, change: Callable[[etree._Element, etree._Element], None]) -> bytes:
    """Apply ``change(root, signature)`` and sign SignedInfo again (see :func:`_resign`)."""
    tree = _tree(signed)
    change(tree.getroot(), _signature(tree))
    return _resign(tree)


def _signed_info(signature: etree._Element) -> etree._Element:
    found = signature.find(_ds("SignedInfo"))
    assert found is not None
    return found


def _reference(signature: etree._Element) -> etree._Element:
    found = _signed_info(signature).find(_ds("Reference"))
    assert found is not None
    return found


def _remove(path: str) -> Callable[[etree._Element, etree._Element], None]:
    def change(root: etree._Element, signature: etree._Element) -> None:
        element = signature.find(path)
        assert element is not None
        element.getparent().remove(element)

    return change


def _set(path: str, attribute: str, value: str) -> Callable[[etree._Element, etree._Element], None]:
    def change(root: etree._Element, signature: etree._Element) -> None:
        element = signature.find(path) if path else signature
        assert element is not None
        element.set(attribute, value)

    return change


def _two_references(root: etree._Element, signature: etree._Element) -> None:
    _signed_info(signature).append(copy.deepcopy(_reference(signature)))


def _reference_to_an_id(root: etree._Element, signature: etree._Element) -> None:
    root.set("Id", "dcc")  # the root itself, named by Id: still not URI=""
    _reference(signature).set("URI", "#dcc")


def _reference_to_a_part(root: etree._Element, signature: etree._Element) -> None:
    admin = root[0]
    admin.set("id", "admin")
    _reference(signature).set("URI", "#admin")


def _transform(algorithm: str) -> Callable[[etree._Element, etree._Element], None]:
    def change(root: etree._Element, signature: etree._Element) -> None:
        transforms = _reference(signature).find(_ds("Transforms"))
        assert transforms is not None
        transforms[-1].set("Algorithm", algorithm)

    return change


def _key_name(value: str) -> Callable[[etree._Element, etree._Element], None]:
    def change(root: etree._Element, signature: etree._Element) -> None:
        name = signature.find(f"{_ds('KeyInfo')}/{_ds('KeyName')}")
        assert name is not None
        name.text = value

    return change


def _der_key(value: str) -> Callable[[etree._Element, etree._Element], None]:
    def change(root: etree._Element, signature: etree._Element) -> None:
        der = signature.find(f"{_ds('KeyInfo')}/{{{DSIG11_NS}}}DEREncodedKeyValue")
        assert der is not None
        der.text = value

    return change


def _second_signature(root: etree._Element, signature: etree._Element) -> None:
    root.append(copy.deepcopy(signature))


def _signature_inside(root: etree._Element, signature: etree._Element) -> None:
    root.remove(signature)
    root[0].append(signature)


SI = _ds("SignedInfo")
REF = f"{SI}/{_ds('Reference')}"
X25519_SPKI = base64.b64encode(bytes.fromhex("302a300506032b656e032100") + bytes(32)).decode()


@pytest.mark.parametrize(
    ("change", "code", "why"),
    [
        (_remove(_ds("SignatureValue")), "DCC_SIGNATURE_INVALID", "no ds:SignatureValue"),
        (_remove(f"{REF}/{_ds('DigestValue')}"), "DCC_SIGNATURE_INVALID", "no ds:DigestValue"),
        (_two_references, "DCC_SIGNATURE_INVALID", "2 ds:Reference"),
        (_remove(REF), "DCC_SIGNATURE_INVALID", "0 ds:Reference"),
        (_reference_to_an_id, "DCC_SIGNATURE_INVALID", "does not sign the whole DCC"),
        (_reference_to_a_part, "DCC_SIGNATURE_INVALID", "does not sign the whole DCC"),
        (_set(f"{SI}/{_ds('SignatureMethod')}", "Algorithm", ED25519_SIGNATURE_METHOD.replace("25519", "448")),
         "DCC_SIGNATURE_INVALID", "is refused"),
        (_set(f"{SI}/{_ds('SignatureMethod')}", "Algorithm", ED25519_SIGNATURE_METHOD + "x"),
         "DCC_SIGNATURE_INVALID", "is refused"),
        (_set(f"{SI}/{_ds('CanonicalizationMethod')}", "Algorithm", "http://www.w3.org/2006/12/xml-c14n11"),
         "DCC_SIGNATURE_INVALID", "c14n 1.0 or exclusive c14n 1.0 only"),
        (_remove(f"{SI}/{_ds('CanonicalizationMethod')}"), "DCC_SIGNATURE_INVALID", "CanonicalizationMethod"),
        (_set(f"{REF}/{_ds('DigestMethod')}", "Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1"),
         "DCC_SIGNATURE_INVALID", "DigestMethod"),
        (_transform("http://www.w3.org/TR/1999/REC-xpath-19991116"), "DCC_SIGNATURE_INVALID", "transform"),
        (_remove(f"{REF}/{_ds('Transforms')}"), "DCC_SIGNATURE_INVALID", "enveloped-signature"),
        (_key_name(to_hex(OTHER.key_id)), "DCC_SIGNATURE_INVALID", "is not the key id"),
        (_der_key(X25519_SPKI), "DCC_SIGNATURE_INVALID", "not an Ed25519 public key"),
        (_der_key("not base64!"), "DCC_SIGNATURE_INVALID", "not base64"),
        (_der_key(base64.b64encode(b"\x30\x03\x02\x01\x00").decode()), "DCC_SIGNATURE_INVALID", "not a public key"),
        (_remove(f"{_ds('KeyInfo')}/{{{DSIG11_NS}}}DEREncodedKeyValue"), "DCC_SIGNATURE_INVALID",
         "DEREncodedKeyValue"),
        (_second_signature, "DCC_SIGNATURE_INVALID", "2 ds:Signature"),
        (_signature_inside, "DCC_SIGNATURE_INVALID", "not a child of the DCC's root"),
    ],
)  # fmt: skip
def test_malformed_signatures(
    signed: bytes, change: Callable[[etree._Element, etree._Element], None], code: str, why: str
) -> None:
    with pytest.raises(CertificateError) as e:
        verify_dcc_signature(_edit(signed, change), TrustStore.empty(), at=AT, lab_keys=[KEY.public_key])
    assert e.value.code == code
    assert why in e.value.message


def test_resigning_alone_keeps_the_signature_valid(signed: bytes) -> None:
    """The malformed cases above are refused for their change: signing SignedInfo again changes nothing."""
    assert _edit(signed, lambda root, signature: None) == signed
    assert isinstance(_outcome(_edit(signed, lambda root, signature: None)), SignatureReport)


def test_other_accepted_canonicalizations(unsigned: bytes) -> None:
    """Inclusive c14n 1.0 for SignedInfo, and the enveloped transform alone for the reference (the node-set then
    becomes octets by inclusive c14n 1.0): accepted, computed here with lxml directly."""
    tree = _tree(sign_dcc(unsigned, KEY))
    signature = _signature(tree)
    _signed_info(signature).find(_ds("CanonicalizationMethod")).set("Algorithm", C14N)  # type: ignore[union-attr]
    transforms = _reference(signature).find(_ds("Transforms"))
    assert transforms is not None
    transforms.remove(transforms[1])
    digest = hashlib.sha256(etree.tostring(_tree(unsigned), method="c14n")).digest()
    _reference(signature).find(_ds("DigestValue")).text = base64.b64encode(digest).decode()  # type: ignore[union-attr]
    data = _resign(tree, exclusive=False)
    report = _outcome(data)
    assert isinstance(report, SignatureReport), report


# ---------------------------------------------------------------------- sign_dcc refusals


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("signed", "DCC_SIGNATURE_INVALID"),  # already signed
        ("3.1.1", "DCC_SIGNED_OLD_SCHEMA"),  # 3.0 and 3.1 have no ds:Signature
        ("pdf", "XML_MALFORMED"),
        ("not a dcc", "DCC_WRONG_ROOT"),
    ],
)
def test_sign_dcc_refusals(signed: bytes, data: str, code: str) -> None:
    source = {
        "signed": signed,
        "3.1.1": (DCC_EXAMPLES / "ptb-vacuumlab-CDG-3.1.1.xml").read_bytes(),
        "pdf": b"%PDF-1.7",
        "not a dcc": b"<certificate/>",
    }[data]
    with pytest.raises(CertificateError) as e:
        sign_dcc(source, KEY)
    assert e.value.code == code


# ---------------------------------------------------------------------- CLI


FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN, "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}


@pytest.mark.parametrize(
    ("passphrase", "code"),
    [(b"right", None), (b"wrong", "KEY_FILE_DECRYPT_FAILED")],
)
def test_cli_export_sign_with(tmp_path: Path, passphrase: bytes, code: str | None) -> None:
    key = generate_key()
    key_file, pass_file = tmp_path / "lab.key", tmp_path / "pass"
    save_key_file(key, key_file, b"right", **FAST)
    pass_file.write_bytes(passphrase + b"\n")
    record_file, out = tmp_path / "record.json", tmp_path / "out.xml"
    record_file.write_text(json.dumps(verification_json(), ensure_ascii=False))
    args = ["dcc", "export", str(record_file), "--out", str(out), "--sign-with", str(key_file)]
    result = CliRunner().invoke(app, [*args, "--passphrase-file", str(pass_file)])
    if code is not None:
        assert result.exit_code == 2
        assert result.stderr.startswith(code)
        assert not out.exists()
        return
    assert result.exit_code == 0, result.stderr
    assert to_hex(key.key_id) in result.stderr
    data = out.read_bytes()
    assert validate_dcc(data) == "3.3.0"
    report = verify_dcc_signature(data, TrustStore.empty(), lab_keys=[key.public_key])
    assert report is not None and report.signer == to_hex(key.key_id)
