"""DCC_SIGNATURE for a DCC the lab signed with its own Ed25519 key (``tracecert dcc export --sign-with``): judged by
the lab's keys on chain (no trust store needed), on a real chain."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.verifier.conftest import TraceWorld
from tests.verifier.world import build_world, with_document
from tracecert.certificate.canonical import to_hex
from tracecert.certificate.dcc.signature import sign_dcc
from tracecert.certificate.signing import SigningKey, generate_key
from tracecert.chain.client import ChainClient
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.evidence import Policy
from tracecert.verification.report import Outcome, Verdict

UNSIGNED = (Path(__file__).parents[1] / "certificate" / "data" / "dcc" / "dcclib-3.3.0-valid.xml").read_bytes()
#: with_document issues as the world's NMI: its key is the lab's; the city lab's is another lab's.
KEYS: dict[str, Callable[[TraceWorld], SigningKey]] = {
    "the lab's": lambda w: w.nmi.key,
    "another lab's": lambda w: w.city.key,
    "unregistered": lambda w: generate_key(),
}


@pytest.fixture(scope="module")
def world(client: ChainClient) -> TraceWorld:
    return build_world(client)


@pytest.mark.chain
@pytest.mark.parametrize(
    ("key", "tamper", "outcome", "error_code"),
    [
        ("the lab's", False, Outcome.PASS, None),
        ("another lab's", False, Outcome.FAIL, "DCC_SIGNER_UNTRUSTED"),
        ("unregistered", False, Outcome.FAIL, "DCC_SIGNER_UNTRUSTED"),
        ("the lab's", True, Outcome.FAIL, "DCC_SIGNATURE_INVALID"),
    ],
)
def test_lab_signed_dcc(world: TraceWorld, key: str, tamper: bool, outcome: Outcome, error_code: str | None) -> None:
    signing_key = KEYS[key](world)
    data = sign_dcc(UNSIGNED, signing_key)
    if tamper:
        data = data.replace(b"<dcc:uniqueIdentifier>", b"<dcc:uniqueIdentifier>X", 1)
    bundle = with_document(world, f"DCC-ED-{key[:7]}-{tamper}", data, "application/xml")
    verifier = Verifier(LiveChainView(world.chain.contracts), world.source, Policy())  # no X.509 trust store
    report = verifier.verify_bundle(bundle, document=data)
    [check] = [c for c in report.checks if c.code == "DCC_SIGNATURE"]
    assert check.outcome is outcome, check.detail
    assert check.data.get("error_code") == error_code
    if outcome is Outcome.PASS:
        assert check.data["form"] == "XMLDSig-Ed25519"
        assert check.data["signer"] == to_hex(signing_key.key_id) and check.data["chain"] == []
        assert report.verdict is not Verdict.INVALID, [c.to_dict() for c in report.failed()]
    else:
        assert check.detail.startswith(error_code or "?")
        assert report.verdict is Verdict.INVALID and "DCC_SIGNATURE" in report.codes
