"""The QR path on a phone, in a real browser (Debian's chromium driven by Playwright) against the verifier served over
HTTP on a real chain: a certificate's QR code opens ``/c/{digest}``, and at a phone's 390 × 844 px the verdict (with
what it means), the instrument, its owner, the lab and the valid-until date come first, above the fold, with the
reasons by name after them and the upload and search forms after the result. A link that cannot be verified says
"cannot verify" (never "invalid"), with the error's code. Opened at ``/``, the forms still come first."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import ENGLISH_PROSE, UNIX_TIME, recording_page, skip_without_chromium
from tests.conftest import serving
from tests.verifier.conftest import TraceWorld, calibration, chain_of_three, standard_from
from tests.verifier.world import build_world
from tracecert.certificate.canonical import from_hex
from tracecert.chain.client import ChainClient
from tracecert.chain.types import RevocationReason
from tracecert.instruments import category_label
from verifier.api import create_app
from verifier.config import VerifierSettings

pytestmark = skip_without_chromium

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[dev]')")
Page = sync_api.Page

PHONE = {"width": 390, "height": 844}
#: What Chromium logs for an answer the page shows as an error: a refusal, the chain down, the network cut.
EXPECTED_ERRORS = re.compile(r"status of (4\d\d|503)|net::ERR_FAILED")
#: What the owner of each certificate is called (the record's customer.name).
OWNERS = {"valid": "杭州某燃气有限公司", "revoked": "某化工有限公司"}
#: What the verdict box says, in each language.
TITLES = {
    ("valid", "zh"): "有效",
    ("valid", "en"): "Valid",
    ("revoked", "zh"): "无效",
    ("revoked", "en"): "Invalid",
    ("unknown", "zh"): "无效：未知证书",
    ("unknown", "en"): "Invalid: unknown certificate",
}
#: The customer's details a public page must not show (they are in every record issued here).
PRIVATE = ("91330100MA2H0000", "usci", "address")


@pytest.fixture(scope="module")
def world(client: ChainClient) -> TraceWorld:
    return build_world(client)


@pytest.fixture(scope="module")
def certs(world: TraceWorld) -> dict[str, dict[str, Any]]:
    """A valid gauge of a gas company, and a chemical company's gauge whose certificate was revoked."""
    _, mid, _ = chain_of_three(world)
    d = world.day
    valid, revoked = world.issue(
        world.city,
        calibration(world.city, "HZ-QR-VALID", serial="YB-QV", item="压力表", u="0.01", performed=d(-1), issued=d(0),
                    valid_until=d(364), standards=[standard_from(mid)], customer=OWNERS["valid"]),
        calibration(world.city, "HZ-QR-REVOKED", serial="YB-QR", item="压力表", u="0.01", performed=d(-1),
                    issued=d(0), valid_until=d(364), standards=[standard_from(mid)], customer=OWNERS["revoked"]),
    )  # fmt: skip
    world.chain.advance(600)
    world.chain.contracts.revoke(
        world.city.writer, world.city.lab_id, from_hex(revoked["digest"]), RevocationReason.ERROR_IN_CONTENT
    )
    return {"valid": valid, "revoked": revoked}


@pytest.fixture(scope="module")
def base_url(world: TraceWorld, certs: dict[str, Any]) -> Iterator[str]:
    """The verifier served over HTTP on a free port."""
    app = create_app(VerifierSettings(rate_limit_per_minute=0), verifier=world.verifier)
    with serving(app) as url:
        yield url


@pytest.fixture
def phone(browser: Any, base_url: str) -> Iterator[Page]:
    """A fresh page the size of a phone that records every request and every console error."""
    with recording_page(browser, viewport=PHONE, is_mobile=True, has_touch=True) as pg:
        yield pg
        outside = [u for u in pg.requests if not u.startswith(base_url) and not u.startswith("data:")]  # type: ignore[attr-defined]
        assert not outside, outside
        assert not [e for e in pg.errors if not EXPECTED_ERRORS.search(e)], pg.errors  # type: ignore[attr-defined]


def box(page: Page, selector: str) -> dict[str, float]:
    """The element's box (top ``y`` and ``bottom``) from the top of the window as it is scrolled now."""
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found | {"bottom": found["y"] + found["height"]}


def fits_the_phone(page: Page) -> None:
    """Nothing is wider than the phone's screen (no sideways scrolling)."""
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], width


def shows_nothing_internal(text: str, lang: str) -> None:
    """No unix time, no customer detail beyond the name, and no English prose on the Chinese page."""
    assert not UNIX_TIME.search(text), UNIX_TIME.search(text)
    for private in PRIVATE:
        assert private not in text, private
    if lang == "zh":
        assert not ENGLISH_PROSE.search(text), ENGLISH_PROSE.search(text)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("which", ["valid", "revoked"])
def test_the_qr_link_shows_the_verdict_first_on_a_phone(
    phone: Page,
    base_url: str,
    world: TraceWorld,
    certs: dict[str, dict[str, Any]],
    which: str,
    lang: str,
    tmp_path: Path,
) -> None:
    bundle = certs[which]
    record = bundle["record"]
    phone.goto(f"{base_url}/c/{bundle['digest']}?lang={lang}")
    verdict = phone.locator("#verdict[data-verdict]")
    verdict.wait_for(timeout=30_000)
    assert verdict.get_attribute("data-verdict") == {"valid": "VALID", "revoked": "INVALID"}[which]
    assert phone.locator("#verdict-title").inner_text() == TITLES[(which, lang)]
    assert {"valid": "valid", "revoked": "invalid"}[which] in (verdict.get_attribute("class") or "").split()
    assert phone.locator("#verdict-meaning").inner_text().strip()
    # Above the fold, and above the upload form, which is after the whole result (below the fold).
    shown = box(phone, "#verdict")
    assert shown["bottom"] <= PHONE["height"], shown
    upload = box(phone, "#dropzone")
    assert shown["bottom"] < upload["y"] and upload["y"] > PHONE["height"], (shown, upload)
    assert box(phone, "#checks")["bottom"] < box(phone, "#other-check")["y"]
    # What a person holding the instrument asks first, inside the verdict box.
    facts = phone.locator("#verdict-facts").inner_text()
    item = record["item"]
    for said in (
        OWNERS[which],
        item["name"],
        item["model"],
        item["serial_number"],
        category_label(item["category_code"], zh=lang == "zh"),
        world.city.name,
        record["dates"]["valid_until"],
    ):
        assert said in facts, (said, facts)
    assert {"zh": "委托方", "en": "Owner (customer)"}[lang] in facts
    # Then the reasons, by name, before the forms.
    reasons = box(phone, "#reasons-card")
    assert shown["bottom"] <= reasons["y"] < box(phone, "#other-check")["y"]
    if which == "revoked":
        reason = phone.locator('#reasons .reason[data-code="NOT_REVOKED"]')
        name = reason.locator(".check-name").inner_text()
        assert name and name != "NOT_REVOKED", reason.inner_text()
    shows_nothing_internal(phone.locator("body").inner_text(), lang)
    fits_the_phone(phone)
    phone.screenshot(path=str(tmp_path / f"qr-{which}-{lang}-first-screen.png"))
    phone.screenshot(path=str(tmp_path / f"qr-{which}-{lang}.png"), full_page=True)


def test_a_form_below_the_result_brings_its_answer_into_view(
    phone: Page, base_url: str, certs: dict[str, dict[str, Any]]
) -> None:
    """On the QR layout the forms are at the bottom: the answer to one is scrolled into view, not left far above."""
    phone.goto(f"{base_url}/c/{certs['revoked']['digest']}")
    phone.locator('#verdict[data-verdict="INVALID"]').wait_for(timeout=30_000)
    phone.fill("#digest-input", certs["valid"]["digest"])
    assert box(phone, "#digest-input")["y"] >= 0 and box(phone, "#verdict")["bottom"] < 0  # scrolled down to the form
    phone.click("#digest-form button")
    phone.locator('#verdict[data-verdict="VALID"]').wait_for(timeout=30_000)
    shown = box(phone, "#verdict")
    assert shown["y"] >= 0 and shown["bottom"] <= PHONE["height"], shown
    assert OWNERS["valid"] in phone.locator("#verdict-facts").inner_text()
    assert phone.url.endswith("/c/" + certs["valid"]["digest"])


def test_an_unknown_digest_is_invalid_without_facts(phone: Page, base_url: str) -> None:
    phone.goto(f"{base_url}/c/0x{'ef' * 32}")
    phone.locator('#verdict[data-unknown="true"]').wait_for(timeout=30_000)
    assert phone.locator("#verdict-title").inner_text() == TITLES[("unknown", "zh")]
    assert "不能视为有效" in phone.locator("#verdict-meaning").inner_text()
    assert phone.locator("#verdict-facts").is_hidden()
    assert box(phone, "#verdict")["bottom"] <= PHONE["height"]


def refuse_with_the_chain_down(page: Page) -> None:
    page.route(
        "**/v1/certificates/**",
        lambda route: route.fulfill(
            status=503,
            json={"error": {"code": "CHAIN_UNAVAILABLE", "message": "the chain node does not answer"}},
        ),
    )


def cut_the_network(page: Page) -> None:
    page.route("**/v1/certificates/**", lambda route: route.abort())


#: (what goes wrong, the link's digest, what breaks the service (None: nothing), the error's code on the page (None
#: when the service cannot be reached), what the error box says in Chinese)
CANNOT_VERIFY = [
    ("link-is-not-a-digest", "not-a-digest", None, "INVALID_DIGEST", "证书摘要应为 0x 加 64 位十六进制数字"),
    ("chain-down", "0x" + "ab" * 32, refuse_with_the_chain_down, "CHAIN_UNAVAILABLE", "核验服务暂时连不上区块链"),
    ("network-cut", "0x" + "ab" * 32, cut_the_network, None, "无法连接核验服务"),
]


@pytest.mark.parametrize(("case", "digest", "setup", "code", "said"), CANNOT_VERIFY, ids=[c[0] for c in CANNOT_VERIFY])
def test_a_link_that_cannot_be_verified_says_so(
    phone: Page, base_url: str, case: str, digest: str, setup: Any, code: str | None, said: str
) -> None:
    if setup is not None:
        setup(phone)
    phone.goto(f"{base_url}/c/{digest}")
    verdict = phone.locator('#verdict[data-verdict="CANNOT_VERIFY"]')
    verdict.wait_for(timeout=30_000)
    assert phone.locator("#verdict-title").inner_text() == "无法核验"
    assert "unknown" in (verdict.get_attribute("class") or "").split()
    assert phone.locator("#verdict-meaning").inner_text().strip()
    error = phone.locator("#error")
    assert error.is_visible()
    assert error.get_attribute("data-code") == code
    assert said in error.inner_text()
    # Nothing of a report is shown, and the verdict box is above the fold.
    for part in ("#reasons-card", "#checks", "#trace", "#verdict-facts"):
        assert phone.locator(part).is_hidden(), part
    assert box(phone, "#verdict")["bottom"] <= PHONE["height"]
    shows_nothing_internal(phone.locator("body").inner_text(), "zh")


def test_the_start_page_keeps_the_forms_first(browser: Any, base_url: str, certs: dict[str, Any]) -> None:
    """At / the forms come first; a digest typed there is verified below them, and the forms stay where they are."""
    with recording_page(browser) as page:
        page.goto(base_url + "/")
        assert page.locator("#dropzone").is_visible() and page.locator("#other-check").is_hidden()
        page.fill("#digest-input", certs["valid"]["digest"])
        page.click("#digest-form button")
        page.locator("#verdict[data-verdict]").wait_for(timeout=30_000)
        assert box(page, "#digest-form")["bottom"] < box(page, "#verdict")["y"]
        assert OWNERS["valid"] in page.locator("#verdict-facts").inner_text()
        assert page.locator("#other-check").is_hidden()
