"""Codes shared with the contracts: lab kinds and statuses, scope activities, certificate states and reasons.

The values mirror the Solidity constants (a test checks each against the deployed contracts).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = [
    "NATIONAL",
    "VERIFYING_KINDS",
    "Activity",
    "CertificateState",
    "LabKind",
    "LabStatus",
    "RevocationReason",
    "SanctionKind",
    "SanctionReason",
    "SubjectKind",
    "category_code",
    "category_from_bytes",
    "chain_time",
    "covers",
]

#: Jurisdiction code of the national regulator (others are GB/T 2260 six-digit codes, e.g. 330000, 330100).
NATIONAL = 0


def covers(parent: int, child: int) -> bool:
    """Whether jurisdiction ``parent`` covers ``child``, as ``TrustRegistry.covers`` decides it: the nation covers
    everything, a province (``xx0000``) its cities and districts, a city (``xxxx00``) its districts, a district
    itself; no region covers the nation."""
    if parent == NATIONAL:
        return True
    if child == NATIONAL:
        return False
    if parent % 10000 == 0:
        return parent // 10000 == child // 10000
    if parent % 100 == 0:
        return parent // 100 == child // 100
    return parent == child


class _Named:
    """Chinese and English names of an enumeration's members (what a person reads instead of a number or code)."""

    @property
    def zh(self) -> str:
        """The name in Chinese."""
        return _NAMES[type(self).__name__][int(self)][0]  # type: ignore[call-overload]

    @property
    def en(self) -> str:
        """The name in English."""
        return _NAMES[type(self).__name__][int(self)][1]  # type: ignore[call-overload]


class LabKind(_Named, IntEnum):
    """Kind of lab (TrustRegistry ``KIND_*``)."""

    NMI = 1
    LEGAL_METROLOGY_INSTITUTE = 2
    AUTHORIZED_BODY = 3
    ACCREDITED_LAB = 4


#: The kinds of lab that may verify (检定 is legal metrology; an accredited lab calibrates only): the contract refuses
#: VERIFY in another kind's scope, and the verifier's LAB_KIND_FOR_VERIFICATION fails a verification by one.
VERIFYING_KINDS = frozenset({LabKind.NMI, LabKind.LEGAL_METROLOGY_INSTITUTE, LabKind.AUTHORIZED_BODY})


class LabStatus(_Named, IntEnum):
    """Lab status (TrustRegistry ``STATUS_*``); 0 means not registered (at that time)."""

    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2
    REVOKED = 3


class Activity(IntFlag):
    """Scope activities (TrustRegistry ``ACTIVITY_*``): 检定 and 校准."""

    VERIFY = 1
    CALIBRATE = 2


class CertificateState(_Named, IntEnum):
    """On-chain certificate state (CertificateRegistry ``STATE_*``)."""

    NONE = 0
    REVOKED = 1
    SUBSTITUTED = 2


class RevocationReason(_Named, IntEnum):
    """Why a certificate was revoked (recorded on chain; 0 is refused)."""

    ERROR_IN_CONTENT = 1
    KEY_COMPROMISE = 2
    SUPERSEDED = 3
    FRAUD = 4
    INSTRUMENT_WITHDRAWN = 5
    LAB_REQUEST = 6
    REGULATOR_ORDER = 7

    @classmethod
    def named(cls, value: int) -> str:
        """``证书内容有误 / error in content`` for a recorded code; an unknown code says so, with its number."""
        try:
            reason = cls(value)
        except ValueError:
            return f"未知原因 / unknown reason ({value})"
        return f"{reason.zh} / {reason.en}"


class SubjectKind(_Named, IntEnum):
    """Whom a credit record entry is about (CreditRegistry ``SUBJECT_*``)."""

    LAB = 1
    ENTERPRISE = 2


class SanctionKind(_Named, IntEnum):
    """Kind of a credit record entry (CreditRegistry ``KIND_*``); a LIFTING ends an earlier entry."""

    WARNING = 1
    RECTIFICATION = 2
    FINE = 3
    SUSPENSION = 4
    BLACKLIST = 5
    LIFTING = 6


class SanctionReason(_Named, IntEnum):
    """Why a regulator acted: the reason of a credit record entry, and of a lab's suspension or revocation on the
    TrustRegistry (1..10; the contracts refuse 0)."""

    FALSE_CERTIFICATE = 1
    FORGED_DATA = 2
    OUTSIDE_SCOPE = 3
    UNQUALIFIED_STAFF = 4
    STANDARD_NOT_TRACEABLE = 5
    REFUSED_INSPECTION = 6
    OVERDUE_VERIFICATION = 7
    NONCONFORMING_INSTRUMENTS = 8
    RECTIFIED = 9
    OTHER = 10


_NAMES: dict[str, dict[int, tuple[str, str]]] = {
    "SubjectKind": {1: ("检定校准机构", "lab"), 2: ("企业", "enterprise")},
    "SanctionKind": {
        1: ("警告", "warning"),
        2: ("责令整改", "rectification order"),
        3: ("罚款", "fine"),
        4: ("暂停资质", "suspension"),
        5: ("列入失信黑名单", "blacklisting"),
        6: ("解除", "lifting"),
    },
    "SanctionReason": {
        1: ("出具虚假计量证书", "issuing false certificates"),
        2: ("伪造计量数据", "forged measurement data"),
        3: ("超出授权范围开展检定校准", "work outside the authorized scope"),
        4: ("检定校准人员不具备资格", "unqualified personnel"),
        5: ("计量标准未有效溯源", "reference standards not traceable"),
        6: ("拒绝或阻碍监督检查", "refused or obstructed inspection"),
        7: ("强检计量器具未按期检定", "mandatory instruments not verified in time"),
        8: ("使用不合格计量器具", "non-conforming instruments in use"),
        9: ("已完成整改", "rectification completed"),
        10: ("其他违法违规行为", "other violation"),
    },
    "LabKind": {
        1: ("国家计量院", "national metrology institute"),
        2: ("法定计量检定机构", "legal metrology institute"),
        3: ("授权计量技术机构", "authorized metrology body"),
        4: ("认可实验室", "accredited laboratory"),
    },
    "LabStatus": {
        0: ("未登记", "not registered"),
        1: ("正常", "active"),
        2: ("暂停", "suspended"),
        3: ("撤销", "revoked"),
    },
    "CertificateState": {0: ("正常", "in force"), 1: ("已撤销", "revoked"), 2: ("已被替代", "substituted")},
    "RevocationReason": {
        1: ("证书内容有误", "error in content"),
        2: ("签名密钥泄露", "signing key compromised"),
        3: ("已被新证书取代", "superseded"),
        4: ("虚假证书", "fraudulent certificate"),
        5: ("器具已停用或报废", "instrument withdrawn"),
        6: ("出具机构申请撤销", "at the lab's request"),
        7: ("监管部门责令撤销", "on the regulator's order"),
    },
}


_UINT64_MAX = (1 << 64) - 1


def chain_time(t: int) -> int:
    """A unix time as the contracts' ``uint64`` views take it: times before 1970 ask at 0 and times beyond the
    uint64 range at its end, which answer exactly as the time itself would (the recorded history starts after 1970,
    when the contracts were deployed, and every change in it has a block timestamp inside the range). So a DCC
    whose work date is 1957 is judged, not refused with an encoding error."""
    return min(max(int(t), 0), _UINT64_MAX)


def category_code(code: str) -> bytes:
    """An instrument category code (e.g. ``"JJG1148"`` or ``"0104"``) as the contracts' ``bytes32``.

    Raises:
        ValueError: empty, or longer than 32 bytes in UTF-8.
    """
    raw = code.strip().encode("utf-8")
    if not raw or len(raw) > 32:
        raise ValueError(f"category code must be 1..32 bytes of UTF-8, got {code!r}")
    return raw.ljust(32, b"\x00")


def category_from_bytes(value: bytes) -> str:
    """The category code of a ``bytes32`` (inverse of :func:`category_code`)."""
    return bytes(value).rstrip(b"\x00").decode("utf-8")
