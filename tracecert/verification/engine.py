"""The verification engine: a certificate (bundle, record, document or number) checked against the chain.

Inputs are normalized to :class:`~tracecert.verification.evidence.Evidence` first (record, digest, signature,
inclusion proof, document); then every check in :data:`tracecert.verification.report.CHECKS` runs, family by family
(:mod:`~tracecert.verification.checks_record`, :mod:`~tracecert.verification.checks_lab`,
:mod:`~tracecert.verification.trace`), and the :class:`~tracecert.verification.report.Report` collects all
outcomes — never just the first failure. Traceability verifies each standard's certificate with the same engine,
recursively, with a depth bound and a visited set, and returns the chain as a tree; the standards' certificates
found and verified are reused for a few seconds
(:attr:`~tracecert.verification.evidence.Policy.cache_seconds`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from tracecert.certificate.canonical import certificate_digest, from_hex, to_hex
from tracecert.certificate.model import CertificateRecord, Kind
from tracecert.chain.contracts import BatchInfo
from tracecert.instruments import category_label
from tracecert.verification.chainview import ChainView, LabState
from tracecert.verification.checks_lab import check_lab, check_signature
from tracecert.verification.checks_record import (
    check_anchoring,
    check_dates,
    check_dcc_signature,
    check_document,
    check_in_force,
    check_kind,
    check_number_reused,
    check_published,
    check_status,
    lab_key_test,
)
from tracecert.verification.evidence import Evidence, Policy
from tracecert.verification.report import CheckResult, Report, TraceNode
from tracecert.verification.sources import BundleSource, CheckedSource, MemorySource
from tracecert.verification.trace import check_trace, item_keys

__all__ = ["ChecksMemo", "Verifier"]

_T = TypeVar("_T")


@dataclass
class _Outcome:
    """What one family of checks added to a report (its checks, its certificate entries) and returned."""

    checks: list[CheckResult]
    certificate: dict[str, Any]
    value: Any
    node: TraceNode | None = None  # the traceability checks' node (their tree below it)

    def replay(self, report: Report) -> None:
        """Add the same outcome to another report (the check results are shared: nothing changes them)."""
        report.checks.extend(self.checks)
        report.certificate.update(self.certificate)


def _recorded(report: Report, checks: Callable[[], _T]) -> tuple[_T, _Outcome]:
    """Run ``checks`` on ``report`` and return its value and what it added."""
    first = len(report.checks)
    before = dict(report.certificate)
    value = checks()
    added = {k: v for k, v in report.certificate.items() if k not in before or before[k] is not v}
    return value, _Outcome(report.checks[first:], added, value)


#: The expiries of the standards' reports used by the traceability checks running in this thread (collected while
#: a memo's entry is made, so that it expires no later than what it was made of).
_used = threading.local()


class ChecksMemo:
    """The lab and traceability checks of certificates that have the parts they read in common, made once.

    Certificates of one lab are mostly the same work on different instruments: the same lab, dates, kind and
    standards. Those checks read only the parts of a record in each key below, plus the chain, so a record equal to
    an earlier one in those parts gets the same results:

    - the lab checks (:func:`check_lab`): lab id and name, issue and performance-begin dates, kind, category, and
      the anchoring time;
    - the traceability checks (:func:`check_trace`): standards used, performance dates, kind, results, the item's
      MPE, the lab's kind, the depth; and the record's own identities (digest, instruments, and those of the path
      above it), which matter only when they meet what is upstream (a loop): an outcome is reused only for a record
      that meets nothing upstream, and kept only from one that met nothing.

    Without ``seconds``, for one request (:meth:`Verifier.preflight`: the registry judges a bulk at one chain time);
    with it, a verifier's own, an outcome kept at most ``seconds`` and no longer than the standards' reports it was
    made of (:attr:`~tracecert.verification.evidence.Policy.cache_seconds`, as those reports are), at most
    ``entries`` of each family. ``tests/verifier/test_rulebook.py`` holds the reports equal to those made without a
    memo.
    """

    def __init__(self, seconds: float | None = None, entries: int = 0) -> None:
        self.seconds, self.entries = seconds, entries
        self.lab: dict[tuple[Any, ...], tuple[float, _Outcome]] = {}
        self.trace: dict[tuple[Any, ...], tuple[float, _Outcome]] = {}
        self._lock = threading.Lock()

    def get(
        self, table: dict[tuple[Any, ...], tuple[float, _Outcome]], key: tuple[Any, ...]
    ) -> tuple[float, _Outcome] | None:
        """The outcome kept under ``key`` and when it expires, unless it has."""
        with self._lock:
            hit = table.get(key)
        if hit is None or (self.seconds is not None and hit[0] <= time.monotonic()):
            return None
        return hit

    def put(
        self, table: dict[tuple[Any, ...], tuple[float, _Outcome]], key: tuple[Any, ...], outcome: _Outcome,
        expires: float = math.inf,
    ) -> None:  # fmt: skip
        """Keep ``outcome`` under ``key`` until ``expires`` (monotonic), and no longer than the memo keeps any."""
        if self.seconds is not None:
            expires = min(expires, time.monotonic() + self.seconds)
        with self._lock:
            if self.entries:
                _bounded(table, self.entries)
            table[key] = (expires, outcome)


class Verifier:
    """Checks certificates against the chain.

    Args:
        chain: the chain reads (a live node, or the verifier's index).
        sources: where to find bundles (standards' certificates, documents by hash, numbers); never trusted.
        policy: thresholds.
    """

    def __init__(self, chain: ChainView, sources: BundleSource | None = None, policy: Policy | None = None) -> None:
        self.chain = chain
        inner = sources if sources is not None else MemorySource()
        # Sources are never trusted: whatever they return must answer the question asked.
        self.sources: CheckedSource = inner if isinstance(inner, CheckedSource) else CheckedSource(inner)
        self.policy = policy or Policy()
        self._cache: dict[tuple[bytes, int, int], tuple[float, Report]] = {}
        self._evidence: dict[bytes, tuple[float, Evidence]] = {}
        self._cache_lock = threading.Lock()
        # What certificates of one lab and standards have in common, checked once per cache_seconds.
        self._memo = (
            ChecksMemo(self.policy.cache_seconds, self.policy.cache_entries) if self.policy.cache_seconds > 0 else None
        )

    # ------------------------------------------------------------------ entry points

    def verify_bundle(
        self,
        bundle: dict[str, Any],
        *,
        document: bytes | None = None,
        as_of: int | None = None,
        expected_kind: Kind | None = None,
    ) -> Report:
        """Verify a proof bundle (and optionally the original document it binds)."""
        with self._reading():
            return self.verify(Evidence.from_bundle(bundle, document), as_of=as_of, expected_kind=expected_kind)

    def verify_record(
        self, record: bytes | str | dict[str, Any], *, as_of: int | None = None, expected_kind: Kind | None = None
    ) -> Report:
        """Verify a bare record: its bundle is looked up by digest in the sources."""
        evidence = Evidence.from_record(record)
        if evidence.digest is not None:
            found = self.sources.by_digest(to_hex(evidence.digest))
            if found is not None:
                bundled = Evidence.from_bundle(found)
                if bundled.digest == evidence.digest:
                    evidence = bundled
        with self._reading():
            return self.verify(evidence, as_of=as_of, expected_kind=expected_kind)

    def verify_document(self, data: bytes, *, as_of: int | None = None, expected_kind: Kind | None = None) -> Report:
        """Verify a raw document (PDF or DCC XML) by its SHA-256: the certificate that binds it is looked up. A
        DCC that TraceCert exported from a record (it states the record's own original document) binds nothing:
        it is read back into its record, whose certificate is looked up by digest and verified as that record."""
        sha = "0x" + hashlib.sha256(data).hexdigest()
        found = self.sources.by_document(sha)
        rendered = self._rendered_record(data) if found is None else None
        if rendered is not None:
            bundle = self.sources.by_digest(to_hex(certificate_digest(rendered)))
            if bundle is not None:
                return self.verify(Evidence.from_bundle(bundle), as_of=as_of, expected_kind=expected_kind)
        if found is None:
            report = Report(None, as_of if as_of is not None else self.chain.now(), unknown=True)
            report.add(
                "ANCHORED", False, f"no anchored certificate binds a document with SHA-256 {sha}", document_sha256=sha
            )
            return report
        return self.verify(Evidence.from_bundle(found, data), as_of=as_of, expected_kind=expected_kind)

    @staticmethod
    def _rendered_record(data: bytes) -> CertificateRecord | None:
        """The record a TraceCert DCC export renders, or None (not XML, not a DCC, a lab's own DCC)."""
        if b"tracecert_originalDocument" not in data[:4_000_000]:
            return None
        from tracecert.certificate.dcc import import_dcc
        from tracecert.certificate.errors import CertificateError

        try:
            imported = import_dcc(data)
        except CertificateError:
            return None
        bound = imported.record.original_document
        if bound is not None and bound.sha256 == to_hex(imported.document_sha256):
            return None  # it binds itself: the lookup by document hash already answered
        return imported.record

    def verify_number(self, lab_id: str, number: str, *, as_of: int | None = None) -> Report:
        """Verify a lab's certificate by its number."""
        with self._reading():
            return self._verify_number(lab_id, number, as_of)

    def _verify_number(self, lab_id: str, number: str, as_of: int | None) -> Report:
        found = self.sources.by_number(lab_id, number)
        if not found:
            report = Report(None, as_of if as_of is not None else self.chain.now(), unknown=True)
            report.add("ANCHORED", False, f"no anchored certificate {number!r} of lab {lab_id} is known")
            return report
        report = self.verify(Evidence.from_bundle(found[0]), as_of=as_of)
        if len(found) > 1:
            check_number_reused(report, lab_id, number, [str(b.get("digest")) for b in found], self.chain, self.sources)
        return report

    def preflight(
        self,
        record: CertificateRecord,
        *,
        key_id: bytes,
        signature: bytes,
        at: int,
        signature_checked: bool = False,
        memo: ChecksMemo | None = None,
    ) -> Report:
        """Every check that can be decided before anchoring (``CheckSpec.at_acceptance``), as if the record's lab
        anchored it at ``at`` with ``key_id``: what the registry runs at acceptance, with the verifier's own code,
        so that it anchors nothing the verifier calls INVALID. The checks of the anchoring itself and of what
        happens after it (revocation, substitution, a number reused later) are the verifier's alone.

        The report's failed ERROR checks are the refusals; its failed WARNING checks are accepted and worth a
        regulator's look. ``signature_checked`` says the caller verified ``signature`` with the key ``key_id`` of
        the chain already (the registry, which has just made or checked it): it is not verified twice. ``memo``
        reuses the lab and traceability checks of the same request's earlier records (see :class:`ChecksMemo`;
        one made for the request, without ``seconds``).
        """
        digest = certificate_digest(record)
        report = Report(to_hex(digest), at)
        report.add("RECORD_WELL_FORMED", True)
        report.add("SIGNERS_DISTINCT", True)  # enforced by the record model for every kind
        # No certificate summary (``report.certificate``): the registry reads only the failed checks, per record.
        evidence = Evidence(
            record=record,
            digest=digest,
            key_id=key_id,
            signature=signature,
            source="preflight",
            signature_checked=signature_checked,
        )
        as_anchored = BatchInfo(
            root=bytes(32), lab_id=from_hex(record.lab.lab_id), key_id=key_id, count=1, index=-1, timestamp=at,
            block_number=0,
        )  # fmt: skip
        check_signature(report, evidence, record, as_anchored, self.chain, self.policy)
        lab = self._lab_checks(report, record, at, memo)
        check_kind(report, record, None)
        check_dates(report, record, at, self.policy)
        check_in_force(report, record, at, self.policy)
        visited = frozenset({digest}) | item_keys(record)
        self._trace_checks(report, record, digest, lab, visited, 0, memo)
        report.checks = [c for c in report.checks if c.spec.at_acceptance]
        return report

    def _lab_checks(
        self, report: Report, record: CertificateRecord, anchor_time: int, memo: ChecksMemo | None
    ) -> LabState | None:
        """:func:`check_lab`, or its outcome for an earlier record with the same lab parts (see :class:`ChecksMemo`)."""
        if memo is None:
            return check_lab(report, record, anchor_time, self.chain, self.policy)
        d = record.dates
        key = (record.lab.lab_id, record.lab.name, d.issue_date, d.performance_begin, record.kind,
               record.item.category_code, anchor_time)  # fmt: skip
        known = memo.get(memo.lab, key)
        if known is not None:
            known[1].replay(report)
            lab: LabState | None = known[1].value
            return lab
        lab, outcome = _recorded(report, lambda: check_lab(report, record, anchor_time, self.chain, self.policy))
        memo.put(memo.lab, key, outcome)
        return lab

    def _trace_checks(
        self,
        report: Report,
        record: CertificateRecord,
        digest: bytes,
        lab: LabState | None,
        visited: frozenset[bytes],
        depth: int,
        memo: ChecksMemo | None,
    ) -> None:
        """:func:`check_trace`, or its outcome for an earlier record with the same traceability parts when neither
        record meets what is upstream (see :class:`ChecksMemo`)."""
        if memo is None:
            check_trace(report, record, digest, lab, visited, depth, self.policy, self._standard_evidence,
                        self._parent_report)  # fmt: skip
            return
        d = record.dates
        key = (record.standards_used, d.performance_begin, d.performance_end, record.kind, record.results,
               record.item.mpe, lab.kind if lab is not None else None, depth)  # fmt: skip
        hit = memo.get(memo.trace, key)
        if hit is not None and (node := hit[1].node) is not None and not (hit[1].value & visited):
            expires, known = hit
            known.replay(report)
            report.subtree = frozenset({digest}) | item_keys(record) | known.value
            report.trace = TraceNode(
                to_hex(digest), record.certificate_number, record.lab.lab_id,
                report.certificate.get("lab_name_on_chain") or record.lab.name, node.lab_kind, None,
                note=node.note, children=list(node.children),
            )  # fmt: skip
            if (used := getattr(_used, "expiries", None)) is not None:
                used.append(expires)  # an entry being made of this one expires with it
            return
        outer = getattr(_used, "expiries", None)
        expiries: list[float] = []
        _used.expiries = expiries
        try:
            upstream, outcome = _recorded(
                report,
                lambda: check_trace(
                    report, record, digest, lab, visited, depth, self.policy, self._standard_evidence,
                    self._parent_report,
                ),
            )  # fmt: skip
        finally:
            _used.expiries = outer
            if outer is not None:
                outer.extend(expiries)
        if not (upstream & visited) and report.trace is not None:
            outcome.node = report.trace
            memo.put(memo.trace, key, outcome, min(expiries, default=math.inf))

    def verify(
        self,
        evidence: Evidence,
        *,
        as_of: int | None = None,
        expected_kind: Kind | None = None,
        _visited: frozenset[bytes] = frozenset(),
        _depth: int = 0,
    ) -> Report:
        """Run every check on normalized evidence."""
        now = as_of if as_of is not None else self.chain.now()
        report = Report(to_hex(evidence.digest) if evidence.digest else None, now)
        record = evidence.record
        if record is None:
            detail = evidence.record_error.message if evidence.record_error else "no record"
            code = evidence.record_error.code if evidence.record_error else "RECORD_INVALID"
            report.add(
                "RECORD_WELL_FORMED",
                False,
                f"{code}: {detail}",
                errors=[e.to_dict() for e in evidence.record_error.errors] if evidence.record_error else [],
            )
            report.unknown = True
            return report
        report.add("RECORD_WELL_FORMED", True)
        report.add("SIGNERS_DISTINCT", True)  # enforced by the record model for every kind
        report.certificate = _summary(record)
        digest = evidence.digest
        assert digest is not None
        if evidence.claimed_digest is not None:
            report.add(
                "DIGEST_MATCHES",
                evidence.claimed_digest == digest,
                ""
                if evidence.claimed_digest == digest
                else f"the record hashes to {to_hex(digest)}, the bundle claims {to_hex(evidence.claimed_digest)}",
            )
        document = evidence.document
        if document is not None:  # its DCC signature is judged at the anchoring time, below
            check_document(report, record, document, self.policy.dcc_trust, signature=False)
        if evidence.claimed_digest is not None and evidence.claimed_digest != digest:
            # An altered copy: say whether the original it claims to be was anchored, and stop there.
            original = replace(evidence, digest=evidence.claimed_digest)
            batch = check_anchoring(report, original, record, self.chain)
            report.unknown = batch is None
            if document is not None:
                keys = lab_key_test(self.chain, record.lab.lab_id, None)
                check_dcc_signature(report, document, self.policy.dcc_trust, lab_keys=keys)
            return self._finish(report)

        batch = check_anchoring(report, evidence, record, self.chain)
        if document is not None:
            anchored_at = dt.datetime.fromtimestamp(batch.timestamp, dt.UTC) if batch is not None else None
            keys = lab_key_test(self.chain, record.lab.lab_id, anchored_at)
            check_dcc_signature(report, document, self.policy.dcc_trust, anchored_at, keys)
        if batch is None:
            report.unknown = True
            return report
        anchor_time = batch.timestamp
        report.anchor = {
            "chain_id": self.chain.chain_id(),
            "contract": self.chain.certificate_registry(),
            "root": to_hex(batch.root),
            "batch_index": batch.index,
            "block_number": batch.block_number,
            "block_timestamp": anchor_time,
            "leaf_index": evidence.leaf_index,
        }
        check_published(report, batch, self.chain)
        check_signature(report, evidence, record, batch, self.chain, self.policy)
        lab = self._lab_checks(report, record, anchor_time, self._memo)
        check_kind(report, record, expected_kind)
        check_dates(report, record, anchor_time, self.policy)
        check_status(report, record, digest, now, self.chain, self.sources, self.policy)
        visited = _visited | {digest} | item_keys(record)
        self._trace_checks(report, record, digest, lab, visited, _depth, self._memo)
        return self._finish(report)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """One verification's chain reads, pinned where the chain view offers it (the verifier's index checks
        whether its file changed once per verification instead of at every lookup)."""
        pinned = getattr(self.chain, "pinned", None)
        if pinned is None:
            yield
            return
        with pinned():
            yield

    @staticmethod
    def _finish(report: Report) -> Report:
        if report.trace is not None:
            report.trace.verdict = report.verdict
        return report

    def _standard_evidence(self, digest: bytes) -> Evidence | None:
        """A standard's certificate found in the sources and parsed, reused for ``cache_seconds`` (it is addressed
        by its digest, so only its anchoring evidence can change: a batch put back and anchored again)."""
        now = time.monotonic()
        with self._cache_lock:
            hit = self._evidence.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        bundle = self.sources.by_digest(to_hex(digest))
        if bundle is None:
            return None
        evidence = Evidence.from_bundle(bundle)
        if self.policy.cache_seconds > 0 and evidence.digest == digest:
            with self._cache_lock:
                _bounded(self._evidence, self.policy.cache_entries)
                self._evidence[digest] = (now + self.policy.cache_seconds, evidence)
        return evidence

    def _parent_report(self, evidence: Evidence, as_of: int, visited: frozenset[bytes], depth: int) -> Report:
        """A standard's certificate verified as of the end of the child's work, reused for ``cache_seconds``
        unless the current path meets something in its subtree (then it is verified again, to find the cycle). A
        report made on a path that met its subtree is not kept: it holds that path's loop."""
        assert evidence.digest is not None
        key = (evidence.digest, as_of, depth)
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
        used = getattr(_used, "expiries", None)  # a memo's entry being made of this report expires with it
        if hit is not None and hit[0] > now and not (hit[1].subtree & visited):
            if used is not None:
                used.append(hit[0])
            return hit[1]
        report = self.verify(evidence, as_of=as_of, _visited=visited, _depth=depth)
        if used is not None:
            used.append(now + self.policy.cache_seconds)
        # Kept only when the path met nothing in it: a report made on a loop says so, which is this path's alone.
        if self.policy.cache_seconds > 0 and not (report.subtree & visited):
            with self._cache_lock:
                _bounded(self._cache, self.policy.cache_entries)
                self._cache[key] = (now + self.policy.cache_seconds, report)
        return report

    def with_policy(self, **changes: Any) -> Verifier:
        """A verifier with some thresholds changed."""
        return Verifier(self.chain, self.sources, replace(self.policy, **changes))


def _bounded(cache: dict[Any, Any], entries: int) -> None:
    """Make room in a cache: drop its oldest quarter when it is full (insertion order)."""
    if len(cache) >= entries:
        for stale in list(cache)[: max(1, entries // 4)]:
            del cache[stale]


def _summary(record: CertificateRecord) -> dict[str, Any]:
    return {
        "kind": record.kind.value,
        "certificate_number": record.certificate_number,
        "lab_id": record.lab.lab_id,
        "lab_name": record.lab.name,
        "item": {
            "name": record.item.name,
            "category_code": record.item.category_code,
            "category_zh": category_label(record.item.category_code, zh=True),
            "category_en": category_label(record.item.category_code, zh=False),
            "serial_number": record.item.serial_number,
            "model": record.item.model,
        },
        "dates": json.loads(record.dates.model_dump_json(exclude_none=True)),
        "customer": {"name": record.customer.name},  # the owner's name only, as the certificate shows it
        "method": record.method.reference or record.method.title,
        "conclusion": record.conclusion.value if record.conclusion else None,
    }
