"""The app factory: routes, error handling, OpenAPI, and a lifespan that opens the core and runs the worker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from registry.anchoring import AnchoringWorker
from registry.api.bodies import BODY_MODELS
from registry.api.deps import token_optional
from registry.api.errors import install_error_handlers
from registry.api.routes import alerts, batches, certificates, draws, enterprises, health, oversight, pages, publicity
from registry.config import RegistrySettings, load_settings
from registry.core import RegistryCore
from tracecert import SHARED_STATIC

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

TITLE = "TraceCert registry"


#: The API's route modules (what the OpenAPI document lists; the pages are outside it).
API_ROUTES = (certificates, batches, oversight, draws, enterprises, alerts, publicity, health)


def create_app(
    settings: RegistrySettings | None = None,
    *,
    core: RegistryCore | None = None,
    run_worker: bool | None = None,
) -> FastAPI:
    """The registry's FastAPI application. Nothing is opened until the app starts (its lifespan).

    Args:
        settings: HTTP limits, public URLs and, without ``core``, what to open; default: ``core.settings`` if a
            core is given, else :func:`~registry.config.load_settings` (the environment).
        core: an open core to serve (tests, ``tracecert up``); the caller keeps owning it. Without it the lifespan
            opens :meth:`RegistryCore.open(settings) <registry.core.RegistryCore.open>` and closes it on shutdown.
        run_worker: run an :class:`~registry.anchoring.AnchoringWorker` thread while the app runs (default:
            ``settings.run_worker``).
    """
    if settings is None:
        settings = core.settings if core is not None else load_settings()
    worker_wanted = settings.run_worker if run_worker is None else run_worker
    given_core = core

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = given_core if given_core is not None else await run_in_threadpool(RegistryCore.open, settings)
        app.state.core = opened
        worker = AnchoringWorker(opened) if worker_wanted else None
        if worker is not None:
            worker.start()
            logger.info("anchoring worker started")
        try:
            yield
        finally:
            if worker is not None:
                await run_in_threadpool(worker.stop)
            if given_core is None:
                opened.engine.dispose()

    app = FastAPI(
        title=TITLE,
        version="1",
        description="Labs issue, sign, anchor, revoke and substitute metrology certificates. "
        'Every error is `{"error": {"code", "message", "details"?}}`; clients act on `code`.',
        lifespan=lifespan,
    )
    app.state.settings = settings
    if core is not None:  # usable without the lifespan too (e.g. a TestClient not used as a context manager)
        app.state.core = core
    install_error_handlers(app)
    for module in API_ROUTES:
        app.include_router(module.router)
    app.include_router(pages.router)  # the regulators' page: not in the OpenAPI document
    app.include_router(publicity.page_router)  # a site's public page (强制检定合格公示): not in it either
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    app.mount("/shared", StaticFiles(directory=SHARED_STATIC), name="shared")
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the request bodies the routes read themselves (see registry.api.bodies)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        routes = [r for module in API_ROUTES for r in module.router.routes]
        for route in routes:  # reads that anyone may make, and a token widens: security is optional
            if isinstance(route, APIRoute) and token_optional(route):
                for method in route.methods or ():
                    operation = schema["paths"][route.path_format][method.lower()]
                    operation["security"] = [*operation.get("security", []), {}]
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in BODY_MODELS:
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[model.__name__] = body
        app.openapi_schema = schema
    return app.openapi_schema
