"""The database layer: migrations from several processes at once (API instances and the worker start together), and
a migration applied to a database that already holds certificates."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import socket
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

import registry.db
from registry.db import make_engine, migrate


def _migrate(url: str) -> None:
    migrate(make_engine(url))


def test_concurrent_migrations_do_not_race(database_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_migrate, args=(database_url,)) for _ in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(120)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    tables = set(inspect(make_engine(database_url)).get_table_names())
    assert {"certificates", "batches", "lifecycle_ops", "fraud_signals", "tx_journal", "alembic_version"} <= tables


def _alembic(engine: Engine, action: str, revision: str) -> None:
    """Run ``alembic upgrade|downgrade revision`` on ``engine``, as :func:`registry.db.migrate` does."""
    config = Config()
    config.set_main_option("script_location", str(Path(registry.db.__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def test_public_is_added_private_to_existing_certificates(database_url: str) -> None:
    """0002 on a database with certificates: they stay private; the column is NOT NULL; it downgrades cleanly."""
    engine = make_engine(database_url)
    _alembic(engine, "upgrade", "0001")
    now = dt.datetime.now(dt.UTC)
    lab = "0x" + "11" * 32
    with engine.begin() as c:
        c.execute(
            text("INSERT INTO labs (lab_id, code, name, writer_address, created_at) VALUES (:l, 'L1', 'lab', :w, :t)"),
            {"l": lab, "w": "0x" + "22" * 20, "t": now},
        )
        c.execute(
            text(
                "INSERT INTO certificates (digest, lab_id, certificate_number, kind, category_code, issue_date, "
                "record_json, key_id, signature, signed_by, status, accepted_at) VALUES (:d, :l, 'JD-1', "
                "'VERIFICATION', '0201', '2026-01-01', '{}', :k, :s, 'REGISTRY', 'PENDING', :t)"
            ),
            {"d": "0x" + "33" * 32, "l": lab, "k": "0x" + "44" * 32, "s": "0x" + "55" * 64, "t": now},
        )
    migrate(engine)
    with engine.connect() as c:
        assert c.execute(text("SELECT public FROM certificates")).scalar_one() in (False, 0)
    [column] = [c for c in inspect(engine).get_columns("certificates") if c["name"] == "public"]
    assert column["nullable"] is False
    with engine.begin() as c, pytest.raises(IntegrityError):  # NOT NULL holds
        c.execute(text("UPDATE certificates SET public = NULL"))
    _alembic(engine, "downgrade", "0001")
    assert "public" not in {c["name"] for c in inspect(engine).get_columns("certificates")}
    migrate(engine)
    engine.dispose()


def _operational(message: str) -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception(message))


@pytest.mark.parametrize(
    ("message", "away"),
    [
        ('connection to server at "127.0.0.1", port 5432 failed: Connection refused', True),
        ("FATAL:  the database system is starting up", True),
        ("FATAL:  the database system is in recovery mode", True),
        ("FATAL:  terminating connection due to administrator command", True),
        ("server closed the connection unexpectedly", True),
        ("database is locked", True),  # SQLite past its busy timeout
        ("no such table: certificates", False),  # a bug, not an outage: a 500
        ('relation "certificates" does not exist', False),
    ],
)
def test_what_counts_as_the_database_being_away(message: str, away: bool) -> None:
    assert registry.db.database_unavailable(_operational(message)) is away


def test_a_programming_error_is_never_an_outage() -> None:
    assert not registry.db.database_unavailable(IntegrityError("INSERT", {}, Exception("connection")))
    assert not registry.db.database_unavailable(ValueError("connection"))


def test_waiting_for_a_database_that_never_comes_ends_in_time() -> None:
    """A service started beside a database that does not answer asks again, then gives up at its timeout."""
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/none?connect_timeout=1")
    started = time.monotonic()
    with pytest.raises(OperationalError):
        registry.db.wait_for_database(engine, timeout=1.5)
    assert 1.0 <= time.monotonic() - started < 8


def test_waiting_for_a_database_that_answers_returns_at_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'up.db'}")
    started = time.monotonic()
    registry.db.wait_for_database(engine, timeout=30)
    assert time.monotonic() - started < 2
