"""POST /v1/verify against a real chain: a bundle (valid, tampered), an envelope, a record, documents (PDF, DCC
XML) alone or with their bundle, in a form or in JSON, and the moments ``as_of`` accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.verifier.api.conftest import codes, json_bytes
from tests.verifier.conftest import TraceWorld, calibration, tamper
from tests.verifier.world import PDF, with_document
from verifier.errors import InvalidRequest
from verifier.inputs import parse_as_of

#: A real PTB DCC (the verifier validates XML documents against their declared schema).
DCC = (Path(__file__).parents[2] / "certificate" / "data" / "dcc" / "gp-temperature-typical-3.1.1.xml").read_bytes()
#: Well-formed XML that claims to be a DCC but is not one.
FAKE_DCC = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<dcc:digitalCalibrationCertificate '
    b'xmlns:dcc="https://ptb.de/dcc" schemaVersion="3.1.2"><dcc:administrativeData/>'
    b"</dcc:digitalCalibrationCertificate>\n"
)


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
            ("file", ("bundle.json", json_bytes(pdf_bundle), "application/json")),
            ("file", ("cert.pdf", bytes(altered), "application/pdf")),
        ],
    ).json()
    assert both["verdict"] == "INVALID" and "DOCUMENT_MATCHES" in codes(both)
    named = api.post(
        "/v1/verify",
        files={
            "bundle": ("b.json", json_bytes(pdf_bundle), "application/json"),
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


def test_fabricated_dcc_is_refused_by_its_schema(api: TestClient, world: TraceWorld) -> None:
    with_document(world, "NIM-API-FAKE-DCC", FAKE_DCC, "application/xml")
    body = api.post("/v1/verify", files={"file": ("dcc.xml", FAKE_DCC, "application/xml")}).json()
    assert body["verdict"] == "INVALID" and "DOCUMENT_WELL_FORMED" in codes(body)


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
