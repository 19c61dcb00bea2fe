"""The lab directory (机构名录) on the verifier's web page, in a real browser (Debian's chromium driven by Playwright)
against the API served by uvicorn over a real chain and the verifier's index: the list, its filters (and their
refusals by machine code), a lab's page with its history (authorizations and scope, status changes with their reasons
by name, keys, credit record) and the chart of certificates anchored per month drawn by Chart.js served by the
verifier itself; both languages; no unix time, no English on the Chinese page, no request off the machine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.browser import ENGLISH_PROSE, REFUSED, UNIX_TIME, recording_page, skip_without_chromium
from tests.conftest import serving
from tests.verifier.api.test_directory import CITY, FINE_CASE, NMI, PROVINCIAL, RENEWAL, build_directory_scene
from tests.verifier.conftest import TraceWorld, open_index
from tests.verifier.world import build_world
from tracecert.chain.client import ChainClient
from tracecert.verification.engine import Verifier
from verifier.api import create_app
from verifier.config import VerifierSettings
from verifier.index import Index

pytestmark = skip_without_chromium

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[dev]')")
Page = sync_api.Page

UNREGISTERED = "0x" + "ab" * 32


@pytest.fixture(scope="module")
def world(client: ChainClient) -> TraceWorld:
    return build_world(client)


@pytest.fixture(scope="module")
def scene(world: TraceWorld) -> dict[str, Any]:
    return build_directory_scene(world)


@pytest.fixture(scope="module")
def index(world: TraceWorld, scene: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    idx = open_index(world, tmp_path_factory.mktemp("web-directory") / "index.db", lambda url: None)
    idx.sync()
    yield idx
    idx.close()


@contextmanager
def served(verifier: Verifier) -> Iterator[str]:
    """The verifier's app served by uvicorn in a thread on a free port; its base URL."""
    app = create_app(VerifierSettings(rate_limit_per_minute=0), verifier=verifier)
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def base_url(world: TraceWorld, index: Index) -> Iterator[str]:
    with served(Verifier(index, world.source)) as url:
        yield url



@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    """A fresh page that records every request and every console error."""
    with recording_page(browser) as pg:
        yield pg
        outside = [u for u in pg.requests if not u.startswith("http://127.0.0.1:") and not u.startswith("data:")]  # type: ignore[attr-defined]
        assert not outside, outside
        assert not [e for e in pg.errors if not REFUSED.search(e)], pg.errors  # type: ignore[attr-defined]


def rows(page: Page) -> list[str]:
    return [r.locator("a.lab-link").inner_text() for r in page.locator("#labs-table tr[data-lab-id]").all()]


def wait_for_list(page: Page, count: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('#labs-table tr[data-lab-id]').length === n"
        " || (n === 0 && document.querySelector('#labs-table .no-labs') !== null)",
        arg=count,
        timeout=30_000,
    )


def shows_nothing_internal(text: str, lang: str) -> None:
    """No unix time; no English prose on the Chinese page."""
    assert not UNIX_TIME.search(text), UNIX_TIME.search(text)
    if lang == "zh":
        assert not ENGLISH_PROSE.search(text), ENGLISH_PROSE.search(text)


def test_the_list(page: Page, base_url: str, world: TraceWorld, tmp_path: Path) -> None:
    page.goto(base_url + "/")
    page.locator("#nav-directory").click()
    wait_for_list(page, 3)
    assert page.url == base_url + "/labs" and page.title() == "机构名录 — TraceCert"
    assert page.locator("#nav-directory").get_attribute("aria-current") == "page"
    assert page.locator(".inputs").is_hidden() and page.locator("#result").is_hidden()
    assert rows(page) == [NMI, PROVINCIAL, CITY]
    assert "共 3 家机构" in page.locator("#labs-summary").inner_text()
    city = page.locator(f'#labs-table tr[data-lab-id="{world.city.hex_id}"]')
    assert city.get_attribute("data-status") == "SUSPENDED"
    text = city.inner_text()
    for said in ("法定计量检定机构", "330100", "暂停", RENEWAL, "JJG52 检定", "较差"):
        assert said in text, text
    assert city.locator(".grade").get_attribute("data-grade") == "C"
    shows_nothing_internal(page.locator("#directory").inner_text(), "zh")
    page.screenshot(path=str(tmp_path / "directory-zh.png"), full_page=True)

    page.locator("#lang-toggle").click()
    assert page.locator("#directory-title").inner_text() == "Lab directory"
    assert "3 lab(s) as of" in page.locator("#labs-summary").inner_text()
    assert "Suspended" not in city.inner_text() and "suspended" in city.inner_text()  # the chain's own names
    shows_nothing_internal(page.locator("#directory").inner_text(), "en")


#: (the filters filled in, the labs listed)
FILTERS: list[tuple[dict[str, str], list[str]]] = [
    ({"#f-status": "SUSPENDED"}, [CITY]),
    ({"#f-jurisdiction": "330000", "#f-category": "PRESSURE"}, [PROVINCIAL]),
    ({"#f-kind": "NMI"}, [NMI]),
    ({"#f-expiring": "30"}, [CITY]),
    ({"#f-kind": "ACCREDITED_LAB"}, []),
]


@pytest.mark.parametrize(("filled", "listed"), FILTERS)
def test_filters(page: Page, base_url: str, filled: dict[str, str], listed: list[str]) -> None:
    page.goto(base_url + "/labs")
    wait_for_list(page, 3)
    for selector, value in filled.items():
        if selector in ("#f-kind", "#f-status"):
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    page.click("#labs-filter button")
    wait_for_list(page, len(listed))
    assert rows(page) == listed
    assert "?" in page.url and all(v in page.url for v in filled.values())
    if not listed:
        assert page.locator("#labs-table .no-labs").inner_text() == "没有符合条件的机构。"
    page.reload()  # the filters are in the address: a regulator can bookmark or share them
    wait_for_list(page, len(listed))
    assert rows(page) == listed and [page.input_value(s) for s in filled] == list(filled.values())


#: (the filters filled in, the code the page shows)
REFUSALS: list[tuple[dict[str, str], str]] = [
    ({"#f-jurisdiction": "33"}, "INVALID_JURISDICTION"),
    ({"#f-jurisdiction": "浙江"}, "INVALID_JURISDICTION"),
    ({"#f-category": "J" * 33}, "INVALID_CATEGORY"),
    ({"#f-expiring": "0"}, "INVALID_EXPIRING_WITHIN_DAYS"),
    ({"#f-expiring": "3651"}, "INVALID_EXPIRING_WITHIN_DAYS"),
]


@pytest.mark.parametrize(("filled", "code"), REFUSALS)
def test_filter_refusals(page: Page, base_url: str, filled: dict[str, str], code: str) -> None:
    page.goto(base_url + "/labs")
    wait_for_list(page, 3)
    for selector, value in filled.items():
        page.fill(selector, value)
    page.click("#labs-filter button")
    error = page.locator(f'#error[data-code="{code}"]')
    error.wait_for(timeout=30_000)
    assert error.is_visible() and page.locator("#labs-table tr").count() == 0


def test_a_labs_page_with_its_history_and_chart(
    page: Page, base_url: str, world: TraceWorld, scene: dict[str, Any], tmp_path: Path
) -> None:
    page.goto(base_url + "/labs")
    wait_for_list(page, 3)
    page.locator(f'#labs-table tr[data-lab-id="{world.city.hex_id}"] a.lab-link').click()
    page.locator("#months-chart[data-drawn]").wait_for(state="attached", timeout=30_000)
    assert page.url == f"{base_url}/labs/{world.city.hex_id}"
    lab = page.locator("#lab")
    assert lab.is_visible() and page.locator("#labs-list").is_hidden()
    assert page.locator("#lab-name").inner_text() == CITY
    facts = page.locator("#lab-facts").inner_text()
    for said in (world.city.hex_id, "法定计量检定机构", "暂停", RENEWAL, "JJG52 检定", "杭州市市场监督管理局", "2 张"):
        assert said in facts, facts
    assert page.locator("#lab-grade-now .grade").get_attribute("data-grade") == "C"
    # Authorizations with their scope; status changes with their reasons by name; keys.
    auths = page.locator("#lab-authorizations > li")
    assert [a.get_attribute("data-number") for a in auths.all()] == ["(浙)法计(2020)01023号", RENEWAL]
    assert "PRESSURE 检定、校准" in auths.nth(0).inner_text() and "JJG52 检定" in auths.nth(1).inner_text()
    statuses = page.locator("#lab-statuses > li")
    assert [s.get_attribute("data-status") for s in statuses.all()] == ["ACTIVE", "SUSPENDED"]
    assert statuses.nth(1).get_attribute("data-reason") == "OUTSIDE_SCOPE"
    assert "原因：超出授权范围开展检定校准" in statuses.nth(1).inner_text()
    assert "原因：未说明原因" in statuses.nth(0).inner_text()
    [key] = page.locator("#lab-keys > li").all()
    assert key.get_attribute("data-key-id") == "0x" + world.city.key.key_id.hex() and "未关闭" in key.inner_text()
    # The credit record.
    entries = page.locator("#lab-credit-record .credit-entry")
    assert [e.get_attribute("data-kind") for e in entries.all()] == ["WARNING", "LIFTING", "FINE"]
    assert "已由 #1 解除" in entries.nth(0).inner_text() and "生效中" in entries.nth(2).inner_text()
    assert FINE_CASE in entries.nth(2).inner_text() and "超出授权范围开展检定校准" in entries.nth(2).inner_text()
    # The chart: Chart.js from the verifier itself, its bars the certificates anchored each month.
    assert f"{base_url}/vendor/chart.umd.min.js" in page.requests  # type: ignore[attr-defined]
    drawn = page.evaluate(
        """() => {
            const canvas = document.getElementById('months-chart');
            const chart = Chart.getChart(canvas);
            const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let inked = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
            return {type: chart.config.type, labels: chart.data.labels, data: chart.data.datasets[0].data,
                    inked: inked, width: canvas.width};
        }"""
    )
    months = [r.get_attribute("data-month") for r in page.locator("#months-table tr[data-month]").all()]
    assert drawn["type"] == "bar" and drawn["labels"] == months and len(months) >= 2
    assert sum(drawn["data"]) == 2 and drawn["data"][0] == 1 and drawn["data"][-1] == 1
    assert drawn["inked"] > 1000 and drawn["width"] > 300, drawn
    shows_nothing_internal(lab.inner_text(), "zh")
    page.screenshot(path=str(tmp_path / "lab-zh.png"), full_page=True)

    page.locator("#lang-toggle").click()
    assert page.locator("#statuses-title").inner_text() == "Status changes"
    assert "work outside the authorized scope" in statuses.nth(1).inner_text()
    assert "lifted by #1" in entries.nth(0).inner_text()
    page.locator("#months-chart[data-drawn]").wait_for(state="attached", timeout=30_000)
    assert page.evaluate("() => Chart.getChart('months-chart').data.datasets[0].label") == "Certificates anchored"
    shows_nothing_internal(lab.inner_text(), "en")

    page.locator("#back-to-list").click()
    wait_for_list(page, 3)
    assert page.url == base_url + "/labs" and lab.is_hidden()
    page.go_back()
    page.locator("#lab:not([hidden])").wait_for(timeout=30_000)
    assert page.locator("#lab-name").inner_text() == CITY


def test_a_lab_by_its_code_and_one_nobody_registered(page: Page, base_url: str, world: TraceWorld) -> None:
    page.goto(f"{base_url}/labs/{world.nmi.code}")
    page.locator("#months-chart[data-drawn]").wait_for(state="attached", timeout=30_000)
    assert page.locator("#lab-name").inner_text() == NMI
    assert page.locator("#lab").get_attribute("data-lab-id") == world.nmi.hex_id
    page.goto(f"{base_url}/labs/{UNREGISTERED}")
    page.locator('#error[data-code="UNKNOWN_LAB"]').wait_for(timeout=30_000)
    assert page.locator("#lab").is_hidden()


def test_a_service_on_a_live_node_says_why_there_is_no_directory(page: Page, world: TraceWorld) -> None:
    with served(world.verifier) as url:
        page.goto(url + "/labs")
        page.locator('#error[data-code="DIRECTORY_UNAVAILABLE"]').wait_for(timeout=30_000)
        assert page.locator("#labs-table tr").count() == 0
