"""The lab directory (机构名录) as the verifier answers it: the labs on chain filtered the way a regulator asks, and one
lab's whole history, from the verifier's own index (:mod:`verifier.index.directory`). One answer for
``GET /v1/labs``, ``GET /v1/labs/{lab_id}``, ``tracecert verifier labs|lab`` and the web page's directory.

Everything here is public chain data (一公开); every time is shown as a person reads it (UTC+8), never as a unix time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from tracecert.chain.types import LabKind, LabStatus, category_code
from tracecert.credit import Grade, grade_view
from tracecert.verification.chainview import ChainView
from tracecert.verification.evidence import Policy
from verifier.credit import CreditEntryOut, NamedOut, record_view
from verifier.errors import DirectoryUnavailable, InvalidRequest, UnknownLab

if TYPE_CHECKING:
    from verifier.index.core import Index

__all__ = [
    "FILTERS",
    "MAX_EXPIRING_WITHIN_DAYS",
    "DirectoryFilters",
    "DirectoryOut",
    "LabHistoryOut",
    "LabOut",
    "directory_answer",
    "index_of",
    "lab_answer",
    "parse_filters",
]

#: The directory's filters, as query parameters and CLI options name them.
FILTERS = ("jurisdiction", "kind", "status", "category", "expiring_within_days")
#: ``expiring_within_days`` runs from 1 to ten years.
MAX_EXPIRING_WITHIN_DAYS = 3650
#: ``0`` (the nation) or a GB/T 2260 code: six digits, the first two a province (11..82).
_JURISDICTION_RE = re.compile(r"^(0|[1-8]\d{5})$")
_LISTED_STATUSES = (LabStatus.ACTIVE, LabStatus.SUSPENDED, LabStatus.REVOKED)


@dataclass(frozen=True)
class DirectoryFilters:
    """What the directory is narrowed to (None: not filtered)."""

    jurisdiction: int | None = None
    kind: LabKind | None = None
    status: LabStatus | None = None
    category: str | None = None
    expiring_within_days: int | None = None


def _given(value: str | None) -> str | None:
    return None if value is None or not value.strip() else value.strip()


def parse_filters(
    *,
    jurisdiction: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    category: str | None = None,
    expiring_within_days: str | None = None,
) -> DirectoryFilters:
    """The directory's filters from their text (a query string, the command line); empty means not given.

    Raises:
        InvalidRequest: INVALID_JURISDICTION (not 0 or a six-digit GB/T 2260 code), INVALID_LAB_KIND (not NMI,
            LEGAL_METROLOGY_INSTITUTE, AUTHORIZED_BODY or ACCREDITED_LAB), INVALID_STATUS (not ACTIVE, SUSPENDED or
            REVOKED), INVALID_CATEGORY (not 1..32 bytes of UTF-8), INVALID_EXPIRING_WITHIN_DAYS (not a whole
            number of days from 1 to 3650).
    """
    juris: int | None = None
    lab_kind: LabKind | None = None
    lab_status: LabStatus | None = None
    where: str | None = None
    days: int | None = None
    if (text := _given(jurisdiction)) is not None:
        if not _JURISDICTION_RE.match(text):
            raise InvalidRequest(
                f"jurisdiction {jurisdiction!r} is not 0 (the nation) or a six-digit GB/T 2260 code such as 330100",
                code="INVALID_JURISDICTION",
            )
        juris = int(text)
    if (text := _given(kind)) is not None:
        try:
            lab_kind = LabKind[text.upper()]
        except KeyError as exc:
            choices = ", ".join(k.name for k in LabKind)
            raise InvalidRequest(f"kind {kind!r} is not one of {choices}", code="INVALID_LAB_KIND") from exc
    if (text := _given(status)) is not None:
        lab_status = next((s for s in _LISTED_STATUSES if s.name == text.upper()), None)
        if lab_status is None:
            choices = ", ".join(s.name for s in _LISTED_STATUSES)
            raise InvalidRequest(f"status {status!r} is not one of {choices}", code="INVALID_STATUS")
    if (text := _given(category)) is not None:
        try:
            category_code(text)
        except ValueError as exc:
            raise InvalidRequest(
                f"category {category!r} is not a category code (1..32 bytes, e.g. JJG52)", code="INVALID_CATEGORY"
            ) from exc
        where = text
    if (text := _given(expiring_within_days)) is not None:
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_EXPIRING_WITHIN_DAYS:
            raise InvalidRequest(
                f"expiring_within_days {expiring_within_days!r} is not a whole number of days from 1 to "
                f"{MAX_EXPIRING_WITHIN_DAYS}",
                code="INVALID_EXPIRING_WITHIN_DAYS",
            )
        days = int(text)
    return DirectoryFilters(juris, lab_kind, lab_status, where, days)


def index_of(chain: ChainView) -> Index:
    """The verifier's index behind ``chain``.

    Raises:
        DirectoryUnavailable: the chain view is a live node (the directory is read from the index only).
    """
    try:
        from verifier.index.core import Index
    except ImportError as exc:  # pragma: no cover - the index is part of the package; bootstrap treats it as optional
        raise DirectoryUnavailable("the lab directory needs the verifier's index, which is not installed") from exc
    if not isinstance(chain, Index):
        raise DirectoryUnavailable(
            "the lab directory is read from the verifier's own index; this service asks a live node "
            "(run it with TRACECERT_VERIFIER_CHAIN_VIEW=index, the default of `tracecert verifier serve`)"
        )
    return chain


def directory_answer(index: Index, policy: Policy, filters: DirectoryFilters, at: int | None) -> dict[str, Any]:
    """The labs on chain at ``at`` (None: the index's latest block) narrowed by ``filters``, as
    :class:`DirectoryOut` describes them."""
    from verifier.index.directory import directory

    moment = index.now() if at is None else at
    labs = directory(
        index,
        at=moment,
        jurisdiction=filters.jurisdiction,
        kind=filters.kind,
        status=filters.status,
        category=filters.category,
        expiring_within_days=filters.expiring_within_days,
    )
    listed = [_named_grade(lab.to_dict(policy.when)) for lab in labs]
    return {"as_of": policy.when(moment), "count": len(labs), "labs": listed}


def lab_answer(index: Index, policy: Policy, lab_id: str, at: int | None) -> dict[str, Any]:
    """The whole history of the lab ``lab_id`` (0x + 64 hex, lower case), its state taken at ``at`` (None: the
    index's latest block), as :class:`LabHistoryOut` describes it.

    Raises:
        UnknownLab: no lab was ever registered under ``lab_id``.
    """
    from verifier.index.directory import lab_history

    moment = index.now() if at is None else at
    history = lab_history(index, bytes.fromhex(lab_id[2:]), at=moment, tz_hours=policy.tz_offset_hours)
    if history is None:
        raise UnknownLab(f"no lab is registered with id {lab_id}")
    answer = _named_grade(history.to_dict(policy.when, moment))
    if history.sanctions is not None:  # the credit record as GET /v1/credit answers it: in force, lifted by
        answer["credit"] = record_view(history.sanctions, moment, policy.when)
    return {"as_of": policy.when(moment), **answer}


def _named_grade(lab: dict[str, Any]) -> dict[str, Any]:
    """``credit_grade`` with its names, as the credit record's grade is given."""
    letter = lab["credit_grade"]
    return lab | {"credit_grade": None if letter is None else grade_view(Grade(letter))}


# ------------------------------------------------------------------------------------------ the answers' shapes


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReasonOut(_Out):
    """Why a regulator changed a lab's status, by name (:class:`~tracecert.chain.types.SanctionReason`)."""

    code: str | int = Field(description="The reason's code (e.g. OUTSIDE_SCOPE); its number if it has no name")
    zh: str = Field(description="Its Chinese name")
    en: str = Field(description="Its English name")


class AuthorizationNowOut(_Out):
    """The authorization that decides at the moment asked about (else the latest recorded)."""

    number: str = Field(description="The authorization's certificate number (e.g. (浙)法计(2020)01023号)")
    valid_from: str = Field(description="When it starts, as a person reads it (UTC+8)")
    valid_until: str = Field(description="When it ends (exclusive), as a person reads it")


class LabOut(_Out):
    """One lab as the directory lists it, at the moment asked about."""

    lab_id: str = Field(description="The lab id, 0x + 64 hex")
    name: str = Field(description="The lab's registered name")
    kind: NamedOut = Field(description="NMI, LEGAL_METROLOGY_INSTITUTE, AUTHORIZED_BODY or ACCREDITED_LAB")
    jurisdiction: int = Field(description="The lab's region, a GB/T 2260 code (e.g. 330100)")
    status: NamedOut = Field(description="ACTIVE, SUSPENDED or REVOKED (NONE: not registered at that moment)")
    authorization: AuthorizationNowOut | None = Field(description="null: no authorization was ever recorded")
    scope: dict[str, list[str]] = Field(description="Category code → activities (VERIFY, CALIBRATE) in that scope")
    certificates: int = Field(description="Certificates anchored by the lab, all batches")
    credit_grade: NamedOut | None = Field(
        description="A, B, C or D at the moment, with its names; null without a credit record"
    )


class DirectoryOut(_Out):
    """The lab directory (机构名录): every lab on chain that passes the filters, by jurisdiction, then name."""

    as_of: str = Field(description="The moment the labs' states are for, as a person reads it (UTC+8)")
    count: int = Field(description="How many labs are listed")
    labs: list[LabOut]


class RegisteredOut(_Out):
    """The lab's registration."""

    at: str = Field(description="When it was registered, as a person reads it (UTC+8)")
    by: str = Field(description="The registering regulator's address")
    by_name: str | None = Field(description="The registering regulator's name")


class AuthorizationOut(_Out):
    """One authorization recorded for the lab, with its scope."""

    index: int = Field(description="Position among the lab's authorizations, from 0")
    number: str = Field(description="The authorization's certificate number")
    valid_from: str = Field(description="When it starts (UTC+8)")
    valid_until: str = Field(description="When it ends, exclusive (UTC+8)")
    recorded_at: str = Field(description="When the regulator recorded it (UTC+8)")
    regulator: str = Field(description="The recording regulator's address")
    scope: dict[str, list[str]] = Field(description="Category code → activities (VERIFY, CALIBRATE)")


class StatusChangeOut(_Out):
    """One change of the lab's status, oldest first."""

    since: str = Field(description="When it took effect (UTC+8)")
    status: NamedOut = Field(description="The status from then on")
    reason: ReasonOut | None = Field(description="The regulator's reason by name; null when none was given")
    by: str = Field(description="The address that changed it")


class KeyOut(_Out):
    """One of the lab's signing keys."""

    key_id: str = Field(description="The key id, 0x + 64 hex")
    valid_from: str = Field(description="Start of its window (UTC+8)")
    valid_until: str | None = Field(description="End of its window (UTC+8); null: open-ended")
    registered_at: str = Field(description="When it was registered (UTC+8)")
    closed_reason: int | None = Field(description="The reason code its window was closed with; null: not closed")


class LabCreditOut(_Out):
    """The lab's credit record at the moment, as ``GET /v1/credit/{lab_id}`` answers it."""

    grade: NamedOut = Field(description="A, B, C or D with its names")
    in_force: list[int] = Field(description="Indices of the entries in force")
    entries: list[CreditEntryOut] = Field(description="Every entry, oldest first")


class LabHistoryOut(LabOut):
    """One lab's whole record on chain: its directory entry, registration, authorizations with their scope, status
    changes with their reasons by name, keys, certificates anchored per month and its credit record."""

    as_of: str = Field(description="The moment its state is for, as a person reads it (UTC+8)")
    registered: RegisteredOut
    authorizations: list[AuthorizationOut] = Field(description="Every authorization, oldest first")
    statuses: list[StatusChangeOut] = Field(description="Every status change, oldest first")
    keys: list[KeyOut] = Field(description="Every signing key, in registration order")
    certificates_per_month: dict[str, int] = Field(
        description="YYYY-MM (China time) → certificates anchored that month; months without any are left out"
    )
    credit: LabCreditOut | None = Field(description="null: the deployment has no credit record (no CreditRegistry)")
