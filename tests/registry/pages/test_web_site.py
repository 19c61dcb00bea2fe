"""A site's 强制检定合格公示 page (/s/{site_id}, what its poster's QR code opens) in a real browser (Debian's chromium
driven by Playwright) on a phone's screen (390x844) over real HTTP: the overall verdict above the fold, one card per
instrument under mandatory verification whose state and due date are the notice API's, a link to each certificate
at the verifier; Chinese first, English by the toggle; no unix time, no English prose in the Chinese view; an
unknown site said so by its code; nothing loaded from off the machine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser import ENGLISH_PROSE, REFUSED, UNIX_TIME, recording_page, skip_without_chromium
from tests.registry.conftest import LabWorld
from tests.registry.test_api import bearer, drain, issue
from tests.registry.test_enterprises import _onboarded

pytestmark = [pytest.mark.chain, skip_without_chromium]

PHONE = {"width": 390, "height": 844}
STALLS = "西湖示范加油站农贸摊位"


@pytest.fixture
def phone(browser: Any, base_url: str, world: LabWorld) -> Iterator[Any]:
    """A fresh page on a phone's screen that records every request, console message and error."""
    with recording_page(browser, viewport=PHONE, is_mobile=True, has_touch=True) as pg:
        yield pg
        outside = [u for u in pg.requests if not u.startswith(base_url) and not u.startswith(("data:", "blob:"))]
        assert not outside, outside
        assert not [e for e in pg.errors if not REFUSED.search(e)], pg.errors


@pytest.fixture
def stalls(base_url: str, world: LabWorld) -> dict[str, Any]:
    """A site with three scales under mandatory verification (in force, overdue by revocation, never verified) and
    one that is not (not listed); its id and its notice as the API gives it."""
    with httpx.Client(base_url=base_url, timeout=60) as api:
        own = _onboarded(api, world)
        item = world.record()["item"]
        rows = [
            {"category": item["name"], "use": use, "manufacturer": item["manufacturer"], "model": item["model"],
             "serial_number": serial, "asset_number": f"ZC-{serial}", "site": STALLS, "site_region": 330106,
             "period_months": 12}
            for serial, use in (("S-2", "TRADE"), ("S-3", "TRADE"), ("S-4", "TRADE"), ("S-5", "OTHER"))
        ]  # fmt: skip
        assert api.post("/v1/instruments", json={"instruments": rows}, headers=own).json()["created"] == 4
        digests = {s: issue(api, world, f"JD2026-W{s}", item__serial_number=s)["digest"] for s in ("S-2", "S-3")}
        drain(world)
        revoked = api.post(f"/v1/certificates/{digests['S-3']}/revoke", json={"reason": 1}, headers=bearer(world.token))
        assert revoked.status_code == 202
        drain(world)
        site_id = api.get("/v1/instruments", headers=own).json()["instruments"][0]["site"]["id"]
        notice = api.get(f"/v1/sites/{site_id}/notice").json()
    assert [i["state"] for i in notice["instruments"]] == ["IN_FORCE", "OVERDUE", "NEVER"]
    return {"id": site_id, "notice": notice}


def _cards(page: Any) -> list[dict[str, Any]]:
    return [
        {
            "serial": card.get_attribute("data-serial"),
            "state": card.locator(".state").inner_text(),
            "due": card.locator('dd[data-key="due"]').inner_text(),
            "verify": card.locator("a.verify").get_attribute("href") if card.locator("a.verify").count() else None,
        }
        for card in page.locator("#cards li.inst").all()
    ]


def _expected(notice: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    return [
        {
            "serial": i["serial_number"],
            "state": i["state_name"][lang],
            "due": i["due_date"] or "—",
            "verify": i["verify_url"],
        }
        for i in notice["instruments"]
    ]


def test_the_verdict_first_then_each_instrument_as_the_api_says(
    phone: Any, base_url: str, stalls: dict[str, Any], tmp_path: Any
) -> None:
    notice = stalls["notice"]
    phone.goto(f"{base_url}/s/{stalls['id']}")
    phone.locator('#notice[data-ready="true"]').wait_for(timeout=30_000)
    assert phone.locator("html").get_attribute("lang") == "zh-CN"
    # The verdict, in its colour, fits the first screen.
    verdict = phone.locator("#verdict")
    box = verdict.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], box
    assert verdict.get_attribute("class") == "verdict invalid"
    assert notice["verdict"]["text"]["zh"] == "2 件未在有效期内：超期未检 1 件，从未检定 1 件"
    assert phone.locator("#verdict-text").inner_text() == notice["verdict"]["text"]["zh"]
    assert phone.locator("#site-name").inner_text() == STALLS
    assert phone.locator("#enterprise-name").inner_text() == notice["enterprise"]["name"]
    # One card per listed instrument: its state (in colour) and due date are the API's; the verifier's link.
    assert _cards(phone) == _expected(notice, "zh")
    assert [c.get_attribute("data-state") for c in phone.locator("#cards li.inst").all()] == [
        "IN_FORCE",
        "OVERDUE",
        "NEVER",
    ]
    colours = [c.evaluate("n => getComputedStyle(n).color") for c in phone.locator("#cards .state").all()]
    assert colours[0] != colours[1] != colours[2] and colours[0] != colours[2]
    assert phone.locator("#poster-link").get_attribute("href") == f"/v1/sites/{stalls['id']}/poster.pdf"
    # Nothing wider than the phone; no unix time; no English prose in the Chinese view.
    assert phone.evaluate("() => document.scrollingElement.scrollWidth") <= PHONE["width"]
    text = phone.locator("body").inner_text()
    assert not UNIX_TIME.search(text) and not ENGLISH_PROSE.search(text), text
    assert "ZC-" not in text and "S-5" not in text
    phone.screenshot(path=str(tmp_path / "site-zh.png"), full_page=True)

    # English, by the toggle: the API's English names; kept for the next visit.
    phone.click("#lang-toggle")
    assert phone.locator("html").get_attribute("lang") == "en"
    assert phone.locator("#verdict-text").inner_text() == notice["verdict"]["text"]["en"]
    assert _cards(phone) == _expected(notice, "en")
    assert phone.locator("#cards dt").first.inner_text() == "Valid until"
    assert not UNIX_TIME.search(phone.locator("body").inner_text())
    phone.reload()
    phone.locator('#notice[data-ready="true"]').wait_for(timeout=30_000)
    assert phone.locator("#verdict-text").inner_text() == notice["verdict"]["text"]["en"]
    phone.click("#lang-toggle")
    assert phone.locator("#verdict-text").inner_text() == notice["verdict"]["text"]["zh"]


def test_an_unknown_site_is_said_so_by_its_code(phone: Any, base_url: str, world: LabWorld) -> None:
    phone.goto(f"{base_url}/s/0123456789ab")
    phone.locator("#error:not([hidden])").wait_for(timeout=30_000)
    assert phone.locator("#error-code").inner_text() == "UNKNOWN_SITE"
    assert phone.locator("#error-explained").inner_text() == "没有找到这个场所的公示，请核对二维码。"
    assert phone.locator("#notice").is_hidden()
    assert not ENGLISH_PROSE.search(phone.locator("body").inner_text())
