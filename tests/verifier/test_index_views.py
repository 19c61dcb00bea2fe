"""The verifier's index against a real chain, read as a ChainView: it answers exactly like the contracts, and the
engine on it reports like the engine on the node."""

from __future__ import annotations

import os
from typing import Any

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak

from tests.verifier.conftest import (
    Mirror,
    TraceWorld,
    _lab,
    calibration,
    chain_of_three,
    gauge_record,
    issue,
    usci,
)
from tracecert.certificate.canonical import from_hex
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.signing import generate_key
from tracecert.chain.types import Activity, LabKind, LabStatus, RevocationReason, category_code, category_from_bytes
from tracecert.verification.chainview import LabState, LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.report import Verdict
from verifier.index import ContentState, Index

DAY = 86_400


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
    new_admin = chain.actor("new-admin").address
    c.transact(world.provincial.admin, c.trust, "setLabAdmin", world.provincial.lab_id, new_admin)
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
    [forged] = world.issue(world.city, gauge_record(world, world.city, "HZ-X", "X-1"), publish=False)
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
    index.sync()  # asked again (the retry is due at once here): still not served, so withheld
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
