"""The regulators' page's 双随机抽查 tab in a real browser (Debian's chromium driven by Playwright) over real HTTP:
the draws regulators published, listed; a draw opened with its sample, each item's inspectors, its seed and commit
block, and the file and command to draw it again (``tracecert draw verify``); its results published through the
form and then shown; refusals shown by their code (published already, an item left out, another regulator's
draw); both languages, no unix time, no English in the Chinese view, no request off the machine."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import UNIX_TIME, skip_without_chromium
from tests.registry.conftest import LabWorld
from tests.registry.pages.test_web_regulator import HEX, TOKEN_KEY, sign_in, signed_in
from tracecert.draws import DrawSpec, run

pytestmark = [pytest.mark.chain, skip_without_chromium]

POPULATION = tuple(f"0x{i:064x}" for i in range(1, 21))
PURPOSE = "2026年第四季度计量器具双随机抽查"
INSPECTORS = ("王检查", "李检查", "赵检查")
#: The only Latin words the Chinese view may show: the command that draws it again, and its file.
LATIN_ALLOWED = {"tracecert", "draw", "verify", "json"}


@pytest.fixture
def published(world: LabWorld, base_url: str) -> dict[str, Any]:
    """A draw of 3 of 20 items, 2 of 3 inspectors each, made on the world's chain by the province's regulator and
    published to the registry."""
    spec = DrawSpec(PURPOSE, 330000, POPULATION, 3, INSPECTORS, 2, {"范围": "本省在册的计量技术机构"})
    c = world.chain
    draw = run(spec, c.contracts, world.province, nudge=lambda: c.client.rpc("evm_mine", []), poll=0.01)
    answer = httpx.post(f"{base_url}/v1/draws", json=draw, headers=bearer(world.regulator_token), timeout=60)
    assert answer.status_code == 201, answer.text
    return draw


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def shows_nothing_internal(text: str, lang: str) -> None:
    """No unix time; in the Chinese view, no Latin word but the command's (hex digests aside)."""
    assert not UNIX_TIME.search(text), UNIX_TIME.search(text)
    if lang == "zh":
        words = set(re.findall(r"[A-Za-z]{3,}", HEX.sub("", text)))
        assert words <= LATIN_ALLOWED, words - LATIN_ALLOWED


def open_draw(page: Any, commitment: str) -> None:
    """From the signed-in page: the draws tab, then the draw."""
    page.click("#tab-draws")
    page.locator(f'#draws-table tr[data-commitment="{commitment}"]').wait_for(timeout=30_000)
    page.click(f'#draws-table tr[data-commitment="{commitment}"] .draw-open')
    page.locator(f'#draw-detail[data-commitment="{commitment}"]:not([hidden])').wait_for(timeout=30_000)


def test_a_draw_listed_opened_and_its_results_published(
    page: Any, base_url: str, world: LabWorld, published: dict[str, Any], tmp_path: Path
) -> None:
    commitment, sample = published["commitment"], published["sample"]
    public = httpx.get(f"{base_url}/v1/draws/{commitment}", timeout=30).json()
    signed_in(page, base_url, world)
    page.click("#tab-draws")
    page.locator('#draws-summary[data-count="1"]').wait_for(timeout=30_000)
    assert page.url.endswith("#draws")
    assert page.locator("#draws-summary").inner_text() == "共 1 次已公布的抽查（最新的在前）"
    row = page.locator(f'#draws-table tr[data-commitment="{commitment}"]')
    cells = row.locator("td").all_inner_texts()
    when = public["published_at"].removesuffix(" (UTC+8)")
    assert cells[:5] == [PURPOSE, "330000", when, "3 / 20", "尚未公布"] and len(when) == 16
    assert row.get_attribute("data-results") == "false"

    # The draw: its sample in drawing order, each item's inspectors, the seed and commit block, the command.
    open_draw(page, commitment)
    assert page.url.endswith(f"#draws/{commitment}")
    items = page.locator("#draw-sample tbody tr")
    assert [r.get_attribute("data-item") for r in items.all()] == sample
    for r in items.all():
        inspectors = r.locator("td.inspectors").inner_text().split("、")
        assert inspectors == published["inspectors"][r.get_attribute("data-item")] and len(inspectors) == 2
    assert page.locator('#draw-facts dd[data-key="drawSeed"]').inner_text() == published["seed"]
    assert page.locator('#draw-facts dd[data-key="drawCommitBlock"]').inner_text() == str(published["commit_block"])
    assert page.locator('#draw-facts dd[data-key="drawSeedBlock"]').inner_text() == str(published["seed_block"])
    assert page.locator('#draw-facts dd[data-key="drawInspectors"]').inner_text() == "、".join(sorted(INSPECTORS))
    assert page.locator('#draw-facts dd[data-key="colDrawn"]').inner_text() == "从 20 个对象中抽取 3 个"
    assert page.locator("#draw-population li").count() == 20 and page.locator("#draw-population li.drawn").count() == 3
    file_name = f"draw-{commitment[2:14]}.json"
    assert page.locator("#draw-command").inner_text() == f"tracecert draw verify {file_name}"
    with page.expect_download() as saved:
        page.click("#draw-download")
    assert saved.value.suggested_filename == file_name
    assert json.loads(Path(saved.value.path()).read_text(encoding="utf-8")) == published  # what verify re-runs
    assert page.locator("#draw-results-status").inner_text() == "检查结果尚未公布。"
    shows_nothing_internal(page.locator("#main").inner_text(), "zh")
    page.screenshot(path=str(tmp_path / "draw-zh.png"), full_page=True)

    # The results, through the form: one item failed (with a note), the others passed.
    assert page.locator("#result-form").is_visible()
    for item in sample:
        page.select_option(f'#result-table select[data-item="{item}"]', "FAIL" if item == sample[0] else "PASS")
    page.fill(f'#result-table input[data-item="{sample[0]}"]', "标准器证书已过期")
    page.click("#result-form button[type=submit]")
    page.locator('#draw-results-status[data-results="true"]').wait_for(timeout=30_000)
    stored = httpx.get(f"{base_url}/v1/draws/{commitment}", timeout=30).json()
    assert {k: v["outcome"]["code"] for k, v in stored["results"].items()} == {
        item: "FAIL" if item == sample[0] else "PASS" for item in sample
    }
    assert stored["results"][sample[0]]["note"] == "标准器证书已过期" and stored["results"][sample[1]]["note"] == ""
    assert [r.get_attribute("data-outcome") for r in items.all()] == ["FAIL", "PASS", "PASS"]
    assert items.first.locator("td").all_inner_texts()[3:] == ["不合格", "标准器证书已过期"]
    assert items.nth(1).locator("td").all_inner_texts()[3:] == ["合格", "—"]
    result_at = stored["result_at"].removesuffix(" (UTC+8)")
    assert page.locator("#draw-results-status").inner_text() == f"检查结果已于 {result_at}（北京时间）公布。"
    assert page.locator("#result-form").is_hidden()
    assert row.get_attribute("data-results") == "true"
    assert row.locator("td").nth(4).inner_text() == f"已于 {result_at} 公布"
    shows_nothing_internal(page.locator("#main").inner_text(), "zh")

    # English; and the address opens the draw again after a reload.
    page.locator("#lang-toggle").click()
    assert page.locator("#tab-draws").inner_text() == "Random draws"
    assert items.first.locator("td").all_inner_texts()[3] == "Failed"
    assert page.locator("#draw-results-status").inner_text() == f"Results published {result_at} (China time)."
    assert row.locator("td").nth(3).inner_text() == "3 of 20"
    shows_nothing_internal(page.locator("#main").inner_text(), "en")
    page.locator("#lang-toggle").click()
    page.reload()
    page.locator(f'#draw-detail[data-commitment="{commitment}"]:not([hidden])').wait_for(timeout=30_000)
    assert page.locator("#tab-draws").get_attribute("aria-selected") == "true"
    assert page.locator("#draw-sample tbody tr").count() == 3 and page.locator("#result-form").is_hidden()


#: (what goes wrong, the code the page shows)
RESULT_REFUSALS: list[tuple[str, str]] = [
    ("published meanwhile", "RESULT_EXISTS"),
    ("an item left out", "RESULT_INCOMPLETE"),
    ("another regulator", "DRAW_NOT_YOURS"),
]


@pytest.mark.parametrize(("how", "code"), RESULT_REFUSALS)
def test_result_refusals_show_their_code_and_message(
    page: Any, base_url: str, world: LabWorld, published: dict[str, Any], how: str, code: str
) -> None:
    commitment, sample = published["commitment"], published["sample"]
    if how == "another regulator":
        _, jiangsu = world.core.issue_token("REGULATOR", regulator_address=world.chain.actor("jiangsu").address)
        sign_in(page, base_url, jiangsu)
        page.locator("#app:not([hidden])").wait_for(timeout=30_000)
    else:
        signed_in(page, base_url, world)
    open_draw(page, commitment)
    chosen = sample[1:] if how == "an item left out" else sample
    for item in chosen:
        page.select_option(f'#result-table select[data-item="{item}"]', "PASS")
    if how == "published meanwhile":  # the first publishing, from elsewhere; the form's is the second
        body = {"results": {item: {"outcome": "NOT_INSPECTED", "note": "企业停产"} for item in sample}}
        first = httpx.put(f"{base_url}/v1/draws/{commitment}/result", json=body, headers=bearer(world.regulator_token))
        assert first.status_code == 200, first.text
    page.click("#result-form button[type=submit]")
    page.locator(f'#error[data-code="{code}"]').wait_for(timeout=30_000)
    assert page.locator("#error-code").inner_text() == code
    assert page.locator("#error-explained").inner_text() and page.locator("#error-message").inner_text()
    assert page.locator("#app").is_visible()
    assert page.evaluate(f"() => sessionStorage.getItem('{TOKEN_KEY}')") is not None
    stored = httpx.get(f"{base_url}/v1/draws/{commitment}", timeout=30).json()
    if how == "published meanwhile":  # the results published first are shown beside the refusal, not the form's
        page.locator('#draw-results-status[data-results="true"]').wait_for(timeout=30_000)
        outcomes = page.locator("#draw-sample tbody tr").all()
        assert {r.get_attribute("data-outcome") for r in outcomes} == {"NOT_INSPECTED"}
        assert {v["outcome"]["code"] for v in stored["results"].values()} == {"NOT_INSPECTED"}
        assert page.locator("#result-form").is_hidden()
        first_row = page.locator("#draw-sample tbody tr").first.locator("td").all_inner_texts()
        assert first_row[3:] == ["未能检查", "企业停产"]
    else:  # nothing published; the form keeps what was chosen
        assert stored["results"] is None and page.locator("#result-form").is_visible()
        assert page.locator(f'#result-table select[data-item="{sample[1]}"]').input_value() == "PASS"
    # The tab in Chinese (the refusal's message is the registry's own, shown as it came, beside its code).
    shows_nothing_internal(page.locator("#panel-draws").inner_text(), "zh")
