"""A signed DCC uploaded as a certificate's original document (multipart) is accepted only when its XML signature
verifies against the registry's DCC trust store (``dcc_trust_dirs``); refusals are 422 with the signature's code."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from registry.api import create_app
from registry.config import RegistrySettings
from tests.registry.conftest import LabWorld
from tests.registry.test_api import app_settings, bearer

DATA = Path(__file__).parents[1] / "certificate" / "data" / "dcc"
PYDCC_ROOT = DATA / "trust" / "pydcc" / "root.crt"
DCCLIB_CA = DATA / "trust" / "dcclib" / "ca.pem"
_LARGE = {"max_body_bytes": 1024 * 1024, "max_document_bytes": 512 * 1024}


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite only: what is checked here is the upload, not the database."""
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def trusting(world: LabWorld) -> Iterator[dict[str, TestClient]]:
    """Clients of apps whose registry trusts: nothing, the pydcc root, the dcclib CA."""
    base = world.core.settings
    clients: dict[str, TestClient] = {}
    for name, dirs in {"nothing": [], "pydcc": [PYDCC_ROOT], "dcclib": [DCCLIB_CA]}.items():
        clients[name] = TestClient(_app(world, base, dirs))
    try:
        yield clients
    finally:
        world.core.settings = base


def _app(world: LabWorld, base: RegistrySettings, dirs: list[Path]) -> object:
    settings = base.model_copy(update={**_LARGE, "dcc_trust_dirs": dirs})
    return _Switching(world, settings, create_app(app_settings(world, **_LARGE), core=world.core, run_worker=False))


class _Switching:
    """An ASGI app that sets the core's settings (which the acceptance reads) before each request."""

    def __init__(self, world: LabWorld, settings: RegistrySettings, app: object) -> None:
        self.world, self.settings, self.app = world, settings, app

    async def __call__(self, scope: object, receive: object, send: object) -> None:
        self.world.core.settings = self.settings
        await self.app(scope, receive, send)  # type: ignore[operator]


def _upload(client: TestClient, world: LabWorld, number: str, document: bytes) -> tuple[int, dict[str, object]]:
    bound = {"media_type": "application/xml", "sha256": "0x" + hashlib.sha256(document).hexdigest()}
    files = {
        "record": (None, json.dumps(world.record(number, original_document=bound)), "application/json"),
        "document": (f"{number}.xml", document, "application/xml"),
    }
    response = client.post("/v1/certificates", files=files, headers=bearer(world.token))
    return response.status_code, response.json()


@pytest.mark.chain
@pytest.mark.parametrize(
    ("file", "trust", "status", "code"),
    [
        ("gp-temperature-typical-3.2.0-signed-lt.xml", "pydcc", 201, None),
        ("gp-temperature-typical-3.2.0-signed-lt-revoked-signer.xml", "pydcc", 422, "DCC_SIGNER_REVOKED"),
        ("dcclib-3.3.0-signed-tampered.xml", "dcclib", 422, "DCC_SIGNATURE_INVALID"),
        ("gp-temperature-typical-3.2.0-signed-lt.xml", "dcclib", 422, "DCC_SIGNER_UNTRUSTED"),
        ("gp-temperature-typical-3.2.0-signed-lt.xml", "nothing", 422, "DCC_SIGNER_UNTRUSTED"),
        ("dcclib-3.3.0-valid.xml", "nothing", 201, None),  # unsigned: nothing to verify
    ],
)
def test_signed_dcc_upload(
    trusting: dict[str, TestClient], world: LabWorld, file: str, trust: str, status: int, code: str | None
) -> None:
    number = f"DCC-{file.split('.xml')[0][-24:]}-{trust}"
    got_status, body = _upload(trusting[trust], world, number, (DATA / file).read_bytes())
    assert got_status == status, body
    if code is None:
        assert body["certificate_number"] == number
        return
    error = body["error"]
    assert isinstance(error, dict) and error["code"] == code
    assert {d["field"]: d["rule"] for d in error["details"]} == {"original_document": "dcc_signature"}
    if trust == "nothing":
        assert "TRACECERT_REGISTRY_DCC_TRUST_DIRS" in error["message"]
    answer = trusting[trust].get(f"/v1/labs/{world.lab_id}/certificates/{number}", headers=bearer(world.token))
    assert answer.status_code == 404  # nothing was accepted


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (None, []),
        ("/etc/dcc/anchors", [Path("/etc/dcc/anchors")]),
        ("/a, /b/root.crt", [Path("/a"), Path("/b/root.crt")]),
        ('["/a", "/b"]', [Path("/a"), Path("/b")]),
    ],
)
def test_trust_dirs_setting(monkeypatch: pytest.MonkeyPatch, env: str | None, expected: list[Path]) -> None:
    if env is None:
        monkeypatch.delenv("TRACECERT_REGISTRY_DCC_TRUST_DIRS", raising=False)
    else:
        monkeypatch.setenv("TRACECERT_REGISTRY_DCC_TRUST_DIRS", env)
    assert RegistrySettings().dcc_trust_dirs == expected
