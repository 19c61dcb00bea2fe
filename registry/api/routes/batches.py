"""Batches: the public transparency listing of what an anchored root contains."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from registry.api.deps import CoreDep, MaybePrincipalDep, RootPath
from registry.api.errors import documented
from registry.api.schemas import BatchOut
from registry.reads import batch_listing

__all__ = ["router"]

router = APIRouter(tags=["transparency"])


@router.get(
    "/v1/batches/{root}",
    response_model=None,
    responses=documented({200: {"model": BatchOut, "description": "The batch's leaves in order"}}, 401, 404, 422),
    summary="List an anchored batch",
)
def read_batch(root: RootPath, principal: MaybePrincipalDep, core: CoreDep) -> dict[str, Any]:
    """The leaves of an anchored batch in order (digest, number tag, kind, category; no customer data): anyone
    can recompute the root and compare it with the one on chain. A private certificate's number and instrument
    serial are shown only to its lab and the regulators over it."""
    return batch_listing(core, root, principal)
