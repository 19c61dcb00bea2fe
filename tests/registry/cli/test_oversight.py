"""A regulator's reading commands against the registry served over real HTTP: ``tracecert impact`` (the downstream
impact of a standard's certificate, as lines, JSON or a CSV export) and ``tracecert signals`` (fraud signals, every
page, each by its name)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.anchoring import AnchoringWorker
from registry.issuance import Submission, accept
from registry.lifecycle import request_revocation
from tests.registry.cli.conftest import error_code, invoke, served
from tests.registry.conftest import LAB_CODE, OTHER_LAB_CODE, LabWorld
from tracecert.chain.types import RevocationReason

pytestmark = pytest.mark.chain


@pytest.fixture
def registry_url(world: LabWorld) -> Iterator[str]:
    """The world's registry over real HTTP, without its worker (the tests anchor and send themselves)."""
    with served(world.core, run_worker=False) as url:
        yield url


def _issued(world: LabWorld, *numbers: str) -> list[str]:
    lab = world.core.authenticate(world.token)
    digests = [accept(world.core, lab, Submission(world.record(n))).digest for n in numbers]
    AnchoringWorker(world.core).drain()
    return digests


def test_impact_lists_exports_and_flags(world: LabWorld, registry_url: str, tmp_path: Path) -> None:
    first, second = _issued(world, "JD2026-OV001", "JD2026-OV002")
    nmi = world.standard["digest"]
    common = ("--registry", registry_url, "--token", world.regulator_token)

    shown = invoke("impact", nmi, *common, "--csv", str(tmp_path / "impact.csv"))
    assert shown.exit_code == 0, shown.output
    assert "dependents   2 in all, 2 shown (2 in force), 0 of labs you are not over" in shown.stdout
    assert "JD2026-OV001" in shown.stdout and "[in force]" in shown.stdout
    with (tmp_path / "impact.csv").open(encoding="utf-8-sig") as f:
        assert {row["digest"] for row in csv.DictReader(f)} == {first, second}
    as_json = invoke("impact", nmi.upper().replace("0X", "0x"), *common, "--json")
    assert {d["digest"] for d in json.loads(as_json.stdout)["dependents"]} == {first, second}

    # The NMI revokes the standard: both certificates in force become signals for the province's regulator.
    _, nmi_token = world.core.issue_token("LAB", lab_id=world.standard["record"]["lab"]["lab_id"])
    request_revocation(world.core, world.core.authenticate(nmi_token), nmi, int(RevocationReason.ERROR_IN_CONTENT))
    AnchoringWorker(world.core).drain()
    listed = invoke("signals", *common)
    assert listed.exit_code == 0, listed.output
    assert "signals      2" in listed.stdout
    assert listed.stdout.count("所依据的计量标准证书已撤销 / a standard's certificate it depends on was revoked") == 2
    assert "(UTC+8)" in listed.stdout
    items = json.loads(invoke("signals", *common, "--json").stdout)
    assert {(s["kind"], s["attempted_digest"]) for s in items} == {
        ("STANDARD_REVOKED", first),
        ("STANDARD_REVOKED", second),
    }
    after = json.loads(invoke("impact", nmi, *common, "--json").stdout)
    assert after["in_force"] == 2  # the certificates themselves stand until a lab or regulator acts on them


def test_scan_names_every_finding(world: LabWorld, registry_url: str) -> None:
    from tests.ledger import LabRef, generate

    hangzhou = LabRef(world.lab_id, LAB_CODE, "杭州市计量检定测试院")
    nanjing = LabRef(world.other_lab_id, OTHER_LAB_CODE, "南京市计量监督检测院")
    generate(world.core, [hangzhou, nanjing], certificates=500, today=dt.date(2026, 12, 1), seed=5)
    common = ("--registry", registry_url, "--token", world.regulator_token)
    shown = invoke("scan", *common, "--since", "2026-01-01")
    assert shown.exit_code == 0, shown.output
    assert "scanned      1 labs, issued 2026-01-01 .. today" in shown.stdout
    assert "ERROR   STANDARD_OVERUSE" not in shown.stdout  # a warning, named as one
    overuse = "WARNING STANDARD_OVERUSE: 同一计量标准一天内使用次数超出合理范围 / one standard used more than plausible"
    assert overuse in shown.stdout
    answer = json.loads(invoke("scan", *common, "--code", "BACKDATED", "--json").stdout)
    assert answer["count"] > 0 and {f["code"] for f in answer["findings"]} == {"BACKDATED"}


@pytest.mark.parametrize(
    ("args", "token", "code"),
    [
        (("impact", "0xabc"), "regulator", "USAGE"),
        (("impact", "0x" + "ab" * 32), "regulator", "CERTIFICATE_NOT_FOUND"),
        (("impact", "standard"), "none", "UNAUTHORIZED"),
        (("signals",), "lab", "NOT_A_REGULATOR"),
        (("signals", "--lab", "JD"), "regulator", "USAGE"),
        (("signals",), "wrong", "UNAUTHORIZED"),
        (("scan",), "lab", "NOT_A_REGULATOR"),
        (("scan", "--code", "FORGERY"), "regulator", "INVALID_FILTER"),
        (("scan", "--lab", "0x12"), "regulator", "USAGE"),
    ],
)
def test_refusals_by_code(world: LabWorld, registry_url: str, args: tuple[str, ...], token: str, code: str) -> None:
    args = tuple(world.standard["digest"] if a == "standard" else a for a in args)
    tokens = {"regulator": world.regulator_token, "lab": world.token, "wrong": "tc_reg_not-a-token"}
    options = ("--registry", registry_url) + (("--token", tokens[token]) if token in tokens else ())
    result = invoke(*args, *options, env={"TRACECERT_TOKEN": ""} if token == "none" else None)
    assert result.exit_code != 0 and error_code(result) == code, result.output
