"""The verifier service in a process of its own, under inputs that once crashed it: each is a precise 4xx, and the
process lives on. Anonymous requests, and a registry URL (never trusted) that answers hostile JSON."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hostile import DEEP_JSON, DEEP_OBJECT, DEEP_XML, HUGE_INT, assert_alive, impostor, service
from tests.verifier.conftest import TraceWorld, chain_of_three
from tests.verifier.world import build_world
from tracecert.chain.client import ChainClient

pytestmark = pytest.mark.chain


@contextmanager
def _serve(
    world: TraceWorld, tmp_path: Path, registry: str | None
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    world.chain.contracts.deployment.save(tmp_path / "deployment.json")
    log = tmp_path / "verifier.log"
    env = {"TRACECERT_VERIFIER_RPC_URL": world.chain.client.url, "TRACECERT_VERIFIER_DATA_DIR": str(tmp_path)}
    if registry is not None:
        env["TRACECERT_VERIFIER_REGISTRY_URLS"] = registry
    with service(["verifier", "serve", "--chain-view", "index"], env, log=log) as (url, process):
        yield url, process, log


@pytest.fixture(scope="module")
def running(
    client: ChainClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path, Any]]:
    """``tracecert verifier serve`` on its own index, and a certificate anchored with its chain of standards: one
    process for every case (each checks that it still lives after its request), on a world of the module's own."""
    world = build_world(client)
    _, _, leaf = chain_of_three(world)
    with _serve(world, tmp_path_factory.mktemp("hostile"), None) as (url, process, log):
        yield url, process, log, leaf


def _json(body: bytes) -> dict[str, Any]:
    return {"content": body, "headers": {"Content-Type": "application/json"}}


def _verify_body(leaf: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return _json(json.dumps({"bundle": leaf, **extra}).encode())


# (name, request, expected status, expected code); ``request`` builds httpx arguments from the anchored leaf.
CASES: list[tuple[str, Any, int, str]] = [
    ("deep JSON body", lambda leaf: _json(DEEP_JSON), 400, "JSON_TOO_DEEP"),
    ("deep JSON object body", lambda leaf: _json(DEEP_OBJECT), 400, "JSON_TOO_DEEP"),
    ("deep JSON file upload", lambda leaf: {"files": {"file": ("x.json", DEEP_OBJECT)}}, 400, "JSON_TOO_DEEP"),
    ("5,000-digit integer", lambda leaf: _json(b'{"as_of": ' + HUGE_INT.encode() + b"}"), 400, "MALFORMED_JSON"),
    ("as_of 1e400", lambda leaf: _json(b'{"as_of": 1e400, "record": {}}'), 400, "MALFORMED_JSON"),
    ("as_of an object", lambda leaf: _verify_body(leaf, as_of={"y": 2026}), 422, "INVALID_AS_OF"),
    ("as_of a list", lambda leaf: _verify_body(leaf, as_of=[2026]), 422, "INVALID_AS_OF"),
    ("as_of a huge integer", lambda leaf: _verify_body(leaf, as_of=10**30), 422, "INVALID_AS_OF"),
    ("deep XML file upload", lambda leaf: {"files": {"file": ("x.xml", DEEP_XML)}}, 200, ""),
]


@pytest.mark.parametrize(("name", "request_of", "status", "code"), CASES, ids=[c[0] for c in CASES])
def test_hostile_verify_request_is_refused_and_the_service_lives(
    running: tuple[str, subprocess.Popen[bytes], Path, Any], name: str, request_of: Any, status: int, code: str
) -> None:
    url, process, log, leaf = running
    response = httpx.post(f"{url}/v1/verify", timeout=60, **request_of(leaf))
    assert response.status_code == status, response.text
    if code:
        assert response.json()["error"]["code"] == code
    else:  # a document nobody anchored: unknown, never valid
        assert response.json()["verdict"] == "INVALID"
    assert_alive(url, process, log)


def test_hostile_registry_url_neither_stops_the_verifier_nor_counts(trace_world: TraceWorld, tmp_path: Path) -> None:
    """A registry URL (never trusted) that answers 100,000-deep JSON to every request, batch listings and bundles
    alike, with a batch on chain so that the index asks for its listing: the verifier starts (``service`` waits
    for /health, answered once the index caught up) and a lookup through it finds nothing instead of dying."""
    _, _, leaf = chain_of_three(trace_world)
    with impostor(DEEP_JSON) as registry, _serve(trace_world, tmp_path, registry) as (url, process, log):
        found = httpx.get(f"{url}/v1/certificates/{leaf['digest']}/verification", timeout=60)
        assert found.status_code in (200, 404), found.text
        if found.status_code == 200:  # the chain knows the batch; no usable bundle came from the impostor
            assert found.json()["verdict"] == "INVALID"
        verified = httpx.post(f"{url}/v1/verify", json=leaf, timeout=60)  # its standards come from the impostor
        assert verified.status_code == 200
        assert "TRACE_STANDARD_FOUND" in {r["code"] for r in verified.json()["reasons"]}
        assert_alive(url, process, log)
