"""A region's coverage (检定率) and overdue list (registry.coverage) against a brute-force recount.

A generated region (tests/region.py: 50,000 instruments of 2,000 enterprises in 10 categories, with their
certificates written straight into a SQLite registry database) is counted twice: by ``coverage()`` and ``overdue()``
called in-process, and by a recount written here from the generator's ground truth — per instrument and per day,
a loop over the certificates the generator made for it — for the totals, every category, every sub-region, every
month of the trend and the overdue list, on a day and on a second day in the past. Then table tests of the rule
itself (``state_on``).

Authorization is not what these tests are about: the core here is a test double whose only difference is that
every regulator is over every region (:class:`_AnyRegion`); who may read a region is tested over HTTP on a real
chain in test_enterprises.py.
"""

from __future__ import annotations

import calendar
import datetime as dt
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from registry.config import RegistrySettings
from registry.core import Principal, RegistryCore
from registry.coverage import Verification, derive, pack, state_at, state_on, unpack
from registry.db import make_engine, migrate
from registry.db_enterprises import Enterprise, Instrument, InstrumentCoverage, Site
from registry.errors import InvalidRequest
from registry.statistics import CoverageIndex, coverage, overdue
from tests.region import CATEGORIES, InstrumentTruth, Region, add_months, generate_region

INSTRUMENTS, ENTERPRISES, CATEGORY_COUNT = 50_000, 2_000, 10
TODAY = dt.date(2026, 3, 15)
#: A second day, in the past: some instruments were not registered yet, some certificates not issued yet.
PAST = dt.date(2025, 9, 17)
PROVINCE, CITY, DISTRICT = 330000, 330100, 330106
REGULATOR = Principal("REGULATOR", 0, regulator_address="0x" + "11" * 20)


class _AnyRegion(RegistryCore):
    """A registry core without a chain whose every regulator is over every region: a test double for authorization
    only (tested over HTTP in test_enterprises.py); everything counted is read from the database."""

    def regulator_of_region(self, regulator_address: str, region: int) -> bool:
        return True


@dataclass
class World:
    """The generated region, the core over its database, and the recount's states by day."""

    core: RegistryCore
    region: Region
    states: dict[dt.date, dict[int, tuple[str, dt.date | None]]]

    def state(self, inst: InstrumentTruth, day: dt.date) -> tuple[str, dt.date | None]:
        """The recount's state of ``inst`` on ``day`` (computed once per day for every instrument)."""
        if day not in self.states:
            self.states[day] = {i.id: recount_state(i, day) for i in self.region.instruments}
        return self.states[day][inst.id]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The region of 50,000 instruments in a SQLite file (generated once per module and worker; the time printed)."""
    directory = tmp_path_factory.mktemp("coverage")
    url = f"sqlite:///{directory / 'registry.db'}"
    engine = make_engine(url)
    migrate(engine)
    settings = RegistrySettings(data_dir=directory, database_url=url, secret="s" * 40)  # type: ignore[arg-type]
    core = _AnyRegion(settings, engine, None)
    started = time.perf_counter()
    region = generate_region(
        core, instruments=INSTRUMENTS, enterprises=ENTERPRISES, categories=CATEGORY_COUNT, today=TODAY, seed=13
    )
    print(f"\nregion generated in {time.perf_counter() - started:.1f} s: {region.counts}")
    # The coverage index, built as the anchoring worker builds it (instruments without a row, batches not yet
    # brought in), until a pass has nothing left to do.
    started = time.perf_counter()
    index = CoverageIndex(core)
    while index.run():
        pass
    print(f"coverage index built in {time.perf_counter() - started:.1f} s")
    yield World(core, region, {})
    engine.dispose()


# ---------------------------------------------------------------------------------------------- the recount


def _counting(inst: InstrumentTruth) -> list[Any]:
    """The certificates that count: verifications and fail notices on chain."""
    return [
        c
        for c in inst.certificates
        if c.status == "ANCHORED" and c.kind in ("VERIFICATION", "VERIFICATION_FAIL_NOTICE")
    ]


def recount_state(inst: InstrumentTruth, day: dt.date) -> tuple[str, dt.date | None]:
    """The state of an instrument on ``day`` and its due date, from its certificates one by one: a pass keeps it
    in force from its issue day to its last day — its validity date (else issue + period), or the day before a
    revocation took effect, whichever comes first — except on the days a fail notice issued on a later day is in
    effect (from its issue day to the day before its own revocation, if any). A pass and a fail the same day: the
    pass came after; a fail notice revoked by the day does not fail it."""
    certificates = _counting(inst)
    one = dt.timedelta(days=1)
    in_force: list[dt.date] = []
    last_days: list[dt.date] = []
    for c in certificates:
        if c.kind != "VERIFICATION" or c.issued > day:
            continue
        last = c.valid_until or add_months(c.issued, inst.period_months)
        if c.revoked is not None:
            last = min(last, c.revoked - one)
        holds = [(c.issued, last)] if c.issued <= last else []  # its stretches, the fail notices' days taken out
        for f in certificates:
            if f.kind != "VERIFICATION_FAIL_NOTICE" or f.issued <= c.issued:
                continue
            if f.revoked is not None and f.revoked <= f.issued:  # revoked before it took effect
                continue
            cut = [(a, min(b, f.issued - one)) for a, b in holds]
            if f.revoked is not None:
                cut += [(max(a, f.revoked), b) for a, b in holds]
            holds = [(a, b) for a, b in cut if a <= b]
        for a, b in holds:
            if a <= day:
                last_days.append(b)
                if day <= b:
                    in_force.append(b)
    if in_force:
        return "IN_FORCE", max(in_force)
    issued = [c for c in certificates if c.issued <= day]
    if not issued:
        return "NEVER", None
    latest = max(issued, key=lambda c: (c.issued, c.kind == "VERIFICATION" or (c.revoked or dt.date.max) <= day))
    stands = latest.kind == "VERIFICATION" or (latest.revoked or dt.date.max) <= day
    return ("OVERDUE" if stands else "FAILED"), (max(last_days) if last_days else None)


def _inside(region: int, code: int) -> bool:
    if region == 0:  # the nation
        return True
    if region % 10000 == 0:
        return str(code)[:2] == str(region)[:2]
    if region % 100 == 0:
        return str(code)[:4] == str(region)[:4]
    return code == region


def _sub_region(region: int, code: int) -> int:
    if region == 0:
        return int(str(code)[:2] + "0000")
    if region % 10000 == 0:
        return int(str(code)[:4] + "00")
    return code


def _chosen(world: World, region: int, category: str | None) -> list[InstrumentTruth]:
    return [
        i
        for i in world.region.instruments
        if i.mandatory and _inside(region, i.region) and (category is None or i.category == category)
    ]


def _month_ends(day: dt.date, months: int) -> list[dt.date]:
    ends = []
    year, month = day.year, day.month
    for _ in range(months):
        ends.append(min(day, dt.date(year, month, calendar.monthrange(year, month)[1])))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return ends[::-1]


def _figures(states: Iterable[str]) -> dict[str, Any]:
    n = Counter(states)
    registered = sum(n.values())
    return {
        "registered": registered,
        "in_force": n["IN_FORCE"],
        "overdue": n["OVERDUE"],
        "failed": n["FAILED"],
        "never_verified": n["NEVER"],
        "rate": round(n["IN_FORCE"] / registered, 4) if registered else None,
    }


def recount_coverage(
    world: World, region: int, day: dt.date, *, months: int = 12, category: str | None = None
) -> dict[str, Any]:
    """What ``coverage()`` should answer, counted instrument by instrument."""
    chosen = [i for i in _chosen(world, region, category) if i.registered <= day]
    by_category: dict[str, list[str]] = defaultdict(list)
    by_region: dict[int, list[str]] = defaultdict(list)
    for i in chosen:
        state = world.state(i, day)[0]
        by_category[i.category].append(state)
        by_region[_sub_region(region, i.region)].append(state)
    trend = []
    for end in _month_ends(day, months):
        registered = [i for i in chosen if i.registered <= end]
        in_force = sum(world.state(i, end)[0] == "IN_FORCE" for i in registered)
        trend.append(
            {
                "month": f"{end.year:04d}-{end.month:02d}",
                "on": end.isoformat(),
                "registered": len(registered),
                "in_force": in_force,
                "rate": round(in_force / len(registered), 4) if registered else None,
            }
        )
    return {
        "region": region,
        "on": day.isoformat(),
        "category": category,
        "totals": _figures(world.state(i, day)[0] for i in chosen),
        "by_category": [{"category": c, **_figures(s)} for c, s in sorted(by_category.items())],
        "by_region": [{"region": r, **_figures(s)} for r, s in sorted(by_region.items())],
        "trend": trend,
    }


def recount_overdue(world: World, region: int, day: dt.date, category: str | None = None) -> list[dict[str, Any]]:
    """What ``overdue()`` should list: every registered instrument not in force on ``day``, oldest due first."""
    late = []
    for i in _chosen(world, region, category):
        if i.registered > day:
            continue
        state, due = world.state(i, day)
        if state != "IN_FORCE":
            late.append((due or dt.date.min, i.id, i, state, due))
    late.sort(key=lambda t: (t[0], t[1]))
    return [
        {
            "id": i.id,
            "usci": i.usci,
            "enterprise": i.enterprise,
            "site": i.site,
            "site_id": i.site_id,
            "region": i.region,
            "category": i.category,
            "serial_number": i.serial_number,
            "asset_number": i.asset_number,
            "state": state,
            "due_date": due.isoformat() if due else None,
        }
        for _, _, i, state, due in late
    ]


def _timed(what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    started = time.perf_counter()
    answer = call(*args, **kwargs)
    print(f"{what}: {time.perf_counter() - started:.2f} s")
    return answer


def _listing(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in i.items() if k != "state_name"} for i in answer["instruments"]]


# ---------------------------------------------------------------------------------------------- the region


def test_the_region_holds_every_story_the_recount_must_get_right(world: World) -> None:
    """The generator made what the recount is meant to exercise (else an equal count would prove little)."""
    insts = world.region.instruments
    certificates = [c for i in insts for c in i.certificates]
    assert len(insts) == INSTRUMENTS and len(set(i.usci for i in insts)) > ENTERPRISES * 0.95
    assert {i.category for i in insts} == {c[0] for c in CATEGORIES[:CATEGORY_COUNT]}
    assert Counter(i.story for i in insts).keys() == {"regular", "lapsed", "failed", "fail_then_pass", "revoked",
                                                      "never"}  # fmt: skip
    assert Counter(c.link for c in certificates)["asset"] > 1000
    assert sum(c.revoked is not None for c in certificates) > 1000
    assert sum(c.valid_until is None and c.kind == "VERIFICATION" for c in certificates) > 1000
    assert Counter(c.kind for c in certificates)["CALIBRATION"] > 100
    assert Counter(c.status for c in certificates)["FAILED"] > 100
    assert sum(not i.mandatory for i in insts) > 100
    assert sum(PAST < i.registered <= TODAY for i in insts) > 1000  # registered after the past day
    assert sum(not _inside(PROVINCE, i.region) for i in insts) > 100  # outside the province
    # Every state occurs on both days (in the province).
    for day in (TODAY, PAST):
        states = Counter(world.state(i, day)[0] for i in _chosen(world, PROVINCE, None) if i.registered <= day)
        assert min(states[s] for s in ("IN_FORCE", "OVERDUE", "FAILED", "NEVER")) > 500, (day, states)


@pytest.mark.parametrize("day", [TODAY, PAST], ids=["today", "past"])
def test_the_province_s_coverage_equals_a_recount(world: World, day: dt.date) -> None:
    answer = _timed(f"coverage({PROVINCE}, {day})", coverage, world.core, REGULATOR, PROVINCE, day=day)
    expected = recount_coverage(world, PROVINCE, day)
    assert answer["totals"] == expected["totals"]
    assert answer["by_category"] == expected["by_category"]
    assert len(answer["by_category"]) == CATEGORY_COUNT
    assert answer["by_region"] == expected["by_region"]
    assert len(answer["by_region"]) >= 10
    assert answer["trend"] == expected["trend"]
    assert answer == expected
    assert answer["totals"]["registered"] > 40_000


@pytest.mark.parametrize("day", [TODAY, PAST], ids=["today", "past"])
def test_the_province_s_overdue_list_equals_a_recount(world: World, day: dt.date) -> None:
    answer = _timed(f"overdue({PROVINCE}, {day})", overdue, world.core, REGULATOR, PROVINCE, day=day)
    expected = recount_overdue(world, PROVINCE, day)
    assert answer["total"] == len(expected) > 5000
    assert [i["id"] for i in answer["instruments"]] == [i["id"] for i in expected]
    assert _listing(answer) == expected
    # The total counts them all; a limit keeps the first.
    first = overdue(world.core, REGULATOR, PROVINCE, day=day, limit=100)
    assert (first["total"], _listing(first)) == (len(expected), expected[:100])


@pytest.mark.parametrize(
    ("region", "category", "months"),
    [(CITY, None, 12), (DISTRICT, None, 24), (PROVINCE, "血压计", 12), (0, None, 12)],
    ids=["city", "district-24-months", "one-category", "nation"],
)
def test_a_city_a_district_a_category_and_the_nation_equal_a_recount(
    world: World, region: int, category: str | None, months: int
) -> None:
    answer = coverage(world.core, REGULATOR, region, day=TODAY, months=months, category=category)
    expected = recount_coverage(world, region, TODAY, months=months, category=category)
    assert answer == expected
    assert answer["totals"]["registered"] > 1000
    late = overdue(world.core, REGULATOR, region, day=PAST, category=category)
    assert _listing(late) == recount_overdue(world, region, PAST, category)


# ---------------------------------------------------------------------------------------------- the rule


def _v(issued: str, *, passed: bool = True, valid_until: str | None = None, ended: str | None = None) -> Verification:
    return Verification(
        digest=f"0x{issued}{passed}",
        passed=passed,
        issued=dt.date.fromisoformat(issued),
        valid_until=dt.date.fromisoformat(valid_until) if valid_until else None,
        ended=dt.date.fromisoformat(ended) if ended else None,
    )


PASS = _v("2025-01-10", valid_until="2026-01-09")
#: (history, period in months, day) → (state, due date).
STATES: dict[str, tuple[list[Verification], int, str, tuple[str, str | None]]] = {
    "never": ([], 12, "2025-06-01", ("NEVER", None)),
    "issued-after-the-day": ([PASS], 12, "2025-01-09", ("NEVER", None)),
    "in-force-on-its-issue-day": ([PASS], 12, "2025-01-10", ("IN_FORCE", "2026-01-09")),
    "in-force": ([PASS], 12, "2025-06-01", ("IN_FORCE", "2026-01-09")),
    "in-force-on-its-last-day": ([PASS], 12, "2026-01-09", ("IN_FORCE", "2026-01-09")),
    "expired-overdue": ([PASS], 12, "2026-01-10", ("OVERDUE", "2026-01-09")),
    "renewed-early-the-later-due": (
        [PASS, _v("2025-12-20", valid_until="2026-12-19")],
        12,
        "2026-01-01",
        ("IN_FORCE", "2026-12-19"),
    ),
    "failed-after-a-pass": (
        [PASS, _v("2025-06-01", passed=False)],
        12,
        "2025-07-01",
        ("FAILED", "2025-05-31"),
    ),
    "failed-on-the-fail-day": ([PASS, _v("2025-06-01", passed=False)], 12, "2025-06-01", ("FAILED", "2025-05-31")),
    "failed-never-passed": ([_v("2025-06-01", passed=False)], 12, "2025-07-01", ("FAILED", None)),
    "failed-then-passed": (
        [_v("2025-01-02", passed=False), PASS],
        12,
        "2025-03-01",
        ("IN_FORCE", "2026-01-09"),
    ),
    "failed-before-the-pass-came": ([_v("2025-01-02", passed=False), PASS], 12, "2025-01-05", ("FAILED", None)),
    "revoked-overdue": (
        [_v("2025-01-10", valid_until="2026-01-09", ended="2025-04-01")],
        12,
        "2025-04-01",
        ("OVERDUE", "2025-03-31"),
    ),
    "revoked-in-force-the-day-before": (
        [_v("2025-01-10", valid_until="2026-01-09", ended="2025-04-01")],
        12,
        "2025-03-31",
        ("IN_FORCE", "2025-03-31"),
    ),
    "revoked-on-its-issue-day-never-in-force": (
        [_v("2025-01-10", valid_until="2026-01-09", ended="2025-01-10")],
        12,
        "2025-01-10",
        ("OVERDUE", None),
    ),
    "revoked-but-renewed": (
        [_v("2025-01-10", valid_until="2026-01-09", ended="2025-04-01"), _v("2025-04-02", valid_until="2026-04-01")],
        12,
        "2025-05-01",
        ("IN_FORCE", "2026-04-01"),
    ),
    "failed-and-passed-the-same-day-in-force": (
        [_v("2025-06-01", passed=False), _v("2025-06-01", valid_until="2026-05-31")],
        12,
        "2025-06-01",
        ("IN_FORCE", "2026-05-31"),
    ),
    "failed-and-re-verified-the-same-day-in-force": (
        [PASS, _v("2025-06-01", passed=False), _v("2025-06-01", valid_until="2026-05-31")],
        12,
        "2025-07-01",
        ("IN_FORCE", "2026-05-31"),
    ),
    "revoked-fail-notice-fails-until-its-revocation": (
        [PASS, _v("2025-06-01", passed=False, ended="2025-07-01")],
        12,
        "2025-06-30",
        ("FAILED", "2025-05-31"),
    ),
    "revoked-fail-notice-the-pass-holds-again": (
        [PASS, _v("2025-06-01", passed=False, ended="2025-07-01")],
        12,
        "2025-07-01",
        ("IN_FORCE", "2026-01-09"),
    ),
    "fail-notice-revoked-on-its-issue-day-fails-nothing": (
        [PASS, _v("2025-06-01", passed=False, ended="2025-06-01")],
        12,
        "2025-06-01",
        ("IN_FORCE", "2026-01-09"),
    ),
    "revoked-fail-notice-after-the-pass-ran-out-overdue": (
        [PASS, _v("2025-12-01", passed=False, ended="2026-02-01")],
        12,
        "2026-03-01",
        ("OVERDUE", "2025-11-30"),
    ),
    "revoked-fail-notice-a-later-fail-still-fails": (
        [PASS, _v("2025-06-01", passed=False, ended="2025-08-01"), _v("2025-07-01", passed=False)],
        12,
        "2025-09-01",
        ("FAILED", "2025-05-31"),
    ),
    "revoked-fail-notice-alone-overdue": (
        [_v("2025-06-01", passed=False, ended="2025-07-01")],
        12,
        "2025-08-01",
        ("OVERDUE", None),
    ),
    "valid-until-the-last-date-there-is": (
        [_v("2025-01-10", valid_until="9999-12-31")],
        12,
        "2026-01-01",
        ("IN_FORCE", "9999-12-30"),
    ),
    "no-validity-date-past-the-year-9999": ([_v("9999-06-01")], 12, "9999-12-30", ("IN_FORCE", "9999-12-30")),
    "no-validity-date-issue-plus-period": ([_v("2025-01-10")], 6, "2025-07-10", ("IN_FORCE", "2025-07-10")),
    "no-validity-date-then-overdue": ([_v("2025-01-10")], 6, "2025-07-11", ("OVERDUE", "2025-07-10")),
    "no-validity-date-month-end-clamped": ([_v("2024-01-31")], 1, "2024-03-01", ("OVERDUE", "2024-02-29")),
}


@pytest.mark.parametrize("case", list(STATES))
def test_state_on(case: str) -> None:
    history, period, day, (state, due) = STATES[case]
    got = state_on(history, period, dt.date.fromisoformat(day))
    assert got == (state, dt.date.fromisoformat(due) if due else None)


@pytest.mark.parametrize("case", list(STATES))
def test_the_index_s_packed_array_answers_as_the_rule(case: str) -> None:
    """What the coverage index keeps (derive, packed) gives every table case's answer, and the rule's on every day
    from a month before the history to a year after it."""
    history, period, day, (state, due) = STATES[case]
    vector = unpack(pack(derive(history, period)))
    on = dt.date.fromisoformat(day)
    assert state_at(vector, on.toordinal()) == (state, dt.date.fromisoformat(due).toordinal() if due else 0)
    first = min([v.issued for v in history], default=on) - dt.timedelta(days=31)
    for offset in range(min(800, (dt.date.max - first).days + 1)):
        when = first + dt.timedelta(days=offset)
        expected, expected_due = state_on(history, period, when)
        assert state_at(vector, when.toordinal()) == (expected, expected_due.toordinal() if expected_due else 0), when


@pytest.mark.parametrize("months", [0, -1, 61])
def test_a_trend_of_months_out_of_range_is_refused_by_code(tmp_path: Path, months: int) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    settings = RegistrySettings(data_dir=tmp_path, database_url=url, secret="s" * 40)  # type: ignore[arg-type]
    core = _AnyRegion(settings, make_engine(url), None)
    with pytest.raises(InvalidRequest) as refused:
        coverage(core, REGULATOR, PROVINCE, day=TODAY, months=months)
    assert refused.value.code == "MONTHS_INVALID"


@pytest.mark.parametrize(
    ("day", "months", "trend"),
    [
        (dt.date(1, 2, 15), 3, ["0001-01", "0001-02"]),
        (dt.date.max, 2, ["9999-11", "9999-12"]),
    ],
    ids=["the-first-months-there-are", "the-last-day-there-is"],
)
def test_a_trend_reaching_the_ends_of_the_calendar_has_the_months_there_are(
    tmp_path: Path, day: dt.date, months: int, trend: list[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    engine = make_engine(url)
    migrate(engine)
    settings = RegistrySettings(data_dir=tmp_path, database_url=url, secret="s" * 40)  # type: ignore[arg-type]
    answer = coverage(_AnyRegion(settings, engine, None), REGULATOR, PROVINCE, day=day, months=months)
    assert [t["month"] for t in answer["trend"]] == trend
    assert answer["totals"]["registered"] == 0


def test_the_overdue_list_counted_with_the_figures_is_the_overdue_list(world: World) -> None:
    """``coverage(overdue_limit=n)`` (what the statistics page asks, one pass) lists what ``overdue(limit=n)`` does."""
    together = coverage(world.core, REGULATOR, CITY, day=TODAY, overdue_limit=50)["overdue"]
    alone = overdue(world.core, REGULATOR, CITY, day=TODAY, limit=50)
    assert together == {"total": alone["total"], "instruments": alone["instruments"]}
    assert together["total"] > 50 and len(together["instruments"]) == 50


def test_an_overdue_list_of_more_sites_than_a_statement_carries_is_named_in_full(
    database_url: str, tmp_path: Path
) -> None:
    """The whole overdue list (what the coverage file carries) of a large region names every enterprise and site,
    also with more of them than one SQL statement may carry parameters (PostgreSQL: 65,535)."""
    engine = make_engine(database_url)
    migrate(engine)
    settings = RegistrySettings(data_dir=tmp_path, database_url=database_url, secret="s" * 40)  # type: ignore[arg-type]
    core = _AnyRegion(settings, engine, None)
    n, usci = 66_000, "91330106MA27XK5L3X"
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    never = pack(derive([], 12))
    with engine.begin() as c:
        c.execute(insert(Enterprise), [{"usci": usci, "name": "某企业", "region": 330106, "state": "CONFIRMED",
                                        "registered_at": now}])  # fmt: skip
        c.execute(insert(Site), [{"id": f"s{i}", "usci": usci, "name": f"场所{i}", "region": 330106,
                                  "created_at": now} for i in range(n)])  # fmt: skip
        c.execute(insert(Instrument), [{"id": i + 1, "usci": usci, "site_id": f"s{i}", "region": 330106,
                                        "category": "电子计价秤", "catalogue_no": None, "use": "TRADE",
                                        "mandatory": True, "manufacturer": "某厂", "manufacturer_key": "某厂",
                                        "model": "M", "serial_number": f"S{i}", "asset_number": None,
                                        "period_months": 12, "registered_at": now} for i in range(n)])  # fmt: skip
        c.execute(insert(InstrumentCoverage), [{"instrument_id": i + 1, "registered_day": now.date().toordinal(),
                                                "vector": never, "refreshed_at": now} for i in range(n)])  # fmt: skip
    try:
        late = overdue(core, REGULATOR, PROVINCE, day=TODAY)
    finally:
        engine.dispose()
    assert late["total"] == len(late["instruments"]) == n
    assert {(i["site"], i["enterprise"]) for i in late["instruments"]} == {(f"场所{i}", "某企业") for i in range(n)}
