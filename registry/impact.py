"""Downstream impact (影响范围): every certificate that depends on a standard's certificate, transitively.

Each accepted certificate's reference standards are kept as citations (its ``standards_used[].certificate_digest``
→ the ``citations`` table); one recursive query follows them down from any certificate, so a regulator asking what
a revoked NMI certificate touches gets the answer from an index, not by fetching bundles one by one. When the
registry puts a revocation on chain, every dependent certificate still in force becomes a fraud signal
(``STANDARD_REVOKED``) for the regulators over its lab.

Who sees what: a regulator the dependents of the labs it is over, a lab its own; the others are counted, not shown.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import exists, func, literal, select

from registry.core import Principal, RegistryCore
from registry.db import Certificate, CertificateStatus, Citation, FraudSignal, LifecycleOp, OperationState
from registry.errors import NotFound
from tracecert.human import CHINA_HOURS

__all__ = ["Dependent", "dependents_of", "flag_dependents", "impact"]

#: How deep the citations are followed (a real chain is 3 to 5 links: NMI → province → city → instrument).
MAX_DEPTH = 16
#: Signal kind of a certificate in force whose standard's certificate was revoked.
STANDARD_REVOKED = "STANDARD_REVOKED"


@dataclass(frozen=True)
class Dependent:
    """A certificate that depends on the standard asked about, ``depth`` links below it (1: cites it directly)."""

    digest: str
    depth: int
    via: str  # the certificate it cites on the way up
    lab_id: str
    certificate_number: str
    kind: str
    category_code: str
    serial_number: str | None
    customer: str | None  # the instrument's owner (the record's customer)
    valid_until: str | None
    status: str  # the registry's: ANCHORED, PENDING, ...
    revoked_or_substituted: bool
    in_force: bool  # anchored, neither revoked nor substituted, not expired


def dependents_of(core: RegistryCore, digest: str, *, today: dt.date | None = None) -> list[Dependent]:
    """Every certificate that cites ``digest`` or, transitively, one that does; nearest first. Cycles end at
    :data:`MAX_DEPTH`; a certificate reached by two paths is listed once, at its smallest depth."""
    digest = digest.lower()
    today = today or dt.datetime.now(dt.timezone(dt.timedelta(hours=CHINA_HOURS))).date()
    down = (
        select(Citation.citing_digest.label("digest"), Citation.cited_digest.label("via"), literal(1).label("depth"))
        .where(Citation.cited_digest == digest)
        .cte("down", recursive=True)
    )
    down = down.union(
        select(Citation.citing_digest, Citation.cited_digest, down.c.depth + 1).where(
            Citation.cited_digest == down.c.digest, down.c.depth < MAX_DEPTH
        )
    )
    nearest = select(down.c.digest, func.min(down.c.depth).label("depth")).group_by(down.c.digest).subquery()
    ended = (
        exists()
        .where(LifecycleOp.digest == Certificate.digest, LifecycleOp.state == OperationState.DONE)
        .correlate(Certificate)
    )
    query = (
        select(Certificate, nearest.c.depth, ended.label("ended"))
        .join(nearest, nearest.c.digest == Certificate.digest)
        .order_by(nearest.c.depth, Certificate.seq)
    )
    with core.sessions() as s:
        rows = s.execute(query).all()
        paths = s.execute(select(down.c.digest, down.c.via).order_by(down.c.depth.desc())).all()
        via = {d: v for d, v in paths}  # the nearest path last: it wins
    found = []
    for cert, depth, ended_ in rows:
        record = json.loads(cert.record_json)
        until = (record.get("dates") or {}).get("valid_until")
        anchored = cert.status == CertificateStatus.ANCHORED
        found.append(
            Dependent(
                digest=cert.digest,
                depth=int(depth),
                via=via.get(cert.digest, digest),
                lab_id=cert.lab_id,
                certificate_number=cert.certificate_number,
                kind=cert.kind,
                category_code=cert.category_code,
                serial_number=cert.serial_number,
                customer=(record.get("customer") or {}).get("name"),
                valid_until=until,
                status=cert.status,
                revoked_or_substituted=bool(ended_),
                in_force=anchored and not ended_ and (until is None or dt.date.fromisoformat(until) >= today),
            )
        )
    return found


def impact(core: RegistryCore, principal: Principal, digest: str) -> dict[str, Any]:
    """The dependents of ``digest`` the principal may see (a regulator: of the labs it is over; a lab: its own;
    an enterprise: none), with the number of the others, and counts of those in force.

    Raises:
        NotFound: CERTIFICATE_NOT_FOUND when the registry neither holds ``digest`` nor has a certificate citing it.
    """
    digest = digest.lower()
    found = dependents_of(core, digest)
    if not found:
        with core.sessions() as s:
            known = s.scalar(select(Certificate.digest).where(Certificate.digest == digest))
        if known is None:
            raise NotFound(f"no certificate {digest} in this registry", code="CERTIFICATE_NOT_FOUND")
    covered: dict[str, bool] = {}

    def sees(lab_id: str) -> bool:
        if principal.role == "LAB":
            return lab_id == principal.lab_id
        if principal.role != "REGULATOR" or principal.regulator_address is None:
            return False  # an enterprise: neither a lab nor a regulator, it is shown none (they are counted)
        if lab_id not in covered:
            covered[lab_id] = core.regulator_covers(str(principal.regulator_address), lab_id)
        return covered[lab_id]

    shown = [d for d in found if sees(d.lab_id)]
    labs = {d.lab_id for d in shown}
    return {
        "digest": digest,
        "dependents": [asdict(d) for d in shown],
        "total": len(found),
        "withheld": len(found) - len(shown),
        "in_force": sum(d.in_force for d in shown),
        "labs": sorted(labs),
    }


def flag_dependents(core: RegistryCore, digest: str) -> int:
    """Record a ``STANDARD_REVOKED`` fraud signal for each certificate in force that depends on the revoked
    ``digest`` (once each: a second call adds nothing); return how many were added."""
    digest = digest.lower()
    added = 0
    with core.sessions.begin() as s:
        for d in dependents_of(core, digest):
            if not d.in_force:
                continue
            seen = s.scalar(
                select(FraudSignal.id).where(
                    FraudSignal.kind == STANDARD_REVOKED,
                    FraudSignal.existing_digest == digest,
                    FraudSignal.attempted_digest == d.digest,
                )
            )
            if seen is not None:
                continue
            record = s.scalar(select(Certificate.record_json).where(Certificate.digest == d.digest))
            s.add(
                FraudSignal(
                    kind=STANDARD_REVOKED,
                    lab_id=d.lab_id,
                    certificate_number=d.certificate_number,
                    existing_digest=digest,
                    attempted_digest=d.digest,
                    attempted_record=record or "{}",
                )
            )
            added += 1
    return added
