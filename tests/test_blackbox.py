"""A black-box run against ``tracecert up`` (issue 10's acceptance): a lab issues variants of the demo's fuel-dispenser
record over HTTP and with the CLI, and whatever the registry accepts and anchors, ``up``'s own verifier does not call
INVALID; nothing answers 5xx; a certificate issued with its PDF is VALID when checked from the PDF alone (verifier
API and ``tracecert verify``)."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.test_up import _interrupt, _start, _wait_up

DCC_1957 = Path(__file__).parent / "certificate" / "data" / "dcc" / "gp-temperature-typical-3.1.1.xml"
PDF = b"%PDF-1.7\n% the dispenser's verification certificate, as printed\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"


class Up:
    """A running ``tracecert up``: its URLs, the demo's summary, and the city lab's token and record."""

    def __init__(self, data_dir: Path, registry: str, verifier: str, chain: str, summary: dict[str, Any]) -> None:
        self.data_dir, self.registry, self.verifier, self.chain, self.summary = (
            data_dir, registry, verifier, chain, summary,
        )  # fmt: skip
        self.city = summary["labs"]["city"]
        dispenser = summary["certificates"]["fuel_dispenser"]
        view = httpx.get(
            f"{registry}/v1/labs/{self.city['lab_id']}/certificates/{dispenser['certificate_number']}",
            headers=self.auth,
        ).json()
        self.dispenser: dict[str, Any] = view["record"]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.city['token']}"}

    def today(self, offset: int = 0) -> str:
        """The chain's date in China (UTC+8) plus ``offset`` days."""
        block = httpx.post(
            self.chain, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["latest", False]}
        ).json()["result"]
        now = dt.datetime.fromtimestamp(int(block["timestamp"], 16), dt.timezone(dt.timedelta(hours=8)))
        return (now.date() + dt.timedelta(days=offset)).isoformat()

    def anchored(self, digest: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            view = httpx.get(f"{self.registry}/v1/certificates/{digest}", headers=self.auth).json()
            if view["status"] != "pending" or time.monotonic() > deadline:
                return dict(view)
            time.sleep(0.3)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    data_dir = tmp_path_factory.mktemp("blackbox")
    ports = {"registry": free_port(), "verifier": free_port(), "chain": free_port()}
    registry = f"http://127.0.0.1:{ports['registry']}"
    process = _start(data_dir, ports)
    try:
        _wait_up(process, data_dir, registry)
        running = json.loads((data_dir / "up.json").read_text())
        summary = json.loads((data_dir / "demo" / "demo.json").read_text())["summary"]
        yield Up(data_dir, registry, running["verifier"], running["chain"], summary)
    finally:
        if process.poll() is None:
            _interrupt(process)


def _dated(up: Up, record: dict[str, Any], performed: str, issued: str) -> dict[str, Any]:
    record["dates"] = {"receipt_date": performed, "performance_begin": performed, "performance_end": performed,
                       "issue_date": issued, "valid_until": (dt.date.fromisoformat(performed) + dt.timedelta(days=180))
                       .isoformat()}  # fmt: skip  (JJG 443 allows half a year)
    return record


#: name → how the dispenser's record is changed (the up, the record with a fresh number), and whether the
#: registry must refuse it (with one of these codes). Accepted variants must then not be INVALID.
VARIANTS: dict[str, tuple[Callable[[Up, dict[str, Any]], dict[str, Any]], set[str] | None]] = {
    # the demo's own record, issued again today: accepted and VALID
    "as the demo": (lambda up, r: _dated(up, r, up.today(), up.today()), None),
    # work and issue in 2020, before the city lab's authorization (2024 onwards in the demo)
    "before the authorization": (lambda up, r: _dated(up, r, "2020-03-02", "2020-03-03"), {"LAB_AUTHORIZED_AT_ISSUE"}),
    # an issue date a month ahead
    "issued in the future": (lambda up, r: _dated(up, r, up.today(), up.today(30)), {"ISSUED_BEFORE_ANCHOR"}),
    # the standard cited by a digest nobody anchored
    "unknown standard": (
        lambda up, r: _dated(up, _cite(r, "0x" + "ab" * 32), up.today(), up.today()),
        {"TRACE_STANDARD_FOUND"},
    ),
    # the standard cited is the demo's revoked certificate
    "revoked standard": (
        lambda up, r: _dated(up, _cite(r, up.summary["certificates"]["revoked"]["digest"]), up.today(), up.today()),
        {"TRACE_STANDARD_VALID"},
    ),
    # a calibration certificate for the 强检 dispenser: the city lab may only verify dispensers (its scope now)
    "calibration for 强检": (
        lambda up, r: _dated(up, _calibration(r), up.today(), up.today()),
        {"LAB_NOT_AUTHORIZED", "LAB_SCOPE", "MANDATORY_NEEDS_VERIFICATION"},
    ),
    # a calibration of a 强检 pressure gauge, which the lab may calibrate: still not a verification
    "calibration of a 强检 gauge": (
        lambda up, r: _dated(up, _gauge(_calibration(r)), up.today(), up.today()),
        {"MANDATORY_NEEDS_VERIFICATION"},
    ),
}


def _gauge(record: dict[str, Any]) -> dict[str, Any]:
    record["item"] = {"name": "一般压力表", "category_code": "JJG52", "manufacturer": "某仪表厂", "model": "Y-100",
                      "serial_number": "YB-BB-01"}  # fmt: skip
    return record


def _cite(record: dict[str, Any], digest: str) -> dict[str, Any]:
    record["standards_used"][0]["certificate_digest"] = digest
    return record


def _calibration(record: dict[str, Any]) -> dict[str, Any]:
    record["kind"] = "CALIBRATION"
    record["customer"]["mandatory_verification"] = True
    record.pop("conclusion", None)
    for result in record["results"]:
        result.setdefault("expanded_uncertainty", "0.05")
        result.setdefault("coverage_factor", "2")
    return record


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_what_the_registry_accepts_the_verifier_does_not_call_invalid(up: Up, variant: str) -> None:
    change, refused_by = VARIANTS[variant]
    record = change(up, copy.deepcopy(up.dispenser))
    record["certificate_number"] = f"BB-{hashlib.sha256(variant.encode()).hexdigest()[:8]}"
    answer = httpx.post(f"{up.registry}/v1/certificates", json={"record": record}, headers=up.auth)
    assert answer.status_code < 500, answer.text
    if refused_by is not None:
        body = answer.json()
        assert 400 <= answer.status_code < 500, body
        details = body["error"].get("details")
        codes = {body["error"]["code"]} | {d.get("rule") for d in details if isinstance(details, list)}
        assert refused_by & codes, body
        return
    assert answer.status_code == 201, answer.text
    view = up.anchored(answer.json()["digest"])
    assert view["status"] == "anchored", view
    # at once: a certificate the registry just anchored is not "never anchored" because the verifier's index is a
    # block behind
    report = httpx.get(f"{up.verifier}/v1/certificates/{view['digest']}/verification").json()
    assert report["verdict"] == "VALID", report["reasons"]


def test_a_1957_dcc_is_refused_with_its_reason_not_a_crash(up: Up, tmp_path: Path) -> None:
    """PTB's temperature example was calibrated in 1957: long before the lab's authorization. The CLI says so."""
    out = subprocess.run(
        [sys.executable, "-m", "tracecert_app.cli", "issue", str(DCC_1957), "--registry", up.registry,
         "--token", up.city["token"], "--lab-code", up.city["code"], "--lab-name", up.city["name"],
         "--issue-date", "1957-08-14", "--category-code", "JJG52", "--json"],
        capture_output=True, text=True, env={**os.environ, "LANG": "C.UTF-8"}, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    assert "LAB_AUTHORIZED_AT_ISSUE" in out.stdout, out.stdout
    assert "Traceback" not in out.stderr and "INTERNAL_ERROR" not in out.stdout


def test_a_certificate_issued_with_its_pdf_is_valid_from_the_pdf_alone(up: Up, tmp_path: Path) -> None:
    record = _dated(up, copy.deepcopy(up.dispenser), up.today(), up.today())
    record["certificate_number"] = "BB-PDF-0001"
    record["original_document"] = {"media_type": "application/pdf", "sha256": "0x" + hashlib.sha256(PDF).hexdigest()}
    answer = httpx.post(
        f"{up.registry}/v1/certificates",
        data={"record": json.dumps(record, ensure_ascii=False)},
        files={"document": ("certificate.pdf", PDF, "application/pdf")},
        headers=up.auth,
    )
    assert answer.status_code == 201, answer.text
    digest = answer.json()["digest"]
    assert up.anchored(digest)["status"] == "anchored"

    # the verifier's API, given the PDF and nothing else
    report = httpx.post(
        f"{up.verifier}/v1/verify", files={"file": ("certificate.pdf", PDF, "application/pdf")}
    ).json()
    assert (report["verdict"], report["digest"]) == ("VALID", digest), report.get("reasons")

    # tracecert verify, given the PDF file and the registry (with the lab's token: the certificate is private)
    pdf = tmp_path / "certificate.pdf"
    pdf.write_bytes(PDF)
    out = subprocess.run(
        [sys.executable, "-m", "tracecert_app.cli", "verify", str(pdf), "--json", "--rpc-url", up.chain,
         "--deployment", str(up.data_dir / "deployment.json"), "--registry", up.registry,
         "--registry-token", up.city["token"], "--data-dir", str(tmp_path / "cli")],
        capture_output=True, text=True, env={**os.environ, "LANG": "C.UTF-8"}, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    cli_report = json.loads(out.stdout)
    assert (cli_report["verdict"], cli_report["digest"]) == ("VALID", digest), cli_report.get("reasons")


def _cli(up: Up, *args: str, offline: bool = False) -> subprocess.CompletedProcess[str]:
    """``tracecert ARGS`` as its own process; ``offline``: in a network namespace of its own (no network at all)
    when the machine allows one."""
    command = [sys.executable, "-m", "tracecert_app.cli", *args]
    unshare = shutil.which("unshare")
    if offline and unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        command = [unshare, "-n", *command]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACECERT_")} | {"LANG": "C.UTF-8"}
    return subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)


def test_an_evidence_package_built_from_up_verifies_offline(up: Up, tmp_path: Path) -> None:
    """The Hangzhou regulator builds the case file of the demo's fuel dispenser certificate with a forged copy;
    checked with no network, every link holds; a tampered header is named."""
    dispenser = up.summary["certificates"]["fuel_dispenser"]["digest"]
    regulator = up.summary["regulators"]["330100"]
    forged = dict(up.dispenser, certificate_number="HZJL-FAKE-0001")
    (tmp_path / "forged.json").write_text(json.dumps(forged, ensure_ascii=False), "utf-8")
    out = tmp_path / "case.json"
    built = _cli(up, "evidence", "build", dispenser, "--case-number", "杭市监计案〔2026〕3号", "--out", str(out),
                 "--forged", str(tmp_path / "forged.json"), "--forged-of", dispenser, "--registry", up.registry,
                 "--token", regulator["token"], "--data-dir", str(up.data_dir), "--rpc-url", up.chain,
                 "--as", "regulator-330100")  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    checked = _cli(up, "evidence", "verify", str(out), "--trust-authority", regulator["address"], offline=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "the package stands" in checked.stdout and checked.stdout.count("✓") == 8
    package = json.loads(out.read_text("utf-8"))
    package["certificates"][0]["block"]["number"] = hex(int(package["certificates"][0]["block"]["number"], 16) + 1)
    out.write_text(json.dumps(package, ensure_ascii=False), "utf-8")
    tampered = _cli(up, "evidence", "verify", str(out), "--trust-authority", regulator["address"], "--json",
                    offline=True)  # fmt: skip
    assert tampered.returncode == 1
    assert [link["link"] for link in json.loads(tampered.stdout) if not link["ok"]] == ["SIGNED", "HEADER"]


def test_a_draw_on_up_is_re_run_by_a_second_process(up: Up, tmp_path: Path) -> None:
    """The Hangzhou regulator draws 2 of the demo's labs; another process re-runs the published draw."""
    (tmp_path / "labs.txt").write_text("\n".join(lab["lab_id"] for lab in up.summary["labs"].values()), "utf-8")
    out = tmp_path / "draw.json"
    ran = _cli(up, "draw", "run", "--population", str(tmp_path / "labs.txt"), "--size", "2", "--jurisdiction",
               "330100", "--purpose", "2026年双随机抽查", "--out", str(out), "--data-dir", str(up.data_dir),
               "--rpc-url", up.chain, "--as", "regulator-330100")  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    again = _cli(up, "draw", "verify", str(out), "--data-dir", str(up.data_dir), "--rpc-url", up.chain, "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(link["ok"] for link in json.loads(again.stdout))


def test_the_demo_scanned_by_its_regulator(up: Up) -> None:
    """The Hangzhou regulator scans the demo's ledger: the attempted reuse of the fuel dispenser's number is found
    with its code, and the story's certificates among themselves show nothing else (this module's other tests issue
    copies of the dispenser's record for other instruments, which the scan rightly calls copied results)."""
    regulator = up.summary["regulators"]["330100"]
    scanned = _cli(up, "scan", "--registry", up.registry, "--token", regulator["token"], "--json")
    assert scanned.returncode == 0, scanned.stdout + scanned.stderr
    answer = json.loads(scanned.stdout)
    reuse = [f for f in answer["findings"] if f["code"] == "NUMBER_REUSE"]
    assert [f["evidence"]["certificate_number"] for f in reuse] == [up.summary["fraud_signal"]["certificate_number"]]
    story = {c["digest"] for c in up.summary["certificates"].values()}
    among_story = [f for f in answer["findings"] if f["code"] != "NUMBER_REUSE" and set(f["digests"]) <= story]
    assert among_story == [], among_story
