"""``GET /v1/credit/{subject}`` over real HTTP (uvicorn on a free port) against a real chain: a lab's record with an
expired, a lifted and an in-force entry; an enterprise by its USCI; clean records; the index answering as the node;
the refusals by machine code (the table); the rate limit; the OpenAPI document naming the answer's model."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import serving
from tests.verifier.conftest import TraceWorld, open_index, usci
from tracecert.chain.contracts import ChainContracts, enterprise_subject
from tracecert.chain.types import SanctionKind, SanctionReason
from tracecert.human import local_time
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.sources import MemorySource
from verifier.api import create_app
from verifier.config import VerifierSettings
from verifier.credit import CreditOut

pytestmark = pytest.mark.chain

DAY = 86_400
DECISION = hashlib.sha256("杭市监处罚〔2026〕31号".encode()).digest()
#: An enterprise with a blacklisting in force, and one nobody sanctioned.
BLACKLISTED = usci("91330100MA2H0B001")
CLEAN = usci("91330100MA2H0C002")


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free port; its base URL."""
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def record(world: TraceWorld) -> dict[str, int]:
    """The city lab: a warning that expired, a suspension lifted, a fine in force; an enterprise blacklisted.
    Returns the moments used."""
    c, reg = world.chain.contracts, world.city_regulator
    now = world.chain.now()
    lab = world.city.lab_id
    c.record_sanction(reg, lab, SanctionKind.WARNING, SanctionReason.OVERDUE_VERIFICATION, "杭市监警〔2026〕1号",
                      DECISION, now - 10 * DAY, now - 5 * DAY)  # fmt: skip
    c.record_sanction(reg, lab, SanctionKind.SUSPENSION, SanctionReason.UNQUALIFIED_STAFF, "杭市监停〔2026〕2号",
                      DECISION, now - 3 * DAY)  # fmt: skip
    c.lift_sanction(reg, lab, 1, SanctionReason.RECTIFIED, "杭市监解〔2026〕3号", DECISION, now - DAY)
    c.record_sanction(reg, lab, SanctionKind.FINE, SanctionReason.STANDARD_NOT_TRACEABLE, "杭市监处罚〔2026〕31号",
                      DECISION, now - DAY)  # fmt: skip
    c.record_sanction(reg, BLACKLISTED, SanctionKind.BLACKLIST, SanctionReason.FALSE_CERTIFICATE,
                      "杭市监黑〔2026〕4号", DECISION, now - 2 * DAY)  # fmt: skip
    return {"now": now}


@pytest.fixture(scope="module")
def base(world: TraceWorld, record: dict[str, int]) -> Iterator[str]:
    settings = VerifierSettings(rate_limit_per_minute=0)
    with served(create_app(settings, verifier=world.verifier)) as url:
        yield url


def get(base: str, subject: str) -> httpx.Response:
    return httpx.get(f"{base}/v1/credit/{subject}", timeout=30)


def test_a_lab_with_an_expired_a_lifted_and_an_in_force_entry(
    base: str, world: TraceWorld, record: dict[str, int]
) -> None:
    r = get(base, world.city.hex_id.upper().replace("0X", "0x"))
    assert r.status_code == 200, r.text
    body = r.json()
    CreditOut.model_validate(body, strict=True)  # every field documented, none missing
    assert body["subject"] == world.city.hex_id and body["subject_id"] == world.city.hex_id
    assert body["subject_kind"] == {"code": "LAB", "zh": "检定校准机构", "en": "lab"}
    assert body["lab_name"] == "杭州市计量检定测试院"
    assert body["as_of"] == local_time(world.chain.now()) and body["as_of"].endswith("(UTC+8)")
    assert body["grade"] == {"code": "C", "zh": "较差", "en": "poor"}
    assert body["in_force"] == [3]
    entries = body["entries"]
    assert [e["index"] for e in entries] == [0, 1, 2, 3]
    assert [e["kind"]["code"] for e in entries] == ["WARNING", "SUSPENSION", "LIFTING", "FINE"]
    assert [e["lifted_by"] for e in entries] == [None, 2, None, None]
    assert [e["lifts"] for e in entries] == [None, None, 1, None]
    warning, suspension, _, fine = entries
    assert warning["effective_until"] == local_time(record["now"] - 5 * DAY)
    assert suspension["effective_until"] is None
    assert fine["reason"] == {"code": "STANDARD_NOT_TRACEABLE", "zh": "计量标准未有效溯源",
                              "en": "reference standards not traceable"}  # fmt: skip
    assert fine["case_number"] == "杭市监处罚〔2026〕31号"
    assert fine["effective_from"] == local_time(record["now"] - DAY)
    assert fine["decision_sha256"] == "0x" + DECISION.hex() and fine["region"] is None
    assert r.headers["cache-control"] == "no-store"


def test_an_enterprise_by_its_usci(base: str, world: TraceWorld) -> None:
    body = get(base, BLACKLISTED.lower()).json()
    CreditOut.model_validate(body, strict=True)
    assert body["subject"] == BLACKLISTED and body["subject_id"] == "0x" + enterprise_subject(BLACKLISTED).hex()
    assert body["subject_kind"]["code"] == "ENTERPRISE" and body["lab_name"] is None
    assert body["grade"] == {"code": "D", "zh": "失信", "en": "blacklisted"} and body["in_force"] == [0]
    [entry] = body["entries"]
    assert entry["kind"]["zh"] == "列入失信黑名单" and entry["region"] == 330100 and entry["lifted_by"] is None


@pytest.mark.parametrize(
    ("who", "name"),
    [("provincial", "浙江省计量科学研究院"), ("nmi", "中国计量科学研究院"), ("enterprise", None)],
)
def test_a_clean_record_is_grade_a(base: str, world: TraceWorld, who: str, name: str | None) -> None:
    subject = CLEAN if who == "enterprise" else getattr(world, who).hex_id
    body = get(base, subject).json()
    CreditOut.model_validate(body, strict=True)
    assert (body["grade"]["code"], body["grade"]["zh"], body["in_force"], body["entries"]) == ("A", "良好", [], [])
    assert body["lab_name"] == name


def test_the_index_answers_as_the_node(world: TraceWorld, record: dict[str, int], tmp_path: Path) -> None:
    index = open_index(world, tmp_path / "index.db", lambda url: None)
    try:
        index.sync()
        live = create_app(VerifierSettings(rate_limit_per_minute=0), verifier=world.verifier)
        indexed = create_app(VerifierSettings(rate_limit_per_minute=0), verifier=Verifier(index, MemorySource()))
        with served(live) as a, served(indexed) as b:
            for subject in (world.city.hex_id, BLACKLISTED, CLEAN, world.nmi.hex_id):
                assert get(a, subject).json() == get(b, subject).json()
    finally:
        index.close()


UNREGISTERED = "0x" + "ab" * 32

#: (subject, status, code): every refusal by its machine code.
REFUSALS = [
    ("0x1234", 422, "INVALID_SUBJECT"),  # too short for a lab id
    ("0x" + "g" * 64, 422, "INVALID_SUBJECT"),  # not hex
    ("0x" + "ab" * 33, 422, "INVALID_SUBJECT"),  # too long
    (CLEAN[:17] + ("0" if CLEAN[17] != "0" else "1"), 422, "INVALID_SUBJECT"),  # a wrong check character
    ("91330100MA2H0C00", 422, "INVALID_SUBJECT"),  # 16 characters
    ("91AB0100MA2H0C0023", 422, "INVALID_SUBJECT"),  # a region that is not six digits
    ("9133010OMA2H0COO2I", 422, "INVALID_SUBJECT"),  # letters no USCI uses (I, O)
    ("杭州市计量检定测试院", 422, "INVALID_SUBJECT"),  # a name is not a subject
    (UNREGISTERED, 404, "UNKNOWN_LAB"),  # a lab id nobody registered
    ("0x" + enterprise_subject(CLEAN).hex(), 404, "UNKNOWN_LAB"),  # an enterprise's key is not a lab id
]


@pytest.mark.parametrize(("subject", "status", "code"), REFUSALS)
def test_refusals(base: str, subject: str, status: int, code: str) -> None:
    r = get(base, subject)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text


@pytest.mark.parametrize("subject", ["city", BLACKLISTED])
def test_a_deployment_without_a_credit_record(world: TraceWorld, subject: str) -> None:
    """As a deployment file written before the CreditRegistry existed describes it: no record, not a clean one."""
    chain = world.chain
    old = ChainContracts(chain.client, replace(chain.contracts.deployment, credit_registry=""))
    app = create_app(VerifierSettings(rate_limit_per_minute=0), verifier=Verifier(LiveChainView(old), MemorySource()))
    with served(app) as url:
        r = get(url, world.city.hex_id if subject == "city" else subject)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "CREDIT_RECORD_UNAVAILABLE")


def test_lookups_are_rate_limited_per_client(world: TraceWorld) -> None:
    settings = VerifierSettings(rate_limit_per_minute=1, rate_limit_burst=2)
    with served(create_app(settings, verifier=world.verifier)) as url:
        answers = [get(url, world.nmi.hex_id) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "RATE_LIMITED" and int(answers[2].headers["retry-after"]) >= 1


def test_the_openapi_document_names_the_answer(base: str) -> None:
    doc = httpx.get(f"{base}/openapi.json", timeout=30).json()
    route = doc["paths"]["/v1/credit/{subject}"]["get"]
    assert route["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreditOut"
    }
    for status, code in (("404", "UNKNOWN_LAB"), ("404", "CREDIT_RECORD_UNAVAILABLE"), ("422", "INVALID_SUBJECT")):
        assert code in route["responses"][status]["description"]
    schema = doc["components"]["schemas"]["CreditOut"]
    assert set(schema["required"]) == set(CreditOut.model_fields)
    entry = doc["components"]["schemas"]["CreditEntryOut"]["properties"]
    assert "lifted_by" in entry and "case_number" in entry
