"""CertificateRegistry: the codes shared with Python, lab writers and keys (see test_certificate_anchoring.py for
anchoring, revocation, substitution and the one-call verifier read)."""

from __future__ import annotations

import hashlib
from typing import Any
from unittest.mock import ANY

import pytest
from eth_abi import encode as abi_encode

from tracecert.certificate.canonical import lab_id
from tracecert.certificate.merkle import build_batch
from tracecert.certificate.signing import SigningKey
from tracecert.chain.compile import load_artifact
from tracecert.chain.contracts import KeyInfo
from tracecert.chain.types import CertificateState, RevocationReason

from .conftest import DAY, YEAR, ZERO32, ZERO_ADDRESS, World, case_id, certificate_digests, reverts

pytestmark = pytest.mark.chain

OPEN = 2**64 - 1  # a key window with no end
FAR_PAST = 1_000_000_000  # 2001
FAR_FUTURE = 4_000_000_000  # 2096
#: A key no lab has registered yet; table cases register it when they need it.
NEW_KEY = SigningKey.from_seed(hashlib.sha256(b"tracecert test key").digest())
UNKNOWN_LAB = lab_id("12330200470000456M")  # 宁波, never registered
#: 萧山区计量检定所, onboarded by table cases that need a lab in another state than the Hangzhou institute.
XIAOSHAN_CODE, XIAOSHAN = "12330109470000789P", 330109

DIGESTS = certificate_digests("JD2026", 7)
ROOT = build_batch(DIGESTS).root


# ---------------------------------------------------------------- codes shared with Python


@pytest.mark.parametrize(
    ("constant", "value"),
    [(f"STATE_{s.name}", s) for s in CertificateState] + [("REASON_SUPERSEDED", RevocationReason.SUPERSEDED)],
)
def test_python_codes_equal_contract_constants(world: World, constant: str, value: int) -> None:
    assert world.cert_call(constant) == value


def test_every_state_constant_has_a_python_code(world: World) -> None:
    on_chain = {i["name"] for i in world.certificates.abi if i["type"] == "function" and i["name"].startswith("STATE_")}
    assert on_chain == {f"STATE_{s.name}" for s in CertificateState}


def test_trust_registry_cannot_be_the_zero_address(world: World) -> None:
    code = load_artifact("CertificateRegistry")["bytecode"] + abi_encode(["address"], [ZERO_ADDRESS]).hex()
    with reverts("CertificateRegistryZeroAddress"):
        world.national.send(None, code)


# ---------------------------------------------------------------- writers


def test_add_writer_by_the_admin(world: World) -> None:
    clerk = world.actor("hz.clerk")
    world.contracts.add_writer(world.hz.admin, world.hz.id, clerk.address)
    assert bytes(world.cert_call("writerLab", clerk.address)) == world.hz.id
    world.contracts.anchor(clerk, ROOT, len(DIGESTS), world.hz.key_id)


@pytest.mark.parametrize("caller", ["hz.admin", "hangzhou", "zhejiang", "national"])
def test_remove_writer_by_admin_or_regulator(world: World, caller: str) -> None:
    writer = world.hz.writer
    world.contracts.remove_writer(world.actor(caller), world.hz.id, writer.address)
    assert bytes(world.cert_call("writerLab", writer.address)) == ZERO32
    # A withdrawn account may write again, for this lab or (one lab at a time) for another.
    world.contracts.add_writer(world.js.admin, world.js.id, writer.address)
    assert bytes(world.cert_call("writerLab", writer.address)) == world.js.id


@pytest.mark.parametrize(
    ("caller", "lab", "account", "error", "args"),
    [
        # a writer cannot add writers
        ("hz.writer", "$hz", "@hz.clerk", "CertificateRegistryNotLabAdmin", ("@hz.writer", "$hz")),
        # another lab's admin
        ("js.admin", "$hz", "@hz.clerk", "CertificateRegistryNotLabAdmin", ("@js.admin", "$hz")),
        # a regulator of another province
        ("jiangsu", "$hz", "@hz.clerk", "CertificateRegistryNotLabAdmin", ("@jiangsu", "$hz")),
        # the lab's own regulators: they withdraw writers, they never choose them
        ("hangzhou", "$hz", "@hz.clerk", "CertificateRegistryNotLabAdmin", ("@hangzhou", "$hz")),
        ("zhejiang", "$hz", "@hz.clerk", "CertificateRegistryNotLabAdmin", ("@zhejiang", "$hz")),
        ("national", "$hz", "@hz.clerk", "CertificateRegistryNotLabAdmin", ("@national", "$hz")),
        # an outsider
        ("outsider", "$hz", "@hz.clerk", "CertificateRegistryNotLabAdmin", ("@outsider", "$hz")),
        # already a writer of the lab
        ("hz.admin", "$hz", "@hz.writer", "CertificateRegistryWriterExists", ("@hz.writer",)),
        # already a writer of another lab: an account writes for one lab only
        ("hz.admin", "$hz", "@js.writer", "CertificateRegistryWriterExists", ("@js.writer",)),
        # the zero address
        ("hz.admin", "$hz", "@zero", "CertificateRegistryZeroAddress", ()),
        # an unknown lab
        ("hangzhou", UNKNOWN_LAB, "@hz.clerk", "TrustRegistryUnknownLab", (UNKNOWN_LAB,)),
    ],
    ids=case_id,
)
def test_add_writer_refused(
    world: World, caller: str, lab: Any, account: str, error: str, args: tuple[Any, ...]
) -> None:
    with reverts(error, *world.resolve(args)):
        world.contracts.add_writer(world.actor(caller), world.resolve(lab), world.resolve(account))


@pytest.mark.parametrize(
    ("caller", "lab", "account", "error", "args"),
    [
        # an account that never wrote for anyone
        ("hz.admin", "$hz", "@outsider", "CertificateRegistryUnknownWriter", ("@outsider",)),
        # another lab's writer
        ("hz.admin", "$hz", "@js.writer", "CertificateRegistryUnknownWriter", ("@js.writer",)),
        # ... not even by a regulator over this lab
        ("national", "$hz", "@js.writer", "CertificateRegistryUnknownWriter", ("@js.writer",)),
        # a writer cannot remove writers (not even itself)
        ("hz.writer", "$hz", "@hz.writer", "CertificateRegistryNotLabAdmin", ("@hz.writer", "$hz")),
        # another lab's admin
        ("js.admin", "$hz", "@hz.writer", "CertificateRegistryNotLabAdmin", ("@js.admin", "$hz")),
        # a regulator of another province
        ("jiangsu", "$hz", "@hz.writer", "CertificateRegistryNotLabAdmin", ("@jiangsu", "$hz")),
    ],
    ids=case_id,
)
def test_remove_writer_refused(
    world: World, caller: str, lab: Any, account: str, error: str, args: tuple[Any, ...]
) -> None:
    with reverts(error, *world.resolve(args)):
        world.contracts.remove_writer(world.actor(caller), world.resolve(lab), world.resolve(account))


def test_removing_a_writer_twice_is_refused(world: World) -> None:
    world.contracts.remove_writer(world.hz.admin, world.hz.id, world.hz.writer.address)
    with reverts("CertificateRegistryUnknownWriter", world.hz.writer.address):
        world.send(world.hz.admin, world.certificates, "removeWriter", world.hz.id, world.hz.writer.address)


# ---------------------------------------------------------------- keys


def test_registered_key_starts_now_and_stays_open(world: World) -> None:
    key = world.contracts.key(world.hz.key_id)
    assert key == KeyInfo(
        world.hz.key_id, world.hz.id, world.hz.key.public_key, key.registered_at, OPEN, key.registered_at
    )
    assert world.hz.registered_at <= key.registered_at <= world.chain.now()
    assert hashlib.sha256(key.public_key).digest() == key.key_id


def test_register_key_with_a_window(world: World) -> None:
    start = world.chain.now() + DAY
    receipt = world.contracts.register_key(world.hz.admin, world.hz.id, NEW_KEY.public_key, start, start + YEAR)
    assert world.contracts.key(NEW_KEY.key_id) == KeyInfo(
        NEW_KEY.key_id, world.hz.id, NEW_KEY.public_key, start, start + YEAR, world.time_of(receipt)
    )


@pytest.mark.parametrize(
    ("caller", "lab", "public_key", "window", "error", "args"),
    [
        # the lab's writer
        ("hz.writer", "$hz", NEW_KEY.public_key, (0, 0), "CertificateRegistryNotLabAdmin", ("@hz.writer", "$hz")),
        # the lab's own regulator: keys are the lab's own business
        ("hangzhou", "$hz", NEW_KEY.public_key, (0, 0), "CertificateRegistryNotLabAdmin", ("@hangzhou", "$hz")),
        # ... the national authority too
        ("national", "$hz", NEW_KEY.public_key, (0, 0), "CertificateRegistryNotLabAdmin", ("@national", "$hz")),
        # another lab's admin
        ("js.admin", "$hz", NEW_KEY.public_key, (0, 0), "CertificateRegistryNotLabAdmin", ("@js.admin", "$hz")),
        # an unknown lab
        ("hz.admin", UNKNOWN_LAB, NEW_KEY.public_key, (0, 0), "TrustRegistryUnknownLab", (UNKNOWN_LAB,)),
        # the zero key
        ("hz.admin", "$hz", ZERO32, (0, 0), "CertificateRegistryInvalidPublicKey", ()),
        # the lab's key again
        ("hz.admin", "$hz", "$hz.pk", (0, 0), "CertificateRegistryKeyExists", ("$hz.key",)),
        # another lab's key: a key belongs to one lab
        ("hz.admin", "$hz", "$js.pk", (0, 0), "CertificateRegistryKeyExists", ("$js.key",)),
        # a window starting in the past: no signature can be made valid retroactively
        ("hz.admin", "$hz", NEW_KEY.public_key, (FAR_PAST, 0), "CertificateRegistryInvalidKeyWindow", (FAR_PAST, OPEN)),
        # a window that ended already (it starts now)
        ("hz.admin", "$hz", NEW_KEY.public_key, (0, FAR_PAST), "CertificateRegistryInvalidKeyWindow", (ANY, FAR_PAST)),
        # an empty window
        (
            "hz.admin",
            "$hz",
            NEW_KEY.public_key,
            (FAR_FUTURE, FAR_FUTURE),
            "CertificateRegistryInvalidKeyWindow",
            (FAR_FUTURE, FAR_FUTURE),
        ),
        # a reversed window
        (
            "hz.admin",
            "$hz",
            NEW_KEY.public_key,
            (FAR_FUTURE, FAR_FUTURE - 1),
            "CertificateRegistryInvalidKeyWindow",
            (FAR_FUTURE, FAR_FUTURE - 1),
        ),
    ],
    ids=case_id,
)
def test_register_key_refused(
    world: World, caller: str, lab: Any, public_key: Any, window: tuple[int, int], error: str, args: tuple[Any, ...]
) -> None:
    with reverts(error, *world.resolve(args)):
        world.contracts.register_key(world.actor(caller), world.resolve(lab), world.resolve(public_key), *window)


def test_key_valid_at(world: World) -> None:
    hz_from = world.contracts.key(world.hz.key_id).valid_from
    start = world.chain.now() + DAY
    world.contracts.register_key(world.hz.admin, world.hz.id, NEW_KEY.public_key, start, start + YEAR)
    questions = {
        "before the key was registered": (world.hz.id, world.hz.key_id, hz_from - 1),
        "from registration": (world.hz.id, world.hz.key_id, hz_from),
        "open-ended": (world.hz.id, world.hz.key_id, FAR_FUTURE),
        "windowed key, before its window": (world.hz.id, NEW_KEY.key_id, start - 1),
        "windowed key, first second": (world.hz.id, NEW_KEY.key_id, start),
        "windowed key, last second": (world.hz.id, NEW_KEY.key_id, start + YEAR - 1),
        "windowed key, end (exclusive)": (world.hz.id, NEW_KEY.key_id, start + YEAR),
        "asked for another lab": (world.js.id, world.hz.key_id, hz_from),
        "asked for an unknown lab": (UNKNOWN_LAB, world.hz.key_id, hz_from),
        "an unknown key": (world.hz.id, hashlib.sha256(b"no such key").digest(), hz_from),
    }
    answers = {name: world.contracts.key_valid_at(*q) for name, q in questions.items()}
    assert answers == {
        name: name in {"from registration", "open-ended", "windowed key, first second", "windowed key, last second"}
        for name in questions
    }


def test_unknown_key_cannot_be_read(world: World) -> None:
    with reverts("CertificateRegistryUnknownKey", NEW_KEY.key_id):
        world.contracts.key(NEW_KEY.key_id)


def test_key_rotation(world: World) -> None:
    c, hz = world.contracts, world.hz
    world.chain.advance(YEAR)
    c.register_key(hz.admin, hz.id, NEW_KEY.public_key)
    closed_at = world.time_of(c.close_key(hz.admin, hz.key_id, 0, 1))
    assert c.key(hz.key_id).valid_until == closed_at
    assert [c.key_valid_at(hz.id, hz.key_id, t) for t in (closed_at - 1, closed_at)] == [True, False]
    with reverts("CertificateRegistryKeyNotValid", hz.key_id, ANY):
        world.send(hz.writer, world.certificates, "anchor", ROOT, len(DIGESTS), hz.key_id)
    c.anchor(hz.writer, ROOT, len(DIGESTS), NEW_KEY.key_id)
    assert c.batch(ROOT).key_id == NEW_KEY.key_id


def test_key_compromise_closes_the_window_in_the_past(world: World) -> None:
    c, hz = world.contracts, world.hz
    valid_from = c.key(hz.key_id).valid_from
    world.chain.advance(30 * DAY)
    leaked = valid_from + 10 * DAY
    c.close_key(hz.admin, hz.key_id, leaked, 2)
    assert c.key(hz.key_id).valid_until == leaked
    answers = [c.key_valid_at(hz.id, hz.key_id, t) for t in (leaked - 1, leaked, world.chain.now())]
    assert answers == [True, False, False]


def test_closing_before_the_window_starts_leaves_it_empty(world: World) -> None:
    start = world.chain.now() + DAY
    world.contracts.register_key(world.hz.admin, world.hz.id, NEW_KEY.public_key, start, 0)
    world.contracts.close_key(world.hz.admin, NEW_KEY.key_id, 0, 1)
    key = world.contracts.key(NEW_KEY.key_id)
    assert (key.valid_from, key.valid_until) == (start, start)
    assert world.contracts.key_valid_at(world.hz.id, NEW_KEY.key_id, start) is False


@pytest.mark.parametrize("caller", ["hz.admin", "hangzhou", "zhejiang", "national"])
def test_close_key_by_admin_or_regulator(world: World, caller: str) -> None:
    closed_at = world.time_of(world.contracts.close_key(world.actor(caller), world.hz.key_id, 0, 1))
    assert world.contracts.key(world.hz.key_id).valid_until == closed_at


@pytest.mark.parametrize(
    ("until", "allowed"),
    [
        (OPEN, False),  # reopening
        (FAR_FUTURE + 1, False),  # extending
        (FAR_FUTURE, False),  # the same end again
        (FAR_FUTURE - 1, True),  # shrinking
        (0, True),  # closing now
    ],
)
def test_a_key_window_only_shrinks(world: World, until: int, allowed: bool) -> None:
    world.contracts.close_key(world.hz.admin, world.hz.key_id, FAR_FUTURE, 1)
    if allowed:
        world.send(world.hz.admin, world.certificates, "closeKey", world.hz.key_id, until, 1)
        assert world.contracts.key(world.hz.key_id).valid_until < FAR_FUTURE
    else:
        valid_from = world.contracts.key(world.hz.key_id).valid_from
        with reverts("CertificateRegistryInvalidKeyWindow", valid_from, until):
            world.send(world.hz.admin, world.certificates, "closeKey", world.hz.key_id, until, 1)


@pytest.mark.parametrize(
    ("caller", "key", "error", "args"),
    [
        # the lab's writer
        ("hz.writer", "$hz.key", "CertificateRegistryNotLabAdmin", ("@hz.writer", "$hz")),
        # another lab's admin
        ("js.admin", "$hz.key", "CertificateRegistryNotLabAdmin", ("@js.admin", "$hz")),
        # a regulator of another province
        ("jiangsu", "$hz.key", "CertificateRegistryNotLabAdmin", ("@jiangsu", "$hz")),
        # an outsider
        ("outsider", "$hz.key", "CertificateRegistryNotLabAdmin", ("@outsider", "$hz")),
        # an unknown key
        ("hz.admin", NEW_KEY.key_id, "CertificateRegistryUnknownKey", (NEW_KEY.key_id,)),
    ],
    ids=case_id,
)
def test_close_key_refused(world: World, caller: str, key: Any, error: str, args: tuple[Any, ...]) -> None:
    with reverts(error, *world.resolve(args)):
        world.contracts.close_key(world.actor(caller), world.resolve(key), 0, 1)
