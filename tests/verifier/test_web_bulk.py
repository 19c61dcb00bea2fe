"""Bulk verification (批量核验) on the verifier's page, in a real browser (Debian's chromium driven by Playwright)
against the verifier served over HTTP on a real chain: a ZIP, a CSV of digests, several files or a folder go to
``POST /v1/reports``; the progress bar follows ``GET /v1/reports/{id}`` to N / N; the summary, the table (verdicts
and reasons by name, never codes alone or unix times) and the report links agree with the API's own answer; refusals
are said by their code and in Chinese."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import ENGLISH_PROSE, REFUSED, UNIX_TIME, recording_page, skip_without_chromium
from tests.conftest import serving
from tests.verifier.conftest import TraceWorld
from tests.verifier.test_cli_bulk import MEMBER_LIMIT, UNKNOWN, Certs, as_json, make_certs, make_zip
from tests.verifier.world import build_world
from tracecert.chain.client import ChainClient
from tracecert.chain.errors import ChainUnavailable
from tracecert.verification.report import CHECKS
from verifier.api import create_app
from verifier.config import VerifierSettings
from verifier.inputs import Lookup

pytestmark = skip_without_chromium

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[dev]')")
Page = sync_api.Page

#: 64 KiB per file (so that a file over the limit is small enough to upload), no rate limit.
SETTINGS = VerifierSettings(max_upload_bytes=MEMBER_LIMIT, rate_limit_per_minute=0)
#: What each verdict is called, in each language.
NAMES = {
    "zh": {"VALID": "有效", "INVALID": "无效", "UNKNOWN": "无效：未知证书", "ERROR": "无法核验"},
    "en": {"VALID": "Valid", "INVALID": "Invalid", "UNKNOWN": "Invalid: unknown certificate", "ERROR": "Cannot verify"},
}
#: What a failed check's severity is called, in each language.
SEVERITY = {"zh": {"ERROR": "错误", "WARNING": "警告"}, "en": {"ERROR": "error", "WARNING": "warning"}}
#: Each verdict's colour (the page's --valid, --invalid, --unknown).
COLOURS = {"VALID": "rgb(23, 115, 58)", "INVALID": "rgb(179, 38, 30)", "UNKNOWN": "rgb(179, 38, 30)",
           "ERROR": "rgb(95, 99, 104)"}  # fmt: skip
#: The table's rows as the page shows them.
ROWS_JS = """rows => rows.map(r => ({
  path: r.dataset.path, verdict: r.dataset.verdict,
  cells: [...r.cells].map(c => c.innerText.trim()),
  colour: getComputedStyle(r.querySelector('.bulk-verdict')).color,
  reasons: [...r.querySelectorAll('.bulk-reasons li')].map(li => [
    li.dataset.code || '', li.querySelector('.bulk-reason').innerText.trim(),
    li.querySelector('.badge') ? li.querySelector('.badge').innerText.trim() : '', li.title]),
}))"""


@pytest.fixture(scope="module")
def world(client: ChainClient) -> TraceWorld:
    return build_world(client)


@pytest.fixture(scope="module")
def certs(world: TraceWorld) -> Certs:
    return make_certs(world)


@pytest.fixture(scope="module")
def base_url(world: TraceWorld, certs: Certs) -> Iterator[str]:
    """The verifier (every certificate in its source) served over HTTP on a free port."""
    with serving(create_app(SETTINGS, verifier=world.verifier)) as url:
        yield url


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Page]:
    """A fresh page (Chinese) that records every request and every console error."""
    with recording_page(browser) as pg:
        yield pg
        outside = [u for u in pg.requests if not u.startswith(base_url) and not u.startswith("data:")]  # type: ignore[attr-defined]
        assert not outside, outside
        assert not [e for e in pg.errors if not REFUSED.search(e)], pg.errors  # type: ignore[attr-defined]


def choose(page: Page, *files: tuple[str, bytes, str]) -> None:
    """Choose ``files`` (name, content, media type) in the bulk section's file chooser."""
    page.set_input_files("#bulk-files", files=[{"name": n, "buffer": b, "mimeType": m} for n, b, m in files])


def finished(page: Page, status: str = "done") -> str:
    """The report id, once the page says the job is ``status``."""
    page.locator(f'#bulk[data-status="{status}"]').wait_for(timeout=60_000)
    report_id = page.locator("#bulk").get_attribute("data-report-id")
    assert report_id
    return report_id


def api_job(base_url: str, report_id: str) -> dict[str, Any]:
    """``GET /v1/reports/{id}``: the job as the API answers it."""
    answer = httpx.get(f"{base_url}/v1/reports/{report_id}", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def polls(page: Page, report_id: str) -> int:
    """How many times the page asked for the job's progress."""
    return sum(1 for u in page.requests if u.endswith(f"/v1/reports/{report_id}"))  # type: ignore[attr-defined]


def shown_rows(page: Page) -> list[dict[str, Any]]:
    return page.eval_on_selector_all("#bulk-table tbody tr", ROWS_JS)  # type: ignore[no-any-return]


def progress(page: Page) -> tuple[int, int, str]:
    """The progress bar's value and maximum, and what it says."""
    bar = page.locator("#bulk-progress")
    value, maximum = bar.evaluate("b => [b.value, b.max]")
    return int(value), int(maximum), page.locator("#bulk-progress-text").inner_text()


def summary(page: Page) -> dict[str, tuple[str, int]]:
    """The count per verdict: (its name, the count shown)."""
    chips = page.eval_on_selector_all(
        "#bulk-summary .bulk-count",
        "cs => cs.map(c => [c.dataset.verdict, c.querySelector('.bulk-count-name').innerText, "
        "c.querySelector('.bulk-count-n').innerText])",
    )
    return {v: (name, int(n)) for v, name, n in chips}


def reads_well(text: str, lang: str) -> None:
    """No unix time; no English prose on the Chinese page."""
    assert not UNIX_TIME.search(text), UNIX_TIME.search(text)
    if lang == "zh":
        assert not ENGLISH_PROSE.search(text), ENGLISH_PROSE.search(text)


def agrees_with_the_api(page: Page, job: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The table is the API's rows, in order: verdict by name and colour, number, lab, instrument, serial, valid
    until; a verified row's reasons are the checks' names with their codes; the summary is the API's counts."""
    shown = shown_rows(page)
    assert [(r["path"], r["verdict"]) for r in shown] == [(r["path"], r["verdict"]) for r in job["rows"]]
    for seen, row in zip(shown, job["rows"], strict=True):
        path, verdict, _reasons, number, lab, instrument, serial, until = seen["cells"]
        assert path == row["path"] and verdict == NAMES[lang][row["verdict"]]
        assert seen["colour"] == COLOURS[row["verdict"]], seen
        assert (number, lab, instrument, serial) == (
            row["certificate_number"], row["lab"], row["instrument"], row["serial_number"]
        )  # fmt: skip
        if row["valid_until"]:
            assert until == row["valid_until"] and re.fullmatch(r"\d{4}-\d{2}-\d{2}", until)
        if row["verdict"] in ("VALID", "INVALID", "UNKNOWN"):
            codes = [part.split(" ", 1)[0] for part in row["reasons"].split("; ") if part]
            assert [r[0] for r in seen["reasons"]] == codes, seen
            for (_code, said, badge, title), spec in zip(seen["reasons"], (CHECKS[c] for c in codes), strict=True):
                # What the failure means, its severity, and the check's name on hover.
                assert said == (spec.zh if lang == "zh" else spec.en), seen
                assert badge == SEVERITY[lang][spec.severity.value]
                assert title == (spec.name_zh if lang == "zh" else spec.name_en)
    assert summary(page) == {v: (NAMES[lang][v], n) for v, n in job["summary"].items()}
    assert page.locator("#bulk-summary .bulk-total").inner_text() == {"zh": "共 {n} 份", "en": "{n} in all"}[
        lang
    ].format(n=len(job["rows"]))
    return shown


def test_a_zip_with_a_valid_a_revoked_certificate_and_garbage(page: Page, base_url: str, certs: Certs) -> None:
    page.goto(base_url + "/")
    zipped = make_zip(
        {"ok/leaf.json": as_json(certs.leaf), "revoked.json": as_json(certs.revoked), "garbage.bin": bytes(range(200))}
    )
    choose(page, ("certs.zip", zipped, "application/zip"))
    report_id = finished(page)
    job = api_job(base_url, report_id)
    assert job["status"] == "done" and job["summary"] == {"VALID": 1, "INVALID": 1, "ERROR": 1}
    # The progress bar, polled, reached N / N.
    assert progress(page) == (3, 3, "已核验 3 / 3")
    assert polls(page, report_id) >= 1
    shown = {r["path"]: r for r in agrees_with_the_api(page, job, "zh")}
    assert shown["certs.zip!revoked.json"]["reasons"] == [["NOT_REVOKED", "证书已被撤销", "错误", "未被撤销"]]
    assert shown["certs.zip!ok/leaf.json"]["reasons"] == []
    assert shown["certs.zip!garbage.bin"]["reasons"] == [["UNSUPPORTED_MEDIA_TYPE", "不能读取这种文件。", "", ""]]
    assert shown["certs.zip!ok/leaf.json"]["cells"][3] == certs.leaf["record"]["certificate_number"]
    assert (
        "已核验 3 / 3" in page.locator("#bulk").inner_text()
        and "核验完成：共 3 份" in page.locator("#bulk").inner_text()
    )
    # The report files: plain links to the API; the CSV downloaded is the API's bytes.
    hrefs = {
        f: page.locator(f'#bulk-links a[data-format="{f}"]').get_attribute("href") for f in ("csv", "json", "html")
    }
    assert hrefs == {f: f"/v1/reports/{report_id}?format={f}" for f in hrefs}
    with page.expect_download() as download:
        page.click('#bulk-links a[data-format="csv"]')
    saved = Path(download.value.path())
    from_api = httpx.get(base_url + hrefs["csv"], timeout=30)
    assert from_api.status_code == 200 and saved.read_bytes() == from_api.content
    assert saved.read_bytes().startswith(b"\xef\xbb\xbf") and certs.revoked["digest"].encode() in saved.read_bytes()
    assert httpx.get(base_url + hrefs["json"], timeout=30).json() == job["rows"]
    # The polling stopped once the job was done.
    asked = polls(page, report_id)
    page.wait_for_timeout(1500)
    assert polls(page, report_id) == asked
    reads_well(page.locator("body").inner_text(), "zh")


def test_a_csv_of_digests_in_both_languages(page: Page, base_url: str, certs: Certs) -> None:
    page.goto(base_url + "/")
    listed = f"digest\n{certs.leaf['digest']}\n{certs.revoked['digest']}\n{UNKNOWN}\n0x1234\n".encode()
    choose(page, ("certs.csv", listed, "text/csv"))
    job = api_job(base_url, finished(page))
    assert {r["path"]: r["verdict"] for r in job["rows"]} == {
        "certs.csv:2": "VALID", "certs.csv:3": "INVALID", "certs.csv:4": "UNKNOWN", "certs.csv:5": "ERROR"
    }  # fmt: skip
    assert progress(page) == (4, 4, "已核验 4 / 4")
    shown = {r["path"]: r for r in agrees_with_the_api(page, job, "zh")}
    assert shown["certs.csv:4"]["reasons"] == [["ANCHORED", "证书未在链上存证", "错误", "已在链上存证"]]
    assert shown["certs.csv:5"]["reasons"] == [["INVALID_DIGEST", "证书摘要应为 0x 加 64 位十六进制数字。", "", ""]]
    headings = page.eval_on_selector_all("#bulk-table th", "hs => hs.map(h => h.innerText.trim())")
    assert headings[:4] == ["文件", "结论", "结论原因", "证书编号"] and "有效期至" in headings
    reads_well(page.locator("body").inner_text(), "zh")
    # Said again in English: names, headings and the progress; an ERROR row by the service's own message.
    page.click("#lang-toggle")
    page.locator('html[lang="en"]').wait_for()
    shown = {r["path"]: r for r in agrees_with_the_api(page, job, "en")}
    assert progress(page) == (4, 4, "4 / 4 verified")
    assert shown["certs.csv:5"]["reasons"][0][0] == "INVALID_DIGEST"
    assert "is not a certificate digest" in shown["certs.csv:5"]["reasons"][0][1]
    headings = page.eval_on_selector_all("#bulk-table th", "hs => hs.map(h => h.innerText.trim())")
    assert headings[:2] == ["File", "Verdict"]
    reads_well(page.locator("body").inner_text(), "en")


def test_several_files_and_a_folder(page: Page, base_url: str, certs: Certs, tmp_path: Path) -> None:
    """Files chosen together are one job; a folder's files are, by their path in it, its hidden files left out."""
    page.goto(base_url + "/")
    choose(page, ("leaf.json", as_json(certs.leaf), "application/json"),
           ("revoked.json", as_json(certs.revoked), "application/json"))  # fmt: skip
    first = api_job(base_url, finished(page))
    assert {r["path"]: r["verdict"] for r in first["rows"]} == {"leaf.json": "VALID", "revoked.json": "INVALID"}
    agrees_with_the_api(page, first, "zh")
    folder = tmp_path / "certs"
    (folder / "sub").mkdir(parents=True)
    (folder / "leaf.json").write_bytes(as_json(certs.leaf))
    (folder / "sub" / "revoked.json").write_bytes(as_json(certs.revoked))
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    page.set_input_files("#bulk-folder", folder)
    page.wait_for_function(
        "id => document.getElementById('bulk').dataset.reportId !== id && document.getElementById('bulk')"
        ".dataset.status === 'done'",
        arg=first["id"],
        timeout=60_000,
    )
    job = api_job(base_url, finished(page))
    assert {r["path"]: r["verdict"] for r in job["rows"]} == {
        "certs/leaf.json": "VALID", "certs/sub/revoked.json": "INVALID"
    }  # fmt: skip
    agrees_with_the_api(page, job, "zh")
    assert progress(page) == (2, 2, "已核验 2 / 2")


def test_the_progress_bar_follows_the_job(
    page: Page, base_url: str, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the first certificate's verification is held, the page shows 0 / 2 (and keeps asking); released, 2 / 2."""
    release = threading.Event()
    real = Lookup.run

    def held(self: Lookup, verifier: Any) -> Any:
        release.wait(60)
        return real(self, verifier)

    monkeypatch.setattr(Lookup, "run", held)
    page.goto(base_url + "/")
    choose(page, ("two.csv", f"digest\n{certs.leaf['digest']}\n{UNKNOWN}\n".encode(), "text/csv"))
    try:
        report_id = finished(page, "running")
        page.locator("#bulk-progress-text").wait_for()
        assert progress(page) == (0, 2, "已核验 0 / 2")
        assert page.locator("#bulk-status").inner_text() == "正在核验…"
        assert page.locator("#bulk-result").is_hidden()
        page.wait_for_timeout(1200)
        assert polls(page, report_id) >= 2  # every ~500 ms
    finally:
        release.set()
    assert finished(page) == report_id
    assert progress(page) == (2, 2, "已核验 2 / 2")
    assert summary(page) == {"VALID": ("有效", 1), "UNKNOWN": ("无效：未知证书", 1)}


def test_a_job_that_fails_says_why(page: Page, base_url: str, certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chain stops answering during the job: the page says so by its code, in Chinese, and stops asking."""

    def down(self: Lookup, verifier: Any) -> Any:
        raise ChainUnavailable("connection refused")

    monkeypatch.setattr(Lookup, "run", down)
    page.goto(base_url + "/")
    choose(page, ("one.csv", f"digest\n{certs.leaf['digest']}\n".encode(), "text/csv"))
    report_id = finished(page, "failed")
    assert api_job(base_url, report_id)["error"]["code"] == "CHAIN_UNAVAILABLE"
    error = page.locator("#bulk-error")
    assert error.is_visible() and error.get_attribute("data-code") == "CHAIN_UNAVAILABLE"
    assert "CHAIN_UNAVAILABLE" in error.inner_text() and "核验服务暂时连不上区块链" in error.inner_text()
    assert page.locator("#bulk-result").is_hidden()
    asked = polls(page, report_id)
    page.wait_for_timeout(1200)
    assert polls(page, report_id) == asked
    reads_well(page.locator("body").inner_text(), "zh")


def _busy(page: Page) -> None:
    page.route(
        "**/v1/reports",
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "30"},
            json={"error": {"code": "REPORTS_BUSY", "message": "4 reports are being verified; retry in 30 s"}},
        ),
    )


#: (case, what is chosen, what the service is made to answer (None: the real one), the code, what the page says)
REFUSALS = [
    ("empty-zip", [("c.zip", make_zip({}), "application/zip")], None, "REPORT_EMPTY", "没有要核验的证书"),
    ("heading-only-csv", [("c.csv", b"digest\n", "text/csv")], None, "REPORT_EMPTY", "没有要核验的证书"),
    ("not-a-zip", [("c.zip", b"this is not a ZIP archive", "application/zip")], None, "REPORT_INPUT_INVALID",
     "上传的内容无法读取"),
    ("no-known-column", [("c.csv", b"name,serial\nx,y\n", "text/csv")], None, "REPORT_INPUT_INVALID",
     "上传的内容无法读取"),
    ("file-over-limit", [("big.pdf", b"%PDF-1.7\n" + b" " * MEMBER_LIMIT, "application/pdf")], None,
     "REPORT_TOO_LARGE", "上传的内容太大"),
    ("busy", [("c.csv", f"digest\n{UNKNOWN}\n".encode(), "text/csv")], _busy, "REPORTS_BUSY",
     "正在核验的批量任务太多。 请 30 秒后重试。"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "files", "setup", "code", "said"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_are_said_by_code_in_chinese(
    page: Page, base_url: str, case: str, files: list[tuple[str, bytes, str]], setup: Any, code: str, said: str
) -> None:
    if setup is not None:
        setup(page)
    page.goto(base_url + "/")
    choose(page, *files)
    page.locator('#bulk[data-status="refused"]').wait_for(timeout=30_000)
    error = page.locator("#bulk-error")
    assert error.is_visible() and error.get_attribute("data-code") == code
    assert f"请求失败 — {code}：" in error.inner_text() and said in error.inner_text(), error.inner_text()
    assert page.locator("#bulk-result").is_hidden() and page.locator("#bulk-progress-box").is_hidden()
    assert page.locator("#error").is_hidden()  # the single verification's error box is not the bulk's
    reads_well(page.locator("body").inner_text(), "zh")


def test_the_section_is_at_the_start_page_not_on_the_qr_path(page: Page, base_url: str, certs: Certs) -> None:
    """At / the bulk section follows the forms; at /c/{digest} (verdict first) it is not shown."""
    page.goto(base_url + "/")
    bulk = page.locator("#bulk")
    assert bulk.is_visible() and page.locator("#bulk-title").inner_text() == "批量核验"
    forms = page.locator("#credit-form").bounding_box()
    below = bulk.bounding_box()
    assert forms is not None and below is not None and below["y"] > forms["y"] + forms["height"]
    page.goto(f"{base_url}/c/{certs.leaf['digest']}")
    page.locator('#verdict[data-verdict="VALID"]').wait_for(timeout=30_000)
    assert page.locator("#bulk").is_hidden()
