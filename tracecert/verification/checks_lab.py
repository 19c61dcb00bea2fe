"""The checks of who issued a certificate: the lab's signing key (identity) and the lab itself (authorization).

Identity: signed with a key of the lab, the key the batch was anchored with, valid at issue and at anchoring.
Authorization: the lab registered under the name the record gives, active, authorized and in scope at the work
and issue dates and at anchoring, and of a kind that may verify; and its credit record at issue (a warning).
"""

from __future__ import annotations

from tracecert.certificate.canonical import from_hex, to_hex
from tracecert.certificate.errors import CertificateError
from tracecert.certificate.model import CertificateRecord, Kind
from tracecert.certificate.signing import verify_signature
from tracecert.chain.contracts import BatchInfo
from tracecert.chain.types import VERIFYING_KINDS, Activity, LabStatus
from tracecert.credit import entry_view, grade_view, standing
from tracecert.instruments import category_label
from tracecert.verification.chainview import ChainView, LabState
from tracecert.verification.evidence import Evidence, Policy
from tracecert.verification.report import Report

__all__ = ["check_credit", "check_lab", "check_signature"]

#: The moments and dates a lab's status and authorization are judged at, in Chinese.
_MOMENT_ZH = {"issue": "签发时", "anchoring": "存证时"}
_DATE_ZH = {"work": "检定/校准日期", "issue": "签发日期"}


def check_signature(
    report: Report, ev: Evidence, record: CertificateRecord, batch: BatchInfo, chain: ChainView, policy: Policy
) -> None:
    """KEY_OF_LAB, KEY_MATCHES_BATCH, SIGNATURE_VALID and KEY_VALID_AT_ISSUE, for a record anchored in ``batch``."""
    key = chain.key(ev.key_id) if ev.key_id else None
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
    issue_start, issue_end = policy.day(record.dates.issue_date)
    in_window = (
        key.valid_from <= batch.timestamp < key.valid_until
        and key.valid_from < issue_end
        and key.valid_until > issue_start
    )
    window = "" if in_window else f"{policy.when(key.valid_from)} – {policy.when(key.valid_until)}"
    report.add(
        "KEY_VALID_AT_ISSUE",
        in_window,
        ""
        if in_window
        else f"the key was valid {window}, which does not cover the issue date {record.dates.issue_date} "
        f"and the anchoring at {policy.when(batch.timestamp)}",
        zh=""
        if in_window
        else f"密钥有效期 {window}，未覆盖签发日期 {record.dates.issue_date} 及存证时间 {policy.when(batch.timestamp)}",
        valid_from=key.valid_from,
        valid_until=key.valid_until,
    )


def check_lab(
    report: Report, record: CertificateRecord, anchor_time: int, chain: ChainView, policy: Policy
) -> LabState | None:
    """LAB_REGISTERED, LAB_NAME, LAB_ACTIVE_AT_ISSUE, LAB_AUTHORIZED_AT_ISSUE, LAB_SCOPE and (for verification
    kinds) LAB_KIND_FOR_VERIFICATION. Returns the lab's state at issue, or None when the lab is unknown."""
    lab_id = from_hex(record.lab.lab_id)
    _, issue_end = policy.day(record.dates.issue_date)
    issue_t = min(issue_end - 1, anchor_time)
    work_t = policy.day(record.dates.performance_begin)[0]
    lab = chain.lab_at(lab_id, issue_t)
    if lab is None:
        lab = chain.lab_at(lab_id, anchor_time)
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
    on_chain = chain.lab_name(lab_id)
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
    at_anchor = chain.lab_at(lab_id, anchor_time)
    statuses = {"issue": lab.status, "anchoring": at_anchor.status if at_anchor else LabStatus.NONE}
    active = all(s == LabStatus.ACTIVE for s in statuses.values())
    report.add(
        "LAB_ACTIVE_AT_ISSUE",
        active,
        "" if active else ", ".join(f"at {k}: {v.en}" for k, v in statuses.items()),
        zh="" if active else "，".join(f"{_MOMENT_ZH[k]}：{v.zh}" for k, v in statuses.items()),
    )
    at_work = chain.lab_at(lab_id, work_t)
    windows = {"work": at_work.authorized if at_work else False, "issue": lab.authorized}
    authorized = all(windows.values())
    uncovered = [k for k, v in windows.items() if not v]
    span = None
    if lab.valid_until and not authorized:
        span = f"{policy.when(lab.valid_from)} – {policy.when(lab.valid_until)}"
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
    in_scope = chain.is_authorized(lab_id, record.item.category_code, activity, issue_t)
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
    check_credit(report, lab_id, issue_t, chain, policy)
    return lab


def check_credit(report: Report, lab_id: bytes, issue_t: int, chain: ChainView, policy: Policy) -> None:
    """LAB_CREDIT: no sanction against the lab in force at issue (a warning, not an error: the lab's status on
    the TrustRegistry decides whether it could issue). The report's certificate carries the lab's credit grade now
    and at issue (:mod:`tracecert.credit`). Skipped on a deployment without a credit record."""
    record = chain.sanctions(lab_id)
    if record is None:
        report.add("LAB_CREDIT", None, "this deployment has no credit record (CreditRegistry)")
        return
    now, at_issue = standing(record, chain.now()), standing(record, issue_t)
    report.certificate["lab_credit"] = {
        "grade": grade_view(now.grade),
        "grade_at_issue": grade_view(at_issue.grade),
        "in_force": [entry_view(e, policy.when) for e in now.in_force],
        "in_force_at_issue": [entry_view(e, policy.when) for e in at_issue.in_force],
    }
    clean = not at_issue.in_force
    report.add(
        "LAB_CREDIT",
        clean,
        "" if clean else "; ".join(f"{e.kind.en} ({e.reason.en}), {e.case_number}" for e in at_issue.in_force),
        zh="" if clean else "；".join(f"{e.kind.zh}（{e.reason.zh}），{e.case_number}" for e in at_issue.in_force),
        grade_at_issue=at_issue.grade.value,
    )
