"""Batches: the public transparency listing of what an anchored root contains."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from registry.api.deps import CoreDep, RootPath
from registry.api.errors import documented
from registry.api.schemas import BatchOut
from registry.lifecycle import batch_listing

__all__ = ["router"]

router = APIRouter(tags=["transparency"])


@router.get(
    "/v1/batches/{root}",
    response_model=None,
    responses=documented({200: {"model": BatchOut, "description": "The batch's leaves in order"}}, 404, 422),
    summary="List an anchored batch",
)
def read_batch(root: RootPath, core: CoreDep) -> dict[str, Any]:
    """The leaves of an anchored batch in order (digest, number, category, instrument serial; no customer data):
    anyone can recompute the root and compare it with the one on chain."""
    return batch_listing(core, root)
