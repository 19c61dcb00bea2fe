"""The busiest writers take turns on a SQLite file (``registry.db.writing``), and a process accepts one request
at a time (``RegistryCore.accepting``)."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

import registry.issuance
from registry.db import make_engine, make_sessionmaker, writing
from registry.issuance import Submission, accept_many
from tests.registry.conftest import LabWorld


def _turn_file(tmp_path: Path) -> Path:
    return tmp_path / "registry.db.write-turn"


def test_a_writer_holds_the_turn_against_other_processes(tmp_path: Path) -> None:
    sessions = make_sessionmaker(make_engine(f"sqlite:///{tmp_path / 'registry.db'}"))
    probe = (
        "import fcntl, sys\n"
        f"f = open({str(_turn_file(tmp_path))!r}, 'a+b')\n"
        "try:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(3)\n"
    )
    with writing(sessions) as s:
        s.execute(text("CREATE TABLE t (x INTEGER)"))
        held = subprocess.run([sys.executable, "-c", probe], check=False).returncode
    free = subprocess.run([sys.executable, "-c", probe], check=False).returncode
    assert (held, free) == (3, 0)


def test_the_turn_is_reentrant_in_a_thread_and_exclusive_across_threads(tmp_path: Path) -> None:
    sessions = make_sessionmaker(make_engine(f"sqlite:///{tmp_path / 'registry.db'}"))
    order: list[str] = []
    entered = threading.Event()

    def other() -> None:
        entered.wait(10)
        with writing(sessions):
            order.append("other")

    thread = threading.Thread(target=other)
    thread.start()
    with writing(sessions) as outer:
        outer.execute(text("CREATE TABLE t (x INTEGER)"))
        with writing(sessions) as inner:  # the same thread again: no deadlock
            inner.execute(text("INSERT INTO t VALUES (1)"))
        entered.set()
        thread.join(0.5)
        assert thread.is_alive()  # the other thread waits for the turn
        order.append("first")
    thread.join(10)
    assert order == ["first", "other"]
    with sessions() as s:
        assert s.scalar(text("SELECT count(*) FROM t")) == 1


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_no_turn_without_a_file(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # where a turn file named after the database would land
    sessions = make_sessionmaker(make_engine(url))
    with writing(sessions) as s:
        assert s.scalar(text("SELECT 1")) == 1
    assert not list(tmp_path.iterdir())


def test_acceptance_holds_the_process_lock(world: LabWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """The insert of an acceptance runs with ``core.accepting`` held: no other acceptance of this process runs
    Python beside it."""
    seen: list[bool] = []
    insert = registry.issuance._insert

    def watched(*args: object, **kwargs: object) -> None:
        seen.append(world.core.accepting.locked())
        insert(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(registry.issuance, "_insert", watched)
    principal = world.core.authenticate(world.token)
    results = accept_many(world.core, principal, [Submission(world.record("JD2026-77001"))])
    assert seen == [True] and not world.core.accepting.locked()
    assert results[0].created  # type: ignore[union-attr]


def test_the_turn_file_lies_beside_the_database(world: LabWorld) -> None:
    if world.core.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no one write lock: no turn")
    principal = world.core.authenticate(world.token)
    accept_many(world.core, principal, [Submission(world.record("JD2026-77002"))])
    database = Path(str(world.core.engine.url.database))
    turn = database.with_name(database.name + ".write-turn")
    assert turn.is_file()  # made by the insert's turn, not by this test
    with turn.open("a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released after the request
