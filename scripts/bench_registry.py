"""Registry benchmark: certificates accepted and anchored end to end over HTTP, on a real Anvil node.

Starts a throw-away Anvil node, deploys, onboards a lab, and serves the registry (uvicorn, with its anchoring
worker) in a separate process. Then:

1. batched: N certificates sent with the bulk endpoint (1,000 per request, from ``--clients`` threads), the worker
   anchoring Merkle roots (batch size up to 1,024, window 1 s): registry-signed (the registry signs each with the
   lab's key it holds) and lab-signed (each carries the lab's own Ed25519 signature, made before the clock starts
   as a lab's system makes it when it issues; the registry verifies it against the key the lab registered on
   chain), as ``--signing`` says;
2. one anchor transaction per certificate (batch size 1, registry-signed), for comparison;

Each run starts after a warm-up (1,000 certificates accepted and anchored, not counted: every API process and the
worker up, their caches warm), and prints certificates/second accepted and anchored, acceptance→anchored latency
p50/p99 (from the database's accepted_at/anchored_at) split at the moment the batch was made, the batch sizes
reached, gas per certificate, each part's CPU per certificate, and issue 16's targets (met or not).

With ``--in-process N`` it measures instead where one accepted certificate's CPU goes, in this process, without
HTTP: ``accept_many`` in bulks of 1,000 (CPU and time in the garbage collector per certificate, at CPython's default
collector settings and after :func:`tracecert.serving.settle_heap`), the record's parse and the rulebook's checks
alone (each record on its own, and in bulks of 1,000 sharing a memo as a request's do), and the bulk answer written
by FastAPI's ``jsonable_encoder`` against :func:`tracecert.fast_json.dumps`.

    .venv/bin/python scripts/bench_registry.py [--count 20000] [--single 300] [--database-url URL | --postgres]
        [--api-processes N] [--block-time S --confirmations N] [--anchor-concurrency N] [--in-process N]
        [--signing registry|lab|both]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from sqlalchemy import create_engine, select, text

from registry.anchoring import AnchoringWorker
from registry.config import RegistrySettings
from registry.core import RegistryCore
from registry.db import Certificate
from registry.issuance import Submission, accept, accept_many
from registry.reads import anchored_bundle
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.canonical import to_hex
from tracecert.certificate.model import is_valid_usci, record_from_json
from tracecert.certificate.signing import SigningKey, generate_key
from tracecert.chain.client import ChainClient
from tracecert.chain.config import ChainSettings
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.deploy import deploy
from tracecert.chain.node import AnvilNode
from tracecert.chain.sender import TransactionSender
from tracecert.chain.types import Activity, LabKind

LAB_CODE = "12330100470001234"
NMI_CODE = "12100000400000624"
NMI_NAME = "中国计量科学研究院"
SECRET = "bench-secret-" + "x" * 40


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _usci(body: str) -> str:
    return next(body + c for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if is_valid_usci(body + c))


def _machine() -> str:
    model = platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}"


def _template(lab_hex: str, code: str, today: dt.date, standard: dict[str, Any]) -> dict[str, Any]:
    """A VERIFICATION of an electronic price scale (JJG 539), as a city lab issues thousands of: done yesterday,
    issued today, with the weights calibrated by the NMI (``standard``, its bundle) — what the rulebook accepts."""
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    cited = standard["record"]
    return {
        "schema_version": "tracecert/1",
        "kind": "VERIFICATION",
        "certificate_number": "",
        "dates": {
            "receipt_date": yesterday,
            "performance_begin": yesterday,
            "performance_end": yesterday,
            "issue_date": today.isoformat(),
            "valid_until": (today + dt.timedelta(days=360)).isoformat(),
        },
        "item": {
            "name": "电子计价秤",
            "category_code": "0201",
            "manufacturer": "某衡器有限公司",
            "model": "ACS-30",
            "serial_number": "",
            "accuracy_class": "III",
            "mpe": {"value": "5", "unit": "\\gram"},
        },
        "customer": {
            "name": "某农贸市场",
            "usci": _usci("91330100MA2H0000" + "1"),
            "mandatory_verification": True,
            "use": "贸易结算",
        },
        "lab": {
            "lab_id": lab_hex,
            "code": code,
            "name": "杭州市计量检定测试院",
            "authorization_number": "(浙)法计(2026)01001号",
        },
        "persons": [
            {"name": "张三", "role": "PERFORMER", "id": "JDY-001"},
            {"name": "李四", "role": "CHECKER", "id": "JDY-002"},
            {"name": "王五", "role": "APPROVER", "id": "JDY-003"},
        ],
        "method": {"reference": "JJG 539-2016", "title": "数字指示秤"},
        "results": [{"quantity": "示值误差 (15 kg)", "value": "0.5", "unit": "\\gram"}],
        "standards_used": [
            {
                "name": "M1 等级砝码",
                "serial_number": cited["item"]["serial_number"],
                "certificate_number": cited["certificate_number"],
                "certificate_digest": standard["digest"],
                "valid_until": cited["dates"]["valid_until"],
                "mpe": {"value": "0.75", "unit": "\\gram"},
            }
        ],
        "conclusion": "PASS",
    }


def _nmi_standard(core: RegistryCore, nmi_hex: str, token: str, today: dt.date) -> dict[str, Any]:
    """The NMI's published, anchored calibration of the city lab's weights (the top of every record's chain), done
    and issued the day before the city lab's work."""
    day = (today - dt.timedelta(days=2)).isoformat()
    record = {
        "schema_version": "tracecert/1",
        "kind": "CALIBRATION",
        "certificate_number": "NIM-2026-M0001",
        "dates": {"performance_begin": day, "performance_end": day, "issue_date": day,
                  "valid_until": (today + dt.timedelta(days=700)).isoformat()},
        "item": {"name": "M1 等级砝码", "category_code": "MASS", "serial_number": "FM-2019-88"},
        "customer": {"name": "杭州市计量检定测试院", "usci": _usci(LAB_CODE)},
        "lab": {"lab_id": nmi_hex, "code": _usci(NMI_CODE), "name": NMI_NAME},
        "persons": [
            {"name": "赵校准", "role": "PERFORMER", "id": "NIM-01"},
            {"name": "钱核验", "role": "CHECKER", "id": "NIM-02"},
            {"name": "孙批准", "role": "APPROVER", "id": "NIM-03"},
        ],
        "method": {"reference": "JJF 1001-2011", "title": "砝码校准"},
        "results": [{"quantity": "折算质量修正值 (20 kg)", "value": "0.05", "unit": "\\gram",
                     "expanded_uncertainty": "0.1", "coverage_factor": "2"}],
    }  # fmt: skip
    accepted = accept(core, core.authenticate(token), Submission(record, public=True))
    AnchoringWorker(core).drain()
    with core.sessions() as s:
        row = s.scalar(select(Certificate).where(Certificate.digest == accepted.digest))
    bundle = anchored_bundle(core, row) if row is not None else None
    if bundle is None:
        raise SystemExit(f"the NMI's standard was not anchored: {row.status if row else 'missing'}")
    return bundle


def _records(template: dict[str, Any], prefix: str, count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        record = copy.deepcopy(template)
        record["certificate_number"] = f"{prefix}-{i:07d}"
        record["item"]["serial_number"] = f"S{prefix}{i:07d}"
        out.append(record)
    return out


class Server:
    """The registry as an operator runs it (``tracecert registry serve``): its API in one process or ``api_processes``
    (``--workers``), its anchoring worker in a process of its own (``tracecert registry worker`` beside one API
    process; the supervisor's worker process beside several) or, ``separate_worker`` False, a thread of the one API
    process."""

    def __init__(
        self, env: dict[str, str], port: int, log: Path, *, separate_worker: bool = False, api_processes: int = 1
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._log = log.open("ab")
        self.worker: subprocess.Popen[bytes] | None = None
        cli = [sys.executable, "-m", "tracecert_app.cli", "registry"]
        command = [*cli, "serve", "--port", str(port), "--workers", str(api_processes)]
        if separate_worker and api_processes == 1:
            command.append("--no-worker")
            self.worker = subprocess.Popen(
                [*cli, "worker"], env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT
            )
        self.process = subprocess.Popen(command, env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_healthy(log)

    def _wait_healthy(self, log: Path) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            if self.process.poll() is not None:
                raise RuntimeError(f"registry exited; see {log}")
            time.sleep(0.2)
        raise RuntimeError(f"registry did not start; see {log}")

    def stop(self) -> None:
        for process in (self.process, self.worker):
            if process is not None:
                process.terminate()
                process.wait(30)
        self._log.close()


#: Issue 16's targets: certificates anchored per second end to end, and the p99 wait from acceptance to anchored.
TARGET_RATE, TARGET_P99 = 5_000, 2.0

#: The parts of a run whose CPU is counted apart, in the order printed.
ROLES = ("API", "worker", "supervisor", "Anvil", "PostgreSQL", "clients")


def _cpu_by_role(server: Server, node_port: int, postgres_data: Path | None) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each part of the run: the registry's API processes, its anchoring
    worker, the supervisor, Anvil, PostgreSQL (its server and backends) and this script (the clients). Only live
    processes count: take the difference of two calls around a run."""
    import psutil

    used = dict.fromkeys(ROLES, 0.0)

    def add(role: str, process: psutil.Process) -> None:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            used[role] += times.user + times.system

    serve = psutil.Process(server.process.pid)
    children = serve.children(recursive=True)
    names = {c.pid: c.name() for c in children if c.is_running()}
    several = any(name == "registry-api" for name in names.values())
    add("supervisor" if several else "API", serve)  # one API process serves in the supervisor's place
    for child in children:
        name = names.get(child.pid, "")
        add("worker" if name == "registry-worker" else "API" if name == "registry-api" else "supervisor", child)
    if server.worker is not None:
        add("worker", psutil.Process(server.worker.pid))
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "anvil" and str(node_port) in (process.info["cmdline"] or []):
            add("Anvil", process)
    if postgres_data is not None and (postgres_data / "postmaster.pid").exists():
        postmaster = psutil.Process(int((postgres_data / "postmaster.pid").read_text().split()[0]))
        for process in [postmaster, *postmaster.children(recursive=True)]:
            add("PostgreSQL", process)
    add("clients", psutil.Process())
    return used


def _lab_signed(records: list[dict[str, Any]], key: SigningKey) -> list[dict[str, Any]]:
    """The bulk entries of ``records`` each with the lab's own signature over its digest (lab-signing mode)."""
    key_id = to_hex(key.key_id)
    return [
        {"record": r, "signature": {"key_id": key_id, "value": to_hex(key.sign(record_from_json(r).digest))}}
        for r in records
    ]


def _send(url: str, token: str, entries: list[dict[str, Any]], bulk: int, clients: int) -> tuple[float, int]:
    """POST the bulk ``entries`` (``{"record": …, "signature"?: …}``), ``bulk`` per request from ``clients`` threads;
    return the seconds taken and how many were accepted.

    Each request's body is written before the clock starts, as a load generator sends prepared requests (and as
    a lab's system has its certificates' JSON before it sends them): the clients then cost the machine what
    sending, receiving and reading the answers costs, not the writing of 1 MB of JSON per request."""
    chunks = [entries[i : i + bulk] for i in range(0, len(entries), bulk)]
    bodies = [json.dumps({"certificates": chunk}, ensure_ascii=False).encode() for chunk in chunks]
    accepted = [0]
    refusals: list[Any] = []
    lock = threading.Lock()

    def work(mine: list[bytes]) -> None:
        # A connection per request (a bulk is 1 MB: connecting costs nothing beside it), as many clients would.
        limits = httpx.Limits(max_keepalive_connections=0)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=url, headers=headers, timeout=120, limits=limits) as http:
            for body in mine:
                response = http.post("/v1/certificates/bulk", content=body)
                response.raise_for_status()
                answer = response.json()
                with lock:
                    accepted[0] += int(answer["accepted"])
                    refusals.extend(r["error"] for r in answer["results"] if not r["ok"])

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(bodies[i::clients],)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if refusals:  # every record of the bench is one the rulebook accepts: a refusal is a broken bench
        raise SystemExit(f"{len(refusals)} certificates refused, e.g. {json.dumps(refusals[0], ensure_ascii=False)}")
    return time.perf_counter() - started, accepted[0]


def _wait_anchored(database: str, prefix: str, count: int, timeout: float = 600) -> float:
    """Seconds until ``count`` certificates numbered ``prefix-…`` are anchored. Polled every 50 ms on the few rows
    not anchored yet (``ix_certificates_pending``), the whole count read only once none is left: counting every
    row of the run on each poll took a share of the CPU the worker needs while it finishes."""
    engine = create_engine(database)
    started = time.perf_counter()
    done = 0
    while time.perf_counter() - started < timeout:
        with engine.connect() as conn:
            left = conn.execute(
                text(
                    "SELECT count(*) FROM certificates WHERE status IN ('PENDING', 'WAITING') "
                    "AND certificate_number LIKE :p"
                ),
                {"p": f"{prefix}-%"},
            ).scalar_one()
            if not left:
                done = conn.execute(
                    text("SELECT count(*) FROM certificates WHERE status='ANCHORED' AND certificate_number LIKE :p"),
                    {"p": f"{prefix}-%"},
                ).scalar_one()
        if done >= count:
            engine.dispose()
            return time.perf_counter() - started
        time.sleep(0.05)
    raise TimeoutError(f"only {done} of {count} anchored")


def _stats(database: str, prefix: str) -> dict[str, Any]:
    engine = create_engine(database)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.accepted_at, c.anchored_at, b.created_at FROM certificates c "
                "JOIN batches b ON b.root = c.batch_root WHERE c.certificate_number LIKE :p"
            ),
            {"p": f"{prefix}-%"},
        ).all()
        batches = conn.execute(
            text(
                "SELECT b.size, b.gas_used FROM batches b WHERE b.root IN "
                "(SELECT DISTINCT batch_root FROM certificates "
                "WHERE certificate_number LIKE :p)"
            ),
            {"p": f"{prefix}-%"},
        ).all()
    engine.dispose()

    def ts(value: Any) -> float:
        return (
            value
            if isinstance(value, float)
            else (
                value.timestamp()
                if hasattr(value, "timestamp")
                else __import__("datetime").datetime.fromisoformat(str(value)).timestamp()
            )
        )

    lags = sorted(ts(b) - ts(a) for a, b, _ in rows)
    # The wait split in two: accepted until its batch was made (the worker's turn), then until anchored.
    to_batch = sorted(ts(made) - ts(a) for a, _, made in rows)
    to_chain = sorted(ts(b) - ts(made) for _, b, made in rows)
    sizes = [s for s, _ in batches]
    gas = sum(g or 0 for _, g in batches)
    return {
        "p50": statistics.median(lags),
        "p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))],
        "to_batch_p50": statistics.median(to_batch),
        "to_batch_p99": to_batch[min(len(to_batch) - 1, int(len(to_batch) * 0.99))],
        "to_chain_p50": statistics.median(to_chain),
        "to_chain_p99": to_chain[min(len(to_chain) - 1, int(len(to_chain) * 0.99))],
        "batches": len(batches),
        "max_batch": max(sizes),
        "mean_batch": statistics.fmean(sizes),
        "gas_per_certificate": gas / max(1, sum(sizes)),
    }


@dataclasses.dataclass(frozen=True)
class World:
    """A registry ready to issue: the environment its processes run with, a lab's API token, a record template
    the rulebook accepts (the NMI's standard it cites is anchored) and the lab's own signing key (registered on
    chain beside the key the registry holds for it)."""

    env: dict[str, str]
    token: str
    template: dict[str, Any]
    lab_key: SigningKey


def bootstrap(tmp: Path, node_url: str, database: str) -> World:
    """Deploy on the node at ``node_url``, register the authorities, the city lab and the NMI, give the registry
    (its database at ``database``, its data in ``tmp``) their keys and writers, and anchor the NMI's standard."""
    client = ChainClient(node_url)
    actors = {n: Account.create() for n in ("national", "province", "admin")}
    for a in actors.values():
        client.set_balance(a.address, 10**24)
    senders = {n: TransactionSender(client, a) for n, a in actors.items()}
    deployment = deploy(client, senders["national"], national_authority=actors["national"].address)
    deployment.save(tmp / "deployment.json")
    chain = ChainContracts(client, deployment)
    chain.register_regulator(senders["national"], actors["province"].address, 330000, "浙江省市场监督管理局")
    code = _usci(LAB_CODE)
    lab = derive_lab_id(code)
    chain.register_lab(
        senders["province"],
        lab,
        LabKind.LEGAL_METROLOGY_INSTITUTE,
        330100,
        actors["admin"].address,
        "杭州市计量检定测试院",
    )
    now = client.block_timestamp()
    chain.authorize_lab(
        senders["province"], lab, "(浙)法计(2026)01001号", now - 86_400, now + 10**8, {"0201": Activity.VERIFY}
    )
    settings = RegistrySettings(
        data_dir=tmp,
        database_url=database,
        secret=SECRET,  # type: ignore[arg-type]
        chain=ChainSettings(rpc_url=node_url, data_dir=tmp),
    )
    core = RegistryCore.open(settings)
    row = core.add_lab(code, "杭州市计量检定测试院")
    client.set_balance(row.writer_address, 10**24)
    chain.add_writer(senders["admin"], lab, row.writer_address)
    held = core.new_held_signing_key(to_hex(lab))
    chain.register_key(senders["admin"], lab, held.public_key)
    own = generate_key()  # the lab's own key, for lab-signed certificates
    chain.register_key(senders["admin"], lab, own.public_key)
    _, token = core.issue_token("LAB", lab_id=to_hex(lab), label="bench")
    # The NMI, registered by the national authority, calibrates the weights every record cites.
    nmi = derive_lab_id(_usci(NMI_CODE))
    chain.register_lab(senders["national"], nmi, LabKind.NMI, 110000, actors["admin"].address, NMI_NAME)
    mass = {"MASS": Activity.CALIBRATE}
    chain.authorize_lab(senders["national"], nmi, "NIM-CMC", now - 86_400, now + 10**8, mass)
    nmi_row = core.add_lab(_usci(NMI_CODE), NMI_NAME)
    client.set_balance(nmi_row.writer_address, 10**24)
    chain.add_writer(senders["admin"], nmi, nmi_row.writer_address)
    chain.register_key(senders["admin"], nmi, core.new_held_signing_key(to_hex(nmi)).public_key)
    _, nmi_token = core.issue_token("LAB", lab_id=to_hex(nmi), label="bench-nmi")
    # Keys cannot start in the past: three days pass, so that the last two days fall inside every window.
    client.rpc("evm_increaseTime", [3 * 86_400])
    client.rpc("evm_mine", [])
    core.forget_chain_answers()
    today = dt.datetime.fromtimestamp(client.block_timestamp(), dt.timezone(dt.timedelta(hours=8))).date()
    standard = _nmi_standard(core, to_hex(nmi), nmi_token, today)
    core.engine.dispose()
    template = _template(to_hex(lab), code, today, standard)
    env = {
        "TRACECERT_DATA_DIR": str(tmp),
        "TRACECERT_REGISTRY_DATABASE_URL": database,
        "TRACECERT_REGISTRY_SECRET": SECRET,
        "TRACECERT_CHAIN_RPC_URL": node_url,
        "TRACECERT_REGISTRY_BATCH_MAX_SIZE": "1024",
        "TRACECERT_REGISTRY_BATCH_WINDOW_SECONDS": "1.0",
    }
    return World(env, token, template, own)


def _cpu_per(count: int, work: Any) -> float:
    """µs of this process's CPU per item that ``work()`` takes for ``count`` items."""
    started = time.process_time()
    work()
    return (time.process_time() - started) / count * 1e6


def in_process(tmp: Path, node_url: str, count: int) -> None:
    """Print where accepting one certificate takes its CPU (see the module's docstring)."""
    import gc

    from fastapi.encoders import jsonable_encoder

    from registry.admission import prepare, sign_or_verify
    from registry.onboarding import connect, registry_settings
    from tracecert.certificate.model import record_from_json
    from tracecert.fast_json import dumps
    from tracecert.serving import settle_heap
    from tracecert.verification.engine import ChecksMemo

    world = bootstrap(tmp, node_url, f"sqlite:///{tmp / 'registry.db'}")
    os.environ.update(world.env)
    settings = registry_settings()
    core = RegistryCore.open(settings, connect(settings))
    principal = core.authenticate(world.token)
    records = _records(world.template, "P", 1000 + 2 * count)
    accept_many(core, principal, [Submission(r) for r in records[:1000]])  # warm: chain answers, caches

    collected = {"seconds": 0.0, "runs": 0, "started": 0.0}

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collected["started"] = time.perf_counter()
        else:
            collected["seconds"] += time.perf_counter() - collected["started"]
            collected["runs"] += 1

    gc.callbacks.append(on_gc)
    rows = []
    for label, part in (("CPython's default collector", records[1000 : 1000 + count]),
                        ("after settle_heap()", records[1000 + count :])):  # fmt: skip
        if label.startswith("after"):
            settle_heap()
        collected.update(seconds=0.0, runs=0)

        def accept(part: list[dict[str, Any]] = part) -> None:
            for i in range(0, len(part), 1000):
                accept_many(core, principal, [Submission(r) for r in part[i : i + 1000]])

        cpu = _cpu_per(count, accept)
        rows.append((label, cpu, collected["seconds"] / count * 1e6, int(collected["runs"])))
    gc.callbacks.remove(on_gc)
    sample = records[1000 : 1000 + count]
    parse = _cpu_per(count, lambda: [record_from_json(r) for r in sample])
    prepared = [prepare(principal, Submission(r)) for r in sample]
    signed = [sign_or_verify(core, p, {}) for p in prepared]
    at = core.chain_now()
    judge = _cpu_per(
        count,
        lambda: [
            core.rules.judge(p.record, key_id=k, signature=g, at=at)
            for p, (k, g, _) in zip(prepared, signed, strict=True)
        ],
    )

    def judge_bulks() -> None:  # as accept_many judges a request: one memo per bulk of 1,000
        for i in range(0, len(prepared), 1000):
            memo = ChecksMemo()
            for p, (k, g, _) in zip(prepared[i : i + 1000], signed[i : i + 1000], strict=True):
                core.rules.judge(p.record, key_id=k, signature=g, at=at, memo=memo)

    judge_bulk = _cpu_per(count, judge_bulks)
    answer = {
        "accepted": 1000, "existing": 0, "rejected": 0, "requeued": 0,
        "results": [{"index": i, "ok": True, "digest": p.digest, "certificate_number": p.record.certificate_number,
                     "lab_id": p.record.lab.lab_id, "status": "pending", "created": True, "requeued": False,
                     "signed_by": "REGISTRY", "public": False} for i, p in enumerate(prepared[:1000])],
    }  # fmt: skip
    rounds = 20
    encoder = _cpu_per(rounds * 1000, lambda: [jsonable_encoder(answer) for _ in range(rounds)])
    fast = _cpu_per(rounds * 1000, lambda: [dumps(answer) for _ in range(rounds)])
    core.engine.dispose()
    print(f"TraceCert registry, in process: {_machine()}; {count:,} registry-signed certificates per measure\n")
    print(f"{'accept_many, bulks of 1,000':<40} {'CPU µs/cert':>12} {'in the GC µs/cert':>18} {'collections':>12}")
    for label, cpu, in_gc, runs in rows:
        print(f"  {label:<38} {cpu:>12,.0f} {in_gc:>18,.1f} {runs:>12,}")
    print(f"\n{'of which (CPU µs per certificate)':<40}")
    print(f"  {'record parsed and validated':<38} {parse:>12,.0f}")
    print(f"  {'the rulebook, each record alone':<38} {judge:>12,.0f}")
    print(f"  {'the rulebook, bulks of 1,000 (memo)':<38} {judge_bulk:>12,.0f}")
    print(f"  {'bulk answer, jsonable_encoder':<38} {encoder:>12,.1f}")
    print(f"  {'bulk answer, tracecert.fast_json':<38} {fast:>12,.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20_000, help="certificates in the batched run")
    parser.add_argument(
        "--single", type=int, default=300, help="certificates in the one-tx-per-certificate run (0: none)"
    )
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--bulk", type=int, default=1000)
    parser.add_argument(
        "--signing",
        choices=("registry", "lab", "both"),
        default="both",
        help="the batched run's certificates signed by the registry, by the lab (signatures made before the clock "
        "starts), or one run of each",
    )
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    parser.add_argument(
        "--postgres", action="store_true", help="on a PostgreSQL 15 server of the run's own (scripts/chaos.py's)"
    )
    parser.add_argument(
        "--worker",
        choices=("process", "inline"),
        default="process",
        help="anchoring worker in its own process (as in production) or inside the API process",
    )
    parser.add_argument(
        "--api-processes",
        type=int,
        default=1,
        help="API processes (`tracecert registry serve --workers N`, the worker in a process of its own)",
    )
    parser.add_argument(
        "--block-time",
        type=int,
        default=None,
        help="whole seconds between blocks once set up (as a QBFT network mines), instead of Anvil's automine",
    )
    parser.add_argument("--confirmations", type=int, default=1, help="blocks the registry waits for (1: the receipt's)")
    parser.add_argument(
        "--anchor-concurrency",
        type=int,
        default=None,
        help="batches the worker anchors at once (default: the registry's setting)",
    )
    parser.add_argument(
        "--in-process", type=int, default=None, metavar="N", help="where one certificate's CPU goes (N per measure)"
    )
    args = parser.parse_args()
    if args.in_process is not None:
        with tempfile.TemporaryDirectory() as tmp_name:
            node = AnvilNode(Path(tmp_name) / "node", port=_port(), persist=False)
            node.start()
            try:
                in_process(Path(tmp_name), node.url, args.in_process)
            finally:
                node.stop()
        return

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        node = AnvilNode(tmp / "node", port=_port(), persist=False)
        node.start()
        postgres = None
        try:
            if args.postgres:
                from chaos import Postgres  # scripts/chaos.py: a server of the run's own, fsync on

                postgres = Postgres(tmp / "pg")
            database = postgres.url if postgres else args.database_url or f"sqlite:///{tmp / 'registry.db'}"
            world = bootstrap(tmp, node.url, database)
            env, token, template = world.env, world.token, world.template
            env["TRACECERT_CHAIN_CONFIRMATIONS"] = str(args.confirmations)
            if args.anchor_concurrency is not None:
                env["TRACECERT_REGISTRY_ANCHOR_CONCURRENCY"] = str(args.anchor_concurrency)
            mining = "Anvil automine"
            if args.block_time is not None:  # set up quickly, then blocks at the interval a network would mine
                client = ChainClient(node.url)
                client.rpc("evm_setAutomine", [False])
                client.rpc("evm_setIntervalMining", [args.block_time])
                mining = f"Anvil, a block every {args.block_time} s"
            mining += f", {args.confirmations} confirmation(s)"
            concurrency = env.get("TRACECERT_REGISTRY_ANCHOR_CONCURRENCY", "the default")

            print(
                f"TraceCert registry benchmark: {_machine()}; {database.split(':', 1)[0]}; {mining}; "
                f"batches anchored at once: {concurrency}; "
                f"{args.api_processes} API process(es); "
                f"worker {'in its own process' if args.worker == 'process' else 'inside the API process'}; "
                f"{args.clients} client threads, {args.bulk} certificates per bulk request\n"
            )
            results: list[tuple[str, dict[str, Any]]] = []
            runs = [
                *([("batched, registry-signed", "B", args.count, "1024", False)] if args.signing != "lab" else []),
                *([("batched, lab-signed", "L", args.count, "1024", True)] if args.signing != "registry" else []),
                *([("one anchor tx per certificate", "S", args.single, "1", False)] if args.single else []),
            ]
            for label, prefix, count, batch_size, lab_signed in runs:
                records = _records(template, prefix, count)
                entries = _lab_signed(records, world.lab_key) if lab_signed else [{"record": r} for r in records]
                server = Server(
                    {**env, "TRACECERT_REGISTRY_BATCH_MAX_SIZE": batch_size},
                    _port(),
                    tmp / "server.log",
                    separate_worker=args.worker == "process",
                    api_processes=args.api_processes,
                )
                try:
                    # Warm-up, not counted: a thousand certificates accepted and anchored, so that the timed run
                    # starts with every API process and the worker up and their caches warm.
                    warm = _records(template, f"W{prefix}", 1000)
                    _send(server.url, token, [{"record": r} for r in warm], max(1, args.bulk // 8), args.clients)
                    _wait_anchored(database, f"W{prefix}", len(warm))
                    pg_data = postgres.data if postgres is not None else None
                    cpu_before = _cpu_by_role(server, node.port, pg_data)
                    started = time.perf_counter()
                    send_s, accepted = _send(server.url, token, entries, args.bulk, args.clients)
                    anchor_wait = _wait_anchored(database, prefix, count)
                    total = time.perf_counter() - started
                    cpu_after = _cpu_by_role(server, node.port, pg_data)
                finally:
                    server.stop()
                stats = _stats(database, prefix)
                stats.update(
                    count=count, accepted=accepted, accept_rate=count / send_s, end_to_end=count / total, total=total
                )
                stats["cpu_us_per_certificate"] = {
                    role: 1e6 * (cpu_after[role] - cpu_before[role]) / count for role in ROLES
                }
                results.append((label, stats))
                del anchor_wait

            print(
                f"{'run':<32} {'certs':>7} {'accepted/s':>11} {'anchored/s':>11} {'p50 s':>7} {'p99 s':>7} "
                f"{'batches':>8} {'max batch':>9} {'gas/cert':>9}"
            )
            for label, s in results:
                print(
                    f"{label:<32} {s['count']:>7,} {s['accept_rate']:>11,.0f} {s['end_to_end']:>11,.0f} "
                    f"{s['p50']:>7.2f} {s['p99']:>7.2f} {s['batches']:>8,} {s['max_batch']:>9,} "
                    f"{s['gas_per_certificate']:>9,.0f}"
                )
            print("\nThe wait split: accepted → put in a batch, then batch → anchored (p50 / p99, seconds):")
            for label, s in results:
                print(
                    f"{label:<32} {s['to_batch_p50']:>7.2f} / {s['to_batch_p99']:.2f}"
                    f"   {s['to_chain_p50']:>7.2f} / {s['to_chain_p99']:.2f}"
                )
            print("\nCPU per certificate, µs, from acceptance to anchoring (user + system, each part's processes):")
            print(f"{'run':<32} " + " ".join(f"{role:>10}" for role in ROLES) + f" {'total':>10}")
            for label, s in results:
                cpu = s["cpu_us_per_certificate"]
                print(
                    f"{label:<32} "
                    + " ".join(f"{cpu[role]:>10,.0f}" for role in ROLES)
                    + f" {sum(cpu.values()):>10,.0f}"
                )
            if args.single:
                ratio = results[0][1]["end_to_end"] / results[-1][1]["end_to_end"]
                print(f"\nbatched / one-tx-per-certificate end-to-end throughput: {ratio:,.0f}x")
            # Issue 16's targets, for each batched run.
            for label, s in results:
                if label.startswith("batched"):
                    rate, p99 = s["end_to_end"], s["p99"]
                    rate_met = "met" if rate >= TARGET_RATE else "NOT met"
                    p99_met = "met" if p99 <= TARGET_P99 else "NOT met"
                    print(
                        f"targets, {label}: ≥ {TARGET_RATE:,} anchored/s — {rate_met} ({rate:,.0f}/s); "
                        f"p99 acceptance → anchored ≤ {TARGET_P99:g} s — {p99_met} ({p99:.2f} s)"
                    )
            print(json.dumps({label: s for label, s in results}, default=str))
        finally:
            node.stop()
            if postgres is not None:
                postgres.crash()


if __name__ == "__main__":
    main()
