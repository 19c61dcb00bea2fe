"""The :class:`Index`: following the chain into its SQLite file, and answering from it."""

from __future__ import annotations

import fcntl
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    Connection,
    func,
    select,
)

from tracecert.certificate.canonical import number_tag
from tracecert.chain.client import ChainClient, revert_guard
from tracecert.chain.contracts import BatchInfo, CertificateStatus, KeyInfo, Sanction
from tracecert.chain.deploy import Deployment
from tracecert.chain.errors import ChainError, ChainUnavailable
from tracecert.chain.types import Activity, LabKind, LabStatus, category_code, chain_time
from tracecert.verification.chainview import ChainView, LabState
from verifier.index.contents import (
    BatchFetcher,
    HttpFetcher,
    Outcome,
    due_batches,
    flagged,
    resolve_listing,
    store_contents,
)
from verifier.index.events import decode_logs, event_specs, hex_bytes
from verifier.index.model import (
    ContentState,
    FlaggedBatch,
    IndexMismatch,
    Leaf,
    ReorgTooDeep,
    SyncReport,
    Tip,
)
from verifier.index.queries import (
    Q_AUTH_AT,
    Q_BY_DIGEST,
    Q_BY_NUMBER,
    Q_BY_ROOT,
    Q_BY_SERIAL,
    Q_CONTENTS,
    Q_LAB,
    Q_META,
    Q_SCOPE,
    Q_TIP,
    batch_of,
    bytes32,
    key_of,
    lab_name_of,
    last_timestamp,
    sanctions_of,
    status_at,
    status_of,
)
from verifier.index.schema import (
    BLOCK_TABLES,
    SCHEMA_VERSION,
    blocks_table,
    meta_table,
    metadata,
    sqlite_engine,
)
from verifier.index.sync import commit_range, rollback, rows_from

__all__ = ["Index"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Answers each reading thread keeps while the file does not change (then it forgets them all at once).
MEMO_ENTRIES = 20_000
_MISSING: Any = object()


class Index:
    """A local, incrementally kept index of the TraceCert contracts on one chain; a :class:`ChainView`.

    Reads are answered from the database as of the last indexed block (:meth:`tip`); :meth:`sync` brings it up
    to the node's head minus ``confirmations``. Reads may run in other threads while a sync runs. Several
    processes may share one file (server workers): their syncs take turns through a lock file beside it.

    The lookups the engine asks (``now``, ``batch``, ``key``, ``lab_at``, ``is_authorized``, ``status``,
    ``lab_name``, ``numbered``, ``sanctions``) are answered once per state of the file: each reading thread keeps
    its answers until SQLite's ``data_version`` says that a commit (by any connection, in any process) changed the
    file, so that a verification does not run some twenty queries for what the previous one just read.

    Args:
        path: the SQLite file (created on first use).
        client: the JSON-RPC node to follow.
        deployment: the contracts to follow (as checked by :func:`~tracecert.chain.deploy.find_deployment`);
            indexing starts at its block, and its national authority must be the TrustRegistry's root.
        mirrors: base URLs serving ``GET /v1/batches/{root}`` (the registry or any mirror), tried in order.
        fetcher: fetches one listing URL (default: :class:`HttpFetcher`); injectable for tests.
        chunk_size: blocks per ``eth_getLogs`` request (halved when the node refuses a range).
        confirmations: blocks left below the head, not yet indexed (0 for a local or instant-finality chain).
        reorg_depth: how many recent blocks keep their hashes for reorganization checks.
        retry_interval: seconds before a withheld or mismatching batch is asked for again.
        fetch_workers: listings fetched in parallel.
        clock: wall-clock time (seconds) for the flags' timestamps.
        catch_up: a root the index does not know yet makes :meth:`batch` sync at once and look again (at most
            every ``catch_up_interval`` seconds), so that a certificate anchored a moment ago is not "never
            anchored" while the following thread is a block behind (a service); off, reads answer as of the tip.

    Raises:
        IndexMismatch: the file was built for another chain, deployment or schema.
        ChainUnavailable: the node did not answer (its chain id is checked).
    """

    def __init__(
        self,
        path: Path | str,
        client: ChainClient,
        deployment: Deployment,
        *,
        mirrors: Sequence[str] = (),
        fetcher: BatchFetcher | None = None,
        chunk_size: int = 2_000,
        confirmations: int = 0,
        reorg_depth: int = 64,
        retry_interval: float = 60.0,
        fetch_workers: int = 4,
        clock: Callable[[], float] = time.time,
        catch_up: bool = False,
        catch_up_interval: float = 0.5,
    ) -> None:
        if chunk_size < 1 or confirmations < 0 or reorg_depth < 1 or fetch_workers < 1:
            raise ValueError("chunk_size, reorg_depth and fetch_workers must be ≥ 1, confirmations ≥ 0")
        self.path = Path(path)
        self.client = client
        self.deployment = deployment
        self.mirrors = [m.rstrip("/") for m in mirrors]
        self._own_fetcher: HttpFetcher | None = None
        if fetcher is None:
            fetcher = self._own_fetcher = HttpFetcher()
        self.fetcher: BatchFetcher = fetcher
        self.chunk_size = chunk_size
        self.confirmations = confirmations
        self.reorg_depth = reorg_depth
        self.retry_interval = retry_interval
        self.fetch_workers = fetch_workers
        self.clock = clock
        self._trust = deployment.trust_registry.lower()
        self._certs = deployment.certificate_registry.lower()
        contracts = {"TrustRegistry": deployment.trust_registry, "CertificateRegistry": deployment.certificate_registry}
        if deployment.credit_registry:
            contracts["CreditRegistry"] = deployment.credit_registry
        self._specs = event_specs(contracts)
        self._addresses = [address.lower() for address in contracts.values()]
        self._sync_lock = threading.Lock()
        self.catch_up, self.catch_up_interval = catch_up, catch_up_interval
        self._catch_up_lock = threading.Lock()
        self._caught_up_at = -math.inf
        self._lock_path = Path(f"{self.path}.lock")
        self._writer = sqlite_engine(self.path, "BEGIN IMMEDIATE", pool_size=1)
        self._reader = sqlite_engine(self.path, "BEGIN", pool_size=2)
        self._local = threading.local()
        self._dbs: list[sqlite3.Connection] = []
        self._dbs_lock = threading.Lock()
        try:
            self._chain_id = client.chain_id
            with self._exclusive():
                self._open()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ lifecycle

    def _open(self) -> None:
        metadata.create_all(self._writer)
        identity = {
            "schema_version": SCHEMA_VERSION,
            "chain_id": str(self._chain_id),
            "trust_registry": self._trust,
            "certificate_registry": self._certs,
            "national_authority": self.deployment.national_authority.lower(),
            "start_block": str(self.deployment.block_number),
        }
        with self._writer.begin() as conn:
            stored = dict(conn.execute(select(meta_table.c.key, meta_table.c.value)).all())
            if not stored:
                conn.execute(meta_table.insert(), [{"key": k, "value": v} for k, v in identity.items()])
                return
        for key, value in identity.items():
            if stored.get(key) != value:
                raise IndexMismatch(f"{self.path} was built with {key}={stored.get(key)!r}, not {value!r}")

    def close(self) -> None:
        """Release the database connections (and the HTTP client the index created)."""
        self._writer.dispose()
        self._reader.dispose()
        with self._dbs_lock:
            for db in self._dbs:
                db.close()
            self._dbs.clear()
        if self._own_fetcher is not None:
            self._own_fetcher.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def start_block(self) -> int:
        """The first block indexed (the deployment's)."""
        return self.deployment.block_number

    # ------------------------------------------------------------------ following the chain

    def sync(self, *, until: int | None = None, stop: threading.Event | None = None) -> SyncReport:
        """Take in every block up to the node's head minus ``confirmations`` (or ``until``), then fetch and check
        the contents of batches still unknown (new ones, and flagged ones due for a retry).

        First compares the kept block hashes with the node's and rolls back to the fork point if they differ.
        Each block range is committed in one transaction with the cursor, so an interrupted sync resumes cleanly.

        Raises:
            ReorgTooDeep: the chain changed below every kept block hash.
            IndexMismatch: the deployment's constructor event names another national authority.
            ChainUnavailable, ChainError: from the node.
        """
        with self._exclusive():
            started = time.perf_counter()
            rolled_back = self._check_reorg()
            tip = self.tip()
            first = tip.number + 1 if tip else self.start_block
            report = SyncReport(first, first - 1, rolled_back_to=rolled_back)
            head = int(self._rpc("eth_blockNumber", []), 16)
            target = head - self.confirmations if until is None else min(until, head - self.confirmations)
            size = self.chunk_size
            while first <= target and not (stop is not None and stop.is_set()):
                last = min(first + size - 1, target)
                # The range's last block is read before its logs: if the chain reorganizes in between, the hash
                # kept is the older one, so the next sync's check sees the change and re-indexes the range.
                tip_block = self._rpc("eth_getBlockByNumber", [hex(last), False])
                if tip_block is None:
                    break  # the head moved back under us: the next sync's hash check sorts it out
                try:
                    logs = self._rpc(
                        "eth_getLogs",
                        [{"fromBlock": hex(first), "toBlock": hex(last), "address": self._addresses}],
                    )
                except ChainUnavailable:
                    raise
                except ChainError:
                    if size == 1:
                        raise
                    size = max(1, size // 2)  # too many results for this node: smaller ranges
                    continue
                rows = rows_from(decode_logs(logs, self._specs, self._headers), self.deployment)
                rows.blocks[last] = (hex_bytes(tip_block["hash"]), int(tip_block["timestamp"], 16))
                if not commit_range(
                    self._writer, first, last, rows, start_block=self.start_block, reorg_depth=self.reorg_depth
                ):
                    logger.debug("index: another writer indexed past block %d; stopping this sync", first - 1)
                    break
                report.blocks += last - first + 1
                report.events += rows.events
                report.to_block = last
                first = last + 1
            if not (stop is not None and stop.is_set()):
                fetching = time.perf_counter()
                self._fetch_contents(report)
                report.contents_elapsed = time.perf_counter() - fetching
            report.elapsed = time.perf_counter() - started
            return report

    def follow(
        self,
        stop: threading.Event,
        interval: float = 1.0,
        *,
        on_sync: Callable[[SyncReport], None] | None = None,
    ) -> None:
        """Sync every ``interval`` seconds until ``stop`` is set; node failures are logged and retried.

        Raises:
            ReorgTooDeep, IndexMismatch: as :meth:`sync`.
        """
        while not stop.is_set():
            try:
                report = self.sync(stop=stop)
            except ChainError as exc:  # unreachable or erring node: try again later
                logger.warning("index: sync failed, retrying in %.1f s: %s", interval, exc)
            else:
                if on_sync is not None:
                    on_sync(report)
            stop.wait(interval)

    # ------------------------------------------------------------------ reads: ChainView

    def chain_id(self) -> int:
        """See :class:`~tracecert.verification.chainview.ChainView`."""
        return self._chain_id

    def certificate_registry(self) -> str:
        """See :class:`~tracecert.verification.chainview.ChainView`."""
        return self.deployment.certificate_registry

    def now(self) -> int:
        """The timestamp of the last indexed block: the index answers as of that block.

        Before the first sync, the node's latest block timestamp.
        """
        stamp = self._memo(("now",), last_timestamp)
        return stamp if stamp is not None else self.client.block_timestamp()

    def batch(self, root: bytes) -> BatchInfo | None:
        """See :class:`~tracecert.verification.chainview.ChainView`."""
        found = self._memo(("batch", bytes(root)), lambda db: batch_of(db, bytes(root)))
        if found is None and self.catch_up and self._caught_up():
            self._fresh_memo(self._db())  # the sync committed: what was kept is forgotten, even within pinned()
            found = self._memo(("batch", bytes(root)), lambda db: batch_of(db, bytes(root)))
        return found

    def _caught_up(self) -> bool:
        """Sync now, for a read that found nothing (see ``catch_up``): whether the index has synced since the read
        asked (by this call, or by another that held the turn meanwhile). False when throttled or the node fails."""
        asked = time.monotonic()
        with self._catch_up_lock:
            if self._caught_up_at >= asked:
                return True
            if asked - self._caught_up_at < self.catch_up_interval:
                return False
            try:
                self.sync()
            except Exception as exc:  # the following thread reports and retries what a sync cannot do
                logger.warning("index: catching up for a read failed: %s", exc)
                return False
            finally:
                self._caught_up_at = time.monotonic()
            return True

    def key(self, key_id: bytes) -> KeyInfo | None:
        """See :class:`~tracecert.verification.chainview.ChainView`: the window as shrunk by every
        ``KeyWindowClosed``."""
        return self._memo(("key", bytes(key_id)), lambda db: key_of(db, bytes(key_id)))

    def lab_at(self, lab_id: bytes, at: int) -> LabState | None:
        """See :class:`~tracecert.verification.chainview.ChainView`; the semantics of ``TrustRegistry.labAt``.

        Times outside the uint64 range are asked at its nearest end (:func:`~tracecert.chain.types.chain_time`).
        """
        return self._memo(("lab_at", bytes(lab_id), at), lambda _: self._lab_at(bytes(lab_id), chain_time(at)))

    def _lab_at(self, lab_id: bytes, t: int) -> LabState | None:
        with self._snapshot() as db:
            lab = Q_LAB.first(db, lab=lab_id)
            if lab is None:
                return None
            auth = Q_AUTH_AT.first(db, lab=lab_id, t=t)
            status = status_at(db, lab_id, t, auth is not None)
        return LabState(
            lab_id,
            LabKind(lab.kind),
            lab.jurisdiction,
            LabStatus(status),
            auth is not None,
            auth.number if auth else "",
            auth.valid_from if auth else 0,
            auth.valid_until if auth else 0,
        )

    def is_authorized(self, lab_id: bytes, category: str, activity: Activity, at: int) -> bool:
        """See :class:`~tracecert.verification.chainview.ChainView`; the semantics of ``TrustRegistry.isAuthorized``.

        Times outside the uint64 range are asked at its nearest end (:func:`~tracecert.chain.types.chain_time`).
        """
        key = ("is_authorized", bytes(lab_id), category, int(activity), at)
        return self._memo(key, lambda _: self._is_authorized(bytes(lab_id), category, activity, chain_time(at)))

    def _is_authorized(self, lab_id: bytes, category: str, activity: Activity, t: int) -> bool:
        try:
            code = category_code(category)
        except ValueError:
            return False
        wanted = int(activity)
        if wanted == 0:
            return False
        with self._snapshot() as db:
            auth = Q_AUTH_AT.first(db, lab=lab_id, t=t)  # none for an unknown lab
            if auth is None or status_at(db, lab_id, t, True) != LabStatus.ACTIVE:
                return False
            scope = Q_SCOPE.first(db, lab=lab_id, auth_index=auth.auth_index, category=code)
        return scope is not None and scope.activities & wanted == wanted

    def status(self, lab_id: bytes, digest: bytes) -> CertificateStatus:
        """See :class:`~tracecert.verification.chainview.ChainView`."""
        return self._memo(
            ("status", bytes(lab_id), bytes(digest)), lambda db: status_of(db, bytes(lab_id), bytes(digest))
        )

    def lab_name(self, lab_id: bytes) -> str | None:
        """See :class:`~tracecert.verification.chainview.ChainView`."""
        return self._memo(("lab_name", bytes(lab_id)), lambda db: lab_name_of(db, bytes(lab_id)))

    def sanctions(self, subject: bytes) -> list[Sanction] | None:
        """See :class:`~tracecert.verification.chainview.ChainView`: from the SanctionRecorded events."""
        if not self.deployment.credit_registry:
            return None
        return list(self._memo(("sanctions", bytes(subject)), lambda db: tuple(sanctions_of(db, bytes(subject)))))

    def batch_published(self, root: bytes) -> bool | None:
        """See :class:`~tracecert.verification.chainview.ChainView`: from :meth:`contents_state`; None without any
        mirror to ask (then nothing was withheld: nobody was asked)."""
        if not self.mirrors:
            return None
        row = Q_CONTENTS.first(self._db(), root=bytes32(root))
        state = None if row is None else ContentState(row.contents)
        if state is ContentState.VERIFIED:
            return True
        if state is ContentState.WITHHELD and (row.attempts or 0) < 2:
            # Not served when first asked, and not asked again yet (even once the retry is due: a busy index may not
            # have made it): a listing asked for the moment the batch was anchored can come before the registry has
            # recorded it. Not known, until the retry says.
            return None
        return False if state in (ContentState.WITHHELD, ContentState.MISMATCH) else None

    def numbered(self, lab_id: bytes, number: str) -> list[bytes]:
        """See :class:`~tracecert.verification.chainview.ChainView`: from the verified batch contents
        (:meth:`by_number`)."""
        found = self._memo(("numbered", bytes(lab_id), number), lambda _: tuple(self.by_number(lab_id, number)))
        return [leaf.digest for leaf in found]

    # ------------------------------------------------------------------ reads: contents and monitoring

    def by_digest(self, digest: bytes | str) -> Leaf | None:
        """Where a certificate digest was anchored (the earliest batch holding it), from verified contents only.

        Raises:
            ValueError: not a 32-byte digest.
        """
        row = Q_BY_DIGEST.first(self._db(), digest=bytes32(digest))
        return None if row is None else Leaf(*row)

    def by_number(self, lab_id: bytes | str, number: str) -> list[Leaf]:
        """A lab's certificates with this number, in anchoring order (more than one: the number was reused). Found
        by the number's tag, so private certificates (whose listings withhold the number) are found too.

        Raises:
            ValueError: ``lab_id`` is not 32 bytes.
        """
        lab = bytes32(lab_id)
        return [Leaf(*row) for row in Q_BY_NUMBER.all(self._db(), lab=lab, tag=number_tag(lab, number))]

    def by_serial(self, serial: str) -> list[Leaf]:
        """Certificates of instruments with this serial number (any lab), in anchoring order."""
        return [Leaf(*row) for row in Q_BY_SERIAL.all(self._db(), serial=serial)]

    def leaves(self, root: bytes | str) -> list[Leaf]:
        """The verified contents of a batch in leaf order (empty while unknown), e.g. to build inclusion proofs.

        Raises:
            ValueError: not a 32-byte root.
        """
        return [Leaf(*row) for row in Q_BY_ROOT.all(self._db(), root=bytes32(root))]

    def contents_state(self, root: bytes | str) -> ContentState | None:
        """What is known of an anchored batch's contents, or None for a root never anchored.

        Raises:
            ValueError: not a 32-byte root.
        """
        row = Q_CONTENTS.first(self._db(), root=bytes32(root))
        return None if row is None else ContentState(row.contents)

    def flagged_batches(self) -> list[FlaggedBatch]:
        """Anchored batches whose contents are withheld or do not match, oldest anchoring first."""
        with self.reading() as conn:
            return flagged(conn)

    def tip(self) -> Tip | None:
        """The last indexed block, or None before the first sync."""
        values = dict(Q_TIP.all(self._db()))
        if "last_block" not in values:
            return None
        return Tip(int(values["last_block"]), bytes.fromhex(values["last_hash"]), int(values["last_timestamp"]))

    def counts(self) -> dict[str, int]:
        """Rows per table (for monitoring and benchmarks)."""
        with self.reading() as conn:
            return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0) for t in BLOCK_TABLES}

    # ------------------------------------------------------------------ internals: database

    def _db(self) -> sqlite3.Connection:
        """This thread's read connection (one statement is one consistent snapshot in SQLite)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
            db.execute("PRAGMA query_only=ON")
            with self._dbs_lock:
                self._dbs.append(db)
            self._local.db = db
        return db

    def _memo(self, key: tuple[Any, ...], compute: Callable[[sqlite3.Connection], T]) -> T:
        """``compute``'s answer for ``key``, kept by this thread while the file is unchanged.

        ``PRAGMA data_version`` (a few µs, no table read) changes on this thread's connection whenever another
        connection committed (the index's writer, another process's sync); the thread then forgets every answer.
        The version is read before ``compute`` runs, so an answer is only ever served while the file is exactly
        as it was when it was read (or, within :meth:`pinned`, as it was when the verification began). Answers
        are immutable (frozen dataclasses, tuples, scalars).
        """
        db = self._db()
        local = self._local
        memo: dict[tuple[Any, ...], Any] = local.memo if getattr(local, "pinned", False) else self._fresh_memo(db)
        found = memo.get(key, _MISSING)
        if found is not _MISSING:
            answer: T = found
            return answer
        answer = compute(db)
        if len(memo) >= MEMO_ENTRIES:
            memo.clear()
        memo[key] = answer
        return answer

    def _fresh_memo(self, db: sqlite3.Connection) -> dict[tuple[Any, ...], Any]:
        """This thread's answers, forgotten first if the file changed since they were read."""
        local = self._local
        version = db.execute("PRAGMA data_version").fetchone()[0]
        memo: dict[tuple[Any, ...], Any] | None = getattr(local, "memo", None)
        if memo is None or local.memo_version != version:
            memo = local.memo = {}
            local.memo_version = version
        return memo

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """One verification's reads (the engine enters this around each): the file's version is checked once, on
        entry, instead of at every lookup. Answers kept from that version are served throughout; others are read
        from the file as it is. Nested uses are the outermost one's.
        """
        local = self._local
        if getattr(local, "pinned", False):
            yield
            return
        self._fresh_memo(self._db())
        local.pinned = True
        try:
            yield
        finally:
            local.pinned = False

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Write alone: one thread of this process, and one process of those sharing the file (several server
        workers over one index), through a lock file beside it. Another process's sync is waited for; the work it
        did is then found done (the cursor moved), so each block range is taken in once."""
        with self._sync_lock, open(self._lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several statements see one state even while a sync commits."""
        db = self._db()
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read connection through SQLAlchemy, for the reads off the lookup path (monitoring, the directory)."""
        with self._reader.connect() as conn:
            yield conn

    def _check_reorg(self) -> int | None:
        """Compare the kept block hashes with the node's; roll back to the fork point if they differ."""
        with self.reading() as conn:
            kept = conn.execute(select(blocks_table.c.number, blocks_table.c.hash).order_by("number")).all()
            pruned = conn.execute(Q_META, {"key": "pruned"}).scalar() is not None
        if not kept:
            return None
        headers = self._headers([n for n, _ in kept])
        fork: int | None = None
        for position, ((number, stored), header) in enumerate(zip(kept, headers, strict=True)):
            if header is not None and hex_bytes(header["hash"]) == stored:
                continue
            # The lowest differing block: everything from the last matching kept block upwards is re-indexed.
            if position > 0:
                fork = kept[position - 1][0]
            elif pruned:
                raise ReorgTooDeep(
                    f"block {number} changed and no older block hash is kept (reorg_depth={self.reorg_depth}); "
                    f"rebuild the index from block {self.start_block}"
                )
            else:
                fork = self.start_block - 1
            logger.warning("index: chain reorganized at block %d, rolling back to block %d", number, fork)
            rollback(self._writer, fork)
            return fork
        return None

    # ------------------------------------------------------------------ internals: chain

    def _rpc(self, method: str, params: list[Any]) -> Any:
        return self.client.rpc(method, params)

    def _headers(self, numbers: Sequence[int]) -> list[dict[str, Any] | None]:
        """Block headers, in one JSON-RPC batch when the node accepts batches."""
        calls = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
        provider = self.client.w3.provider
        if len(calls) > 1 and hasattr(provider, "make_batch_request"):
            answers = revert_guard(lambda: provider.make_batch_request(calls), what="eth_getBlockByNumber batch")
            if isinstance(answers, list) and len(answers) == len(calls) and all("result" in a for a in answers):
                return [a["result"] for a in answers]
        return [self._rpc(method, params) for method, params in calls]

    # ------------------------------------------------------------------ internals: batch contents

    def _fetch_contents(self, report: SyncReport) -> None:
        with self.reading() as conn:
            due = due_batches(conn, self.clock() - self.retry_interval)
        if not due:
            return

        def resolve(b: Any) -> Outcome:
            return resolve_listing(self.mirrors, self.fetcher, *b)

        if self.fetch_workers > 1 and len(due) > 1:
            with ThreadPoolExecutor(self.fetch_workers, thread_name_prefix="index-fetch") as pool:
                outcomes = list(pool.map(resolve, due))
        else:
            outcomes = [resolve(b) for b in due]
        for start in range(0, len(outcomes), 500):
            store_contents(self._writer, outcomes[start : start + 500], self.clock(), report)


if TYPE_CHECKING:  # mypy proves that the index is a ChainView the engine can run on

    def _is_chain_view(index: Index) -> ChainView:
        return index
