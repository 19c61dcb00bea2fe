"""Evidence packages: built from a certificate anchored through the registry on a real chain, checked offline
(nothing but the file and the pinned authority), every tampered link named."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from typing import Any

import pytest
import rlp
from sqlalchemy import select

from registry.anchoring import AnchoringWorker
from registry.db import Certificate
from registry.issuance import Submission, accept
from registry.reads import anchored_bundle
from tests.registry.conftest import LabWorld
from tests.test_evidence_qbft import besu_seal, validator_keys
from tracecert.evidence import (
    build_package,
    chain_evidence,
    commit_seal_hash,
    header_hash,
    sign_package,
    verify_package,
)
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.evidence import Evidence
from tracecert.verification.sources import MemorySource

pytestmark = pytest.mark.chain


def _package(world: LabWorld) -> tuple[dict[str, Any], bytes]:
    lab = world.core.authenticate(world.token)
    digest = accept(world.core, lab, Submission(world.record("JD2026-EV001"))).digest
    accept(world.core, lab, Submission(world.record("JD2026-EV002")))  # a batch of two: a real inclusion proof
    AnchoringWorker(world.core).drain()
    with world.core.sessions() as s:
        row = s.scalar(select(Certificate).where(Certificate.digest == digest))
    assert row is not None
    bundle = anchored_bundle(world.core, row)
    assert bundle is not None
    report = Verifier(LiveChainView(world.chain.contracts), MemorySource([bundle, world.standard])).verify(
        Evidence.from_bundle(bundle)
    )
    forged = copy.deepcopy(bundle["record"])
    forged["results"][0]["value"] = "0.1"  # the forger's copy: a better error of indication
    forged["dates"]["valid_until"] = "2099-12-31"
    package = build_package(
        case={"number": "浙市监计案〔2026〕12号", "title": "伪造电子计价秤检定证书案"},
        deployment=asdict(world.chain.contracts.deployment),
        certificates=[{"bundle": bundle, "report": report.to_dict(),
                       **chain_evidence(world.chain.client, bundle["anchor"]["block_number"])}],
        forged={"of": digest, "record": forged},
    )  # fmt: skip
    key = bytes(world.province._account.key)
    return sign_package(package, key), key


def test_a_package_verifies_offline_and_shows_the_forgery(world: LabWorld) -> None:
    package, _key = _package(world)
    checked = verify_package(json.loads(json.dumps(package)), world.province.address)  # as read from the file
    assert checked.ok, [link for link in checked.links if not link[2]]
    assert [name for name, *_ in checked.links] == [
        "SIGNED", "RECORD_DIGEST", "LAB_SIGNATURE", "INCLUSION", "ANCHOR_LOG", "RECEIPTS_ROOT", "HEADER", "FORGED_DIFF"
    ]  # fmt: skip
    assert {d["field"] for d in package["forged"]["diff"]} == {"results.0.value", "dates.valid_until"}
    assert package["certificates"][0]["report"]["verdict"] == "VALID"
    block = package["certificates"][0]["block"]
    assert "0x" + header_hash(block).hex() == block["hash"]
    # Another authority pinned: the signature no longer vouches.
    assert verify_package(package, world.chain.national.address).failing == ["SIGNED"]


def _tamper(package: dict[str, Any], part: str) -> None:
    cert = package["certificates"][0]
    if part == "record":
        cert["bundle"]["record"]["item"]["serial_number"] = "A-FORGED"
    elif part == "signature of the lab":
        value = cert["bundle"]["signature"]["value"]
        cert["bundle"]["signature"]["value"] = value[:-2] + ("00" if value[-2:] != "00" else "11")
    elif part == "proof":
        cert["bundle"]["proof"]["hashes"][0] = "0x" + "00" * 32
    elif part == "receipt":
        receipt = next(r for r in cert["receipts"] if r["transactionHash"] == cert["bundle"]["anchor"]["tx_hash"])
        receipt["logs"][0]["topics"][1] = "0x" + "11" * 32
    elif part == "header":
        cert["block"]["timestamp"] = hex(int(cert["block"]["timestamp"], 16) - 86_400)
    elif part == "diff":
        package["forged"]["diff"] = package["forged"]["diff"][:1]


@pytest.mark.parametrize(
    ("part", "links"),
    [
        ("record", ["RECORD_DIGEST", "FORGED_DIFF"]),  # the diff against it no longer holds either
        ("signature of the lab", ["LAB_SIGNATURE"]),
        ("proof", ["INCLUSION"]),
        ("receipt", ["ANCHOR_LOG", "RECEIPTS_ROOT"]),
        ("header", ["HEADER"]),
        ("diff", ["FORGED_DIFF"]),
    ],
)
def test_each_tampered_part_is_named(world: LabWorld, part: str, links: list[str]) -> None:
    package, key = _package(world)
    tampered = copy.deepcopy(package)
    _tamper(tampered, part)
    # As found: the signature breaks too.
    assert verify_package(tampered, world.province.address).failing == ["SIGNED", *links]
    # Even re-signed by the regulator's own key, the link itself is named.
    resigned = sign_package({k: v for k, v in tampered.items() if k != "signature"}, key)
    assert verify_package(resigned, world.province.address).failing == links


def test_not_a_package() -> None:
    assert verify_package({"format": "something else"}, "0x" + "00" * 20).failing == ["FORMAT"]


# ------------------------------------------------------------------------------------------------ a QBFT chain


def _qbft_package(world: LabWorld) -> tuple[dict[str, Any], bytes]:
    """The same case, its anchoring block sealed as a Besu QBFT network seals it (four validators, all sealing),
    then built anew: the package states the rule that reproduces the block hash."""
    package, key = _package(world)
    rebuilt = build_package(
        case=package["case"],
        deployment=package["deployment"],
        certificates=[{**c, "block": besu_seal(c["block"], validator_keys(4))} for c in package["certificates"]],
        forged={"of": package["forged"]["of"], "record": package["forged"]["record"]},
    )
    return sign_package(rebuilt, key), key


def test_a_qbft_package_verifies_its_header_and_seals(world: LabWorld) -> None:
    package, _key = _qbft_package(world)
    assert package["chain"]["header_rule"] == "qbft"
    checked = verify_package(json.loads(json.dumps(package)), world.province.address)
    assert checked.ok, [link for link in checked.links if not link[2]]
    assert [name for name, *_ in checked.links] == [
        "SIGNED", "RECORD_DIGEST", "LAB_SIGNATURE", "INCLUSION", "ANCHOR_LOG", "RECEIPTS_ROOT", "HEADER", "SEALS",
        "FORGED_DIFF",
    ]  # fmt: skip
    assert dict((name, detail) for name, _d, _ok, detail in checked.links)["SEALS"] == (
        "4 of 4 validators sealed the block (quorum 3)"
    )


def _set_seals(block: dict[str, Any], change: Any) -> None:
    extra = rlp.decode(bytes.fromhex(block["extraData"][2:]))
    extra[4] = change(extra[4], block)
    block["extraData"] = "0x" + rlp.encode(extra).hex()


def _stranger(seals: list[bytes], block: dict[str, Any]) -> list[bytes]:
    return [*seals[:3], validator_keys(1, first=99)[0].sign_msg_hash(commit_seal_hash(block)).to_bytes()]


def _qbft_tamper(package: dict[str, Any], part: str) -> None:
    block = package["certificates"][0]["block"]
    if part == "a seal":
        _set_seals(block, lambda s, _b: [s[0][:40] + bytes([s[0][40] ^ 1]) + s[0][41:], *s[1:]])
    elif part == "too few seals":
        _set_seals(block, lambda s, _b: s[:2])  # 2 of 4: the quorum is 3
    elif part == "a stranger's seal":
        _set_seals(block, _stranger)
    elif part == "one validator's seal twice":
        _set_seals(block, lambda s, _b: [s[0], s[0], s[1]])
    elif part == "a header field":
        block["gasUsed"] = hex(int(block["gasUsed"], 16) + 1)
    elif part == "the validator list":
        extra = rlp.decode(bytes.fromhex(block["extraData"][2:]))
        extra[1] = [*extra[1], b"\x99" * 20]
        block["extraData"] = "0x" + rlp.encode(extra).hex()
    elif part == "the rule, unknown":
        package["chain"]["header_rule"] = "clique"
    elif part == "the rule, ethereum":  # a downgrade that would skip the seals
        package["chain"]["header_rule"] = "ethereum"


@pytest.mark.parametrize(
    ("part", "links"),
    [
        ("a seal", ["SEALS"]),  # the block hash leaves the seals out
        ("too few seals", ["SEALS"]),
        ("a stranger's seal", ["SEALS"]),
        ("one validator's seal twice", ["SEALS"]),
        ("a header field", ["HEADER", "SEALS"]),  # the seals sign every field
        ("the validator list", ["HEADER", "SEALS"]),
        ("the rule, unknown", ["HEADER"]),
        ("the rule, ethereum", ["HEADER"]),
    ],
)
def test_each_tampered_part_of_a_qbft_package_is_named(world: LabWorld, part: str, links: list[str]) -> None:
    package, key = _qbft_package(world)
    tampered = copy.deepcopy(package)
    _qbft_tamper(tampered, part)
    assert verify_package(tampered, world.province.address).failing == ["SIGNED", *links]
    resigned = sign_package({k: v for k, v in tampered.items() if k != "signature"}, key)
    assert verify_package(resigned, world.province.address).failing == links
