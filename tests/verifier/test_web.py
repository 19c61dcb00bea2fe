"""The verifier's web page in a real browser (Debian's chromium driven by Playwright), against the API served by
uvicorn: the QR-code link of a valid and a revoked certificate, a dropped file, a number, the language toggle."""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def world(client: ChainClient) -> TraceWorld:
    return build_world(client)


@pytest.fixture(scope="module")
def certs(world: TraceWorld) -> dict[str, dict[str, Any]]:
    """A valid chain of three, and a certificate revoked after it was issued."""
    top, mid, leaf = chain_of_three(world)
    d = world.day
    [revoked] = world.issue(
        world.city,
        calibration(
            world.city,
            "HZ-WEB-REVOKED",
            serial="YB-WR",
            item="压力表",
            u="0.01",
            performed=d(-1),
            issued=d(0),
            standards=[standard_from(mid)],
        ),
    )
    world.chain.advance(600)
    world.chain.contracts.revoke(
        world.city.writer, world.city.lab_id, from_hex(revoked["digest"]), RevocationReason.ERROR_IN_CONTENT
    )
    return {"top": top, "mid": mid, "leaf": leaf, "revoked": revoked}


@pytest.fixture(scope="module")
def base_url(world: TraceWorld, certs: dict[str, Any]) -> Iterator[str]:
    """The verifier served by uvicorn in a thread on a free port."""
    app = create_app(VerifierSettings(rate_limit_per_minute=0), verifier=world.verifier)
    with serving(app) as url:
        yield url



@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Page]:
    """A fresh page that records every request and every console error."""
    with recording_page(browser) as pg:
        yield pg
        # Everything the page loaded came from the verifier itself, and nothing went wrong in it.
        outside = [u for u in pg.requests if not u.startswith(base_url) and not u.startswith("data:")]  # type: ignore[attr-defined]
        assert not outside, outside
        assert not [e for e in pg.errors if "404" not in e], pg.errors  # type: ignore[attr-defined]


def wait_for_verdict(page: Page) -> Any:
    verdict = page.locator("#verdict[data-verdict]")
    verdict.wait_for(timeout=30_000)
    return verdict


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, (path, len(data))


def test_qr_link_of_a_valid_certificate(page: Page, base_url: str, certs: dict[str, Any], tmp_path: Path) -> None:
    leaf = certs["leaf"]
    page.goto(f"{base_url}/c/{leaf['digest']}")
    verdict = wait_for_verdict(page)
    assert verdict.get_attribute("data-verdict") == "VALID"
    assert page.locator("#verdict-title").inner_text() == "有效"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    # The traceability graph: three certificates, the NMI at the top, two links.
    nodes = page.locator("#trace-graph g.node")
    assert nodes.count() == 3
    assert page.locator("#trace-graph g.edge").count() == 2
    nmi = page.locator('#trace-graph g.node[data-lab-kind="NMI"]')
    nmi_text = nmi.text_content() or ""
    assert "中国计量科学研究院" in nmi_text and "国家计量院" in nmi_text
    nmi_y = float(nmi.locator("rect").get_attribute("y") or 0)
    leaf_y = float(page.locator(f'#trace-graph g.node[data-digest="{leaf["digest"]}"] rect').get_attribute("y") or 0)
    assert nmi_y < leaf_y
    # Every check is listed, by family, all passed.
    assert page.locator(".check").count() >= 25
    assert page.locator('.check[data-outcome="FAIL"]').count() == 0
    assert page.locator('.family[data-family="traceability"] .check').count() >= 7
    assert "HZ-2026-C0033" in page.locator("#certificate").inner_text()
    assert leaf["anchor"]["root"] in page.locator("#anchor").inner_text()
    shot = tmp_path / "valid-zh.png"
    page.screenshot(path=str(shot), full_page=True)
    assert_png(shot)


def test_qr_link_of_a_revoked_certificate(page: Page, base_url: str, certs: dict[str, Any], tmp_path: Path) -> None:
    page.goto(f"{base_url}/c/{certs['revoked']['digest']}")
    verdict = wait_for_verdict(page)
    assert verdict.get_attribute("data-verdict") == "INVALID"
    assert page.locator("#verdict-title").inner_text() == "无效"
    assert "invalid" in (verdict.get_attribute("class") or "")
    failed = page.locator('.check[data-code="NOT_REVOKED"][data-outcome="FAIL"]')
    assert failed.count() == 1 and "证书已被撤销" in failed.inner_text()
    assert page.locator('#reasons .reason[data-code="NOT_REVOKED"]').count() == 1
    # Its standards are still fine: the graph shows the revoked certificate red, its parents green.
    assert page.locator("#trace-graph g.node").count() == 3
    assert page.locator("#trace-graph g.node.invalid").count() == 1
    assert page.locator("#trace-graph g.node.valid").count() == 2
    shot = tmp_path / "revoked-zh.png"
    page.screenshot(path=str(shot), full_page=True)
    assert_png(shot)


def test_drop_a_file_and_switch_language(page: Page, base_url: str, certs: dict[str, Any], tmp_path: Path) -> None:
    import json

    page.goto(base_url + "/")
    assert page.locator("#result").is_hidden()
    bundle = tmp_path / "certificate.json"
    bundle.write_text(json.dumps(certs["mid"], ensure_ascii=False), encoding="utf-8")
    page.set_input_files("#file-input", str(bundle))
    verdict = wait_for_verdict(page)
    assert verdict.get_attribute("data-verdict") == "VALID"
    assert page.locator("#trace-graph g.node").count() == 2
    assert "ZJ-2026-Y0101" in page.locator("#verdict-sub").inner_text()
    toggle = page.locator("#lang-toggle")
    assert toggle.inner_text() == "English"
    toggle.click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#verdict-title").inner_text() == "Valid"
    assert page.locator("h1").inner_text() == "TraceCert certificate verification"
    assert toggle.inner_text() == "中文"
    assert page.locator("#status").inner_text() == "Verification finished: Valid"
    nmi = page.locator('#trace-graph g.node[data-lab-kind="NMI"]')
    assert "National metrology institute" in (nmi.text_content() or "")
    shot = tmp_path / "dropped-en.png"
    page.screenshot(path=str(shot), full_page=True)
    assert_png(shot)
    # The choice is remembered.
    page.reload()
    assert page.locator("h1").inner_text() == "TraceCert certificate verification"
    toggle = page.locator("#lang-toggle")
    toggle.click()
    assert page.locator("h1").inner_text() == "TraceCert 证书核验"


def test_number_form_unknown_digest_and_bad_input(
    page: Page, base_url: str, world: TraceWorld, certs: dict[str, Any]
) -> None:
    page.goto(base_url + "/")
    page.fill("#lab-input", world.city.code)
    page.fill("#number-input", "HZ-2026-C0033")
    page.click("#number-form button")
    verdict = wait_for_verdict(page)
    assert verdict.get_attribute("data-verdict") == "VALID"
    # A digest nobody anchored: unknown, shown as invalid.
    page.fill("#digest-input", "0x" + "ef" * 32)
    page.click("#digest-form button")
    page.locator('#verdict[data-unknown="true"]').wait_for(timeout=30_000)
    assert page.locator("#verdict-title").inner_text() == "无效：未知证书"
    assert page.url.endswith("/c/0x" + "ef" * 32)
    # A digest pasted as the QR link works too; nonsense is refused in the page.
    page.fill("#digest-input", f"{base_url}/c/{certs['top']['digest']}")
    page.click("#digest-form button")
    page.locator(f'#trace-graph g.node[data-digest="{certs["top"]["digest"]}"]').wait_for(timeout=30_000)
    page.fill("#digest-input", "not a digest")
    page.click("#digest-form button")
    error = page.locator("#error")
    assert error.is_visible() and error.get_attribute("data-code") == "INVALID_DIGEST"


@pytest.fixture(scope="module")
def shown(world: TraceWorld, certs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The four certificates a person most often opens: valid, revoked, substituted (with its replacement) and
    issued outside the lab's scope."""
    d = world.day
    mid = certs["mid"]
    old, out_of_scope = world.issue(
        world.city,
        calibration(world.city, "HZ-WEB-OLD", serial="YB-WS", item="压力表", u="0.01", performed=d(-1), issued=d(0),
                    standards=[standard_from(mid)]),
        calibration(world.city, "HZ-WEB-SCOPE", serial="YB-WO", item="压力表", u="0.01", performed=d(-1),
                    issued=d(0), standards=[standard_from(mid)]) | {"item": {
                        "name": "电子天平", "category_code": "MASS", "manufacturer": "某衡器厂", "model": "T-1",
                        "serial_number": "YB-WO"}},
    )  # fmt: skip
    [new] = world.issue(
        world.city,
        calibration(world.city, "HZ-WEB-NEW", serial="YB-WS", item="压力表", u="0.01", performed=d(-1), issued=d(0),
                    standards=[standard_from(mid)]),
    )  # fmt: skip
    world.chain.contracts.substitute(world.city.writer, world.city.lab_id, from_hex(old["digest"]),
                                     from_hex(new["digest"]))  # fmt: skip
    return {"valid": certs["leaf"], "revoked": certs["revoked"], "substituted": old, "out_of_scope": out_of_scope}




@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("which", ["valid", "revoked", "substituted", "out_of_scope"])
def test_nothing_internal_is_shown_to_a_person(
    page: Page, base_url: str, shown: dict[str, dict[str, Any]], which: str, lang: str, tmp_path: Path
) -> None:
    """No unix time, no bare reason number, no check code without its name, no English inside the Chinese page."""
    page.goto(f"{base_url}/c/{shown[which]['digest']}?lang={lang}")
    wait_for_verdict(page)
    text = page.locator("#result").inner_text()
    assert not UNIX_TIME.search(text), UNIX_TIME.search(text)
    if lang == "zh":
        assert not ENGLISH_PROSE.search(text), ENGLISH_PROSE.search(text)
    for item in page.locator(".check, #reasons .reason[data-code]").all():
        name = item.locator(".check-name").inner_text()
        assert name and name != item.get_attribute("data-code"), item.inner_text()
    failing = {"valid": None, "revoked": "NOT_REVOKED", "substituted": "NOT_SUBSTITUTED", "out_of_scope": "LAB_SCOPE"}
    code = failing[which]
    if code is not None:
        reason = page.locator(f'#reasons .reason[data-code="{code}"]').inner_text()
        expected = {
            ("NOT_REVOKED", "zh"): "证书内容有误",
            ("NOT_REVOKED", "en"): "error in content",
            ("NOT_SUBSTITUTED", "zh"): "被新证书",
            ("NOT_SUBSTITUTED", "en"): "substituted by",
            ("LAB_SCOPE", "zh"): "MASS 质量的校准",  # the category by its name (tracecert/instruments.json)
            ("LAB_SCOPE", "en"): "calibration of MASS mass",
        }[(code, lang)]
        assert expected in reason, reason
        assert "(UTC+8)" in reason or code == "LAB_SCOPE", reason
    category = shown[which]["record"]["item"]["category_code"]
    facts = page.locator("#certificate").inner_text()
    assert category_label(category, zh=lang == "zh") in facts, facts
    shot = tmp_path / f"{which}-{lang}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert_png(shot)
