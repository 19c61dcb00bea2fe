"""The index's memoized lookups (:meth:`verifier.index.Index._memo`): the same answers as its queries, and a commit by
any other connection to the file (another index, another process's sync) is seen at the next read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.verifier.conftest import Mirror, TraceWorld, gauge_record, open_index
from tests.verifier.test_index_views import _history, _times
from tracecert.certificate.canonical import from_hex
from tracecert.chain.types import Activity, CertificateState, LabStatus, RevocationReason, chain_time
from verifier.index import Index
from verifier.index.queries import batch_of, key_of, lab_name_of, last_timestamp, status_of


def _unmemoized(index: Index, question: tuple[Any, ...]) -> Any:
    """The answer of the reference path: the queries, run afresh."""
    db = index._db()
    match question:
        case ("lab_at", lab, t):
            return index._lab_at(lab, chain_time(t))
        case ("is_authorized", lab, category, activity, t):
            return index._is_authorized(lab, category, activity, chain_time(t))
        case ("key", key_id):
            return key_of(db, key_id)
        case ("batch", root):
            return batch_of(db, root)
        case ("status", lab, digest):
            return status_of(db, lab, digest)
        case ("lab_name", lab):
            return lab_name_of(db, lab)
        case ("now",):
            return last_timestamp(db)
    raise AssertionError(question)


def _ask(index: Index, question: tuple[Any, ...]) -> Any:
    name, *args = question
    return getattr(index, name)(*args)


def test_memoized_answers_are_the_queries_answers(trace_world: TraceWorld, mirror: Mirror, index: Index) -> None:
    history = _history(trace_world, mirror)
    index.sync()
    labs = history["labs"]
    times = _times(trace_world, labs)
    questions: list[tuple[Any, ...]] = [("now",)]
    questions += [("lab_at", lab, t) for lab in labs for t in times]
    questions += [
        ("is_authorized", lab, category, activity, t)
        for lab in labs
        for category in ("PRESSURE", "JJG52", "NOT_A_CATEGORY")
        for activity in (Activity.VERIFY, Activity.CALIBRATE)
        for t in times[::3]
    ]
    questions += [("key", key_id) for key_id in history["keys"]]
    questions += [("lab_name", lab) for lab in labs]
    for b in history["bundles"]:
        lab, digest = from_hex(b["record"]["lab"]["lab_id"]), from_hex(b["digest"])
        questions += [("batch", from_hex(b["anchor"]["root"])), ("status", lab, digest), ("status", labs[-2], digest)]
    expected = [_unmemoized(index, q) for q in questions]
    first = [_ask(index, q) for q in questions]
    assert len(index._local.memo) == len(questions)  # every answer is kept
    second = [_ask(index, q) for q in questions]  # served from the memo: the queries are not run again
    assert first == expected
    assert second == expected
    assert all(a is b for a, b in zip(first, second, strict=True))
    # The history covers what the memo must not blur: every status, answers that are None, False and True.
    assert {s.status for s in expected if hasattr(s, "status") and hasattr(s, "kind")} == set(LabStatus)
    assert None in expected and True in expected and False in expected
    assert index.numbered(labs[2], "no such number") == []
    assert index.sanctions(labs[0]) == index.sanctions(labs[0])


def test_a_commit_by_another_index_on_the_file_is_seen_at_once(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path
) -> None:
    world, c = trace_world, trace_world.chain.contracts
    reader = open_index(world, tmp_path / "shared.db", mirror)
    writer = open_index(world, tmp_path / "shared.db", mirror)
    try:
        reader.sync()
        lab = world.provincial.lab_id
        later = world.chain.now() + 1_000
        before = (reader.lab_at(lab, later), reader.is_authorized(lab, "PRESSURE", Activity.CALIBRATE, later))
        now_before = reader.now()
        assert before[0] is not None and before[0].status is LabStatus.ACTIVE and before[1] is True
        assert reader.lab_at(lab, later) is before[0]  # memoized

        c.suspend_lab(world.province, lab, 2)
        world.chain.advance(60)
        assert reader.lab_at(lab, later) is before[0]  # not indexed yet: the file has not changed
        writer.sync()  # another connection commits; the reader does not sync itself

        after = reader.lab_at(lab, later)
        assert after is not None and after.status is LabStatus.SUSPENDED
        assert reader.is_authorized(lab, "PRESSURE", Activity.CALIBRATE, later) is False
        assert reader.now() > now_before
    finally:
        reader.close()
        writer.close()


def test_a_revocation_recorded_after_a_read_is_seen_after_the_next_sync(
    trace_world: TraceWorld, mirror: Mirror, index: Index
) -> None:
    world = trace_world
    [bundle] = world.issue(world.city, gauge_record(world, world.city, "FAST-0001", "YB-FAST-1"))
    mirror.publish([bundle])
    index.sync()
    lab, digest = world.city.lab_id, from_hex(bundle["digest"])
    assert index.status(lab, digest).state is CertificateState.NONE
    world.chain.contracts.revoke(world.city_regulator, lab, digest, RevocationReason.REGULATOR_ORDER)
    index.sync()
    assert index.status(lab, digest).state is CertificateState.REVOKED


def test_within_a_pinned_verification_kept_answers_stay_and_a_catch_up_is_seen(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path
) -> None:
    """``pinned()`` checks the file's version once, on entry: a commit by another connection meanwhile shows in
    the next verification, not halfway through this one; a catch-up sync of the reader itself shows at once."""
    world, c = trace_world, trace_world.chain.contracts
    reader = open_index(world, tmp_path / "shared.db", mirror, catch_up=True, catch_up_interval=0.0)
    writer = open_index(world, tmp_path / "shared.db", mirror)
    try:
        reader.sync()
        lab = world.provincial.lab_id
        later = world.chain.now() + 1_000
        with reader.pinned():
            kept = reader.lab_at(lab, later)
            assert kept is not None and kept.status is LabStatus.ACTIVE
            c.suspend_lab(world.province, lab, 2)
            writer.sync()
            with reader.pinned():  # nested: the outer verification's
                assert reader.lab_at(lab, later) is kept
            # A root anchored after the last sync: the reader catches up, and the kept answers are forgotten.
            [bundle] = world.issue(world.city, gauge_record(world, world.city, "FAST-PIN-1", "YB-PIN-1"))
            mirror.publish([bundle])
            found = reader.batch(from_hex(bundle["anchor"]["root"]))
            assert found is not None and found.lab_id == world.city.lab_id
            suspended = reader.lab_at(lab, later)
            assert suspended is not None and suspended.status is LabStatus.SUSPENDED
        after = reader.lab_at(lab, later)
        assert after is not None and after.status is LabStatus.SUSPENDED
    finally:
        reader.close()
        writer.close()


def test_outside_a_pinned_verification_a_commit_shows_at_the_next_lookup(
    trace_world: TraceWorld, mirror: Mirror, tmp_path: Path
) -> None:
    world, c = trace_world, trace_world.chain.contracts
    reader = open_index(world, tmp_path / "shared.db", mirror)
    writer = open_index(world, tmp_path / "shared.db", mirror)
    try:
        reader.sync()
        lab = world.provincial.lab_id
        later = world.chain.now() + 1_000
        with reader.pinned():
            assert reader.lab_at(lab, later) is not None
        c.suspend_lab(world.province, lab, 2)
        writer.sync()
        with reader.pinned():
            seen = reader.lab_at(lab, later)
        assert seen is not None and seen.status is LabStatus.SUSPENDED
    finally:
        reader.close()
        writer.close()
