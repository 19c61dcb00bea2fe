"""The verifier's index keeps only batch contents that hash to their anchored roots: lookups by digest, number and
serial from verified contents; mismatching or withheld listings flagged and retried; the HTTP fetcher."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from tests.verifier.conftest import (
    MIRROR,
    Mirror,
    TraceWorld,
    gauge_record,
    issue,
    open_index,
)
from tracecert.certificate.canonical import from_hex
from tracecert.certificate.merkle import inclusion_proof
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from verifier.index import ContentState, HttpFetcher, Index
from verifier.index.schema import batches_table


class NoNumberSearch:
    """A source that finds bundles by digest but cannot search by number (a plain folder or a mirror)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def by_digest(self, digest: str) -> dict[str, Any] | None:
        return self.inner.by_digest(digest)

    def by_document(self, sha256: str) -> dict[str, Any] | None:
        return self.inner.by_document(sha256)

    def by_number(self, lab_id: str, number: str) -> list[dict[str, Any]]:
        return []


def test_number_reuse_is_found_through_the_batch_contents(
    trace_world: TraceWorld, mirror: Mirror, index: Index
) -> None:
    world = trace_world
    [genuine] = issue(world, mirror, world.city, gauge_record(world, world.city, "HZ-R", "SN-1", day=-1))
    [reused] = issue(world, mirror, world.city, gauge_record(world, world.city, "HZ-R", "SN-2"))
    index.sync()
    source = NoNumberSearch(world.source)
    # A node cannot list a number's certificates; the index can, from the batch contents it checked.
    assert "NUMBER_UNIQUE" not in Verifier(LiveChainView(world.chain.contracts), source).verify_bundle(genuine).codes
    report = Verifier(index, source).verify_bundle(genuine)
    assert "NUMBER_UNIQUE" in report.codes
    [check] = [c for c in report.checks if c.code == "NUMBER_UNIQUE"]
    assert sorted(check.data["digests"]) == sorted([genuine["digest"], reused["digest"]])


def test_a_listing_that_lies_about_a_number_frames_nobody(
    trace_world: TraceWorld, mirror: Mirror, index: Index
) -> None:
    world = trace_world
    [genuine] = issue(world, mirror, world.city, gauge_record(world, world.city, "HZ-R", "SN-1", day=-1))
    [other] = issue(world, mirror, world.city, gauge_record(world, world.city, "HZ-S", "SN-2"))
    # The listing's metadata is not bound by the root: a mirror can say that HZ-S's leaf is numbered HZ-R.
    mirror.listings[other["anchor"]["root"]]["leaves"][0]["certificate_number"] = "HZ-R"
    index.sync()
    assert len(index.numbered(world.city.lab_id, "HZ-R")) == 2
    report = Verifier(index, NoNumberSearch(world.source)).verify_bundle(genuine)
    assert "NUMBER_UNIQUE" not in report.codes  # the record found under that digest is numbered HZ-S


def test_lookups_by_digest_number_and_serial(trace_world: TraceWorld, mirror: Mirror, index: Index) -> None:
    world = trace_world
    first = issue(
        world,
        mirror,
        world.city,
        gauge_record(world, world.city, "HZ-001", "SN-1"),
        gauge_record(world, world.city, "HZ-002", "SN-2"),
        gauge_record(world, world.city, "HZ-003", "SN-1"),
    )
    [reused] = issue(world, mirror, world.city, gauge_record(world, world.city, "HZ-002", "SN-9", day=-1))
    [other_lab] = issue(world, mirror, world.provincial, gauge_record(world, world.provincial, "HZ-002", "SN-1"))
    report = index.sync()
    assert (report.batches_verified, report.batches_flagged) == (3, 0)

    hit = index.by_digest(first[1]["digest"])
    assert hit is not None
    assert (hit.root, hit.index, hit.size, hit.lab_id) == (
        from_hex(first[1]["anchor"]["root"]),
        1,
        3,
        world.city.lab_id,
    )
    assert (hit.certificate_number, hit.serial_number, hit.kind, hit.category_code) == (
        "HZ-002",
        "SN-2",
        "CALIBRATION",
        "PRESSURE",
    )
    assert index.by_digest(hit.digest) == index.by_digest("0x" + hit.digest.hex().upper()) == hit
    assert index.by_digest(os.urandom(32)) is None
    # Number reuse: two digests under one (lab, number); the same number at another lab is another certificate.
    assert [leaf.digest.hex() for leaf in index.by_number(world.city.hex_id, "HZ-002")] == [
        first[1]["digest"][2:],
        reused["digest"][2:],
    ]
    assert [leaf.lab_id for leaf in index.by_number(world.provincial.lab_id, "HZ-002")] == [world.provincial.lab_id]
    assert {leaf.certificate_number for leaf in index.by_serial("SN-1")} == {"HZ-001", "HZ-003", "HZ-002"}
    assert index.by_serial("nope") == []
    # The stored leaves rebuild the anchored tree: a proof from them verifies against the chain's root.
    leaves = index.leaves(first[0]["anchor"]["root"])
    assert [leaf.index for leaf in leaves] == [0, 1, 2]
    assert [h.hex() for h in inclusion_proof([leaf.digest for leaf in leaves], 2)] == [
        h[2:] for h in first[2]["proof"]["hashes"]
    ]
    assert index.contents_state(other_lab["anchor"]["root"]) is ContentState.VERIFIED
    assert index.contents_state(os.urandom(32)) is None
    with pytest.raises(ValueError):
        index.by_digest("0x1234")


def _tamper_digest(listing: dict[str, Any]) -> Any:
    listing["leaves"][0]["digest"] = "0x" + "ab" * 32
    return listing


def _swap_leaves(listing: dict[str, Any]) -> Any:
    a, b = listing["leaves"]
    a["digest"], b["digest"] = b["digest"], a["digest"]
    return listing


def _drop_leaf(listing: dict[str, Any]) -> Any:
    listing["leaves"].pop()
    listing["size"] = 1
    return listing


def _other_lab(listing: dict[str, Any]) -> Any:
    listing["lab_id"] = "0x" + "11" * 32
    return listing


def _bad_index(listing: dict[str, Any]) -> Any:
    listing["leaves"][1]["index"] = 5
    return listing


def _down(listing: dict[str, Any]) -> Any:
    raise ConnectionError("mirror down")


@pytest.mark.parametrize(
    ("serve", "state", "code"),
    [
        (lambda listing: None, ContentState.WITHHELD, "UNAVAILABLE"),  # the mirror has nothing (404)
        (_down, ContentState.WITHHELD, "UNAVAILABLE"),  # the mirror is down
        (_tamper_digest, ContentState.MISMATCH, "ROOT_MISMATCH"),  # a leaf changed
        (_swap_leaves, ContentState.MISMATCH, "ROOT_MISMATCH"),  # right digests, wrong order
        (_drop_leaf, ContentState.MISMATCH, "SIZE_MISMATCH"),  # a certificate left out
        (_other_lab, ContentState.MISMATCH, "LAB_MISMATCH"),  # contents claimed for another lab
        (_bad_index, ContentState.MISMATCH, "MALFORMED"),  # leaf indexes not 0..n-1
        (lambda listing: "<html>", ContentState.MISMATCH, "MALFORMED"),  # not JSON
    ],
)
def test_a_batch_whose_contents_do_not_match_is_flagged_then_retried(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path, serve: Any, state: ContentState, code: str
) -> None:
    world = trace_world
    bundles = issue(
        world,
        mirror,
        world.city,
        gauge_record(world, world.city, "HZ-1", "S-1"),
        gauge_record(world, world.city, "HZ-2", "S-2"),
    )
    root = bundles[0]["anchor"]["root"]
    good = mirror.listings[root]

    clock = [1_000.0]
    serving = {"fetch": lambda url: serve(copy.deepcopy(good))}
    index = open_index(
        world, tmp_path / "i.db", lambda url: serving["fetch"](url), clock=lambda: clock[0], retry_interval=60.0
    )
    report = index.sync()
    assert (report.batches_verified, report.batches_flagged) == (0, 1)
    [flag] = index.flagged_batches()
    assert (flag.root.hex(), flag.state, flag.count, flag.lab_id) == (root[2:], state, 2, world.city.lab_id)
    assert [p.code for p in flag.problems] == [code] and flag.problems[0].mirror == MIRROR
    assert flag.first_flagged_at == 1_000.0 and flag.attempts == 1
    assert index.by_digest(bundles[0]["digest"]) is None
    # Withheld when first asked (a listing asked for as the batch was anchored may come moments later): not known
    # until asked again; contents that do not match are known at once.
    assert index.batch_published(bytes.fromhex(root[2:])) is (None if state is ContentState.WITHHELD else False)
    # The retry is due but a busy index has not made it yet: still not known (it read as withheld, a false
    # BATCH_PUBLISHED warning in one of 33,778 verifications of a loaded soak).
    clock[0] = 1_090.0
    assert index.batch_published(bytes.fromhex(root[2:])) is (None if state is ContentState.WITHHELD else False)
    # Still flagged on the next attempt; then the mirror serves the real contents and the batch is accepted.
    clock[0] = 1_100.0
    index.sync()
    [flag] = index.flagged_batches()
    assert (flag.first_flagged_at, flag.last_attempt_at, flag.attempts) == (1_000.0, 1_100.0, 2)
    assert index.batch_published(bytes.fromhex(root[2:])) is False  # asked again, still not served
    serving["fetch"] = mirror
    clock[0] = 1_200.0
    assert index.sync().batches_verified == 1
    assert index.flagged_batches() == []
    assert index.contents_state(root) is ContentState.VERIFIED
    assert index.by_digest(bundles[1]["digest"]) is not None
    index.close()


def test_a_lying_mirror_is_recorded_and_an_honest_one_accepted(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path
) -> None:
    world = trace_world
    [bundle] = issue(world, mirror, world.city, gauge_record(world, world.city, "HZ-1", "S-1"))

    def two_mirrors(url: str) -> Any:
        if url.startswith("https://liar.test/"):
            listing = mirror(url)
            listing["leaves"][0]["digest"] = "0x" + "cd" * 32
            return listing
        return mirror(url)

    index = open_index(world, tmp_path / "i.db", two_mirrors, mirrors=["https://liar.test/", MIRROR])
    assert index.sync().batches_verified == 1
    assert index.by_digest(bundle["digest"]) is not None and index.flagged_batches() == []
    engine = create_engine(f"sqlite:///{index.path}")
    with engine.connect() as conn:
        row = conn.execute(select(batches_table.c.mirror, batches_table.c.problems)).one()
    engine.dispose()
    assert row.mirror == MIRROR and '"ROOT_MISMATCH"' in row.problems and "liar.test" in row.problems
    index.close()


def test_retry_waits_for_the_interval(trace_world: TraceWorld, mirror: Mirror, tmp_path: Path) -> None:
    world = trace_world
    issue(world, mirror, world.city, gauge_record(world, world.city, "HZ-1", "S-1"))
    clock = [0.0]
    index = open_index(world, tmp_path / "i.db", lambda url: None, retry_interval=60.0, clock=lambda: clock[0])
    calls = []
    index.fetcher = lambda url: calls.append(url)
    index.sync()
    clock[0] = 59.0
    index.sync()
    assert len(calls) == 1
    clock[0] = 60.0
    index.sync()
    assert len(calls) == 2 and index.flagged_batches()[0].attempts == 2
    index.close()


# ------------------------------------------------------------------------------------------------ HTTP mirrors


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b'{"root": "0x00", "leaves": []}', {"root": "0x00", "leaves": []}),  # a listing
        (404, b'{"code": "UNKNOWN_BATCH"}', None),  # the mirror does not have it: withheld
        (503, b"", None),  # the mirror is down
        (200, b"<html>login</html>", "<html>login</html>"),  # not JSON: kept as text, rejected as MALFORMED
        (200, b"[" + b"0," * 600 + b"0]", "listing larger than 1000 bytes"),  # too large to be a listing
    ],
)
def test_http_fetcher(status: int, body: bytes, expected: Any) -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(status, content=body)

    fetcher = HttpFetcher(transport=httpx.MockTransport(handler), max_bytes=1000)
    assert fetcher("https://registry.test/v1/batches/0xab") == expected
    assert seen == ["https://registry.test/v1/batches/0xab"]
    fetcher.close()


def test_http_fetcher_unreachable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    assert HttpFetcher(transport=httpx.MockTransport(handler))("https://registry.test/v1/batches/0xab") is None
