"""One rulebook: what the checks decide at acceptance (``Verifier.preflight``, which the registry runs) agrees with
what the verifier says once the certificate is anchored — for generated variants of real records.

Whatever preflight accepts, the verifier does not call INVALID; whatever it refuses, the verifier calls INVALID for
one of the same reasons.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.verifier.conftest import TraceWorld, calibration, chain_of_three, standard_from
from tracecert.certificate.canonical import certificate_digest, from_hex
from tracecert.certificate.model import record_from_json
from tracecert.chain.types import RevocationReason
from tracecert.verification.engine import ChecksMemo, Verifier
from tracecert.verification.evidence import Policy
from tracecert.verification.report import CHECKS, Outcome, Report, Severity, Verdict

pytestmark = pytest.mark.chain
_numbers = itertools.count(1)


def test_the_catalog_says_what_is_decided_at_acceptance() -> None:
    after = {code for code, spec in CHECKS.items() if not spec.at_acceptance}
    assert after == {
        "DIGEST_MATCHES",
        "ANCHORED",
        "INCLUSION_PROOF",
        "ANCHORED_BY_LAB",
        "KEY_MATCHES_BATCH",
        "NOT_REVOKED",
        "NOT_SUBSTITUTED",
        "NUMBER_UNIQUE",
        "BATCH_PUBLISHED",
        "KIND_AS_EXPECTED",
        "VC_PROOF",
    }
    # every refusal can name the field it is about
    assert all(spec.field for spec in CHECKS.values() if spec.at_acceptance and spec.code != "RECORD_WELL_FORMED")


@pytest.fixture
def standards(trace_world: TraceWorld) -> dict[str, dict[str, Any] | None]:
    """What a city-lab record may cite: a valid standard, one whose certificate was revoked, one nobody anchored,
    or nothing."""
    _, mid, _ = chain_of_three(trace_world)
    d = trace_world.day
    [revoked] = trace_world.issue(
        trace_world.provincial,
        calibration(
            trace_world.provincial, "ZJ-REVOKED", serial="JM-4403", item="精密压力表", u="0.002",
            performed=d(-5), issued=d(-4), valid_until=d(360), standards=[standard_from(mid)],
        ),
    )  # fmt: skip
    c = trace_world.chain.contracts
    c.revoke(trace_world.provincial.writer, trace_world.provincial.lab_id, from_hex(revoked["digest"]),
             RevocationReason.ERROR_IN_CONTENT)  # fmt: skip
    unanchored = dict(mid, digest="0x" + "5a" * 32)
    return {"valid": mid, "revoked": revoked, "unanchored": unanchored, "none": None}


VARIANTS = st.fixed_dictionaries(
    {
        # days before today the work was done (the city lab's key is 30 days old; its authorization began six years ago)
        "performed": st.sampled_from([1, 3, 20, 45, 400, 3000]),
        # days after the work it was issued (a future issue date when performed - issued < 0)
        "issued_after": st.sampled_from([0, 1, 2, 5]),
        "category": st.sampled_from(["PRESSURE", "MASS"]),
        "standard": st.sampled_from(["valid", "revoked", "unanchored", "none"]),
        "name": st.sampled_from(["own", "provincial"]),
        "mandatory": st.sampled_from([None, False, True]),
    }
)


def _variant(**changes: Any) -> dict[str, Any]:
    return {"performed": 1, "issued_after": 1, "category": "PRESSURE", "standard": "valid", "name": "own",
            "mandatory": None} | changes  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(variant=VARIANTS)
@example(variant=_variant())  # a genuine certificate: accepted, and VALID once anchored
@example(variant=_variant(performed=3000))  # work before the lab was registered and its key existed
@example(variant=_variant(issued_after=2))  # issued tomorrow
@example(variant=_variant(standard="unanchored"))  # a standard cited by a digest nobody anchored
@example(variant=_variant(standard="revoked"))  # a standard whose own certificate was revoked
@example(variant=_variant(mandatory=True))  # a calibration for a 强检 instrument
@example(variant=_variant(category="MASS"))  # outside the lab's scope
@example(variant=_variant(name="provincial"))  # in another lab's name
def test_preflight_and_the_verifier_agree(
    trace_world: TraceWorld, standards: dict[str, dict[str, Any] | None], variant: dict[str, Any]
) -> None:
    w, d, lab = trace_world, trace_world.day, trace_world.city
    performed = -variant["performed"]
    standard = standards[variant["standard"]]
    record = calibration(
        lab, f"HZ-RULE-{next(_numbers):04d}", serial="YB-8812", item="压力表", u="0.01",
        performed=d(performed), issued=d(performed + variant["issued_after"]),
        valid_until=d(performed + 360), standards=[standard_from(standard)] if standard else [],
        mandatory=variant["mandatory"],
    )  # fmt: skip
    record["item"]["category_code"] = variant["category"]
    if variant["name"] == "provincial":
        record["lab"]["name"] = w.provincial.name
    parsed = record_from_json(record)
    digest = certificate_digest(parsed)
    report = w.verifier.preflight(
        parsed, key_id=lab.key.key_id, signature=lab.key.sign(digest), at=w.chain.now()
    )
    refusals = {c.code for c in report.failed(Severity.ERROR)}
    if variant == _variant():
        assert not refusals, report.to_dict()["reasons"]
    [bundle] = w.issue(lab, record)
    verdict = w.verifier.verify_bundle(bundle)
    if not refusals:
        assert verdict.verdict is not Verdict.INVALID, (variant, verdict.to_dict()["reasons"])
    else:
        assert verdict.verdict is Verdict.INVALID
        assert refusals & verdict.codes, (variant, refusals, verdict.codes)


# --- one request's records judged with one memo (ChecksMemo) ------------------------------------------------


def _judged(w: TraceWorld, record: dict[str, Any], at: int, memo: ChecksMemo | None) -> dict[str, Any]:
    """Everything preflight's report holds about ``record``, judged at ``at`` with ``memo`` (or none)."""
    parsed = record_from_json(record)
    digest = certificate_digest(parsed)
    lab = w.city
    report = w.verifier.preflight(parsed, key_id=lab.key.key_id, signature=lab.key.sign(digest), at=at, memo=memo)
    return {
        "checks": [(c.code, c.outcome, c.detail, c.detail_zh, c.data) for c in report.checks],
        "certificate": report.certificate,
        "subtree": report.subtree,
        "trace": report.trace.to_dict() if report.trace else None,
    }


def _request_record(w: TraceWorld, standards: dict[str, dict[str, Any] | None], v: dict[str, Any]) -> dict[str, Any]:
    d, performed = w.day, -v["performed"]
    standard = standards[v["standard"]]
    record = calibration(
        w.city, f"HZ-MEMO-{next(_numbers):05d}", serial=v["serial"], item="压力表", u=v["u"],
        performed=d(performed), issued=d(performed + v["issued_after"]), valid_until=d(performed + 360),
        standards=[standard_from(standard)] if standard else [], mandatory=v["mandatory"],
    )  # fmt: skip
    record["item"]["category_code"] = v["category"]
    if v["name"] == "provincial":
        record["lab"]["name"] = w.provincial.name
    return record


#: A genuine certificate of the city lab: its every part as a request's record has it.
_PLAIN: dict[str, Any] = {"performed": 1, "issued_after": 1, "category": "PRESSURE", "standard": "valid",
                          "name": "own", "mandatory": None, "serial": "YB-8812", "u": "0.01"}  # fmt: skip

#: What varies between a request's records, and the values each part takes.
REQUEST_PARTS: dict[str, list[Any]] = {
    "performed": [1, 3, 3000],
    "issued_after": [0, 1, 5],
    "category": ["PRESSURE", "MASS"],
    "standard": ["valid", "revoked", "unanchored", "none"],
    "name": ["own", "provincial"],
    "mandatory": [None, True],
    # the instrument: an enterprise's gauge, or the standard's own (JM-4402) or its standard's (PG-7601): a loop
    "serial": ["YB-8812", "YB-8813", "JM-4402", "PG-7601"],
    "u": ["0.01", "0.0001"],  # the second is too small for the standard (TUR)
}
#: A request as a bulk is: records like a first one, each differing from it in one part at most (so that the memo
#: is met by records equal in every part but one).
REQUESTS = st.tuples(
    st.fixed_dictionaries({part: st.sampled_from(values) for part, values in REQUEST_PARTS.items()}),
    st.lists(
        st.none() | st.sampled_from(sorted(REQUEST_PARTS)).flatmap(
            lambda part: st.sampled_from(REQUEST_PARTS[part]).map(lambda value: (part, value))
        ),
        min_size=2,
        max_size=8,
    ),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=REQUESTS)
def test_a_request_judged_with_one_memo_gets_the_reports_of_records_judged_alone(
    trace_world: TraceWorld,
    standards: dict[str, dict[str, Any] | None],
    request: tuple[dict[str, Any], list[tuple[str, Any] | None]],
) -> None:
    """The registry judges a bulk's records with one memo: every report is the one preflight makes without it, for
    records that differ in any part the checks read, loops through the standards' instruments included."""
    w = trace_world
    at = w.chain.now()
    memo = ChecksMemo()
    first, changes = request
    for change in [None, *changes]:
        v = first | dict([change] if change else [])
        record = _request_record(w, standards, v)
        assert _judged(w, record, at, memo) == _judged(w, record, at, None), v


def test_the_memo_checks_a_bulk_of_one_lab_once_and_a_loop_on_its_own(
    trace_world: TraceWorld, standards: dict[str, dict[str, Any] | None]
) -> None:
    w = trace_world
    at = w.chain.now()
    memo = ChecksMemo()
    plain = _PLAIN
    records = [
        _request_record(w, standards, plain),
        _request_record(w, standards, plain | {"serial": "YB-8813"}),
        _request_record(w, standards, plain | {"serial": "JM-4402"}),  # calibrates the standard it used: a loop
        _request_record(w, standards, plain | {"serial": "YB-8814"}),
        _request_record(w, standards, plain | {"serial": "YB-8815", "u": "0.0001"}),  # finer than its standard allows
    ]
    judged = [_judged(w, r, at, memo) for r in records]
    assert judged == [_judged(w, r, at, None) for r in records]
    assert len(memo.lab) == 1
    assert len(memo.trace) == 2  # the loop's outcome was not kept; the first three others share one
    failed = [{code for code, outcome, *_ in j["checks"] if outcome is Outcome.FAIL} for j in judged]
    assert failed == [set(), set(), {"TRACE_NO_CYCLE", "TRACE_REACHES_NMI"}, set(), {"TRACE_UNCERTAINTY"}]


# --- the verifier's own memo: certificates of one lab and standards verified one after another ------------------


def _verified(report: Report) -> dict[str, Any]:
    return report.to_dict() | {"subtree": report.subtree}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=REQUESTS)
def test_a_verifier_with_its_memo_gives_the_reports_of_one_without_it(
    trace_world: TraceWorld,
    standards: dict[str, dict[str, Any] | None],
    request: tuple[dict[str, Any], list[tuple[str, Any] | None]],
) -> None:
    """An enterprise checks a supplier's certificates one after another: the verifier reuses the lab and
    traceability checks they share, and every report is the one a verifier that never saw the others makes."""
    w = trace_world
    first, changes = request
    records = [_request_record(w, standards, first | dict([c] if c else [])) for c in [None, *changes]]
    bundles = w.issue(w.city, *records)  # one batch: one anchoring time
    shared = w.verifier
    as_of = w.chain.now()
    for bundle in bundles:
        alone = w.verifier  # a new verifier: empty caches, empty memo
        assert _verified(shared.verify_bundle(bundle, as_of=as_of)) == _verified(
            alone.verify_bundle(bundle, as_of=as_of)
        )


def test_a_memo_entry_expires_with_the_standards_report_it_was_made_of(
    trace_world: TraceWorld, standards: dict[str, dict[str, Any] | None]
) -> None:
    """A standard's report is reused for cache_seconds; an outcome made of it later must not outlive it (else a
    standard's certificate revoked meanwhile would show as valid for up to twice as long)."""
    w = trace_world
    plain = _PLAIN
    a, finer, other = w.issue(
        w.city,
        _request_record(w, standards, plain),
        _request_record(w, standards, plain | {"u": "0.02"}),  # another trace key, the same standard's report
        _request_record(w, standards, plain | {"u": "0.02", "serial": "YB-8813"}),
    )
    verifier = Verifier(w.verifier.chain, w.source, Policy(cache_seconds=5))  # room for a slow machine
    assert verifier.verify_bundle(a).verdict is Verdict.VALID
    [parent_expires] = [expires for (_, _, depth), (expires, _) in verifier._cache.items() if depth == 1]  # mid
    assert verifier._memo is not None
    before = set(verifier._memo.trace)
    time.sleep(0.5)
    assert verifier.verify_bundle(finer).verdict is Verdict.VALID
    [made] = set(verifier._memo.trace) - before
    expires, _ = verifier._memo.trace[made]
    assert expires == parent_expires  # not 0.5 s later, as the memo alone would keep it
    assert verifier.verify_bundle(other).verdict is Verdict.VALID  # a hit: nothing new kept
    assert set(verifier._memo.trace) == before | {made}
    time.sleep(max(0.0, parent_expires - time.monotonic()) + 0.05)
    assert verifier._memo.get(verifier._memo.trace, made) is None


def test_a_standards_report_made_on_a_loop_is_not_reused_for_another_path(
    trace_world: TraceWorld, standards: dict[str, dict[str, Any] | None]
) -> None:
    """A gauge calibrated with the provincial gauge whose own standard is this very instrument (PG-7601) loops: the
    provincial gauge's report made on that path says so. Reused for the next certificate of another gauge, it made
    that one INVALID ("cycle above") for cache_seconds, where a verifier that had not seen the loop says VALID."""
    w = trace_world
    plain = _PLAIN
    loop, clean = w.issue(
        w.city, _request_record(w, standards, plain | {"serial": "PG-7601"}), _request_record(w, standards, plain)
    )
    shared = w.verifier
    assert "TRACE_NO_CYCLE" in shared.verify_bundle(loop).codes
    assert shared.verify_bundle(clean).verdict is Verdict.VALID
    assert w.verifier.verify_bundle(clean).verdict is Verdict.VALID
