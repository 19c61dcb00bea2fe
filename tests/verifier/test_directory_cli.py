"""``tracecert verifier labs`` and ``tracecert verifier lab LAB`` against a real chain: the index of the data directory
(built from the chain when there is none, and said so), the directory and a lab's history in the user's language with
every code by name and no unix time, --json exactly what the API answers, and the refusals by code and exit status."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from tests.verifier.api.test_directory import CITY, FINE_CASE, NMI, PROVINCIAL, RENEWAL, build_directory_scene
from tests.verifier.conftest import TraceWorld, open_index
from tests.verifier.world import build_world
from tracecert.chain.client import ChainClient
from tracecert.human import local_time
from tracecert.verification.engine import Verifier
from tracecert.verification.sources import MemorySource
from tracecert_app.cli import app
from verifier.api import create_app
from verifier.config import VerifierSettings

pytestmark = pytest.mark.chain

runner = CliRunner()
UNIX_TIME = re.compile(r"(?<![0-9a-fA-Fx])1[6-9]\d{8}(?!\d)")


@pytest.fixture(scope="module")
def world(client: ChainClient) -> TraceWorld:
    return build_world(client)


@pytest.fixture(scope="module")
def scene(world: TraceWorld) -> dict[str, Any]:
    return build_directory_scene(world)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory the commands keep their index in (one for the module: built by the first command)."""
    return tmp_path_factory.mktemp("verifier-data")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    """No settings leak in from the machine: the module's data directory, no RPC URL."""
    for name in list(os.environ):
        if name.startswith("TRACECERT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRACECERT_DATA_DIR", str(data_dir))


@pytest.fixture(scope="module")
def deployment(world: TraceWorld, scene: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The deployment file (after the scene: every command's test sees it)."""
    path = tmp_path_factory.mktemp("deployment") / "deployment.json"
    world.chain.contracts.deployment.save(path)
    return path


@pytest.fixture(scope="module")
def api(world: TraceWorld, scene: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The API over an index of its own."""
    index = open_index(world, tmp_path_factory.mktemp("api-index") / "index.db", lambda url: None)
    index.sync()
    settings = VerifierSettings(rate_limit_per_minute=0)
    with TestClient(create_app(settings, verifier=Verifier(index, MemorySource()))) as client:
        yield client
    index.close()


def run(world: TraceWorld, deployment: Path, *args: str) -> Result:
    return runner.invoke(app, ["verifier", *args, "--rpc-url", world.chain.client.url, "--deployment", str(deployment)])


def _locale(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", value)


def no_unix_time(text: str) -> None:
    assert not UNIX_TIME.search(text), UNIX_TIME.search(text)


def test_without_an_index_it_is_built_and_said_so(world: TraceWorld, deployment: Path, tmp_path: Path) -> None:
    first = runner.invoke(app, ["verifier", "labs", "--rpc-url", world.chain.client.url, "--deployment",
                                str(deployment), "--data-dir", str(tmp_path)])  # fmt: skip
    assert first.exit_code == 0, first.output
    assert f"note: no index at {tmp_path / 'verifier-index.sqlite'} yet" in first.stderr
    assert (tmp_path / "verifier-index.sqlite").is_file()
    again = runner.invoke(app, ["verifier", "labs", "--rpc-url", world.chain.client.url, "--deployment",
                                str(deployment), "--data-dir", str(tmp_path)])  # fmt: skip
    assert again.exit_code == 0 and "note:" not in again.stderr and again.stdout == first.stdout


@pytest.mark.parametrize(
    ("locale", "says"),
    [
        ("zh_CN.UTF-8", ["机构名录（截至 {at}，共 3 家）", "国家计量院 / national metrology institute", "辖区 330100",
                         "暂停 / suspended", "信用 C 较差 / poor", f"授权 {RENEWAL}：", "范围：JJG52 检定",
                         "已存证证书 2 张", "范围：JJG52 检定；PRESSURE 检定、校准"]),
        ("en_US.UTF-8", ["lab directory as of {at}: 3 lab(s)", "jurisdiction 330100", "暂停 / suspended",
                         "credit C 较差 / poor", f"authorization {RENEWAL}: ", "scope: JJG52 verify",
                         "2 certificate(s) anchored"]),
    ],
)  # fmt: skip
def test_the_directory_in_the_users_language(
    world: TraceWorld, deployment: Path, monkeypatch: pytest.MonkeyPatch, locale: str, says: list[str]
) -> None:
    _locale(monkeypatch, locale)
    result = run(world, deployment, "labs")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert [line for line in out.splitlines() if not line.startswith(" ")][1:] == [
        f"{NMI}  {world.nmi.hex_id}", f"{PROVINCIAL}  {world.provincial.hex_id}", f"{CITY}  {world.city.hex_id}"
    ]  # fmt: skip
    for text in says:
        assert text.format(at=local_time(world.chain.now())) in out, out
    no_unix_time(out)


@pytest.mark.parametrize(
    ("args", "listed"),
    [
        (["--status", "suspended"], [CITY]),
        (["--jurisdiction", "330000", "--category", "PRESSURE"], [PROVINCIAL]),
        (["--kind", "NMI"], [NMI]),
        (["--expiring-within-days", "30"], [CITY]),
        (["--jurisdiction", "110000"], []),
    ],
)
def test_filters(world: TraceWorld, deployment: Path, args: list[str], listed: list[str]) -> None:
    result = run(world, deployment, "labs", *args, "--json")
    assert result.exit_code == 0, result.output
    assert [lab["name"] for lab in json.loads(result.stdout)["labs"]] == listed


@pytest.mark.parametrize(
    ("args", "query"),
    [
        ([], {}),
        (["--status", "SUSPENDED"], {"status": "SUSPENDED"}),
        (["--as-of", "{before}"], {"as_of": "{before}"}),
    ],
)
def test_json_is_what_the_api_answers(
    world: TraceWorld,
    scene: dict[str, Any],
    deployment: Path,
    api: TestClient,
    args: list[str],
    query: dict[str, str],
) -> None:
    before = str(scene["before"])
    args = [a.format(before=before) for a in args]
    result = run(world, deployment, "labs", *args, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == api.get("/v1/labs", params={k: v.format(before=before) for k, v in
                                                                     query.items()}).json()  # fmt: skip
    for lab in (world.city.hex_id, world.nmi.code):
        result = run(world, deployment, "lab", lab, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == api.get(f"/v1/labs/{lab}").json()


@pytest.mark.parametrize(
    ("locale", "says"),
    [
        ("zh_CN.UTF-8", ["登记：", "登记机关 杭州市市场监督管理局", "授权（2 项）：", "#0  授权 (浙)法计(2020)01023号",
                         "暂停 / suspended  原因：超出授权范围开展检定校准 / work outside the authorized scope",
                         "签名密钥：", "起，未关闭", "每月存证证书：", "信用等级 C 较差 / poor",
                         "[已由 #1 解除]", "[生效中]", f"案号：{FINE_CASE}"]),
        ("en_US.UTF-8", ["registered ", "by 杭州市市场监督管理局", "authorizations (2):", "status changes:",
                         "reason: 超出授权范围开展检定校准 / work outside the authorized scope", ", open",
                         "certificates anchored per month:", "credit grade C 较差 / poor", "[lifted by #1]",
                         f"case number: {FINE_CASE}"]),
    ],
)  # fmt: skip
def test_a_labs_history_in_the_users_language(
    world: TraceWorld, deployment: Path, monkeypatch: pytest.MonkeyPatch, locale: str, says: list[str]
) -> None:
    _locale(monkeypatch, locale)
    result = run(world, deployment, "lab", world.city.hex_id)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"{CITY}  {world.city.hex_id}\n")
    for text in says:
        assert text in out, out
    assert "0x" + world.city.key.key_id.hex() in out
    bars = [line for line in out.splitlines() if "█" in line]
    assert len(bars) == 2 and all(line.rstrip().endswith(" 1") for line in bars), out
    no_unix_time(out)


UNREGISTERED = "0x" + "ab" * 32

#: (arguments, exit status, code)
REFUSALS: list[tuple[list[str], int, str]] = [
    (["labs", "--jurisdiction", "33"], 2, "INVALID_JURISDICTION"),
    (["labs", "--kind", "LAB"], 2, "INVALID_LAB_KIND"),
    (["labs", "--status", "NONE"], 2, "INVALID_STATUS"),
    (["labs", "--category", "J" * 33], 2, "INVALID_CATEGORY"),
    (["labs", "--expiring-within-days", "0"], 2, "INVALID_EXPIRING_WITHIN_DAYS"),
    (["labs", "--expiring-within-days", "3651"], 2, "INVALID_EXPIRING_WITHIN_DAYS"),
    (["labs", "--as-of", "yesterday"], 2, "INVALID_AS_OF"),
    (["lab", "0x12"], 2, "INVALID_LAB_ID"),
    (["lab", "0x" + "ab" * 33], 2, "INVALID_LAB_ID"),
    (["lab", UNREGISTERED, "--as-of", "2026-13-01"], 2, "INVALID_AS_OF"),
    (["lab", UNREGISTERED], 1, "UNKNOWN_LAB"),
]


@pytest.mark.parametrize("json_output", [False, True])
@pytest.mark.parametrize(("args", "status", "code"), REFUSALS)
def test_refusals(
    world: TraceWorld, deployment: Path, args: list[str], status: int, code: str, json_output: bool
) -> None:
    result = run(world, deployment, *args, *(["--json"] if json_output else []))
    assert result.exit_code == status, result.output
    assert f"error: {code}: " in result.stderr
    if json_output:
        assert json.loads(result.stdout)["error"]["code"] == code
    else:
        assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], "NO_RPC_URL"),  # nothing configured
        (["--rpc-url", "http://127.0.0.1:9"], "NO_DEPLOYMENT"),  # no deployment file in an empty data dir
    ],
)
@pytest.mark.parametrize("command", [["labs"], ["lab", UNREGISTERED]])
def test_no_chain_or_deployment_exits_2(tmp_path: Path, command: list[str], args: list[str], code: str) -> None:
    result = runner.invoke(app, ["verifier", *command, *args, "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and f"error: {code}: " in result.stderr, result.output
    assert not (tmp_path / "verifier-index.sqlite").exists()
