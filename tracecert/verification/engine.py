"""The verification engine: a certificate (bundle, record, document or number) checked against the chain.

Inputs are normalized to :class:`Evidence` first (record, digest, signature, inclusion proof, document); then every
check in :data:`tracecert.verification.report.CHECKS` runs and the :class:`~tracecert.verification.report.Report`
collects all outcomes — never just the first failure. Traceability verifies each standard's certificate with the
same engine, recursively, with a depth bound and a visited set, and returns the chain as a tree.

Times: certificate dates are calendar dates in the lab's time zone (China Standard Time, UTC+8, by default); a
date D counts as the interval [D 00:00, D+1 00:00) there. Chain times are block timestamps.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from tracecert.certificate.bundle import ProofBundle, parse_bundle
from tracecert.certificate.canonical import certificate_digest, from_hex, to_hex
from tracecert.certificate.errors import CertificateError
from tracecert.certificate.merkle import verify_inclusion
from tracecert.certificate.model import CertificateRecord, Conclusion, Kind, record_from_json
from tracecert.certificate.signing import verify_signature
from tracecert.chain.contracts import BatchInfo
from tracecert.chain.types import VERIFYING_KINDS, Activity, CertificateState, LabKind, LabStatus, RevocationReason
from tracecert.human import local_time
from tracecert.instruments import category_label
from tracecert.verification.chainview import ChainView, LabState
from tracecert.verification.report import CHECKS, Report, TraceNode
from tracecert.verification.sources import BundleSource, CheckedSource, MemorySource

#: The traceability checks judged link by link (each standard's certificate against the certificate that used it).
_LINK_CHECKS = (
    "TRACE_STANDARD_FOUND",
    "TRACE_STANDARD_VALID",
    "TRACE_SERIAL_MATCH",
    "TRACE_VALID_DURING_WORK",
    "TRACE_UNCERTAINTY",
    "TRACE_NO_CYCLE",
)
#: The moments and dates a lab's status and authorization are judged at, in Chinese.
_MOMENT_ZH = {"issue": "签发时", "anchoring": "存证时"}
_DATE_ZH = {"work": "检定/校准日期", "issue": "签发日期"}

__all__ = ["MAX_NUMBER_CLAIMS", "VALIDITY_PERIODS_DAYS", "Evidence", "Policy", "Verifier"]

DAY = 86_400
#: At most this many other certificates said to share a number are checked (claims come from sources and batch
#: listings, neither bound to the chain: a lying mirror must not make one verification fetch a whole lab).
MAX_NUMBER_CLAIMS = 16
_DIGEST_RE = re.compile(r"0x[0-9a-f]{64}")

#: Longest validity (days) the verification regulation allows, by regulation number prefix (检定周期).
VALIDITY_PERIODS_DAYS: dict[str, int] = {
    "JJG 443": 183,  # 燃油加油机: 检定周期一般不超过 6 个月
    "JJG 52": 183,  # 弹性元件式一般压力表: 一般不超过 6 个月
    "JJG 49": 366,  # 弹性元件式精密压力表
    "JJG 539": 366,  # 数字指示秤: 一般不超过 1 年
    "JJG 1148": 366,  # 电动汽车交流充电桩
    "JJG 1149": 366,  # 电动汽车非车载充电机
    "JJG 99": 366,  # 砝码
    "JJG 259": 731,  # 标准金属量器: 2 年
}


@dataclass(frozen=True)
class Policy:
    """Tunable thresholds of the checks."""

    tz_offset_hours: int = 8
    #: Longest acceptable time between the issue date and anchoring (backdating).
    max_anchor_lag_days: int = 14
    #: Test uncertainty ratio floor for calibration chains (U_child / U_parent).
    tur: Decimal = Decimal(4)
    #: For verification: the standard's U must be ≤ MPE / this.
    mpe_ratio: Decimal = Decimal(3)
    max_depth: int = 12
    default_validity_days: int = 366
    #: Follow substitutions to the replacement and report it.
    follow_substitution: bool = True
    #: How long a standard's verified certificate is reused (chain state may change: keep it short).
    cache_seconds: float = 5.0
    cache_entries: int = 10_000

    def last_anchor_time(self, issue_date: dt.date) -> int:
        """The latest anchoring time (unix seconds) that does not fail ANCHOR_LAG for a certificate issued on
        ``issue_date``: the end of that day (in ``tz_offset_hours``) plus ``max_anchor_lag_days``."""
        return _day_bounds(issue_date, self.tz_offset_hours)[1] + self.max_anchor_lag_days * DAY


@dataclass
class Evidence:
    """A certificate normalized for checking."""

    record: CertificateRecord | None = None
    record_error: CertificateError | None = None
    digest: bytes | None = None  # computed from the record (never taken on trust)
    claimed_digest: bytes | None = None
    key_id: bytes | None = None
    public_key: bytes | None = None
    signature: bytes | None = None
    root: bytes | None = None
    leaf_index: int | None = None
    tree_size: int | None = None
    proof: list[bytes] = field(default_factory=list)
    document: bytes | None = None
    source: str = ""
    #: The signature was verified against this very key already (the registry, which just made or checked it).
    signature_checked: bool = False

    @classmethod
    def from_bundle(cls, bundle: dict[str, Any] | ProofBundle, document: bytes | None = None) -> Evidence:
        """Evidence from a proof bundle (a structurally broken bundle gives evidence with ``record_error``)."""
        try:
            parsed = bundle if isinstance(bundle, ProofBundle) else parse_bundle(bundle)
        except CertificateError as exc:
            return cls(record_error=exc, document=document, source="bundle")
        record = parsed.record
        return cls(
            record=record,
            digest=certificate_digest(record),
            claimed_digest=from_hex(parsed.digest),
            key_id=from_hex(parsed.signature.key_id),
            public_key=from_hex(parsed.signature.public_key),
            signature=from_hex(parsed.signature.value, 64),
            root=from_hex(parsed.anchor.root),
            leaf_index=parsed.proof.leaf_index,
            tree_size=parsed.proof.tree_size,
            proof=[from_hex(h) for h in parsed.proof.hashes],
            document=document,
            source="bundle",
        )

    @classmethod
    def from_record(cls, record: bytes | str | dict[str, Any], document: bytes | None = None) -> Evidence:
        """Evidence from a bare record (its anchoring must be found elsewhere)."""
        try:
            parsed = record_from_json(record)
        except CertificateError as exc:
            return cls(record_error=exc, document=document, source="record")
        return cls(record=parsed, digest=certificate_digest(parsed), document=document, source="record")


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
        return self.verify(evidence, as_of=as_of, expected_kind=expected_kind)

    def verify_document(self, data: bytes, *, as_of: int | None = None, expected_kind: Kind | None = None) -> Report:
        """Verify a raw document (PDF or DCC XML) by its SHA-256: the certificate that binds it is looked up."""
        sha = "0x" + hashlib.sha256(data).hexdigest()
        found = self.sources.by_document(sha)
        if found is None:
            report = Report(None, as_of if as_of is not None else self.chain.now(), unknown=True)
            report.add(
                "ANCHORED", False, f"no anchored certificate binds a document with SHA-256 {sha}", document_sha256=sha
            )
            return report
        return self.verify(Evidence.from_bundle(found, data), as_of=as_of, expected_kind=expected_kind)

    def verify_number(self, lab_id: str, number: str, *, as_of: int | None = None) -> Report:
        """Verify a lab's certificate by its number."""
        found = self.sources.by_number(lab_id, number)
        if not found:
            report = Report(None, as_of if as_of is not None else self.chain.now(), unknown=True)
            report.add("ANCHORED", False, f"no anchored certificate {number!r} of lab {lab_id} is known")
            return report
        report = self.verify(Evidence.from_bundle(found[0]), as_of=as_of)
        if len(found) > 1:
            self._number_reused(report, lab_id, number, [str(b.get("digest")) for b in found])
        return report

    def preflight(
        self, record: CertificateRecord, *, key_id: bytes, signature: bytes, at: int, signature_checked: bool = False
    ) -> Report:
        """Every check that can be decided before anchoring (``CheckSpec.at_acceptance``), as if the record's lab
        anchored it at ``at`` with ``key_id``: what the registry runs at acceptance, with the verifier's own code,
        so that it anchors nothing the verifier calls INVALID. The checks of the anchoring itself and of what
        happens after it (revocation, substitution, a number reused later) are the verifier's alone.

        The report's failed ERROR checks are the refusals; its failed WARNING checks are accepted and worth a
        regulator's look. ``signature_checked`` says the caller verified ``signature`` with the key ``key_id`` of
        the chain already (the registry, which has just made or checked it): it is not verified twice.
        """
        digest = certificate_digest(record)
        report = Report(to_hex(digest), at)
        report.add("RECORD_WELL_FORMED", True)
        report.add("SIGNERS_DISTINCT", True)  # enforced by the record model for every kind
        report.certificate = _summary(record)
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
        self._check_signature(report, evidence, record, as_anchored)
        lab = self._check_lab(report, record, at)
        self._check_kind(report, record, None)
        self._check_dates(report, record, at)
        self._check_in_force(report, record, at)
        self._check_trace(report, record, digest, lab, frozenset({digest}) | _item_keys(record), 0)
        report.checks = [c for c in report.checks if c.spec.at_acceptance]
        return report

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
        if evidence.document is not None:
            self._check_document(report, record, evidence.document)
        if evidence.claimed_digest is not None and evidence.claimed_digest != digest:
            # An altered copy: say whether the original it claims to be was anchored, and stop there.
            original = replace(evidence, digest=evidence.claimed_digest)
            batch = self._check_anchoring(report, original, record)
            report.unknown = batch is None
            return self._finish(report)

        batch = self._check_anchoring(report, evidence, record)
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
        self._check_published(report, batch)
        self._check_signature(report, evidence, record, batch)
        lab = self._check_lab(report, record, anchor_time)
        self._check_kind(report, record, expected_kind)
        self._check_dates(report, record, anchor_time)
        self._check_status(report, record, digest, now, _depth)
        self._check_trace(report, record, digest, lab, _visited | {digest} | _item_keys(record), _depth)
        return self._finish(report)

    @staticmethod
    def _finish(report: Report) -> Report:
        if report.trace is not None:
            report.trace.verdict = report.verdict
        return report

    # ------------------------------------------------------------------ integrity

    def _check_document(self, report: Report, record: CertificateRecord, document: bytes) -> None:
        if document.lstrip()[:1] == b"<":  # DCC XML: it must validate against its declared schema version
            from tracecert.certificate.dcc import validate_dcc

            try:
                version = validate_dcc(document)
                report.add("DOCUMENT_WELL_FORMED", True, f"DCC {version}")
            except CertificateError as exc:
                report.add(
                    "DOCUMENT_WELL_FORMED",
                    False,
                    f"{exc.code}: {exc.message}",
                    errors=[e.to_dict() for e in exc.errors][:20],
                )
        actual = "0x" + hashlib.sha256(document).hexdigest()
        bound = record.original_document
        if bound is None:
            report.add("DOCUMENT_MATCHES", False, "the record binds no original document")
        else:
            report.add(
                "DOCUMENT_MATCHES",
                actual == bound.sha256,
                "" if actual == bound.sha256 else f"the document hashes to {actual}, the record binds {bound.sha256}",
                document_sha256=actual,
            )

    def _check_anchoring(self, report: Report, ev: Evidence, record: CertificateRecord) -> BatchInfo | None:
        if ev.root is None:
            report.add("ANCHORED", False, "no anchoring evidence (proof bundle) was found for this record")
            return None
        batch = self.chain.batch(ev.root)
        if batch is None:
            report.add(
                "ANCHORED", False, f"the root {to_hex(ev.root)} was never anchored on chain {self.chain.chain_id()}"
            )
            return None
        report.add("ANCHORED", True, f"batch {batch.index}, block {batch.block_number}")
        proof_ok, detail = True, ""
        if ev.tree_size != batch.count:
            proof_ok, detail = False, f"the proof claims a tree of {ev.tree_size}, the anchored batch has {batch.count}"
        else:
            try:
                verify_inclusion(ev.digest or b"", ev.leaf_index or 0, batch.count, ev.proof, batch.root)
            except CertificateError as exc:
                proof_ok, detail = False, exc.message
        report.add("INCLUSION_PROOF", proof_ok, detail)
        same_lab = to_hex(batch.lab_id) == record.lab.lab_id
        report.add(
            "ANCHORED_BY_LAB",
            same_lab,
            ""
            if same_lab
            else f"the batch belongs to lab {to_hex(batch.lab_id)}, the record names {record.lab.lab_id}",
        )
        if not proof_ok:
            report.unknown = True
        return batch if proof_ok else None

    def _check_published(self, report: Report, batch: BatchInfo) -> None:
        published = self.chain.batch_published(batch.root)
        report.add(
            "BATCH_PUBLISHED",
            published,
            {
                True: "",
                False: "no mirror serves this batch's contents, or what they serve does not hash to its root",
                None: "not known: the chain view does not follow batch contents, or has not fetched them yet",
            }[published],
        )

    # ------------------------------------------------------------------ identity

    def _check_signature(self, report: Report, ev: Evidence, record: CertificateRecord, batch: BatchInfo) -> None:
        key = self.chain.key(ev.key_id) if ev.key_id else None
        ok_key = key is not None and to_hex(key.lab_id) == record.lab.lab_id
        report.add("KEY_OF_LAB", ok_key, "" if ok_key else f"key {to_hex(ev.key_id or b'')} is not a key of the lab")
        report.add(
            "KEY_MATCHES_BATCH",
            ev.key_id == batch.key_id,
            ""
            if ev.key_id == batch.key_id
            else f"signed with {to_hex(ev.key_id or b'')}, anchored with {to_hex(batch.key_id)}",
        )
        if key is None:
            report.add("SIGNATURE_VALID", False, "the signing key is not on chain")
            report.add("KEY_VALID_AT_ISSUE", None, "unknown key")
            return
        if ev.signature_checked:
            report.add("SIGNATURE_VALID", True, "checked by the registry at acceptance", zh="注册平台受理时已核验")
        else:
            try:
                verify_signature(key.public_key, ev.digest or b"", ev.signature or b"")
                report.add("SIGNATURE_VALID", True)
            except CertificateError as exc:
                report.add("SIGNATURE_VALID", False, exc.message)
        issue_start, issue_end = self._day(record.dates.issue_date)
        in_window = (
            key.valid_from <= batch.timestamp < key.valid_until
            and key.valid_from < issue_end
            and key.valid_until > issue_start
        )
        window = "" if in_window else f"{self._when(key.valid_from)} – {self._when(key.valid_until)}"
        report.add(
            "KEY_VALID_AT_ISSUE",
            in_window,
            ""
            if in_window
            else f"the key was valid {window}, which does not cover the issue date {record.dates.issue_date} "
            f"and the anchoring at {self._when(batch.timestamp)}",
            zh=""
            if in_window
            else f"密钥有效期 {window}，未覆盖签发日期 {record.dates.issue_date} "
            f"及存证时间 {self._when(batch.timestamp)}",
            valid_from=key.valid_from,
            valid_until=key.valid_until,
        )

    # ------------------------------------------------------------------ authorization

    def _check_lab(self, report: Report, record: CertificateRecord, anchor_time: int) -> LabState | None:
        lab_id = from_hex(record.lab.lab_id)
        _, issue_end = self._day(record.dates.issue_date)
        issue_t = min(issue_end - 1, anchor_time)
        work_t = self._day(record.dates.performance_begin)[0]
        lab = self.chain.lab_at(lab_id, issue_t)
        if lab is None:
            lab = self.chain.lab_at(lab_id, anchor_time)
        report.add(
            "LAB_REGISTERED",
            lab is not None,
            "" if lab else f"lab {record.lab.lab_id} is not registered",
            zh="" if lab else f"机构 {record.lab.name}（{record.lab.lab_id}）未在链上登记",
        )
        if lab is None:
            for code in ("LAB_ACTIVE_AT_ISSUE", "LAB_AUTHORIZED_AT_ISSUE", "LAB_SCOPE"):
                report.add(code, None, "unknown lab")
            return None
        report.certificate["lab_kind"] = lab.kind.name
        on_chain = self.chain.lab_name(lab_id)
        report.certificate["lab_name_on_chain"] = on_chain
        if on_chain is None:
            report.add("LAB_NAME", None, "the lab's registered name is not known to this chain view")
        else:
            # What a person reads is the name the regulator registered; the record's own claim stays beside it.
            report.certificate["lab_name_in_record"] = record.lab.name
            report.certificate["lab_name"] = on_chain
            same = record.lab.name.strip() == on_chain.strip()
            detail = "" if same else f"the record names {record.lab.name!r}, the chain {on_chain!r}"
            zh = "" if same else f"证书写的是“{record.lab.name}”，链上登记的是“{on_chain}”"
            report.add("LAB_NAME", same, detail, zh=zh)
        at_anchor = self.chain.lab_at(lab_id, anchor_time)
        statuses = {"issue": lab.status, "anchoring": at_anchor.status if at_anchor else LabStatus.NONE}
        active = all(s == LabStatus.ACTIVE for s in statuses.values())
        report.add(
            "LAB_ACTIVE_AT_ISSUE",
            active,
            "" if active else ", ".join(f"at {k}: {v.en}" for k, v in statuses.items()),
            zh="" if active else "，".join(f"{_MOMENT_ZH[k]}：{v.zh}" for k, v in statuses.items()),
        )
        at_work = self.chain.lab_at(lab_id, work_t)
        windows = {"work": at_work.authorized if at_work else False, "issue": lab.authorized}
        authorized = all(windows.values())
        uncovered = [k for k, v in windows.items() if not v]
        span = None
        if lab.valid_until and not authorized:
            span = f"{self._when(lab.valid_from)} – {self._when(lab.valid_until)}"
        report.add(
            "LAB_AUTHORIZED_AT_ISSUE",
            authorized,
            ""
            if authorized
            else "no authorization covered the "
            + " and ".join(f"{k} date" for k in uncovered)
            + (f" (the authorization runs {span})" if span else " (no authorization then)"),
            zh=""
            if authorized
            else "、".join(_DATE_ZH[k] for k in uncovered)
            + "不在机构授权有效期内"
            + (f"（授权有效期 {span}）" if span else "（当时没有授权）"),
            authorization_number=lab.authorization_number,
        )
        activity = Activity.CALIBRATE if record.kind is Kind.CALIBRATION else Activity.VERIFY
        in_scope = self.chain.is_authorized(lab_id, record.item.category_code, activity, issue_t)
        report.add(
            "LAB_SCOPE",
            in_scope,
            ""
            if in_scope
            else f"{'calibration' if activity is Activity.CALIBRATE else 'verification'} of "
            f"{category_label(record.item.category_code, zh=False)} is not in the lab's scope at issue",
            zh=""
            if in_scope
            else f"{category_label(record.item.category_code, zh=True)}"
            f"的{'校准' if activity is Activity.CALIBRATE else '检定'}不在签发时的授权范围内",
        )
        if record.kind is not Kind.CALIBRATION:
            allowed = lab.kind in VERIFYING_KINDS
            report.add(
                "LAB_KIND_FOR_VERIFICATION",
                allowed,
                "" if allowed else f"the lab is a {lab.kind.en}",
                zh="" if allowed else f"该机构为{lab.kind.zh}",
            )
        return lab

    def _check_kind(self, report: Report, record: CertificateRecord, expected: Kind | None) -> None:
        if expected is not None:
            ok = record.kind is expected
            report.add(
                "KIND_AS_EXPECTED",
                ok,
                "" if ok else f"required a {expected.en}, got a {record.kind.en}",
                zh="" if ok else f"要求{expected.zh}，收到的是{record.kind.zh}",
            )
        if record.kind is Kind.CALIBRATION:
            mandatory = bool(record.customer.mandatory_verification)
            report.add(
                "MANDATORY_NEEDS_VERIFICATION",
                not mandatory,
                "" if not mandatory else "the record says the instrument is under mandatory verification (强检)",
                zh="" if not mandatory else "证书注明该器具属强制检定，却出具了校准证书",
            )

    # ------------------------------------------------------------------ dates

    def _check_dates(self, report: Report, record: CertificateRecord, anchor_time: int) -> None:
        issue_start, issue_end = self._day(record.dates.issue_date)
        early = issue_start > anchor_time
        report.add(
            "ISSUED_BEFORE_ANCHOR",
            not early,
            f"issued {record.dates.issue_date}, anchored at {self._when(anchor_time)}" if early else "",
            zh=f"签发日期 {record.dates.issue_date} 晚于存证时间 {self._when(anchor_time)}" if early else "",
        )
        lag_days = (anchor_time - issue_end) / DAY
        ok = anchor_time <= self.policy.last_anchor_time(record.dates.issue_date)
        report.add(
            "ANCHOR_LAG",
            ok,
            f"anchored {max(lag_days, 0):.1f} days after the issue date" if not ok else "",
            zh=f"签发 {max(lag_days, 0):.1f} 天后才存证（上限 {self.policy.max_anchor_lag_days} 天）" if not ok else "",
            lag_days=round(max(lag_days, 0.0), 2),
            limit_days=self.policy.max_anchor_lag_days,
        )
        if record.dates.valid_until is not None and record.kind is Kind.VERIFICATION:
            limit = self._validity_limit(record)
            days = (record.dates.valid_until - record.dates.performance_end).days
            report.add(
                "VALIDITY_PERIOD",
                days <= limit,
                ""
                if days <= limit
                else f"valid for {days} days after the verification; {record.method.reference} allows {limit}",
                zh="" if days <= limit else f"检定后有效期 {days} 天，{record.method.reference} 规定不超过 {limit} 天",
                days=days,
                limit_days=limit,
            )

    def _validity_limit(self, record: CertificateRecord) -> int:
        reference = (record.method.reference or "").replace("\u2014", "-")
        for prefix, days in VALIDITY_PERIODS_DAYS.items():
            if reference.startswith(prefix + "-") or reference == prefix:
                return days
        return self.policy.default_validity_days

    # ------------------------------------------------------------------ lifecycle

    def _check_in_force(self, report: Report, record: CertificateRecord, now: int) -> None:
        """Issued by ``now`` and not expired at ``now`` (ISSUED_BY_AS_OF, NOT_EXPIRED)."""
        issue_start, _ = self._day(record.dates.issue_date)
        report.add(
            "ISSUED_BY_AS_OF",
            now >= issue_start,
            ""
            if now >= issue_start
            else f"asked about {self._when(now)}, before the issue date {record.dates.issue_date}",
            zh="" if now >= issue_start else f"核验时间 {self._when(now)} 早于签发日期 {record.dates.issue_date}",
        )
        if record.dates.valid_until is not None:
            _, until_end = self._day(record.dates.valid_until)
            report.add(
                "NOT_EXPIRED",
                now < until_end,
                "" if now < until_end else f"valid until {record.dates.valid_until}",
                zh="" if now < until_end else f"有效期至 {record.dates.valid_until}，已过期",
                valid_until=record.dates.valid_until.isoformat(),
            )

    def _check_status(self, report: Report, record: CertificateRecord, digest: bytes, now: int, depth: int) -> None:
        self._check_in_force(report, record, now)
        status = self.chain.status(from_hex(record.lab.lab_id), digest)
        revoked = status.state is CertificateState.REVOKED and status.effective_time <= now
        if status.state is CertificateState.REVOKED:
            reason, when = RevocationReason.named(status.reason), self._when(status.effective_time)
            zh_reason, en_reason = reason.split(" / ", 1)
            report.add(
                "NOT_REVOKED",
                not revoked,
                f"revoked: {en_reason}, effective {when}" if revoked else f"a revocation takes effect later, at {when}",
                zh=f"已撤销：{zh_reason}，自 {when} 起生效" if revoked else f"撤销将于 {when} 生效",
                reason=status.reason,
                reason_name={"zh": zh_reason, "en": en_reason},
                effective_time=status.effective_time,
                recorded_at=status.recorded_at,
            )
        else:
            report.add("NOT_REVOKED", True)
        substituted = status.state is CertificateState.SUBSTITUTED and status.effective_time <= now
        report.add(
            "NOT_SUBSTITUTED",
            not substituted,
            ""
            if not substituted
            else f"substituted by {to_hex(status.substituted_by or b'')} at {self._when(status.effective_time)}",
            zh=""
            if not substituted
            else f"已于 {self._when(status.effective_time)} 被新证书 {to_hex(status.substituted_by or b'')} 替代",
        )
        if substituted and status.substituted_by:
            report.replaced_by = to_hex(status.substituted_by)
        # Other certificates said to carry this number: by the sources, and by the batch contents the chain view
        # took in (the index); only claims until _number_reused has checked each one against the chain.
        lab, number, own = record.lab.lab_id, record.certificate_number, to_hex(digest)
        claimed = self.sources.claimed_digests(lab, number)
        claimed |= {to_hex(d) for d in self.chain.numbered(from_hex(lab), number)}
        if claimed - {own}:
            # This certificate's own anchoring by its lab was checked above (an uploaded bundle counts too).
            confirmed = [] if "ANCHORED_BY_LAB" in report.codes else [own]
            self._number_reused(report, lab, number, sorted(claimed - {own}), confirmed=confirmed)
        else:
            report.add("NUMBER_UNIQUE", True)

    def _number_reused(
        self, report: Report, lab_id: str, number: str, digests: list[str], *, confirmed: list[str] | None = None
    ) -> None:
        """NUMBER_UNIQUE from claims: each digest (at most ``MAX_NUMBER_CLAIMS``, well-formed ones only) counts
        when a source has its bundle, its record has this lab and number, and the lab anchored it (checked on chain).
        """
        anchored = list(confirmed or [])
        for d in [d for d in digests if _DIGEST_RE.fullmatch(d)][:MAX_NUMBER_CLAIMS]:
            bundle = self.sources.by_digest(d)
            if bundle is None:
                continue
            ev = Evidence.from_bundle(bundle)
            if ev.record is None or ev.record.lab.lab_id != lab_id.lower() or ev.record.certificate_number != number:
                continue  # a claim that does not hold: the record found has another lab or number
            if ev.root is not None and ev.digest is not None and (batch := self.chain.batch(ev.root)) is not None:
                if to_hex(batch.lab_id) != ev.record.lab.lab_id:
                    continue  # only what the lab itself anchored counts: another lab cannot frame it
                try:
                    verify_inclusion(ev.digest, ev.leaf_index or 0, batch.count, ev.proof, batch.root)
                    anchored.append(d)
                except CertificateError:
                    continue
        reused = len(set(anchored)) > 1
        report.checks = [c for c in report.checks if c.code != "NUMBER_UNIQUE"]
        report.add(
            "NUMBER_UNIQUE",
            not reused,
            "" if not reused else f"the number was anchored with {len(anchored)} different contents",
            digests=anchored,
        )

    # ------------------------------------------------------------------ traceability

    def _check_trace(
        self,
        report: Report,
        record: CertificateRecord,
        digest: bytes,
        lab: LabState | None,
        visited: frozenset[bytes],
        depth: int,
    ) -> None:
        node = TraceNode(
            to_hex(digest),
            record.certificate_number,
            record.lab.lab_id,
            report.certificate.get("lab_name_on_chain") or record.lab.name,
            lab.kind.name if lab else None,
            None,
        )
        report.trace = node
        subtree: frozenset[bytes] = frozenset({digest} | _item_keys(record))
        if lab is not None and lab.kind is LabKind.NMI:
            node.note = "national metrology institute: the chain ends here"
            for code in (*_LINK_CHECKS, "TRACE_DEPTH"):
                report.add(code, True, "issued by an NMI", zh="由国家计量院出具")
            report.add("TRACE_REACHES_NMI", True, "issued by an NMI", zh="由国家计量院出具")
            report.subtree = subtree
            return
        failures: dict[str, list[tuple[str, str]]] = {}
        reaches_nmi = bool(record.standards_used)
        if depth >= self.policy.max_depth:
            report.add(
                "TRACE_DEPTH",
                False,
                f"deeper than {self.policy.max_depth} links",
                zh=f"溯源链超过 {self.policy.max_depth} 级",
            )
            reaches_nmi = False
        else:
            report.add("TRACE_DEPTH", True)
        if not record.standards_used:
            _fail(failures, "TRACE_STANDARD_FOUND", "the record lists no standards used", "证书未列出所用计量标准")
        for i, standard in enumerate(record.standards_used if depth < self.policy.max_depth else ()):
            where = (f"standards_used.{i} ({standard.name})", f"第 {i + 1} 个计量标准（{standard.name}）")
            child = TraceNode(
                standard.certificate_digest,
                standard.certificate_number,
                standard.issuing_lab_id,
                standard.issuing_lab_name,
                None,
                None,
                standard=standard.name,
            )
            node.children.append(child)
            if standard.certificate_digest is None:
                _fail(
                    failures,
                    "TRACE_STANDARD_FOUND",
                    f"{where[0]}: no certificate digest",
                    f"{where[1]}：未给出证书摘要",
                )
                child.note, reaches_nmi = "no certificate digest (traceability link missing)", False
                continue
            parent_digest = from_hex(standard.certificate_digest)
            instrument = _standard_key(standard)
            if parent_digest in visited or (instrument is not None and instrument in visited):
                _fail(
                    failures,
                    "TRACE_NO_CYCLE",
                    f"{where[0]}: {standard.certificate_digest} again",
                    f"{where[1]}：证书再次出现",
                )
                child.note, reaches_nmi = "cycle", False
                continue
            evidence = self._standard_evidence(parent_digest)
            if evidence is None:
                _fail(
                    failures, "TRACE_STANDARD_FOUND", f"{where[0]}: certificate not found", f"{where[1]}：找不到其证书"
                )
                child.note, reaches_nmi = "certificate not found", False
                continue
            if evidence.digest != parent_digest:
                _fail(
                    failures,
                    "TRACE_STANDARD_FOUND",
                    f"{where[0]}: the bundle found is another one",
                    f"{where[1]}：找到的是另一份证书",
                )
                child.note, reaches_nmi = "bundle does not match the digest", False
                continue
            if evidence.record is not None and _item_keys(evidence.record) & visited:
                # The standard's own instrument is already on this path (whatever the entry says): circular.
                _fail(
                    failures,
                    "TRACE_NO_CYCLE",
                    f"{where[0]}: its instrument appears again",
                    f"{where[1]}：其器具再次出现",
                )
                child.note, reaches_nmi = "cycle", False
                continue
            _, work_end = self._day(record.dates.performance_end)
            parent = self._parent_report(evidence, work_end - 1, visited, depth + 1)
            subtree |= parent.subtree
            child.verdict = parent.verdict
            if parent.trace is not None:
                child.lab_name, child.lab_kind = parent.trace.lab_name, parent.trace.lab_kind
                child.children = parent.trace.children
                child.note = parent.trace.note
            assert parent.trace is not None or parent.unknown
            self._link_checks(record, standard, evidence.record, parent, where, failures)
            if "TRACE_REACHES_NMI" in parent.codes or parent.unknown:
                reaches_nmi = False
            if parent.codes & {"TRACE_NO_CYCLE"}:
                _fail(failures, "TRACE_NO_CYCLE", f"{where[0]}: cycle above", f"{where[1]}：上游有循环")
        for code in _LINK_CHECKS:
            problems = failures.get(code, [])
            report.add(code, not problems, "; ".join(en for en, _ in problems), zh="；".join(zh for _, zh in problems))
        report.add(
            "TRACE_REACHES_NMI",
            reaches_nmi,
            "" if reaches_nmi else "at least one branch does not end at a national metrology institute",
            zh="" if reaches_nmi else "至少有一条溯源分支未到达国家计量院",
        )
        report.subtree = subtree

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
        unless the current path meets something in its subtree (then it is verified again, to find the cycle)."""
        assert evidence.digest is not None
        key = (evidence.digest, as_of, depth)
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now and not (hit[1].subtree & visited):
            return hit[1]
        report = self.verify(evidence, as_of=as_of, _visited=visited, _depth=depth)
        if self.policy.cache_seconds > 0:
            with self._cache_lock:
                _bounded(self._cache, self.policy.cache_entries)
                self._cache[key] = (now + self.policy.cache_seconds, report)
        return report

    def _link_checks(
        self,
        child: CertificateRecord,
        standard: Any,
        parent: CertificateRecord | None,
        parent_report: Report,
        where: tuple[str, str],
        failures: dict[str, list[tuple[str, str]]],
    ) -> None:
        # Any failure of the standard's certificate (its own links included, so a broken link anywhere above
        # reaches this certificate) except its expiry, which TRACE_VALID_DURING_WORK judges against the work dates,
        # and unpublished batch contents, which say nothing of the standard (that warning stays on its node).
        own = parent_report.codes - {"NOT_EXPIRED", "TRACE_REACHES_NMI", "TRACE_NO_CYCLE", "BATCH_PUBLISHED"}
        if parent_report.unknown or own:
            names = "、".join(CHECKS[c].zh for c in sorted(own)) or "未知证书"
            _fail(
                failures,
                "TRACE_STANDARD_VALID",
                f"{where[0]}: its certificate is {parent_report.verdict.value} ({', '.join(sorted(own)) or 'unknown'})",
                f"{where[1]}：其证书无效（{names}）",
            )
        if parent is None:
            return
        if parent.kind is Kind.VERIFICATION_FAIL_NOTICE or parent.conclusion is Conclusion.FAIL:
            _fail(
                failures,
                "TRACE_STANDARD_VALID",
                f"{where[0]}: its certificate says the standard failed (conclusion FAIL)",
                f"{where[1]}：其证书结论为不合格",
            )
        if standard.serial_number is None:
            _fail(
                failures,
                "TRACE_SERIAL_MATCH",
                f"{where[0]}: the standard's serial number is not stated, so it cannot be matched",
                f"{where[1]}：未注明计量标准的编号，无法核对",
            )
        serials = {parent.item.serial_number, parent.item.asset_number} | {
            c.serial_number for c in parent.item.components
        }
        if standard.serial_number is not None and standard.serial_number not in serials:
            _fail(
                failures,
                "TRACE_SERIAL_MATCH",
                f"{where[0]}: serial {standard.serial_number!r}, its certificate says {parent.item.serial_number!r}",
                f"{where[1]}：编号 {standard.serial_number}，其证书上为 {parent.item.serial_number}",
            )
        begin, _ = self._day(child.dates.performance_begin)
        _, end = self._day(child.dates.performance_end)
        valid = parent.dates.valid_until is None or self._day(parent.dates.valid_until)[1] >= end
        issued_before = self._day(parent.dates.issue_date)[0] <= begin
        lifecycle = {"NOT_REVOKED", "NOT_SUBSTITUTED", "NOT_EXPIRED"} & parent_report.codes
        if not valid or not issued_before or lifecycle:
            why = []
            if not valid:
                why.append(f"expired {parent.dates.valid_until}")
            if not issued_before:
                why.append(f"issued {parent.dates.issue_date}, after the work began")
            why.extend(sorted(lifecycle))
            _fail(
                failures,
                "TRACE_VALID_DURING_WORK",
                f"{where[0]}: not valid from {child.dates.performance_begin} to {child.dates.performance_end} "
                f"({', '.join(why)})",
                f"{where[1]}：在 {child.dates.performance_begin} 至 {child.dates.performance_end} 期间不在有效期内",
            )
        problem = self._uncertainty_problem(child, standard, parent)
        if problem:
            _fail(
                failures, "TRACE_UNCERTAINTY", f"{where[0]}: {problem}", f"{where[1]}：不确定度不满足要求（{problem}）"
            )

    def _uncertainty_problem(self, child: CertificateRecord, standard: Any, parent: CertificateRecord) -> str | None:
        parent_u = _largest_u(parent)
        if parent_u is None:
            return None if parent.kind is not Kind.CALIBRATION else "its certificate states no uncertainty"
        u_parent, unit = parent_u
        if child.kind is Kind.CALIBRATION:
            child_u = [(_dec(r.expanded_uncertainty), r.unit) for r in child.results if r.expanded_uncertainty]
            same_unit = [u for u, un in child_u if u is not None and un == unit]
            if not same_unit:
                return None
            smallest = min(same_unit)
            if u_parent == 0 or smallest / u_parent >= self.policy.tur:
                return None
            ratio = smallest / u_parent
            return f"TUR {ratio:.2f} < {self.policy.tur} (child U {smallest} vs standard U {u_parent} {unit})"
        mpe = child.item.mpe
        if mpe is None or mpe.unit != unit or (limit := _dec(mpe.value)) is None:
            return None
        if u_parent <= abs(limit) / self.policy.mpe_ratio:
            return None
        return f"standard U {u_parent} {unit} > MPE/{self.policy.mpe_ratio} = {abs(limit) / self.policy.mpe_ratio}"

    # ------------------------------------------------------------------ helpers

    def _when(self, seconds: int) -> str:
        """A chain time as a person reads it, in the policy's time zone."""
        return local_time(seconds, self.policy.tz_offset_hours)

    def _day(self, day: dt.date) -> tuple[int, int]:
        return _day_bounds(day, self.policy.tz_offset_hours)

    def with_policy(self, **changes: Any) -> Verifier:
        """A verifier with some thresholds changed."""
        return Verifier(self.chain, self.sources, replace(self.policy, **changes))


@functools.lru_cache(maxsize=8192)
def _day_bounds(day: dt.date, tz_offset_hours: int) -> tuple[int, int]:
    """A calendar date in a time zone as the unix interval [start, end)."""
    tz = dt.timezone(dt.timedelta(hours=tz_offset_hours))
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())
    return start, start + DAY


def _fail(failures: dict[str, list[tuple[str, str]]], code: str, en: str, zh: str) -> None:
    """Note a traceability problem under its check, in English and in Chinese."""
    failures.setdefault(code, []).append((en, zh))


def _bounded(cache: dict[Any, Any], entries: int) -> None:
    """Make room in a cache: drop its oldest quarter when it is full (insertion order)."""
    if len(cache) >= entries:
        for stale in list(cache)[: max(1, entries // 4)]:
            del cache[stale]


def _item_keys(record: CertificateRecord) -> set[bytes]:
    """An instrument's identities on a traceability path: an instrument met again means a loop. Serial numbers
    (the manufacturer's) stand alone; asset numbers are the owner's own, so they count with the owner (the
    customer): two owners' asset "001" are two instruments. Without any number, the certificate (lab and number)
    stands in."""
    item = record.item
    serials = {item.serial_number} | {c.serial_number for c in item.components}
    assets = {item.asset_number} | {c.asset_number for c in item.components}
    owner = record.customer.name.encode()
    found = {b"serial\x00" + n.encode() for n in serials if n}
    found |= {b"asset\x00" + owner + b"\x00" + n.encode() for n in assets if n}
    return found or {b"certificate\x00" + record.lab.lab_id.encode() + b"\x00" + record.certificate_number.encode()}


def _standard_key(standard: Any) -> bytes | None:
    if standard.serial_number is None:
        return None
    return b"serial\x00" + str(standard.serial_number).encode()


def _dec(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _largest_u(record: CertificateRecord) -> tuple[Decimal, str] | None:
    found = [(_dec(r.expanded_uncertainty), r.unit) for r in record.results if r.expanded_uncertainty]
    found = [(u, unit) for u, unit in found if u is not None]
    if not found:
        return None
    u, unit = max(found, key=lambda pair: pair[0])  # type: ignore[arg-type,return-value]
    return u, unit  # type: ignore[return-value]


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
        "method": record.method.reference or record.method.title,
        "conclusion": record.conclusion.value if record.conclusion else None,
    }
