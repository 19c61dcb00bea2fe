"""The regulators' page (监管端) served by the registry at /regulator, in a real browser (Debian's chromium driven by
Playwright) over real HTTP: signing in with the regulator's token (kept in sessionStorage, never in an address or
the console), the anomaly scan's findings by severity with a Chart.js bar chart of findings by code (Chart.js served
by the registry from node_modules), every page of fraud signals, the downstream impact of the NMI's standard and
its CSV export; refusals shown by their code; both languages; no unix time, no English in the Chinese view, no
request off the machine. The page itself is public and outside the OpenAPI document."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from registry.anchoring import AnchoringWorker
from registry.api import create_app
from registry.api.app import API_ROUTES
from registry.config import RegistrySettings
from registry.db import ApiToken, Certificate, FraudSignal
from registry.issuance import Submission, accept
from registry.onboarding import authorize_lab
from registry.reads import anchored_bundle
from registry.scans import FINDINGS
from tests.browser import UNIX_TIME
from tests.ledger import SCOPE, LabRef, Planted, generate
from tests.registry.conftest import LAB_CODE, OTHER_LAB_CODE, LabWorld, fresh_record
from tracecert.certificate.canonical import from_hex
from tracecert.chain.types import Activity

pytestmark = pytest.mark.chain

TODAY = dt.date(2026, 12, 1)
HEX = re.compile(r"0x[0-9a-fA-F]*(?:…[0-9a-fA-F]*)?")
#: The only Latin words the Chinese view may show (the export's format and the program that opens it).
LATIN_ALLOWED = {"CSV", "Excel"}
TOKEN_KEY = "tracecert.regulator.token"


@pytest.fixture
def ledger(world: LabWorld) -> Planted:
    """A ledger with one anomaly of every kind: those of Hangzhou's lab are the province's regulator's to see. On
    the real chain, the lab's authorization from where the ledger means it to start, for the ledger's scope."""
    nanjing = LabRef(world.other_lab_id, OTHER_LAB_CODE, "南京市计量监督检测院")
    hangzhou = LabRef(world.lab_id, LAB_CODE, "杭州市计量检定测试院")
    planted = generate(world.core, [nanjing, hangzhou], certificates=400, today=TODAY, seed=5)
    authorize_lab(world.chain.contracts, world.province, from_hex(world.lab_id), "(浙)法计(2026)09002号",
                  planted.authorized_from, world.chain.now() + 3 * 365 * 86_400,
                  {c: Activity(a) for c, a in SCOPE.items()})  # fmt: skip
    world.core.forget_chain_answers()
    return planted


def codes_of_lab(world: LabWorld, planted: Planted, lab_id: str) -> set[str]:
    """The codes of the planted findings that concern a certificate of ``lab_id``."""
    with world.core.sessions() as s:
        mine = set(s.scalars(select(Certificate.digest).where(Certificate.lab_id == lab_id)))
    return {code for code, digests in planted.findings if digests & mine}


def sign_in(page: Any, base_url: str, token: str) -> None:
    page.goto(base_url + "/regulator")
    page.locator("#login:not([hidden])").wait_for(timeout=30_000)
    page.fill("#token-input", token)
    page.click("#login-form button[type=submit]")


def signed_in(page: Any, base_url: str, world: LabWorld) -> None:
    sign_in(page, base_url, world.regulator_token)
    page.locator("#app:not([hidden])").wait_for(timeout=30_000)


def scan(page: Any, since: str, until: str) -> None:
    page.fill("#f-since", since)
    page.fill("#f-until", until)
    page.click("#findings-form button[type=submit]")


def wait_for_findings(page: Any, count: int) -> None:
    page.locator(f'#findings-summary[data-count="{count}"]').wait_for(timeout=60_000)
    page.wait_for_function("() => !document.body.classList.contains('busy')", timeout=60_000)


def shows_nothing_internal(text: str, lang: str) -> None:
    """No unix time; in the Chinese view, no Latin word but the allowed ones (hex digests aside)."""
    assert not UNIX_TIME.search(text), UNIX_TIME.search(text)
    if lang == "zh":
        words = set(re.findall(r"[A-Za-z]{3,}", HEX.sub("", text)))
        assert words <= LATIN_ALLOWED, words - LATIN_ALLOWED


def anomalies(base_url: str, token: str, **params: str) -> dict[str, Any]:
    bearer = {"Authorization": f"Bearer {token}"}
    answer = httpx.get(f"{base_url}/v1/anomalies", params=params, headers=bearer, timeout=120)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


# ====================================================================== the page, the token


def test_the_page_is_public_and_outside_the_openapi_document(tmp_path: Path) -> None:
    settings = RegistrySettings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'r.db'}", secret="s" * 40)  # type: ignore[arg-type]
    app = create_app(settings, run_worker=False)
    client = TestClient(app)  # not started: the page and its files need no core
    page = client.get("/regulator")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"] and "监管令牌" in page.text
    assert client.get("/static/regulator.js").status_code == 200
    shared = client.get("/shared/base.css")  # the palette and fonts, shared with the verifier's page
    assert shared.status_code == 200 and "--valid:" in shared.text
    chart = client.get("/vendor/chart.umd.min.js")
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("text/javascript")
    assert "Chart" in chart.text[:2000]
    # The document lists the API's own operations, and nothing of the page.
    paths = set(app.openapi()["paths"])
    api = {r.path_format for m in API_ROUTES for r in m.router.routes
           if isinstance(r, APIRoute) and r.include_in_schema}  # fmt: skip
    assert paths == api and not [p for p in paths if p.startswith(("/regulator", "/vendor", "/static"))]


def test_sign_in_keeps_the_token_in_the_tab_only(page: Any, base_url: str, world: LabWorld) -> None:
    signed_in(page, base_url, world)
    assert page.evaluate(f"() => sessionStorage.getItem('{TOKEN_KEY}')") == world.regulator_token
    assert world.regulator_token not in page.evaluate("() => JSON.stringify(localStorage)")
    assert page.input_value("#token-input") == ""
    assert page.locator("#tab-findings").get_attribute("aria-selected") == "true"
    page.reload()  # the tab keeps it: no second sign-in
    page.locator("#app:not([hidden])").wait_for(timeout=30_000)
    assert page.locator("#login").is_hidden()
    page.click("#logout")
    page.locator("#login:not([hidden])").wait_for(timeout=30_000)
    assert page.evaluate(f"() => sessionStorage.getItem('{TOKEN_KEY}')") is None
    page.reload()
    page.locator("#login:not([hidden])").wait_for(timeout=30_000)
    assert page.locator("#app").is_hidden()


# ====================================================================== 异常发现


def test_findings_by_severity_and_the_chart_by_code(
    page: Any, base_url: str, world: LabWorld, ledger: Planted, tmp_path: Path
) -> None:
    signed_in(page, base_url, world)
    scan(page, "2026-09-01", TODAY.isoformat())
    expected = anomalies(base_url, world.regulator_token, since="2026-09-01", until=TODAY.isoformat())
    hangzhou = codes_of_lab(world, ledger, world.lab_id)
    assert set(expected["by_code"]) == hangzhou and "NUMBER_REUSE" in hangzhou and len(hangzhou) >= 5
    wait_for_findings(page, expected["count"])
    summary = page.locator("#findings-summary").inner_text()
    errors = sum(1 for f in expected["findings"] if f["severity"] == "ERROR")
    assert "2026-09-01 至 2026-12-01" in summary and f"共 {expected['count']} 项发现" in summary
    assert f"错误 {errors} 项" in summary and f"警告 {expected['count'] - errors} 项" in summary
    # The table: errors first, each finding with its name, lab, certificates and evidence.
    rows = page.locator("#findings-table tr.finding")
    assert rows.count() == expected["count"]
    severities = [r.get_attribute("data-severity") for r in rows.all()]
    assert severities == sorted(severities, key=lambda s: s != "ERROR") and {"ERROR", "WARNING"} == set(severities)
    assert [r.get_attribute("data-code") for r in rows.all()] == [f["code"] for f in expected["findings"]]
    assert page.locator("#findings-table tbody[data-severity=ERROR] tr.group").inner_text() == f"错误（{errors} 项）"
    burst = page.locator("#findings-table tr.finding[data-code=BACKDATING_BURST]")
    text = burst.inner_text()
    assert FINDINGS["BACKDATING_BURST"][1] in text and "证书数" in text and "25" in text and "另 21 张" in text
    assert burst.get_attribute("data-lab-id") == world.lab_id and burst.get_attribute("data-digests") == "25"
    backdated = page.locator("#findings-table tr.finding[data-code=BACKDATED]").first.inner_text()
    assert "签发日期" in backdated and "提交存证日期" in backdated and "相隔天数" in backdated
    reuse = page.locator("#findings-table tr.finding[data-code=NUMBER_REUSE]").first.inner_text()
    assert FINDINGS["NUMBER_REUSE"][1] in reuse and "证书编号" in reuse and "JD-" in reuse
    if "first_seen" in expected["findings"][0]:  # the registry records when its scans first found each
        seen = page.locator("#findings-table tr.finding td.first-seen").first.inner_text()
        assert seen == expected["findings"][0]["first_seen"].removesuffix(" (UTC+8)") and len(seen) == 16
    calibration = page.locator("#findings-table tr.finding[data-code=CALIBRATION_AS_VERIFICATION]").first
    assert "强制检定器具\n是" in calibration.inner_text() or "强制检定器具\t是" in calibration.inner_text()
    # The chart: Chart.js from the registry itself, one bar per code, errors first.
    page.locator("#findings-chart[data-drawn]").wait_for(state="attached", timeout=30_000)
    assert f"{base_url}/vendor/chart.umd.min.js" in page.requests
    drawn = chart_drawn(page)
    codes = page.locator("#findings-chart").get_attribute("data-codes").split(",")
    assert drawn["type"] == "bar" and set(codes) == hangzhou
    assert drawn["labels"] == [FINDINGS[c][1] for c in codes]
    assert drawn["data"] == [expected["by_code"][c] for c in codes] and sum(drawn["data"]) == expected["count"]
    assert [FINDINGS[c][0] for c in codes] == sorted((FINDINGS[c][0] for c in codes), key=lambda s: s != "ERROR")
    assert drawn["inked"] > 1000 and drawn["width"] > 300, drawn
    by_code = page.locator("#by-code-table tr[data-code]")
    assert [r.get_attribute("data-code") for r in by_code.all()] == codes
    shows_nothing_internal(page.locator("#main").inner_text(), "zh")
    page.screenshot(path=str(tmp_path / "findings-zh.png"), full_page=True)

    page.locator("#lang-toggle").click()
    page.locator("#findings-chart[data-drawn]").wait_for(state="attached", timeout=30_000)
    assert page.locator("#tab-findings").inner_text() == "Findings"
    assert chart_drawn(page)["labels"] == [FINDINGS[c][2] for c in codes]
    assert FINDINGS["BACKDATING_BURST"][2] in burst.inner_text() and "Certificates" in burst.inner_text()
    assert "Issued 2026-09-01 to 2026-12-01" in page.locator("#findings-summary").inner_text()
    shows_nothing_internal(page.locator("#main").inner_text(), "en")
    page.locator("#lang-toggle").click()
    assert page.locator("#tab-findings").inner_text() == "异常发现"

    # A period before the ledger finds nothing, and says so; a certificate opens its downstream impact.
    scan(page, "2026-01-01", "2026-06-30")
    wait_for_findings(page, 0)
    assert "没有发现异常" in page.locator("#findings-summary").inner_text()
    assert page.locator("#findings-table tr.finding").count() == 0 and page.locator(".chart-box").is_hidden()
    assert page.locator("#chart-note").inner_text() == "没有可绘制的发现。"


def chart_drawn(page: Any) -> dict[str, Any]:
    """The chart's type, labels and data, and how many of its canvas' pixels are inked."""
    return dict(
        page.evaluate(
            """() => {
                const canvas = document.getElementById('findings-chart');
                const chart = Chart.getChart(canvas);
                const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
                let inked = 0;
                for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
                return {type: chart.config.type, labels: chart.data.labels, data: chart.data.datasets[0].data,
                        inked: inked, width: canvas.width};
            }"""
        )
    )


# ====================================================================== 欺诈信号


def test_every_page_of_fraud_signals(page: Any, base_url: str, world: LabWorld, ledger: Planted) -> None:
    # 3 planted number reuses of Hangzhou's lab; 110 more (some of them revoked standards); 10 of Nanjing's.
    recorded = dt.datetime(2026, 10, 1, 1, 30, tzinfo=dt.UTC)  # 09:30 in China
    rows = [
        {
            "kind": "STANDARD_REVOKED" if i % 10 == 0 else "NUMBER_REUSE",
            "lab_id": world.other_lab_id if i >= 110 else world.lab_id,
            "certificate_number": f"XH-{i:04d}",
            "existing_digest": "0x" + f"{i:064x}",
            "attempted_digest": "0x" + f"{i + 1000:064x}",
            "attempted_record": "{}",
            "token_id": 1,
            "created_at": recorded + dt.timedelta(minutes=i % 20),
        }
        for i in range(120)
    ]
    with world.core.sessions.begin() as s:
        s.execute(insert(FraudSignal), rows)
    signed_in(page, base_url, world)
    page.click("#tab-signals")
    page.locator('#signals-summary[data-count="113"]').wait_for(timeout=60_000)
    assert page.url.endswith("#signals")
    listed = page.locator("#signals-table tr[data-signal-id]")
    assert listed.count() == 113 and {r.get_attribute("data-lab-id") for r in listed.all()} == {world.lab_id}
    ids = [int(r.get_attribute("data-signal-id")) for r in listed.all()]
    assert ids == sorted(ids)  # oldest first, across the pages
    reads = [u for u in page.requests if "/v1/fraud-signals?" in u and "limit=100" in u]
    assert len(reads) == 2 and "cursor=" in reads[1]
    assert page.locator("#signals-summary").inner_text() == "共 113 条欺诈信号（分 2 页读取）"
    planted = page.locator('#signals-table tr[data-kind="NUMBER_REUSE"]').first.inner_text()
    assert "证书编号被重复使用" in planted and "2026-09-11 12:00" in planted and "被拒绝的证书" in planted
    revoked = page.locator('#signals-table tr[data-kind="STANDARD_REVOKED"]').first.inner_text()
    assert "所用计量标准的证书已撤销" in revoked and "2026-10-01 09:30" in revoked and "仍有效的下游证书" in revoked
    assert "记录时间（北京时间）" in page.locator("#signals-table thead").inner_text()
    shows_nothing_internal(page.locator("#main").inner_text(), "zh")
    page.locator("#lang-toggle").click()
    assert "113 fraud signal(s), read in 2 page(s)" in page.locator("#signals-summary").inner_text()
    assert "Standard's certificate revoked" in revoked_row(page)
    shows_nothing_internal(page.locator("#main").inner_text(), "en")


def test_a_tab_clicked_before_the_page_opened_its_own_reads_once(page: Any, base_url: str, world: LabWorld) -> None:
    # The page opens the tab its address names once it knows the regulator's region (GET /v1/me). A regulator who
    # clicks 欺诈信号 before that answer arrives, with the first page of signals still on its way, gets one read of
    # it: CI once saw the first page read twice here.
    held: dict[str, list[Any]] = {"me": [], "signals": []}
    page.route("**/v1/me", lambda route: held["me"].append(route))
    page.route("**/v1/fraud-signals?limit=100*", lambda route: held["signals"].append(route))
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if "/v1/fraud-signals?limit=100" in r.url else None)
    signed_in(page, base_url, world)
    page.click("#tab-signals")
    for name in ("me", "signals"):
        for _ in range(600):
            if held[name]:
                break
            page.wait_for_timeout(50)
        assert held[name], f"no {name} request reached the page's route"
    held["me"].pop().continue_()
    page.wait_for_function("() => document.getElementById('c-region').value !== ''", timeout=30_000)
    page.wait_for_timeout(200)  # the session's own opening of #signals has run
    page.unroute("**/v1/fraud-signals?limit=100*")
    for route in held["signals"]:
        route.continue_()
    page.locator("#signals-summary[data-count]").wait_for(timeout=30_000)
    assert len(reads) == 1, reads
    assert page.locator("#tab-signals").get_attribute("aria-selected") == "true"


def revoked_row(page: Any) -> str:
    return str(page.locator('#signals-table tr[data-kind="STANDARD_REVOKED"]').first.inner_text())


# ====================================================================== 影响范围


def _cites(bundle: dict[str, Any]) -> dict[str, Any]:
    """A ``standards_used`` entry citing the certificate of ``bundle``."""
    record = bundle["record"]
    return {
        "name": "M1 等级砝码（二级）",
        "serial_number": record["item"]["serial_number"],
        "certificate_number": record["certificate_number"],
        "certificate_digest": bundle["digest"],
        "issuing_lab_id": record["lab"]["lab_id"],
        "issuing_lab_name": record["lab"]["name"],
        "valid_until": record["dates"]["valid_until"],
        "mpe": {"value": "0.75", "unit": "\\gram"},
    }


@pytest.fixture
def dependents(world: LabWorld) -> dict[str, str]:
    """Two anchored certificates of Hangzhou citing the NMI's standard, one of Nanjing's (not the province's to
    see), and a pending one of Hangzhou citing the first (two links down)."""
    core = world.core
    hangzhou, nanjing = core.authenticate(world.token), core.authenticate(world.other_token)
    first = accept(core, hangzhou, Submission(world.record("JD2026-70001"))).digest
    second = accept(core, hangzhou, Submission(world.record("JD2026-70002", item__serial_number="SC-702"))).digest
    record = fresh_record(world, OTHER_LAB_CODE, "南京市计量监督检测院", "NJ2026-70001")
    accept(core, nanjing, Submission(record))
    AnchoringWorker(core).drain()
    with core.sessions() as s:
        row = s.scalar(select(Certificate).where(Certificate.digest == first))
    assert row is not None
    bundle = anchored_bundle(core, row)
    assert bundle is not None
    today = world.day(0)
    deeper = world.record(
        "JD2026-70003",
        standards_used=[_cites(bundle)],
        item__serial_number="SC-703",
        dates__receipt_date=today,
        dates__performance_begin=today,
        dates__performance_end=today,
    )
    third = accept(core, hangzhou, Submission(deeper)).digest
    return {"first": first, "second": second, "third": third}


def test_the_downstream_impact_of_the_nmi_standard_and_its_export(
    page: Any, base_url: str, world: LabWorld, dependents: dict[str, str], tmp_path: Path
) -> None:
    nmi = world.standard["digest"]
    signed_in(page, base_url, world)
    page.click("#tab-impact")
    page.fill("#impact-digest", nmi.upper().replace("0X", "0x"))  # as pasted, any case
    page.click("#impact-form button[type=submit]")
    page.locator('#impact-summary[data-total="4"]').wait_for(timeout=60_000)
    assert page.url.endswith(f"#impact/{nmi}")
    summary = page.locator("#impact-summary").inner_text()
    assert summary == "共 4 张下游证书：显示 3 张，其中 2 张仍有效；另有 1 张属于非本机构所辖的机构，仅计数"
    rows = {r.get_attribute("data-digest"): r for r in page.locator("#impact-table tr[data-digest]").all()}
    assert set(rows) == set(dependents.values())
    first, third = rows[dependents["first"]], rows[dependents["third"]]
    assert [rows[d].get_attribute("data-depth") for d in dependents.values()] == ["1", "1", "2"]
    assert first.get_attribute("data-lab-id") == world.lab_id and first.get_attribute("data-in-force") == "true"
    cells = first.locator("td").all_inner_texts()
    valid_until = world.record("x")["dates"]["valid_until"]
    assert cells[0] == "第 1 级" and "JD2026-70001" in cells[1] and cells[2] == "检定"
    customer = world.record("x")["customer"]["name"]
    assert cells[5] == customer and cells[6] == valid_until and cells[7] == "已上链存证" and cells[8] == "有效"
    assert third.get_attribute("data-in-force") == "false"
    assert third.locator("td").all_inner_texts()[7:] == ["待存证", "未存证"]
    shows_nothing_internal(page.locator("#main").inner_text(), "zh")
    page.screenshot(path=str(tmp_path / "impact-zh.png"), full_page=True)

    # The export: fetched with the token in its header, saved as a file Excel reads.
    with page.expect_download() as saved:
        page.click("#impact-csv")
    download = saved.value
    assert download.suggested_filename == f"dependents-{nmi[2:14]}.csv"
    csv = Path(download.path()).read_bytes().decode("utf-8-sig")
    assert csv.startswith("digest,depth,via,lab_id") and all(d in csv for d in dependents.values())
    assert len(csv.strip().splitlines()) == 4

    # A certificate in the table opens its own impact: the first one's is the certificate citing it.
    first.locator(".digest-link").click()
    page.locator('#impact-summary[data-total="1"]').wait_for(timeout=60_000)
    assert [r.get_attribute("data-digest") for r in page.locator("#impact-table tr[data-digest]").all()] == [
        dependents["third"]
    ]
    page.locator("#lang-toggle").click()
    assert "1 dependent certificate(s): 1 shown, 0 of them in force" in page.locator("#impact-summary").inner_text()
    assert page.locator("#impact-table tr[data-digest] td").last.inner_text() == "Not anchored"
    shows_nothing_internal(page.locator("#main").inner_text(), "en")


# ====================================================================== refusals


#: (what is done, with what, the code the page shows)
REFUSALS: list[tuple[str, str, str]] = [
    ("token", "not-a-token", "UNAUTHORIZED"),
    ("token", "", "UNAUTHORIZED"),
    ("token", "lab", "NOT_A_REGULATOR"),
    ("period", "2026-12-02", "INVALID_FILTER"),
    ("digest", "0x12", "INVALID_DIGEST"),
    ("digest", "0x" + "ab" * 32, "CERTIFICATE_NOT_FOUND"),
]


@pytest.mark.parametrize(("action", "value", "code"), REFUSALS)
def test_refusals_show_their_code_and_message(
    page: Any, base_url: str, world: LabWorld, action: str, value: str, code: str
) -> None:
    if action == "token":
        sign_in(page, base_url, world.token if value == "lab" else value)
    else:
        signed_in(page, base_url, world)
        page.locator("#findings-result:not([hidden])").wait_for(timeout=60_000)  # the first scan
        if action == "period":
            scan(page, value, "2026-12-01")
        else:
            page.click("#tab-impact")
            page.fill("#impact-digest", value)
            page.click("#impact-form button[type=submit]")
    error = page.locator(f'#error[data-code="{code}"]')
    error.wait_for(timeout=30_000)
    assert page.locator("#error-code").inner_text() == code
    assert page.locator("#error-explained").inner_text() and page.locator("#error-message").inner_text()
    if action == "token":  # not signed in: the form again, nothing kept
        assert page.locator("#login").is_visible() and page.locator("#app").is_hidden()
        assert page.evaluate(f"() => sessionStorage.getItem('{TOKEN_KEY}')") is None
    else:  # still signed in, the refused view shows nothing stale
        assert page.locator("#app").is_visible()
        if action == "digest":
            assert page.locator("#impact-result").is_hidden()


def test_a_token_revoked_meanwhile_signs_out_with_its_refusal(page: Any, base_url: str, world: LabWorld) -> None:
    signed_in(page, base_url, world)
    page.locator("#findings-result:not([hidden])").wait_for(timeout=60_000)
    revoke_regulator_token(world)
    page.click("#tab-signals")
    page.locator('#error[data-code="UNAUTHORIZED"]').wait_for(timeout=30_000)
    page.locator("#login:not([hidden])").wait_for(timeout=30_000)
    assert page.evaluate(f"() => sessionStorage.getItem('{TOKEN_KEY}')") is None
    assert page.locator("#findings-table tr").count() == 0  # nothing of the regulator's data stays on the page


def revoke_regulator_token(world: LabWorld) -> None:
    """Revoke the world's regulator token, as an operator does."""
    with world.core.sessions() as s:
        ids = list(s.scalars(select(ApiToken.id).where(ApiToken.role == "REGULATOR")))
    assert ids
    for token_id in ids:
        world.core.revoke_token(token_id)
