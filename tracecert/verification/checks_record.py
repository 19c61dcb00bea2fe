"""The checks of what was issued: the record's integrity and anchoring, its kind, dates, lifecycle and number.

Integrity: the record, and the original document if given, are exactly what was anchored, by the lab that issued
it. Kind: what was asked for, and a verification where one is mandatory. Dates: issued before anchoring, anchored
promptly, validity within the regulation's period. Lifecycle: issued, not expired, revoked or substituted at the
time asked about. Number: no other content anchored by the lab under the same number.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from tracecert.certificate.canonical import HEX32_PATTERN, from_hex, to_hex
from tracecert.certificate.errors import CertificateError
from tracecert.certificate.merkle import verify_inclusion
from tracecert.certificate.model import CertificateRecord, Kind
from tracecert.chain.contracts import BatchInfo
from tracecert.chain.types import CertificateState, RevocationReason
from tracecert.human import DAY
from tracecert.verification.chainview import ChainView
from tracecert.verification.evidence import Evidence, Policy
from tracecert.verification.report import Report
from tracecert.verification.sources import CheckedSource

if TYPE_CHECKING:
    from tracecert.certificate.dcc.signature import TrustStore

__all__ = [
    "MAX_NUMBER_CLAIMS",
    "VALIDITY_PERIODS_DAYS",
    "check_anchoring",
    "check_dates",
    "check_document",
    "check_in_force",
    "check_kind",
    "check_number_reused",
    "check_published",
    "check_status",
    "lab_key_test",
]

#: At most this many other certificates said to share a number are checked (claims come from sources and batch
#: listings, neither bound to the chain: a lying mirror must not make one verification fetch a whole lab).
MAX_NUMBER_CLAIMS = 16
_DIGEST_RE = re.compile(HEX32_PATTERN)

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

# ---------------------------------------------------------------------- integrity


def is_xml_document(document: bytes) -> bool:
    """Whether an original document is XML, and so a DCC that must validate (DOCUMENT_WELL_FORMED): its first
    non-blank byte is ``<``. The registry refuses at upload what this rule fails (one rulebook)."""
    return document.lstrip()[:1] == b"<"


def document_well_formed(document: bytes) -> str:
    """DOCUMENT_WELL_FORMED of an XML original document: the DCC schema version it validates against.

    Raises:
        CertificateError: XML_UNSAFE, XML_MALFORMED, DCC_TOO_LARGE, DCC_SCHEMA_UNSUPPORTED, DCC_INVALID, ...
    """
    from tracecert.certificate.dcc import validate_dcc

    return validate_dcc(document)


def check_document(
    report: Report,
    record: CertificateRecord,
    document: bytes,
    trust: TrustStore | None = None,
    *,
    signature: bool = True,
) -> None:
    """DOCUMENT_WELL_FORMED (a DCC XML only), DCC_SIGNATURE (a DCC with a ``ds:Signature``, checked against
    ``trust``; left to :func:`check_dcc_signature` when ``signature`` is false) and DOCUMENT_MATCHES: the
    original document the record binds."""
    if is_xml_document(document):  # DCC XML: it must validate against its declared schema version
        try:
            version = document_well_formed(document)
            report.add("DOCUMENT_WELL_FORMED", True, f"DCC {version}")
        except CertificateError as exc:
            report.add(
                "DOCUMENT_WELL_FORMED",
                False,
                f"{exc.code}: {exc.message}",
                errors=[e.to_dict() for e in exc.errors][:20],
            )
        if signature:
            check_dcc_signature(report, document, trust)
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


def lab_key_test(chain: ChainView, lab_id: str, at: dt.datetime | None) -> Callable[[bytes], bool]:
    """Whether an Ed25519 public key is registered on chain to ``lab_id`` (and its window holds ``at`` when
    given): what a DCC the lab signed with its own key is judged by (as KEY_OF_LAB judges the record's key)."""
    from tracecert.certificate.signing import key_id

    def test(public_key: bytes) -> bool:
        key = chain.key(key_id(public_key))
        if key is None or to_hex(key.lab_id) != lab_id or bytes(key.public_key) != public_key:
            return False
        return at is None or key.valid_from <= at.timestamp() < key.valid_until

    return test


def check_dcc_signature(
    report: Report,
    document: bytes,
    trust: TrustStore | None,
    anchored_at: dt.datetime | None = None,
    lab_keys: Callable[[bytes], bool] | None = None,
) -> None:
    """DCC_SIGNATURE when the document is a DCC with a ``ds:Signature``. Its time is the signed SigningTime,
    else ``anchored_at`` (the block time of the certificate's anchoring, by which the DCC was signed), else now.
    Without a trust store the signature's bytes are still checked, its signer is not judged (skipped). A DCC the
    lab signed with its own Ed25519 key is judged by ``lab_keys`` (:func:`lab_key_test`): another key fails."""
    from tracecert.certificate.dcc.signature import LAB_KEY_RULE, TrustStore, looks_like_dcc, verify_dcc_signature
    from tracecert.certificate.errors import DccError, DccSignatureError, DccSignerUntrusted

    if not looks_like_dcc(document):
        return
    store = trust if trust is not None else TrustStore.empty()
    try:
        signed = verify_dcc_signature(document, store, at=anchored_at, lab_keys=lab_keys, proven_by=anchored_at)
    except DccSignatureError as exc:
        by_lab_key = any(e.rule == LAB_KEY_RULE for e in exc.errors)
        if isinstance(exc, DccSignerUntrusted) and store.is_empty and not by_lab_key:
            report.add(
                "DCC_SIGNATURE",
                None,
                "the DCC is signed and its signature verifies, but this verifier has no DCC trust store: "
                "its signer was not judged",
                zh="DCC 带有电子签名且签名数值正确，但本核验服务未配置 DCC 信任锚，未判断签名者是否可信",
                error_code=exc.code,
            )
            return
        report.add("DCC_SIGNATURE", False, f"{exc.code}: {exc.message}", error_code=exc.code)
        return
    except DccError:
        return  # not a readable DCC: DOCUMENT_WELL_FORMED says why
    if signed is None:
        return
    when = signed.to_dict()["signing_time"]
    detail = f"{signed.form}, signed by {signed.signer} at {when} ({signed.time_source})"
    if signed.time_source == "now":
        detail += "; the signature states no signing time: its signer was judged now"
    elif signed.time_source == "given":
        detail += "; the signature states no signing time: its signer was judged at the anchoring"
    zh = f"{signed.form} 签名，签名者 {signed.signer}，签名时间 {when}"
    report.add("DCC_SIGNATURE", True, detail, zh=zh, **signed.to_dict())


def check_anchoring(report: Report, ev: Evidence, record: CertificateRecord, chain: ChainView) -> BatchInfo | None:
    """ANCHORED, INCLUSION_PROOF and ANCHORED_BY_LAB. Returns the batch, or None when the evidence's root was
    never anchored or its proof does not hold (the report is then ``unknown``)."""
    if ev.root is None:
        report.add("ANCHORED", False, "no anchoring evidence (proof bundle) was found for this record")
        return None
    batch = chain.batch(ev.root)
    if batch is None:
        report.add("ANCHORED", False, f"the root {to_hex(ev.root)} was never anchored on chain {chain.chain_id()}")
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
        "" if same_lab else f"the batch belongs to lab {to_hex(batch.lab_id)}, the record names {record.lab.lab_id}",
    )
    if not proof_ok:
        report.unknown = True
    return batch if proof_ok else None


def check_published(report: Report, batch: BatchInfo, chain: ChainView) -> None:
    """BATCH_PUBLISHED: a mirror serves the batch's contents (skipped when the chain view cannot tell)."""
    published = chain.batch_published(batch.root)
    report.add(
        "BATCH_PUBLISHED",
        published,
        {
            True: "",
            False: "no mirror serves this batch's contents, or what they serve does not hash to its root",
            None: "not known: the chain view does not follow batch contents, or has not fetched them yet",
        }[published],
    )


# ---------------------------------------------------------------------- kind


def check_kind(report: Report, record: CertificateRecord, expected: Kind | None) -> None:
    """KIND_AS_EXPECTED (when a kind is required) and, for a calibration, MANDATORY_NEEDS_VERIFICATION."""
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


# ---------------------------------------------------------------------- dates


def check_dates(report: Report, record: CertificateRecord, anchor_time: int, policy: Policy) -> None:
    """ISSUED_BEFORE_ANCHOR, ANCHOR_LAG and, for a verification with a validity date, VALIDITY_PERIOD."""
    issue_start, issue_end = policy.day(record.dates.issue_date)
    early = issue_start > anchor_time
    report.add(
        "ISSUED_BEFORE_ANCHOR",
        not early,
        f"issued {record.dates.issue_date}, anchored at {policy.when(anchor_time)}" if early else "",
        zh=f"签发日期 {record.dates.issue_date} 晚于存证时间 {policy.when(anchor_time)}" if early else "",
    )
    lag_days = (anchor_time - issue_end) / DAY
    ok = anchor_time <= policy.last_anchor_time(record.dates.issue_date)
    report.add(
        "ANCHOR_LAG",
        ok,
        f"anchored {max(lag_days, 0):.1f} days after the issue date" if not ok else "",
        zh=f"签发 {max(lag_days, 0):.1f} 天后才存证（上限 {policy.max_anchor_lag_days} 天）" if not ok else "",
        lag_days=round(max(lag_days, 0.0), 2),
        limit_days=policy.max_anchor_lag_days,
    )
    if record.dates.valid_until is not None and record.kind is Kind.VERIFICATION:
        limit = _validity_limit(record, policy)
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


def _validity_limit(record: CertificateRecord, policy: Policy) -> int:
    reference = (record.method.reference or "").replace("\u2014", "-")
    for prefix, days in VALIDITY_PERIODS_DAYS.items():
        if reference.startswith(prefix + "-") or reference == prefix:
            return days
    return policy.default_validity_days


# ---------------------------------------------------------------------- lifecycle


def check_in_force(report: Report, record: CertificateRecord, now: int, policy: Policy) -> None:
    """Issued by ``now`` and not expired at ``now`` (ISSUED_BY_AS_OF, NOT_EXPIRED)."""
    issue_start, _ = policy.day(record.dates.issue_date)
    report.add(
        "ISSUED_BY_AS_OF",
        now >= issue_start,
        ""
        if now >= issue_start
        else f"asked about {policy.when(now)}, before the issue date {record.dates.issue_date}",
        zh="" if now >= issue_start else f"核验时间 {policy.when(now)} 早于签发日期 {record.dates.issue_date}",
    )
    if record.dates.valid_until is not None:
        _, until_end = policy.day(record.dates.valid_until)
        report.add(
            "NOT_EXPIRED",
            now < until_end,
            "" if now < until_end else f"valid until {record.dates.valid_until}",
            zh="" if now < until_end else f"有效期至 {record.dates.valid_until}，已过期",
            valid_until=record.dates.valid_until.isoformat(),
        )


def check_status(
    report: Report,
    record: CertificateRecord,
    digest: bytes,
    now: int,
    chain: ChainView,
    sources: CheckedSource,
    policy: Policy,
) -> None:
    """The lifecycle at ``now``: :func:`check_in_force`, NOT_REVOKED, NOT_SUBSTITUTED (the replacement noted on
    the report), then NUMBER_UNIQUE."""
    check_in_force(report, record, now, policy)
    status = chain.status(from_hex(record.lab.lab_id), digest)
    revoked = status.state is CertificateState.REVOKED and status.effective_time <= now
    if status.state is CertificateState.REVOKED:
        reason, when = RevocationReason.named(status.reason), policy.when(status.effective_time)
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
        else f"substituted by {to_hex(status.substituted_by or b'')} at {policy.when(status.effective_time)}",
        zh=""
        if not substituted
        else f"已于 {policy.when(status.effective_time)} 被新证书 {to_hex(status.substituted_by or b'')} 替代",
    )
    if substituted and status.substituted_by:
        report.replaced_by = to_hex(status.substituted_by)
    # Other certificates said to carry this number: by the sources, and by the batch contents the chain view
    # took in (the index); only claims until check_number_reused has checked each one against the chain.
    lab, number, own = record.lab.lab_id, record.certificate_number, to_hex(digest)
    claimed = sources.claimed_digests(lab, number)
    claimed |= {to_hex(d) for d in chain.numbered(from_hex(lab), number)}
    if claimed - {own}:
        # This certificate's own anchoring by its lab was checked above (an uploaded bundle counts too).
        confirmed = [] if "ANCHORED_BY_LAB" in report.codes else [own]
        check_number_reused(report, lab, number, sorted(claimed - {own}), chain, sources, confirmed=confirmed)
    else:
        report.add("NUMBER_UNIQUE", True)


# ---------------------------------------------------------------------- number


def check_number_reused(
    report: Report,
    lab_id: str,
    number: str,
    digests: list[str],
    chain: ChainView,
    sources: CheckedSource,
    *,
    confirmed: list[str] | None = None,
) -> None:
    """NUMBER_UNIQUE from claims: each digest (at most ``MAX_NUMBER_CLAIMS``, well-formed ones only) counts
    when a source has its bundle, its record has this lab and number, and the lab anchored it (checked on chain).
    Replaces any NUMBER_UNIQUE the report has already."""
    anchored = list(confirmed or [])
    for d in [d for d in digests if _DIGEST_RE.fullmatch(d)][:MAX_NUMBER_CLAIMS]:
        bundle = sources.by_digest(d)
        if bundle is None:
            continue
        ev = Evidence.from_bundle(bundle)
        if ev.record is None or ev.record.lab.lab_id != lab_id.lower() or ev.record.certificate_number != number:
            continue  # a claim that does not hold: the record found has another lab or number
        if ev.root is not None and ev.digest is not None and (batch := chain.batch(ev.root)) is not None:
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
