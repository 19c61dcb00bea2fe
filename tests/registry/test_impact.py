"""Downstream impact (影响范围): what depends on a standard's certificate, transitively, answered from the citations
index for the callers who may see it; a revocation put on chain turns every dependent still in force into a
STANDARD_REVOKED signal for the regulators over its lab."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from registry.api import create_app
from registry.impact import flag_dependents
from tests.registry.conftest import OTHER_LAB_CODE, LabWorld, fresh_record
from tests.registry.test_api import app_settings, bearer, drain, issue

pytestmark = pytest.mark.chain


@pytest.fixture
def api(world: LabWorld) -> Iterator[TestClient]:
    """A client of the world's app without a worker (the tests drain it)."""
    with TestClient(create_app(app_settings(world), core=world.core, run_worker=False)) as client:
        yield client


def _standard_of(bundle: dict[str, Any]) -> dict[str, Any]:
    """A ``standards_used`` entry citing the certificate of ``bundle`` (the lab's own calibrated weights)."""
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


def test_the_impact_of_a_standard_reaches_every_dependent_for_those_who_may_see_it(
    api: TestClient, world: LabWorld
) -> None:
    nmi = world.standard["digest"]
    first = issue(api, world, "JD2026-IMP01")["digest"]
    second = issue(api, world, "JD2026-IMP02")["digest"]
    other = api.post(
        "/v1/certificates",
        json={"record": fresh_record(world, OTHER_LAB_CODE, "南京市计量监督检测院", "NJ2026-IMP01")},
        headers=bearer(world.other_token),
    )
    assert other.status_code == 201, other.json()
    drain(world)
    # Two links down: a certificate citing the first one (work done today, after the first was issued).
    today = world.day(0)
    bundle = api.get(f"/v1/certificates/{first}/bundle", headers=bearer(world.token)).json()
    record = world.record(
        "JD2026-IMP03",
        standards_used=[_standard_of(bundle)],
        item__serial_number="SC-2",
        dates__receipt_date=today,
        dates__performance_begin=today,
        dates__performance_end=today,
    )
    deeper = api.post("/v1/certificates", json={"record": record}, headers=bearer(world.token))
    assert deeper.status_code == 201, deeper.json()
    third = deeper.json()["digest"]

    # The province's regulator: Hangzhou's lab is under it, Nanjing's is not (counted, not shown).
    seen = api.get(f"/v1/certificates/{nmi}/dependents", headers=bearer(world.regulator_token))
    assert seen.status_code == 200, seen.json()
    answer = seen.json()
    rows = {d["digest"]: d for d in answer["dependents"]}
    assert set(rows) == {first, second, third}
    assert (answer["total"], answer["withheld"], answer["labs"]) == (4, 1, [world.lab_id])
    assert [rows[d]["depth"] for d in (first, second, third)] == [1, 1, 2] and rows[third]["via"] == first
    assert rows[first]["in_force"] and not rows[third]["in_force"]  # the third is accepted, not anchored yet
    assert answer["in_force"] == 2 and rows[first]["customer"]
    # A lab sees its own dependents; the other lab only its one.
    mine = api.get(f"/v1/certificates/{nmi}/dependents", headers=bearer(world.other_token)).json()
    assert [d["certificate_number"] for d in mine["dependents"]] == ["NJ2026-IMP01"] and mine["withheld"] == 3
    # As an export: one row per dependent, every column of the JSON answer.
    exported = api.get(
        f"/v1/certificates/{nmi}/dependents", params={"format": "csv"}, headers=bearer(world.regulator_token)
    )
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert {r["digest"] for r in table} == {first, second, third} and table[0].keys() == rows[first].keys()
    # Below a leaf there is nothing.
    assert api.get(f"/v1/certificates/{third}/dependents", headers=bearer(world.token)).json()["total"] == 0


def test_a_revoked_standard_flags_its_dependents_in_force_once(api: TestClient, world: LabWorld) -> None:
    nmi = world.standard["digest"]
    in_force = issue(api, world, "JD2026-IMP11")["digest"]
    revoked = issue(api, world, "JD2026-IMP12")["digest"]
    drain(world)
    assert api.post(f"/v1/certificates/{revoked}/revoke", json={"reason": "error_in_content"},
                    headers=bearer(world.token)).status_code == 202  # fmt: skip
    drain(world)
    _, nmi_token = world.core.issue_token("LAB", lab_id=world.standard["record"]["lab"]["lab_id"])
    answer = api.post(f"/v1/certificates/{nmi}/revoke", json={"reason": "error_in_content"}, headers=bearer(nmi_token))
    assert answer.status_code == 202, answer.json()
    drain(world)  # the revocation goes on chain; its dependents in force are flagged

    signals = api.get("/v1/fraud-signals", headers=bearer(world.regulator_token)).json()["items"]
    flagged = [s for s in signals if s["kind"] == "STANDARD_REVOKED"]
    assert [(s["existing_digest"], s["attempted_digest"]) for s in flagged] == [(nmi, in_force)]
    assert flagged[0]["certificate_number"] == "JD2026-IMP11" and flagged[0]["lab_id"] == world.lab_id
    assert flag_dependents(world.core, nmi) == 0  # once each


@pytest.mark.parametrize(
    ("digest", "who", "status", "code"),
    [
        ("0x" + "ab" * 32, "regulator", 404, "CERTIFICATE_NOT_FOUND"),
        ("0xabc", "regulator", 422, "INVALID_DIGEST"),
        ("standard", "none", 401, "UNAUTHORIZED"),
    ],
)
def test_impact_refusals(api: TestClient, world: LabWorld, digest: str, who: str, status: int, code: str) -> None:
    target = world.standard["digest"] if digest == "standard" else digest
    headers = {} if who == "none" else bearer(world.regulator_token)
    answer = api.get(f"/v1/certificates/{target}/dependents", headers=headers)
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
