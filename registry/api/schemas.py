"""Response shapes, for the OpenAPI document (routes return the services' dicts as they are)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AcceptedOut",
    "AlertFeed",
    "AlertKeyOut",
    "BatchOut",
    "BulkOut",
    "CertificateList",
    "CertificateOut",
    "CoverageOut",
    "EnterpriseList",
    "EnterpriseOut",
    "EnterpriseRegistered",
    "FraudSignalList",
    "HealthOut",
    "InstrumentList",
    "InstrumentOut",
    "InstrumentRefs",
    "MeOut",
    "OperationOut",
    "OverdueOut",
    "RegisterResult",
    "SiteNoticeOut",
    "WatchList",
    "WatchesAdded",
    "WebhookList",
    "WebhookOut",
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class AcceptedOut(_Out):
    """A certificate accepted (201) or found already accepted (200): anchoring is the worker's job. ``requeued``:
    it had failed (never reached the chain) and is queued again (201). ``public``: whether it is published now
    (anyone may download its proof bundle)."""

    digest: str
    certificate_number: str
    lab_id: str
    status: str
    created: bool
    requeued: bool
    signed_by: str
    public: bool


class BulkErrorOut(_Out):
    """Why one bulk item was refused (the same body a single request would get)."""

    code: str
    message: str
    details: Any = None


class BulkItemOut(_Out):
    """One bulk item's result: ``ok`` with the AcceptedOut fields (``digest`` … ``public``), or ``error``."""

    index: int = Field(description="The item's position in the request, from 0")
    ok: bool = Field(description="Accepted (now, before, or queued again); else refused with ``error``")
    error: BulkErrorOut | None = Field(None, description="Why the item was refused (only when not ``ok``)")
    digest: str | None = Field(None, description="As in AcceptedOut (only when ``ok``)")
    certificate_number: str | None = Field(None, description="As in AcceptedOut (only when ``ok``)")
    lab_id: str | None = Field(None, description="As in AcceptedOut (only when ``ok``)")
    status: str | None = Field(None, description="As in AcceptedOut (only when ``ok``)")
    created: bool | None = Field(None, description="As in AcceptedOut: accepted by this request (only when ``ok``)")
    requeued: bool | None = Field(None, description="As in AcceptedOut: had failed, queued again (only when ``ok``)")
    signed_by: str | None = Field(None, description="As in AcceptedOut: LAB or REGISTRY (only when ``ok``)")
    public: bool | None = Field(None, description="As in AcceptedOut: published now (only when ``ok``)")


class BulkOut(_Out):
    """Counts and one result per item, in the order sent."""

    accepted: int
    existing: int
    rejected: int
    requeued: int
    results: list[BulkItemOut]


class OperationOut(_Out):
    """A revocation or substitution on its way to the chain (state pending → done or failed)."""

    op: str
    state: str
    reason: int
    reason_name: str | None
    effective_time: int | None
    replaced_by: str | None
    tx_hash: str | None
    recorded_at: int | None
    error: str | None
    requested_by: str


class BatchRef(_Out):
    """The batch a certificate is in."""

    root: str
    leaf_index: int | None
    size: int
    state: str
    tx_hash: str | None
    block_number: int | None
    block_timestamp: int | None


class ReasonOut(_Out):
    """Why a certificate is not on chain: while it waits (``retrying``: anchored once the cause is gone, e.g. its
    lab is reinstated) or after it failed (what the lab can do about it)."""

    code: str
    message: str
    retrying: bool


class CertificateOut(_Out):
    """A certificate's public summary; ``record`` and ``signature`` only for its lab and regulators over it.
    ``public``: published by its lab, so anyone may download its proof bundle. For anyone else a private
    certificate's serial number (and its number, unless looked up by it) is null and named in ``withheld``."""

    digest: str
    lab_id: str
    certificate_number: str | None
    kind: str
    category_code: str
    serial_number: str | None
    issue_date: str
    status: Literal["pending", "waiting", "anchored", "failed", "superseded"]
    error: str | None
    reason: ReasonOut | None
    superseded_by: str | None
    key_id: str
    signed_by: str
    replaces: str | None
    accepted_at: str | None
    anchored_at: str | None
    batch: BatchRef | None
    lifecycle: OperationOut | None
    public: bool
    withheld: list[Literal["certificate_number", "serial_number"]] | None = None
    record: dict[str, Any] | None = None
    signature: str | None = None


class CertificateList(_Out):
    """A page of summaries, oldest first; pass ``next_cursor`` as ``cursor`` for the next page."""

    items: list[CertificateOut]
    next_cursor: int | None


class LeafOut(_Out):
    """One leaf of an anchored batch (no customer data). ``number_tag``: SHA-256 of a domain, the lab id and the
    number (find a number without reading it); a private certificate's number and serial only for its lab and
    regulators (else null and named in ``withheld``)."""

    index: int | None
    digest: str
    certificate_number: str | None
    number_tag: str
    kind: str
    category_code: str
    serial_number: str | None
    withheld: list[Literal["certificate_number", "serial_number"]] | None = None


class BatchOut(_Out):
    """An anchored batch's contents in leaf order: recompute the Merkle root and compare it with the chain's."""

    root: str
    lab_id: str
    key_id: str
    size: int
    tx_hash: str | None
    block_number: int | None
    block_timestamp: int | None
    chain_index: int | None
    leaves: list[LeafOut]


class FraudSignalOut(_Out):
    """Evidence a regulator should look at. NUMBER_REUSE: a refused request under a number already used, with the
    record that was attempted. STANDARD_REVOKED: a certificate in force whose standard's certificate (directly or
    further up its chain) was revoked."""

    id: int
    kind: Literal["NUMBER_REUSE", "STANDARD_REVOKED"]
    lab_id: str
    certificate_number: str
    existing_digest: str = Field(
        description="NUMBER_REUSE: the certificate holding the number. STANDARD_REVOKED: the revoked standard's."
    )
    attempted_digest: str = Field(
        description="NUMBER_REUSE: the refused certificate. STANDARD_REVOKED: the dependent certificate in force."
    )
    attempted_record: dict[str, Any]
    token_id: int | None
    created_at: str | None


class FraudSignalList(_Out):
    """A page of fraud signals, oldest first."""

    items: list[FraudSignalOut]
    next_cursor: int | None


class DependentOut(_Out):
    """A certificate that depends on the one asked about."""

    digest: str
    depth: int = Field(description="Links below the certificate asked about (1: cites it directly).")
    via: str = Field(description="The certificate it cites on the way up.")
    lab_id: str
    certificate_number: str
    kind: str
    category_code: str
    serial_number: str | None
    customer: str | None = Field(description="The instrument's owner (the record's customer).")
    valid_until: str | None
    status: str = Field(description="The registry's: ANCHORED, PENDING, WAITING, FAILED, SUPERSEDED.")
    revoked_or_substituted: bool
    in_force: bool = Field(description="Anchored, neither revoked nor substituted, not expired.")


class ImpactOut(_Out):
    """Downstream impact: every certificate depending on one, transitively, as far as the caller may see."""

    digest: str
    dependents: list[DependentOut]
    total: int = Field(description="All dependents, shown or not.")
    withheld: int = Field(description="Dependents of labs the caller is not over (counted, not shown).")
    in_force: int = Field(description="Shown dependents in force.")
    labs: list[str]


class FindingOut(_Out):
    """One anomaly found in the ledger (registry.scans): a reason to look, not a verdict."""

    code: str = Field(description="BACKDATED, BACKDATING_BURST, STANDARD_OVERUSE, SIGNER_OVERUSE, ... (see /docs)")
    severity: Literal["ERROR", "WARNING"]
    zh: str
    en: str
    lab_id: str
    digests: list[str] = Field(description="The certificates concerned.")
    evidence: dict[str, Any] = Field(description="What triggered it: dates, counts, the standard, the limit.")
    first_seen: str = Field(description="When a scan first found it (an incremental one, or on demand), China time.")


class FindingList(_Out):
    """The findings of a scan over a period, for the labs the calling regulator is over."""

    since: str | None
    until: str | None
    labs: list[str]
    thresholds: dict[str, int]
    count: int
    by_code: dict[str, int]
    findings: list[FindingOut]


class DrawOut(_Out):
    """A published random inspection draw (双随机): checked against the chain when it was published."""

    commitment: str
    regulator: str
    jurisdiction: int
    purpose: str
    published_at: str
    population_size: int
    sample: list[str]
    commit_block: int
    seed: str
    result_at: str | None
    results: dict[str, dict[str, Any]] | None = Field(description="By drawn item: outcome (code, zh, en) and note.")
    published: dict[str, Any] | None = Field(default=None, description="The whole published draw (not in lists).")


class DrawList(_Out):
    """Every published draw, newest first."""

    items: list[DrawOut]


class HealthOut(_Out):
    """Liveness, the chain the registry anchors on, and how many certificates wait for anchoring."""

    status: Literal["ok"]
    chain_id: int
    pending: int


class MeLab(_Out):
    """The lab a token acts for."""

    lab_id: str
    code: str
    name: str


class MeRegulator(_Out):
    """The regulator a token acts for: its chain account and jurisdiction (GB/T 2260; 0: the nation)."""

    address: str
    jurisdiction: int
    active: bool


class MeEnterprise(_Out):
    """The enterprise a token acts for."""

    usci: str
    name: str
    state: str


class MeOut(_Out):
    """Who a token is."""

    role: Literal["LAB", "REGULATOR", "ENTERPRISE"]
    lab: MeLab | None
    regulator: MeRegulator | None
    enterprise: MeEnterprise | None


class NameOut(_Out):
    """A name in Chinese and English."""

    zh: str
    en: str


class EnterpriseOut(_Out):
    """An enterprise account: PENDING (registered by itself, waiting for a regulator) or CONFIRMED."""

    usci: str
    name: str
    region: int = Field(description="GB/T 2260 code of the USCI's registering authority (its characters 3-8)")
    state: Literal["PENDING", "CONFIRMED"]
    state_name: NameOut
    registered_at: str
    confirmed_by: str | None
    confirmed_at: str | None


class EnterpriseRegistered(_Out):
    """An enterprise registered: its account, and its API token if the account is new (shown once)."""

    enterprise: EnterpriseOut
    token: str | None = Field(description="The enterprise's API token (only when the account was created)")


class EnterpriseList(_Out):
    """The enterprises of the calling regulator's region."""

    items: list[EnterpriseOut]


class RegisterResult(_Out):
    """An import of instruments: all rows taken (created, updated or unchanged), in row order."""

    usci: str
    created: int
    updated: int
    unchanged: int
    instruments: list[int]


class SiteOut(_Out):
    """Where an instrument is used."""

    id: str
    name: str
    region: int


class CatalogueOut(_Out):
    """The catalogue entry an instrument's kind is in (fields the shipped catalogue lacks are null)."""

    no: int | None
    item: str
    mode: str | None
    form: str | None


class DueOut(_Out):
    """An instrument's state today (IN_FORCE, FAILED, OVERDUE, NEVER), due date and days left."""

    state: Literal["IN_FORCE", "FAILED", "OVERDUE", "NEVER"]
    state_name: NameOut
    due_date: str | None
    days_left: int | None
    due_soon: bool
    certificate: str | None = Field(description="The verification certificate that keeps it in force")


class LinkedCertificateOut(_Out):
    """A certificate linked to a registered instrument."""

    digest: str
    certificate_number: str
    kind: str
    issue_date: str
    valid_until: str | None
    status: str


class InstrumentOut(_Out):
    """A registered instrument."""

    id: int
    usci: str
    category: str
    catalogue: CatalogueOut | None
    use: str
    use_name: NameOut
    mandatory: bool
    manufacturer: str
    model: str
    serial_number: str
    asset_number: str | None
    site: SiteOut
    period_months: int
    registered_at: str
    due: DueOut
    certificates: list[LinkedCertificateOut]


class InstrumentList(_Out):
    """An enterprise's register."""

    usci: str
    instruments: list[InstrumentOut]


class InstrumentRef(_Out):
    """A registered instrument a certificate is linked to."""

    id: int
    usci: str
    category: str
    serial_number: str
    asset_number: str | None
    site: SiteOut


class InstrumentRefs(_Out):
    """The registered instruments a certificate is linked to (those the caller may see)."""

    items: list[InstrumentRef]


class CoverageRate(_Out):
    """Counts of registered instruments under mandatory verification and the rate verified in time."""

    registered: int
    in_force: int
    overdue: int
    failed: int
    never_verified: int
    rate: float | None


class CategoryRate(CoverageRate):
    """One category's figures."""

    category: str


class RegionRate(CoverageRate):
    """One sub-region's figures."""

    region: int


class MonthRate(_Out):
    """The figures at one month's end."""

    month: str
    on: str
    registered: int
    in_force: int
    rate: float | None


class OverdueItem(_Out):
    """An instrument not in force: overdue, failed or never verified."""

    id: int
    usci: str
    enterprise: str
    site: str
    site_id: str
    region: int
    category: str
    serial_number: str
    asset_number: str | None
    state: Literal["FAILED", "OVERDUE", "NEVER"]
    state_name: NameOut
    due_date: str | None


class OverdueList(_Out):
    """Instruments not in force on a day, oldest due first (never verified first): how many, and the first."""

    total: int
    instruments: list[OverdueItem]


class OverdueOut(OverdueList):
    """A region's instruments not in force on a day, oldest due first."""

    region: int
    on: str


class CoverageOut(_Out):
    """A region's coverage (检定率) on a day."""

    region: int
    on: str
    category: str | None
    totals: CoverageRate
    by_category: list[CategoryRate]
    by_region: list[RegionRate]
    trend: list[MonthRate]
    overdue: OverdueList | None = Field(None, description="With overdue_limit: the overdue list, counted at once")


class WatchesAdded(_Out):
    """Certificates now watched."""

    usci: str
    added: int
    watching: int


class WatchOut(_Out):
    """A certificate watched by name."""

    digest: str
    note: str
    certificate_number: str
    valid_until: str | None
    status: str
    since: str


class WatchList(_Out):
    """The certificates an enterprise watches by name (its instruments' are watched without being listed)."""

    usci: str
    items: list[WatchOut]


class WebhookOut(_Out):
    """A webhook alerts are posted to."""

    id: int
    url: str
    active: bool
    created_at: str


class WebhookList(_Out):
    """An enterprise's webhooks."""

    items: list[WebhookOut]


class AlertOut(_Out):
    """An alert: its type with names, the event, the enterprise's certificates it concerns and how, and the states
    of its webhook deliveries."""

    id: int
    created_at: str
    type: str
    type_name: NameOut
    enterprise: str
    event: dict[str, Any]
    affected: list[dict[str, Any]]
    deliveries: list[str]


class AlertFeed(_Out):
    """Alerts after the id asked for, oldest first; ``last_id`` is the next ``after``."""

    usci: str
    items: list[AlertOut]
    last_id: int


class AlertKeyOut(_Out):
    """The registry's alert key: posts carry ``TraceCert-Signature: ed25519=<hex>``, the signature of
    SHA-256(``tracecert-alert/1.<TraceCert-Alert-Id>.<TraceCert-Timestamp>.<body>``)."""

    algorithm: Literal["Ed25519"]
    key_id: str
    public_key: str


class NoticeEnterpriseOut(_Out):
    """The enterprise a site belongs to, as its business licence shows it."""

    usci: str
    name: str


class NoticeVerdictOut(_Out):
    """A site's overall verdict: ALL_IN_FORCE (全部合格有效), NOT_ALL_IN_FORCE (how many are not, by state) or
    NONE_REGISTERED."""

    code: Literal["ALL_IN_FORCE", "NOT_ALL_IN_FORCE", "NONE_REGISTERED"]
    text: NameOut
    total: int
    in_force: int
    not_in_force: int
    by_state: dict[str, int] = Field(description="How many instruments are in each state (IN_FORCE, FAILED, ...)")


class NoticeInstrumentOut(_Out):
    """An instrument under mandatory verification as the public sees it: no asset number, no certificate number."""

    category: str
    model: str
    serial_number: str = Field(description="出厂编号, as the verification sticker shows it")
    state: Literal["IN_FORCE", "FAILED", "OVERDUE", "NEVER"]
    state_name: NameOut
    due_date: str | None = Field(description="Valid until (the end of the verification that keeps it in force)")
    due_soon: bool
    last_verified: str | None = Field(description="The issue date of the certificate shown")
    lab: str | None = Field(description="The name of the lab that verified it")
    certificate: str | None = Field(description="The certificate's digest (its page at the verifier: /c/{digest})")
    verify_url: str | None = Field(description="The certificate's page at the verifier, if the registry knows it")


class SiteNoticeOut(_Out):
    """A site's 强制检定合格公示: its instruments under mandatory verification and their state on a day."""

    on: str
    enterprise: NoticeEnterpriseOut
    site: SiteOut
    verdict: NoticeVerdictOut
    instruments: list[NoticeInstrumentOut]
