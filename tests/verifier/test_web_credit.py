"""The credit record on the verifier's web page, in a real browser (Debian's chromium driven by Playwright) against
the API served by uvicorn over a real chain: the issuing lab's grade and the sanctions in force at issue beside a
report, in both languages; the lab's full record from there; the credit lookup by lab id or USCI, and its refusals
by machine code; a deployment without a credit record."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.browser import ENGLISH_PROSE, REFUSED, UNIX_TIME, recording_page, skip_without_chromium
from tests.conftest import serving
from tests.verifier.conftest import TraceWorld, calibration, chain_of_three, standard_from, usci
from tests.verifier.world import build_world
from tracecert.chain.client import ChainClient
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.types import SanctionKind, SanctionReason
from tracecert.human import local_time
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from verifier.api import create_app
from verifier.config import VerifierSettings

pytestmark = skip_without_chromium

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[dev]')")
Page = sync_api.Page

DAY = 86_400
DECISION = hashlib.sha256("杭市监处罚〔2026〕51号".encode()).digest()
FINE_CASE = "杭市监处罚〔2026〕51号"
ENTERPRISE = usci("91330100MA2H0E001")


@pytest.fixture(scope="module")
def world(client: ChainClient) -> TraceWorld:
    return build_world(client)


@pytest.fixture(scope="module")
def certs(world: TraceWorld) -> dict[str, Any]:
    """A chain of three; then the city lab's record (a rectification order lifted, a fine in force), a certificate
    it issued under the fine, and an enterprise blacklisted."""
    top, mid, _ = chain_of_three(world)
    c, reg, lab = world.chain.contracts, world.city_regulator, world.city.lab_id
    now = world.chain.now()
    c.record_sanction(reg, lab, SanctionKind.RECTIFICATION, SanctionReason.NONCONFORMING_INSTRUMENTS,
                      "杭市监改〔2026〕50号", DECISION, now - 6 * DAY)  # fmt: skip
    c.lift_sanction(reg, lab, 0, SanctionReason.RECTIFIED, "杭市监解〔2026〕50号", DECISION, now - 4 * DAY)
    c.record_sanction(reg, lab, SanctionKind.FINE, SanctionReason.STANDARD_NOT_TRACEABLE, FINE_CASE, DECISION,
                      now - DAY)  # fmt: skip
    c.record_sanction(reg, ENTERPRISE, SanctionKind.BLACKLIST, SanctionReason.FALSE_CERTIFICATE,
                      "杭市监黑〔2026〕52号", DECISION, now - 2 * DAY)  # fmt: skip
    d = world.day
    [fined] = world.issue(
        world.city,
        calibration(world.city, "HZ-CREDIT-1", serial="YB-CR1", item="压力表", u="0.01", performed=d(-1),
                    issued=d(0), standards=[standard_from(mid)]),
    )  # fmt: skip
    return {"top": top, "fined": fined, "fine_from": local_time(now - DAY)}


@contextmanager
def served(verifier: Verifier) -> Iterator[str]:
    """The verifier's app served by uvicorn in a thread on a free port; its base URL."""
    app = create_app(VerifierSettings(rate_limit_per_minute=0), verifier=verifier)
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def base_url(world: TraceWorld, certs: dict[str, Any]) -> Iterator[str]:
    with served(world.verifier) as url:
        yield url



@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    """A fresh page that records every request and every console error."""
    with recording_page(browser) as pg:
        yield pg
        outside = [u for u in pg.requests if not u.startswith("http://127.0.0.1:") and not u.startswith("data:")]  # type: ignore[attr-defined]
        assert not outside, outside
        assert not [e for e in pg.errors if not REFUSED.search(e)], pg.errors  # type: ignore[attr-defined]


def wait_for_verdict(page: Page) -> Any:
    verdict = page.locator("#verdict[data-verdict]")
    verdict.wait_for(timeout=30_000)
    return verdict


def shows_nothing_internal(text: str, lang: str) -> None:
    """No unix time; no English prose on the Chinese page."""
    assert not UNIX_TIME.search(text), UNIX_TIME.search(text)
    if lang == "zh":
        assert not ENGLISH_PROSE.search(text), ENGLISH_PROSE.search(text)


def test_a_report_shows_the_issuing_labs_grade_and_the_fine_in_force_at_issue(
    page: Page, base_url: str, certs: dict[str, Any], tmp_path: Path
) -> None:
    page.goto(f"{base_url}/c/{certs['fined']['digest']}")
    assert wait_for_verdict(page).get_attribute("data-verdict") == "VALID_WITH_WARNINGS"
    assert page.locator('#reasons .reason[data-code="LAB_CREDIT"]').count() == 1
    card = page.locator("#lab-credit-card")
    assert card.is_visible() and card.locator("h3").inner_text() == "出具机构的信用"
    for where in ("#lab-grade", "#lab-grade-at-issue"):
        grade = page.locator(f"{where} .grade")
        assert grade.get_attribute("data-grade") == "C" and grade.inner_text().split() == ["C", "较差"]
    [fine] = page.locator("#lab-credit .at-issue .credit-entry").all()
    assert fine.get_attribute("data-kind") == "FINE" and fine.get_attribute("data-case") == FINE_CASE
    text = fine.inner_text()
    for said in ("罚款", "计量标准未有效溯源", FINE_CASE, f"{certs['fine_from']} 起，直至解除"):
        assert said in text, text
    shows_nothing_internal(page.locator("#result").inner_text(), "zh")
    page.screenshot(path=str(tmp_path / "credit-zh.png"), full_page=True)

    page.locator("#lang-toggle").click()
    assert card.locator("h3").inner_text() == "The issuing lab's credit"
    assert page.locator("#lab-grade .grade").inner_text().split() == ["C", "poor"]
    text = page.locator("#lab-credit .at-issue .credit-entry").inner_text()
    for said in ("fine", "reference standards not traceable", f"from {certs['fine_from']} until lifted"):
        assert said in text, text
    shows_nothing_internal(page.locator("#result").inner_text(), "en")


def test_the_labs_full_record_from_the_report(page: Page, base_url: str, world: TraceWorld, certs: Any) -> None:
    page.goto(f"{base_url}/c/{certs['fined']['digest']}")
    wait_for_verdict(page)
    assert page.locator("#credit").is_hidden()
    page.locator("#lab-credit-lookup").click()
    page.locator("#credit-grade .grade").wait_for(timeout=30_000)
    assert page.locator("#credit-input").input_value() == world.city.hex_id
    body = page.locator("#credit-body")
    assert world.city.hex_id in body.inner_text() and "杭州市计量检定测试院" in body.inner_text()
    assert page.locator("#credit-grade .grade").get_attribute("data-grade") == "C"
    entries = page.locator("#credit .credit-entry")
    assert [e.get_attribute("data-kind") for e in entries.all()] == ["RECTIFICATION", "LIFTING", "FINE"]
    assert [e.get_attribute("data-in-force") for e in entries.all()] == ["false", "false", "true"]
    assert "已由 #1 解除" in entries.nth(0).inner_text() and "解除 #0" in entries.nth(1).inner_text()
    assert "生效中" in entries.nth(2).inner_text()
    shows_nothing_internal(page.locator("#credit").inner_text(), "zh")
    page.locator("#lang-toggle").click()  # the record is said again in the other language
    assert "lifted by #1" in entries.nth(0).inner_text() and "in force" in entries.nth(2).inner_text()


def test_a_lab_with_a_clean_record(page: Page, base_url: str, certs: dict[str, Any]) -> None:
    page.goto(f"{base_url}/c/{certs['top']['digest']}")
    assert wait_for_verdict(page).get_attribute("data-verdict") == "VALID"
    assert page.locator("#lab-grade .grade").inner_text().split() == ["A", "良好"]
    assert page.locator("#lab-credit .none-at-issue").inner_text() == "出具时没有生效的处罚。"
    assert page.locator("#lab-credit .credit-entry").count() == 0


def test_credit_lookup_of_an_enterprise(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    assert page.locator("#credit-form h3").inner_text() == "信用查询"
    page.fill("#credit-input", ENTERPRISE.lower())
    page.click("#credit-form button")
    page.locator("#credit-grade .grade").wait_for(timeout=30_000)
    assert page.locator("#credit-grade .grade").inner_text().split() == ["D", "失信"]
    text = page.locator("#credit-body").inner_text()
    assert ENTERPRISE in text and "企业" in text
    [entry] = page.locator("#credit .credit-entry").all()
    assert "列入失信黑名单" in entry.inner_text() and entry.get_attribute("data-in-force") == "true"
    assert page.locator("#result").is_hidden() and page.locator("#error").is_hidden()
    shows_nothing_internal(page.locator("#credit").inner_text(), "zh")


UNREGISTERED = "0x" + "ab" * 32

#: (typed into the lookup, the code the page shows)
REFUSALS = [
    ("   ", "REQUEST_INVALID"),  # nothing: refused in the page
    ("0x12", "INVALID_SUBJECT"),
    (ENTERPRISE[:17] + ("0" if ENTERPRISE[17] != "0" else "1"), "INVALID_SUBJECT"),  # a wrong check character
    ("杭州市计量检定测试院", "INVALID_SUBJECT"),
    (UNREGISTERED, "UNKNOWN_LAB"),
]


@pytest.mark.parametrize(("typed", "code"), REFUSALS)
def test_credit_lookup_refusals(page: Page, base_url: str, typed: str, code: str) -> None:
    page.goto(base_url + "/")
    page.fill("#credit-input", typed)
    page.click("#credit-form button")
    error = page.locator(f'#error[data-code="{code}"]')
    error.wait_for(timeout=30_000)
    assert error.is_visible() and page.locator("#credit").is_hidden()


def test_a_deployment_without_a_credit_record(page: Page, world: TraceWorld, certs: dict[str, Any]) -> None:
    """The report shows no credit (there is none to show, which is not a clean one); the lookup says why."""
    old = ChainContracts(world.chain.client, replace(world.chain.contracts.deployment, credit_registry=""))
    with served(Verifier(LiveChainView(old), world.source)) as url:
        page.goto(f"{url}/c/{certs['fined']['digest']}")
        assert wait_for_verdict(page).get_attribute("data-verdict") == "VALID"
        assert page.locator("#lab-credit-card").is_hidden()
        page.fill("#credit-input", world.city.hex_id)
        page.click("#credit-form button")
        page.locator('#error[data-code="CREDIT_RECORD_UNAVAILABLE"]').wait_for(timeout=30_000)
