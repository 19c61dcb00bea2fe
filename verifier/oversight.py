"""The regulators' side of the verifier's API, for anyone to read (一公开): a lab's or an enterprise's credit record,
and the lab directory (机构名录) with each lab's history; and the directory's pages and chart library.

Endpoints::

    GET  /v1/credit/{subject}     a lab's (0x…) or an enterprise's (USCI) credit record        (rate limited)
    GET  /v1/labs                 the lab directory, filtered: jurisdiction, kind, status, category,
                                  expiring_within_days, as_of                                  (the index only)
    GET  /v1/labs/{lab_id}        one lab's whole history, by lab id or lab code (USCI)        (the index only)
    GET  /labs, /labs/{lab_id}    the web page, opened at the directory or at a lab
    GET  /vendor/chart.umd.min.js Chart.js (npm, served from node_modules: never from a CDN)

The directory is read from the verifier's own index; a service that asks a live node answers 404
DIRECTORY_UNAVAILABLE.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from tracecert.service_errors import NotFound
from verifier.credit import CreditOut, credit_answer
from verifier.errors import InvalidRequest
from verifier.inputs import parse_as_of, parse_lab, parse_subject
from verifier.labs import FILTERS, DirectoryOut, LabHistoryOut, directory_answer, index_of, lab_answer, parse_filters

if TYPE_CHECKING:
    from verifier.api import VerifierService

__all__ = ["CHART_JS", "oversight_router"]

#: Where the chart library is looked for: copied beside the page, else the checkout's node_modules (npm install).
CHART_JS = (
    Path(__file__).parent / "static" / "vendor" / "chart.umd.min.js",
    Path(__file__).resolve().parent.parent / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js",
)

_429 = {"description": "RATE_LIMITED (Retry-After)"}
_503 = {"description": "NO_RPC_URL, NO_DEPLOYMENT, UNTRUSTED_DEPLOYMENT, CHAIN_UNAVAILABLE (Retry-After)"}
_NO_DIRECTORY = "DIRECTORY_UNAVAILABLE (the service runs on a live node, without its index)"
_FILTER_CODES = (
    "UNKNOWN_FILTER, INVALID_JURISDICTION, INVALID_LAB_KIND, INVALID_STATUS, INVALID_CATEGORY, "
    "INVALID_EXPIRING_WITHIN_DAYS, INVALID_AS_OF"
)
_NO_STORE = {"Cache-Control": "no-store"}


def oversight_router(service: VerifierService, page: Callable[[], Response]) -> APIRouter:
    """The credit and directory routes over ``service``; ``page`` answers the web page."""
    router = APIRouter()

    @router.get(
        "/v1/credit/{subject}",
        response_model=None,
        responses={
            200: {"model": CreditOut, "description": "The record and the grade now"},
            404: {"description": "UNKNOWN_LAB (no lab with this id), CREDIT_RECORD_UNAVAILABLE (no CreditRegistry)"},
            422: {"description": "INVALID_SUBJECT"},
            429: _429,
            503: _503,
        },
        summary="A lab's or an enterprise's public credit record (计量信用记录) and grade",
    )
    async def credit(request: Request, subject: str) -> JSONResponse:
        """`subject`: a lab id (0x + 64 hex) or an enterprise's unified social credit code (18 characters; a lab is
        asked for by its id). The grade now (A 良好, B 一般, C 较差, D 失信: the worst entry in force decides), the
        indices of the entries in force, and every entry oldest first with its names and times (UTC+8); an entry a
        later lifting names carries that lifting's index in `lifted_by`. Rate limited per client like uploads."""
        service.limit_upload(request, "credit lookups")
        who = parse_subject(subject)

        def work() -> JSONResponse:
            engine = service.verifier()
            return JSONResponse(credit_answer(engine.chain, engine.policy, who), headers=_NO_STORE)

        return await service.run(work)

    @router.get(
        "/v1/labs",
        response_model=None,
        responses={
            200: {"model": DirectoryOut, "description": "The labs that pass the filters, at `as_of`"},
            404: {"description": _NO_DIRECTORY},
            422: {"description": _FILTER_CODES},
            503: _503,
        },
        summary="The lab directory (机构名录): every lab on chain, filtered as a regulator asks",
    )
    async def labs(
        request: Request,
        jurisdiction: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        category: str | None = None,
        expiring_within_days: str | None = None,
        as_of: str | None = None,
    ) -> JSONResponse:
        """Filters (all optional, combined): `jurisdiction` 0 (the nation) or a GB/T 2260 code (the labs under it,
        as the TrustRegistry puts a lab under a regulator: an NMI answers to the nation only); `kind` NMI,
        LEGAL_METROLOGY_INSTITUTE, AUTHORIZED_BODY or ACCREDITED_LAB; `status` ACTIVE, SUSPENDED or REVOKED;
        `category` a category code in the scope of the authorization in force (e.g. JJG52); `expiring_within_days`
        1..3650: the authorization in force ends within that many days. `as_of`: unix seconds, YYYY-MM-DD (end of
        day, UTC+8) or an ISO date-time; default the index's latest block. Any other parameter is refused
        (UNKNOWN_FILTER): a mistyped filter must not list every lab."""
        unknown = sorted(set(request.query_params) - {*FILTERS, "as_of"})
        if unknown:
            raise InvalidRequest(
                f"unknown filter {unknown[0]!r}: the filters are {', '.join(FILTERS)} and as_of", code="UNKNOWN_FILTER"
            )
        filters = parse_filters(
            jurisdiction=jurisdiction,
            kind=kind,
            status=status,
            category=category,
            expiring_within_days=expiring_within_days,
        )
        when = parse_as_of(as_of)

        def work() -> JSONResponse:
            engine = service.verifier()
            answer = directory_answer(index_of(engine.chain), engine.policy, filters, when)
            return JSONResponse(answer, headers=_NO_STORE)

        return await service.run(work)

    @router.get(
        "/v1/labs/{lab_id}",
        response_model=None,
        responses={
            200: {"model": LabHistoryOut, "description": "The lab's whole history"},
            404: {"description": f"UNKNOWN_LAB (no lab was registered with this id), {_NO_DIRECTORY}"},
            422: {"description": "INVALID_LAB_ID, INVALID_AS_OF"},
            503: _503,
        },
        summary="One lab's whole history: authorizations and scope, status changes with reasons, keys, certificates "
        "per month, credit record",
    )
    async def lab(lab_id: str, as_of: str | None = None) -> JSONResponse:
        """`lab_id`: the lab id (0x + 64 hex) or the lab's code (统一社会信用代码). Its state (status, authorization,
        credit grade) is taken at `as_of` (default: the index's latest block); every time is shown as a person reads
        it (UTC+8)."""
        key, when = parse_lab(lab_id), parse_as_of(as_of)

        def work() -> JSONResponse:
            engine = service.verifier()
            return JSONResponse(lab_answer(index_of(engine.chain), engine.policy, key, when), headers=_NO_STORE)

        return await service.run(work)

    @router.get("/labs", include_in_schema=False)
    def directory_page() -> Response:
        return page()

    @router.get("/labs/{lab_id}", include_in_schema=False)
    def lab_page(lab_id: str) -> Response:
        return page()

    @router.get("/vendor/chart.umd.min.js", include_in_schema=False)
    def chart_js() -> Response:
        found = next((p for p in CHART_JS if p.is_file()), None)
        if found is None:  # the page then shows the months as a table only
            raise NotFound("Chart.js is not installed here (run scripts/setup.sh: npm install)")
        headers: dict[str, Any] = {"Cache-Control": "public, max-age=86400"}
        return FileResponse(found, media_type="text/javascript", headers=headers)

    return router
