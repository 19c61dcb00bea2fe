"""Oversight: what regulators read about the labs they are over (fraud signals)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from registry.api.deps import MAX_CURSOR, CoreDep, PrincipalDep, check_hex32
from registry.api.errors import documented
from registry.api.schemas import FraudSignalList
from registry.reads import fraud_signals

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
