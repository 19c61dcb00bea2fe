"""Report.failed's fast path (outcomes first, the catalog only for the failures) answers as the reference does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tracecert.verification.report import CHECKS, CheckResult, Outcome, Report, Severity, Verdict


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
