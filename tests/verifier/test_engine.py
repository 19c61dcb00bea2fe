"""The verification engine against a real chain: a valid chain, every check run, and the fake-certificate cases of
the issue about the record itself: altered content or document, never anchored, revoked, substituted, not yet
issued, a number reused, lying sources. (The lab's: test_engine_lab; traceability: test_engine_trace.)"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from tests.verifier.conftest import TraceWorld, calibration, chain_of_three, reuse_number, standard_from, tamper
from tests.verifier.verdicts import fails
from tracecert.certificate.canonical import from_hex
from tracecert.certificate.dcc import export_dcc
from tracecert.certificate.model import record_from_json
from tracecert.chain.types import RevocationReason
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.checks_record import MAX_NUMBER_CLAIMS
from tracecert.verification.engine import Verifier
from tracecert.verification.report import Outcome, Verdict
from tracecert.verification.sources import MemorySource


def test_valid_chain_of_three(trace_world: TraceWorld) -> None:
    top, mid, leaf = chain_of_three(trace_world)
    report = trace_world.verifier.verify_bundle(leaf)
    assert report.verdict is Verdict.VALID, [(r["code"], r["detail"]) for r in report.to_dict()["reasons"]]
    # Every check passes; a node cannot say whether the batch's contents were published (the index can).
    assert {c.code: c.outcome for c in report.checks if c.outcome is not Outcome.PASS} == {
        "BATCH_PUBLISHED": Outcome.SKIP
    }
    tree = report.trace
    assert tree is not None and tree.digest == leaf["digest"]
    [provincial] = tree.children
    assert provincial.digest == mid["digest"] and provincial.verdict is Verdict.VALID
    [nmi] = provincial.children
    assert nmi.digest == top["digest"] and nmi.lab_kind == "NMI"


def test_every_declared_check_runs(trace_world: TraceWorld) -> None:
    _, _, leaf = chain_of_three(trace_world)
    report = trace_world.verifier.verify_bundle(leaf, document=None)
    ran = {c.code for c in report.checks}
    # Checks that only run for other inputs: documents, verification kinds, expected kinds, validity periods.
    assert ran >= {
        "RECORD_WELL_FORMED",
        "DIGEST_MATCHES",
        "ANCHORED",
        "INCLUSION_PROOF",
        "ANCHORED_BY_LAB",
        "SIGNATURE_VALID",
        "KEY_OF_LAB",
        "KEY_MATCHES_BATCH",
        "KEY_VALID_AT_ISSUE",
        "LAB_REGISTERED",
        "LAB_NAME",
        "LAB_ACTIVE_AT_ISSUE",
        "LAB_AUTHORIZED_AT_ISSUE",
        "LAB_SCOPE",
        "ISSUED_BEFORE_ANCHOR",
        "ANCHOR_LAG",
        "NOT_EXPIRED",
        "NOT_REVOKED",
        "NOT_SUBSTITUTED",
        "NUMBER_UNIQUE",
        "BATCH_PUBLISHED",
        "TRACE_STANDARD_FOUND",
        "TRACE_REACHES_NMI",
        "TRACE_UNCERTAINTY",
        "SIGNERS_DISTINCT",
    }


def test_record_with_a_changed_value(trace_world: TraceWorld) -> None:
    _, _, leaf = chain_of_three(trace_world)
    forged = tamper(leaf, "results.0.value", "0.000")
    fails(trace_world.verifier.verify_bundle(forged), "DIGEST_MATCHES")


def test_document_with_one_byte_changed(trace_world: TraceWorld) -> None:
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
    import hashlib

    d = trace_world.day
    record = calibration(
        trace_world.nmi, "NIM-2026-DOC", serial="PG-1", item="活塞式压力计", u="0.0005", performed=d(-2), issued=d(-1)
    )
    record["original_document"] = {"media_type": "application/pdf", "sha256": "0x" + hashlib.sha256(pdf).hexdigest()}
    [bundle] = trace_world.issue(trace_world.nmi, record)
    assert trace_world.verifier.verify_bundle(bundle, document=pdf).verdict is Verdict.VALID
    altered = bytearray(pdf)
    altered[100] ^= 0x01
    fails(trace_world.verifier.verify_bundle(bundle, document=bytes(altered)), "DOCUMENT_MATCHES")
    # Looked up by the document's hash alone:
    assert trace_world.verifier.verify_document(pdf).verdict is Verdict.VALID
    unknown = trace_world.verifier.verify_document(bytes(altered))
    assert unknown.unknown and unknown.verdict is Verdict.INVALID and "ANCHORED" in unknown.codes


def test_a_dcc_export_of_a_record_is_verified_as_that_record(trace_world: TraceWorld) -> None:
    """An enterprise holds the DCC 3.3.0 that TraceCert exported from an anchored certificate: it binds no
    document, so it is read back into its record and verified as that certificate; one value changed in the XML
    is a record nobody anchored."""
    _, mid, _ = chain_of_three(trace_world)
    xml = export_dcc(record_from_json(mid["record"]))
    report = trace_world.verifier.verify_document(xml)
    assert report.verdict is Verdict.VALID, report.to_dict()["reasons"]
    assert report.digest == mid["digest"]
    value = mid["record"]["results"][0]["value"]
    altered = xml.replace(f"<si:value>{value}</si:value>".encode(), b"<si:value>9.999</si:value>", 1)
    assert altered != xml
    unknown = trace_world.verifier.verify_document(altered)
    assert unknown.unknown and unknown.verdict is Verdict.INVALID and "ANCHORED" in unknown.codes


def test_correctly_formed_but_never_anchored(trace_world: TraceWorld) -> None:
    _, _, leaf = chain_of_three(trace_world)
    other = dict(leaf)
    other["anchor"] = {**leaf["anchor"], "root": "0x" + "11" * 32}
    report = trace_world.verifier.verify_bundle(other)
    fails(report, "ANCHORED")
    assert report.unknown
    record_only = trace_world.verifier.verify_record(
        calibration(trace_world.city, "HZ-NEVER", serial="X", item="压力表", u="0.01")
    )
    fails(record_only, "ANCHORED")


def test_revoked_and_valid_as_of_before(trace_world: TraceWorld) -> None:
    _, _, leaf = chain_of_three(trace_world)
    c, lab = trace_world.chain.contracts, trace_world.city
    trace_world.chain.advance(3600)
    c.revoke(lab.writer, lab.lab_id, from_hex(leaf["digest"]), RevocationReason.ERROR_IN_CONTENT)
    revoked_at = trace_world.chain.now()
    fails(trace_world.verifier.verify_bundle(leaf), "NOT_REVOKED")
    before = trace_world.verifier.verify_bundle(leaf, as_of=revoked_at - 1800)
    assert before.verdict is Verdict.VALID, before.to_dict()["reasons"]


def test_substituted(trace_world: TraceWorld) -> None:
    _, mid, leaf = chain_of_three(trace_world)
    lab, d = trace_world.city, trace_world.day
    fixed = calibration(
        lab,
        "HZ-2026-C0033-R1",
        serial="YB-8812",
        item="压力表",
        u="0.01",
        performed=d(-1),
        issued=d(0),
        standards=[standard_from(mid)],
    )
    fixed["replaces"] = {
        "certificate_number": leaf["record"]["certificate_number"],
        "certificate_digest": leaf["digest"],
    }
    [new] = trace_world.issue(lab, fixed)
    trace_world.chain.contracts.substitute(lab.writer, lab.lab_id, from_hex(leaf["digest"]), from_hex(new["digest"]))
    report = trace_world.verifier.verify_bundle(leaf)
    fails(report, "NOT_SUBSTITUTED")
    assert report.replaced_by == new["digest"]
    assert trace_world.verifier.verify_bundle(new).verdict is Verdict.VALID


def test_verify_by_number_and_number_reuse(trace_world: TraceWorld) -> None:
    w = trace_world
    _, mid, leaf = chain_of_three(w)
    report = w.verifier.verify_number(w.city.hex_id, leaf["record"]["certificate_number"])
    assert report.verdict is Verdict.VALID
    second = reuse_number(w, leaf, mid, publish=False)
    # The one uploaded (in no source) counts: its own anchoring by the lab was just checked.
    fails(w.verifier.verify_bundle(second), "NUMBER_UNIQUE")
    w.source.add(second)
    fails(w.verifier.verify_bundle(leaf), "NUMBER_UNIQUE")


def test_unknown_number_is_unknown_not_valid(trace_world: TraceWorld) -> None:
    report = trace_world.verifier.verify_number(trace_world.city.hex_id, "HZ-NOPE")
    assert report.unknown and report.verdict is Verdict.INVALID


def test_report_json_is_bilingual(trace_world: TraceWorld) -> None:
    _, _, leaf = chain_of_three(trace_world)
    forged = tamper(leaf, "results.0.value", "0.000")
    body = trace_world.verifier.verify_bundle(forged).to_dict()
    [reason] = [r for r in body["reasons"] if r["code"] == "DIGEST_MATCHES"]
    assert reason["zh"] and reason["en"] and reason["severity"] == "ERROR"
    assert dt.datetime.fromtimestamp(body["as_of"], dt.UTC).year >= 2026


# --- found in review: each of these used to come out VALID ------------------------------------------------


def test_a_lying_source_cannot_answer_another_question(trace_world: TraceWorld) -> None:
    from tracecert.verification.engine import Verifier

    w = trace_world
    _, _, leaf = chain_of_three(w)

    class Liar:
        def by_digest(self, digest: str) -> dict | None:
            return leaf

        def by_document(self, sha256: str) -> dict | None:
            return leaf

        def by_number(self, lab_id: str, number: str) -> list[dict]:
            return [leaf]

    verifier = Verifier(w.verifier.chain, Liar())  # type: ignore[arg-type]
    assert verifier.sources.by_digest("0x" + "ab" * 32) is None
    assert verifier.sources.by_digest(leaf["digest"]) == leaf
    assert verifier.sources.by_number(w.city.hex_id, "NO-SUCH-1") == []
    assert verifier.sources.by_document("0x" + "cd" * 32) is None
    report = verifier.verify_number(w.city.hex_id, "NO-SUCH-1")
    assert report.unknown and report.verdict is Verdict.INVALID


def test_as_of_before_the_certificate_existed(trace_world: TraceWorld) -> None:
    _, _, leaf = chain_of_three(trace_world)
    fails(trace_world.verifier.verify_bundle(leaf, as_of=1_600_000_000), "ISSUED_BY_AS_OF")


def test_another_lab_cannot_frame_a_certificate_as_number_reuse(trace_world: TraceWorld) -> None:
    w = trace_world
    _, _, leaf = chain_of_three(w)
    copy = tamper(leaf, "customer.name", "另一家公司")
    w.issue(w.provincial, copy["record"])  # anchored by the provincial lab under the city's number
    report = w.verifier.verify_bundle(leaf)
    assert report.verdict is Verdict.VALID, [(r["code"], r["detail"]) for r in report.to_dict()["reasons"]]


class ClaimingSource:
    """A source that says many certificates share one number (a lying mirror), and counts their look-ups."""

    def __init__(self, inner: MemorySource, number: str, claims: list[str]) -> None:
        self.inner, self.number, self.claims, self.asked = inner, number, claims, 0

    def by_digest(self, digest: str) -> dict[str, Any] | None:
        self.asked += digest in self.claims
        return self.inner.by_digest(digest)

    def by_document(self, sha256: str) -> dict[str, Any] | None:
        return self.inner.by_document(sha256)

    def by_number(self, lab_id: str, number: str) -> list[dict[str, Any]]:
        lies = [{"digest": c} for c in self.claims] if number == self.number else []
        return lies + self.inner.by_number(lab_id, number)


def test_claims_of_number_reuse_are_bounded(trace_world: TraceWorld) -> None:
    w = trace_world
    _, _, leaf = chain_of_three(w)
    claims = ["0x" + os.urandom(32).hex() for _ in range(3 * MAX_NUMBER_CLAIMS)]
    source = ClaimingSource(w.source, leaf["record"]["certificate_number"], [*claims, "../../v1/admin", "0xABC"])
    report = Verifier(LiveChainView(w.chain.contracts), source).verify_bundle(leaf)
    assert report.verdict is Verdict.VALID, report.to_dict()["reasons"]  # none of the claims holds
    assert source.asked == MAX_NUMBER_CLAIMS  # only well-formed digests, and no more than the bound
