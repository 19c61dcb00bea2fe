"""The lab directory (机构名录) from the index: every lab on chain with its state at one moment, filtered the way a
regulator asks (jurisdiction, kind, status, scope category, authorization expiring within N days), and one lab's
whole history (registration, authorizations with their scope, status changes with named reasons, keys,
certificates anchored per month, its credit record).

Everything here is public chain data (一公开): the directory answers anyone, from the index alone, without a call to
the node.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from tracecert.certificate.canonical import to_hex
from tracecert.chain.contracts import Sanction
from tracecert.chain.types import (
    NATIONAL,
    Activity,
    LabKind,
    LabStatus,
    SanctionReason,
    category_from_bytes,
    covers,
)
from tracecert.credit import entry_view, grade_view, standing
from tracecert.human import CHINA_HOURS, DAY
from verifier.index.schema import (
    authorizations_table,
    batches_table,
    key_closures_table,
    keys_table,
    lab_statuses_table,
    labs_table,
    regulators_table,
    scopes_table,
)

if TYPE_CHECKING:
    from verifier.index.core import Index

__all__ = ["DirectoryEntry", "LabHistory", "directory", "lab_history"]

_OPEN = (1 << 64) - 1


@dataclass(frozen=True)
class DirectoryEntry:
    """One lab as the directory lists it, at the moment asked about."""

    lab_id: bytes
    name: str
    kind: LabKind
    jurisdiction: int
    status: LabStatus
    authorization_number: str | None  # the authorization that decides at the moment (else the latest recorded)
    valid_from: int | None
    valid_until: int | None
    scope: dict[str, Activity]
    certificates: int  # anchored, all batches
    grade: str | None  # the credit grade at the moment (None without a CreditRegistry)

    def to_dict(self, when: Callable[[int], str]) -> dict[str, Any]:
        """JSON form: codes with their names, times as ``when`` shows them to a person."""
        return {
            "lab_id": to_hex(self.lab_id),
            "name": self.name,
            "kind": {"code": self.kind.name, "zh": self.kind.zh, "en": self.kind.en},
            "jurisdiction": self.jurisdiction,
            "status": {"code": self.status.name, "zh": self.status.zh, "en": self.status.en},
            "authorization": None
            if self.authorization_number is None
            else {
                "number": self.authorization_number,
                "valid_from": when(self.valid_from or 0),
                "valid_until": when(self.valid_until or 0),
            },
            "scope": {category: _activities(a) for category, a in self.scope.items()},
            "certificates": self.certificates,
            "credit_grade": self.grade,
        }


@dataclass(frozen=True)
class LabHistory:
    """One lab's whole record on chain."""

    entry: DirectoryEntry
    registered_at: int
    registered_by: str
    registered_by_name: str | None
    authorizations: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    months: dict[str, int] = field(default_factory=dict)  # YYYY-MM (China time) → certificates anchored
    sanctions: list[Sanction] | None = None

    def to_dict(self, when: Callable[[int], str], at: int) -> dict[str, Any]:
        """JSON form: every code with its names, every time as ``when`` shows it to a person."""
        record = self.sanctions
        return {
            **self.entry.to_dict(when),
            "registered": {
                "at": when(self.registered_at),
                "by": self.registered_by,
                "by_name": self.registered_by_name,
            },
            "authorizations": [
                {
                    **a,
                    "valid_from": when(a["valid_from"]),
                    "valid_until": when(a["valid_until"]),
                    "recorded_at": when(a["recorded_at"]),
                    "scope": {c: _activities(v) for c, v in a["scope"].items()},
                }
                for a in self.authorizations
            ],
            "statuses": [
                {
                    **s,
                    "since": when(s["since"]),
                    "status": _named(LabStatus(s["status"])),
                    "reason": _reason(s["reason"]),
                }
                for s in self.statuses
            ],
            "keys": [
                {
                    **k,
                    "valid_from": when(k["valid_from"]),
                    "valid_until": None if k["valid_until"] == _OPEN else when(k["valid_until"]),
                    "registered_at": when(k["registered_at"]),
                }
                for k in self.keys
            ],
            "certificates_per_month": self.months,
            "credit": None
            if record is None
            else {
                "grade": grade_view(standing(record, at).grade),
                "entries": [entry_view(e, when) for e in record],
            },
        }


def directory(
    index: Index,
    *,
    at: int,
    jurisdiction: int | None = None,
    kind: LabKind | None = None,
    status: LabStatus | None = None,
    category: str | None = None,
    expiring_within_days: int | None = None,
) -> list[DirectoryEntry]:
    """The labs on chain at ``at``, filtered: under ``jurisdiction`` (as the TrustRegistry puts a lab under a
    regulator: an NMI answers to the national regulator only), of ``kind``, with ``status``, with ``category`` in
    the scope of the authorization in force, or with that authorization ending within ``expiring_within_days``
    days of ``at``. Ordered by jurisdiction, then name."""
    with index.reading() as conn:
        labs = conn.execute(select(labs_table).order_by(labs_table.c.jurisdiction, labs_table.c.name)).all()
        counts = dict(
            conn.execute(
                select(batches_table.c.lab_id, func.sum(batches_table.c.size)).group_by(batches_table.c.lab_id)
            ).all()
        )
        entries = []
        for row in labs:
            lab_kind = LabKind(row.kind)
            if jurisdiction is not None and not _under(jurisdiction, lab_kind, row.jurisdiction):
                continue
            if kind is not None and lab_kind is not kind:
                continue
            entry = _entry(index, conn, row, at, int(counts.get(row.lab_id) or 0))
            if status is not None and entry.status is not status:
                continue
            if category is not None and category not in entry.scope:
                continue
            if expiring_within_days is not None and not (
                entry.valid_until is not None and at <= entry.valid_until < at + expiring_within_days * DAY
            ):
                continue
            entries.append(entry)
    return entries


def lab_history(index: Index, lab_id: bytes, *, at: int, tz_hours: int = CHINA_HOURS) -> LabHistory | None:
    """The whole record of the lab ``lab_id`` (None if it was never registered), its state taken at ``at``."""
    with index.reading() as conn:
        row = conn.execute(select(labs_table).where(labs_table.c.lab_id == lab_id)).first()
        if row is None:
            return None
        batches = conn.execute(
            select(batches_table.c.anchored_at, batches_table.c.size).where(batches_table.c.lab_id == lab_id)
        ).all()
        entry = _entry(index, conn, row, at, sum(b.size for b in batches))
        regulator = conn.execute(
            select(regulators_table.c.name).where(regulators_table.c.account == row.regulator)
        ).scalar()
        auths = conn.execute(
            select(authorizations_table)
            .where(authorizations_table.c.lab_id == lab_id)
            .order_by(authorizations_table.c.auth_index)
        ).all()
        scopes: dict[int, dict[str, Activity]] = {}
        for s in conn.execute(select(scopes_table).where(scopes_table.c.lab_id == lab_id)).all():
            scopes.setdefault(s.auth_index, {})[category_from_bytes(s.category)] = Activity(s.activities)
        statuses = conn.execute(
            select(lab_statuses_table)
            .where(lab_statuses_table.c.lab_id == lab_id)
            .order_by(lab_statuses_table.c.block_number, lab_statuses_table.c.log_index)
        ).all()
        keys = conn.execute(
            select(keys_table).where(keys_table.c.lab_id == lab_id).order_by(keys_table.c.key_number)
        ).all()
        closures = {
            c.key_id: c
            for c in conn.execute(
                select(key_closures_table)
                .where(key_closures_table.c.key_id.in_([k.key_id for k in keys]))
                .order_by(key_closures_table.c.block_number, key_closures_table.c.log_index)
            ).all()
        }
    months: Counter[str] = Counter()
    zone = dt.timezone(dt.timedelta(hours=tz_hours))
    for b in batches:
        months[dt.datetime.fromtimestamp(b.anchored_at, zone).strftime("%Y-%m")] += b.size
    return LabHistory(
        entry=entry,
        registered_at=row.registered_at,
        registered_by=row.regulator,
        registered_by_name=regulator,
        authorizations=[
            {
                "index": a.auth_index,
                "number": a.number,
                "valid_from": a.valid_from,
                "valid_until": a.valid_until,
                "recorded_at": a.recorded_at,
                "regulator": a.regulator,
                "scope": scopes.get(a.auth_index, {}),
            }
            for a in auths
        ],
        statuses=[{"since": s.since, "status": s.status, "reason": s.reason, "by": s.by} for s in statuses],
        keys=[
            {
                "key_id": to_hex(k.key_id),
                "valid_from": k.valid_from,
                "valid_until": closures[k.key_id].valid_until if k.key_id in closures else k.valid_until,
                "registered_at": k.registered_at,
                "closed_reason": closures[k.key_id].reason if k.key_id in closures else None,
            }
            for k in keys
        ],
        months=dict(sorted(months.items())),
        sanctions=index.sanctions(lab_id),
    )


def _under(jurisdiction: int, kind: LabKind, lab_jurisdiction: int) -> bool:
    if kind is LabKind.NMI:
        return jurisdiction == NATIONAL
    return covers(jurisdiction, lab_jurisdiction)


def _entry(index: Index, conn: Any, row: Any, at: int, certificates: int) -> DirectoryEntry:
    lab_id = bytes(row.lab_id)
    state = index.lab_at(lab_id, at)
    auth = (
        conn.execute(
            select(authorizations_table)
            .where(
                authorizations_table.c.lab_id == lab_id,
                authorizations_table.c.valid_from <= at,
                authorizations_table.c.valid_until > at,
            )
            .order_by(authorizations_table.c.auth_index.desc())
            .limit(1)
        ).first()
        or conn.execute(
            select(authorizations_table)
            .where(authorizations_table.c.lab_id == lab_id)
            .order_by(authorizations_table.c.auth_index.desc())
            .limit(1)
        ).first()
    )
    scope: dict[str, Activity] = {}
    if auth is not None:
        for s in conn.execute(
            select(scopes_table).where(scopes_table.c.lab_id == lab_id, scopes_table.c.auth_index == auth.auth_index)
        ).all():
            scope[category_from_bytes(s.category)] = Activity(s.activities)
    record = index.sanctions(lab_id)
    return DirectoryEntry(
        lab_id=lab_id,
        name=row.name,
        kind=LabKind(row.kind),
        jurisdiction=row.jurisdiction,
        status=state.status if state is not None else LabStatus.NONE,
        authorization_number=auth.number if auth is not None else None,
        valid_from=auth.valid_from if auth is not None else None,
        valid_until=auth.valid_until if auth is not None else None,
        scope=scope,
        certificates=certificates,
        grade=None if record is None else standing(record, at).grade.value,
    )


def _activities(activities: Activity) -> list[str]:
    return [str(a.name) for a in Activity if a in activities]


def _named(value: LabStatus) -> dict[str, str]:
    return {"code": value.name, "zh": value.zh, "en": value.en}


def _reason(code: int) -> dict[str, Any] | None:
    """A status change's reason by name (the regulators' reasons are :class:`SanctionReason`); 0 is none."""
    if code == 0:
        return None
    try:
        reason = SanctionReason(code)
    except ValueError:
        return {"code": code, "zh": f"未知原因（{code}）", "en": f"unknown reason ({code})"}
    return {"code": reason.name, "zh": reason.zh, "en": reason.en}
