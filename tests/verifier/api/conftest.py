"""The verifier's HTTP API tests' world: one per module (three labs on a deployment of their own, a chain of three
certificates), the app over its verifier, and their helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.verifier.conftest import TraceWorld, chain_of_three
from tests.verifier.world import build_world
from tracecert.chain.client import ChainClient
from verifier.api import create_app
from verifier.config import VerifierSettings

#: A digest no certificate has.
UNKNOWN = "0x" + "cd" * 32


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
    """The codes of a report's reasons."""
    return {r["code"] for r in body["reasons"]}


def json_bytes(obj: Any) -> bytes:
    """``obj`` as a JSON file's bytes (as a person would upload it: UTF-8, not ASCII-escaped)."""
    return json.dumps(obj, ensure_ascii=False).encode()
