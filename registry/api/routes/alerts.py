"""Watchlists, webhooks and the alert feed of enterprises; the alert key anyone verifies posts with."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from registry.alerts import (
    add_watches,
    add_webhook,
    feed,
    key_view,
    list_watches,
    list_webhooks,
    remove_watch,
    remove_webhook,
)
from registry.api.bodies import WatchBody, WebhookBody, openapi_bodies
from registry.api.deps import CoreDep, DigestPath, PrincipalDep
from registry.api.errors import documented
from registry.api.schemas import AlertFeed, AlertKeyOut, WatchesAdded, WatchList, WebhookList, WebhookOut

__all__ = ["router"]

router = APIRouter(tags=["alerts"])
_BODIES = openapi_bodies()


@router.post(
    "/v1/watches",
    response_model=None,
    responses=documented({200: {"model": WatchesAdded, "description": "Watched"}}, 400, 401, 403, 413, 415, 422),
    openapi_extra=_BODIES["watch"],
    summary="Watch certificates (enterprises)",
)
def watch(principal: PrincipalDep, body: WatchBody, core: CoreDep) -> dict[str, Any]:
    """Hear when these certificates (a supplier's, a standard's), or what they depend on upstream, are revoked,
    substituted, about to expire, or their lab is suspended or sanctioned. Idempotent."""
    return add_watches(core, principal, body.digests, body.note)


@router.get(
    "/v1/watches",
    response_model=None,
    responses=documented({200: {"model": WatchList, "description": "The watchlist"}}, 401, 403),
    summary="The certificates an enterprise watches",
)
def watches(principal: PrincipalDep, core: CoreDep) -> dict[str, Any]:
    """The calling enterprise's watchlist (its instruments' certificates are watched too, without being listed)."""
    return list_watches(core, principal)


@router.delete(
    "/v1/watches/{digest}",
    status_code=204,
    response_model=None,
    responses=documented({204: {"description": "No longer watched"}}, 401, 403, 404, 422),
    summary="Stop watching a certificate",
)
def unwatch(digest: DigestPath, principal: PrincipalDep, core: CoreDep) -> Response:
    """Stop watching one certificate (404 NOT_WATCHED if it was not)."""
    remove_watch(core, principal, digest)
    return Response(status_code=204)


@router.post(
    "/v1/webhooks",
    response_model=None,
    responses=documented({200: {"model": WebhookOut, "description": "The webhook"}}, 400, 401, 403, 413, 415, 422),
    openapi_extra=_BODIES["webhook"],
    summary="Add a webhook alerts are posted to (enterprises)",
)
def webhook(principal: PrincipalDep, body: WebhookBody, core: CoreDep) -> dict[str, Any]:
    """Alerts from now on are posted to it, signed (see GET /v1/alerts/key), retried with backoff until it
    answers 2xx; the same URL again is the same webhook."""
    return add_webhook(core, principal, body.url)


@router.get(
    "/v1/webhooks",
    response_model=None,
    responses=documented({200: {"model": WebhookList, "description": "The webhooks"}}, 401, 403),
    summary="An enterprise's webhooks",
)
def webhooks(principal: PrincipalDep, core: CoreDep) -> dict[str, Any]:
    """The calling enterprise's webhooks."""
    return list_webhooks(core, principal)


@router.delete(
    "/v1/webhooks/{webhook_id}",
    status_code=204,
    response_model=None,
    responses=documented({204: {"description": "Removed"}}, 401, 403, 404, 422),
    summary="Remove a webhook",
)
def unhook(webhook_id: Annotated[int, Path(ge=1, le=2**31 - 1)], principal: PrincipalDep, core: CoreDep) -> Response:
    """Stop posting to it; its deliveries not yet made are given up (the feed keeps the alerts)."""
    remove_webhook(core, principal, webhook_id)
    return Response(status_code=204)


@router.get(
    "/v1/alerts",
    response_model=None,
    responses=documented({200: {"model": AlertFeed, "description": "The alerts"}}, 401, 403, 422),
    summary="The alert feed (enterprises)",
)
def alerts(
    principal: PrincipalDep,
    core: CoreDep,
    after: Annotated[int, Query(ge=0, le=2**31 - 1, description="Only alerts after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The calling enterprise's alerts after ``after``, oldest first: poll with the ``last_id`` of the last
    answer. Each has its type (with names), the event and the certificates it concerns."""
    return feed(core, principal, after, limit)


@router.get(
    "/v1/alerts/key",
    response_model=None,
    responses=documented({200: {"model": AlertKeyOut, "description": "The public key"}}),
    summary="The key alerts are signed with",
)
def alerts_key(core: CoreDep) -> dict[str, Any]:
    """Anyone may read it: a receiver verifies each post's ``TraceCert-Signature`` with it."""
    return key_view(core)
