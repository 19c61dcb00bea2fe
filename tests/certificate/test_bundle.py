"""Proof bundles: build, JSON round trip, JSON Schema, offline verification and tampering."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tracecert.certificate.bundle import (
    BUNDLE_FORMAT,
    Anchor,
    ProofBundle,
    build_bundle,
    bundle_json_schema,
    bundle_to_json,
    dump_bundle,
    generate_bundle_json_schema,
    parse_bundle,
    verify_bundle_offline,
)
from tracecert.certificate.canonical import certificate_digest, from_hex, to_hex
from tracecert.certificate.errors import BundleInvalid, CertificateError
from tracecert.certificate.merkle import build_batch
from tracecert.certificate.model import record_from_json
from tracecert.certificate.signing import SigningKey, generate_key, key_id, sign_digest

from .conftest import calibration_json, fail_notice_json, verification_json

Doc = dict[str, Any]


def _records() -> list[Doc]:
    docs = [verification_json(), calibration_json(), fail_notice_json()]
    for n in range(4):
        doc = calibration_json()
        doc["certificate_number"] = f"JZ2024-1{n:04d}"
        docs.append(doc)
    return docs


@pytest.fixture(scope="module")
def lab_key() -> SigningKey:
    return generate_key()


@pytest.fixture(scope="module")
def bundles(lab_key: SigningKey) -> list[ProofBundle]:
    records = [record_from_json(d) for d in _records()]
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
    return [
        build_bundle(
            r,
            signature=sign_digest(lab_key, d),
            public_key=lab_key.public_key,
            leaf_index=i,
            tree_size=batch.tree_size,
            proof=batch.proofs[i],
            anchor=anchor,
        )
        for i, (r, d) in enumerate(zip(records, digests, strict=True))
    ]


def test_every_bundle_verifies(bundles: list[ProofBundle]) -> None:
    for b in bundles:
        assert b.format == BUNDLE_FORMAT
        verify_bundle_offline(b)


def test_json_round_trip(bundles: list[ProofBundle]) -> None:
    for b in bundles:
        text = dump_bundle(b)
        again = parse_bundle(text)
        assert again == b
        assert bundle_to_json(again) == json.loads(text)
        verify_bundle_offline(text)  # also accepts the JSON text directly
        verify_bundle_offline(json.loads(text))


def test_examples_validate_against_the_json_schema(bundles: list[ProofBundle]) -> None:
    schema = bundle_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    for b in bundles:
        validator.validate(bundle_to_json(b))
    broken = bundle_to_json(bundles[0])
    broken["proof"]["hashes"] = ["0xABC"]
    assert list(validator.iter_errors(broken))  # the schema is not vacuous


def test_committed_schema_matches_the_models() -> None:
    assert bundle_json_schema() == generate_bundle_json_schema()


def _flip_hex(value: str) -> str:
    raw = bytearray(from_hex(value, None))
    raw[-1] ^= 1
    return to_hex(bytes(raw))


def _resign_with_other_key(doc: Doc) -> None:
    other = generate_key()
    doc["signature"]["public_key"] = to_hex(other.public_key)
    doc["signature"]["key_id"] = to_hex(other.key_id)


def _alter_record_and_digest(doc: Doc) -> None:
    doc["record"]["certificate_number"] = "FORGED-1"
    doc["digest"] = to_hex(certificate_digest(record_from_json(doc["record"])))


TAMPER: list[tuple[str, Callable[[Doc], None], str]] = [
    ("record value", lambda d: d["record"]["item"].update(serial_number="B9999999"), "DIGEST_MISMATCH"),
    ("record date", lambda d: d["record"]["dates"].update(issue_date="2024-03-06"), "DIGEST_MISMATCH"),
    ("digest", lambda d: d.update(digest=_flip_hex(d["digest"])), "DIGEST_MISMATCH"),
    ("record and digest", _alter_record_and_digest, "SIGNATURE_INVALID"),
    ("signature", lambda d: d["signature"].update(value=_flip_hex(d["signature"]["value"])), "SIGNATURE_INVALID"),
    ("other key", _resign_with_other_key, "SIGNATURE_INVALID"),
    ("key id", lambda d: d["signature"].update(key_id=_flip_hex(d["signature"]["key_id"])), "KEY_ID_MISMATCH"),
    ("proof hash", lambda d: d["proof"].update(hashes=[_flip_hex(d["proof"]["hashes"][0]), *d["proof"]["hashes"][1:]]),
     "PROOF_INVALID"),
    ("proof truncated", lambda d: d["proof"].update(hashes=d["proof"]["hashes"][:-1]), "PROOF_INVALID"),
    ("leaf index", lambda d: d["proof"].update(leaf_index=(d["proof"]["leaf_index"] + 1) % d["proof"]["tree_size"]),
     "PROOF_INVALID"),
    ("tree size", lambda d: d["proof"].update(tree_size=d["proof"]["tree_size"] + 9), "PROOF_INVALID"),
    ("anchor root", lambda d: d["anchor"].update(root=_flip_hex(d["anchor"]["root"])), "PROOF_INVALID"),
    # malformed bundles
    ("format", lambda d: d.update(format="tracecert-bundle/2"), "BUNDLE_INVALID"),
    ("unknown member", lambda d: d.update(status="REVOKED"), "BUNDLE_INVALID"),
    ("leaf index >= size", lambda d: d["proof"].update(leaf_index=d["proof"]["tree_size"]), "BUNDLE_INVALID"),
    ("short hash", lambda d: d["anchor"].update(tx_hash="0x1234"), "BUNDLE_INVALID"),
    ("index as string", lambda d: d["proof"].update(leaf_index="1"), "BUNDLE_INVALID"),
    ("bad alg", lambda d: d["signature"].update(alg="ECDSA"), "BUNDLE_INVALID"),
    ("record not normal form", lambda d: d["record"].update(remarks=None), "BUNDLE_INVALID"),
    ("record breaks a kind rule", lambda d: d["record"]["dates"].pop("valid_until"), "BUNDLE_INVALID"),
    ("bad contract address", lambda d: d["anchor"].update(contract="0x1234"), "BUNDLE_INVALID"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "mutate", "code"), TAMPER, ids=[t[0] for t in TAMPER])
def test_tampered_bundles_fail(bundles: list[ProofBundle], case: str, mutate: Callable[[Doc], None], code: str) -> None:
    doc = copy.deepcopy(bundle_to_json(bundles[0]))  # bundles[0] is the VERIFICATION record, leaf 0 of 7
    mutate(doc)
    with pytest.raises(CertificateError) as e:
        verify_bundle_offline(json.dumps(doc, ensure_ascii=False))
    assert e.value.code == code


def test_record_errors_are_reported_under_record(bundles: list[ProofBundle]) -> None:
    doc = bundle_to_json(bundles[0])
    del doc["record"]["dates"]["valid_until"]
    with pytest.raises(BundleInvalid) as e:
        parse_bundle(doc)
    assert ("record.dates.valid_until", "required_for_kind") in [(x.field, x.rule) for x in e.value.errors]


@pytest.mark.parametrize("text", ["", "[]", '{"format": "tracecert-bundle/1"}', '{"a": 1, "a": 1}'])
def test_not_a_bundle(text: str) -> None:
    with pytest.raises(BundleInvalid):
        parse_bundle(text)


def test_build_bundle_sets_key_id_and_digest(bundles: list[ProofBundle], lab_key: SigningKey) -> None:
    b = bundles[1]
    assert b.signature.key_id == to_hex(key_id(lab_key.public_key))
    assert b.digest == to_hex(certificate_digest(b.record))
    assert b.proof.leaf_index == 1 and b.proof.tree_size == len(bundles)


def test_published_example_bundle() -> None:
    """data/example-bundle.json (signed with the RFC 8032 test key, batch of 3) is a fixed vector for other
    implementations: it must keep verifying and validating against the schema."""
    text = (Path(__file__).parent / "data" / "example-bundle.json").read_bytes()
    verify_bundle_offline(text)
    doc = json.loads(text)
    jsonschema.Draft202012Validator(bundle_json_schema()).validate(doc)
    assert doc["digest"] == "0x28503298d05a8dd650c3104d866e56a6ee08b9bd91a070e20f77e4b0d4594312"
    assert doc["anchor"]["root"] == "0xa46677aa93ada8a3fd0365fb44f8583b81161908557071a6fe3a7dc813655416"
