"""The worker's incremental scans take a bounded share of its time, however large a lab's window has grown (issue
15: in the soak, a scan of a lab's 30 days, 150,000 certificates, ran every minute and took half the worker's
time at the end): a lab's scan starts again no sooner than ``SCAN_SPACING`` times as long as its last one took."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

import registry.scans
from registry.scans import SCAN_SPACING, IncrementalScans

LAB = "0x" + "ab" * 32


@pytest.mark.parametrize(
    ("interval", "took", "due"),
    [
        (0.0, 0.0, True),  # no scan yet
        (60.0, 0.2, False),  # within the interval
        (0.0, 0.2, False),  # the interval passed, not ten times the last scan's time
        (0.0, 0.001, True),  # both passed (0.2 s since it started)
    ],
)
def test_a_labs_scan_is_due_after_the_interval_and_ten_times_its_last(
    monkeypatch: pytest.MonkeyPatch, interval: float, took: float, due: bool
) -> None:
    scanned: list[list[str] | None] = []

    def fake_scan(_core: Any, *, labs: list[str] | None = None, **_kw: Any) -> list[Any]:
        scanned.append(labs)
        return []

    monkeypatch.setattr(registry.scans, "scan", fake_scan)
    scans = IncrementalScans(SimpleNamespace(chain=None), interval=interval)
    if took:  # a scan of the lab started 0.2 s ago and took ``took``
        scans._last[LAB], scans.took[LAB] = time.monotonic() - 0.2, took
    scans.note(LAB)
    scans.run()
    if scans._thread is not None:
        scans._thread.join(10)
    assert scanned == ([[LAB]] if due else [])
    assert SCAN_SPACING == 10.0


def test_how_long_a_scan_took_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_scan(_core: Any, **_kw: Any) -> list[Any]:
        time.sleep(0.1)
        return []

    monkeypatch.setattr(registry.scans, "scan", slow_scan)
    scans = IncrementalScans(SimpleNamespace(chain=None), interval=0.0)
    scans.note(LAB)
    scans.run()
    assert scans._thread is not None
    scans._thread.join(10)
    assert 0.1 <= scans.took[LAB] < 5
    scans.note(LAB)
    scans.run()  # due again after 10 × 0.1 s only
    assert not (scans._thread is not None and scans._thread.is_alive()) and scans._due == {LAB}
