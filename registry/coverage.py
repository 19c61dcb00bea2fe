"""Due dates and coverage of registered instruments (检定率): what a regulator's region has registered under
mandatory verification, what is verified in time, overdue, failed or never verified, by category, by region and by
month, and the overdue list (a ready input for a 双随机 draw).

One rule decides an instrument's state on a day (:func:`state_on`), from its linked certificates that are on chain
(ANCHORED): a verification certificate (检定证书) keeps it in force from its issue date to its validity date (or the
issue date plus the instrument's period when the certificate states none), until the certificate is revoked or
substituted (the revocation's effective time) or a later verification result notice (检定结果通知书, failed) is
issued. On a day it is

- ``IN_FORCE``: a verification keeps it in force;
- ``FAILED``: its latest verification on or before that day failed;
- ``OVERDUE``: it was verified before, and nothing keeps it in force now;
- ``NEVER``: no verification was issued for it by that day.

检定率 = in force / registered, where registered counts the instruments under mandatory verification
(:func:`tracecert.instruments.is_mandatory`) registered by that day.
"""

from __future__ import annotations

import bisect
import calendar
import csv
import datetime as dt
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, or_, select, union
from sqlalchemy.orm import Session

from registry.core import Principal, RegistryCore
from registry.db import Certificate, CertificateStatus, LifecycleOp, OperationState
from registry.db_enterprises import Enterprise, Instrument, Site
from registry.enterprises import region_bounds, require_regulator_of
from registry.errors import InvalidRequest
from tracecert.certificate.model import Kind
from tracecert.human import CHINA_HOURS

__all__ = [
    "STATES",
    "Verification",
    "coverage",
    "due_states",
    "export",
    "linked_certificates",
    "links",
    "overdue",
    "state_on",
    "today",
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
MAX_MONTHS = 60


def today(core: RegistryCore) -> dt.date:
    """Today in China by the chain's clock (the time every rule of the registry reads)."""
    return dt.datetime.fromtimestamp(core.chain_now(), _CHINA).date()


def _add_months(day: dt.date, months: int) -> dt.date:
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


def _intervals(history: Sequence[_Check], period_months: int) -> list[tuple[dt.date, dt.date]]:
    """The days ``[start, end)`` during which verifications keep the instrument in force."""
    fails = sorted([issued for passed, issued, _, _ in history if not passed])
    out = []
    for passed, issued, valid_until, ended in history:
        if not passed:
            continue
        end = (valid_until or _add_months(issued, period_months)) + _DAY
        if ended is not None:
            end = min(end, ended)
        after = bisect.bisect_left(fails, issued)
        if after < len(fails):  # a failed verification after this one ends it
            end = min(end, fails[after])
        if end > issued:
            out.append((issued, end))
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
    before = [(issued, passed) for passed, issued, _, _ in history if issued <= day]
    if not before:
        return "NEVER", None
    _latest, latest_passed = max(before)  # the latest issued; a pass over a fail the same day
    ended = [end for start, end in intervals if start <= day]
    due = max(ended) - dt.timedelta(days=1) if ended else None
    return ("OVERDUE" if latest_passed else "FAILED"), due


# ---------------------------------------------------------------------------------------------- links


def links(instruments: Any) -> Any:
    """(instrument id, certificate digest) for every certificate linked to the selected instruments."""
    chosen = instruments.subquery()
    by_serial = select(chosen.c.id, Certificate.digest).join(
        Certificate,
        and_(
            Certificate.serial_number == chosen.c.serial_number,
            Certificate.manufacturer_key == chosen.c.manufacturer_key,
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
        day = dt.datetime.fromtimestamp(moment, _CHINA).date()
        out[digest] = min(day, out.get(digest, day))  # one operation per certificate; the first if ever more
    return out


#: Above this many certificates, their revocations are read all at once rather than by lists of digests.
_REVOCATIONS_BY_LIST = 20_000


def _histories(s: Session, certificates: Mapping[int, Sequence[Any]]) -> dict[int, list[Verification]]:
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
    histories = _histories(s, certificates)
    out = {}
    for inst_id, inst in instruments.items():
        history = histories.get(inst_id, [])
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


# ---------------------------------------------------------------------------------------------- a region


@dataclass(frozen=True)
class _Row:
    id: int
    usci: str
    site_id: str
    region: int
    category: str
    period_months: int
    registered: dt.date
    serial_number: str
    asset_number: str | None


def _region_rows(s: Session, region: int, category: str | None) -> tuple[list[_Row], dict[int, list[_Check]]]:
    """The region's instruments under mandatory verification (of ``category``) and their verifications.

    The certificates linked by manufacturer and serial number, and those linked only by the owner's asset number
    (not also by serial), are read in two plain joins rather than one union: the same pairs, none twice, and no
    temporary B-tree to deduplicate 100,000 rows."""
    where: list[ColumnElement[bool]] = [Instrument.mandatory.is_(True)]
    bounds = region_bounds(region)
    if bounds is not None:
        where.append(Instrument.region.between(*bounds))
    if category is not None:
        where.append(Instrument.category == category)
    chosen = select(
        Instrument.id,
        Instrument.usci,
        Instrument.site_id,
        Instrument.region,
        Instrument.category,
        Instrument.period_months,
        Instrument.registered_at,
        Instrument.serial_number,
        Instrument.asset_number,
    ).where(*where)
    conn = s.connection()  # Core rows: nothing here is an ORM entity
    rows = [
        _Row(inst_id, usci, site_id, code, cat, period, _day_of(registered), serial, asset)
        for inst_id, usci, site_id, code, cat, period, registered, serial, asset in conn.execute(chosen).all()
    ]
    by_serial = and_(
        Certificate.serial_number == Instrument.serial_number,
        Certificate.manufacturer_key == Instrument.manufacturer_key,
    )
    only_by_asset = and_(
        Certificate.customer_usci == Instrument.usci,
        Certificate.asset_number == Instrument.asset_number,
        or_(  # not also linked by serial (that join has the pair); the instrument's serial and maker are never null
            Certificate.serial_number.is_(None),
            Certificate.manufacturer_key.is_(None),
            Certificate.serial_number != Instrument.serial_number,
            Certificate.manufacturer_key != Instrument.manufacturer_key,
        ),
    )
    counted = and_(
        Certificate.status == CertificateStatus.ANCHORED,
        Certificate.kind.in_((Kind.VERIFICATION, Kind.VERIFICATION_FAIL_NOTICE)),
    )
    linked: list[Any] = []
    for link in (by_serial, only_by_asset):
        linked += conn.execute(
            select(
                Instrument.id,
                Certificate.digest,
                Certificate.kind,
                Certificate.issue_date,
                Certificate.valid_until,
            )
            .join(Certificate, link)
            .where(*where, counted)
        ).all()
    revoked = _revocations(s, (row[1] for row in linked))
    passed, day = Kind.VERIFICATION.value, dt.date.fromisoformat
    histories: dict[int, list[_Check]] = defaultdict(list)
    for inst_id, digest, kind, issued, valid_until in linked:
        histories[inst_id].append(
            (kind == passed, day(issued), day(valid_until) if valid_until else None, revoked.get(digest))
        )
    return rows, histories


def _day_of(moment: dt.datetime) -> dt.date:
    if moment.tzinfo is None:  # SQLite gives naive UTC back: China's day is 8 hours on (no daylight saving)
        return (moment + _CHINA_OFFSET).date()
    return moment.astimezone(_CHINA).date()


def _child(region: int, code: int) -> int:
    """The sub-region of ``region`` that ``code`` is in (nation → province → city → district)."""
    if region == 0:
        return code // 10000 * 10000
    if region % 10000 == 0:
        return code // 100 * 100
    return code


def _rate(counts: Mapping[str, int]) -> dict[str, Any]:
    registered = sum(counts.get(k, 0) for k in STATES)
    in_force = counts.get("IN_FORCE", 0)
    return {
        "registered": registered,
        "in_force": in_force,
        "overdue": counts.get("OVERDUE", 0),
        "failed": counts.get("FAILED", 0),
        "never_verified": counts.get("NEVER", 0),
        "rate": round(in_force / registered, 4) if registered else None,
    }


def _month_ends(day: dt.date, months: int) -> list[dt.date]:
    """The last day of each of the ``months`` months up to ``day``'s month (``day`` itself for its month)."""
    ends = []
    for back in range(months - 1, -1, -1):
        first = _add_months(day.replace(day=1), -back)
        end = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        ends.append(min(end, day))
    return ends


def coverage(
    core: RegistryCore,
    principal: Principal,
    region: int,
    *,
    day: dt.date | None = None,
    months: int = 12,
    category: str | None = None,
) -> dict[str, Any]:
    """A region's coverage on ``day`` (today in China by default): totals, by category, by sub-region, and the
    trend over ``months`` month ends. For a regulator over the region.

    Raises:
        Forbidden: NOT_A_REGULATOR, NOT_REGULATOR_OF_REGION. InvalidRequest: MONTHS_INVALID.
    """
    if not 1 <= months <= MAX_MONTHS:
        raise InvalidRequest(f"months is 1 to {MAX_MONTHS}", code="MONTHS_INVALID")
    require_regulator_of(core, principal, region)
    day = day or today(core)
    with core.sessions() as s:
        rows, histories = _region_rows(s, region, category)
    cells: Counter[tuple[str, str, int]] = Counter()  # (state, category, sub-region): added up below
    children: dict[int, int] = {}
    ends = _month_ends(day, months)
    registered_by_month = [0] * (len(ends) + 1)
    in_force_by_month = [0] * (len(ends) + 1)
    for row in rows:
        if row.registered > day:
            continue
        history = histories.get(row.id, [])
        intervals = _intervals(history, row.period_months)
        state, _due = _state(history, intervals, day)
        child = children.get(row.region)
        if child is None:
            child = children[row.region] = _child(region, row.region)
        cells[(state, row.category, child)] += 1
        # The trend: count each month end inside a registered, in-force stretch (a difference array over months),
        # once even where two verifications overlap (renewed before the last one ran out).
        first = bisect.bisect_left(ends, row.registered)
        registered_by_month[first] += 1
        counted_to = first  # month ends before registration, or already counted, are not counted (again)
        for start, end in sorted(intervals):
            lo = max(bisect.bisect_left(ends, start), counted_to)
            hi = bisect.bisect_left(ends, end)
            if lo < hi:
                in_force_by_month[lo] += 1
                in_force_by_month[hi] -= 1
                counted_to = hi
    totals: Counter[str] = Counter()
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    by_region: dict[int, Counter[str]] = defaultdict(Counter)
    for (state, cat, child), n in cells.items():
        totals[state] += n
        by_category[cat][state] += n
        by_region[child][state] += n
    trend = []
    registered = in_force = 0
    for i, end in enumerate(ends):
        registered += registered_by_month[i]
        in_force += in_force_by_month[i]
        trend.append(
            {
                "month": end.strftime("%Y-%m"),
                "on": end.isoformat(),
                "registered": registered,
                "in_force": in_force,
                "rate": round(in_force / registered, 4) if registered else None,
            }
        )
    return {
        "region": region,
        "on": day.isoformat(),
        "category": category,
        "totals": _rate(totals),
        "by_category": [{"category": c, **_rate(n)} for c, n in sorted(by_category.items())],
        "by_region": [{"region": r, **_rate(n)} for r, n in sorted(by_region.items())],
        "trend": trend,
    }


def overdue(
    core: RegistryCore,
    principal: Principal,
    region: int,
    *,
    day: dt.date | None = None,
    category: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """The region's instruments not in force on ``day`` (overdue, failed, never verified): each with its
    enterprise, site, category, serial and asset numbers, state and due date; oldest due first."""
    require_regulator_of(core, principal, region)
    day = day or today(core)
    with core.sessions() as s:
        rows, histories = _region_rows(s, region, category)
        late = []
        for row in rows:
            if row.registered > day:
                continue
            history = histories.get(row.id, [])
            state, due = _state(history, _intervals(history, row.period_months), day)
            if state != "IN_FORCE":
                late.append((due or dt.date.min, row, state, due))
        late.sort(key=lambda t: (t[0], t[1].id))
        total = len(late)
        if limit is not None:
            late = late[:limit]
        names = dict(s.execute(select(Enterprise.usci, Enterprise.name)).all()) if late else {}
        wanted = {t[1].site_id for t in late}
        sites = dict(s.execute(select(Site.id, Site.name).where(Site.id.in_(wanted))).all()) if wanted else {}
    return {
        "region": region,
        "on": day.isoformat(),
        "total": total,
        "instruments": [
            {
                "id": row.id,
                "usci": row.usci,
                "enterprise": names.get(row.usci, ""),
                "site": sites.get(row.site_id, ""),
                "site_id": row.site_id,
                "region": row.region,
                "category": row.category,
                "serial_number": row.serial_number,
                "asset_number": row.asset_number,
                "state": state,
                "state_name": {"zh": STATES[state][0], "en": STATES[state][1]},
                "due_date": due.isoformat() if due else None,
            }
            for _, row, state, due in late
        ],
    }


# ---------------------------------------------------------------------------------------------- export

_RATE_HEADS = (
    ("registered", "备案强检器具数"),
    ("in_force", "按期检定数"),
    ("overdue", "超期未检数"),
    ("failed", "检定不合格数"),
    ("never_verified", "从未检定数"),
    ("rate", "检定率"),
)


def _sheets(stats: Mapping[str, Any], late: Mapping[str, Any]) -> list[tuple[str, list[list[Any]]]]:
    rates = [zh for _, zh in _RATE_HEADS]
    keys = [k for k, _ in _RATE_HEADS]
    summary = [["区域代码", "统计日期", *rates], [stats["region"], stats["on"], *(stats["totals"][k] for k in keys)]]
    categories = [["器具类别", *rates], *([c["category"], *(c[k] for k in keys)] for c in stats["by_category"])]
    regions = [["区域代码", *rates], *([r["region"], *(r[k] for k in keys)] for r in stats["by_region"])]
    trend = [
        ["月份", "统计日期", "备案强检器具数", "按期检定数", "检定率"],
        *([t["month"], t["on"], t["registered"], t["in_force"], t["rate"]] for t in stats["trend"]),
    ]
    listing = [
        [
            "统一社会信用代码",
            "企业名称",
            "使用地点",
            "区域代码",
            "器具类别",
            "出厂编号",
            "管理编号",
            "状态",
            "应检日期",
        ],
        *(
            [
                i["usci"],
                i["enterprise"],
                i["site"],
                i["region"],
                i["category"],
                i["serial_number"],
                i["asset_number"] or "",
                i["state_name"]["zh"],
                i["due_date"] or "",
            ]
            for i in late["instruments"]
        ),
    ]
    return [("概况", summary), ("按类别", categories), ("按区域", regions), ("月度趋势", trend), ("超期清单", listing)]


def export(stats: Mapping[str, Any], late: Mapping[str, Any], fmt: str) -> bytes:
    """The figures and the overdue list as a file: ``csv`` (UTF-8 with a BOM, for Excel; the tables one after
    another, each under its title) or ``xlsx`` (one sheet per table)."""
    sheets = _sheets(stats, late)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        for title, rows in sheets:
            writer.writerow([f"# {title}"])
            writer.writerows(rows)
            writer.writerow([])
        return ("\ufeff" + out.getvalue()).encode("utf-8")
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        book.remove(book.active)  # type: ignore[arg-type]
        for title, rows in sheets:
            sheet = book.create_sheet(title)
            for row in rows:
                sheet.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()
    raise InvalidRequest(f"format is csv or xlsx, not {fmt!r}", code="FORMAT_INVALID")
