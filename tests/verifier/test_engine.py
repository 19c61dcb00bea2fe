"""The verification engine against a real chain: a valid chain, and every fake-certificate case of the issue."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from tests.verifier.conftest import (
    TraceWorld,
    _lab,
    calibration,
    chain_of_three,
    reuse_number,
    standard_from,
    tamper,
    usci,
    verification,
)
from tracecert.certificate.canonical import from_hex
from tracecert.certificate.model import Kind
from tracecert.chain.types import Activity, LabKind, RevocationReason
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import MAX_NUMBER_CLAIMS, Verifier
from tracecert.verification.report import Outcome, Verdict
from tracecert.verification.sources import MemorySource


def test_valid_chain_of_three(trace_world: TraceWorld) -> None:
    top, mid, leaf = chain_of_three(trace_world)
    report = trace_world.verifier.verify_bundle(leaf)
    assert report.verdict is Verdict.VALID, [(r["code"], r["detail"]) for r in report.to_dict()["reasons"]]
    # Every check passes; a node cannot say whether the batch's contents were published (the index can).
    assert {c.code: c.outcome for c in report.checks if c.outcome is not Outcome.PASS} == {
        "BATCH_PUBLISHED": Outcome.SKIP
    }
    tree = report.trace
    assert tree is not None and tree.digest == leaf["digest"]
    [provincial] = tree.children
    assert provincial.digest == mid["digest"] and provincial.verdict is Verdict.VALID
    [nmi] = provincial.children
    assert nmi.digest == top["digest"] and nmi.lab_kind == "NMI"


def test_every_declared_check_runs(trace_world: TraceWorld) -> None:
    _, _, leaf = chain_of_three(trace_world)
    report = trace_world.verifier.verify_bundle(leaf, document=None)
    ran = {c.code for c in report.checks}
    # Checks that only run for other inputs: documents, verification kinds, expected kinds, validity periods.
    assert ran >= {
        "RECORD_WELL_FORMED",
        "DIGEST_MATCHES",
        "ANCHORED",
        "INCLUSION_PROOF",
        "ANCHORED_BY_LAB",
        "SIGNATURE_VALID",
        "KEY_OF_LAB",
        "KEY_MATCHES_BATCH",
        "KEY_VALID_AT_ISSUE",
        "LAB_REGISTERED",
        "LAB_NAME",
        "LAB_ACTIVE_AT_ISSUE",
        "LAB_AUTHORIZED_AT_ISSUE",
        "LAB_SCOPE",
        "ISSUED_BEFORE_ANCHOR",
        "ANCHOR_LAG",
        "NOT_EXPIRED",
        "NOT_REVOKED",
        "NOT_SUBSTITUTED",
        "NUMBER_UNIQUE",
        "BATCH_PUBLISHED",
        "TRACE_STANDARD_FOUND",
        "TRACE_REACHES_NMI",
        "TRACE_UNCERTAINTY",
        "SIGNERS_DISTINCT",
    }


def _fails(report: Any, code: str) -> None:
    assert report.verdict is Verdict.INVALID, report.to_dict()["reasons"]
    assert code in report.codes, report.to_dict()["reasons"]


def test_record_with_a_changed_value(trace_world: TraceWorld) -> None:
    _, _, leaf = chain_of_three(trace_world)
    forged = tamper(leaf, "results.0.value", "0.000")
    _fails(trace_world.verifier.verify_bundle(forged), "DIGEST_MATCHES")


def test_document_with_one_byte_changed(trace_world: TraceWorld) -> None:
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
    import hashlib

    d = trace_world.day
    record = calibration(
        trace_world.nmi, "NIM-2026-DOC", serial="PG-1", item="活塞式压力计", u="0.0005", performed=d(-2), issued=d(-1)
    )
    record["original_document"] = {"media_type": "application/pdf", "sha256": "0x" + hashlib.sha256(pdf).hexdigest()}
    [bundle] = trace_world.issue(trace_world.nmi, record)
    assert trace_world.verifier.verify_bundle(bundle, document=pdf).verdict is Verdict.VALID
    altered = bytearray(pdf)
    altered[100] ^= 0x01
    _fails(trace_world.verifier.verify_bundle(bundle, document=bytes(altered)), "DOCUMENT_MATCHES")
    # Looked up by the document's hash alone:
    assert trace_world.verifier.verify_document(pdf).verdict is Verdict.VALID
    unknown = trace_world.verifier.verify_document(bytes(altered))
    assert unknown.unknown and unknown.verdict is Verdict.INVALID and "ANCHORED" in unknown.codes


def test_correctly_formed_but_never_anchored(trace_world: TraceWorld) -> None:
    _, _, leaf = chain_of_three(trace_world)
    other = dict(leaf)
    other["anchor"] = {**leaf["anchor"], "root": "0x" + "11" * 32}
    report = trace_world.verifier.verify_bundle(other)
    _fails(report, "ANCHORED")
    assert report.unknown
    record_only = trace_world.verifier.verify_record(
        calibration(trace_world.city, "HZ-NEVER", serial="X", item="压力表", u="0.01")
    )
    _fails(record_only, "ANCHORED")


def test_signed_by_a_key_outside_its_window(trace_world: TraceWorld) -> None:
    """The key is closed retroactively (compromise) before the anchoring: signatures made with it fail."""
    c, lab, d = trace_world.chain.contracts, trace_world.city, trace_world.day
    _, mid, _ = chain_of_three(trace_world)
    [bundle] = trace_world.issue(
        lab,
        calibration(
            lab,
            "HZ-KEY-1",
            serial="YB-1",
            item="压力表",
            u="0.01",
            performed=d(-1),
            issued=d(0),
            standards=[standard_from(mid)],
        ),
    )
    anchored_at = bundle["anchor"]["block_timestamp"]
    c.close_key(lab.admin, lab.key.key_id, anchored_at - 60, int(RevocationReason.KEY_COMPROMISE))
    _fails(trace_world.verifier.verify_bundle(bundle), "KEY_VALID_AT_ISSUE")


def test_issued_by_a_suspended_lab(trace_world: TraceWorld) -> None:
    """Suspended, then reinstated, the lab anchors a certificate dated inside its suspension."""
    c, lab, chain = trace_world.chain.contracts, trace_world.city, trace_world.chain
    _, mid, _ = chain_of_three(trace_world)
    gap_day = trace_world.day(0)
    c.suspend_lab(trace_world.city_regulator, lab.lab_id, 1)
    chain.advance(2 * 86_400)
    c.reinstate_lab(trace_world.city_regulator, lab.lab_id)
    [bundle] = trace_world.issue(
        lab,
        calibration(
            lab,
            "HZ-GAP-SUSPENDED",
            serial="YB-2",
            item="压力表",
            u="0.01",
            performed=gap_day,
            issued=gap_day,
            standards=[standard_from(mid)],
        ),
    )
    _fails(trace_world.verifier.verify_bundle(bundle), "LAB_ACTIVE_AT_ISSUE")


def test_issued_after_the_authorization_expired(trace_world: TraceWorld) -> None:
    """A lab whose authorization ran out gets a new one; a certificate dated in between is caught."""
    w, chain = trace_world, trace_world.chain
    _, mid, _ = chain_of_three(w)
    now = chain.now()
    lab = _lab(
        chain,
        w.city_regulator,
        usci("12330100470009999"),
        "杭州某计量检测有限公司",
        LabKind.AUTHORIZED_BODY,
        330100,
        {"PRESSURE": Activity.CALIBRATE},
        "(浙)授(2026)001号",
        now,
        now + 3 * 86_400,
    )
    chain.advance(6 * 86_400)  # expired three days ago
    gap_day = w.day(-1)
    now = chain.now()
    chain.contracts.authorize_lab(
        w.city_regulator, lab.lab_id, "(浙)授(2026)002号", now, now + 365 * 86_400, {"PRESSURE": Activity.CALIBRATE}
    )
    [bundle] = w.issue(
        lab,
        calibration(
            lab,
            "HZ-GAP-EXPIRED",
            serial="YB-2",
            item="压力表",
            u="0.01",
            performed=gap_day,
            issued=gap_day,
            standards=[standard_from(mid)],
        ),
    )
    _fails(w.verifier.verify_bundle(bundle), "LAB_AUTHORIZED_AT_ISSUE")


def test_out_of_scope(trace_world: TraceWorld) -> None:
    lab, d = trace_world.city, trace_world.day
    record = calibration(lab, "HZ-SCOPE", serial="YB-3", item="压力表", u="0.01", performed=d(-1), issued=d(0))
    record["item"]["category_code"] = "MASS"
    [bundle] = trace_world.issue(lab, record)
    _fails(trace_world.verifier.verify_bundle(bundle), "LAB_SCOPE")


def test_issued_in_another_labs_name(trace_world: TraceWorld) -> None:
    """The city lab signs and anchors a record naming the provincial institute: the chain's name is what is shown,
    and the record's claim fails LAB_NAME."""
    lab, d = trace_world.city, trace_world.day
    record = calibration(lab, "HZ-NAME", serial="YB-4", item="压力表", u="0.01", performed=d(-1), issued=d(0))
    record["lab"]["name"] = trace_world.provincial.name
    [bundle] = trace_world.issue(lab, record)
    report = trace_world.verifier.verify_bundle(bundle)
    _fails(report, "LAB_NAME")
    shown = report.to_dict()["certificate"]
    assert shown["lab_name"] == lab.name == shown["lab_name_on_chain"]
    assert shown["lab_name_in_record"] == trace_world.provincial.name


def test_calibration_presented_as_verification(trace_world: TraceWorld) -> None:
    _, mid, _ = chain_of_three(trace_world)
    lab, d = trace_world.city, trace_world.day
    [bundle] = trace_world.issue(
        lab,
        calibration(
            lab,
            "HZ-CAL-AS-VER",
            serial="YB-4",
            item="压力表",
            u="0.01",
            performed=d(-1),
            issued=d(0),
            standards=[standard_from(mid)],
            mandatory=True,
        ),
    )
    report = trace_world.verifier.verify_bundle(bundle, expected_kind=Kind.VERIFICATION)
    _fails(report, "KIND_AS_EXPECTED")
    assert "MANDATORY_NEEDS_VERIFICATION" in report.codes


def test_issue_date_long_before_anchoring(trace_world: TraceWorld) -> None:
    _, mid, _ = chain_of_three(trace_world)
    lab, d = trace_world.city, trace_world.day
    [bundle] = trace_world.issue(
        lab,
        calibration(
            lab,
            "HZ-BACKDATED",
            serial="YB-5",
            item="压力表",
            u="0.01",
            performed=d(-61),
            issued=d(-60),
            valid_until=d(300),
            standards=[standard_from(mid)],
        ),
    )
    _fails(trace_world.verifier.verify_bundle(bundle), "ANCHOR_LAG")


def test_revoked_and_valid_as_of_before(trace_world: TraceWorld) -> None:
    _, _, leaf = chain_of_three(trace_world)
    c, lab = trace_world.chain.contracts, trace_world.city
    trace_world.chain.advance(3600)
    c.revoke(lab.writer, lab.lab_id, from_hex(leaf["digest"]), RevocationReason.ERROR_IN_CONTENT)
    revoked_at = trace_world.chain.now()
    _fails(trace_world.verifier.verify_bundle(leaf), "NOT_REVOKED")
    before = trace_world.verifier.verify_bundle(leaf, as_of=revoked_at - 1800)
    assert before.verdict is Verdict.VALID, before.to_dict()["reasons"]


def test_substituted(trace_world: TraceWorld) -> None:
    _, mid, leaf = chain_of_three(trace_world)
    lab, d = trace_world.city, trace_world.day
    fixed = calibration(
        lab,
        "HZ-2026-C0033-R1",
        serial="YB-8812",
        item="压力表",
        u="0.01",
        performed=d(-1),
        issued=d(0),
        standards=[standard_from(mid)],
    )
    fixed["replaces"] = {
        "certificate_number": leaf["record"]["certificate_number"],
        "certificate_digest": leaf["digest"],
    }
    [new] = trace_world.issue(lab, fixed)
    trace_world.chain.contracts.substitute(lab.writer, lab.lab_id, from_hex(leaf["digest"]), from_hex(new["digest"]))
    report = trace_world.verifier.verify_bundle(leaf)
    _fails(report, "NOT_SUBSTITUTED")
    assert report.replaced_by == new["digest"]
    assert trace_world.verifier.verify_bundle(new).verdict is Verdict.VALID


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
    _fails(w.verifier.verify_bundle(child), "TRACE_VALID_DURING_WORK")


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
    _fails(w.verifier.verify_bundle(child), "TRACE_UNCERTAINTY")


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
    _fails(w.verifier.verify_bundle(coarse), "TRACE_UNCERTAINTY")


def test_stretched_validity_is_a_warning(trace_world: TraceWorld) -> None:
    w, d = trace_world, trace_world.day
    _, mid, _ = chain_of_three(w)
    [long] = w.issue(
        w.city,
        verification(
            w.city, "HZ-JD-LONG", standards=[standard_from(mid)], performed=d(0), issued=d(0), valid_until=d(365)
        ),
    )
    report = w.verifier.verify_bundle(long)
    assert report.verdict is Verdict.VALID_WITH_WARNINGS and report.codes == {"VALIDITY_PERIOD"}
    # As a standard it breaks the link: what was calibrated against it cannot be trusted (a warning that says
    # nothing of the standard, an unpublished batch, does not: see test_index).
    [child] = w.issue(
        w.city,
        calibration(
            w.city,
            "HZ-C-CHILD",
            serial="X-0001",
            item="压力表",
            u="0.05",
            performed=d(0),
            issued=d(0),
            standards=[standard_from(long)],
        ),
    )
    report = w.verifier.verify_bundle(child)
    _fails(report, "TRACE_STANDARD_VALID")
    [check] = [c for c in report.checks if c.code == "TRACE_STANDARD_VALID"]
    assert "VALIDITY_PERIOD" in check.detail


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
    _fails(w.verifier.verify_bundle(child), "TRACE_REACHES_NMI")


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
    _fails(report, "TRACE_NO_CYCLE")


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
    _fails(w.verifier.verify_bundle(loop), "TRACE_NO_CYCLE")


def test_verify_by_number_and_number_reuse(trace_world: TraceWorld) -> None:
    w = trace_world
    _, mid, leaf = chain_of_three(w)
    report = w.verifier.verify_number(w.city.hex_id, leaf["record"]["certificate_number"])
    assert report.verdict is Verdict.VALID
    second = reuse_number(w, leaf, mid, publish=False)
    # The one uploaded (in no source) counts: its own anchoring by the lab was just checked.
    _fails(w.verifier.verify_bundle(second), "NUMBER_UNIQUE")
    w.source.add(second)
    _fails(w.verifier.verify_bundle(leaf), "NUMBER_UNIQUE")


def test_unknown_number_is_unknown_not_valid(trace_world: TraceWorld) -> None:
    report = trace_world.verifier.verify_number(trace_world.city.hex_id, "HZ-NOPE")
    assert report.unknown and report.verdict is Verdict.INVALID


def test_report_json_is_bilingual(trace_world: TraceWorld) -> None:
    _, _, leaf = chain_of_three(trace_world)
    forged = tamper(leaf, "results.0.value", "0.000")
    body = trace_world.verifier.verify_bundle(forged).to_dict()
    [reason] = [r for r in body["reasons"] if r["code"] == "DIGEST_MATCHES"]
    assert reason["zh"] and reason["en"] and reason["severity"] == "ERROR"
    assert dt.datetime.fromtimestamp(body["as_of"], dt.UTC).year >= 2026


# --- found in review: each of these used to come out VALID ------------------------------------------------


def test_a_broken_link_two_levels_up_reaches_the_certificate(trace_world: TraceWorld) -> None:
    w = trace_world
    top, mid, leaf = chain_of_three(w)
    # Revoked with effect from the day before the provincial institute used the standard (dates are UTC+8).
    mid_begin = dt.datetime.fromisoformat(mid["record"]["dates"]["performance_begin"] + "T00:00:00+08:00")
    w.chain.contracts.revoke(w.nmi.writer, w.nmi.lab_id, from_hex(top["digest"]), RevocationReason.FRAUD,
                             int(mid_begin.timestamp()) - 86_400)
    report = w.verifier.with_policy(cache_seconds=0).verify_bundle(leaf)
    _fails(report, "TRACE_STANDARD_VALID")


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
    _fails(w.verifier.verify_bundle(child), "TRACE_STANDARD_VALID")


def test_a_lying_source_cannot_answer_another_question(trace_world: TraceWorld) -> None:
    from tracecert.verification.engine import Verifier

    w = trace_world
    _, _, leaf = chain_of_three(w)

    class Liar:
        def by_digest(self, digest: str) -> dict | None:
            return leaf

        def by_document(self, sha256: str) -> dict | None:
            return leaf

        def by_number(self, lab_id: str, number: str) -> list[dict]:
            return [leaf]

    verifier = Verifier(w.verifier.chain, Liar())  # type: ignore[arg-type]
    assert verifier.sources.by_digest("0x" + "ab" * 32) is None
    assert verifier.sources.by_digest(leaf["digest"]) == leaf
    assert verifier.sources.by_number(w.city.hex_id, "NO-SUCH-1") == []
    assert verifier.sources.by_document("0x" + "cd" * 32) is None
    report = verifier.verify_number(w.city.hex_id, "NO-SUCH-1")
    assert report.unknown and report.verdict is Verdict.INVALID


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


def test_as_of_before_the_certificate_existed(trace_world: TraceWorld) -> None:
    _, _, leaf = chain_of_three(trace_world)
    _fails(trace_world.verifier.verify_bundle(leaf, as_of=1_600_000_000), "ISSUED_BY_AS_OF")


def test_another_lab_cannot_frame_a_certificate_as_number_reuse(trace_world: TraceWorld) -> None:
    w = trace_world
    _, _, leaf = chain_of_three(w)
    copy = tamper(leaf, "customer.name", "另一家公司")
    w.issue(w.provincial, copy["record"])  # anchored by the provincial lab under the city's number
    report = w.verifier.verify_bundle(leaf)
    assert report.verdict is Verdict.VALID, [(r["code"], r["detail"]) for r in report.to_dict()["reasons"]]


class ClaimingSource:
    """A source that says many certificates share one number (a lying mirror), and counts their look-ups."""

    def __init__(self, inner: MemorySource, number: str, claims: list[str]) -> None:
        self.inner, self.number, self.claims, self.asked = inner, number, claims, 0

    def by_digest(self, digest: str) -> dict[str, Any] | None:
        self.asked += digest in self.claims
        return self.inner.by_digest(digest)

    def by_document(self, sha256: str) -> dict[str, Any] | None:
        return self.inner.by_document(sha256)

    def by_number(self, lab_id: str, number: str) -> list[dict[str, Any]]:
        lies = [{"digest": c} for c in self.claims] if number == self.number else []
        return lies + self.inner.by_number(lab_id, number)


def test_claims_of_number_reuse_are_bounded(trace_world: TraceWorld) -> None:
    w = trace_world
    _, _, leaf = chain_of_three(w)
    claims = ["0x" + os.urandom(32).hex() for _ in range(3 * MAX_NUMBER_CLAIMS)]
    source = ClaimingSource(w.source, leaf["record"]["certificate_number"], [*claims, "../../v1/admin", "0xABC"])
    report = Verifier(LiveChainView(w.chain.contracts), source).verify_bundle(leaf)
    assert report.verdict is Verdict.VALID, report.to_dict()["reasons"]  # none of the claims holds
    assert source.asked == MAX_NUMBER_CLAIMS  # only well-formed digests, and no more than the bound
