"""Accepting certificates: validate, check the lab on chain, verify or make the signature, and commit to the outbox.

Accepting is one database transaction and touches the chain only to read (is the lab active and authorized, is
the key valid); when the chain cannot be asked nothing is accepted (503 CHAIN_UNAVAILABLE, also for a whole bulk).
The same certificate sent twice returns the same answer; the same number with other content is refused (409
NUMBER_REUSE) and recorded as a fraud signal, in its own transaction, so the evidence survives.

A certificate whose anchoring failed for good (FAILED) never reached the chain: sending it again checks it as new and
queues it again (``requeued``, re-signed in registry-signing mode), and its number may be issued with other content,
which supersedes it (SUPERSEDED, kept for audit) without NUMBER_REUSE or a fraud signal.

``public`` is not part of a certificate's identity (its digest): sending a certificate again with ``public`` set
publishes the one already accepted, and sending it without never makes a published certificate private again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, Table, Update, insert, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapper, Session

from registry.admission import (
    Prepared,
    activity_of,
    check_document,
    check_replaces,
    lab_key_test,
    prepare,
    sign_or_verify,
)
from registry.core import Principal, RegistryCore
from registry.custody import CustodyError
from registry.db import Certificate, CertificateStatus, Citation, Document, FraudSignal, writing
from registry.errors import (
    AlreadyRevoked,
    ChainUnavailableError,
    Conflict,
    NumberReuse,
    RegistryError,
)
from registry.instruments import manufacturer_key
from tracecert.certificate.signing import SigningKey
from tracecert.verification.engine import ChecksMemo
from tracecert.verification.report import CheckResult

__all__ = ["Accepted", "Submission", "accept", "accept_many"]

logger = logging.getLogger(__name__)


@dataclass
class Submission:
    """One certificate as a lab sends it: the record, its signature (lab-signing mode) or none (registry-signing
    mode), optionally the original document it was made from, and whether to publish it (``public``: anyone may
    then download its proof bundle)."""

    record: bytes | str | Mapping[str, Any]
    key_id: str | None = None
    signature: str | None = None
    document: bytes | None = None
    document_media_type: str | None = None
    document_filename: str | None = None
    public: bool = False


@dataclass
class Accepted:
    """The answer for one accepted certificate. ``created`` is False when it was already there (idempotent);
    ``requeued`` when it was there but had failed, and is queued for anchoring again; ``public`` is whether it is
    published now (after this request)."""

    digest: str
    certificate_number: str
    lab_id: str
    status: str
    created: bool
    signed_by: str
    warnings: list[str] = field(default_factory=list)
    public: bool = False
    requeued: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the API."""
        return {
            "digest": self.digest,
            "certificate_number": self.certificate_number,
            "lab_id": self.lab_id,
            "status": self.status.lower(),
            "created": self.created,
            "requeued": self.requeued,
            "signed_by": self.signed_by,
            "public": self.public,
        }


def _record_reuse(core: RegistryCore, principal: Principal, p: Prepared, existing_digest: str) -> NumberReuse:
    with core.sessions.begin() as s:
        s.add(
            FraudSignal(
                kind="NUMBER_REUSE",
                lab_id=p.record.lab.lab_id,
                certificate_number=p.record.certificate_number,
                existing_digest=existing_digest,
                attempted_digest=p.digest,
                attempted_record=p.canonical.decode("utf-8"),
                token_id=principal.token_id,
            )
        )
    logger.warning(
        "number reuse: lab %s number %s (existing %s, attempted %s)",
        p.record.lab.lab_id,
        p.record.certificate_number,
        existing_digest,
        p.digest,
    )
    return NumberReuse(
        f"lab {p.record.lab.lab_id} already issued number {p.record.certificate_number!r} "
        f"with other content ({existing_digest}); this attempt is recorded",
        details={"existing_digest": existing_digest, "attempted_digest": p.digest},
    )


def _existing(row: Certificate) -> Accepted:
    return Accepted(row.digest, row.certificate_number, row.lab_id, row.status, False, row.signed_by, public=row.public)


def _created(row: Certificate) -> Accepted:
    return Accepted(row.digest, row.certificate_number, row.lab_id, row.status, True, row.signed_by, public=row.public)


def _created_row(row: dict[str, Any]) -> Accepted:
    """:func:`_created` of a row inserted from its values (:func:`_new_row`)."""
    return Accepted(
        row["digest"], row["certificate_number"], row["lab_id"], row["status"], True, row["signed_by"],
        public=row["public"],
    )  # fmt: skip


def _new_row(**values: Any) -> dict[str, Any]:
    """The values of a new certificate row, without the Nones (the columns' defaults fill those in)."""
    return {k: v for k, v in values.items() if v is not None}


def accept(core: RegistryCore, principal: Principal, submission: Submission) -> Accepted:
    """Accept one certificate (see :func:`accept_many`).

    Raises:
        RegistryError: the precise reason (InvalidRequest RECORD_INVALID, WrongLab, NumberReuse, LabNotActive,
            LabNotAuthorized, SignatureRejected, DocumentMismatch, ChainUnavailableError, ...).
    """
    result = accept_many(core, principal, [submission])[0]
    if isinstance(result, RegistryError):
        raise result
    return result


def accept_many(
    core: RegistryCore, principal: Principal, submissions: Sequence[Submission]
) -> list[Accepted | RegistryError]:
    """Accept certificates; one result per submission, in order: :class:`Accepted` or the error that refused it.

    Every accepted certificate is committed (status PENDING) before this returns; the anchoring worker takes it
    from there. Chain answers (lab status, scope, keys) are cached briefly, so a bulk of one lab asks the chain once
    per category. A certificate any submission asks to be ``public`` ends up published, whether it is new, was
    accepted before (an idempotent retry publishes it) or comes twice in one bulk; nothing is ever unpublished.

    A certificate that failed (never reached the chain) is checked again as a new one and queued again
    (``requeued``); a new certificate under a failed one's number supersedes it, without NUMBER_REUSE.

    Requests are accepted one at a time in a process (several API processes accept side by side). Accepting is
    Python work under the one interpreter lock, so two side by side took as long as one after the other, except
    that the insert, which lets go of that lock for each row it writes, then waited for the other's Python at
    every row, holding SQLite's write lock the while (under the bulk endpoint's load, 4 times its own CPU time).

    Raises:
        ChainUnavailableError: the chain could not be asked for some submission: nothing was accepted (retry).
    """
    with core.accepting:
        return _accept_many(core, principal, submissions)


def _accept_many(
    core: RegistryCore, principal: Principal, submissions: Sequence[Submission]
) -> list[Accepted | RegistryError]:
    results: list[Accepted | RegistryError | None] = [None] * len(submissions)
    prepared: dict[int, Prepared] = {}
    for i, sub in enumerate(submissions):
        try:
            p = prepare(principal, sub)
            lab_keys = lab_key_test(core, p.record.lab.lab_id)  # asked only for a DCC signed with a lab's key
            check_document(p, core.settings.max_document_bytes, core.settings.dcc_trust_dirs, lab_keys)
            prepared[i] = p
        except ChainUnavailableError:
            raise  # as below: the chain fails every item alike
        except RegistryError as exc:
            results[i] = exc

    with core.sessions() as s:
        digests = [p.digest for p in prepared.values()]
        known = {c.digest: c for c in s.scalars(select(Certificate).where(Certificate.digest.in_(digests)))}
        numbers = {p.record.certificate_number for p in prepared.values()}
        by_number = {
            c.certificate_number: c
            for c in s.scalars(
                select(Certificate).where(
                    Certificate.lab_id == principal.lab_id,
                    Certificate.certificate_number.in_(numbers),
                    Certificate.superseded_by.is_(None),
                )
            )
        }

    # Whether a certificate is published is not part of its identity: any copy asking for it publishes it.
    wanted_public = {p.digest for p in prepared.values() if p.submission.public}
    rows: dict[int, tuple[dict[str, Any], Document | None]] = {}
    seen_numbers: dict[str, str] = {}
    held: dict[str, SigningKey] = {}
    replaced_here: dict[str, str] = {}
    requeues: dict[int, tuple[Certificate, str, str, str]] = {}
    supersedes: dict[int, str] = {}
    warnings: dict[int, list[CheckResult]] = {}
    at: int | None = None  # the chain time the whole request is judged at (as if anchored then)
    memo = ChecksMemo()  # what the request's records share is checked once
    for i, p in prepared.items():
        try:
            again = known.get(p.digest)  # a failed one is checked again as a new one, then queued again
            if again is not None and not _failed(again):
                results[i] = _existing(again)
                continue
            number = p.record.certificate_number
            other = None if again is not None else by_number.get(number)
            earlier = seen_numbers.get(number)
            if other is not None and _failed(other):
                if earlier is None:
                    supersedes[i] = other.digest  # it never reached the chain: its number is free again
                other = None
            if other is not None or (earlier is not None and earlier != p.digest):
                raise _record_reuse(core, principal, p, other.digest if other is not None else str(earlier))
            if earlier == p.digest:  # the same certificate twice in one bulk
                continue
            core.require_can_issue(p.record.lab.lab_id, p.record.item.category_code, activity_of(p.record.kind))
            key_id, signature, signed_by = sign_or_verify(core, p, held)
            at = at if at is not None else core.chain_now()
            if found := core.rules.judge(p.record, key_id=key_id, signature=signature, at=at, memo=memo):
                warnings[i] = found
            if again is not None:
                requeues[i] = (again, key_id, signature, signed_by)
                seen_numbers[number] = p.digest
                continue
            replaces = None
            if p.record.replaces is not None:
                with core.sessions() as s:
                    replaces = check_replaces(s, p)
                if replaces in replaced_here:
                    raise AlreadyRevoked(
                        f"certificate {replaces} is already replaced by {replaced_here[replaces]} in this request",
                        code="ALREADY_REPLACED",
                    )
            # The new row's column values (None left to the column's default): plain values, not an ORM object,
            # which costs as much to build as the rest of the insert (tests/registry/test_flow.py reads them back).
            row = _new_row(
                digest=p.digest,
                lab_id=p.record.lab.lab_id,
                certificate_number=number,
                kind=p.record.kind.value,
                category_code=p.record.item.category_code,
                serial_number=p.record.item.serial_number,
                document_sha256=p.record.original_document.sha256 if p.record.original_document else None,
                issue_date=p.record.dates.issue_date.isoformat(),
                record_json=p.canonical.decode("utf-8"),
                key_id=key_id,
                signature=signature,
                signed_by=signed_by,
                replaces_digest=replaces,
                status=CertificateStatus.PENDING,
                public=p.digest in wanted_public,
                manufacturer_key=manufacturer_key(p.record.item.manufacturer),
                asset_number=p.record.item.asset_number,
                customer_usci=p.record.customer.usci,
                valid_until=p.record.dates.valid_until.isoformat() if p.record.dates.valid_until else None,
            )
            doc = None
            if p.submission.document is not None and p.record.original_document is not None:
                doc = Document(
                    digest=p.digest,
                    media_type=p.record.original_document.media_type,
                    sha256=p.record.original_document.sha256,
                    content=p.submission.document,
                    filename=p.submission.document_filename,
                )
            rows[i] = (row, doc)
            seen_numbers[number] = p.digest
            if replaces is not None:
                replaced_here[replaces] = p.digest
        except (ChainUnavailableError, CustodyError):
            raise  # the chain, or the registry's own key custody, fails every item alike: refuse the whole request
        except RegistryError as exc:
            results[i] = exc

    if requeues:
        _requeue(core, requeues, results)
    if rows:
        _insert(core, principal, rows, results, prepared, supersedes)
    _record_warnings(core, principal, prepared, warnings, results)
    # Duplicates inside one bulk point at the result of their first occurrence.
    for i, p in prepared.items():
        if results[i] is None:
            first = next(
                (
                    r
                    for j, r in enumerate(results)
                    if j in prepared and prepared[j].digest == p.digest and r is not None
                ),
                None,
            )
            if isinstance(first, Accepted):
                results[i] = Accepted(
                    first.digest,
                    first.certificate_number,
                    first.lab_id,
                    first.status,
                    False,
                    first.signed_by,
                    public=first.public,
                )
            else:  # the first copy was refused (e.g. lost a race): this copy shares its answer
                results[i] = first or Conflict(f"certificate {p.digest} could not be settled; retry")
    _publish_existing(core, [r for r in results if isinstance(r, Accepted)], wanted_public)
    return [r for r in results if r is not None]


def _record_warnings(
    core: RegistryCore,
    principal: Principal,
    prepared: dict[int, Prepared],
    warnings: dict[int, list[CheckResult]],
    results: list[Accepted | RegistryError | None],
) -> None:
    """Accepted with warnings of the rulebook (e.g. a validity longer than the regulation allows): each warning is a
    fraud signal under its check's code, for the regulators over the lab."""
    signals = [
        FraudSignal(
            kind=check.code,
            lab_id=prepared[i].record.lab.lab_id,
            certificate_number=prepared[i].record.certificate_number,
            existing_digest=prepared[i].digest,
            attempted_digest=prepared[i].digest,
            attempted_record=prepared[i].canonical.decode("utf-8"),
            token_id=principal.token_id,
        )
        for i, checks in warnings.items()
        if isinstance(result := results[i], Accepted) and (result.created or result.requeued)
        for check in checks
    ]
    if signals:
        with core.sessions.begin() as s:
            s.add_all(signals)
        for signal in signals:
            logger.info("accepted with a warning: %s %s (%s)", signal.lab_id, signal.certificate_number, signal.kind)


def _failed(row: Certificate) -> bool:
    """Whether the certificate's anchoring failed for good (it never reached the chain) and nothing replaced it."""
    return row.status == CertificateStatus.FAILED and row.superseded_by is None


def _requeue(
    core: RegistryCore,
    requeues: dict[int, tuple[Certificate, str, str, str]],
    results: list[Accepted | RegistryError | None],
) -> None:
    """Queue failed certificates again (PENDING, out of their failed batch), with the signature just checked or
    made; one whose state changed meanwhile (a concurrent request) answers as it is now."""
    changed = []
    with core.sessions.begin() as s:
        for i, (row, key_id, signature, signed_by) in requeues.items():
            done = _rows(
                s,
                update(Certificate)
                .where(
                    Certificate.digest == row.digest,
                    Certificate.status == CertificateStatus.FAILED,
                    Certificate.superseded_by.is_(None),
                )
                .values(
                    status=CertificateStatus.PENDING,
                    error=None,
                    batch_root=None,
                    leaf_index=None,
                    proof=None,
                    anchored_at=None,
                    key_id=key_id,
                    signature=signature,
                    signed_by=signed_by,
                ),
            )
            if done:
                results[i] = Accepted(
                    row.digest,
                    row.certificate_number,
                    row.lab_id,
                    CertificateStatus.PENDING,
                    False,
                    signed_by,
                    public=row.public,
                    requeued=True,
                )
            else:
                changed.append(i)
    for i in changed:
        row = requeues[i][0]
        with core.sessions() as s:
            now = s.scalar(select(Certificate).where(Certificate.digest == row.digest))
        results[i] = _existing(now or row)
    for i in requeues:
        logger.info("certificate %s queued again for anchoring", requeues[i][0].digest)


def _publish_existing(core: RegistryCore, accepted: Sequence[Accepted], wanted: set[str]) -> None:
    """Publish the certificates accepted before (or by a concurrent request) that a submission asked to be public,
    in one statement; mark their answers public."""
    late = [a for a in accepted if a.digest in wanted and not a.public]
    if not late:
        return
    with core.sessions.begin() as s:
        s.execute(
            update(Certificate)
            .where(Certificate.digest.in_({a.digest for a in late}), Certificate.public.is_(False))
            .values(public=True)
        )
    for answer in late:
        answer.public = True


class _Raced(Exception):
    """A failed certificate to supersede changed meanwhile (a concurrent request): settle one by one."""


def _insert(
    core: RegistryCore,
    principal: Principal,
    rows: dict[int, tuple[dict[str, Any], Document | None]],
    results: list[Accepted | RegistryError | None],
    prepared: dict[int, Prepared],
    supersedes: dict[int, str],
) -> None:
    try:
        with writing(core.sessions) as s:
            for i, old in supersedes.items():
                if not _supersede(s, old, rows[i][0]["digest"]):
                    raise _Raced(old)
            # Core executemany per table, not a unit-of-work flush per object (nor the ORM's bulk INSERT, which
            # sorts and copies every row first: a tenth of accepting a certificate).
            _insert_rows(s, cast(Table, Certificate.__table__), [row for row, _doc in rows.values()])
            documents = [_values(doc) for _row, doc in rows.values() if doc is not None]
            if documents:
                _insert_rows(s, cast(Table, Document.__table__), documents)
            citations = [c for i, (row, _doc) in rows.items() for c in _citations(row["digest"], prepared[i])]
            if citations:
                _insert_rows(s, cast(Table, Citation.__table__), citations)
    except (IntegrityError, _Raced):
        # A concurrent request inserted some of the same digests or numbers: settle them one by one.
        for i, (row, doc) in rows.items():
            results[i] = _insert_one(core, principal, Certificate(**row), doc, prepared[i], supersedes.get(i))
        return
    for i, (row, _doc) in rows.items():
        results[i] = _created_row(row)


def _insert_rows(s: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows`` (column name → value) into ``table``: one Core executemany per set of columns, since rows
    leave out their Nones for the columns' defaults and one executemany takes the columns of its first row."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    for group in groups.values():
        s.execute(table.insert(), group)


def _citations(digest: str, p: Prepared) -> list[dict[str, str]]:
    """The citation rows of a new certificate: the digests of its standards' certificates, once each."""
    cited = {s.certificate_digest.lower() for s in p.record.standards_used if s.certificate_digest}
    return [{"citing_digest": digest, "cited_digest": c} for c in sorted(cited)]


def _values(obj: Certificate | Document) -> dict[str, Any]:
    """The column values set on a new (transient) row, so that column defaults fill in the rest."""
    mapper: Mapper[Any] = sa_inspect(type(obj))
    return {a.key: v for a in mapper.column_attrs if (v := getattr(obj, a.key)) is not None}


def _supersede(s: Session, old: str, new: str) -> bool:
    """Mark the failed certificate ``old`` superseded by ``new`` (same number); False if it is no longer failed."""
    done = _rows(
        s,
        update(Certificate)
        .where(
            Certificate.digest == old,
            Certificate.status == CertificateStatus.FAILED,
            Certificate.superseded_by.is_(None),
        )
        .values(status=CertificateStatus.SUPERSEDED, superseded_by=new),
    )
    if done:
        logger.info("certificate %s (failed, never on chain) superseded by %s under the same number", old, new)
    return bool(done)


def _rows(s: Session, statement: Update) -> int:
    """How many rows an UPDATE changed."""
    return int(cast(CursorResult[Any], s.execute(statement)).rowcount)


def _insert_one(
    core: RegistryCore,
    principal: Principal,
    row: Certificate,
    doc: Document | None,
    p: Prepared,
    supersedes: str | None = None,
) -> Accepted | RegistryError:
    try:
        with core.sessions.begin() as s:
            if supersedes is not None:
                _supersede(s, supersedes, row.digest)  # if it changed meanwhile, the insert below settles it
            s.add(row)
            s.flush()
            if doc is not None:
                s.add(doc)
            citations = _citations(row.digest, p)
            if citations:
                s.execute(insert(Citation), citations)
        return _created(row)
    except IntegrityError:
        with core.sessions() as s:
            same = s.scalar(select(Certificate).where(Certificate.digest == row.digest))
            if same is not None:
                return _existing(same)
            other = s.scalar(
                select(Certificate).where(
                    Certificate.lab_id == row.lab_id,
                    Certificate.certificate_number == row.certificate_number,
                    Certificate.superseded_by.is_(None),
                )
            )
        if other is not None and _failed(other):
            return Conflict(f"certificate number {row.certificate_number!r} changed meanwhile; retry")
        if other is not None:
            return _record_reuse(core, principal, p, other.digest)
        raise
