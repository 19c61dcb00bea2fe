"""The credit grade (信用等级) of a lab or an enterprise, from its on-chain credit record by one documented rule.

The rule looks only at the regulators' decisions recorded on chain (the CreditRegistry), never at unconfirmed
suspicions: a fraud signal or an anomaly finding is a reason for a regulator to look, and becomes part of the public
grade only through the decision the regulator records. An entry is *in force* at a moment when its window
``[effective_from, effective_until)`` covers the moment and no LIFTING of it took effect at or before the moment.

======  ==========  ==========================================================================
grade   名称         when (the worst entry in force decides)
======  ==========  ==========================================================================
D       失信         a blacklisting (列入失信黑名单) in force
C       较差         a suspension (暂停资质) or a fine (罚款) in force
B       一般         a warning (警告) or a rectification order (责令整改) in force
A       良好         nothing in force
======  ==========  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tracecert.certificate.canonical import to_hex
from tracecert.chain.contracts import Sanction
from tracecert.chain.types import SanctionKind

__all__ = ["CreditStanding", "Grade", "entry_view", "grade_view", "in_force", "standing"]


class Grade(StrEnum):
    """A credit grade, best first."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"

    @property
    def zh(self) -> str:
        """The grade's name in Chinese."""
        return _GRADE_NAMES[self][0]

    @property
    def en(self) -> str:
        """The grade's name in English."""
        return _GRADE_NAMES[self][1]


_GRADE_NAMES = {
    Grade.A: ("良好", "good"),
    Grade.B: ("一般", "fair"),
    Grade.C: ("较差", "poor"),
    Grade.D: ("失信", "blacklisted"),
}

#: The grade each kind of entry in force brings (the worst one decides).
GRADE_OF_KIND = {
    SanctionKind.WARNING: Grade.B,
    SanctionKind.RECTIFICATION: Grade.B,
    SanctionKind.FINE: Grade.C,
    SanctionKind.SUSPENSION: Grade.C,
    SanctionKind.BLACKLIST: Grade.D,
}


@dataclass(frozen=True)
class CreditStanding:
    """A subject's grade at one moment and the entries in force then."""

    at: int
    grade: Grade
    in_force: tuple[Sanction, ...]


def in_force(record: Sequence[Sanction], at: int) -> list[Sanction]:
    """The entries of ``record`` (not liftings) in force at unix time ``at``, oldest first."""
    lifted = {e.lifts for e in record if e.lifts is not None and e.effective_from <= at}
    return [
        e
        for e in record
        if e.kind is not SanctionKind.LIFTING
        and e.index not in lifted
        and e.effective_from <= at
        and (e.effective_until is None or at < e.effective_until)
    ]


def standing(record: Sequence[Sanction], at: int) -> CreditStanding:
    """The grade at ``at`` by the rule of this module, with the entries in force that decide it."""
    current = in_force(record, at)
    grade = max((GRADE_OF_KIND[e.kind] for e in current), default=Grade.A)
    return CreditStanding(at, grade, tuple(current))


def grade_view(grade: Grade) -> dict[str, str]:
    """A grade as answers carry it: its letter and its names."""
    return {"code": grade.value, "zh": grade.zh, "en": grade.en}


def entry_view(entry: Sanction, when: Callable[[int], str]) -> dict[str, Any]:
    """One credit record entry as answers carry it: every code with its names, every time as ``when`` shows it to
    a person (e.g. :meth:`tracecert.verification.evidence.Policy.when`)."""
    return {
        "index": entry.index,
        "subject_kind": {"code": entry.subject_kind.name, "zh": entry.subject_kind.zh, "en": entry.subject_kind.en},
        "kind": {"code": entry.kind.name, "zh": entry.kind.zh, "en": entry.kind.en},
        "reason": {"code": entry.reason.name, "zh": entry.reason.zh, "en": entry.reason.en},
        "case_number": entry.case_number,
        "decision_sha256": to_hex(entry.decision_digest),
        "effective_from": when(entry.effective_from),
        "effective_until": None if entry.effective_until is None else when(entry.effective_until),
        "lifts": entry.lifts,
        "region": entry.region or None,
        "recorded_at": when(entry.recorded_at),
        "recorded_by": entry.recorded_by,
    }
