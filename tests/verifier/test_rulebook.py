"""One rulebook: what the checks decide at acceptance (``Verifier.preflight``, which the registry runs) agrees with
what the verifier says once the certificate is anchored — for generated variants of real records.

Whatever preflight accepts, the verifier does not call INVALID; whatever it refuses, the verifier calls INVALID for
one of the same reasons.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.verifier.conftest import TraceWorld, calibration, chain_of_three, standard_from
from tracecert.certificate.canonical import certificate_digest, from_hex
from tracecert.certificate.model import record_from_json
from tracecert.chain.types import RevocationReason
from tracecert.verification.report import CHECKS, Severity, Verdict

pytestmark = pytest.mark.chain
_numbers = itertools.count(1)


def test_the_catalog_says_what_is_decided_at_acceptance() -> None:
    after = {code for code, spec in CHECKS.items() if not spec.at_acceptance}
    assert after == {
        "DIGEST_MATCHES",
        "ANCHORED",
        "INCLUSION_PROOF",
        "ANCHORED_BY_LAB",
        "KEY_MATCHES_BATCH",
        "NOT_REVOKED",
        "NOT_SUBSTITUTED",
        "NUMBER_UNIQUE",
        "BATCH_PUBLISHED",
        "KIND_AS_EXPECTED",
        "VC_PROOF",
    }
    # every refusal can name the field it is about
    assert all(spec.field for spec in CHECKS.values() if spec.at_acceptance and spec.code != "RECORD_WELL_FORMED")


@pytest.fixture
def standards(trace_world: TraceWorld) -> dict[str, dict[str, Any] | None]:
    """What a city-lab record may cite: a valid standard, one whose certificate was revoked, one nobody anchored,
    or nothing."""
    _, mid, _ = chain_of_three(trace_world)
    d = trace_world.day
    [revoked] = trace_world.issue(
        trace_world.provincial,
        calibration(
            trace_world.provincial, "ZJ-REVOKED", serial="JM-4403", item="精密压力表", u="0.002",
            performed=d(-5), issued=d(-4), valid_until=d(360), standards=[standard_from(mid)],
        ),
    )  # fmt: skip
    c = trace_world.chain.contracts
    c.revoke(trace_world.provincial.writer, trace_world.provincial.lab_id, from_hex(revoked["digest"]),
             RevocationReason.ERROR_IN_CONTENT)  # fmt: skip
    unanchored = dict(mid, digest="0x" + "5a" * 32)
    return {"valid": mid, "revoked": revoked, "unanchored": unanchored, "none": None}


VARIANTS = st.fixed_dictionaries(
    {
        # days before today the work was done (the city lab's key is 30 days old; its authorization began six years ago)
        "performed": st.sampled_from([1, 3, 20, 45, 400, 3000]),
        # days after the work it was issued (a future issue date when performed - issued < 0)
        "issued_after": st.sampled_from([0, 1, 2, 5]),
        "category": st.sampled_from(["PRESSURE", "MASS"]),
        "standard": st.sampled_from(["valid", "revoked", "unanchored", "none"]),
        "name": st.sampled_from(["own", "provincial"]),
        "mandatory": st.sampled_from([None, False, True]),
    }
)


def _variant(**changes: Any) -> dict[str, Any]:
    return {"performed": 1, "issued_after": 1, "category": "PRESSURE", "standard": "valid", "name": "own",
            "mandatory": None} | changes  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(variant=VARIANTS)
@example(variant=_variant())  # a genuine certificate: accepted, and VALID once anchored
@example(variant=_variant(performed=3000))  # work before the lab was registered and its key existed
@example(variant=_variant(issued_after=2))  # issued tomorrow
@example(variant=_variant(standard="unanchored"))  # a standard cited by a digest nobody anchored
@example(variant=_variant(standard="revoked"))  # a standard whose own certificate was revoked
@example(variant=_variant(mandatory=True))  # a calibration for a 强检 instrument
@example(variant=_variant(category="MASS"))  # outside the lab's scope
@example(variant=_variant(name="provincial"))  # in another lab's name
def test_preflight_and_the_verifier_agree(
    trace_world: TraceWorld, standards: dict[str, dict[str, Any] | None], variant: dict[str, Any]
) -> None:
    w, d, lab = trace_world, trace_world.day, trace_world.city
    performed = -variant["performed"]
    standard = standards[variant["standard"]]
    record = calibration(
        lab, f"HZ-RULE-{next(_numbers):04d}", serial="YB-8812", item="压力表", u="0.01",
        performed=d(performed), issued=d(performed + variant["issued_after"]),
        valid_until=d(performed + 360), standards=[standard_from(standard)] if standard else [],
        mandatory=variant["mandatory"],
    )  # fmt: skip
    record["item"]["category_code"] = variant["category"]
    if variant["name"] == "provincial":
        record["lab"]["name"] = w.provincial.name
    parsed = record_from_json(record)
    digest = certificate_digest(parsed)
    report = w.verifier.preflight(
        parsed, key_id=lab.key.key_id, signature=lab.key.sign(digest), at=w.chain.now()
    )
    refusals = {c.code for c in report.failed(Severity.ERROR)}
    if variant == _variant():
        assert not refusals, report.to_dict()["reasons"]
    [bundle] = w.issue(lab, record)
    verdict = w.verifier.verify_bundle(bundle)
    if not refusals:
        assert verdict.verdict is not Verdict.INVALID, (variant, verdict.to_dict()["reasons"])
    else:
        assert verdict.verdict is Verdict.INVALID
        assert refusals & verdict.codes, (variant, refusals, verdict.codes)
