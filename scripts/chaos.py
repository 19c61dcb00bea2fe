"""Fault injection with figures: certificates issued over HTTP while the anchoring worker, the API, the chain node
or all of them are killed (SIGKILL) at random moments and restarted; then an audit against the chain.

The node is a real Anvil process that dumps its state every few seconds (``--state-interval``), so a node killed
within that interval comes back without its last blocks (and the batches anchored in them): the worker must
notice and anchor them again, exactly once. With ``--block-time`` the node mines on a clock instead of per
transaction, and the registry waits for ``--confirmations`` blocks as in production.

The audit, when the load has stopped and the worker has had time to finish:

- every certificate the API accepted is in the registry, ANCHORED (else *lost* when missing, *stuck* when not
  anchored in time);
- every anchored batch is on chain (same lab and size), its listing (``GET /v1/batches/{root}``) answers
  (else *unlisted*) and hashes to its root, and no certificate sits in two batches or twice in one (*duplicated*);
- no certificate reads anchored in a block the node does not have (*phantom*).

    .venv/bin/python scripts/chaos.py [--kills 20] [--interval 2] [--block-time 0] [--confirmations 1]
                                      [--targets worker,api,node,db,all] [--postgres] [--seed N]

Prints one line per kill, then runs, kills by target, accepted, anchored, lost, duplicated, stuck and phantom,
and the same as JSON on the last line. Exit code 1 when anything was lost, duplicated, stuck or phantom, or the
API answered a 5xx other than 503 (which says: retry).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from bench_registry import _machine, _port, bootstrap

from tests.faultproxy import Fault, FaultProxy
from tracecert.certificate.canonical import from_hex
from tracecert.certificate.merkle import merkle_root
from tracecert.chain.client import ChainClient
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.deploy import Deployment
from tracecert.chain.errors import ChainError, NodeStartFailed
from tracecert.chain.node import AnvilNode

TARGETS = ("worker", "api", "node", "db", "all")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
CHUNK = 100


class Service:
    """One registry process (the API or the worker) that can be killed and started again."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None


class Postgres:
    """A PostgreSQL 15 server of the run's own (as the ``postgres`` user: initdb refuses root), with fsync on: a
    crash (``pg_ctl stop -m immediate``, no shutdown checkpoint) loses nothing committed."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.data, self.port = directory, directory / "data", _port()
        directory.mkdir(parents=True)
        directory.parent.chmod(0o755)  # the postgres user reaches its folder through the run's
        shutil.chown(directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        self.start()
        url = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE chaos")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/chaos"

    def _run(self, tool: str, *args: str) -> None:
        argv = [str(PG_BIN / tool), *args]
        if os.geteuid() == 0:
            argv = [shutil.which("runuser") or "runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "log"), "-o", options, "-w", "start")

    def crash(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")


@dataclass
class Load:
    """Issues certificates in bulk, sending a chunk again until the API answers it (the same certificates are
    idempotent: accepted once, then existing)."""

    url: str
    token: str
    template: dict[str, Any]
    accepted: dict[str, str] = field(default_factory=dict)  # number -> digest
    refused: list[Any] = field(default_factory=list)
    retries: int = 0
    server_errors: Counter[int] = field(default_factory=Counter)  # 5xx other than 503 (a retry-safe refusal)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        n = 0
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30) as http:
            while not self.stop.is_set():
                chunk = [self._record(n + i) for i in range(CHUNK)]
                while not self._send(http, chunk):
                    self.retries += 1
                    time.sleep(0.3)
                n += CHUNK

    def _record(self, i: int) -> dict[str, Any]:
        record = copy.deepcopy(self.template)
        record["certificate_number"] = f"CHAOS-{i:07d}"
        record["item"]["serial_number"] = f"SCHAOS{i:07d}"
        return record

    def _send(self, http: httpx.Client, chunk: list[dict[str, Any]]) -> bool:
        try:
            response = http.post("/v1/certificates/bulk", json={"certificates": [{"record": r} for r in chunk]})
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            if response.status_code >= 500 and response.status_code != 503:
                self.server_errors[response.status_code] += 1
            return False  # 503 while the chain or the database is away: sent again
        for record, result in zip(chunk, response.json()["results"], strict=True):
            if result["ok"]:
                self.accepted[record["certificate_number"]] = result["digest"]
            else:
                self.refused.append(result["error"])
        return True


def _restart_node(node: AnvilNode) -> int:
    """Start the killed node again; return 1 when its state file was torn by the kill (SIGKILL in the middle of a
    dump: Anvil exits, unable to read it) and the last state it started from was put back — the node has then
    lost more blocks, as a machine whose disk lost its last writes."""
    try:
        node.start()
    except NodeStartFailed:
        good = node.state_file.with_suffix(".good")
        if not good.exists():
            raise
        shutil.copyfile(good, node.state_file)
        node.start()
        shutil.copyfile(node.state_file, good)
        return 1
    shutil.copyfile(node.state_file, node.state_file.with_suffix(".good"))
    return 0


def _wait_http(url: str, timeout: float = 60, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            status = httpx.get(f"{url}/health", timeout=1).status_code
            if status == 200:
                return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s (last status {status})\n{tail}")


def audit(
    database: str,
    url: str,
    token: str,
    node_url: str,
    deployment: Path,
    accepted: dict[str, str],
    phantoms: list[str] | None = None,
) -> Counter[str]:
    """Compare what the API accepted, what the registry holds and what the chain has (see the module docstring);
    the roots of phantom batches are appended to ``phantoms`` (with why)."""
    figures: Counter[str] = Counter(accepted=len(accepted))
    engine = create_engine(database)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT digest, status, batch_root FROM certificates WHERE certificate_number LIKE 'CHAOS-%'")
        ).all()
    engine.dispose()
    by_digest = {str(d).lower(): (status, root) for d, status, root in rows}
    for digest in accepted.values():
        found = by_digest.get(digest.lower())
        if found is None:
            figures["lost"] += 1
        elif found[0] != "ANCHORED":
            figures["stuck"] += 1
        else:
            figures["anchored"] += 1
    chain = ChainContracts(ChainClient(node_url), Deployment.load(deployment))
    head = chain.client.head(max_age=0)
    seen: Counter[str] = Counter()
    roots = {root for status, root in by_digest.values() if status == "ANCHORED" and root}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        for root in sorted(roots):
            try:
                answer = http.get(f"/v1/batches/{root}")
            except httpx.HTTPError:
                answer = None
            if answer is None or answer.status_code != 200:
                figures["unlisted"] += 1  # the registry does not list an anchored batch (yet): asked again
                continue
            leaves = [str(leaf["digest"]).lower() for leaf in answer.json()["leaves"]]
            seen.update(leaves)
            try:
                on_chain = chain.batch(from_hex(root))
            except ChainError as exc:
                figures["phantom"] += len(leaves)  # the registry says anchored; the chain has no such batch
                if phantoms is not None:
                    phantoms.append(f"{root}: not on chain ({exc})")
                continue
            recomputed = merkle_root([from_hex(d) for d in leaves])
            if on_chain.block_number > head or recomputed != from_hex(root) or on_chain.count != len(leaves):
                figures["phantom"] += len(leaves)
                if phantoms is not None:
                    phantoms.append(
                        f"{root}: block {on_chain.block_number} (head {head}), {on_chain.count} leaves on chain, "
                        f"{len(leaves)} listed"
                    )
    figures["batches"] = len(roots)
    figures["duplicated"] = sum(n - 1 for digest, n in seen.items() if n > 1)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--interval", type=float, default=2.0, help="mean seconds between kills")
    parser.add_argument("--block-time", type=float, default=0, help="seconds per block (0: a block per transaction)")
    parser.add_argument("--confirmations", type=int, default=1)
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, of {', '.join(TARGETS)}")
    parser.add_argument(
        "--postgres", action="store_true", help="run on a PostgreSQL server of the run's own (target db crashes it)"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--state-interval", type=int, default=2, help="seconds between the node's state dumps")
    parser.add_argument("--settle", type=float, default=180, help="seconds the worker gets to finish after the load")
    parser.add_argument("--logs", type=Path, default=None, help="copy the API's and the worker's logs here at the end")
    args = parser.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t and (t != "db" or args.postgres)]
    if not targets or set(targets) - set(TARGETS):
        parser.error(f"--targets: choose from {', '.join(TARGETS)} (db with --postgres)")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        node = AnvilNode(
            tmp / "node",
            port=_port(),
            persist=True,
            block_time=args.block_time or None,
            state_interval=args.state_interval,
        )
        node.start()
        node_restarts = 0
        services: list[Service] = []
        postgres: Postgres | None = None
        # The services reach the node through a proxy that refuses connections from the kill until the restarted
        # node's clock is set again: a real node comes back with its clock right, never days in the past.
        proxy = FaultProxy.to_url(node.url).start()
        try:
            postgres = Postgres(tmp / "pg") if args.postgres else None
            database = postgres.url if postgres else f"sqlite:///{tmp / 'registry.db'}"
            world = bootstrap(tmp, node.url, database)
            # The node dumps its state every --state-interval seconds: wait for one dump, so that the deployment and
            # the NMI's standard every record cites survive every kill (a chain that loses its standard refuses all).
            time.sleep(args.state_interval + 1.5)
            shutil.copyfile(node.state_file, node.state_file.with_suffix(".good"))
            # The set-up moved the chain's clock three days ahead (keys cannot start in the past); Anvil does not
            # keep that offset across a restart, and a real chain's clock never goes back: each restart sets it
            # again.
            offset = ChainClient(node.url).block_timestamp() - time.time()
            port = _port()
            env = {
                **world.env,
                "TRACECERT_CHAIN_RPC_URL": proxy.url,
                "TRACECERT_CHAIN_CONFIRMATIONS": str(args.confirmations),
                "TRACECERT_REGISTRY_BATCH_MAX_SIZE": "256",
                "TRACECERT_REGISTRY_BATCH_WINDOW_SECONDS": "0.5",
            }
            api = Service(
                "api",
                [sys.executable, "-m", "tracecert_app.cli", "registry", "serve", "--no-worker", "--port", str(port)],
                env,
                tmp / "api.log",
            )
            worker = Service("worker", [sys.executable, "-m", "tracecert_app.cli", "registry", "worker"], env,
                             tmp / "worker.log")  # fmt: skip
            services = [api, worker]
            url = f"http://127.0.0.1:{port}"
            for service in services:
                service.start()
            _wait_http(url, log=api.log)
            print(
                f"TraceCert chaos run: {_machine()}; {database.split(':', 1)[0]}; Anvil "
                f"{'block time ' + str(args.block_time) + ' s' if args.block_time else 'automine'}, state dumped "
                f"every {args.state_interval} s; {args.confirmations} confirmation(s); {args.kills} kills of "
                f"{', '.join(targets)}, every ~{args.interval} s; seed {seed}",
                flush=True,
            )
            load = Load(url, world.token, world.template)
            sender = threading.Thread(target=load.run, daemon=True)
            sender.start()
            kills: Counter[str] = Counter()
            blocks_lost = head_before = 0
            started = time.monotonic()
            for i in range(args.kills):
                time.sleep(rng.uniform(0.2, 2 * args.interval))
                target = rng.choice(targets)
                kills[target] += 1
                if target in ("worker", "all"):
                    worker.kill()
                if target in ("api", "all"):
                    api.kill()
                if target in ("db", "all") and postgres is not None:
                    postgres.crash()
                if target in ("node", "all"):
                    with contextlib.suppress(ChainError):
                        # One block mined just before the kill, after the node's last dump (but for a dump in the
                        # same millisecond): the kill always loses blocks, even when a loaded machine slowed the
                        # load so much that the node mined nothing since its last dump.
                        killed = ChainClient(node.url)
                        killed.rpc("evm_mine", [])
                        head_before = killed.head(max_age=0)
                    proxy.set_fault(Fault.REFUSE)
                    node.kill()
                time.sleep(rng.uniform(0.1, 1.0))
                if target in ("db", "all") and postgres is not None:
                    postgres.start()
                if target in ("node", "all"):
                    node_restarts += _restart_node(node)
                    restarted = ChainClient(node.url)
                    restarted.rpc("evm_setTime", [int(time.time() + offset)])
                    proxy.set_fault(Fault.PASS)
                    head_after = restarted.head(max_age=0)
                    blocks_lost += max(0, head_before - head_after)
                    print(f"           node head {head_before} before the kill, {head_after} after", flush=True)
                if target in ("api", "all"):
                    api.start()
                if target in ("worker", "all"):
                    worker.start()
                print(f"kill {i + 1:>4}: {target:<6} at {time.monotonic() - started:6.1f} s, "
                      f"{len(load.accepted):,} accepted", flush=True)  # fmt: skip
            _wait_http(url, log=api.log)
            time.sleep(1.0)
            load.stop.set()
            sender.join(60)
            deadline = time.monotonic() + args.settle
            figures: Counter[str] = Counter()
            phantoms: list[str] = []
            while time.monotonic() < deadline:
                phantoms = []
                figures = audit(
                    database, url, world.token, node.url, tmp / "deployment.json", dict(load.accepted), phantoms
                )
                if figures["anchored"] == figures["accepted"] and not figures["phantom"] and not figures["unlisted"]:
                    break
                print(
                    f"settling at {time.monotonic() - started:6.1f} s: {figures['anchored']:,} of "
                    f"{figures['accepted']:,} anchored, {figures['phantom']} phantom, {figures['unlisted']} unlisted",
                    flush=True,
                )
                time.sleep(2)
            summary = {
                "seed": seed,
                "block_time": args.block_time,
                "confirmations": args.confirmations,
                "database": database.split(":", 1)[0],
                "runs": 1,
                "kills": sum(kills.values()),
                "kills_by_target": dict(kills),
                "blocks_lost": blocks_lost,
                "torn_node_states": node_restarts,
                "accepted": figures["accepted"],
                "anchored": figures["anchored"],
                "batches": figures["batches"],
                "lost": figures["lost"],
                "duplicated": figures["duplicated"],
                "stuck": figures["stuck"],
                "phantom": figures["phantom"],
                "unlisted_batches": figures["unlisted"],
                "refused": len(load.refused),
                "refused_by_code": dict(Counter(str(e.get("code")) for e in load.refused)),
                "resent_requests": load.retries,
                "server_errors": dict(load.server_errors),
                "seconds": round(time.monotonic() - started, 1),
            }
            print(
                f"\nruns 1, kills {summary['kills']} ({', '.join(f'{k} {v}' for k, v in kills.items())}; "
                f"{blocks_lost} blocks lost by the node), "
                f"accepted {summary['accepted']:,}, anchored {summary['anchored']:,} in {summary['batches']:,} "
                f"batches, lost {summary['lost']}, duplicated {summary['duplicated']}, stuck {summary['stuck']}, "
                f"phantom {summary['phantom']}, refused {summary['refused']}"
            )
            print(json.dumps(summary))
            bad = summary["lost"] or summary["duplicated"] or summary["stuck"] or summary["phantom"]
            bad = bad or summary["unlisted_batches"] or load.server_errors
            bad = bad or summary["refused"] or not summary["accepted"]
            if bad:  # what the worker said about the chain, for whoever reads a failed run
                for line in phantoms:
                    print(f"phantom batch {line}", file=sys.stderr)
                said = [
                    line
                    for line in (tmp / "worker.log").read_text(errors="replace").splitlines()
                    if " WARNING " in line or " ERROR " in line
                ]
                print("--- the worker's warnings and errors ---\n" + "\n".join(said[-80:]), file=sys.stderr)
            return 1 if bad else 0
        except Exception:
            # Say why the run stopped, with what each process wrote last (a service that died by itself shows here)
            for log in (tmp / "api.log", tmp / "worker.log"):
                if log.exists():
                    tail = log.read_text(errors="replace")[-4000:]
                    print(f"--- last lines of {log.name} ---\n{tail}", file=sys.stderr)
            for service in services:
                code = service.process.poll() if service.process is not None else None
                if code is not None:
                    print(f"--- the {service.name} process had exited by itself, code {code}", file=sys.stderr)
            raise
        finally:
            for service in services:
                service.stop()
            if args.logs is not None:
                args.logs.mkdir(parents=True, exist_ok=True)
                for log in (tmp / "api.log", tmp / "worker.log"):
                    if log.exists():
                        shutil.copyfile(log, args.logs / log.name)
            proxy.close()
            node.stop()
            if postgres is not None:
                with contextlib.suppress(subprocess.CalledProcessError):
                    postgres.crash()


if __name__ == "__main__":
    # Stopped with SIGTERM, the run still stops what it started (its finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
