"""DCC_SIGNATURE: a certificate whose original document is a signed DCC, verified on a real chain with the document;
the DCC's XML signature is checked against the verifier's DCC trust store (``dcc_trust_dirs``)."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.verifier.conftest import TraceWorld
from tests.verifier.world import build_world, with_document
from tracecert.certificate.dcc.signature import TrustStore
from tracecert.chain.client import ChainClient
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.evidence import Policy
from tracecert.verification.report import CHECKS, Outcome, Severity, Verdict
from verifier.config import VerifierSettings

DATA = Path(__file__).parents[1] / "certificate" / "data" / "dcc"
TRUST = {
    "pydcc": DATA / "trust" / "pydcc" / "root.crt",
    "dcclib": DATA / "trust" / "dcclib" / "ca.pem",
}


@pytest.fixture(scope="module")
def world(client: ChainClient) -> TraceWorld:
    return build_world(client)


@pytest.fixture(scope="module")
def bundles(world: TraceWorld) -> Any:
    """Each DCC file's certificate (issued once, when first asked for)."""

    @cache
    def bundle(file: str) -> dict[str, Any]:
        return with_document(world, f"DCC-SIG-{len(file)}-{file[:12]}", (DATA / file).read_bytes(), "application/xml")

    return bundle


def _verifier(world: TraceWorld, trust: str | None) -> Verifier:
    store = TrustStore.load([TRUST[trust]]) if trust else None
    return Verifier(LiveChainView(world.chain.contracts), world.source, Policy(dcc_trust=store))


@pytest.mark.chain
@pytest.mark.parametrize(
    ("file", "trust", "outcome", "error_code"),
    [
        ("gp-temperature-typical-3.2.0-signed-lt.xml", "pydcc", Outcome.PASS, None),
        ("gp-temperature-typical-3.2.0-signed-lt-revoked-signer.xml", "pydcc", Outcome.FAIL, "DCC_SIGNER_REVOKED"),
        ("dcclib-3.3.0-signed-tampered.xml", "dcclib", Outcome.FAIL, "DCC_SIGNATURE_INVALID"),
        ("gp-temperature-typical-3.2.0-signed-lt.xml", "dcclib", Outcome.FAIL, "DCC_SIGNER_UNTRUSTED"),
        # no trust store: the bytes are still checked, the signer is not judged
        ("dcclib-3.3.0-signed-tampered.xml", None, Outcome.FAIL, "DCC_SIGNATURE_INVALID"),
        ("gp-temperature-typical-3.2.0-signed-lt.xml", None, Outcome.SKIP, "DCC_SIGNER_UNTRUSTED"),
        ("dcclib-3.3.0-valid.xml", "dcclib", None, None),  # unsigned: no such check
        ("gp-temperature-typical-3.1.1.xml", "pydcc", None, None),
    ],
)
def test_dcc_signature_check(
    world: TraceWorld, bundles: Any, file: str, trust: str | None, outcome: Outcome | None, error_code: str | None
) -> None:
    data = (DATA / file).read_bytes()
    report = _verifier(world, trust).verify_bundle(bundles(file), document=data)
    found = [c for c in report.checks if c.code == "DCC_SIGNATURE"]
    assert any(c.code == "DOCUMENT_MATCHES" and c.outcome is Outcome.PASS for c in report.checks)
    if outcome is None:
        assert found == []
        return
    [check] = found
    assert check.outcome is outcome, check.detail
    assert check.data.get("error_code") == error_code
    if outcome is Outcome.PASS:
        assert check.data["form"] == "XAdES-LT" and check.data["signing_time"] == "2023-06-20T12:12:42Z"
        assert "Calibration Lab A1" in check.detail and check.detail_zh
        assert report.verdict is not Verdict.INVALID, [c.to_dict() for c in report.failed()]
    elif outcome is Outcome.FAIL:
        assert check.detail.startswith(error_code or "?")
        assert report.verdict is Verdict.INVALID and "DCC_SIGNATURE" in report.codes
    else:
        assert "trust store" in check.detail and "DCC_SIGNATURE" not in report.codes


def test_the_check_is_declared() -> None:
    spec = CHECKS["DCC_SIGNATURE"]
    assert (spec.family, spec.severity, spec.field, spec.at_acceptance) == (
        "identity",
        Severity.ERROR,
        "original_document",
        True,
    )
    assert spec.name_zh and spec.name_en and "签名" in spec.zh


@pytest.mark.parametrize(
    ("dirs", "anchors"),
    [
        ([], None),
        ([TRUST["pydcc"]], 1),
        ([TRUST["pydcc"], TRUST["dcclib"]], 2),
        ([DATA / "trust" / "pydcc"], 1),  # a folder: its sub-CA and signer certificates are not anchors
    ],
)
def test_trust_setting_reaches_the_policy(dirs: list[Path], anchors: int | None) -> None:
    policy = VerifierSettings(dcc_trust_dirs=dirs).policy()
    if anchors is None:
        assert policy.dcc_trust is None
    else:
        assert policy.dcc_trust is not None and len(policy.dcc_trust.anchors) == anchors


def test_trust_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACECERT_VERIFIER_DCC_TRUST_DIRS", f"{TRUST['pydcc']}, {TRUST['dcclib']}")
    assert VerifierSettings().dcc_trust_dirs == [TRUST["pydcc"], TRUST["dcclib"]]


def test_a_missing_trust_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        VerifierSettings(dcc_trust_dirs=[tmp_path / "nowhere"]).policy()


@pytest.mark.chain
def test_a_signature_without_signing_time_is_judged_at_the_anchoring(world: TraceWorld, bundles: Any) -> None:
    """dcclib's plain XMLDSig states no signing time: the DCC existed, signed, when its certificate was anchored,
    so its signer's chain is judged at the anchoring block's time (the test certificates are valid from
    2026-01-06 10:18:21 to 2027-01-06 10:18:21 UTC: the outcome follows from where the block time falls)."""
    file = "dcclib-3.3.0-signed.xml"
    report = _verifier(world, "dcclib").verify_bundle(bundles(file), document=(DATA / file).read_bytes())
    [check] = [c for c in report.checks if c.code == "DCC_SIGNATURE"]
    assert report.anchor is not None
    anchored = dt.datetime.fromtimestamp(report.anchor["block_timestamp"], dt.UTC)
    start, end = (dt.datetime(year, 1, 6, 10, 18, 21, tzinfo=dt.UTC) for year in (2026, 2027))
    in_validity = start <= anchored <= end
    assert check.outcome is (Outcome.PASS if in_validity else Outcome.FAIL), check.detail
    if in_validity:
        assert check.data["time_source"] == "given"
        assert check.data["signing_time"] == anchored.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert "judged at the anchoring" in check.detail
    else:
        assert check.data.get("error_code") == "DCC_SIGNER_UNTRUSTED"
