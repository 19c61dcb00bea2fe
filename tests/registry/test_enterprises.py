"""Enterprise accounts and their instrument registers over the registry's HTTP API, on a real chain and database:
self-registration waits for a regulator over the USCI's region; imports are all-or-nothing with every bad row
named; certificates link to registered instruments both ways; an instrument's state follows its certificates
(issued, anchored, revoked)."""

from __future__ import annotations

import csv
import io
import threading
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook

from registry import enterprises
from registry.api import create_app
from registry.instruments import XLSX
from tests.registry.conftest import LabWorld
from tests.registry.test_api import app_settings, bearer, drain, issue
from tracecert_app.story import usci

#: A gas station in Hangzhou (region 330106 from its USCI), under the world's provincial regulator (330000).
STATION = usci("91330106MA27XK5L3")
#: A company registered in Nanjing (320100): outside the Zhejiang regulator's region.
NANJING = usci("91320100MA1MXXXX0")
#: The world's record's instrument: an electronic price-computing scale (catalogue: 非自动衡器, P+V, trade).
SCALE = {
    "category": "电子计价秤",
    "use": "TRADE",
    "manufacturer": "某衡器有限公司",
    "model": "ACS-30",
    "serial_number": "A2310045",
    "asset_number": "ZC-001",
    "site": "西湖示范加油站便利店",
    "site_region": 330106,
    "period_months": 12,
}


@pytest.fixture
def api(world: LabWorld) -> Iterator[TestClient]:
    """A client of the world's app (no worker: tests drain it)."""
    app = create_app(app_settings(world), core=world.core, run_worker=False)
    with TestClient(app) as client:
        yield client


def _code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def _onboarded(api: TestClient, world: LabWorld, code: str = STATION) -> dict[str, str]:
    """An enterprise registered by itself and confirmed by the provincial regulator; its headers."""
    made = api.post("/v1/enterprises", json={"usci": code, "name": "杭州西湖示范加油站有限公司"})
    assert made.status_code == 201, made.text
    confirmed = api.post(f"/v1/enterprises/{code}/confirm", headers=bearer(world.regulator_token))
    assert confirmed.json()["state"] == "CONFIRMED"
    return bearer(made.json()["token"])


def test_self_registration_waits_for_the_regulator_over_its_region(api: TestClient, world: LabWorld) -> None:
    regulator = bearer(world.regulator_token)
    made = api.post("/v1/enterprises", json={"usci": STATION, "name": "杭州西湖示范加油站有限公司"})
    assert made.status_code == 201
    answer = made.json()
    assert (answer["enterprise"]["state"], answer["enterprise"]["region"]) == ("PENDING", 330106)
    assert answer["enterprise"]["state_name"]["zh"] == "待监管部门确认"
    own = bearer(answer["token"])
    # It may read its (empty) register, not write to it.
    assert api.get("/v1/instruments", headers=own).json() == {"usci": STATION, "instruments": []}
    assert _code(api.post("/v1/instruments", json={"instruments": [SCALE]}, headers=own)) == (
        403,
        "ENTERPRISE_NOT_CONFIRMED",
    )
    # Registering itself again is a conflict; the regulator's queue holds it; a lab cannot confirm it.
    again = api.post("/v1/enterprises", json={"usci": STATION, "name": "x"})
    assert _code(again) == (409, "ENTERPRISE_EXISTS")
    queue = api.get("/v1/enterprises", params={"state": "PENDING"}, headers=regulator).json()["items"]
    assert [e["usci"] for e in queue] == [STATION]
    lab = bearer(world.token)
    assert _code(api.post(f"/v1/enterprises/{STATION}/confirm", headers=lab)) == (403, "NOT_A_REGULATOR")
    confirmed = api.post(f"/v1/enterprises/{STATION}/confirm", headers=regulator).json()
    assert confirmed["state"] == "CONFIRMED"
    assert confirmed["confirmed_by"].lower() == world.province.address.lower()
    assert api.post("/v1/instruments", json={"instruments": [SCALE]}, headers=own).json()["created"] == 1


@pytest.mark.parametrize(
    ("by_regulator", "status", "outcome"),
    [(False, 409, "ENTERPRISE_EXISTS"), (True, 200, "CONFIRMED")],
    ids=["itself", "a regulator"],
)
def test_two_registrations_of_one_enterprise_at_once(
    api: TestClient, world: LabWorld, monkeypatch: pytest.MonkeyPatch, by_regulator: bool, status: int, outcome: str
) -> None:
    """Another registration of the same enterprise commits between this one's read and its insert: this one is
    answered as if it came second (ENTERPRISE_EXISTS for itself, a confirmation by a regulator), never a 500."""
    real, raced = enterprises.utcnow, threading.Event()

    def utcnow_after_the_other_registered() -> Any:
        if not raced.is_set():  # the moment between the read and the insert
            raced.set()
            other = threading.Thread(target=enterprises.register_enterprise, args=(world.core, None, STATION, "先到"))
            other.start()
            other.join()
        return real()

    monkeypatch.setattr(enterprises, "utcnow", utcnow_after_the_other_registered)
    headers = bearer(world.regulator_token) if by_regulator else {}
    answer = api.post("/v1/enterprises", json={"usci": STATION, "name": "后到"}, headers=headers)
    assert raced.is_set() and answer.status_code == status, answer.text
    assert (answer.json()["enterprise"]["state"] if by_regulator else answer.json()["error"]["code"]) == outcome
    listed = api.get("/v1/enterprises", headers=bearer(world.regulator_token)).json()["items"]
    assert [(e["usci"], e["name"]) for e in listed] == [(STATION, "先到")]  # one enterprise, the first one's


def test_a_regulator_onboards_only_in_its_region(api: TestClient, world: LabWorld) -> None:
    regulator = bearer(world.regulator_token)
    onboarded = api.post("/v1/enterprises", json={"usci": STATION, "name": "加油站"}, headers=regulator)
    assert onboarded.status_code == 201
    assert onboarded.json()["enterprise"]["state"] == "CONFIRMED" and onboarded.json()["token"]
    elsewhere = api.post("/v1/enterprises", json={"usci": NANJING, "name": "南京某公司"}, headers=regulator)
    assert _code(elsewhere) == (403, "NOT_REGULATOR_OF_REGION")
    # Self-registered elsewhere: this regulator neither lists nor confirms it.
    assert api.post("/v1/enterprises", json={"usci": NANJING, "name": "南京某公司"}).status_code == 201
    assert [e["usci"] for e in api.get("/v1/enterprises", headers=regulator).json()["items"]] == [STATION]
    assert _code(api.post(f"/v1/enterprises/{NANJING}/confirm", headers=regulator)) == (
        403,
        "NOT_REGULATOR_OF_REGION",
    )


BAD_ENTERPRISES = {
    "check-character": ({"usci": STATION[:-1] + ("0" if STATION[-1] != "0" else "1"), "name": "x"}, "USCI_INVALID"),
    "no-such-province": ({"usci": usci("91990100MA27XK5L3"), "name": "x"}, "USCI_INVALID"),
    "empty-name": ({"usci": STATION, "name": "  "}, "NAME_INVALID"),
    "unknown-field": ({"usci": STATION, "name": "x", "admin": True}, "UNKNOWN_FIELD"),
    "name-not-text": ({"usci": STATION, "name": 7}, "REQUEST_INVALID"),
}


@pytest.mark.parametrize("case", list(BAD_ENTERPRISES))
def test_bad_enterprise_registrations_are_refused_by_code(api: TestClient, case: str) -> None:
    body, code = BAD_ENTERPRISES[case]
    refused = api.post("/v1/enterprises", json=body)
    assert refused.status_code in (400, 422) and refused.json()["error"]["code"] == code


def _row(**changes: Any) -> dict[str, Any]:
    return {k: v for k, v in (SCALE | changes).items() if v is not None}


#: Bad rows: (the row, the field named, the rule named).
BAD_ROWS = {
    "unknown-category": (_row(category="量子秤"), "category", "value_error"),
    "unknown-use": (_row(use="自用"), "use", "value_error"),
    "region-not-gbt2260": (_row(site_region=999999), "site_region", "value_error"),
    "period-zero": (_row(period_months=0), "period_months", "greater_than_equal"),
    "no-serial": (_row(serial_number=None), "serial_number", "missing"),
    "catalogue-contradicted": (_row(mandatory=False), "(row)", "value_error"),
    "undecided": (_row(category="燃油加油机"), "(row)", "value_error"),
    "unknown-field": (_row(colour="red"), "colour", "extra_forbidden"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_bad_row_refuses_the_import_naming_its_row_and_field(api: TestClient, world: LabWorld, case: str) -> None:
    own = _onboarded(api, world)
    row, field, rule = BAD_ROWS[case]
    good = _row(serial_number="B-1", asset_number="ZC-002")
    refused = api.post("/v1/instruments", json={"instruments": [good, row]}, headers=own)
    assert _code(refused) == (422, "REGISTER_INVALID")
    assert [(d["row"], d["field"], d["rule"]) for d in refused.json()["error"]["details"]] == [(3, field, rule)]
    assert api.get("/v1/instruments", headers=own).json()["instruments"] == []  # nothing registered


def _csv(rows: list[dict[str, Any]], headings: dict[str, str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([headings[k] for k in headings])
    for row in rows:
        writer.writerow([row.get(k, "") for k in headings])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


_ZH = {
    "category": "器具名称",
    "use": "用途",
    "manufacturer": "制造单位",
    "model": "型号规格",
    "serial_number": "出厂编号",
    "asset_number": "管理编号",
    "site": "使用地点",
    "site_region": "区划代码",
    "period_months": "检定周期（月）",
    "mandatory": "是否强检",
}


def _xlsx(rows: list[dict[str, Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(_ZH.values()))
    for row in rows:
        sheet.append([row.get(k) for k in _ZH])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _dispensers(n: int) -> list[dict[str, Any]]:
    return [
        _row(category="燃油加油机", mandatory=True, manufacturer="正星科技", model="CS46", serial_number=f"ZX-{i}",
             asset_number=f"JYJ-{i:02d}", site="西湖示范加油站", period_months=6)
        for i in range(1, n + 1)
    ]  # fmt: skip


def test_csv_and_excel_imports_with_chinese_headings_are_idempotent(api: TestClient, world: LabWorld) -> None:
    own = _onboarded(api, world)
    rows = [_row(use="贸易结算"), *_dispensers(3)]
    sent = api.post("/v1/instruments", content=_csv(rows, _ZH), headers=own | {"Content-Type": "text/csv"})
    assert (sent.status_code, sent.json()["created"]) == (200, 4), sent.text
    again = api.post("/v1/instruments", content=_xlsx(rows), headers=own | {"Content-Type": XLSX}).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 4)
    assert again["instruments"] == sent.json()["instruments"]
    moved = [r | {"period_months": 12} for r in _dispensers(1)]
    assert api.post("/v1/instruments", json={"instruments": moved}, headers=own).json()["updated"] == 1
    register = api.get("/v1/instruments", headers=own).json()["instruments"]
    assert [(i["category"], i["mandatory"], i["site"]["name"]) for i in register] == [
        ("电子计价秤", True, "西湖示范加油站便利店"),
        *[("燃油加油机", True, "西湖示范加油站")] * 3,
    ]
    assert {i["site"]["id"] for i in register[1:]} == {register[1]["site"]["id"]}  # one site, reused


def _damaged_xlsx(drop: str = "", **parts: bytes) -> bytes:
    """A register workbook with its parts (``xl/worksheets/sheet1.xml`` as ``xl__worksheets__sheet1_xml``)
    replaced, and those whose name holds ``drop`` left out."""
    with zipfile.ZipFile(io.BytesIO(_xlsx([SCALE]))) as book:
        files = {name: book.read(name) for name in book.namelist() if not (drop and drop in name)}
    files |= {name.replace("__", "/").replace("_xml", ".xml"): content for name, content in parts.items()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as book:
        for name, content in files.items():
            book.writestr(name, content)
    return out.getvalue()


def _zip_bomb(parts: int = 1, size: int = 65 * 1024 * 1024) -> bytes:
    """A register workbook with extra parts of zeros that deflate to almost nothing: ``parts`` of ``size`` bytes."""
    with zipfile.ZipFile(io.BytesIO(_xlsx([SCALE]))) as book:
        files = {name: book.read(name) for name in book.namelist()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bomb:
        for name, content in files.items():
            bomb.writestr(name, content)
        for i in range(parts):
            bomb.writestr(f"xl/media/zeros{i}.bin", b"\0" * size)
    return out.getvalue()


BAD_TABLES = {
    "not-utf8": ("text/csv", "器具名称".encode("gbk"), 422, "TABLE_INVALID"),
    "missing-column": ("text/csv", "器具名称,用途\n燃油加油机,TRADE\n".encode(), 422, "TABLE_INVALID"),
    "unknown-column": ("text/csv", _csv([SCALE], _ZH | {"colour": "颜色"}), 422, "TABLE_INVALID"),
    "empty": ("text/csv", b"\xef\xbb\xbf\n\n", 422, "TABLE_INVALID"),
    "not-a-workbook": (XLSX, b"PK\x03\x04 not really", 422, "TABLE_INVALID"),
    "workbook-without-sheets": (XLSX, _damaged_xlsx(drop="worksheets"), 422, "TABLE_INVALID"),
    "sheet-not-xml": (XLSX, _damaged_xlsx(xl__worksheets__sheet1_xml=b"<not xml"), 422, "TABLE_INVALID"),
    "styles-not-xml": (XLSX, _damaged_xlsx(xl__styles_xml=b"<<"), 422, "TABLE_INVALID"),
    "not-a-table-type": ("application/pdf", b"%PDF-1.7", 415, "UNSUPPORTED_MEDIA_TYPE"),
    "json-without-rows": ("application/json", b'{"instruments": []}', 422, "REGISTER_EMPTY"),
}


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_unreadable_tables_are_refused_by_code(api: TestClient, world: LabWorld, case: str) -> None:
    own = _onboarded(api, world)
    media, body, status, code = BAD_TABLES[case]
    assert _code(api.post("/v1/instruments", content=body, headers=own | {"Content-Type": media})) == (status, code)


def test_certificates_link_both_ways_and_the_state_follows_them(api: TestClient, world: LabWorld) -> None:
    own = _onboarded(api, world)
    instrument_id = api.post("/v1/instruments", json={"instruments": [SCALE]}, headers=own).json()["instruments"][0]
    before = api.get(f"/v1/instruments/{instrument_id}", headers=own).json()
    assert (before["due"]["state"], before["certificates"]) == ("NEVER", [])
    # The lab verifies it (the record names the same manufacturer, with other spacing, and serial); anchored.
    digest = issue(api, world, "JD2026-L0001", item__manufacturer="某衡器 有限公司")["digest"]
    pending = api.get(f"/v1/instruments/{instrument_id}", headers=own).json()
    assert pending["due"]["state"] == "NEVER"  # accepted, not yet on chain: it does not count
    drain(world)
    after = api.get(f"/v1/instruments/{instrument_id}", headers=own).json()
    assert [c["digest"] for c in after["certificates"]] == [digest]
    assert after["due"]["state"] == "IN_FORCE", after["certificates"]
    assert after["due"]["certificate"] == digest
    assert after["due"]["due_date"] == world.day(364)
    # The region's figures follow (the worker brought the anchored batch into the coverage index).
    regulator = bearer(world.regulator_token)
    figures = api.get("/v1/coverage", params={"region": 330106}, headers=regulator).json()["totals"]
    assert (figures["registered"], figures["in_force"]) == (1, 1)
    # Read from the certificate's side: the lab, the regulator, the owner see it; another lab may not.
    for headers in (bearer(world.token), bearer(world.regulator_token), own):
        linked = api.get(f"/v1/certificates/{digest}/instruments", headers=headers).json()["items"]
        assert [i["id"] for i in linked] == [instrument_id]
    other = api.get(f"/v1/certificates/{digest}/instruments", headers=bearer(world.other_token))
    assert _code(other) == (403, "WRONG_LAB")
    # Revoked: no longer in force; it had been verified, so it is overdue.
    assert api.post(f"/v1/certificates/{digest}/revoke", json={"reason": 1}, headers=bearer(world.token)).is_success
    drain(world)
    revoked = api.get("/v1/instruments", headers=own).json()["instruments"][0]
    assert revoked["due"]["state"] == "OVERDUE" and revoked["due"]["state_name"]["zh"] == "超期未检"
    figures = api.get("/v1/coverage", params={"region": 330106}, headers=regulator).json()["totals"]
    assert (figures["in_force"], figures["overdue"]) == (0, 1)  # and the revocation, into the index


def test_an_asset_number_links_only_within_its_owner(api: TestClient, world: LabWorld) -> None:
    own = _onboarded(api, world)
    theirs = _row(serial_number="OTHER-SERIAL", asset_number="ZC-001")
    instrument_id = api.post("/v1/instruments", json={"instruments": [theirs]}, headers=own).json()["instruments"][0]
    # Issued to another enterprise (its USCI in the record): the same asset number does not link.
    issue(api, world, "JD2026-L0002", item__asset_number="ZC-001", item__serial_number="X-1", customer__usci=NANJING)
    # Issued to this enterprise: it links.
    mine = issue(api, world, "JD2026-L0003", item__asset_number="ZC-001", item__serial_number="X-2",
                 customer__usci=STATION)["digest"]  # fmt: skip
    drain(world)
    linked = api.get(f"/v1/instruments/{instrument_id}", headers=own).json()["certificates"]
    assert [c["digest"] for c in linked] == [mine]


def test_registers_are_private_to_their_owner_and_regulators(api: TestClient, world: LabWorld) -> None:
    own = _onboarded(api, world)
    instrument_id = api.post("/v1/instruments", json={"instruments": [SCALE]}, headers=own).json()["instruments"][0]
    other = _onboarded(api, world, usci("91330105MA28LT6B4"))
    regulator = bearer(world.regulator_token)
    assert _code(api.get(f"/v1/instruments/{instrument_id}", headers=other)) == (403, "NOT_YOUR_REGISTER")
    assert _code(api.get("/v1/instruments", params={"usci": STATION}, headers=other)) == (403, "NOT_YOUR_REGISTER")
    assert _code(api.get("/v1/instruments", headers=bearer(world.token))) == (403, "NOT_YOUR_REGISTER")
    assert _code(api.get("/v1/instruments", headers=regulator)) == (422, "USCI_REQUIRED")
    listed = api.get("/v1/instruments", params={"usci": STATION}, headers=regulator).json()["instruments"]
    assert [i["id"] for i in listed] == [instrument_id]
    assert _code(api.get("/v1/instruments/999999", headers=own)) == (404, "UNKNOWN_INSTRUMENT")
    assert _code(api.post("/v1/instruments", json={"instruments": [SCALE]}, headers=regulator)) == (
        403,
        "NOT_AN_ENTERPRISE",
    )


def test_a_certificate_without_an_asset_number_links_by_serial_only(api: TestClient, world: LabWorld) -> None:
    """A record issued to the enterprise that names no asset number links to the instrument of its serial number,
    not to every instrument of the enterprise that has no asset number either (read from either side)."""
    own = _onboarded(api, world)
    rows = [_row(asset_number=None), _row(serial_number="UNRELATED-1", asset_number=None)]
    scale, unrelated = api.post("/v1/instruments", json={"instruments": rows}, headers=own).json()["instruments"]
    digest = issue(api, world, "JD2026-L0004", customer__usci=STATION)["digest"]
    drain(world)
    for headers in (bearer(world.token), bearer(world.regulator_token), own):
        linked = api.get(f"/v1/certificates/{digest}/instruments", headers=headers).json()["items"]
        assert [i["id"] for i in linked] == [scale]
    register = {i["id"]: i for i in api.get("/v1/instruments", headers=own).json()["instruments"]}
    assert [c["digest"] for c in register[scale]["certificates"]] == [digest]
    assert register[unrelated]["certificates"] == []


#: A regulator naming an enterprise by something that is not a USCI.
BAD_REGISTER_USCIS = {
    "letters-for-the-region": "ABCDEFGHIJKLMNOPQR",
    "too-short": "9",
    "empty": "",
    "wrong-check-character": STATION[:-1] + ("0" if STATION[-1] != "0" else "1"),
}


@pytest.mark.parametrize("case", list(BAD_REGISTER_USCIS))
def test_a_regulator_naming_a_malformed_usci_is_refused_by_code(api: TestClient, world: LabWorld, case: str) -> None:
    regulator = bearer(world.regulator_token)
    refused = api.get("/v1/instruments", params={"usci": BAD_REGISTER_USCIS[case]}, headers=regulator)
    assert _code(refused) == (422, "USCI_INVALID")


def test_an_update_onto_another_instrument_s_serial_is_refused_by_row(api: TestClient, world: LabWorld) -> None:
    """A row that finds one instrument by its asset number and gives it the serial number of another registered
    instrument (or the other way round) is refused naming the row, not a server error; nothing changes."""
    own = _onboarded(api, world)
    first = [_row(), _row(serial_number="B-2", asset_number="ZC-002")]
    assert api.post("/v1/instruments", json={"instruments": first}, headers=own).json()["created"] == 2
    before = api.get("/v1/instruments", headers=own).json()
    # The scale (ZC-001) given the other's serial; the other (ZC-002) given the scale's serial.
    for clash in (_row(serial_number="B-2"), _row(asset_number="ZC-002")):
        rows = [_row(serial_number="C-3", asset_number="ZC-3"), clash]
        refused = api.post("/v1/instruments", json={"instruments": rows}, headers=own)
        assert _code(refused) == (422, "REGISTER_INVALID"), refused.text
        details = refused.json()["error"]["details"]
        assert [(d["row"], d["field"], d["rule"]) for d in details] == [(3, "serial_number", "taken")]
    assert api.get("/v1/instruments", headers=own).json() == before


def test_an_instrument_given_a_new_serial_frees_its_old_one(api: TestClient, world: LabWorld) -> None:
    """An instrument found by its asset number and given another serial number no longer holds the old one: a row
    with the old serial (another instrument) in the same table is registered as new, not folded into it; and
    the certificate of the old serial no longer links to it."""
    own = _onboarded(api, world)
    moved = api.post("/v1/instruments", json={"instruments": [_row()]}, headers=own).json()["instruments"][0]
    digest = issue(api, world, "JD2026-L0005")["digest"]  # about serial A2310045, issued to another customer
    drain(world)
    rows = [_row(serial_number="A2310045-R"), _row(asset_number="ZC-NEW")]
    answer = api.post("/v1/instruments", json={"instruments": rows}, headers=own).json()
    assert (answer["created"], answer["updated"], answer["instruments"][0]) == (1, 1, moved)
    register = {i["id"]: i for i in api.get("/v1/instruments", headers=own).json()["instruments"]}
    assert (register[moved]["serial_number"], register[moved]["asset_number"]) == ("A2310045-R", "ZC-001")
    assert (register[moved]["certificates"], register[moved]["due"]["state"]) == ([], "NEVER")
    new = answer["instruments"][1]
    assert (register[new]["serial_number"], register[new]["asset_number"]) == ("A2310045", "ZC-NEW")
    assert [c["digest"] for c in register[new]["certificates"]] == [digest]
    figures = api.get("/v1/coverage", params={"region": 330106}, headers=bearer(world.regulator_token)).json()
    assert (figures["totals"]["registered"], figures["totals"]["in_force"], figures["totals"]["never_verified"]) == (
        2,
        1,
        1,
    )


def test_an_update_cut_short_before_its_coverage_rows_is_caught_up_by_the_worker(
    api: TestClient, world: LabWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instrument changed (here: its serial corrected, so the certificate no longer links) by an import that
    stopped after its commit, before its coverage rows were brought up to date, is counted as changed once the
    worker has run: no stale row is left behind."""
    own = _onboarded(api, world)
    api.post("/v1/instruments", json={"instruments": [SCALE]}, headers=own)
    issue(api, world, "JD2026-L0006")
    drain(world)
    regulator = bearer(world.regulator_token)

    def totals() -> tuple[int, int, int]:
        found = api.get("/v1/coverage", params={"region": 330106}, headers=regulator).json()["totals"]
        return found["registered"], found["in_force"], found["never_verified"]

    assert totals() == (1, 1, 0)

    def crash(*_: Any) -> int:
        raise RuntimeError("the process died here")

    monkeypatch.setattr("registry.instruments.refresh", crash)
    cut_short = api.post("/v1/instruments", json={"instruments": [_row(serial_number="A2310045-X")]}, headers=own)
    assert cut_short.status_code == 500
    monkeypatch.undo()
    drain(world)
    assert totals() == (1, 0, 1)
    assert api.get("/v1/instruments", headers=own).json()["instruments"][0]["due"]["state"] == "NEVER"


def test_a_site_s_region_corrected_moves_all_its_instruments(api: TestClient, world: LabWorld) -> None:
    """A site's region given anew (a row of a later table) is the region of every instrument at the site, not only
    of the rows sent again: the region's figures count them where the site is."""
    own = _onboarded(api, world)
    assert api.post("/v1/instruments", json={"instruments": _dispensers(2)}, headers=own).json()["created"] == 2
    corrected = _dispensers(3)[2] | {"site_region": 330105}
    assert api.post("/v1/instruments", json={"instruments": [corrected]}, headers=own).json()["created"] == 1
    register = api.get("/v1/instruments", headers=own).json()["instruments"]
    assert [i["site"]["region"] for i in register] == [330105] * 3
    regulator = bearer(world.regulator_token)
    figures = api.get("/v1/coverage", params={"region": 330100}, headers=regulator).json()
    assert [(r["region"], r["registered"]) for r in figures["by_region"]] == [(330105, 3)]
    late = api.get("/v1/coverage/overdue", params={"region": 330105}, headers=regulator).json()
    assert [(i["serial_number"], i["region"]) for i in late["instruments"]] == [(f"ZX-{n}", 330105) for n in (1, 2, 3)]


def test_listing_enterprises_asks_nothing_about_regions_outside_the_regulator_s(
    api: TestClient, world: LabWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A regulator's list (its queue of self-registrations) costs what its own jurisdiction holds: enterprises that
    registered themselves anywhere else (anyone may) are neither listed nor asked about on chain one region each."""
    _onboarded(api, world)
    provinces = (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 61)
    for p in provinces:
        assert api.post("/v1/enterprises", json={"usci": usci(f"91{p}0100MA27XK5L3"), "name": "x"}).status_code == 201
    asked: list[int] = []
    over = world.core.regulator_of_region

    def counted(regulator: str, region: int) -> bool:
        asked.append(region)
        return over(regulator, region)

    monkeypatch.setattr(world.core, "regulator_of_region", counted)
    regulator = bearer(world.regulator_token)
    assert [e["usci"] for e in api.get("/v1/enterprises", headers=regulator).json()["items"]] == [STATION]
    assert api.get("/v1/enterprises", params={"state": "PENDING"}, headers=regulator).json()["items"] == []
    assert [r for r in asked if r // 10000 != 33] == []


@pytest.mark.parametrize(
    ("parts", "size"),
    [(1, 65 * 1024 * 1024), (1_001, 1)],
    ids=["one part unpacking to 65 MiB (70 KiB packed)", "1,001 parts"],
)
def test_an_excel_zip_bomb_is_refused_before_it_is_unpacked(world: LabWorld, parts: int, size: int) -> None:
    """A workbook whose parts unpack to more than 64 MiB, or come in more than 1,000 parts, is refused by the sizes
    its archive states, before anything is unpacked (the body itself is well under the limit)."""
    app = create_app(app_settings(world, max_body_bytes=1024 * 1024), core=world.core, run_worker=False)
    with TestClient(app) as client:
        own = _onboarded(client, world)
        body = _zip_bomb(parts, size)
        assert len(body) < 1024 * 1024
        refused = client.post("/v1/instruments", content=body, headers=own | {"Content-Type": XLSX})
        assert _code(refused) == (413, "XLSX_TOO_LARGE")


def test_a_csv_cell_longer_than_the_csv_reader_takes_is_refused_by_code(world: LabWorld) -> None:
    """A cell over the csv module's field limit (128 KiB) in a body the registry accepts (its default limit is
    16 MiB) is a bad table, not a server error."""
    app = create_app(app_settings(world, max_body_bytes=1024 * 1024), core=world.core, run_worker=False)
    with TestClient(app) as client:
        own = _onboarded(client, world)
        body = _csv([_row(model="M" * 200_000)], _ZH)
        refused = client.post("/v1/instruments", content=body, headers=own | {"Content-Type": "text/csv"})
        assert _code(refused) == (422, "TABLE_INVALID")
        assert refused.json()["error"]["details"][0]["rule"] == "csv"


def test_a_certificate_valid_until_the_last_day_there_is_counts_without_breaking(
    api: TestClient, world: LabWorld
) -> None:
    """A verification valid until 9999-12-31 (the last date there is; the record model takes it) keeps its instrument
    in force (to the day before: the day after its last day must exist); it breaks neither the register, the
    coverage index (the anchoring worker's step), the region's figures nor the public notice."""
    own = _onboarded(api, world)
    instrument_id = api.post("/v1/instruments", json={"instruments": [SCALE]}, headers=own).json()["instruments"][0]
    digest = issue(api, world, "JD2026-L0007", dates__valid_until="9999-12-31")["digest"]
    drain(world)
    read = api.get(f"/v1/instruments/{instrument_id}", headers=own)
    assert read.status_code == 200, read.text
    assert (read.json()["due"]["state"], read.json()["due"]["due_date"]) == ("IN_FORCE", "9999-12-30")
    assert read.json()["due"]["certificate"] == digest
    figures = api.get("/v1/coverage", params={"region": 330106}, headers=bearer(world.regulator_token))
    assert figures.status_code == 200, figures.text
    assert (figures.json()["totals"]["registered"], figures.json()["totals"]["in_force"]) == (1, 1)
    notice = api.get(f"/v1/sites/{read.json()['site']['id']}/notice")
    assert notice.status_code == 200 and notice.json()["verdict"]["code"] == "ALL_IN_FORCE"


def test_registering_another_enterprises_serial_shows_none_of_its_certificates(
    api: TestClient, world: LabWorld
) -> None:
    """A serial number is public (on its owner's 公示): an enterprise registering another's serial links none of
    the certificates issued to that other enterprise; a certificate naming no enterprise links by serial."""
    digest = issue(api, world, "JD2026-L0100")["digest"]  # issued to the station (the world's records' customer)
    drain(world)
    rival = _onboarded(api, world, usci("91330105MA28LT6B4"))
    copied = api.post("/v1/instruments", json={"instruments": [SCALE]}, headers=rival).json()["instruments"][0]
    seen = api.get(f"/v1/instruments/{copied}", headers=rival).json()
    assert (seen["certificates"], seen["due"]["state"]) == ([], "NEVER")
    linked = api.get(f"/v1/certificates/{digest}/instruments", headers=bearer(world.token)).json()["items"]
    assert linked == []  # the station has not registered it: the rival's copy is not it
    own = _onboarded(api, world)
    mine = api.post("/v1/instruments", json={"instruments": [SCALE]}, headers=own).json()["instruments"][0]
    assert [c["digest"] for c in api.get(f"/v1/instruments/{mine}", headers=own).json()["certificates"]] == [digest]
    # A certificate that names no enterprise as its customer links by serial to whoever registered the instrument.
    anonymous = issue(api, world, "JD2026-L0101", customer__usci=None)["digest"]
    drain(world)
    for headers, instrument in ((own, mine), (rival, copied)):
        shown = api.get(f"/v1/instruments/{instrument}", headers=headers).json()["certificates"]
        assert anonymous in [c["digest"] for c in shown]
