"""``ChainClient.view`` (one raw eth_call) against its reference, web3's ``ContractFunction.call``.

Every view function of the three contracts is called both ways on a real node, in a world with an anchored batch,
a revoked certificate, a substituted one, a suspension in the lab's history and a sanction on its credit record:
the answers must be equal value for value and type for type, and a call that fails must fail both ways with the
same error (reverts by their custom error name and arguments).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from web3.contract import Contract

from tests.chain.conftest import DAY, World, certificate_digests
from tracecert.chain.errors import ContractReverted
from tracecert.chain.types import Activity, RevocationReason, SanctionKind, SanctionReason, category_code

UNKNOWN32 = b"\x5a" * 32


@dataclass(frozen=True)
class Scene:
    """What the world holds for the table's calls."""

    world: World
    root: bytes
    digests: list[bytes]
    proof: list[bytes]
    block: int  # a block before the revocation


def _scene(world: World) -> Scene:
    digests = certificate_digests("VIEW", 4)
    batch, receipt = world.anchor_batch(world.hz, digests)
    c = world.contracts
    c.revoke(world.hz.writer, world.hz.id, digests[0], RevocationReason.ERROR_IN_CONTENT)
    c.substitute(world.hz.writer, world.hz.id, digests[1], digests[3])
    c.suspend_lab(world.jiangsu, world.js.id)
    c.reinstate_lab(world.jiangsu, world.js.id)
    now = world.chain.now()
    c.record_sanction(world.hangzhou, world.hz.id, SanctionKind.WARNING, SanctionReason.OTHER, "杭市监〔2026〕1号",
                      b"\x01" * 32, now, now + 30 * DAY)  # fmt: skip
    return Scene(world, batch.root, digests, list(batch.proofs[2]), receipt.block_number)


#: (contract, function, arguments from the scene): every view function of the ABIs, with arguments that find
#: something, find nothing, and revert. Constants (no inputs) are added from the ABIs themselves.
CALLS: list[tuple[str, str, Callable[[Scene], tuple[Any, ...]]]] = [
    ("trust", "authorization", lambda s: (s.world.hz.id, 0)),
    ("trust", "authorization", lambda s: (s.world.hz.id, 9)),  # out of range: reverts
    ("trust", "authorizationCount", lambda s: (s.world.hz.id,)),
    ("trust", "covers", lambda s: (330000, 330100)),
    ("trust", "covers", lambda s: (320000, 330100)),
    ("trust", "deactivatedBy", lambda s: (s.world.hangzhou.address,)),
    ("trust", "isActiveRegulator", lambda s: (s.world.hangzhou.address,)),
    ("trust", "isAtOrAbove", lambda s: (s.world.zhejiang.address, s.world.hangzhou.address)),
    (
        "trust",
        "isAuthorized",
        lambda s: (s.world.hz.id, category_code("JJG52"), int(Activity.VERIFY), s.world.chain.now()),
    ),
    ("trust", "isAuthorized", lambda s: (s.world.hz.id, category_code("JJG1036"), int(Activity.VERIFY), 0)),
    ("trust", "isRegulatorOfRegion", lambda s: (s.world.hangzhou.address, 330102)),
    ("trust", "isRegulatorOver", lambda s: (s.world.hangzhou.address, 2)),
    ("trust", "lab", lambda s: (s.world.hz.id,)),
    ("trust", "lab", lambda s: (UNKNOWN32,)),
    ("trust", "labAdmin", lambda s: (2,)),
    ("trust", "labAt", lambda s: (s.world.hz.id, s.world.chain.now())),
    ("trust", "labAt", lambda s: (s.world.js.id, s.world.chain.now())),
    ("trust", "labAt", lambda s: (UNKNOWN32, 0)),
    ("trust", "labCount", lambda s: ()),
    ("trust", "labIdOf", lambda s: (1,)),
    ("trust", "labIdOf", lambda s: (99,)),
    ("trust", "labNumberOf", lambda s: (s.world.js.id,)),
    ("trust", "regulator", lambda s: (s.world.hangzhou.address,)),
    ("trust", "regulator", lambda s: ("0x" + "00" * 19 + "01",)),
    ("trust", "requireCanAnchor", lambda s: (2, s.world.hz.key_id)),
    ("trust", "requireCanAnchor", lambda s: (99, UNKNOWN32)),  # reverts
    ("trust", "scopeOf", lambda s: (s.world.hz.id, 0, category_code("JJG52"))),
    ("trust", "statusAt", lambda s: (s.world.js.id, s.world.chain.now())),
    ("trust", "statusHistory", lambda s: (s.world.js.id,)),
    ("certificates", "batch", lambda s: (s.root,)),
    ("certificates", "batch", lambda s: (UNKNOWN32,)),  # reverts: unknown batch
    ("certificates", "batchCount", lambda s: ()),
    ("certificates", "checkCertificate", lambda s: (s.digests[2], (s.root, 2, s.proof))),
    ("certificates", "checkCertificate", lambda s: (s.digests[0], (s.root, 2, s.proof))),
    ("certificates", "key", lambda s: (s.world.hz.key_id,)),
    ("certificates", "key", lambda s: (UNKNOWN32,)),
    ("certificates", "keyValidAt", lambda s: (s.world.hz.id, s.world.hz.key_id, s.world.chain.now())),
    ("certificates", "status", lambda s: (s.world.hz.id, s.digests[0])),
    ("certificates", "status", lambda s: (s.world.hz.id, s.digests[1])),
    ("certificates", "status", lambda s: (s.world.hz.id, s.digests[2])),
    ("certificates", "verifyInclusion", lambda s: (s.digests[2], 2, 4, s.proof, s.root)),
    ("certificates", "writerLab", lambda s: (s.world.hz.writer.address,)),
    ("credit", "drawBlock", lambda s: (UNKNOWN32,)),
    ("credit", "entries", lambda s: (s.world.hz.id,)),
    ("credit", "entries", lambda s: (UNKNOWN32,)),
    ("credit", "entry", lambda s: (s.world.hz.id, 0)),
    ("credit", "entry", lambda s: (s.world.hz.id, 5)),  # reverts
    ("credit", "entryCount", lambda s: (s.world.hz.id,)),
    ("credit", "regionOf", lambda s: ("91330100MA2H00001X",)),
    ("credit", "regionOf", lambda s: ("not a usci",)),  # reverts: CreditInvalidUsci
]


def _contract(world: World, name: str) -> Contract:
    contract = getattr(world.contracts, name)
    assert contract is not None
    return contract


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "answer", call()
    except ContractReverted as exc:
        return "reverted", (exc.error, exc.args_decoded, exc.data)
    except Exception as exc:  # any other failure must be the same failure both ways
        return type(exc).__name__, str(exc)


def _typed(value: Any) -> Any:
    """The value with every part's type beside it, so that equal values of different types differ."""
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_typed(v) for v in value])
    return (type(value).__name__, value)


def _both(world: World, contract: Contract, function: str, args: tuple[Any, ...], block: int | str) -> None:
    reference = _outcome(lambda: world.client.call(contract.get_function_by_name(function)(*args), block=block))
    fast = _outcome(lambda: world.client.view(contract, function, *args, block=block))
    assert _typed(fast) == _typed(reference)


def test_the_table_covers_every_view_function(world: World) -> None:
    named = {(name, function) for name, function, _ in CALLS}
    for name in ("trust", "certificates", "credit"):
        for entry in _contract(world, name).abi:
            if entry["type"] == "function" and entry["stateMutability"] in ("view", "pure") and entry["inputs"]:
                assert (name, entry["name"]) in named, f"{name}.{entry['name']} is not in the table"


def test_every_view_answers_as_web3_does(world: World) -> None:
    scene = _scene(world)
    outcomes = []
    for name, function, args in CALLS:
        contract, values = _contract(world, name), args(scene)
        for block in ("latest", scene.block):
            _both(world, contract, function, values, block)
        outcomes.append(_outcome(partial(world.client.view, contract, function, *values))[0])
    # The table reaches both sides: answers and reverts.
    assert outcomes.count("reverted") >= 4 and outcomes.count("answer") >= 40


@pytest.mark.parametrize("name", ["trust", "certificates", "credit"])
def test_every_constant_answers_as_web3_does(world: World, name: str) -> None:
    contract = _contract(world, name)
    constants = [e["name"] for e in contract.abi if e["type"] == "function" and not e["inputs"]]
    assert constants
    for function in constants:
        _both(world, contract, function, (), "latest")


def test_a_block_before_the_contracts_fails_alike(world: World) -> None:
    _both(world, world.trust, "labCount", (), 0)


def test_the_contracts_api_reads_through_view(world: World) -> None:
    """ChainContracts' reads go through ``view``: a lab's state as web3 gives it."""
    at = world.chain.now()
    state = world.contracts.lab_at(world.hz.id, at)
    reference = world.client.call(world.trust.functions.labAt(world.hz.id, at))
    assert list(state.values()) == list(reference)
