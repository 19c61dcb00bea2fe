"""Random inspection draws (双随机): committed on chain before the seed exists, seeded by the next block's hash,
re-run by anyone (a second process included) to the same sample; every tampered link is named."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any

import pytest

from tests.chain.conftest import World, reverts
from tracecert.draws import DrawSpec, commitment, draw, run, verify_published

pytestmark = pytest.mark.chain

POPULATION = tuple(f"0x{i:064x}" for i in range(1, 51))
INSPECTORS = ("王检查", "李检查", "赵检查", "钱检查", "孙检查")


def _spec(**changes: Any) -> DrawSpec:
    fields: dict[str, Any] = {
        "purpose": "2026年第四季度计量检定机构双随机抽查",
        "jurisdiction": 330000,
        "population": POPULATION,
        "size": 5,
        "inspectors": INSPECTORS,
        "inspectors_per_item": 2,
        "selection": {"labs_under": 330000, "status": "ACTIVE"},
    }
    return DrawSpec(**(fields | changes))


def _published(world: World, spec: DrawSpec) -> dict[str, Any]:
    return run(spec, world.contracts, world.zhejiang, nudge=lambda: world.client.rpc("evm_mine", []), poll=0.01)


def test_a_draw_is_committed_seeded_by_the_next_block_and_re_run_to_the_same_result(world: World) -> None:
    spec = _spec()
    published = _published(world, spec)
    assert published["seed_block"] == published["commit_block"] + 1
    assert len(published["sample"]) == 5 and set(published["sample"]) <= set(POPULATION)
    assert all(len(set(p)) == 2 and set(p) <= set(INSPECTORS) for p in published["inspectors"].values())
    checked = verify_published(published, world.contracts)
    assert checked.ok, checked.links
    assert [name for name, _ok, _detail in checked.links] == [
        "COMMITMENT", "COMMITTED_ON_CHAIN", "COMMITTED_BY", "SEED_BLOCK", "SEED", "SAMPLE"
    ]  # fmt: skip
    # A second process, from the published JSON alone and the node.
    script = (
        "import json, sys\n"
        "from tracecert.chain.client import ChainClient\n"
        "from tracecert.chain.contracts import ChainContracts\n"
        "from tracecert.chain.deploy import Deployment\n"
        "from tracecert.draws import DrawSpec, draw, seed_of, commitment\n"
        "from tracecert.certificate.canonical import from_hex\n"
        "p, d = json.loads(sys.argv[1]), json.loads(sys.argv[2])\n"
        "c = ChainContracts(ChainClient(sys.argv[3]), Deployment(**d))\n"
        "spec = DrawSpec.from_dict(p['spec'])\n"
        "seed = seed_of(c.block_hash(c.draw_block(commitment(spec)) + 1), commitment(spec))\n"
        "print(json.dumps(list(draw(spec, seed).sample)))\n"
    )
    from dataclasses import asdict

    again = subprocess.run(
        [sys.executable, "-c", script, json.dumps(published), json.dumps(asdict(world.contracts.deployment)),
         world.client.url],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert json.loads(again.stdout) == published["sample"]


def _tamper(published: dict[str, Any], change: str) -> dict[str, Any]:
    p = copy.deepcopy(published)
    if change == "sample order":
        p["sample"] = list(reversed(p["sample"]))
    elif change == "inspectors":
        first = p["sample"][0]
        p["inspectors"][first] = list(reversed(p["inspectors"][first]))
    elif change == "population":
        p["spec"]["population"] = p["spec"]["population"][:-1]
    elif change == "commit block":
        p["commit_block"] += 1
    elif change == "regulator":
        p["regulator"] = "0x" + "11" * 20
    elif change == "seed":
        p["seed"] = "0x" + "22" * 32
    return p


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        ("sample order", {"SAMPLE"}),
        ("inspectors", {"SAMPLE"}),
        ("population", {"COMMITMENT", "COMMITTED_ON_CHAIN", "COMMITTED_BY", "SEED_BLOCK", "SEED", "SAMPLE"}),
        ("commit block", {"COMMITTED_ON_CHAIN"}),
        ("regulator", {"COMMITTED_BY"}),
        ("seed", {"SEED"}),
    ],
)
def test_a_tampered_draw_names_the_link_that_fails(world: World, change: str, failing: set[str]) -> None:
    published = _published(world, _spec())
    checked = verify_published(_tamper(published, change), world.contracts)
    assert {name for name, ok, _detail in checked.links if not ok} == failing


def test_the_seed_decides_and_the_inputs_order_does_not(world: World) -> None:
    spec = _spec()
    shuffled = _spec(population=tuple(reversed(POPULATION)), inspectors=tuple(reversed(INSPECTORS)))
    assert commitment(spec) == commitment(shuffled)
    seed = bytes(32)
    assert draw(spec, seed) == draw(shuffled, seed)
    assert draw(spec, seed).sample != draw(spec, b"\x01" * 32).sample
    counts = {item: 0 for item in POPULATION}  # every item can be drawn: 2,000 seeds, 5 of 50 each
    for i in range(2_000):
        for item in draw(spec, i.to_bytes(32, "big")).sample:
            counts[item] += 1
    assert min(counts.values()) > 120 and max(counts.values()) < 290  # 200 expected each


@pytest.mark.parametrize(
    ("who", "jurisdiction", "error"),
    [
        ("stranger", 330000, "CreditNotRegulatorOver"),
        ("hz.admin", 330100, "CreditNotRegulatorOver"),
        ("hangzhou", 330000, "CreditNotRegulatorOver"),  # a city regulator cannot draw for its province
        ("jiangsu", 330100, "CreditNotRegulatorOver"),
    ],
)
def test_only_a_regulator_covering_the_jurisdiction_commits(
    world: World, who: str, jurisdiction: int, error: str
) -> None:
    with reverts(error):
        world.contracts.commit_draw(world.actor(who), commitment(_spec(jurisdiction=jurisdiction)), jurisdiction)


def test_a_commitment_is_recorded_once(world: World) -> None:
    committed = commitment(_spec())
    world.contracts.commit_draw(world.zhejiang, committed, 330000)
    with reverts("CreditDrawExists", committed):
        world.contracts.commit_draw(world.national, committed, 0)
    assert world.contracts.draw_block(committed) > 0 and world.contracts.draw_block(bytes(32)) == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"size": 0}, "cannot draw 0"),
        ({"size": 51}, "cannot draw 51"),
        ({"population": ("a", "a")}, "twice"),
        ({"inspectors_per_item": 6}, "cannot send 6"),
        ({"inspectors": ("王", "王")}, "twice"),
    ],
)
def test_impossible_draws_are_refused(changes: dict[str, Any], message: str) -> None:
    fields = {"size": 1} if "population" in changes else {}
    with pytest.raises(ValueError, match=message):
        _spec(**(fields | changes))
