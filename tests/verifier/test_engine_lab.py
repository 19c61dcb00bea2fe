"""The verification engine against a real chain: the fake-certificate cases of the issue about who issued it and
when: a key outside its window, a lab suspended, unauthorized, out of scope or named wrongly, the wrong kind, a
backdated issue date, a stretched validity."""

from __future__ import annotations

from tests.verifier.conftest import (
    TraceWorld,
    _lab,
    calibration,
    chain_of_three,
    standard_from,
    usci,
    verification,
)
from tests.verifier.verdicts import fails
from tracecert.certificate.model import Kind
from tracecert.chain.types import Activity, LabKind, RevocationReason
from tracecert.verification.report import Verdict


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
    fails(trace_world.verifier.verify_bundle(bundle), "KEY_VALID_AT_ISSUE")


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
    fails(trace_world.verifier.verify_bundle(bundle), "LAB_ACTIVE_AT_ISSUE")


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
    fails(w.verifier.verify_bundle(bundle), "LAB_AUTHORIZED_AT_ISSUE")


def test_out_of_scope(trace_world: TraceWorld) -> None:
    lab, d = trace_world.city, trace_world.day
    record = calibration(lab, "HZ-SCOPE", serial="YB-3", item="压力表", u="0.01", performed=d(-1), issued=d(0))
    record["item"]["category_code"] = "MASS"
    [bundle] = trace_world.issue(lab, record)
    fails(trace_world.verifier.verify_bundle(bundle), "LAB_SCOPE")


def test_issued_in_another_labs_name(trace_world: TraceWorld) -> None:
    """The city lab signs and anchors a record naming the provincial institute: the chain's name is what is shown,
    and the record's claim fails LAB_NAME."""
    lab, d = trace_world.city, trace_world.day
    record = calibration(lab, "HZ-NAME", serial="YB-4", item="压力表", u="0.01", performed=d(-1), issued=d(0))
    record["lab"]["name"] = trace_world.provincial.name
    [bundle] = trace_world.issue(lab, record)
    report = trace_world.verifier.verify_bundle(bundle)
    fails(report, "LAB_NAME")
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
    fails(report, "KIND_AS_EXPECTED")
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
    fails(trace_world.verifier.verify_bundle(bundle), "ANCHOR_LAG")


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
    fails(report, "TRACE_STANDARD_VALID")
    [check] = [c for c in report.checks if c.code == "TRACE_STANDARD_VALID"]
    assert "VALIDITY_PERIOD" in check.detail
