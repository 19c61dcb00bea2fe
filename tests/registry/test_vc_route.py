"""GET /v1/certificates/{digest}/vc on a real chain and database: the same access rules as the bundle, proved with
the lab's key the registry holds (and then verified by the verifier as a key of the lab), served without a proof
(said so) when the registry holds no valid key of the lab, and proved afterwards with the lab's own key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from registry.anchoring import AnchoringWorker
from registry.api import create_app
from registry.api.routes.certificates import PROOF_HEADER
from tests.registry.conftest import LabWorld
from tests.registry.test_api import app_settings, bearer, signed
from tracecert.certificate.bundle import parse_bundle
from tracecert.certificate.canonical import from_hex, to_hex
from tracecert.certificate.signing import key_id
from tracecert.certificate.vc import build_credential, did_key, read_credential
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.report import Outcome
from tracecert.verification.sources import MemorySource
from verifier.inputs import input_from_json


@pytest.fixture
def api(world: LabWorld) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings(world), core=world.core, run_worker=False)) as client:
        yield client


def _issue(api: TestClient, world: LabWorld, body: dict[str, Any], *, public: bool = False) -> str:
    response = api.post("/v1/certificates", json={**body, "public": public}, headers=bearer(world.token))
    assert response.status_code == 201, response.json()
    return str(response.json()["digest"])


def _verifier(world: LabWorld) -> Verifier:
    return Verifier(LiveChainView(world.chain.contracts), MemorySource([world.standard]))


def _key_outcomes(job_report: Any) -> list[Outcome]:
    return [c.outcome for c in job_report.checks if c.code in ("KEY_OF_LAB", "VC_PROOF")]


def test_credential_proved_with_the_held_key(api: TestClient, world: LabWorld) -> None:
    digest = _issue(api, world, {"record": world.record("JD2026-70001")})
    AnchoringWorker(world.core).drain()
    response = api.get(f"/v1/certificates/{digest}/vc", headers=bearer(world.token))
    assert response.status_code == 200
    vc = response.json()
    read = read_credential(vc)
    assert read.proof_key is not None and to_hex(key_id(read.proof_key)) == world.held_key_id
    assert response.headers[PROOF_HEADER] == f"eddsa-jcs-2022; {vc['proof']['verificationMethod']}"
    assert vc["issuer"]["id"] == did_key(read.proof_key)
    bundle = api.get(f"/v1/certificates/{digest}/bundle", headers=bearer(world.token)).json()
    assert read.bundle == bundle and read.digest == digest
    assert vc["credentialStatus"]["chainId"] == world.chain.client.chain_id

    verifier = _verifier(world)
    report = input_from_json(vc).run(verifier)
    assert report.verdict == verifier.verify_bundle(bundle).verdict == "VALID", report.to_dict()["reasons"]
    assert not {"KEY_OF_LAB", "VC_PROOF"} & report.codes and _key_outcomes(report) == [Outcome.PASS, Outcome.PASS]


def test_the_same_access_rules_as_the_bundle(api: TestClient, world: LabWorld) -> None:
    private = _issue(api, world, {"record": world.record("JD2026-70002")})
    pending = api.get(f"/v1/certificates/{private}/vc", headers=bearer(world.token))
    assert pending.status_code == 404 and pending.json()["error"]["code"] == "NOT_ANCHORED"
    public = _issue(api, world, {"record": world.record("JD2026-70003")}, public=True)
    AnchoringWorker(world.core).drain()
    cases = [
        (private, None, 401, "UNAUTHORIZED"),
        (private, world.other_token, 403, "WRONG_LAB"),
        (private, world.regulator_token, 200, None),
        (private, world.token, 200, None),
        (public, None, 200, None),
        ("0x" + "ee" * 32, world.token, 404, "UNKNOWN_CERTIFICATE"),
    ]
    for digest, token, status, code in cases:
        headers = bearer(token) if token else {}
        vc, bundle = (api.get(f"/v1/certificates/{digest}/{what}", headers=headers) for what in ("vc", "bundle"))
        assert (vc.status_code, bundle.status_code) == (status, status), (digest, token)
        if code is not None:
            assert vc.json()["error"]["code"] == bundle.json()["error"]["code"] == code
    bad = api.get("/v1/certificates/0x12/vc", headers=bearer(world.token))
    assert bad.status_code == 422


def test_without_a_held_key_the_credential_rests_on_the_chain(api: TestClient, world: LabWorld) -> None:
    digest = _issue(api, world, signed(world, world.record("JD2026-70004")))  # lab-signed, its own key
    AnchoringWorker(world.core).drain()
    world.chain.contracts.close_key(world.admin, from_hex(world.held_key_id))  # the registry's key of the lab ends
    world.core.forget_chain_answers()
    response = api.get(f"/v1/certificates/{digest}/vc", headers=bearer(world.token))
    assert response.status_code == 200 and response.headers[PROOF_HEADER].startswith("none")
    vc = response.json()
    assert "proof" not in vc and "rests on the chain" in vc["description"]
    assert vc["issuer"]["id"] == did_key(world.lab_key.public_key)  # the key that signed the record

    verifier = _verifier(world)
    unproved = input_from_json(vc).run(verifier)
    assert _key_outcomes(unproved) == [Outcome.PASS]
    assert unproved.to_dict()["certificate"]["credential"]["proof"] is None
    # The lab adds the proof itself (what `tracecert vc export --key` does); the verifier accepts its key.
    proved = build_credential(parse_bundle(read_credential(vc).bundle or {}), key=world.lab_key)
    report = input_from_json(proved).run(verifier)
    assert _key_outcomes(report) == [Outcome.PASS, Outcome.PASS]
    assert report.verdict == unproved.verdict
