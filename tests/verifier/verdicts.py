"""Assertions on verification reports, shared by the engine's tests (tests/verifier/test_engine*.py)."""

from __future__ import annotations

from tracecert.verification.report import Report, Verdict

__all__ = ["fails"]


def fails(report: Report, code: str) -> None:
    """Assert that ``report`` is INVALID with ``code`` among its failed checks (its reasons shown if not)."""
    assert report.verdict is Verdict.INVALID, report.to_dict()["reasons"]
    assert code in report.codes, report.to_dict()["reasons"]
