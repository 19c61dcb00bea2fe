"""Benchmark: a region's coverage (检定率) and overdue list over a generated region.

Writes a region straight into a registry database (tests/region.py: enterprises of Zhejiang with their sites,
registered instruments of several categories and their certificates — verified in time, overdue, failed, revoked,
never verified), then times ``coverage()`` for the province, a city and a district, and ``overdue()`` for the
province, in-process, best of ``--repeat`` runs; then how the province's time divides between reading (the
database and its rows) and counting. Prints the machine first. The goal: the province's statistics under 1 s.

Authorization is no part of what is timed: the core here answers that its regulator is over every region (who may
read a region is the chain's answer, tested over HTTP in tests/registry/test_enterprises.py).

    .venv/bin/python scripts/bench_coverage.py [--instruments 50000] [--enterprises 2000] [--categories 10]
        [--repeat 5] [--record-bytes 0] [--postgres URL] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import functools
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select

from registry.config import RegistrySettings
from registry.core import Principal, RegistryCore
from registry.db import make_engine, migrate
from registry.db_enterprises import Instrument
from registry.statistics import _region_rows, coverage, overdue, refresh
from scripts.bench_scans import machine
from tests.region import generate_region

PROVINCE, CITY, DISTRICT = 330000, 330100, 330106
REGULATOR = Principal("REGULATOR", 0, regulator_address="0x" + "11" * 20)


class _AnyRegion(RegistryCore):
    """A core without a chain whose regulator is over every region (authorization is not what is timed)."""

    def regulator_of_region(self, regulator_address: str, region: int) -> bool:
        return True


def best_of(repeat: int, call: Callable[[], Any]) -> tuple[float, float, Any]:
    """The best and the median wall time of ``repeat`` calls, and the last answer."""
    times = []
    answer = None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = call()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=50_000)
    parser.add_argument("--enterprises", type=int, default=2_000)
    parser.add_argument("--categories", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--record-bytes", type=int, default=0, help="pad each certificate's record by this much (a real one: ~2000)"
    )
    parser.add_argument("--postgres", metavar="URL", help="SQLAlchemy URL of an empty PostgreSQL database")
    parser.add_argument("--profile", action="store_true", help="cProfile one province coverage() (top 20 by own time)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite:///{Path(tmp) / 'registry.db'}"
        engine = make_engine(url)
        migrate(engine)
        settings = RegistrySettings(data_dir=Path(tmp), database_url=url, secret="s" * 40)  # type: ignore[arg-type]
        core = _AnyRegion(settings, engine, None)
        print(f"machine: {machine()}; database {engine.dialect.name}")
        day = dt.date.today()
        started = time.perf_counter()
        region = generate_region(
            core,
            instruments=args.instruments,
            enterprises=args.enterprises,
            categories=args.categories,
            today=day,
            seed=args.seed,
            record_bytes=args.record_bytes,
        )
        n = region.counts
        print(
            f"region: {n['instruments']:,} instruments of {n['enterprises']:,} enterprises ({n['sites']:,} sites), "
            f"{args.categories} categories; {n['certificates']:,} certificates, {n['revocations']:,} revocations; "
            f"written in {time.perf_counter() - started:.1f} s"
        )
        # The coverage index: what the worker and the register keep as certificates anchor and instruments are
        # registered, built here at once for the generated region.
        started = time.perf_counter()
        with core.sessions() as s:
            ids = list(s.scalars(select(Instrument.id)))
        refresh(core, ids)
        print(f"coverage index: {len(ids):,} instruments computed in {time.perf_counter() - started:.1f} s")
        print(f"\n{'call':<34} {'best':>8} {'median':>8}  answer (on {day}, best of {args.repeat})")
        results: dict[str, float] = {}
        for name, region_code in (("province", PROVINCE), ("city", CITY), ("district", DISTRICT)):
            best, median, answer = best_of(
                args.repeat, functools.partial(coverage, core, REGULATOR, region_code, day=day)
            )
            results[name] = best
            t = answer["totals"]
            print(
                f"{f'coverage({region_code}) {name}':<34} {best:>7.3f}s {median:>7.3f}s  "
                f"{t['registered']:,} registered, {t['in_force']:,} in force, rate {t['rate']}"
            )
        best, median, answer = best_of(args.repeat, lambda: overdue(core, REGULATOR, PROVINCE, day=day))
        print(f"{f'overdue({PROVINCE}) province':<34} {best:>7.3f}s {median:>7.3f}s  {answer['total']:,} listed")

        # What the regulators' page asks (GET /v1/coverage?overdue_limit=200): the figures and the first 200 overdue
        # in one pass, encoded as the answer's JSON.
        def page() -> Any:
            answer = coverage(core, REGULATOR, PROVINCE, day=day, overdue_limit=200)
            return answer, json.dumps(answer, ensure_ascii=False)

        best, median, (answer, body) = best_of(args.repeat, page)
        results["page"] = best
        print(f"{'page: coverage + 200 overdue, JSON':<34} {best:>7.3f}s {median:>7.3f}s  {len(body):,} bytes")

        # Where the province's time goes: reading (queries and rows) against counting (the rule, the trend).
        reading, _, rows = best_of(args.repeat, lambda: _region_rows(core, PROVINCE, None))
        linked = sum(len(r.vector) - 1 - r.vector[0] for r in rows)
        print(
            f"\nprovince: reading {reading:.3f} s ({len(rows):,} instruments, {linked:,} verifications), "
            f"counting {max(results['province'] - reading, 0):.3f} s"
        )
        verdict = "met" if results["page"] < 1.0 else "NOT met"
        print(f"goal (the province's statistics page under 1 s): {verdict} — {results['page']:.3f} s")
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(coverage, core, REGULATOR, PROVINCE, day=day)
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(20)
            print("\n" + out.getvalue())
        engine.dispose()


if __name__ == "__main__":
    main()
