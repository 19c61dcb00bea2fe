"""The public credit record (计量信用记录) of a lab or an enterprise, as the verifier answers it: the grade now by
:mod:`tracecert.credit`'s rule, the entries in force, and every entry of the record with its names and human times.
One answer for ``GET /v1/credit/{subject}``, ``tracecert verifier credit`` and the web page's credit lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tracecert.certificate.canonical import to_hex
from tracecert.chain.contracts import Sanction
from tracecert.chain.types import SanctionKind, SubjectKind
from tracecert.credit import entry_view, grade_view, standing
from tracecert.verification.chainview import ChainView
from tracecert.verification.evidence import Policy
from verifier.errors import CreditRecordUnavailable, UnknownLab
from verifier.inputs import CreditSubject

__all__ = ["CreditEntryOut", "CreditOut", "NamedOut", "credit_answer", "record_view"]


def credit_answer(chain: ChainView, policy: Policy, subject: CreditSubject) -> dict[str, Any]:
    """The credit record of ``subject`` now (the chain's latest block), as :class:`CreditOut` describes it.

    Raises:
        CreditRecordUnavailable: the deployment has no CreditRegistry.
        UnknownLab: ``subject`` is a lab id under which no lab was registered (an enterprise cannot be unknown:
            the chain keeps no list of enterprises, so one without entries has a clean record).
    """
    record = chain.sanctions(subject.subject_id)
    if record is None:
        raise CreditRecordUnavailable("this deployment has no credit record (no CreditRegistry)")
    now = chain.now()
    lab_name = None
    if subject.kind is SubjectKind.LAB:
        if chain.lab_at(subject.subject_id, now) is None:
            raise UnknownLab(f"no lab is registered with id {subject.text}")
        lab_name = chain.lab_name(subject.subject_id)
    return {
        "subject": subject.text,
        "subject_id": to_hex(subject.subject_id),
        "subject_kind": {"code": subject.kind.name, "zh": subject.kind.zh, "en": subject.kind.en},
        "lab_name": lab_name,
        "as_of": policy.when(now),
        **record_view(record, now, policy.when),
    }


def record_view(record: Sequence[Sanction], at: int, when: Callable[[int], str]) -> dict[str, Any]:
    """A credit record at ``at`` as answers carry it: ``grade`` (with its names), the indices ``in_force``, and
    every entry oldest first with its names, times as ``when`` shows them, and ``lifted_by`` (the index of the
    first later LIFTING that names it)."""
    lifted_by: dict[int, int] = {}
    for entry in record:  # oldest first: the first lifting that names an entry
        if entry.kind is SanctionKind.LIFTING and entry.lifts is not None:
            lifted_by.setdefault(entry.lifts, entry.index)
    state = standing(record, at)
    return {
        "grade": grade_view(state.grade),
        "in_force": [e.index for e in state.in_force],
        "entries": [entry_view(e, when) | {"lifted_by": lifted_by.get(e.index)} for e in record],
    }


# ------------------------------------------------------------------------------------------ the answer's shape


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NamedOut(_Out):
    """A code with its names."""

    code: str = Field(description="The machine code (e.g. FINE, LAB, C)")
    zh: str = Field(description="Its Chinese name")
    en: str = Field(description="Its English name")


class CreditEntryOut(_Out):
    """One entry of the record (:func:`tracecert.credit.entry_view`): a sanction, or a LIFTING of an earlier one."""

    index: int = Field(description="Position in the subject's record, from 0 (oldest first)")
    subject_kind: NamedOut
    kind: NamedOut = Field(description="WARNING, RECTIFICATION, FINE, SUSPENSION, BLACKLIST or LIFTING")
    reason: NamedOut
    case_number: str = Field(description="The decision's case number (文号)")
    decision_sha256: str = Field(description="SHA-256 of the decision document, 0x + 64 hex")
    effective_from: str = Field(description="When it takes effect, as a person reads it (UTC+8)")
    effective_until: str | None = Field(description="When it ends (exclusive); null: until lifted")
    lifts: int | None = Field(description="For a LIFTING: the index of the entry it lifts")
    region: int | None = Field(description="An enterprise's GB/T 2260 region (from its USCI); null for a lab")
    recorded_at: str = Field(description="When the regulator recorded it, as a person reads it")
    recorded_by: str = Field(description="The recording regulator's address")
    lifted_by: int | None = Field(description="The index of a later LIFTING that names this entry, if any")


class CreditOut(_Out):
    """A lab's or an enterprise's public credit record and its grade now (A 良好 … D 失信, by the rule of
    :mod:`tracecert.credit`: the worst entry in force decides)."""

    subject: str = Field(description="The lab id (0x + 64 hex, lower case) or the enterprise's USCI")
    subject_id: str = Field(description="The record's key on chain: the lab id, or keccak256 of the USCI")
    subject_kind: NamedOut = Field(description="LAB or ENTERPRISE")
    lab_name: str | None = Field(description="The lab's registered name; null for an enterprise")
    as_of: str = Field(description="The chain time the grade is for, as a person reads it (UTC+8)")
    grade: NamedOut = Field(description="A, B, C or D with its names")
    in_force: list[int] = Field(description="Indices of the entries in force now")
    entries: list[CreditEntryOut] = Field(description="Every entry, oldest first")
