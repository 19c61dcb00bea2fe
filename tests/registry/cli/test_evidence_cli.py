"""``tracecert evidence build`` against the registry served over HTTP and a real chain, signed with a regulator's
keystore; ``tracecert evidence verify`` in a network namespace of its own (no network at all): the package stands,
and a tampered one is refused with the link named."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from registry.anchoring import AnchoringWorker
from registry.issuance import Submission, accept
from tests.registry.cli.conftest import error_code, invoke, served
from tests.registry.conftest import LabWorld

pytestmark = pytest.mark.chain

PASSPHRASE = "case-2026-12"


@pytest.fixture
def registry_url(world: LabWorld) -> Iterator[str]:
    with served(world.core, run_worker=False) as url:
        yield url


def _offline(*args: str) -> subprocess.CompletedProcess[str]:
    """``tracecert ARGS`` in a new network namespace (no interface but a down loopback) when the machine allows one,
    else as a plain process."""
    command = [sys.executable, "-m", "tracecert_app.cli", *args]
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        command = [unshare, "-n", *command]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACECERT_")} | {"LANG": "C.UTF-8"}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def test_build_then_verify_offline(world: LabWorld, registry_url: str, tmp_path: Path) -> None:
    lab = world.core.authenticate(world.token)
    digest = accept(world.core, lab, Submission(world.record("JD2026-EVC01"))).digest
    AnchoringWorker(world.core).drain()
    world.chain.contracts.deployment.save(tmp_path / "deployment.json")
    keystore = tmp_path / "province.json"
    keystore.write_text(json.dumps(Account.encrypt(bytes(world.province._account.key), PASSPHRASE)), "utf-8")
    forged = world.record("JD2026-EVC01")
    forged["item"]["serial_number"] = "A-FAKE-01"
    (tmp_path / "forged.json").write_text(json.dumps(forged, ensure_ascii=False), "utf-8")
    out = tmp_path / "case.json"
    built = invoke(
        "evidence", "build", digest, "--case-number", "浙市监计案〔2026〕12号", "--title", "伪造检定证书案",
        "--forged", str(tmp_path / "forged.json"), "--forged-of", digest, "--out", str(out),
        "--registry", registry_url, "--token", world.regulator_token, "--data-dir", str(tmp_path),
        "--rpc-url", world.chain.client.url, "--keystore", str(keystore),
        env={"TRACECERT_KEYSTORE_PASSPHRASE": PASSPHRASE},
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    assert f"certificate  {digest} VALID" in built.stdout and "1 field(s) differ" in built.stdout

    checked = _offline("evidence", "verify", str(out), "--trust-authority", world.province.address)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("✓") == 8 and "the package stands" in checked.stdout

    package = json.loads(out.read_text("utf-8"))
    package["certificates"][0]["bundle"]["proof"]["leaf_index"] = 1
    out.write_text(json.dumps(package), "utf-8")
    tampered = _offline("evidence", "verify", str(out), "--trust-authority", world.province.address, "--json")
    assert tampered.returncode == 1
    assert [link["link"] for link in json.loads(tampered.stdout) if not link["ok"]] == ["SIGNED", "INCLUSION"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("verify", "missing.json", "--trust-authority", "0x" + "11" * 20), "USAGE"),
        (("verify", "case.json", "--trust-authority", "national"), "USAGE"),
        (("build", "0x12", "--case-number", "x", "--out", "o.json"), "USAGE"),
        (("build", "0x" + "ab" * 32, "--case-number", "x", "--out", "o.json", "--forged", "f.json"), "USAGE"),
    ],
)
def test_evidence_refusals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], code: str
) -> None:
    (tmp_path / "case.json").write_text("{}", "utf-8")
    monkeypatch.chdir(tmp_path)
    result = invoke("evidence", *args)
    assert result.exit_code == 2 and error_code(result) == code, result.output
