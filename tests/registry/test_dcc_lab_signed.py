"""A DCC the lab signed with its own Ed25519 key (``tracecert dcc export --sign-with``), uploaded as a certificate's
original document: accepted when the key is registered on chain to the lab and valid now, whatever the registry's
X.509 DCC trust store holds; refused (422, by code) when it is another key or the DCC changed after signing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from registry.api import create_app
from tests.registry.conftest import LabWorld
from tests.registry.test_api import app_settings, bearer
from tracecert.certificate.dcc.signature import sign_dcc
from tracecert.certificate.signing import generate_key

UNSIGNED = (Path(__file__).parents[1] / "certificate" / "data" / "dcc" / "dcclib-3.3.0-valid.xml").read_bytes()
_LARGE = {"max_body_bytes": 1024 * 1024, "max_document_bytes": 512 * 1024}


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite only: what is checked here is the upload, not the database."""
    return f"sqlite:///{tmp_path / 'registry.db'}"


def _lab_key(world: LabWorld) -> bytes:
    return sign_dcc(UNSIGNED, world.lab_key)


def _held_key(world: LabWorld) -> bytes:
    """The key the registry holds for the lab is a key of the lab too."""
    return sign_dcc(UNSIGNED, world.core.held_signing_key(world.lab_id))


def _unregistered_key(world: LabWorld) -> bytes:
    return sign_dcc(UNSIGNED, generate_key())


def _tampered(world: LabWorld) -> bytes:
    signed = sign_dcc(UNSIGNED, world.lab_key)
    changed = signed.replace(b"<dcc:uniqueIdentifier>", b"<dcc:uniqueIdentifier>X", 1)
    assert changed != signed
    return changed


@pytest.mark.chain
@pytest.mark.parametrize(
    ("document", "status", "code"),
    [
        (_lab_key, 201, None),
        (_held_key, 201, None),
        (_unregistered_key, 422, "DCC_SIGNER_UNTRUSTED"),
        (_tampered, 422, "DCC_SIGNATURE_INVALID"),
    ],
)
def test_lab_signed_dcc_upload(
    world: LabWorld, document: Callable[[LabWorld], bytes], status: int, code: str | None
) -> None:
    client = TestClient(create_app(app_settings(world, **_LARGE), core=world.core, run_worker=False))
    data = document(world)
    number = f"DCC-ED25519-{document.__name__.strip('_')}"
    bound = {"media_type": "application/xml", "sha256": "0x" + hashlib.sha256(data).hexdigest()}
    files = {
        "record": (None, json.dumps(world.record(number, original_document=bound)), "application/json"),
        "document": (f"{number}.xml", data, "application/xml"),
    }
    response = client.post("/v1/certificates", files=files, headers=bearer(world.token))
    body = response.json()
    assert response.status_code == status, body
    if code is None:
        assert body["certificate_number"] == number
        return
    error = body["error"]
    assert error["code"] == code
    assert {d["field"]: d["rule"] for d in error["details"]} == {"original_document": "dcc_signature"}
    answer = client.get(f"/v1/labs/{world.lab_id}/certificates/{number}", headers=bearer(world.token))
    assert answer.status_code == 404  # nothing was accepted
