"""Onboarding on a local data directory, as regulators and lab admins do it: regulators and labs registered,
authorized, suspended and reinstated on chain, a lab onboarded with the registry and its tokens; then the lab
issues, a regulator orders a revocation, and the refusals of each step."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import Result

from registry.core import RegistryCore
from registry.onboarding import registry_settings
from tests.registry.cli.conftest import error_code, invoke, lab_cli, outcome, record_for, served, write_record
from tests.registry.conftest import NMI_CODE, NMI_NAME
from tracecert.certificate.canonical import lab_id, to_hex
from tracecert.chain.client import ChainClient
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.deploy import find_deployment

CITY_CODE = "12330100470009990W"


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


def _standard(
    local: tuple[Path, str], client: ChainClient, core: RegistryCore, registry_url: str, tmp_path: Path
) -> dict[str, Any]:
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
    core.forget_chain_answers()  # its chain clock is cached for a second: CI issued within it, two days behind
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
    path = write_record(tmp_path / "standard.json", record)
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
            standard = _standard(local, client, core, registry_url, tmp_path)
            core.forget_chain_answers()  # its chain clock is cached for a second: the chain moved a day on
            record = record_for(CITY_CODE, "HZ2026-00001", standard=standard, today=chain_day_of(client))
            path = write_record(tmp_path / "r.json", record)
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
            path = write_record(tmp_path / "r2.json", record)
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
        (["lab", "suspend", "--lab", CITY_CODE, "--reason", "other", "--as", f"lab-admin-{CITY_CODE}"], "NOT_REGULATOR",
         1),
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


def test_a_city_does_not_lift_the_national_authoritys_suspension(local: tuple[Path, str], onboarded: str) -> None:
    """The national authority suspends the city lab; `lab reinstate` as the city's regulator (the default) is
    refused by its name, saying who suspended and what to do; as the national authority it succeeds."""
    suspended = lab_cli(local, "lab", "suspend", "--lab", CITY_CODE, "--reason", "forged-data", "--as",
                        "national-authority")  # fmt: skip
    assert suspended.exit_code == 0, suspended.output
    by_the_city = lab_cli(local, "lab", "reinstate", "--lab", CITY_CODE)
    assert (error_code(by_the_city), by_the_city.exit_code) == ("DECISION_OF_HIGHER_AUTHORITY", 1)
    assert "the national authority (国家)" in by_the_city.output and "--as" in by_the_city.output
    by_the_nation = lab_cli(local, "lab", "reinstate", "--lab", CITY_CODE, "--as", "national-authority")
    assert by_the_nation.exit_code == 0 and "ACTIVE (was SUSPENDED)" in by_the_nation.stdout
