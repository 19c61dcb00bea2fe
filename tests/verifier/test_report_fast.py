"""The report's fast paths answer as the reference does: Report.failed (outcomes first, the catalog only for the
failures), CheckResult.to_dict (the catalog's parts read once per check code), key order included, and
Report.to_json (checks written once per code and outcome, the parts around them apart), byte for byte."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tracecert.fast_json import dumps
from tracecert.verification.report import CHECKS, CheckResult, Outcome, Report, Severity, TraceNode, Verdict


def _reference(report: Report, severity: Severity | None) -> list[CheckResult]:
    return [c for c in report.checks if c.outcome is Outcome.FAIL and (severity is None or c.spec.severity is severity)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(CHECKS)), st.sampled_from(list(Outcome))), max_size=40), st.booleans())
def test_failed_and_the_verdict_are_the_reference_s(outcomes: list[tuple[str, Outcome]], unknown: bool) -> None:
    report = Report(None, 0, unknown=unknown)
    report.checks = [CheckResult(code, outcome) for code, outcome in outcomes]
    for severity in (None, *Severity):
        assert report.failed(severity) == _reference(report, severity)
    errors, warnings = _reference(report, Severity.ERROR), _reference(report, Severity.WARNING)
    expected = Verdict.INVALID if unknown or errors else Verdict.VALID_WITH_WARNINGS if warnings else Verdict.VALID
    assert report.verdict is expected
    body = report.to_dict()
    assert body["verdict"] == expected.value
    ordered = sorted(_reference(report, None), key=lambda c: (c.spec.severity is not Severity.ERROR, c.code))
    assert [r["code"] for r in body["reasons"]] == [c.code for c in ordered]


def _reference_dict(result: CheckResult) -> dict[str, Any]:
    spec = result.spec
    failed = result.outcome is Outcome.FAIL
    return {
        "code": result.code,
        "family": spec.family,
        "name": {"zh": spec.name_zh, "en": spec.name_en},
        "outcome": result.outcome.value,
        "severity": spec.severity.value,
        "message": {"zh": spec.zh, "en": spec.en} if failed else None,
        "detail": result.detail,
        "detail_zh": result.detail_zh,
        **({"data": result.data} if result.data else {}),
    }


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(CHECKS)),
    st.sampled_from(list(Outcome)),
    st.text(max_size=20),
    st.text(max_size=20),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)
def test_a_check_s_json_is_the_reference_s(
    code: str, outcome: Outcome, detail: str, detail_zh: str, data: dict[str, Any]
) -> None:
    result = CheckResult(code, outcome, detail, data, detail_zh)
    fast, reference = result.to_dict(), _reference_dict(result)
    assert list(fast.items()) == list(reference.items())  # the same keys in the same order: the same JSON bytes


_TEXT = st.text(max_size=12)
_VALUES = st.none() | st.booleans() | st.integers() | _TEXT
_CHECK = st.builds(
    CheckResult,
    st.sampled_from(sorted(CHECKS)),
    st.sampled_from(list(Outcome)),
    st.sampled_from(["", "batch 2, block 21"]) | _TEXT,
    st.builds(dict) | st.dictionaries(_TEXT, _VALUES, max_size=3),  # a new {} each time (st.just shares one)
    st.just("") | _TEXT,
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_CHECK, max_size=40),
    st.none() | st.just("0x" + "ab" * 32),
    st.integers(min_value=0, max_value=2**63),
    st.booleans(),
    st.dictionaries(_TEXT, _VALUES, max_size=4),
    st.dictionaries(_TEXT, _VALUES, max_size=4),
    st.none() | _TEXT,
    st.booleans(),
)
def test_a_report_s_json_is_the_reference_s_bytes(
    checks: list[CheckResult],
    digest: str | None,
    as_of: int,
    unknown: bool,
    certificate: dict[str, Any],
    anchor: dict[str, Any],
    replaced_by: str | None,
    traced: bool,
) -> None:
    report = Report(digest, as_of, checks, certificate, anchor, unknown=unknown, replaced_by=replaced_by)
    if traced:
        report.trace = TraceNode(digest or "0x00", "N-1", "0x01", "某计量院", "NMI", Verdict.VALID, None, "", [])
    assert report.to_json() == dumps(report.to_dict())
    assert report.to_json() == report.to_json()  # what is kept does not change what is written
