"""The embedded default: a managed Anvil node whose chain and deployment survive a restart; the chain CLI."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port
from tracecert.chain.client import ChainClient
from tracecert.chain.deploy import Deployment, find_deployment
from tracecert.chain.errors import DeploymentNotFound, NodeStartFailed
from tracecert.chain.local import DevKeyring, ensure_local_deployment
from tracecert.chain.node import AnvilNode


def test_restart_keeps_chain_and_finds_deployment(data_dir: Path) -> None:
    node = AnvilNode(data_dir, port=free_port())
    node.start()
    try:
        first, new = ensure_local_deployment(ChainClient(node.url), data_dir)
        assert new
    finally:
        node.stop()
    assert node.state_file.exists()

    node.start()
    try:
        client = ChainClient(node.url)
        again, new = ensure_local_deployment(client, data_dir)
        assert not new
        assert again == first
        assert find_deployment(client, data_dir / "deployment.json") == first
    finally:
        node.stop()


def test_deployment_file_for_other_code_is_refused(anvil: AnvilNode, client: ChainClient, data_dir: Path) -> None:
    deployment, _ = ensure_local_deployment(client, data_dir)
    path = data_dir / "deployment.json"
    Deployment(**{**deployment.__dict__, "certificate_registry": deployment.trust_registry}).save(path)
    with pytest.raises(DeploymentNotFound):
        find_deployment(client, path)
    Deployment(**{**deployment.__dict__, "chain_id": 1}).save(path)
    with pytest.raises(DeploymentNotFound):
        find_deployment(client, path)


def test_port_taken_by_another_chain_is_refused(anvil: AnvilNode, tmp_path: Path) -> None:
    with pytest.raises(NodeStartFailed) as exc:
        AnvilNode(tmp_path, port=anvil.port).start()
    assert exc.value.code == "NODE_START_FAILED"


def test_dev_keyring_is_private_and_stable(data_dir: Path) -> None:
    keyring = DevKeyring(data_dir)
    account = keyring.account("national-authority")
    assert DevKeyring(data_dir).account("national-authority").address == account.address
    assert stat.S_IMODE(os.stat(keyring.path).st_mode) == 0o600


def _cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracecert_app.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_chain_up_twice_finds_the_deployment(data_dir: Path) -> None:
    port = str(free_port())
    first = _cli("chain", "up", "--detach", "--port", port, data_dir=data_dir)
    try:
        assert first.returncode == 0, first.stderr
        assert "deployed now" in first.stdout
        second = _cli("chain", "up", "--detach", "--port", port, data_dir=data_dir)
        assert second.returncode == 0, second.stderr
        assert "found existing" in second.stdout
        status = _cli("chain", "status", data_dir=data_dir)
        assert status.returncode == 0, status.stderr
        recorded = json.loads((data_dir / "deployment.json").read_text())
        assert recorded["certificate_registry"] in status.stdout
    finally:
        down = _cli("chain", "down", data_dir=data_dir)
    assert "stopped" in down.stdout
    # Up again after down: same chain, same contracts.
    third = _cli("chain", "up", "--detach", "--port", port, data_dir=data_dir)
    try:
        assert third.returncode == 0, third.stderr
        assert "found existing" in third.stdout
        assert recorded["trust_registry"] in third.stdout
    finally:
        _cli("chain", "down", data_dir=data_dir)


def test_cli_status_without_deployment_fails_with_code(data_dir: Path, anvil: AnvilNode) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracecert_app.cli",
            "chain",
            "status",
            "--data-dir",
            str(data_dir),
            "--rpc-url",
            anvil.url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "DEPLOYMENT_NOT_FOUND" in result.stderr


def test_cli_help_lists_the_command_groups() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tracecert_app.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert "chain" in result.stdout
