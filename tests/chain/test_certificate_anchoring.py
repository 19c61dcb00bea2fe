"""CertificateRegistry: anchoring batches, certificate revocation and substitution, and the one-call verifier read
(checkCertificate) with its RFC 9162 inclusion check."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any
from unittest.mock import ANY

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak

from tracecert.certificate.canonical import lab_id
from tracecert.certificate.errors import ProofInvalid
from tracecert.certificate.merkle import build_batch, verify_inclusion
from tracecert.certificate.signing import SigningKey
from tracecert.chain.contracts import BatchInfo, CertificateStatus
from tracecert.chain.types import CertificateState, RevocationReason

from .conftest import DAY, YEAR, ZERO32, C, V, World, case_id, certificate_digests, reverts

pytestmark = pytest.mark.chain

HOUR = 3600
#: A key no lab has registered yet; table cases register it when they need it.
NEW_KEY = SigningKey.from_seed(hashlib.sha256(b"tracecert test key").digest())
UNKNOWN_LAB = lab_id("12330200470000456M")  # 宁波, never registered
#: 萧山区计量检定所, onboarded by table cases that need a lab in another state than the Hangzhou institute.
XIAOSHAN_CODE, XIAOSHAN = "12330109470000789P", 330109
XIAOSHAN_ID = lab_id(XIAOSHAN_CODE)

DIGESTS = certificate_digests("JD2026", 7)
ROOT = build_batch(DIGESTS).root
D, NEW_D = DIGESTS[0], certificate_digests("JD2026-R", 1)[0]


# ---------------------------------------------------------------- anchoring


def test_anchor_records_lab_key_count_index_and_time(world: World) -> None:
    batch, receipt = world.anchor_batch(world.hz, DIGESTS)
    assert world.contracts.batch(batch.root) == BatchInfo(
        batch.root, world.hz.id, world.hz.key_id, 7, 0, world.time_of(receipt), receipt.block_number
    )
    assert world.contracts.events(receipt) == [
        ("BatchAnchored", {"root": batch.root, "labId": world.hz.id, "keyId": world.hz.key_id, "count": 7, "index": 0})
    ]
    # The index is global and increments across labs.
    js_batch, _ = world.anchor_batch(world.js, certificate_digests("JS2026", 3))
    hz_batch, _ = world.anchor_batch(world.hz, certificate_digests("JD2026-2", 1))
    assert [world.contracts.batch(r).index for r in (batch.root, js_batch.root, hz_batch.root)] == [0, 1, 2]
    assert world.contracts.batch(js_batch.root).lab_id == world.js.id
    assert world.cert_call("batchCount") == 3


def test_anchor_retry_through_the_api_is_one_transaction(world: World) -> None:
    first = world.contracts.anchor(world.hz.writer, ROOT, len(DIGESTS), world.hz.key_id)
    again = world.contracts.anchor(world.hz.writer, ROOT, len(DIGESTS), world.hz.key_id)
    assert again.tx_hash == first.tx_hash
    assert world.cert_call("batchCount") == 1


def test_unknown_batch_cannot_be_read(world: World) -> None:
    with reverts("CertificateRegistryUnknownBatch", ROOT):
        world.contracts.batch(ROOT)


def _onboard_xiaoshan(window: tuple[int, int] | None) -> Callable[[World], object]:
    def setup(w: World) -> object:
        return w.onboard(
            "xs",
            regulator=w.hangzhou,
            code=XIAOSHAN_CODE,
            name="杭州市萧山区计量检定所",
            jurisdiction=XIAOSHAN,
            window=window,
            key=NEW_KEY,
        )

    return setup


ANCHOR_SETUPS: dict[str, Callable[[World], object]] = {
    "none": lambda w: None,
    "writer removed": lambda w: w.contracts.remove_writer(w.hz.admin, w.hz.id, w.hz.writer.address),
    "key starts in an hour": lambda w: w.contracts.register_key(
        w.hz.admin, w.hz.id, NEW_KEY.public_key, w.chain.now() + HOUR, 0
    ),
    "key closed": lambda w: w.contracts.close_key(w.hz.admin, w.hz.key_id, 0, 1),
    "root anchored by the lab": lambda w: w.contracts.anchor(w.hz.writer, ROOT, 7, w.hz.key_id),
    "root anchored by another lab": lambda w: w.contracts.anchor(w.js.writer, ROOT, 7, w.js.key_id),
    "lab suspended": lambda w: w.contracts.suspend_lab(w.hangzhou, w.hz.id),
    "lab revoked": lambda w: w.contracts.revoke_lab(w.hangzhou, w.hz.id),
    "authorization expired": lambda w: w.chain.advance(w.hz.auth_until - w.chain.now()),
    "lab authorized from next week": _onboard_xiaoshan((7 * DAY, YEAR)),
    "lab never authorized": _onboard_xiaoshan(None),
}


@pytest.mark.parametrize(
    ("setup", "sender", "key", "root", "count", "error", "args"),
    [
        # an account that never was a writer
        ("none", "outsider", "$hz.key", ROOT, 7, "CertificateRegistryUnauthorizedWriter", ("@outsider",)),
        # the lab's admin is not a writer
        ("none", "hz.admin", "$hz.key", ROOT, 7, "CertificateRegistryUnauthorizedWriter", ("@hz.admin",)),
        # nor is its regulator
        ("none", "hangzhou", "$hz.key", ROOT, 7, "CertificateRegistryUnauthorizedWriter", ("@hangzhou",)),
        # a withdrawn writer
        ("writer removed", "hz.writer", "$hz.key", ROOT, 7, "CertificateRegistryUnauthorizedWriter", ("@hz.writer",)),
        # a key nobody registered
        ("none", "hz.writer", NEW_KEY.key_id, ROOT, 7, "CertificateRegistryUnknownKey", (NEW_KEY.key_id,)),
        # the key of another lab
        ("none", "hz.writer", "$js.key", ROOT, 7, "CertificateRegistryKeyNotOfLab", ("$js.key",)),
        # a key whose window has not started
        (
            "key starts in an hour",
            "hz.writer",
            NEW_KEY.key_id,
            ROOT,
            7,
            "CertificateRegistryKeyNotValid",
            (NEW_KEY.key_id, ANY),
        ),
        # a closed key
        ("key closed", "hz.writer", "$hz.key", ROOT, 7, "CertificateRegistryKeyNotValid", ("$hz.key", ANY)),
        # the zero root
        ("none", "hz.writer", "$hz.key", ZERO32, 7, "CertificateRegistryInvalidBatch", (ZERO32, 7)),
        # an empty batch
        ("none", "hz.writer", "$hz.key", ROOT, 0, "CertificateRegistryInvalidBatch", (ROOT, 0)),
        # the same root twice (sent again, not retried from the journal)
        (
            "root anchored by the lab",
            "hz.writer",
            "$hz.key",
            ROOT,
            7,
            "CertificateRegistryRootAlreadyAnchored",
            (ROOT,),
        ),
        # a root another lab anchored first
        (
            "root anchored by another lab",
            "hz.writer",
            "$hz.key",
            ROOT,
            7,
            "CertificateRegistryRootAlreadyAnchored",
            (ROOT,),
        ),
        # a suspended lab
        ("lab suspended", "hz.writer", "$hz.key", ROOT, 7, "TrustRegistryLabNotActive", ("$hz", 2)),
        # a revoked lab
        ("lab revoked", "hz.writer", "$hz.key", ROOT, 7, "TrustRegistryLabNotActive", ("$hz", 3)),
        # the authorization window has ended
        ("authorization expired", "hz.writer", "$hz.key", ROOT, 7, "TrustRegistryAuthorizationExpired", ("$hz", ANY)),
        # the authorization window has not started
        (
            "lab authorized from next week",
            "xs.writer",
            NEW_KEY.key_id,
            ROOT,
            7,
            "TrustRegistryAuthorizationExpired",
            (XIAOSHAN_ID, ANY),
        ),
        # registered, never authorized
        (
            "lab never authorized",
            "xs.writer",
            NEW_KEY.key_id,
            ROOT,
            7,
            "TrustRegistryAuthorizationExpired",
            (XIAOSHAN_ID, ANY),
        ),
    ],
    ids=case_id,
)
def test_anchor_refused(
    world: World, setup: str, sender: str, key: Any, root: bytes, count: int, error: str, args: tuple[Any, ...]
) -> None:
    ANCHOR_SETUPS[setup](world)
    with reverts(error, *world.resolve(args)):
        world.send(world.actor(sender), world.certificates, "anchor", root, count, world.resolve(key))


def _key_closing_in_an_hour(w: World) -> int:
    until = w.chain.now() + HOUR
    w.contracts.close_key(w.hz.admin, w.hz.key_id, until, 1)
    return until


def _key_starting_in_an_hour(w: World) -> int:
    start = w.chain.now() + HOUR
    w.contracts.register_key(w.hz.admin, w.hz.id, NEW_KEY.public_key, start, 0)
    return start


#: Anchoring at an exact block time: (key used, block time) after any set-up, and the error expected.
BOUNDARIES: dict[str, tuple[Callable[[World], tuple[bytes, int]], str | None]] = {
    "authorization, last second": (lambda w: (w.hz.key_id, w.hz.auth_until - 1), None),
    "authorization, end (exclusive)": (lambda w: (w.hz.key_id, w.hz.auth_until), "TrustRegistryAuthorizationExpired"),
    "closing key, last second": (lambda w: (w.hz.key_id, _key_closing_in_an_hour(w) - 1), None),
    "closing key, end (exclusive)": (
        lambda w: (w.hz.key_id, _key_closing_in_an_hour(w)),
        "CertificateRegistryKeyNotValid",
    ),
    "new key, a second early": (
        lambda w: (NEW_KEY.key_id, _key_starting_in_an_hour(w) - 1),
        "CertificateRegistryKeyNotValid",
    ),
    "new key, first second": (lambda w: (NEW_KEY.key_id, _key_starting_in_an_hour(w)), None),
}


@pytest.mark.parametrize("case", BOUNDARIES)
def test_anchoring_at_the_window_boundaries(world: World, case: str) -> None:
    prepare, error = BOUNDARIES[case]
    key_id, at = prepare(world)
    world.client.rpc("evm_setNextBlockTimestamp", [at])
    if error is None:
        receipt = world.contracts.anchor(world.hz.writer, ROOT, len(DIGESTS), key_id)
        assert world.time_of(receipt) == at
    else:
        named = world.hz.id if error.startswith("TrustRegistry") else key_id
        with reverts(error, named, at):
            world.contracts.anchor(world.hz.writer, ROOT, len(DIGESTS), key_id)


def test_anchoring_resumes_after_reinstatement(world: World) -> None:
    world.contracts.suspend_lab(world.hangzhou, world.hz.id, 1)
    with reverts("TrustRegistryLabNotActive", world.hz.id, 2):
        world.contracts.anchor(world.hz.writer, ROOT, len(DIGESTS), world.hz.key_id)
    world.contracts.reinstate_lab(world.hangzhou, world.hz.id)
    world.contracts.anchor(world.hz.writer, ROOT, len(DIGESTS), world.hz.key_id)
    assert world.contracts.batch(ROOT).lab_id == world.hz.id


def test_anchoring_continues_under_a_renewal_that_covers_now(world: World) -> None:
    renewed = world.chain.advance(world.hz.auth_until - world.chain.now() - DAY)
    world.contracts.authorize_lab(
        world.hangzhou, world.hz.id, "(浙)法计(2030)01001号", renewed, renewed + 5 * YEAR, {"JJG443": V}
    )
    world.chain.advance(2 * DAY)  # past the end of the first authorization
    world.contracts.anchor(world.hz.writer, ROOT, len(DIGESTS), world.hz.key_id)
    assert world.contracts.batch(ROOT).lab_id == world.hz.id


def _record_renewal_in_advance(w: World) -> None:
    # 复查换证 granted a month before the current authorization ends, valid from its end.
    w.chain.advance(w.hz.auth_until - w.chain.now() - 30 * DAY)
    w.contracts.authorize_lab(
        w.hangzhou,
        w.hz.id,
        "(浙)法计(2030)01001号",
        w.hz.auth_until,
        w.hz.auth_until + 5 * YEAR,
        {"JJG443": V, "JJG52": V | C},
    )


def _backfill_earlier_authorization(w: World) -> None:
    # The previous five-year authorization, entered afterwards for the record.
    w.contracts.authorize_lab(
        w.hangzhou, w.hz.id, "(浙)法计(2020)01001号", w.hz.auth_from - 5 * YEAR, w.hz.auth_from, {"JJG443": V}
    )


@pytest.mark.parametrize(
    "record",
    [_record_renewal_in_advance, _backfill_earlier_authorization],
    ids=["renewal recorded in advance", "earlier authorization back-filled"],
)
def test_anchoring_follows_the_authorization_covering_now(world: World, record: Callable[[World], None]) -> None:
    """Anchoring accepts any recorded authorization covering now, as isAuthorized does (not only the latest)."""
    record(world)
    assert world.contracts.is_authorized(world.hz.id, "JJG443", V, world.chain.now()) is True
    world.contracts.anchor(world.hz.writer, ROOT, len(DIGESTS), world.hz.key_id)


# ---------------------------------------------------------------- revocation and substitution


@pytest.mark.parametrize(
    ("setup", "caller"),
    [
        ("none", "hz.writer"),  # the issuing lab's writer
        ("none", "hangzhou"),  # its municipal regulator
        ("none", "zhejiang"),  # the provincial one
        ("none", "national"),  # the national authority
        ("lab suspended", "hz.writer"),  # a suspended lab may still revoke: it only lowers trust
        ("lab revoked", "hz.writer"),  # ... and so may a revoked one
    ],
)
def test_revoke_by_issuer_or_regulator(world: World, setup: str, caller: str) -> None:
    ANCHOR_SETUPS[setup](world)
    receipt = world.contracts.revoke(world.actor(caller), world.hz.id, D, RevocationReason.ERROR_IN_CONTENT)
    t = world.time_of(receipt)
    assert world.contracts.status(world.hz.id, D) == CertificateStatus(CertificateState.REVOKED, 1, t, t, None)
    assert world.contracts.events(receipt) == [
        ("CertificateRevoked", {"labId": world.hz.id, "digest": D, "reason": 1, "effectiveTime": t})
    ]


def _revoke(w: World) -> None:
    w.contracts.revoke(w.hz.writer, w.hz.id, D, RevocationReason.ERROR_IN_CONTENT)


REVOKE_SETUPS: dict[str, Callable[[World], object]] = {
    "none": lambda w: None,
    "writer removed": ANCHOR_SETUPS["writer removed"],
    "regulator deactivated": lambda w: w.send(w.zhejiang, w.trust, "setRegulatorActive", w.hangzhou.address, False),
    "revoked": _revoke,
    "substituted": lambda w: w.contracts.substitute(w.hz.writer, w.hz.id, D, NEW_D),
}


@pytest.mark.parametrize(
    ("setup", "caller", "lab", "reason", "error", "args"),
    [
        # another lab's writer, revoking under this lab
        ("none", "js.writer", "$hz", 1, "CertificateRegistryNotIssuerOrRegulator", ("@js.writer", "$hz")),
        # a regulator of another province
        ("none", "jiangsu", "$hz", 1, "CertificateRegistryNotIssuerOrRegulator", ("@jiangsu", "$hz")),
        # this lab's writer, under another lab
        ("none", "hz.writer", "$js", 1, "CertificateRegistryNotIssuerOrRegulator", ("@hz.writer", "$js")),
        # the lab's admin is not a writer
        ("none", "hz.admin", "$hz", 1, "CertificateRegistryNotIssuerOrRegulator", ("@hz.admin", "$hz")),
        # an outsider
        ("none", "outsider", "$hz", 1, "CertificateRegistryNotIssuerOrRegulator", ("@outsider", "$hz")),
        # a withdrawn writer
        ("writer removed", "hz.writer", "$hz", 1, "CertificateRegistryNotIssuerOrRegulator", ("@hz.writer", "$hz")),
        # a deactivated regulator
        (
            "regulator deactivated",
            "hangzhou",
            "$hz",
            1,
            "CertificateRegistryNotIssuerOrRegulator",
            ("@hangzhou", "$hz"),
        ),
        # reason 0
        ("none", "hz.writer", "$hz", 0, "CertificateRegistryInvalidReason", (0,)),
        # an unknown lab
        ("none", "national", UNKNOWN_LAB, 1, "TrustRegistryUnknownLab", (UNKNOWN_LAB,)),
        # revoking twice (sent again, not retried from the journal)
        ("revoked", "hz.writer", "$hz", 4, "CertificateRegistryStatusAlreadySet", (D, 1)),
        # the regulator after the lab
        ("revoked", "hangzhou", "$hz", 7, "CertificateRegistryStatusAlreadySet", (D, 1)),
        # a substituted certificate
        ("substituted", "hz.writer", "$hz", 1, "CertificateRegistryStatusAlreadySet", (D, 2)),
    ],
    ids=case_id,
)
def test_revoke_refused(
    world: World, setup: str, caller: str, lab: Any, reason: int, error: str, args: tuple[Any, ...]
) -> None:
    REVOKE_SETUPS[setup](world)
    with reverts(error, *world.resolve(args)):
        world.send(world.actor(caller), world.certificates, "revoke", world.resolve(lab), D, reason, 0)


def test_another_lab_revoking_under_its_own_id_leaves_the_issuers_status_alone(world: World) -> None:
    batch, _ = world.anchor_batch(world.hz, DIGESTS)
    world.contracts.revoke(world.js.writer, world.js.id, D, RevocationReason.FRAUD)
    assert world.contracts.status(world.js.id, D).state == CertificateState.REVOKED
    assert world.contracts.status(world.hz.id, D) == CertificateStatus(CertificateState.NONE, 0, 0, 0, None)
    assert world.contracts.check_certificate(D, batch.root, 0, batch.proofs[0])["state"] == CertificateState.NONE
    # ... nor blocks the issuer's own statement.
    world.contracts.revoke(world.hz.writer, world.hz.id, D, RevocationReason.ERROR_IN_CONTENT)
    assert world.contracts.check_certificate(D, batch.root, 0, batch.proofs[0])["reason"] == 1


@pytest.mark.parametrize("effective", ["now", "30 days ago", "before registration"])
def test_revocation_effective_time(world: World, effective: str) -> None:
    now = world.chain.now()
    given = {"now": 0, "30 days ago": now - 30 * DAY, "before registration": world.hz.registered_at - YEAR}[effective]
    receipt = world.contracts.revoke(world.hz.writer, world.hz.id, D, RevocationReason.INSTRUMENT_WITHDRAWN, given)
    status = world.contracts.status(world.hz.id, D)
    assert status.effective_time == (given or world.time_of(receipt))
    assert status.recorded_at == world.time_of(receipt)
    assert status.reason == RevocationReason.INSTRUMENT_WITHDRAWN


@pytest.mark.parametrize("caller", ["hz.writer", "hangzhou"])
def test_substitute_links_the_old_certificate_to_the_new(world: World, caller: str) -> None:
    receipt = world.contracts.substitute(world.actor(caller), world.hz.id, D, NEW_D)
    t = world.time_of(receipt)
    assert world.contracts.status(world.hz.id, D) == CertificateStatus(
        CertificateState.SUBSTITUTED, RevocationReason.SUPERSEDED, t, t, NEW_D
    )
    assert world.contracts.status(world.hz.id, NEW_D).state == CertificateState.NONE
    assert world.contracts.events(receipt) == [
        ("CertificateSubstituted", {"labId": world.hz.id, "digest": D, "newDigest": NEW_D})
    ]
    # The replacement is a certificate like any other: it can be revoked in turn.
    world.contracts.revoke(world.hz.writer, world.hz.id, NEW_D, RevocationReason.ERROR_IN_CONTENT)


SUBSTITUTE_SETUPS: dict[str, Callable[[World], object]] = {
    "none": lambda w: None,
    "old revoked": _revoke,
    "old substituted": lambda w: w.contracts.substitute(w.hz.writer, w.hz.id, D, DIGESTS[1]),
    "new revoked": lambda w: w.contracts.revoke(w.hz.writer, w.hz.id, NEW_D, RevocationReason.ERROR_IN_CONTENT),
    "new substituted": lambda w: w.contracts.substitute(w.hz.writer, w.hz.id, NEW_D, DIGESTS[1]),
}


@pytest.mark.parametrize(
    ("setup", "caller", "old", "new", "error", "args"),
    [
        # a certificate cannot replace itself
        ("none", "hz.writer", D, D, "CertificateRegistryInvalidSubstitution", (D, D)),
        # nor be replaced by nothing
        ("none", "hz.writer", D, ZERO32, "CertificateRegistryInvalidSubstitution", (D, ZERO32)),
        # another lab's writer
        ("none", "js.writer", D, NEW_D, "CertificateRegistryNotIssuerOrRegulator", ("@js.writer", "$hz")),
        # a regulator of another province
        ("none", "jiangsu", D, NEW_D, "CertificateRegistryNotIssuerOrRegulator", ("@jiangsu", "$hz")),
        # the old certificate is revoked already
        ("old revoked", "hz.writer", D, NEW_D, "CertificateRegistryStatusAlreadySet", (D, 1)),
        # ... or substituted already
        ("old substituted", "hz.writer", D, NEW_D, "CertificateRegistryStatusAlreadySet", (D, 2)),
        # the replacement is revoked
        ("new revoked", "hz.writer", D, NEW_D, "CertificateRegistryStatusAlreadySet", (NEW_D, 1)),
        # the replacement was itself replaced
        ("new substituted", "hz.writer", D, NEW_D, "CertificateRegistryStatusAlreadySet", (NEW_D, 2)),
    ],
    ids=case_id,
)
def test_substitute_refused(
    world: World, setup: str, caller: str, old: bytes, new: bytes, error: str, args: tuple[Any, ...]
) -> None:
    SUBSTITUTE_SETUPS[setup](world)
    with reverts(error, *world.resolve(args)):
        world.send(world.actor(caller), world.certificates, "substitute", world.hz.id, old, new)


# ---------------------------------------------------------------- checkCertificate and verifyInclusion


@pytest.mark.parametrize("size", [7, 16])
def test_check_certificate_for_every_leaf(world: World, size: int) -> None:
    digests = certificate_digests(f"JD2026-{size}", size)
    batch, receipt = world.anchor_batch(world.hz, digests)
    expected = {
        "anchored": True,
        "lab_id": world.hz.id,
        "key_id": world.hz.key_id,
        "batch_index": 0,
        "batch_size": size,
        "anchored_at": world.time_of(receipt),
        "block_number": receipt.block_number,
        "state": 0,
        "reason": 0,
        "effective_time": 0,
        "recorded_at": 0,
        "substituted_by": ZERO32,
    }
    for i, digest in enumerate(digests):
        view = world.contracts.check_certificate(digest, batch.root, i, batch.proofs[i])
        assert {k: bytes(v) if isinstance(v, bytes) else v for k, v in view.items()} == expected, f"leaf {i}"


def _flip(proof: list[bytes], at: int) -> list[bytes]:
    at %= len(proof)
    changed = bytearray(proof[at])
    changed[0] ^= 1
    return [*proof[:at], bytes(changed), *proof[at + 1 :]]


#: Leaf 5 of the 7-digest batch: digest, index, proof, each possibly altered.
BAD_INCLUSIONS: dict[str, Callable[[list[bytes], tuple[tuple[bytes, ...], ...]], tuple[bytes, int, list[bytes]]]] = {
    "proof of the neighbouring leaf": lambda d, p: (d[5], 5, list(p[4])),
    "a flipped bit in the first hash": lambda d, p: (d[5], 5, _flip(list(p[5]), 0)),
    "a flipped bit in the last hash": lambda d, p: (d[5], 5, _flip(list(p[5]), -1)),
    "the last hash missing": lambda d, p: (d[5], 5, list(p[5])[:-1]),
    "an extra hash": lambda d, p: (d[5], 5, [*p[5], p[5][0]]),
    "no proof": lambda d, p: (d[5], 5, []),
    "the neighbour's index": lambda d, p: (d[5], 4, list(p[5])),
    "an index past the batch": lambda d, p: (d[5], 7, list(p[5])),
    "a digest not in the batch": lambda d, p: (NEW_D, 5, list(p[5])),
}


@pytest.mark.parametrize("case", BAD_INCLUSIONS)
def test_check_certificate_refuses_a_bad_inclusion(world: World, case: str) -> None:
    batch, _ = world.anchor_batch(world.hz, DIGESTS)
    digest, index, proof = BAD_INCLUSIONS[case](DIGESTS, batch.proofs)
    view = world.contracts.check_certificate(digest, batch.root, index, proof)
    assert view["anchored"] is False
    assert bytes(view["lab_id"]) == world.hz.id  # the batch itself is known


def test_check_certificate_of_an_unknown_root(world: World) -> None:
    batch = build_batch(DIGESTS)
    view = world.contracts.check_certificate(DIGESTS[0], batch.root, 0, batch.proofs[0])
    assert view == {
        "anchored": False,
        "lab_id": ZERO32,
        "key_id": ZERO32,
        "batch_index": 0,
        "batch_size": 0,
        "anchored_at": 0,
        "block_number": 0,
        "state": 0,
        "reason": 0,
        "effective_time": 0,
        "recorded_at": 0,
        "substituted_by": ZERO32,
    }


def test_check_certificate_reports_the_status_under_the_anchoring_lab(world: World) -> None:
    batch, _ = world.anchor_batch(world.hz, DIGESTS)
    c = world.contracts
    effective = world.chain.now() - DAY
    revoked_at = world.time_of(c.revoke(world.hz.writer, world.hz.id, DIGESTS[1], RevocationReason.FRAUD, effective))
    substituted_at = world.time_of(c.substitute(world.hangzhou, world.hz.id, DIGESTS[2], NEW_D))
    c.revoke(world.js.writer, world.js.id, DIGESTS[3], RevocationReason.FRAUD)  # under the wrong lab
    views = {i: c.check_certificate(DIGESTS[i], batch.root, i, batch.proofs[i]) for i in range(4)}
    summary = {
        i: (v["anchored"], v["state"], v["reason"], v["effective_time"], v["recorded_at"], bytes(v["substituted_by"]))
        for i, v in views.items()
    }
    assert summary == {
        0: (True, CertificateState.NONE, 0, 0, 0, ZERO32),
        1: (True, CertificateState.REVOKED, RevocationReason.FRAUD, effective, revoked_at, ZERO32),
        2: (True, CertificateState.SUBSTITUTED, RevocationReason.SUPERSEDED, substituted_at, substituted_at, NEW_D),
        3: (True, CertificateState.NONE, 0, 0, 0, ZERO32),
    }


VERIFY_INCLUSION_TYPES = ["bytes32", "uint256", "uint256", "bytes32[]", "bytes32"]
# Encoded directly: web3's encode_abi would take most of the test's time for ~4,500 calls.
VERIFY_INCLUSION = keccak(text=f"verifyInclusion({','.join(VERIFY_INCLUSION_TYPES)})")[:4]


def _python_verifies(digest: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    try:
        verify_inclusion(digest, index, size, proof, root)
    except ProofInvalid:
        return False
    return True


def test_verify_inclusion_agrees_with_the_python_merkle_module(world: World) -> None:
    """The Solidity RFC 9162 check against tracecert.certificate.merkle, for every leaf of trees of 1..33
    leaves, with the right inputs and with a wrong index, size, proof length, proof hash or root."""
    other_root = build_batch(certificate_digests("other", 5)).root
    disagreements: list[tuple[Any, ...]] = []
    for size in range(1, 34):
        digests = certificate_digests(f"tree{size}", size)
        batch = build_batch(digests)
        questions: list[tuple[str, bytes, int, int, list[bytes], bytes]] = []
        for i, digest in enumerate(digests):
            proof = list(batch.proofs[i])
            questions += [
                ("valid", digest, i, size, proof, batch.root),
                ("next index", digest, (i + 1) % size, size, proof, batch.root),
                ("size + 1", digest, i, size + 1, proof, batch.root),
                ("size - 1", digest, i, size - 1, proof, batch.root),
                ("proof too short", digest, i, size, proof[:-1], batch.root),
                ("proof too long", digest, i, size, [*proof, batch.root], batch.root),
                ("wrong root", digest, i, size, proof, other_root),
            ]
            if proof:
                questions.append(("flipped hash", digest, i, size, _flip(proof, i % len(proof)), batch.root))
        calls = [VERIFY_INCLUSION + abi_encode(VERIFY_INCLUSION_TYPES, q[1:]) for q in questions]
        results = [abi_decode(["bool"], r)[0] for r in world.cert_call("multicall", calls)]
        for q, on_chain in zip(questions, results, strict=True):
            expected = _python_verifies(*q[1:])
            if on_chain != expected or (q[0] == "valid" and not expected):
                disagreements.append((size, q[2], q[0], on_chain, expected))
    assert disagreements == []
