"""Bad input to the registry API: the shared world and helpers of the refusal tables (test_requests.py: what a
request carries; test_operations.py: what is done with certificates).

Every case runs on SQLite and on PostgreSQL. Cases that change nothing but certificates of their own (each uses
its own certificate numbers) share one onboarded world per backend and module (``shared``), which keeps the ~150
cases fast; cases that change the chain or a certificate's lifecycle get a fresh ``world`` each. No case may reach
the catch-all (``_no_internal_errors``, for every test here).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from registry.api import create_app
from tests.registry.conftest import LabWorld, standalone_world
from tests.registry.test_api import api, app_settings, bearer, drain, issue
from tracecert.chain.client import ChainClient

#: ``api``, ``shared`` and ``anchored`` are fixtures (``api`` is test_api's, for the cases that need a fresh world).
__all__ = [
    "JSON",
    "UNKNOWN",
    "Shared",
    "absent",
    "anchored",
    "api",
    "fields",
    "number",
    "refused",
    "shared",
    "token_for",
]

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
    world = standalone_world(client, url, tmp)
    with TestClient(create_app(app_settings(world), core=world.core, run_worker=False)) as client_:
        yield Shared(world, client_)
    world.core.engine.dispose()


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


@pytest.fixture(scope="module")
def anchored(shared: Shared) -> str:
    """A certificate of the shared lab, anchored: the target of the credential cases."""
    digest = issue(shared.api, shared.world, number("ANCHORED"))["digest"]
    drain(shared.world)
    return digest


def token_for(world: LabWorld, who: str) -> dict[str, str]:
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
