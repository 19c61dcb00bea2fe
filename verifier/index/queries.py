"""The index's prepared reads (one compiled statement each), shared by its ChainView answers and its writers."""

from __future__ import annotations

import sqlite3

from sqlalchemy import (
    LargeBinary,
    bindparam,
    func,
    select,
)
from web3 import Web3

from tracecert.chain.contracts import BatchInfo, CertificateStatus, KeyInfo, Sanction
from tracecert.chain.types import CertificateState, LabStatus, SanctionKind, SanctionReason, SubjectKind
from verifier.index.schema import (
    Query,
    UInt64,
    authorizations_table,
    batches_table,
    key_closures_table,
    keys_table,
    lab_statuses_table,
    labs_table,
    leaves_table,
    meta_table,
    sanctions_table,
    scopes_table,
    statuses_table,
)

__all__ = [
    "AUTH",
    "BATCH",
    "LAB_PARAM",
    "LEAF",
    "Q_AUTH_AT",
    "Q_BATCH",
    "Q_BY_DIGEST",
    "Q_BY_NUMBER",
    "Q_BY_ROOT",
    "Q_BY_SERIAL",
    "Q_CONTENTS",
    "Q_KEY",
    "Q_LAB",
    "Q_LEAVES",
    "Q_META",
    "Q_META_VALUE",
    "Q_SANCTIONS",
    "Q_SCOPE",
    "Q_STATUS",
    "Q_STATUS_AT",
    "Q_TIP",
    "T_PARAM",
    "batch_of",
    "bytes32",
    "key_of",
    "lab_name_of",
    "last_timestamp",
    "sanctions_of",
    "status_at",
    "status_of",
]


def bytes32(value: bytes | str) -> bytes:
    """A 32-byte value given as bytes or (0x-)hex, as the lookups take digests, roots and lab ids.

    Raises:
        ValueError: not hex, or not 32 bytes.
    """
    raw = value if isinstance(value, bytes) else bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}")
    return raw


T_PARAM = bindparam("t", type_=UInt64())
LAB_PARAM = bindparam("lab", type_=LargeBinary())

Q_LAB = Query(
    select(labs_table.c.kind, labs_table.c.jurisdiction, labs_table.c.name).where(labs_table.c.lab_id == LAB_PARAM)
)
Q_STATUS_AT = Query(
    select(lab_statuses_table.c.status)
    .where(lab_statuses_table.c.lab_id == LAB_PARAM, lab_statuses_table.c.since <= T_PARAM)
    .order_by(lab_statuses_table.c.block_number.desc(), lab_statuses_table.c.log_index.desc())
    .limit(1)
)
AUTH = authorizations_table.c
Q_AUTH_AT = Query(
    select(AUTH.auth_index, AUTH.number, AUTH.valid_from, AUTH.valid_until)
    .where(AUTH.lab_id == LAB_PARAM, AUTH.valid_from <= T_PARAM, AUTH.valid_until > T_PARAM)
    .order_by(AUTH.auth_index.desc())
    .limit(1)
)
Q_SCOPE = Query(
    select(scopes_table.c.activities).where(
        scopes_table.c.lab_id == LAB_PARAM,
        scopes_table.c.auth_index == bindparam("auth_index"),
        scopes_table.c.category == bindparam("category"),
    )
)
Q_KEY = Query(
    select(
        keys_table,
        select(func.min(key_closures_table.c.valid_until))
        .where(key_closures_table.c.key_id == keys_table.c.key_id)
        .scalar_subquery()
        .label("closed_at"),
    ).where(keys_table.c.key_id == bindparam("key_id"))
)
Q_BATCH = Query(select(batches_table).where(batches_table.c.root == bindparam("root")))
Q_SANCTIONS = Query(
    select(sanctions_table)
    .where(sanctions_table.c.subject == bindparam("subject", type_=LargeBinary))
    .order_by(sanctions_table.c.entry_index)
)
Q_STATUS = Query(
    select(statuses_table).where(statuses_table.c.lab_id == LAB_PARAM, statuses_table.c.digest == bindparam("digest"))
)
BATCH = batches_table.c
LEAF = leaves_table.c
Q_LEAVES = select(
    LEAF.digest,
    LEAF.root,
    LEAF.leaf_index,
    BATCH.size,
    LEAF.lab_id,
    BATCH.key_id,
    LEAF.certificate_number,
    LEAF.serial_number,
    LEAF.kind,
    LEAF.category_code,
    BATCH.batch_index,
    BATCH.anchored_at,
    BATCH.block_number,
).join_from(leaves_table, batches_table, LEAF.root == BATCH.root)
Q_BY_DIGEST = Query(Q_LEAVES.where(LEAF.digest == bindparam("digest")).order_by(BATCH.batch_index, LEAF.leaf_index))
Q_BY_NUMBER = Query(
    Q_LEAVES.where(LEAF.number_tag == bindparam("tag"), LEAF.lab_id == LAB_PARAM).order_by(
        BATCH.batch_index, LEAF.leaf_index
    )
)
Q_BY_SERIAL = Query(
    Q_LEAVES.where(LEAF.serial_number == bindparam("serial")).order_by(BATCH.batch_index, LEAF.leaf_index)
)
Q_BY_ROOT = Query(Q_LEAVES.where(LEAF.root == bindparam("root")).order_by(LEAF.leaf_index))
Q_CONTENTS = Query(select(BATCH.contents, BATCH.attempts).where(BATCH.root == bindparam("root")))
Q_TIP = Query(select(meta_table.c.key, meta_table.c.value))  # a dozen rows
Q_META = select(meta_table.c.value).where(meta_table.c.key == bindparam("key"))
Q_META_VALUE = Query(Q_META)


def status_at(db: sqlite3.Connection, lab_id: bytes, t: int, covered: bool) -> int:
    """A lab's status at ``t`` (``covered``: a recorded authorization covers ``t``), as ``TrustRegistry`` has it."""
    # TrustRegistry._statusAt: the last recorded change at or before t; before registration the lab counts as
    # ACTIVE wherever a recorded authorization covers t, else 0.
    row = Q_STATUS_AT.first(db, lab=lab_id, t=t)
    if row is not None:
        return int(row.status)
    return LabStatus.ACTIVE if covered else LabStatus.NONE


def sanctions_of(db: sqlite3.Connection, subject: bytes) -> list[Sanction]:
    """The credit record of ``subject`` as the index mirrors it, oldest first."""
    return [
        Sanction(
            subject=bytes(row.subject),
            index=row.entry_index,
            subject_kind=SubjectKind(row.subject_kind),
            kind=SanctionKind(row.kind),
            reason=SanctionReason(row.reason),
            region=row.region,
            lifts=row.lifts,
            effective_from=row.effective_from,
            effective_until=row.effective_until,
            recorded_at=row.recorded_at,
            recorded_by=Web3.to_checksum_address(row.recorded_by),
            decision_digest=bytes(row.decision_digest),
            case_number=row.case_number,
        )
        for row in Q_SANCTIONS.all(db, subject=subject)
    ]


def last_timestamp(db: sqlite3.Connection) -> int | None:
    """The timestamp of the last indexed block, or None before the first sync."""
    row = Q_META_VALUE.first(db, key="last_timestamp")
    return int(row.value) if row else None


def batch_of(db: sqlite3.Connection, root: bytes) -> BatchInfo | None:
    """An anchored batch, or None."""
    row = Q_BATCH.first(db, root=root)
    if row is None:
        return None
    return BatchInfo(row.root, row.lab_id, row.key_id, row.size, row.batch_index, row.anchored_at, row.block_number)


def key_of(db: sqlite3.Connection, key_id: bytes) -> KeyInfo | None:
    """A key, its window shrunk by every ``KeyWindowClosed``; or None."""
    row = Q_KEY.first(db, key_id=key_id)
    if row is None:
        return None
    until = row.valid_until if row.closed_at is None else min(row.valid_until, row.closed_at)
    return KeyInfo(row.key_id, row.lab_id, row.public_key, row.valid_from, until, row.registered_at)


def status_of(db: sqlite3.Connection, lab_id: bytes, digest: bytes) -> CertificateStatus:
    """A lab's recorded status of a certificate (NONE when nothing is recorded)."""
    row = Q_STATUS.first(db, lab=lab_id, digest=digest)
    if row is None:
        return CertificateStatus(CertificateState.NONE, 0, 0, 0, None)
    return CertificateStatus(
        CertificateState(row.state), row.reason, row.effective_time, row.recorded_at, row.substituted_by
    )


def lab_name_of(db: sqlite3.Connection, lab_id: bytes) -> str | None:
    """A lab's registered name, or None."""
    row = Q_LAB.first(db, lab=lab_id)
    return None if row is None else str(row.name)
