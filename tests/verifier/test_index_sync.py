"""The verifier's index follows the chain: it survives restarts and reorganizations, shares its file between
processes, holds back unconfirmed blocks, and catches up on a root it does not know yet."""

from __future__ import annotations

import fcntl
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from tests.verifier.conftest import (
    MIRROR,
    Mirror,
    TraceWorld,
    chain_of_three,
    gauge_record,
    issue,
    open_index,
)
from tracecert.certificate.canonical import from_hex
from tracecert.chain.client import ChainClient
from tracecert.chain.deploy import Deployment
from tracecert.chain.errors import ChainUnavailable, TransactionFailed
from tracecert.verification.chainview import LiveChainView
from verifier.index import ContentState, Index, IndexMismatch, ReorgTooDeep
from verifier.index.schema import BLOCK_TABLES


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every chain-derived row of an index file (wall-clock bookkeeping of content fetches left out)."""
    engine = create_engine(f"sqlite:///{path}")
    skip = {"first_flagged_at", "last_attempt_at", "attempts"}
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in BLOCK_TABLES:
            columns = [c for c in table.c if c.name not in skip]
            out[table.name] = sorted(tuple(r) for r in conn.execute(select(*columns)))
    engine.dispose()
    return out


class FlakyClient(ChainClient):
    """A node that refuses wide log ranges, and goes away after some ``eth_getLogs`` calls."""

    def __init__(
        self, url: str, *, fail_after: int | None = None, max_range: int | None = None, bare_logs: bool = False
    ) -> None:
        super().__init__(url)
        self.fail_after = fail_after
        self.max_range = max_range
        self.bare_logs = bare_logs  # logs without blockTimestamp, as older nodes serve them
        self.refused = 0

    def rpc(self, method: str, params: list[Any]) -> Any:
        if method == "eth_getLogs":
            span = int(params[0]["toBlock"], 16) - int(params[0]["fromBlock"], 16) + 1
            if self.max_range is not None and span > self.max_range:
                self.refused += 1
                raise TransactionFailed("eth_getLogs: query returned more than 10000 results")
            if self.fail_after is not None:
                if self.fail_after == 0:
                    raise ChainUnavailable("eth_getLogs: JSON-RPC node unreachable (ConnectionError)")
                self.fail_after -= 1
        result = super().rpc(method, params)
        if method == "eth_getLogs" and self.bare_logs:
            result = [{k: v for k, v in log.items() if k != "blockTimestamp"} for log in result]
        return result


def _busy_history(world: TraceWorld, mirror: Mirror) -> list[dict[str, Any]]:
    bundles = [*chain_of_three(world)]
    for b in bundles:
        mirror.publish([b])
    for i in range(4):
        bundles += issue(world, mirror, world.city, gauge_record(world, world.city, f"HZ-{i}", f"S-{i}"))
        world.chain.contracts.suspend_lab(world.city_regulator, world.city.lab_id)
        world.chain.contracts.reinstate_lab(world.city_regulator, world.city.lab_id)
    return bundles


def test_an_interrupted_sync_resumes_without_corruption(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path
) -> None:
    world = trace_world
    bundles = _busy_history(world, mirror)
    reference = open_index(world, tmp_path / "reference.db", mirror)
    reference.sync()
    assert reference.counts()["leaves"] == len(bundles)

    # The node goes away in the middle of a catch-up: what was committed stays, nothing half-written.
    flaky = FlakyClient(world.chain.client.url, fail_after=3)
    path = tmp_path / "index.db"
    crashed = Index(path, flaky, world.chain.contracts.deployment, mirrors=[MIRROR], fetcher=mirror, chunk_size=4)
    with pytest.raises(ChainUnavailable):
        crashed.sync()
    tip = crashed.tip()
    assert tip is not None and tip.number == world.chain.contracts.deployment.block_number + 11
    crashed.close()

    # The process dies while fetching batch contents: the batches stay PENDING and are fetched later.
    def dying(url: str) -> Any:
        raise KeyboardInterrupt

    interrupted = open_index(world, path, dying, chunk_size=5)
    until = bundles[4]["anchor"]["block_number"]
    with pytest.raises(KeyboardInterrupt):
        interrupted.sync(until=until)
    assert [interrupted.contents_state(b["anchor"]["root"]) for b in bundles] == [
        ContentState.PENDING if b["anchor"]["block_number"] <= until else None for b in bundles
    ]
    interrupted.close()

    # A fresh object on the same file resumes from the stored cursor and ends where the uninterrupted one did.
    resumed = open_index(world, path, mirror, chunk_size=5)
    report = resumed.sync()
    assert report.from_block == until + 1 and report.batches_verified == len(bundles)
    assert dump(path) == dump(reference.path)
    resumed.close()

    # A node refusing wide ranges, without timestamps in its logs: the index narrows its requests, asks for the
    # blocks' headers, and gets the same rows.
    narrow = FlakyClient(world.chain.client.url, max_range=3, bare_logs=True)
    narrowed = Index(tmp_path / "narrow.db", narrow, world.chain.contracts.deployment, mirrors=[MIRROR], fetcher=mirror)
    narrowed.sync()
    assert narrow.refused > 0 and dump(narrowed.path) == dump(reference.path)
    narrowed.close()
    reference.close()


class SlowMirror:
    """A mirror that says when it is first asked (the asking sync holds the index), then answers slowly."""

    def __init__(self, mirror: Mirror, asked: Any) -> None:
        self.mirror, self.asked = mirror, asked

    def __call__(self, url: str) -> Any:
        self.asked.set()
        time.sleep(0.1)
        return self.mirror(url)


def _sync_elsewhere(path: Path, url: str, deployment: Deployment, fetcher: SlowMirror) -> None:
    """In another process (a second server worker): open the shared index file and catch up."""
    index = Index(path, ChainClient(url), deployment, mirrors=[MIRROR], fetcher=fetcher, chunk_size=2, retry_interval=0)
    try:
        index.sync()
    finally:
        index.close()


def test_two_processes_share_one_index_file(trace_world: TraceWorld, mirror: Mirror, tmp_path: Path) -> None:
    world = trace_world
    _busy_history(world, mirror)
    reference = open_index(world, tmp_path / "reference.db", mirror)
    reference.sync()
    shared = tmp_path / "shared.db"
    deployment = world.chain.contracts.deployment
    # Another process creates the file and syncs it, slowly; this one opens the file and syncs meanwhile. The lock
    # file beside the index makes them take turns: this sync waits, then finds every block and batch done.
    context = multiprocessing.get_context("spawn")
    asked = context.Event()
    other = context.Process(
        target=_sync_elsewhere, args=(shared, world.chain.client.url, deployment, SlowMirror(mirror, asked))
    )
    other.start()
    assert asked.wait(60)
    here = open_index(world, shared, mirror, chunk_size=2)
    report = here.sync()
    assert not other.is_alive() or other.join(30) is None
    assert other.exitcode == 0
    assert (report.events, report.batches_verified) == (0, 0)  # the other process had done it all
    assert dump(shared) == dump(reference.path)
    # Either process's reads see everything, whichever of them wrote it.
    assert here.counts() == reference.counts()
    for index in (here, reference):
        index.close()


def test_a_sync_waits_while_another_process_holds_the_index(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path
) -> None:
    world = trace_world
    _busy_history(world, mirror)
    index = open_index(world, tmp_path / "index.db", mirror)
    done = threading.Event()
    with open(tmp_path / "index.db.lock", "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process is syncing
        thread = threading.Thread(target=lambda: (index.sync(), done.set()), daemon=True)
        thread.start()
        assert not done.wait(1.0)
        assert index.tip() is None
        fcntl.flock(held, fcntl.LOCK_UN)
    thread.join(30)
    assert done.is_set() and index.tip() is not None
    index.close()


def test_two_indexes_on_one_file_do_not_write_twice(trace_world: TraceWorld, mirror: Mirror, tmp_path: Path) -> None:
    world = trace_world
    _busy_history(world, mirror)
    reference = open_index(world, tmp_path / "reference.db", mirror)
    reference.sync()
    # Two objects in two threads syncing the same file in small ranges at the same time.
    first, second = (open_index(world, tmp_path / "shared.db", mirror, chunk_size=2) for _ in range(2))
    errors: list[BaseException] = []

    def run(index: Index) -> None:
        try:
            index.sync()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    first.sync()  # whichever stopped early (the other moved the cursor) finishes here
    assert dump(tmp_path / "shared.db") == dump(reference.path)
    for index in (first, second, reference):
        index.close()


def _resync(world: TraceWorld) -> None:
    for sender in (world.chain.national, *world.chain._senders.values()):
        sender.resync()


@pytest.mark.parametrize("restart", [False, True], ids=["same-process", "crash-during-recovery"])
def test_a_reorganization_is_rolled_back_and_reindexed(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path, restart: bool
) -> None:
    world, client, c = trace_world, trace_world.chain.client, trace_world.chain.contracts
    [kept] = issue(world, mirror, world.city, gauge_record(world, world.city, "HZ-KEEP", "K-1"))
    index = open_index(world, tmp_path / "index.db", mirror)
    index.sync()
    fork = index.tip()
    assert fork is not None
    snapshot = client.rpc("evm_snapshot", [])
    try:
        # The chain the index sees first: a batch, a revocation, a suspension, and a few more blocks.
        [gone] = issue(world, mirror, world.city, gauge_record(world, world.city, "HZ-GONE", "G-1"))
        c.revoke(world.city.writer, world.city.lab_id, from_hex(kept["digest"]), 1)
        c.suspend_lab(world.city_regulator, world.city.lab_id)
        world.chain.advance(60)
        assert index.sync().events == 3
        assert index.by_digest(gone["digest"]) is not None
        assert index.status(world.city.lab_id, from_hex(kept["digest"])).state.name == "REVOKED"
    finally:
        assert client.rpc("evm_revert", [snapshot])
    _resync(world)
    # Another history on the same heights, shorter: another batch and a substitution instead.
    [other] = issue(world, mirror, world.city, gauge_record(world, world.city, "HZ-OTHER", "O-1"))
    c.substitute(world.city.writer, world.city.lab_id, from_hex(kept["digest"]), from_hex(other["digest"]))

    if restart:
        # The node goes away right after the rollback; another process picks up the file.
        index.close()
        flaky = FlakyClient(client.url, fail_after=0)
        crashed = Index(index.path, flaky, c.deployment, mirrors=[MIRROR], fetcher=mirror)
        with pytest.raises(ChainUnavailable):
            crashed.sync()
        assert crashed.tip() == fork and crashed.batch(from_hex(gone["anchor"]["root"])) is None
        crashed.close()
        index = open_index(world, index.path, mirror, chunk_size=1)
        report = index.sync()
        assert report.rolled_back_to is None and report.from_block == fork.number + 1 and report.events == 2
    else:
        report = index.sync()
        assert report.rolled_back_to == fork.number and report.events == 2
    live = LiveChainView(c)
    assert index.batch(from_hex(gone["anchor"]["root"])) is None and index.by_digest(gone["digest"]) is None
    assert index.by_digest(other["digest"]) is not None
    for digest in (kept["digest"], other["digest"], gone["digest"]):
        assert index.status(world.city.lab_id, from_hex(digest)) == live.status(world.city.lab_id, from_hex(digest))
    assert index.lab_at(world.city.lab_id, world.chain.now()) == live.lab_at(world.city.lab_id, world.chain.now())
    # Exactly what an index built from scratch on the new chain holds.
    fresh = open_index(world, tmp_path / "fresh.db", mirror)
    fresh.sync()
    assert dump(index.path) == dump(fresh.path)
    assert index.tip() == fresh.tip()
    fresh.close()
    index.close()


def test_a_reorganization_deeper_than_the_kept_hashes_is_refused(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path
) -> None:
    world, client = trace_world, trace_world.chain.client
    index = open_index(world, tmp_path / "index.db", mirror, reorg_depth=2)
    index.sync()
    snapshot = client.rpc("evm_snapshot", [])
    try:
        issue(world, mirror, world.city, gauge_record(world, world.city, "HZ-1", "S-1"))
        client.rpc("anvil_mine", [hex(10)])
        index.sync()
    finally:
        assert client.rpc("evm_revert", [snapshot])
    _resync(world)
    issue(world, mirror, world.city, gauge_record(world, world.city, "HZ-2", "S-2"))
    with pytest.raises(ReorgTooDeep):
        index.sync()
    index.close()


def test_confirmations_hold_back_the_newest_blocks(trace_world: TraceWorld, mirror: Mirror, tmp_path: Path) -> None:
    world = trace_world
    [bundle] = issue(world, mirror, world.city, gauge_record(world, world.city, "HZ-1", "S-1"))
    index = open_index(world, tmp_path / "index.db", mirror, confirmations=2)
    index.sync()
    head = int(world.chain.client.rpc("eth_blockNumber", []), 16)
    tip = index.tip()
    assert tip is not None and tip.number == head - 2
    assert index.batch(from_hex(bundle["anchor"]["root"])) is None
    world.chain.client.rpc("anvil_mine", [hex(2)])
    index.sync()
    assert index.by_digest(bundle["digest"]) is not None
    index.close()


def test_the_file_belongs_to_one_deployment_rooted_at_the_trusted_authority(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path
) -> None:
    world = trace_world
    deployment = world.chain.contracts.deployment
    open_index(world, tmp_path / "index.db", mirror).close()
    other = Deployment(**{**deployment.__dict__, "certificate_registry": "0x" + "12" * 20})
    with pytest.raises(IndexMismatch):
        Index(tmp_path / "index.db", world.chain.client, other)
    untrusted = Deployment(**{**deployment.__dict__, "national_authority": "0x" + "34" * 20})
    index = Index(tmp_path / "other.db", world.chain.client, untrusted, mirrors=[MIRROR], fetcher=mirror)
    with pytest.raises(IndexMismatch, match="trusted national authority"):
        index.sync()
    assert index.tip() is None
    index.close()


def test_reads_while_a_sync_runs(trace_world: TraceWorld, mirror: Mirror, tmp_path: Path) -> None:
    world = trace_world
    [bundle] = issue(world, mirror, world.city, gauge_record(world, world.city, "HZ-1", "S-1"))
    world.chain.client.rpc("anvil_mine", [hex(100)])
    index = open_index(world, tmp_path / "index.db", mirror, chunk_size=2)
    stop, reports = threading.Event(), []
    follower = threading.Thread(target=index.follow, args=(stop, 0.01), kwargs={"on_sync": reports.append})
    follower.start()
    tips = []
    try:
        while not reports:
            tip = index.tip()
            tips.append(tip.number if tip else 0)
            index.lab_at(world.city.lab_id, world.chain.now())
            index.by_digest(bundle["digest"])
    finally:
        stop.set()
        follower.join(10)
    assert not follower.is_alive()
    # Reads went on between the sync's commits, each seeing a whole committed range.
    assert tips == sorted(tips) and len(set(tips)) > 10
    assert index.by_digest(bundle["digest"]) is not None
    assert reports[0].blocks > 100
    index.close()


@pytest.mark.parametrize("catch_up", [True, False])
def test_a_root_anchored_after_the_last_sync(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path, catch_up: bool
) -> None:
    """A service's index follows the chain a block behind: with ``catch_up`` a root it does not know yet makes it
    sync at once (a certificate anchored a moment ago is found); without, reads answer as of the last sync."""
    index = open_index(trace_world, tmp_path / "index.db", mirror, catch_up=catch_up, catch_up_interval=60.0)
    try:
        index.sync()
        [bundle] = issue(
            trace_world, mirror, trace_world.city, gauge_record(trace_world, trace_world.city, "HZ-CU-1", "S1")
        )
        root = from_hex(bundle["anchor"]["root"])
        found = index.batch(root)
        assert (found is not None) is catch_up
        if catch_up:
            assert found is not None and found.lab_id == trace_world.city.lab_id
            # a root nobody anchored does not make it sync again and again (at most once a catch_up_interval):
            # the block anchored meanwhile stays out until the interval has passed
            synced = index.tip()
            issue(trace_world, mirror, trace_world.city, gauge_record(trace_world, trace_world.city, "HZ-CU-2", "S2"))
            assert index.batch(b"\x01" * 32) is None and index.tip() == synced
    finally:
        index.close()
