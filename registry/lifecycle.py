"""Revocation, substitution and publication: requested over the API, put on chain by the anchoring worker.

A revocation is accepted into the outbox (LifecycleOp PENDING) and put on chain by the anchoring worker from the
lab's writer account, or from the regulator's account when a regulator orders it. Substitution happens by issuing a
replacement whose record says ``replaces``: once the replacement is anchored, the old one is marked on chain. A lab
(or a regulator over it) may publish a certificate: from then on anyone may download its proof bundle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from registry.core import Principal, RegistryCore
from registry.db import (
    Certificate,
    CertificateStatus,
    HeldKey,
    LifecycleOp,
    OperationKind,
    OperationState,
    utcnow,
)
from registry.errors import AlreadyRevoked, Forbidden, InvalidRequest
from registry.impact import flag_dependents
from registry.issuance import Accepted, Submission, accept
from registry.reads import certificate_row, certificate_view, operation_view
from tracecert.certificate.canonical import from_hex
from tracecert.certificate.errors import CertificateError
from tracecert.certificate.model import record_from_json
from tracecert.chain.errors import ChainError, ContractReverted
from tracecert.chain.sender import TransactionSender
from tracecert.chain.types import CertificateState, RevocationReason

__all__ = ["OperationSender", "OperationsSent", "publish", "request_revocation", "request_substitution"]

logger = logging.getLogger(__name__)


def request_revocation(
    core: RegistryCore, principal: Principal, digest: str, reason: int, effective_time: int | None = None
) -> dict[str, Any]:
    """Accept a revocation of ``digest`` by its lab or a regulator over it.

    Raises:
        NotFound: UNKNOWN_CERTIFICATE.
        Forbidden: WRONG_LAB, NOT_REGULATOR_OVER_LAB, REGULATOR_ACCOUNT_NOT_HELD.
        InvalidRequest: INVALID_REASON, INVALID_EFFECTIVE_TIME.
        AlreadyRevoked: revoked or substituted before (or a revocation is already on its way).
    """
    row = certificate_row(core, digest)
    core.require_lab_or_regulator(principal, row.lab_id)
    try:
        RevocationReason(reason)
    except ValueError as exc:
        allowed = {r.name: r.value for r in RevocationReason}
        raise InvalidRequest(
            f"unknown reason code {reason}",
            code="INVALID_REASON",
            details=[{"field": "reason", "rule": "enum", "message": f"one of {allowed}"}],
        ) from exc
    if effective_time is not None and not 0 <= effective_time < 2**63:
        raise InvalidRequest(
            "effective_time must be a Unix time ≥ 0",
            code="INVALID_EFFECTIVE_TIME",
            details=[{"field": "effective_time", "rule": "range", "message": "0 ≤ effective_time < 2**63"}],
        )
    regulator = None
    if principal.role == "REGULATOR":
        regulator = principal.regulator_address
        with core.sessions() as s:
            if s.get(HeldKey, regulator) is None:
                raise Forbidden(
                    "this registry holds no chain account for the regulator; revoke on chain directly",
                    code="REGULATOR_ACCOUNT_NOT_HELD",
                )
    try:
        with core.sessions.begin() as s:
            replacement = s.scalar(select(Certificate.digest).where(Certificate.replaces_digest == row.digest))
            if replacement is not None:
                raise AlreadyRevoked(
                    f"certificate {row.digest} is being replaced by {replacement}", code="ALREADY_REPLACED"
                )
            op = s.scalar(select(LifecycleOp).where(LifecycleOp.lab_id == row.lab_id, LifecycleOp.digest == row.digest))
            if op is not None and op.state != OperationState.FAILED:
                raise AlreadyRevoked(f"certificate {row.digest} is already revoked or substituted")
            if op is None:
                op = LifecycleOp(op=OperationKind.REVOKE, lab_id=row.lab_id, digest=row.digest)
                s.add(op)
            # A revocation the chain refused (e.g. a regulator since deactivated) may be asked for again.
            op.op, op.new_digest, op.reason, op.effective_time = OperationKind.REVOKE, None, reason, effective_time or 0
            op.requested_by, op.regulator_address = principal.role, regulator
            op.state, op.error, op.tx_hash, op.block_timestamp, op.done_at = (
                OperationState.PENDING,
                None,
                None,
                None,
                None,
            )
    except IntegrityError as exc:  # a concurrent request for the same certificate won
        raise AlreadyRevoked(f"certificate {row.digest} is already revoked or substituted") from exc
    return operation_view(op)


def request_substitution(core: RegistryCore, principal: Principal, digest: str, submission: Submission) -> Accepted:
    """Accept a replacement of ``digest``: a new certificate whose record's ``replaces`` names it. Once the
    replacement is anchored, the worker marks ``digest`` substituted on chain.

    Raises:
        NotFound: UNKNOWN_CERTIFICATE.
        Forbidden: WRONG_LAB, NOT_REGULATOR_OVER_LAB; NOT_A_LAB (only the lab itself issues the replacement).
        InvalidRequest: SUBSTITUTE_MISMATCH when ``replaces.certificate_digest`` is absent or not ``digest``.
        RegistryError: everything :func:`registry.issuance.accept` raises (RECORD_INVALID, ALREADY_REVOKED...).
    """
    row = certificate_row(core, digest)
    core.require_lab_or_regulator(principal, row.lab_id)
    try:
        record = record_from_json(submission.record)
    except CertificateError:
        return accept(core, principal, submission)  # it refuses the record with the field errors
    named = record.replaces.certificate_digest if record.replaces is not None else None
    if named != row.digest:
        raise InvalidRequest(
            f"the record replaces {named or 'nothing'}, not {row.digest}",
            code="SUBSTITUTE_MISMATCH",
            details=[
                {
                    "field": "replaces.certificate_digest",
                    "rule": "equals_substituted",
                    "message": f"must be {row.digest}",
                }
            ],
        )
    return accept(core, principal, submission)


def publish(core: RegistryCore, principal: Principal, digest: str) -> dict[str, Any]:
    """Publish ``digest`` (by its lab or a regulator over it): from now on anyone may download its proof bundle.
    Idempotent, and never undone; pending certificates may be published too (the bundle follows the anchoring).

    Returns the certificate's view, as :func:`certificate_view` shows it to ``principal``.

    Raises:
        NotFound: UNKNOWN_CERTIFICATE.
        Forbidden: WRONG_LAB, NOT_REGULATOR_OVER_LAB.
    """
    row = certificate_row(core, digest)
    core.require_lab_or_regulator(principal, row.lab_id)
    if not row.public:
        with core.sessions.begin() as s:
            s.execute(
                update(Certificate)
                .where(Certificate.digest == row.digest, Certificate.public.is_(False))
                .values(public=True)
            )
    return certificate_view(core, principal, row.digest)


@dataclass
class OperationsSent:
    """What one pass of :meth:`OperationSender.send` did."""

    done: int = 0
    failed: int = 0
    deferred: int = 0


class OperationSender:
    """Puts pending revocations and substitutions on chain, from the lab's writer account or the ordering
    regulator's (the anchoring worker calls :meth:`send` at the end of each step)."""

    def __init__(self, core: RegistryCore, sender: Callable[[str], TransactionSender]) -> None:
        self.core = core
        self._sender = sender

    def send(self) -> OperationsSent:
        """Send every pending operation (a substitution once its replacement is anchored); refusals are recorded
        as FAILED with the contract's error, a node that does not answer leaves them pending."""
        sent = OperationsSent()
        with self.core.sessions() as s:
            ops = list(
                s.scalars(
                    select(LifecycleOp).where(LifecycleOp.state == OperationState.PENDING).order_by(LifecycleOp.id)
                )
            )
        for op in ops:
            if op.op == OperationKind.SUBSTITUTE:
                with self.core.sessions() as s:
                    new_state = s.scalar(select(Certificate.status).where(Certificate.digest == op.new_digest))
                if new_state != CertificateStatus.ANCHORED:
                    continue  # the replacement goes on chain first
            try:
                address = op.regulator_address or self.core.lab(op.lab_id).writer_address
                sender = self._sender(address)
                lab, digest = from_hex(op.lab_id), from_hex(op.digest)
                if op.op == OperationKind.REVOKE:
                    receipt = self.core.chain.revoke(sender, lab, digest, op.reason, op.effective_time)
                else:
                    receipt = self.core.chain.substitute(sender, lab, digest, from_hex(str(op.new_digest)))
            except ContractReverted as exc:
                if exc.error == "CertificateRegistryStatusAlreadySet" and self._status_on_chain(op):
                    # Already so on chain (sent before a crash, or by the regulator directly): record it as done.
                    self._op_done(op.id, OperationState.DONE, error=None)
                    sent.done += 1
                    continue
                self._op_done(op.id, OperationState.FAILED, error=exc.error)
                sent.failed += 1
                continue
            except ChainError as exc:
                logger.warning("%s of %s not on chain yet (%s); will retry", op.op, op.digest, exc)
                sent.deferred += 1
                continue
            self._op_done(
                op.id,
                OperationState.DONE,
                tx_hash=receipt.tx_hash,
                block_timestamp=self.core.chain.client.block_timestamp(receipt.block_number),
            )
            sent.done += 1
        return sent

    def _op_done(
        self,
        op_id: int,
        state: str,
        *,
        error: str | None = None,
        tx_hash: str | None = None,
        block_timestamp: int | None = None,
    ) -> None:
        with self.core.sessions.begin() as s:
            op = s.get(LifecycleOp, op_id)
            assert op is not None
            op.state, op.error, op.tx_hash, op.block_timestamp = state, error, tx_hash, block_timestamp
            op.done_at = utcnow()
            revoked = op.digest if state == OperationState.DONE and op.op == OperationKind.REVOKE else None
        if revoked is not None:
            # What depended on it is now in doubt: a signal for the regulators over each dependent still in force.
            flagged = flag_dependents(self.core, revoked)
            if flagged:
                logger.info("revocation of %s: %d dependent certificates in force flagged", revoked, flagged)

    def _status_on_chain(self, op: LifecycleOp) -> bool:
        """Whether the chain already shows what ``op`` asks for (sent before a crash, or by a regulator directly)."""
        try:
            status = self.core.chain.status(from_hex(op.lab_id), from_hex(op.digest))
        except ChainError:
            return False
        wanted = CertificateState.REVOKED if op.op == OperationKind.REVOKE else CertificateState.SUBSTITUTED
        return status.state is wanted
