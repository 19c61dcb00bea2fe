"""The registry's command line against a real chain and a real registry served over HTTP: onboarding
(``regulator``/``lab``), ``issue`` from folders of JSON, DCC XML and CSV (``--public`` too), ``publish``,
``revoke``, ``status``, and ``registry serve|worker`` as processes."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import nacl.pwhash
import pytest
from typer.testing import CliRunner, Result

from registry.api import create_app
from registry.cli.common import parse_time, revert_code
from registry.cli.inputs import Item, csv_records
from registry.cli.lab import send_items
from registry.client import RegistryClient, RegistryClientError
from registry.config import ensure_local_secret
from registry.core import RegistryCore
from registry.issuance import Submission, accept
from registry.onboarding import parse_scope, registry_settings
from tests.conftest import free_port
from tests.registry.conftest import LAB_CODE, NMI_CODE, NMI_NAME, OTHER_LAB_CODE, LabWorld, lab_record
from tracecert.certificate.canonical import lab_id, to_hex
from tracecert.certificate.dcc import export_dcc
from tracecert.certificate.model import record_from_json
from tracecert.certificate.signing import generate_key, save_key_file
from tracecert.chain.client import ChainClient
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.deploy import find_deployment
from tracecert.chain.local import ensure_local_deployment
from tracecert.chain.node import AnvilNode
from tracecert_app.cli import app
from tracecert_app.up import serve_in_thread

#: The PTB DCCs of the versions the importer reads (copies of ../shared/data/dcc/examples, which now also holds
#: 3.2/3.3 and signed examples that the format issue brings in).
DCC_EXAMPLES = Path(__file__).parents[1] / "certificate" / "data" / "dcc"

runner = CliRunner()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the API's own tests cover PostgreSQL; here the command line is under test."""
    return f"sqlite:///{tmp_path / 'registry.db'}"


@contextmanager
def served(core: RegistryCore) -> Iterator[str]:
    """The registry app of ``core`` (with its anchoring worker) served by uvicorn on a free port."""
    port = free_port()
    server = serve_in_thread("registry", create_app(core.settings, core=core, run_worker=True), "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def registry_url(world: LabWorld) -> Iterator[str]:
    """The world's registry over real HTTP."""
    with served(world.core) as url:
        yield url


def record_for(
    code: str,
    number: str,
    name: str = "杭州市计量检定测试院",
    *,
    standard: dict[str, Any] | None = None,
    today: dt.date | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """A VERIFICATION record of the lab with ``code`` (see :func:`tests.registry.conftest.lab_record`)."""
    return lab_record(code, name, number, standard=standard, today=today, **changes)


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


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), env=env)


def outcome(result: Result) -> dict[str, Any]:
    """The ``--json`` summary of ``tracecert issue``."""
    return dict(json.loads(result.stdout))


def error_code(result: Result) -> str:
    match = re.search(r"error ([A-Z_]+):", result.stderr)
    assert match, result.stderr
    return match.group(1)


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


def _issue(registry_url: str, token: str, *paths: Path, extra: tuple[str, ...] = ()) -> Result:
    return invoke("issue", *map(str, paths), "--registry", registry_url, "--token", token, *extra)


def exported_dcc(world: LabWorld, path: Path, number: str) -> Path:
    """The lab's record ``number`` written as a DCC 3.1.2 file (what a lab's LIMS would send)."""
    path.write_bytes(export_dcc(record_from_json(world.record(number))))
    return path


def test_issue_a_folder_then_again(world: LabWorld, registry_url: str, folder: Path) -> None:
    first = _issue(registry_url, world.token, folder, extra=("--json",))
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

    again = _issue(registry_url, world.token, folder)
    assert again.exit_code == 1
    assert re.search(r"accepted\s+│?\s*0", again.stdout) and re.search(r"already there\s+│?\s*8", again.stdout)
    assert "records.csv:4" in again.stdout and "RECORD_INVALID" in again.stdout

    for path in (folder / "bad.json", folder / "dcc" / "broken.xml", folder / "records.csv"):
        path.unlink()
    waited = _issue(registry_url, world.token, folder, extra=("--wait", "--json"))
    assert waited.exit_code == 0, waited.output
    assert outcome(waited)["existing"] == 6 and outcome(waited)["anchored"] == 6


def test_dcc_goes_with_its_document(world: LabWorld, registry_url: str, tmp_path: Path) -> None:
    dcc = exported_dcc(world, tmp_path / "lims.xml", "JD2026-DCC01")
    result = _issue(registry_url, world.token, dcc, extra=("--json",))
    assert result.exit_code == 0, result.output
    [item] = outcome(result)["items"]
    view = httpx.get(f"{registry_url}/v1/certificates/{item['digest']}", headers=_bearer(world.token)).json()
    assert view["record"]["original_document"]["media_type"] == "application/xml"
    assert view["kind"] == "VERIFICATION" and view["certificate_number"] == "JD2026-DCC01"


def test_a_ptb_dcc_of_other_times_is_refused_by_the_rulebook(world: LabWorld, registry_url: str) -> None:
    """PTB's vacuum-lab DCC issued in this lab's name: its work was done years before the lab was registered and
    it cites no anchored standard, so the verifier would call it INVALID; the registry refuses it, naming why."""
    overrides = ("--lab-code", LAB_CODE, "--lab-name", "杭州市计量检定测试院", "--issue-date", world.day(0),
                 "--category-code", "PRESSURE", "--json")  # fmt: skip
    result = _issue(registry_url, world.token, DCC_EXAMPLES / "ptb-vacuumlab-CDG-3.1.1.xml", extra=overrides)
    assert result.exit_code == 1
    [item] = outcome(result)["items"]
    assert item["outcome"] == "refused"
    rules = {d["rule"] for d in item["details"]}
    assert {"LAB_AUTHORIZED_AT_ISSUE", "TRACE_STANDARD_FOUND"} <= rules, rules
    assert all(d["field"] and d["message_zh"] for d in item["details"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_refusals_name_their_code_and_good_ones_still_pass(world: LabWorld, registry_url: str, tmp_path: Path) -> None:
    _issue(registry_url, world.token, _write(tmp_path / "first.json", world.record("JD2026-40001")))
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
        _write(folder / name, record)
    result = _issue(registry_url, world.token, folder, extra=("--json",))
    assert result.exit_code == 1
    codes = {Path(i["source"]).name: i.get("code") for i in outcome(result)["items"]}
    assert codes == {name: code for name, (_, code) in cases.items()}


def _write(path: Path, record: dict[str, Any]) -> Path:
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    return path


def test_lab_signing_with_a_key_file(world: LabWorld, registry_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "lab.key"
    limits = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN, "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
    save_key_file(world.lab_key, key_file, b"lab passphrase", **limits)
    record = _write(tmp_path / "r.json", world.record("JD2026-50001"))
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
        "issue", str(_write(tmp_path / "r2.json", world.record("JD2026-50002"))), "--registry", registry_url,
        "--sign-with", str(tmp_path / "other.key"), "--json", env=env,
    )  # fmt: skip
    assert unknown.exit_code == 1 and outcome(unknown)["items"][0]["code"] == "UNKNOWN_KEY"


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("tc_lab_nonsense", "UNAUTHORIZED"),  # an unknown token stops everything
        ("", "USAGE"),  # no token at all
    ],
)
def test_issue_without_a_valid_token(world: LabWorld, registry_url: str, tmp_path: Path, token: str, code: str) -> None:
    result = invoke(
        "issue", str(_write(tmp_path / "r.json", world.record())), "--registry", registry_url, "--token", token
    )
    assert result.exit_code in (1, 2) and error_code(result) == code


def test_suspended_lab_is_refused(world: LabWorld, registry_url: str, tmp_path: Path) -> None:
    world.chain.contracts.suspend_lab(world.province, bytes.fromhex(world.lab_id[2:]))
    result = _issue(registry_url, world.token, _write(tmp_path / "r.json", world.record()), extra=("--json",))
    assert result.exit_code == 1 and outcome(result)["items"][0]["code"] == "LAB_SUSPENDED"


def test_unreachable_registry(world: LabWorld, tmp_path: Path) -> None:
    path = _write(tmp_path / "r.json", world.record())
    result = _issue(f"http://127.0.0.1:{free_port()}", world.token, path)
    assert result.exit_code == 1 and error_code(result) == "REGISTRY_UNREACHABLE"


def test_revoke_and_status(world: LabWorld, registry_url: str, tmp_path: Path) -> None:
    issued = _issue(registry_url, world.token, _write(tmp_path / "r.json", world.record("JD2026-60001")),
                    extra=("--json", "--wait"))  # fmt: skip
    digest = outcome(issued)["items"][0]["digest"]
    shown = invoke("status", "--lab", LAB_CODE, "--number", "JD2026-60001", "--registry", registry_url)
    assert shown.exit_code == 0 and f"digest       {digest}" in shown.stdout and "status       anchored" in shown.stdout

    revoked = invoke("revoke", digest, "--reason", "error-in-content", "--registry", registry_url, "--token",
                     world.token, "--effective-time", "2026-01-01")  # fmt: skip
    assert revoked.exit_code == 0, revoked.output
    world_worker_waits(registry_url, digest)
    view = json.loads(invoke("status", digest, "--registry", registry_url, "--json").stdout)
    assert view["lifecycle"]["reason_name"] == "ERROR_IN_CONTENT" and view["lifecycle"]["state"] == "done"
    assert view["lifecycle"]["effective_time"] == parse_time("2026-01-01")
    text = invoke("status", digest, "--registry", registry_url).stdout
    # what it is worth now, by the reason's names: never "status anchored" for a revoked certificate
    assert "status       revoked (证书内容有误 / error in content) — was anchored" in text, text
    assert "revoked      证书内容有误 / error in content, effective 2026-01-01 00:00 (UTC+8)" in text, text
    assert "status       anchored" not in text and "ERROR_IN_CONTENT" not in text

    twice = invoke("revoke", digest, "--reason", "FRAUD", "--registry", registry_url, "--token", world.token)
    assert twice.exit_code == 1 and error_code(twice) == "ALREADY_REVOKED"
    other = invoke("revoke", digest, "--reason", "1", "--registry", registry_url, "--token", world.other_token)
    assert other.exit_code == 1 and error_code(other) == "WRONG_LAB"
    bad = invoke("revoke", digest, "--reason", "BORED", "--registry", registry_url, "--token", world.token)
    assert bad.exit_code == 2 and error_code(bad) == "USAGE"
    unknown = invoke("status", "0x" + "ab" * 32, "--registry", registry_url)
    assert unknown.exit_code == 1 and error_code(unknown) == "UNKNOWN_CERTIFICATE"


def _anonymous_bundle(registry_url: str, digest: str) -> int:
    return httpx.get(f"{registry_url}/v1/certificates/{digest}/bundle").status_code


def test_issue_public_and_publish(world: LabWorld, registry_url: str, tmp_path: Path) -> None:
    # --public: a reference standard's certificate, its bundle for anyone
    standard = _issue(registry_url, world.token, _write(tmp_path / "s.json", world.record("JD2026-70001")),
                      extra=("--public", "--wait", "--json"))  # fmt: skip
    assert standard.exit_code == 0, standard.output
    [item] = outcome(standard)["items"]
    assert item["public"] is True and _anonymous_bundle(registry_url, item["digest"]) == 200
    assert "public       yes" in invoke("status", item["digest"], "--registry", registry_url).stdout

    # without it: private, as before; a DCC with --public goes as multipart with the flag
    plain = _issue(registry_url, world.token, _write(tmp_path / "p.json", world.record("JD2026-70002")),
                   extra=("--wait", "--json"))  # fmt: skip
    [private] = outcome(plain)["items"]
    assert private["public"] is False and _anonymous_bundle(registry_url, private["digest"]) == 401
    assert "public       no" in invoke("status", private["digest"], "--registry", registry_url).stdout
    lims = exported_dcc(world, tmp_path / "lims.xml", "JD2026-70009")
    dcc = _issue(registry_url, world.token, lims, extra=("--public", "--json"))
    assert dcc.exit_code == 0, dcc.output
    assert outcome(dcc)["items"][0]["public"] is True

    # publish: by the lab, then again (nothing changes), then with others by a regulator over the lab
    published = invoke("publish", private["digest"], "--registry", registry_url, "--token", world.token)
    assert published.exit_code == 0, published.output
    assert f"published    {private['digest']} (anchored)" in published.stdout
    assert _anonymous_bundle(registry_url, private["digest"]) == 200
    again = invoke("publish", private["digest"], item["digest"].upper().replace("0X", "0x"), "--registry",
                   registry_url, "--token", world.regulator_token, "--json")  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {
        "published": 2,
        "refused": 0,
        "items": [
            {"digest": private["digest"], "outcome": "published", "status": "anchored"},
            {"digest": item["digest"], "outcome": "published", "status": "anchored"},
        ],
    }

    # issuing again with --public publishes a private certificate the registry already has
    record = _write(tmp_path / "q.json", world.record("JD2026-70003"))
    assert outcome(_issue(registry_url, world.token, record, extra=("--json",)))["items"][0]["public"] is False
    retried = outcome(_issue(registry_url, world.token, record, extra=("--public", "--json")))
    assert (retried["existing"], retried["items"][0]["public"]) == (1, True)
    # and without it never makes it private again
    assert outcome(_issue(registry_url, world.token, record, extra=("--json",)))["items"][0]["public"] is True


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


def world_worker_waits(registry_url: str, digest: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        op = httpx.get(f"{registry_url}/v1/certificates/{digest}").json().get("lifecycle")
        if op and op["state"] != "pending":
            return
        time.sleep(0.1)
    raise AssertionError("the revocation did not reach the chain")


# ====================================================================== CSV, options


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # nested objects and arrays by index; empty cells are left out
        (
            "certificate_number,item.name,persons.0.name,persons.1.name,remarks\nA1,秤,张三,李四,\n",
            [
                (
                    2,
                    {
                        "certificate_number": "A1",
                        "item": {"name": "秤"},
                        "persons": [{"name": "张三"}, {"name": "李四"}],
                    },
                )
            ],
        ),
        # booleans only where the record has one
        (
            "customer.mandatory_verification,remarks\n是,true\n",
            [(2, {"customer": {"mandatory_verification": True}, "remarks": "true"})],
        ),
        # quoted cells keep their commas; blank lines are skipped
        ('a,b\n"x, y",z\n\n', [(2, {"a": "x, y", "b": "z"})]),
    ],
)
def test_csv_rows_become_records(text: str, expected: list[tuple[int, dict[str, Any]]]) -> None:
    assert [(line, record) for line, record, _ in csv_records(text)] == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a..b\nx\n", "dotted paths"),  # an empty path segment
        ("persons.0.name,persons.2.name\nx,y\n", "without gaps"),  # an array with a hole
        ("a,a\nx,y\n", "twice"),  # the same column twice
        ("a,a.b\nx,y\n", "conflicts"),  # a value and an object at one path
        ("customer.mandatory_verification\nmaybe\n", "not true or false"),
        ("a\nx,y\n", "2 cells but 1 columns"),
    ],
)
def test_csv_problems_are_named(text: str, problem: str) -> None:
    errors = [error for _, _, error in csv_records(text)]
    assert errors and errors[0] is not None and problem in errors[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-01", 1767196800),  # midnight in China (UTC+8)
        ("2026-01-01T08:00:00+08:00", 1767225600),
        ("2026-01-01T08:00:00", 1767225600),  # no offset: China time
        ("1767225600", 1767225600),  # Unix seconds
    ],
)
def test_parse_time(value: str, expected: int) -> None:
    assert parse_time(value) == expected


def test_parse_scope_and_revert_codes() -> None:
    scope = parse_scope(["JJG443=VERIFY", "JJG52=verify,CALIBRATE", "JJG52=VERIFY"])
    assert {k: int(v) for k, v in scope.items()} == {"JJG443": 1, "JJG52": 3}
    assert revert_code("TrustRegistryOutsideJurisdiction") == "OUTSIDE_JURISDICTION"
    assert revert_code("CertificateRegistryNotLabAdmin") == "NOT_LAB_ADMIN"


# ====================================================================== onboarding on a local data directory

CITY_CODE = "12330100470009990W"


@pytest.fixture
def local(client: ChainClient, anvil: AnvilNode, data_dir: Path) -> tuple[Path, str]:
    """A data directory deployed on the session's node (its development national authority), with a secret."""
    ensure_local_deployment(client, data_dir)
    ensure_local_secret(data_dir)
    return data_dir, anvil.url


def lab_cli(local: tuple[Path, str], *args: str, env: dict[str, str] | None = None) -> Result:
    data_dir, url = local
    return invoke(*args, "--data-dir", str(data_dir), "--rpc-url", url, env=env)


def _token(result: Result) -> str:
    match = re.search(r"^token\s+(tc_lab_\S+)$", result.stdout, re.M)
    assert match, result.output
    return match.group(1)


@pytest.fixture
def onboarded(local: tuple[Path, str]) -> str:
    """Zhejiang and Hangzhou regulators, and a Hangzhou lab registered, authorized and onboarded; its token."""
    assert (
        lab_cli(local, "regulator", "register", "--jurisdiction", "330000", "--name", "浙江省市场监督管理局").exit_code
        == 0
    )
    city = lab_cli(local, "regulator", "register", "--jurisdiction", "330100", "--name", "杭州市市场监督管理局")
    assert city.exit_code == 0 and "registered   now" in city.stdout
    registered = lab_cli(
        local, "lab", "register", "--code", CITY_CODE, "--name", "杭州市计量检定测试院", "--kind", "legal",
        "--jurisdiction", "330100", "--authorization-number", "(杭)法计(2026)01001号", "--valid-from", "2020-01-01",
        "--valid-until", "2090-12-31", "--scope", "0201=VERIFY", "--scope", "PRESSURE=VERIFY,CALIBRATE",
    )  # fmt: skip
    assert registered.exit_code == 0, registered.output
    assert "development account regulator-330100" in registered.stdout
    onboard = lab_cli(local, "lab", "onboard", "--code", CITY_CODE, "--name", "杭州市计量检定测试院", "--label", "LIMS")
    assert onboard.exit_code == 0, onboard.output
    assert "added now" in onboard.stdout and "registered now" in onboard.stdout
    return _token(onboard)


def chain_day_of(client: ChainClient) -> dt.date:
    """The chain's date in China (UTC+8)."""
    return dt.datetime.fromtimestamp(client.block_timestamp(), dt.timezone(dt.timedelta(hours=8))).date()


def _standard(local: tuple[Path, str], client: ChainClient, registry_url: str, tmp_path: Path) -> dict[str, Any]:
    """The NMI, registered and onboarded through the command line like any lab, issues (published) the weights'
    certificate; two days pass, so that yesterday's work of the city lab falls inside its windows. Its bundle."""
    nmi = lab_cli(
        local, "lab", "register", "--code", NMI_CODE, "--name", NMI_NAME, "--kind", "NMI", "--jurisdiction", "110000",
        "--authorization-number", "NIM-CMC-2020", "--valid-from", "2020-01-01", "--valid-until", "2090-12-31",
        "--scope", "MASS=CALIBRATE",
    )  # fmt: skip
    assert nmi.exit_code == 0, nmi.output
    token = _token(lab_cli(local, "lab", "onboard", "--code", NMI_CODE, "--name", NMI_NAME, "--label", "NMI"))
    client.rpc("evm_increaseTime", [2 * 86_400])
    client.rpc("evm_mine", [])
    today = chain_day_of(client)
    record = record_for(NMI_CODE, "NIM-2026-M0001", NMI_NAME, kind="CALIBRATION", conclusion=None,
                        customer__mandatory_verification=None, standards_used=[],
                        item={"name": "M1 等级砝码", "category_code": "MASS", "serial_number": "FM-2019-88"},
                        method={"reference": "JJF 1001-2011", "title": "砝码校准"},
                        results=[{"quantity": "折算质量修正值 (20 kg)", "value": "0.05", "unit": "\\gram",
                                  "expanded_uncertainty": "0.1", "coverage_factor": "2"}])  # fmt: skip
    record["dates"] = {"performance_begin": today.isoformat(), "performance_end": today.isoformat(),
                       "issue_date": today.isoformat(), "valid_until": (today + dt.timedelta(days=700)).isoformat()}
    record["lab"].pop("authorization_number")
    path = _write(tmp_path / "standard.json", record)
    issued = invoke("issue", str(path), "--registry", registry_url, "--token", token, "--public", "--wait", "--json")
    assert issued.exit_code == 0, issued.output
    digest = outcome(issued)["items"][0]["digest"]
    client.rpc("evm_increaseTime", [86_400])
    client.rpc("evm_mine", [])
    return dict(httpx.get(f"{registry_url}/v1/certificates/{digest}/bundle").json())


def test_onboard_issue_suspend_reinstate(local: tuple[Path, str], onboarded: str, tmp_path: Path) -> None:
    again = lab_cli(local, "lab", "onboard", "--code", CITY_CODE, "--name", "杭州市计量检定测试院", "--no-token")
    assert again.exit_code == 0 and "already a writer" in again.stdout and "on chain already" in again.stdout
    shown = json.loads(lab_cli(local, "lab", "show", "--lab", CITY_CODE, "--json").stdout)
    assert shown["status"] == "ACTIVE" and shown["jurisdiction"] == 330100
    assert shown["authorizations"][0]["scope"] == {"0201": "VERIFY", "PRESSURE": "VERIFY|CALIBRATE"}
    assert shown["registry"]["writer_enabled"] and len(shown["registry"]["held_keys"]) == 1
    assert shown["registry"]["active_tokens"] == 1

    data_dir, url = local
    settings = registry_settings(data_dir, url, authorization_cache_seconds=0, batch_window_seconds=0.2)
    client = ChainClient(url)
    core = RegistryCore.open(settings, ChainContracts(client, find_deployment(client, data_dir / "deployment.json")))
    try:
        with served(core) as registry_url:
            # the NMI calibrated the weights the city lab verifies with: the top of its traceability chain
            standard = _standard(local, client, registry_url, tmp_path)
            core.forget_chain_answers()  # its chain clock is cached for a second: the chain moved a day on
            record = record_for(CITY_CODE, "HZ2026-00001", standard=standard, today=chain_day_of(client))
            path = _write(tmp_path / "r.json", record)
            issued = invoke("issue", str(path), "--registry", registry_url, "--token", onboarded, "--wait", "--json")
            assert issued.exit_code == 0, issued.output
            assert outcome(issued)["anchored"] == 1

            # the city regulator orders it revoked: a regulator token, its account held by the registry
            regulator = lab_cli(local, "regulator", "token", "--jurisdiction", "330100", "--hold-account")
            assert regulator.exit_code == 0, regulator.output
            regulator_token = re.search(r"^token\s+(tc_regulator_\S+)$", regulator.stdout, re.M)
            assert regulator_token is not None
            digest = outcome(issued)["items"][0]["digest"]
            ordered = invoke("revoke", digest, "--reason", "regulator-order", "--registry", registry_url, "--token",
                             regulator_token.group(1), "--json")  # fmt: skip
            assert ordered.exit_code == 0 and json.loads(ordered.stdout)["requested_by"] == "regulator"

            suspended = lab_cli(local, "lab", "suspend", "--lab", CITY_CODE, "--reason", "4")
            assert suspended.exit_code == 0 and "SUSPENDED (was ACTIVE)" in suspended.stdout
            core.forget_chain_answers()  # its chain clock is cached for a second
            record = record_for(CITY_CODE, "HZ2026-00002", standard=standard, today=chain_day_of(client))
            path = _write(tmp_path / "r2.json", record)
            refused = invoke("issue", str(path), "--registry", registry_url, "--token", onboarded, "--json")
            assert refused.exit_code == 1 and outcome(refused)["items"][0]["code"] == "LAB_SUSPENDED"
            reinstated = lab_cli(local, "lab", "reinstate", "--lab", to_hex(lab_id(CITY_CODE)))
            assert reinstated.exit_code == 0 and "ACTIVE (was SUSPENDED)" in reinstated.stdout

            # lab-signing mode: the lab's own key, registered by its admin through `lab onboard --key-file`
            key_file = tmp_path / "lab.key"
            env = {"TRACECERT_KEY_PASSPHRASE": "pw"}
            assert invoke("key", "generate", "--out", str(key_file), "--kdf", "interactive", env=env).exit_code == 0
            own = lab_cli(local, "lab", "onboard", "--code", CITY_CODE, "--name", "x", "--key-file", str(key_file),
                          "--no-token")  # fmt: skip
            assert own.exit_code == 0 and "the lab's own key (lab signs), registered now" in own.stdout
            core.forget_chain_answers()
            signed = invoke("issue", str(path), "--registry", registry_url, "--token", onboarded, "--sign-with",
                            str(key_file), "--json", env=env)  # fmt: skip
            assert signed.exit_code == 0, signed.output
            assert outcome(signed)["items"][0]["outcome"] == "accepted"

            # tokens: a second one, then the first one revoked
            here = ("--data-dir", str(data_dir))  # token commands need only the registry's database
            second = _token(invoke("lab", "token", "issue", "--lab", CITY_CODE, "--label", "backup", *here))
            listed = invoke("lab", "token", "list", "--lab", CITY_CODE, *here)
            assert "LIMS" in listed.stdout and "backup" in listed.stdout
            assert invoke("lab", "token", "revoke", "1", *here).exit_code == 0
            revoked = invoke("status", "--lab", CITY_CODE, "--number", "HZ2026-00001", "--registry", registry_url,
                             "--token", onboarded)  # fmt: skip
            assert revoked.exit_code == 1 and error_code(revoked) == "UNAUTHORIZED"
            full = invoke("status", "--lab", CITY_CODE, "--number", "HZ2026-00001", "--registry", registry_url,
                          "--token", second, "--json")  # fmt: skip
            assert json.loads(full.stdout)["record"]["certificate_number"] == "HZ2026-00001"
    finally:
        core.engine.dispose()


@pytest.mark.parametrize(
    ("args", "code", "exit_code"),
    [
        # the lab is registered already
        (["lab", "register", "--code", CITY_CODE, "--name", "x", "--kind", "legal", "--jurisdiction", "330100",
          "--authorization-number", "A", "--valid-until", "2090-01-01", "--scope", "0201=VERIFY"], "LAB_EXISTS", 1),
        # a scope without activities
        (["lab", "register", "--code", "NEW-1", "--name", "x", "--kind", "legal", "--jurisdiction", "330100",
          "--authorization-number", "A", "--valid-until", "2090-01-01", "--scope", "0201"], "USAGE", 2),
        # an unknown kind of lab
        (["lab", "register", "--code", "NEW-2", "--name", "x", "--kind", "wizard", "--jurisdiction", "330100",
          "--authorization-number", "A", "--valid-until", "2090-01-01", "--scope", "0201=VERIFY"], "USAGE", 2),
        # an accredited lab granted verification (检定 is legal metrology): refused before anything is sent
        (["lab", "register", "--code", "NEW-4", "--name", "x", "--kind", "ACCREDITED_LAB", "--jurisdiction", "330100",
          "--authorization-number", "CNAS L0001", "--valid-until", "2090-01-01", "--scope", "0201=VERIFY"],
         "KIND_MAY_NOT_VERIFY", 1),
        # the Hangzhou regulator registering a lab in Nanjing
        (["lab", "register", "--code", "NEW-3", "--name", "x", "--kind", "legal", "--jurisdiction", "320100",
          "--authorization-number", "A", "--valid-until", "2090-01-01", "--scope", "0201=VERIFY",
          "--as", "regulator-330100"], "OUTSIDE_JURISDICTION", 1),
        # onboarding a lab no regulator registered
        (["lab", "onboard", "--code", "NOBODY", "--name", "x"], "LAB_NOT_REGISTERED", 1),
        # a lab admin is not a regulator
        (["lab", "suspend", "--lab", CITY_CODE, "--as", f"lab-admin-{CITY_CODE}"], "NOT_REGULATOR", 1),
        # reinstating an active lab
        (["lab", "reinstate", "--lab", CITY_CODE], "INVALID_STATUS_CHANGE", 1),
        # an unknown lab
        (["lab", "show", "--lab", "0x" + "00" * 32], "LAB_NOT_REGISTERED", 1),
    ],
)  # fmt: skip
def test_onboarding_refusals(
    local: tuple[Path, str], onboarded: str, args: list[str], code: str, exit_code: int
) -> None:
    result = lab_cli(local, *args)
    assert (error_code(result), result.exit_code) == (code, exit_code)


# ====================================================================== registry serve | worker as processes


def _process(*args: str, data_dir: Path, url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("TRACECERT_REGISTRY_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tracecert_app.cli", *args, "--data-dir", str(data_dir), "--rpc-url", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    return process.returncode, out


def test_registry_serve_and_worker_processes(local: tuple[Path, str]) -> None:
    data_dir, url = local
    port = free_port()
    serve = _process("registry", "serve", "--port", str(port), "--no-worker", data_dir=data_dir, url=url)
    worker = _process("registry", "worker", data_dir=data_dir, url=url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                break
            except httpx.HTTPError:
                assert serve.poll() is None, serve.communicate()[0]
                time.sleep(0.2)
        else:
            raise AssertionError("registry serve did not answer")
        assert health["status"] == "ok" and health["chain_id"] == 31337
    finally:
        serve_code, serve_out = _stop(serve)
        worker_code, worker_out = _stop(worker)
    assert serve_code == 0, serve_out
    assert worker_code == 0 and "anchoring worker stopped" in worker_out, worker_out


# ====================================================================== the chain down while issuing (issue 9, 7)


class ChainGate:
    """A port in front of the chain node: nothing listens until :meth:`open` (the node "comes back"), then every
    connection is relayed to the node."""

    def __init__(self, node_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._target = ("127.0.0.1", int(node_url.rsplit(":", 1)[1].split("/")[0]))
        self._listener: socket.socket | None = None

    def open(self) -> None:
        """Listen, and relay each connection to the node."""
        listener = socket.create_server(("127.0.0.1", self.port))
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        """Stop listening (connections already relayed end with the test)."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def gate(world: LabWorld) -> Iterator[ChainGate]:
    """A chain URL whose node is down until the test opens it."""
    gate = ChainGate(world.chain.client.url)
    yield gate
    gate.close()


@contextmanager
def served_through(world: LabWorld, gate: ChainGate) -> Iterator[str]:
    """The world's registry (database, keys) served over HTTP, asking the chain through ``gate``."""
    chain = ChainContracts(ChainClient(gate.url, timeout=2), world.chain.contracts.deployment)
    core = RegistryCore(world.core.settings, world.core.engine, chain)
    with served(core) as url:
        yield url


#: Bulk items while the node is down: what was accepted before it went down ("old"), new records, and records
#: refused without asking the chain ("bad"); the answer expected.
CHAIN_DOWN_BULKS = [
    pytest.param(["new", "new", "new"], 503, "CHAIN_UNAVAILABLE", id="all-new"),
    pytest.param(["old", "new"], 503, "CHAIN_UNAVAILABLE", id="old-and-new"),
    pytest.param(["bad", "new"], 503, "CHAIN_UNAVAILABLE", id="bad-and-new"),
    pytest.param(["new", "old", "new", "bad"], 503, "CHAIN_UNAVAILABLE", id="mixed"),
    pytest.param(["old", "old"], 200, None, id="all-already-there"),  # nothing to ask the chain
]


@pytest.mark.parametrize(("kinds", "status", "code"), CHAIN_DOWN_BULKS)
def test_bulk_while_the_chain_is_down(
    world: LabWorld, gate: ChainGate, kinds: list[str], status: int, code: str | None
) -> None:
    old = [world.record(f"JD2026-C{i:04d}") for i in range(2)]
    accept(world.core, world.core.authenticate(world.token), Submission(old[0]))
    accept(world.core, world.core.authenticate(world.token), Submission(old[1]))
    olds, new = iter(old), iter(range(100))
    records = []
    for kind in kinds:
        if kind == "old":
            records.append(next(olds))
        elif kind == "new":
            records.append(world.record(f"JD2026-D{next(new):04d}"))
        else:
            records.append(world.record(f"JD2026-E{next(new):04d}", dates__valid_until=None))
    with served_through(world, gate) as url:
        response = httpx.post(f"{url}/v1/certificates/bulk", json={"certificates": [{"record": r} for r in records]},
                              headers=_bearer(world.token), timeout=30)  # fmt: skip
        assert response.status_code == status, response.json()
        if code is not None:
            assert response.json()["error"]["code"] == code
            assert int(response.headers["Retry-After"]) > 0
        else:
            assert response.json()["existing"] == len(records)
        for record in records:  # nothing new was accepted
            number = record["certificate_number"]
            found = httpx.get(f"{url}/v1/labs/{world.lab_id}/certificates/{number}").status_code
            assert found == (200 if record in old else 404), number


def test_issue_retries_until_the_chain_is_back(world: LabWorld, gate: ChainGate, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    for i in range(3):
        _write(folder / f"{i}.json", world.record(f"JD2026-F{i:04d}"))
    with served_through(world, gate) as url:
        timer = threading.Timer(3.0, gate.open)
        timer.start()
        try:
            result = _issue(url, world.token, folder, extra=("--json", "--retry-for", "60"))
        finally:
            timer.cancel()
    assert result.exit_code == 0, result.output
    summary = outcome(result)
    assert (summary["accepted"], summary["refused"], summary["not_sent"]) == (3, 0, 0)
    assert "CHAIN_UNAVAILABLE" in result.stderr and "retrying" in result.stderr


def test_issue_gives_up_clearly_after_its_bound(world: LabWorld, gate: ChainGate, tmp_path: Path) -> None:
    path = _write(tmp_path / "r.json", world.record("JD2026-G0001"))
    with served_through(world, gate) as url:
        started = time.monotonic()
        result = _issue(url, world.token, path, extra=("--json", "--retry-for", "3"))
        took = time.monotonic() - started
    assert result.exit_code == 1 and error_code(result) == "CHAIN_UNAVAILABLE"
    assert "safe to run again" in result.stderr
    assert 2.5 < took < 20
    assert outcome(result)["not_sent"] == 1


def _mock_registry(answers: list[tuple[int, dict[str, Any], dict[str, str]]]) -> tuple[RegistryClient, list[Any]]:
    """A client whose registry answers ``answers`` in turn (status, body, headers); returns it and the bodies
    received."""
    received: list[Any] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        received.append(json.loads(request.content))
        status, body, headers = queue.pop(0)
        return httpx.Response(status, json=body, headers=headers)

    return RegistryClient("http://registry.test", "t", transport=httpx.MockTransport(handle)), received


def _ok(index: int, digest: str) -> dict[str, Any]:
    return {"index": index, "ok": True, "digest": digest, "lab_id": "0x01", "status": "pending", "created": True,
            "public": False}  # fmt: skip


_DOWN = {"error": {"code": "CHAIN_UNAVAILABLE", "message": "the chain node is unreachable; retry"}}
_ITEM_DOWN = {"ok": False, "error": _DOWN["error"]}


@pytest.mark.parametrize(
    ("answers", "outcomes", "sleeps", "resent"),
    [
        pytest.param(  # a whole 503, then success: waits what Retry-After says
            [(503, _DOWN, {"Retry-After": "7"}),
             (200, {"accepted": 2, "existing": 0, "rejected": 0, "results": [_ok(0, "0xa"), _ok(1, "0xb")]}, {})],
            ["accepted", "accepted"], [7.0], [2, 2], id="503-retry-after",
        ),
        pytest.param(  # one item answered CHAIN_UNAVAILABLE: only it is sent again
            [(200, {"accepted": 1, "existing": 0, "rejected": 1,
                    "results": [_ok(0, "0xa"), {"index": 1, **_ITEM_DOWN}]}, {}),
             (200, {"accepted": 1, "existing": 0, "rejected": 0, "results": [_ok(0, "0xb")]}, {})],
            ["accepted", "accepted"], [1.0], [2, 1], id="per-item",
        ),
        pytest.param(  # a 503 without Retry-After: backs off on its own
            [(503, _DOWN, {}), (503, _DOWN, {}),
             (200, {"accepted": 2, "existing": 0, "rejected": 0, "results": [_ok(0, "0xa"), _ok(1, "0xb")]}, {})],
            ["accepted", "accepted"], [1.0, 2.0], [2, 2, 2], id="503-backoff",
        ),
        pytest.param(  # a huge Retry-After is capped by the bound: one try at the end, then a clear stop
            [(503, _DOWN, {"Retry-After": "3600"}), (503, _DOWN, {"Retry-After": "3600"})],
            ["pending", "pending"], [10.0], [2, 2], id="bound",
        ),
    ],
)  # fmt: skip
def test_issue_retry_policy(
    monkeypatch: pytest.MonkeyPatch,
    answers: list[tuple[int, dict[str, Any], dict[str, str]]],
    outcomes: list[str],
    sleeps: list[float],
    resent: list[int],
) -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr("registry.client.time.sleep", sleep)
    monkeypatch.setattr("registry.client.time.monotonic", lambda: clock[0])
    client, received = _mock_registry(answers)
    items = [Item(source=f"{i}.json", record={"certificate_number": f"N{i}"}) for i in range(2)]
    try:
        send_items(client, items, chunk_size=10, advance=lambda _n: None, retry_for=10.0)
    except RegistryClientError as exc:
        assert exc.code == "CHAIN_UNAVAILABLE" and outcomes == ["pending", "pending"]
    assert [i.outcome for i in items] == outcomes
    assert slept == sleeps
    assert [len(body["certificates"]) for body in received] == resent
