"""Taking a block range in: its events turned into table rows by one small handler per event (:data:`HANDLERS`),
written with the range's block hashes and the cursor in one transaction; and rolling back to a fork point."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tracecert.chain.deploy import Deployment
from tracecert.chain.types import CertificateState, RevocationReason
from verifier.index.events import Event, Logs
from verifier.index.model import ContentState, IndexMismatch
from verifier.index.queries import Q_META
from verifier.index.schema import (
    BLOCK_TABLES,
    authorizations_table,
    batches_table,
    blocks_table,
    key_closures_table,
    keys_table,
    lab_admins_table,
    lab_statuses_table,
    labs_table,
    meta_table,
    regulator_changes_table,
    regulators_table,
    sanctions_table,
    scopes_table,
    statuses_table,
    writers_table,
)

__all__ = ["HANDLERS", "Handler", "Rows", "commit_range", "rollback", "rows_from", "set_meta"]

_ZERO_ADDRESS = "0x" + "00" * 20


@dataclass
class Rows:
    """Rows from one block range, per table, plus the blocks they came from (number → hash, timestamp)."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    blocks: dict[int, tuple[bytes, int]] = field(default_factory=dict)
    events: int = 0  # the events taken in (those with a handler)

    def add(self, table: Table, row: dict[str, Any]) -> None:
        """Add a row to ``table``."""
        self.tables.setdefault(table.name, []).append(row)


#: Turns one event into rows, for the contracts of ``Deployment``.
Handler = Callable[[Rows, Event, Deployment], None]


def rows_from(logs: Logs, deployment: Deployment) -> Rows:
    """The rows of one range's decoded events; events without a handler are neither kept nor counted.

    Raises:
        IndexMismatch: the TrustRegistry is rooted at another national authority than the deployment's.
    """
    rows = Rows(blocks=logs.blocks)
    for event in logs.events:
        handler = HANDLERS.get(event.name)
        if handler is None:
            continue  # an event the index has no use for
        rows.events += 1
        handler(rows, event, deployment)
    return rows


# ------------------------------------------------------------------------------------------------ one per event


def _regulator_registered(rows: Rows, e: Event, d: Deployment) -> None:
    a = e.args
    if a["parent"] == _ZERO_ADDRESS and a["account"] != d.national_authority.lower():
        raise IndexMismatch(
            f"the TrustRegistry at {d.trust_registry} is rooted at {a['account']}, "
            f"not at the trusted national authority {d.national_authority}"
        )
    row = {"account": a["account"], "parent": a["parent"], "jurisdiction": a["jurisdiction"], "name": a["name"]}
    rows.add(regulators_table, row | e.at)


def _regulator_status_changed(rows: Rows, e: Event, d: Deployment) -> None:
    a = e.args
    rows.add(regulator_changes_table, {"account": a["account"], "active": a["active"], "by": a["by"]} | e.at)


def _lab_registered(rows: Rows, e: Event, d: Deployment) -> None:
    a = e.args
    row = {
        "lab_id": a["labId"],
        "lab_number": a["labNumber"],
        "kind": a["kind"],
        "jurisdiction": a["jurisdiction"],
        "admin": a["admin"],
        "regulator": a["regulator"],
        "name": a["name"],
        "registered_at": e.now,
    }
    rows.add(labs_table, row | e.at)


def _lab_authorized(rows: Rows, e: Event, d: Deployment) -> None:
    a = e.args
    row = {
        "lab_id": a["labId"],
        "auth_index": a["authIndex"],
        "number": a["number"],
        "valid_from": a["validFrom"],
        "valid_until": a["validUntil"],
        "regulator": a["regulator"],
        "recorded_at": e.now,
    }
    rows.add(authorizations_table, row | e.at)
    scope: dict[bytes, int] = {}
    for category, bits in zip(a["categories"], a["activities"], strict=True):
        scope[bytes(category)] = bits  # a repeated category: the contract keeps the last
    for category, bits in scope.items():
        rows.add(
            scopes_table,
            {
                "lab_id": a["labId"],
                "auth_index": a["authIndex"],
                "category": category,
                "activities": bits,
                "block_number": e.at["block_number"],
            },
        )


def _lab_status_changed(rows: Rows, e: Event, d: Deployment) -> None:
    a = e.args
    row = {"lab_id": a["labId"], "since": e.now, "status": a["status"], "reason": a["reason"], "by": a["by"]}
    rows.add(lab_statuses_table, row | e.at)


def _lab_admin_changed(rows: Rows, e: Event, d: Deployment) -> None:
    a = e.args
    rows.add(lab_admins_table, {"lab_id": a["labId"], "admin": a["admin"], "by": a["by"]} | e.at)


def _writer_changed(rows: Rows, e: Event, d: Deployment) -> None:
    a = e.args
    row = {"lab_id": a["labId"], "account": a["account"], "added": e.name == "WriterAdded", "by": a["by"]}
    rows.add(writers_table, row | e.at)


def _key_registered(rows: Rows, e: Event, d: Deployment) -> None:
    a = e.args
    row = {
        "key_id": a["keyId"],
        "lab_id": a["labId"],
        "public_key": a["publicKey"],
        "key_number": a["keyNumber"],
        "valid_from": a["validFrom"],
        "valid_until": a["validUntil"],
        "registered_at": e.now,
    }
    rows.add(keys_table, row | e.at)


def _key_window_closed(rows: Rows, e: Event, d: Deployment) -> None:
    a = e.args
    row = {"key_id": a["keyId"], "valid_until": a["validUntil"], "reason": a["reason"], "by": a["by"]}
    rows.add(key_closures_table, row | e.at)


def _batch_anchored(rows: Rows, e: Event, d: Deployment) -> None:
    a = e.args
    row = {
        "root": a["root"],
        "lab_id": a["labId"],
        "key_id": a["keyId"],
        "size": a["count"],
        "batch_index": a["index"],
        "anchored_at": e.now,
        "tx_hash": e.tx_hash,
        "contents": ContentState.PENDING.value,
        "attempts": 0,
        "problems": "[]",
    }
    rows.add(batches_table, row | e.at)


def _certificate_revoked(rows: Rows, e: Event, d: Deployment) -> None:
    a = e.args
    row = {
        "lab_id": a["labId"],
        "digest": a["digest"],
        "state": int(CertificateState.REVOKED),
        "reason": a["reason"],
        "effective_time": a["effectiveTime"],
        "recorded_at": e.now,
        "substituted_by": None,
    }
    rows.add(statuses_table, row | e.at)


def _certificate_substituted(rows: Rows, e: Event, d: Deployment) -> None:
    a = e.args
    row = {
        "lab_id": a["labId"],
        "digest": a["digest"],
        "state": int(CertificateState.SUBSTITUTED),
        "reason": int(RevocationReason.SUPERSEDED),  # CertificateRegistry.REASON_SUPERSEDED
        "effective_time": e.now,
        "recorded_at": e.now,
        "substituted_by": a["newDigest"],
    }
    rows.add(statuses_table, row | e.at)


def _sanction_recorded(rows: Rows, e: Event, d: Deployment) -> None:
    subject_kind, kind, reason, region, lifts, start, until, recorded_at, by, digest, case = e.args["entry"]
    row = {
        "subject": e.args["subject"],
        "entry_index": e.args["index"],
        "subject_kind": subject_kind,
        "kind": kind,
        "reason": reason,
        "region": region,
        "lifts": lifts - 1 if lifts else None,
        "effective_from": start,
        "effective_until": None if until == (1 << 64) - 1 else until,
        "recorded_at": recorded_at,
        "recorded_by": str(by).lower(),
        "decision_digest": bytes(digest),
        "case_number": case,
    }
    rows.add(sanctions_table, row | e.at)


#: The events the index keeps, each with the handler that turns it into rows.
HANDLERS: dict[str, Handler] = {
    "RegulatorRegistered": _regulator_registered,
    "RegulatorStatusChanged": _regulator_status_changed,
    "LabRegistered": _lab_registered,
    "LabAuthorized": _lab_authorized,
    "LabStatusChanged": _lab_status_changed,
    "LabAdminChanged": _lab_admin_changed,
    "WriterAdded": _writer_changed,
    "WriterRemoved": _writer_changed,
    "KeyRegistered": _key_registered,
    "KeyWindowClosed": _key_window_closed,
    "BatchAnchored": _batch_anchored,
    "CertificateRevoked": _certificate_revoked,
    "CertificateSubstituted": _certificate_substituted,
    "SanctionRecorded": _sanction_recorded,
}


# ------------------------------------------------------------------------------------------------ writing


def commit_range(writer: Engine, first: int, last: int, rows: Rows, *, start_block: int, reorg_depth: int) -> bool:
    """Write one block range's rows, its block hashes and the cursor in one transaction; False (nothing written)
    when the cursor is not at ``first - 1`` (another process took the range in).

    Keeps the hashes of the last ``reorg_depth`` blocks, and the newest one below them as the floor; marks the
    index ``pruned`` once older hashes were dropped.
    """
    with writer.begin() as conn:
        cursor = conn.execute(Q_META, {"key": "last_block"}).scalar()
        if (int(cursor) if cursor is not None else start_block - 1) != first - 1:
            return False
        for table in BLOCK_TABLES:
            if rows.tables.get(table.name):
                conn.execute(table.insert(), rows.tables[table.name])
        conn.execute(
            sqlite_insert(blocks_table).on_conflict_do_nothing(),
            [{"number": n, "hash": h, "timestamp": ts} for n, (h, ts) in rows.blocks.items()],
        )
        tip_hash, tip_time = rows.blocks[last]
        set_meta(conn, last_block=str(last), last_hash=tip_hash.hex(), last_timestamp=str(tip_time))
        cut = last - reorg_depth
        floor = conn.execute(select(func.max(blocks_table.c.number)).where(blocks_table.c.number <= cut)).scalar()
        if floor is not None:
            pruned = conn.execute(delete(blocks_table).where(blocks_table.c.number < floor)).rowcount
            if pruned:
                set_meta(conn, pruned="1")
    return True


def set_meta(conn: Connection, **values: str) -> None:
    """Set meta values (the cursor, the pruned flag) in the transaction of ``conn``."""
    stmt = sqlite_insert(meta_table)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value}),
        [{"key": k, "value": v} for k, v in values.items()],
    )


def rollback(writer: Engine, fork: int) -> None:
    """Delete every row above block ``fork`` and put the cursor back on it (before the deployment: start over)."""
    with writer.begin() as conn:
        for table in BLOCK_TABLES:
            conn.execute(delete(table).where(table.c.block_number > fork))
        conn.execute(delete(blocks_table).where(blocks_table.c.number > fork))
        base = conn.execute(select(blocks_table).where(blocks_table.c.number == fork)).first()
        if base is None:  # back to before the deployment: start over
            conn.execute(delete(blocks_table))
            conn.execute(delete(meta_table).where(meta_table.c.key.in_(["last_block", "last_hash", "last_timestamp"])))
        else:
            set_meta(conn, last_block=str(fork), last_hash=base.hash.hex(), last_timestamp=str(base.timestamp))
