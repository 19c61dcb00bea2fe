"""The regulators' page's 检定率 tab in a real browser (Debian's chromium driven by Playwright) over real HTTP: a
region's instruments under mandatory verification set up through the real API (enterprises self-registered and
confirmed, their registers, certificates issued, anchored, one failed, one revoked); the tab's totals, its two
Chart.js charts (检定率 by category, month by month) and its tables hold exactly the figures GET /v1/coverage
answers for the same query; the overdue list with its states named (zh/en) and due dates; the CSV and Excel files;
a pending enterprise confirmed with the button; refusals by code; no unix time and no English prose in Chinese."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from registry.anchoring import AnchoringWorker
from tests.browser import ENGLISH_PROSE, UNIX_TIME, skip_without_chromium
from tests.registry.conftest import LabWorld
from tests.registry.pages.test_web_regulator import HEX, signed_in
from tracecert_app.story import usci

pytestmark = [pytest.mark.chain, skip_without_chromium]

#: A gas station in Hangzhou (330106) and a market in Ningbo (330203): both under the world's regulator (330000).
STATION = usci("91330106MA27XK5L3")
MARKET = usci("91330203MA2CJ7LT4")
#: Registered itself, waiting for the regulator: confirmed with the page's button.
WAITING = usci("91330105MA28LT6B4")
WAITING_NAME = "杭州拱墅某超市有限公司"
#: The only Latin words the Chinese view may show (the files' formats); digests and credit codes aside.
LATIN_ALLOWED = {"CSV", "Excel"}
USCI_TEXT = re.compile(r"\b[0-9A-Z]{18}\b")


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _scale(serial: str, region: int, site: str) -> dict[str, Any]:
    """An electronic price scale of the world's records' maker (a serial the lab's records may name)."""
    return {"category": "电子计价秤", "use": "TRADE", "manufacturer": "某衡器有限公司", "model": "ACS-30",
            "serial_number": serial, "site": site, "site_region": region, "period_months": 12}  # fmt: skip


def _dispenser(serial: str, region: int, site: str) -> dict[str, Any]:
    return {"category": "燃油加油机", "use": "TRADE", "mandatory": True, "manufacturer": "正星科技", "model": "CS46",
            "serial_number": serial, "site": site, "site_region": region, "period_months": 6}  # fmt: skip


def _enterprise(api: Callable[..., httpx.Response], world: LabWorld, code: str, name: str) -> dict[str, str]:
    """Registered by itself, confirmed by the province's regulator: the enterprise's headers."""
    made = _ok(api("POST", "/v1/enterprises", json={"usci": code, "name": name}), 201)
    assert _ok(api("POST", f"/v1/enterprises/{code}/confirm", headers=bearer(world.regulator_token)))["state"] == (
        "CONFIRMED"
    )
    return bearer(made["token"])


def _issue(api: Callable[..., httpx.Response], world: LabWorld, number: str, **changes: Any) -> str:
    answer = _ok(api("POST", "/v1/certificates", json={"record": world.record(number, **changes)},
                     headers=bearer(world.token)), 201)  # fmt: skip
    return str(answer["digest"])


@pytest.fixture
def region(world: LabWorld, base_url: str) -> dict[str, Any]:
    """Seven instruments under mandatory verification in Zhejiang, all through the API: in Hangzhou a scale in force,
    one failed (a 检定结果通知书), one overdue (its certificate revoked) and two dispensers never verified; in Ningbo a
    scale in force and a dispenser never verified. One more enterprise waits for the regulator."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        api = client.request
        station = _enterprise(api, world, STATION, "杭州西湖示范加油站有限公司")
        market = _enterprise(api, world, MARKET, "宁波海曙某农贸市场有限公司")
        rows = [_scale("A2310045", 330106, "便利店"), _scale("B-2", 330106, "便利店"), _scale("C-3", 330106, "便利店"),
                _dispenser("ZX-1", 330106, "加油区"), _dispenser("ZX-2", 330106, "加油区")]  # fmt: skip
        assert _ok(api("POST", "/v1/instruments", json={"instruments": rows}, headers=station))["created"] == 5
        rows = [_scale("N-1", 330203, "水产摊位"), _dispenser("ZX-9", 330203, "加油区")]
        assert _ok(api("POST", "/v1/instruments", json={"instruments": rows}, headers=market))["created"] == 2
        _ok(api("POST", "/v1/enterprises", json={"usci": WAITING, "name": WAITING_NAME}), 201)

        _issue(api, world, "JD2026-C0001")  # the record's own scale, A2310045
        _issue(api, world, "JD2026-C0002", item__serial_number="N-1", customer__usci=MARKET)
        revoked = _issue(api, world, "JD2026-C0003", item__serial_number="C-3")
        _issue(api, world, "TZ2026-C0004", kind="VERIFICATION_FAIL_NOTICE", conclusion="FAIL",
               dates__valid_until=None, item__serial_number="B-2")  # fmt: skip
        AnchoringWorker(world.core).drain()
        revoking = api("POST", f"/v1/certificates/{revoked}/revoke", json={"reason": 1}, headers=bearer(world.token))
        assert revoking.is_success, revoking.text
        AnchoringWorker(world.core).drain()
    return {"on": world.day(0)}


def coverage(base_url: str, world: LabWorld, **params: Any) -> Any:
    """GET /v1/coverage as the page's regulator."""
    return _ok(httpx.get(f"{base_url}/v1/coverage", params=params, headers=bearer(world.regulator_token), timeout=60))


def charts(page: Any) -> dict[str, Any]:
    """Both charts as Chart.js holds them: type, labels, data."""
    return dict(
        page.evaluate(
            """() => Object.fromEntries(['category', 'trend'].map((name) => {
                const chart = Chart.getChart(document.getElementById('coverage-' + name + '-chart'));
                return [name, {type: chart.config.type, labels: chart.data.labels, data: chart.data.datasets[0].data}];
            }))"""
        )
    )


def percent(rate: float | None) -> str:
    """A rate as the page shows it."""
    return "—" if rate is None else f"{rate * 100:.1f}%"


def show(page: Any, region: str, on: str, category: str = "") -> None:
    """Fill the form and wait for the figures (charts drawn when there is anything to draw)."""
    page.fill("#c-region", region)
    page.fill("#c-on", on)
    page.fill("#c-category", category)
    page.evaluate("() => document.getElementById('coverage-summary').removeAttribute('data-on')")
    page.click("#coverage-form button[type=submit]")
    page.locator(f'#coverage-summary[data-on="{on}"]').wait_for(timeout=60_000)
    page.wait_for_function("() => !document.body.classList.contains('busy')", timeout=60_000)


def figures_match(page: Any, stats: dict[str, Any]) -> None:
    """The totals, the charts and the tables on the page are the API's figures."""
    for key, value in stats["totals"].items():
        figure = page.locator(f'#coverage-totals .figure[data-key="{key}"]')
        assert figure.get_attribute("data-value") == ("" if value is None else str(value)), key
        shown = figure.locator(".figure-value").inner_text()
        assert shown == (percent(value) if key == "rate" else str(value)), key
    page.locator('#coverage-trend-chart[data-drawn="true"]').wait_for(timeout=30_000)
    drawn = charts(page)
    assert drawn["category"] == {
        "type": "bar",
        "labels": [c["category"] for c in stats["by_category"]],
        "data": [c["rate"] for c in stats["by_category"]],
    }
    assert drawn["trend"] == {
        "type": "line",
        "labels": [m["month"] for m in stats["trend"]],
        "data": [m["rate"] for m in stats["trend"]],
    }
    regions = page.locator("#coverage-region-table tbody tr")
    assert [r.get_attribute("data-region") for r in regions.all()] == [str(r["region"]) for r in stats["by_region"]]
    for row, r in zip(regions.all(), stats["by_region"], strict=True):
        cells = row.locator("td").all_inner_texts()
        expected = [r[k] for k in ("region", "registered", "in_force", "overdue", "failed", "never_verified")]
        assert cells == [*map(str, expected), percent(r["rate"])]
    months = page.locator("#coverage-trend-table tbody tr")
    assert [m.locator("td").all_text_contents() for m in months.all()] == [
        [m["month"], m["on"], str(m["registered"]), str(m["in_force"]), percent(m["rate"])] for m in stats["trend"]
    ]


def shows_nothing_internal(text: str, lang: str) -> None:
    """No unix time; in Chinese no English prose and no Latin word but the files' formats (codes aside)."""
    assert not UNIX_TIME.search(text), UNIX_TIME.search(text)
    if lang == "zh":
        assert not ENGLISH_PROSE.search(text), ENGLISH_PROSE.search(text)
        words = set(re.findall(r"[A-Za-z]{3,}", USCI_TEXT.sub("", HEX.sub("", text))))
        assert words <= LATIN_ALLOWED, words - LATIN_ALLOWED


def test_the_coverage_tab_shows_the_apis_figures(
    page: Any, base_url: str, world: LabWorld, region: dict[str, Any], tmp_path: Path
) -> None:
    on = region["on"]
    signed_in(page, base_url, world)
    page.click("#tab-coverage")
    assert page.url.endswith("#coverage")
    # The region is the signed-in regulator's own jurisdiction (GET /v1/me, from the chain); the day is today in
    # China.
    page.wait_for_function("() => document.querySelector('#c-region').value === '330000'", timeout=30_000)
    china_today = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date().isoformat()
    assert page.locator("#c-on").input_value() == china_today

    show(page, "330000", on)
    stats = coverage(base_url, world, region=330000, on=on, months=12)
    # What the world holds, so that the comparison below compares something.
    assert stats["totals"] == {"registered": 7, "in_force": 2, "overdue": 1, "failed": 1, "never_verified": 3,
                               "rate": round(2 / 7, 4)}  # fmt: skip
    assert [(c["category"], c["rate"]) for c in stats["by_category"]] == [("燃油加油机", 0.0), ("电子计价秤", 0.5)]
    assert [(r["region"], r["registered"]) for r in stats["by_region"]] == [(330100, 5), (330200, 2)]
    assert len(stats["trend"]) == 12 and stats["trend"][-1]["on"] == on
    figures_match(page, stats)
    assert page.locator('#coverage-totals .figure[data-key="rate"] .figure-value').inner_text() == "28.6%"
    assert page.locator("#coverage-summary").inner_text() == f"区域 330000，截至 {on}，全部类别"

    # The instruments not in force: the API's list, in its order, states named and due dates shown.
    late = _ok(httpx.get(f"{base_url}/v1/coverage/overdue", params={"region": 330000, "on": on, "limit": 200},
                         headers=bearer(world.regulator_token), timeout=60))  # fmt: skip
    assert late["total"] == 5 and {i["state"] for i in late["instruments"]} == {"OVERDUE", "FAILED", "NEVER"}
    rows = page.locator("#overdue-table tbody tr")
    assert [r.get_attribute("data-id") for r in rows.all()] == [str(i["id"]) for i in late["instruments"]]
    for row, i in zip(rows.all(), late["instruments"], strict=True):
        cells = row.locator("td").all_inner_texts()
        assert cells[0].split("\n") == [i["enterprise"], i["usci"]]
        assert cells[1:6] == [i["site"], str(i["region"]), i["category"], i["serial_number"], "—"]
        assert cells[6] == i["state_name"]["zh"] and cells[6] != i["state"]
        assert cells[7] == (i["due_date"] or "—")
    assert page.locator('#overdue-table tr[data-state="FAILED"] td.state').inner_text() == "检定不合格"
    assert page.locator('#overdue-summary[data-total="5"]').inner_text() == "共 5 台未在有效期内（应检日期最早的在前）"
    shows_nothing_internal(page.locator("#panel-coverage").inner_text(), "zh")
    page.screenshot(path=str(tmp_path / "coverage-zh.png"), full_page=True)

    # The files: the registry's own bytes for the same query, saved under its name.
    with page.expect_download() as saved:
        page.click("#coverage-csv")
    assert saved.value.suggested_filename == f"coverage-330000-{on}.csv"
    got = Path(saved.value.path()).read_bytes()
    direct = httpx.get(f"{base_url}/v1/coverage", params={"region": 330000, "on": on, "months": 12, "format": "csv"},
                       headers=bearer(world.regulator_token), timeout=60)  # fmt: skip
    assert got == direct.content
    table = list(csv.reader(io.StringIO(got.decode("utf-8-sig"))))
    assert table[0] == ["# 概况"] and table[2][:3] == ["330000", on, "7"]
    with page.expect_download() as saved:
        page.click("#coverage-xlsx")
    assert saved.value.suggested_filename == f"coverage-330000-{on}.xlsx"
    book = load_workbook(io.BytesIO(Path(saved.value.path()).read_bytes()))
    assert book.sheetnames == ["概况", "按类别", "按区域", "月度趋势", "超期清单"]
    assert book["超期清单"].max_row == 1 + late["total"]

    # One category: the charts follow the query.
    show(page, "330000", on, "电子计价秤")
    scales = coverage(base_url, world, region=330000, on=on, months=12, category="电子计价秤")
    assert scales["totals"]["registered"] == 4 and scales["totals"]["rate"] == 0.5
    figures_match(page, scales)
    assert page.locator("#overdue-summary").get_attribute("data-total") == "2"

    # English: the same figures; states named in English.
    page.locator("#lang-toggle").click()
    assert page.locator("#tab-coverage").inner_text() == "Coverage"
    figures_match(page, scales)
    assert page.locator('#overdue-table tr[data-state="FAILED"] td.state').inner_text() == "failed its verification"
    shows_nothing_internal(page.locator("#panel-coverage").inner_text(), "en")
    page.locator("#lang-toggle").click()

    # A region with nothing registered says so; no chart is drawn from nothing.
    show(page, "330300", on)
    assert page.locator("#coverage-empty").is_visible() and page.locator("#coverage-charts").is_hidden()
    assert page.locator('#coverage-totals .figure[data-key="rate"] .figure-value').inner_text() == "—"
    assert page.locator("#overdue-summary").inner_text() == "所有备案的强检器具都在有效期内。"

    # The region is kept: the address opens the tab with its figures after a reload.
    page.reload()
    page.locator('#coverage-summary[data-region="330300"]').wait_for(timeout=60_000)
    assert page.locator("#tab-coverage").get_attribute("aria-selected") == "true"


def test_a_pending_enterprise_is_confirmed_with_the_button(
    page: Any, base_url: str, world: LabWorld, region: dict[str, Any]
) -> None:
    regulator = bearer(world.regulator_token)
    signed_in(page, base_url, world)
    page.click("#tab-coverage")
    page.locator('#pending-summary[data-count="1"]').wait_for(timeout=30_000)
    row = page.locator(f'#pending-table tr[data-usci="{WAITING}"]')
    cells = row.locator("td").all_inner_texts()
    listed = _ok(httpx.get(f"{base_url}/v1/enterprises", params={"state": "PENDING"}, headers=regulator))["items"]
    assert [e["usci"] for e in listed] == [WAITING]
    assert cells[:4] == [WAITING_NAME, WAITING, "330105", listed[0]["registered_at"].removesuffix(" (UTC+8)")]
    shows_nothing_internal(page.locator("#pending-card").inner_text(), "zh")

    row.locator("button.confirm-enterprise").click()
    page.locator('#pending-summary[data-count="0"]').wait_for(timeout=30_000)
    assert page.locator("#pending-summary").inner_text() == "没有待确认的企业。"
    assert page.locator(f'#pending-note[data-usci="{WAITING}"]').inner_text() == f"已确认：{WAITING_NAME}"
    assert _ok(httpx.get(f"{base_url}/v1/enterprises", params={"state": "PENDING"}, headers=regulator))["items"] == []
    everyone = _ok(httpx.get(f"{base_url}/v1/enterprises", headers=regulator))["items"]
    confirmed = next(e for e in everyone if e["usci"] == WAITING)
    assert confirmed["state"] == "CONFIRMED"
    assert confirmed["confirmed_by"].lower() == world.province.address.lower()


#: (the region typed, the code shown: the registry's, or the page's own when it sends nothing)
REFUSALS: list[tuple[str, str]] = [
    ("", "REGION_INVALID"),
    ("33", "REGION_INVALID"),
    ("abcdef", "REGION_INVALID"),
    ("320000", "NOT_REGULATOR_OF_REGION"),
    ("0", "NOT_REGULATOR_OF_REGION"),
]


@pytest.mark.parametrize(("typed", "code"), REFUSALS)
def test_refusals_show_their_code(page: Any, base_url: str, world: LabWorld, typed: str, code: str) -> None:
    signed_in(page, base_url, world)
    page.click("#tab-coverage")
    page.locator("#pending-result:not([hidden])").wait_for(timeout=30_000)
    page.locator("#coverage-result:not([hidden])").wait_for(timeout=30_000)  # its own region, shown on opening
    asked = len([u for u in page.requests if "/v1/coverage" in u])
    page.fill("#c-region", typed)
    page.click("#coverage-form button[type=submit]")
    if code == "REGION_INVALID":  # the page's own: nothing sent
        page.locator(f'#c-form-note[data-code="{code}"]:not([hidden])').wait_for(timeout=10_000)
        assert page.locator("#c-form-note").inner_text() == "请填写六位行政区划代码（全国为 0）。"
        assert len([u for u in page.requests if "/v1/coverage" in u]) == asked
    else:
        page.locator(f'#error[data-code="{code}"]').wait_for(timeout=30_000)
        assert page.locator("#error-code").inner_text() == code
        assert page.locator("#error-explained").inner_text() == "本监管机构对该区域没有管辖权。"
        assert page.locator("#app").is_visible()  # a refusal is not a sign-out
