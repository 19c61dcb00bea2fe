"""The registry's HTTP API end to end on a real chain and database: every endpoint's happy path, idempotency,
the lifecycle, and the anchoring worker run by the app's lifespan."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import segno
from fastapi.testclient import TestClient
from sqlalchemy import select

from registry.anchoring import AnchoringWorker
from registry.api import create_app
from registry.config import RegistrySettings
from registry.db import Certificate, CertificateStatus, Document
from tests.registry.conftest import LabWorld
from tracecert.certificate.bundle import verify_bundle_offline
from tracecert.certificate.canonical import certificate_digest, from_hex, to_hex
from tracecert.certificate.merkle import merkle_root
from tracecert.certificate.model import record_from_json
from tracecert.chain.config import ChainSettings
from tracecert.chain.types import CertificateState, RevocationReason

#: Small limits, so the oversized cases stay cheap (a record is ~2 KB of JSON).
LIMITS: dict[str, Any] = {"max_body_bytes": 64 * 1024, "max_document_bytes": 4096, "bulk_max": 10}
VERIFIER = "https://verify.example.cn"


def app_settings(world: LabWorld, **changes: Any) -> RegistrySettings:
    """The world's settings with the test limits."""
    return world.core.settings.model_copy(update={**LIMITS, "verifier_url": VERIFIER, **changes})


@pytest.fixture
def api(world: LabWorld) -> Iterator[TestClient]:
    """A client of the app serving the world's core, without a worker (tests drain it themselves)."""
    app = create_app(app_settings(world), core=world.core, run_worker=False)
    with TestClient(app) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


def signed(world: LabWorld, record: dict[str, Any]) -> dict[str, Any]:
    """``{"record", "signature"}`` signed by the lab's own key (lab-signing mode)."""
    digest = certificate_digest(record_from_json(record))
    return {
        "record": record,
        "signature": {"key_id": to_hex(world.lab_key.key_id), "value": to_hex(world.lab_key.sign(digest))},
    }


def issue(api: TestClient, world: LabWorld, number: str, **changes: Any) -> dict[str, Any]:
    """Issue a registry-signed certificate; return the answer."""
    response = api.post(
        "/v1/certificates", json={"record": world.record(number, **changes)}, headers=bearer(world.token)
    )
    assert response.status_code == 201, response.json()
    return dict(response.json())


def drain(world: LabWorld) -> None:
    """Anchor everything pending (and put lifecycle operations on chain)."""
    AnchoringWorker(world.core).drain()


def test_issue_read_prove_and_list(api: TestClient, world: LabWorld) -> None:
    first = api.post("/v1/certificates", json={"record": world.record("JD2026-00001")}, headers=bearer(world.token))
    assert first.status_code == 201
    accepted = first.json()
    assert accepted["status"] == "pending" and accepted["created"] is True and accepted["signed_by"] == "REGISTRY"
    assert accepted["lab_id"] == world.lab_id and accepted["certificate_number"] == "JD2026-00001"
    digest = accepted["digest"]

    public = api.get(f"/v1/certificates/{digest}").json()
    assert public["status"] == "pending" and "record" not in public
    by_number = api.get(f"/v1/labs/{world.lab_id}/certificates/JD2026-00001", headers=bearer(world.token)).json()
    assert by_number["digest"] == digest and by_number["record"]["certificate_number"] == "JD2026-00001"

    drain(world)
    for token in (world.token, world.regulator_token):  # the lab and its regulator see the full record
        view = api.get(f"/v1/certificates/{digest}", headers=bearer(token)).json()
        assert view["status"] == "anchored" and view["record"]["customer"]["name"] == "某农贸市场"
    assert "record" not in api.get(f"/v1/certificates/{digest}", headers=bearer(world.other_token)).json()

    for token in (world.token, world.regulator_token):
        bundle = api.get(f"/v1/certificates/{digest}/bundle", headers=bearer(token))
        assert bundle.status_code == 200
        verify_bundle_offline(bundle.json())

    root = api.get(f"/v1/certificates/{digest}").json()["batch"]["root"]
    batch = api.get(f"/v1/batches/{root}").json()
    assert [leaf["digest"] for leaf in batch["leaves"]] == [digest]
    assert to_hex(merkle_root([from_hex(leaf["digest"]) for leaf in batch["leaves"]])) == root
    assert "customer" not in str(batch)

    mine = {"lab_id": world.lab_id, "status": "anchored"}
    listing = api.get("/v1/certificates", params=mine, headers=bearer(world.token)).json()
    assert [item["digest"] for item in listing["items"]] == [digest] and listing["next_cursor"] is None
    # a private certificate: the public does not enumerate it (tests/registry/test_privacy.py has the whole table)
    assert api.get("/v1/certificates", params=mine).json() == {"items": [], "next_cursor": None}


def test_listing_filters_and_cursor(api: TestClient, world: LabWorld) -> None:
    digests = [issue(api, world, f"JD2026-1000{i}", item__serial_number=f"SN-{i % 2}")["digest"] for i in range(5)]
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, "lab_id": world.lab_id}
        params |= {"cursor": cursor} if cursor is not None else {}
        page = api.get("/v1/certificates", params=params, headers=bearer(world.token)).json()
        pages.append([item["digest"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [digests[0:2], digests[2:4], digests[4:]]
    lab = bearer(world.token)
    odd = api.get("/v1/certificates", params={"serial_number": "SN-1"}, headers=lab).json()["items"]
    assert [item["digest"] for item in odd] == [digests[1], digests[3]]
    one = api.get("/v1/certificates", params={"number": "JD2026-10002", "status": "pending"}, headers=lab).json()
    assert [item["digest"] for item in one["items"]] == [digests[2]]
    assert api.get("/v1/certificates", params={"lab_id": world.other_lab_id}, headers=lab).json()["items"] == []
    # without a token, a serial number finds no private certificate
    assert api.get("/v1/certificates", params={"serial_number": "SN-1"}).json()["items"] == []


def test_lab_signed_and_idempotent(api: TestClient, world: LabWorld) -> None:
    body = signed(world, world.record("JD2026-00002"))
    first = api.post("/v1/certificates", json=body, headers=bearer(world.token))
    again = api.post("/v1/certificates", json=body, headers=bearer(world.token))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["signed_by"] == "LAB" and again.json()["created"] is False
    assert (
        first.json()["digest"] == again.json()["digest"] == to_hex(certificate_digest(record_from_json(body["record"])))
    )


def test_multipart_with_the_original_document(api: TestClient, world: LabWorld) -> None:
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 8  # 2 KB of binary, under the 4 KB test limit
    record = world.record(
        "JD2026-00003",
        original_document={"media_type": "application/pdf", "sha256": "0x" + hashlib.sha256(pdf).hexdigest()},
    )
    body = signed(world, record)
    files = {
        "record": (None, _json(body["record"]), "application/json"),
        "signature": (None, _json(body["signature"]), "application/json"),
        "document": ("JD2026-00003.pdf", pdf, "application/pdf"),
    }
    response = api.post("/v1/certificates", files=files, headers=bearer(world.token))
    assert response.status_code == 201 and response.json()["signed_by"] == "LAB"
    with world.core.sessions() as s:
        stored = s.scalar(select(Document).where(Document.digest == response.json()["digest"]))
    assert stored is not None and stored.content == pdf and stored.filename == "JD2026-00003.pdf"
    # The same upload again is the same certificate; the record as a file part and registry signing work too.
    again = api.post("/v1/certificates", files=files, headers=bearer(world.token))
    assert again.status_code == 200 and again.json()["digest"] == response.json()["digest"]
    other = world.record("JD2026-00004")
    as_file = {"record": ("record.json", _json(other).encode(), "application/json")}
    assert api.post("/v1/certificates", files=as_file, headers=bearer(world.token)).status_code == 201


def test_bulk_and_its_retry(api: TestClient, world: LabWorld) -> None:
    items = [{"record": world.record(f"JD2026-2000{i}")} for i in range(4)] + [
        signed(world, world.record("JD2026-20009"))
    ]
    first = api.post("/v1/certificates/bulk", json={"certificates": items}, headers=bearer(world.token))
    assert first.status_code == 200
    body = first.json()
    assert (body["accepted"], body["existing"], body["rejected"]) == (5, 0, 0)
    assert [r["index"] for r in body["results"]] == list(range(5)) and all(r["ok"] for r in body["results"])
    assert body["results"][4]["signed_by"] == "LAB"
    retry = api.post("/v1/certificates/bulk", json={"certificates": items}, headers=bearer(world.token)).json()
    assert (retry["accepted"], retry["existing"], retry["rejected"]) == (0, 5, 0)
    assert [r["digest"] for r in retry["results"]] == [r["digest"] for r in body["results"]]
    drain(world)
    views = [api.get(f"/v1/certificates/{r['digest']}").json() for r in body["results"]]
    assert {v["status"] for v in views} == {"anchored"}


def test_a_bulk_of_rows_with_different_columns_stores_each_as_sent(api: TestClient, world: LabWorld) -> None:
    """Rows leave out what they do not have (the columns' defaults fill it in), so one bulk's rows differ in their
    columns: each is stored with its own values, none with another row's."""
    sha = "0x" + hashlib.sha256(b"%PDF-1.7 bulk").hexdigest()
    bound = world.record("JD2026-21001", original_document={"media_type": "application/pdf", "sha256": sha})
    no_serial = world.record("JD2026-21002")
    no_serial["item"].pop("serial_number")
    no_serial["item"]["asset_number"] = "ZC-0042"
    items = [
        {"record": world.record("JD2026-21000")},
        {"record": bound},
        {"record": no_serial, "public": True},
        signed(world, world.record("JD2026-21003")),
    ]
    response = api.post("/v1/certificates/bulk", json={"certificates": items}, headers=bearer(world.token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["ok"] for r in body["results"]] == [True] * 4, body
    digests = [r["digest"] for r in body["results"]]
    with world.core.sessions() as s:
        rows = {c.digest: c for c in s.scalars(select(Certificate).where(Certificate.digest.in_(digests)))}
    stored = [rows[d] for d in digests]
    assert [c.document_sha256 for c in stored] == [None, sha, None, None]
    serials = [i["record"]["item"].get("serial_number") for i in items]
    assert [s is None for s in serials] == [False, False, True, False]
    assert [c.serial_number for c in stored] == serials
    assert [c.public for c in stored] == [False, False, True, False]
    assert [c.signed_by for c in stored] == ["REGISTRY", "REGISTRY", "REGISTRY", "LAB"]
    assert {c.status for c in stored} == {CertificateStatus.PENDING}
    assert all(c.accepted_at is not None for c in stored)


def _bundle(api: TestClient, digest: str, token: str | None = None) -> Any:
    return api.get(f"/v1/certificates/{digest}/bundle", headers=bearer(token) if token else {})


def test_the_bundle_of_a_published_certificate_is_for_anyone(api: TestClient, world: LabWorld) -> None:
    private = issue(api, world, "JD2026-90001")["digest"]
    body = {"record": world.record("JD2026-90002"), "public": True}
    answer = api.post("/v1/certificates", json=body, headers=bearer(world.token))
    assert answer.status_code == 201 and answer.json()["public"] is True
    public = answer.json()["digest"]
    drain(world)

    refused = _bundle(api, private)  # as before: a private certificate's bundle needs a token
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "UNAUTHORIZED")
    anonymous = _bundle(api, public)
    assert anonymous.status_code == 200
    verify_bundle_offline(anonymous.json())
    # the very bundle its lab, its regulator and any other token holder get
    for token in (world.token, world.regulator_token, world.other_token):
        assert _bundle(api, public, token).json() == anonymous.json()

    # the summary says so, and shows anonymous readers nothing more than before
    view = api.get(f"/v1/certificates/{public}").json()
    assert view["public"] is True and "record" not in view and "signature" not in view
    assert api.get(f"/v1/certificates/{private}").json()["public"] is False
    assert api.get(f"/v1/certificates/{public}", headers=bearer(world.token)).json()["public"] is True
    mine = {"lab_id": world.lab_id}
    listed = {i["digest"]: i["public"] for i in api.get("/v1/certificates", params=mine).json()["items"]}
    assert listed == {public: True}  # the public enumerates published certificates only
    as_lab = api.get("/v1/certificates", params=mine, headers=bearer(world.token)).json()["items"]
    assert {i["digest"]: i["public"] for i in as_lab} == {private: False, public: True}
    assert all("record" not in i for i in api.get("/v1/certificates").json()["items"])


def test_issue_public_as_json_multipart_and_bulk(api: TestClient, world: LabWorld) -> None:
    body = signed(world, world.record("JD2026-91001")) | {"public": True}
    as_json = api.post("/v1/certificates", json=body, headers=bearer(world.token))
    assert as_json.status_code == 201 and as_json.json()["public"] is True and as_json.json()["signed_by"] == "LAB"

    pdf = b"%PDF-1.7 standard"
    bound = {"media_type": "application/pdf", "sha256": "0x" + hashlib.sha256(pdf).hexdigest()}
    multipart = {}
    for number, public in (("JD2026-91002", "true"), ("JD2026-91003", "false")):
        files = {
            "record": (None, _json(world.record(number, original_document=bound)), "application/json"),
            "public": (None, public),
            "document": (f"{number}.pdf", pdf, "application/pdf"),
        }
        response = api.post("/v1/certificates", files=files, headers=bearer(world.token))
        assert response.status_code == 201, response.json()
        multipart[public] = response.json()
    assert (multipart["true"]["public"], multipart["false"]["public"]) == (True, False)

    items = [
        {"record": world.record("JD2026-91004"), "public": True},
        {"record": world.record("JD2026-91005")},
        {"record": world.record("JD2026-91006"), "public": False},
        signed(world, world.record("JD2026-91007")) | {"public": True},
        {"record": world.record("JD2026-91008"), "public": "yes"},  # refused on its own
    ]
    bulk = api.post("/v1/certificates/bulk", json={"certificates": items}, headers=bearer(world.token)).json()
    assert (bulk["accepted"], bulk["existing"], bulk["rejected"]) == (4, 0, 1)
    assert [r.get("public") for r in bulk["results"]] == [True, False, False, True, None]
    assert bulk["results"][4]["error"]["code"] == "REQUEST_INVALID"
    assert bulk["results"][4]["error"]["details"][0]["field"] == "public"

    answers = [as_json.json(), multipart["true"], multipart["false"], *bulk["results"][:4]]
    views = [api.get(f"/v1/certificates/{a['digest']}").json() for a in answers]
    assert [v["public"] for v in views] == [True, True, False, True, False, False, True]


def test_a_retry_publishes_and_false_never_unpublishes(api: TestClient, world: LabWorld) -> None:
    record = world.record("JD2026-92001")
    first = issue(api, world, "JD2026-92001")
    assert first["public"] is False
    digest = first["digest"]

    def again(public: bool | None) -> dict[str, Any]:
        body: dict[str, Any] = {"record": record} | ({} if public is None else {"public": public})
        response = api.post("/v1/certificates", json=body, headers=bearer(world.token))
        assert response.status_code == 200 and response.json()["created"] is False, response.json()
        assert response.json()["digest"] == digest
        return dict(response.json())

    assert again(False)["public"] is False
    assert again(True)["public"] is True  # the same certificate, now published
    assert api.get(f"/v1/certificates/{digest}").json()["public"] is True
    assert again(False)["public"] is True  # once published, never private again
    assert again(None)["public"] is True
    assert api.get(f"/v1/certificates/{digest}").json()["public"] is True

    # In a bulk: a private certificate sent twice, one copy asking for it to be public; and a new one likewise.
    old = {"record": world.record("JD2026-92002")}
    assert issue(api, world, "JD2026-92002")["public"] is False
    new = {"record": world.record("JD2026-92003")}
    items = [old, old | {"public": True}, new, new | {"public": True}, {"record": record, "public": False}]
    bulk = api.post("/v1/certificates/bulk", json={"certificates": items}, headers=bearer(world.token)).json()
    assert (bulk["accepted"], bulk["existing"], bulk["rejected"]) == (1, 4, 0)
    assert [r["public"] for r in bulk["results"]] == [True, True, True, True, True]
    for result in bulk["results"]:
        assert api.get(f"/v1/certificates/{result['digest']}").json()["public"] is True


def test_revoke_by_the_regulator_with_a_named_reason_and_iso_time(api: TestClient, world: LabWorld) -> None:
    digest = issue(api, world, "JD2026-30002")["digest"]
    drain(world)
    body = {"reason": "fraud", "effective_time": "2026-03-01T08:00:00+08:00"}
    response = api.post(f"/v1/certificates/{digest}/revoke", json=body, headers=bearer(world.regulator_token))
    assert response.status_code == 202
    assert response.json()["requested_by"] == "regulator" and response.json()["effective_time"] == 1772323200
    drain(world)
    status = world.chain.contracts.status(from_hex(world.lab_id), from_hex(digest))
    assert (status.state, status.reason, status.effective_time) == (
        CertificateState.REVOKED,
        RevocationReason.FRAUD,
        1772323200,
    )


def test_substitute(api: TestClient, world: LabWorld) -> None:
    old = issue(api, world, "JD2026-40001")["digest"]
    drain(world)
    record = world.record("JD2026-40001-R", replaces={"certificate_number": "JD2026-40001", "certificate_digest": old})
    response = api.post(f"/v1/certificates/{old}/substitute", json={"record": record}, headers=bearer(world.token))
    assert response.status_code == 201
    new = response.json()["digest"]
    assert api.get(f"/v1/certificates/{new}").json()["replaces"] == old
    again = api.post(f"/v1/certificates/{old}/substitute", json={"record": record}, headers=bearer(world.token))
    assert again.status_code == 200 and again.json()["digest"] == new
    drain(world)
    status = world.chain.contracts.status(from_hex(world.lab_id), from_hex(old))
    assert status.state == CertificateState.SUBSTITUTED and status.substituted_by == from_hex(new)
    assert api.get(f"/v1/certificates/{old}").json()["lifecycle"]["replaced_by"] == new


def test_number_reuse_is_a_fraud_signal_for_the_regulator(api: TestClient, world: LabWorld) -> None:
    first = issue(api, world, "JD2026-50001")
    reused = world.record("JD2026-50001", remarks="改过的")
    refused = api.post("/v1/certificates", json={"record": reused}, headers=bearer(world.token))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "NUMBER_REUSE"
    assert refused.json()["error"]["details"]["existing_digest"] == first["digest"]

    signals = api.get("/v1/fraud-signals", headers=bearer(world.regulator_token))
    assert signals.status_code == 200
    [signal] = signals.json()["items"]
    assert signal["kind"] == "NUMBER_REUSE" and signal["existing_digest"] == first["digest"]
    assert signal["attempted_digest"] == refused.json()["error"]["details"]["attempted_digest"]
    assert signal["attempted_record"]["remarks"] == "改过的"
    by_lab = api.get("/v1/fraud-signals", params={"lab_id": world.other_lab_id}, headers=bearer(world.regulator_token))
    assert by_lab.json()["items"] == []
    # A regulator elsewhere (Jiangsu) is not shown the Hangzhou lab's signals.
    _, jiangsu = world.core.issue_token("REGULATOR", regulator_address=world.chain.actor("jiangsu").address)
    assert api.get("/v1/fraud-signals", headers=bearer(jiangsu)).json()["items"] == []


def test_qr_code_points_at_the_verifier(api: TestClient, world: LabWorld) -> None:
    digest = issue(api, world, "JD2026-60001")["digest"]
    response = api.get(f"/v1/certificates/{digest}/qr.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    expected = io.BytesIO()
    segno.make(f"{VERIFIER}/c/{digest}", error="m").save(expected, kind="png", scale=6, border=4)
    assert response.content == expected.getvalue()


def test_health_and_openapi(api: TestClient, world: LabWorld) -> None:
    issue(api, world, "JD2026-70001")
    assert api.get("/health").json() == {
        "status": "ok",
        "chain_id": world.chain.contracts.deployment.chain_id,
        "pending": 1,
    }
    drain(world)
    assert api.get("/health").json()["pending"] == 0
    schema = api.get("/openapi.json").json()
    assert schema["info"]["title"] == "TraceCert registry"
    body = schema["paths"]["/v1/certificates"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert "CertificateIn" in schema["components"]["schemas"] and "SignatureIn" in schema["components"]["schemas"]
    assert schema["components"]["schemas"]["CertificateIn"]["properties"]["public"]["type"] == "boolean"
    assert set(body["multipart/form-data"]["schema"]["properties"]) == {"record", "signature", "public", "document"}
    assert "/v1/certificates/{digest}/publish" in schema["paths"]
    assert api.get("/docs").status_code == 200


def test_the_lifespan_opens_the_core_and_runs_the_worker(world: LabWorld, tmp_path: Path) -> None:
    """No core given: the app opens one from settings (database, chain, deployment file) and its worker thread
    anchors what the API accepted."""
    chain_dir = tmp_path / "chain"
    world.chain.contracts.deployment.save(ChainSettings(data_dir=chain_dir).deployment_file)
    settings = app_settings(world, chain=ChainSettings(data_dir=chain_dir, rpc_url=world.chain.client.url))
    with TestClient(create_app(settings, run_worker=True)) as api:
        digest = issue(api, world, "JD2026-80001")["digest"]
        deadline = time.monotonic() + 30
        while (view := api.get(f"/v1/certificates/{digest}").json())["status"] == "pending":
            assert time.monotonic() < deadline, "not anchored in 30 s"
            time.sleep(0.1)
        assert view["status"] == "anchored" and view["batch"]["tx_hash"]
        core = api.app.state.core  # type: ignore[attr-defined]
        assert core is not world.core
    assert core.engine.pool.checkedout() == 0


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


@pytest.mark.parametrize("path", ["/v1/certificates", "/v1/certificates/bulk"])
def test_a_held_key_that_cannot_be_opened_refuses_the_whole_request(world: LabWorld, path: str) -> None:
    """A registry started with another custody secret cannot open the keys it holds: every item would fail alike,
    so the request is refused as the server's fault (500 CUSTODY_ERROR), not item by item, and nothing is kept."""
    from pydantic import SecretStr

    from registry.core import RegistryCore

    settings = world.core.settings.model_copy(update={"secret": SecretStr("t" * 40)})
    wrong = RegistryCore(settings, world.core.engine, world.chain.contracts)
    app = create_app(app_settings(world), core=wrong, run_worker=False)
    record = world.record("JD2026-CUST1")
    body = {"record": record} if path == "/v1/certificates" else {"certificates": [{"record": record}]}
    with TestClient(app) as client:
        answer = client.post(path, json=body, headers=bearer(world.token))
        assert (answer.status_code, answer.json()["error"]["code"]) == (500, "CUSTODY_ERROR"), answer.text
        assert "t" * 40 not in answer.text
        lookup = client.get(f"/v1/labs/{world.lab_id}/certificates/JD2026-CUST1", headers=bearer(world.token))
        assert lookup.status_code == 404
