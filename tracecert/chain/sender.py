"""Sending transactions signed locally with eth-account: one sender per account, journaled before broadcast.

Why it cannot double-anchor:

- one :class:`TransactionSender` per account keeps its own nonce counter (web3.py's pending-count nonces race);
- every signed transaction is written to a durable :class:`TxJournal` (nonce, hash, raw bytes, idempotency key)
  *before* it is broadcast;
- a retry of the same key re-broadcasts the same raw transaction (same nonce, same hash) instead of signing a new
  one, so at most one of the copies can ever be mined; after a restart :meth:`TransactionSender.recover` finishes
  every journaled transaction before any new one is signed;
- and the contract itself refuses a root anchored twice.

A node that goes backwards (restarted from an older state, or reorganized) may lose transactions already mined: the
account's nonce on the node then falls below the journal's, and later transactions sit behind the gap forever.
Nothing waits on them: a transaction above the account's next nonce on the node is retired (DROPPED) after a short
grace, by :meth:`TransactionSender.recover` at once, and by :meth:`TransactionSender.realign` when a caller saw the
chain go backwards; a retry of its key signs it anew with a fresh nonce.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from web3 import Web3

from tracecert.chain.client import ChainClient
from tracecert.chain.errors import (
    ChainUnavailable,
    ContractReverted,
    NonceGap,
    ReceiptTimeout,
    TransactionFailed,
    decode_revert,
)

__all__ = ["FileJournal", "JournalEntry", "MemoryJournal", "Receipt", "TransactionSender", "TxJournal"]

logger = logging.getLogger(__name__)

#: Journal states. SIGNED: persisted, maybe not broadcast. SENT: accepted by a node. MINED: confirmed with
#: status 1. FAILED: mined with status 0, or refused by the node. DROPPED: its nonce was used by another tx.
OPEN_STATES = frozenset({"SIGNED", "SENT"})
#: States of entries whose nonce the account has used, or will use, on the node.
LIVE_STATES = OPEN_STATES | {"MINED"}


@dataclass
class JournalEntry:
    """One journaled transaction."""

    key: str
    sender: str
    nonce: int
    tx_hash: str
    raw: str
    state: str = "SIGNED"
    block_number: int | None = None


@dataclass(frozen=True)
class Receipt:
    """The parts of a receipt callers use."""

    tx_hash: str
    block_number: int
    block_hash: str
    gas_used: int
    status: int
    contract_address: str | None
    logs: list[Any]


class TxJournal(Protocol):
    """Durable record of signed transactions (the registry keeps it in its database)."""

    def get(self, key: str) -> JournalEntry | None:
        """The latest entry for an idempotency key."""

    def put(self, entry: JournalEntry) -> None:
        """Insert or replace the entry of ``entry.key``; durable when it returns."""

    def open_entries(self, sender: str) -> list[JournalEntry]:
        """Entries of ``sender`` still SIGNED or SENT, by nonce."""

    def entries_from(self, sender: str, nonce: int) -> list[JournalEntry]:
        """Entries of ``sender`` SIGNED, SENT or MINED with a nonce of at least ``nonce``, by nonce."""


class MemoryJournal:
    """A non-durable journal, for one-shot scripts and tests that do not restart."""

    def __init__(self) -> None:
        self._entries: dict[str, JournalEntry] = {}

    def get(self, key: str) -> JournalEntry | None:
        """See :meth:`TxJournal.get`."""
        return self._entries.get(key)

    def put(self, entry: JournalEntry) -> None:
        """See :meth:`TxJournal.put`."""
        self._entries[entry.key] = JournalEntry(**asdict(entry))

    def open_entries(self, sender: str) -> list[JournalEntry]:
        """See :meth:`TxJournal.open_entries`."""
        found = [e for e in self._entries.values() if e.sender == sender and e.state in OPEN_STATES]
        return sorted(found, key=lambda e: e.nonce)

    def entries_from(self, sender: str, nonce: int) -> list[JournalEntry]:
        """See :meth:`TxJournal.entries_from`."""
        found = [
            JournalEntry(**asdict(e))
            for e in self._entries.values()
            if e.sender == sender and e.state in LIVE_STATES and e.nonce >= nonce
        ]
        return sorted(found, key=lambda e: e.nonce)


class FileJournal(MemoryJournal):
    """An append-only JSON-lines journal, fsynced on every write (the last line of a key wins)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = JournalEntry(**json.loads(line))
                    self._entries[entry.key] = entry

    def put(self, entry: JournalEntry) -> None:
        """Append the entry and fsync before returning."""
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(entry), sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        super().put(entry)


class TransactionSender:
    """Signs and sends transactions for one account, with its own nonce counter.

    Several threads may send at once (the anchoring worker sends several batches together): each transaction takes
    the next nonce under a lock, and each thread waits for its own receipt.

    Args:
        client: the chain connection.
        account: the local account (eth-account) that signs; its key never leaves this object.
        journal: where signed transactions are recorded before broadcast.
        confirmations: blocks needed on top of the receipt's block (1 = the receipt's block itself).
        receipt_timeout: seconds to wait for a confirmed receipt.
        poll_interval: seconds between receipt polls.
        broadcast_attempts: tries to reach the node per broadcast.
        gas_margin: multiplier on the gas estimate.
        drop_grace: seconds a used nonce must go without our receipt before the transaction counts as DROPPED.
        gap_grace: seconds a transaction may sit above the account's next nonce on the node (a gap nothing fills)
            before it is retired as DROPPED with :class:`~tracecert.chain.errors.NonceGap`.
    """

    def __init__(
        self,
        client: ChainClient,
        account: LocalAccount,
        journal: TxJournal | None = None,
        *,
        confirmations: int = 1,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.05,
        broadcast_attempts: int = 5,
        gas_margin: float = 1.25,
        drop_grace: float = 2.0,
        gap_grace: float = 2.0,
    ) -> None:
        self.client = client
        self._account = account
        self.address = account.address
        self.journal: TxJournal = journal if journal is not None else MemoryJournal()
        self.confirmations = confirmations
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self.broadcast_attempts = broadcast_attempts
        self.gas_margin = gas_margin
        self.drop_grace = drop_grace
        self.gap_grace = gap_grace
        self._lock = threading.Lock()
        self._recovering = threading.Lock()
        self._nonce: int | None = None
        self._recovered = False
        #: Hashes of transactions just signed and not yet handed to the node.
        self._fresh: set[str] = set()

    def __repr__(self) -> str:
        return f"TransactionSender({self.address})"

    # ------------------------------------------------------------------ public

    def send(
        self,
        to: str | None,
        data: bytes | str,
        *,
        key: str | None = None,
        gas: int | None = None,
        value: int = 0,
    ) -> Receipt:
        """Sign, journal, broadcast and confirm one transaction; return its receipt.

        With ``key``, the call is idempotent: a key already MINED returns its receipt, a key still open is
        finished (its journaled raw transaction re-broadcast), never signed anew. A key MINED in a block the node
        has lost since is open again: its transaction is handed over again.

        Raises:
            ContractReverted: the call would revert (checked before signing) or reverted when mined.
            TransactionFailed: the node refused the transaction, or it was dropped.
            ReceiptTimeout: no confirmed receipt in time; the transaction stays journaled for :meth:`recover`.
            ChainUnavailable: the node could not be reached at all.
        """
        with self._recovering:  # several threads may send at once: the first recovers, the others wait for it
            if not self._recovered:
                self.recover()
        if key is not None:
            existing = self.journal.get(key)
            if existing is not None and existing.state == "MINED":
                raw = self.client.rpc("eth_getTransactionReceipt", [existing.tx_hash])
                if raw is not None:
                    return _to_receipt(raw)
                # Mined once, in a block the node has lost since (it went back to an older state): the same
                # signed transaction is handed over again (or, its nonce taken meanwhile, dropped and signed anew).
                logger.warning("%s (%s) was mined in a block the node lost; sending it again", existing.tx_hash, key)
                existing.state = "SENT"
                self.journal.put(existing)
                self.resync()
            if existing is not None and existing.state in OPEN_STATES:
                return self._finish(existing)
        payload = data if isinstance(data, str) else "0x" + data.hex()
        attempt = 0
        while True:
            entry = self._sign(to, payload, key=key, gas=gas, value=value)
            if attempt < 2:
                self._fresh.add(entry.tx_hash)
            try:
                return self._finish(entry)
            except _NonceTaken:
                attempt += 1  # a stale transaction of ours holds that nonce: sign again with the node's next one

    def _sign(self, to: str | None, payload: str, *, key: str | None, gas: int | None, value: int) -> JournalEntry:
        """Sign the next transaction and journal it (SIGNED) before it is broadcast."""
        with self._lock:
            tx: dict[str, Any] = {
                "from": self.address,
                "data": payload,
                "value": value,
                "chainId": self.client.chain_id,
            }
            if to is not None:
                tx["to"] = Web3.to_checksum_address(to)
            tx["gas"] = gas if gas is not None else self._estimate(tx)
            tx.update(self._fees())
            tx["nonce"] = self._next_nonce()
            tx.pop("from")
            signed = self._account.sign_transaction(tx)
            tx_hash = "0x" + bytes(signed.hash).hex()
            entry = JournalEntry(
                key=key or f"tx:{tx_hash}",
                sender=self.address,
                nonce=tx["nonce"],
                tx_hash=tx_hash,
                raw="0x" + bytes(signed.raw_transaction).hex(),
            )
            self.journal.put(entry)
            self._nonce = tx["nonce"] + 1
        return entry

    def recover(self) -> list[Receipt]:
        """Finish every journaled transaction of this account that is still open, oldest nonce first.

        Entries whose nonce was taken by another transaction become DROPPED. So do, at once, entries above the
        account's next nonce on the node with nothing of ours to fill the gap (the node lost transactions of ours):
        no receipt can come for them, a retry of their key signs them anew. Call it at start-up; :meth:`send` calls
        it once before its first transaction.
        """
        receipts: list[Receipt] = []
        self._recovered = True
        for entry in self.journal.open_entries(self.address):
            node = self.node_nonce()
            if entry.nonce > node:
                self._retire(entry, f"behind a gap: the node's next nonce is {node}")
                continue
            try:
                receipts.append(self._finish(entry))
            except (ContractReverted, TransactionFailed) as exc:
                logger.warning("journaled transaction %s (%s) did not succeed: %s", entry.tx_hash, entry.key, exc)
        with self._lock:
            self._nonce = None  # resync from the chain after recovery
        return receipts

    def resync(self) -> None:
        """Forget the local nonce; the next send reads the account's pending count from the node."""
        with self._lock:
            self._nonce = None

    def node_nonce(self) -> int:
        """The account's next nonce as the node sees it (its ``pending`` transaction count: mined and ready ones).

        Raises:
            ChainUnavailable: the node could not be reached.
        """
        return int(self.client.rpc("eth_getTransactionCount", [self.address, "pending"]), 16)

    def behind(self) -> tuple[int, int] | None:
        """``(node's next nonce, ours)`` when the node is behind this account's own record, else None.

        Ours is the nonce this sender would sign with next, or one above the highest transaction the journal holds
        as mined: a node below it lost transactions of ours (it restarted from an older state, or reorganized).
        """
        node = self.node_nonce()
        expected = self._nonce or 0
        for entry in self.journal.entries_from(self.address, node):
            if entry.state == "MINED":
                expected = max(expected, entry.nonce + 1)
        return (node, expected) if node < expected else None

    def realign(self) -> list[JournalEntry]:
        """Line this sender up with a node that went backwards; return the journal entries retired.

        Every journaled transaction at or above the account's next nonce on the node is not on chain and cannot
        come: open ones would wait behind the gap, mined ones were lost with their blocks. They become DROPPED, so
        that a retry of their key signs them anew with a fresh nonce (a contract refusing a repeat, as the anchor of
        a root, keeps that exactly once), and the local nonce is read from the node again.
        """
        with self._lock:
            node = self.node_nonce()
            retired = self.journal.entries_from(self.address, node)
            for entry in retired:
                self._retire(entry, f"realignment at nonce {node}")
            self._nonce = None
        return retired

    # ------------------------------------------------------------------ internals

    def _next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = self.node_nonce()
        return self._nonce

    def _retire(self, entry: JournalEntry, why: str) -> None:
        """Mark a transaction that cannot land as it is (behind a nonce gap, or lost) DROPPED."""
        logger.warning(
            "transaction %s (%s, nonce %d, was %s) is not on the node and cannot land (%s): retired, to be signed anew",
            entry.tx_hash,
            entry.key,
            entry.nonce,
            entry.state,
            why,
        )
        entry.state = "DROPPED"
        self.journal.put(entry)

    def _estimate(self, tx: dict[str, Any]) -> int:
        call = {k: v for k, v in tx.items() if k in ("from", "to", "data")}
        if tx.get("value"):
            call["value"] = hex(tx["value"])
        estimate = int(self.client.rpc("eth_estimateGas", [call]), 16)
        return int(estimate * self.gas_margin) + 10_000

    def _fees(self) -> dict[str, int]:
        block = self.client.rpc("eth_getBlockByNumber", ["latest", False])
        base = block.get("baseFeePerGas") if block else None
        if base is None:  # legacy pricing, e.g. zero-gas-price permissioned networks
            return {"gasPrice": int(self.client.rpc("eth_gasPrice", []), 16)}
        try:
            tip = int(self.client.rpc("eth_maxPriorityFeePerGas", []), 16)
        except TransactionFailed:
            tip = 0
        return {"maxFeePerGas": 2 * int(base, 16) + tip, "maxPriorityFeePerGas": tip}

    def _broadcast(self, entry: JournalEntry) -> None:
        fresh = entry.tx_hash in self._fresh  # just signed by send, never handed over before
        self._fresh.discard(entry.tx_hash)
        delay = 0.2
        for attempt in range(1, self.broadcast_attempts + 1):
            try:
                self.client.rpc("eth_sendRawTransaction", [entry.raw])
                return
            except ChainUnavailable:
                if attempt == self.broadcast_attempts:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except TransactionFailed as exc:
                message = str(exc).lower()
                if "already known" in message or "already imported" in message or "known transaction" in message:
                    return
                if fresh and attempt == 1 and ("nonce too low" in message or "underpriced" in message):
                    # Never handed over before, so not ours that landed: another transaction holds the nonce (a
                    # stale one of ours the node had queued behind a gap, mined or waiting once the gap was filled).
                    self._retire(entry, "its nonce is taken by another transaction")
                    self.resync()
                    raise _NonceTaken(entry.tx_hash) from exc
                if "nonce too low" in message or "nonce is too low" in message:
                    return  # mined already, or taken by another tx: the receipt wait tells which
                entry.state = "FAILED"
                self.journal.put(entry)
                self.resync()
                raise TransactionFailed(str(exc), entry.tx_hash) from exc

    def _finish(self, entry: JournalEntry) -> Receipt:
        self._broadcast(entry)
        if entry.state == "SIGNED":
            entry.state = "SENT"
            self.journal.put(entry)
        receipt = self._wait(entry)
        entry.block_number = receipt.block_number
        entry.state = "MINED" if receipt.status == 1 else "FAILED"
        self.journal.put(entry)
        if receipt.status != 1:
            raise self._failure(entry, receipt)
        return receipt

    def _wait(self, entry: JournalEntry) -> Receipt:
        deadline = time.monotonic() + self.receipt_timeout
        taken_since: float | None = None
        gap_since: float | None = None
        while True:
            try:
                raw = self.client.rpc("eth_getTransactionReceipt", [entry.tx_hash])
                node = None if raw is not None else self.node_nonce()
                if raw is not None:
                    receipt = _to_receipt(raw)
                    head = int(self.client.rpc("eth_blockNumber", []), 16)
                    if head >= receipt.block_number + self.confirmations - 1:
                        again = self.client.rpc("eth_getTransactionReceipt", [entry.tx_hash])
                        if again is not None and again["blockHash"] == raw["blockHash"]:  # not reorganized away
                            return receipt
                elif node is not None and entry.nonce > node:
                    # Behind a gap: the node lost transactions of ours before this one. Nothing we journaled will
                    # fill it, so retire this one (after a grace, for sends racing each other) rather than wait.
                    taken_since = None
                    gap_since = gap_since if gap_since is not None else time.monotonic()
                    if time.monotonic() - gap_since >= self.gap_grace:
                        self._retire(entry, f"the node's next nonce is {node}")
                        self.resync()
                        raise NonceGap(
                            f"nonce {entry.nonce} is above the node's next nonce {node}: the node lost transactions",
                            entry.tx_hash,
                        )
                elif not self._nonce_taken(entry):
                    taken_since = gap_since = None
                    if entry.nonce == node and self.client.rpc("eth_getTransactionByHash", [entry.tx_hash]) is None:
                        self._broadcast(entry)  # the node lost it from its pool (restarted): hand it over again
                elif taken_since is None:
                    # A node may count the nonce a moment before it serves the receipt: look again before
                    # concluding that another transaction took it.
                    taken_since = time.monotonic()
                elif time.monotonic() - taken_since >= self.drop_grace:
                    entry.state = "DROPPED"
                    self.journal.put(entry)
                    self.resync()
                    raise TransactionFailed(f"nonce {entry.nonce} was used by another transaction", entry.tx_hash)
            except ChainUnavailable:
                logger.warning("node unreachable while waiting for %s; retrying", entry.tx_hash)
            if time.monotonic() > deadline:
                raise ReceiptTimeout(
                    f"no confirmed receipt for {entry.tx_hash} in {self.receipt_timeout:.0f}s", entry.tx_hash
                )
            time.sleep(self.poll_interval)

    def _nonce_taken(self, entry: JournalEntry) -> bool:
        latest = int(self.client.rpc("eth_getTransactionCount", [entry.sender, "latest"]), 16)
        if latest <= entry.nonce:
            return False
        # The nonce is used; our receipt may just not be indexed yet: ask once more.
        return self.client.rpc("eth_getTransactionReceipt", [entry.tx_hash]) is None

    def _failure(self, entry: JournalEntry, receipt: Receipt) -> Exception:
        """Why a mined transaction failed: the exact revert data from a call trace when the node offers one
        (Anvil, Geth, Besu with the DEBUG API), else a replay just before and at the end of its block."""
        try:
            trace = self.client.rpc("debug_traceTransaction", [entry.tx_hash, {"tracer": "callTracer"}])
            output = trace.get("output") if isinstance(trace, dict) else None
            if isinstance(output, str) and len(output) >= 10:
                return decode_revert(output, entry.tx_hash)
        except (TransactionFailed, ContractReverted):
            pass  # no debug API here
        tx = self.client.rpc("eth_getTransactionByHash", [entry.tx_hash])
        call = {
            "from": tx["from"],
            "to": tx.get("to"),
            "data": tx["input"],
            "gas": tx["gas"],
            "value": tx["value"],
        }
        for block in (receipt.block_number - 1, receipt.block_number):
            try:
                self.client.rpc("eth_call", [call, hex(block)])
            except ContractReverted as exc:
                exc.tx_hash = entry.tx_hash
                return exc
        return TransactionFailed(f"transaction {entry.tx_hash} failed (status 0, out of gas?)", entry.tx_hash)


class _NonceTaken(Exception):
    """A just-signed transaction was refused because another transaction holds its nonce; it was retired."""


def _to_receipt(raw: dict[str, Any]) -> Receipt:
    return Receipt(
        tx_hash=raw["transactionHash"],
        block_number=int(raw["blockNumber"], 16),
        block_hash=raw["blockHash"],
        gas_used=int(raw["gasUsed"], 16),
        status=int(raw["status"], 16),
        contract_address=raw.get("contractAddress"),
        logs=list(raw.get("logs", [])),
    )
