"""The verification engine against a real chain: the fake-certificate cases of the issue about traceability: a
standard expired, too coarse, failed or revoked up the chain, a chain that never reaches an NMI, cycles."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.verifier.conftest import TraceWorld, calibration, chain_of_three, standard_from, verification
from tests.verifier.verdicts import fails
from tracecert.certificate.canonical import from_hex
from tracecert.chain.types import RevocationReason
from tracecert.verification.report import Verdict


def test_parent_expired_on_calibration_date(trace_world: TraceWorld) -> None:
    w, d = trace_world, trace_world.day
    [top] = w.issue(
        w.nmi,
        calibration(
            w.nmi,
            "NIM-OLD",
            serial="PG-9",
            item="活塞式压力计",
            u="0.0005",
            performed=d(-12),
            issued=d(-11),
            valid_until=d(-3),
        ),
    )
    stale = standard_from(top)
    del stale["valid_until"]  # the forger leaves out the date that would give it away
    [child] = w.issue(
        w.provincial,
        calibration(
            w.provincial,
            "ZJ-LATE",
            serial="JM-9",
            item="精密压力表",
            u="0.002",
            performed=d(-1),
            issued=d(0),
            standards=[stale],
        ),
    )
    fails(w.verifier.verify_bundle(child), "TRACE_VALID_DURING_WORK")


def test_parent_with_larger_uncertainty(trace_world: TraceWorld) -> None:
    w, d = trace_world, trace_world.day
    [top] = w.issue(
        w.nmi,
        calibration(w.nmi, "NIM-COARSE", serial="PG-8", item="活塞式压力计", u="0.05", performed=d(-3), issued=d(-2)),
    )
    [child] = w.issue(
        w.provincial,
        calibration(
            w.provincial,
            "ZJ-FINE",
            serial="JM-8",
            item="精密压力表",
            u="0.002",
            performed=d(-1),
            issued=d(0),
            standards=[standard_from(top)],
        ),
    )
    fails(w.verifier.verify_bundle(child), "TRACE_UNCERTAINTY")


@pytest.mark.parametrize(
    ("parent_u", "verdict_fails"),
    [("0.02", True), ("0.0002", False)],  # u 0.02 -> U = 0.04 > the child's 0.002; u 0.0002 -> U 0.0004: TUR 5
)
def test_a_standard_stating_only_a_standard_uncertainty_is_compared_at_k2(
    trace_world: TraceWorld, parent_u: str, verdict_fails: bool
) -> None:
    """A parent certificate (e.g. imported from a DCC with D-SI standardMU) states u, not U: its results are
    compared at U = 2u, not called uncertainty-free."""
    w, d = trace_world, trace_world.day
    parent = calibration(w.nmi, f"NIM-U-{parent_u}", serial=f"PG-U{parent_u}", item="活塞式压力计", u="0.1",
                         performed=d(-3), issued=d(-2))  # fmt: skip
    for result in parent["results"]:
        del result["expanded_uncertainty"], result["coverage_factor"]
        result.pop("coverage_probability", None)
        result["standard_uncertainty"] = parent_u
    [top] = w.issue(w.nmi, parent)
    child_record = calibration(w.provincial, f"ZJ-U-{parent_u}", serial=f"JM-U{parent_u}", item="精密压力表",
                               u="0.002", performed=d(-1), issued=d(0), standards=[standard_from(top)])  # fmt: skip
    [child] = w.issue(w.provincial, child_record)
    report = w.verifier.verify_bundle(child)
    assert ("TRACE_UNCERTAINTY" in report.codes) is verdict_fails, report.to_dict()["reasons"]


def test_verification_standard_too_coarse_for_mpe(trace_world: TraceWorld) -> None:
    w, d = trace_world, trace_world.day
    _, mid, _ = chain_of_three(w)
    [ok] = w.issue(
        w.city,
        verification(
            w.city,
            "HZ-JD-OK",
            standards=[standard_from(mid)],
            mpe="0.016",
            performed=d(0),
            issued=d(0),
            valid_until=d(150),
        ),
    )
    assert w.verifier.verify_bundle(ok).verdict is Verdict.VALID, w.verifier.verify_bundle(ok).to_dict()["reasons"]
    [coarse] = w.issue(
        w.city,
        verification(
            w.city,
            "HZ-JD-COARSE",
            standards=[standard_from(mid)],
            mpe="0.004",
            performed=d(0),
            issued=d(0),
            valid_until=d(150),
        ),
    )
    fails(w.verifier.verify_bundle(coarse), "TRACE_UNCERTAINTY")


def test_chain_that_never_reaches_an_nmi(trace_world: TraceWorld) -> None:
    w, d = trace_world, trace_world.day
    [orphan] = w.issue(
        w.provincial,
        calibration(
            w.provincial, "ZJ-ORPHAN", serial="JM-7", item="精密压力表", u="0.002", performed=d(-2), issued=d(-1)
        ),
    )
    [child] = w.issue(
        w.city,
        calibration(
            w.city,
            "HZ-ORPHAN",
            serial="YB-7",
            item="压力表",
            u="0.01",
            performed=d(-1),
            issued=d(0),
            standards=[standard_from(orphan)],
        ),
    )
    fails(w.verifier.verify_bundle(child), "TRACE_REACHES_NMI")


def test_cycle(trace_world: TraceWorld) -> None:
    """Circular calibration: instrument A is calibrated against B, whose certificate was made against A.
    (Digests cannot loop, instruments can.)"""
    w, d = trace_world, trace_world.day
    [a1] = w.issue(
        w.provincial,
        calibration(
            w.provincial, "ZJ-CYC-A1", serial="JM-A", item="精密压力表", u="0.0005", performed=d(-3), issued=d(-3)
        ),
    )
    [b] = w.issue(
        w.city,
        calibration(
            w.city,
            "HZ-CYC-B",
            serial="YB-B",
            item="精密压力表",
            u="0.002",
            performed=d(-2),
            issued=d(-2),
            standards=[standard_from(a1)],
        ),
    )
    [a2] = w.issue(
        w.provincial,
        calibration(
            w.provincial,
            "ZJ-CYC-A2",
            serial="JM-A",
            item="精密压力表",
            u="0.0005",
            performed=d(-1),
            issued=d(0),
            standards=[standard_from(b)],
        ),
    )
    report = w.verifier.verify_bundle(a2)
    fails(report, "TRACE_NO_CYCLE")


def _with_asset(record: dict[str, Any], asset: str) -> dict[str, Any]:
    record["item"]["asset_number"] = asset
    return record


def test_asset_numbers_are_the_owners_own(trace_world: TraceWorld) -> None:
    """Two owners' asset "001" are two instruments, not a loop; one owner's asset met again is."""
    w, d = trace_world, trace_world.day
    top, _, _ = chain_of_three(w)
    standard = _with_asset(
        calibration(
            w.provincial,
            "ZJ-AS-001",
            serial="JM-7001",
            item="精密压力表",
            u="0.002",
            performed=d(-3),
            issued=d(-3),
            standards=[standard_from(top, name="活塞式压力计")],
            customer="杭州市计量检定测试院",
        ),
        "001",
    )
    [mid] = w.issue(w.provincial, standard)
    gauge = calibration(
        w.city,
        "HZ-AS-001",
        serial="YB-7001",
        item="压力表",
        u="0.01",
        performed=d(-1),
        issued=d(0),
        standards=[standard_from(mid, name="精密压力表")],
        customer="某化工有限公司",
    )
    [leaf] = w.issue(w.city, _with_asset(gauge, "001"))
    report = w.verifier.verify_bundle(leaf)
    assert report.verdict is Verdict.VALID, report.to_dict()["reasons"]
    # The city lab's own gauge, asset 001 again, calibrated against the standard it once calibrated: a loop.
    again = calibration(
        w.city,
        "HZ-AS-002",
        serial="YB-7002",
        item="精密压力表",
        u="0.01",
        performed=d(-1),
        issued=d(0),
        standards=[standard_from(mid, name="精密压力表")],
        customer="杭州市计量检定测试院",
    )
    [loop] = w.issue(w.city, _with_asset(again, "001"))
    fails(w.verifier.verify_bundle(loop), "TRACE_NO_CYCLE")


# --- found in review: each of these used to come out VALID ------------------------------------------------


def test_a_broken_link_two_levels_up_reaches_the_certificate(trace_world: TraceWorld) -> None:
    w = trace_world
    top, mid, leaf = chain_of_three(w)
    # Revoked with effect from the day before the provincial institute used the standard (dates are UTC+8).
    mid_begin = dt.datetime.fromisoformat(mid["record"]["dates"]["performance_begin"] + "T00:00:00+08:00")
    w.chain.contracts.revoke(w.nmi.writer, w.nmi.lab_id, from_hex(top["digest"]), RevocationReason.FRAUD,
                             int(mid_begin.timestamp()) - 86_400)
    report = w.verifier.with_policy(cache_seconds=0).verify_bundle(leaf)
    fails(report, "TRACE_STANDARD_VALID")


def test_a_standard_that_failed_its_verification_is_no_link(trace_world: TraceWorld) -> None:
    w, d = trace_world, trace_world.day
    _, mid, _ = chain_of_three(w)
    notice = verification(w.provincial, "ZJ-FAIL-1", standards=[standard_from(mid)], performed=d(-2),
                          issued=d(-2), serial="JM-FAIL", category="PRESSURE")
    notice["kind"], notice["conclusion"] = "VERIFICATION_FAIL_NOTICE", "FAIL"
    del notice["dates"]["valid_until"]
    [failed] = w.issue(w.provincial, notice)
    [child] = w.issue(w.city, calibration(w.city, "HZ-ON-FAILED", serial="YB-F", item="压力表", u="0.01",
                                          performed=d(-1), issued=d(0), standards=[standard_from(failed)]))
    fails(w.verifier.verify_bundle(child), "TRACE_STANDARD_VALID")


def test_circular_calibration_without_declared_serials(trace_world: TraceWorld) -> None:
    w, d = trace_world, trace_world.day
    top, _, _ = chain_of_three(w)
    [a1] = w.issue(w.provincial, calibration(w.provincial, "ZJ-CYC2-A1", serial="JM-Z", item="精密压力表",
                                             u="0.0005", performed=d(-3), issued=d(-3),
                                             standards=[standard_from(top)]))
    hidden = standard_from(a1)
    del hidden["serial_number"]
    [b] = w.issue(w.city, calibration(w.city, "HZ-CYC2-B", serial="YB-Z", item="精密压力表", u="0.002",
                                      performed=d(-2), issued=d(-2), standards=[hidden]))
    hidden_b = standard_from(b)
    del hidden_b["serial_number"]
    [a2] = w.issue(w.provincial, calibration(w.provincial, "ZJ-CYC2-A2", serial="JM-Z", item="精密压力表",
                                             u="0.0005", performed=d(-1), issued=d(0), standards=[hidden_b]))
    report = w.verifier.verify_bundle(a2)
    assert report.verdict is Verdict.INVALID
    assert {"TRACE_NO_CYCLE", "TRACE_SERIAL_MATCH"} <= report.codes
