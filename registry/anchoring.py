"""The anchoring worker: pending certificates → Merkle batches → one anchor transaction per batch → proofs stored.

Each step leaves a durable record before the next one starts, so a kill at any point resumes correctly:

1. *prepare*: pending certificates of one (lab, key) are fixed into a batch (root, leaf index and proof per
   certificate, batch row PREPARED) in one database transaction — by size (``batch_max_size``) or when the oldest
   has waited ``batch_window_seconds``;
2. *anchor*: the anchor transaction is signed and journaled in the same database before broadcast (journal key
   ``anchor:<root>``); a retry re-sends that same transaction, and the contract refuses a root twice anyway;
3. *finish*: after confirmation the batch and its certificates become ANCHORED with the block number, hash and time.

A node that goes backwards (killed hard and restarted from an older state, or reorganized) is noticed within about a
second (:class:`~registry.chainwatch.ChainWatch`): lost batches go back to PREPARED and are anchored again, journaled
transactions stuck behind the lost nonces are retired and signed anew, and nothing waits for a receipt that cannot come.

Contract refusals that pass (lab suspended, writer account not enabled, authorization not covering now) make the
batch and its certificates WAITING with the reason (:mod:`registry.refusals`); such batches are checked now and then
with a read, never a transaction, and anchored once the chain would take them. Refusals for good (lab revoked, key
window over...) fail them visibly with the reason's code; an unreachable node only delays them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak
from sqlalchemy import Row, func, select, text, update
from sqlalchemy.orm import Session

from registry.alerting import AlertProducer, AlertSender
from registry.chainwatch import ChainWatch
from registry.chainwatch import block_hash as chain_block_hash
from registry.core import RegistryCore
from registry.db import (
    UNBATCHED,
    Batch,
    BatchState,
    Certificate,
    CertificateStatus,
    LifecycleOp,
    OperationKind,
    OperationState,
    utcnow,
    writing,
)
from registry.errors import ChainUnavailableError
from registry.lifecycle import OperationSender
from registry.refusals import classify, would_anchor
from registry.scans import IncrementalScans
from registry.statistics import CoverageIndex
from tracecert.certificate.canonical import from_hex, to_hex
from tracecert.certificate.merkle import build_batch
from tracecert.chain.errors import (
    ChainError,
    ChainUnavailable,
    ContractReverted,
    NonceGap,
    ReceiptTimeout,
    TransactionFailed,
)
from tracecert.chain.sender import TransactionSender
from tracecert.chain.types import RevocationReason

__all__ = ["AnchoringWorker", "StepReport"]

logger = logging.getLogger(__name__)

_RETRYABLE = (ChainUnavailable, ReceiptTimeout)
#: PostgreSQL advisory lock key held by the one running worker ("TRCW").
_WORKER_LOCK = 0x54524357
#: Topic of ``BatchAnchored(root, labId, keyId, count, index)``.
_BATCH_ANCHORED = "0x" + keccak(text="BatchAnchored(bytes32,bytes32,bytes32,uint32,uint32)").hex()
#: A certificate is failed (ANCHOR_LAG) rather than anchored when less than this is left before verifiers would
#: call it backdated (the time an anchoring transaction may take to be mined).
ANCHOR_LAG_MARGIN_SECONDS = 600

#: How often batches waiting for their lab are checked against the chain (each step when forced).
WAITING_RECHECK_SECONDS = 5.0
#: Waiting reasons that hold every batch of the lab: one check per lab and pass is enough.
_LAB_WIDE = frozenset({"LAB_SUSPENDED", "LAB_NOT_AUTHORIZED", "WRITER_NOT_ENABLED"})


@dataclass
class StepReport:
    """What one pass of the worker did."""

    prepared: int = 0
    anchored: int = 0
    failed: int = 0
    ops_done: int = 0
    ops_failed: int = 0
    deferred: int = 0
    waiting: int = 0

    @property
    def busy(self) -> bool:
        """Whether anything moved."""
        return bool(self.prepared or self.anchored or self.failed or self.ops_done or self.ops_failed)

    def add(self, other: StepReport) -> None:
        """Count what ``other`` (one batch's anchoring, in a thread of its own) did into this report."""
        for name in ("prepared", "anchored", "failed", "ops_done", "ops_failed", "deferred", "waiting"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


# Both texts are constants (the table's name and the index's condition, never any input: S608 does not apply).
#: The labs' and keys' certificates not in a batch yet: how many, and the first in acceptance order.
_UNBATCHED_GROUPS = (
    f"SELECT lab_id, key_id, count(*), min(seq) FROM {{table}} WHERE {UNBATCHED.text} GROUP BY lab_id, key_id"  # noqa: S608
)
#: A batch's certificates: the first ``limit`` of a lab and key not in a batch yet.
_UNBATCHED_NEXT = f"SELECT seq, digest FROM {{table}} WHERE {UNBATCHED.text} AND lab_id = :lab_id AND key_id = :key_id ORDER BY seq LIMIT :limit"  # noqa: S608, E501


def unbatched_groups(s: Session) -> list[tuple[str, str, int, int]]:
    """(lab_id, key_id, count, first seq) of the certificates not in a batch yet, per lab and key."""
    rows = s.execute(text(_UNBATCHED_GROUPS.format(table=_unbatched_table(s)))).all()
    return [(row[0], row[1], row[2], row[3]) for row in rows]


def unbatched_next(s: Session, lab_id: str, key_id: str, limit: int) -> list[Row[Any]]:
    """(seq, digest) of a lab's and key's first ``limit`` certificates not in a batch yet, in acceptance order
    (on PostgreSQL locked, skipping those another worker holds)."""
    query = _UNBATCHED_NEXT.format(table=_unbatched_table(s))
    if _dialect(s) == "postgresql":
        query += " FOR UPDATE SKIP LOCKED"
    return list(s.execute(text(query), {"lab_id": lab_id, "key_id": key_id, "limit": limit}).all())


#: A batch's rows (root, leaf index, proof as JSON text, by seq), in each driver's own parameter style.
_BATCH_ROWS = {
    "sqlite": "UPDATE certificates SET batch_root = ?, leaf_index = ?, proof = ? WHERE seq = ?",
    "postgresql": "UPDATE certificates SET batch_root = %s, leaf_index = %s, proof = %s::json WHERE seq = %s",
}


def _unbatched_table(s: Session) -> str:
    """Where :func:`unbatched_groups` and :func:`unbatched_next` read: ``ix_certificates_unbatched``. Named for
    SQLite, whose planner (without statistics) took ``ix_certificates_pending`` for three equal columns, and
    walked every pending row of the lab, batches in flight included, reading each row for ``batch_root``: under
    the registry benchmark's load (2,900 certificates/s) two thirds of the worker's time went there."""
    return "certificates INDEXED BY ix_certificates_unbatched" if _dialect(s) == "sqlite" else "certificates"


def _dialect(s: Session) -> str:
    return s.bind.dialect.name if s.bind is not None else ""


class AnchoringWorker:
    """Moves certificates from PENDING to ANCHORED, and revocations/substitutions onto the chain."""

    def __init__(self, core: RegistryCore, *, poll_interval: float = 0.05) -> None:
        self.core = core
        self.poll_interval = poll_interval
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        #: The accounts this worker has sent from: their nonces are checked against the node's.
        self._accounts: set[str] = set()
        self._next_waiting_check = 0.0
        self.watch = ChainWatch(core, sender=self._sender, accounts=self._accounts, adopt=self._adopt)
        self._operations = OperationSender(core, self._sender)
        #: Anomaly scans of the labs whose batches this worker anchors (registry.scans).
        self.scans = IncrementalScans(
            core, interval=core.settings.scan_interval_seconds, window_days=core.settings.scan_window_days
        )
        #: Alerts to the enterprises watching what changed, and their webhooks' sender (registry.alerts).
        self.alerts = AlertProducer(core)
        self.sender = AlertSender(core)
        #: The instruments' coverage rows (registry.statistics), kept up to date with what anchors and is revoked.
        self.coverage = CoverageIndex(core)
        #: The threads that anchor several batches at once (:meth:`_anchor_all`), started when first needed.
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        """Run in a background thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="anchoring-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop after its current step and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def run(self) -> None:
        """Loop until stopped; unexpected errors are logged and the loop goes on after a pause.

        Only one worker runs per database: each account has one nonce counter, so a second worker (another
        ``registry serve`` with its worker, or ``registry worker`` twice) waits here until the first one stops.
        """
        with self._single_worker() as acquired:
            if acquired:
                self._loop()

    @contextlib.contextmanager
    def _single_worker(self) -> Iterator[bool]:
        """Hold the one-worker lock while running; yields False when stopped before getting it."""
        engine = self.core.engine
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _WORKER_LOCK}).scalar():
                    conn.rollback()
                    logger.warning("another anchoring worker runs on this database; waiting")
                    if self._stop.wait(2.0):
                        yield False
                        return
                try:
                    yield True
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _WORKER_LOCK})
            return
        database = engine.url.database
        if not database or database == ":memory:":
            yield True
            return
        import fcntl

        with open(f"{database}.worker.lock", "a+b") as lock:
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    logger.warning("another anchoring worker runs on this database; waiting")
                    if self._stop.wait(2.0):
                        yield False
                        return
            try:
                yield True
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _loop(self) -> None:
        # One sender per database, like the worker: it runs while this worker holds the lock.
        self.sender.start()
        try:
            self._steps()
        finally:
            self.sender.stop()

    def _steps(self) -> None:
        backoff = self.poll_interval
        while not self._stop.is_set():
            try:
                report = self.step()
                backoff = self.poll_interval if not report.deferred else min(max(backoff * 2, 0.2), 5.0)
                if not report.busy:
                    self._stop.wait(backoff)
            except Exception:
                logger.exception("anchoring worker step failed; retrying")
                self._stop.wait(1.0)

    def step(self, *, force: bool = False) -> StepReport:
        """One pass: finish prepared batches, prepare and anchor due ones, then lifecycle operations.

        ``force`` batches pending certificates without waiting for the time window (tests, shutdown).
        """
        report = StepReport()
        if time.monotonic() >= self.watch.next_check:
            self.watch.check()
        if time.monotonic() >= self.watch.next_reconcile:
            self.watch.reconcile()
        self._anchor_all(self._open_batches(), report)
        self._retry_waiting(report, force=force)
        self._anchor_due(report, force=force)
        sent = self._operations.send()
        report.ops_done, report.ops_failed, report.deferred = sent.done, sent.failed, report.deferred + sent.deferred
        self.scans.run(force=force)
        self.coverage.run()
        self.alerts.run(force=force)
        return report

    def drain(self, timeout: float = 60.0) -> None:
        """Step until nothing is pending (tests and benchmarks).

        Raises:
            TimeoutError: still pending after ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.step(force=True)
            with self.core.sessions() as s:
                left = s.scalar(
                    select(func.count()).select_from(Certificate).where(Certificate.status == CertificateStatus.PENDING)
                )
                ops = s.scalar(
                    select(func.count()).select_from(LifecycleOp).where(LifecycleOp.state == OperationState.PENDING)
                )
            if not left and not ops:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{left} certificates and {ops} operations still pending")
            time.sleep(self.poll_interval)

    def reconcile(self, *, window_hours: float = 24.0) -> list[str]:
        """See :meth:`ChainWatch.reconcile <registry.chainwatch.ChainWatch.reconcile>`: the roots put back."""
        return self.watch.reconcile(window_hours=window_hours)

    # ------------------------------------------------------------------ batches

    def _sender(self, address: str) -> TransactionSender:
        """The sender of a held account, remembered for the nonce checks of :class:`~registry.chainwatch.ChainWatch`."""
        self._accounts.add(address)
        return self.core.sender_for(address)

    def _open_batches(self) -> list[str]:
        with self.core.sessions() as s:
            return list(
                s.scalars(select(Batch.root).where(Batch.state == BatchState.PREPARED).order_by(Batch.created_at))
            )

    def _prepare_due(self, *, force: bool) -> str | None:
        settings = self.core.settings
        cutoff = utcnow().timestamp() - settings.batch_window_seconds
        with writing(self.core.sessions) as s:
            for lab_id, key_id, count, first in unbatched_groups(s):
                oldest = s.execute(select(Certificate.accepted_at).where(Certificate.seq == first)).scalar_one()
                oldest_ts = oldest.timestamp() if oldest.tzinfo else oldest.replace(tzinfo=utcnow().tzinfo).timestamp()
                if force or count >= settings.batch_max_size or oldest_ts <= cutoff:
                    root = self._prepare(s, lab_id, key_id)
                    if root is not None:
                        return root
        return None

    def _prepare(self, s: Session, lab_id: str, key_id: str) -> str | None:
        certificates = unbatched_next(s, lab_id, key_id, self.core.settings.batch_max_size)
        if not certificates:  # another worker holds them (PostgreSQL SKIP LOCKED)
            return None
        batch = build_batch([from_hex(c.digest) for c in certificates])
        root = to_hex(batch.root)
        failed = s.get(Batch, root)
        if (
            failed is not None and failed.state == BatchState.FAILED
        ):  # the same certificates failed, and were sent again
            failed.state, failed.error, failed.key_id, failed.size = (
                BatchState.PREPARED,
                None,
                key_id,
                len(certificates),
            )
        else:
            s.add(Batch(root=root, lab_id=lab_id, key_id=key_id, size=len(certificates), state=BatchState.PREPARED))
        s.flush()
        # One executemany of a plain UPDATE by primary key, handed to the driver as it is: SQLAlchemy's own
        # executemany processed each row's parameters in Python, a fifth of the worker's time under load and held
        # under SQLite's one write lock (1,024 rows of 1.7 KB: 21-34 ms of CPU, 16 ms this way). The proof is
        # written as the JSON column's text, as its type writes it.
        s.connection().exec_driver_sql(
            _BATCH_ROWS[_dialect(s)],
            [
                (root, i, json.dumps([to_hex(h) for h in proof]), c.seq)
                for i, (c, proof) in enumerate(zip(certificates, batch.proofs, strict=True))
            ],
        )
        logger.info("prepared batch %s: %d certificates of lab %s", root, len(certificates), lab_id)
        return root

    def _anchor_all(self, roots: list[str], report: StepReport) -> None:
        """Anchor ``roots``, up to ``anchor_concurrency`` at once, and return once every one is settled.

        Each batch's transaction is signed under its sender's lock, so nonces follow each other; the batches then
        wait for their receipts and confirmations side by side. A batch's outcome is its own (a refusal or a node
        that goes away defers or fails that batch only), and an unexpected error is raised only after every batch
        of the call has settled, so that no batch is still being anchored when the next step starts.
        """
        limit = self.core.settings.anchor_concurrency
        if len(roots) <= 1 or limit == 1:
            for root in roots:
                self._anchor(root, report)
            return
        pool = self._anchoring_pool()
        reports = [StepReport() for _ in roots]
        futures = [pool.submit(self._anchor, root, own) for root, own in zip(roots, reports, strict=True)]
        wait(futures)
        for own in reports:
            report.add(own)
        for future in futures:
            future.result()  # the first unexpected error, once all have settled

    def _anchoring_pool(self) -> ThreadPoolExecutor:
        """The threads batches are anchored in, ``anchor_concurrency`` of them (made at first use)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.core.settings.anchor_concurrency, thread_name_prefix="anchoring")
        return self._pool

    def _anchor_due(self, report: StepReport, *, force: bool) -> None:
        """Make the batches that are due and anchor them, up to ``anchor_concurrency`` at once, as a pipeline: a
        batch is made as soon as it is due and a place is free, while the others wait for their receipts and
        confirmations. Returns when nothing is due and every batch it made has settled; an unexpected error is
        raised then (as :meth:`_anchor_all`), and no new batch is made after one.

        Made in rounds instead (up to the limit, then all of them waited for), a batch due while a round waited
        for its confirmations waited for the whole round: under 2 s blocks and 2 confirmations, certificates
        waited seconds for a batch (``scripts/bench_registry.py`` prints that wait).
        """
        limit = self.core.settings.anchor_concurrency
        if limit == 1:
            while (root := self._prepare_due(force=force)) is not None:
                report.prepared += 1
                self._anchor(root, report)
            return
        pool = self._anchoring_pool()
        running: dict[Future[None], StepReport] = {}
        settled: list[Future[None]] = []
        making = True
        try:
            while True:
                while making and len(running) < limit and (root := self._prepare_due(force=force)) is not None:
                    report.prepared += 1
                    own = StepReport()
                    running[pool.submit(self._anchor, root, own)] = own
                if not running:
                    break
                done, _ = wait(running, timeout=self.poll_interval, return_when=FIRST_COMPLETED)
                for future in done:
                    report.add(running.pop(future))
                    settled.append(future)
                    making = making and future.exception() is None
                if not done and not making:
                    wait(running)
        finally:
            wait(running)  # also when making a batch failed: none is left being anchored
            for future, own in running.items():
                report.add(own)
                settled.append(future)
        for future in settled:
            future.result()  # the first unexpected error, once all have settled

    def _anchor(self, root: str, report: StepReport) -> None:
        with self.core.sessions() as s:
            batch = s.get(Batch, root)
        if batch is None or batch.state != BatchState.PREPARED:
            return
        if self._failed_late(root, report):
            return
        lab = self.core.lab(batch.lab_id)
        try:
            sender = self._sender(lab.writer_address)
            receipt = self.core.chain.anchor(sender, from_hex(root), batch.size, from_hex(batch.key_id))
        except ContractReverted as exc:
            if exc.error == "CertificateRegistryRootAlreadyAnchored" and self._adopt(root, batch.lab_id):
                report.anchored += 1
                return
            self._refused(root, batch, exc, report)
            return
        except _RETRYABLE as exc:
            self._defer(root, f"{exc.code}: {exc}", report)
            return
        except (TransactionFailed, ChainError) as exc:
            if isinstance(exc, NonceGap):
                self.watch.next_check = 0.0  # the node lost transactions of ours: look for lost batches at once
            self._defer(root, f"{exc.code}: {exc}", report)
            return
        events = self.core.chain.events(receipt)
        index = next((args["index"] for name, args in events if name == "BatchAnchored"), None)
        timestamp = self.core.chain.client.block_timestamp(receipt.block_number)
        self._finish(
            root, receipt.tx_hash, receipt.block_number, timestamp, index, receipt.gas_used, receipt.block_hash
        )
        report.anchored += 1

    def _adopt(self, root: str, lab_id: str) -> bool:
        """The root is on chain already (e.g. anchored before a crash that lost our journal): take it if it is ours."""
        try:
            info = self.core.chain.batch(from_hex(root))
        except ChainError:
            return False
        if to_hex(info.lab_id) != lab_id:
            return False
        entry = self.core.journal.get(f"anchor:{root}")
        tx_hash, block_hash = entry.tx_hash if entry else None, None
        try:  # the transaction that anchored it, from its event (a stale copy of ours may have won)
            contracts = self.core.chain
            logs = contracts.client.rpc(
                "eth_getLogs",
                [
                    {
                        "address": contracts.certificates.address,
                        "fromBlock": hex(info.block_number),
                        "toBlock": hex(info.block_number),
                        "topics": [_BATCH_ANCHORED, root],
                    }
                ],
            )
            if logs:
                tx_hash, block_hash = logs[0]["transactionHash"], logs[0]["blockHash"]
            else:
                block_hash = chain_block_hash(self.core, info.block_number)
        except ChainError:
            pass
        self._finish(root, tx_hash, info.block_number, info.timestamp, info.index, None, block_hash)
        return True

    def _finish(
        self,
        root: str,
        tx_hash: str | None,
        block_number: int,
        timestamp: int,
        index: int | None,
        gas_used: int | None,
        block_hash: str | None = None,
    ) -> None:
        now = utcnow()
        with writing(self.core.sessions) as s:
            batch = s.get(Batch, root)
            assert batch is not None
            batch.state, batch.tx_hash, batch.block_number = BatchState.ANCHORED, tx_hash, block_number
            batch.block_hash = block_hash
            batch.block_timestamp, batch.chain_index, batch.gas_used, batch.anchored_at = (
                timestamp,
                index,
                gas_used,
                now,
            )
            batch.error = None
            batch.covered_at = None  # its certificates now count for the instruments they are about
            self.scans.note(batch.lab_id)
            s.execute(
                update(Certificate)
                .where(Certificate.batch_root == root)
                .values(status=CertificateStatus.ANCHORED, anchored_at=now, error=None)
            )
            # A replacement certificate, once anchored, marks the one it replaces as substituted on chain.
            for digest, old in s.execute(
                select(Certificate.digest, Certificate.replaces_digest).where(
                    Certificate.batch_root == root, Certificate.replaces_digest.is_not(None)
                )
            ).all():
                exists = s.scalar(
                    select(LifecycleOp.id).where(LifecycleOp.lab_id == batch.lab_id, LifecycleOp.digest == old)
                )
                if exists is None:
                    s.add(
                        LifecycleOp(
                            op=OperationKind.SUBSTITUTE,
                            lab_id=batch.lab_id,
                            digest=old,
                            new_digest=digest,
                            reason=RevocationReason.SUPERSEDED,
                            requested_by="LAB",
                        )
                    )
        self.watch.note(block_number, block_hash)
        logger.info("anchored batch %s in block %d", root, block_number)

    def _fail(self, root: str, error: str, report: StepReport, *, detail: str | None = None) -> None:
        """Refused for good: the batch and its certificates FAILED with ``error`` (a reason code); ``detail`` (the
        contract error) goes to the batch."""
        with self.core.sessions.begin() as s:
            batch = s.get(Batch, root)
            assert batch is not None
            batch.state, batch.error = BatchState.FAILED, (f"{error} ({detail})" if detail else error)[:256]
            s.execute(
                update(Certificate)
                .where(Certificate.batch_root == root)
                .values(status=CertificateStatus.FAILED, error=error)
            )
        logger.error("batch %s refused by the contract: %s", root, error if detail is None else f"{error} ({detail})")
        report.failed += 1

    def _failed_late(self, root: str, report: StepReport) -> bool:
        """Fail the certificates of a batch that, anchored now, would fail ANCHOR_LAG (with a margin for the time the
        transaction takes); the others of the batch go back to be batched again. Whether any failed: the batch is
        then FAILED. Nothing happens while the node cannot be asked (the anchoring retries anyway).

        One read of the batch's issue dates (grouped), one clock reading, at most two updates, whatever its size.
        """
        with self.core.sessions() as s:
            dates = dict(
                s.execute(
                    select(Certificate.issue_date, func.count())
                    .where(Certificate.batch_root == root)
                    .group_by(Certificate.issue_date)
                ).all()
            )
        try:
            now = self.core.chain_now()
        except ChainUnavailableError:
            return False
        policy = self.core.rules.verifier.policy
        late = [d for d in dates if now > policy.last_anchor_time(dt.date.fromisoformat(d)) - ANCHOR_LAG_MARGIN_SECONDS]
        if not late:
            return False
        in_batch = Certificate.batch_root == root
        failed = sum(dates[d] for d in late)
        with self.core.sessions.begin() as s:
            s.execute(
                update(Certificate)
                .where(in_batch, Certificate.issue_date.in_(late))
                .values(status=CertificateStatus.FAILED, error="ANCHOR_LAG")
            )
            s.execute(
                update(Certificate)
                .where(in_batch, Certificate.issue_date.not_in(late))
                .values(status=CertificateStatus.PENDING, error=None, batch_root=None, leaf_index=None, proof=None)
            )
            batch = s.get(Batch, root)
            assert batch is not None
            batch.state, batch.error = (
                BatchState.FAILED,
                f"ANCHOR_LAG ({failed} of {sum(dates.values())} waited too long)",
            )
        logger.error("batch %s: %d certificates waited too long to be anchored (ANCHOR_LAG)", root, failed)
        report.failed += 1
        return True

    def _defer(self, root: str, error: str, report: StepReport) -> None:
        with self.core.sessions.begin() as s:
            batch = s.get(Batch, root)
            assert batch is not None
            batch.attempts += 1
            batch.error = error[:256]
        logger.warning("batch %s not anchored yet (%s); will retry", root, error)
        report.deferred += 1

    def _refused(self, root: str, batch: Batch, exc: ContractReverted, report: StepReport) -> None:
        """The contract refused the batch: it waits while the cause may pass, else it fails."""
        try:
            reason = classify(self.core, batch, exc)
        except ChainError as err:
            self._defer(root, f"{err.code}: {err}", report)
            return
        if reason.retrying:
            self._wait(root, reason.code, exc.error, report)
        else:
            self._fail(root, reason.code, report, detail=exc.error)

    def _wait(self, root: str, code: str, detail: str, report: StepReport) -> None:
        """The batch and its certificates WAITING with the reason ``code`` (the certificates' ``error``)."""
        with self.core.sessions.begin() as s:
            batch = s.get(Batch, root)
            assert batch is not None
            batch.state, batch.error = BatchState.WAITING, f"{code} ({detail})"[:256]
            s.execute(
                update(Certificate)
                .where(Certificate.batch_root == root)
                .values(status=CertificateStatus.WAITING, error=code)
            )
        logger.warning("batch %s waits: %s (%s); anchored once the chain takes it", root, code, detail)
        report.waiting += 1

    def _retry_waiting(self, report: StepReport, *, force: bool) -> None:
        """Ask the chain, with a simulated call (no transaction), whether the waiting batches would be anchored
        now: at most every ``WAITING_RECHECK_SECONDS`` (or each step when ``force``), once per lab while the lab's
        reason holds. Anchor those that would, fail those now refused for good (e.g. the lab was revoked)."""
        if not force and time.monotonic() < self._next_waiting_check:
            return
        self._next_waiting_check = time.monotonic() + WAITING_RECHECK_SECONDS
        with self.core.sessions() as s:
            waiting = list(s.scalars(select(Batch).where(Batch.state == BatchState.WAITING).order_by(Batch.created_at)))
        held: set[str] = set()
        for batch in waiting:
            if self._failed_late(batch.root, report):  # tell the lab now, not when the lab may anchor again
                continue
            if batch.lab_id in held:
                report.waiting += 1
                continue
            try:
                refusal = would_anchor(self.core, batch)
                reason = None if refusal is None else classify(self.core, batch, refusal)
            except ChainError as exc:
                logger.warning("cannot ask the chain about waiting batches (%s); will retry", exc)
                return
            if refusal is None or reason is None:
                with self.core.sessions.begin() as s:
                    s.execute(
                        update(Batch).where(Batch.root == batch.root).values(state=BatchState.PREPARED, error=None)
                    )
                    s.execute(
                        update(Certificate)
                        .where(Certificate.batch_root == batch.root, Certificate.status == CertificateStatus.WAITING)
                        .values(status=CertificateStatus.PENDING, error=None)
                    )
                logger.info("batch %s no longer waits: anchoring it", batch.root)
                self._anchor(batch.root, report)
            elif not reason.retrying:
                self._fail(batch.root, reason.code, report, detail=refusal.error)
            else:
                if not (batch.error or "").startswith(f"{reason.code} "):
                    self._wait(batch.root, reason.code, refusal.error, report)
                else:
                    report.waiting += 1
                if reason.code in _LAB_WIDE:
                    held.add(batch.lab_id)
