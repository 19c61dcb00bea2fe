"""Soak: issuing and verifying together for a bounded time, with throughput over time and each process's memory.

Starts a throw-away Anvil node (automine), deploys, onboards a lab (``bench_registry.bootstrap``), and runs, as in
production, the registry API, its anchoring worker and the verifier (``tracecert verifier serve`` on its own
event index, finding bundles through the registry) as processes of their own. Then, for ``--minutes``:

- one client issues certificates in bulk (``--bulk`` per request, at most ``--rate`` per second);
- ``--verifiers`` clients verify certificates already anchored (``GET /v1/certificates/{digest}/verification``),
  each answer checked (VALID).

Every ``--every`` seconds it prints issued/s, anchored/s, verified/s, the verification p99 and each process's
resident memory; at the end, each process's memory after the warm-up (``--warmup`` seconds) and at the end, and
whether TraceCert's processes (registry API, worker, verifier) stayed within ``--tolerance`` (10 %). Anvil's is
shown, not bounded: the test chain keeps every block in memory, so it grows with the chain by design. Exit code 1
when a verification was not VALID, a request failed, or a bounded process's memory grew beyond the tolerance.

    .venv/bin/python scripts/soak.py [--minutes 10] [--rate 300] [--verifiers 4] [--every 30]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import Engine, create_engine, text

sys.path.insert(0, str(Path(__file__).parent))
from bench_registry import _machine, _port, bootstrap

from tracecert.chain.node import AnvilNode

#: The processes whose memory must stay flat (Anvil, the test chain, grows with its blocks by design).
BOUNDED = ("registry API", "worker", "verifier")


@dataclass
class Counters:
    """What the clients did, under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    issued: int = 0
    verified: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)


def _wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _issue(
    url: str, token: str, template: dict[str, Any], rate: float, bulk: int, c: Counters, stop: threading.Event
) -> None:
    n = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        while not stop.is_set():
            started = time.monotonic()
            chunk = []
            for i in range(n, n + bulk):
                record = copy.deepcopy(template)
                record["certificate_number"] = f"SOAK-{i:08d}"
                record["item"]["serial_number"] = f"SSOAK{i:08d}"
                chunk.append(record)
            n += bulk
            response = http.post("/v1/certificates/bulk", json={"certificates": [{"record": r} for r in chunk]})
            with c.lock:
                if response.status_code != 200:
                    c.failures.append(f"issue: HTTP {response.status_code}")
                else:
                    results = response.json()["results"]
                    c.issued += sum(1 for r in results if r["ok"])
                    c.failures += [f"issue: {r['error']['code']}" for r in results if not r["ok"]]
            time.sleep(max(0.0, bulk / rate - (time.monotonic() - started)))


def _verify(url: str, c: Counters, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=60) as http:
        while not stop.is_set():
            with c.lock:
                digest = rng.choice(c.digests) if c.digests else None
            if digest is None:
                time.sleep(0.5)
                continue
            started = time.perf_counter()
            response = http.get(f"/v1/certificates/{digest}/verification")
            elapsed = time.perf_counter() - started
            verdict = response.json().get("verdict") if response.status_code == 200 else None
            with c.lock:
                c.latencies.append(elapsed)
                if verdict == "VALID":
                    c.verified += 1
                else:
                    c.failures.append(f"verify {digest}: HTTP {response.status_code}, verdict {verdict}")


#: Seconds between two looks for newly anchored certificates (the verifying clients start within this).
REFRESH_SECONDS = 5.0
_SOAK_ANCHORED = "status = 'ANCHORED' AND certificate_number LIKE 'SOAK-%'"


def _anchored(engine: Engine, after: int) -> tuple[int, list[str], int]:
    """How many soak certificates are anchored; the digests of those anchored that were accepted after the
    acceptance number ``after``, and the highest such number (the next ``after``). One accepted before but anchored
    later (its batch retried) is counted, not verified: the clients only need enough to choose from."""
    with engine.connect() as conn:
        count = conn.execute(text(f"SELECT count(*) FROM certificates WHERE {_SOAK_ANCHORED}")).scalar_one()
        rows = conn.execute(
            text(f"SELECT seq, digest FROM certificates WHERE {_SOAK_ANCHORED} AND seq > :after ORDER BY seq"),
            {"after": after},
        ).all()
    return int(count), [str(r[1]) for r in rows], max((int(r[0]) for r in rows), default=after)


def _rss(processes: dict[str, psutil.Process]) -> dict[str, float]:
    """Resident memory in MiB of each process (with its children: a verifier's workers)."""
    out = {}
    for name, process in processes.items():
        try:
            total = process.memory_info().rss + sum(child.memory_info().rss for child in process.children(True))
        except psutil.Error:
            total = 0
        out[name] = total / 2**20
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=300, help="certificates issued per second at most")
    parser.add_argument("--bulk", type=int, default=100)
    parser.add_argument("--verifiers", type=int, default=4, help="clients verifying at once")
    parser.add_argument("--every", type=float, default=30, help="seconds between reports")
    parser.add_argument("--tolerance", type=float, default=0.10, help="memory growth allowed after the warm-up")
    parser.add_argument("--warmup", type=float, default=60, help="seconds before the memory baseline is taken")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        node = AnvilNode(tmp / "node", port=_port(), persist=False)
        node.start()
        children: list[subprocess.Popen[bytes]] = []
        try:
            database = f"sqlite:///{tmp / 'registry.db'}"
            world = bootstrap(tmp, node.url, database)
            registry_port, verifier_port = _port(), _port()
            registry, verifier = f"http://127.0.0.1:{registry_port}", f"http://127.0.0.1:{verifier_port}"
            tracecert = [sys.executable, "-m", "tracecert_app.cli"]
            api = _spawn([*tracecert, "registry", "serve", "--no-worker", "--port", str(registry_port)], world.env,
                         tmp / "api.log")  # fmt: skip
            worker = _spawn([*tracecert, "registry", "worker"], world.env, tmp / "worker.log")
            verifier_env = {
                "TRACECERT_VERIFIER_RPC_URL": node.url,
                "TRACECERT_VERIFIER_DEPLOYMENT_FILE": str(tmp / "deployment.json"),
                "TRACECERT_VERIFIER_DATA_DIR": str(tmp),
                "TRACECERT_VERIFIER_CHAIN_VIEW": "index",
                "TRACECERT_VERIFIER_INDEX_FILE": str(tmp / "index.sqlite"),
                "TRACECERT_VERIFIER_REGISTRY_URLS": registry,
                "TRACECERT_VERIFIER_REGISTRY_TOKEN": world.token,
                "TRACECERT_VERIFIER_RATE_LIMIT_PER_MINUTE": "0",
            }
            verifier_process = _spawn(
                [*tracecert, "verifier", "serve", "--port", str(verifier_port), "--log-level", "warning"],
                verifier_env,
                tmp / "verifier.log",
            )
            children = [api, worker, verifier_process]
            _wait_http(registry)
            _wait_http(verifier)
            processes = {
                "anvil": psutil.Process(node._process.pid) if node._process else psutil.Process(),
                "registry API": psutil.Process(api.pid),
                "worker": psutil.Process(worker.pid),
                "verifier": psutil.Process(verifier_process.pid),
            }
            print(
                f"TraceCert soak: {_machine()}; sqlite; Anvil automine; {args.minutes:g} min; issuing at most "
                f"{args.rate:g}/s in bulks of {args.bulk}, {args.verifiers} clients verifying anchored certificates",
                flush=True,
            )
            counters, stop = Counters(), threading.Event()
            threads = [threading.Thread(target=_issue, args=(registry, world.token, world.template, args.rate,
                                                             args.bulk, counters, stop), daemon=True)]  # fmt: skip
            threads += [
                threading.Thread(target=_verify, args=(verifier, counters, stop, i), daemon=True)
                for i in range(args.verifiers)
            ]
            for thread in threads:
                thread.start()
            started = time.monotonic()
            end = started + args.minutes * 60
            reports: list[dict[str, Any]] = []
            last = {"issued": 0, "anchored": 0, "verified": 0, "t": started}
            after, next_report = 0, started + args.every
            engine = create_engine(database)
            print(f"{'t s':>6} {'issued/s':>9} {'anchored/s':>11} {'verified/s':>11} {'p99 ms':>7}  memory MiB")
            while time.monotonic() < end:
                # The clients verify what is anchored within seconds, not from the first report on: the memory
                # after the warm-up is then that of a registry and a verifier already verifying.
                time.sleep(min(REFRESH_SECONDS, max(0.0, min(end, next_report) - time.monotonic())))
                anchored, new, after = _anchored(engine, after)
                with counters.lock:
                    counters.digests.extend(new)
                now = time.monotonic()
                if now < min(end, next_report):
                    continue
                next_report += args.every
                with counters.lock:
                    issued, verified = counters.issued, counters.verified
                    latencies, counters.latencies = counters.latencies, []
                span = now - last["t"]
                memory = _rss(processes)
                p99 = sorted(latencies)[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0
                report = {
                    "t": round(now - started),
                    "issued_per_s": (issued - last["issued"]) / span,
                    "anchored_per_s": (anchored - last["anchored"]) / span,
                    "verified_per_s": (verified - last["verified"]) / span,
                    "p99_ms": p99,
                    "memory_mib": memory,
                }
                reports.append(report)
                last = {"issued": issued, "anchored": anchored, "verified": verified, "t": now}
                print(
                    f"{report['t']:>6} {report['issued_per_s']:>9,.0f} {report['anchored_per_s']:>11,.0f} "
                    f"{report['verified_per_s']:>11,.0f} {p99:>7.1f}  "
                    + ", ".join(f"{k} {v:,.0f}" for k, v in memory.items()),
                    flush=True,
                )
            stop.set()
            engine.dispose()
            for thread in threads:
                thread.join(60)
            baseline = next((r for r in reports if r["t"] >= args.warmup), reports[-1])
            first, final = baseline["memory_mib"], reports[-1]["memory_mib"]
            growth = {k: (final[k] - first[k]) / first[k] if first[k] else 0.0 for k in first}
            flat = all(growth[k] <= args.tolerance for k in BOUNDED)
            print(f"\nmemory after the warm-up (at {baseline['t']} s) → at the end:")
            for name in first:
                note = "" if name in BOUNDED else "  (not bounded: the test chain keeps every block in memory)"
                print(f"  {name:<13} {first[name]:>7,.0f} MiB → {final[name]:>7,.0f} MiB ({growth[name]:+.1%}){note}")
            with counters.lock:
                failures = list(counters.failures)
            summary = {
                "minutes": args.minutes,
                "issued": counters.issued,
                "anchored": last["anchored"],
                "verified": counters.verified,
                "issued_per_s": statistics.fmean(r["issued_per_s"] for r in reports),
                "verified_per_s": statistics.fmean(r["verified_per_s"] for r in reports),
                "memory_growth": growth,
                "memory_bounded": list(BOUNDED),
                "memory_flat": flat,
                "failures": len(failures),
                "first_failures": failures[:5],
            }
            print(
                f"\nissued {summary['issued']:,}, anchored {summary['anchored']:,}, verified {summary['verified']:,} "
                f"(all VALID: {not failures}); memory flat within {args.tolerance:.0%}: {flat}"
            )
            print(json.dumps(summary))
            return 0 if flat and not failures and counters.verified else 1
        finally:
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(30)
                except subprocess.TimeoutExpired:
                    child.kill()
            node.stop()


if __name__ == "__main__":
    # Stopped with SIGTERM, the run still stops what it started (its finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
