"""The regulators' web page (监管端): the anomaly scan's findings, the fraud signals and a certificate's downstream
impact, in Chinese and English, over the regulator endpoints of :mod:`registry.api.routes.oversight`.

Endpoints (none in the OpenAPI document: they are a page, not the API)::

    GET  /regulator                the page (public: it holds no data; every read it makes needs a regulator's token)
    GET  /vendor/chart.umd.min.js  Chart.js (npm, served from node_modules: never from a CDN)

The page's scripts and styles are the static files of ``registry/static`` (mounted at ``/static`` by the app); the
scripts are ES modules (``regulator.js`` imports the others), which browsers run only when served with a JavaScript
type: ``.js`` is registered as ``text/javascript`` here rather than left to the platform's MIME tables. The
token the regulator types is kept in the browser tab's sessionStorage and sent only in the ``Authorization`` header:
never in an address, never logged.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from registry.errors import NotFound

__all__ = ["CHART_JS", "PAGE", "PAGE_HEADERS", "STATIC_DIR", "router"]

#: The page's static files (HTML, scripts, styles), served at ``/static``.
STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
#: The page itself.
PAGE = STATIC_DIR / "regulator.html"
#: Where the chart library is looked for: copied beside the page, else the checkout's node_modules (npm install).
CHART_JS = (
    STATIC_DIR / "vendor" / "chart.umd.min.js",
    Path(__file__).resolve().parents[3] / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js",
)

# Module scripts need a JavaScript MIME type; some platforms' tables say text/plain for .js (StaticFiles asks them).
mimetypes.add_type("text/javascript", ".js")

#: A page (the regulators', a site's 公示) loads nothing but what the registry serves (its module scripts are
#: same-origin: 'self'), and sends no referrer (the verifier's links do not tell which page they were followed from).
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter()


@router.get("/regulator", include_in_schema=False)
def regulator_page() -> Response:
    """The regulators' page (异常发现, 欺诈信号, 影响范围); its data is read with the token typed into it."""
    return FileResponse(PAGE, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@router.get("/vendor/chart.umd.min.js", include_in_schema=False)
def chart_js() -> Response:
    """Chart.js, from npm (``npm install``): the page draws the findings by code with it."""
    found = next((p for p in CHART_JS if p.is_file()), None)
    if found is None:  # the page then shows the counts as a table only
        raise NotFound("Chart.js is not installed here (run scripts/setup.sh: npm install)")
    return FileResponse(
        found,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
