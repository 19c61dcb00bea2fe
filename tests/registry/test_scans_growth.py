"""The anomaly scans' memory does not follow the size of the period scanned (issue 15: the anchoring worker scans
each lab's last 30 days every minute, and kept every record it read — about 11 KB each parsed — so that in the
ten-minute soak it grew to 1 GB at 150,000 certificates). The scan now reads in chunks and keeps, between chunks,
what its detectors count."""

from __future__ import annotations

import datetime as dt
import json
import tracemalloc
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert

from registry.db import Certificate, Lab, make_engine, make_sessionmaker, migrate
from registry.scans import Thresholds, scan

LAB = "0x" + "ab" * 32
DAY = dt.date(2026, 11, 30)
#: Bytes a scan may take per certificate more in its period (what the detectors count: sequence numbers, and one
#: entry per distinct set of results: about 180); it kept about 9,000 per certificate of this ledger before.
PER_CERTIFICATE = 600


def _record(i: int) -> dict[str, Any]:
    """An ordinary certificate: one of 40 performers, one of 40 standards, its own results, one of 30 work days
    (no group reaches a threshold: nothing to find)."""
    day = (DAY - dt.timedelta(days=i % 30)).isoformat()
    who = i // 30 % 40  # with the day: 1,200 (performer, day) and (standard, day) pairs
    return {
        "certificate_number": f"JD-{i:08d}",
        "lab": {"lab_id": LAB, "code": "LAB-1", "name": "计量院"},
        "customer": {"name": f"客户{i % 97}", "usci": None},
        "item": {"category_code": "1010", "serial_number": f"S{i:08d}", "name": "压力表"},
        "dates": {"performance_begin": day, "issue": day},
        "persons": [
            {"role": "PERFORMER", "id": f"P{who}", "name": f"检定员{who}"},
            {"role": "CHECKER", "id": f"C{i % 7}", "name": f"核验员{i % 7}"},
        ],
        "standards_used": [
            {
                "name": "精密压力表",
                "serial_number": f"STD{who}",
                "certificate_digest": "0x" + f"{who:064x}",
                "valid_until": "2027-12-31",
            }
        ],
        "results": [{"quantity": f"q{k}", "value": f"{i}.{k}", "unit": "MPa"} for k in range(4)],
        "remarks": "常规检定" * 20,
    }


def _add(engine: Any, start: int, stop: int) -> None:
    rows = []
    for i in range(start, stop):
        record = _record(i)
        day = record["dates"]["issue"]
        rows.append(
            {
                "digest": "0x" + f"{i + 1:064x}",
                "lab_id": LAB,
                "certificate_number": record["certificate_number"],
                "kind": "VERIFICATION",
                "category_code": "1010",
                "serial_number": record["item"]["serial_number"],
                "issue_date": day,
                "record_json": json.dumps(record, ensure_ascii=False),
                "key_id": "0x" + "11" * 32,
                "signature": "0x" + "22" * 65,
                "signed_by": "LAB",
                "status": "ANCHORED",
                "accepted_at": dt.datetime.fromisoformat(day).replace(hour=8, tzinfo=dt.UTC),
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(Certificate), rows)


def _scan_peak(core: Any) -> int:
    """The memory a scan of the whole ledger takes at its peak, in bytes."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        found = scan(core, since=DAY - dt.timedelta(days=60))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found == []
    return peak - before


def _ledger(tmp_path: Path) -> tuple[Any, Any]:
    """An engine on an empty migrated registry database with the lab, and a core over it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine)
    with engine.begin() as conn:
        lab = {"lab_id": LAB, "code": "LAB-1", "name": "计量院", "writer_address": "0x" + "00" * 20}
        conn.execute(insert(Lab), [lab])
    return engine, SimpleNamespace(sessions=make_sessionmaker(engine))


def test_a_scans_memory_does_not_follow_the_ledger(tmp_path: Path) -> None:
    engine, core = _ledger(tmp_path)
    small, large = 3_000, 15_000
    _add(engine, 0, small)
    first = _scan_peak(core)
    _add(engine, small, large)
    second = _scan_peak(core)
    engine.dispose()
    per_certificate = (second - first) / (large - small)
    assert per_certificate < PER_CERTIFICATE, f"{first:,} -> {second:,} bytes: {per_certificate:,.0f} per certificate"


def test_a_certificate_in_several_findings_is_held_once(tmp_path: Path) -> None:
    """Certificates found by two detectors (here: each standard is one performer's, and both limits are 1): both
    findings name them with the same strings, not a copy per finding (the soak's ledger, one performer and one
    standard on every certificate, has two findings naming every certificate of the day)."""
    engine, core = _ledger(tmp_path)
    _add(engine, 0, 3_000)
    limits = Thresholds(standard_per_day=1, signer_per_day=1)
    found = scan(core, labs=[LAB], since=DAY - dt.timedelta(days=60), thresholds=limits)
    engine.dispose()
    standards = {f.digests: f for f in found if f.code == "STANDARD_OVERUSE"}
    performers = [f for f in found if f.code == "SIGNER_OVERUSE"]
    assert len(performers) == len(standards) > 100
    for performer in performers:
        standard = standards[performer.digests]
        assert all(a is b for a, b in zip(standard.digests, performer.digests, strict=True))
