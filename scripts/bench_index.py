"""Benchmark: how fast the verifier's index catches up with a chain, and how fast it answers afterwards.

Starts a throw-away Anvil, deploys the contracts, registers labs, then anchors many batches (with revocations,
substitutions and status changes) between long runs of empty blocks; then times a cold catch-up of a new index
(events, blocks and verified batch contents per second) and its lookups. Prints the machine first.

    .venv/bin/python scripts/bench_index.py [--batches 2000] [--leaves 16] [--labs 8] [--empty-blocks 3000]

With ``--http`` the listings are JSON files served over HTTP by a process of their own (Python's http.server, as a
static mirror would serve them) and the index fetches them with its own HTTP client, ``--workers`` at a time:
the catch-up then pays for what a real one pays (the request, the strict JSON parse). A million certificates:

    .venv/bin/python scripts/bench_index.py --batches 977 --leaves 1024 --http --workers 4 --lookups 5000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import free_port
from tracecert.certificate.merkle import merkle_root
from tracecert.chain.client import ChainClient
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.deploy import deploy
from tracecert.chain.node import AnvilNode
from tracecert.chain.sender import TransactionSender
from tracecert.chain.types import Activity, LabKind
from verifier.index import Index

DAY = 86_400
ANCHOR = keccak(text="anchor(bytes32,uint32,bytes32)")[:4]
REVOKE = keccak(text="revoke(bytes32,bytes32,uint8,uint64)")[:4]
SUBSTITUTE = keccak(text="substitute(bytes32,bytes32,bytes32)")[:4]
CATEGORIES = ["PRESSURE", "JJG52", "JJG99", "JJG1148", "TEMPERATURE"]


def machine() -> str:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{mem_kb / 1024 / 1024:.1f} GiB"
    except OSError:
        memory = "unknown"
    return (
        f"machine: nproc={os.cpu_count()}, CPU {model}, RAM {memory}; "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


class Rpc:
    """Raw JSON-RPC, in batches, for filling the chain quickly."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=120)
        self._id = 0

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        payload = []
        for method, params in calls:
            self._id += 1
            payload.append({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        answers = sorted(self.client.post("/", json=payload).json(), key=lambda a: a["id"])
        errors = [a["error"] for a in answers if "error" in a]
        if errors:
            raise RuntimeError(f"{len(errors)} JSON-RPC errors, first: {errors[0]}")
        return [a["result"] for a in answers]

    def call(self, method: str, params: list[Any]) -> Any:
        return self.batch([(method, params)])[0]


def build_chain(url: str, args: argparse.Namespace) -> tuple[ChainContracts, dict[str, Any], list[dict[str, Any]]]:
    """Deploy, register labs, anchor batches; return the contracts, listings by root, and lab facts."""
    client = ChainClient(url)
    rpc = Rpc(url)
    rng = random.Random(7)
    national_account = Account.create()
    client.set_balance(national_account.address, 10**24)
    national = TransactionSender(client, national_account)
    contracts = ChainContracts(client, deploy(client, national, national_authority=national_account.address))
    c = contracts
    now = client.block_timestamp()
    labs: list[dict[str, Any]] = []
    for i in range(args.labs):
        lab_id = keccak(text=f"bench-lab-{i}")
        admin = Account.create()
        client.set_balance(admin.address, 10**22)
        admin_sender = TransactionSender(client, admin)
        c.register_lab(
            national, lab_id, LabKind.LEGAL_METROLOGY_INSTITUTE, 330000 + 100 * (i % 9), admin.address, f"L{i}"
        )
        scope = {cat: Activity.VERIFY | Activity.CALIBRATE for cat in rng.sample(CATEGORIES, 3)}
        c.authorize_lab(national, lab_id, f"AUTH-{i}", now - 400 * DAY, now + 4000 * DAY, scope)
        writer = Account.create().address
        client.set_balance(writer, 10**22)
        rpc.call("anvil_impersonateAccount", [writer])
        c.add_writer(admin_sender, lab_id, writer)
        key_id = keccak(text=f"bench-key-{i}")  # any 32 bytes will do as a public key here
        receipt = c.register_key(admin_sender, lab_id, key_id)
        [(_, event)] = [e for e in c.events(receipt) if e[0] == "KeyRegistered"]
        labs.append({"lab_id": lab_id, "writer": writer, "key_id": bytes(event["keyId"]), "nonce": 0})

    listings: dict[str, Any] = {}
    anchored: list[tuple[dict[str, Any], bytes]] = []  # (lab, first digest)
    rpc.call("evm_setAutomine", [False])
    pending: list[tuple[str, list[Any]]] = []
    gaps = max(1, args.batches // args.per_block)
    gap = args.empty_blocks // gaps

    def flush() -> None:
        if pending:
            for start in range(0, len(pending), 500):
                rpc.batch(pending[start : start + 500])
            pending.clear()
            rpc.call("evm_mine", [])
            if gap:
                rpc.call("anvil_mine", [hex(gap)])

    def send(lab: dict[str, Any], data: bytes, gas: int) -> None:
        tx = {"from": lab["writer"], "to": c.deployment.certificate_registry, "data": "0x" + data.hex()}
        pending.append(("eth_sendTransaction", [tx | {"gas": hex(gas), "nonce": hex(lab["nonce"])}]))
        lab["nonce"] += 1

    serial = 0
    for b in range(args.batches):
        lab = labs[b % len(labs)]
        digests = [rng.randbytes(32) for _ in range(args.leaves)]
        root = merkle_root(digests)
        leaves = []
        for j, d in enumerate(digests):
            serial += 1
            leaves.append(
                {
                    "index": j,
                    "digest": "0x" + d.hex(),
                    "certificate_number": f"N-{b}-{j}",
                    "kind": "CALIBRATION",
                    "category_code": CATEGORIES[j % len(CATEGORIES)],
                    "serial_number": f"SN-{serial % (args.batches * args.leaves // 2)}",
                }
            )
        listings["0x" + root.hex()] = {
            "root": "0x" + root.hex(),
            "lab_id": "0x" + lab["lab_id"].hex(),
            "key_id": "0x" + lab["key_id"].hex(),
            "size": len(digests),
            "leaves": leaves,
        }
        send(lab, anchor_data(lab, root, len(digests)), 200_000)
        anchored.append((lab, digests[0]))
        if len(pending) >= args.per_block:
            flush()
    flush()
    # Revocations (10 %) and substitutions (2 %) of anchored certificates.
    for n, (lab, digest) in enumerate(anchored):
        if n % 10 == 0:
            send(
                lab,
                REVOKE + abi_encode(["bytes32", "bytes32", "uint8", "uint64"], [lab["lab_id"], digest, 1, 0]),
                120_000,
            )
        elif n % 50 == 1:
            replacement = rng.randbytes(32)
            data = SUBSTITUTE + abi_encode(["bytes32", "bytes32", "bytes32"], [lab["lab_id"], digest, replacement])
            send(lab, data, 150_000)
        if len(pending) >= args.per_block:
            flush()
    flush()
    rpc.call("evm_setAutomine", [True])
    # Status history: suspend and reinstate every other lab.
    for lab in labs[::2]:
        c.suspend_lab(national, lab["lab_id"], 1)
        c.reinstate_lab(national, lab["lab_id"])
    count = c.call(c.certificates, "batchCount")
    if count != args.batches:
        raise SystemExit(f"only {count} of {args.batches} batches were anchored")
    return contracts, listings, labs


class Mirror:
    """Batch listings as JSON files under ``/v1/batches/0x<root>``, served by ``python -m http.server`` in a process
    of its own (so serving them takes no time from the index's process)."""

    def __init__(self, root: Path, listings: dict[str, Any]) -> None:
        self.dir = root / "v1" / "batches"
        self.dir.mkdir(parents=True)
        for key, listing in listings.items():
            self.publish(key, listing)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(self.url + "/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit("the listing server did not start") from None
                time.sleep(0.1)

    def publish(self, key: str, listing: dict[str, Any]) -> None:
        """Write one listing as the registry's ``GET /v1/batches/{root}`` answers it."""
        (self.dir / key).write_text(json.dumps(listing), encoding="utf-8")

    def stop(self) -> None:
        """Stop the server."""
        self.process.terminate()
        self.process.wait(timeout=10)


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s" if seconds > 0 else "n/a"


def time_ops(label: str, fn: Any, inputs: list[Any]) -> None:
    started = time.perf_counter()
    for item in inputs:
        fn(*item)
    elapsed = time.perf_counter() - started
    print(
        f"  {label:<22} {len(inputs):>7,} in {elapsed:6.2f} s  {rate(len(inputs), elapsed):>10}  "
        f"({elapsed / len(inputs) * 1e6:,.0f} µs each)"
    )


def anchor_data(lab: dict[str, Any], root: bytes, size: int) -> bytes:
    return ANCHOR + abi_encode(["bytes32", "uint32", "bytes32"], [root, size, lab["key_id"]])


def catch_up(index: Index, args: argparse.Namespace) -> None:
    report = index.sync()
    events_time = report.elapsed - report.contents_elapsed
    leaves = index.counts()["leaves"]
    size = sum(p.stat().st_size for p in index.path.parent.glob(index.path.name + "*"))
    print(f"cold catch-up (eth_getLogs over {args.chunk} blocks at a time): {report.elapsed:.2f} s in all")
    print(
        f"  chain events   {report.events:>7,} events, {report.blocks:,} blocks in {events_time:.2f} s: "
        f"{rate(report.events, events_time)} events, {rate(report.blocks, events_time)} blocks"
    )
    print(
        f"  batch contents {report.batches_verified:>7,} listings checked against their roots ({leaves:,} leaves) in "
        f"{report.contents_elapsed:.2f} s: {rate(report.batches_verified, report.contents_elapsed)} batches, "
        f"{rate(leaves, report.contents_elapsed)} leaves"
    )
    print(
        f"  together       {rate(report.events, report.elapsed)} events with their contents; "
        f"{report.batches_flagged} flagged; database {size / 1e6:.1f} MB"
    )
    if report.batches_verified != args.batches or report.batches_flagged:
        raise SystemExit("the catch-up did not verify every batch")


def incremental(
    index: Index, url: str, lab: dict[str, Any], listings: dict[str, Any], leaves: int, mirror: Mirror | None
) -> None:
    """One more batch in one more block, as a follower sees it; then syncs with nothing new."""
    digests = [os.urandom(32) for _ in range(leaves)]
    root = merkle_root(digests)
    listings["0x" + root.hex()] = {
        "root": "0x" + root.hex(),
        "lab_id": "0x" + lab["lab_id"].hex(),
        "size": len(digests),
        "leaves": [{"index": i, "digest": "0x" + d.hex()} for i, d in enumerate(digests)],
    }
    if mirror is not None:
        mirror.publish("0x" + root.hex(), listings["0x" + root.hex()])
    tx = {"from": lab["writer"], "to": index.deployment.certificate_registry, "gas": hex(200_000)}
    rpc = Rpc(url)
    tx_hash = rpc.call("eth_sendTransaction", [tx | {"data": "0x" + anchor_data(lab, root, len(digests)).hex()}])
    deadline = time.monotonic() + 60  # automine answers before its block is there on a large chain
    while rpc.call("eth_getTransactionReceipt", [tx_hash]) is None:
        if time.monotonic() > deadline:
            raise SystemExit("the new batch's transaction was not mined")
        time.sleep(0.05)
    first = index.sync()
    if first.batches_verified != 1 or first.batches_flagged:
        raise SystemExit(f"the new batch was not verified: {first}")
    samples = [first.elapsed] + [index.sync().elapsed for _ in range(5)]
    print(
        f"incremental sync: {samples[0] * 1e3:.1f} ms for a block with one batch, "
        f"{statistics.median(samples[1:]) * 1e3:.1f} ms when nothing is new (hash check of the kept blocks included)"
    )


def lookups(index: Index, listings: dict[str, Any], labs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    rng = random.Random(1)
    roots = list(listings)
    known = [leaf["digest"] for r in rng.sample(roots, min(len(roots), 2000)) for leaf in listings[r]["leaves"]]
    n = args.lookups
    now = index.now()
    print("lookups (one thread; each its own SQLite read transaction):")
    time_ops("by_digest (found)", index.by_digest, [(rng.choice(known),) for _ in range(n)])
    time_ops("by_digest (unknown)", index.by_digest, [(os.urandom(32),) for _ in range(n // 4)])
    numbers = [
        (labs[b % len(labs)]["lab_id"], f"N-{b}-{rng.randrange(args.leaves)}")
        for b in rng.choices(range(args.batches), k=n // 2)
    ]
    time_ops("by_number", index.by_number, numbers)
    serials = [(f"SN-{rng.randrange(args.batches * args.leaves // 2)}",) for _ in range(n // 2)]
    time_ops("by_serial", index.by_serial, serials)
    lab_cases = [(rng.choice(labs)["lab_id"], now - rng.randrange(800 * DAY)) for _ in range(n)]
    time_ops("lab_at", index.lab_at, lab_cases)
    time_ops(
        "is_authorized",
        index.is_authorized,
        [(lab_id, rng.choice(CATEGORIES), Activity.CALIBRATE, t) for lab_id, t in lab_cases],
    )
    time_ops("batch", index.batch, [(bytes.fromhex(rng.choice(roots)[2:]),) for _ in range(n)])
    time_ops("status", index.status, [(labs[0]["lab_id"], bytes.fromhex(d[2:])) for d in known[: n // 2]])

    # Two reader threads at once (one per core): reads do not queue behind one connection.
    def worker(items: list[str]) -> None:
        for digest in items:
            index.by_digest(digest)

    inputs = [[rng.choice(known) for _ in range(n // 2)] for _ in range(2)]
    threads = [threading.Thread(target=worker, args=(items,)) for items in inputs]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    print(f"  {'by_digest, 2 threads':<22} {n:>7,} in {elapsed:6.2f} s  {rate(n, elapsed):>10}  (one GIL: no faster)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--leaves", type=int, default=16, help="certificates per batch")
    parser.add_argument("--labs", type=int, default=8)
    parser.add_argument("--per-block", type=int, default=20, help="transactions per mined block")
    parser.add_argument("--empty-blocks", type=int, default=3_000, help="empty blocks spread between batches")
    parser.add_argument("--chunk", type=int, default=2000, help="blocks per eth_getLogs")
    parser.add_argument(
        "--workers", type=int, default=1, help="listings fetched in parallel (threads pay off over HTTP, not here)"
    )
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--http", action="store_true", help="fetch the listings over HTTP from a static mirror")
    args = parser.parse_args()
    print(machine())

    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        node = AnvilNode(Path(tmp) / "anvil", port=free_port(), persist=False)
        node.start()
        try:
            started = time.perf_counter()
            contracts, listings, labs = build_chain(node.url, args)
            head = int(contracts.client.rpc("eth_blockNumber", []), 16)
            print(
                f"chain: {args.batches:,} batches × {args.leaves} certificates, {len(labs)} labs, "
                f"{head - contracts.deployment.block_number:,} blocks (built in {time.perf_counter() - started:.1f} s)"
            )
            mirror = Mirror(Path(tmp) / "mirror", listings) if args.http else None
            try:
                index = Index(
                    Path(tmp) / "index.db",
                    contracts.client,
                    contracts.deployment,
                    mirrors=[mirror.url if mirror else "https://mirror.bench"],
                    fetcher=None if mirror else lambda url: listings.get(url.rsplit("/", 1)[1]),
                    chunk_size=args.chunk,
                    fetch_workers=args.workers,
                )
                catch_up(index, args)
                incremental(index, node.url, labs[0], listings, args.leaves, mirror)
                lookups(index, listings, labs, args)
                index.close()
            finally:
                if mirror is not None:
                    mirror.stop()
        finally:
            node.stop()


if __name__ == "__main__":
    main()
