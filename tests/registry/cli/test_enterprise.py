"""Enterprises' and their regulators' commands against the registry served over real HTTP: self-registration and
confirmation, importing a register (each failing row named), listing it with due dates, a region's coverage file,
watching, webhooks and the alert feed."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from registry.anchoring import AnchoringWorker
from registry.instruments import HEADINGS as REGISTER_HEADINGS
from registry.issuance import Submission, accept
from tests.registry.cli.conftest import error_code, invoke, served
from tests.registry.conftest import LabWorld
from tracecert_app.story import usci

pytestmark = pytest.mark.chain

STATION = usci("91330106MA27XK5L3")
#: The register's Chinese headings (器具名称, 用途, …), as the registry names them.
FIELDS = ("category", "use", "manufacturer", "model", "serial_number", "asset_number", "site", "site_region")
ZH = [REGISTER_HEADINGS[f][1] for f in (*FIELDS, "period_months")]


@pytest.fixture
def registry_url(world: LabWorld) -> Iterator[str]:
    """The world's registry over real HTTP, without its worker (the tests anchor themselves)."""
    with served(world.core, run_worker=False) as url:
        yield url


def _table(path: Path, *rows: list[str]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(ZH)
        writer.writerows(rows)
    return path


def _scale(world: LabWorld, serial: str | None = None) -> list[str]:
    item = world.record()["item"]
    return [item["name"], "贸易结算", item["manufacturer"], item["model"], serial or item["serial_number"], "ZC-1",
            "便利店", "330106", "12"]  # fmt: skip


def test_an_enterprise_registers_imports_and_reads_its_register(
    world: LabWorld, registry_url: str, tmp_path: Path
) -> None:
    at = ("--registry", registry_url)
    regulator = ("--token", world.regulator_token)
    made = invoke("enterprise", "register", STATION, "杭州西湖示范加油站有限公司", *at)
    assert made.exit_code == 0, made.output
    assert "待监管部门确认" in made.stdout
    found = re.search(r"token\s+(\S+)", made.stdout)
    assert found is not None
    own = ("--token", found.group(1))
    refused = invoke("instruments", "import", str(_table(tmp_path / "r.csv", _scale(world))), *at, *own)
    assert (refused.exit_code, error_code(refused)) == (1, "ENTERPRISE_NOT_CONFIRMED")
    queue = invoke("enterprise", "pending", *at, *regulator)
    assert STATION in queue.stdout and "1 waiting" in queue.stdout
    assert invoke("enterprise", "confirm", STATION, *at, *regulator).exit_code == 0
    # A table with a bad row: refused as a whole, the row and field named.
    bad = _table(tmp_path / "bad.csv", _scale(world), [*_scale(world, "B-2")[:1], "自用", *_scale(world, "B-2")[2:]])
    refused = invoke("instruments", "import", str(bad), *at, *own)
    assert (refused.exit_code, error_code(refused)) == (1, "REGISTER_INVALID")
    assert "row 3, use:" in refused.stderr
    # Imported, then again: nothing changes.
    good = _table(tmp_path / "good.csv", _scale(world))
    assert "registered   1 new, 0 updated, 0 unchanged" in invoke("instruments", "import", str(good), *at, *own).stdout
    assert "0 new, 0 updated, 1 unchanged" in invoke("instruments", "import", str(good), *at, *own).stdout
    # The lab verifies it: the register shows it in force with its due date.
    lab = world.core.authenticate(world.token)
    digest = accept(world.core, lab, Submission(world.record("JD2026-EC001"))).digest
    AnchoringWorker(world.core).drain()
    listed = invoke("instruments", "list", *at, *own)
    assert "在有效期内 / verified, in force" in listed.stdout and f"due {world.day(364)}" in listed.stdout
    as_json = json.loads(invoke("instruments", "list", *at, *own, "--json").stdout)
    assert [c["digest"] for c in as_json["instruments"][0]["certificates"]] == [digest]
    # The shop is renamed (its page and printed QR code stay); an empty change is a usage error.
    site = as_json["instruments"][0]["site"]["id"]
    renamed = invoke("instruments", "site", site, "--name", "西湖示范加油站便利店", *at, *own)
    assert renamed.exit_code == 0 and f"site         {site}  西湖示范加油站便利店  region 330106" in renamed.stdout
    nothing = invoke("instruments", "site", site, *at, *own)
    assert (nothing.exit_code, error_code(nothing)) == (2, "USAGE")
    taken = invoke("instruments", "site", "nosuchsite", "--name", "x", *at, *own)
    assert (taken.exit_code, error_code(taken)) == (1, "UNKNOWN_SITE")
    # The regulator's coverage and its Excel file; the enterprise watches and reads its (empty) feed.
    out = tmp_path / "coverage.xlsx"
    shown = invoke("coverage", "--region", "330000", "--out", str(out), *at, *regulator)
    assert shown.exit_code == 0, shown.output
    assert "region 330000" in shown.stdout and "检定率 100.0%" in shown.stdout
    assert load_workbook(out).sheetnames == ["概况", "按类别", "按区域", "月度趋势", "超期清单"]
    assert "watching     1 (1 added)" in invoke("watch", world.standard["digest"], *at, *own).stdout
    assert "last id      0" in invoke("alerts", *at, *own).stdout
    private = invoke("webhook", "http://127.0.0.1:9/hook", *at, *own)
    assert (private.exit_code, error_code(private)) == (1, "WEBHOOK_URL_PRIVATE")


USAGE = {
    "register-suffix": ("instruments", "import", "{tmp}/register.txt"),
    "coverage-suffix": ("coverage", "--region", "330000", "--out", "{tmp}/coverage.pdf"),
    "watch-not-a-digest": ("watch", "0x1234"),
    "missing-file": ("instruments", "import", "{tmp}/absent.csv"),
}


@pytest.mark.parametrize("case", list(USAGE))
def test_usage_errors_are_refused_before_asking(case: str, tmp_path: Path) -> None:
    args = [a.format(tmp=tmp_path) for a in USAGE[case]]
    result = invoke(*args, "--registry", "http://127.0.0.1:9", "--token", "tc_x")
    assert (result.exit_code, error_code(result)) == (2, "USAGE")
