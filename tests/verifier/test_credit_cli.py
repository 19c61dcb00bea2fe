"""``tracecert verifier credit SUBJECT`` against a real chain: the grade with both its names, every entry with its
names and human times, --json exactly what the API answers, and the refusals by code and exit status."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from tests.verifier.conftest import TraceWorld, usci
from tests.verifier.world import build_world
from tracecert.chain.client import ChainClient
from tracecert.chain.types import SanctionKind, SanctionReason
from tracecert.human import local_time
from tracecert_app.cli import app
from verifier.api import create_app
from verifier.config import VerifierSettings

pytestmark = pytest.mark.chain

runner = CliRunner()
DAY = 86_400
DECISION = hashlib.sha256("杭市监处罚〔2026〕41号".encode()).digest()
ENTERPRISE = usci("91330100MA2H0D001")


@pytest.fixture(scope="module")
def world(client: ChainClient) -> TraceWorld:
    """The city lab: a rectification order lifted, a suspension in force until ten days from now; an enterprise
    warned."""
    w = build_world(client)
    c, reg, lab = w.chain.contracts, w.city_regulator, w.city.lab_id
    now = w.chain.now()
    c.record_sanction(reg, lab, SanctionKind.RECTIFICATION, SanctionReason.NONCONFORMING_INSTRUMENTS,
                      "杭市监改〔2026〕40号", DECISION, now - 4 * DAY)  # fmt: skip
    c.lift_sanction(reg, lab, 0, SanctionReason.RECTIFIED, "杭市监解〔2026〕40号", DECISION, now - 2 * DAY)
    c.record_sanction(reg, lab, SanctionKind.SUSPENSION, SanctionReason.FORGED_DATA, "杭市监处罚〔2026〕41号",
                      DECISION, now - DAY, now + 10 * DAY)  # fmt: skip
    c.record_sanction(reg, ENTERPRISE, SanctionKind.WARNING, SanctionReason.OVERDUE_VERIFICATION,
                      "杭市监警〔2026〕42号", DECISION, now - DAY)  # fmt: skip
    return w


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No settings leak in from the machine: an empty data directory, no RPC URL."""
    for name in list(os.environ):
        if name.startswith("TRACECERT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRACECERT_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def deployment(world: TraceWorld, tmp_path: Path) -> Path:
    path = tmp_path / "deployment.json"
    world.chain.contracts.deployment.save(path)
    return path


def credit(world: TraceWorld, deployment: Path, *args: str) -> Result:
    return runner.invoke(
        app, ["verifier", "credit", *args, "--rpc-url", world.chain.client.url, "--deployment", str(deployment)]
    )


def _locale(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", value)


@pytest.mark.parametrize(
    ("locale", "says"),
    [
        ("zh_CN.UTF-8", ["信用等级 C 较差 / poor", "信用记录（3 条）：", "[已由 #1 解除]", "[解除 #0]", "[生效中]",
                         "案号：杭市监处罚〔2026〕41号", "{start} 起至 {until}"]),
        ("en_US.UTF-8", ["credit grade C 较差 / poor", "credit record (3 entries):", "[lifted by #1]", "[lifts #0]",
                         "[in force]", "case number: 杭市监处罚〔2026〕41号", "from {start} until {until}"]),
    ],
)  # fmt: skip
def test_a_lab_in_the_users_language(
    world: TraceWorld, deployment: Path, monkeypatch: pytest.MonkeyPatch, locale: str, says: list[str]
) -> None:
    _locale(monkeypatch, locale)
    now = world.chain.now()
    result = credit(world, deployment, world.city.hex_id)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"杭州市计量检定测试院  {world.city.hex_id}  (检定校准机构 / lab)")
    # Names in both languages, times as a person reads them.
    assert "整改 / rectification order" in out and "暂停资质 / suspension" in out
    assert "伪造计量数据 / forged measurement data" in out
    assert local_time(now) in out
    suspension = (world.chain.contracts.sanctions(world.city.lab_id) or [])[2]
    start, until = local_time(suspension.effective_from), local_time(suspension.effective_until or 0)
    for text in says:
        assert text.format(start=start, until=until) in out, out
    assert not [w for w in out.split() if w.isdigit() and len(w) >= 9], out  # no unix time


def test_json_is_what_the_api_answers(world: TraceWorld, deployment: Path) -> None:
    api = TestClient(create_app(VerifierSettings(rate_limit_per_minute=0), verifier=world.verifier))
    for subject in (world.city.hex_id, ENTERPRISE, world.nmi.hex_id):
        result = credit(world, deployment, subject, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == api.get(f"/v1/credit/{subject}").json()


def test_an_enterprise(world: TraceWorld, deployment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _locale(monkeypatch, "zh_CN.UTF-8")
    result = credit(world, deployment, ENTERPRISE.lower())
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{ENTERPRISE}  (企业 / enterprise)")
    assert "信用等级 B 一般 / fair" in result.stdout and "警告 / warning" in result.stdout


#: (arguments, exit status, code)
REFUSALS: list[tuple[list[str], int, str]] = [
    (["0x12"], 2, "INVALID_SUBJECT"),
    (["91330100MA2H0D00"], 2, "INVALID_SUBJECT"),
    ([ENTERPRISE[:17] + ("0" if ENTERPRISE[17] != "0" else "1")], 2, "INVALID_SUBJECT"),
    (["0x" + "ab" * 32], 1, "UNKNOWN_LAB"),
]


@pytest.mark.parametrize("json_output", [False, True])
@pytest.mark.parametrize(("args", "status", "code"), REFUSALS)
def test_refusals(
    world: TraceWorld, deployment: Path, args: list[str], status: int, code: str, json_output: bool
) -> None:
    result = credit(world, deployment, *args, *(["--json"] if json_output else []))
    assert result.exit_code == status, result.output
    assert f"error: {code}: " in result.stderr
    if json_output:
        assert json.loads(result.stdout)["error"]["code"] == code
    else:
        assert result.stdout == ""


def test_a_deployment_without_a_credit_record_exits_1(world: TraceWorld, tmp_path: Path) -> None:
    old = tmp_path / "old-deployment.json"
    replace(world.chain.contracts.deployment, credit_registry="").save(old)
    result = credit(world, old, world.city.hex_id)
    assert result.exit_code == 1 and "error: CREDIT_RECORD_UNAVAILABLE: " in result.stderr, result.output


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], "NO_RPC_URL"),  # nothing configured
        (["--rpc-url", "http://127.0.0.1:9"], "NO_DEPLOYMENT"),  # no deployment file in an empty data dir
    ],
)
def test_no_chain_or_deployment_exits_2(args: list[str], code: str) -> None:
    result = runner.invoke(app, ["verifier", "credit", ENTERPRISE, *args])
    assert result.exit_code == 2 and f"error: {code}: " in result.stderr, result.output

