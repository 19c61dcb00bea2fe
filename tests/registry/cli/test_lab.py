"""Labs' commands against a real chain and a real registry served over HTTP: ``issue`` from folders of JSON, DCC XML
and CSV (``--public`` too, lab-signing with a key file), ``publish``, ``revoke`` and ``status``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import nacl.pwhash
import pytest

from registry.issuance import Submission, accept
from tests.conftest import free_port
from tests.registry.cli.conftest import error_code, invoke, outcome, record_for, run_issue, write_record
from tests.registry.conftest import LAB_CODE, OTHER_LAB_CODE, LabWorld
from tests.registry.test_api import bearer
from tracecert.certificate.canonical import to_hex
from tracecert.certificate.dcc import export_dcc
from tracecert.certificate.model import record_from_json
from tracecert.certificate.signing import generate_key, save_key_file

#: The PTB DCCs of the versions the importer reads (copies of ../shared/data/dcc/examples, which now also holds
#: 3.2/3.3 and signed examples that the format issue brings in).
DCC_EXAMPLES = Path(__file__).parents[2] / "certificate" / "data" / "dcc"


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """A record as CSV cells by dotted path."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flatten(item, f"{prefix}{key}.").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in flatten(item, f"{prefix}{i}.").items()}
    return {prefix[:-1]: ("true" if value else "false") if isinstance(value, bool) else str(value)}


def write_csv(path: Path, records: list[dict[str, Any]]) -> None:
    rows = [flatten(r) for r in records]
    header = list(dict.fromkeys(k for row in rows for k in row))
    lines = [",".join(header)] + [",".join(_cell(row.get(h, "")) for h in header) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _cell(text: str) -> str:
    return f'"{text}"' if "," in text else text


# ====================================================================== issue


@pytest.fixture
def folder(tmp_path: Path, world: LabWorld) -> Path:
    """JSON records (an object, an array), three DCCs (the lab's records as DCC 3.1.2) and a CSV; plus refused
    inputs of each kind."""
    root = tmp_path / "to-issue"
    (root / "dcc").mkdir(parents=True)
    (root / "one.json").write_text(json.dumps(world.record("JD2026-00101"), ensure_ascii=False), encoding="utf-8")
    both = [world.record("JD2026-00102"), world.record("JD2026-00103")]
    (root / "two.json").write_text(json.dumps(both, ensure_ascii=False), encoding="utf-8")
    for n in (1, 2, 3):
        exported_dcc(world, root / "dcc" / f"dcc-{n}.xml", f"JD2026-0040{n}")
    rows = [world.record("JD2026-00201"), world.record("JD2026-00202"), world.record("JD2026-00203", conclusion=None)]
    write_csv(root / "records.csv", rows)
    # refused: a record that breaks a rule of its kind, and XML that is not well formed
    (root / "bad.json").write_text(
        json.dumps(world.record("JD2026-00301", dates__valid_until=None), ensure_ascii=False), encoding="utf-8"
    )
    (root / "dcc" / "broken.xml").write_text("<dcc:digitalCalibrationCertificate", encoding="utf-8")
    (root / "notes.txt").write_text("not a certificate")
    return root


def exported_dcc(world: LabWorld, path: Path, number: str) -> Path:
    """The lab's record ``number`` written as a DCC file as a lab's LIMS would send it: without TraceCert's
    statement that the file renders a record (so the file itself is the original document)."""
    xml = export_dcc(record_from_json(world.record(number)))
    marker = re.compile(rb'<dcc:statement refType="tracecert_originalDocument">.*?</dcc:statement>', re.S)
    assert marker.search(xml)
    path.write_bytes(marker.sub(b"", xml))
    return path


def test_issue_a_folder_then_again(world: LabWorld, registry_url: str, folder: Path) -> None:
    first = run_issue(registry_url, world.token, folder, extra=("--json",))
    assert first.exit_code == 1, first.output
    summary = outcome(first)
    assert (summary["accepted"], summary["existing"], summary["refused"]) == (8, 0, 3), [
        (i["source"], i.get("code"), i.get("message")) for i in summary["items"] if i["outcome"] == "refused"
    ]
    refused = {i["source"]: i["code"] for i in summary["items"] if i["outcome"] == "refused"}
    assert refused == {
        f"{folder}/bad.json": "RECORD_INVALID",
        f"{folder}/dcc/broken.xml": "XML_MALFORMED",
        f"{folder}/records.csv:4": "RECORD_INVALID",
    }
    bad_fields = [d["field"] for i in summary["items"] if i["source"] == f"{folder}/bad.json" for d in i["details"]]
    assert "dates.valid_until" in bad_fields
    sources = {i["source"] for i in summary["items"] if i["outcome"] == "accepted"}
    assert {f"{folder}/two.json#1", f"{folder}/records.csv:3", f"{folder}/dcc/dcc-1.xml"} <= sources

    again = run_issue(registry_url, world.token, folder)
    assert again.exit_code == 1
    assert re.search(r"accepted\s+│?\s*0", again.stdout) and re.search(r"already there\s+│?\s*8", again.stdout)
    assert "records.csv:4" in again.stdout and "RECORD_INVALID" in again.stdout

    for path in (folder / "bad.json", folder / "dcc" / "broken.xml", folder / "records.csv"):
        path.unlink()
    waited = run_issue(registry_url, world.token, folder, extra=("--wait", "--json"))
    assert waited.exit_code == 0, waited.output
    assert outcome(waited)["existing"] == 6 and outcome(waited)["anchored"] == 6


def test_dcc_goes_with_its_document(world: LabWorld, registry_url: str, tmp_path: Path) -> None:
    dcc = exported_dcc(world, tmp_path / "lims.xml", "JD2026-DCC01")
    result = run_issue(registry_url, world.token, dcc, extra=("--json",))
    assert result.exit_code == 0, result.output
    [item] = outcome(result)["items"]
    view = httpx.get(f"{registry_url}/v1/certificates/{item['digest']}", headers=bearer(world.token)).json()
    assert view["record"]["original_document"]["media_type"] == "application/xml"
    assert view["kind"] == "VERIFICATION" and view["certificate_number"] == "JD2026-DCC01"


def test_a_dcc_substituting_a_report_by_number_becomes_a_substitution(
    world: LabWorld, registry_url: str, tmp_path: Path
) -> None:
    """A DCC 3.2.1+ names the report it substitutes by number only (reportAmendedSubstituted): the CLI asks the
    registry for the lab's certificate with that number, and the DCC is accepted as its substitution. A number
    the registry does not know is refused, naming the field."""
    first = run_issue(registry_url, world.token, write_record(tmp_path / "old.json", world.record("JD2026-SUB01")),
                      extra=("--json",))  # fmt: skip
    [old] = outcome(first)["items"]
    replacement = world.record("JD2026-SUB02", replaces={"certificate_number": "JD2026-SUB01",
                                                          "certificate_digest": old["digest"]})  # fmt: skip
    xml = export_dcc(record_from_json(replacement))
    by_number = re.sub(rb"<dcc:previousReport>.*?</dcc:previousReport>", b"", xml, flags=re.S)
    assert b"<dcc:replacedUniqueIdentifier>JD2026-SUB01<" in by_number and b"previousReport" not in by_number
    (tmp_path / "new.xml").write_bytes(by_number)
    result = run_issue(registry_url, world.token, tmp_path / "new.xml", extra=("--json",))
    assert result.exit_code == 0, result.output
    [new] = outcome(result)["items"]
    view = httpx.get(f"{registry_url}/v1/certificates/{new['digest']}", headers=bearer(world.token)).json()
    assert view["record"]["replaces"] == {"certificate_number": "JD2026-SUB01", "certificate_digest": old["digest"]}

    unknown = by_number.replace(b"JD2026-SUB01", b"JD2026-NONE9").replace(b"JD2026-SUB02", b"JD2026-SUB03")
    (tmp_path / "unknown.xml").write_bytes(unknown)
    refused = run_issue(registry_url, world.token, tmp_path / "unknown.xml", extra=("--json",))
    assert refused.exit_code == 1
    [item] = outcome(refused)["items"]
    assert item["code"] == "DCC_INCOMPLETE"
    assert [d["field"] for d in item["details"]] == ["replaces.certificate_digest"]


def test_a_ptb_dcc_of_other_times_is_refused_by_the_rulebook(world: LabWorld, registry_url: str) -> None:
    """PTB's vacuum-lab DCC issued in this lab's name: its work was done years before the lab was registered and
    it cites no anchored standard, so the verifier would call it INVALID; the registry refuses it, naming why."""
    overrides = ("--lab-code", LAB_CODE, "--lab-name", "杭州市计量检定测试院", "--issue-date", world.day(0),
                 "--category-code", "PRESSURE", "--json")  # fmt: skip
    result = run_issue(registry_url, world.token, DCC_EXAMPLES / "ptb-vacuumlab-CDG-3.1.1.xml", extra=overrides)
    assert result.exit_code == 1
    [item] = outcome(result)["items"]
    assert item["outcome"] == "refused"
    rules = {d["rule"] for d in item["details"]}
    assert {"LAB_AUTHORIZED_AT_ISSUE", "TRACE_STANDARD_FOUND"} <= rules, rules
    assert all(d["field"] and d["message_zh"] for d in item["details"])


def test_refusals_name_their_code_and_good_ones_still_pass(world: LabWorld, registry_url: str, tmp_path: Path) -> None:
    run_issue(registry_url, world.token, write_record(tmp_path / "first.json", world.record("JD2026-40001")))
    cases = {
        # the same number with other content: a fraud signal
        "reuse.json": (world.record("JD2026-40001", remarks="改过的"), "NUMBER_REUSE"),
        # another lab's certificate under this lab's token
        "other.json": (record_for(OTHER_LAB_CODE, "JD2026-40002", "南京市计量监督检测院"), "WRONG_LAB"),
        # a category outside the lab's scope
        "scope.json": (world.record("JD2026-40003", item__category_code="9999"), "LAB_NOT_AUTHORIZED"),
        # an unknown field
        "unknown.json": (world.record("JD2026-40004", colour="blue"), "RECORD_INVALID"),
        "good.json": (world.record("JD2026-40005"), None),
    }
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name, (record, _) in cases.items():
        write_record(folder / name, record)
    result = run_issue(registry_url, world.token, folder, extra=("--json",))
    assert result.exit_code == 1
    codes = {Path(i["source"]).name: i.get("code") for i in outcome(result)["items"]}
    assert codes == {name: code for name, (_, code) in cases.items()}


def test_lab_signing_with_a_key_file(world: LabWorld, registry_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "lab.key"
    limits = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN, "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
    save_key_file(world.lab_key, key_file, b"lab passphrase", **limits)
    record = write_record(tmp_path / "r.json", world.record("JD2026-50001"))
    env = {"TRACECERT_KEY_PASSPHRASE": "lab passphrase", "TRACECERT_TOKEN": world.token}
    result = invoke(
        "issue", str(record), "--registry", registry_url, "--sign-with", str(key_file), "--json", "--wait", env=env
    )
    assert result.exit_code == 0, result.output
    [item] = outcome(result)["items"]
    status = invoke("status", item["digest"], "--registry", registry_url, "--json")
    assert json.loads(status.stdout)["signed_by"] == "lab"
    assert json.loads(status.stdout)["key_id"] == to_hex(world.lab_key.key_id)

    other = generate_key()
    save_key_file(other, tmp_path / "other.key", b"lab passphrase", **limits)
    unknown = invoke(
        "issue", str(write_record(tmp_path / "r2.json", world.record("JD2026-50002"))), "--registry", registry_url,
        "--sign-with", str(tmp_path / "other.key"), "--json", env=env,
    )  # fmt: skip
    assert unknown.exit_code == 1 and outcome(unknown)["items"][0]["code"] == "UNKNOWN_KEY"


def test_unreachable_registry(world: LabWorld, tmp_path: Path) -> None:
    path = write_record(tmp_path / "r.json", world.record())
    result = run_issue(f"http://127.0.0.1:{free_port()}", world.token, path)
    assert result.exit_code == 1 and error_code(result) == "REGISTRY_UNREACHABLE"


def _private_certificate(world: LabWorld, number: str) -> str:
    return accept(world.core, world.core.authenticate(world.token), Submission(world.record(number))).digest


@pytest.mark.parametrize(
    ("target", "who", "code", "exit_code"),
    [
        ("own", "other", "WRONG_LAB", 1),  # another lab's token
        ("own", "jiangsu", "NOT_REGULATOR_OVER_LAB", 1),  # a regulator elsewhere
        ("own", "wrong", "UNAUTHORIZED", 1),  # an unknown token
        ("own", "none", "USAGE", 2),  # no token at all
        ("unknown", "lab", "UNKNOWN_CERTIFICATE", 1),
        ("malformed", "lab", "USAGE", 2),  # refused before anything is sent
        ("own+unknown", "lab", "UNKNOWN_CERTIFICATE", 1),  # the known one is published, the exit code says one failed
    ],
)
def test_publish_refusals(
    world: LabWorld, registry_url: str, target: str, who: str, code: str, exit_code: int
) -> None:
    own = _private_certificate(world, "JD2026-71001")
    unknown = "0x" + "ab" * 32
    digests = {"own": [own], "unknown": [unknown], "malformed": [own, "0x1234"], "own+unknown": [own, unknown]}
    jiangsu = world.core.issue_token("REGULATOR", regulator_address=world.chain.actor("jiangsu").address)[1]
    tokens = {"lab": world.token, "other": world.other_token, "jiangsu": jiangsu, "wrong": "tc_lab_nonsense"}
    token = ("--token", tokens[who]) if who in tokens else ()
    result = invoke("publish", *digests[target], "--registry", registry_url, *token, env={"TRACECERT_TOKEN": ""})
    assert (error_code(result), result.exit_code) == (code, exit_code)
    view = httpx.get(f"{registry_url}/v1/certificates/{own}").json()
    assert view["public"] is (target == "own+unknown")
