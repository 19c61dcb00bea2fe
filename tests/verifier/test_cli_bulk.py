"""``tracecert verify`` on bulk inputs, against a real chain: a ZIP of certificate files (each member a report row
named ``zip!member``), a CSV of digests or numbers with their lab (unknown ones are UNKNOWN rows, bad cells ERROR
rows), the bad inputs refused by code (exit 2), and the progress bar on a terminal."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from tests.verifier.conftest import TraceWorld, calibration, chain_of_three, standard_from
from tests.verifier.world import build_world
from tracecert.certificate.canonical import from_hex
from tracecert.chain.client import ChainClient
from tracecert.chain.types import RevocationReason
from tracecert_app.cli import app
from verifier import cli

runner = CliRunner()

#: A digest no certificate has.
UNKNOWN = "0x" + "ab" * 32
#: The member limit the bad-input tables run under (TRACECERT_VERIFIER_MAX_UPLOAD_BYTES, the service's too).
MEMBER_LIMIT = 64 * 1024


@dataclass
class Certs:
    """The world's certificates for bulk runs: a chain of three (all valid) and a revoked one (and when)."""

    nmi: dict[str, Any]
    provincial: dict[str, Any]
    leaf: dict[str, Any]
    revoked: dict[str, Any]
    revoked_at: int


def make_certs(world: TraceWorld) -> Certs:
    """A chain of three, and a city certificate revoked an hour after it was anchored."""
    nmi, provincial, leaf = chain_of_three(world)
    d = world.day
    [revoked] = world.issue(
        world.city,
        calibration(
            world.city, "HZ-BULK-REVOKED", serial="YB-BR", item="压力表", u="0.01", performed=d(-1), issued=d(0),
            standards=[standard_from(provincial)],
        ),
    )  # fmt: skip
    world.chain.advance(3600)
    world.chain.contracts.revoke(
        world.city.writer, world.city.lab_id, from_hex(revoked["digest"]), RevocationReason.SUPERSEDED
    )
    return Certs(nmi, provincial, leaf, revoked, world.chain.now())


def as_json(obj: Any) -> bytes:
    """``obj`` as a JSON file's bytes."""
    return json.dumps(obj, ensure_ascii=False).encode()


def make_zip(members: dict[str, bytes], *, encrypted: bool = False) -> bytes:
    """A ZIP of ``members`` (deflated); ``encrypted``: every member flagged as encrypted (bit 0 of the flags in the
    local and the central headers; zipfile writes no encrypted members)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    data = bytearray(out.getvalue())
    if encrypted:
        for magic, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = data.find(magic)
            while at >= 0:
                data[at + offset] |= 0x1
                at = data.find(magic, at + 4)
    return bytes(data)


def mixed_zip(certs: Certs) -> bytes:
    """A valid certificate (in a folder), a revoked one, garbage, broken JSON, a ``../`` name, and what is left
    out (a folder entry, a hidden file, macOS's resource forks)."""
    return make_zip(
        {
            "ok/leaf.json": as_json(certs.leaf),
            "revoked.json": as_json(certs.revoked),
            "garbage.bin": bytes(range(7, 200)),
            "broken.json": b"{not json",
            "../../escaped.json": as_json(certs.provincial),
            "ok/": b"",
            ".DS_Store": b"\x00\x00\x00\x01Bud1",
            "__MACOSX/ok/._leaf.json": b"\x00\x05\x16\x07",
        }
    )


#: What :func:`mixed_zip` gives, row by row: the verdict and a reason code it must name.
MIXED_ROWS = {
    "certs.zip!ok/leaf.json": ("VALID", ""),
    "certs.zip!revoked.json": ("INVALID", "NOT_REVOKED"),
    "certs.zip!garbage.bin": ("ERROR", "UNSUPPORTED_MEDIA_TYPE"),
    "certs.zip!broken.json": ("ERROR", "MALFORMED_JSON"),
    "certs.zip!../../escaped.json": ("VALID", ""),
}


def lookup_csv(world: TraceWorld, certs: Certs, *, delimiter: str = ",") -> bytes:
    """Digests and numbers (by lab code and by lab id), unknown ones, and rows that cannot be looked up."""
    city = world.city
    rows = [
        ["digest", "certificate_number", "lab"],
        [certs.leaf["digest"], "", ""],  # line 2
        [certs.revoked["digest"].upper().replace("0X", "0x"), "", ""],  # 3
        ["", certs.revoked["record"]["certificate_number"], city.code],  # 4: by the lab's code
        ["", certs.provincial["record"]["certificate_number"], world.provincial.hex_id],  # 5: by the lab's id
        [UNKNOWN, "", ""],  # 6
        ["", "HZ-NO-SUCH-1", city.code],  # 7
        ["0x1234", "", ""],  # 8
        ["", "HZ-BULK-X", ""],  # 9
        ["", "", ""],  # blank: left out
        ["", "HZ-BULK-Y", "0x12"],  # 11: a lab id cut short
    ]
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode("utf-8-sig")


#: What :func:`lookup_csv` gives, row by row.
LOOKUP_ROWS = {
    "certs.csv:2": ("VALID", ""),
    "certs.csv:3": ("INVALID", "NOT_REVOKED"),
    "certs.csv:4 HZ-BULK-REVOKED": ("INVALID", "NOT_REVOKED"),
    "certs.csv:5 ZJ-2026-Y0101": ("VALID", ""),
    "certs.csv:6": ("UNKNOWN", "ANCHORED"),
    "certs.csv:7 HZ-NO-SUCH-1": ("UNKNOWN", "ANCHORED"),
    "certs.csv:8": ("ERROR", "INVALID_DIGEST"),
    "certs.csv:9 HZ-BULK-X": ("ERROR", "REPORT_INPUT_INVALID"),
    "certs.csv:11 HZ-BULK-Y": ("ERROR", "INVALID_LAB_ID"),
}


def verdicts(rows: list[dict[str, str]]) -> dict[str, str]:
    """Each row's verdict by its label."""
    return {r["path"]: r["verdict"] for r in rows}


def check_rows(rows: list[dict[str, str]], expected: dict[str, tuple[str, str]]) -> None:
    """The rows are exactly ``expected``'s, each with its verdict and naming its reason code."""
    assert verdicts(rows) == {label: verdict for label, (verdict, _code) in expected.items()}
    for row in rows:
        code = expected[row["path"]][1]
        assert code in row["reasons"], row
        if row["verdict"] == "VALID":
            assert row["reasons"] == "" and row["digest"].startswith("0x") and row["lab"]


def read_csv_report(data: bytes) -> list[dict[str, str]]:
    """A CSV report's rows (it starts with a BOM, for Excel)."""
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def world(client: ChainClient) -> TraceWorld:
    return build_world(client)


@pytest.fixture(scope="module")
def certs(world: TraceWorld) -> Certs:
    return make_certs(world)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No settings leak in from the machine; the bulk inputs are written in (and named relative to) tmp_path."""
    for name in list(os.environ):
        if name.startswith("TRACECERT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRACECERT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRACECERT_VERIFIER_MAX_UPLOAD_BYTES", str(MEMBER_LIMIT))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def setup_args(world: TraceWorld, certs: Certs, tmp_path: Path) -> list[str]:
    """--rpc-url, --deployment, and --bundles: a folder holding every certificate (the sources numbers are looked
    up in)."""
    deployment = tmp_path / "deployment.json"
    world.chain.contracts.deployment.save(deployment)
    folder = tmp_path / "library"
    folder.mkdir()
    for name in ("nmi", "provincial", "leaf", "revoked"):
        (folder / f"{name}.json").write_bytes(as_json(getattr(certs, name)))
    return ["--rpc-url", world.chain.client.url, "--deployment", str(deployment), "--bundles", str(folder)]


def verify(*args: str) -> Result:
    return runner.invoke(app, ["verify", *args])


# ------------------------------------------------------------------------------------------------ tests


def test_a_zip_gives_a_row_per_member(certs: Certs, setup_args: list[str], tmp_path: Path) -> None:
    Path("certs.zip").write_bytes(mixed_zip(certs))
    result = verify("certs.zip", "--report", "report.csv", *setup_args)
    assert result.exit_code == 1, result.output  # a revoked certificate and two unreadable files
    check_rows(read_csv_report(Path("report.csv").read_bytes()), MIXED_ROWS)
    # A member's name is only a label: nothing is written anywhere.
    assert not (tmp_path.parent / "escaped.json").exists() and not Path("ok").exists()
    assert "5 files: 2 valid, 3 invalid" in result.stdout
    as_list = verify("certs.zip", "--json", *setup_args)
    entries = {e["path"]: e for e in json.loads(as_list.stdout)}
    assert entries["certs.zip!ok/leaf.json"]["report"]["digest"] == certs.leaf["digest"]
    assert entries["certs.zip!garbage.bin"]["error"].startswith("UNSUPPORTED_MEDIA_TYPE")


def test_a_zip_beside_files_and_a_zip_in_a_folder(certs: Certs, setup_args: list[str]) -> None:
    """A ZIP named on the command line is opened; one inside a folder is skipped like any other non-certificate."""
    Path("one.zip").write_bytes(make_zip({"leaf.json": as_json(certs.leaf)}))
    Path("nmi.json").write_bytes(as_json(certs.nmi))
    Path("folder").mkdir()
    Path("folder/inner.zip").write_bytes(make_zip({"revoked.json": as_json(certs.revoked)}))
    result = verify("one.zip", "nmi.json", "folder", "--json", *setup_args)
    assert result.exit_code == 0, result.output
    entries = {e["path"]: e for e in json.loads(result.stdout)}
    assert entries["one.zip!leaf.json"]["report"]["verdict"] == "VALID"
    assert entries["nmi.json"]["report"]["verdict"] == "VALID"
    assert "skipped" in entries[str(Path("folder/inner.zip"))]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_a_csv_of_digests_and_numbers(world: TraceWorld, certs: Certs, setup_args: list[str], delimiter: str) -> None:
    Path("certs.csv").write_bytes(lookup_csv(world, certs, delimiter=delimiter))
    result = verify("certs.csv", "--report", "report.json", *setup_args)
    assert result.exit_code == 1, result.output
    rows = json.loads(Path("report.json").read_text(encoding="utf-8"))
    check_rows(rows, LOOKUP_ROWS)
    by_label = {r["path"]: r for r in rows}
    assert by_label["certs.csv:6"]["digest"] == UNKNOWN and by_label["certs.csv:6"]["verdict_zh"] == "未知证书"
    assert by_label["certs.csv:4 HZ-BULK-REVOKED"]["digest"] == certs.revoked["digest"]


def test_a_report_is_verified_again_from_its_digests(certs: Certs, setup_args: list[str]) -> None:
    """A CSV report read back as input (Chinese Excel's GB18030 included): its digest column is the key; its rows
    without a digest (ERROR, an unknown number) are ERROR rows again."""
    Path("certs.zip").write_bytes(mixed_zip(certs))
    verify("certs.zip", "--report", "first.csv", *setup_args)
    text = Path("first.csv").read_bytes().decode("utf-8-sig")
    Path("again.csv").write_bytes(text.encode("gb18030"))
    result = verify("again.csv", "--report", "second.csv", *setup_args)
    assert result.exit_code == 1, result.output
    second = read_csv_report(Path("second.csv").read_bytes())
    assert verdicts(second) == {
        "again.csv:2": "VALID", "again.csv:3": "INVALID", "again.csv:4": "ERROR", "again.csv:5": "ERROR",
        "again.csv:6": "VALID",
    }  # fmt: skip
    assert "REPORT_INPUT_INVALID" in second[2]["reasons"]


def _bulk_files() -> dict[str, bytes]:
    bomb = make_zip({"bomb.json": b"{" + b" " * (MEMBER_LIMIT * 40) + b"}"})
    assert len(bomb) < MEMBER_LIMIT / 10  # it looks small
    many = "digest\n" + f"{UNKNOWN}\n" * (cli.BULK_MAX_ITEMS + 1)
    return {
        "empty-zip": make_zip({}),
        "only-folders-zip": make_zip({"a/": b"", ".hidden": b"x"}),
        "not-a-zip": b"this is not a ZIP archive",
        "truncated-zip": make_zip({"a.json": b"{}" * 100})[:60],
        "zip-bomb": bomb,
        "encrypted-member": make_zip({"a.json": b"{}"}, encrypted=True),
        "no-known-column": b"name,serial\nx,y\n",
        "numbers-without-lab": b"certificate_number\nHZ-1\n",
        "heading-only": b"digest\n",
        "empty-csv": b"",
        "too-many-rows": many.encode(),
        "not-csv": b"digest\n" + b"0" * (csv.field_size_limit() + 1) + b"\n",  # a cell over the csv module's limit
    }


@pytest.mark.parametrize(
    ("case", "suffix", "code"),
    [
        ("empty-zip", ".zip", "REPORT_EMPTY"),
        ("only-folders-zip", ".zip", "REPORT_EMPTY"),
        ("not-a-zip", ".zip", "REPORT_INPUT_INVALID"),
        ("truncated-zip", ".zip", "REPORT_INPUT_INVALID"),
        ("zip-bomb", ".zip", "REPORT_TOO_LARGE"),
        ("encrypted-member", ".zip", "REPORT_INPUT_INVALID"),
        ("no-known-column", ".csv", "REPORT_INPUT_INVALID"),
        ("numbers-without-lab", ".csv", "REPORT_INPUT_INVALID"),
        ("heading-only", ".csv", "REPORT_EMPTY"),
        ("empty-csv", ".csv", "REPORT_EMPTY"),
        ("too-many-rows", ".csv", "REPORT_TOO_LARGE"),
        ("not-csv", ".csv", "REPORT_INPUT_INVALID"),
    ],
)
def test_bad_bulk_inputs_exit_2(setup_args: list[str], case: str, suffix: str, code: str) -> None:
    Path(f"input{suffix}").write_bytes(_bulk_files()[case])
    result = verify(f"input{suffix}", *setup_args)
    assert result.exit_code == 2, result.output
    assert f"{code}:" in result.stderr, result.stderr
    assert "input" + suffix in result.stderr  # the file (or its member) is named


def _terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stderr as a terminal, captured."""
    captured = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=captured, force_terminal=True, width=100))
    return captured


@pytest.mark.parametrize(("rows", "json_output", "shown"), [(12, False, True), (12, True, False), (3, False, False)])
def test_a_progress_bar_on_a_terminal_for_a_long_run(
    setup_args: list[str], monkeypatch: pytest.MonkeyPatch, rows: int, json_output: bool, shown: bool
) -> None:
    captured = _terminal(monkeypatch)
    Path("many.csv").write_text("digest\n" + f"{UNKNOWN}\n" * rows, encoding="utf-8")
    result = verify("many.csv", *(["--json"] if json_output else []), *setup_args)
    assert result.exit_code == 1, result.output
    assert ("verifying" in captured.getvalue() and f"{rows}/{rows}" in captured.getvalue()) is shown
    assert "verifying" not in result.stdout
    if json_output:
        assert len(json.loads(result.stdout)) == rows
