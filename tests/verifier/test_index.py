"""The verifier's index against a real chain: it answers exactly like the contracts, keeps only batch contents that
hash to their anchored roots, and survives restarts and reorganizations."""

from __future__ import annotations

import copy
import fcntl
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak
from sqlalchemy import create_engine, select

from tests.verifier.conftest import TraceWorld, _lab, calibration, chain_of_three, usci
from tracecert.certificate.canonical import from_hex
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.merkle import inclusion_proof
from tracecert.certificate.signing import generate_key
from tracecert.chain.client import ChainClient
from tracecert.chain.deploy import Deployment
from tracecert.chain.errors import ChainUnavailable, TransactionFailed
from tracecert.chain.types import Activity, LabKind, LabStatus, RevocationReason, category_code, category_from_bytes
from tracecert.verification.chainview import LabState, LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.report import Verdict
from verifier.index import ContentState, HttpFetcher, Index, IndexMismatch, ReorgTooDeep
from verifier.index.schema import BLOCK_TABLES, batches_table

DAY = 86_400
MIRROR = "https://mirror.test"


class Mirror:
    """A batch-listing mirror in memory, serving what the registry's ``GET /v1/batches/{root}`` serves."""

    def __init__(self) -> None:
        self.listings: dict[str, Any] = {}

    def publish(self, bundles: list[dict[str, Any]]) -> dict[str, Any]:
        first = bundles[0]
        listing = {
            "root": first["anchor"]["root"],
            "lab_id": first["record"]["lab"]["lab_id"],
            "key_id": first["signature"]["key_id"],
            "size": first["proof"]["tree_size"],
            "leaves": [
                {
                    "index": b["proof"]["leaf_index"],
                    "digest": b["digest"],
                    "certificate_number": b["record"]["certificate_number"],
                    "kind": b["record"]["kind"],
                    "category_code": b["record"]["item"]["category_code"],
                    "serial_number": b["record"]["item"].get("serial_number"),
                }
                for b in bundles
            ],
        }
        self.listings[listing["root"]] = listing
        return listing

    def __call__(self, url: str) -> Any:
        return copy.deepcopy(self.listings.get(url.rsplit("/", 1)[1]))


@pytest.fixture
def mirror() -> Mirror:
    return Mirror()


def issue(world: TraceWorld, mirror: Mirror, lab: Any, *records: dict[str, Any]) -> list[dict[str, Any]]:
    """Anchor records for ``lab`` and publish the batch listing on the mirror."""
    bundles = world.issue(lab, *records)
    mirror.publish(bundles)
    return bundles


def open_index(world: TraceWorld, path: Path, fetcher: Any, **options: Any) -> Index:
    options = {"mirrors": [MIRROR], "fetcher": fetcher, "fetch_workers": 1, "retry_interval": 0.0} | options
    return Index(path, world.chain.client, world.chain.contracts.deployment, **options)


@pytest.fixture
def index(trace_world: TraceWorld, mirror: Mirror, tmp_path: Path) -> Iterator[Index]:
    idx = open_index(trace_world, tmp_path / "index.db", mirror)
    yield idx
    idx.close()


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every chain-derived row of an index file (wall-clock bookkeeping of content fetches left out)."""
    engine = create_engine(f"sqlite:///{path}")
    skip = {"first_flagged_at", "last_attempt_at", "attempts"}
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in BLOCK_TABLES:
            columns = [c for c in table.c if c.name not in skip]
            out[table.name] = sorted(tuple(r) for r in conn.execute(select(*columns)))
    engine.dispose()
    return out


def record(world: TraceWorld, lab: Any, number: str, serial: str, day: int = 0) -> dict[str, Any]:
    return calibration(
        lab, number, serial=serial, item="压力表", u="0.01", performed=world.day(day - 1), issued=world.day(day)
    )


# ------------------------------------------------------------------------------------------------ equivalence


def _history(world: TraceWorld, mirror: Mirror) -> dict[str, Any]:
    """A history with suspensions, renewals, windows recorded out of order, late labs, key closures, revocations."""
    chain, c = world.chain, world.chain.contracts
    top, mid, leaf = chain_of_three(world)
    for b in (top, mid, leaf):
        mirror.publish([b])
    c.suspend_lab(world.province, world.provincial.lab_id, 2)
    chain.advance(DAY)
    c.reinstate_lab(world.province, world.provincial.lab_id)
    chain.advance(3600)
    now = chain.now()
    # A renewal with a narrower scope starting later, and an old window recorded last (it decides over 2020).
    c.authorize_lab(
        world.city_regulator,
        world.city.lab_id,
        "(浙)法计(2026)00007号",
        now + 10 * DAY,
        2_208_988_800,
        {"PRESSURE": Activity.CALIBRATE},
    )
    c.authorize_lab(
        world.city_regulator,
        world.city.lab_id,
        "(浙)法计(2018)00001号",
        1_514_764_800,
        1_609_459_200,
        {"JJG52": Activity.VERIFY, "PRESSURE": Activity.VERIFY},
    )
    # A lab registered late with a future window, then revoked; a lab never authorized.
    late = _lab(
        chain,
        world.province,
        usci("12330200470000555"),
        "宁波市计量测试研究院",
        LabKind.AUTHORIZED_BODY,
        330200,
        {"JJG52": Activity.VERIFY},
        "(浙)法计(2026)00099号",
        now + 5 * DAY,
        now + 400 * DAY,
    )
    chain.advance(600)
    c.revoke_lab(world.province, late.lab_id, 4)
    bare = derive_lab_id(usci("91330000MA2H00777"))
    admin = chain.actor("bare-admin").address
    c.register_lab(world.province, bare, LabKind.ACCREDITED_LAB, 330000, admin, "某检测公司")
    # Keys: a second city key from tomorrow; the first closed in the past; a future NMI key closed now (clamped).
    k2, k3 = generate_key(), generate_key()
    c.register_key(world.city.admin, world.city.lab_id, k2.public_key, now + DAY, 0)
    c.close_key(world.city.admin, world.city.key.key_id, now - 3 * DAY, 2)
    later = chain.now()
    c.register_key(world.nmi.admin, world.nmi.lab_id, k3.public_key, later + 1000, later + 2000)
    c.close_key(world.national, k3.key_id, 0, 1)
    # Statuses: a revocation effective in the past, a substitution, a revocation by a regulator.
    c.revoke(world.provincial.writer, world.provincial.lab_id, from_hex(mid["digest"]), 1, now - DAY)
    c.substitute(world.nmi.writer, world.nmi.lab_id, from_hex(top["digest"]), os.urandom(32))
    c.revoke(world.city_regulator, world.city.lab_id, from_hex(leaf["digest"]), RevocationReason.REGULATOR_ORDER)
    c.transact(world.province, c.trust, "setLabAdmin", world.provincial.lab_id, chain.actor("new-admin").address)
    c.remove_writer(world.city.admin, world.city.lab_id, world.city.writer.address)
    labs = [world.nmi.lab_id, world.provincial.lab_id, world.city.lab_id, late.lab_id, bare, os.urandom(32)]
    keys = [world.nmi.key.key_id, world.provincial.key.key_id, world.city.key.key_id, k2.key_id, k3.key_id]
    return {"bundles": [top, mid, leaf], "labs": labs, "keys": [*keys, os.urandom(32)]}


LAB_AT_TYPES = ["uint32", "uint8", "uint32", "uint8", "bool", "uint256", "string", "uint64", "uint64"]


def multicall(contract: Any, signature: str, returns: list[str], calls: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Ask a view of the contract many times through its own Multicall, a few hundred questions per eth_call."""
    selector = keccak(text=signature)[:4]
    types = signature[signature.index("(") + 1 : -1].split(",")
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(calls), 400):
        data = [selector + abi_encode(types, list(args)) for args in calls[start : start + 400]]
        out += [abi_decode(returns, r) for r in contract.functions.multicall(data).call()]
    return out


def _times(world: TraceWorld, labs: list[bytes]) -> list[int]:
    """Every moment where an answer may change (±1 s), and a few far ones (uint64 extremes included)."""
    c = world.chain.contracts
    times = {0, 1_546_300_800, 1_590_969_600, 1_893_456_000, 2_114_380_800, 2_240_611_200, 2**63 - 1, 2**63, 2**64 - 1}
    for lab in labs[:-1]:  # the last one is unknown
        for since, *_ in c.call(c.trust, "statusHistory", lab):
            times |= {since - 1, since, since + 1}
        for i in range(c.call(c.trust, "authorizationCount", lab)):
            a = c.call(c.trust, "authorization", lab, i)
            times |= {a[1] - 1, a[1], a[2] - 1, a[2]}
    now = world.chain.now()
    times |= {now - 3 * DAY, now, now + DAY, now + 150}
    return sorted(t for t in times if 0 <= t < 2**64)


def test_index_answers_exactly_like_the_contracts(trace_world: TraceWorld, mirror: Mirror, index: Index) -> None:
    world = trace_world
    history = _history(world, mirror)
    report = index.sync()
    assert report.events > 30 and report.batches_verified == 3 and report.batches_flagged == 0
    live, c = LiveChainView(world.chain.contracts), world.chain.contracts
    labs, times = history["labs"], _times(world, history["labs"])
    assert len(times) > 40

    # labAt and isAuthorized for every (lab, t) and (lab, category, activity, t), asked of the contract itself
    # in Multicall batches (one eth_call per few hundred questions).
    lab_cases = [(lab, t) for lab in labs for t in times]
    lab_answers = multicall(c.trust, "labAt(bytes32,uint64)", LAB_AT_TYPES, lab_cases)
    seen = set()
    for (lab, t), raw in zip(lab_cases, lab_answers, strict=True):
        number, kind, jurisdiction, status, authorized, _, auth_number, valid_from, valid_until = raw
        expected_state = (
            None
            if number == 0
            else LabState(
                lab,
                LabKind(kind),
                jurisdiction,
                LabStatus(status),
                authorized,
                auth_number,
                valid_from,
                valid_until,
            )
        )
        assert index.lab_at(lab, t) == expected_state, (lab.hex(), t)
        if expected_state is not None:
            seen.add((expected_state.status.name, auth_number))
    # The history really covers every status, windows and the out-of-order renewal.
    assert {s for s, _ in seen} == {"NONE", "ACTIVE", "SUSPENDED", "REVOKED"}
    assert {n for _, n in seen} >= {"", "(浙)法计(2018)00001号", "(浙)法计(2026)00007号", "(浙)法计(2020)01023号"}
    for lab, t in lab_cases[::9]:  # the plain view call (what LiveChainView asks) agrees with the Multicall route
        assert index.lab_at(lab, t) == live.lab_at(lab, t)
    for lab in labs:
        assert index.lab_name(lab) == live.lab_name(lab)

    cases = [
        (lab, category_code(category), int(activity), t)
        for lab in labs
        for category in ("PRESSURE", "JJG52", "JJG99")
        for activity in (Activity.VERIFY, Activity.CALIBRATE, Activity.VERIFY | Activity.CALIBRATE)
        for t in times
    ]
    expected = [r[0] for r in multicall(c.trust, "isAuthorized(bytes32,bytes32,uint8,uint64)", ["bool"], cases)]
    answers = [index.is_authorized(lab, category_from_bytes(cat), Activity(act), t) for lab, cat, act, t in cases]
    assert answers == expected
    assert 0 < sum(expected) < len(expected)
    for lab, cat, act, t in cases[:: len(cases) // 9]:
        assert index.is_authorized(lab, category_from_bytes(cat), Activity(act), t) == c.is_authorized(
            lab, category_from_bytes(cat), Activity(act), t
        )

    for key_id in history["keys"]:
        assert index.key(key_id) == live.key(key_id)
    closed = index.key(history["keys"][2])
    assert closed is not None and closed.valid_until < world.chain.now()  # the compromised key's window shrank
    for b in history["bundles"]:
        root, digest, lab = from_hex(b["anchor"]["root"]), from_hex(b["digest"]), from_hex(b["record"]["lab"]["lab_id"])
        assert index.batch(root) == live.batch(root)
        assert index.status(lab, digest) == live.status(lab, digest)
        assert index.status(labs[-2], digest) == live.status(labs[-2], digest)
    assert index.batch(os.urandom(32)) is None
    assert index.now() == live.now()
    assert (index.chain_id(), index.certificate_registry()) == (live.chain_id(), live.certificate_registry())


def _without(report: Any, code: str) -> dict[str, Any]:
    body = report.to_dict()
    body["checks"] = [c for c in body["checks"] if c["code"] != code]
    return body


def test_engine_on_the_index_reports_like_on_the_node(trace_world: TraceWorld, mirror: Mirror, index: Index) -> None:
    world = trace_world
    top, mid, leaf = chain_of_three(world)
    for bundle in (top, mid, leaf):
        mirror.publish([bundle])
    [forged] = world.issue(world.city, record(world, world.city, "HZ-X", "X-1"), publish=False)
    forged["record"]["certificate_number"] = "HZ-Y"
    world.chain.contracts.revoke(world.provincial.writer, world.provincial.lab_id, from_hex(mid["digest"]), 1)
    index.sync()
    on_index = Verifier(index, world.source)
    for bundle in (top, mid, leaf, forged):
        for as_of in (None, world.chain.now() - DAY):
            live_report = world.verifier.verify_bundle(bundle, as_of=as_of)
            index_report = on_index.verify_bundle(bundle, as_of=as_of)
            # The same in every check but one: only the index knows whether a batch's contents were published.
            assert _without(index_report, "BATCH_PUBLISHED") == _without(live_report, "BATCH_PUBLISHED")
    verdicts = [on_index.verify_bundle(b).verdict.value for b in (top, mid, forged)]
    assert verdicts == ["VALID", "INVALID", "INVALID"]  # mid revoked; forged's record differs from what was signed
    outcomes = {
        view: next(c.outcome.value for c in v.verify_bundle(leaf).checks if c.code == "BATCH_PUBLISHED")
        for view, v in (("node", world.verifier), ("index", on_index))
    }
    assert outcomes == {"node": "SKIP", "index": "PASS"}


@pytest.mark.parametrize(
    ("performed", "issued", "failing"),
    [
        ("1957-03-02", "1957-03-05", "LAB_AUTHORIZED_AT_ISSUE"),  # PTB's own examples are this old
        ("1969-12-31", "1970-01-01", "LAB_AUTHORIZED_AT_ISSUE"),  # China time: before the epoch in UTC
        ("9000-12-30", "9000-12-31", "ISSUED_BEFORE_ANCHOR"),  # beyond any block time
    ],
)
def test_dates_far_from_now_are_judged_not_crashed(
    trace_world: TraceWorld, mirror: Mirror, index: Index, performed: str, issued: str, failing: str
) -> None:
    """Dates before 1970 and far in the future are compared as dates: on the node (uint64 views) and on the index
    alike, the answer is a verdict naming the failed check, never an encoding error."""
    world = trace_world
    lab = world.city
    rec = calibration(lab, f"HZ-{performed}", serial="T-1", item="压力表", u="0.01", performed=performed, issued=issued)
    [bundle] = issue(world, mirror, lab, rec)
    index.sync()
    for verifier in (world.verifier, Verifier(index, world.source)):
        report = verifier.verify_bundle(bundle)
        assert report.verdict is Verdict.INVALID
        assert failing in report.codes, report.to_dict()["reasons"]


def test_a_withheld_batch_is_a_warning_that_does_not_break_the_chain(
    trace_world: TraceWorld, mirror: Mirror, index: Index
) -> None:
    world = trace_world
    top, mid, leaf = chain_of_three(world)
    for bundle in (top, leaf):
        mirror.publish([bundle])  # the provincial institute never publishes its batch
    index.sync()
    assert index.contents_state(mid["anchor"]["root"]) is ContentState.WITHHELD
    on_index = Verifier(index, world.source)
    report = on_index.verify_bundle(mid)
    assert report.verdict.value == "VALID_WITH_WARNINGS" and report.codes == {"BATCH_PUBLISHED"}
    # The city lab's certificate stays valid; the tree shows the warning on the standard's node.
    child = on_index.verify_bundle(leaf)
    assert child.verdict.value == "VALID", child.to_dict()["reasons"]
    assert child.trace is not None and child.trace.children[0].verdict is not None
    assert child.trace.children[0].verdict.value == "VALID_WITH_WARNINGS"
    # Without any mirror configured, nothing was withheld: nobody was asked.
    bare = Index(index.path, world.chain.client, world.chain.contracts.deployment)
    assert bare.batch_published(from_hex(mid["anchor"]["root"])) is None
    bare.close()


# ------------------------------------------------------------------------------------------------ contents


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
    [genuine] = issue(world, mirror, world.city, record(world, world.city, "HZ-R", "SN-1", day=-1))
    [reused] = issue(world, mirror, world.city, record(world, world.city, "HZ-R", "SN-2"))
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
    [genuine] = issue(world, mirror, world.city, record(world, world.city, "HZ-R", "SN-1", day=-1))
    [other] = issue(world, mirror, world.city, record(world, world.city, "HZ-S", "SN-2"))
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
        record(world, world.city, "HZ-001", "SN-1"),
        record(world, world.city, "HZ-002", "SN-2"),
        record(world, world.city, "HZ-003", "SN-1"),
    )
    [reused] = issue(world, mirror, world.city, record(world, world.city, "HZ-002", "SN-9", day=-1))
    [other_lab] = issue(world, mirror, world.provincial, record(world, world.provincial, "HZ-002", "SN-1"))
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
        world, mirror, world.city, record(world, world.city, "HZ-1", "S-1"), record(world, world.city, "HZ-2", "S-2")
    )
    root = bundles[0]["anchor"]["root"]
    good = mirror.listings[root]

    clock = [1_000.0]
    serving = {"fetch": lambda url: serve(copy.deepcopy(good))}
    index = open_index(world, tmp_path / "i.db", lambda url: serving["fetch"](url), clock=lambda: clock[0])
    report = index.sync()
    assert (report.batches_verified, report.batches_flagged) == (0, 1)
    [flag] = index.flagged_batches()
    assert (flag.root.hex(), flag.state, flag.count, flag.lab_id) == (root[2:], state, 2, world.city.lab_id)
    assert [p.code for p in flag.problems] == [code] and flag.problems[0].mirror == MIRROR
    assert flag.first_flagged_at == 1_000.0 and flag.attempts == 1
    assert index.by_digest(bundles[0]["digest"]) is None
    # Still flagged on the next attempt; then the mirror serves the real contents and the batch is accepted.
    clock[0] = 1_100.0
    index.sync()
    [flag] = index.flagged_batches()
    assert (flag.first_flagged_at, flag.last_attempt_at, flag.attempts) == (1_000.0, 1_100.0, 2)
    serving["fetch"] = mirror
    assert index.sync().batches_verified == 1
    assert index.flagged_batches() == []
    assert index.contents_state(root) is ContentState.VERIFIED
    assert index.by_digest(bundles[1]["digest"]) is not None
    index.close()


def test_a_lying_mirror_is_recorded_and_an_honest_one_accepted(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path
) -> None:
    world = trace_world
    [bundle] = issue(world, mirror, world.city, record(world, world.city, "HZ-1", "S-1"))

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
    issue(world, mirror, world.city, record(world, world.city, "HZ-1", "S-1"))
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


# ------------------------------------------------------------------------------------------------ restarts and reorgs


class FlakyClient(ChainClient):
    """A node that refuses wide log ranges, and goes away after some ``eth_getLogs`` calls."""

    def __init__(
        self, url: str, *, fail_after: int | None = None, max_range: int | None = None, bare_logs: bool = False
    ) -> None:
        super().__init__(url)
        self.fail_after = fail_after
        self.max_range = max_range
        self.bare_logs = bare_logs  # logs without blockTimestamp, as older nodes serve them
        self.refused = 0

    def rpc(self, method: str, params: list[Any]) -> Any:
        if method == "eth_getLogs":
            span = int(params[0]["toBlock"], 16) - int(params[0]["fromBlock"], 16) + 1
            if self.max_range is not None and span > self.max_range:
                self.refused += 1
                raise TransactionFailed("eth_getLogs: query returned more than 10000 results")
            if self.fail_after is not None:
                if self.fail_after == 0:
                    raise ChainUnavailable("eth_getLogs: JSON-RPC node unreachable (ConnectionError)")
                self.fail_after -= 1
        result = super().rpc(method, params)
        if method == "eth_getLogs" and self.bare_logs:
            result = [{k: v for k, v in log.items() if k != "blockTimestamp"} for log in result]
        return result


def _busy_history(world: TraceWorld, mirror: Mirror) -> list[dict[str, Any]]:
    bundles = [*chain_of_three(world)]
    for b in bundles:
        mirror.publish([b])
    for i in range(4):
        bundles += issue(world, mirror, world.city, record(world, world.city, f"HZ-{i}", f"S-{i}"))
        world.chain.contracts.suspend_lab(world.city_regulator, world.city.lab_id)
        world.chain.contracts.reinstate_lab(world.city_regulator, world.city.lab_id)
    return bundles


def test_an_interrupted_sync_resumes_without_corruption(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path
) -> None:
    world = trace_world
    bundles = _busy_history(world, mirror)
    reference = open_index(world, tmp_path / "reference.db", mirror)
    reference.sync()
    assert reference.counts()["leaves"] == len(bundles)

    # The node goes away in the middle of a catch-up: what was committed stays, nothing half-written.
    flaky = FlakyClient(world.chain.client.url, fail_after=3)
    path = tmp_path / "index.db"
    crashed = Index(path, flaky, world.chain.contracts.deployment, mirrors=[MIRROR], fetcher=mirror, chunk_size=4)
    with pytest.raises(ChainUnavailable):
        crashed.sync()
    tip = crashed.tip()
    assert tip is not None and tip.number == world.chain.contracts.deployment.block_number + 11
    crashed.close()

    # The process dies while fetching batch contents: the batches stay PENDING and are fetched later.
    def dying(url: str) -> Any:
        raise KeyboardInterrupt

    interrupted = open_index(world, path, dying, chunk_size=5)
    until = bundles[4]["anchor"]["block_number"]
    with pytest.raises(KeyboardInterrupt):
        interrupted.sync(until=until)
    assert [interrupted.contents_state(b["anchor"]["root"]) for b in bundles] == [
        ContentState.PENDING if b["anchor"]["block_number"] <= until else None for b in bundles
    ]
    interrupted.close()

    # A fresh object on the same file resumes from the stored cursor and ends where the uninterrupted one did.
    resumed = open_index(world, path, mirror, chunk_size=5)
    report = resumed.sync()
    assert report.from_block == until + 1 and report.batches_verified == len(bundles)
    assert dump(path) == dump(reference.path)
    resumed.close()

    # A node refusing wide ranges, without timestamps in its logs: the index narrows its requests, asks for the
    # blocks' headers, and gets the same rows.
    narrow = FlakyClient(world.chain.client.url, max_range=3, bare_logs=True)
    narrowed = Index(tmp_path / "narrow.db", narrow, world.chain.contracts.deployment, mirrors=[MIRROR], fetcher=mirror)
    narrowed.sync()
    assert narrow.refused > 0 and dump(narrowed.path) == dump(reference.path)
    narrowed.close()
    reference.close()


class SlowMirror:
    """A mirror that says when it is first asked (the asking sync holds the index), then answers slowly."""

    def __init__(self, mirror: Mirror, asked: Any) -> None:
        self.mirror, self.asked = mirror, asked

    def __call__(self, url: str) -> Any:
        self.asked.set()
        time.sleep(0.1)
        return self.mirror(url)


def _sync_elsewhere(path: Path, url: str, deployment: Deployment, fetcher: SlowMirror) -> None:
    """In another process (a second server worker): open the shared index file and catch up."""
    index = Index(path, ChainClient(url), deployment, mirrors=[MIRROR], fetcher=fetcher, chunk_size=2, retry_interval=0)
    try:
        index.sync()
    finally:
        index.close()


def test_two_processes_share_one_index_file(trace_world: TraceWorld, mirror: Mirror, tmp_path: Path) -> None:
    world = trace_world
    _busy_history(world, mirror)
    reference = open_index(world, tmp_path / "reference.db", mirror)
    reference.sync()
    shared = tmp_path / "shared.db"
    deployment = world.chain.contracts.deployment
    # Another process creates the file and syncs it, slowly; this one opens the file and syncs meanwhile. The lock
    # file beside the index makes them take turns: this sync waits, then finds every block and batch done.
    context = multiprocessing.get_context("spawn")
    asked = context.Event()
    other = context.Process(
        target=_sync_elsewhere, args=(shared, world.chain.client.url, deployment, SlowMirror(mirror, asked))
    )
    other.start()
    assert asked.wait(60)
    here = open_index(world, shared, mirror, chunk_size=2)
    report = here.sync()
    assert not other.is_alive() or other.join(30) is None
    assert other.exitcode == 0
    assert (report.events, report.batches_verified) == (0, 0)  # the other process had done it all
    assert dump(shared) == dump(reference.path)
    # Either process's reads see everything, whichever of them wrote it.
    assert here.counts() == reference.counts()
    for index in (here, reference):
        index.close()


def test_a_sync_waits_while_another_process_holds_the_index(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path
) -> None:
    world = trace_world
    _busy_history(world, mirror)
    index = open_index(world, tmp_path / "index.db", mirror)
    done = threading.Event()
    with open(tmp_path / "index.db.lock", "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process is syncing
        thread = threading.Thread(target=lambda: (index.sync(), done.set()), daemon=True)
        thread.start()
        assert not done.wait(1.0)
        assert index.tip() is None
        fcntl.flock(held, fcntl.LOCK_UN)
    thread.join(30)
    assert done.is_set() and index.tip() is not None
    index.close()


def test_two_indexes_on_one_file_do_not_write_twice(trace_world: TraceWorld, mirror: Mirror, tmp_path: Path) -> None:
    world = trace_world
    _busy_history(world, mirror)
    reference = open_index(world, tmp_path / "reference.db", mirror)
    reference.sync()
    # Two objects in two threads syncing the same file in small ranges at the same time.
    first, second = (open_index(world, tmp_path / "shared.db", mirror, chunk_size=2) for _ in range(2))
    errors: list[BaseException] = []

    def run(index: Index) -> None:
        try:
            index.sync()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    first.sync()  # whichever stopped early (the other moved the cursor) finishes here
    assert dump(tmp_path / "shared.db") == dump(reference.path)
    for index in (first, second, reference):
        index.close()


def _resync(world: TraceWorld) -> None:
    for sender in (world.chain.national, *world.chain._senders.values()):
        sender.resync()


@pytest.mark.parametrize("restart", [False, True], ids=["same-process", "crash-during-recovery"])
def test_a_reorganization_is_rolled_back_and_reindexed(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path, restart: bool
) -> None:
    world, client, c = trace_world, trace_world.chain.client, trace_world.chain.contracts
    [kept] = issue(world, mirror, world.city, record(world, world.city, "HZ-KEEP", "K-1"))
    index = open_index(world, tmp_path / "index.db", mirror)
    index.sync()
    fork = index.tip()
    assert fork is not None
    snapshot = client.rpc("evm_snapshot", [])
    try:
        # The chain the index sees first: a batch, a revocation, a suspension, and a few more blocks.
        [gone] = issue(world, mirror, world.city, record(world, world.city, "HZ-GONE", "G-1"))
        c.revoke(world.city.writer, world.city.lab_id, from_hex(kept["digest"]), 1)
        c.suspend_lab(world.city_regulator, world.city.lab_id)
        world.chain.advance(60)
        assert index.sync().events == 3
        assert index.by_digest(gone["digest"]) is not None
        assert index.status(world.city.lab_id, from_hex(kept["digest"])).state.name == "REVOKED"
    finally:
        assert client.rpc("evm_revert", [snapshot])
    _resync(world)
    # Another history on the same heights, shorter: another batch and a substitution instead.
    [other] = issue(world, mirror, world.city, record(world, world.city, "HZ-OTHER", "O-1"))
    c.substitute(world.city.writer, world.city.lab_id, from_hex(kept["digest"]), from_hex(other["digest"]))

    if restart:
        # The node goes away right after the rollback; another process picks up the file.
        index.close()
        flaky = FlakyClient(client.url, fail_after=0)
        crashed = Index(index.path, flaky, c.deployment, mirrors=[MIRROR], fetcher=mirror)
        with pytest.raises(ChainUnavailable):
            crashed.sync()
        assert crashed.tip() == fork and crashed.batch(from_hex(gone["anchor"]["root"])) is None
        crashed.close()
        index = open_index(world, index.path, mirror, chunk_size=1)
        report = index.sync()
        assert report.rolled_back_to is None and report.from_block == fork.number + 1 and report.events == 2
    else:
        report = index.sync()
        assert report.rolled_back_to == fork.number and report.events == 2
    live = LiveChainView(c)
    assert index.batch(from_hex(gone["anchor"]["root"])) is None and index.by_digest(gone["digest"]) is None
    assert index.by_digest(other["digest"]) is not None
    for digest in (kept["digest"], other["digest"], gone["digest"]):
        assert index.status(world.city.lab_id, from_hex(digest)) == live.status(world.city.lab_id, from_hex(digest))
    assert index.lab_at(world.city.lab_id, world.chain.now()) == live.lab_at(world.city.lab_id, world.chain.now())
    # Exactly what an index built from scratch on the new chain holds.
    fresh = open_index(world, tmp_path / "fresh.db", mirror)
    fresh.sync()
    assert dump(index.path) == dump(fresh.path)
    assert index.tip() == fresh.tip()
    fresh.close()
    index.close()


def test_a_reorganization_deeper_than_the_kept_hashes_is_refused(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path
) -> None:
    world, client = trace_world, trace_world.chain.client
    index = open_index(world, tmp_path / "index.db", mirror, reorg_depth=2)
    index.sync()
    snapshot = client.rpc("evm_snapshot", [])
    try:
        issue(world, mirror, world.city, record(world, world.city, "HZ-1", "S-1"))
        client.rpc("anvil_mine", [hex(10)])
        index.sync()
    finally:
        assert client.rpc("evm_revert", [snapshot])
    _resync(world)
    issue(world, mirror, world.city, record(world, world.city, "HZ-2", "S-2"))
    with pytest.raises(ReorgTooDeep):
        index.sync()
    index.close()


def test_confirmations_hold_back_the_newest_blocks(trace_world: TraceWorld, mirror: Mirror, tmp_path: Path) -> None:
    world = trace_world
    [bundle] = issue(world, mirror, world.city, record(world, world.city, "HZ-1", "S-1"))
    index = open_index(world, tmp_path / "index.db", mirror, confirmations=2)
    index.sync()
    head = int(world.chain.client.rpc("eth_blockNumber", []), 16)
    tip = index.tip()
    assert tip is not None and tip.number == head - 2
    assert index.batch(from_hex(bundle["anchor"]["root"])) is None
    world.chain.client.rpc("anvil_mine", [hex(2)])
    index.sync()
    assert index.by_digest(bundle["digest"]) is not None
    index.close()


def test_the_file_belongs_to_one_deployment_rooted_at_the_trusted_authority(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path
) -> None:
    world = trace_world
    deployment = world.chain.contracts.deployment
    open_index(world, tmp_path / "index.db", mirror).close()
    other = Deployment(**{**deployment.__dict__, "certificate_registry": "0x" + "12" * 20})
    with pytest.raises(IndexMismatch):
        Index(tmp_path / "index.db", world.chain.client, other)
    untrusted = Deployment(**{**deployment.__dict__, "national_authority": "0x" + "34" * 20})
    index = Index(tmp_path / "other.db", world.chain.client, untrusted, mirrors=[MIRROR], fetcher=mirror)
    with pytest.raises(IndexMismatch, match="trusted national authority"):
        index.sync()
    assert index.tip() is None
    index.close()


def test_reads_while_a_sync_runs(trace_world: TraceWorld, mirror: Mirror, tmp_path: Path) -> None:
    world = trace_world
    [bundle] = issue(world, mirror, world.city, record(world, world.city, "HZ-1", "S-1"))
    world.chain.client.rpc("anvil_mine", [hex(100)])
    index = open_index(world, tmp_path / "index.db", mirror, chunk_size=2)
    stop, reports = threading.Event(), []
    follower = threading.Thread(target=index.follow, args=(stop, 0.01), kwargs={"on_sync": reports.append})
    follower.start()
    tips = []
    try:
        while not reports:
            tip = index.tip()
            tips.append(tip.number if tip else 0)
            index.lab_at(world.city.lab_id, world.chain.now())
            index.by_digest(bundle["digest"])
    finally:
        stop.set()
        follower.join(10)
    assert not follower.is_alive()
    # Reads went on between the sync's commits, each seeing a whole committed range.
    assert tips == sorted(tips) and len(set(tips)) > 10
    assert index.by_digest(bundle["digest"]) is not None
    assert reports[0].blocks > 100
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


@pytest.mark.parametrize("catch_up", [True, False])
def test_a_root_anchored_after_the_last_sync(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path, catch_up: bool
) -> None:
    """A service's index follows the chain a block behind: with ``catch_up`` a root it does not know yet makes it
    sync at once (a certificate anchored a moment ago is found); without, reads answer as of the last sync."""
    index = open_index(trace_world, tmp_path / "index.db", mirror, catch_up=catch_up, catch_up_interval=60.0)
    try:
        index.sync()
        [bundle] = issue(trace_world, mirror, trace_world.city, record(trace_world, trace_world.city, "HZ-CU-1", "S1"))
        root = from_hex(bundle["anchor"]["root"])
        found = index.batch(root)
        assert (found is not None) is catch_up
        if catch_up:
            assert found is not None and found.lab_id == trace_world.city.lab_id
            # a root nobody anchored does not make it sync again and again (at most once a catch_up_interval):
            # the block anchored meanwhile stays out until the interval has passed
            synced = index.tip()
            issue(trace_world, mirror, trace_world.city, record(trace_world, trace_world.city, "HZ-CU-2", "S2"))
            assert index.batch(b"\x01" * 32) is None and index.tip() == synced
    finally:
        index.close()
