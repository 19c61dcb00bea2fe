"""The lookups every verification makes of the registry use an index, so that their cost does not grow with the
ledger (issue 15: in the ten-minute soak, verifications slowed from 24/s to 6/s as the ledger grew, the registry
reading its whole ``certificates`` table for each lookup of a lab's number)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event, text

from registry.db import make_engine, make_sessionmaker, migrate
from registry.reads import list_certificates

LAB = "0x" + "ab" * 32
DOCUMENT = "0x" + "cd" * 32


def _plan(tmp_path: Path, lookup: dict[str, Any]) -> str:
    """SQLite's query plan for the certificates query that ``list_certificates`` runs for ``lookup``, on a
    database brought up by the migrations (as the registry's own is)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine)
    seen: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM certificates" in statement:
            seen.append((statement, parameters))

    core = SimpleNamespace(sessions=make_sessionmaker(engine))
    found = list_certificates(core, None, limit=10, **lookup)  # type: ignore[arg-type]
    assert found == {"items": [], "next_cursor": None}
    assert len(seen) == 1, seen
    statement, parameters = seen[0]
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    engine.dispose()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize(
    ("lookup", "index"),
    [
        ({"lab_id": LAB, "number": "JD2026-00001"}, "ix_certificates_lab_number"),
        ({"document_sha256": DOCUMENT}, "ix_certificates_document_sha256"),
    ],
    ids=["lab-and-number", "document"],
)
def test_a_verifications_lookup_searches_an_index(tmp_path: Path, lookup: dict[str, Any], index: str) -> None:
    plan = _plan(tmp_path, lookup)
    assert f"SEARCH certificates USING INDEX {index}" in plan, plan
    assert "SCAN certificates" not in plan, plan


def test_the_migrated_schema_has_the_models_lookup_index(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine)
    with engine.connect() as conn:
        columns = [row[2] for row in conn.execute(text("PRAGMA index_info('ix_certificates_lab_number')"))]
    engine.dispose()
    assert columns == ["lab_id", "certificate_number"]
