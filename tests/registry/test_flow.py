"""The registry's services end to end on a real chain: accept, batch, anchor, prove."""

from __future__ import annotations

import pytest

from registry.anchoring import AnchoringWorker
from registry.core import Principal
from registry.issuance import Submission, accept, accept_many
from registry.lifecycle import batch_listing, bundle, certificate_view, request_revocation
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
