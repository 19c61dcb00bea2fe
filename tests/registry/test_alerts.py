"""Watchlists and alerts on a real chain and database, with webhooks posted over real HTTP to a receiver: who hears
of a revocation (the owner of an instrument whose certificate depends on the revoked standard, an enterprise
watching a supplier's certificate; nobody else), once per event even when the producer runs again after a crash,
signed with the published key, retried after a failure; expiry, a lab's suspension and sanction."""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from registry.alerting import AlertProducer, AlertSender
from registry.alerts import public_address, verify_delivery, webhook_client
from registry.api import create_app
from registry.config import RegistrySettings
from registry.core import RegistryCore
from registry.db import Certificate, Lab, LifecycleOp, make_engine, migrate
from registry.db_enterprises import AlertRow, Delivery, Enterprise, Watch, Webhook
from tests.conftest import serving
from tests.registry.conftest import LabWorld
from tests.registry.test_api import app_settings, bearer, drain, issue
from tracecert.certificate.canonical import from_hex
from tracecert.chain.types import SanctionKind, SanctionReason
from tracecert_app.story import usci

OWNER = usci("91330106MA27XK5L3")  # owns the scale the lab's records are about
BUYER = usci("91330105MA28LT6B4")  # relies on a supplier's certificate
BYSTANDER = usci("91330104MA2H7Q9D1")  # watches nothing that changes


@dataclass
class Receiver:
    """A webhook receiver: every post it got (headers, body); ``fail`` first answers it gives instead of 204."""

    url: str = ""
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_path(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        """The posts to ``path``."""
        return [(h, b) for h, b in self.posts if h["x-path"] == path]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """One receiver served over HTTP for the module; emptied by each test."""
    got = Receiver()
    app = FastAPI()

    @app.post("/hook/{name}")
    async def hook(name: str, request: Request) -> Response:
        body = await request.body()
        with got.lock:
            got.posts.append(({k.lower(): v for k, v in request.headers.items()} | {"x-path": name}, body))
            status = got.fail.pop(0) if got.fail else 204
        return Response(status_code=status)

    with serving(app, "webhook receiver") as url:
        got.url = url
        yield got


@pytest.fixture
def api(world: LabWorld, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The world's app; webhooks may point at the local receiver."""
    receiver.posts.clear()
    receiver.fail.clear()
    monkeypatch.setattr(world.core, "settings", world.core.settings.model_copy(update={"webhook_allow_private": True}))
    app = create_app(app_settings(world), core=world.core, run_worker=False)
    with TestClient(app) as client:
        yield client


def _enterprise(api: TestClient, world: LabWorld, code: str, receiver: Receiver) -> dict[str, str]:
    """An enterprise onboarded by the regulator with a webhook to the receiver at /hook/{code}; its headers."""
    regulator = bearer(world.regulator_token)
    made = api.post("/v1/enterprises", json={"usci": code, "name": f"企业{code[-4:]}"}, headers=regulator)
    headers = bearer(made.json()["token"])
    assert api.post("/v1/webhooks", json={"url": f"{receiver.url}/hook/{code}"}, headers=headers).status_code == 200
    return headers


def _scale(world: LabWorld) -> dict[str, Any]:
    item = world.record()["item"]
    return {
        "category": item["name"],
        "use": "TRADE",
        "manufacturer": item["manufacturer"],
        "model": item["model"],
        "serial_number": item["serial_number"],
        "site": "门店",
        "site_region": 330106,
        "period_months": 12,
    }


def _send(world: LabWorld) -> int:
    with httpx.Client(timeout=5) as client:
        return AlertSender(world.core).send_due(client)


def _nmi_token(world: LabWorld) -> dict[str, str]:
    _, token = world.core.issue_token("LAB", lab_id=world.standard["record"]["lab"]["lab_id"], label="NMI")
    return bearer(token)


def test_a_revoked_standard_reaches_each_watcher_once_signed(
    api: TestClient, world: LabWorld, receiver: Receiver
) -> None:
    owner = _enterprise(api, world, OWNER, receiver)
    buyer = _enterprise(api, world, BUYER, receiver)
    bystander = _enterprise(api, world, BYSTANDER, receiver)
    # The owner's scale is verified by the lab (its certificate cites the NMI's weights); the buyer watches a
    # supplier's certificate (another of the lab's, for another instrument); the bystander registered a scale no
    # certificate is about.
    mine = issue(api, world, "JD2026-W0001")["digest"]
    supplier = issue(api, world, "JD2026-W0002", item__serial_number="S-2", item__manufacturer="另一厂")["digest"]
    drain(world)
    assert api.post("/v1/instruments", json={"instruments": [_scale(world)]}, headers=owner).json()["created"] == 1
    assert api.post("/v1/watches", json={"digests": [supplier], "note": "供应商"}, headers=buyer).json()["added"] == 1
    theirs = _scale(world) | {"serial_number": "NOT-VERIFIED-YET"}
    assert api.post("/v1/instruments", json={"instruments": [theirs]}, headers=bystander).json()["created"] == 1
    # The NMI revokes its weights' certificate.
    standard = world.standard["digest"]
    assert api.post(f"/v1/certificates/{standard}/revoke", json={"reason": 1}, headers=_nmi_token(world)).is_success
    drain(world)
    assert _send(world) == 2
    key = api.get("/v1/alerts/key").json()
    assert len(receiver.posts) == 2
    for code, expected in ((OWNER, mine), (BUYER, supplier)):
        [(headers, body)] = receiver.by_path(code)
        assert verify_delivery(key["public_key"], headers, body)
        assert not verify_delivery(key["public_key"], headers, body.replace(b"STANDARD", b"STANDARX"))
        alert = httpx.Response(200, content=body).json()
        assert alert["type"] == "STANDARD_REVOKED" and alert["type_name"]["zh"] == "所依赖的计量标准证书已被撤销"
        assert alert["event"]["certificate"]["digest"] == standard
        assert alert["event"]["reason"]["zh"]  # the reason by name
        assert [a["digest"] for a in alert["affected"]] == [expected]
        assert headers["tracecert-alert-id"] == str(alert["id"])
    assert receiver.by_path(BYSTANDER) == []
    # The feed says the same, with the delivery delivered; the bystander's is empty.
    items = api.get("/v1/alerts", headers=owner).json()["items"]
    assert [(i["type"], i["deliveries"]) for i in items] == [("STANDARD_REVOKED", ["DELIVERED"])]
    assert api.get("/v1/alerts", headers=bystander).json()["items"] == []
    # A producer that ran again after a crash (the operation not yet marked): nothing is alerted twice.
    with world.core.sessions.begin() as s:
        s.execute(update(LifecycleOp).values(alerted_at=None))
    assert AlertProducer(world.core).run(force=True) == 0
    assert _send(world) == 0 and len(receiver.posts) == 2


def test_a_failed_post_is_retried_with_the_same_id(api: TestClient, world: LabWorld, receiver: Receiver) -> None:
    owner = _enterprise(api, world, OWNER, receiver)
    digest = issue(api, world, "JD2026-W0010")["digest"]
    drain(world)
    api.post("/v1/instruments", json={"instruments": [_scale(world)]}, headers=owner)
    assert api.post(f"/v1/certificates/{digest}/revoke", json={"reason": 1}, headers=bearer(world.token)).is_success
    receiver.fail.append(503)
    drain(world)
    assert _send(world) == 1
    with world.core.sessions() as s:
        delivery = s.scalar(select(Delivery))
        assert delivery is not None
        assert (delivery.state, delivery.attempts, delivery.last_error) == ("PENDING", 1, "HTTP 503")
        assert delivery.next_attempt_at.replace(tzinfo=dt.UTC) > dt.datetime.now(dt.UTC)  # backing off
    assert _send(world) == 0  # not due yet
    with world.core.sessions.begin() as s:
        s.execute(update(Delivery).values(next_attempt_at=dt.datetime.now(dt.UTC)))
    assert _send(world) == 1
    ids = [h["tracecert-alert-id"] for h, _ in receiver.by_path(OWNER)]
    assert len(ids) == 2 and len(set(ids)) == 1
    first = httpx.Response(200, content=receiver.posts[0][1]).json()
    assert first["type"] == "CERTIFICATE_REVOKED"
    assert api.get("/v1/alerts", headers=owner).json()["items"][0]["deliveries"] == ["DELIVERED"]


def test_expiry_suspension_and_sanction_are_alerted_once(api: TestClient, world: LabWorld, receiver: Receiver) -> None:
    buyer = _enterprise(api, world, BUYER, receiver)
    soon = issue(api, world, "JD2026-W0020", dates__valid_until=world.day(20))["digest"]
    drain(world)
    assert api.post("/v1/watches", json={"digests": [soon]}, headers=buyer).status_code == 200
    producer = AlertProducer(world.core)
    assert producer.run(force=True) == 1
    assert producer.run(force=True) == 0
    lab = from_hex(world.lab_id)
    world.chain.contracts.record_sanction(
        world.province, lab, SanctionKind.WARNING, SanctionReason.FALSE_CERTIFICATE, "浙市监罚〔2026〕9号",
        hashlib.sha256(b"decision").digest(), world.chain.now(),
    )  # fmt: skip
    world.chain.contracts.suspend_lab(world.province, lab)
    world.core.forget_chain_answers()
    assert producer.run(force=True) == 2
    assert producer.run(force=True) == 0
    kinds = [i["type"] for i in api.get("/v1/alerts", headers=buyer).json()["items"]]
    assert kinds == ["CERTIFICATE_EXPIRING", "LAB_SUSPENDED", "LAB_SANCTIONED"]
    feed = api.get("/v1/alerts", headers=buyer).json()["items"]
    assert feed[2]["event"]["sanction"]["zh"] and feed[1]["event"]["status"]["code"] == "SUSPENDED"
    with world.core.sessions() as s:
        assert len(list(s.scalars(select(AlertRow)))) == 3


def test_an_enterprise_relying_on_a_lab_during_its_suspension_hears_of_it_once(
    api: TestClient, world: LabWorld, receiver: Receiver
) -> None:
    """The lab is suspended while the buyer watches one of its certificates: the buyer hears of it. The owner
    begins watching another of its certificates during the suspension: it hears of it at the next scan, once;
    the buyer does not hear of it again."""
    buyer = _enterprise(api, world, BUYER, receiver)
    owner = _enterprise(api, world, OWNER, receiver)
    first = issue(api, world, "JD2026-W0030")["digest"]
    second = issue(api, world, "JD2026-W0031")["digest"]
    drain(world)
    assert api.post("/v1/watches", json={"digests": [first]}, headers=buyer).status_code == 200
    world.chain.contracts.suspend_lab(world.province, from_hex(world.lab_id))
    world.core.forget_chain_answers()
    producer = AlertProducer(world.core)
    assert producer.run(force=True) == 1  # the buyer
    assert api.post("/v1/watches", json={"digests": [second]}, headers=owner).status_code == 200
    assert producer.run(force=True) == 1  # the owner, who relies on the lab from now on
    assert producer.run(force=True) == 0

    def suspensions(headers: dict[str, str]) -> list[str]:
        feed = api.get("/v1/alerts", headers=headers).json()["items"]
        return [a["event"]["lab_id"] for a in feed if a["type"] == "LAB_SUSPENDED"]

    assert (suspensions(buyer), suspensions(owner)) == ([world.lab_id], [world.lab_id])


BAD_WEBHOOKS = {
    "ftp": ("ftp://example.com/x", "WEBHOOK_URL_INVALID"),
    "no-host": ("http:///x", "WEBHOOK_URL_INVALID"),
    "credentials": ("https://user:pw@example.com/", "WEBHOOK_URL_INVALID"),
    "loopback": ("http://127.0.0.1:9/x", "WEBHOOK_URL_PRIVATE"),
    "private": ("http://10.1.2.3/x", "WEBHOOK_URL_PRIVATE"),
    "link-local": ("http://169.254.169.254/latest", "WEBHOOK_URL_PRIVATE"),
    "unclosed-ipv6-bracket": ("http://[::1/x", "WEBHOOK_URL_INVALID"),
    "empty-label": ("http://a..example.com/x", "WEBHOOK_URL_INVALID"),
    "label-too-long": (f"https://{'a' * 64}.example.com/x", "WEBHOOK_URL_INVALID"),
}


@pytest.mark.parametrize("case", list(BAD_WEBHOOKS))
def test_webhooks_to_odd_or_private_places_are_refused(
    api: TestClient, world: LabWorld, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    headers = _enterprise(api, world, OWNER, receiver)
    monkeypatch.setattr(world.core, "settings", world.core.settings.model_copy(update={"webhook_allow_private": False}))
    url, code = BAD_WEBHOOKS[case]
    refused = api.post("/v1/webhooks", json={"url": url}, headers=headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, code)


def test_watches_are_an_enterprises_and_name_known_certificates(
    api: TestClient, world: LabWorld, receiver: Receiver
) -> None:
    headers = _enterprise(api, world, OWNER, receiver)
    unknown = "0x" + "ab" * 32
    refused = api.post("/v1/watches", json={"digests": [unknown]}, headers=headers)
    assert refused.json()["error"]["code"] == "UNKNOWN_CERTIFICATE"
    assert refused.json()["error"]["details"][0]["message"] == unknown
    lab = api.post("/v1/watches", json={"digests": [world.standard["digest"]]}, headers=bearer(world.token))
    assert lab.json()["error"]["code"] == "NOT_AN_ENTERPRISE"
    assert api.post("/v1/watches", json={"digests": [world.standard["digest"]]}, headers=headers).json()["added"] == 1
    assert [w["digest"] for w in api.get("/v1/watches", headers=headers).json()["items"]] == [world.standard["digest"]]
    assert api.delete(f"/v1/watches/{world.standard['digest']}", headers=headers).status_code == 204
    gone = api.delete(f"/v1/watches/{world.standard['digest']}", headers=headers)
    assert gone.json()["error"]["code"] == "NOT_WATCHED"


def test_a_sanction_from_before_the_enterprise_relied_on_the_lab_is_not_alerted(
    api: TestClient, world: LabWorld, receiver: Receiver
) -> None:
    """"A sanction recorded against it after the watch began": the watch of that lab's certificate, not the
    enterprise's first watch of anything."""
    buyer = _enterprise(api, world, BUYER, receiver)
    standard = world.standard["digest"]  # the NMI's: watched long before
    assert api.post("/v1/watches", json={"digests": [standard]}, headers=buyer).status_code == 200
    lab = from_hex(world.lab_id)
    world.chain.contracts.record_sanction(
        world.province, lab, SanctionKind.WARNING, SanctionReason.FALSE_CERTIFICATE, "浙市监罚〔2026〕10号",
        hashlib.sha256(b"decision").digest(), world.chain.now(),
    )  # fmt: skip
    world.core.forget_chain_answers()
    [sanction] = world.core.chain.sanctions(lab)
    # Later, the buyer starts relying on a certificate of the sanctioned lab.
    supplier = issue(api, world, "JD2026-W0030", item__serial_number="S-30")["digest"]
    drain(world)
    assert api.post("/v1/watches", json={"digests": [supplier]}, headers=buyer).status_code == 200

    def watched_at(digest: str, moment: int) -> None:
        with world.core.sessions.begin() as s:
            s.execute(
                update(Watch).where(Watch.digest == digest).values(created_at=dt.datetime.fromtimestamp(moment, dt.UTC))
            )

    watched_at(standard, sanction.recorded_at - 86_400)
    watched_at(supplier, sanction.recorded_at + 3_600)
    producer = AlertProducer(world.core)
    producer.run(force=True)

    def sanctioned() -> list[dict[str, Any]]:
        items = api.get("/v1/alerts", headers=buyer).json()["items"]
        return [i for i in items if i["type"] == "LAB_SANCTIONED"]

    assert sanctioned() == []
    # Had it watched the lab's certificate before the sanction, it would have heard of it, once.
    watched_at(supplier, sanction.recorded_at - 3_600)
    producer.run(force=True)
    producer.run(force=True)
    assert [(a["event"]["lab_id"], [i["digest"] for i in a["affected"]]) for a in sanctioned()] == [
        (world.lab_id, [supplier])
    ]


class _FixedDay(RegistryCore):
    """A registry core without a chain whose clock reads noon of a fixed day in China."""

    def chain_now(self) -> int:
        return int(dt.datetime(2026, 3, 15, 12, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp())


def test_an_expiry_scan_over_more_certificates_than_a_statement_carries_alerts(
    database_url: str, tmp_path: Path
) -> None:
    """The expiry scan of a large registry: more watched certificates expiring than one SQL statement may carry
    parameters (PostgreSQL: 65,535), all revoked but five; the five are alerted, once each."""
    engine = make_engine(database_url)
    migrate(engine)
    settings = RegistrySettings(data_dir=tmp_path, database_url=database_url, secret="s" * 40)  # type: ignore[arg-type]
    core = _FixedDay(settings, engine, None)
    n, lab, now = 66_000, "0x" + "1a" * 32, dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    digests = [f"0x{i:064x}" for i in range(n)]
    with engine.begin() as c:
        c.execute(insert(Lab), [{"lab_id": lab, "code": "L", "name": "某检定所", "writer_address": "0x" + "2b" * 20,
                                 "created_at": now}])  # fmt: skip
        c.execute(insert(Enterprise), [{"usci": BUYER, "name": "某企业", "region": 330105, "state": "CONFIRMED",
                                        "registered_at": now}])  # fmt: skip
        c.execute(insert(Certificate), [{"digest": d, "lab_id": lab, "certificate_number": f"JD-{i}",
                                         "kind": "VERIFICATION", "category_code": "0201", "issue_date": "2025-03-26",
                                         "valid_until": "2026-03-25", "record_json": "{}", "key_id": "0x" + "00" * 32,
                                         "signature": "0x" + "00" * 64, "signed_by": "REGISTRY", "status": "ANCHORED",
                                         "accepted_at": now, "public": False}
                                        for i, d in enumerate(digests)])  # fmt: skip
        c.execute(insert(Watch), [{"usci": BUYER, "digest": d, "note": "", "created_at": now} for d in digests])
        c.execute(insert(LifecycleOp), [{"op": "REVOKE", "lab_id": lab, "digest": d, "reason": 1, "effective_time": 0,
                                         "requested_by": "LAB", "state": "DONE", "block_timestamp": 1,
                                         "created_at": now, "alerted_at": now, "covered_at": now}
                                        for d in digests[5:]])  # fmt: skip
    try:
        assert AlertProducer(core)._expiring() == 5
        assert AlertProducer(core)._expiring() == 0
        with core.sessions() as s:
            alerted = sorted(row.payload["event"]["certificate"]["digest"] for row in s.scalars(select(AlertRow)))
    finally:
        engine.dispose()
    assert alerted == digests[:5]


def test_a_revocation_effective_beyond_the_calendar_breaks_neither_the_index_nor_the_alerts(
    api: TestClient, world: LabWorld, receiver: Receiver
) -> None:
    """A revocation whose effective time (any Unix time the API and the chain take) is after the year 9999: the
    anchoring worker's step (the coverage index, then the alert producer) goes on; the owner hears of it; the
    instrument stays in force, the revocation not having taken effect on any day there is."""
    owner = _enterprise(api, world, OWNER, receiver)
    digest = issue(api, world, "JD2026-W0040")["digest"]
    drain(world)
    instrument_id = api.post("/v1/instruments", json={"instruments": [_scale(world)]}, headers=owner).json()[
        "instruments"
    ][0]
    far = 2**62
    revoked = api.post(
        f"/v1/certificates/{digest}/revoke", json={"reason": 1, "effective_time": far}, headers=bearer(world.token)
    )
    assert revoked.status_code == 202, revoked.text
    drain(world)
    [alert] = api.get("/v1/alerts", headers=owner).json()["items"]
    assert (alert["type"], alert["event"]["certificate"]["digest"]) == ("CERTIFICATE_REVOKED", digest)
    assert alert["event"]["effective"] == f"Unix time {far}"
    state = api.get(f"/v1/instruments/{instrument_id}", headers=owner).json()["due"]["state"]
    assert state == "IN_FORCE"
    figures = api.get("/v1/coverage", params={"region": 330106}, headers=bearer(world.regulator_token)).json()
    assert figures["totals"]["in_force"] == 1


def test_a_delivery_to_a_webhook_removed_meanwhile_is_given_up_not_posted(
    api: TestClient, world: LabWorld, receiver: Receiver
) -> None:
    owner = _enterprise(api, world, OWNER, receiver)
    digest = issue(api, world, "JD2026-W0900")["digest"]
    drain(world)
    api.post("/v1/instruments", json={"instruments": [_scale(world)]}, headers=owner)
    assert api.post(f"/v1/certificates/{digest}/revoke", json={"reason": 1}, headers=bearer(world.token)).is_success
    drain(world)  # the alert and its delivery are written
    with world.core.sessions.begin() as s:  # the webhook removed as they were (remove_webhook ran just before)
        s.execute(update(Webhook).values(active=False))
    assert _send(world) == 1
    assert receiver.by_path(OWNER) == []
    with world.core.sessions() as s:
        delivery = s.scalar(select(Delivery))
        assert delivery is not None
        assert (delivery.state, delivery.last_error) == ("FAILED", "webhook removed")


@pytest.mark.parametrize(
    ("allow_private", "reached"),
    [(False, False), (True, True)],
    ids=["public only: refused at connect", "private allowed (tests, an intranet): reached"],
)
def test_a_webhook_name_rebinding_to_a_private_address_is_not_reached(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, allow_private: bool, reached: bool
) -> None:
    """DNS rebinding: the webhook's name answers a public address to the registry's check, then the receiver's
    loopback address. The webhook client connects only to an address it checked for that very connection, so the
    post never reaches inside; allowed to reach private addresses, the same post arrives (the test can tell)."""
    receiver.posts.clear()
    port, real, asked = int(str(httpx.URL(receiver.url).port)), socket.getaddrinfo, []

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.rebind.example":
            return real(host, *args, **kwargs)
        asked.append(host)
        address = "93.184.215.14" if len(asked) == 1 else "127.0.0.1"  # public first, then inside
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    assert public_address("hooks.rebind.example")  # what the registry checked
    with webhook_client(allow_private, 5) as client:
        try:
            status = client.post(f"http://hooks.rebind.example:{port}/hook/rebound", content=b"{}").status_code
        except httpx.ConnectError as exc:
            status = 0
            assert "non-public" in str(exc)
    assert (status, len(receiver.by_path("rebound"))) == ((204, 1) if reached else (0, 0))
