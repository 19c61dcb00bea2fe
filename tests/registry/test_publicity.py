"""强制检定合格公示 over the registry's HTTP API, on a real chain and database: a site's public notice (its
instruments under mandatory verification in force, overdue, never verified; the verdict counted by state; nothing
private in it), the QR code of its page (the same symbol segno makes of the page's address), its A4 poster (one page,
its text read back), and refusals by code."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import segno
from fastapi.testclient import TestClient
from PIL import Image
from pypdf import PdfReader

from registry.api import create_app
from registry.publicity import POSTER_TITLE, QR_ERROR, site_notice, site_qr_png
from tests.registry.conftest import LabWorld
from tests.registry.test_api import VERIFIER, app_settings, bearer, drain, issue
from tests.registry.test_enterprises import STATION, _onboarded
from tracecert_app.story import usci

OTHER = usci("91330105MA28LT6B4")  # another enterprise

pytestmark = pytest.mark.chain

ENTERPRISE = "杭州西湖示范加油站有限公司"
SHOP, STALLS = "西湖示范加油站便利店", "西湖示范加油站农贸摊位"
#: What the notice must never carry: the instruments' asset numbers, the record's customer and its address.
PRIVATE = ("ZC-", "某农贸市场", "某市某路")
NOTICE_KEYS = {"on", "enterprise", "site", "verdict", "instruments"}
INSTRUMENT_KEYS = {
    "category",
    "model",
    "serial_number",
    "state",
    "state_name",
    "due_date",
    "due_soon",
    "last_verified",
    "lab",
    "certificate",
    "verify_url",
}


@pytest.fixture
def api(world: LabWorld) -> Iterator[TestClient]:
    """A client of the world's app (no worker: tests drain it)."""
    app = create_app(app_settings(world), core=world.core, run_worker=False)
    with TestClient(app) as client:
        yield client


def _scale(world: LabWorld, serial: str, site: str, **changes: Any) -> dict[str, Any]:
    """A register row of the world's record's scale with ``serial`` at ``site`` (asset number ZC-<serial>)."""
    item = world.record()["item"]
    row = {"category": item["name"], "use": "TRADE", "manufacturer": item["manufacturer"], "model": item["model"],
           "serial_number": serial, "asset_number": f"ZC-{serial}", "site": site, "site_region": 330106,
           "period_months": 12}  # fmt: skip
    return row | changes


@pytest.fixture
def sites(api: TestClient, world: LabWorld) -> dict[str, Any]:
    """An enterprise with two sites: the shop's one scale verified and in force; at the stalls one in force, one
    whose certificate was revoked (overdue), one never verified, and one not under mandatory verification (verified,
    but not listed). Returns the sites' ids, the digests and the register."""
    own = _onboarded(api, world)
    rows = [
        _scale(world, "S-1", SHOP),
        _scale(world, "S-2", STALLS),
        _scale(world, "S-3", STALLS),
        _scale(world, "S-4", STALLS),
        _scale(world, "S-5", STALLS, use="OTHER"),
    ]
    assert api.post("/v1/instruments", json={"instruments": rows}, headers=own).json()["created"] == 5
    digests = {
        serial: issue(api, world, f"JD2026-P{serial}", item__serial_number=serial)["digest"]
        for serial in ("S-1", "S-2", "S-3", "S-5")
    }
    drain(world)
    revoked = api.post(f"/v1/certificates/{digests['S-3']}/revoke", json={"reason": 1}, headers=bearer(world.token))
    assert revoked.status_code == 202
    drain(world)
    register = api.get("/v1/instruments", headers=own).json()["instruments"]
    ids = {i["site"]["name"]: i["site"]["id"] for i in register}
    return {"shop": ids[SHOP], "stalls": ids[STALLS], "digests": digests, "register": register, "own": own}


def _code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_a_site_notice_lists_its_mandatory_instruments_and_counts_them_by_state(
    api: TestClient, world: LabWorld, sites: dict[str, Any]
) -> None:
    answer = api.get(f"/v1/sites/{sites['stalls']}/notice")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-cache"
    notice = answer.json()
    assert notice["on"] == world.day(0)
    assert notice["enterprise"] == {"usci": STATION, "name": ENTERPRISE}
    assert notice["site"] == {"id": sites["stalls"], "name": STALLS, "region": 330106}
    # S-5 (used for OTHER: not under mandatory verification) is not listed, though it has a certificate.
    listed = {i["serial_number"]: i for i in notice["instruments"]}
    assert list(listed) == ["S-2", "S-3", "S-4"]
    assert {s: i["state"] for s, i in listed.items()} == {"S-2": "IN_FORCE", "S-3": "OVERDUE", "S-4": "NEVER"}
    assert {s: i["state_name"]["zh"] for s, i in listed.items()} == {
        "S-2": "在有效期内",
        "S-3": "超期未检",
        "S-4": "从未检定",
    }
    verdict = notice["verdict"]
    assert (verdict["code"], verdict["total"], verdict["in_force"], verdict["not_in_force"]) == (
        "NOT_ALL_IN_FORCE",
        3,
        1,
        2,
    )
    assert verdict["by_state"] == {"IN_FORCE": 1, "FAILED": 0, "OVERDUE": 1, "NEVER": 1}
    assert verdict["text"]["zh"] == "2 件未在有效期内：超期未检 1 件，从未检定 1 件"
    assert verdict["text"]["en"] == "2 of 3 not in force: 1 overdue, 1 never verified"

    in_force, overdue, never = listed["S-2"], listed["S-3"], listed["S-4"]
    digest = sites["digests"]["S-2"]
    assert (in_force["certificate"], in_force["verify_url"]) == (digest, f"{VERIFIER}/c/{digest}")
    assert (in_force["last_verified"], in_force["due_date"]) == (world.day(0), world.day(364))
    assert (in_force["lab"], in_force["category"], in_force["model"]) == (
        "杭州市计量检定测试院",
        "电子计价秤",
        "ACS-30",
    )
    # The revoked certificate is still the one shown (the verifier says it is revoked); never verified: nothing.
    assert (overdue["certificate"], overdue["last_verified"]) == (sites["digests"]["S-3"], world.day(0))
    assert overdue["lab"] == "杭州市计量检定测试院"
    assert (never["certificate"], never["verify_url"], never["lab"], never["due_date"]) == (None, None, None, None)
    # The state and due date are the register's own (the enterprise's view of the same instruments).
    register = {i["serial_number"]: i["due"] for i in sites["register"]}
    for serial, item in listed.items():
        assert (item["state"], item["due_date"]) == (register[serial]["state"], register[serial]["due_date"])


def test_all_in_force_and_later_overdue(api: TestClient, world: LabWorld, sites: dict[str, Any]) -> None:
    notice = api.get(f"/v1/sites/{sites['shop']}/notice").json()
    assert [i["serial_number"] for i in notice["instruments"]] == ["S-1"]
    assert (notice["verdict"]["code"], notice["verdict"]["text"]) == (
        "ALL_IN_FORCE",
        {"zh": "全部合格有效", "en": "all verified and in force"},
    )
    # A year and more later, nothing was verified again: overdue since its due date.
    later = dt.date.fromisoformat(world.day(400))
    aged = site_notice(world.core, sites["shop"], later, verifier_url="")
    assert aged["on"] == later.isoformat()
    only = aged["instruments"][0]
    assert (only["state"], only["due_date"], only["verify_url"]) == ("OVERDUE", world.day(364), None)
    assert aged["verdict"]["text"]["zh"] == "1 件未在有效期内：超期未检 1 件"


def test_the_notice_carries_nothing_private(api: TestClient, sites: dict[str, Any]) -> None:
    notice = api.get(f"/v1/sites/{sites['stalls']}/notice").json()
    assert set(notice) == NOTICE_KEYS
    assert set(notice["enterprise"]) == {"usci", "name"} and set(notice["site"]) == {"id", "name", "region"}
    for item in notice["instruments"]:
        assert set(item) == INSTRUMENT_KEYS
    text = json.dumps(notice, ensure_ascii=False)
    assert not [p for p in PRIVATE if p in text]
    assert "JD2026" not in text  # no certificate number
    assert "address" not in text and "asset" not in text


def _modules(png: bytes, scale: int, border: int) -> list[list[bool]]:
    """The dark modules of a QR code PNG, read at each module's centre (without the quiet zone)."""
    image = Image.open(io.BytesIO(png)).convert("L")
    side = image.width // scale - 2 * border

    def dark(x: int, y: int) -> bool:
        return bool(image.getpixel(((border + x) * scale + scale // 2, (border + y) * scale + scale // 2)) < 128)

    return [[dark(x, y) for x in range(side)] for y in range(side)]


def test_the_qr_code_encodes_the_site_page(api: TestClient, sites: dict[str, Any]) -> None:
    answer = api.get(f"/v1/sites/{sites['shop']}/qr.png")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    assert answer.content.startswith(b"\x89PNG\r\n\x1a\n")
    expected = segno.make(f"http://testserver/s/{sites['shop']}", error=QR_ERROR, micro=False)
    assert Image.open(io.BytesIO(answer.content)).size == expected.symbol_size(scale=8, border=4)
    assert _modules(answer.content, 8, 4) == [[bool(v) for v in row] for row in expected.matrix]
    # Another site: another symbol.
    other = api.get(f"/v1/sites/{sites['stalls']}/qr.png").content
    assert _modules(other, 8, 4) != _modules(answer.content, 8, 4)


def test_the_qr_code_is_drawn_once_per_address(api: TestClient, sites: dict[str, Any]) -> None:
    """Anonymous requests for a printed poster's code do not each draw it: the second costs a lookup, and answers
    the same bytes."""
    site_qr_png.cache_clear()
    first = api.get(f"/v1/sites/{sites['shop']}/qr.png").content
    second = api.get(f"/v1/sites/{sites['shop']}/qr.png").content
    info = site_qr_png.cache_info()
    assert (first == second, info.misses, info.hits) == (True, 1, 1)


def test_the_qr_code_carries_the_configured_public_address(world: LabWorld, sites: dict[str, Any]) -> None:
    public = "https://tracecert.example.gov.cn"
    app = create_app(app_settings(world, public_url=public), core=world.core, run_worker=False)
    with TestClient(app) as client:  # reached at http://testserver, printed with its public address
        answer = client.get(f"/v1/sites/{sites['shop']}/qr.png")
    expected = segno.make(f"{public}/s/{sites['shop']}", error=QR_ERROR, micro=False)
    assert _modules(answer.content, 8, 4) == [[bool(v) for v in row] for row in expected.matrix]


def test_the_poster_is_one_a4_page_with_the_notice(api: TestClient, world: LabWorld, sites: dict[str, Any]) -> None:
    answer = api.get(f"/v1/sites/{sites['stalls']}/poster.pdf")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-")
    pdf = PdfReader(io.BytesIO(answer.content))
    assert len(pdf.pages) == 1
    box = pdf.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 in points
    text = pdf.pages[0].extract_text()
    for shown in (POSTER_TITLE, ENTERPRISE, STALLS, "S-2", "S-3", "S-4", "在有效期内", "超期未检", "从未检定",
                  world.day(364), f"打印日期：{world.day(0)}", f"http://testserver/s/{sites['stalls']}",
                  "2 件未在有效期内", "扫描二维码查看实时状态"):  # fmt: skip
        assert shown in text, (shown, text)
    assert "S-5" not in text and not [p for p in PRIVATE if p in text]


def test_the_page_is_served_with_its_policy(api: TestClient, sites: dict[str, Any]) -> None:
    page = api.get(f"/s/{sites['shop']}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert '<script type="module" src="/static/site.js">' in page.text
    paths = api.get("/openapi.json").json()["paths"]
    assert "/s/{site_id}" not in paths and "/v1/sites/{site_id}/notice" in paths  # the page is not the API


#: Site ids that are not ones: (path segment, status, code).
BAD_SITES = {
    "unknown": ("0123456789ab", 404, "UNKNOWN_SITE"),
    "too-long": ("0123456789abcdef0", 422, "REQUEST_INVALID"),
    "punctuation": ("abc.def", 422, "REQUEST_INVALID"),
    "non-ascii": ("加油站", 422, "REQUEST_INVALID"),
}


@pytest.mark.parametrize("what", ["notice", "qr.png", "poster.pdf"])
@pytest.mark.parametrize("case", list(BAD_SITES))
def test_a_site_that_is_not_one_is_refused_by_code(api: TestClient, case: str, what: str) -> None:
    site, status, code = BAD_SITES[case]
    assert _code(api.get(f"/v1/sites/{site}/{what}")) == (status, code)


def test_a_renamed_site_keeps_its_page_and_qr_code(api: TestClient, world: LabWorld, sites: dict[str, Any]) -> None:
    """The owner renames the stalls: the same identifier, page, notice and QR code (a printed poster still opens
    it); importing the register again under the new name keeps the site rather than making a new one."""
    own, stalls, renamed = sites["own"], sites["stalls"], "西湖示范加油站农贸市场摊位"
    qr_before = api.get(f"/v1/sites/{stalls}/qr.png").content
    changed = api.patch(f"/v1/sites/{stalls}", json={"name": f" {renamed} "}, headers=own)
    assert changed.status_code == 200 and changed.json() == {"id": stalls, "name": renamed, "region": 330106}
    notice = api.get(f"/v1/sites/{stalls}/notice").json()
    assert notice["site"]["name"] == renamed
    assert [i["serial_number"] for i in notice["instruments"]] == ["S-2", "S-3", "S-4"]
    assert api.get(f"/v1/sites/{stalls}/qr.png").content == qr_before
    again = [_scale(world, serial, renamed) for serial in ("S-2", "S-3", "S-4")]
    assert api.post("/v1/instruments", json={"instruments": again}, headers=own).json()["created"] == 0
    register = api.get("/v1/instruments", headers=own).json()["instruments"]
    assert {i["site"]["id"] for i in register if i["serial_number"] in ("S-2", "S-3", "S-4")} == {stalls}


def test_a_site_moved_to_another_district_takes_its_instruments(
    api: TestClient, world: LabWorld, sites: dict[str, Any]
) -> None:
    """The stalls were registered in 西湖区 by mistake: moved to 上城区 (330102), their instruments and the
    districts' coverage figures follow at once."""
    regulator = bearer(world.regulator_token)

    def registered(region: int) -> int:
        totals = api.get("/v1/coverage", params={"region": region}, headers=regulator).json()["totals"]
        return int(totals["registered"])

    before = (registered(330106), registered(330102))
    moved = api.patch(f"/v1/sites/{sites['stalls']}", json={"region": 330102}, headers=sites["own"])
    assert moved.json()["region"] == 330102
    after = (registered(330106), registered(330102))
    assert before == (4, 0) and after == (1, 3)  # the stalls' three instruments under mandatory verification
    register = api.get("/v1/instruments", headers=sites["own"]).json()["instruments"]
    assert {i["serial_number"]: i["site"]["region"] for i in register} == {
        "S-1": 330106, "S-2": 330102, "S-3": 330102, "S-4": 330102, "S-5": 330102
    }  # fmt: skip


SITE_CHANGES_REFUSED = {
    "no token": (None, "stalls", {"name": "x"}, 401, "UNAUTHORIZED"),
    "a lab": ("lab", "stalls", {"name": "x"}, 403, "NOT_AN_ENTERPRISE"),
    "another enterprise": ("other", "stalls", {"name": "x"}, 403, "NOT_YOUR_SITE"),
    "an unknown site": ("own", "nosuchsite", {"name": "x"}, 404, "UNKNOWN_SITE"),
    "the name of its other site": ("own", "stalls", {"name": SHOP}, 409, "SITE_NAME_TAKEN"),
    "nothing to change": ("own", "stalls", {}, 422, "REQUEST_INVALID"),
    "a blank name": ("own", "stalls", {"name": "   "}, 422, "REQUEST_INVALID"),
    "a name too long": ("own", "stalls", {"name": "站" * 257}, 422, "REQUEST_INVALID"),
    "not a region": ("own", "stalls", {"region": 999999}, 422, "REQUEST_INVALID"),
    "a region as text": ("own", "stalls", {"region": "330102"}, 422, "REQUEST_INVALID"),
    "an unknown field": ("own", "stalls", {"name": "x", "colour": "red"}, 422, "UNKNOWN_FIELD"),
}


@pytest.mark.parametrize("case", list(SITE_CHANGES_REFUSED))
def test_a_site_change_is_refused_by_code(api: TestClient, world: LabWorld, sites: dict[str, Any], case: str) -> None:
    who, site, body, status, code = SITE_CHANGES_REFUSED[case]
    headers = (
        {} if who is None
        else bearer(world.token) if who == "lab"
        else _onboarded(api, world, OTHER) if who == "other"
        else sites["own"]
    )  # fmt: skip
    answer = api.patch(f"/v1/sites/{sites.get(site, site)}", json=body, headers=headers)
    assert _code(answer) == (status, code)
    notice = api.get(f"/v1/sites/{sites['stalls']}/notice").json()["site"]
    assert notice == {"id": sites["stalls"], "name": STALLS, "region": 330106}  # unchanged
