"""The registry's queries that run on every verification, and on every chunk of the worker's anomaly scans, use an
index that answers them in order, so that their cost does not grow with the ledger (issue 15: in the ten-minute
soak, verifications slowed from 24/s to 6/s as the ledger grew, the registry reading its whole ``certificates``
table for each lookup of a lab's number; and a lab's certificates must not be sorted whole for each page)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event, text

from registry.db import make_engine, make_sessionmaker, migrate
from registry.reads import list_certificates
from registry.scans import scan

LAB = "0x" + "ab" * 32
OTHER_LAB = "0x" + "cd" * 32
DOCUMENT = "0x" + "ef" * 32
SINCE = dt.date(2026, 11, 1)


def _plan(tmp_path: Path, run: Callable[[Any], object]) -> str:
    """SQLite's query plan for the one ``certificates`` query that ``run(core)`` makes, on an (empty) database
    brought up by the migrations, as the registry's own is."""
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine)
    seen: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM certificates" in statement:
            seen.append((statement, parameters))

    run(SimpleNamespace(sessions=make_sessionmaker(engine)))
    assert len(seen) == 1, seen
    statement, parameters = seen[0]
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    engine.dispose()
    return "\n".join(str(row[-1]) for row in rows)


def _listing(**lookup: Any) -> Callable[[Any], object]:
    return lambda core: list_certificates(core, None, limit=10, **lookup)


@pytest.mark.parametrize(
    ("run", "index"),
    [
        (_listing(lab_id=LAB, number="JD2026-00001"), "ix_certificates_lab_number (lab_id=? AND certificate_number=?)"),
        (_listing(document_sha256=DOCUMENT), "ix_certificates_document_sha256 (document_sha256=?)"),
        (_listing(lab_id=LAB, cursor=500), "ix_certificates_lab_seq (lab_id=? AND seq>?)"),
        (lambda core: scan(core, labs=[LAB], since=SINCE), "ix_certificates_lab_seq (lab_id=? AND seq>?)"),
        (lambda core: scan(core, since=SINCE), "INTEGER PRIMARY KEY (rowid>?)"),
    ],
    ids=["lookup-by-number", "lookup-by-document", "lab-listing-page", "scan-of-a-lab", "scan-of-all-labs"],
)
def test_a_query_searches_an_index_in_order(tmp_path: Path, run: Callable[[Any], object], index: str) -> None:
    plan = _plan(tmp_path, run)
    assert f"SEARCH certificates USING {index}" in plan or f"SEARCH certificates USING INDEX {index}" in plan, plan
    assert "SCAN certificates" not in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # nothing sorted whole


def test_a_scan_of_several_labs_walks_each_labs_index(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert scan(SimpleNamespace(sessions=make_sessionmaker(engine)), labs=[OTHER_LAB, LAB.upper()], since=SINCE) == []
    engine.dispose()
    chunks = [s for s in statements if "FROM certificates" in s]
    assert len(chunks) == 2 and all("certificates.lab_id = ?" in s and " IN " not in s for s in chunks), chunks


@pytest.mark.parametrize(
    ("index", "columns"),
    [("ix_certificates_lab_number", ["lab_id", "certificate_number"]), ("ix_certificates_lab_seq", ["lab_id", "seq"])],
)
def test_the_migrated_schema_has_the_models_indexes(tmp_path: Path, index: str, columns: list[str]) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine)
    with engine.connect() as conn:
        found = [row[2] for row in conn.execute(text(f"PRAGMA index_info('{index}')"))]
    engine.dispose()
    assert found == columns
