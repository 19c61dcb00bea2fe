"""Due dates of registered instruments: the rule that decides an instrument's state on a day, the certificates
linked to it, and its due date (a region's figures are :mod:`registry.statistics`).

One rule decides an instrument's state on a day (:func:`state_on`), from its linked certificates that are on chain
(ANCHORED): a verification certificate (检定证书) keeps it in force from its issue date to its validity date (or the
issue date plus the instrument's period when the certificate states none), until the certificate is revoked or
substituted (the revocation's effective time), except while a verification result notice (检定结果通知书, failed)
issued on a later day is in effect: from its issue date until it is revoked or substituted in turn, if ever (a
revoked notice fails nothing from then on; a pass and a fail the same day: the pass came after). On a day it is

- ``IN_FORCE``: a verification keeps it in force;
- ``FAILED``: its latest verification on or before that day failed;
- ``OVERDUE``: it was verified before, and nothing keeps it in force now;
- ``NEVER``: no verification was issued for it by that day.

The rule runs on what :func:`derive` keeps of a history — the stretches of days verifications keep the instrument in
force and the verifications' issue days — as days counted from 0001-01-01 (``date.toordinal()``) in flat integer
arrays, which is what the coverage index stores (:mod:`registry.statistics`).
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, union
from sqlalchemy.orm import Session

from registry.core import RegistryCore
from registry.db import Certificate, CertificateStatus, LifecycleOp, OperationState
from registry.db_enterprises import Instrument
from tracecert.certificate.model import Kind
from tracecert.human import CHINA_HOURS

__all__ = [
    "LINK",
    "STATES",
    "Verification",
    "add_months",
    "derive",
    "due_states",
    "histories",
    "linked_certificates",
    "links",
    "pack",
    "state_at",
    "state_on",
    "today",
    "unpack",
]

_CHINA_OFFSET = dt.timedelta(hours=CHINA_HOURS)
_CHINA = dt.timezone(_CHINA_OFFSET)
_DAY = dt.timedelta(days=1)
#: Each state's name (zh, en).
STATES: dict[str, tuple[str, str]] = {
    "IN_FORCE": ("在有效期内", "verified, in force"),
    "FAILED": ("检定不合格", "failed its verification"),
    "OVERDUE": ("超期未检", "overdue"),
    "NEVER": ("从未检定", "never verified"),
}
#: Days before its due date an instrument is shown as falling due.
DUE_SOON_DAYS = 30


def today(core: RegistryCore) -> dt.date:
    """Today in China by the chain's clock (the time every rule of the registry reads)."""
    return dt.datetime.fromtimestamp(core.chain_now(), _CHINA).date()


def add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Verification:
    """A linked certificate as the rule reads it: pass or fail, issued, valid until, and the day its revocation
    took effect (None if it stands)."""

    digest: str
    passed: bool
    issued: dt.date
    valid_until: dt.date | None
    ended: dt.date | None


#: A verification as the rule reads it: (passed, issued, valid until, ended) — a plain tuple, for a province's hundred
#: thousand of them.
_Check = tuple[bool, dt.date, dt.date | None, dt.date | None]


def _checks(history: Sequence[Verification]) -> list[_Check]:
    return [(v.passed, v.issued, v.valid_until, v.ended) for v in history]


#: The last day a verification keeps an instrument in force at the latest: the day after it must exist (the record
#: model takes a validity date of 9999-12-31, whose next day would overflow).
_LAST_DAY = dt.date.max - _DAY


def _last_day(issued: dt.date, valid_until: dt.date | None, period_months: int) -> dt.date:
    """The last day a pass keeps the instrument in force by its dates: its validity date, else issue + period."""
    if valid_until is not None:
        return min(valid_until, _LAST_DAY)
    try:
        return min(add_months(issued, period_months), _LAST_DAY)
    except ValueError:  # past the year 9999
        return _LAST_DAY


def _intervals(history: Sequence[_Check], period_months: int) -> list[tuple[dt.date, dt.date]]:
    """The days ``[start, end)`` during which verifications keep the instrument in force (a pass interrupted by a
    fail notice that was later revoked gives two)."""
    # The fail notices' days in effect [issued, revoked), those revoked before they took effect left out.
    fails = sorted(
        (issued, ended) for passed, issued, _, ended in history if not passed and (ended is None or ended > issued)
    )
    fail_days = [issued for issued, _ in fails]
    out = []
    for passed, issued, valid_until, ended in history:
        if not passed:
            continue
        end = _last_day(issued, valid_until, period_months) + _DAY
        if ended is not None:
            end = min(end, ended)
        start: dt.date | None = issued
        for fail_issued, fail_ended in fails[bisect.bisect_right(fail_days, issued) :]:  # fails on later days
            if start is None or fail_issued >= end:
                break
            if fail_issued > start:
                out.append((start, fail_issued))
            start = None if fail_ended is None else max(start, fail_ended)
        if start is not None and end > start:
            out.append((start, end))
    return out


def state_on(history: Sequence[Verification], period_months: int, day: dt.date) -> tuple[str, dt.date | None]:
    """An instrument's state on ``day`` and its due date then (the end of the verification that keeps it in force,
    or of the latest one before; None if there is none)."""
    checks = _checks(history)
    return _state(checks, _intervals(checks, period_months), day)


def _state(
    history: Sequence[_Check], intervals: Sequence[tuple[dt.date, dt.date]], day: dt.date
) -> tuple[str, dt.date | None]:
    """:func:`state_on` from the history's intervals (computed once where a caller needs them too)."""
    covering = [end for start, end in intervals if start <= day < end]
    if covering:
        return "IN_FORCE", max(covering) - dt.timedelta(days=1)
    latest_passed = _latest_passed(history, day)
    if latest_passed is None:
        return "NEVER", None
    ended = [end for start, end in intervals if start <= day]
    due = max(ended) - dt.timedelta(days=1) if ended else None
    return ("OVERDUE" if latest_passed else "FAILED"), due


def _latest_passed(history: Sequence[_Check], day: dt.date) -> bool | None:
    """Whether the latest verification issued by ``day`` stands as not failed that day (a pass, or a fail notice
    revoked by then; a pass over a fail the same day); None if none was issued by then."""
    before = [(issued, passed or (ended is not None and ended <= day)) for passed, issued, _, ended in history]
    before = [(issued, stands) for issued, stands in before if issued <= day]
    return max(before)[1] if before else None


# ---------------------------------------------------------------------------------------------- links


#: A certificate is about a registered instrument: the same manufacturer (as
#: :func:`registry.instruments.manufacturer_key` reads it) and serial number on a certificate issued to the owner or
#: to no enterprise it names (a serial is public: on the owner's 公示 — registering another's serial must not show
#: its certificates), or the owner's asset number on a certificate issued to the owner.
LINK = or_(
    and_(
        Certificate.serial_number == Instrument.serial_number,
        Certificate.manufacturer_key == Instrument.manufacturer_key,
        or_(Certificate.customer_usci.is_(None), Certificate.customer_usci == Instrument.usci),
    ),
    and_(Certificate.customer_usci == Instrument.usci, Certificate.asset_number == Instrument.asset_number),
)


def links(instruments: Any) -> Any:
    """(instrument id, certificate digest) for every certificate linked to the selected instruments."""
    chosen = instruments.subquery()
    by_serial = select(chosen.c.id, Certificate.digest).join(
        Certificate,
        and_(
            Certificate.serial_number == chosen.c.serial_number,
            Certificate.manufacturer_key == chosen.c.manufacturer_key,
            or_(Certificate.customer_usci.is_(None), Certificate.customer_usci == chosen.c.usci),
        ),
    )
    by_asset = select(chosen.c.id, Certificate.digest).join(
        Certificate,
        and_(Certificate.customer_usci == chosen.c.usci, Certificate.asset_number == chosen.c.asset_number),
    )
    return union(by_serial, by_asset)


def linked_certificates(s: Session, instruments: Any) -> dict[int, list[Certificate]]:
    """The certificates linked to each selected instrument (``instruments`` selects Instrument columns ``id``,
    ``usci``, ``serial_number``, ``manufacturer_key``, ``asset_number``), oldest first."""
    linked = links(instruments).subquery()
    rows = s.execute(
        select(linked.c.id, Certificate)
        .join(Certificate, Certificate.digest == linked.c.digest)
        .order_by(Certificate.issue_date, Certificate.seq)
    ).all()
    out: dict[int, list[Certificate]] = {}
    for inst_id, cert in rows:
        out.setdefault(inst_id, []).append(cert)
    return out


# ---------------------------------------------------------------------------------------------- reading histories


def _revocations(s: Session, digests: Iterable[str]) -> dict[str, dt.date]:
    """The day each revoked or substituted certificate stopped counting (its revocation's effective time)."""
    wanted = set(digests)
    out: dict[str, dt.date] = {}
    done = select(LifecycleOp.digest, LifecycleOp.effective_time, LifecycleOp.block_timestamp).where(
        LifecycleOp.state == OperationState.DONE
    )
    if len(wanted) > _REVOCATIONS_BY_LIST:
        # Many certificates (a province): read every revocation done (few beside the certificates: the link
        # queries read every certificate already) rather than thousands of digests in lists.
        rows: Iterable[Any] = (r for r in s.execute(done) if r[0] in wanted)
    else:
        listed = done.where(LifecycleOp.digest.in_(bindparam("digests", expanding=True)))
        ordered = sorted(wanted)
        rows = [r for i in range(0, len(ordered), 5000) for r in s.execute(listed, {"digests": ordered[i : i + 5000]})]
    for digest, effective, block in rows:
        moment = effective or block or 0
        try:
            day = dt.datetime.fromtimestamp(moment, _CHINA).date()
        except (OverflowError, ValueError, OSError):  # an effective time (any the chain takes) after the year 9999
            day = dt.date.max
        out[digest] = min(day, out.get(digest, day))  # one operation per certificate; the first if ever more
    return out


#: Above this many certificates, their revocations are read all at once rather than by lists of digests.
_REVOCATIONS_BY_LIST = 20_000


def histories(s: Session, certificates: Mapping[int, Sequence[Any]]) -> dict[int, list[Verification]]:
    """Each instrument's verifications from its linked certificate rows (``digest, kind, issue_date, valid_until,
    status``)."""
    revoked = _revocations(s, (c.digest for rows in certificates.values() for c in rows))
    out: dict[int, list[Verification]] = {}
    for inst_id, rows in certificates.items():
        out[inst_id] = [
            Verification(
                digest=c.digest,
                passed=c.kind == Kind.VERIFICATION,
                issued=dt.date.fromisoformat(c.issue_date),
                valid_until=dt.date.fromisoformat(c.valid_until) if c.valid_until else None,
                ended=revoked.get(c.digest),
            )
            for c in rows
            if c.status == CertificateStatus.ANCHORED and c.kind in (Kind.VERIFICATION, Kind.VERIFICATION_FAIL_NOTICE)
        ]
    return out


def due_states(
    s: Session, instruments: Mapping[int, Instrument], certificates: Mapping[int, Sequence[Any]], day: dt.date
) -> dict[int, dict[str, Any]]:
    """Each instrument's state on ``day``, its due date, days left and the certificate that keeps it in force."""
    found = histories(s, certificates)
    out = {}
    for inst_id, inst in instruments.items():
        history = found.get(inst_id, [])
        state, due = state_on(history, inst.period_months, day)
        keeping = [v for v in history if v.passed and v.issued <= day and v.ended is None]
        out[inst_id] = {
            "state": state,
            "state_name": {"zh": STATES[state][0], "en": STATES[state][1]},
            "due_date": due.isoformat() if due else None,
            "days_left": (due - day).days if due and state == "IN_FORCE" else None,
            "due_soon": bool(due and state == "IN_FORCE" and (due - day).days <= DUE_SOON_DAYS),
            "certificate": max(keeping, key=lambda v: v.issued).digest if keeping and state == "IN_FORCE" else None,
        }
    return out


# ---------------------------------------------------------------------------------------------- on ordinals


def derive(history: Sequence[Verification], period_months: int) -> array[int]:
    """What decides an instrument's state on any day, as one integer array (what the coverage index keeps,
    :func:`pack`): ``[n, start, end, start, end, ..., event, event, ...]`` — its ``n // 2`` in-force stretches in
    order (per verification, not merged: a renewal issued after a day must not lengthen what held that day), then
    the days its latest verification may change in order — an issue day, or the day a fail notice's revocation took
    effect — each ``day * 2 + whether that latest verification stands as not failed`` from then on. Days are
    ordinals (``date.toordinal()``)."""
    checks = _checks(history)
    pairs = sorted((start.toordinal(), end.toordinal()) for start, end in _intervals(checks, period_months))
    days = {issued for _, issued, _, _ in checks}
    days.update(ended for passed, issued, _, ended in checks if not passed and ended is not None and ended > issued)
    events = [day.toordinal() * 2 + int(bool(_latest_passed(checks, day))) for day in sorted(days)]
    return array("i", [2 * len(pairs), *(day for pair in pairs for day in pair), *events])


def pack(values: array[int]) -> bytes:
    """An ordinal array as the index stores it: 32-bit little-endian integers."""
    if sys.byteorder == "big":
        values = array("i", values)
        values.byteswap()
    return values.tobytes()


def unpack(blob: bytes | None) -> array[int]:
    """:func:`pack` undone."""
    values = array("i")
    if blob:
        values.frombytes(blob)
        if sys.byteorder == "big":
            values.byteswap()
    return values


def state_at(vector: Sequence[int], day: int) -> tuple[str, int]:
    """:func:`state_on` from :func:`derive`'s array, on the day ordinal ``day``: the state and the due day ordinal
    (0 when there is none)."""
    covering = 0
    ended = 0
    stop = 1 + (vector[0] if vector else 0)
    for i in range(1, stop, 2):
        start, end = vector[i], vector[i + 1]
        if start <= day:
            if day < end and end > covering:
                covering = end
            if end > ended:
                ended = end
    if covering:
        return "IN_FORCE", covering - 1
    latest = bisect.bisect_right(vector, day * 2 + 1, lo=stop)  # the events on or before the day
    if latest == stop:
        return "NEVER", 0
    return ("OVERDUE" if vector[latest - 1] & 1 else "FAILED"), (ended - 1 if ended else 0)
