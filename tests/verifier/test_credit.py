"""The credit record in the verifier's report: a sanction in force when a certificate was issued is a named warning
(LAB_CREDIT), and the report carries the lab's grade now and at issue; the index answers exactly as the contract."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from tests.verifier.conftest import Mirror, TraceWorld, calibration, chain_of_three, issue, standard_from
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.types import SanctionKind, SanctionReason
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.report import Outcome, Report, Verdict
from verifier.index import Index

pytestmark = pytest.mark.chain

DECISION = hashlib.sha256("杭市监处罚〔2026〕21号".encode()).digest()
DAY = 86_400


def _credit_check(report: Report) -> tuple[Outcome, str]:
    [check] = [c for c in report.checks if c.code == "LAB_CREDIT"]
    return check.outcome, check.detail_zh


def _gauge(world: TraceWorld, mid: dict[str, object], number: str) -> dict[str, object]:
    d = world.day
    return calibration(
        world.city, number, serial=f"YB-{number}", item="压力表", u="0.01", performed=d(-1), issued=d(0),
        standards=[standard_from(mid)],  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_lab_with_a_clean_record_passes_with_grade_a(trace_world: TraceWorld) -> None:
    _, _, leaf = chain_of_three(trace_world)
    report = trace_world.verifier.verify_bundle(leaf)
    assert report.verdict is Verdict.VALID, report.to_dict()["reasons"]
    assert _credit_check(report)[0] is Outcome.PASS
    credit = report.certificate["lab_credit"]
    assert (credit["grade"]["code"], credit["grade"]["zh"], credit["in_force_at_issue"]) == ("A", "良好", [])


def test_a_sanction_in_force_at_issue_is_a_named_warning_and_stays_after_its_lifting(
    trace_world: TraceWorld, mirror: Mirror, index: Index
) -> None:
    w, c = trace_world, trace_world.chain.contracts
    _, mid, _ = chain_of_three(w)
    start = w.chain.now() - DAY
    c.record_sanction(w.city_regulator, w.city.lab_id, SanctionKind.FINE, SanctionReason.STANDARD_NOT_TRACEABLE,
                      "杭市监处罚〔2026〕21号", DECISION, start)  # fmt: skip
    [fined] = issue(w, mirror, w.city, _gauge(w, mid, "HZ-FINED-1"))
    report = w.verifier.verify_bundle(fined)
    assert report.verdict is Verdict.VALID_WITH_WARNINGS and report.codes == {"LAB_CREDIT"}
    outcome, zh = _credit_check(report)
    assert outcome is Outcome.FAIL and zh == "罚款（计量标准未有效溯源），杭市监处罚〔2026〕21号"
    credit = report.certificate["lab_credit"]
    assert (credit["grade"]["code"], credit["grade_at_issue"]["code"]) == ("C", "C")
    [entry] = credit["in_force_at_issue"]
    assert entry["kind"] == {"code": "FINE", "zh": "罚款", "en": "fine"}
    assert entry["effective_until"] is None and entry["effective_from"].endswith("(UTC+8)")

    w.chain.advance(2 * DAY)
    c.lift_sanction(w.city_regulator, w.city.lab_id, 0, SanctionReason.RECTIFIED, "杭市监〔2026〕解21号", DECISION,
                    w.chain.now())  # fmt: skip
    later = w.verifier.verify_bundle(fined)
    assert later.codes == {"LAB_CREDIT"}  # what held when it was issued does not change
    assert (later.certificate["lab_credit"]["grade"]["code"], later.certificate["lab_credit"]["in_force"]) == ("A", [])
    [after] = issue(w, mirror, w.city, _gauge(w, mid, "HZ-AFTER-1"))
    assert w.verifier.verify_bundle(after).verdict is Verdict.VALID

    # The index follows the CreditRegistry's events and answers exactly as the contract.
    index.sync()
    assert index.sanctions(w.city.lab_id) == c.sanctions(w.city.lab_id)
    assert index.sanctions(w.nmi.lab_id) == [] == c.sanctions(w.nmi.lab_id)
    by_index = Verifier(index, w.source).verify_bundle(fined)
    assert (by_index.verdict, by_index.codes, by_index.certificate["lab_credit"]) == (
        later.verdict, later.codes, later.certificate["lab_credit"]
    )  # fmt: skip


def test_a_deployment_without_a_credit_record_skips_the_check(trace_world: TraceWorld) -> None:
    _, _, leaf = chain_of_three(trace_world)
    chain = trace_world.chain  # as a deployment file written before the CreditRegistry existed describes it
    old = ChainContracts(chain.client, replace(chain.contracts.deployment, credit_registry=""))
    report = Verifier(LiveChainView(old), trace_world.source).verify_bundle(leaf)
    assert report.verdict is Verdict.VALID and _credit_check(report)[0] is Outcome.SKIP
    assert "lab_credit" not in report.certificate
