"""Anomaly scans over the ledger: on a generated ledger with one anomaly of every kind planted (tests/ledger.py),
every planted anomaly is found with its code and no clean certificate is flagged; the regulator's API scans the
labs it is over only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from registry.api import create_app
from registry.onboarding import authorize_lab
from registry.scans import FINDINGS, scan
from tests.ledger import SCOPE, LabRef, LedgerChain, generate, lab_refs
from tests.registry.conftest import LAB_CODE, OTHER_LAB_CODE, LabWorld
from tests.registry.test_api import app_settings, bearer
from tracecert.certificate.canonical import from_hex
from tracecert.chain.types import Activity

pytestmark = pytest.mark.chain

TODAY = dt.date(2026, 12, 1)


@pytest.fixture
def api(world: LabWorld) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings(world), core=world.core, run_worker=False)) as client:
        yield client


def test_every_planted_anomaly_is_found_and_no_clean_certificate(world: LabWorld) -> None:
    labs = lab_refs(3, seed=7)
    planted = generate(world.core, labs, certificates=3_000, today=TODAY, seed=7)
    found = scan(world.core, since=TODAY - dt.timedelta(days=120), chain=LedgerChain(planted, labs))
    assert {code for code, _ in planted.findings} == set(FINDINGS)  # one of every kind was planted
    got = {(f.code, frozenset(f.digests)) for f in found}
    assert got == set(planted.findings)  # recall and precision 1, finding by finding
    flagged = {d for f in found for d in f.digests}
    assert flagged.isdisjoint(planted.clean) and len(planted.clean) > 2_500
    burst = next(f for f in found if f.code == "BACKDATING_BURST")
    assert burst.severity == "ERROR" and burst.evidence["count"] == 25
    assert burst.to_dict()["zh"] == "同一天集中提交大量签发日期较早的证书"
    # Without a chain, what only the chain can tell is not found; the rest is.
    unchained = {(f.code, frozenset(f.digests)) for f in scan(world.core, since=TODAY - dt.timedelta(days=120))}
    assert unchained == {x for x in got if x[0] not in ("OUTSIDE_AUTHORIZATION", "OUTSIDE_SCOPE")}
    # A period before the planted days finds nothing; one lab alone finds only its own.
    assert scan(world.core, until=TODAY - dt.timedelta(days=200)) == []
    third = lab_refs(3, seed=7)[2].lab_id
    only = scan(world.core, labs=[third])
    assert only and only == [f for f in found if f.lab_id == third]


def test_the_regulator_scans_the_labs_it_is_over(api: TestClient, world: LabWorld) -> None:
    hangzhou = LabRef(world.lab_id, LAB_CODE, "杭州市计量检定测试院")
    nanjing = LabRef(world.other_lab_id, OTHER_LAB_CODE, "南京市计量监督检测院")
    planted = generate(world.core, [hangzhou, nanjing], certificates=1_000, today=TODAY, seed=3)
    # On the real chain: the Hangzhou lab's authorization from where the ledger means it to start, for its scope.
    authorize_lab(world.chain.contracts, world.province, from_hex(world.lab_id), "(浙)法计(2026)09001号",
                  planted.authorized_from, world.chain.now() + 3 * 365 * 86_400,
                  {c: Activity(a) for c, a in SCOPE.items()})  # fmt: skip
    world.core.forget_chain_answers()
    answer = api.get("/v1/anomalies", params={"since": "2026-01-01"}, headers=bearer(world.regulator_token))
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["labs"] == [world.lab_id]  # Zhejiang's regulator: Nanjing's lab is not under it
    mine = {(c, d) for c, d in planted.findings if all(planted_lab(world, x) == world.lab_id for x in d)}
    assert {(f["code"], frozenset(f["digests"])) for f in body["findings"]} == mine
    assert body["count"] == len(mine) and sum(body["by_code"].values()) == len(mine)
    assert body["thresholds"]["standard_per_day"] == 60
    only = api.get("/v1/anomalies", params={"code": "STANDARD_OVERUSE"}, headers=bearer(world.regulator_token))
    assert [f["code"] for f in only.json()["findings"]] == ["STANDARD_OVERUSE"]


def planted_lab(world: LabWorld, digest: str) -> str | None:
    """The lab of a certificate in the world's database (None for an attempted digest never stored)."""
    from sqlalchemy import select

    from registry.db import Certificate

    with world.core.sessions() as s:
        return s.scalar(select(Certificate.lab_id).where(Certificate.digest == digest))


@pytest.mark.parametrize(
    ("params", "who", "status", "code"),
    [
        ({}, "lab", 403, "NOT_A_REGULATOR"),
        ({}, "none", 401, "UNAUTHORIZED"),
        ({"code": "FORGERY"}, "regulator", 422, "INVALID_FILTER"),
        ({"since": "2026-12-02", "until": "2026-12-01"}, "regulator", 422, "INVALID_FILTER"),
        ({"lab_id": "0x12"}, "regulator", 422, "INVALID_LAB_ID"),
        ({"since": "yesterday"}, "regulator", 422, "REQUEST_INVALID"),
    ],
)
def test_scan_refusals(
    api: TestClient, world: LabWorld, params: dict[str, str], who: str, status: int, code: str
) -> None:
    headers = {"lab": bearer(world.token), "none": {}, "regulator": bearer(world.regulator_token)}[who]
    answer = api.get("/v1/anomalies", params=params, headers=headers)
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)


def test_scans_run_as_certificates_arrive(api: TestClient, world: LabWorld) -> None:
    """41 certificates of one day by one performer, accepted and anchored: the worker's incremental scan finds
    SIGNER_OVERUSE and keeps it once; the regulator's scan shows when it was first seen."""
    from sqlalchemy import select

    from registry.anchoring import AnchoringWorker
    from registry.db import FindingRow
    from registry.issuance import Accepted, Submission, accept_many

    lab = world.core.authenticate(world.token)
    accepted = accept_many(world.core, lab, [Submission(world.record(f"JD2026-SO{i:03d}")) for i in range(41)])
    worker = AnchoringWorker(world.core)
    worker.drain()
    worker.drain()  # nothing new: nothing recorded twice
    with world.core.sessions() as s:
        rows = list(s.scalars(select(FindingRow)))
    assert [(r.code, r.lab_id) for r in rows] == [("SIGNER_OVERUSE", world.lab_id)]
    assert all(isinstance(a, Accepted) for a in accepted), accepted
    assert sorted(rows[0].digests) == sorted(a.digest for a in accepted if isinstance(a, Accepted))
    assert rows[0].evidence["count"] == 41 and rows[0].evidence["limit"] == 40
    answer = api.get("/v1/anomalies", headers=bearer(world.regulator_token)).json()
    [finding] = [f for f in answer["findings"] if f["code"] == "SIGNER_OVERUSE"]
    assert finding["first_seen"].endswith("(UTC+8)")


def test_a_growing_group_is_one_finding_kept_up_to_date(world: LabWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """One performer's day grows past the limit, then grows again: the same finding (same key and first seen) now
    counts and names more certificates, not a second finding with all of them again. Past GROUP_LISTED the finding
    names its first ones and says how many it lists; its count is the group's."""
    from sqlalchemy import select

    from registry import scans
    from registry.anchoring import AnchoringWorker
    from registry.db import FindingRow
    from registry.issuance import Submission, accept_many

    monkeypatch.setattr(scans, "GROUP_LISTED", 42)
    lab, worker = world.core.authenticate(world.token), AnchoringWorker(world.core)

    def day_of(count: int, first: int) -> None:
        subs = [Submission(world.record(f"JD2026-GR{i:03d}")) for i in range(first, first + count)]
        accept_many(world.core, lab, subs)
        worker.drain()
        scans.record(world.core, scans.scan(world.core, labs=[world.lab_id]))

    def rows() -> list[tuple[str, str, int, int, int | None, dt.datetime]]:
        with world.core.sessions() as s:
            found = s.scalars(select(FindingRow).where(FindingRow.code == "SIGNER_OVERUSE"))
            return [(r.key, r.code, len(r.digests), r.evidence["count"], r.evidence.get("listed"), r.first_seen)
                    for r in found]  # fmt: skip

    day_of(41, 0)
    [first] = rows()
    assert first[1:5] == ("SIGNER_OVERUSE", 41, 41, None)
    day_of(4, 41)
    [grown] = rows()
    assert (grown[0], grown[5]) == (first[0], first[5])  # the same finding, first seen when it was
    assert grown[2:5] == (42, 45, 42)  # names its first 42, counts all 45
