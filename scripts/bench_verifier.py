"""Benchmark: the verifier in process and over HTTP — single verification p50/p99, verifications per second with
16 concurrent clients, and a depth-10 traceability chain.

Starts a throw-away Anvil, deploys the contracts, registers an NMI and three labs, issues a chain of three (the
typical certificate: NMI → provincial institute → city lab), 256 more city-lab certificates under the same
standards (``--certificates``; the single-certificate measures take them in turn, every verdict checked) and a
depth-10 chain (NMI at the top), then measures the engine in process and the API served by ``tracecert verifier
serve`` in a subprocess (configured from the environment, as in production; ``--workers`` processes, one per core
by default, sharing one index file). Sequential measures use an httpx client; the concurrent one uses wrk
(Debian's ``wrk``, C, a few percent of a core) when it is installed, so that the load generator does not take the
CPU the server is measured on, else 16 httpx threads (``--load``).
``--index`` makes the verifier use its own event index (verifier.index) instead of asking the node for every
check. Every request goes to 127.0.0.1; every loop is bounded in count and time. Besides the wall-clock figures it
prints the load average and the server's CPU time per verification during the concurrent run (all its processes,
user + system): on a machine other work shares, that figure moves much less than the throughput does.

    .venv/bin/python scripts/bench_verifier.py [--index] [--workers 2] [--load wrk|python] [--duration 10]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import free_port
from tests.verifier.conftest import TraceWorld, _lab, calibration, chain_of_three, standard_from, usci
from tests.verifier.world import build_world
from tracecert.chain.client import ChainClient
from tracecert.chain.node import AnvilNode
from tracecert.chain.types import Activity, LabKind
from tracecert.verification.engine import Verifier
from tracecert.verification.report import Verdict

ROOT = Path(__file__).resolve().parents[1]
TARGET_P50_MS = 5.0
#: Issue 16: 2,000 verifications/s with 16 clients, p99 ≤ 10 ms.
TARGET_RPS = 2_000
TARGET_CONCURRENT_P99_MS = 10.0


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())  # other work on the machine takes cores from the server
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load": load,
    }


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used (those that exited since count for nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": ms(values, 0.5),
        "p99_ms": ms(values, 0.99),
        "mean_ms": 1000 * statistics.fmean(values),
    }


def timed(fn: Callable[[], Any], count: int, budget: float) -> list[float]:
    """Run ``fn`` up to ``count`` times or until ``budget`` seconds have passed (at least 3 times)."""
    out: list[float] = []
    deadline = time.monotonic() + budget
    while len(out) < count and (len(out) < 3 or time.monotonic() < deadline):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


# ------------------------------------------------------------------------------------------------ the chain


def depth_ten(world: TraceWorld) -> list[dict[str, Any]]:
    """Ten certificates, NMI at the top; each link calibrated against the one above with a TUR of exactly 4."""
    accredited = _lab(
        world.chain,
        world.city_regulator,
        usci("91330100MA2H0BENC"),
        "杭州某校准检测有限公司",
        LabKind.ACCREDITED_LAB,
        330100,
        {"PRESSURE": Activity.CALIBRATE},
        "CNAS L0001",
        1_577_836_800,
        2_082_758_400,
    )
    # A key window never starts in the past: move on so that the earliest issue date (d(-10)) falls inside it.
    world.chain.advance(11 * 86_400)
    labs = [world.nmi, world.provincial, world.city, accredited]
    d = world.day
    chain: list[dict[str, Any]] = []
    for k in range(10):
        lab = labs[0] if k == 0 else labs[1 + (k - 1) % 3]
        u = f"{0.0001 * 4**k:.6f}".rstrip("0")
        record = calibration(
            lab,
            f"BENCH-D10-{k:02d}",
            serial=f"STD-{k:02d}",
            item="压力标准器" if k < 9 else "压力表",
            u=u,
            performed=d(-10 + k),
            issued=d(-10 + k),
            valid_until=d(300),
            standards=[standard_from(chain[-1])] if chain else None,
        )
        [bundle] = world.issue(lab, record)
        chain.append(bundle)
    return chain


def many_leaves(world: TraceWorld, standard: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """``count`` certificates of the city lab, each of another enterprise gauge, calibrated against the provincial
    precision gauge (as chain_of_three's leaf), anchored in one batch."""
    d = world.day
    records = [
        calibration(
            world.city,
            f"BENCH-C{i:05d}",
            serial=f"YB-{i:05d}",
            item="压力表",
            u="0.01",
            performed=d(-1),
            issued=d(0),
            valid_until=d(364),
            standards=[standard_from(standard, name="精密压力表")],
            customer=f"某化工有限公司 {i}",
        )
        for i in range(count)
    ]
    return world.issue(world.city, *records)


def _depth(node: dict[str, Any]) -> int:
    return 1 + max((_depth(c) for c in node.get("children") or []), default=0) if node else 0


# ------------------------------------------------------------------------------------------------ HTTP


class Server:
    """``tracecert verifier serve`` in a subprocess, configured through the environment, as in production."""

    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            str(Path(sys.executable).with_name("tracecert")),
            "verifier",
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ]
        self.proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("the verifier server exited")
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the verifier server did not become healthy")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _expect_valid(r: httpx.Response) -> None:
    if r.status_code != 200:
        raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
    if "verdict" in (body := r.json()) and body["verdict"] != "VALID":
        raise RuntimeError(f"not VALID: {body.get('reasons')}")


def http_sequential(url: str, bodies: list[bytes], count: int, budget: float) -> list[float]:
    """POST the bodies in turn (each one's verdict must be VALID)."""
    turn = itertools.cycle(bodies)
    with httpx.Client(base_url=url, timeout=60, headers={"content-type": "application/json"}) as client:

        def one() -> None:
            _expect_valid(client.post("/v1/verify", content=next(turn)))

        one()  # warm the connection and the server
        return timed(one, count, budget)


def http_get_sequential(url: str, paths: list[str], count: int, budget: float) -> list[float]:
    """GET the paths in turn (a report's verdict must be VALID)."""
    turn = itertools.cycle(paths)
    with httpx.Client(base_url=url, timeout=60) as client:

        def one() -> None:
            _expect_valid(client.get(next(turn)))

        one()
        return timed(one, count, budget)


def http_concurrent(url: str, bodies: list[bytes], clients: int, duration: float, cap: int) -> dict[str, Any]:
    """``clients`` threads, each with its own keep-alive connection, POSTing the bodies in turn for ``duration``
    seconds (at most ``cap`` requests in all)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    sent = [0]
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(i: int) -> None:
        turn = itertools.islice(itertools.cycle(bodies), i * len(bodies) // clients, None)
        with httpx.Client(base_url=url, timeout=60, headers={"content-type": "application/json"}) as client:
            client.get("/health")
            start.wait()
            while time.monotonic() < stop_at[0]:
                with lock:
                    if sent[0] >= cap:
                        return
                    sent[0] += 1
                t0 = time.perf_counter()
                try:
                    ok = client.post("/v1/verify", content=next(turn)).status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies[i].append(time.perf_counter() - t0)
                errors[i] += 0 if ok else 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.monotonic() + duration + 5  # the barrier releases everyone at once
    start.wait()
    t0 = time.monotonic()
    stop_at[0] = t0 + duration
    for t in threads:
        t.join(timeout=duration + 120)
    elapsed = time.monotonic() - t0
    flat = [x for per in latencies for x in per]
    return {
        "load": "python",
        "clients": clients,
        "requests": len(flat),
        "errors": sum(errors),
        "seconds": round(elapsed, 2),
        "per_second": round(len(flat) / elapsed, 1),
        **summary(flat),
    }


WRK_SCRIPT = """
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
local headers = {["Content-Type"] = "application/json"}
local threads = {}
local i = 0
function setup(thread) table.insert(threads, thread) end
function init(args) invalid = 0 end
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/verify", headers, bodies[i])
end
-- every answer must be a report whose verdict is VALID
response = function(status, headers, body)
  if not string.find(body, '"verdict":"VALID"', 1, true) then invalid = invalid + 1 end
end
done = function(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("invalid") end
  io.write(string.format("not VALID: %d\\n", n))
end
"""


def connections_per_process(pids: list[int], port: int) -> list[int]:
    """How many established connections to ``port`` each of the processes holds (most first): a process holding
    more of a fixed set of keep-alive clients queues them longer. The supervisor hands connections out in turn
    (:class:`tracecert.serving.Acceptor`); with ``SO_REUSEPORT`` the kernel spread them by a hash (10 and 6)."""
    import psutil

    counts = []
    for pid in pids:
        try:
            held = psutil.Process(pid).net_connections("tcp")
        except psutil.Error:
            continue
        mine = sum(1 for c in held if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)
        if mine:
            counts.append(mine)
    return sorted(counts, reverse=True)


def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk_concurrent(url: str, bodies: list[bytes], clients: int, duration: float, tmp: Path) -> dict[str, Any]:
    """``clients`` keep-alive connections from wrk (one thread) POSTing the bodies in turn for ``duration`` s."""
    assert all(b"\n" not in b for b in bodies)
    (tmp / "bodies.jsonl").write_bytes(b"\n".join(bodies) + b"\n")
    (tmp / "post.lua").write_text(WRK_SCRIPT, encoding="utf-8")
    command = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(duration))}s", "--latency", "-s", str(tmp / "post.lua")]
    out = subprocess.run(
        [*command, url + "/v1/verify"],
        env={**os.environ, "BENCH_BODIES": str(tmp / "bodies.jsonl")},
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    requests = int(re.search(r"(\d+) requests in ([\d.]+)(ms|s)", out).group(1))  # type: ignore[union-attr]
    seconds = float(re.search(r"requests in ([\d.]+)s", out).group(1))  # type: ignore[union-attr]
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    not_valid = re.search(r"not VALID: (\d+)", out)
    if not_valid is None:
        raise RuntimeError(f"wrk printed no verdict count:\n{out}")
    errors = int(not_valid.group(1))  # non-2xx answers carry no VALID verdict either
    errors += sum(int(g) for g in socket_errors.groups()) if socket_errors else 0
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    mean = re.search(r"Latency\s+(\S+)", out)
    return {
        "load": "wrk",
        "clients": clients,
        "requests": requests,
        "errors": errors,
        "seconds": seconds,
        "per_second": round(requests / seconds, 1),
        "n": requests,
        "p50_ms": _wrk_ms(latency["50"]),
        "p99_ms": _wrk_ms(latency["99"]),
        "mean_ms": _wrk_ms(mean.group(1)) if mean else float("nan"),
    }


# ------------------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", action="store_true", help="use the verifier's own index (verifier.index)")
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per measure (at most)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per sequential measure (at most)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of the concurrent run")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--certificates", type=int, default=256, help="distinct certificates taken in turn")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="uvicorn worker processes")
    parser.add_argument(
        "--load",
        choices=["wrk", "python"],
        default="wrk" if shutil.which("wrk") else "python",
        help="the concurrent load generator (default: wrk when installed)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.load == "wrk" and not shutil.which("wrk"):
        parser.error("--load wrk needs wrk on the PATH (apt-get install wrk)")

    results: dict[str, Any] = {"machine": machine(), "chain_view": "index" if args.index else "live"}
    m = results["machine"]
    print(f"machine: nproc={m['nproc']}, CPU {m['cpu']}, Python {m['python']}; load average {m['load']}")
    print(
        f"chain view: {results['chain_view']}; uvicorn workers: {args.workers}; concurrent load: {args.load}; "
        "Anvil on the same machine"
    )

    with tempfile.TemporaryDirectory(prefix="tracecert-bench-verifier-") as tmp_name:
        tmp = Path(tmp_name)
        node = AnvilNode(tmp / "anvil", port=free_port(), persist=False)
        node.start()
        closers: list[Callable[[], None]] = []
        try:
            client = ChainClient(node.url)
            t0 = time.perf_counter()
            world = build_world(client)
            three = chain_of_three(world)
            leaves = many_leaves(world, three[1], args.certificates)
            leaf = three[2]
            deep = depth_ten(world)
            print(
                f"setup: deployment, 4 labs, {13 + len(leaves)} certificates in {time.perf_counter() - t0:.1f} s; "
                f"the single-certificate measures take {len(leaves)} distinct certificates (chains of 3) in turn"
            )

            deployment = tmp / "deployment.json"
            world.chain.contracts.deployment.save(deployment)
            bundles = tmp / "bundles"
            bundles.mkdir()
            for b in [*three, *leaves, *deep]:
                (bundles / f"{b['digest']}.json").write_text(json.dumps(b, ensure_ascii=False), encoding="utf-8")

            verifier = world.verifier
            if args.index:
                from verifier.bootstrap import open_index
                from verifier.config import VerifierSettings

                settings = VerifierSettings(rpc_url=node.url, data_dir=tmp, index_file=tmp / "bench-index.sqlite")
                t1 = time.perf_counter()
                view, close = open_index(settings, client, world.chain.contracts.deployment, follow=False)
                closers.append(close)
                results["index_catch_up_s"] = round(time.perf_counter() - t1, 3)
                verifier = Verifier(view, world.source)

            # ---- in process
            for bundle in (leaf, deep[-1]):
                report = verifier.verify_bundle(bundle)
                assert report.verdict is Verdict.VALID, report.to_dict()["reasons"]
                assert bundle is leaf or _depth(report.trace.to_dict() if report.trace else {}) == 10
            turn = itertools.cycle(leaves)
            single = summary(timed(lambda: verifier.verify_bundle(next(turn)), args.requests, args.budget))
            ten = summary(timed(lambda: verifier.verify_bundle(deep[-1]), max(10, args.requests // 10), args.budget))
            cold = verifier.with_policy(cache_seconds=0)  # every standard's certificate verified again each time
            ten_cold = summary(timed(lambda: cold.verify_bundle(deep[-1]), max(10, args.requests // 10), args.budget))
            results["in_process"] = {"single_chain_of_3": single, "depth_10": ten, "depth_10_cold": ten_cold}

            # ---- over HTTP
            env = {
                "TRACECERT_VERIFIER_RPC_URL": node.url,
                "TRACECERT_VERIFIER_DEPLOYMENT_FILE": str(deployment),
                "TRACECERT_VERIFIER_BUNDLES_DIR": str(bundles),
                "TRACECERT_VERIFIER_DATA_DIR": str(tmp),
                "TRACECERT_VERIFIER_RATE_LIMIT_PER_MINUTE": "0",
                "TRACECERT_VERIFIER_CHAIN_VIEW": "index" if args.index else "live",
                "TRACECERT_VERIFIER_INDEX_FILE": str(tmp / "server-index.sqlite"),
                "TRACECERT_VERIFIER_REGISTRY_URLS": "",
            }
            server = Server(env, args.workers)
            try:
                bodies = [json.dumps(b, ensure_ascii=False).encode() for b in leaves]
                deep_body = json.dumps(deep[-1], ensure_ascii=False).encode()
                http: dict[str, Any] = {}
                http["post_single"] = summary(http_sequential(server.url, bodies, args.requests, args.budget))
                http["get_single"] = summary(
                    http_get_sequential(
                        server.url,
                        [f"/v1/certificates/{b['digest']}/verification" for b in leaves],
                        args.requests,
                        args.budget,
                    )
                )
                http["get_health"] = summary(http_get_sequential(server.url, ["/health"], args.requests, args.budget))
                http["post_depth_10"] = summary(
                    http_sequential(server.url, [deep_body], max(10, args.requests // 10), args.budget)
                )
                workers = process_tree(server.proc.pid)
                cpu_before = cpu_seconds(workers)
                split: list[int] = []
                sampler = threading.Timer(
                    args.duration / 2, lambda: split.extend(connections_per_process(workers, server.port))
                )
                sampler.start()
                if args.load == "wrk":
                    http["concurrent"] = wrk_concurrent(server.url, bodies, args.clients, args.duration, tmp)
                else:
                    http["concurrent"] = http_concurrent(
                        server.url, bodies, args.clients, args.duration, cap=200_000
                    )
                used = cpu_seconds(workers) - cpu_before
                sampler.join()
                http["concurrent"]["connections_per_process"] = split
                http["concurrent"]["server_cpu_ms"] = round(1000 * used / max(1, http["concurrent"]["requests"]), 3)
                results["http"] = http
            finally:
                server.stop()
        finally:
            for close in closers:
                close()
            node.stop()

    ip, h = results["in_process"], results["http"]
    print()
    print("| measure | p50 ms | p99 ms | n |")
    print("|---|---:|---:|---:|")
    rows = [
        ("in process: one certificate (chain of 3; distinct ones in turn)", ip["single_chain_of_3"]),
        ("in process: depth-10 chain (standards' reports cached 5 s)", ip["depth_10"]),
        ("in process: depth-10 chain, nothing cached (all 10 certificates verified)", ip["depth_10_cold"]),
        ("HTTP POST /v1/verify: one certificate (chain of 3; distinct ones in turn)", h["post_single"]),
        ("HTTP GET /v1/certificates/{digest}/verification", h["get_single"]),
        ("HTTP GET /health (no verification: the HTTP floor)", h["get_health"]),
        ("HTTP POST /v1/verify: depth-10 chain", h["post_depth_10"]),
        (f"HTTP POST under {h['concurrent']['clients']} concurrent clients", h["concurrent"]),
    ]
    for label, s in rows:
        print(f"| {label} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {s['n']} |")
    c = h["concurrent"]
    print()
    print(
        f"throughput: {c['per_second']:.1f} verifications/s with {c['clients']} concurrent clients "
        f"({c['load']}; {c['requests']} requests, {c['errors']} errors, {c['seconds']} s)"
    )
    if c.get("connections_per_process"):
        print(f"connections per server process, mid-run: {', '.join(map(str, c['connections_per_process']))}")
    cpu, cores = c["server_cpu_ms"], m["nproc"] or 1
    alone = 1000 * cores / cpu if cpu else float("nan")
    print(
        f"server CPU: {cpu:.3f} ms per verification (user + system, all workers): "
        f"{alone:.0f}/s if the server had the {cores} cores to itself"
    )
    if "index_catch_up_s" in results:
        print(f"index catch-up of the bench chain (in process): {results['index_catch_up_s']} s")
    p50 = h["post_single"]["p50_ms"]
    print(
        f"targets: HTTP p50 ≤ {TARGET_P50_MS} ms — {'met' if p50 <= TARGET_P50_MS else 'NOT met'} ({p50:.1f} ms); "
        f"≥ {TARGET_RPS}/s — {'met' if c['per_second'] >= TARGET_RPS else 'NOT met'} ({c['per_second']:.0f}/s); "
        f"p99 under {c['clients']} clients ≤ {TARGET_CONCURRENT_P99_MS} ms — "
        f"{'met' if c['p99_ms'] <= TARGET_CONCURRENT_P99_MS else 'NOT met'} ({c['p99_ms']:.1f} ms)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if c["errors"]:
        raise SystemExit(f"{c['errors']} requests of the concurrent run failed: the figures above do not count")


if __name__ == "__main__":
    main()
