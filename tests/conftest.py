"""Shared fixtures: a real Anvil node per test session, and a fresh deployment per test."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from tracecert.chain.client import ChainClient
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.deploy import deploy
from tracecert.chain.node import AnvilNode
from tracecert.chain.sender import TransactionSender


@pytest.fixture(scope="session", autouse=True)
def _english_locale() -> Iterator[None]:
    """The command line speaks the user's language: tests run in an English locale unless a test sets another."""
    saved = {name: os.environ.pop(name, None) for name in ("LC_ALL", "LC_MESSAGES", "LANG")}
    os.environ["LANG"] = "C.UTF-8"
    yield
    for name, value in saved.items():
        os.environ.pop(name, None)
        if value is not None:
            os.environ[name] = value


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: Any, name: str = "app under test") -> Iterator[str]:
    """``app`` served over real HTTP by uvicorn in a thread on a free port, as ``tracecert up`` serves; its URL."""
    from tracecert_app.up import serve_in_thread

    port = free_port()
    server = serve_in_thread(name, app, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium for a module's page tests (skipped with a reason when it or Playwright is missing)."""
    from tests.browser import launch

    with launch() as b:
        yield b


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """A real Anvil process for the whole session (no state file: tests deploy fresh contracts)."""
    node = AnvilNode(tmp_path_factory.mktemp("anvil"), port=free_port(), persist=False)
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def client(anvil: AnvilNode) -> ChainClient:
    """A JSON-RPC client of the session's node."""
    return ChainClient(anvil.url)


@dataclass
class Chain:
    """A fresh deployment on the session's node, with helpers to create funded actors and move time."""

    client: ChainClient
    contracts: ChainContracts
    national: TransactionSender
    _senders: dict[str, TransactionSender] = field(default_factory=dict)

    def actor(self, name: str) -> TransactionSender:
        """A funded account with its own sender, created on first use of ``name``."""
        if name not in self._senders:
            account: LocalAccount = Account.create()
            self.client.set_balance(account.address, 10**22)
            self._senders[name] = TransactionSender(self.client, account)
        return self._senders[name]

    def now(self) -> int:
        """Timestamp of the latest block."""
        return self.client.block_timestamp()

    def advance(self, seconds: int) -> int:
        """Move chain time forward and mine a block; return the new timestamp."""
        self.client.rpc("evm_increaseTime", [seconds])
        self.client.rpc("evm_mine", [])
        return self.now()

    def fresh(self) -> Chain:
        """The same deployment and accounts with new senders (nonces read from the node again, empty journals):
        the chain of a world restored from a snapshot."""
        senders = {name: TransactionSender(self.client, s._account) for name, s in self._senders.items()}
        return Chain(self.client, self.contracts, TransactionSender(self.client, self.national._account), senders)


def new_chain(client: ChainClient) -> Chain:
    """Contracts freshly deployed on ``client``'s node by a new national authority."""
    national_account: LocalAccount = Account.create()
    client.set_balance(national_account.address, 10**22)
    national = TransactionSender(client, national_account)
    deployment = deploy(client, national, national_authority=national_account.address)
    return Chain(client, ChainContracts(client, deployment), national)


class Snapshot:
    """The state of a node right after a world was built on it, to go back to before each test.

    A world built once per session and restored by ``evm_revert`` costs two RPCs per test instead of a deployment
    and dozens of transactions. Each template has a node of its own (see :func:`own_node`): a revert removes every
    block after the snapshot, so two templates, or a template and module-scoped worlds, cannot share a node.
    """

    def __init__(self, client: ChainClient) -> None:
        self.client = client
        self.id = client.rpc("evm_snapshot", [])

    def restore(self) -> None:
        """Put the node back in the snapshot's state, clock included (a snapshot is used up by its revert)."""
        assert self.client.rpc("evm_revert", [self.id]) is True
        self.id = self.client.rpc("evm_snapshot", [])


@pytest.fixture(scope="session")
def own_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], AnvilNode]]:
    """Start an Anvil node of its own for a world template (stopped at the end of the session)."""
    nodes: list[AnvilNode] = []

    def start() -> AnvilNode:
        node = AnvilNode(tmp_path_factory.mktemp("anvil"), port=free_port(), persist=False)
        node.start()
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        node.stop()


@pytest.fixture
def chain(client: ChainClient) -> Chain:
    """Contracts freshly deployed by a new national authority, so tests never share state."""
    return new_chain(client)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data directory."""
    path = tmp_path / "data"
    path.mkdir()
    return path


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class PostgresServer:
    """A real PostgreSQL 15 server started for the test session (as the ``postgres`` user: initdb refuses root)."""

    port: int
    directory: Path
    _count: int = 0

    @property
    def admin_url(self) -> str:
        """URL of the maintenance database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self) -> str:
        """Create an empty database; return its SQLAlchemy URL."""
        import psycopg

        self._count += 1
        name = f"t{self._count}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def copy(self, template_url: str, url: str) -> None:
        """Make the database of ``url`` a copy of the one of ``template_url`` (which nobody may be connected to)."""
        import psycopg

        template, name = template_url.rsplit("/", 1)[1], url.rsplit("/", 1)[1]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def _as_postgres(*args: str) -> list[str]:
    import os
    import shutil

    if os.geteuid() == 0:
        return [shutil.which("runuser") or "runuser", "-u", "postgres", "--", *args]
    return list(args)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """PostgreSQL 15 from the machine's binaries, in a temporary directory, on a free port."""
    import shutil
    import subprocess
    import tempfile

    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 binaries not installed (/usr/lib/postgresql/15/bin)")
    directory = Path(tempfile.mkdtemp(prefix="tracecert-pg-"))
    shutil.chown(directory, "postgres", "postgres")
    data = directory / "data"
    port = free_port()
    subprocess.run(
        _as_postgres(
            str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"
        ),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        _as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(directory / "log"),
            "-o",
            f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off",
            "-w",
            "start",
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield PostgresServer(port, directory)
    finally:
        subprocess.run(
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(directory, ignore_errors=True)
