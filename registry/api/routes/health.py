"""Health: is the registry up, which chain does it anchor on, how much waits for anchoring."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from registry.api.deps import CoreDep
from registry.api.schemas import HealthOut
from registry.reads import pending_count

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", response_model=None, responses={200: {"model": HealthOut}}, summary="Health")
def health(core: CoreDep) -> dict[str, Any]:
    """``{"status": "ok", "chain_id", "pending"}``; answers without asking the chain."""
    return {"status": "ok", "chain_id": core.chain.deployment.chain_id, "pending": pending_count(core)}
