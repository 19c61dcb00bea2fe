"""The registry's HTTP API (FastAPI). Serve it with ``uvicorn --factory registry.api:create_app``.

Layout: :mod:`~registry.api.app` (factory, lifespan, OpenAPI), :mod:`~registry.api.deps` (core, caller, path
checks), :mod:`~registry.api.bodies` (bounded, strict request bodies), :mod:`~registry.api.errors` (error body and
HTTP-only refusals), :mod:`~registry.api.schemas` (response shapes), :mod:`~registry.api.routes` (one module per
resource). Routes parse HTTP and call the services; the rules live in the services.
"""

from registry.api.app import create_app

__all__ = ["create_app"]
