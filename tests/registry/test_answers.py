"""The registry's successful answers are what its OpenAPI document says they are.

The routes return plain dicts (``response_model=None``: no validation or re-serialization on the hot path) and
declare their answers as models only in ``responses={status: {"model": ...}}``; those models allow extra fields.
Here one real flow drives every route, and every 2xx answer is validated against the model its route declares for
that status, read from the app's route metadata, in a strict copy (:func:`strict_model`: ``extra="forbid"`` at
every level, strict types): an undocumented field, a missing required field or a wrong type fails. Every declared
success answer must be seen at least once, so a new route or status without a checked answer fails too.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import operator
import types
from collections.abc import Iterator
from typing import Any, Literal, Union, get_args, get_origin

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from starlette.routing import Match

from registry.api import create_app
from registry.config import RegistrySettings
from tests.registry.conftest import LabWorld
from tests.registry.test_api import app_settings, bearer, drain, issue, signed
from tracecert.certificate.canonical import from_hex
from tracecert_app.story import usci

#: (method, route path, status): one success answer a route declares.
Answer = tuple[str, str, int]


@functools.cache
def strict_model(model: type[BaseModel]) -> type[BaseModel]:
    """A copy of ``model`` that forbids extra fields, with every nested model (in lists, unions, dicts) replaced by
    its strict copy likewise; fields, types, defaults and descriptions are the model's own."""
    fields: dict[str, Any] = {
        name: (_strict_type(field.annotation), copy.copy(field)) for name, field in model.model_fields.items()
    }
    strict: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"Strict{model.__name__}",
        __config__=ConfigDict(extra="forbid"),
        __doc__=model.__doc__,
        __module__=__name__,
        **fields,
    )
    return strict


def _strict_type(annotation: Any) -> Any:
    """``annotation`` with every model in it replaced by its :func:`strict_model`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return strict_model(annotation)
    args = get_args(annotation)
    origin = get_origin(annotation)
    if not args or origin is None or origin is Literal:
        return annotation
    strict_args = tuple(_strict_type(arg) for arg in args)
    if strict_args == args:
        return annotation
    if origin is Union or origin is types.UnionType:
        return functools.reduce(operator.or_, strict_args)
    return origin[strict_args]


def api_routes(app: FastAPI) -> list[Any]:
    """The app's API routes as it serves and documents them (FastAPI's route contexts, the view its OpenAPI
    document is built from: effective path, methods, ``responses``, ``status_code``, ``matches``)."""
    return [c for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]


def declared(app: FastAPI) -> dict[Answer, type[BaseModel]]:
    """The success answers (2xx) the app's routes declare with a model, and that model."""
    out: dict[Answer, type[BaseModel]] = {}
    for route in api_routes(app):
        for status, answer in route.responses.items():
            if 200 <= int(status) < 300 and "model" in answer:
                for method in route.methods:
                    out[(method, route.path, int(status))] = answer["model"]
    return out


def _route_of(app: FastAPI, request: httpx.Request) -> Any:
    """The API route the app serves ``request`` with (None: not one of the API's routes, e.g. /openapi.json)."""
    scope = {"type": "http", "method": request.method, "path": request.url.path, "root_path": ""}
    for route in iter_route_contexts(app.routes):
        if route.matches(scope)[0] == Match.FULL:
            return route if isinstance(route.original_route, APIRoute) else None
    return None


class AnswerChecker:
    """A response hook: validates each 2xx answer of an API route against its declared model (strict) and keeps
    which declared answers were seen."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.models = declared(app)
        self.seen: set[Answer] = set()

    def __call__(self, response: httpx.Response) -> None:
        """Check ``response`` (raises AssertionError naming the route and what is wrong)."""
        if not 200 <= response.status_code < 300:
            return
        route = _route_of(self.app, response.request)
        if route is None:
            return
        status = response.status_code
        response.read()
        if status not in {int(s) for s in route.responses} and status != route.status_code:
            raise AssertionError(f"{route.path}: answered {status}, a status it does not declare")
        key = (response.request.method, route.path, status)
        model = self.models.get(key)
        if model is None:  # declared without a model (a bundle, a PNG): nothing to check the shape against
            return
        try:
            strict_model(model).model_validate_json(response.content, strict=True)
        except ValidationError as exc:
            raise AssertionError(f"{key}: the answer is not a {model.__name__}:\n{exc}\n{response.text}") from exc
        self.seen.add(key)


@pytest.fixture
def checked(world: LabWorld) -> Iterator[tuple[TestClient, AnswerChecker]]:
    """A client of the world's app whose every successful answer is checked; and the checker."""
    app = create_app(app_settings(world), core=world.core, run_worker=False)
    checker = AnswerChecker(app)
    with TestClient(app) as client:
        client.event_hooks["response"].append(checker)
        yield client, checker


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def test_every_successful_answer_is_its_documented_model(
    checked: tuple[TestClient, AnswerChecker], world: LabWorld
) -> None:
    """One flow through every route; the hook checks each answer, and every declared success answer is seen."""
    api, checker = checked
    lab, regulator, other = bearer(world.token), bearer(world.regulator_token), bearer(world.other_token)
    assert _ok(api.get("/health"))["pending"] == 0

    # Issue: JSON (registry-signed, then its retry; lab-signed and public), multipart with the document, bulk.
    first = issue(api, world, "JD2026-A0001")
    digest = first["digest"]
    again = _ok(api.post("/v1/certificates", json={"record": world.record("JD2026-A0001")}, headers=lab))
    assert again["digest"] == digest and again["created"] is False
    public = _ok(
        api.post("/v1/certificates", json=signed(world, world.record("JD2026-A0002")) | {"public": True}, headers=lab),
        201,
    )["digest"]
    pdf = b"%PDF-1.7\n" + bytes(range(256))
    bound = {"media_type": "application/pdf", "sha256": "0x" + hashlib.sha256(pdf).hexdigest()}
    files = {
        "record": (None, json.dumps(world.record("JD2026-A0003", original_document=bound)), "application/json"),
        "document": ("JD2026-A0003.pdf", pdf, "application/pdf"),
    }
    _ok(api.post("/v1/certificates", files=files, headers=lab), 201)
    items = [
        {"record": world.record("JD2026-A0004"), "public": True},
        signed(world, world.record("JD2026-A0005")),
        {"record": world.record("JD2026-A0001")},  # accepted before: existing
        {"record": world.record("JD2026-A0006"), "public": "yes"},  # refused on its own
    ]
    bulk = _ok(api.post("/v1/certificates/bulk", json={"certificates": items}, headers=lab))
    assert (bulk["accepted"], bulk["existing"], bulk["rejected"]) == (2, 1, 1)

    # Read while pending; publish a pending certificate.
    for headers in (lab, {}, other):
        assert _ok(api.get(f"/v1/certificates/{digest}", headers=headers))["status"] == "pending"
    published = _ok(api.post(f"/v1/certificates/{bulk['results'][1]['digest']}/publish", headers=lab))
    assert published["public"] is True

    drain(world)
    # Read anchored: by digest and by number, as the lab, its regulator, another lab and anonymously.
    for headers in (lab, regulator, other, {}):
        view = _ok(api.get(f"/v1/certificates/{digest}", headers=headers))
        assert view["status"] == "anchored"
        _ok(api.get(f"/v1/labs/{world.lab_id}/certificates/JD2026-A0001", headers=headers))
    _ok(api.post(f"/v1/certificates/{public}/publish", headers=regulator))  # published before: idempotent

    # List: the lab's own, the public's, the regulator's, an exact lookup without a token (withheld serial).
    assert len(_ok(api.get("/v1/certificates", params={"lab_id": world.lab_id}, headers=lab))["items"]) == 5
    assert _ok(api.get("/v1/certificates", params={"limit": 2}, headers=regulator))["next_cursor"] is not None
    assert {i["digest"] for i in _ok(api.get("/v1/certificates"))["items"]} >= {public}
    exact = _ok(api.get("/v1/certificates", params={"lab_id": world.lab_id, "number": "JD2026-A0001"}))["items"]
    assert [i["withheld"] for i in exact] == [["serial_number"]]

    # The bundle (no declared model: checked elsewhere) and the batch listing, as the lab and anonymously.
    _ok(api.get(f"/v1/certificates/{public}/bundle"))
    _ok(api.get(f"/v1/certificates/{digest}/bundle", headers=lab))
    root = view["batch"]["root"]
    for headers in (lab, {}):
        assert digest in {leaf["digest"] for leaf in _ok(api.get(f"/v1/batches/{root}", headers=headers))["leaves"]}

    # Revoke, then read it pending and done; substitute (and its retry), then read the old one superseded.
    op = _ok(api.post(f"/v1/certificates/{public}/revoke", json={"reason": 1}, headers=lab), 202)
    assert op["state"] == "pending"
    assert _ok(api.get(f"/v1/certificates/{public}", headers=lab))["lifecycle"]["state"] == "pending"
    replacement = world.record(
        "JD2026-A0001-R", replaces={"certificate_number": "JD2026-A0001", "certificate_digest": digest}
    )
    new = _ok(api.post(f"/v1/certificates/{digest}/substitute", json={"record": replacement}, headers=lab), 201)
    _ok(api.post(f"/v1/certificates/{digest}/substitute", json={"record": replacement}, headers=lab))
    drain(world)
    assert _ok(api.get(f"/v1/certificates/{public}"))["lifecycle"]["state"] == "done"
    old = _ok(api.get(f"/v1/certificates/{digest}", headers=lab))
    assert old["lifecycle"]["replaced_by"] == new["digest"]

    # A reused number: a fraud signal the regulator lists.
    reused = api.post("/v1/certificates", json={"record": world.record("JD2026-A0004", remarks="x")}, headers=lab)
    assert (reused.status_code, reused.json()["error"]["code"]) == (409, "NUMBER_REUSE")
    assert len(_ok(api.get("/v1/fraud-signals", headers=regulator))["items"]) == 1
    # A draw published (201, then 200 again), read by anyone, its results published by its regulator.
    from tracecert.draws import DrawSpec, run

    spec = DrawSpec("双随机抽查", 330000, tuple(f"0x{i:064x}" for i in range(1, 11)), 2)
    chain = world.chain
    published = run(spec, chain.contracts, world.province, nudge=lambda: chain.client.rpc("evm_mine", []), poll=0.01)
    assert api.post("/v1/draws", json=published, headers=regulator).status_code == 201
    assert api.post("/v1/draws", json=published, headers=regulator).status_code == 200
    assert len(_ok(api.get("/v1/draws"))["items"]) == 1
    assert _ok(api.get(f"/v1/draws/{published['commitment']}"))["published"] == published
    results = {"results": {item: {"outcome": "PASS"} for item in published["sample"]}}
    assert _ok(api.put(f"/v1/draws/{published['commitment']}/result", json=results, headers=regulator))["results"]
    scanned = _ok(api.get("/v1/anomalies", headers=regulator))
    assert scanned["labs"] == [world.lab_id] and scanned["count"] == len(scanned["findings"])
    impact = _ok(api.get(f"/v1/certificates/{world.standard['digest']}/dependents", headers=regulator))
    assert impact["total"] >= 1 and impact["dependents"][0]["depth"] == 1

    # An enterprise registers itself, its regulator confirms it (and onboarding it again is 200); it registers the
    # instrument the lab's records are about, reads its register linked both ways; the region's coverage.
    station = usci("91330106MA27XK5L3")
    made = _ok(api.post("/v1/enterprises", json={"usci": station, "name": "杭州西湖示范加油站有限公司"}), 201)
    queue = _ok(api.get("/v1/enterprises", params={"state": "PENDING"}, headers=regulator))["items"]
    assert [e["usci"] for e in queue] == [station]
    assert _ok(api.post(f"/v1/enterprises/{station}/confirm", headers=regulator))["state"] == "CONFIRMED"
    assert _ok(api.post("/v1/enterprises", json={"usci": station, "name": "x"}, headers=regulator))["token"] is None
    owner = bearer(made["token"])
    item = world.record()["item"]
    scale = {"category": item["name"], "use": "TRADE", "manufacturer": item["manufacturer"], "model": item["model"],
             "serial_number": item["serial_number"], "site": "便利店", "site_region": 330106, "period_months": 12}
    instrument_id = _ok(api.post("/v1/instruments", json={"instruments": [scale]}, headers=owner))["instruments"][0]
    assert _ok(api.get("/v1/instruments", headers=owner))["instruments"][0]["due"]["state"] == "IN_FORCE"
    read = _ok(api.get(f"/v1/instruments/{instrument_id}", headers=owner))
    assert read["certificates"]
    assert _ok(api.get(f"/v1/sites/{read['site']['id']}/notice"))["verdict"]["code"] == "ALL_IN_FORCE"  # its 公示
    renamed = _ok(api.patch(f"/v1/sites/{read['site']['id']}", json={"name": "西湖示范加油站便利店"}, headers=owner))
    assert (renamed["id"], renamed["name"]) == (read["site"]["id"], "西湖示范加油站便利店")
    linked = _ok(api.get(f"/v1/certificates/{digest}/instruments", headers=lab))["items"]
    assert [i["id"] for i in linked] == [instrument_id]
    figures = _ok(api.get("/v1/coverage", params={"region": 330000, "overdue_limit": 10}, headers=regulator))
    assert figures["totals"]["registered"] == 1 and len(figures["trend"]) == 12
    assert figures["overdue"] == {"total": 0, "instruments": []}
    assert _ok(api.get("/v1/coverage/overdue", params={"region": 330000}, headers=regulator))["total"] == 0
    # It watches a certificate, adds a webhook; a certificate of its scale is revoked: its feed has the alert.
    world.core.settings = world.core.settings.model_copy(update={"webhook_allow_private": True})
    assert _ok(api.post("/v1/watches", json={"digests": [public]}, headers=owner))["added"] == 1
    assert [w["digest"] for w in _ok(api.get("/v1/watches", headers=owner))["items"]] == [public]
    hook = _ok(api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=owner))
    assert [w["id"] for w in _ok(api.get("/v1/webhooks", headers=owner))["items"]] == [hook["id"]]
    revoked = bulk["results"][0]["digest"]
    assert api.post(f"/v1/certificates/{revoked}/revoke", json={"reason": 1}, headers=lab).status_code == 202
    drain(world)
    alerts = _ok(api.get("/v1/alerts", headers=owner))["items"]
    assert [(a["type"], a["deliveries"]) for a in alerts] == [("CERTIFICATE_REVOKED", ["PENDING"])]
    assert _ok(api.get("/v1/alerts/key"))["algorithm"] == "Ed25519"
    # Who each token is: the lab, the regulator (its jurisdiction from the chain), the enterprise.
    assert _ok(api.get("/v1/me", headers=lab))["lab"]["lab_id"] == world.lab_id
    assert _ok(api.get("/v1/me", headers=regulator))["regulator"]["jurisdiction"] == 330000
    assert _ok(api.get("/v1/me", headers=owner))["enterprise"]["state"] == "CONFIRMED"
    # A certificate that waits (its lab suspended) with a reason, read and listed.
    waiting = issue(api, world, "JD2026-A0007")["digest"]
    assert _ok(api.get("/health"))["pending"] == 1
    world.chain.contracts.suspend_lab(world.province, from_hex(world.lab_id))
    drain(world)
    assert _ok(api.get(f"/v1/certificates/{waiting}", headers=lab))["reason"]["code"] == "LAB_SUSPENDED"
    assert len(_ok(api.get("/v1/certificates", params={"status": "waiting"}, headers=lab))["items"]) == 1

    missing = sorted(set(checker.models) - checker.seen)
    assert missing == [], f"declared success answers never checked: {missing}"
    assert len(checker.models) >= 13, "the routes' declared models were not found (FastAPI's route metadata moved?)"


#: An app for the route table (never started: nothing is opened).
_APP = create_app(RegistrySettings(database_url="sqlite://", secret="s" * 40))  # type: ignore[arg-type]
_DECLARED = declared(_APP)


def _schema(model: type[BaseModel]) -> Any:
    """``model``'s JSON schema without titles, the ``Strict`` prefix and ``additionalProperties``."""

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key.removeprefix("Strict"): clean(value.replace("/Strict", "/") if key == "$ref" else value)
                for key, value in node.items()
                if key not in {"title", "additionalProperties"}
            }
        if isinstance(node, list):
            return [clean(item) for item in node]
        return node

    return clean(model.model_json_schema())


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from _objects(item)


@pytest.mark.parametrize("answer", sorted(_DECLARED), ids=lambda a: f"{a[0]} {a[1]} {a[2]}")
def test_the_strict_copy_is_the_declared_model_closed(answer: Answer) -> None:
    """The strict copy documents exactly the declared model's fields and types, and is closed at every level."""
    model = _DECLARED[answer]
    strict = strict_model(model)
    assert _schema(strict) == _schema(model)
    objects = list(_objects(strict.model_json_schema()))
    assert objects and all(o.get("additionalProperties") is False for o in objects)


def _health(**changes: Any) -> dict[str, Any]:
    return {"status": "ok", "chain_id": 31337, "pending": 0} | changes


def _leaf(**changes: Any) -> dict[str, Any]:
    leaf = {
        "index": 0,
        "digest": "0x" + "a" * 64,
        "certificate_number": "N-1",
        "number_tag": "0x" + "b" * 64,
        "kind": "VERIFICATION",
        "category_code": "0201",
        "serial_number": None,
        "withheld": ["serial_number"],
    }
    return leaf | changes


def _batch(*leaves: dict[str, Any], **changes: Any) -> dict[str, Any]:
    batch = {
        "root": "0x" + "c" * 64,
        "lab_id": "0x" + "d" * 64,
        "key_id": "0x" + "e" * 64,
        "size": 1,
        "tx_hash": None,
        "block_number": 7,
        "block_timestamp": 1,
        "chain_index": 0,
        "leaves": list(leaves),
    }
    return batch | changes


def _without(answer: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in answer.items() if key != field}


HEALTH: Answer = ("GET", "/health", 200)
BATCH: Answer = ("GET", "/v1/batches/{root}", 200)
#: A valid answer of each route the table below breaks.
VALID: dict[Answer, dict[str, Any]] = {HEALTH: _health(), BATCH: _batch(_leaf())}
#: An answer a route could give that is not its model: the route, the answer, the error type pydantic names.
NOT_THE_MODEL: dict[str, tuple[Answer, dict[str, Any], str]] = {
    "extra-field": (HEALTH, _health(uptime=3), "extra_forbidden"),
    "missing-field": (HEALTH, _without(_health(), "pending"), "missing"),
    "int-as-string": (HEALTH, _health(chain_id="31337"), "int_type"),
    "not-a-literal": (HEALTH, _health(status="down"), "literal_error"),
    "nested-extra": (BATCH, _batch(_leaf(customer="x")), "extra_forbidden"),
    "nested-missing": (BATCH, _batch(_without(_leaf(), "number_tag")), "missing"),
    "nested-wrong-type": (BATCH, _batch(_leaf(index="0")), "int_type"),
    "null-not-allowed": (BATCH, _batch(_leaf(), size=None), "int_type"),
}


@pytest.mark.parametrize("case", list(NOT_THE_MODEL))
def test_the_strict_copy_refuses_what_the_model_does_not_document(case: str) -> None:
    """The strict copy takes the route's valid answer and refuses each way of breaking it, by pydantic's type."""
    answer, body, error = NOT_THE_MODEL[case]
    strict = strict_model(_DECLARED[answer])
    strict.model_validate_json(json.dumps(VALID[answer]), strict=True)
    with pytest.raises(ValidationError) as refused:
        strict.model_validate_json(json.dumps(body), strict=True)
    assert {e["type"] for e in refused.value.errors()} == {error}
