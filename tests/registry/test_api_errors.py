"""Bad input to the registry API: each case a precise 4xx (or 503) with its machine code, never a 500.

Every case runs on SQLite and on PostgreSQL. Cases that change nothing but certificates of their own (each uses
its own certificate numbers) share one onboarded world per backend and module (``shared``), which keeps the ~150
cases fast; cases that change the chain or a certificate's lifecycle get a fresh ``world`` each.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from registry.api import create_app
from registry.core import RegistryCore
from tests.conftest import Chain, free_port
from tests.registry.conftest import LabWorld, _migrated, _settings, build_world
from tests.registry.test_api import LIMITS, api, app_settings, bearer, drain, issue, signed
from tracecert.certificate.canonical import certificate_digest, to_hex
from tracecert.certificate.model import record_from_json
from tracecert.certificate.signing import generate_key
from tracecert.chain.client import ChainClient
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.deploy import deploy
from tracecert.chain.sender import TransactionSender

__all__ = ["api"]  # the fixture, shared with test_api

JSON = "application/json"
UNKNOWN = "0x" + "ab" * 32
_serial = itertools.count(1)


def number(prefix: str = "BAD") -> str:
    """A certificate number no other case uses."""
    return f"{prefix}-{next(_serial):05d}"


@dataclass
class Shared:
    """A world and a client of its app, shared by the cases of one module and backend."""

    world: LabWorld
    api: TestClient


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared(
    request: pytest.FixtureRequest, client: ChainClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    """Like the ``world`` fixture (same regulators, labs, keys and tokens), built once per module and backend."""
    tmp: Path = tmp_path_factory.mktemp("shared")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'registry.db'}"
    else:
        url = str(request.getfixturevalue("postgres_server").new_database())
    national_account = Account.create()
    client.set_balance(national_account.address, 10**22)
    national = TransactionSender(client, national_account)
    chain = Chain(
        client, ChainContracts(client, deploy(client, national, national_authority=national_account.address)), national
    )
    core = RegistryCore(_settings(tmp, url), _migrated(url), chain.contracts)
    world = build_world(chain, core)
    with TestClient(create_app(app_settings(world), core=core, run_worker=False)) as client_:
        yield Shared(world, client_)
    core.engine.dispose()


def absent(shared: Shared, number_: str) -> None:
    """Nothing was accepted under ``number_``."""
    w = shared.world
    assert shared.api.get(f"/v1/labs/{w.lab_id}/certificates/{number_}").status_code == 404


@pytest.fixture(autouse=True)
def _no_internal_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever a case asserts, none may reach the catch-all (500 INTERNAL_ERROR logs here)."""
    with caplog.at_level(logging.ERROR, logger="registry.api"):
        yield
    assert not [r for r in caplog.records if r.name.startswith("registry.api")], "a bad input reached the catch-all"


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert the error answer; return its ``error`` object."""
    body = response.json()
    assert (response.status_code, body.get("error", {}).get("code")) == (status, code), body
    assert set(body) == {"error"} and body["error"]["message"]
    return dict(body["error"])


def fields(error: dict[str, Any]) -> dict[str, str]:
    """``{field: rule}`` of an error's details."""
    return {d["field"]: d["rule"] for d in error.get("details") or []}


# ------------------------------------------------------------------------------------------------ body framing


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        pytest.param(b'{"record": ', JSON, 400, "MALFORMED_JSON", id="truncated-json"),
        pytest.param(b'{"record": {}, "record": {}}', JSON, 400, "MALFORMED_JSON", id="duplicate-key"),
        pytest.param(b'{"record": NaN}', JSON, 400, "MALFORMED_JSON", id="nan"),
        pytest.param(b'{"record": "\xff\xfe"}', JSON, 400, "MALFORMED_JSON", id="not-utf8"),
        pytest.param(b"", JSON, 400, "MALFORMED_JSON", id="empty-body"),
        pytest.param(b"{\"record\": " + b"[" * 20_000, JSON, 400, "JSON_TOO_DEEP", id="nesting-bomb"),
        pytest.param(b"[]", JSON, 422, "REQUEST_INVALID", id="json-array"),
        pytest.param(b'"record"', JSON, 422, "REQUEST_INVALID", id="json-string"),
        pytest.param(b"{}", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE", id="text-plain"),
        pytest.param(b"{}", None, 415, "UNSUPPORTED_MEDIA_TYPE", id="no-content-type"),
        pytest.param(b"record=x", "application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE", id="form"),
        pytest.param(b"<dcc/>", "application/xml", 415, "UNSUPPORTED_MEDIA_TYPE", id="xml"),
        # A multipart body without a boundary cannot be framed at all.
        pytest.param(b"--x\r\n", "multipart/form-data", 400, "MALFORMED_MULTIPART", id="multipart-no-boundary"),
    ],
)
def test_unreadable_body(shared: Shared, content: bytes, content_type: str | None, status: int, code: str) -> None:
    headers = bearer(shared.world.token) | ({"Content-Type": content_type} if content_type else {})
    refused(shared.api.post("/v1/certificates", content=content, headers=headers), status, code)


def _chunks(total: int) -> Iterator[bytes]:
    """A body sent chunked (no Content-Length): only counting while reading can stop it."""
    yield b'{"record": {"remarks": "'
    for _ in range(total // 1024):
        yield b"x" * 1024
    yield b'"}}'


def _with_document(world: LabWorld, number_: str, size: int) -> dict[str, Any]:
    document = b"%PDF" + b"\0" * (size - 4)
    record = world.record(number_, original_document={"media_type": "application/pdf", "sha256": _sha256(document)})
    return {"files": {"record": (None, json.dumps(record)), "document": ("big.pdf", document, "application/pdf")}}


_TOO_LARGE: dict[str, Callable[[LabWorld, str], dict[str, Any]]] = {
    # Content-Length over the limit: refused before a byte of the body is read.
    "declared-length": lambda w, n: {"json": {"record": w.record(n, remarks="x" * LIMITS["max_body_bytes"])}},
    "chunked-stream": lambda w, n: {
        "content": _chunks(LIMITS["max_body_bytes"] + 4096),
        "headers": {"Content-Type": JSON},
    },
    "document-over-limit": lambda w, n: _with_document(w, n, LIMITS["max_document_bytes"] + 1),
    "record-part-over-limit": lambda w, n: {
        "files": {"record": (None, json.dumps(w.record(n, remarks="x" * LIMITS["max_body_bytes"])))}
    },
}


@pytest.mark.parametrize("case", list(_TOO_LARGE))
def test_too_large(shared: Shared, case: str) -> None:
    n = number()
    request = _TOO_LARGE[case](shared.world, n)
    request["headers"] = bearer(shared.world.token) | request.get("headers", {})
    error = refused(shared.api.post("/v1/certificates", **request), 413, "PAYLOAD_TOO_LARGE")
    assert error["details"]["limit"] in (LIMITS["max_body_bytes"], LIMITS["max_document_bytes"])
    absent(shared, n)


def test_a_document_at_the_limit_is_accepted(shared: Shared) -> None:
    request = _with_document(shared.world, number(), LIMITS["max_document_bytes"])
    assert shared.api.post("/v1/certificates", headers=bearer(shared.world.token), **request).status_code == 201


# ------------------------------------------------------------------------------------------------ envelopes


def _sig(world: LabWorld, **extra: Any) -> dict[str, Any]:
    return {"key_id": to_hex(world.lab_key.key_id), "value": "0x" + "00" * 64, **extra}


def _with_public(value: Any) -> Callable[[LabWorld, str], Any]:
    return lambda w, n: {"record": w.record(n), "public": value}


_ENVELOPES: dict[str, tuple[Callable[[LabWorld, str], Any], str, dict[str, str]]] = {
    "unknown-field": (
        lambda w, n: {"record": w.record(n), "priority": "high"},
        "UNKNOWN_FIELD",
        {"priority": "unknown_field"},
    ),
    "misspelled-record": (lambda w, n: {"recrod": w.record(n)}, "UNKNOWN_FIELD", {"recrod": "unknown_field"}),
    "unknown-signature-field": (
        lambda w, n: {"record": w.record(n), "signature": _sig(w, alg="ed25519")},
        "UNKNOWN_FIELD",
        {"signature.alg": "unknown_field"},
    ),
    "no-record": (lambda w, n: {}, "REQUEST_INVALID", {"record": "required"}),
    "record-not-object": (lambda w, n: {"record": n}, "REQUEST_INVALID", {"record": "dict_type"}),
    "signature-without-value": (
        lambda w, n: {"record": w.record(n), "signature": {"key_id": to_hex(w.lab_key.key_id)}},
        "REQUEST_INVALID",
        {"signature.value": "required"},
    ),
    "signature-value-not-text": (
        lambda w, n: {"record": w.record(n), "signature": _sig(w, value=1)},
        "REQUEST_INVALID",
        {"signature.value": "string_type"},
    ),
    # public is a JSON boolean, nothing that merely looks like one
    "public-as-text": (_with_public("true"), "REQUEST_INVALID", {"public": "bool_type"}),
    "public-as-number": (_with_public(1), "REQUEST_INVALID", {"public": "bool_type"}),
    "public-null": (_with_public(None), "REQUEST_INVALID", {"public": "bool_type"}),
    "misspelled-public": (
        lambda w, n: {"record": w.record(n), "published": True},
        "UNKNOWN_FIELD",
        {"published": "unknown_field"},
    ),
}


@pytest.mark.parametrize("case", list(_ENVELOPES))
def test_envelope_refused(shared: Shared, case: str) -> None:
    build, code, expected = _ENVELOPES[case]
    n = number()
    response = shared.api.post("/v1/certificates", json=build(shared.world, n), headers=bearer(shared.world.token))
    assert fields(refused(response, 422, code)).items() >= expected.items()
    absent(shared, n)


# ------------------------------------------------------------------------------------------------ records

#: A valid CALIBRATION of the scale, whose category the lab may only verify (检定), not calibrate (校准).
CALIBRATION: dict[str, Any] = {
    "kind": "CALIBRATION",
    "conclusion": None,
    "customer__mandatory_verification": None,  # a 强检 instrument would need a verification (the rulebook says)
    "results": [
        {
            "quantity": "示值误差",
            "value": "0.5",
            "unit": "\\gram",
            "expanded_uncertainty": "0.5",  # 5 × the weights' U: TUR ≥ 4
            "coverage_factor": "2",
        }
    ],
}


@pytest.mark.parametrize(
    ("changes", "status", "code", "field"),
    [
        # Unknown, missing and malformed fields are named by their path in the record.
        pytest.param(
            {"item__colour": "red"}, 422, "RECORD_INVALID", ("item.colour", "unknown_field"), id="unknown-field"
        ),
        pytest.param({"item__name": None}, 422, "RECORD_INVALID", ("item.name", "required"), id="missing-field"),
        pytest.param(
            {"customer__mandatory_verification": "yes"},
            422,
            "RECORD_INVALID",
            ("customer.mandatory_verification", "bool_type"),
            id="not-a-boolean",
        ),
        pytest.param(
            {"dates__issue_date": "2024-03-01"},
            422,
            "RECORD_INVALID",
            ("dates.issue_date", "date_order"),
            id="date-order",
        ),
        pytest.param(
            {"schema_version": "tracecert/0"},
            422,
            "RECORD_INVALID",
            ("schema_version", "unsupported_value"),
            id="schema-version",
        ),
        # What the model allows but the registry cannot store or the chain cannot encode.
        pytest.param(
            {"certificate_number": "N" * 129},
            422,
            "RECORD_INVALID",
            ("certificate_number", "max_length"),
            id="number-too-long",
        ),
        pytest.param(
            {"certificate_number": "JD\x00-1"},
            422,
            "RECORD_INVALID",
            ("certificate_number", "identifier_invisible_character"),
            id="nul-in-number",
        ),
        # Look-alike numbers: invisible characters and other spellings would evade number-reuse detection.
        *(
            pytest.param(
                {path: value}, 422, "RECORD_INVALID", (path.replace("__", "."), rule), id=f"look-alike-{name}"
            )
            for name, path, value, rule in [
                ("zwsp", "certificate_number", "HZJL2026-JD-00031\u200b", "identifier_invisible_character"),
                ("zwj", "certificate_number", "HZJL2026-JD-\u200d00031", "identifier_invisible_character"),
                ("bom", "certificate_number", "\ufeffHZJL2026-JD-00031", "identifier_invisible_character"),
                ("rlo", "certificate_number", "HZJL2026-\u202e13000", "identifier_invisible_character"),
                ("fullwidth", "certificate_number", "ＨＺＪＬ2026-JD-00031", "identifier_not_normalized"),
                ("serial-zwsp", "item__serial_number", "SN-0001\u200b", "identifier_invisible_character"),
                ("asset-nbsp", "item__asset_number", "ZC\u00a0001", "identifier_not_normalized"),
            ]
        ),
        # The record names its lab as the regulator registered it on chain, not as another lab.
        pytest.param(
            {"lab__name": "浙江省计量科学研究院"},
            422,
            "LAB_NAME",
            ("lab.name", "LAB_NAME"),
            id="lab-name-spoofed",
        ),
        pytest.param(
            {"item__category_code": "衡器" * 6},
            422,
            "RECORD_INVALID",
            ("item.category_code", "max_bytes"),
            id="category-over-bytes32",
        ),
        # Who may issue it: the category, and the activity (the lab may verify 0201 but not calibrate it).
        pytest.param({"item__category_code": "0999"}, 403, "LAB_NOT_AUTHORIZED", None, id="category-outside-scope"),
        pytest.param(CALIBRATION, 403, "LAB_NOT_AUTHORIZED", None, id="activity-outside-scope"),
        pytest.param(
            {"lab__lab_id": "<other>", "lab__code": None},
            403,
            "WRONG_LAB",
            ("lab.lab_id", "token_lab"),
            id="another-labs-record",
        ),
    ],
)
def test_record_refused(
    shared: Shared, changes: dict[str, Any], status: int, code: str, field: tuple[str, str] | None
) -> None:
    w = shared.world
    changes = {k: w.other_lab_id if v == "<other>" else v for k, v in changes.items()}
    record = w.record(number(), **changes)
    error = refused(shared.api.post("/v1/certificates", json={"record": record}, headers=bearer(w.token)), status, code)
    if field is not None:
        assert fields(error).get(field[0]) == field[1], error
    absent(shared, record["certificate_number"].replace("\x00", ""))


def test_the_calibration_case_is_valid_where_the_scope_allows_it(shared: Shared) -> None:
    """Control for ``activity-outside-scope``: the same record in a category the lab may calibrate is accepted."""
    record = shared.world.record(number(), **CALIBRATION, item__category_code="PRESSURE")
    assert (
        shared.api.post("/v1/certificates", json={"record": record}, headers=bearer(shared.world.token)).status_code
        == 201
    )


# ------------------------------------------------------------------------------------------------ signatures


def _bad_signature(world: LabWorld, record: dict[str, Any], case: str) -> dict[str, str]:
    good = signed(world, record)["signature"]
    stranger = generate_key()
    digest = certificate_digest(record_from_json(record))
    return {
        "signature-of-another-record": lambda: {
            **good,
            "value": signed(world, world.record("X-1"))["signature"]["value"],
        },
        "signature-by-another-key": lambda: {**good, "key_id": world.held_key_id},
        "unknown-key": lambda: {"key_id": to_hex(stranger.key_id), "value": to_hex(stranger.sign(digest))},
        "malformed-value": lambda: {**good, "value": "0x1234"},
        "malformed-key-id": lambda: {**good, "key_id": "key-1"},
    }[case]()


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("signature-of-another-record", "SIGNATURE_INVALID"),
        ("signature-by-another-key", "SIGNATURE_INVALID"),
        ("unknown-key", "UNKNOWN_KEY"),
        ("malformed-value", "SIGNATURE_MALFORMED"),
        ("malformed-key-id", "SIGNATURE_MALFORMED"),
    ],
)
def test_signature_refused(shared: Shared, case: str, code: str) -> None:
    record = shared.world.record(number())
    body = {"record": record, "signature": _bad_signature(shared.world, record, case)}
    refused(shared.api.post("/v1/certificates", json=body, headers=bearer(shared.world.token)), 422, code)
    absent(shared, record["certificate_number"])


# ------------------------------------------------------------------------------------------------ chain state


def _lab(world: LabWorld) -> bytes:
    return bytes.fromhex(world.lab_id[2:])


_CHAIN_CHANGES: dict[str, Callable[[LabWorld], object]] = {
    "suspended-lab": lambda w: w.chain.contracts.suspend_lab(w.province, _lab(w)),
    "revoked-lab": lambda w: w.chain.contracts.revoke_lab(w.province, _lab(w)),
    "closed-own-key": lambda w: w.chain.contracts.close_key(w.admin, w.lab_key.key_id),
    "closed-held-key": lambda w: w.chain.contracts.close_key(w.admin, bytes.fromhex(w.held_key_id[2:])),
}


@pytest.mark.parametrize(
    ("change", "lab_signed", "status", "code"),
    [
        ("suspended-lab", False, 403, "LAB_SUSPENDED"),
        ("suspended-lab", True, 403, "LAB_SUSPENDED"),
        ("revoked-lab", False, 403, "LAB_REVOKED"),
        ("closed-own-key", True, 422, "KEY_NOT_VALID"),
        ("closed-held-key", False, 422, "KEY_NOT_HELD"),
    ],
)
def test_refused_by_the_chain(
    api: TestClient, world: LabWorld, change: str, lab_signed: bool, status: int, code: str
) -> None:
    _CHAIN_CHANGES[change](world)
    world.core.forget_chain_answers()
    record = world.record("JD-1")
    body = signed(world, record) if lab_signed else {"record": record}
    refused(api.post("/v1/certificates", json=body, headers=bearer(world.token)), status, code)


# ------------------------------------------------------------------------------------------------ credentials


@pytest.fixture(scope="module")
def anchored(shared: Shared) -> str:
    """A certificate of the shared lab, anchored: the target of the credential cases."""
    digest = issue(shared.api, shared.world, number("ANCHORED"))["digest"]
    drain(shared.world)
    return digest


def _token(world: LabWorld, who: str) -> dict[str, str]:
    if who == "none":
        return {}
    if who == "wrong":
        return bearer("tc_lab_not-a-token")
    if who == "basic":
        return {"Authorization": f"Basic {world.token}"}
    if who == "revoked":
        token_id, token = world.core.issue_token("LAB", lab_id=world.lab_id)
        world.core.revoke_token(token_id)
        return bearer(token)
    if who == "jiangsu":
        return bearer(world.core.issue_token("REGULATOR", regulator_address=world.chain.actor("jiangsu").address)[1])
    return bearer({"lab": world.token, "other": world.other_token, "regulator": world.regulator_token}[who])


@pytest.mark.parametrize(
    ("method", "path", "who", "status", "code"),
    [
        ("POST", "/v1/certificates", "none", 401, "UNAUTHORIZED"),
        ("POST", "/v1/certificates", "wrong", 401, "UNAUTHORIZED"),
        ("POST", "/v1/certificates", "basic", 401, "UNAUTHORIZED"),
        ("POST", "/v1/certificates", "revoked", 401, "UNAUTHORIZED"),
        ("POST", "/v1/certificates", "regulator", 403, "NOT_A_LAB"),
        ("POST", "/v1/certificates/bulk", "none", 401, "UNAUTHORIZED"),
        ("GET", "/v1/certificates/{digest}", "wrong", 401, "UNAUTHORIZED"),  # reads are public, bad tokens are not
        ("GET", "/v1/certificates/{digest}/bundle", "none", 401, "UNAUTHORIZED"),
        ("GET", "/v1/certificates/{digest}/bundle", "other", 403, "WRONG_LAB"),
        ("GET", "/v1/certificates/{digest}/bundle", "jiangsu", 403, "NOT_REGULATOR_OVER_LAB"),
        ("POST", "/v1/certificates/{digest}/revoke", "none", 401, "UNAUTHORIZED"),
        ("POST", "/v1/certificates/{digest}/revoke", "other", 403, "WRONG_LAB"),
        ("POST", "/v1/certificates/{digest}/revoke", "jiangsu", 403, "NOT_REGULATOR_OVER_LAB"),
        ("POST", "/v1/certificates/{digest}/substitute", "none", 401, "UNAUTHORIZED"),
        ("POST", "/v1/certificates/{digest}/substitute", "other", 403, "WRONG_LAB"),
        ("GET", "/v1/fraud-signals", "none", 401, "UNAUTHORIZED"),
        ("GET", "/v1/fraud-signals", "lab", 403, "NOT_A_REGULATOR"),
    ],
)
def test_credentials_refused(
    shared: Shared, anchored: str, method: str, path: str, who: str, status: int, code: str
) -> None:
    w = shared.world
    n = number()
    if path.endswith("revoke"):
        body: Any = {"reason": 1}
    elif path.endswith("substitute"):
        body = {"record": w.record(n, replaces={"certificate_number": "-", "certificate_digest": anchored})}
    else:
        body = {"record": w.record(n)}
    kwargs: dict[str, Any] = {"json": body} if method == "POST" else {}
    refused(shared.api.request(method, path.format(digest=anchored), headers=_token(w, who), **kwargs), status, code)
    absent(shared, n)
    assert shared.api.get(f"/v1/certificates/{anchored}").json()["lifecycle"] is None


# ------------------------------------------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/certificates/0x1234", 422, "INVALID_DIGEST"),
        ("GET", "/v1/certificates/0x" + "AB" * 32, 422, "INVALID_DIGEST"),  # ids are lowercase
        ("GET", "/v1/certificates/bulk", 422, "INVALID_DIGEST"),
        ("GET", f"/v1/certificates/{UNKNOWN}", 404, "UNKNOWN_CERTIFICATE"),
        ("GET", f"/v1/certificates/{UNKNOWN}/qr.png", 404, "UNKNOWN_CERTIFICATE"),
        ("GET", "/v1/certificates/0x12/qr.png", 422, "INVALID_DIGEST"),
        ("GET", f"/v1/certificates/{UNKNOWN}/bundle", 404, "UNKNOWN_CERTIFICATE"),
        ("GET", "/v1/certificates/xyz/bundle", 422, "INVALID_DIGEST"),
        ("POST", "/v1/certificates/xyz/revoke", 422, "INVALID_DIGEST"),
        ("POST", f"/v1/certificates/{UNKNOWN}/revoke", 404, "UNKNOWN_CERTIFICATE"),
        ("POST", f"/v1/certificates/{UNKNOWN}/substitute", 404, "UNKNOWN_CERTIFICATE"),
        ("POST", "/v1/certificates/xyz/publish", 422, "INVALID_DIGEST"),
        ("POST", f"/v1/certificates/{UNKNOWN}/publish", 404, "UNKNOWN_CERTIFICATE"),
        ("GET", "/v1/certificates/0x12/bundle", 422, "INVALID_DIGEST"),
        ("GET", "/v1/labs/xyz/certificates/JD-1", 422, "INVALID_LAB_ID"),
        ("GET", "/v1/labs/{lab_id}/certificates/JD-404", 404, "UNKNOWN_CERTIFICATE"),
        ("GET", "/v1/labs/{lab_id}/certificates/JD%00", 422, "REQUEST_INVALID"),
        ("GET", "/v1/batches/xyz", 422, "INVALID_ROOT"),
        ("GET", f"/v1/batches/{UNKNOWN}", 404, "UNKNOWN_BATCH"),
        ("GET", "/v1/certificates?limit=0", 422, "INVALID_FILTER"),
        ("GET", "/v1/certificates?limit=many", 422, "REQUEST_INVALID"),
        ("GET", "/v1/certificates?status=lost", 422, "INVALID_FILTER"),
        ("GET", "/v1/certificates?lab_id=xyz", 422, "INVALID_LAB_ID"),
        ("GET", "/v1/certificates?cursor=-1", 422, "REQUEST_INVALID"),
        ("GET", "/v1/certificates?cursor=99999999999999999999", 422, "REQUEST_INVALID"),
        ("GET", "/v1/certificates?cursor=5512784094875", 422, "REQUEST_INVALID"),  # found by schemathesis (int32)
        ("GET", "/v1/fraud-signals?cursor=2147483648", 422, "REQUEST_INVALID"),
        ("GET", "/v1/certificates?number=JD%00", 422, "REQUEST_INVALID"),
        ("GET", "/v1/certificates?serial_number=%01", 422, "REQUEST_INVALID"),
        ("GET", "/v1/fraud-signals?limit=5000", 422, "INVALID_FILTER"),
        ("GET", "/v1/fraud-signals?lab_id=0x12", 422, "INVALID_LAB_ID"),
        ("GET", "/v1/nothing", 404, "NOT_FOUND"),
        ("DELETE", "/v1/certificates", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_bad_parameters(shared: Shared, method: str, path: str, status: int, code: str) -> None:
    w = shared.world
    headers = bearer(w.regulator_token if "fraud" in path else w.token)
    body = {"reason": 1} if path.endswith("revoke") else {"record": w.record(number())}
    kwargs: dict[str, Any] = {"json": body} if method == "POST" else {}
    refused(shared.api.request(method, path.format(lab_id=w.lab_id), headers=headers, **kwargs), status, code)


# ------------------------------------------------------------------------------------------------ multipart


def _sha256(data: bytes) -> str:
    return "0x" + hashlib.sha256(data).hexdigest()


PDF = b"%PDF-1.7 original"


def _multipart(world: LabWorld, n: str, case: str) -> list[tuple[str, Any]]:
    bound = world.record(n, original_document={"media_type": "application/pdf", "sha256": _sha256(PDF)})
    record = (None, json.dumps(bound), JSON)
    document = (f"{n}.pdf", PDF, "application/pdf")
    return {
        "document-mismatch": [("record", record), ("document", (f"{n}.pdf", PDF + b"!", "application/pdf"))],
        "document-not-bound": [("record", (None, json.dumps(world.record(n)))), ("document", document)],
        "unknown-part": [("record", record), ("comment", (None, "hello"))],
        "record-not-json": [("record", (None, "{not json")), ("document", document)],
        "no-record": [("document", document)],
        "document-not-a-file": [("record", record), ("document", (None, "%PDF as text"))],
        "record-twice": [("record", record), ("record", record)],
        "signature-unknown-field": [("record", record), ("signature", (None, json.dumps(_sig(world, alg="x"))))],
        "public-not-a-boolean": [("record", record), ("public", (None, "yes"))],
        "public-capitalized": [("record", record), ("public", (None, "True"))],
        "public-twice": [("record", record), ("public", (None, "true")), ("public", (None, "true"))],
    }[case]


@pytest.mark.parametrize(
    ("case", "status", "code", "field"),
    [
        ("document-mismatch", 422, "DOCUMENT_MISMATCH", "original_document.sha256"),
        ("document-not-bound", 422, "DOCUMENT_MISMATCH", "original_document"),
        ("unknown-part", 422, "UNKNOWN_FIELD", "comment"),
        ("record-not-json", 400, "MALFORMED_JSON", "record"),
        ("no-record", 422, "REQUEST_INVALID", "record"),
        ("document-not-a-file", 422, "REQUEST_INVALID", "document"),
        ("record-twice", 422, "REQUEST_INVALID", "record"),
        ("signature-unknown-field", 422, "UNKNOWN_FIELD", "signature.alg"),
        ("public-not-a-boolean", 422, "REQUEST_INVALID", "public"),
        ("public-capitalized", 422, "REQUEST_INVALID", "public"),
        ("public-twice", 422, "REQUEST_INVALID", "public"),
    ],
)
def test_multipart_refused(shared: Shared, case: str, status: int, code: str, field: str) -> None:
    n = number()
    response = shared.api.post(
        "/v1/certificates", headers=bearer(shared.world.token), files=_multipart(shared.world, n, case)
    )
    assert field in fields(refused(response, status, code))
    absent(shared, n)


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
    response = shared.api.get(f"/v1/certificates/{digest}/bundle", headers=_token(w, who))
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
    headers = _token(w, who)
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
