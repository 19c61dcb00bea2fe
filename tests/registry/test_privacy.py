"""What each caller may read of a private and of a published certificate: a table of role × endpoint × field.

The public may enumerate published certificates only. A private certificate is found by an exact lookup (its lab
and number, the hash of its document, its digest), as verification needs, but its instrument's serial number is
withheld, and so is its number wherever the caller did not name it; batch listings give its number as a tag
only. Its lab and the regulators over it (the province, the national authority) see everything; another lab and a
regulator elsewhere (Jiangsu) see what the public sees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from registry.anchoring import AnchoringWorker
from registry.api.app import create_app
from tests.registry.conftest import LabWorld
from tracecert.certificate.canonical import from_hex, number_tag, to_hex

PRIVATE, PUBLIC = "JD2026-P0001", "JD2026-Q0001"
SERIAL = "SN-PRIV-7"
PDF = b"%PDF-1.7 a private certificate's original\n"


@pytest.fixture
def api(world: LabWorld) -> Iterator[TestClient]:
    """The world's registry app, without a worker (the test anchors)."""
    with TestClient(create_app(world.core.settings, core=world.core, run_worker=False)) as client:
        yield client


def _tokens(world: LabWorld) -> dict[str, str | None]:
    _, jiangsu = world.core.issue_token("REGULATOR", regulator_address=world.chain.actor("jiangsu").address)
    _, national = world.core.issue_token("REGULATOR", regulator_address=world.chain.national.address)
    return {
        "anonymous": None,
        "lab": world.token,
        "other lab": world.other_token,
        "regulator over": world.regulator_token,
        "national": national,
        "regulator elsewhere": jiangsu,
    }


#: Who sees a private certificate in full.
INSIDERS = frozenset({"lab", "regulator over", "national"})

#: endpoint → for an outsider, is the private certificate found, and which of (number, serial) are shown.
#: (None: the endpoint shows no such field, e.g. a bundle is all or nothing.)
OUTSIDER_SEES: dict[str, tuple[bool, bool | None, bool | None]] = {
    "enumerate": (False, None, None),  # GET /v1/certificates?lab_id=…
    "by lab and number": (True, True, False),  # GET /v1/certificates?lab_id=…&number=…
    "by document hash": (True, True, False),  # GET /v1/certificates?document_sha256=…
    "by digest": (True, False, False),  # GET /v1/certificates/{digest}
    "read by number": (True, True, False),  # GET /v1/labs/{lab}/certificates/{number}
    "batch listing": (True, False, False),  # GET /v1/batches/{root}
    "bundle": (False, None, None),  # GET /v1/certificates/{digest}/bundle
}


def _bearer(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def _find(api: TestClient, world: LabWorld, endpoint: str, token: str | None, digest: str, number: str,
          root: str) -> tuple[int, dict[str, Any] | None]:  # fmt: skip
    """(status, the certificate as this endpoint shows it, or None when it is not there)."""
    h = _bearer(token)
    if endpoint in ("enumerate", "by lab and number", "by document hash"):
        params = {
            "enumerate": {"lab_id": world.lab_id},
            "by lab and number": {"lab_id": world.lab_id, "number": number},
            "by document hash": {"document_sha256": "0x" + hashlib.sha256(PDF).hexdigest()},
        }[endpoint]
        answer = api.get("/v1/certificates", params=params, headers=h)
        found = [i for i in answer.json()["items"] if i["digest"] == digest]
        return answer.status_code, found[0] if found else None
    if endpoint == "batch listing":
        answer = api.get(f"/v1/batches/{root}", headers=h)
        leaf = next(leaf for leaf in answer.json()["leaves"] if leaf["digest"] == digest)
        assert leaf["number_tag"] == to_hex(number_tag(from_hex(world.lab_id), number))  # for everyone
        return answer.status_code, leaf
    path = {
        "by digest": f"/v1/certificates/{digest}",
        "read by number": f"/v1/labs/{world.lab_id}/certificates/{number}",
        "bundle": f"/v1/certificates/{digest}/bundle",
    }[endpoint]
    answer = api.get(path, headers=h)
    if endpoint == "bundle":
        return answer.status_code, (answer.json()["record"] if answer.status_code == 200 else None)
    return answer.status_code, answer.json()


def test_who_reads_what_of_a_private_and_a_published_certificate(api: TestClient, world: LabWorld) -> None:
    private_record = world.record(PRIVATE)
    private_record["item"]["serial_number"] = SERIAL
    private_record["original_document"] = {
        "media_type": "application/pdf",
        "sha256": "0x" + hashlib.sha256(PDF).hexdigest(),
    }
    digests = {}
    for number, record, public in ((PRIVATE, private_record, False), (PUBLIC, world.record(PUBLIC), True)):
        answer = api.post("/v1/certificates", json={"record": record, "public": public}, headers=_bearer(world.token))
        assert answer.status_code == 201, answer.text
        digests[number] = answer.json()["digest"]
    AnchoringWorker(world.core).drain()
    root = api.get(f"/v1/certificates/{digests[PRIVATE]}").json()["batch"]["root"]

    wrong: list[str] = []
    for role, token in _tokens(world).items():
        for endpoint, (found_by_outsider, number_shown, serial_shown) in OUTSIDER_SEES.items():
            for number in (PRIVATE, PUBLIC):
                if endpoint == "by document hash" and number == PUBLIC:
                    continue  # only the private record binds the document
                insider = role in INSIDERS or number == PUBLIC
                status, seen = _find(api, world, endpoint, token, digests[number], number, root)
                where = f"{role} / {endpoint} / {'private' if number == PRIVATE else 'published'}"
                expect_found = insider or found_by_outsider
                if (seen is not None) != expect_found:
                    wrong.append(f"{where}: found={seen is not None} (HTTP {status}), expected {expect_found}")
                    continue
                if seen is None or endpoint == "bundle":
                    if endpoint == "bundle" and not expect_found:
                        expected_status = 401 if token is None else 403
                        if status != expected_status:
                            wrong.append(f"{where}: HTTP {status}, expected {expected_status}")
                    continue
                shown = {
                    "certificate_number": insider or bool(number_shown),
                    "serial_number": insider or bool(serial_shown),
                }
                for field, expected in shown.items():
                    value = seen.get(field)
                    if (value is not None) != expected:
                        wrong.append(f"{where}: {field}={value!r}, expected {'shown' if expected else 'withheld'}")
                withheld = sorted(f for f, is_shown in shown.items() if not is_shown)
                if sorted(seen.get("withheld") or []) != withheld:
                    wrong.append(f"{where}: withheld={seen.get('withheld')!r}, expected {withheld}")
                record_expected = endpoint in ("by digest", "read by number") and role in INSIDERS
                if ("record" in seen) != record_expected:
                    wrong.append(f"{where}: record {'shown' if 'record' in seen else 'absent'}")
    assert wrong == []


def test_a_verifier_finds_a_private_certificate_by_its_number_tag(api: TestClient, world: LabWorld) -> None:
    """The number tag of a withheld leaf is the one the verifier's index computes from the printed number."""
    answer = api.post("/v1/certificates", json={"record": world.record(PRIVATE)}, headers=_bearer(world.token))
    digest = answer.json()["digest"]
    AnchoringWorker(world.core).drain()
    root = api.get(f"/v1/certificates/{digest}").json()["batch"]["root"]
    leaf = api.get(f"/v1/batches/{root}").json()["leaves"][0]
    assert leaf["certificate_number"] is None and leaf["withheld"] == ["certificate_number", "serial_number"]
    assert from_hex(leaf["number_tag"]) == number_tag(from_hex(world.lab_id), PRIVATE)
    assert from_hex(leaf["number_tag"]) != number_tag(from_hex(world.other_lab_id), PRIVATE)  # per lab
