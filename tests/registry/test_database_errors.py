"""How the API answers the database's errors that escape a route: away for now (503 DATABASE_UNAVAILABLE, retry),
a uniqueness a concurrent request took first (409 CONCURRENT_CHANGE, retry), anything else a 500 that says nothing
of the internals. A route of its own raises each error, so that every row is the handler's answer alone."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy.exc
from fastapi import FastAPI
from fastapi.testclient import TestClient

from registry.api.errors import install_error_handlers
from tracecert.service_errors import RETRY_AFTER_SECONDS


def _error(kind: type[sqlalchemy.exc.DBAPIError], message: str) -> sqlalchemy.exc.DBAPIError:
    return kind("INSERT INTO t VALUES (?)", (1,), sqlite3.Error(message))


ERRORS = {
    "a uniqueness raced": (_error(sqlalchemy.exc.IntegrityError, "UNIQUE constraint failed: t.id"), 409,
                           "CONCURRENT_CHANGE", "1"),
    "SQLite locked past its timeout": (_error(sqlalchemy.exc.OperationalError, "database is locked"), 503,
                                       "DATABASE_UNAVAILABLE", str(RETRY_AFTER_SECONDS)),
    "PostgreSQL restarting": (_error(sqlalchemy.exc.OperationalError, "the database system is starting up"), 503,
                              "DATABASE_UNAVAILABLE", str(RETRY_AFTER_SECONDS)),
    "a bug in a query": (_error(sqlalchemy.exc.ProgrammingError, "no such column: t.nope"), 500, "INTERNAL_ERROR",
                         None),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ERRORS))
def test_a_database_error_is_answered_by_its_kind(case: str) -> None:
    error, status, code, retry_after = ERRORS[case]
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/raise")
    def raising() -> None:
        raise error

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/raise")
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
    assert answer.headers.get("Retry-After") == retry_after
    assert "t.nope" not in answer.text and "UNIQUE" not in answer.text  # no internals shown
