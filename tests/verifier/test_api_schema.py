"""Property-based checks of the verifier's API against its own OpenAPI document (schemathesis), as the registry's
(tests/registry/test_api_schema.py): no input, valid or not, makes it answer 5xx, and every answer has a documented
status, content type and shape; input the schema forbids is refused with a 4xx.

Runs ``TRACECERT_FUZZ_EXAMPLES`` (default 25) derandomized examples per operation and mode, on a world of three
labs and an anchored chain of three certificates. Stateful testing: the verifier's OpenAPI declares no links
(asserted below); schemathesis infers three transitions itself (a lab listed, then read and one of its numbers
verified; a report job created, then read), and its state machine runs over those, with every check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from tests.verifier.conftest import TraceWorld, chain_of_three
from tests.verifier.world import build_world
from tracecert.chain.client import ChainClient
from verifier.api import create_app
from verifier.config import VerifierSettings

schemathesis = pytest.importorskip("schemathesis")

from schemathesis import GenerationMode  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402

from tests.schema_fuzz import CHECKS, EXAMPLES, fuzz  # noqa: E402

pytestmark = pytest.mark.chain

#: Refusals of schema-violating input: 413 is an upload over the limit, 415 a body of a type no route reads. The
#: checks are the stateless test's: positive_data_acceptance is off, as there, since POST /v1/verify and
#: /v1/reports document no request body (they read JSON or multipart themselves), so a "valid" case has none (415).
CONFIG = SchemathesisConfig.from_str(
    "[checks.negative_data_rejection]\nexpected-statuses = [400, 404, 405, 413, 415, 422]\n"
    "[checks.positive_data_acceptance]\nenabled = false\n"
)


@pytest.fixture(scope="module")
def world(client: ChainClient) -> TraceWorld:
    """Three labs on a deployment of the module's own, with an anchored chain of three certificates."""
    built = build_world(client)
    chain_of_three(built)
    return built


@pytest.fixture(scope="module")
def app(world: TraceWorld) -> Iterator[Any]:
    """The verifier's app over the world's verifier: 64 KiB uploads, no rate limit (fuzzing is one client)."""
    app = create_app(VerifierSettings(max_upload_bytes=64 * 1024, rate_limit_per_minute=0), verifier=world.verifier)
    with TestClient(app):  # runs the lifespan (the verifier is warmed up once)
        yield app


def test_openapi_fuzz(app: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5, [o.label for o in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, CHECKS)


def test_the_openapi_declares_no_links(app: Any) -> None:
    """Schemathesis's stateful phase follows OpenAPI links between operations; the verifier declares none."""
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
    declared = [
        (path, method, status)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for status, response in operation.get("responses", {}).items()
        if response.get("links")
    ]
    assert declared == []


def test_stateful_fuzz_over_inferred_transitions(app: Any) -> None:
    """The state machine over the transitions schemathesis infers from the schema (no links are written for it):
    sequences of calls, each answer checked by every check, none a 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    machine = schema.as_state_machine()
    transitions = schema.statistic.transitions.total
    assert transitions >= 3, schema.statistic
    machine.run(
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
