"""A world of three labs (NMI, provincial and city institutes) on a deployment of its own, for test modules that
keep one world for all their tests (the API, the CLI, the web page, the benchmark), and certificates bound to a
document."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.conftest import new_chain
from tests.verifier.conftest import TraceWorld, build_trace_world, calibration
from tracecert.chain.client import ChainClient

__all__ = ["PDF", "build_world", "with_document"]

#: A PDF's bytes (the verifier binds a document by its SHA-256; it does not render it).
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def build_world(client: ChainClient) -> TraceWorld:
    """The ``trace_world`` fixture's three labs on a fresh deployment of ``client``'s node, for a module-scoped
    world on the session's node (which no snapshot revert touches)."""
    return build_trace_world(new_chain(client))


def with_document(world: TraceWorld, number: str, data: bytes, media_type: str) -> dict[str, Any]:
    """An NMI certificate binding ``data`` as its original document."""
    d = world.day
    record = calibration(
        world.nmi, number, serial=f"PG-{number}", item="活塞式压力计", u="0.0005", performed=d(-2), issued=d(-1)
    )
    record["original_document"] = {"media_type": media_type, "sha256": "0x" + hashlib.sha256(data).hexdigest()}
    [bundle] = world.issue(world.nmi, record)
    return bundle
