"""Random inspection draws, published (双随机、一公开): regulators hand in their draws, anyone reads them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from registry.api.bodies import DrawBody, DrawResultBody, openapi_bodies
from registry.api.deps import CoreDep, PrincipalDep
from registry.api.errors import documented
from registry.api.schemas import DrawList, DrawOut
from registry.draws import list_draws, publish_draw, read_draw, record_result

__all__ = ["router"]

router = APIRouter(tags=["draws"])
_BODIES = openapi_bodies()
CommitmentPath = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="The draw's commitment")]


@router.post(
    "/v1/draws",
    status_code=201,
    response_model=None,
    responses=documented(
        {201: {"model": DrawOut, "description": "Published"}, 200: {"model": DrawOut, "description": "Known"}},
        400,
        401,
        403,
        413,
        415,
        422,
        503,
    ),
    openapi_extra=_BODIES["draw"],
    summary="Publish a draw (regulators)",
)
def publish(principal: PrincipalDep, body: DrawBody, core: CoreDep, response: Response) -> dict[str, Any]:
    """Publish a draw made with ``tracecert draw run``: it is re-run against the chain (commitment, its block, the
    committing regulator, the seed block, the seed, the sample) and kept only when every link holds and the caller
    committed it; the same draw again answers 200."""
    view, created = publish_draw(core, principal, body.model_dump())
    response.status_code = 201 if created else 200
    return view


@router.get(
    "/v1/draws",
    response_model=None,
    responses=documented({200: {"model": DrawList, "description": "The published draws"}}),
    summary="List the published draws",
)
def draws(core: CoreDep) -> dict[str, Any]:
    """Every published draw, newest first: anyone may read them (一公开)."""
    return list_draws(core)


@router.get(
    "/v1/draws/{commitment}",
    response_model=None,
    responses=documented({200: {"model": DrawOut, "description": "The draw, whole"}}, 404, 422),
    summary="Read a published draw",
)
def draw(commitment: CommitmentPath, core: CoreDep) -> dict[str, Any]:
    """A published draw, whole, with its results once published: anyone may re-run it (``tracecert draw
    verify``)."""
    return read_draw(core, commitment)


@router.put(
    "/v1/draws/{commitment}/result",
    response_model=None,
    responses=documented(
        {200: {"model": DrawOut, "description": "The draw with its results"}}, 400, 401, 403, 404, 409, 413, 415, 422
    ),
    openapi_extra=_BODIES["draw_result"],
    summary="Publish a draw's results (its regulator)",
)
def result(commitment: CommitmentPath, principal: PrincipalDep, body: DrawResultBody, core: CoreDep) -> dict[str, Any]:
    """What the inspections of the drawn items found (合格 / 不合格 / 未能检查), once, by the regulator that published
    the draw; every drawn item, and only those."""
    results = {item: outcome.model_dump() for item, outcome in body.results.items()}
    return record_result(core, principal, commitment, results)
