"""The registry's database: tables, engine and sessions (SQLAlchemy 2; SQLite by default, PostgreSQL in production).

The database is the outbox: a certificate is committed here before anything touches the chain; batches record their
root and membership before their anchoring transaction is signed; signed transactions are journaled here before
broadcast (:class:`DbJournal`). Schema changes go through Alembic (``registry/migrations``), see :func:`migrate`.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    false,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from tracecert.chain.sender import LIVE_STATES, OPEN_STATES, JournalEntry

logger = logging.getLogger(__name__)

__all__ = [
    "ApiToken",
    "Base",
    "Batch",
    "BatchState",
    "Certificate",
    "CertificateStatus",
    "DbJournal",
    "Document",
    "FraudSignal",
    "HeldKey",
    "Lab",
    "LifecycleOp",
    "OperationKind",
    "OperationState",
    "TxJournalRow",
    "database_unavailable",
    "make_engine",
    "make_sessionmaker",
    "migrate",
    "utcnow",
    "wait_for_database",
    "writing",
]

HEX32 = String(66)


class CertificateStatus(StrEnum):
    """Where a certificate is on its way to the chain (names equal values: drivers may bind either)."""

    PENDING = "PENDING"  # accepted, to be batched and anchored
    WAITING = "WAITING"  # its batch waits until the chain would take it (e.g. the lab is suspended)
    ANCHORED = "ANCHORED"
    FAILED = "FAILED"  # never reached the chain; its number may be issued again
    SUPERSEDED = "SUPERSEDED"  # a failed certificate whose number was issued again


class BatchState(StrEnum):
    """Where a batch is: fixed (PREPARED), waiting for its lab, anchored, or refused for good."""

    PREPARED = "PREPARED"
    WAITING = "WAITING"
    ANCHORED = "ANCHORED"
    FAILED = "FAILED"


class OperationKind(StrEnum):
    """What a lifecycle operation puts on chain."""

    REVOKE = "REVOKE"
    SUBSTITUTE = "SUBSTITUTE"


class OperationState(StrEnum):
    """Where a lifecycle operation is: to be sent, on chain, or refused by the chain."""

    PENDING = "PENDING"
    DONE = "DONE"
    FAILED = "FAILED"


def utcnow() -> dt.datetime:
    """Now, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of the registry tables."""

    type_annotation_map = {dt.datetime: DateTime(timezone=True)}  # noqa: RUF012 - SQLAlchemy reads it on the class


class Lab(Base):
    """A lab known to this registry (its authority lives on chain; this is custody and bookkeeping)."""

    __tablename__ = "labs"

    lab_id: Mapped[str] = mapped_column(HEX32, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    #: The account this registry anchors with for the lab (its private key is a HeldKey of kind WRITER).
    writer_address: Mapped[str] = mapped_column(String(42))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class HeldKey(Base):
    """A key the registry holds for a lab, encrypted at rest with the key-custody secret.

    kind WRITER: the lab's Ethereum writer account. kind SIGNING: a lab Ed25519 key (registry-signing mode).
    kind REGULATOR: a regulator's account, for revocations a regulator orders through this registry.
    """

    __tablename__ = "held_keys"

    id: Mapped[str] = mapped_column(String(66), primary_key=True)  # address or key id
    lab_id: Mapped[str | None] = mapped_column(ForeignKey("labs.lab_id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # WRITER | SIGNING | REGULATOR
    public: Mapped[str] = mapped_column(String(132))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """An API credential: only its SHA-256 is stored. Scoped to one lab, or to a regulator's jurisdiction."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # LAB | REGULATOR | ENTERPRISE
    lab_id: Mapped[str | None] = mapped_column(ForeignKey("labs.lab_id"), nullable=True)
    regulator_address: Mapped[str | None] = mapped_column(String(42), nullable=True)
    usci: Mapped[str | None] = mapped_column(String(18), nullable=True)
    label: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


#: The rows of ``ix_certificates_unbatched``: pending and not in a batch yet. Queries say it with this very clause,
#: the constant written in: SQLite uses a partial index only when the query's terms are the index's, and it never
#: takes a bound parameter for the constant.
UNBATCHED = text("status = 'PENDING' AND batch_root IS NULL")


class Certificate(Base):
    """An accepted certificate. PENDING until its batch is anchored, then ANCHORED with its inclusion proof.

    WAITING while the chain refuses its batch for a reason that passes (``error`` names it, e.g. LAB_SUSPENDED),
    FAILED when refused for good (or the chain refused it before reasons had codes: the contract error's name).
    A FAILED certificate never reached the chain: sending it again queues it again (PENDING), and its number may be
    issued with other content, which makes it SUPERSEDED (``superseded_by``), kept for audit. A lab's number is
    unique among the certificates not superseded.
    """

    __tablename__ = "certificates"
    __table_args__ = (
        Index(
            "uq_certificates_lab_number_live",
            "lab_id",
            "certificate_number",
            unique=True,
            sqlite_where=text("superseded_by IS NULL"),
            postgresql_where=text("superseded_by IS NULL"),
        ),
        # Every certificate under a lab's number, superseded ones too (the unique index above is partial).
        Index("ix_certificates_lab_number", "lab_id", "certificate_number"),
        # A lab's certificates in acceptance order (its listing's pages, the anomaly scans' chunks).
        Index("ix_certificates_lab_seq", "lab_id", "seq"),
        # Where a lab's certificates of a period begin (an anomaly scan of its last days starts there).
        Index("ix_certificates_lab_issue", "lab_id", "issue_date", "seq"),
        Index("ix_certificates_pending", "status", "lab_id", "key_id", "seq"),
        # What the anchoring worker batches next: a lab's and key's certificates not in a batch yet, oldest first.
        # Partial, so that finding a batch's 1,024 reads those rows and not every pending row of the lab before
        # them (the batches in flight), nor a table row per index entry to read batch_root.
        Index(
            "ix_certificates_unbatched",
            "lab_id",
            "key_id",
            "seq",
            sqlite_where=UNBATCHED,
            postgresql_where=UNBATCHED,
        ),
        Index("ix_certificates_serial", "serial_number"),
        Index("ix_certificates_document_sha256", "document_sha256"),
        Index("ix_certificates_batch", "batch_root", "leaf_index"),
        Index("ix_certificates_customer_asset", "customer_usci", "asset_number"),
    )

    #: Acceptance order (pagination cursor and batch order).
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(HEX32, unique=True)
    lab_id: Mapped[str] = mapped_column(ForeignKey("labs.lab_id"))
    certificate_number: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    category_code: Mapped[str] = mapped_column(String(64))
    serial_number: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: SHA-256 (0x-hex) of the original document the record binds (``original_document.sha256``), if any.
    document_sha256: Mapped[str | None] = mapped_column(String(66), nullable=True)
    issue_date: Mapped[str] = mapped_column(String(10))
    #: The record's canonical JSON (RFC 8785), exactly the bytes the digest covers after the domain prefix.
    record_json: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(HEX32)
    signature: Mapped[str] = mapped_column(String(130))
    signed_by: Mapped[str] = mapped_column(String(16))  # LAB | REGISTRY
    replaces_digest: Mapped[str | None] = mapped_column(HEX32, nullable=True)
    #: PENDING | WAITING | ANCHORED | FAILED | SUPERSEDED
    status: Mapped[str] = mapped_column(String(16), default=CertificateStatus.PENDING)
    error: Mapped[str | None] = mapped_column(String(256), nullable=True)
    batch_root: Mapped[str | None] = mapped_column(ForeignKey("batches.root"), nullable=True)
    leaf_index: Mapped[int | None] = mapped_column(nullable=True)
    proof: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    accepted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    anchored_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    #: Published by its lab (or a regulator over it): anyone may download its proof bundle, e.g. the certificate
    #: of a reference standard that others' certificates cite. Once set, never unset (others may have copied it).
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The certificate issued under the same number after this one failed (this one never reached the chain).
    superseded_by: Mapped[str | None] = mapped_column(HEX32, nullable=True)
    #: What links the certificate to a registered instrument (:mod:`registry.instruments`): the item's
    #: manufacturer as :func:`~registry.instruments.manufacturer_key` reads it, its asset number, the customer's
    #: USCI; and its validity date (a verification's due date).
    manufacturer_key: Mapped[str | None] = mapped_column(String(256), nullable=True)
    asset_number: Mapped[str | None] = mapped_column(String(128), nullable=True)
    customer_usci: Mapped[str | None] = mapped_column(String(18), nullable=True)
    valid_until: Mapped[str | None] = mapped_column(String(10), nullable=True)


class Citation(Base):
    """A certificate's reference standard named by its certificate's digest (``standards_used[].certificate_digest``):
    the edges the downstream impact of a standard's certificate follows (:mod:`registry.impact`)."""

    __tablename__ = "citations"

    citing_digest: Mapped[str] = mapped_column(ForeignKey("certificates.digest"), primary_key=True)
    cited_digest: Mapped[str] = mapped_column(HEX32, primary_key=True, index=True)


class Document(Base):
    """The original document (PDF or DCC XML) of a certificate, bound by its SHA-256 in the record."""

    __tablename__ = "documents"

    digest: Mapped[str] = mapped_column(ForeignKey("certificates.digest"), primary_key=True)
    filename: Mapped[str | None] = mapped_column(String(256), nullable=True)
    media_type: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(HEX32, index=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class Batch(Base):
    """A Merkle batch of one lab and key. PREPARED (membership fixed) → ANCHORED, or FAILED with an error code;
    WAITING (with the reason) while the chain refuses it for a reason that passes, then PREPARED again."""

    __tablename__ = "batches"

    root: Mapped[str] = mapped_column(HEX32, primary_key=True)
    lab_id: Mapped[str] = mapped_column(ForeignKey("labs.lab_id"))
    key_id: Mapped[str] = mapped_column(HEX32)
    size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=BatchState.PREPARED, index=True)
    error: Mapped[str | None] = mapped_column(String(256), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    tx_hash: Mapped[str | None] = mapped_column(HEX32, nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    #: Hash of that block: a node that went backwards (lost or replaced the block) no longer has it.
    block_hash: Mapped[str | None] = mapped_column(HEX32, nullable=True)
    block_timestamp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    chain_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gas_used: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    anchored_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    #: When the coverage of the instruments its certificates are about was brought up to date (None: not yet, or
    #: the batch changed since: anchored, or lost from the chain). :mod:`registry.coverage_index`.
    covered_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class LifecycleOp(Base):
    """A revocation or substitution to put on chain (outbox). PENDING → DONE, or FAILED with an error code."""

    __tablename__ = "lifecycle_ops"
    __table_args__ = (
        UniqueConstraint("lab_id", "digest", name="uq_lifecycle_lab_digest"),
        # The operations of a page of certificates, by digest alone (the listing's).
        Index("ix_lifecycle_ops_digest", "digest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    op: Mapped[str] = mapped_column(String(16))  # REVOKE | SUBSTITUTE
    lab_id: Mapped[str] = mapped_column(ForeignKey("labs.lab_id"))
    digest: Mapped[str] = mapped_column(HEX32)
    new_digest: Mapped[str | None] = mapped_column(HEX32, nullable=True)
    reason: Mapped[int] = mapped_column(Integer)
    effective_time: Mapped[int] = mapped_column(BigInteger, default=0)
    requested_by: Mapped[str] = mapped_column(String(16))  # LAB | REGULATOR
    regulator_address: Mapped[str | None] = mapped_column(String(42), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=OperationState.PENDING, index=True)
    error: Mapped[str | None] = mapped_column(String(256), nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(HEX32, nullable=True)
    block_timestamp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    #: When the enterprises watching what it changed were alerted (:mod:`registry.alerts`; None: not yet).
    alerted_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    #: When the coverage of the instruments its certificate is about was brought up to date (None: not yet).
    covered_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class FraudSignal(Base):
    """Evidence of a suspicious request, kept even though the request was refused (e.g. a reused number)."""

    __tablename__ = "fraud_signals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # NUMBER_REUSE
    lab_id: Mapped[str] = mapped_column(String(66), index=True)
    certificate_number: Mapped[str] = mapped_column(String(128))
    existing_digest: Mapped[str] = mapped_column(HEX32)
    attempted_digest: Mapped[str] = mapped_column(HEX32)
    attempted_record: Mapped[str] = mapped_column(Text)
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FindingRow(Base):
    """An anomaly found in the ledger (registry.scans), kept from the first scan that found it: incremental scans
    after each anchoring and the regulators' scans on demand both record what they find, once."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the code and the sorted digests
    code: Mapped[str] = mapped_column(String(40))
    lab_id: Mapped[str] = mapped_column(String(66), index=True)
    digests: Mapped[list[str]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PublishedDraw(Base):
    """A random inspection draw a regulator published (一公开), checked against the chain when it was, and later
    the results of its inspections."""

    __tablename__ = "draws"

    commitment: Mapped[str] = mapped_column(HEX32, primary_key=True)
    regulator: Mapped[str] = mapped_column(String(42), index=True)
    jurisdiction: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(Text)
    published: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    result_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class TxJournalRow(Base):
    """Signed transactions, journaled before broadcast (see :mod:`tracecert.chain.sender`)."""

    __tablename__ = "tx_journal"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    sender: Mapped[str] = mapped_column(String(42), index=True)
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(HEX32)
    raw: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DbJournal:
    """A :class:`~tracecert.chain.sender.TxJournal` in the registry database: each put commits on its own."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, key: str) -> JournalEntry | None:
        """The entry of ``key``."""
        with self._sessions() as s:
            row = s.get(TxJournalRow, key)
            return _entry(row) if row else None

    def put(self, entry: JournalEntry) -> None:
        """Insert or replace, committed before returning."""
        with writing(self._sessions) as s:
            row = s.get(TxJournalRow, entry.key)
            if row is None:
                s.add(
                    TxJournalRow(
                        key=entry.key,
                        sender=entry.sender,
                        nonce=entry.nonce,
                        tx_hash=entry.tx_hash,
                        raw=entry.raw,
                        state=entry.state,
                        block_number=entry.block_number,
                    )
                )
            else:
                row.sender, row.nonce, row.tx_hash, row.raw = entry.sender, entry.nonce, entry.tx_hash, entry.raw
                row.state, row.block_number = entry.state, entry.block_number

    def open_entries(self, sender: str) -> list[JournalEntry]:
        """Entries of ``sender`` still SIGNED or SENT, by nonce."""
        with self._sessions() as s:
            rows = s.scalars(
                select(TxJournalRow)
                .where(TxJournalRow.sender == sender, TxJournalRow.state.in_(OPEN_STATES))
                .order_by(TxJournalRow.nonce)
            )
            return [_entry(r) for r in rows]

    def entries_from(self, sender: str, nonce: int) -> list[JournalEntry]:
        """Entries of ``sender`` SIGNED, SENT or MINED with a nonce of at least ``nonce``, by nonce."""
        with self._sessions() as s:
            rows = s.scalars(
                select(TxJournalRow)
                .where(
                    TxJournalRow.sender == sender,
                    TxJournalRow.state.in_(LIVE_STATES),
                    TxJournalRow.nonce >= nonce,
                )
                .order_by(TxJournalRow.nonce)
            )
            return [_entry(r) for r in rows]


def _entry(row: TxJournalRow) -> JournalEntry:
    return JournalEntry(
        key=row.key,
        sender=row.sender,
        nonce=row.nonce,
        tx_hash=row.tx_hash,
        raw=row.raw,
        state=row.state,
        block_number=row.block_number,
    )


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``. SQLite gets WAL, a busy timeout and foreign keys, so the API and the anchoring
    worker can share the file."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def database_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the database is away for now (not reachable, starting up or recovering,
    a connection dropped, SQLite locked past its busy timeout), so that the same request may succeed later."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    text_ = str(exc.orig or exc).lower()
    return any(
        sign in text_
        for sign in (
            "connection",
            "could not connect",
            "starting up",
            "shutting down",
            "recovery mode",
            "terminating",
            "server closed",
            "database is locked",
        )
    )


def wait_for_database(engine: Engine, timeout: float = 60.0) -> None:
    """Return once the database answers; while it is away (:func:`database_unavailable`), ask again with a
    growing pause, for at most ``timeout`` seconds — a service started beside a database that is still starting or
    recovering waits for it instead of dying.

    Raises:
        sqlalchemy.exc.DBAPIError: the database did not answer in time, or failed otherwise.
    """
    deadline = time.monotonic() + timeout
    pause = 0.2
    while True:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except DBAPIError as exc:
            if not database_unavailable(exc) or time.monotonic() + pause > deadline:
                raise
            logger.warning("database not available yet (%s); asking again", str(exc.orig or exc).splitlines()[0])
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


#: PostgreSQL advisory lock key held while migrating ("TRCT").
_MIGRATION_LOCK = 0x54524354


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest Alembic revision.

    Safe when several processes start at once (API instances and the worker): they migrate one after another,
    under a PostgreSQL advisory lock, or an exclusive lock on a file beside the SQLite database.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with _migration_lock(engine), engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    import fcntl

    with open(f"{database}.migrate.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session in a transaction, committed on success."""
    with sessions.begin() as session:
        yield session


class _WriteTurn:
    """The turn to write one SQLite file, handed from writer to writer as soon as the last one commits.

    SQLite lets one writer in at a time, and one that finds the file locked sleeps in steps of up to 100 ms before
    trying again. Under the bulk endpoint's load (API processes inserting 1,000 rows a transaction, the anchoring
    worker writing its batches) the waiters slept longer than the writers wrote: the worker waited for the lock
    more than half of its time, and certificates waited seconds for a batch. The busiest writers take this turn
    first: a lock within the process, then ``flock`` on a file beside the database, whose waiters the kernel wakes
    when it is released. Other writers still meet SQLite's own lock as before; none waits for this turn while
    holding SQLite's lock, so no two wait for each other.
    """

    def __init__(self, path: str) -> None:
        self._path = f"{path}.write-turn"
        self._threads = threading.RLock()
        self._depth = threading.local()
        self._file: Any = None

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the turn (re-entrant within a thread)."""
        with self._threads:
            depth = getattr(self._depth, "n", 0)
            if depth == 0:
                if self._file is None:
                    self._file = open(self._path, "a+b")  # noqa: SIM115 - kept open for the process's life
                fcntl.flock(self._file, fcntl.LOCK_EX)
            self._depth.n = depth + 1
            try:
                yield
            finally:
                self._depth.n = depth
                if depth == 0:
                    fcntl.flock(self._file, fcntl.LOCK_UN)


_TURNS: dict[str, _WriteTurn] = {}
_TURNS_LOCK = threading.Lock()


@contextmanager
def writing(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """``sessions.begin()`` for the busiest writers (the bulk insert, the worker's batches and journal): on a
    SQLite file, taken in turn with the other such writers (see :class:`_WriteTurn`); elsewhere as it is."""
    engine = sessions.kw.get("bind")
    database = engine.url.database if isinstance(engine, Engine) and engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        with sessions.begin() as s:
            yield s
        return
    with _TURNS_LOCK:
        turn = _TURNS.get(database)
        if turn is None:
            turn = _TURNS[database] = _WriteTurn(database)
    with turn.held(), sessions.begin() as s:
        yield s
