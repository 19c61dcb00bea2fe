"""Benchmark: the regulators' anomaly scans and downstream impact over a generated ledger.

Writes a ledger of certificates straight into a registry database (tests/ledger.py: clean work of many labs over
90 days, and one anomaly of every kind the scans look for planted at known places), scans it, and prints for each
finding code the planted and found anomalies with precision and recall, and which clean certificates were flagged
(there should be none) — the labs' authorizations, which no chain holds here, answered as the generator means
them (``LedgerChain``); then times the downstream impact of an NMI certificate (everything that cites it). Prints
the machine first.

    .venv/bin/python scripts/bench_scans.py [--certificates 100000] [--labs 20] [--database URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from registry.db import Certificate, make_engine, migrate
from registry.impact import dependents_of
from registry.scans import FINDINGS, scan
from tests.ledger import LedgerChain, generate, lab_refs


def machine() -> str:
    """CPU count and model, Python version."""
    model = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=100_000)
    parser.add_argument("--labs", type=int, default=20)
    parser.add_argument("--database", help="SQLAlchemy URL of an empty database (default: a SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'registry.db'}"
        engine = make_engine(url)
        migrate(engine)
        core = SimpleNamespace(sessions=sessionmaker(engine, expire_on_commit=False))
        print(f"machine: {machine()}; database {engine.dialect.name}")
        today = dt.date.today()
        started = time.perf_counter()
        labs = lab_refs(args.labs)
        planted = generate(core, labs, certificates=args.certificates, today=today)
        with core.sessions() as s:
            total = s.scalar(select(func.count()).select_from(Certificate))
        print(f"ledger: {total:,} certificates of {args.labs} labs written in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        # The labs' authorizations as the generator means them (no chain holds these labs): see tests/ledger.py.
        found = scan(core, since=today - dt.timedelta(days=150), chain=LedgerChain(planted, labs))
        elapsed = time.perf_counter() - started
        print(
            f"scan: {elapsed:.2f} s over the whole ledger ({total / elapsed:,.0f} certificates/s), "
            f"{len(found)} findings"
        )
        expected = set(planted.findings)
        got = {(f.code, frozenset(f.digests)) for f in found}
        print(f"\n{'code':<28} {'planted':>8} {'found':>6} {'right':>6} {'precision':>10} {'recall':>7}")
        for code in FINDINGS:
            want = {x for x in expected if x[0] == code}
            have = {x for x in got if x[0] == code}
            right = len(want & have)
            precision = right / len(have) if have else 1.0
            recall = right / len(want) if want else 1.0
            print(f"{code:<28} {len(want):>8} {len(have):>6} {right:>6} {precision:>10.3f} {recall:>7.3f}")
        flagged = {d for f in found for d in f.digests}
        print(f"\nclean certificates flagged: {len(flagged & planted.clean)} of {len(planted.clean):,}")

        nmi = _most_cited(core)
        started = time.perf_counter()
        dependents = dependents_of(core, nmi)
        elapsed = time.perf_counter() - started
        print(f"impact of NMI certificate {nmi[:18]}…: {len(dependents):,} dependents in {elapsed * 1000:.0f} ms")
        engine.dispose()


def _most_cited(core: SimpleNamespace) -> str:
    """The most cited certificate (an NMI calibration of a lab's standard)."""
    from registry.db import Citation

    with core.sessions() as s:
        row = s.execute(
            select(Citation.cited_digest, func.count().label("n"))
            .group_by(Citation.cited_digest)
            .order_by(func.count().desc())
            .limit(1)
        ).first()
    assert row is not None, "the ledger cites no certificate"
    return str(row[0])


if __name__ == "__main__":
    main()
