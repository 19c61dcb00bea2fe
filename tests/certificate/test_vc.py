"""W3C Verifiable Credential view of a certificate: the eddsa-jcs-2022 test vectors of the W3C specification
reproduced byte for byte, did:key and base58btc, credentials built from bundles and records, proved and read
back, and the refusals by code."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nacl.pwhash.argon2id import MEMLIMIT_MIN, OPSLIMIT_MIN
from typer.testing import CliRunner

from tracecert.certificate.bundle import Anchor, ProofBundle, build_bundle, bundle_to_json, dump_bundle
from tracecert.certificate.canonical import canonicalize, certificate_digest, to_hex
from tracecert.certificate.merkle import build_batch
from tracecert.certificate.model import record_from_json
from tracecert.certificate.signing import SigningKey, generate_key, save_key_file, sign_digest
from tracecert.certificate.vc import (
    CREDENTIAL_TYPE,
    VcError,
    base58btc_decode,
    base58btc_encode,
    build_credential,
    did_key,
    hash_data,
    is_credential,
    prove,
    public_key_from_did_key,
    read_credential,
    verify_proof,
)
from tracecert_app.cli import app

from .conftest import calibration_json, verification_json

VECTORS = Path(__file__).parent / "data" / "vc"
CREATED = "2024-03-06T08:00:00Z"
Doc = dict[str, Any]


def _text(name: str) -> str:
    return (VECTORS / name).read_text("utf-8")


def _json(name: str) -> Doc:
    result: Doc = json.loads(_text(name))
    return result


def _vector_key() -> SigningKey:
    pair = _json("keyPair.json")
    secret = base58btc_decode(pair["privateKeyMultibase"][1:])
    assert secret[:2] == b"\x80\x26"  # multicodec ed25519-priv
    return SigningKey.from_seed(secret[2:])


# ------------------------------------------------------------------ the W3C test vectors


def test_vector_key_pair_matches_its_did_key() -> None:
    key = _vector_key()
    public = _json("keyPair.json")["publicKeyMultibase"]
    assert did_key(key.public_key) == f"did:key:{public}"
    assert public_key_from_did_key(f"did:key:{public}#{public}") == key.public_key


def test_vector_canonical_document_and_hash() -> None:
    unsecured = _json("unsigned.json")
    assert canonicalize(unsecured) == _text("canonDocJCS.txt").encode("utf-8")
    assert hashlib.sha256(canonicalize(unsecured)).hexdigest() == _text("docHashJCS.txt")


def test_vector_canonical_proof_configuration_and_hash() -> None:
    config = _json("proofConfigJCS.json")
    assert canonicalize(config) == _text("proofCanonJCS.txt").encode("utf-8")
    assert hashlib.sha256(canonicalize(config)).hexdigest() == _text("proofHashJCS.txt")
    assert hash_data(_json("unsigned.json"), config).hex() == _text("combinedHashJCS.txt")


def test_vector_signature_and_proof_value() -> None:
    signed = prove(_json("unsigned.json"), _vector_key(), created="2023-02-24T23:36:38Z")
    assert signed == _json("signedJCS.json")  # the proof configuration in the order and form the spec shows
    proof_value = signed["proof"]["proofValue"]
    assert proof_value == _text("sigBTC58JCS.txt")
    assert base58btc_decode(proof_value[1:]).hex() == _text("sigHexJCS.txt")


def test_vector_signed_credential_verifies() -> None:
    signed = _json("signedJCS.json")
    # The vector's issuer is an https URL, its key a did:key: verified with the key given (no DID resolution).
    assert verify_proof(signed, _vector_key().public_key) == _vector_key().public_key


def test_earlier_vector_with_an_https_verification_method() -> None:
    config = _json("earlier/proofConfigJCS.json")
    signed = prove(
        _json("unsigned.json"),
        _vector_key(),
        created=config["created"],
        verification_method=config["verificationMethod"],
    )
    assert signed == _json("earlier/signedJCS.json")
    assert base58btc_decode(signed["proof"]["proofValue"][1:]).hex() == _text("earlier/sigHexJCS.txt")


def test_vector_changed_after_proving_does_not_verify() -> None:
    signed = _json("signedJCS.json")
    signed["credentialSubject"]["alumniOf"] = "Another School"
    with pytest.raises(VcError) as info:
        verify_proof(signed, _vector_key().public_key)
    assert info.value.code == "VC_PROOF_INVALID"


@pytest.mark.parametrize(
    ("data", "text"),
    [(b"", ""), (b"\0\0\x01", "112"), (b"Hello World!", "2NEpo7TZRRrLZSi2U"), (b"\xff" * 4, "7YXq9G")],
)
def test_base58btc_round_trip(data: bytes, text: str) -> None:
    assert base58btc_encode(data) == text
    assert base58btc_decode(text) == data


@pytest.mark.parametrize(
    "did",
    [
        "did:web:example.com",
        "did:key:6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",  # not multibase z
        "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ0",  # 0 is not base58
        "did:key:zDnaepBuvsQ8cpsWrVKw8fbpGpvPeNSjVPTWoq6cRqaYzBKVP",  # a P-256 key
        "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#z6MkOther",
    ],
)
def test_did_key_refused(did: str) -> None:
    with pytest.raises(VcError) as info:
        public_key_from_did_key(did)
    assert info.value.code == "VC_PROOF_INVALID"


# ------------------------------------------------------------------ TraceCert credentials


@pytest.fixture(scope="module")
def lab_key() -> SigningKey:
    return generate_key()


@pytest.fixture(scope="module")
def bundle(lab_key: SigningKey) -> ProofBundle:
    records = [record_from_json(verification_json()), record_from_json(calibration_json())]
    digests = [certificate_digest(r) for r in records]
    batch = build_batch(digests)
    anchor = Anchor(
        chain_id=31337,
        contract="0x5FbDB2315678afecb367f032d93F642f64180aa3",
        root=to_hex(batch.root),
        tx_hash="0x" + "11" * 32,
        block_number=42,
        block_timestamp=1_710_000_000,
    )
    return build_bundle(
        records[0],
        signature=sign_digest(lab_key, digests[0]),
        public_key=lab_key.public_key,
        leaf_index=0,
        tree_size=batch.tree_size,
        proof=batch.proofs[0],
        anchor=anchor,
    )


def test_proved_credential_reads_back_to_the_bundle(bundle: ProofBundle, lab_key: SigningKey) -> None:
    vc = build_credential(bundle, key=lab_key, created=CREATED)
    assert vc["type"] == ["VerifiableCredential", CREDENTIAL_TYPE]
    assert vc["issuer"]["id"] == did_key(lab_key.public_key)
    assert vc["validFrom"] == "2024-03-05T00:00:00+08:00" and vc["validUntil"] == "2025-03-03T23:59:59+08:00"
    assert vc["credentialStatus"]["chainId"] == 31337 and vc["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    read = read_credential(json.dumps(vc).encode("utf-8"))
    assert read.proof_key == lab_key.public_key and read.proof_created == CREATED
    assert read.digest == bundle.digest and read.record.canonical == bundle.record.canonical
    assert read.bundle == bundle_to_json(bundle)  # the proof bundle, rebuilt from evidence exactly
    assert read.summary()["proof"]["verification_method"] == did_key(lab_key.public_key)


def test_unproved_credential_says_its_authenticity_rests_on_the_chain(bundle: ProofBundle) -> None:
    vc = build_credential(bundle)
    assert "proof" not in vc and "authenticity rests on the chain" in vc["description"]
    read = read_credential(vc)
    assert read.proof_key is None and "note" in read.summary()
    assert read.issuer == did_key(bytes.fromhex(bundle.signature.public_key[2:]))
    assert read.bundle == bundle_to_json(bundle)


def test_credential_of_a_bare_record_has_no_evidence() -> None:
    record = record_from_json(calibration_json())
    read = read_credential(build_credential(record))
    assert read.bundle is None and read.issuer == f"urn:tracecert:lab:{record.lab.lab_id}"
    assert "chainId" not in read.status and read.digest == to_hex(certificate_digest(record))


def test_credential_is_recognised_by_its_context_or_type(bundle: ProofBundle) -> None:
    assert is_credential(build_credential(bundle))
    assert is_credential({"type": ["VerifiableCredential"]})
    assert not is_credential(bundle_to_json(bundle))


def _other_key_proof(vc: Doc) -> Doc:
    other = generate_key()
    forged = prove({k: v for k, v in vc.items() if k != "proof"}, other, created=CREATED)
    forged["proof"]["verificationMethod"] = vc["proof"]["verificationMethod"]  # claims the issuer's key
    return forged


def _issuer_swapped(vc: Doc) -> Doc:
    other = generate_key()
    unsecured = {k: v for k, v in vc.items() if k != "proof"}
    return prove(unsecured, other, created=CREATED)  # proved by a key that is not the issuer's


def _set(path: str, value: Any) -> Callable[[Doc], Doc]:
    def change(vc: Doc) -> Doc:
        out = copy.deepcopy(vc)
        *parents, last = path.split(".")
        target = out
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        target[last] = value
        return out

    return change


def _drop(key: str) -> Callable[[Doc], Doc]:
    return lambda vc: {k: v for k, v in vc.items() if k != key}


_BAD: list[tuple[str, Callable[[Doc], Any], str]] = [
    ("not JSON", lambda vc: b"{not json", "VC_INVALID"),
    ("not an object", lambda vc: b"[1, 2]", "VC_INVALID"),
    ("duplicate key", lambda vc: b'{"@context": [], "@context": []}', "VC_INVALID"),
    ("wrong @context", _set("@context", ["https://www.w3.org/2018/credentials/v1"]), "VC_INVALID"),
    ("no @context", _drop("@context"), "VC_INVALID"),
    ("another credential type", _set("type", ["VerifiableCredential", "AlumniCredential"]), "VC_INVALID"),
    ("no issuer", _drop("issuer"), "VC_INVALID"),
    ("tampered record", _set("credentialSubject.record.certificate_number", "JD2024-99999"), "VC_PROOF_INVALID"),
    ("tampered digest", _set("credentialSubject.digest", "0x" + "00" * 32), "VC_PROOF_INVALID"),
    ("tampered status", _set("credentialStatus.chainId", 1), "VC_PROOF_INVALID"),
    ("tampered validity", _set("validUntil", "2099-12-31T23:59:59+08:00"), "VC_PROOF_INVALID"),
    ("proof by another key", _other_key_proof, "VC_PROOF_INVALID"),
    ("proof by a key that is not the issuer's", _issuer_swapped, "VC_PROOF_INVALID"),
    ("unknown cryptosuite", _set("proof.cryptosuite", "eddsa-rdfc-2022"), "VC_CRYPTOSUITE_UNSUPPORTED"),
    ("another proof type", _set("proof.type", "Ed25519Signature2020"), "VC_CRYPTOSUITE_UNSUPPORTED"),
    ("another purpose", _set("proof.proofPurpose", "authentication"), "VC_PROOF_INVALID"),
    ("a did:web method", _set("proof.verificationMethod", "did:web:lab.example#key-1"), "VC_PROOF_INVALID"),
    ("short proofValue", _set("proof.proofValue", "z3P6rHMUaWG6e3Ac6xYFht8a"), "VC_PROOF_INVALID"),
    ("proofValue not base58", _set("proof.proofValue", "z0OIl"), "VC_PROOF_INVALID"),
    ("proofValue not multibase", _set("proof.proofValue", "u" + "A" * 86), "VC_PROOF_INVALID"),
    ("proof not an object", _set("proof", "z2HnFSS"), "VC_PROOF_INVALID"),
    ("two proofs", lambda vc: {**vc, "proof": [vc["proof"], vc["proof"]]}, "VC_PROOF_INVALID"),
    ("proof @context not a prefix", _set("proof.@context", ["https://example.org/other"]), "VC_PROOF_INVALID"),
    ("created not a dateTime", _set("proof.created", "yesterday"), "VC_PROOF_INVALID"),
]


@pytest.mark.parametrize(("change", "code"), [(c, code) for _, c, code in _BAD], ids=[n for n, _, _ in _BAD])
def test_bad_credential_refused(
    bundle: ProofBundle, lab_key: SigningKey, change: Callable[[Doc], Any], code: str
) -> None:
    vc = build_credential(bundle, key=lab_key, created=CREATED)
    read_credential(vc)  # the untouched credential is fine
    with pytest.raises(VcError) as info:
        read_credential(change(vc))
    assert info.value.code == code


def _unproved(change: Callable[[Doc], Doc]) -> Callable[[ProofBundle], Doc]:
    return lambda b: change(build_credential(b))


_BAD_UNPROVED: list[tuple[str, Callable[[Doc], Doc], str]] = [
    ("record changed", _set("credentialSubject.record.certificate_number", "JD2024-99999"), "digest_mismatch"),
    ("record not in normal form", _set("credentialSubject.record.dates.receipt_date", None), "normal_form"),
    ("record invalid", _set("credentialSubject.record.kind", "RECEIPT"), "enum"),
    ("subject of another type", _set("credentialSubject.type", "Person"), "vc_subject"),
    ("status of another digest", _set("credentialStatus.certificateDigest", "0x" + "00" * 32), "vc_status"),
    ("status on another chain", _set("credentialStatus.chainId", 1), "vc_status"),
    ("no anchoring evidence item", _set("evidence", [{"type": ["Other"]}]), "vc_evidence"),
    ("evidence root malformed", _set("evidence.0.anchor.root", "0x12"), "string_pattern_mismatch"),
]


@pytest.mark.parametrize(
    ("change", "rule"), [(c, r) for _, c, r in _BAD_UNPROVED], ids=[n for n, _, _ in _BAD_UNPROVED]
)
def test_bad_unproved_credential_refused(bundle: ProofBundle, change: Callable[[Doc], Doc], rule: str) -> None:
    with pytest.raises(VcError) as info:
        read_credential(change(build_credential(bundle)))
    assert info.value.code == "VC_INVALID"
    assert rule in {e.rule for e in info.value.errors}


def test_prove_refuses_a_credential_with_a_proof(bundle: ProofBundle, lab_key: SigningKey) -> None:
    with pytest.raises(VcError) as info:
        prove(build_credential(bundle, key=lab_key, created=CREATED), lab_key)
    assert info.value.code == "VC_INVALID"


# ------------------------------------------------------------------ tracecert vc export / verify

runner = CliRunner()


@pytest.fixture
def key_file(tmp_path: Path, lab_key: SigningKey) -> tuple[Path, Path]:
    path, passphrase = tmp_path / "lab.key", tmp_path / "pass"
    passphrase.write_text("correct horse\n")
    save_key_file(lab_key, path, b"correct horse", opslimit=OPSLIMIT_MIN, memlimit=MEMLIMIT_MIN)
    return path, passphrase


def test_cli_export_with_the_lab_key_then_verify(
    tmp_path: Path, bundle: ProofBundle, lab_key: SigningKey, key_file: tuple[Path, Path]
) -> None:
    source, out = tmp_path / "bundle.json", tmp_path / "vc.json"
    source.write_bytes(dump_bundle(bundle))
    key, passphrase = key_file
    args = ["vc", "export", str(source), "--key", str(key), "--passphrase-file", str(passphrase)]
    result = runner.invoke(app, [*args, "--created", CREATED, "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert out.read_text("utf-8") and json.loads(out.read_text("utf-8")) == build_credential(
        bundle, key=lab_key, created=CREATED
    )
    assert to_hex(lab_key.key_id) in result.stderr
    result = runner.invoke(app, ["vc", "verify", str(out)])
    assert result.exit_code == 0
    assert result.stdout.split()[:3] == ["PROOF", "VALID", bundle.digest]


def test_cli_export_without_a_key_says_authenticity_rests_on_the_chain(tmp_path: Path, bundle: ProofBundle) -> None:
    source = tmp_path / "bundle.json"
    source.write_bytes(dump_bundle(bundle))
    result = runner.invoke(app, ["vc", "export", str(source)])
    assert result.exit_code == 0
    assert "proof" not in json.loads(result.stdout) and "rests on the chain" in result.stderr
    unproved = tmp_path / "vc.json"
    unproved.write_text(result.stdout)
    result = runner.invoke(app, ["vc", "verify", str(unproved)])
    assert result.exit_code == 0 and result.stdout.split()[:3] == ["NO", "PROOF", bundle.digest]


def test_cli_adds_a_proof_to_a_credential_served_without_one(
    tmp_path: Path, bundle: ProofBundle, lab_key: SigningKey, key_file: tuple[Path, Path]
) -> None:
    served = tmp_path / "served.json"
    served.write_text(json.dumps(build_credential(bundle)))
    key, passphrase = key_file
    args = ["vc", "export", str(served), "--key", str(key), "--passphrase-file", str(passphrase)]
    result = runner.invoke(app, [*args, "--created", CREATED])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == build_credential(bundle, key=lab_key, created=CREATED)


def test_cli_export_of_a_record(tmp_path: Path) -> None:
    source = tmp_path / "record.json"
    source.write_text(json.dumps(calibration_json(), ensure_ascii=False))
    result = runner.invoke(app, ["vc", "export", str(source)])
    assert result.exit_code == 0
    assert read_credential(result.stdout).bundle is None


@pytest.mark.parametrize(
    ("content", "command", "code", "exit_code"),
    [
        ("{not json", "export", "CANONICALIZATION_FAILED", 2),
        ('{"kind": "VERIFICATION"}', "export", "RECORD_INVALID", 2),
        ('{"format": "tracecert-bundle/9"}', "export", "BUNDLE_INVALID", 2),
        ('{"@context": ["https://www.w3.org/2018/credentials/v1"]}', "export", "VC_INVALID", 2),
        ("{not json", "verify", "VC_INVALID", 2),
        ("TAMPERED", "verify", "VC_PROOF_INVALID", 1),
    ],
)
def test_cli_refusals(
    tmp_path: Path,
    bundle: ProofBundle,
    lab_key: SigningKey,
    content: str,
    command: str,
    code: str,
    exit_code: int,
) -> None:
    if content == "TAMPERED":
        vc = build_credential(bundle, key=lab_key, created=CREATED)
        vc["credentialSubject"]["record"]["certificate_number"] = "JD2024-99999"
        content = json.dumps(vc)
    path = tmp_path / "in.json"
    path.write_text(content)
    result = runner.invoke(app, ["vc", command, str(path)])
    assert result.exit_code == exit_code
    assert result.stderr.startswith(f"{code}:")


def test_cli_export_with_a_wrong_passphrase(tmp_path: Path, bundle: ProofBundle, key_file: tuple[Path, Path]) -> None:
    source, wrong = tmp_path / "bundle.json", tmp_path / "wrong"
    source.write_bytes(dump_bundle(bundle))
    wrong.write_text("wrong")
    result = runner.invoke(
        app, ["vc", "export", str(source), "--key", str(key_file[0]), "--passphrase-file", str(wrong)]
    )
    assert result.exit_code == 2 and result.stderr.startswith("KEY_FILE_DECRYPT_FAILED:")
