"""强制检定合格公示: a site's public notice, its QR code, its A4 poster, and the public page the QR code opens.

Endpoints (public: no token, but the change)::

    GET /v1/sites/{site_id}/notice      the notice (JSON)
    GET /v1/sites/{site_id}/qr.png      the QR code of the site's page
    GET /v1/sites/{site_id}/poster.pdf  the A4 poster to print
    PATCH /v1/sites/{site_id}           rename it or correct its region (its owner only)
    GET /s/{site_id}                    the page (mobile first; not in the OpenAPI document)

The page's address is built from the address the registry is reached at (the request's base URL, so behind a
proxy it follows the Host header the proxy passes on).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, Response

from registry.api.bodies import SiteBody, openapi_bodies
from registry.api.deps import CoreDep, PrincipalDep, SettingsDep
from registry.api.errors import documented
from registry.api.routes.pages import PAGE_HEADERS, STATIC_DIR
from registry.api.schemas import SiteNoticeOut, SiteOut
from registry.instruments import update_site
from registry.publicity import poster, require_site, site_notice, site_qr_png, site_url

__all__ = ["PAGE", "page_router", "router"]

router = APIRouter(tags=["publicity"])
_BODIES = openapi_bodies()
#: The public page (outside the OpenAPI document).
page_router = APIRouter()
#: The site's public page.
PAGE = STATIC_DIR / "site.html"

SitePath = Annotated[str, Path(pattern=r"^[0-9A-Za-z_-]{1,16}$", description="The site's public identifier")]

def _page_url(request: Request, site_id: str) -> str:
    configured = request.app.state.settings.public_url
    return site_url(configured or str(request.base_url), site_id)


@router.get(
    "/v1/sites/{site_id}/notice",
    response_model=None,
    responses=documented({200: {"model": SiteNoticeOut, "description": "The site's notice"}}, 404, 422, 503),
    summary="A site's 强制检定合格公示 (public)",
)
def notice(site_id: SitePath, core: CoreDep, settings: SettingsDep, response: Response) -> dict[str, Any]:
    """The enterprise, the site, the overall verdict (全部合格有效, or how many are not in force by state) and each
    instrument under mandatory verification: category, model, serial number, state, last verification, due date,
    the verifying lab and the certificate's digest. Nothing else of the enterprise or its customers."""
    response.headers["Cache-Control"] = "no-cache"  # the live status
    return site_notice(core, site_id, verifier_url=settings.verifier_url)


@router.get(
    "/v1/sites/{site_id}/qr.png",
    response_class=Response,
    responses=documented({200: {"content": {"image/png": {}}, "description": "QR code of the site's page"}}, 404, 422),
    summary="QR code of a site's public page",
)
def qr(site_id: SitePath, core: CoreDep, request: Request) -> Response:
    """A PNG QR code pointing at the site's page ``/s/{site_id}`` on this registry."""
    require_site(core, site_id)  # 404 for a site this registry does not know
    png = site_qr_png(_page_url(request, site_id))
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})


@router.patch(
    "/v1/sites/{site_id}",
    response_model=None,
    responses=documented(
        {200: {"model": SiteOut, "description": "The site as it is now"}}, 400, 401, 403, 404, 409, 413, 415, 422
    ),
    openapi_extra=_BODIES["site"],
    summary="Rename a site or correct its region (its owner; the QR code stays)",
)
def change_site(site_id: SitePath, principal: PrincipalDep, body: SiteBody, core: CoreDep) -> dict[str, Any]:
    """The enterprise that owns the site renames it or corrects its region; the identifier, the page and the QR
    code printed on its posters stay. A new region moves every instrument at the site. Importing a register with
    the new name would instead make a new site (with a new QR code)."""
    return update_site(core, principal, site_id, name=body.name, region=body.region)


@router.get(
    "/v1/sites/{site_id}/poster.pdf",
    response_class=Response,
    responses=documented(
        {200: {"content": {"application/pdf": {}}, "description": "The A4 poster (one page)"}}, 404, 422, 503
    ),
    summary="A site's 强制检定合格公示 as an A4 poster to print",
)
def poster_pdf(site_id: SitePath, core: CoreDep, settings: SettingsDep, request: Request) -> Response:
    """The notice as printed today: title, enterprise and site, the QR code of the site's page, the verdict, the
    instruments with state and due date, the date printed; scanning the code shows the live status."""
    content = poster(site_notice(core, site_id, verifier_url=settings.verifier_url), _page_url(request, site_id))
    return Response(
        content,
        media_type="application/pdf",
        headers={"Cache-Control": "no-cache", "Content-Disposition": f'inline; filename="notice-{site_id}.pdf"'},
    )


@page_router.get("/s/{site_id}", include_in_schema=False)
def site_page(site_id: SitePath) -> Response:
    """The site's public page: it holds no data; it reads the notice from the API."""
    return FileResponse(PAGE, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)
