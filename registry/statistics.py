"""A region's figures (检定率): what a regulator's region has registered under mandatory verification, in force,
overdue, failed or never verified, by category, by sub-region and month by month, the overdue list (a ready input
for a 双随机 draw), and their CSV/Excel file.

检定率 = in force / registered, where registered counts the instruments under mandatory verification
(:func:`tracecert.instruments.is_mandatory`) registered by that day; each instrument's state is
:func:`registry.coverage.state_at`.

**The coverage index.** A region's figures read one row per instrument (``instrument_coverage``: its in-force
stretches and verification days, :func:`registry.coverage.derive`), not its certificates: reading a province's
hundred thousand certificates through the link joins on every request took seconds. The rows are kept up to date
from what changes them, each change marked when done so that nothing is missed across a crash
(:class:`CoverageIndex`, run by the anchoring worker): an instrument registered or changed (refreshed by the
request itself, and any instrument without a row by the worker), a batch anchored or lost from the chain
(``batches.covered_at``), a revocation or substitution on chain (``lifecycle_ops.covered_at``).
"""

from __future__ import annotations

import bisect
import calendar
import csv
import datetime as dt
import io
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError

from registry.core import Principal, RegistryCore
from registry.coverage import (
    LINK,
    STATES,
    add_months,
    derive,
    histories,
    linked_certificates,
    pack,
    state_at,
    today,
    unpack,
)
from registry.db import Batch, Certificate, LifecycleOp, OperationState, utcnow
from registry.db_enterprises import Enterprise, Instrument, InstrumentCoverage, Site
from registry.enterprises import region_bounds, require_regulator_of
from registry.errors import InvalidRequest
from tracecert.human import CHINA_HOURS

__all__ = ["CoverageIndex", "coverage", "export", "instruments_of", "overdue", "refresh"]

_CHINA_OFFSET = dt.timedelta(hours=CHINA_HOURS)
_CHINA = dt.timezone(_CHINA_OFFSET)
MAX_MONTHS = 60
_CHUNK = 500
#: Values in one IN list (PostgreSQL takes at most 65,535 parameters in a statement).
_LISTED = 5000


# ---------------------------------------------------------------------------------------------- the index


def refresh(core: RegistryCore, instrument_ids: Iterable[int]) -> int:
    """Bring the coverage rows of these instruments up to date from their certificates; return how many."""
    wanted = sorted(set(instrument_ids))
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        try:
            _refresh(core, chunk)
        except IntegrityError:  # another process added a row of the chunk meanwhile: now they exist, update
            _refresh(core, chunk)
    return len(wanted)


def _refresh(core: RegistryCore, chunk: list[int]) -> None:
    with core.sessions.begin() as s:
        known = s.execute(
            select(Instrument.id, Instrument.period_months, Instrument.registered_at).where(Instrument.id.in_(chunk))
        ).all()
        chosen = select(
            Instrument.id,
            Instrument.usci,
            Instrument.serial_number,
            Instrument.manufacturer_key,
            Instrument.asset_number,
        ).where(Instrument.id.in_(chunk))
        found = histories(s, linked_certificates(s, chosen))
        kept_rows = select(InstrumentCoverage).where(InstrumentCoverage.instrument_id.in_(chunk))
        rows = {r.instrument_id: r for r in s.scalars(kept_rows)}
        now = utcnow()
        for inst_id, period, registered_at in known:
            vector = derive(found.get(inst_id, []), period)
            values = {
                "registered_day": _day_of(registered_at),
                "vector": pack(vector),
                "refreshed_at": now,
            }
            row = rows.get(inst_id)
            if row is None:
                s.add(InstrumentCoverage(instrument_id=inst_id, **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)


def instruments_of(core: RegistryCore, digests: Iterable[str]) -> set[int]:
    """The registered instruments these certificates are about."""
    wanted = sorted(set(digests))
    found: set[int] = set()
    with core.sessions() as s:
        for i in range(0, len(wanted), _CHUNK):
            query = select(Instrument.id).join(Certificate, LINK).where(Certificate.digest.in_(wanted[i : i + _CHUNK]))
            found.update(s.scalars(query))
    return found


class CoverageIndex:
    """Keeps ``instrument_coverage`` up to date (run by the anchoring worker after each step): instruments without
    a row, batches anchored or lost since, revocations and substitutions done since; each marked once done."""

    def __init__(self, core: RegistryCore) -> None:
        self.core = core

    def run(self) -> int:
        """One pass; return how many instruments were refreshed."""
        core = self.core
        with core.sessions() as s:
            missing = list(
                s.scalars(
                    select(Instrument.id)
                    .outerjoin(InstrumentCoverage, InstrumentCoverage.instrument_id == Instrument.id)
                    .where(InstrumentCoverage.instrument_id.is_(None))
                    .limit(5000)
                )
            )
            roots = list(s.scalars(select(Batch.root).where(Batch.covered_at.is_(None)).limit(50)))
            ops = s.execute(
                select(LifecycleOp.id, LifecycleOp.digest, LifecycleOp.new_digest)
                .where(LifecycleOp.state == OperationState.DONE, LifecycleOp.covered_at.is_(None))
                .limit(200)
            ).all()
            any_instrument = s.scalar(select(Instrument.id).limit(1)) is not None
        refreshed = refresh(core, missing) if missing else 0
        done = set(missing)  # refreshed in this pass: from the same certificates, nothing new since
        for root in roots:
            if any_instrument:
                with core.sessions() as s:
                    digests = list(s.scalars(select(Certificate.digest).where(Certificate.batch_root == root)))
                wanted = instruments_of(core, digests) - done
                refreshed += refresh(core, wanted)
                done |= wanted
            with core.sessions.begin() as s:
                batch = s.get(Batch, root)
                if batch is not None and batch.covered_at is None:
                    batch.covered_at = utcnow()
        for op_id, digest, new_digest in ops:
            if any_instrument:
                refreshed += refresh(core, instruments_of(core, [d for d in (digest, new_digest) if d]))
            with core.sessions.begin() as s:
                op = s.get(LifecycleOp, op_id)
                if op is not None:
                    op.covered_at = utcnow()
        return refreshed


# ---------------------------------------------------------------------------------------------- a region


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    usci: str
    site_id: str
    region: int
    category: str
    registered: int  # the day ordinal it was registered (China time)
    serial_number: str
    asset_number: str | None
    vector: array[int]


def _region_rows(core: RegistryCore, region: int, category: str | None) -> list[_Row]:
    """The region's instruments under mandatory verification (of ``category``) with their coverage rows; those
    without one yet (just registered, or never computed) are computed first. Each row's stretches and events are
    one packed integer array: a province's hundred thousand of them as JSON took most of a second to decode."""
    where: list[ColumnElement[bool]] = [Instrument.mandatory.is_(True)]
    bounds = region_bounds(region)
    if bounds is not None:
        where.append(Instrument.region.between(*bounds))
    if category is not None:
        where.append(Instrument.category == category)
    chosen = (
        select(
            Instrument.id,
            Instrument.usci,
            Instrument.site_id,
            Instrument.region,
            Instrument.category,
            InstrumentCoverage.registered_day,
            Instrument.serial_number,
            Instrument.asset_number,
            InstrumentCoverage.vector,
        )
        .outerjoin(InstrumentCoverage, InstrumentCoverage.instrument_id == Instrument.id)
        .where(*where)
    )
    for _attempt in range(2):
        with core.sessions() as s:
            found = s.connection().execute(chosen).all()  # Core rows: nothing here is an ORM entity
        missing = [r[0] for r in found if r[5] is None]
        if not missing:
            break
        refresh(core, missing)
    return [_Row(r[0], r[1], r[2], r[3], r[4], r[5] or 0, r[6], r[7], unpack(r[8])) for r in found]


def _day_of(moment: dt.datetime) -> int:
    """The day ordinal (China time) of a stored moment."""
    if moment.tzinfo is None:  # SQLite gives naive UTC back: China's day is 8 hours on (no daylight saving)
        return (moment + _CHINA_OFFSET).date().toordinal()
    return moment.astimezone(_CHINA).date().toordinal()


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
    """The last day of each of the ``months`` months up to ``day``'s month (``day`` itself for its month), those
    before the year 1 left out."""
    ends = []
    for back in range(min(months, (day.year - 1) * 12 + day.month) - 1, -1, -1):
        first = add_months(day.replace(day=1), -back)
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
    overdue_limit: int = 0,
) -> dict[str, Any]:
    """A region's coverage on ``day`` (today in China by default): totals, by category, by sub-region, and the
    trend over ``months`` month ends; with ``overdue_limit``, also the overdue list (:func:`overdue`) with its
    first ``overdue_limit`` instruments, counted in the same pass. For a regulator over the region.

    Raises:
        Forbidden: NOT_A_REGULATOR, NOT_REGULATOR_OF_REGION. InvalidRequest: MONTHS_INVALID.
    """
    if not 1 <= months <= MAX_MONTHS:
        raise InvalidRequest(f"months is 1 to {MAX_MONTHS}", code="MONTHS_INVALID")
    require_regulator_of(core, principal, region)
    day = day or today(core)
    rows = _region_rows(core, region, category)
    cells: Counter[tuple[str, str, int]] = Counter()  # (state, category, sub-region): added up below
    children: dict[int, int] = {}
    ends = _month_ends(day, months)
    registered_by_month = [0] * (len(ends) + 1)
    in_force_by_month = [0] * (len(ends) + 1)
    today_ord = day.toordinal()
    ends_ord = [end.toordinal() for end in ends]
    late: list[tuple[int, _Row, str]] = []
    for row in rows:
        if row.registered > today_ord:
            continue
        state, due = state_at(row.vector, today_ord)
        if overdue_limit and state != "IN_FORCE":
            late.append((due, row, state))
        child = children.get(row.region)
        if child is None:
            child = children[row.region] = _child(region, row.region)
        cells[(state, row.category, child)] += 1
        # The trend: count each month end inside a registered, in-force stretch (a difference array over months),
        # once even where two verifications overlap (renewed before the last one ran out).
        first = bisect.bisect_left(ends_ord, row.registered)
        registered_by_month[first] += 1
        counted_to = first  # month ends before registration, or already counted, are not counted (again)
        vector = row.vector
        for k in range(1, 1 + (vector[0] if vector else 0), 2):  # the stretches, in order
            start, end = vector[k], vector[k + 1]
            lo = max(bisect.bisect_left(ends_ord, start), counted_to)
            hi = bisect.bisect_left(ends_ord, end)
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
    for i, month_end in enumerate(ends):
        registered += registered_by_month[i]
        in_force += in_force_by_month[i]
        trend.append(
            {
                "month": f"{month_end.year:04d}-{month_end.month:02d}",
                "on": month_end.isoformat(),
                "registered": registered,
                "in_force": in_force,
                "rate": round(in_force / registered, 4) if registered else None,
            }
        )
    answer = {
        "region": region,
        "on": day.isoformat(),
        "category": category,
        "totals": _rate(totals),
        "by_category": [{"category": c, **_rate(n)} for c, n in sorted(by_category.items())],
        "by_region": [{"region": r, **_rate(n)} for r, n in sorted(by_region.items())],
        "trend": trend,
    }
    if overdue_limit:
        answer["overdue"] = _late_view(core, late, overdue_limit)
    return answer


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
    day_ord = day.toordinal()
    late = []
    for row in _region_rows(core, region, category):
        if row.registered <= day_ord:
            state, due = state_at(row.vector, day_ord)
            if state != "IN_FORCE":
                late.append((due, row, state))
    return {"region": region, "on": day.isoformat()} | _late_view(core, late, limit)


def _late_view(core: RegistryCore, late: list[tuple[int, _Row, str]], limit: int | None) -> dict[str, Any]:
    """The instruments not in force, oldest due first (never verified first), the first ``limit`` named."""
    late.sort(key=lambda t: (t[0], t[1].id))
    total = len(late)
    if limit is not None:
        late = late[:limit]
    uscis = sorted({t[1].usci for t in late})
    wanted = sorted({t[1].site_id for t in late})
    names: dict[str, str] = {}
    sites: dict[str, str] = {}
    with core.sessions() as s:  # in lists of _LISTED: a province's whole list names more than a statement carries
        for i in range(0, len(uscis), _LISTED):
            chosen = Enterprise.usci.in_(uscis[i : i + _LISTED])
            names.update(s.execute(select(Enterprise.usci, Enterprise.name).where(chosen)).all())
        for i in range(0, len(wanted), _LISTED):
            sites.update(s.execute(select(Site.id, Site.name).where(Site.id.in_(wanted[i : i + _LISTED]))).all())
    return {
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
                "due_date": dt.date.fromordinal(due).isoformat() if due else None,
            }
            for due, row, state in late
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
