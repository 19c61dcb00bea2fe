"""Health (is the registry up, which chain does it anchor on, how much waits for anchoring) and who is calling."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from registry.api.deps import CoreDep, PrincipalDep
from registry.api.errors import documented
from registry.api.schemas import HealthOut, MeOut
from registry.db_enterprises import Enterprise
from registry.errors import ChainUnavailableError
from registry.onboarding import regulator_info
from registry.reads import pending_count
from tracecert.chain.errors import ChainError

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", response_model=None, responses={200: {"model": HealthOut}}, summary="Health")
def health(core: CoreDep) -> dict[str, Any]:
    """``{"status": "ok", "chain_id", "pending"}``; answers without asking the chain."""
    return {"status": "ok", "chain_id": core.chain.deployment.chain_id, "pending": pending_count(core)}


@router.get(
    "/v1/me",
    response_model=None,
    responses=documented({200: {"model": MeOut, "description": "The caller"}}, 401, 503),
    summary="Who the token is",
)
def me(principal: PrincipalDep, core: CoreDep) -> dict[str, Any]:
    """The calling token's role and what it acts for: a lab (id, code, name), a regulator (its account and, from
    the chain, its jurisdiction), or an enterprise (USCI, name, state) — what a page needs to fill in its forms."""
    answer: dict[str, Any] = {"role": principal.role, "lab": None, "regulator": None, "enterprise": None}
    if principal.lab_id is not None:
        lab = core.lab(principal.lab_id)
        answer["lab"] = {"lab_id": lab.lab_id, "code": lab.code, "name": lab.name}
    if principal.regulator_address is not None:
        try:
            info = regulator_info(core.chain, principal.regulator_address)
        except ChainError as exc:
            raise ChainUnavailableError("the chain node is unreachable; retry") from exc
        answer["regulator"] = {
            "address": principal.regulator_address,
            "jurisdiction": int(info["jurisdiction"]),
            "active": bool(info["active"]),
        }
    if principal.usci is not None:
        with core.sessions() as s:
            row = s.get(Enterprise, principal.usci)
        answer["enterprise"] = {
            "usci": principal.usci,
            "name": row.name if row else "",
            "state": row.state if row else "",
        }
    return answer
