"""One rulebook, across the services: whatever the registry accepts and anchors, the verifier does not call INVALID.

Generated variants of the lab's record (dates before its registration, a future issue date, a standard nobody
anchored or one revoked, a scope it lacks, another lab's name, a calibration for a 强检 instrument, a validity
longer than the regulation allows) are sent to the registry served over real HTTP; each one it accepts is anchored
by its worker and then verified by a verifier whose only source is that registry, over HTTP (its proof bundle and
the standards' bundles), against the chain. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from registry.anchoring import AnchoringWorker
from tests.registry.cli.conftest import served
from tests.registry.conftest import LabWorld, nmi_standard
from tracecert.certificate.canonical import from_hex
from tracecert.chain.types import RevocationReason
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.report import CHECKS, Verdict
from tracecert.verification.sources import RegistrySource

pytestmark = pytest.mark.chain
_numbers = itertools.count(1)


@pytest.fixture
def registry(world: LabWorld) -> Iterator[str]:
    """The world's registry over real HTTP, its worker running."""
    with served(world.core) as url:
        yield url


@pytest.fixture
def revoked_standard(world: LabWorld) -> dict[str, Any]:
    """A second certificate of the NMI for the same weights, revoked on the NMI's request after anchoring."""
    bundle = nmi_standard(world.core, world.standard["record"]["lab"]["lab_id"], world.chain, number="NIM-2026-M0002")
    nmi = world.core.lab(bundle["record"]["lab"]["lab_id"])
    writer = world.core.sender_for(nmi.writer_address)
    world.chain.contracts.revoke(
        writer, from_hex(nmi.lab_id), from_hex(bundle["digest"]), RevocationReason.ERROR_IN_CONTENT
    )
    return bundle


VARIANTS = st.fixed_dictionaries(
    {
        # days before today the work was done (the lab was registered 30 days ago)
        "performed": st.sampled_from([1, 2, 40, 1000]),
        # days after the work it was issued (past today: a future issue date)
        "issued_after": st.sampled_from([0, 1, 3]),
        "category": st.sampled_from(["0201", "PRESSURE", "MASS"]),
        "standard": st.sampled_from(["valid", "revoked", "unanchored"]),
        "name": st.sampled_from(["own", "another lab's"]),
        "kind": st.sampled_from(["VERIFICATION", "CALIBRATION of a 强检 instrument"]),
        "validity_days": st.sampled_from([300, 400]),
    }
)


def _variant(**changes: Any) -> dict[str, Any]:
    return {"performed": 1, "issued_after": 1, "category": "0201", "standard": "valid", "name": "own",
            "kind": "VERIFICATION", "validity_days": 300} | changes  # fmt: skip


def _record(world: LabWorld, standards: dict[str, dict[str, Any]], v: dict[str, Any]) -> dict[str, Any]:
    d = world.day
    performed = -v["performed"]
    record = world.record(
        f"JD2026-RB{next(_numbers):05d}",
        dates={"receipt_date": d(performed), "performance_begin": d(performed), "performance_end": d(performed),
               "issue_date": d(performed + v["issued_after"]),
               "valid_until": d(performed + v["validity_days"])},
        item__category_code=v["category"],
    )  # fmt: skip
    cited = standards[v["standard"]]
    record["standards_used"][0].update(certificate_digest=cited["digest"])
    if v["name"] != "own":
        record["lab"]["name"] = "南京市计量监督检测院"
    if v["kind"] != "VERIFICATION":
        record.update(kind="CALIBRATION")
        record.pop("conclusion")
        record["dates"].pop("valid_until")
        record["results"][0].update(expanded_uncertainty="0.5", coverage_factor="2")
    return record


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(variant=VARIANTS)
@example(variant=_variant())  # genuine: accepted and VALID
@example(variant=_variant(validity_days=400))  # longer than JJG 539 allows: accepted, VALID_WITH_WARNINGS
@example(variant=_variant(performed=1000))  # before the lab was registered
@example(variant=_variant(issued_after=3))  # issued in the future
@example(variant=_variant(standard="unanchored"))
@example(variant=_variant(standard="revoked"))
@example(variant=_variant(kind="CALIBRATION of a 强检 instrument"))
def test_what_the_registry_anchors_the_verifier_does_not_call_invalid(
    world: LabWorld, registry: str, revoked_standard: dict[str, Any], variant: dict[str, Any]
) -> None:
    standards = {
        "valid": world.standard,
        "revoked": revoked_standard,
        "unanchored": dict(world.standard, digest="0x" + "5a" * 32),
    }
    record = _record(world, standards, variant)
    auth = {"Authorization": f"Bearer {world.token}"}
    answer = httpx.post(f"{registry}/v1/certificates", json={"record": record}, headers=auth, timeout=30)
    if answer.status_code != 201:
        assert answer.status_code in (403, 422), answer.text
        error = answer.json()["error"]
        if error["code"] in CHECKS:  # a refusal of the rulebook names every failed check with its field
            assert all(d["rule"] in CHECKS and d["field"] and d["message_zh"] for d in error["details"])
        assert variant != _variant(), error
        return
    digest = answer.json()["digest"]
    AnchoringWorker(world.core).drain()
    verifier = Verifier(LiveChainView(world.chain.contracts), RegistrySource(registry, world.token))
    bundle = httpx.get(f"{registry}/v1/certificates/{digest}/bundle", headers=auth, timeout=30)
    assert bundle.status_code == 200, bundle.text
    report = verifier.verify_bundle(bundle.json())
    assert report.verdict is not Verdict.INVALID, (variant, report.to_dict()["reasons"])
    if variant["validity_days"] == 400 and variant["kind"] == "VERIFICATION":  # accepted with a warning
        assert "VALIDITY_PERIOD" in report.codes
        regulator = {"Authorization": f"Bearer {world.regulator_token}"}
        signals = httpx.get(f"{registry}/v1/fraud-signals", headers=regulator, timeout=30)
        assert "VALIDITY_PERIOD" in {s["kind"] for s in signals.json()["items"]}
