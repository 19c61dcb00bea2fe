"""Bad operations on certificates at the registry API, each a precise 4xx with its machine code, never a 500:
revocation, publishing, substitution, bulk, and the server side (503 with Retry-After, 500 without internals)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from registry.api import create_app
from registry.core import RegistryCore
from tests.conftest import free_port
from tests.registry.conftest import LabWorld
from tests.registry.refusals.conftest import JSON, UNKNOWN, Shared, absent, fields, number, refused, token_for
from tests.registry.test_api import LIMITS, app_settings, bearer, drain, issue, signed
from tracecert.chain.client import ChainClient
from tracecert.chain.contracts import ChainContracts

# ------------------------------------------------------------------------------------------------ revocation


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param({"reason": 0}, 422, "INVALID_REASON", id="reason-0"),
        pytest.param({"reason": 99}, 422, "INVALID_REASON", id="reason-99"),
        pytest.param({"reason": "BORED"}, 422, "INVALID_REASON", id="reason-name"),
        pytest.param({"reason": True}, 422, "REQUEST_INVALID", id="reason-bool"),
        pytest.param({"reason": 1.5}, 422, "REQUEST_INVALID", id="reason-float"),
        pytest.param({}, 422, "REQUEST_INVALID", id="no-reason"),
        pytest.param({"reason": 1, "why": "typo"}, 422, "UNKNOWN_FIELD", id="unknown-field"),
        pytest.param({"reason": 1, "effective_time": -1}, 422, "INVALID_EFFECTIVE_TIME", id="time-negative"),
        pytest.param({"reason": 1, "effective_time": 2**63}, 422, "INVALID_EFFECTIVE_TIME", id="time-overflow"),
        pytest.param({"reason": 1, "effective_time": "2026-03-01T08:00:00"}, 422, "REQUEST_INVALID", id="time-naive"),
        pytest.param({"reason": 1, "effective_time": "yesterday"}, 422, "REQUEST_INVALID", id="time-text"),
    ],
)
def test_revocation_refused(shared: Shared, anchored: str, body: dict[str, Any], status: int, code: str) -> None:
    api, w = shared.api, shared.world
    refused(api.post(f"/v1/certificates/{anchored}/revoke", json=body, headers=bearer(w.token)), status, code)
    assert api.get(f"/v1/certificates/{anchored}").json()["lifecycle"] is None


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [(b'{"reason": ', JSON, 400, "MALFORMED_JSON"), (b'{"reason": 1}', "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE")],
)
def test_revocation_body_unreadable(
    shared: Shared, anchored: str, content: bytes, content_type: str, status: int, code: str
) -> None:
    headers = bearer(shared.world.token) | {"Content-Type": content_type}
    refused(shared.api.post(f"/v1/certificates/{anchored}/revoke", content=content, headers=headers), status, code)
    assert shared.api.get(f"/v1/certificates/{anchored}").json()["lifecycle"] is None


def test_revoking_twice(api: TestClient, world: LabWorld) -> None:
    digest = issue(api, world, "JD-1")["digest"]
    drain(world)
    first = api.post(f"/v1/certificates/{digest}/revoke", json={"reason": 1}, headers=bearer(world.token))
    assert first.status_code == 202
    again = api.post(f"/v1/certificates/{digest}/revoke", json={"reason": 6}, headers=bearer(world.regulator_token))
    refused(again, 409, "ALREADY_REVOKED")  # while the first is on its way to the chain
    drain(world)
    again = api.post(f"/v1/certificates/{digest}/revoke", json={"reason": 1}, headers=bearer(world.token))
    refused(again, 409, "ALREADY_REVOKED")  # and after


# ------------------------------------------------------------------------------------------------ publishing


@pytest.fixture(scope="module")
def published(shared: Shared) -> str:
    """A certificate of the shared lab, issued public and anchored."""
    w = shared.world
    body = {"record": w.record(number("PUBLISHED")), "public": True}
    response = shared.api.post("/v1/certificates", json=body, headers=bearer(w.token))
    assert response.status_code == 201 and response.json()["public"] is True
    drain(w)
    return str(response.json()["digest"])


@pytest.mark.parametrize(
    ("target", "who", "status", "code"),
    [
        # a private certificate's bundle: as before, only for its lab and regulators over it
        ("private", "none", 401, "UNAUTHORIZED"),
        ("private", "wrong", 401, "UNAUTHORIZED"),
        ("private", "basic", 401, "UNAUTHORIZED"),
        ("private", "other", 403, "WRONG_LAB"),
        ("private", "jiangsu", 403, "NOT_REGULATOR_OVER_LAB"),
        ("private", "lab", 200, None),
        ("private", "regulator", 200, None),
        # a published one: for anyone, without a token or with any valid one; a bad token is still refused
        ("public", "none", 200, None),
        ("public", "other", 200, None),
        ("public", "jiangsu", 200, None),
        ("public", "lab", 200, None),
        ("public", "regulator", 200, None),
        ("public", "wrong", 401, "UNAUTHORIZED"),
        ("public", "revoked", 401, "UNAUTHORIZED"),
        ("public", "basic", 401, "UNAUTHORIZED"),
    ],
)
def test_who_gets_the_bundle(
    shared: Shared, anchored: str, published: str, target: str, who: str, status: int, code: str | None
) -> None:
    w = shared.world
    digest = published if target == "public" else anchored
    response = shared.api.get(f"/v1/certificates/{digest}/bundle", headers=token_for(w, who))
    if code is not None:
        refused(response, status, code)
        return
    assert response.status_code == 200
    # the same bundle the lab gets
    assert response.json() == shared.api.get(f"/v1/certificates/{digest}/bundle", headers=bearer(w.token)).json()


@pytest.mark.parametrize(
    ("target", "who", "status", "code"),
    [
        ("own", "none", 401, "UNAUTHORIZED"),
        ("own", "wrong", 401, "UNAUTHORIZED"),
        ("own", "basic", 401, "UNAUTHORIZED"),
        ("own", "revoked", 401, "UNAUTHORIZED"),
        ("own", "other", 403, "WRONG_LAB"),  # another lab
        ("own", "jiangsu", 403, "NOT_REGULATOR_OVER_LAB"),  # a regulator elsewhere
        ("own", "lab", 200, None),  # the certificate's lab
        ("own", "regulator", 200, None),  # a regulator over it
        ("unknown", "lab", 404, "UNKNOWN_CERTIFICATE"),
        ("unknown", "none", 401, "UNAUTHORIZED"),
        ("malformed", "lab", 422, "INVALID_DIGEST"),
        ("uppercase", "lab", 422, "INVALID_DIGEST"),
    ],
)
def test_publish(shared: Shared, target: str, who: str, status: int, code: str | None) -> None:
    """Who may publish a certificate (a fresh, pending one of the shared lab): its lab or a regulator over it,
    twice with the same answer; a refusal leaves it private."""
    w = shared.world
    digest = issue(shared.api, w, number("PUB"))["digest"]
    path = {"own": digest, "unknown": UNKNOWN, "malformed": digest[:-2], "uppercase": "0x" + digest[2:].upper()}
    url = f"/v1/certificates/{path[target]}/publish"
    headers = token_for(w, who)
    response = shared.api.post(url, headers=headers)
    if code is not None:
        refused(response, status, code)
        assert shared.api.get(f"/v1/certificates/{digest}").json()["public"] is False
        return
    assert response.status_code == 200
    view = response.json()
    assert (view["digest"], view["public"], view["status"]) == (digest, True, "pending")
    assert view["record"]["certificate_number"]  # the lab's and its regulators' view of it
    again = shared.api.post(url, headers=headers)
    assert again.status_code == 200 and again.json() == view
    assert shared.api.get(f"/v1/certificates/{digest}").json()["public"] is True


def test_bundle_before_anchoring(shared: Shared) -> None:
    digest = issue(shared.api, shared.world, number())["digest"]
    refused(
        shared.api.get(f"/v1/certificates/{digest}/bundle", headers=bearer(shared.world.token)), 404, "NOT_ANCHORED"
    )


# ------------------------------------------------------------------------------------------------ substitution


def test_substitute_refused(api: TestClient, world: LabWorld) -> None:
    old = issue(api, world, "JD-1")["digest"]
    other = issue(api, world, "JD-2")["digest"]

    def substitute(record: dict[str, Any]) -> Any:
        return api.post(f"/v1/certificates/{old}/substitute", json={"record": record}, headers=bearer(world.token))

    replacing_other = world.record("JD-1R", replaces={"certificate_number": "JD-2", "certificate_digest": other})
    error = refused(substitute(replacing_other), 422, "SUBSTITUTE_MISMATCH")
    assert fields(error) == {"replaces.certificate_digest": "equals_substituted"}
    refused(substitute(world.record("JD-1R")), 422, "SUBSTITUTE_MISMATCH")
    refused(substitute(world.record("JD-1R", item__name=None)), 422, "RECORD_INVALID")
    # A revoked certificate cannot be substituted any more.
    assert (
        api.post(f"/v1/certificates/{old}/revoke", json={"reason": 1}, headers=bearer(world.token)).status_code == 202
    )
    replacing = world.record("JD-1R", replaces={"certificate_number": "JD-1", "certificate_digest": old})
    refused(substitute(replacing), 409, "ALREADY_REVOKED")
    mine = {"lab_id": world.lab_id}
    listed = api.get("/v1/certificates", params=mine, headers=bearer(world.token)).json()["items"]
    assert [i["certificate_number"] for i in listed] == [
        "JD-1",
        "JD-2",
    ]


# ------------------------------------------------------------------------------------------------ bulk


def test_bulk_over_the_limit(shared: Shared) -> None:
    numbers = [number() for _ in range(LIMITS["bulk_max"] + 1)]
    items = [{"record": shared.world.record(n)} for n in numbers]
    response = shared.api.post(
        "/v1/certificates/bulk", json={"certificates": items}, headers=bearer(shared.world.token)
    )
    error = refused(response, 413, "BULK_TOO_LARGE")
    assert error["details"] == {"limit": LIMITS["bulk_max"], "received": LIMITS["bulk_max"] + 1}
    for n in numbers:
        absent(shared, n)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param({"certificates": {"record": {}}}, 422, "REQUEST_INVALID", id="not-a-list"),
        pytest.param({"items": []}, 422, "UNKNOWN_FIELD", id="unknown-field"),
        pytest.param([], 422, "REQUEST_INVALID", id="array"),
    ],
)
def test_bulk_envelope_refused(shared: Shared, body: Any, status: int, code: str) -> None:
    refused(shared.api.post("/v1/certificates/bulk", json=body, headers=bearer(shared.world.token)), status, code)


def test_bulk_with_good_and_bad_items(api: TestClient, world: LabWorld) -> None:
    """Every good item is accepted whatever its neighbours are; each bad one gets its own code; a retry changes
    nothing."""
    items: list[Any] = [
        {"record": world.record("JD-1")},  # 0 good
        {"record": world.record("JD-2", item__name=None)},  # 1 invalid record
        signed(world, world.record("JD-3")),  # 2 good, lab-signed
        {"record": world.record("JD-4"), "note": "x"},  # 3 unknown envelope field
        {"record": world.record("JD-5", lab__lab_id=world.other_lab_id, lab__code=None)},  # 4 another lab's
        {"record": world.record("JD-1", remarks="改过的")},  # 5 reuses item 0's number
        {"record": world.record("JD-1")},  # 6 item 0 again
        {"record": world.record("JD-7", item__category_code="0999")},  # 7 outside the scope
        "JD-8",  # 8 not an object
    ]
    expected = [
        None,
        "RECORD_INVALID",
        None,
        "UNKNOWN_FIELD",
        "WRONG_LAB",
        "NUMBER_REUSE",
        None,
        "LAB_NOT_AUTHORIZED",
        "REQUEST_INVALID",
    ]
    first = api.post("/v1/certificates/bulk", json={"certificates": items}, headers=bearer(world.token))
    assert first.status_code == 200
    body = first.json()
    assert [r["index"] for r in body["results"]] == list(range(len(items)))
    assert [None if r["ok"] else r["error"]["code"] for r in body["results"]] == expected
    assert (body["accepted"], body["existing"], body["rejected"]) == (2, 1, 6)
    assert body["results"][6]["digest"] == body["results"][0]["digest"]
    assert fields(body["results"][1]["error"]) == {"item.name": "required"}

    retry = api.post("/v1/certificates/bulk", json={"certificates": items}, headers=bearer(world.token)).json()
    assert [None if r["ok"] else r["error"]["code"] for r in retry["results"]] == expected
    assert (retry["accepted"], retry["existing"], retry["rejected"]) == (0, 3, 6)
    drain(world)
    mine = {"status": "anchored", "lab_id": world.lab_id}
    listed = api.get("/v1/certificates", params=mine, headers=bearer(world.token)).json()["items"]
    assert sorted(i["certificate_number"] for i in listed) == ["JD-1", "JD-3"]
    signals = api.get("/v1/fraud-signals", headers=bearer(world.regulator_token)).json()["items"]
    assert [s["certificate_number"] for s in signals] == ["JD-1", "JD-1"]  # the attempt and its retry


# ------------------------------------------------------------------------------------------------ the server side


def test_chain_unavailable_is_503_with_retry_after(shared: Shared) -> None:
    w = shared.world
    dead = ChainContracts(ChainClient(f"http://127.0.0.1:{free_port()}", timeout=2), w.chain.contracts.deployment)
    core = RegistryCore(w.core.settings, w.core.engine, dead)
    n = number()
    with TestClient(create_app(app_settings(w), core=core, run_worker=False)) as api:
        response = api.post("/v1/certificates", json={"record": w.record(n)}, headers=bearer(w.token))
        refused(response, 503, "CHAIN_UNAVAILABLE")
        assert int(response.headers["Retry-After"]) > 0
    absent(shared, n)


def test_an_internal_error_is_500_without_internals(
    shared: Shared, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr("registry.api.routes.health.pending_count", broken)
    response = shared.api.get("/health")
    error = refused(response, 500, "INTERNAL_ERROR")
    assert "hunter2" not in response.text and "details" not in error
    assert [r.exc_info for r in caplog.records if r.name == "registry.api.errors"]
    caplog.clear()  # the autouse check is for bad inputs; this one was meant to reach the catch-all
