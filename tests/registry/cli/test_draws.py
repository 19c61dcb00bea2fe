"""``tracecert draw run`` and ``draw verify`` on a local data directory: a regulator's draw committed on chain,
written as the published draw, re-run to the same result, and a tampered one refused with the link named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.registry.cli.conftest import error_code, lab_cli

pytestmark = pytest.mark.chain


def _files(tmp_path: Path) -> tuple[Path, Path]:
    population = tmp_path / "labs.csv"
    population.write_text("# lab id, name\n" + "".join(f"0x{i:064x},示范所{i}\n" for i in range(1, 31)), "utf-8")
    inspectors = tmp_path / "inspectors.txt"
    inspectors.write_text("王检查\n李检查\n赵检查\n", "utf-8")
    return population, inspectors


def test_a_draw_run_published_and_re_run(local: tuple[Path, str], tmp_path: Path) -> None:
    population, inspectors = _files(tmp_path)
    out = tmp_path / "draw.json"
    ran = lab_cli(local, "draw", "run", "--population", str(population), "--inspectors", str(inspectors),
                  "--size", "4", "--jurisdiction", "0", "--purpose", "2026年第四季度双随机抽查", "--out", str(out),
                  "--selection", "all labs onboarded, ACTIVE")  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert "drawn        4 of 30" in ran.stdout and "by development account national-authority" in ran.stdout
    published = json.loads(out.read_text("utf-8"))
    assert published["spec"]["selection"] == {"how": "all labs onboarded, ACTIVE"}
    assert all(len(people) == 2 for people in published["inspectors"].values())

    checked = lab_cli(local, "draw", "verify", str(out))
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.count("✓") == 6 and "the draw stands" in checked.stdout

    published["sample"][0], published["sample"][1] = published["sample"][1], published["sample"][0]
    out.write_text(json.dumps(published), "utf-8")
    tampered = lab_cli(local, "draw", "verify", str(out), "--json")
    assert tampered.exit_code == 1
    assert [link["link"] for link in json.loads(tampered.stdout) if not link["ok"]] == ["SAMPLE"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--size", "31", "--jurisdiction", "0"), "USAGE"),  # more than the population
        (("--size", "2", "--jurisdiction", "330000", "--as", "lab-admin-x"), "CREDIT_NOT_REGULATOR_OVER"),
    ],
)
def test_draw_refusals(local: tuple[Path, str], tmp_path: Path, args: tuple[str, ...], code: str) -> None:
    population, _ = _files(tmp_path)
    result = lab_cli(local, "draw", "run", "--population", str(population), "--purpose", "抽查",
                     "--out", str(tmp_path / "d.json"), *args)  # fmt: skip
    assert result.exit_code != 0 and error_code(result) == code, result.output
    assert not (tmp_path / "d.json").exists()
