"""Publishing random inspection draws (双随机、一公开): a regulator hands in the draw it made (``tracecert draw run``);
the registry re-runs it against the chain (:func:`tracecert.draws.verify_published`) and keeps it only if every
link holds and the regulator is the one that committed it; anyone reads the draws; later the same regulator
publishes what the inspections found, once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from registry.core import Principal, RegistryCore
from registry.db import PublishedDraw, utcnow
from registry.errors import ChainUnavailableError, Conflict, Forbidden, InvalidRequest, NotFound
from tracecert.chain.errors import ChainError, DeploymentNotFound
from tracecert.draws import DrawSpec, verify_published
from tracecert.human import local_time

__all__ = ["draw_view", "list_draws", "publish_draw", "read_draw", "record_result"]

#: What an inspection outcome reads as.
OUTCOMES = {"PASS": ("合格", "passed"), "FAIL": ("不合格", "failed"), "NOT_INSPECTED": ("未能检查", "not inspected")}


def _regulator(principal: Principal) -> str:
    if principal.role != "REGULATOR" or principal.regulator_address is None:
        raise Forbidden("only a regulator's token may publish a draw or its results", code="NOT_A_REGULATOR")
    return principal.regulator_address


def publish_draw(core: RegistryCore, principal: Principal, published: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Check ``published`` against the chain and keep it; return its view and whether it is new.

    Raises:
        Forbidden: NOT_A_REGULATOR; DRAW_NOT_YOURS when another regulator committed it.
        InvalidRequest: DRAW_MALFORMED (inputs no draw is made from), DRAW_INVALID (a link fails: named in
            details).
    """
    regulator = _regulator(principal)
    try:
        spec = DrawSpec.from_dict(published["spec"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRequest(f"the draw's inputs: {exc}", code="DRAW_MALFORMED") from exc
    try:
        checked = verify_published(published, core.chain)
    except DeploymentNotFound as exc:
        message = "this registry's chain has no CreditRegistry to check draws on"
        raise InvalidRequest(message, code="DRAW_INVALID") from exc
    except ChainError as exc:
        raise ChainUnavailableError("the chain node is unreachable; retry") from exc
    failing = [{"field": name, "rule": "link", "message": detail} for name, ok, detail in checked.links if not ok]
    if failing:
        raise InvalidRequest("the draw does not stand against the chain", code="DRAW_INVALID", details=failing)
    if str(published["regulator"]).lower() != regulator.lower():
        raise Forbidden("another regulator committed this draw", code="DRAW_NOT_YOURS")
    commitment = str(published["commitment"])
    with core.sessions.begin() as s:
        row = s.get(PublishedDraw, commitment)
        created = row is None
        if row is None:
            row = PublishedDraw(
                commitment=commitment,
                regulator=regulator,
                jurisdiction=spec.jurisdiction,
                purpose=spec.purpose,
                published=published,
                published_at=utcnow(),
            )
            s.add(row)
            s.flush()
        return draw_view(row), created


def list_draws(core: RegistryCore) -> dict[str, Any]:
    """Every published draw, newest first, in short."""
    with core.sessions() as s:
        rows = list(s.scalars(select(PublishedDraw).order_by(PublishedDraw.published_at.desc())))
        return {"items": [draw_view(r, full=False) for r in rows]}


def read_draw(core: RegistryCore, commitment: str) -> dict[str, Any]:
    """One published draw, whole.

    Raises:
        NotFound: DRAW_NOT_FOUND.
    """
    with core.sessions() as s:
        row = s.get(PublishedDraw, commitment.lower())
        if row is None:
            raise NotFound(f"no draw {commitment} was published here", code="DRAW_NOT_FOUND")
        return draw_view(row)


def record_result(
    core: RegistryCore, principal: Principal, commitment: str, results: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """Publish what the inspections of a draw found, once, by the regulator that published it.

    Raises:
        NotFound: DRAW_NOT_FOUND. Forbidden: NOT_A_REGULATOR, DRAW_NOT_YOURS. Conflict: RESULT_EXISTS.
        InvalidRequest: RESULT_ITEM_NOT_DRAWN (an item the draw did not pick), RESULT_INCOMPLETE (a drawn item left
            out).
    """
    regulator = _regulator(principal)
    with core.sessions.begin() as s:
        row = s.get(PublishedDraw, commitment.lower())
        if row is None:
            raise NotFound(f"no draw {commitment} was published here", code="DRAW_NOT_FOUND")
        if row.regulator.lower() != regulator.lower():
            raise Forbidden("another regulator published this draw", code="DRAW_NOT_YOURS")
        if row.result is not None:
            raise Conflict("the results of this draw are published already", code="RESULT_EXISTS")
        sample = list(row.published["sample"])
        extra = sorted(set(results) - set(sample))
        if extra:
            raise InvalidRequest(f"not drawn: {', '.join(extra)}", code="RESULT_ITEM_NOT_DRAWN")
        missing = [item for item in sample if item not in results]
        if missing:
            raise InvalidRequest(f"no result for: {', '.join(missing)}", code="RESULT_INCOMPLETE")
        row.result, row.result_at = {item: results[item] for item in sample}, utcnow()
        s.flush()
        return draw_view(row)


def draw_view(row: PublishedDraw, *, full: bool = True) -> dict[str, Any]:
    """A draw as answers carry it: the published draw (whole, or in short), times as people read them, each
    result's outcome named."""
    p = row.published
    view: dict[str, Any] = {
        "commitment": row.commitment,
        "regulator": row.regulator,
        "jurisdiction": row.jurisdiction,
        "purpose": row.purpose,
        "published_at": local_time(row.published_at),
        "population_size": len(p["spec"]["population"]),
        "sample": list(p["sample"]),
        "commit_block": p["commit_block"],
        "seed": p["seed"],
        "result_at": local_time(row.result_at) if row.result_at else None,
        "results": None
        if row.result is None
        else {
            item: {
                "outcome": {"code": r["outcome"], "zh": OUTCOMES[r["outcome"]][0], "en": OUTCOMES[r["outcome"]][1]},
                "note": r.get("note", ""),
            }
            for item, r in row.result.items()
        },
    }
    if full:
        view["published"] = p
    return view
