"""The demo story, seeded with the real services on a real chain: idempotent, every traceability link resolves to
an anchored parent that was valid when used and more precise than its child, the standards' certificates are public,
and the twists are on chain."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from registry.config import ensure_local_secret
from registry.core import RegistryCore
from registry.db import Certificate, FraudSignal
from registry.errors import RegistryError
from registry.onboarding import registry_settings
from registry.reads import bundle, certificate_view
from tracecert.certificate.bundle import verify_bundle_offline
from tracecert.certificate.canonical import from_hex
from tracecert.certificate.model import Kind, is_valid_usci, record_from_json
from tracecert.chain.client import ChainClient
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.local import ensure_local_deployment
from tracecert.chain.node import AnvilNode
from tracecert.chain.types import CertificateState, LabKind, RevocationReason
from tracecert_app.demo import DemoSummary, demo_certificate_count, seed_demo
from tracecert_app.story import STANDARDS, usci


@dataclass
class Seeded:
    core: RegistryCore
    data_dir: Path
    first: DemoSummary
    second: DemoSummary
    count_after_first: int

    def record(self, name: str) -> dict[str, Any]:
        row = self._row(self.first.certificates[name]["digest"])
        return dict(json.loads(row.record_json))

    def _row(self, digest: str) -> Certificate:
        with self.core.sessions() as s:
            row = s.scalar(select(Certificate).where(Certificate.digest == digest))
        assert row is not None
        return row


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, client: ChainClient, anvil: AnvilNode) -> Iterator[Seeded]:
    """A local data directory deployed on the session's node, the demo seeded twice."""
    data_dir = tmp_path_factory.mktemp("demo")
    deployment, _ = ensure_local_deployment(client, data_dir)
    ensure_local_secret(data_dir)
    settings = registry_settings(data_dir, anvil.url)
    core = RegistryCore.open(settings, ChainContracts(client, deployment))
    first = seed_demo(core, data_dir)
    count = demo_certificate_count(core)
    second = seed_demo(core, data_dir)
    yield Seeded(core, data_dir, first, second, count)
    core.engine.dispose()


def test_seeding_twice_changes_nothing(seeded: Seeded) -> None:
    first, second = seeded.first, seeded.second
    assert first.created and not second.created
    assert {k: v["digest"] for k, v in first.certificates.items()} == {
        k: v["digest"] for k, v in second.certificates.items()
    }
    assert first.labs == second.labs and first.regulators == second.regulators
    assert seeded.count_after_first == demo_certificate_count(seeded.core) == 9
    with seeded.core.sessions() as s:
        assert s.scalar(select(func.count()).select_from(FraudSignal)) == 1
    assert all(c["status"] == "anchored" for c in second.certificates.values())


def test_every_link_resolves_to_an_anchored_parent(seeded: Seeded) -> None:
    summary = seeded.first
    by_digest = {c["digest"]: name for name, c in summary.certificates.items()}
    nmi = summary.labs["nmi"]["lab_id"]
    for name, info in summary.certificates.items():
        record = seeded.record(name)
        record_from_json(record)  # passes the rules of its kind
        child_dates = record["dates"]
        child_u = max(Decimal(r["expanded_uncertainty"]) for r in record["results"] if "expanded_uncertainty" in r)
        links = [s for s in record["standards_used"] if "certificate_digest" in s]
        if record["lab"]["lab_id"] == nmi:
            assert not links  # the NMI's standards are the national primary standards: the end of every chain
            continue
        assert len(links) == 1
        link = links[0]
        parent_name = by_digest[link["certificate_digest"]]
        assert parent_name == info["parent"]
        parent = seeded.record(parent_name)
        view = certificate_view(seeded.core, None, link["certificate_digest"])
        assert view["status"] == "anchored" and view["batch"]["tx_hash"]
        anchored = seeded.core.chain.batch(from_hex(view["batch"]["root"]))
        assert anchored.lab_id.hex() == parent["lab"]["lab_id"][2:]
        # the link is the parent's own certificate of that very standard
        assert link["certificate_number"] == parent["certificate_number"]
        assert link["serial_number"] == parent["item"]["serial_number"]
        assert link["issuing_lab_id"] == parent["lab"]["lab_id"]
        # valid when used: issued before the work began, valid beyond its end
        assert parent["dates"]["issue_date"] <= child_dates["performance_begin"]
        assert parent["dates"]["valid_until"] >= child_dates["performance_end"]
        assert link["valid_until"] == parent["dates"]["valid_until"]
        # uncertainties shrink up the chain
        parent_u = max(Decimal(r["expanded_uncertainty"]) for r in parent["results"])
        assert Decimal(link["uncertainty"]["expanded_uncertainty"]) == parent_u < child_u
        assert link["uncertainty"]["unit"] == parent["results"][0]["unit"] == record["results"][0]["unit"]


def test_the_chains_end_at_the_nmi(seeded: Seeded) -> None:
    summary = seeded.first
    kinds = {lab["lab_id"]: lab["kind"] for lab in summary.labs.values()}
    for leaf in ("fuel_dispenser", "pressure_gauge"):
        path, name = [], leaf
        while name is not None:
            path.append(kinds[summary.certificates[name]["lab_id"]])
            name = summary.certificates[name]["parent"]
        assert path == ["LEGAL_METROLOGY_INSTITUTE", "LEGAL_METROLOGY_INSTITUTE", LabKind.NMI.name]


def test_the_leaves_tell_the_story(seeded: Seeded) -> None:
    dispenser = seeded.record("fuel_dispenser")
    assert dispenser["kind"] == Kind.VERIFICATION
    assert dispenser["method"]["reference"].startswith("JJG 443")
    assert dispenser["customer"]["mandatory_verification"] is True and dispenser["customer"]["use"] == "贸易结算"
    assert dispenser["standards_used"][0]["name"] == "二等标准金属量器"
    assert is_valid_usci(dispenser["customer"]["usci"])
    gauge = seeded.record("pressure_gauge")
    assert gauge["kind"] == Kind.CALIBRATION and gauge["item"]["name"] == "一般压力表"
    assert all({"expanded_uncertainty", "coverage_factor", "coverage_probability"} <= set(r) for r in gauge["results"])
    # the NMI signed its own certificates; the registry signed for the others
    signers = {name: c["signed_by"] for name, c in _views(seeded).items()}
    assert signers["nmi_volume"] == signers["nmi_pressure"] == "lab"
    assert signers["fuel_dispenser"] == "registry"
    # and a bundle of the leaf verifies offline
    principal = seeded.core.authenticate(seeded.first.labs["city"]["token"])
    verify_bundle_offline(bundle(seeded.core, principal, seeded.first.certificates["fuel_dispenser"]["digest"]))


def _views(seeded: Seeded) -> dict[str, dict[str, Any]]:
    return {n: certificate_view(seeded.core, None, c["digest"]) for n, c in seeded.first.certificates.items()}


@pytest.mark.parametrize(
    ("name", "public", "code"),
    [
        # the certificates others cite in standards_used: anyone may download their bundles
        ("nmi_volume", True, None),
        ("nmi_pressure", True, None),
        ("province_volume", True, None),
        ("province_pressure", True, None),
        # the enterprises' certificates stay private: no bundle without a token of the lab or a regulator over it
        ("fuel_dispenser", False, "UNAUTHORIZED"),
        ("pressure_gauge", False, "UNAUTHORIZED"),
        ("revoked", False, "UNAUTHORIZED"),
        ("substituted", False, "UNAUTHORIZED"),
        ("replacement", False, "UNAUTHORIZED"),
    ],
)
def test_the_standards_are_public(seeded: Seeded, name: str, public: bool, code: str | None) -> None:
    digest = seeded.first.certificates[name]["digest"]
    assert (name in STANDARDS) is public
    assert seeded.first.certificates[name]["public"] is public
    view = certificate_view(seeded.core, None, digest)
    assert view["public"] is public and "record" not in view
    if code is None:
        verify_bundle_offline(bundle(seeded.core, None, digest))
        return
    with pytest.raises(RegistryError) as refused:
        bundle(seeded.core, None, digest)
    assert refused.value.code == code


def test_every_standard_cited_is_public(seeded: Seeded) -> None:
    """Every certificate some demo record cites in ``standards_used`` is public: a tokenless verifier can follow
    each chain up to the NMI."""
    cited = {
        link["certificate_digest"]
        for name in seeded.first.certificates
        for link in seeded.record(name)["standards_used"]
        if "certificate_digest" in link
    }
    public = {c["digest"] for c in seeded.first.certificates.values() if c["public"]}
    assert cited == public and len(cited) == 4


def test_seeding_again_publishes_the_standards_of_an_older_demo(seeded: Seeded) -> None:
    """A data directory seeded before certificates could be published (all private): the next seeding publishes
    the standards' certificates (an idempotent retry with ``public``) and leaves the others private."""
    with seeded.core.sessions.begin() as s:
        s.execute(update(Certificate).values(public=False))
    again = seed_demo(seeded.core, seeded.data_dir)
    assert {n for n, c in again.certificates.items() if c["public"]} == STANDARDS
    assert {n for n, v in _views(seeded).items() if v["public"]} == STANDARDS
    assert demo_certificate_count(seeded.core) == 9


def test_the_twists_are_on_chain(seeded: Seeded) -> None:
    c = seeded.first.certificates
    contracts = seeded.core.chain
    city = from_hex(seeded.first.labs["city"]["lab_id"])
    revoked = contracts.status(city, from_hex(c["revoked"]["digest"]))
    assert revoked.state == CertificateState.REVOKED and revoked.reason == RevocationReason.REGULATOR_ORDER
    substituted = contracts.status(city, from_hex(c["substituted"]["digest"]))
    assert substituted.state == CertificateState.SUBSTITUTED
    assert substituted.substituted_by == from_hex(c["replacement"]["digest"])
    assert seeded.record("replacement")["replaces"]["certificate_digest"] == c["substituted"]["digest"]
    fraud = seeded.first.fraud_signal
    assert fraud["kind"] == "NUMBER_REUSE" and fraud["existing_digest"] == c["fuel_dispenser"]["digest"]
    assert fraud["attempted_digest"] != fraud["existing_digest"]
    assert contracts.status(city, from_hex(c["fuel_dispenser"]["digest"])).state == CertificateState.NONE


@pytest.mark.parametrize(
    ("name", "verdict", "failed"),
    [
        ("nmi_volume", "VALID", set()),
        ("nmi_pressure", "VALID", set()),
        ("province_volume", "VALID", set()),
        ("province_pressure", "VALID", set()),
        ("fuel_dispenser", "VALID", set()),  # the whole volume chain checks out, up to the NMI
        ("pressure_gauge", "VALID", set()),  # and the pressure chain
        ("revoked", "INVALID", {"NOT_REVOKED"}),  # revoked on the city regulator's order
        ("substituted", "INVALID", {"NOT_SUBSTITUTED"}),  # replaced by its corrected version
        ("replacement", "VALID", set()),
    ],
)
def test_the_verifier_tells_the_story(seeded: Seeded, name: str, verdict: str, failed: set[str]) -> None:
    from tracecert.verification.chainview import LiveChainView
    from tracecert.verification.engine import Verifier
    from tracecert.verification.evidence import Evidence
    from tracecert.verification.sources import MemorySource

    regulator = seeded.core.authenticate(seeded.first.regulators["330000"]["token"])
    nmi = seeded.core.authenticate(seeded.first.labs["nmi"]["token"])
    bundles = [
        bundle(seeded.core, nmi if c["lab_id"] == seeded.first.labs["nmi"]["lab_id"] else regulator, c["digest"])
        for c in seeded.first.certificates.values()
    ]
    engine = Verifier(LiveChainView(seeded.core.chain), MemorySource(bundles))
    report = engine.verify(Evidence.from_bundle(bundles[list(seeded.first.certificates).index(name)]))
    assert (report.verdict.value, report.codes) == (verdict, failed), report.to_dict()["reasons"]


def test_the_credit_record_tells_its_part(seeded: Seeded) -> None:
    """The city regulator's rectification order against the city lab (lifted before the story's day) and warning to
    a gas station (in force): on chain once (a second seeding records nothing), their decision documents beside
    the demo with the SHA-256 on chain; the lab's grade A again with its history kept, the station's B."""
    import hashlib

    from tracecert.chain.contracts import enterprise_subject
    from tracecert.chain.types import SanctionKind, SanctionReason
    from tracecert.credit import Grade, standing

    contracts = seeded.core.chain
    city = from_hex(seeded.first.labs["city"]["lab_id"])
    [order, lifting] = contracts.sanctions(city) or []
    assert (lifting.kind, lifting.lifts, lifting.reason) == (SanctionKind.LIFTING, 0, SanctionReason.RECTIFIED)
    station = seeded.first.credit[1]["subject"]  # an enterprise is named by its USCI
    assert station.startswith("91330105") and is_valid_usci(station)
    [warning] = contracts.sanctions(enterprise_subject(station)) or []
    assert (order.kind, order.reason) == (SanctionKind.RECTIFICATION, SanctionReason.STANDARD_NOT_TRACEABLE)
    assert (warning.kind, warning.region) == (SanctionKind.WARNING, 330105)
    assert seeded.first.credit == seeded.second.credit
    for shown, entry in zip(seeded.first.credit, (order, warning), strict=True):
        assert shown["case_number"] == entry.case_number
        assert hashlib.sha256(Path(shown["decision_file"]).read_bytes()).digest() == entry.decision_digest
    assert [e["grade"] for e in seeded.first.credit] == ["A 良好", "B 一般"]
    assert standing([order, lifting], order.effective_from).grade is Grade.B  # while it was in force
    assert lifting.effective_from < contracts.client.block_timestamp() - 86_400


def test_the_city_regulator_drew_two_certificates_for_inspection(seeded: Seeded) -> None:
    """双随机: two of the city lab's five certificates, committed on chain once (a second seeding finds the same
    draw), published through the registry, and standing when re-run against the chain."""
    from registry.draws import list_draws, read_draw
    from tracecert.draws import verify_published

    first, second = seeded.first.draw, seeded.second.draw
    assert first == second and first["of"] == 5 and len(first["drawn"]) == 2
    assert set(first["drawn"]) <= {"fuel_dispenser", "pressure_gauge", "revoked", "substituted", "replacement"}
    assert [d["commitment"] for d in list_draws(seeded.core)["items"]] == [first["commitment"]]
    published = read_draw(seeded.core, first["commitment"])["published"]
    assert verify_published(published, seeded.core.chain).ok


def test_story_dates_are_recent_and_kept(seeded: Seeded) -> None:
    day = dt.date.fromisoformat(seeded.first.date)
    issued = {seeded.record(n)["dates"]["issue_date"] for n in seeded.first.certificates}
    assert issued == {day.isoformat()}
    assert seeded.record("nmi_volume")["dates"]["performance_end"] < day.isoformat()
    state = json.loads((seeded.data_dir / "demo" / "demo.json").read_text())
    assert (
        state["date"] == seeded.first.date
        and state["summary"]["certificates"] == seeded.second.to_dict()["certificates"]
    )


def test_usci_completion() -> None:
    code = usci("91330106MA27XK5L3")
    assert len(code) == 18 and is_valid_usci(code)
    with pytest.raises(ValueError):
        usci("IIIIIIIIIIIIIIIII")
