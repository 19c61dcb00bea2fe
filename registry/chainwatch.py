"""Watching for a chain that went backwards: a node restarted from an older state, or a reorganization deeper than
the confirmations waited for, takes anchored batches with it. The anchoring worker asks :class:`ChainWatch` every
second (a few cheap reads) and every ten minutes (each recent batch against the chain); lost batches go back to be
anchored again, exactly once, and transactions stuck behind lost nonces are retired to be signed anew.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import cast

from sqlalchemy import func, or_, select, update

from registry.core import RegistryCore
from registry.db import (
    Batch,
    BatchState,
    Certificate,
    CertificateStatus,
    LifecycleOp,
    OperationState,
    utcnow,
)
from tracecert.certificate.canonical import from_hex, to_hex
from tracecert.chain.errors import ChainError, ContractReverted
from tracecert.chain.sender import TransactionSender
from tracecert.chain.types import CertificateState

__all__ = ["RECONCILE_SECONDS", "ChainWatch", "block_hash"]

logger = logging.getLogger(__name__)

#: How often every recently anchored batch is checked against the chain.
RECONCILE_SECONDS = 600


def block_hash(core: RegistryCore, number: int) -> str | None:
    """The hash of block ``number`` on the node, or None when the node has no such block."""
    block = core.chain.client.rpc("eth_getBlockByNumber", [hex(number), False])
    return None if block is None else str(block["hash"])


class ChainWatch:
    """Notices a chain that went backwards and puts back what it lost (for the anchoring worker)."""

    #: Seconds between two cheap looks for a chain that went backwards (:meth:`check`).
    interval: float = 1.0

    def __init__(
        self,
        core: RegistryCore,
        *,
        sender: Callable[[str], TransactionSender],
        accounts: set[str],
        adopt: Callable[[str, str], bool],
    ) -> None:
        """``sender`` gives a held account's sender, ``accounts`` are those the worker has sent from (their nonces
        are compared with the node's), ``adopt(root, lab_id)`` records a batch found on chain in another block."""
        self.core = core
        self._sender, self._accounts, self._adopt = sender, accounts, adopt
        self.next_reconcile = 0.0
        self.next_check = 0.0
        # The highest anchored block the last check found on the node as recorded (None: none checked yet), and the
        # (block, hash) of every batch this worker anchored since: all are compared at the next check.
        self._verified: int | None = None
        self._fresh: set[tuple[int, str | None]] = set()
        self._fresh_lock = threading.Lock()

    def note(self, block_number: int, block_hash: str | None) -> None:
        """A batch was just recorded anchored in this block: the next :meth:`check` compares it with the node."""
        with self._fresh_lock:
            self._fresh.add((block_number, block_hash))

    def reconcile(self, *, window_hours: float = 24.0, from_block: int | None = None) -> list[str]:
        """Check recently anchored batches against the chain; put back any the chain lost, to be anchored again.
        Revocations and substitutions done recently that the chain no longer shows go back to be sent again.

        A local node killed hard loses its last second of blocks, and a reorganization deeper than the configured
        confirmations drops blocks too: their batches would otherwise stay ANCHORED in the database only, and their
        revocations DONE while the chain says the certificate is in force. Runs when the worker starts and every
        ten minutes, and at once when :meth:`check` sees a sign (``from_block``: the batches recorded in that block
        and above are checked too, however old). A pass cut short (the node stops answering, the database fails)
        is tried again within seconds. Returns the roots put back.
        """
        self.next_reconcile = time.monotonic() + 5 * self.interval  # until this pass is complete
        since = utcnow() - dt.timedelta(hours=window_hours)
        window = Batch.anchored_at >= since
        if from_block is not None:
            window = or_(window, Batch.block_number >= from_block)
        with self.core.sessions() as s:
            recent = list(
                s.execute(
                    select(Batch.root, Batch.lab_id, Batch.block_number, Batch.block_hash).where(
                        Batch.state == BatchState.ANCHORED, window
                    )
                ).all()
            )
        lost: list[str] = []
        hashes: dict[int, str | None] = {}
        for root, lab_id, block_number, recorded_hash in recent:
            try:
                info = self.core.chain.batch(from_hex(root))
                if to_hex(info.lab_id) == lab_id and info.block_number not in hashes:
                    hashes[info.block_number] = block_hash(self.core, info.block_number)
            except ContractReverted:
                info = None
            except ChainError:
                return lost  # the node does not answer: the next pass is due within seconds
            if info is not None and to_hex(info.lab_id) == lab_id:
                if info.block_number != block_number or (recorded_hash and hashes[info.block_number] != recorded_hash):
                    # On chain still, but in another block (a reorganization mined it again): record that one.
                    logger.warning("batch %s moved from block %s to block %d", root, block_number, info.block_number)
                    self._adopt(root, lab_id)
                elif recorded_hash is None and hashes[info.block_number] is not None:
                    # Adopted while the node did not answer: its block's hash, so that the watch can compare it.
                    with self.core.sessions.begin() as s:
                        s.execute(
                            update(Batch)
                            .where(Batch.root == root, Batch.block_number == block_number)
                            .values(block_hash=hashes[info.block_number])
                        )
                continue
            lost.append(root)
            entry = self.core.journal.get(f"anchor:{root}")
            if entry is not None:
                entry.state = "DROPPED"
                self.core.journal.put(entry)
            with self.core.sessions.begin() as s:
                batch = s.get(Batch, root)
                assert batch is not None
                batch.state, batch.tx_hash, batch.block_number, batch.block_timestamp = (
                    BatchState.PREPARED,
                    None,
                    None,
                    None,
                )
                batch.block_hash = None
                batch.chain_index, batch.anchored_at, batch.error = None, None, "LOST_FROM_CHAIN"
                batch.covered_at = None  # its certificates no longer count for their instruments
                s.execute(
                    update(Certificate)
                    .where(Certificate.batch_root == root)
                    .values(status=CertificateStatus.PENDING, anchored_at=None)
                )
            self.core.sender_for(self.core.lab(lab_id).writer_address).resync()
            logger.error("batch %s is no longer on chain (node state lost or reorganized): anchoring it again", root)
        self._operations_lost(since)
        self.next_reconcile = time.monotonic() + RECONCILE_SECONDS
        return lost

    def _operations_lost(self, since: dt.datetime) -> int:
        """Put back, to be sent again, the revocations and substitutions recorded DONE since ``since`` whose
        certificate the chain shows neither revoked nor substituted (their block was lost or reorganized away).
        Returns how many; stops quietly when the node does not answer (the next reconciliation looks again)."""
        with self.core.sessions() as s:
            done = list(
                s.execute(
                    select(LifecycleOp.id, LifecycleOp.op, LifecycleOp.lab_id, LifecycleOp.digest).where(
                        LifecycleOp.state == OperationState.DONE, LifecycleOp.done_at >= since
                    )
                ).all()
            )
        put_back = 0
        for op_id, kind, lab_id, digest in done:
            try:
                if self.core.chain.status(from_hex(lab_id), from_hex(digest)).state is not CertificateState.NONE:
                    continue  # revoked or substituted on chain: nothing to send again
            except ChainError:
                return put_back
            with self.core.sessions.begin() as s:
                op = s.get(LifecycleOp, op_id)
                if op is None or op.state != OperationState.DONE:
                    continue
                op.state, op.error = OperationState.PENDING, "LOST_FROM_CHAIN"
                op.tx_hash, op.block_timestamp, op.done_at = None, None, None
                op.covered_at = None  # its instruments' coverage is brought up to date again once it is done
            put_back += 1
            logger.error("%s of %s is no longer on chain (node lost or reorganized): sending it again", kind, digest)
        return put_back

    def check(self) -> bool:
        """Look cheaply for a chain that went backwards, and repair at once what it took; return whether it did.

        Signs: a block a batch was recorded anchored in since the last check (or the highest one that check found)
        is above the node's head, or has another hash (replaced at the same height); an account's next nonce on the
        node below ours (a nonce we signed past, or a transaction the journal holds as mined). Then lost batches are
        put back (:meth:`reconcile`), journaled transactions at or above the node's nonce are retired to be signed
        anew, and nonces are read from the node again. Runs every :attr:`interval` seconds of the worker's step;
        costs a few reads.
        """
        self.next_check = time.monotonic() + self.interval
        try:
            signs, lowest_bad = self._went_backwards()
        except ChainError:
            return False  # the node does not answer: look again next time
        if not signs:
            return False
        logger.warning("the chain went backwards (%s): putting lost batches back, realigning nonces", "; ".join(signs))
        self.reconcile(from_block=lowest_bad)
        for address in sorted(self._accounts):
            try:
                retired = self._sender(address).realign()
            except ChainError:
                self.next_check = 0.0  # look again at the next step
                break
            if retired:
                logger.warning("account %s: %d journaled transaction(s) retired, to sign anew", address, len(retired))
        return True

    def _went_backwards(self) -> tuple[list[str], int | None]:
        """The signs that the node lost or replaced blocks of ours (empty: none), and the lowest block found lost or
        replaced (None: none), from which the reconciliation checks batches however old.

        Every block this worker anchored a batch in since the last check is compared with the node, not only the
        highest one: a node restarted without its last blocks mines the next batches at the same heights, so by the
        time of this check the highest recorded block may be a fresh one that matches while a lost one sits below
        it with another hash. So are the batches recorded in the highest block the last check found as recorded
        (a loss that reaches below the fresh ones shows there).
        """
        client = self.core.chain.client
        head = client.head(max_age=0)
        with self._fresh_lock:
            fresh = set(self._fresh)
        # The floor: the highest anchored block with a recorded hash, at or below the one the last check verified
        # (its batches may have been put back or moved since).
        hashed = (Batch.state == BatchState.ANCHORED, Batch.block_number.is_not(None), Batch.block_hash.is_not(None))
        top = select(func.max(Batch.block_number)).where(*hashed)
        if self._verified is not None:
            top = top.where(Batch.block_number <= self._verified)
        with self.core.sessions() as s:
            floor = s.scalar(top)
            if floor is not None:
                rows = s.execute(
                    select(Batch.block_number, Batch.block_hash).where(*hashed, Batch.block_number == floor)
                ).all()
                fresh.update((int(cast(int, number)), recorded) for number, recorded in rows)
        signs: list[str] = []
        on_node: dict[int, str | None] = {}
        bad: list[int] = []  # every block found lost or replaced: the lowest bounds the reconciliation
        for number, recorded in sorted(fresh, key=lambda pair: pair[0], reverse=True):
            if number > head:
                if not bad:
                    signs.append(f"head {head} is below block {number} of an anchored batch")
                bad.append(head + 1)
            elif recorded is not None:  # else adopted without its block's hash: the reconciliation fills it in
                if number not in on_node:
                    on_node[number] = block_hash(self.core, number)
                if on_node[number] != recorded:
                    if not bad:
                        signs.append(f"block {number} of an anchored batch was replaced")
                    bad.append(number)
        for address in sorted(self._accounts):
            behind = self._sender(address).behind()
            if behind is not None:
                signs.append(f"account {address}: next nonce {behind[0]} on the node, {behind[1]} here")
        # Compared (or, on a sign, about to be reconciled with every recent batch): not compared again.
        with self._fresh_lock:
            self._fresh -= fresh
        compared = [number for number, recorded in fresh if recorded is not None]
        if signs:
            self._verified = None
        elif compared:
            self._verified = max(compared)
        return signs, min(bad, default=None)
