"""The credit record on the command line (``tracecert credit record|lift|show``), on a local data directory on the
session's node, as regulators use it: sanctions recorded against a Hangzhou lab and against enterprises, the grade
they bring, liftings, the record shown as text and as JSON; ``lab suspend --reason`` by name; and the refusals, by
their machine codes."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from tests.registry.cli.conftest import error_code, lab_cli
from tracecert.certificate.canonical import lab_id, to_hex

CITY_CODE = "12330100470009990W"  # the Hangzhou lab (its code is a USCI too)
HZ_ENTERPRISE = "91330106MA2H4K7L3Q"  # 杭州市西湖区: the Hangzhou regulator is over it
NJ_ENTERPRISE = "91320102MA1W2X3Y4Z"  # 南京市玄武区: only Jiangsu's and the national regulator
GD_ENTERPRISE = "91440300MA5F6G7H8J"  # 深圳市: no regional regulator registered, so the national one acts

HUMAN_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2} \(UTC\+8\)$")
UNIX_TIME = re.compile(r"\b1[5-9]\d{8}\b")


@pytest.fixture
def regulated(local: tuple[Path, str], tmp_path: Path) -> Path:
    """Zhejiang's, Hangzhou's and Jiangsu's regulators and the Hangzhou lab registered on chain; a decision document
    (处罚决定书) to cite."""
    for jurisdiction, name in [(330000, "浙江省市场监督管理局"), (330100, "杭州市市场监督管理局"),
                               (320000, "江苏省市场监督管理局")]:  # fmt: skip
        result = lab_cli(local, "regulator", "register", "--jurisdiction", str(jurisdiction), "--name", name)
        assert result.exit_code == 0, result.output
    registered = lab_cli(
        local, "lab", "register", "--code", CITY_CODE, "--name", "杭州市计量检定测试院", "--kind", "legal",
        "--jurisdiction", "330100", "--authorization-number", "(杭)法计(2026)01001号", "--valid-from", "2020-01-01",
        "--valid-until", "2090-12-31", "--scope", "0201=VERIFY",
    )  # fmt: skip
    assert registered.exit_code == 0, registered.output
    decision = tmp_path / "decision.pdf"
    decision.write_bytes("杭市监计罚〔2026〕1号 行政处罚决定书".encode())
    return decision


def _record(local: tuple[Path, str], subject: str, *args: str) -> Result:
    return lab_cli(local, "credit", "record", subject, *args)


def _show(local: tuple[Path, str], subject: str, *args: str) -> dict[str, Any]:
    result = lab_cli(local, "credit", "show", subject, "--json", *args)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def _line(result: Result, label: str) -> str:
    """The value of the ``label   value`` line of a command's output."""
    match = re.search(rf"^\s*{label}\s{{2,}}(.+)$", result.stdout, re.M)
    assert match, result.output
    return match.group(1)


def test_lab_record_show_lift(local: tuple[Path, str], regulated: Path) -> None:
    empty = lab_cli(local, "credit", "show", CITY_CODE)
    assert empty.exit_code == 0, empty.output
    assert _line(empty, "grade").startswith("A 良好 / good") and _line(empty, "entries") == "none"

    warned = _record(local, CITY_CODE, "--kind", "warning", "--reason", "false-certificate",
                     "--case-number", "杭市监计罚〔2026〕1号", "--decision", str(regulated))  # fmt: skip
    assert warned.exit_code == 0, warned.output
    assert _line(warned, "subject") == f"lab {to_hex(lab_id(CITY_CODE))} ({CITY_CODE})"
    assert _line(warned, "entry") == "#0 警告 / warning"
    assert _line(warned, "reason") == "出具虚假计量证书 / issuing false certificates"
    assert _line(warned, "grade") == "B 一般 / fair (was A 良好 / good)"
    assert _line(warned, "by").startswith("development account regulator-330100 (0x")  # over the lab's city
    assert _line(warned, "by").endswith(", now")
    assert not UNIX_TIME.search(warned.stdout)

    # a blacklisting by the reason's number and a digest given as such; a fine that ended years ago
    digest = "0x" + "ab" * 32
    blacklisted = _record(local, CITY_CODE, "--kind", "blacklist", "--reason", "2",
                          "--case-number", "杭市监计罚〔2026〕2号", "--decision-sha256", digest)  # fmt: skip
    assert blacklisted.exit_code == 0, blacklisted.output
    assert _line(blacklisted, "reason") == "伪造计量数据 / forged measurement data"
    assert _line(blacklisted, "grade") == "D 失信 / blacklisted (was B 一般 / fair)"
    fined = _record(local, CITY_CODE, "--kind", "罚款", "--reason", "OUTSIDE_SCOPE",
                    "--case-number", "杭市监计罚〔2020〕9号", "--decision", str(regulated),
                    "--from", "2020-01-01", "--until", "2020-12-31")  # fmt: skip
    assert fined.exit_code == 0, fined.output
    assert _line(fined, "status").startswith("ended 2021-01-01 00:00")  # the last day is inclusive
    assert _line(fined, "grade") == "D 失信 / blacklisted"  # unchanged: the fine is not in force
    # the same case and kind again changes nothing
    again = _record(local, CITY_CODE, "--kind", "warning", "--reason", "1", "--case-number", "杭市监计罚〔2026〕1号",
                    "--decision", str(regulated))  # fmt: skip
    assert again.exit_code == 0 and _line(again, "entry") == "#0 警告 / warning", again.output
    assert _line(again, "by").endswith("already (the same case number and kind)")

    shown = _show(local, CITY_CODE)
    assert shown["subject"] == {"kind": "LAB", "id": to_hex(lab_id(CITY_CODE)), "code": CITY_CODE,
                                "lab_kind": "LEGAL_METROLOGY_INSTITUTE", "jurisdiction": 330100}  # fmt: skip
    assert shown["grade"] == {"code": "D", "zh": "失信", "en": "blacklisted"}
    entries = shown["entries"]
    assert [(e["kind"]["code"], e["reason"]["code"], e["status"], e["in_force"]) for e in entries] == [
        ("WARNING", "FALSE_CERTIFICATE", "IN_FORCE", True),
        ("BLACKLIST", "FORGED_DATA", "IN_FORCE", True),
        ("FINE", "OUTSIDE_SCOPE", "ENDED", False),
    ]
    assert entries[0]["decision_sha256"] == to_hex(hashlib.sha256(regulated.read_bytes()).digest())
    assert entries[1]["decision_sha256"] == digest and entries[1]["effective_until"] is None
    assert entries[0]["kind"]["zh"] == "警告" and entries[1]["case_number"] == "杭市监计罚〔2026〕2号"
    for e in entries:
        assert all(HUMAN_TIME.match(e[t]) for t in ("effective_from", "recorded_at")), e
    assert entries[2]["effective_from"] == "2020-01-01 00:00 (UTC+8)"

    lifted = lab_cli(local, "credit", "lift", CITY_CODE, "1", "--reason", "rectified", "--case-number",
                     "杭市监计撤〔2026〕1号", "--decision", str(regulated))  # fmt: skip
    assert lifted.exit_code == 0, lifted.output
    assert _line(lifted, "entry") == "#3 解除 / lifting of #1"
    assert _line(lifted, "reason") == "已完成整改 / rectification completed"
    assert _line(lifted, "grade") == "B 一般 / fair (was D 失信 / blacklisted)"

    after = _show(local, CITY_CODE)
    assert after["grade"]["code"] == "B"
    assert [(e["index"], e["status"], e["lifted_by"], e["lifts"]) for e in after["entries"]] == [
        (0, "IN_FORCE", None, None), (1, "LIFTED", 3, None), (2, "ENDED", None, None), (3, "LIFTING", None, 1),
    ]  # fmt: skip
    text = lab_cli(local, "credit", "show", to_hex(lab_id(CITY_CODE)))  # by its id too
    assert text.exit_code == 0, text.output
    assert _line(text, "entries") == "4, 1 in force"
    assert "status       lifted by #3 from " in text.stdout and "entry        #3 解除 / lifting of #1" in text.stdout
    assert not UNIX_TIME.search(text.stdout)


def test_enterprise_record_show_lift(local: tuple[Path, str], regulated: Path) -> None:
    ordered = _record(local, HZ_ENTERPRISE, "--kind", "rectification", "--reason", "overdue-verification",
                      "--case-number", "西市监罚〔2026〕7号", "--decision", str(regulated))  # fmt: skip
    assert ordered.exit_code == 0, ordered.output
    assert _line(ordered, "subject") == f"enterprise {HZ_ENTERPRISE} (region 330106)"
    assert _line(ordered, "entry") == "#0 责令整改 / rectification order"
    assert _line(ordered, "by").startswith("development account regulator-330100 ")  # the city over the district
    assert _line(ordered, "grade") == "B 一般 / fair (was A 良好 / good)"

    # no regulator of Guangdong is registered: the national one acts
    national = _record(local, GD_ENTERPRISE, "--kind", "suspension", "--reason", "10", "--case-number", "国市监罚1号",
                       "--decision", str(regulated))  # fmt: skip
    assert national.exit_code == 0, national.output
    assert _line(national, "by").startswith("development account national-authority ")
    assert _show(local, GD_ENTERPRISE)["grade"]["code"] == "C"

    # the lab's code is a USCI too: --enterprise names the enterprise, whose record is its own
    as_enterprise = _record(local, CITY_CODE, "--enterprise", "--kind", "fine", "--reason", "forged-data",
                            "--case-number", "杭市监罚〔2026〕3号", "--decision", str(regulated))  # fmt: skip
    assert as_enterprise.exit_code == 0, as_enterprise.output
    assert _line(as_enterprise, "subject") == f"enterprise {CITY_CODE} (region 330100)"
    assert _show(local, CITY_CODE, "--enterprise")["grade"]["code"] == "C"
    assert _show(local, CITY_CODE)["entries"] == []  # the lab's record is untouched

    shown = _show(local, HZ_ENTERPRISE)
    assert shown["subject"]["kind"] == "ENTERPRISE" and shown["subject"]["region"] == 330106
    assert shown["entries"][0]["subject_kind"]["zh"] == "企业" and shown["entries"][0]["region"] == 330106

    lifted = lab_cli(local, "credit", "lift", HZ_ENTERPRISE, "0", "--reason", "rectified", "--case-number",
                     "西市监罚〔2026〕7-1号", "--decision", str(regulated))  # fmt: skip
    assert lifted.exit_code == 0, lifted.output
    assert _line(lifted, "grade") == "A 良好 / good (was B 一般 / fair)"
    final = _show(local, HZ_ENTERPRISE)
    assert final["grade"]["code"] == "A"
    assert [(e["status"], e["lifted_by"]) for e in final["entries"]] == [("LIFTED", 1), ("LIFTING", None)]


def test_refused_by_contract_is_explained(local: tuple[Path, str], regulated: Path) -> None:
    result = _record(local, CITY_CODE, "--kind", "warning", "--reason", "other", "--case-number", "苏1",
                     "--decision", str(regulated), "--as", "regulator-320000")  # fmt: skip
    assert result.exit_code == 1
    message = re.sub(r"\s+", " ", result.stderr)
    assert "error CREDIT_NOT_REGULATOR_OVER: development account regulator-320000 (0x" in message
    assert f"is not an active regulator over lab {to_hex(lab_id(CITY_CODE))}" in message
    assert "the contract refused: CreditNotRegulatorOver(" in message


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        ("false-certificate", "出具虚假计量证书 / issuing false certificates (1)"),
        ("4", "检定校准人员不具备资格 / unqualified personnel (4)"),
        ("拒绝或阻碍监督检查", "拒绝或阻碍监督检查 / refused or obstructed inspection (6)"),
        ("200", "reason code 200 (no name)"),  # any code the chain records still goes
    ],
)
def test_lab_suspend_reason_by_name(local: tuple[Path, str], regulated: Path, reason: str, shown: str) -> None:
    suspended = lab_cli(local, "lab", "suspend", "--lab", CITY_CODE, "--reason", reason)
    assert suspended.exit_code == 0, suspended.output
    assert _line(suspended, "status") == "SUSPENDED (was ACTIVE)"
    assert _line(suspended, "reason") == shown


def _recorded(local: tuple[Path, str], decision: Path) -> None:
    """Entries #0 (warning) and #1 (fine) of the lab, and #2 lifting #0."""
    for kind, case in [("warning", "C-0"), ("fine", "C-1")]:
        assert _record(local, CITY_CODE, "--kind", kind, "--reason", "1", "--case-number", case,
                       "--decision", str(decision)).exit_code == 0  # fmt: skip
    lift = lab_cli(local, "credit", "lift", CITY_CODE, "0", "--reason", "rectified", "--case-number", "L-0",
                   "--decision", str(decision))  # fmt: skip
    assert lift.exit_code == 0, lift.output


DECIDED = ("--case-number", "C-9", "--decision-sha256", "0x" + "11" * 32)
LIFT = ("--reason", "rectified", *DECIDED)


@pytest.mark.parametrize(
    ("args", "code", "exit_code"),
    [
        # another province's regulator, over neither the lab nor the enterprise
        (["credit", "record", CITY_CODE, "--kind", "warning", "--reason", "1", *DECIDED, "--as", "regulator-320000"],
         "CREDIT_NOT_REGULATOR_OVER", 1),
        (["credit", "record", NJ_ENTERPRISE, "--kind", "fine", "--reason", "1", *DECIDED, "--as", "regulator-330100"],
         "CREDIT_NOT_REGULATOR_OVER", 1),
        # the lab's own admin cannot write its record
        (["credit", "record", CITY_CODE, "--kind", "warning", "--reason", "1", *DECIDED, "--as",
          f"lab-admin-{CITY_CODE}"], "CREDIT_NOT_REGULATOR_OVER", 1),
        # nor lift an entry of it, nor can another province
        (["credit", "lift", CITY_CODE, "1", *LIFT, "--as", "regulator-320000"], "CREDIT_NOT_REGULATOR_OVER", 1),
        # unknown reasons and kinds (a lifting is written by `credit lift`)
        (["credit", "record", CITY_CODE, "--kind", "warning", "--reason", "bribery", *DECIDED], "USAGE", 2),
        (["credit", "record", CITY_CODE, "--kind", "warning", "--reason", "11", *DECIDED], "USAGE", 2),
        (["credit", "record", CITY_CODE, "--kind", "lifting", "--reason", "1", *DECIDED], "USAGE", 2),
        (["credit", "record", CITY_CODE, "--kind", "jail", "--reason", "1", *DECIDED], "USAGE", 2),
        (["credit", "lift", CITY_CODE, "1", "--reason", "0", *DECIDED], "USAGE", 2),
        (["lab", "suspend", "--lab", CITY_CODE, "--reason", "bribery"], "USAGE", 2),
        (["lab", "suspend", "--lab", CITY_CODE, "--reason", "256"], "USAGE", 2),
        # malformed USCIs: no region in characters 3..8, too short (the contract reads them)
        (["credit", "record", "91ABCDEFMA2H4K7L3Q", "--kind", "fine", "--reason", "1", *DECIDED],
         "CREDIT_INVALID_USCI", 1),
        (["credit", "record", "9133010", "--enterprise", "--kind", "fine", "--reason", "1", *DECIDED],
         "CREDIT_INVALID_USCI", 1),
        (["credit", "show", "91ABCDEFMA2H4K7L3Q"], "CREDIT_INVALID_USCI", 1),
        # neither a registered lab nor a USCI; a lab id no lab has
        (["credit", "show", "NO-SUCH-LAB"], "LAB_NOT_REGISTERED", 1),
        (["credit", "record", "0x" + "00" * 32, "--kind", "fine", "--reason", "1", *DECIDED], "LAB_NOT_REGISTERED", 1),
        # lifting twice, lifting a lifting, an unknown entry
        (["credit", "lift", CITY_CODE, "0", *LIFT], "CREDIT_NOT_LIFTABLE", 1),
        (["credit", "lift", CITY_CODE, "2", *LIFT], "CREDIT_NOT_LIFTABLE", 1),
        (["credit", "lift", CITY_CODE, "7", *LIFT], "CREDIT_UNKNOWN_ENTRY", 1),
        (["credit", "lift", HZ_ENTERPRISE, "0", *LIFT], "CREDIT_UNKNOWN_ENTRY", 1),
        # no decision document, two of them, a digest that is none, an unreadable file
        (["credit", "record", CITY_CODE, "--kind", "fine", "--reason", "1", "--case-number", "C-9"], "USAGE", 2),
        (["credit", "lift", CITY_CODE, "1", "--reason", "9", "--case-number", "C-9"], "USAGE", 2),
        (["credit", "record", CITY_CODE, "--kind", "fine", "--reason", "1", *DECIDED, "--decision", "/etc/hostname"],
         "USAGE", 2),
        (["credit", "record", CITY_CODE, "--kind", "fine", "--reason", "1", "--case-number", "C-9",
          "--decision-sha256", "0x1234"], "USAGE", 2),
        (["credit", "record", CITY_CODE, "--kind", "fine", "--reason", "1", "--case-number", "C-9",
          "--decision", "/no/such/decision.pdf"], "USAGE", 2),
        # a window that ends before it begins; an empty case number (the contract refuses it)
        (["credit", "record", CITY_CODE, "--kind", "fine", "--reason", "1", *DECIDED, "--from", "2026-03-01",
          "--until", "2026-02-01"], "USAGE", 2),
        (["credit", "record", CITY_CODE, "--kind", "fine", "--reason", "1", "--case-number", "",
          "--decision-sha256", "0x" + "11" * 32], "CREDIT_MISSING_CASE_NUMBER", 1),
    ],
)  # fmt: skip
def test_credit_refusals(
    local: tuple[Path, str], regulated: Path, args: list[str], code: str, exit_code: int
) -> None:
    _recorded(local, regulated)
    before = _show(local, CITY_CODE)["entries"]
    result = lab_cli(local, *args)
    assert (error_code(result), result.exit_code) == (code, exit_code), result.output
    assert _show(local, CITY_CODE)["entries"] == before  # nothing was recorded
