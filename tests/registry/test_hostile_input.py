"""The registry service in a process of its own (``tracecert registry serve``), under inputs that once crashed it or
answered 500: each is a precise 4xx for a lab's token, and the process lives on."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hostile import DEEP_JSON, DEEP_OBJECT, HUGE_INT, assert_alive, service
from tests.registry.conftest import LabWorld, standalone_world
from tracecert.chain.client import ChainClient

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def world(client: ChainClient, tmp_path_factory: pytest.TempPathFactory) -> LabWorld:
    """One world for the module, on SQLite: the parsing under test happens before any database work."""
    directory = tmp_path_factory.mktemp("hostile")
    return standalone_world(client, f"sqlite:///{directory / 'registry.db'}", directory)


@pytest.fixture(scope="module")
def running(world: LabWorld) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """The world's registry database served by ``tracecert registry serve --no-worker``, one process for every
    case: each case checks that it still lives after its request."""
    tmp_path = world.core.settings.data_dir
    world.chain.contracts.deployment.save(tmp_path / "deployment.json")
    env = {
        "TRACECERT_REGISTRY_DATABASE_URL": world.core.settings.database,
        "TRACECERT_REGISTRY_SECRET": "s" * 40,
    }
    args = ["registry", "serve", "--no-worker", "--data-dir", str(tmp_path), "--rpc-url", world.chain.client.url]
    log = tmp_path / "registry.log"
    with service(args, env, log=log) as (url, process):
        yield url, process, log


def _json(body: bytes) -> dict[str, Any]:
    return {"content": body, "headers": {"Content-Type": "application/json"}}


def _huge_int_record(world: LabWorld) -> bytes:
    text = json.dumps({"record": world.record("JD2026-HUGE")}, ensure_ascii=False)
    return text.replace('"certificate_number": "JD2026-HUGE"', f'"certificate_number": {HUGE_INT}').encode()


DIGEST = "0x" + "ab" * 32
SINGLE, BULK, REVOKE = "/v1/certificates", "/v1/certificates/bulk", f"/v1/certificates/{DIGEST}/revoke"

# (name, path, request builder, expected status, expected code)
CASES: list[tuple[str, str, Any, int, str]] = [
    ("single: deep array", SINGLE, lambda w: _json(DEEP_JSON), 400, "JSON_TOO_DEEP"),
    ("single: deep object", SINGLE, lambda w: _json(DEEP_OBJECT), 400, "JSON_TOO_DEEP"),
    ("single: 65 levels", SINGLE, lambda w: _json(b"[" * 65 + b"]" * 65), 400, "JSON_TOO_DEEP"),
    ("bulk: deep array", BULK, lambda w: _json(DEEP_JSON), 400, "JSON_TOO_DEEP"),
    ("revoke: deep object", REVOKE, lambda w: _json(DEEP_OBJECT), 400, "JSON_TOO_DEEP"),
    ("multipart: deep record part", SINGLE, lambda w: {"files": {"record": (None, DEEP_OBJECT)}}, 400, "JSON_TOO_DEEP"),
    ("single: 5,000-digit integer", SINGLE, lambda w: _json(_huge_int_record(w)), 400, "MALFORMED_JSON"),
    (
        "bulk: 5,000-digit integer",
        BULK,
        lambda w: _json(b'{"certificates": [' + HUGE_INT.encode() + b"]}"),
        400,
        "MALFORMED_JSON",
    ),
    (
        "revoke: 5,000-digit reason",
        REVOKE,
        lambda w: _json(b'{"reason": ' + HUGE_INT.encode() + b"}"),
        400,
        "MALFORMED_JSON",
    ),
    ("revoke: reason 1e400", REVOKE, lambda w: _json(b'{"reason": 1e400}'), 400, "MALFORMED_JSON"),
]


@pytest.mark.parametrize(("name", "path", "request_of", "status", "code"), CASES, ids=[c[0] for c in CASES])
def test_hostile_body_is_refused_and_the_service_lives(
    world: LabWorld,
    running: tuple[str, subprocess.Popen[bytes], Path],
    name: str,
    path: str,
    request_of: Any,
    status: int,
    code: str,
) -> None:
    url, process, log = running
    arguments = request_of(world)
    headers = {"Authorization": f"Bearer {world.token}", **arguments.pop("headers", {})}
    response = httpx.post(f"{url}{path}", headers=headers, timeout=60, **arguments)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert_alive(url, process, log)
