"""Certificates accepted around a suspension (issue 9, defect 4): a batch the chain refuses because the lab may not
anchor *now* waits with a named reason and is anchored once the lab may again; a refusal for good fails with an
actionable reason; resubmitting a failed certificate queues it again; and a number whose certificate never reached
the chain may be issued again with corrected content, without NUMBER_REUSE or a fraud signal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from registry.anchoring import AnchoringWorker
from registry.api import create_app
from registry.db import Batch, Certificate, FraudSignal
from tests.registry.conftest import LabWorld
from tracecert.certificate.canonical import from_hex, to_hex


@pytest.fixture
def api(world: LabWorld) -> Iterator[TestClient]:
    """The world's registry app, without a worker (the tests step it)."""
    with TestClient(create_app(world.core.settings, core=world.core, run_worker=False)) as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _issue(api: TestClient, world: LabWorld, number: str, **changes: Any) -> dict[str, Any]:
    response = api.post("/v1/certificates", json={"record": world.record(number, **changes)},
                        headers=_bearer(world.token))  # fmt: skip
    assert response.status_code == 201, response.json()
    return dict(response.json())


def _view(api: TestClient, world: LabWorld, digest: str) -> dict[str, Any]:
    response = api.get(f"/v1/certificates/{digest}", headers=_bearer(world.token))
    assert response.status_code == 200, response.json()
    return dict(response.json())


def _lab(world: LabWorld) -> bytes:
    return from_hex(world.lab_id)


def _anchored_batches(world: LabWorld) -> list[str]:
    with world.core.sessions() as s:
        return list(s.scalars(select(Batch.root).where(Batch.lab_id == world.lab_id, Batch.state == "ANCHORED")))


def _signals(world: LabWorld) -> int:
    with world.core.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(FraudSignal)) or 0)


#: What happens on chain between acceptance and anchoring, how the certificates end up after a worker pass
#: (status and reason code), and what undoes it (None: nothing can, the certificates stay failed).
REFUSALS: dict[str, tuple[Callable[[LabWorld], Any], str, str, Callable[[LabWorld], Any] | None]] = {
    "lab-suspended": (
        lambda w: w.chain.contracts.suspend_lab(w.province, _lab(w)),
        "waiting",
        "LAB_SUSPENDED",
        lambda w: w.chain.contracts.reinstate_lab(w.province, _lab(w)),
    ),
    "writer-removed": (
        lambda w: w.chain.contracts.remove_writer(w.admin, _lab(w), w.core.lab(w.lab_id).writer_address),
        "waiting",
        "WRITER_NOT_ENABLED",
        lambda w: w.chain.contracts.add_writer(w.admin, _lab(w), w.core.lab(w.lab_id).writer_address),
    ),
    "lab-revoked": (
        lambda w: w.chain.contracts.revoke_lab(w.province, _lab(w)),
        "failed",
        "LAB_REVOKED",
        None,
    ),
    "key-closed": (
        lambda w: w.chain.contracts.close_key(w.admin, from_hex(w.held_key_id)),
        "failed",
        "KEY_NOT_VALID",
        None,
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refused_batch_waits_or_fails_with_a_reason(api: TestClient, world: LabWorld, case: str) -> None:
    act, status, code, undo = REFUSALS[case]
    digests = [_issue(api, world, f"JD2026-W{i:04d}")["digest"] for i in range(3)]
    act(world)
    worker = AnchoringWorker(world.core)
    worker.drain()
    for digest in digests:
        view = _view(api, world, digest)
        assert (view["status"], view["reason"]["code"]) == (status, code), view
        assert view["reason"]["message"] and view["reason"]["retrying"] is (status == "waiting")
    mine = {"lab_id": world.lab_id, "status": status}
    listed = api.get("/v1/certificates", params=mine, headers=_bearer(world.token)).json()["items"]
    assert sorted(i["digest"] for i in listed) == sorted(digests)
    worker.drain()  # still refused: nothing changes, and nothing is sent
    assert {_view(api, world, d)["status"] for d in digests} == {status}
    assert _anchored_batches(world) == []
    if undo is None:
        return

    undo(world)
    world.core.forget_chain_answers()
    if status == "waiting":  # until anchored it may still reach the chain: its number stays taken
        other = api.post("/v1/certificates", json={"record": world.record("JD2026-W0000", remarks="x")},
                         headers=_bearer(world.token))  # fmt: skip
        assert (other.status_code, other.json()["error"]["code"]) == (409, "NUMBER_REUSE")
    worker.drain()
    views = [_view(api, world, d) for d in digests]
    assert [v["status"] for v in views] == ["anchored"] * 3 and all(v["reason"] is None for v in views)
    [root] = _anchored_batches(world)  # anchored exactly once, all three in one batch
    assert {v["batch"]["root"] for v in views} == {root}
    info = world.chain.contracts.batch(from_hex(root))
    assert to_hex(info.lab_id) == world.lab_id and info.count == 3
    assert worker.step(force=True).anchored == 0 and _anchored_batches(world) == [root]


def test_a_waiting_batch_fails_when_the_lab_is_revoked_while_it_waits(api: TestClient, world: LabWorld) -> None:
    digest = _issue(api, world, "JD2026-W1001")["digest"]
    world.chain.contracts.suspend_lab(world.province, _lab(world))
    worker = AnchoringWorker(world.core)
    worker.drain()
    assert _view(api, world, digest)["reason"]["code"] == "LAB_SUSPENDED"
    world.chain.contracts.revoke_lab(world.province, _lab(world))
    worker.drain()
    view = _view(api, world, digest)
    assert (view["status"], view["reason"]["code"], view["reason"]["retrying"]) == ("failed", "LAB_REVOKED", False)


def test_the_waiting_worker_asks_the_chain_only_now_and_then(world: LabWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """Waiting batches are checked with a read (no transaction), at most once per recheck interval."""
    from registry.issuance import Submission, accept

    accept(world.core, world.core.authenticate(world.token), Submission(world.record("JD2026-W2001")))
    world.chain.contracts.suspend_lab(world.province, _lab(world))
    worker = AnchoringWorker(world.core)
    worker.drain()
    sent: list[str] = []
    sender = world.core.sender_for(world.core.lab(world.lab_id).writer_address)
    original = sender.send
    monkeypatch.setattr(sender, "send", lambda *a, **k: sent.append("tx") or original(*a, **k))
    for _ in range(5):
        worker.step()
    assert sent == []
    with world.core.sessions() as s:
        assert s.scalar(select(Certificate.status).where(Certificate.certificate_number == "JD2026-W2001")) == "WAITING"


def test_resubmitting_a_failed_certificate_queues_it_again(api: TestClient, world: LabWorld) -> None:
    """The registry's key was closed after acceptance: the certificate failed. With a new key held, sending it
    again re-signs and queues it; it is then anchored."""
    record = world.record("JD2026-W3001")
    digest = _issue(api, world, "JD2026-W3001")["digest"]
    world.chain.contracts.close_key(world.admin, from_hex(world.held_key_id))
    worker = AnchoringWorker(world.core)
    worker.drain()
    assert _view(api, world, digest)["status"] == "failed"
    held = world.core.new_held_signing_key(world.lab_id)
    world.chain.contracts.register_key(world.admin, _lab(world), held.public_key)

    again = api.post("/v1/certificates", json={"record": record}, headers=_bearer(world.token))
    assert again.status_code == 201, again.json()
    answer = again.json()
    assert (answer["digest"], answer["status"], answer["created"], answer["requeued"]) == (
        digest, "pending", False, True)  # fmt: skip
    view = _view(api, world, digest)
    assert (view["status"], view["reason"], view["key_id"]) == ("pending", None, to_hex(held.key_id))
    worker.drain()
    assert _view(api, world, digest)["status"] == "anchored"
    idempotent = api.post("/v1/certificates", json={"record": record}, headers=_bearer(world.token)).json()
    assert (idempotent["created"], idempotent["requeued"], idempotent["status"]) == (False, False, "anchored")


def test_a_failed_number_may_be_reused_with_corrected_content(api: TestClient, world: LabWorld) -> None:
    failed = _issue(api, world, "JD2026-W4001")["digest"]
    world.chain.contracts.close_key(world.admin, from_hex(world.held_key_id))
    worker = AnchoringWorker(world.core)
    worker.drain()
    held = world.core.new_held_signing_key(world.lab_id)
    world.chain.contracts.register_key(world.admin, _lab(world), held.public_key)

    corrected = {"record": world.record("JD2026-W4001", remarks="更正")}
    response = api.post("/v1/certificates", json=corrected, headers=_bearer(world.token))
    assert response.status_code == 201, response.json()
    new = response.json()["digest"]
    assert new != failed and response.json()["created"] is True
    assert _signals(world) == 0
    old = _view(api, world, failed)  # kept for audit, superseded
    assert (old["status"], old["superseded_by"], old["reason"]["code"]) == ("superseded", new, "KEY_NOT_VALID")
    by_number = api.get(f"/v1/labs/{world.lab_id}/certificates/JD2026-W4001").json()
    assert by_number["digest"] == new
    worker.drain()
    assert _view(api, world, new)["status"] == "anchored"

    # The number is taken again now: other content is number reuse as before, and sending the superseded content
    # again does not bring it back.
    third = api.post("/v1/certificates", json={"record": world.record("JD2026-W4001", remarks="第三版")},
                     headers=_bearer(world.token))  # fmt: skip
    assert (third.status_code, third.json()["error"]["code"]) == (409, "NUMBER_REUSE")
    original = api.post("/v1/certificates", json={"record": world.record("JD2026-W4001")},
                        headers=_bearer(world.token))  # fmt: skip
    assert original.status_code == 200, original.json()
    assert (original.json()["digest"], original.json()["status"]) == (failed, "superseded")
    assert _signals(world) == 1


def test_a_certificate_that_waited_too_long_fails_with_anchor_lag(api: TestClient, world: LabWorld) -> None:
    """A suspension that outlasts the days verifiers allow between issue and anchoring: anchored after it, a
    certificate would be INVALID (ANCHOR_LAG, backdating suspected). The worker fails it with that reason instead,
    and puts the batch's younger certificates back to be anchored when the lab may anchor again."""
    import datetime as dt

    from registry.anchoring import ANCHOR_LAG_MARGIN_SECONDS

    older = _issue(api, world, "JD2026-L0001", dates__issue_date=world.day(-1))["digest"]
    younger = _issue(api, world, "JD2026-L0002")["digest"]
    world.chain.contracts.suspend_lab(world.province, _lab(world))
    worker = AnchoringWorker(world.core)
    worker.drain()
    assert {_view(api, world, d)["status"] for d in (older, younger)} == {"waiting"}
    first_root = _view(api, world, younger)["batch"]["root"]

    # just past the older one's last moment (less the margin), well before the younger one's (a day later)
    policy = world.core.rules.verifier.policy
    last = policy.last_anchor_time(dt.date.fromisoformat(world.day(-1)))
    world.chain.advance(last - ANCHOR_LAG_MARGIN_SECONDS + 60 - world.chain.now())
    world.core.forget_chain_answers()
    worker.drain()
    view = _view(api, world, older)
    assert (view["status"], view["reason"]["code"], view["reason"]["retrying"]) == ("failed", "ANCHOR_LAG", False)
    assert "backdated" in view["reason"]["message"]
    again = _view(api, world, younger)  # batched again without the late one; the lab is still suspended
    assert again["status"] == "waiting" and again["batch"]["root"] != first_root and again["batch"]["size"] == 1

    world.chain.contracts.reinstate_lab(world.province, _lab(world))
    world.core.forget_chain_answers()
    worker.drain()
    assert _view(api, world, younger)["status"] == "anchored"
    assert _view(api, world, older)["status"] == "failed"  # never anchored late
