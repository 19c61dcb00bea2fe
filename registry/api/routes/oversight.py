"""Oversight: what regulators read about the labs they are over (fraud signals, anomaly scans, downstream
impact)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from registry.api.deps import MAX_CURSOR, CoreDep, DigestPath, PrincipalDep, check_hex32
from registry.api.errors import documented
from registry.api.schemas import DependentOut, FindingList, FraudSignalList, ImpactOut
from registry.errors import Forbidden, InvalidRequest
from registry.impact import impact
from registry.reads import fraud_signals
from registry.scans import FINDINGS, Thresholds, finding_key, record, regulated_labs, scan
from tracecert.human import local_time
from tracecert.verification.chainview import CachedChainView, LiveChainView

__all__ = ["router"]

router = APIRouter(tags=["oversight"])


@router.get(
    "/v1/fraud-signals",
    response_model=None,
    responses=documented({200: {"model": FraudSignalList, "description": "A page of signals"}}, 401, 403, 422, 503),
    summary="List fraud signals (regulators)",
)
def list_fraud_signals(
    principal: PrincipalDep,
    core: CoreDep,
    lab_id: Annotated[str | None, Query(description="0x + 64 hex")] = None,
    cursor: Annotated[int | None, Query(ge=0, le=MAX_CURSOR, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(description="1..1000")] = 100,
) -> dict[str, Any]:
    """Refused requests kept as evidence (e.g. a reused certificate number), of the labs the calling regulator
    is over; lab tokens are refused (403 NOT_A_REGULATOR)."""
    if lab_id is not None:
        check_hex32(lab_id, "lab_id", "INVALID_LAB_ID")
    return fraud_signals(core, principal, lab_id=lab_id, cursor=cursor, limit=limit)


@router.get(
    "/v1/certificates/{digest}/dependents",
    response_model=None,
    responses=documented(
        {
            200: {
                "model": ImpactOut,
                "description": "The dependents (JSON), or with format=csv one row per dependent",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        },
        401,
        404,
        422,
        503,
    ),
    summary="Downstream impact of a certificate",
)
def read_dependents(
    digest: DigestPath,
    principal: PrincipalDep,
    core: CoreDep,
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv (an export)")] = "json",
) -> Any:
    """Every certificate that cites this one as its standard's certificate, or cites one that does, transitively
    (影响范围): what a revoked or suspect standard puts in doubt. A regulator sees those of the labs it is over, a
    lab its own; the others are counted (``withheld``)."""
    answer = impact(core, principal, digest)
    if format == "json":
        return answer
    out = io.StringIO()
    columns = list(DependentOut.model_fields)
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(answer["dependents"])
    return Response(
        out.getvalue().encode("utf-8-sig"),  # with a BOM, so that Excel reads the Chinese names
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="dependents-{digest[2:14]}.csv"'},
    )


@router.get(
    "/v1/anomalies",
    response_model=None,
    responses=documented({200: {"model": FindingList, "description": "The findings"}}, 401, 403, 422, 503),
    summary="Scan the ledger for anomalies (regulators)",
)
def list_anomalies(
    principal: PrincipalDep,
    core: CoreDep,
    since: Annotated[dt.date | None, Query(description="First issue date scanned (YYYY-MM-DD)")] = None,
    until: Annotated[dt.date | None, Query(description="Last issue date scanned (YYYY-MM-DD)")] = None,
    lab_id: Annotated[str | None, Query(description="Only this lab (0x + 64 hex)")] = None,
    code: Annotated[str | None, Query(description="Only findings of this code")] = None,
) -> dict[str, Any]:
    """Backdating, bursts of old dates, standards and performers used more than plausible, expired, revoked or
    borrowed standards, calibrations passed off as verifications, copied results and reused numbers, among the
    certificates of the labs the calling regulator is over (registry.scans documents each rule and threshold)."""
    if principal.role != "REGULATOR" or principal.regulator_address is None:
        raise Forbidden("only a regulator's token may scan the ledger", code="NOT_A_REGULATOR")
    if lab_id is not None:
        check_hex32(lab_id, "lab_id", "INVALID_LAB_ID")
    if code is not None and code not in FINDINGS:
        raise InvalidRequest(f"unknown finding code {code!r}; codes: {', '.join(FINDINGS)}", code="INVALID_FILTER")
    if since is not None and until is not None and since > until:
        raise InvalidRequest("since is after until", code="INVALID_FILTER")
    labs = regulated_labs(core, principal.regulator_address)
    if lab_id is not None:
        labs = [lab for lab in labs if lab == lab_id.lower()]
    thresholds = Thresholds()
    chain = CachedChainView(LiveChainView(core.chain), 60.0)
    findings = [f for f in scan(core, labs=labs, since=since, until=until, thresholds=thresholds, chain=chain)
                if code is None or f.code == code]  # fmt: skip
    first_seen = record(core, findings)
    by_code: dict[str, int] = {}
    for f in findings:
        by_code[f.code] = by_code.get(f.code, 0) + 1
    return {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "labs": labs,
        "thresholds": dict(vars(thresholds)),
        "count": len(findings),
        "by_code": by_code,
        "findings": [f.to_dict() | {"first_seen": local_time(first_seen[finding_key(f)])} for f in findings],
    }
