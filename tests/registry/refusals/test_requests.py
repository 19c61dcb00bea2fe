"""Bad requests to the registry API, each a precise 4xx (or 503) with its machine code, never a 500: body framing,
envelopes, records, signatures, the chain's state, credentials, parameters, multipart."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.registry.conftest import LabWorld
from tests.registry.refusals.conftest import JSON, UNKNOWN, Shared, absent, fields, number, refused, token_for
from tests.registry.test_api import LIMITS, bearer, signed
from tracecert.certificate.canonical import certificate_digest, to_hex
from tracecert.certificate.model import record_from_json
from tracecert.certificate.signing import generate_key

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
    refused(shared.api.request(method, path.format(digest=anchored), headers=token_for(w, who), **kwargs), status, code)
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
