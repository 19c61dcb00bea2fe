"""What the registry shows about certificates and batches, and to whom.

Public, as a transparency log's entries are: a batch listing's digests (anyone recomputes the root), and a
certificate's status, dates, kind and category. A private certificate's number and its instrument's serial number
are shown only to its lab and the regulators over it; anyone else finds a private certificate by an exact lookup
(its lab and number, its document's hash, its digest) as verification needs, with those fields withheld (named in
``withheld``) except the number where the caller named it; batch listings carry it as a ``number_tag``. The full
record (with the customer) and the proof bundle go only to the issuing lab and regulators over it, who hand the
bundle to the certificate's holder, unless the lab published the certificate (reference standards' certificates,
which any verifier of a certificate calibrated with them must fetch).

Nothing is shown as anchored in a block the node does not have: a node that went backwards (restarted from an older
state) may have lost it, and until the worker puts the batch back (within about a second) the certificate reads as
pending, with no block, bundle or batch listing. The head is asked of the node at most once a second.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import func, or_, select

from registry.core import Principal, RegistryCore
from registry.db import Batch, BatchState, Certificate, CertificateStatus, FraudSignal, LifecycleOp
from registry.errors import Forbidden, InvalidRequest, NotFound, RegistryError, Unauthorized
from registry.refusals import reason_view
from tracecert.certificate.bundle import Anchor, build_bundle, bundle_to_json
from tracecert.certificate.canonical import from_hex, number_tag, to_hex
from tracecert.certificate.model import record_from_json
from tracecert.chain.errors import ChainError
from tracecert.chain.types import RevocationReason

__all__ = [
    "WITHHELD",
    "anchored_bundle",
    "batch_listing",
    "bundle",
    "certificate_row",
    "certificate_view",
    "find_by_number",
    "fraud_signals",
    "list_certificates",
    "operation_view",
    "pending_count",
]


def certificate_row(core: RegistryCore, digest: str) -> Certificate:
    """The certificate ``digest`` as stored.

    Raises:
        NotFound: UNKNOWN_CERTIFICATE.
    """
    with core.sessions() as s:
        row = s.scalar(select(Certificate).where(Certificate.digest == digest.lower()))
    if row is None:
        raise NotFound(f"no certificate {digest} in this registry", code="UNKNOWN_CERTIFICATE")
    return row


def operation_view(op: LifecycleOp) -> dict[str, Any]:
    """A revocation or substitution as its lab, a regulator and the public read it."""
    return {
        "op": op.op.lower(),
        "state": op.state.lower(),
        "reason": op.reason,
        "reason_name": _reason_name(op.reason),
        "effective_time": op.effective_time or None,
        "replaced_by": op.new_digest,
        "tx_hash": op.tx_hash,
        "recorded_at": op.block_timestamp,
        "error": op.error,
        "requested_by": op.requested_by.lower(),
    }


def _reason_name(reason: int) -> str | None:
    try:
        return RevocationReason(reason).name
    except ValueError:
        return None


def _may_see_full(core: RegistryCore, principal: Principal | None, lab_id: str) -> bool:
    if principal is None:
        return False
    try:
        core.require_lab_or_regulator(principal, lab_id)
    except Forbidden:
        return False
    return True


class _Sight:
    """Who sees a lab's private certificates in full: the lab itself and the regulators over it (asked once per lab)."""

    def __init__(self, core: RegistryCore, principal: Principal | None) -> None:
        self.core, self.principal = core, principal
        self._labs: dict[str, bool] = {}

    def full(self, lab_id: str) -> bool:
        if lab_id not in self._labs:
            self._labs[lab_id] = _may_see_full(self.core, self.principal, lab_id)
        return self._labs[lab_id]


#: What a private certificate's summary withholds from whoever is neither its lab nor a regulator over it.
#: The number is still shown to whoever named it (a lookup by number) or holds the document (by its hash).
WITHHELD = ("certificate_number", "serial_number")


def _withhold(view: dict[str, Any], *, number_named: bool) -> dict[str, Any]:
    """``view`` of a private certificate as the public sees it: ``withheld`` lists the fields set to None."""
    withheld = [f for f in WITHHELD if not (f == "certificate_number" and number_named)]
    for field in withheld:
        view[field] = None
    view["withheld"] = withheld
    return view


def _beyond_head(core: RegistryCore, batch: Batch | None) -> bool:
    """Whether ``batch`` is recorded anchored in a block above the node's head (cached a second): the node lost that
    block, so the batch is not on chain now (the worker puts it back). False when the node cannot be asked."""
    if batch is None or batch.state != BatchState.ANCHORED or batch.block_number is None:
        return False
    try:
        return batch.block_number > core.chain.client.head(at_least=batch.block_number)
    except (ChainError, RegistryError):
        return False


def _not_on_chain(view: dict[str, Any]) -> dict[str, Any]:
    """A summary as it reads while its batch's block is gone from the node: pending, in no block."""
    if view["status"] == "anchored":
        view["status"] = "pending"
    view["anchored_at"] = None
    if view["batch"] is not None:
        view["batch"].update(state="prepared", tx_hash=None, block_number=None, block_timestamp=None)
    return view


def _summary(row: Certificate, op: LifecycleOp | None, batch: Batch | None) -> dict[str, Any]:
    return {
        "digest": row.digest,
        "lab_id": row.lab_id,
        "certificate_number": row.certificate_number,
        "kind": row.kind,
        "category_code": row.category_code,
        "serial_number": row.serial_number,
        "issue_date": row.issue_date,
        "status": row.status.lower(),
        "error": row.error,
        "reason": reason_view(row.status, row.error),
        "superseded_by": row.superseded_by,
        "key_id": row.key_id,
        "signed_by": row.signed_by.lower(),
        "replaces": row.replaces_digest,
        "accepted_at": _iso(row.accepted_at),
        "anchored_at": _iso(row.anchored_at),
        "batch": None
        if batch is None
        else {
            "root": batch.root,
            "leaf_index": row.leaf_index,
            "size": batch.size,
            "state": batch.state.lower(),
            "tx_hash": batch.tx_hash,
            "block_number": batch.block_number,
            "block_timestamp": batch.block_timestamp,
        },
        "lifecycle": None if op is None else operation_view(op),
        "public": row.public,
    }


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


def certificate_view(
    core: RegistryCore, principal: Principal | None, digest: str, *, number_named: bool = False
) -> dict[str, Any]:
    """A certificate's summary and status; with ``record`` (customer included) for its lab and regulators. For
    anyone else a private certificate's serial number is withheld, and its number unless ``number_named`` (the
    caller looked it up by number); see :data:`WITHHELD`."""
    row = certificate_row(core, digest)
    with core.sessions() as s:
        op = s.scalar(select(LifecycleOp).where(LifecycleOp.lab_id == row.lab_id, LifecycleOp.digest == row.digest))
        batch = s.get(Batch, row.batch_root) if row.batch_root else None
    view = _summary(row, op, batch)
    if _beyond_head(core, batch):
        _not_on_chain(view)
    if _may_see_full(core, principal, row.lab_id):
        view["record"] = json.loads(row.record_json)
        view["signature"] = row.signature
    elif not row.public:
        _withhold(view, number_named=number_named)
    return view


def find_by_number(core: RegistryCore, principal: Principal | None, lab_id: str, number: str) -> dict[str, Any]:
    """The certificate a lab issued under ``number`` (not one it superseded after it failed).

    Raises:
        NotFound: UNKNOWN_CERTIFICATE.
    """
    with core.sessions() as s:
        digest = s.scalar(
            select(Certificate.digest).where(
                Certificate.lab_id == lab_id.lower(),
                Certificate.certificate_number == number,
                Certificate.superseded_by.is_(None),
            )
        )
    if digest is None:
        raise NotFound(f"lab {lab_id} has no certificate {number!r} in this registry", code="UNKNOWN_CERTIFICATE")
    return certificate_view(core, principal, digest, number_named=True)


def bundle(core: RegistryCore, principal: Principal | None, digest: str) -> dict[str, Any]:
    """The proof bundle of an anchored certificate: for anyone if it is published (``public``), else for its lab
    and regulators over it.

    Raises:
        NotFound: UNKNOWN_CERTIFICATE; NOT_ANCHORED while it is still pending (or failed).
        Unauthorized: no principal, and the certificate is not published.
        Forbidden: WRONG_LAB, NOT_REGULATOR_OVER_LAB (not published).
    """
    row = certificate_row(core, digest)
    if not row.public:
        if principal is None:
            raise Unauthorized(
                "this certificate's bundle is not public: an API token of its lab or a regulator over it is required"
            )
        core.require_lab_or_regulator(principal, row.lab_id)
    found = anchored_bundle(core, row)
    if found is None:
        raise NotFound(f"certificate {digest} is {row.status.lower()}, not anchored yet", code="NOT_ANCHORED")
    return found


def anchored_bundle(core: RegistryCore, row: Certificate) -> dict[str, Any] | None:
    """The proof bundle of a certificate, whoever asks, or None while it is not anchored (pending, waiting, failed,
    or in a block the node does not have) or its key is not on chain. Permissions are the caller's business."""
    with core.sessions() as s:
        batch = s.get(Batch, row.batch_root) if row.batch_root else None
    if row.status != CertificateStatus.ANCHORED or batch is None or batch.tx_hash is None or row.leaf_index is None:
        return None
    if _beyond_head(core, batch):
        return None
    key = core.key_info(row.key_id)
    if key is None:
        return None
    deployment = core.chain.deployment
    anchor = Anchor(
        chain_id=deployment.chain_id,
        contract=deployment.certificate_registry,
        root=batch.root,
        tx_hash=batch.tx_hash,
        block_number=int(batch.block_number or 0),
        block_timestamp=batch.block_timestamp,
    )
    doc = build_bundle(
        record_from_json(row.record_json),
        signature=from_hex(row.signature, 64),
        public_key=key.public_key,
        leaf_index=row.leaf_index,
        tree_size=batch.size,
        proof=[from_hex(h) for h in (row.proof or [])],
        anchor=anchor,
    )
    return bundle_to_json(doc)


def batch_listing(core: RegistryCore, root: str, principal: Principal | None = None) -> dict[str, Any]:
    """The public contents of an anchored batch, in leaf order: anyone can recompute the root from it.

    Every leaf carries its ``number_tag`` (:func:`~tracecert.certificate.canonical.number_tag`: a verifier finds a
    lab's certificates under a number without reading the numbers); a private certificate's number and serial
    number are shown only to its lab and the regulators over it (``withheld`` lists them for anyone else).

    Raises:
        NotFound: UNKNOWN_BATCH (also while the batch is not anchored yet).
    """
    with core.sessions() as s:
        batch = s.get(Batch, root.lower())
        if batch is None or batch.state != BatchState.ANCHORED or _beyond_head(core, batch):
            raise NotFound(f"no anchored batch {root}", code="UNKNOWN_BATCH")
        rows = list(
            s.scalars(select(Certificate).where(Certificate.batch_root == batch.root).order_by(Certificate.leaf_index))
        )
    full = _may_see_full(core, principal, batch.lab_id)
    return {
        "root": batch.root,
        "lab_id": batch.lab_id,
        "key_id": batch.key_id,
        "size": batch.size,
        "tx_hash": batch.tx_hash,
        "block_number": batch.block_number,
        "block_timestamp": batch.block_timestamp,
        "chain_index": batch.chain_index,
        "leaves": [_leaf(r, full) for r in rows],
    }


def _leaf(row: Certificate, full: bool) -> dict[str, Any]:
    leaf = {
        "index": row.leaf_index,
        "digest": row.digest,
        "certificate_number": row.certificate_number,
        "number_tag": to_hex(number_tag(from_hex(row.lab_id), row.certificate_number)),
        "kind": row.kind,
        "category_code": row.category_code,
        "serial_number": row.serial_number,
    }
    return leaf if full or row.public else _withhold(leaf, number_named=False)


_STATUSES = tuple(CertificateStatus)


def list_certificates(
    core: RegistryCore,
    principal: Principal | None,
    *,
    lab_id: str | None = None,
    status: str | None = None,
    number: str | None = None,
    serial_number: str | None = None,
    document_sha256: str | None = None,
    cursor: int | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """Summaries, oldest first, with a cursor (the ``seq`` to continue after). ``document_sha256`` finds the
    certificates that bind an original document (through an index: what a verifier holding only the PDF asks).

    What the caller may enumerate: published certificates, and a lab's private ones for the lab itself and the
    regulators over it. An exact lookup (``document_sha256``, or ``lab_id`` with ``number``) finds private
    certificates too, as verification needs, with the fields in :data:`WITHHELD` withheld (the number is shown:
    the caller named it or holds the document).

    Raises:
        InvalidRequest: INVALID_FILTER for an unknown status or a limit outside 1..1000.
    """
    if not 1 <= limit <= 1000:
        raise InvalidRequest("limit must be within 1..1000", code="INVALID_FILTER")
    if status is not None and status.upper() not in _STATUSES:
        raise InvalidRequest(f"status is one of {', '.join(_STATUSES).lower()}", code="INVALID_FILTER")
    query = select(Certificate).order_by(Certificate.seq).limit(limit + 1)
    if lab_id:
        query = query.where(Certificate.lab_id == lab_id.lower())
    if status:
        query = query.where(Certificate.status == status.upper())
    if number:
        query = query.where(Certificate.certificate_number == number)
    if serial_number:
        query = query.where(Certificate.serial_number == serial_number)
    if document_sha256:
        query = query.where(Certificate.document_sha256 == document_sha256.lower())
    if cursor is not None:
        query = query.where(Certificate.seq > cursor)
    exact = document_sha256 is not None or (lab_id is not None and number is not None)
    if not exact and principal is None:
        query = query.where(Certificate.public.is_(True))
    elif not exact and principal is not None and principal.role == "LAB":
        query = query.where(or_(Certificate.public.is_(True), Certificate.lab_id == principal.lab_id))
    # A regulator's coverage is on chain: its rows are kept below (a page may then hold fewer than ``limit``).
    with core.sessions() as s:
        rows = list(s.scalars(query))
        batches = {b.root: b for b in s.scalars(select(Batch).where(Batch.root.in_({r.batch_root for r in rows})))}
        ops = {
            (o.lab_id, o.digest): o
            for o in s.scalars(select(LifecycleOp).where(LifecycleOp.digest.in_([r.digest for r in rows])))
        }
    more = len(rows) > limit
    rows = rows[:limit]
    sight = _Sight(core, principal)
    items = []
    for r in rows:
        view = _listed(core, r, ops.get((r.lab_id, r.digest)), batches.get(r.batch_root or ""))
        if r.public or sight.full(r.lab_id):
            items.append(view)
        elif exact:
            items.append(_withhold(view, number_named=True))
    return {"items": items, "next_cursor": rows[-1].seq if more and rows else None}


def _listed(core: RegistryCore, row: Certificate, op: LifecycleOp | None, batch: Batch | None) -> dict[str, Any]:
    view = _summary(row, op, batch)
    return _not_on_chain(view) if _beyond_head(core, batch) else view


def pending_count(core: RegistryCore) -> int:
    """How many accepted certificates wait for anchoring."""
    with core.sessions() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(Certificate).where(Certificate.status == CertificateStatus.PENDING)
            )
            or 0
        )


def fraud_signals(
    core: RegistryCore,
    principal: Principal,
    *,
    lab_id: str | None = None,
    cursor: int | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """Recorded fraud signals (e.g. number reuse), oldest first with a cursor, with the attempted record as
    evidence. A regulator sees the signals of the labs it is over (on chain) only.

    Raises:
        Forbidden: NOT_A_REGULATOR for a lab's token.
        InvalidRequest: INVALID_FILTER for a limit outside 1..1000.
    """
    if principal.role != "REGULATOR" or principal.regulator_address is None:
        raise Forbidden("only a regulator's token may read fraud signals", code="NOT_A_REGULATOR")
    if not 1 <= limit <= 1000:
        raise InvalidRequest("limit must be within 1..1000", code="INVALID_FILTER")
    query = select(FraudSignal).order_by(FraudSignal.id).limit(limit + 1)
    if lab_id:
        query = query.where(FraudSignal.lab_id == lab_id.lower())
    if cursor is not None:
        query = query.where(FraudSignal.id > cursor)
    with core.sessions() as s:
        rows = list(s.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    covered: dict[str, bool] = {}
    items = []
    for r in rows:
        if r.lab_id not in covered:
            covered[r.lab_id] = core.regulator_covers(principal.regulator_address, r.lab_id)
        if covered[r.lab_id]:
            items.append(
                {
                    "id": r.id,
                    "kind": r.kind,
                    "lab_id": r.lab_id,
                    "certificate_number": r.certificate_number,
                    "existing_digest": r.existing_digest,
                    "attempted_digest": r.attempted_digest,
                    "attempted_record": json.loads(r.attempted_record),
                    "token_id": r.token_id,
                    "created_at": _iso(r.created_at),
                }
            )
    return {"items": items, "next_cursor": rows[-1].id if more and rows else None}
