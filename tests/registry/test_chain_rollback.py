"""A node that goes backwards (killed hard and restarted from an older state, or reorganized): the worker notices at
once, puts lost batches back, anchors them again exactly once, does not stall on nonces above the gap, and the
registry never answers "anchored" for a block the node does not have.

The node's loss is real: ``evm_snapshot`` before the anchor and ``evm_revert`` after it remove the blocks exactly as a
restart from an older state does (only blocks this test mined); ``anvil_reorg`` replaces the last block by another
one at the same height.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from registry.anchoring import AnchoringWorker
from registry.core import RegistryCore
from registry.db import Batch, make_engine
from registry.issuance import Submission, accept
from registry.lifecycle import request_revocation
from registry.reads import batch_listing, bundle, certificate_view
from tests.registry.conftest import LabWorld
from tracecert.certificate.canonical import from_hex, to_hex
from tracecert.chain.errors import ContractReverted
from tracecert.chain.types import CertificateState, RevocationReason

#: The registry caches the chain head for about a second on its read path.
HEAD_CACHE = 1.1


def _head(world: LabWorld) -> int:
    return int(world.chain.client.rpc("eth_blockNumber", []), 16)


def _batch_count(world: LabWorld) -> int:
    contracts = world.chain.contracts
    return int(contracts.call(contracts.certificates, "batchCount"))


def _wait_anchored(world: LabWorld, digests: list[str], timeout: float) -> list[dict[str, Any]]:
    """Poll the registry until every certificate is anchored; every "anchored" answer must be for a block the node
    has (at most one head-cache period after the loss)."""
    deadline = time.monotonic() + timeout
    while True:
        views = [certificate_view(world.core, None, d) for d in digests]
        for view in views:
            if view["status"] == "anchored":
                assert view["batch"]["block_number"] <= _head(world), view
        if all(v["status"] == "anchored" for v in views):
            return views
        assert time.monotonic() < deadline, f"not anchored after {timeout}s: {[v['status'] for v in views]}"
        time.sleep(0.05)


def _step_until_anchored(world: LabWorld, worker: AnchoringWorker, digest: str, timeout: float) -> dict[str, Any]:
    """Run worker steps until the certificate reads anchored and its batch is on chain (the worker looks at the
    chain about once a second)."""
    deadline = time.monotonic() + timeout
    while True:
        worker.step(force=True)
        view = certificate_view(world.core, None, digest)
        if view["status"] == "anchored":
            try:
                world.chain.contracts.batch(from_hex(view["batch"]["root"]))
                return view
            except ContractReverted:
                pass  # not noticed yet
        assert time.monotonic() < deadline, f"not anchored again after {timeout}s: {view}"
        time.sleep(0.05)


def _on_chain_once(world: LabWorld, view: dict[str, Any]) -> None:
    """The batch is on chain for the lab, in the block the registry records, with that block's hash."""
    info = world.chain.contracts.batch(from_hex(view["batch"]["root"]))
    assert to_hex(info.lab_id) == world.lab_id
    assert view["batch"]["block_number"] == info.block_number
    with world.core.sessions() as s:
        batch = s.get(Batch, view["batch"]["root"])
        assert batch is not None
        recorded = batch.block_hash
    block = world.chain.client.rpc("eth_getBlockByNumber", [hex(info.block_number), False])
    assert recorded == block["hash"]


def test_rollback_under_a_running_worker_is_repaired_at_once(world: LabWorld) -> None:
    """The node loses the block of an anchored batch while the worker runs: the batch is put back and anchored
    again exactly once, and the next certificate does not queue behind the lost nonce (seconds, not TX_TIMEOUT)."""
    principal = world.core.authenticate(world.token)
    client = world.chain.client
    worker = AnchoringWorker(world.core)
    worker.start()
    try:
        before = _batch_count(world)
        snapshot = client.rpc("evm_snapshot", [])
        first = accept(world.core, principal, Submission(world.record("JD2026-80001")))
        [view] = _wait_anchored(world, [first.digest], 10)
        lost_block = view["batch"]["block_number"]
        assert _batch_count(world) == before + 1

        client.rpc("evm_revert", [snapshot])  # the node restarted from a state without that block
        assert _head(world) < lost_block and _batch_count(world) == before
        time.sleep(HEAD_CACHE)
        second = accept(world.core, principal, Submission(world.record("JD2026-80002")))
        started = time.monotonic()
        views = _wait_anchored(world, [first.digest, second.digest], 10)
        assert time.monotonic() - started < 10

        assert _batch_count(world) == before + 2  # the lost batch once more, the new one once: nothing twice
        assert views[0]["batch"]["root"] == view["batch"]["root"]
        for v in views:
            _on_chain_once(world, v)
    finally:
        worker.stop()


def test_read_path_never_answers_anchored_for_a_block_the_node_lacks(world: LabWorld) -> None:
    """Before any worker notices, the registry's answers already degrade: status pending, no block number, no
    bundle, no batch listing."""
    principal = world.core.authenticate(world.token)
    client = world.chain.client
    worker = AnchoringWorker(world.core)
    snapshot = client.rpc("evm_snapshot", [])
    accepted = accept(world.core, principal, Submission(world.record("JD2026-81001")))
    worker.drain()
    view = certificate_view(world.core, None, accepted.digest)
    assert view["status"] == "anchored"
    root = view["batch"]["root"]
    bundle(world.core, principal, accepted.digest)
    batch_listing(world.core, root)

    client.rpc("evm_revert", [snapshot])
    time.sleep(HEAD_CACHE)
    view = certificate_view(world.core, None, accepted.digest)
    assert view["status"] == "pending"
    assert view["batch"]["block_number"] is None and view["batch"]["tx_hash"] is None
    with pytest.raises(Exception) as exc:
        bundle(world.core, principal, accepted.digest)
    assert exc.value.code == "NOT_ANCHORED"  # type: ignore[attr-defined]
    with pytest.raises(Exception) as exc:
        batch_listing(world.core, root)
    assert exc.value.code == "UNKNOWN_BATCH"  # type: ignore[attr-defined]

    view = _step_until_anchored(world, worker, accepted.digest, 10)  # the worker puts it back, anchors it again
    assert view["batch"]["block_number"] <= _head(world)
    _on_chain_once(world, view)


def test_block_replaced_at_the_same_height_is_noticed_by_its_hash(world: LabWorld) -> None:
    """A reorganization that keeps the height (``anvil_reorg``): the head check cannot see it, the recorded block
    hash does; the batch goes back and is anchored again, once."""
    principal = world.core.authenticate(world.token)
    client = world.chain.client
    worker = AnchoringWorker(world.core)
    before = _batch_count(world)
    accepted = accept(world.core, principal, Submission(world.record("JD2026-82001")))
    worker.drain()
    view = certificate_view(world.core, None, accepted.digest)
    assert _head(world) == view["batch"]["block_number"]

    client.rpc("anvil_reorg", [1, []])  # the last block (ours) replaced by an empty one
    assert _batch_count(world) == before
    view = _step_until_anchored(world, worker, accepted.digest, 10)
    assert _batch_count(world) == before + 1
    _on_chain_once(world, view)


@pytest.mark.parametrize("seen_by", ["the fresh blocks", "the floor"])
def test_a_lost_block_under_new_batches_at_the_same_heights_is_noticed(world: LabWorld, seen_by: str) -> None:
    """The chaos run's phantom: the node comes back without the block of batch A, the worker's nonce is read from
    the node again (a transaction behind the gap was retired) and two new batches are mined at A's height and the
    next one before the watch looks. The highest recorded block then matches the node; A's does not, and the check
    must see it, so that A is anchored again, once. Seen by the fresh blocks: every block anchored since the last
    look is compared. Seen by the floor: the watch had looked after A was anchored (A's block is then the floor of
    its next look) and only the floor is left to give the loss away."""
    principal = world.core.authenticate(world.token)
    client = world.chain.client
    worker = AnchoringWorker(world.core)
    before = _batch_count(world)
    snapshot = client.rpc("evm_snapshot", [])
    lost = accept(world.core, principal, Submission(world.record("JD2026-84001")))
    worker.drain()
    if seen_by == "the floor":
        assert worker.watch.check() is False  # A verified: its block is the floor
    lost_view = certificate_view(world.core, None, lost.digest)
    client.rpc("evm_revert", [snapshot])  # A's block is gone
    world.core.sender_for(world.core.lab(world.lab_id).writer_address).resync()

    worker.watch.next_check = worker.watch.next_reconcile = float("inf")  # the watch does not look meanwhile
    fresh = []
    for number in ("JD2026-84002", "JD2026-84003"):
        fresh.append(accept(world.core, principal, Submission(world.record(number))))
        worker.step(force=True)
    views = [certificate_view(world.core, None, f.digest) for f in fresh]
    assert [v["status"] for v in views] == ["anchored", "anchored"]
    assert views[0]["batch"]["block_number"] == lost_view["batch"]["block_number"]  # mined at A's height
    assert views[1]["batch"]["block_number"] == _head(world)  # the highest recorded block is on the node as is
    with world.core.sessions() as s:
        assert s.get(Batch, lost_view["batch"]["root"]).state == "ANCHORED"  # the registry still says anchored
    if seen_by == "the floor":
        worker.watch._fresh.clear()

    assert worker.watch.check() is True
    with world.core.sessions() as s:
        assert s.get(Batch, lost_view["batch"]["root"]).state == "PREPARED"
    worker.watch.next_check = worker.watch.next_reconcile = 0.0
    view = _step_until_anchored(world, worker, lost.digest, 10)
    assert view["batch"]["root"] == lost_view["batch"]["root"]
    assert _batch_count(world) == before + 3  # A once more, the two new ones once
    for v in (view, *[certificate_view(world.core, None, f.digest) for f in fresh]):
        _on_chain_once(world, v)


def test_restarted_worker_does_not_wait_on_a_transaction_behind_the_gap(
    world: LabWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old worker, its nonce cached above the lost one, journaled the next anchor and died before the node saw
    it. After a restart, recover() must not wait TX_TIMEOUT on that transaction: it re-signs it with a fresh nonce,
    and both batches end on chain once."""
    principal = world.core.authenticate(world.token)
    client = world.chain.client
    old = AnchoringWorker(world.core)
    before = _batch_count(world)
    snapshot = client.rpc("evm_snapshot", [])
    first = accept(world.core, principal, Submission(world.record("JD2026-83001")))
    old.drain()
    client.rpc("evm_revert", [snapshot])
    second = accept(world.core, principal, Submission(world.record("JD2026-83002")))

    class Crash(Exception):
        pass

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise Crash

    sender = world.core.sender_for(world.core.lab(world.lab_id).writer_address)
    monkeypatch.setattr(sender, "_broadcast", crash)
    monkeypatch.setattr(old.watch, "check", lambda: False)  # the old process never looked
    with pytest.raises(Crash):
        old.step(force=True)
    with world.core.sessions() as s:
        assert s.get(Batch, certificate_view(world.core, None, second.digest)["batch"]["root"]).state == "PREPARED"

    settings = world.core.settings.model_copy(
        update={"chain": world.core.settings.chain.model_copy(update={"receipt_timeout": 30.0})}
    )
    restarted = RegistryCore(settings, make_engine(settings.database), world.chain.contracts)
    try:
        started = time.monotonic()
        AnchoringWorker(restarted).drain(timeout=60)
        assert time.monotonic() - started < 10
        views = [certificate_view(restarted, None, d) for d in (first.digest, second.digest)]
        assert [v["status"] for v in views] == ["anchored", "anchored"]
        assert _batch_count(world) == before + 2
        for v in views:
            info = world.chain.contracts.batch(from_hex(v["batch"]["root"]))
            assert to_hex(info.lab_id) == world.lab_id and v["batch"]["block_number"] == info.block_number
    finally:
        restarted.engine.dispose()


def test_revocation_lost_from_chain_is_sent_again(world: LabWorld) -> None:
    """The node loses the block of a revocation the registry recorded done (a restart from an older state, or a
    reorganization deeper than the confirmations): the worker notices (the writer's nonce went back), puts the
    revocation back and sends it again, so the chain says revoked as the registry does — not in force, as the
    chain alone would have left it."""
    principal = world.core.authenticate(world.token)
    client = world.chain.client
    worker = AnchoringWorker(world.core)
    accepted = accept(world.core, principal, Submission(world.record("JD2026-84001")))
    worker.drain()
    lab, digest = from_hex(world.lab_id), from_hex(accepted.digest)
    snapshot = client.rpc("evm_snapshot", [])
    request_revocation(world.core, principal, accepted.digest, int(RevocationReason.ERROR_IN_CONTENT))
    worker.drain()
    assert certificate_view(world.core, None, accepted.digest)["lifecycle"]["state"] == "done"
    assert world.chain.contracts.status(lab, digest).state is CertificateState.REVOKED

    client.rpc("evm_revert", [snapshot])  # the revocation's block is gone; the batch's is kept
    assert world.chain.contracts.status(lab, digest).state is CertificateState.NONE
    deadline = time.monotonic() + 10
    while world.chain.contracts.status(lab, digest).state is not CertificateState.REVOKED:
        assert time.monotonic() < deadline, certificate_view(world.core, None, accepted.digest)["lifecycle"]
        worker.step(force=True)  # the worker looks at the chain about once a second
        time.sleep(0.05)
    status = world.chain.contracts.status(lab, digest)
    assert status.reason == RevocationReason.ERROR_IN_CONTENT
    lifecycle = certificate_view(world.core, None, accepted.digest)["lifecycle"]
    assert (lifecycle["state"], lifecycle["error"]) == ("done", None) and lifecycle["tx_hash"] is not None
