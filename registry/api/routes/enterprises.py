"""Enterprises, their instrument registers, and a region's coverage (检定率): the routes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from registry.api.bodies import EnterpriseBody, RegisterRows, openapi_bodies
from registry.api.deps import CoreDep, DigestPath, MaybePrincipalDep, PrincipalDep
from registry.api.errors import documented
from registry.api.schemas import (
    CoverageOut,
    EnterpriseList,
    EnterpriseOut,
    EnterpriseRegistered,
    InstrumentList,
    InstrumentOut,
    InstrumentRefs,
    OverdueOut,
    RegisterResult,
)
from registry.enterprises import confirm_enterprise, list_enterprises, register_enterprise
from registry.instruments import (
    XLSX,
    instruments_of_certificate,
    list_instruments,
    read_instrument,
    register_instruments,
)
from registry.statistics import coverage, export, overdue

__all__ = ["router"]

router = APIRouter(tags=["enterprises"])
_BODIES = openapi_bodies()
UsciPath = Annotated[str, Path(pattern=r"^[0-9A-Z]{18}$", description="统一社会信用代码")]
Region = Annotated[
    int, Query(ge=0, le=999999, description="GB/T 2260 code of the region (0: the nation), as the chain has it")
]
On = Annotated[dt.date | None, Query(description="The day the figures are for (YYYY-MM-DD; default today in China)")]
Category = Annotated[str | None, Query(max_length=64, description="Only this category")]
_FILE = {
    "text/csv": {"schema": {"type": "string"}},
    XLSX: {"schema": {"type": "string", "format": "binary"}},
}
_MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX}
#: A file carries the whole overdue list.
_ALL = 10**9


@router.post(
    "/v1/enterprises",
    status_code=201,
    response_model=None,
    responses=documented(
        {
            201: {"model": EnterpriseRegistered, "description": "Registered (with its token)"},
            200: {"model": EnterpriseRegistered, "description": "Known: confirmed by the calling regulator"},
        },
        400,
        401,
        403,
        409,
        413,
        415,
        422,
        503,
    ),
    openapi_extra=_BODIES["enterprise"],
    summary="Register an enterprise (itself, or a regulator onboarding it)",
)
def register(principal: MaybePrincipalDep, body: EnterpriseBody, core: CoreDep, response: Response) -> dict[str, Any]:
    """Without a token an enterprise registers itself: it gets its token now and may read, and writes once a
    regulator over its region confirms it. With a regulator's token over the USCI's region it is registered
    confirmed (or a pending one is confirmed)."""
    view, token, created = register_enterprise(core, principal, body.usci, body.name)
    response.status_code = 201 if created else 200
    return {"enterprise": view, "token": token}


@router.get(
    "/v1/enterprises",
    response_model=None,
    responses=documented({200: {"model": EnterpriseList, "description": "The enterprises"}}, 401, 403, 422, 503),
    summary="The enterprises of the calling regulator's region",
)
def enterprises(
    principal: PrincipalDep,
    core: CoreDep,
    state: Annotated[Literal["PENDING", "CONFIRMED"] | None, Query(description="Only these")] = None,
) -> dict[str, Any]:
    """A regulator's enterprises; ``state=PENDING`` is its queue of self-registrations to confirm."""
    return {"items": list_enterprises(core, principal, state)}


@router.post(
    "/v1/enterprises/{usci}/confirm",
    response_model=None,
    responses=documented({200: {"model": EnterpriseOut, "description": "Confirmed"}}, 401, 403, 404, 422, 503),
    summary="Confirm a self-registered enterprise (regulators)",
)
def confirm(usci: UsciPath, principal: PrincipalDep, core: CoreDep) -> dict[str, Any]:
    """A regulator over the enterprise's region confirms it (idempotent)."""
    return confirm_enterprise(core, principal, usci)


@router.post(
    "/v1/instruments",
    response_model=None,
    responses=documented(
        {200: {"model": RegisterResult, "description": "Every row registered"}}, 400, 401, 403, 413, 415, 422
    ),
    openapi_extra=_BODIES["register"],
    summary="Register instruments (enterprises): JSON, CSV or Excel",
)
def register_many(principal: PrincipalDep, rows: RegisterRows, core: CoreDep) -> dict[str, Any]:
    """All rows or none: a refusal (422 REGISTER_INVALID) names every failing row (its number in the table, the
    heading row being 1), field and rule. An instrument already registered (same asset number, or same
    manufacturer and serial number) is updated; the same table sent again changes nothing."""
    return register_instruments(core, principal, rows)


@router.get(
    "/v1/instruments",
    response_model=None,
    responses=documented({200: {"model": InstrumentList, "description": "The register"}}, 401, 403, 422, 503),
    summary="An enterprise's register, with due dates",
)
def instruments(
    principal: PrincipalDep,
    core: CoreDep,
    usci: Annotated[str | None, Query(max_length=18, description="The enterprise (regulators)")] = None,
    on: On = None,
) -> dict[str, Any]:
    """The calling enterprise's instruments (a regulator names one over its region), each with its state (in
    force, failed, overdue, never verified), due date and linked certificates."""
    return list_instruments(core, principal, usci, on)


@router.get(
    "/v1/instruments/{instrument_id}",
    response_model=None,
    responses=documented({200: {"model": InstrumentOut, "description": "The instrument"}}, 401, 403, 404, 422),
    summary="A registered instrument with its certificates",
)
def instrument(
    instrument_id: Annotated[int, Path(ge=1, le=2**31 - 1)], principal: PrincipalDep, core: CoreDep, on: On = None
) -> dict[str, Any]:
    """One instrument of the caller's register (or of an enterprise a regulator is over)."""
    return read_instrument(core, principal, instrument_id, on)


@router.get(
    "/v1/certificates/{digest}/instruments",
    response_model=None,
    responses=documented({200: {"model": InstrumentRefs, "description": "The instruments"}}, 401, 403, 404, 422, 503),
    summary="The registered instruments a certificate is linked to",
)
def certificate_instruments(digest: DigestPath, principal: PrincipalDep, core: CoreDep) -> dict[str, Any]:
    """The link read from the certificate's side: its lab and the regulators over the lab see every instrument
    it is linked to; an enterprise sees its own."""
    return {"items": instruments_of_certificate(core, principal, digest)}


def _file(content: bytes, fmt: str, name: str) -> Response:
    return Response(
        content, media_type=_MEDIA[fmt], headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    )


@router.get(
    "/v1/coverage",
    response_model=None,
    responses=documented(
        {200: {"model": CoverageOut, "description": "The figures, or with format=csv|xlsx a file", "content": _FILE}},
        401,
        403,
        422,
        503,
    ),
    summary="A region's coverage: 检定率 by category, sub-region and month (regulators)",
)
def region_coverage(
    principal: PrincipalDep,
    core: CoreDep,
    region: Region,
    on: On = None,
    months: Annotated[int, Query(ge=1, le=60, description="Months of trend")] = 12,
    category: Category = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query(description="json, or a file")] = "json",
    overdue_limit: Annotated[
        int, Query(ge=0, le=100_000, description="Also the overdue list's first n (0: not); a file has it all")
    ] = 0,
) -> Any:
    """Registered instruments under mandatory verification in the region, in force, overdue, failed, never
    verified, and the rate in force, in total, by category, by sub-region and at each month's end; a file adds
    the overdue list (registry.coverage documents the rule, registry.statistics the figures)."""
    if format == "json":
        return coverage(core, principal, region, day=on, months=months, category=category, overdue_limit=overdue_limit)
    figures = coverage(core, principal, region, day=on, months=months, category=category, overdue_limit=_ALL)
    late = figures.pop("overdue")
    return _file(export(figures, late, format), format, f"coverage-{region}-{figures['on']}")


@router.get(
    "/v1/coverage/overdue",
    response_model=None,
    responses=documented(
        {200: {"model": OverdueOut, "description": "The list (the coverage file carries it too)"}},
        401,
        403,
        422,
        503,
    ),
    summary="A region's instruments not in force (regulators)",
)
def region_overdue(
    principal: PrincipalDep,
    core: CoreDep,
    region: Region,
    on: On = None,
    category: Category = None,
    limit: Annotated[int | None, Query(ge=1, le=100_000, description="At most this many")] = None,
) -> dict[str, Any]:
    """Overdue, failed and never verified instruments, oldest due first, with their enterprise and site: the
    list a 双随机 draw can sample."""
    return overdue(core, principal, region, day=on, category=category, limit=limit)
