"""The database layer: migrations from several processes at once (API instances and the worker start together)."""

from __future__ import annotations

import multiprocessing

from sqlalchemy import inspect

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
