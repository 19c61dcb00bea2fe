"""``GET /v1/labs`` and ``GET /v1/labs/{lab_id}`` over real HTTP (uvicorn on a free port) against a real chain and the
verifier's index: the directory filtered as a regulator asks (the table), a moment in the past, one lab's whole history
with its reasons named and its credit record, no unix time anywhere, the refusals by machine code (the table), the
live-node service that has no directory, and the OpenAPI document naming the answers' models."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from registry.onboarding import authorize_lab
from tests.conftest import serving
from tests.verifier.conftest import TraceWorld, calibration, chain_of_three, open_index
from tracecert.chain.types import Activity, SanctionKind, SanctionReason
from tracecert.human import local_time
from tracecert.verification.engine import Verifier
from tracecert.verification.sources import MemorySource
from verifier.api import create_app
from verifier.config import VerifierSettings
from verifier.index import Index
from verifier.labs import DirectoryOut, LabHistoryOut

pytestmark = pytest.mark.chain

DAY = 86_400
DECISION = hashlib.sha256("杭市监处罚〔2026〕63号".encode()).digest()
RENEWAL = "(浙)法计(2026)09999号"
FINE_CASE = "杭市监处罚〔2026〕63号"
UNIX_TIME = re.compile(r"(?<![0-9a-fA-Fx])1[6-9]\d{8}(?!\d)")
NMI, PROVINCIAL, CITY = "中国计量科学研究院", "浙江省计量科学研究院", "杭州市计量检定测试院"


def build_directory_scene(world: TraceWorld) -> dict[str, Any]:
    """A chain of three; a month later a second certificate by the city lab; then (a day later) the city lab's
    authorization renewed for JJG52 only and running out in 20 days, a warning lifted, a fine, and a suspension
    for work outside its scope. Returns ``before`` (a moment before the renewal and the suspension) and ``now``."""
    chain_of_three(world)
    world.chain.advance(35 * DAY)
    d = world.day
    world.issue(world.city, calibration(world.city, "HZ-2026-C0034", serial="YB-8813", item="压力表", u="0.01",
                                        performed=d(-1), issued=d(0)))  # fmt: skip
    before = world.chain.now()
    world.chain.advance(DAY)
    c, reg, lab = world.chain.contracts, world.city_regulator, world.city.lab_id
    now = world.chain.now()
    authorize_lab(c, reg, lab, RENEWAL, now, now + 20 * DAY, {"JJG52": Activity.VERIFY})
    c.record_sanction(reg, lab, SanctionKind.WARNING, SanctionReason.OVERDUE_VERIFICATION, "杭市监警〔2026〕61号",
                      DECISION, now - DAY // 2)  # fmt: skip
    c.lift_sanction(reg, lab, 0, SanctionReason.RECTIFIED, "杭市监解〔2026〕61号", DECISION, now)
    c.record_sanction(reg, lab, SanctionKind.FINE, SanctionReason.OUTSIDE_SCOPE, FINE_CASE, DECISION, now)
    c.suspend_lab(reg, lab, int(SanctionReason.OUTSIDE_SCOPE))
    return {"before": before, "now": now}


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free port; its base URL."""
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def scene(world: TraceWorld) -> dict[str, Any]:
    return build_directory_scene(world)


@pytest.fixture(scope="module")
def index(world: TraceWorld, scene: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    idx = open_index(world, tmp_path_factory.mktemp("directory") / "index.db", lambda url: None)
    idx.sync()
    yield idx
    idx.close()


@pytest.fixture(scope="module")
def base(index: Index) -> Iterator[str]:
    with served(create_app(VerifierSettings(rate_limit_per_minute=0), verifier=Verifier(index, MemorySource()))) as url:
        yield url


def get(base: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{base}{path}", params=params, timeout=30)


def names(body: dict[str, Any]) -> list[str]:
    return [lab["name"] for lab in body["labs"]]


def test_the_whole_directory(base: str, world: TraceWorld) -> None:
    r = get(base, "/v1/labs")
    assert r.status_code == 200, r.text
    body = r.json()
    DirectoryOut.model_validate(body, strict=True)  # every field documented, none missing
    assert (body["count"], names(body)) == (3, [NMI, PROVINCIAL, CITY])
    assert body["as_of"] == local_time(world.chain.now()) and r.headers["cache-control"] == "no-store"
    nmi, provincial, city = body["labs"]
    assert nmi["kind"] == {"code": "NMI", "zh": "国家计量院", "en": "national metrology institute"}
    assert nmi["scope"] == {"PRESSURE": ["CALIBRATE"]} and nmi["certificates"] == 1
    assert nmi["credit_grade"]["code"] == "A"
    assert provincial["status"]["code"] == "ACTIVE" and provincial["authorization"]["number"] == "(国)法计(2020)01001号"
    assert city["status"] == {"code": "SUSPENDED", "zh": "暂停", "en": "suspended"}
    assert city["authorization"]["number"] == RENEWAL and city["scope"] == {"JJG52": ["VERIFY"]}
    assert (city["certificates"], city["lab_id"]) == (2, world.city.hex_id)
    assert city["credit_grade"] == {"code": "C", "zh": "较差", "en": "poor"}
    assert not UNIX_TIME.search(r.text), UNIX_TIME.search(r.text)


#: (query, the labs listed): every filter, alone and together, in the case a person types it.
FILTERED: list[tuple[dict[str, str], list[str]]] = [
    ({"jurisdiction": "0"}, [NMI, PROVINCIAL, CITY]),
    ({"jurisdiction": "330000"}, [PROVINCIAL, CITY]),
    ({"jurisdiction": "330100"}, [CITY]),
    ({"jurisdiction": "110000"}, []),  # an NMI answers to the nation only
    ({"kind": "NMI"}, [NMI]),
    ({"kind": "legal_metrology_institute"}, [PROVINCIAL, CITY]),
    ({"kind": "ACCREDITED_LAB"}, []),
    ({"status": "SUSPENDED"}, [CITY]),
    ({"status": "active"}, [NMI, PROVINCIAL]),
    ({"status": "REVOKED"}, []),
    ({"category": "JJG52"}, [PROVINCIAL, CITY]),
    ({"category": "PRESSURE"}, [NMI, PROVINCIAL]),  # no longer in the city lab's renewed scope
    ({"category": "JJG443"}, []),
    ({"expiring_within_days": "30"}, [CITY]),
    ({"expiring_within_days": "19"}, []),
    ({"jurisdiction": "330000", "status": "ACTIVE", "category": "JJG52"}, [PROVINCIAL]),
    ({"jurisdiction": "", "kind": " "}, [NMI, PROVINCIAL, CITY]),  # empty means not given
]


@pytest.mark.parametrize(("query", "expected"), FILTERED)
def test_filters(base: str, query: dict[str, str], expected: list[str]) -> None:
    body = get(base, "/v1/labs", **query).json()
    assert (names(body), body["count"]) == (expected, len(expected))


def test_a_moment_before_the_suspension(base: str, scene: dict[str, Any]) -> None:
    body = get(base, "/v1/labs", as_of=str(scene["before"])).json()
    assert body["as_of"] == local_time(scene["before"])
    city = body["labs"][2]
    assert city["status"]["code"] == "ACTIVE" and city["authorization"]["number"] == "(浙)法计(2020)01023号"
    assert city["scope"] == {"PRESSURE": ["VERIFY", "CALIBRATE"], "JJG52": ["VERIFY"]}
    assert names(get(base, "/v1/labs", status="SUSPENDED", as_of=str(scene["before"])).json()) == []
    history = get(base, f"/v1/labs/{city['lab_id']}", as_of=str(scene["before"])).json()
    assert history["status"]["code"] == "ACTIVE" and history["as_of"] == local_time(scene["before"])


def test_a_labs_whole_history(base: str, world: TraceWorld, scene: dict[str, Any]) -> None:
    r = get(base, f"/v1/labs/{world.city.hex_id}")
    assert r.status_code == 200, r.text
    body = r.json()
    LabHistoryOut.model_validate(body, strict=True)
    assert body["name"] == CITY and body["as_of"] == local_time(world.chain.now())
    assert body["registered"]["by_name"] == "杭州市市场监督管理局" and body["registered"]["at"].endswith("(UTC+8)")
    assert [a["number"] for a in body["authorizations"]] == ["(浙)法计(2020)01023号", RENEWAL]
    assert body["authorizations"][1]["scope"] == {"JJG52": ["VERIFY"]}
    assert body["authorizations"][1]["valid_until"] == local_time(scene["now"] + 20 * DAY)
    registered, suspended = body["statuses"]
    assert registered["status"]["code"] == "ACTIVE" and registered["reason"] is None
    assert suspended["status"]["zh"] == "暂停" and suspended["reason"] == {
        "code": "OUTSIDE_SCOPE", "zh": "超出授权范围开展检定校准", "en": "work outside the authorized scope"
    }  # fmt: skip
    [key] = body["keys"]
    assert key["key_id"] == "0x" + world.city.key.key_id.hex() and key["valid_until"] is None
    months = body["certificates_per_month"]
    assert len(months) == 2 and sum(months.values()) == body["certificates"] == 2
    assert all(re.fullmatch(r"\d{4}-\d{2}", m) for m in months)
    credit = body["credit"]
    assert credit["grade"] == {"code": "C", "zh": "较差", "en": "poor"} and credit["in_force"] == [2]
    assert [e["kind"]["code"] for e in credit["entries"]] == ["WARNING", "LIFTING", "FINE"]
    assert [e["lifted_by"] for e in credit["entries"]] == [1, None, None]
    assert credit["entries"][2]["case_number"] == FINE_CASE
    assert not UNIX_TIME.search(r.text), UNIX_TIME.search(r.text)
    # By the lab's code (统一社会信用代码): the same lab.
    assert get(base, f"/v1/labs/{world.city.code}").json() == body


def test_the_credit_record_is_what_the_credit_endpoint_answers(base: str, world: TraceWorld) -> None:
    credit = get(base, f"/v1/credit/{world.city.hex_id}").json()
    history = get(base, f"/v1/labs/{world.city.hex_id}").json()
    assert history["credit"] == {k: credit[k] for k in ("grade", "in_force", "entries")}


UNREGISTERED = "0x" + "ab" * 32

#: (path, query, status, code): every refusal by its machine code.
REFUSALS: list[tuple[str, dict[str, str], int, str]] = [
    ("/v1/labs", {"jurisdiction": "33"}, 422, "INVALID_JURISDICTION"),
    ("/v1/labs", {"jurisdiction": "3301000"}, 422, "INVALID_JURISDICTION"),
    ("/v1/labs", {"jurisdiction": "000000"}, 422, "INVALID_JURISDICTION"),
    ("/v1/labs", {"jurisdiction": "浙江"}, 422, "INVALID_JURISDICTION"),
    ("/v1/labs", {"jurisdiction": "-1"}, 422, "INVALID_JURISDICTION"),
    ("/v1/labs", {"kind": "LAB"}, 422, "INVALID_LAB_KIND"),
    ("/v1/labs", {"kind": "1"}, 422, "INVALID_LAB_KIND"),
    ("/v1/labs", {"status": "NONE"}, 422, "INVALID_STATUS"),
    ("/v1/labs", {"status": "paused"}, 422, "INVALID_STATUS"),
    ("/v1/labs", {"category": "J" * 33}, 422, "INVALID_CATEGORY"),
    ("/v1/labs", {"category": "压" * 11}, 422, "INVALID_CATEGORY"),  # 33 bytes of UTF-8
    ("/v1/labs", {"expiring_within_days": "0"}, 422, "INVALID_EXPIRING_WITHIN_DAYS"),
    ("/v1/labs", {"expiring_within_days": "3651"}, 422, "INVALID_EXPIRING_WITHIN_DAYS"),
    ("/v1/labs", {"expiring_within_days": "-5"}, 422, "INVALID_EXPIRING_WITHIN_DAYS"),
    ("/v1/labs", {"expiring_within_days": "1.5"}, 422, "INVALID_EXPIRING_WITHIN_DAYS"),
    ("/v1/labs", {"expiring_within_days": "３０"}, 422, "INVALID_EXPIRING_WITHIN_DAYS"),  # full-width digits
    ("/v1/labs", {"as_of": "yesterday"}, 422, "INVALID_AS_OF"),
    ("/v1/labs", {"juristiction": "330000"}, 422, "UNKNOWN_FILTER"),  # a typo must not list every lab
    ("/v1/labs/0x12", {}, 422, "INVALID_LAB_ID"),
    ("/v1/labs/0x" + "ab" * 33, {}, 422, "INVALID_LAB_ID"),
    ("/v1/labs/杭州市计量检定测试院", {}, 404, "UNKNOWN_LAB"),  # read as a lab code: no lab has it
    (f"/v1/labs/{UNREGISTERED}", {}, 404, "UNKNOWN_LAB"),
    (f"/v1/labs/{UNREGISTERED}", {"as_of": "2026-13-01"}, 422, "INVALID_AS_OF"),
]


@pytest.mark.parametrize(("path", "query", "status", "code"), REFUSALS)
def test_refusals(base: str, path: str, query: dict[str, str], status: int, code: str) -> None:
    r = get(base, path, **query)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text


def test_a_service_on_a_live_node_has_no_directory(world: TraceWorld, scene: dict[str, Any]) -> None:
    with served(create_app(VerifierSettings(rate_limit_per_minute=0), verifier=world.verifier)) as url:
        answers = [get(url, "/v1/labs"), get(url, f"/v1/labs/{world.city.hex_id}")]
        assert get(url, f"/v1/credit/{world.city.hex_id}").status_code == 200  # the credit record needs no index
    for r in answers:
        assert (r.status_code, r.json()["error"]["code"]) == (404, "DIRECTORY_UNAVAILABLE"), r.text


def test_the_openapi_document_names_the_answers(base: str) -> None:
    doc = httpx.get(f"{base}/openapi.json", timeout=30).json()
    for path, model in (("/v1/labs", "DirectoryOut"), ("/v1/labs/{lab_id}", "LabHistoryOut")):
        route = doc["paths"][path]["get"]
        schema = route["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model}"}
        assert "DIRECTORY_UNAVAILABLE" in route["responses"]["404"]["description"]
    codes = doc["paths"]["/v1/labs"]["get"]["responses"]["422"]["description"]
    for code in ("UNKNOWN_FILTER", "INVALID_JURISDICTION", "INVALID_LAB_KIND", "INVALID_STATUS", "INVALID_CATEGORY",
                 "INVALID_EXPIRING_WITHIN_DAYS", "INVALID_AS_OF"):  # fmt: skip
        assert code in codes
    assert "UNKNOWN_LAB" in doc["paths"]["/v1/labs/{lab_id}"]["get"]["responses"]["404"]["description"]
    params = {p["name"] for p in doc["paths"]["/v1/labs"]["get"]["parameters"]}
    assert params == {"jurisdiction", "kind", "status", "category", "expiring_within_days", "as_of"}
    history = doc["components"]["schemas"]["LabHistoryOut"]
    assert set(history["required"]) == set(LabHistoryOut.model_fields)
    assert "/v1/credit/{subject}" in doc["paths"]  # the credit route moved with them


def test_the_chart_library_is_served_locally(base: str) -> None:
    r = httpx.get(f"{base}/vendor/chart.umd.min.js", timeout=30)
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert "Chart.js v4" in r.text[:300]
    page = httpx.get(f"{base}/labs", timeout=30)
    assert page.status_code == 200 and "/static/directory.js" in page.text  # it loads the library when it draws
    assert "/vendor/chart.umd.min.js" in httpx.get(f"{base}/static/directory.js", timeout=30).text
