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

from registry.anchoring import unbatched_groups, unbatched_next
from registry.db import make_engine, make_sessionmaker, migrate
from registry.reads import list_certificates
from registry.scans import scan

LAB = "0x" + "ab" * 32
OTHER_LAB = "0x" + "cd" * 32
DOCUMENT = "0x" + "ef" * 32
SINCE = dt.date(2026, 11, 1)


def _plans(tmp_path: Path, run: Callable[[Any], object]) -> list[str]:
    """SQLite's query plans for the ``certificates`` queries that ``run(core)`` makes, in order, on a database
    brought up by the migrations, as the registry's own is, holding one certificate of ``LAB`` issued after
    ``SINCE`` (so that a scan of the lab reads a chunk)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO labs (lab_id, code, name, writer_address, created_at) VALUES (:l, 'X', 'X', '0x0', :t)"),
            {"l": LAB, "t": dt.datetime(2026, 11, 2)},
        )
        conn.execute(
            text(
                "INSERT INTO certificates (digest, lab_id, certificate_number, kind, category_code, issue_date, "
                "record_json, key_id, signature, signed_by, status, accepted_at, public) VALUES (:d, :l, 'N-1', "
                "'VERIFICATION', '0201', '2026-11-02', '{}', :d, '0x', 'LAB', 'ANCHORED', :t, false)"
            ),
            {"d": "0x" + "01" * 32, "l": LAB, "t": dt.datetime(2026, 11, 2)},
        )
    seen: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM certificates" in statement:
            seen.append((statement, parameters))

    run(SimpleNamespace(sessions=make_sessionmaker(engine)))
    plans = []
    with engine.connect() as conn:
        for statement, parameters in seen:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            plans.append("\n".join(str(row[-1]) for row in rows))
    engine.dispose()
    return plans


def _next_batch(core: Any) -> object:
    with core.sessions() as s:
        return unbatched_next(s, LAB, LAB, 1024)


def test_the_worker_counts_what_it_may_batch_from_the_unbatched_index_alone(tmp_path: Path) -> None:
    """The groups the worker looks at each step: a walk of the partial index of certificates not in a batch yet
    (those rows alone), never the table nor the index of every pending row."""

    def groups(core: Any) -> object:
        with core.sessions() as s:
            return unbatched_groups(s)

    [plan] = _plans(tmp_path, groups)
    assert "certificates USING INDEX ix_certificates_unbatched" in plan or (
        "certificates USING COVERING INDEX ix_certificates_unbatched" in plan
    ), plan
    assert "TEMP B-TREE" not in plan, plan


def _listing(**lookup: Any) -> Callable[[Any], object]:
    return lambda core: list_certificates(core, None, limit=10, **lookup)


@pytest.mark.parametrize(
    ("run", "indexes"),
    [
        (
            _listing(lab_id=LAB, number="JD2026-00001"),
            ["ix_certificates_lab_number (lab_id=? AND certificate_number=?)"],
        ),
        (_listing(document_sha256=DOCUMENT), ["ix_certificates_document_sha256 (document_sha256=?)"]),
        (_listing(lab_id=LAB, cursor=0), ["ix_certificates_lab_seq (lab_id=? AND seq>?)"]),
        # Where the lab's period begins (never every older certificate of the lab walked), then its chunks from there.
        (
            lambda core: scan(core, labs=[LAB], since=SINCE),
            ["ix_certificates_lab_issue (lab_id=? AND issue_date>?)", "ix_certificates_lab_seq (lab_id=? AND seq>?)"],
        ),
        (lambda core: scan(core, since=SINCE), ["INTEGER PRIMARY KEY (rowid>?)"]),
        # The anchoring worker's next batch: the lab's and key's certificates not in a batch yet, not every pending
        # one before them.
        (_next_batch, ["ix_certificates_unbatched (lab_id=? AND key_id=?)"]),
    ],
    ids=[
        "lookup-by-number",
        "lookup-by-document",
        "lab-listing-page",
        "scan-of-a-lab",
        "scan-of-all-labs",
        "worker-next-batch",
    ],
)
def test_a_query_searches_an_index_in_order(tmp_path: Path, run: Callable[[Any], object], indexes: list[str]) -> None:
    plans = _plans(tmp_path, run)
    assert len(plans) == len(indexes), plans
    for plan, index in zip(plans, indexes, strict=True):
        assert any(f"SEARCH certificates USING {how}{index}" in plan for how in ("", "INDEX ", "COVERING INDEX ")), plan
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
    [
        ("ix_certificates_lab_number", ["lab_id", "certificate_number"]),
        ("ix_certificates_lab_seq", ["lab_id", "seq"]),
        ("ix_certificates_lab_issue", ["lab_id", "issue_date", "seq"]),
        ("ix_lifecycle_ops_digest", ["digest"]),
        ("ix_certificates_unbatched", ["lab_id", "key_id", "seq"]),
    ],
)
def test_the_migrated_schema_has_the_models_indexes(tmp_path: Path, index: str, columns: list[str]) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine)
    with engine.connect() as conn:
        found = [row[2] for row in conn.execute(text(f"PRAGMA index_info('{index}')"))]
        partial = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": index}).scalar_one()
    engine.dispose()
    assert found == columns
    if index == "ix_certificates_unbatched":
        assert partial.endswith("WHERE status = 'PENDING' AND batch_root IS NULL"), partial
