"""The registry's services end to end on a real chain: accept, batch, anchor, prove."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from registry.anchoring import AnchoringWorker
from registry.core import Principal
from registry.issuance import Submission, accept, accept_many
from registry.lifecycle import request_revocation
from registry.reads import batch_listing, bundle, certificate_view
from tests.registry.conftest import LabWorld
from tracecert.certificate.bundle import verify_bundle_offline
from tracecert.certificate.canonical import certificate_digest, from_hex, to_hex
from tracecert.certificate.merkle import merkle_root
from tracecert.certificate.model import record_from_json


def _lab(world: LabWorld) -> Principal:
    return world.core.authenticate(world.token)


def test_accept_anchor_and_bundle(world: LabWorld) -> None:
    principal = _lab(world)
    results = accept_many(world.core, principal, [Submission(world.record(f"JD2026-{i:05d}")) for i in range(5)])
    assert [r.status for r in results] == ["PENDING"] * 5  # type: ignore[union-attr]
    AnchoringWorker(world.core).drain()
    digest = results[2].digest  # type: ignore[union-attr]
    view = certificate_view(world.core, None, digest)
    assert view["status"] == "anchored" and "record" not in view
    doc = bundle(world.core, principal, digest)
    verify_bundle_offline(doc)
    assert doc["anchor"]["root"] == view["batch"]["root"]
    listing = batch_listing(world.core, view["batch"]["root"])
    assert to_hex(merkle_root([from_hex(leaf["digest"]) for leaf in listing["leaves"]])) == listing["root"]
    info = world.chain.contracts.batch(from_hex(listing["root"]))
    assert to_hex(info.lab_id) == world.lab_id and info.count == 5


def test_lab_signed_and_idempotent(world: LabWorld) -> None:
    record = world.record("JD2026-10001")
    digest = certificate_digest(record_from_json(record))
    sub = Submission(record, key_id=to_hex(world.lab_key.key_id), signature=to_hex(world.lab_key.sign(digest)))
    first = accept(world.core, _lab(world), sub)
    again = accept(world.core, _lab(world), sub)
    assert first.created and not again.created and first.digest == again.digest == to_hex(digest)
    assert first.signed_by == "LAB"


def test_revoke_goes_on_chain(world: LabWorld) -> None:
    accepted = accept(world.core, _lab(world), Submission(world.record("JD2026-20001")))
    worker = AnchoringWorker(world.core)
    worker.drain()
    request_revocation(world.core, _lab(world), accepted.digest, 1)
    worker.drain()
    status = world.chain.contracts.status(from_hex(world.lab_id), from_hex(accepted.digest))
    assert status.state == 1


@pytest.mark.parametrize("code", ["NUMBER_REUSE"])
def test_number_reuse_is_refused(world: LabWorld, code: str) -> None:
    accept(world.core, _lab(world), Submission(world.record("JD2026-30001")))
    with pytest.raises(Exception) as exc:
        accept(world.core, _lab(world), Submission(world.record("JD2026-30001", remarks="改过的")))
    assert exc.value.code == code  # type: ignore[attr-defined]


def test_batch_lost_from_the_chain_is_anchored_again(world: LabWorld) -> None:
    """A node killed hard loses its last blocks (here: a snapshot revert): the worker notices on reconcile and
    anchors the batch again, so the certificate ends on chain once."""
    accepted = accept(world.core, _lab(world), Submission(world.record("JD2026-40001")))
    snapshot = world.chain.client.rpc("evm_snapshot", [])
    worker = AnchoringWorker(world.core)
    worker.drain()
    root = certificate_view(world.core, None, accepted.digest)["batch"]["root"]
    world.chain.client.rpc("evm_revert", [snapshot])
    assert worker.reconcile() == [root]
    assert certificate_view(world.core, None, accepted.digest)["status"] == "pending"
    worker.drain()
    info = world.chain.contracts.batch(from_hex(root))
    assert to_hex(info.lab_id) == world.lab_id
    assert certificate_view(world.core, None, accepted.digest)["status"] == "anchored"
    assert worker.reconcile() == []


def test_refused_revocation_can_be_asked_again(world: LabWorld) -> None:
    """The chain refuses a regulator's order once its account is deactivated; the lab can still revoke."""
    from registry.db import LifecycleOp

    accepted = accept(world.core, _lab(world), Submission(world.record("JD2026-50001")))
    worker = AnchoringWorker(world.core)
    worker.drain()
    regulator = world.core.authenticate(world.regulator_token)
    request_revocation(world.core, regulator, accepted.digest, 7)
    world.chain.contracts.transact(world.chain.national, world.chain.contracts.trust, "setRegulatorActive",
                                   world.province.address, False)
    worker.drain()
    with world.core.sessions() as s:
        op = s.query(LifecycleOp).filter_by(digest=accepted.digest).one()
        assert (op.state, op.error) == ("FAILED", "CertificateRegistryNotIssuerOrRegulator")
    request_revocation(world.core, _lab(world), accepted.digest, 1)
    worker.drain()
    assert world.chain.contracts.status(from_hex(world.lab_id), from_hex(accepted.digest)).state == 1
    with pytest.raises(Exception) as again:
        request_revocation(world.core, _lab(world), accepted.digest, 1)
    assert again.value.code == "ALREADY_REVOKED"  # type: ignore[attr-defined]


def test_a_certificate_being_replaced_cannot_be_revoked(world: LabWorld) -> None:
    old = accept(world.core, _lab(world), Submission(world.record("JD2026-60001")))
    AnchoringWorker(world.core).drain()
    replacement = world.record("JD2026-60002", replaces={"certificate_number": "JD2026-60001",
                                                         "certificate_digest": old.digest})
    accept(world.core, _lab(world), Submission(replacement))
    with pytest.raises(Exception) as exc:
        request_revocation(world.core, _lab(world), old.digest, 1)
    assert exc.value.code == "ALREADY_REPLACED"  # type: ignore[attr-defined]


def test_two_replacements_of_one_certificate_in_one_bulk(world: LabWorld) -> None:
    old = accept(world.core, _lab(world), Submission(world.record("JD2026-70001")))
    replaces = {"certificate_number": "JD2026-70001", "certificate_digest": old.digest}
    first, second = accept_many(world.core, _lab(world), [
        Submission(world.record("JD2026-70002", replaces=replaces)),
        Submission(world.record("JD2026-70003", replaces=replaces)),
    ])
    assert first.status == "PENDING"  # type: ignore[union-attr]
    assert second.code == "ALREADY_REPLACED"  # type: ignore[union-attr]


@pytest.mark.parametrize(("concurrency", "blocks"), [(1, 3), (3, 1)], ids=["one at a time", "three at once"])
def test_batches_due_together_are_sent_together(
    world: LabWorld, monkeypatch: pytest.MonkeyPatch, concurrency: int, blocks: int
) -> None:
    """Under a block time, the batches due at one step go out together and land in one block (anchor_concurrency),
    rather than one batch per block and confirmation wait. Blocks are mined here only once the node's pool holds as
    many transactions as the worker may send at once (or after a pause, so that a worker sending fewer fails the
    count of blocks rather than hanging)."""
    monkeypatch.setattr(world.core.settings, "batch_max_size", 4)
    monkeypatch.setattr(world.core.settings, "anchor_concurrency", concurrency)
    results = accept_many(world.core, _lab(world), [Submission(world.record(f"JD2026-5{i:04d}")) for i in range(12)])
    client = world.chain.client
    client.rpc("evm_setAutomine", [False])
    try:
        step = threading.Thread(target=AnchoringWorker(world.core).step, kwargs={"force": True})
        step.start()
        waited = 0.0
        while step.is_alive() and waited < 120:
            pending = int(client.rpc("txpool_status", [])["pending"], 16)
            if pending and (pending >= concurrency or waited % 10 > 9.9):
                client.rpc("evm_mine", [])
            time.sleep(0.05)
            waited += 0.05
        step.join(5)
        assert not step.is_alive()
    finally:
        client.rpc("evm_setAutomine", [True])
    views = [certificate_view(world.core, None, r.digest) for r in results]  # type: ignore[union-attr]
    assert {v["status"] for v in views} == {"anchored"}
    roots = {v["batch"]["root"] for v in views}
    assert len(roots) == 3
    assert len({world.chain.contracts.batch(from_hex(root)).block_number for root in roots}) == blocks


def test_a_batch_due_while_others_wait_for_confirmation_is_sent_at_once(
    world: LabWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker makes batches as a pipeline: one that falls due while another waits for its confirmation is made
    and sent then, not after the other is confirmed. No block is mined until both transactions are in the node's
    pool (or after a pause, so that a worker that waits fails the count rather than hanging)."""
    monkeypatch.setattr(world.core.settings, "batch_max_size", 4)
    monkeypatch.setattr(world.core.settings, "batch_window_seconds", 3600.0)  # due by size only
    monkeypatch.setattr(world.core.settings, "anchor_concurrency", 3)
    first = accept_many(world.core, _lab(world), [Submission(world.record(f"JD2026-6{i:04d}")) for i in range(4)])
    client = world.chain.client

    def pending() -> int:
        return int(client.rpc("txpool_status", [])["pending"], 16)

    def until(condition: Callable[[], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    client.rpc("evm_setAutomine", [False])
    try:
        step = threading.Thread(target=AnchoringWorker(world.core).step)
        step.start()
        assert until(lambda: pending() == 1, 30)  # the first batch is sent, and waits for a block
        second = accept_many(
            world.core, _lab(world), [Submission(world.record(f"JD2026-6{i:04d}")) for i in range(4, 8)]
        )
        both = until(lambda: pending() == 2, 10)
        while step.is_alive():
            client.rpc("evm_mine", [])
            step.join(0.2)
    finally:
        client.rpc("evm_setAutomine", [True])
    assert both, "the second batch waited for the first one's confirmation"
    views = [certificate_view(world.core, None, r.digest) for r in [*first, *second]]  # type: ignore[union-attr]
    assert {v["status"] for v in views} == {"anchored"}
    roots = {v["batch"]["root"] for v in views}
    assert len(roots) == 2
    assert len({world.chain.contracts.batch(from_hex(root)).block_number for root in roots}) == 1
