"""Verification reports: every check run, with a stable code, a severity and a message in Chinese and English.

The catalog :data:`CHECKS` is the one place where checks are declared (as cert-verifier-js declares its steps):
each entry names the check's family, the severity of its failure, and its messages. A report lists every check
that ran — passed, failed, warned or skipped — and derives the verdict:

- ``INVALID``: at least one ERROR-severity check failed (or the certificate is unknown: never "valid");
- ``VALID_WITH_WARNINGS``: only WARNING-severity checks failed;
- ``VALID``: every check that ran passed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from tracecert.fast_json import dumps

__all__ = ["CHECKS", "CheckResult", "CheckSpec", "Outcome", "Report", "Severity", "TraceNode", "Verdict", "catalog"]


class Severity(StrEnum):
    """How much a failed check weighs."""

    ERROR = "ERROR"
    WARNING = "WARNING"


class Outcome(StrEnum):
    """What a check found."""

    PASS = "PASS"  # noqa: S105 - an outcome, not a password
    FAIL = "FAIL"
    SKIP = "SKIP"  # could not run (e.g. no record); says why


class Verdict(StrEnum):
    """The overall answer."""

    VALID = "VALID"
    VALID_WITH_WARNINGS = "VALID_WITH_WARNINGS"
    INVALID = "INVALID"


@dataclass(frozen=True)
class CheckSpec:
    """A declared check: its family, the severity of its failure, and what its failure means (zh/en).

    ``name_zh`` / ``name_en`` label the check itself; ``field`` is the record field a failure is about (what the
    registry's refusal names); ``at_acceptance`` says whether the check can be decided when a certificate is
    accepted, before anchoring (the registry runs those).
    """

    code: str
    family: str
    severity: Severity
    zh: str
    en: str
    field: str | None = None
    at_acceptance: bool = True
    name_zh: str = ""
    name_en: str = ""


def _spec(code: str, family: str, severity: Severity, zh: str, en: str) -> tuple[str, CheckSpec]:
    return code, CheckSpec(code, family, severity, zh, en)


E, W = Severity.ERROR, Severity.WARNING

#: Every check the verifier runs, by code. Messages describe the failure.
CHECKS: dict[str, CheckSpec] = dict(
    [
        # integrity: is this exactly what was anchored?
        _spec(
            "RECORD_WELL_FORMED",
            "integrity",
            E,
            "证书数据格式或该类证书的规则不符",
            "the record breaks the format or the rules of its kind",
        ),
        _spec(
            "DIGEST_MATCHES",
            "integrity",
            E,
            "证书内容与其摘要不符（内容被改动）",
            "the record does not hash to its digest (content altered)",
        ),
        _spec(
            "DOCUMENT_MATCHES",
            "integrity",
            E,
            "原始文件与证书绑定的摘要不符（文件被改动）",
            "the original document does not match the digest bound in the record (file altered)",
        ),
        _spec(
            "DOCUMENT_WELL_FORMED",
            "integrity",
            E,
            "原始文件（DCC XML）不符合其声明的模式（伪造文件）",
            "the original document (DCC XML) does not validate against its declared schema (fabricated file)",
        ),
        _spec("ANCHORED", "integrity", E, "证书未在链上存证", "the certificate was never anchored on the chain"),
        _spec(
            "INCLUSION_PROOF",
            "integrity",
            E,
            "默克尔包含证明无效",
            "the Merkle inclusion proof does not verify against the anchored root",
        ),
        _spec(
            "ANCHORED_BY_LAB",
            "integrity",
            E,
            "存证批次不属于证书上的机构",
            "the batch was anchored by another lab than the record names",
        ),
        # identity: who signed it, with which key
        _spec(
            "SIGNATURE_VALID",
            "identity",
            E,
            "电子签名无效（伪造印章或冒名）",
            "the signature does not verify (forged seal or impersonation)",
        ),
        _spec(
            "DCC_SIGNATURE",
            "identity",
            E,
            "原始文件（DCC XML）的电子签名无效，或签名者不受信任、已被吊销（伪造或被改动的文件）",
            "the original document's (DCC XML) signature does not verify, or its signer is not trusted or was revoked",
        ),
        _spec("KEY_OF_LAB", "identity", E, "签名密钥不属于该机构", "the signing key is not registered to the lab"),
        _spec(
            "VC_PROOF",
            "identity",
            E,
            "可验证凭证（VC）的证明密钥不是该机构在证明时有效的密钥",
            "the Verifiable Credential's proof is not by a key of the lab valid when the proof was made",
        ),
        _spec(
            "KEY_MATCHES_BATCH",
            "identity",
            E,
            "签名密钥与存证批次声明的密钥不同",
            "the signing key differs from the key the batch was anchored with",
        ),
        _spec(
            "KEY_VALID_AT_ISSUE",
            "identity",
            E,
            "签发时签名密钥不在有效期内（已轮换或吊销）",
            "the key was outside its validity window when the certificate was issued or anchored",
        ),
        # authorization: was the lab allowed to issue this?
        _spec(
            "LAB_REGISTERED",
            "authorization",
            E,
            "出具机构未在信任注册表中登记",
            "the issuing lab is not in the trust registry",
        ),
        _spec(
            "LAB_NAME",
            "authorization",
            E,
            "证书上的机构名称与信任注册表登记的名称不符",
            "the lab's name on the certificate is not the name registered in the trust registry",
        ),
        _spec(
            "LAB_ACTIVE_AT_ISSUE",
            "authorization",
            E,
            "出具时机构已被暂停或撤销",
            "the lab was suspended or revoked when the certificate was issued",
        ),
        _spec(
            "LAB_AUTHORIZED_AT_ISSUE",
            "authorization",
            E,
            "出具时机构授权（资质）已过期或尚未生效",
            "the lab's authorization did not cover the work and issue dates",
        ),
        _spec(
            "LAB_SCOPE",
            "authorization",
            E,
            "超出机构授权范围出具证书",
            "the instrument category or activity is outside the lab's authorized scope",
        ),
        _spec(
            "LAB_KIND_FOR_VERIFICATION",
            "authorization",
            E,
            "该机构类型无权出具检定证书",
            "this kind of lab may not issue verification certificates",
        ),
        _spec(
            "LAB_CREDIT",
            "authorization",
            W,
            "出具时该机构有在效的信用惩戒（警告、责令整改、罚款、暂停资质或列入失信黑名单）",
            "a sanction against the lab (warning, rectification order, fine, suspension or blacklisting) was in force "
            "when the certificate was issued",
        ),
        # kind: is it what it claims to be?
        _spec(
            "KIND_AS_EXPECTED",
            "kind",
            E,
            "证书类型与所需不符（如以校准证书冒充检定证书）",
            "the certificate is not of the kind required (e.g. a calibration passed off as a verification)",
        ),
        _spec(
            "MANDATORY_NEEDS_VERIFICATION",
            "kind",
            E,
            "强检计量器具需要检定证书，校准证书不能代替",
            "a mandatorily verified instrument needs a verification certificate, not a calibration",
        ),
        # dates: in order, not backdated, validity not stretched
        _spec("ISSUED_BEFORE_ANCHOR", "dates", E, "签发日期晚于上链时间", "the issue date is after the anchoring time"),
        _spec(
            "ANCHOR_LAG",
            "dates",
            E,
            "签发日期远早于上链时间（疑似倒签）",
            "the issue date is long before the anchoring time (backdating suspected)",
        ),
        _spec(
            "VALIDITY_PERIOD",
            "dates",
            W,
            "有效期超过检定规程规定的周期",
            "the validity period is longer than the regulation allows",
        ),
        # lifecycle: valid at the time asked about?
        _spec(
            "ISSUED_BY_AS_OF",
            "lifecycle",
            E,
            "所询问的时间早于证书签发日期",
            "the certificate had not been issued yet at the time asked about",
        ),
        _spec("NOT_EXPIRED", "lifecycle", E, "证书已过有效期", "the certificate had expired at the time asked about"),
        _spec("NOT_REVOKED", "lifecycle", E, "证书已被撤销", "the certificate was revoked"),
        _spec(
            "NOT_SUBSTITUTED", "lifecycle", E, "证书已被新证书替代", "the certificate was substituted by a replacement"
        ),
        _spec(
            "NUMBER_UNIQUE",
            "lifecycle",
            E,
            "同一证书编号被用于不同内容",
            "the same certificate number was anchored with other content",
        ),
        _spec(
            "BATCH_PUBLISHED",
            "lifecycle",
            W,
            "存证批次内容未公开或与链上根不符",
            "the batch's contents are withheld or do not match its anchored root",
        ),
        # traceability: an unbroken chain up to an NMI
        _spec(
            "TRACE_STANDARD_FOUND",
            "traceability",
            E,
            "找不到所用计量标准的证书",
            "a standard's certificate cannot be found or verified",
        ),
        _spec(
            "TRACE_STANDARD_VALID", "traceability", E, "所用计量标准的证书无效", "a standard's certificate is not valid"
        ),
        _spec(
            "TRACE_SERIAL_MATCH",
            "traceability",
            E,
            "计量标准出厂编号与其证书不符",
            "the standard's serial number differs from its certificate's",
        ),
        _spec(
            "TRACE_VALID_DURING_WORK",
            "traceability",
            E,
            "检定/校准时所用计量标准的证书已过期或被撤销",
            "a standard's certificate was not valid on the dates the work was done",
        ),
        _spec(
            "TRACE_UNCERTAINTY",
            "traceability",
            E,
            "计量标准的不确定度不满足要求（TUR 或 MPE/3）",
            "a standard's uncertainty is not small enough (TUR or MPE/3)",
        ),
        _spec(
            "TRACE_REACHES_NMI",
            "traceability",
            E,
            "溯源链未到达国家计量院",
            "the traceability chain does not reach a national metrology institute",
        ),
        _spec("TRACE_NO_CYCLE", "traceability", E, "溯源链出现循环", "the traceability chain contains a cycle"),
        _spec(
            "TRACE_DEPTH", "traceability", E, "溯源链超过最大深度", "the traceability chain is deeper than the limit"
        ),
        # people
        _spec(
            "SIGNERS_DISTINCT",
            "people",
            E,
            "检定员、核验员、批准人不能为同一人",
            "performer, checker and approver must be different people",
        ),
    ]
)

#: Each check's name (what the page and the CLI label it with), in Chinese and English.
_NAMES = {
    "RECORD_WELL_FORMED": ("证书数据格式", "Record well formed"),
    "DIGEST_MATCHES": ("内容与摘要一致", "Content matches its digest"),
    "DOCUMENT_MATCHES": ("原始文件与摘要一致", "Original document matches"),
    "DOCUMENT_WELL_FORMED": ("原始文件符合其格式规范", "Original document well formed"),
    "ANCHORED": ("已在链上存证", "Anchored on the chain"),
    "INCLUSION_PROOF": ("默克尔包含证明", "Merkle inclusion proof"),
    "ANCHORED_BY_LAB": ("存证批次属于出具机构", "Batch anchored by the issuing lab"),
    "SIGNATURE_VALID": ("电子签名", "Electronic signature"),
    "DCC_SIGNATURE": ("原始文件（DCC）的电子签名", "Original document's (DCC) signature"),
    "KEY_OF_LAB": ("签名密钥属于该机构", "Signing key belongs to the lab"),
    "VC_PROOF": ("可验证凭证的证明", "Verifiable Credential's proof"),
    "KEY_MATCHES_BATCH": ("签名密钥与存证批次一致", "Signing key matches the batch"),
    "KEY_VALID_AT_ISSUE": ("签发时密钥有效", "Key valid at issue"),
    "LAB_REGISTERED": ("机构已登记", "Lab registered"),
    "LAB_NAME": ("机构名称与登记一致", "Lab named as registered"),
    "LAB_ACTIVE_AT_ISSUE": ("签发时机构正常", "Lab active at issue"),
    "LAB_AUTHORIZED_AT_ISSUE": ("签发时机构授权有效", "Lab authorized at issue"),
    "LAB_SCOPE": ("在授权范围内", "Within the lab's scope"),
    "LAB_KIND_FOR_VERIFICATION": ("机构类型可出具检定证书", "Lab kind may verify"),
    "LAB_CREDIT": ("签发时机构无在效的信用惩戒", "No sanction against the lab at issue"),
    "KIND_AS_EXPECTED": ("证书类型符合要求", "Kind as required"),
    "MANDATORY_NEEDS_VERIFICATION": ("强检器具使用检定证书", "Mandatory instrument verified, not calibrated"),
    "ISSUED_BEFORE_ANCHOR": ("先签发后存证", "Issued before anchoring"),
    "ANCHOR_LAG": ("签发与存证间隔（防倒签）", "Anchored promptly (no backdating)"),
    "VALIDITY_PERIOD": ("有效期不超过检定周期", "Validity within the regulation's period"),
    "ISSUED_BY_AS_OF": ("核验时已签发", "Issued by the time asked about"),
    "NOT_EXPIRED": ("未过有效期", "Not expired"),
    "NOT_REVOKED": ("未被撤销", "Not revoked"),
    "NOT_SUBSTITUTED": ("未被替代", "Not substituted"),
    "NUMBER_UNIQUE": ("证书编号唯一", "Certificate number unique"),
    "BATCH_PUBLISHED": ("存证批次已公开", "Batch contents published"),
    "TRACE_STANDARD_FOUND": ("找到计量标准的证书", "Standards' certificates found"),
    "TRACE_STANDARD_VALID": ("计量标准的证书有效", "Standards' certificates valid"),
    "TRACE_SERIAL_MATCH": ("计量标准编号一致", "Standards' serial numbers match"),
    "TRACE_VALID_DURING_WORK": ("工作期间计量标准有效", "Standards valid during the work"),
    "TRACE_UNCERTAINTY": ("计量标准不确定度足够小", "Standards' uncertainty small enough"),
    "TRACE_REACHES_NMI": ("溯源至国家计量院", "Traceable to a national metrology institute"),
    "TRACE_NO_CYCLE": ("溯源链无循环", "No cycle in the chain"),
    "TRACE_DEPTH": ("溯源链深度", "Chain depth within the limit"),
    "SIGNERS_DISTINCT": ("检定员、核验员、批准人不同", "Performer, checker and approver distinct"),
}
#: The record field each check is about, where it is one field.
_FIELDS = {
    "DOCUMENT_MATCHES": "original_document.sha256",
    "DOCUMENT_WELL_FORMED": "original_document",
    "DCC_SIGNATURE": "original_document",
    "SIGNATURE_VALID": "signature.value",
    "KEY_OF_LAB": "signature.key_id",
    "KEY_VALID_AT_ISSUE": "dates.issue_date",
    "LAB_REGISTERED": "lab.lab_id",
    "LAB_NAME": "lab.name",
    "LAB_ACTIVE_AT_ISSUE": "dates.issue_date",
    "LAB_AUTHORIZED_AT_ISSUE": "dates.performance_begin",
    "LAB_SCOPE": "item.category_code",
    "LAB_KIND_FOR_VERIFICATION": "kind",
    "LAB_CREDIT": "lab.lab_id",
    "KIND_AS_EXPECTED": "kind",
    "MANDATORY_NEEDS_VERIFICATION": "customer.mandatory_verification",
    "ISSUED_BEFORE_ANCHOR": "dates.issue_date",
    "ANCHOR_LAG": "dates.issue_date",
    "VALIDITY_PERIOD": "dates.valid_until",
    "ISSUED_BY_AS_OF": "dates.issue_date",
    "NOT_EXPIRED": "dates.valid_until",
    "NUMBER_UNIQUE": "certificate_number",
    **{code: "standards_used" for code in CHECKS if code.startswith("TRACE_")},
    "SIGNERS_DISTINCT": "persons",
}
#: Checks of the anchoring itself, or of what happens after it (revocation, substitution, another certificate
#: anchored under the number, published contents): the verifier's alone. The registry refuses a reused number
#: by its own rule (409 NUMBER_REUSE) before anything else.
_AFTER_ANCHORING = {
    "DIGEST_MATCHES",
    "ANCHORED",
    "INCLUSION_PROOF",
    "ANCHORED_BY_LAB",
    "KEY_MATCHES_BATCH",
    "NOT_REVOKED",
    "NOT_SUBSTITUTED",
    "NUMBER_UNIQUE",
    "BATCH_PUBLISHED",
    "KIND_AS_EXPECTED",  # asked by whoever verifies, not by the certificate
    "VC_PROOF",  # a credential is made of a certificate once it is anchored
}
CHECKS = {
    code: replace(
        spec,
        field=_FIELDS.get(code),
        at_acceptance=code not in _AFTER_ANCHORING,
        name_zh=_NAMES[code][0],
        name_en=_NAMES[code][1],
    )
    for code, spec in CHECKS.items()
}


@dataclass
class CheckResult:
    """The outcome of one check on one certificate."""

    code: str
    outcome: Outcome
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    #: The detail in Chinese, where the check gives one (the Chinese page shows only this, never the English).
    detail_zh: str = ""

    @property
    def spec(self) -> CheckSpec:
        """The catalog entry."""
        return CHECKS[self.code]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        family, name_zh, name_en, severity, zh, en = _json_parts(self.code)
        out = {
            "code": self.code,
            "family": family,
            "name": {"zh": name_zh, "en": name_en},
            "outcome": _OUTCOMES[self.outcome],
            "severity": severity,
            "message": {"zh": zh, "en": en} if self.outcome is Outcome.FAIL else None,
            "detail": self.detail,
            "detail_zh": self.detail_zh,
        }
        if self.data:
            out["data"] = self.data
        return out

    def to_json(self) -> bytes:
        """:meth:`to_dict` as JSON (:func:`tracecert.fast_json.dumps`); a check without detail or data, as most
        are, is written once per code and outcome and kept."""
        if self.data or self.detail or self.detail_zh:
            return dumps(self.to_dict())
        return _plain_check_json(self.code, self.outcome)


@functools.cache
def _plain_check_json(code: str, outcome: Outcome) -> bytes:
    return dumps(CheckResult(code, outcome).to_dict())


#: An outcome's JSON value (an enum's ``.value`` is a descriptor call; a report writes some thirty of them).
_OUTCOMES = {outcome: outcome.value for outcome in Outcome}


@functools.cache
def _json_parts(code: str) -> tuple[str, str, str, str, str, str]:
    """What a check's JSON form takes from the catalog: family, names, severity, failure message (zh, en)."""
    spec = CHECKS[code]
    return spec.family, spec.name_zh, spec.name_en, spec.severity.value, spec.zh, spec.en


@dataclass
class TraceNode:
    """One certificate in a traceability tree: its verdict and the standards' certificates below it."""

    digest: str | None
    certificate_number: str | None
    lab_id: str | None
    lab_name: str | None
    lab_kind: str | None
    verdict: Verdict | None
    standard: str | None = None  # the standard of the child that this certificate covers
    note: str = ""
    children: list[TraceNode] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "digest": self.digest,
            "certificate_number": self.certificate_number,
            "lab_id": self.lab_id,
            "lab_name": self.lab_name,
            "lab_kind": self.lab_kind,
            "verdict": self.verdict.value if self.verdict else None,
            "standard": self.standard,
            "note": self.note,
            "children": [c.to_dict() for c in self.children],
        }


@dataclass
class Report:
    """Everything the verifier found about one certificate."""

    digest: str | None
    as_of: int
    checks: list[CheckResult] = field(default_factory=list)
    certificate: dict[str, Any] = field(default_factory=dict)
    anchor: dict[str, Any] = field(default_factory=dict)
    trace: TraceNode | None = None
    unknown: bool = False
    replaced_by: str | None = None
    #: Digests and instruments of this certificate's traceability subtree (for cycle-safe caching).
    subtree: frozenset[bytes] = field(default=frozenset(), repr=False)

    def add(self, code: str, ok: bool | None, detail: str = "", *, zh: str = "", **data: Any) -> CheckResult:
        """Record a check: ``ok`` True passes, False fails, None skips; ``detail`` in English, ``zh`` in Chinese."""
        if code not in CHECKS:
            raise KeyError(f"undeclared check {code}")
        outcome = Outcome.SKIP if ok is None else Outcome.PASS if ok else Outcome.FAIL
        result = CheckResult(code, outcome, detail, data, zh)
        self.checks.append(result)
        return result

    def failed(self, severity: Severity | None = None) -> list[CheckResult]:
        """Failed checks (of one severity)."""
        failed = [c for c in self.checks if c.outcome is Outcome.FAIL]  # most pass: the catalog is read for few
        if severity is None or not failed:
            return failed
        return [c for c in failed if CHECKS[c.code].severity is severity]

    @property
    def verdict(self) -> Verdict:
        """INVALID on any error or when unknown; VALID_WITH_WARNINGS on warnings only; else VALID."""
        return self._verdict(self.failed())

    def _verdict(self, failed: list[CheckResult]) -> Verdict:
        """The verdict, given the failed checks (one pass over the checks instead of one per severity)."""
        severities = {CHECKS[c.code].severity for c in failed}
        if self.unknown or Severity.ERROR in severities:
            return Verdict.INVALID
        return Verdict.VALID_WITH_WARNINGS if Severity.WARNING in severities else Verdict.VALID

    @property
    def codes(self) -> set[str]:
        """Codes of the failed checks."""
        return {c.code for c in self.failed()}

    def to_dict(self) -> dict[str, Any]:
        """JSON form: verdict, reasons (failed checks, errors first), every check, certificate, anchor, trace."""
        head, tail = self._around_checks()
        return {**head, "checks": [c.to_dict() for c in self.checks], **tail}

    def to_json(self) -> bytes:
        """:meth:`to_dict` written as :func:`tracecert.fast_json.dumps` writes it, in about half the time: the
        checks' JSON comes from :meth:`CheckResult.to_json`, and the parts around them are written apart
        (``tests/verifier/test_report_fast.py`` holds the bytes to the reference's)."""
        head, tail = self._around_checks()
        checks = b",".join([check.to_json() for check in self.checks])
        return b"".join((dumps(head)[:-1], b',"checks":[', checks, b"],", dumps(tail)[1:]))

    def _around_checks(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The members of :meth:`to_dict` before ``checks`` and after it."""
        failed = self.failed()
        reasons = sorted(failed, key=lambda c: (c.spec.severity is not Severity.ERROR, c.code))
        head = {
            "verdict": self._verdict(failed).value,
            "unknown": self.unknown,
            "digest": self.digest,
            "as_of": self.as_of,
            "reasons": [
                {
                    "code": c.code,
                    "name": {"zh": c.spec.name_zh, "en": c.spec.name_en},
                    "severity": c.spec.severity.value,
                    "zh": c.spec.zh,
                    "en": c.spec.en,
                    "detail": c.detail,
                    "detail_zh": c.detail_zh,
                }
                for c in reasons
            ],
        }
        tail = {
            "certificate": self.certificate,
            "anchor": self.anchor,
            "replaced_by": self.replaced_by,
            "trace": self.trace.to_dict() if self.trace else None,
        }
        return head, tail


def catalog() -> list[dict[str, Any]]:
    """The check catalog as JSON, in order: what the page and other clients label checks with (one place)."""
    return [
        {
            "code": spec.code,
            "family": spec.family,
            "severity": spec.severity.value,
            "name": {"zh": spec.name_zh, "en": spec.name_en},
            "failure": {"zh": spec.zh, "en": spec.en},
            "field": spec.field,
            "at_acceptance": spec.at_acceptance,
        }
        for spec in CHECKS.values()
    ]
