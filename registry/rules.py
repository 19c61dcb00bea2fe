"""The rulebook at acceptance: the registry runs the verifier's own checks before it accepts a certificate.

Every check that can be decided before anchoring (:attr:`~tracecert.verification.report.CheckSpec.at_acceptance`)
runs through :meth:`tracecert.verification.engine.Verifier.preflight`, at the record's own work and issue dates and
as if the lab anchored it now: an ERROR refuses the certificate with that check's code (422, naming the field), a
WARNING accepts it and is recorded as a fraud signal for the regulators over the lab. So whatever the registry
anchors, the verifier does not call INVALID — except for what happens after anchoring (a revocation, an expiry, a
standard revoked later).

The standards a record cites are looked up among the registry's own anchored certificates (the verifier finds them
there too, through the registry's API) and verified with the same engine, up to a national metrology institute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from registry.db import Certificate
from registry.errors import ChainUnavailableError, InvalidRequest
from tracecert.certificate.model import CertificateRecord
from tracecert.chain.errors import ChainUnavailable
from tracecert.verification.chainview import CachedChainView, LiveChainView
from tracecert.verification.engine import ChecksMemo, Verifier
from tracecert.verification.evidence import Policy
from tracecert.verification.report import CheckResult, Severity

if TYPE_CHECKING:
    from registry.core import RegistryCore

__all__ = ["DatabaseSource", "RuleRefused", "Rulebook"]


class RuleRefused(InvalidRequest):
    """A check of the rulebook refuses the certificate: ``code`` is the check's, ``details`` name each failed check
    with its field and its message in Chinese and English."""

    def __init__(self, failed: list[CheckResult]) -> None:
        first = failed[0]
        spec = first.spec
        super().__init__(
            f"{spec.en}" + (f": {first.detail}" if first.detail else ""),
            code=first.code,
            details=[_detail(c) for c in failed],
        )


def _detail(check: CheckResult) -> dict[str, Any]:
    spec = check.spec
    return {
        "field": spec.field or "(record)",
        "rule": check.code,
        "name": {"zh": spec.name_zh, "en": spec.name_en},
        "message": check.detail or spec.en,
        "message_zh": check.detail_zh or spec.zh,
    }


class DatabaseSource:
    """The registry's own anchored certificates as a bundle source, whoever's they are (for the standards a record
    cites). Only anchored certificates are found: a pending standard is not evidence yet."""

    def __init__(self, core: RegistryCore) -> None:
        self.core = core

    def by_digest(self, digest: str) -> dict[str, Any] | None:
        """See :class:`~tracecert.verification.sources.BundleSource`."""
        from registry.reads import anchored_bundle

        with self.core.sessions() as s:
            row = s.scalar(select(Certificate).where(Certificate.digest == digest.lower()))
        return anchored_bundle(self.core, row) if row is not None else None

    def by_document(self, sha256: str) -> dict[str, Any] | None:
        """See :class:`~tracecert.verification.sources.BundleSource` (not needed at acceptance)."""
        return None

    def by_number(self, lab_id: str, number: str) -> list[dict[str, Any]]:
        """See :class:`~tracecert.verification.sources.BundleSource`."""
        return [b for d in self.numbered(lab_id, number) if (b := self.by_digest(d)) is not None]

    def numbered(self, lab_id: str, number: str) -> list[str]:
        """The digests of the lab's live certificates under the number."""
        with self.core.sessions() as s:
            return list(
                s.scalars(
                    select(Certificate.digest).where(
                        Certificate.lab_id == lab_id.lower(),
                        Certificate.certificate_number == number,
                        Certificate.superseded_by.is_(None),
                    )
                )
            )


class Rulebook:
    """The verifier's checks, run by the registry at acceptance (one per registry core)."""

    def __init__(self, core: RegistryCore) -> None:
        ttl = core.settings.authorization_cache_seconds
        self.view = CachedChainView(LiveChainView(core.chain), ttl)
        self.verifier = Verifier(self.view, DatabaseSource(core), Policy(cache_seconds=ttl))

    def judge(
        self, record: CertificateRecord, *, key_id: str, signature: str, at: int, memo: ChecksMemo | None = None
    ) -> list[CheckResult]:
        """Run every check decided at acceptance, as if the lab anchored ``record`` at chain time ``at``; return the
        failed WARNING checks (accepted, to be recorded as fraud signals). The records of one request share a
        ``memo`` (one ``at``): what they have in common is checked once (:class:`ChecksMemo`).

        Raises:
            RuleRefused: an ERROR check failed (its code; every failed check named in ``details``).
            ChainUnavailableError: the chain could not be asked.
        """
        try:
            report = self.verifier.preflight(
                record,
                key_id=bytes.fromhex(key_id[2:]),
                signature=bytes.fromhex(signature[2:]),
                at=at,
                signature_checked=True,  # issuance has just made it, or verified it with the key of the chain
                memo=memo,
            )
        except ChainUnavailable as exc:
            raise ChainUnavailableError("the chain node is unreachable; retry") from exc
        failed = report.failed()  # one pass over the checks; most pass
        errors = [c for c in failed if c.spec.severity is Severity.ERROR]
        if errors:
            raise RuleRefused(errors)
        return [c for c in failed if c.spec.severity is Severity.WARNING]
