"""The verifier's HTTP API against a real chain: valid, tampered, unknown, documents, errors, rate limit, page."""

from __future__ import annotations

import copy
import hashlib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from tests.conftest import Chain
from tests.verifier.conftest import TraceWorld, _lab, calibration, chain_of_three, standard_from, tamper, usci
from tracecert.certificate.canonical import from_hex
from tracecert.chain.client import ChainClient
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.deploy import deploy
from tracecert.chain.sender import TransactionSender
from tracecert.chain.types import Activity, LabKind, RevocationReason
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from verifier.api import TokenBucket, VerifierService, create_app
from verifier.config import VerifierSettings
from verifier.errors import InvalidRequest
from verifier.inputs import parse_as_of

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
#: A real PTB DCC (the verifier validates XML documents against their declared schema).
DCC = (Path(__file__).parents[1] / "certificate" / "data" / "dcc" / "gp-temperature-typical-3.1.1.xml").read_bytes()
#: Well-formed XML that claims to be a DCC but is not one.
FAKE_DCC = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<dcc:digitalCalibrationCertificate '
    b'xmlns:dcc="https://ptb.de/dcc" schemaVersion="3.1.2"><dcc:administrativeData/>'
    b"</dcc:digitalCalibrationCertificate>\n"
)


def build_world(client: ChainClient) -> TraceWorld:
    """The same three labs as the ``trace_world`` fixture, on a fresh deployment, for a module-scoped world."""
    national_account = Account.create()
    client.set_balance(national_account.address, 10**22)
    national = TransactionSender(client, national_account)
    chain = Chain(
        client, ChainContracts(client, deploy(client, national, national_authority=national.address)), national
    )
    c = chain.contracts
    province, city_reg = chain.actor("zhejiang"), chain.actor("hangzhou")
    c.register_regulator(chain.national, province.address, 330000, "浙江省市场监督管理局")
    c.register_regulator(province, city_reg.address, 330100, "杭州市市场监督管理局")
    now = chain.now()  # windows around the node's clock, however far earlier tests have moved it
    start, end = now - 6 * 365 * 86_400, now + 10 * 365 * 86_400
    pressure = {"PRESSURE": Activity.VERIFY | Activity.CALIBRATE, "JJG52": Activity.VERIFY}
    labs = [
        (
            chain.national,
            "12100000400000624",
            "中国计量科学研究院",
            LabKind.NMI,
            110000,
            {"PRESSURE": Activity.CALIBRATE},
        ),
        (province, "12330000470000212", "浙江省计量科学研究院", LabKind.LEGAL_METROLOGY_INSTITUTE, 330000, pressure),
        (city_reg, "12330100470001234", "杭州市计量检定测试院", LabKind.LEGAL_METROLOGY_INSTITUTE, 330100, pressure),
    ]
    made = [
        _lab(chain, reg, usci(body), name, kind, juris, scope, f"AUTH-{body[-4:]}", start, end)
        for reg, body, name, kind, juris, scope in labs
    ]
    chain.advance(30 * 86_400)
    return TraceWorld(chain, chain.national, province, city_reg, *made)


def with_document(world: TraceWorld, number: str, data: bytes, media_type: str) -> dict[str, Any]:
    """An NMI certificate binding ``data`` as its original document."""
    d = world.day
    record = calibration(
        world.nmi, number, serial=f"PG-{number}", item="活塞式压力计", u="0.0005", performed=d(-2), issued=d(-1)
    )
    record["original_document"] = {"media_type": media_type, "sha256": "0x" + hashlib.sha256(data).hexdigest()}
    [bundle] = world.issue(world.nmi, record)
    return bundle


@pytest.fixture(scope="module")
def world(client: ChainClient) -> TraceWorld:
    return build_world(client)


@pytest.fixture(scope="module")
def chain3(world: TraceWorld) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    return chain_of_three(world)


@pytest.fixture(scope="module")
def api(world: TraceWorld) -> Iterator[TestClient]:
    """The app over the world's verifier (LiveChainView + MemorySource); 64 KiB uploads, no rate limit."""
    settings = VerifierSettings(max_upload_bytes=64 * 1024, rate_limit_per_minute=0)
    with TestClient(create_app(settings, verifier=world.verifier)) as client:
        yield client


def codes(body: dict[str, Any]) -> set[str]:
    return {r["code"] for r in body["reasons"]}


# ---------------------------------------------------------------------------------------------------- verification


def test_post_a_valid_bundle(api: TestClient, chain3: Any) -> None:
    top, mid, leaf = chain3
    r = api.post("/v1/verify", json=leaf)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["verdict"] == "VALID", body["reasons"]
    assert body["digest"] == leaf["digest"] and not body["unknown"]
    # Every check passes; a node cannot say whether the batch's contents were published (the index can).
    assert {c["code"]: c["outcome"] for c in body["checks"] if c["outcome"] != "PASS"} == {"BATCH_PUBLISHED": "SKIP"}
    assert body["certificate"]["certificate_number"] == "HZ-2026-C0033"
    assert body["anchor"]["root"] == leaf["anchor"]["root"]
    [provincial] = body["trace"]["children"]
    [nmi] = provincial["children"]
    assert (provincial["digest"], nmi["digest"], nmi["lab_kind"]) == (mid["digest"], top["digest"], "NMI")


def test_post_a_tampered_bundle(api: TestClient, chain3: Any) -> None:
    forged = tamper(chain3[2], "results.0.value", "0.000")
    body = api.post("/v1/verify", json=forged).json()
    assert body["verdict"] == "INVALID" and "DIGEST_MATCHES" in codes(body)
    [reason] = [r for r in body["reasons"] if r["code"] == "DIGEST_MATCHES"]
    assert reason["zh"] and reason["en"]


def test_post_an_envelope_with_as_of_and_expected_kind(api: TestClient, chain3: Any) -> None:
    leaf = chain3[2]
    body = api.post("/v1/verify", json={"bundle": leaf, "expected_kind": "verification"}).json()
    assert body["verdict"] == "INVALID" and "KIND_AS_EXPECTED" in codes(body)
    later = api.post("/v1/verify", json={"bundle": leaf, "as_of": "2099-01-01"}).json()
    assert "NOT_EXPIRED" in codes(later)
    assert later["as_of"] == parse_as_of("2099-01-01")
    # The query string works for a bare bundle too.
    query = api.post("/v1/verify?expected_kind=calibration&as_of=2099-01-01", json=leaf).json()
    assert codes(query) == {"NOT_EXPIRED"}


def test_post_a_record_finds_its_bundle(api: TestClient, world: TraceWorld, chain3: Any) -> None:
    body = api.post("/v1/verify", json={"record": chain3[2]["record"]}).json()
    assert body["verdict"] == "VALID", body["reasons"]
    never = calibration(world.city, "HZ-NEVER-ANCHORED", serial="X", item="压力表", u="0.01")
    unknown = api.post("/v1/verify", json={"record": never}).json()
    assert unknown["verdict"] == "INVALID" and unknown["unknown"] and "ANCHORED" in codes(unknown)


def test_get_verification_by_digest(api: TestClient, chain3: Any) -> None:
    leaf = chain3[2]
    body = api.get(f"/v1/certificates/{leaf['digest']}/verification").json()
    assert body["verdict"] == "VALID"
    upper = api.get(f"/v1/certificates/{leaf['digest'].upper().replace('0X', '0x')}/verification").json()
    assert upper["digest"] == leaf["digest"]


def test_unknown_digest_is_an_unknown_invalid_report(api: TestClient) -> None:
    digest = "0x" + "ab" * 32
    r = api.get(f"/v1/certificates/{digest}/verification")
    assert r.status_code == 200
    body = r.json()
    assert body["verdict"] == "INVALID" and body["unknown"] is True and codes(body) == {"ANCHORED"}
    assert body["digest"] == digest and body["trace"] is None


def test_verify_by_lab_and_number(api: TestClient, world: TraceWorld, chain3: Any) -> None:
    number = chain3[2]["record"]["certificate_number"]
    by_id = api.get(f"/v1/labs/{world.city.hex_id}/certificates/{number}/verification").json()
    assert by_id["verdict"] == "VALID" and by_id["digest"] == chain3[2]["digest"]
    by_code = api.get(f"/v1/labs/{world.city.code}/certificates/{number}/verification").json()
    assert by_code["digest"] == chain3[2]["digest"]
    missing = api.get(f"/v1/labs/{world.city.code}/certificates/HZ-NOPE/verification").json()
    assert missing["unknown"] and missing["verdict"] == "INVALID"


def test_number_with_a_slash(api: TestClient, world: TraceWorld, chain3: Any) -> None:
    d = world.day
    [bundle] = world.issue(
        world.city,
        calibration(
            world.city,
            "杭计(2026)校字/0042",
            serial="YB-SLASH",
            item="压力表",
            u="0.01",
            performed=d(-1),
            issued=d(0),
            standards=[standard_from(chain3[1])],
        ),
    )
    body = api.get(f"/v1/labs/{world.city.code}/certificates/杭计(2026)校字/0042/verification").json()
    assert body["digest"] == bundle["digest"] and body["verdict"] == "VALID", body["reasons"]


def test_trace(api: TestClient, chain3: Any) -> None:
    leaf = chain3[2]
    body = api.get(f"/v1/trace/{leaf['digest']}").json()
    assert body["verdict"] == "VALID" and body["digest"] == leaf["digest"]
    tree = body["trace"]
    assert tree["digest"] == leaf["digest"]
    assert tree["children"][0]["children"][0]["lab_kind"] == "NMI"


def test_multipart_document_lookup(api: TestClient, world: TraceWorld) -> None:
    pdf_bundle = with_document(world, "NIM-API-PDF", PDF, "application/pdf")
    xml_bundle = with_document(world, "NIM-API-DCC", DCC, "application/xml")
    found = api.post("/v1/verify", files={"file": ("cert.pdf", PDF, "application/pdf")}).json()
    assert found["verdict"] == "VALID" and found["digest"] == pdf_bundle["digest"], found["reasons"]
    assert any(c["code"] == "DOCUMENT_MATCHES" and c["outcome"] == "PASS" for c in found["checks"])
    dcc = api.post("/v1/verify", files={"file": ("dcc.xml", DCC, "application/octet-stream")}).json()
    assert dcc["verdict"] == "VALID" and dcc["digest"] == xml_bundle["digest"]
    altered = bytearray(PDF)
    altered[100] ^= 0x01
    unknown = api.post("/v1/verify", files={"file": ("cert.pdf", bytes(altered), "application/pdf")}).json()
    assert unknown["unknown"] and unknown["verdict"] == "INVALID" and "ANCHORED" in codes(unknown)

    # The bundle and an altered document together: the document does not match what the record binds.
    both = api.post(
        "/v1/verify",
        files=[
            ("file", ("bundle.json", _json(pdf_bundle), "application/json")),
            ("file", ("cert.pdf", bytes(altered), "application/pdf")),
        ],
    ).json()
    assert both["verdict"] == "INVALID" and "DOCUMENT_MATCHES" in codes(both)
    named = api.post(
        "/v1/verify",
        files={
            "bundle": ("b.json", _json(pdf_bundle), "application/json"),
            "document": ("d.pdf", PDF, "application/pdf"),
        },
        data={"as_of": "2099-01-01"},
    ).json()
    assert "NOT_EXPIRED" in codes(named) and "DOCUMENT_MATCHES" not in codes(named)


def test_document_in_a_json_envelope(api: TestClient, world: TraceWorld) -> None:
    import base64

    bundle = with_document(world, "NIM-API-B64", PDF + b"b64", "application/pdf")
    ok = api.post("/v1/verify", json={"bundle": bundle, "document_base64": base64.b64encode(PDF + b"b64").decode()})
    assert ok.json()["verdict"] == "VALID"
    bad = api.post("/v1/verify", json={"bundle": bundle, "document_base64": base64.b64encode(PDF).decode()})
    assert "DOCUMENT_MATCHES" in codes(bad.json())


def test_revoked_and_valid_as_of_before(api: TestClient, world: TraceWorld, chain3: Any) -> None:
    d = world.day
    [bundle] = world.issue(
        world.city,
        calibration(
            world.city,
            "HZ-API-REVOKED",
            serial="YB-R",
            item="压力表",
            u="0.01",
            performed=d(-1),
            issued=d(0),
            standards=[standard_from(chain3[1])],
        ),
    )
    world.chain.advance(3600)
    world.chain.contracts.revoke(
        world.city.writer, world.city.lab_id, from_hex(bundle["digest"]), RevocationReason.ERROR_IN_CONTENT
    )
    revoked_at = world.chain.now()
    now = api.get(f"/v1/certificates/{bundle['digest']}/verification").json()
    assert now["verdict"] == "INVALID" and "NOT_REVOKED" in codes(now)
    before = api.get(f"/v1/certificates/{bundle['digest']}/verification?as_of={revoked_at - 1800}").json()
    assert before["verdict"] == "VALID", before["reasons"]


# ---------------------------------------------------------------------------------------------------- errors


def _json(obj: Any) -> bytes:
    import json

    return json.dumps(obj, ensure_ascii=False).encode()


def _chunks(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), 8192):
        yield data[i : i + 8192]


UNKNOWN = "0x" + "cd" * 32
BIG = b'{"x": "' + b"a" * 100_000 + b'"}'
BUNDLE = "__bundle__"  # replaced by the valid leaf bundle

ERRORS: list[tuple[str, str, dict[str, Any], int, str]] = [
    # not JSON at all
    (
        "POST",
        "/v1/verify",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        400,
        "MALFORMED_JSON",
    ),
    # duplicate keys are refused (a second "digest" could hide the first)
    (
        "POST",
        "/v1/verify",
        {"content": b'{"a": 1, "a": 2}', "headers": {"content-type": "application/json"}},
        400,
        "MALFORMED_JSON",
    ),
    # a bundle file in a form that is not JSON
    ("POST", "/v1/verify", {"files": {"bundle": ("b.json", b"{oops", "application/json")}}, 400, "MALFORMED_JSON"),
    # a broken multipart body
    (
        "POST",
        "/v1/verify",
        {"content": b"garbage", "headers": {"content-type": "multipart/form-data; boundary=x"}},
        400,
        "MALFORMED_MULTIPART",
    ),
    # plain text
    (
        "POST",
        "/v1/verify",
        {"content": b"hello", "headers": {"content-type": "text/plain"}},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    # no Content-Type
    ("POST", "/v1/verify", {"content": b"{}"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
    # an uploaded file that is neither JSON, PDF nor XML
    (
        "POST",
        "/v1/verify",
        {"files": {"file": ("notes.txt", b"just text", "text/plain")}},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    # a "document" part that is JSON
    (
        "POST",
        "/v1/verify",
        {"files": {"document": ("d.json", b"{}", "application/json")}},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    # over the upload limit, declared by Content-Length
    ("POST", "/v1/verify", {"content": BIG, "headers": {"content-type": "application/json"}}, 413, "PAYLOAD_TOO_LARGE"),
    # over the upload limit, streamed without a length
    (
        "POST",
        "/v1/verify",
        {"content": "__stream__", "headers": {"content-type": "application/json"}},
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    # JSON, but an array
    ("POST", "/v1/verify", {"json": [1, 2]}, 422, "REQUEST_INVALID"),
    # JSON object of no known shape
    ("POST", "/v1/verify", {"json": {"hello": "world"}}, 422, "REQUEST_INVALID"),
    # an envelope with an unknown field
    ("POST", "/v1/verify", {"json": {"bundle": BUNDLE, "extra": 1}}, 422, "REQUEST_INVALID"),
    # a bad as_of in the envelope
    ("POST", "/v1/verify", {"json": {"bundle": BUNDLE, "as_of": "yesterday"}}, 422, "INVALID_AS_OF"),
    # a bad expected kind in the query
    ("POST", "/v1/verify?expected_kind=banana", {"json": BUNDLE}, 422, "INVALID_KIND"),
    # a form without a file
    (
        "POST",
        "/v1/verify",
        {"data": {"as_of": "2026-01-01"}, "files": {"unused": ("", b"", "text/plain")}},
        422,
        "REQUEST_INVALID",
    ),
    # two bundles in one form
    (
        "POST",
        "/v1/verify",
        {"files": [("file", ("a.json", b"{}", "application/json")), ("file", ("b.json", b"{}", "application/json"))]},
        422,
        "REQUEST_INVALID",
    ),
    # a digest that is too short
    ("GET", "/v1/certificates/0x1234/verification", {}, 422, "INVALID_DIGEST"),
    # not hex
    ("GET", f"/v1/certificates/0x{'zz' * 32}/verification", {}, 422, "INVALID_DIGEST"),
    # a bad as_of in the query
    ("GET", f"/v1/certificates/{UNKNOWN}/verification?as_of=13/13/2026", {}, 422, "INVALID_AS_OF"),
    # a lab id that is hex but too short
    ("GET", "/v1/labs/0x12/certificates/A-1/verification", {}, 422, "INVALID_LAB_ID"),
    # a digest the verifier has never seen: no tree to draw
    ("GET", f"/v1/trace/{UNKNOWN}", {}, 404, "NOT_FOUND"),
    ("GET", "/v1/trace/0x12", {}, 422, "INVALID_DIGEST"),
    # no such route
    ("GET", "/v1/nowhere", {}, 404, "NOT_FOUND"),
    # wrong method
    ("DELETE", "/v1/verify", {}, 405, "METHOD_NOT_ALLOWED"),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"), ERRORS, ids=[f"{e[3]}-{e[4]}-{i}" for i, e in enumerate(ERRORS)]
)
def test_errors(
    api: TestClient, chain3: Any, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    kwargs = copy.deepcopy(kwargs)
    if kwargs.get("json") == BUNDLE:
        kwargs["json"] = chain3[2]
    elif isinstance(kwargs.get("json"), dict) and kwargs["json"].get("bundle") == BUNDLE:
        kwargs["json"]["bundle"] = chain3[2]
    if kwargs.get("content") == "__stream__":
        kwargs["content"] = _chunks(BIG)
    if isinstance(kwargs.get("files"), dict) and "unused" in kwargs["files"]:
        del kwargs["files"]
        kwargs["headers"] = {"content-type": "multipart/form-data; boundary=b"}
        kwargs["content"] = b'--b\r\nContent-Disposition: form-data; name="as_of"\r\n\r\n2026-01-01\r\n--b--\r\n'
        del kwargs["data"]
    r = api.request(method, path, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]


# ---------------------------------------------------------------------------------------------------- rate limit


def test_uploads_are_rate_limited_per_client(world: TraceWorld, chain3: Any) -> None:
    settings = VerifierSettings(rate_limit_per_minute=6, rate_limit_burst=2, trust_forwarded_for=True)
    with TestClient(create_app(settings, verifier=world.verifier)) as client:
        leaf = chain3[2]
        for _ in range(2):
            assert client.post("/v1/verify", json=leaf).status_code == 200
        r = client.post("/v1/verify", json=leaf)
        assert r.status_code == 429 and r.json()["error"]["code"] == "RATE_LIMITED"
        assert 1 <= int(r.headers["retry-after"]) <= 10
        # Another client address has its own bucket; reads are not counted.
        other = client.post("/v1/verify", json=leaf, headers={"x-forwarded-for": "203.0.113.7"})
        assert other.status_code == 200
        assert client.get(f"/v1/certificates/{leaf['digest']}/verification").status_code == 200


def test_forwarded_for_is_ignored_unless_trusted(world: TraceWorld, chain3: Any) -> None:
    settings = VerifierSettings(rate_limit_per_minute=1, rate_limit_burst=1)
    with TestClient(create_app(settings, verifier=world.verifier)) as client:
        assert client.post("/v1/verify", json=chain3[2]).status_code == 200
        spoofed = client.post("/v1/verify", json=chain3[2], headers={"x-forwarded-for": "198.51.100.1"})
        assert spoofed.status_code == 429


def test_token_bucket_refills() -> None:
    now = [0.0]
    bucket = TokenBucket(per_minute=60, burst=2, clock=lambda: now[0], max_keys=2)
    assert bucket.take("a") == 0 and bucket.take("a") == 0
    assert bucket.take("a") == pytest.approx(1.0)
    now[0] = 1.0
    assert bucket.take("a") == 0
    bucket.take("b")
    bucket.take("c")  # "a" is forgotten beyond max_keys: it starts full again
    assert bucket.take("a") == 0 and bucket.take("a") == 0


# ---------------------------------------------------------------------------------------------------- settings, health


def test_app_built_from_settings(world: TraceWorld, chain3: Any, tmp_path: Path) -> None:
    """No verifier given: the app opens the chain from an RPC URL, a deployment file and a bundles folder."""
    deployment = tmp_path / "deployment.json"
    world.chain.contracts.deployment.save(deployment)
    folder = tmp_path / "bundles"
    folder.mkdir()
    for i, b in enumerate(chain3):
        (folder / f"{i}.json").write_text(_json(b).decode(), encoding="utf-8")
    base = {"rpc_url": world.chain.client.url, "bundles_dir": folder, "data_dir": tmp_path / "none"}
    settings = VerifierSettings(deployment_file=deployment, **base)
    with TestClient(create_app(settings)) as client:
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["chain_view"] == "LiveChainView"
        assert health["certificate_registry"] == world.chain.contracts.deployment.certificate_registry
        body = client.get(f"/v1/certificates/{chain3[2]['digest']}/verification").json()
        assert body["verdict"] == "VALID", body["reasons"]
    # Without a file: the CertificateRegistry address, pinned to the national authority.
    registry = world.chain.contracts.deployment.certificate_registry
    pinned = VerifierSettings(certificate_registry=registry, trusted_authorities=[world.national.address], **base)
    with TestClient(create_app(pinned)) as client:
        assert client.get(f"/v1/certificates/{chain3[2]['digest']}/verification").json()["verdict"] == "VALID"
    # A root of trust that is not this deployment's: refused.
    stranger = Account.create().address
    untrusted = VerifierSettings(deployment_file=deployment, trusted_authorities=[stranger], **base)
    with TestClient(create_app(untrusted)) as client:
        r = client.get(f"/v1/certificates/{chain3[2]['digest']}/verification")
        assert r.status_code == 503 and r.json()["error"]["code"] == "UNTRUSTED_DEPLOYMENT"
        assert client.get("/health").status_code == 503
    # A regulator below the root is not a root of trust either.
    provincial = VerifierSettings(deployment_file=deployment, trusted_authorities=[world.province.address], **base)
    with TestClient(create_app(provincial)) as client:
        assert client.get("/health").json()["error"]["code"] == "UNTRUSTED_DEPLOYMENT"


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRACECERT_CHAIN_RPC_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("TRACECERT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRACECERT_REGISTRY_URL", "http://127.0.0.1:2")
    monkeypatch.setenv("TRACECERT_VERIFIER_TRUSTED_AUTHORITIES", "0x" + "11" * 20 + ", 0x" + "22" * 20)
    monkeypatch.setenv("TRACECERT_VERIFIER_RATE_LIMIT_PER_MINUTE", "5")
    s = VerifierSettings()
    assert s.rpc_url == "http://127.0.0.1:1" and s.data_dir == tmp_path
    assert s.registry_urls == ["http://127.0.0.1:2"] and len(s.trusted_authorities) == 2
    assert s.rate_limit_per_minute == 5 and s.deployment_path == tmp_path / "deployment.json"
    monkeypatch.setenv("TRACECERT_VERIFIER_RPC_URL", "http://127.0.0.1:3")
    assert VerifierSettings().rpc_url == "http://127.0.0.1:3"


def test_no_chain_is_503(tmp_path: Path) -> None:
    settings = VerifierSettings(rpc_url=None, data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        r = client.get(f"/v1/certificates/{UNKNOWN}/verification")
        assert r.status_code == 503 and r.json()["error"]["code"] == "NO_RPC_URL"
        assert r.headers["retry-after"]
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        assert client.get("/").status_code == 200  # the page is served all the same
    down = VerifierSettings(rpc_url="http://127.0.0.1:9", data_dir=tmp_path, deployment_file=tmp_path / "d.json")
    with TestClient(create_app(down)) as client:
        r = client.get(f"/v1/certificates/{UNKNOWN}/verification")
        assert r.status_code == 503 and r.json()["error"]["code"] in ("CHAIN_UNAVAILABLE", "NO_DEPLOYMENT")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("now", None),
        (1_700_000_000, 1_700_000_000),
        ("1700000000", 1_700_000_000),
        ("2026-04-10", 1_775_836_799),  # end of 2026-04-10 in UTC+8
        ("2026-04-10T12:00:00+08:00", 1_775_793_600),
        ("2026-04-10T12:00:00", 1_775_793_600),  # naive means UTC+8
        ("2026-04-10T04:00:00Z", 1_775_793_600),
    ],
)
def test_parse_as_of(value: Any, expected: int | None) -> None:
    assert parse_as_of(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "-5", True, -1, "10/04/2026"])
def test_parse_as_of_refuses(value: Any) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_as_of(value)
    assert info.value.code == "INVALID_AS_OF"


# ---------------------------------------------------------------------------------------------------- the page


def test_page_and_static_files_are_local(api: TestClient) -> None:
    for path in ("/", "/c/" + UNKNOWN):
        r = api.get(path)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert "/static/app.js" in r.text and 'lang="zh-CN"' in r.text
        assert "default-src 'self'" in r.headers["content-security-policy"]
    for name, kind in (("app.js", "javascript"), ("app.css", "text/css")):
        r = api.get(f"/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"]
    static = Path(__file__).parents[2] / "verifier" / "static"
    for file in static.iterdir():
        text = file.read_text(encoding="utf-8")
        urls = set(re.findall(r"https?://[^\s\"')]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, f"{file.name} refers to {urls}"
    assert api.get("/docs").status_code == 404  # Swagger UI would load from a CDN
    assert api.get("/openapi.json").json()["paths"]["/v1/verify"]


def test_app_over_the_index(world: TraceWorld, chain3: Any, tmp_path: Path) -> None:
    """chain_view=index: the verifier's own index catches up at start and follows the chain while serving."""
    pytest.importorskip("verifier.index", reason="verifier.index is not installed yet")
    deployment = tmp_path / "deployment.json"
    world.chain.contracts.deployment.save(deployment)
    folder = tmp_path / "bundles"
    for i, b in enumerate(chain3):
        folder.mkdir(exist_ok=True)
        (folder / f"{i}.json").write_text(_json(b).decode(), encoding="utf-8")
    d = world.day
    [later] = world.issue(
        world.city,
        calibration(
            world.city,
            "HZ-API-INDEX",
            serial="YB-IX",
            item="压力表",
            u="0.01",
            performed=d(-1),
            issued=d(0),
            standards=[standard_from(chain3[1])],
        ),
    )
    (folder / "later.json").write_text(_json(later).decode(), encoding="utf-8")
    settings = VerifierSettings(
        rpc_url=world.chain.client.url,
        deployment_file=deployment,
        bundles_dir=folder,
        data_dir=tmp_path,
        chain_view="index",
        index_interval=0.1,
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json()["chain_view"] == "Index"
        body = client.get(f"/v1/certificates/{chain3[2]['digest']}/verification").json()
        assert body["verdict"] == "VALID", body["reasons"]
        world.chain.contracts.revoke(
            world.city.writer, world.city.lab_id, from_hex(later["digest"]), RevocationReason.ERROR_IN_CONTENT
        )
        deadline = time.monotonic() + 20
        while True:
            body = client.get(f"/v1/certificates/{later['digest']}/verification").json()
            if "NOT_REVOKED" in codes(body) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert "NOT_REVOKED" in codes(body), body["reasons"]
    assert (tmp_path / "verifier-index.sqlite").exists()


def test_fabricated_dcc_is_refused_by_its_schema(api: TestClient, world: TraceWorld) -> None:
    with_document(world, "NIM-API-FAKE-DCC", FAKE_DCC, "application/xml")
    body = api.post("/v1/verify", files={"file": ("dcc.xml", FAKE_DCC, "application/xml")}).json()
    assert body["verdict"] == "INVALID" and "DOCUMENT_WELL_FORMED" in codes(body)


class _NotALiveNode:
    """Stands for the verifier's index: any chain view that is not a live node."""


@pytest.mark.parametrize(
    ("setting", "view", "registries", "expected"),
    [
        (None, "index", [], 2),
        (None, "index", ["http://registry.test"], 8),
        (None, "live", [], 16),
        (None, None, [], 16),  # not built yet
        (3, "index", [], 3),
        (1, "live", [], 1),
    ],
    ids=["index", "index-remote-sources", "live", "unbuilt", "set-index", "set-live"],
)
def test_verification_threads_by_chain_view(
    setting: int | None, view: str | None, registries: list[str], expected: int
) -> None:
    chain: Any = {"index": _NotALiveNode(), "live": LiveChainView.__new__(LiveChainView), None: None}[view]
    verifier = Verifier(chain) if chain is not None else None
    service = VerifierService(VerifierSettings(verify_threads=setting, registry_urls=registries), verifier)
    assert service.verify_threads() == expected


def test_verifications_run_at_most_verify_threads_at_once() -> None:
    service = VerifierService(VerifierSettings(verify_threads=2), Verifier(_NotALiveNode()))  # type: ignore[arg-type]
    running, peak, lock = [0], [0], threading.Lock()

    def work() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    async def burst() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(12):
                group.start_soon(service.run, work)

    anyio.run(burst)
    assert peak[0] == 2
