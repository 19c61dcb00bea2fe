"""The scale benchmark (``scripts/bench_scale.py``) at a tiny size: what it generates is what the registry and the
verifier take for real certificates, every lookup it times finds the certificate it looks for, its verifications are
VALID, and no query it times reads a table that grows with the certificates whole. Correctness, not timing."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from typing import Any

import pytest
from sqlalchemy import func, select

from registry.db import Batch, Certificate, Citation, make_engine
from scripts.bench_scale import (
    GROWING,
    Bench,
    Plan,
    Records,
    _reads_whole,
    failures,
    lab_key,
    make_plan,
    prepare,
    run,
)
from tracecert.certificate.canonical import from_hex
from tracecert.certificate.merkle import verify_inclusion
from tracecert.certificate.model import record_from_json
from tracecert.certificate.signing import verify_signature

CHECKPOINTS = (1000, 3000)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return make_plan(CHECKPOINTS, labs=4, batch_size=256, per_day=100, today=dt.date(2026, 3, 1))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def filled(
    request: pytest.FixtureRequest, plan: Plan, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Bench, list[dict[str, Any]]]:
    """The registry's database (SQLite, or PostgreSQL with ``--database``) and the index filled to each checkpoint,
    with what was measured there."""
    tmp = tmp_path_factory.mktemp("scale")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'registry.db'}"
    else:
        url = request.getfixturevalue("postgres_server").new_database()
    ctx = prepare(url, tmp / "index.db", plan, cache_mb=64)
    results = [result for result, _generation in run(ctx, lookups=20, verifications=5, pages=5, scans=1)]
    return ctx, results


def test_the_plan_reaches_each_checkpoint_in_batches_of_one_lab(plan: Plan) -> None:
    assert [plan.count(end) for end in plan.ends] == list(CHECKPOINTS)
    assert all(b.size <= plan.batch_size for b in plan.batches)
    assert [b.seq for b in plan.batches[1:]] == [b.seq + b.size for b in plan.batches[:-1]]
    anchored = [b.anchored_at for b in plan.batches]
    assert anchored == sorted(set(anchored))


def test_generated_records_are_valid_and_hash_to_their_digests(plan: Plan) -> None:
    records = Records(plan)
    certificates = [*records.nmi[:3], *records.batch(plan.batches[1])[:50], *records.batch(plan.batches[-1])[-50:]]
    for c in certificates:
        record = record_from_json(c.canonical)  # the model's rules and the reference canonical form
        assert record.canonical == c.canonical
        assert record.digest == c.digest
        assert record.certificate_number == c.number


def test_the_stores_hold_every_certificate_anchored_with_a_proof(filled: tuple[Bench, list[dict[str, Any]]]) -> None:
    ctx, _results = filled
    engine = make_engine(ctx.url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Certificate)) == CHECKPOINTS[-1]
            assert conn.scalar(select(func.count()).select_from(Batch)) == len(ctx.plan.batches)
            lab_certificates = CHECKPOINTS[-1] - ctx.plan.batches[0].size
            assert conn.scalar(select(func.count()).select_from(Citation)) == lab_certificates
            assert set(conn.scalars(select(Certificate.status).distinct())) == {"ANCHORED"}
            row = conn.execute(select(Certificate, Batch.size).join(Batch).where(Certificate.seq == 1234)).one()
        digest = from_hex(row.digest)
        verify_inclusion(digest, row.leaf_index, row.size, [from_hex(h) for h in row.proof], from_hex(row.batch_root))
        lab = next(lab for lab in ctx.plan.labs if lab.lab_id == row.lab_id)
        verify_signature(lab_key(lab).public_key, digest, from_hex(row.signature, 64))
    finally:
        engine.dispose()
    db = sqlite3.connect(str(ctx.index_path))
    try:
        assert db.execute("SELECT count(*) FROM leaves").fetchone()[0] == CHECKPOINTS[-1]
        assert db.execute("SELECT count(*) FROM batches WHERE contents = 'VERIFIED'").fetchone()[0] == len(
            ctx.plan.batches
        )
    finally:
        db.close()


def test_every_lookup_finds_its_certificate_and_every_verification_is_valid(
    filled: tuple[Bench, list[dict[str, Any]]],
) -> None:
    _ctx, results = filled
    assert [r["certificates"] for r in results] == list(CHECKPOINTS)
    for result in results:
        assert failures(result) == []
        names = {(m.name, m.store) for m in result["measures"]}
        assert ("verification (index as chain view)", "index") in names
        for m in result["measures"]:
            assert m.runs and m.right == len(m.runs) + 1, (m.name, m.store, m.right, len(m.runs))
            assert m.plans, (m.name, m.store)


def test_no_query_reads_a_growing_table_whole(filled: tuple[Bench, list[dict[str, Any]]]) -> None:
    _ctx, results = filled
    for result in results:
        for m in result["measures"]:
            assert m.full_scans == [], (m.name, m.store, m.full_scans)
            searched = {_searched(line) for lines in m.plans.values() for line in lines}
            assert searched & GROWING, (m.name, m.store, m.plans)  # the plans of its own queries were read


def _searched(line: str) -> str | None:
    """The table a plan line reads through an index (SQLite ``SEARCH t``; PostgreSQL ``Index Scan using i on t``)."""
    found = re.match(
        r"\s*(?:->\s*)?(?:SEARCH (\w+)|(?:Index|Index Only|Bitmap Heap) Scan (?:using \w+ )?on (\w+))", line
    )
    return (found.group(1) or found.group(2)) if found else None


@pytest.mark.parametrize(
    ("line", "whole"),
    [
        ("SCAN certificates", True),
        ("SCAN certificates USING INDEX ix_certificates_lab_seq", True),
        ("SCAN leaves", True),
        ("SCAN citations", True),
        ("Seq Scan on certificates  (cost=0.00..123.00 rows=10 width=8)", True),
        ("  ->  Seq Scan on leaves  (cost=0.00..1.00 rows=1 width=8)", True),
        ("SEARCH certificates USING INDEX ix_certificates_lab_seq (lab_id=? AND seq>?)", False),
        ("SEARCH leaves USING INDEX ix_leaves_digest (digest=?)", False),
        ("SCAN lifecycle_ops", False),
        ("SCAN labs", False),
        ("Index Scan using certificates_digest_key on certificates  (cost=0.43..8.45 rows=1)", False),
        ("USE TEMP B-TREE FOR ORDER BY", False),
    ],
)
def test_a_plan_line_reads_a_growing_table_whole(line: str, whole: bool) -> None:
    assert _reads_whole(line) is whole


@pytest.mark.parametrize(
    "checkpoints",
    [(3000, 1000), (1000, 1000), (10,), (12, 3000)],
    ids=["decreasing", "repeated", "below-the-nmi-batch", "first-is-the-nmi-batch"],
)
def test_a_plan_refuses_checkpoints_it_cannot_reach(checkpoints: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="checkpoints must increase"):
        make_plan(checkpoints, labs=4, batch_size=256, per_day=100)


def test_a_wrong_answer_and_a_whole_table_read_fail_the_run(filled: tuple[Bench, list[dict[str, Any]]]) -> None:
    _ctx, results = filled
    result = dict(results[0])
    first = result["measures"][0]
    broken = type(first)(first.name, first.store, list(first.runs), first.right - 1, {"q": ["SCAN certificates"]})
    result["measures"] = [broken, *result["measures"][1:]]
    found = failures(result)
    assert any("1 of" in f and "answers wrong" in f for f in found), found
    assert any("reads a whole table: SCAN certificates" in f for f in found), found
