"""``tracecert up`` on a chain that mines on a clock (issue 15, item 1): ``--block-time 2 --confirmations 2``, the
demo seeded on it, then the end-to-end scenarios over HTTP (issue, anchor, revoke, substitute, verify with trace)
with a reorganization in the middle that takes away the block a batch was anchored in. The registry anchors it
again, exactly once, and the verifier answers from the new block. A second ``up`` of the same data directory with
automine finds everything as it was left."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_utils import keccak

from tests.conftest import free_port
from tests.test_blackbox import Up, _dated
from tests.test_up import _interrupt, _wait_up
from tracecert.chain.config import ChainSettings
from tracecert.chain.node import AnvilNode
from tracecert_app.up import chain_timing

BLOCK_TIME = 2.0
CONFIRMATIONS = 2
#: Topic of ``BatchAnchored(root, labId, keyId, count, index)``.
BATCH_ANCHORED = "0x" + keccak(text="BatchAnchored(bytes32,bytes32,bytes32,uint32,uint32)").hex()
#: How long anything that needs a few blocks may take: a batch window, a block to be mined in, the confirmations,
#: and room for a loaded machine.
PATIENCE = 15 * BLOCK_TIME * (CONFIRMATIONS + 1)


def _start(data_dir: Path, ports: dict[str, int], *options: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACECERT_")}
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen(
        [sys.executable, "-m", "tracecert_app.cli", "up", "--data-dir", str(data_dir), "--port",
         str(ports["registry"]), "--verifier-port", str(ports["verifier"]), "--chain-port", str(ports["chain"]),
         *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip


def _kill(process: subprocess.Popen[str], data_dir: Path) -> None:
    """Kill ``up`` and the chain node it started in a session of its own (a failed test leaves no process)."""
    process.kill()
    process.wait()
    AnvilNode.stop_detached(data_dir)


def _rpc(up: Up, method: str, *params: Any) -> Any:
    answer = httpx.post(up.chain, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).json()
    assert "error" not in answer, answer
    return answer["result"]


def _head(up: Up) -> int:
    return int(_rpc(up, "eth_blockNumber"), 16)


def _reorg_from(up: Up, number: int) -> int:
    """Reorganize the chain from block ``number`` up: ``anvil_reorg`` replaces that many of the newest blocks by
    empty ones. The node may mine between reading its head and the reorganization, which then misses the block:
    look, and reorganize again. Returns the depth of the first attempt."""
    replaced = _rpc(up, "eth_getBlockByNumber", hex(number), False)["hash"]
    first = _head(up) - number + 1
    for _ in range(5):
        _rpc(up, "anvil_reorg", _head(up) - number + 1, [])
        block = _rpc(up, "eth_getBlockByNumber", hex(number), False)
        if block is None or block["hash"] != replaced:
            return first
    raise AssertionError(f"block {number} still there after five reorganizations")


def _until(what: str, probe: Callable[[], Any], timeout: float = PATIENCE, every: float = 0.1) -> Any:
    """``probe()`` once it is truthy; fails after ``timeout`` seconds with the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {answer!r})")
        time.sleep(every)


def _view(up: Up, digest: str) -> dict[str, Any]:
    return dict(httpx.get(f"{up.registry}/v1/certificates/{digest}", headers=up.auth).json())


def _anchored(up: Up, digest: str, confirmations: int = CONFIRMATIONS) -> dict[str, Any]:
    """The registry's view once it says anchored: then the anchoring block has its confirmations on the node."""
    view: dict[str, Any] = _until(f"{digest} anchored", lambda: (v := _view(up, digest))["status"] == "anchored" and v)
    assert _head(up) >= view["batch"]["block_number"] + confirmations - 1, view["batch"]
    return view


def _verification(up: Up, digest: str) -> dict[str, Any]:
    return dict(httpx.get(f"{up.verifier}/v1/certificates/{digest}/verification").json())


def _verified(up: Up, digest: str, verdict: str, code: str | None = None) -> dict[str, Any]:
    """The verifier's report once its verdict is ``verdict`` (and ``code`` among the failed checks); the verifier
    follows the chain a confirmation behind the head, so a change the registry has on chain shows within blocks."""

    def probe() -> dict[str, Any] | None:
        report = _verification(up, digest)
        codes = {reason["code"] for reason in report["reasons"]}
        return report if report["verdict"] == verdict and (code is None or code in codes) else None

    report: dict[str, Any] = _until(f"{digest} verified {verdict} {code or ''}", probe)
    return report


def _anchor_logs(up: Up, root: str) -> list[dict[str, Any]]:
    """Every ``BatchAnchored`` of ``root`` on the node's chain, from genesis."""
    return list(_rpc(up, "eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest", "topics": [BATCH_ANCHORED, root]}))


def _issue(up: Up, number: str, **changes: Any) -> str:
    record = _dated(up, copy.deepcopy(up.dispenser), up.today(), up.today())
    record.update(certificate_number=number, **changes)
    answer = httpx.post(f"{up.registry}/v1/certificates", json={"record": record}, headers=up.auth)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["digest"])


def _assert_anchored_once(up: Up, view: dict[str, Any]) -> None:
    """The certificate's batch is on chain exactly once, in the block and transaction the registry says, and its
    listing holds the certificate."""
    batch = view["batch"]
    logs = _anchor_logs(up, batch["root"])
    assert [(int(log["blockNumber"], 16), log["transactionHash"]) for log in logs] == [
        (batch["block_number"], batch["tx_hash"])
    ], logs
    listing = httpx.get(f"{up.registry}/v1/batches/{batch['root']}", headers=up.auth).json()
    assert view["digest"] in json.dumps(listing), listing


def test_up_with_a_block_time_confirmations_and_a_reorg(tmp_path: Path) -> None:
    ports = {"registry": free_port(), "verifier": free_port(), "chain": free_port()}
    registry = f"http://127.0.0.1:{ports['registry']}"
    process = _start(tmp_path, ports, "--block-time", str(BLOCK_TIME), "--confirmations", str(CONFIRMATIONS))
    try:
        _wait_up(process, tmp_path, registry, timeout=300)  # the demo is seeded on the clock-mined chain
        running = json.loads((tmp_path / "up.json").read_text())
        assert (running["block_time"], running["confirmations"]) == (BLOCK_TIME, CONFIRMATIONS)
        summary = json.loads((tmp_path / "demo" / "demo.json").read_text())["summary"]
        up = Up(tmp_path, registry, running["verifier"], running["chain"], summary)

        # The node mines on its clock: blocks come without transactions (automine never mines an empty block).
        head = _head(up)
        _until("two blocks mined on the clock", lambda: _head(up) >= head + 2, timeout=8 * BLOCK_TIME)
        blocks = [_rpc(up, "eth_getBlockByNumber", hex(number), False) for number in (head + 1, head + 2)]
        assert any(block["transactions"] == [] for block in blocks), blocks
        # The demo's story, seeded while the chain mined on its clock, verifies with its trace.
        for name, verdict in (("fuel_dispenser", "VALID"), ("revoked", "INVALID"), ("substituted", "INVALID")):
            report = _verification(up, summary["certificates"][name]["digest"])
            assert report["verdict"] == verdict, (name, report["reasons"])
        assert {r["code"] for r in _verification(up, summary["certificates"]["revoked"]["digest"])["reasons"]} >= {
            "NOT_REVOKED"
        }

        # Issue three certificates over HTTP; each anchored only once its block has its confirmations.
        digests = {name: _issue(up, f"BT-{name}") for name in ("kept", "revoked", "replaced")}
        views = {name: _anchored(up, digest) for name, digest in digests.items()}
        for view in views.values():
            _assert_anchored_once(up, view)
        for digest in digests.values():
            report = _verified(up, digest, "VALID")
            assert report["trace"]["children"], report["trace"]  # the standards' chain up to the NMI

        # A reorganization takes away the block the first batch was anchored in (and the blocks on top of it):
        # deeper than the confirmations waited for, the registry noticing it by the block's hash.
        first = views["kept"]["batch"]
        assert _reorg_from(up, first["block_number"]) <= CONFIRMATIONS + 2  # caught while a few blocks deep
        assert _anchor_logs(up, first["root"]) == []  # no longer on chain
        lost = {name: v for name, v in views.items() if v["batch"]["block_number"] >= first["block_number"]}
        for name, old in lost.items():
            again = _until(
                f"{name} anchored again",
                lambda old=old: (
                    (v := _view(up, old["digest"]))["status"] == "anchored"
                    and v["batch"]["block_number"] > old["batch"]["block_number"]
                    and v
                ),
            )
            views[name] = _anchored(up, again["digest"])
            assert views[name]["batch"]["root"] == old["batch"]["root"]  # the same batch, on chain again
        for name, view in views.items():
            _assert_anchored_once(up, view)
            report = _verified(up, view["digest"], "VALID")
            # the verifier answers from the block the batch is in now, not from the one reorganized away
            assert report["anchor"]["block_number"] == view["batch"]["block_number"], (name, report["anchor"])

        # Revoke one: done on chain (confirmed) and the verifier says revoked.
        answer = httpx.post(
            f"{up.registry}/v1/certificates/{digests['revoked']}/revoke", json={"reason": "error_in_content"},
            headers=up.auth,
        )  # fmt: skip
        assert answer.status_code == 202, answer.text
        op = _until(
            "revocation done",
            lambda: (v := _view(up, digests["revoked"])["lifecycle"] or {}).get("state") == "done" and v,
        )
        assert op["tx_hash"] and op["reason_name"] == "ERROR_IN_CONTENT"
        _verified(up, digests["revoked"], "INVALID", "NOT_REVOKED")
        # A second reorganization takes the revocation's block away: the registry notices (its account's nonce
        # went back) and sends the revocation again; the chain, and so the verifier, say revoked once more.
        _reorg_from(up, int(_rpc(up, "eth_getTransactionReceipt", op["tx_hash"])["blockNumber"], 16))
        assert _rpc(up, "eth_getTransactionReceipt", op["tx_hash"]) is None

        def revoked_on_chain() -> dict[str, Any] | None:
            lifecycle: dict[str, Any] = _view(up, digests["revoked"])["lifecycle"]
            sent = lifecycle["tx_hash"] and _rpc(up, "eth_getTransactionReceipt", lifecycle["tx_hash"])
            return lifecycle if lifecycle["state"] == "done" and sent else None

        op = _until("revocation on chain again", revoked_on_chain)
        assert op["reason_name"] == "ERROR_IN_CONTENT"
        _verified(up, digests["revoked"], "INVALID", "NOT_REVOKED")

        # Substitute one: the replacement anchored, the old one marked substituted, each verified as it should.
        old = digests["replaced"]
        answer = httpx.post(
            f"{up.registry}/v1/certificates/{old}/substitute",
            json={"record": _dated(up, copy.deepcopy(up.dispenser) | {
                "certificate_number": "BT-replacement",
                "replaces": {"certificate_number": "BT-replaced", "certificate_digest": old},
            }, up.today(), up.today())},
            headers=up.auth,
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        new = answer.json()["digest"]
        _assert_anchored_once(up, _anchored(up, new))
        _until("substitution done", lambda: (_view(up, old)["lifecycle"] or {}).get("state") == "done")
        assert _view(up, old)["lifecycle"]["replaced_by"] == new
        _verified(up, old, "INVALID", "NOT_SUBSTITUTED")
        assert _verified(up, new, "VALID")["trace"]["children"]
        assert _verification(up, digests["kept"])["verdict"] == "VALID"
    except BaseException:
        _kill(process, tmp_path)
        raise
    out = _interrupt(process)
    assert "a block every 2 s; 2 confirmations" in out, out[-2000:]

    # The same data directory, started again with automine and one confirmation: everything is as it was left.
    process = _start(tmp_path, ports)
    try:
        _wait_up(process, tmp_path, registry, timeout=120)
        running = json.loads((tmp_path / "up.json").read_text())
        assert (running["block_time"], running["confirmations"]) == (None, 1)
        up = Up(tmp_path, registry, running["verifier"], running["chain"], summary)
        for name, view in views.items():
            assert _view(up, view["digest"])["batch"] == view["batch"], name
        assert _verification(up, digests["kept"])["verdict"] == "VALID"
        assert _verification(up, digests["revoked"])["verdict"] == "INVALID"
        anchored_again = _anchored(up, _issue(up, "BT-after-restart"), confirmations=1)  # automine: anchored at once
        _assert_anchored_once(up, anchored_again)
    except BaseException:
        _kill(process, tmp_path)
        raise
    _interrupt(process)


@pytest.mark.parametrize(
    ("settings", "block_time", "confirmations", "expected"),
    [
        # (block_time, confirmations, receipt_timeout) set; options; what up runs with
        ((None, 1, 120.0), None, None, (None, 1, 120.0)),
        ((None, 1, 120.0), 2.0, 2, (2.0, 2, 120.0)),  # 10 x 2 s x 3 blocks = 60 s: the setting is longer
        ((None, 1, 120.0), 15.0, 3, (15.0, 3, 600.0)),  # 10 x 15 s x 4 blocks
        ((5.0, 4, 120.0), None, None, (5.0, 4, 250.0)),  # the settings alone (TRACECERT_CHAIN_*)
        ((5.0, 4, 120.0), 0.0, 1, (None, 1, 120.0)),  # 0: back to a block per transaction
    ],
)
def test_chain_timing_scales_the_receipt_timeout(
    settings: tuple[float | None, int, float],
    block_time: float | None,
    confirmations: int | None,
    expected: tuple[float | None, int, float],
) -> None:
    chain = ChainSettings(block_time=settings[0], confirmations=settings[1], receipt_timeout=settings[2])
    timed = chain_timing(chain, block_time=block_time, confirmations=confirmations)
    assert (timed.block_time, timed.confirmations, timed.receipt_timeout) == expected
